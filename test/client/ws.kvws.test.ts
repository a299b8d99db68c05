import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AbortError, ConnectionError, KvwsError, type Message, TimeoutError } from '@kvws/client';
import { connectWs, type WsClient, type WsOptions } from '@kvws/client/ws';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type TestSigner, writeTestKeysFile } from '../helpers/jwt-keys.js';
import { freePort, makeTestCertificate, type RunningServer, startKvws, wsUrl } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';

// The WebSocket transport (@kvws/client/ws) against real kvws processes, with the `ws` package as the
// WebSocket: commands, typed methods, pipelines, transactions, error replies, timeouts and aborts, pub/sub
// (listeners, async iterators, shared subscriptions, keyspace expiry events), password and token logins
// over wss:// with a throwaway CA, token refresh on the open connection, and close(). kvws-only.

let dir = '';
/** ws:// (--no-tls), no users, expiry keyspace events on. */
let plain: RunningServer;
/** wss:// with the test CA, users file (default off) and a JWT keys file the test signs with. */
let secure: RunningServer;
let ca: Buffer;
let signer: TestSigner;
const clients: WsClient[] = [];

const now = () => Math.floor(Date.now() / 1000);

/** A kvws token for alice expiring at `exp` (Unix seconds), signed as `kvws token issue` would. */
function mint(exp: number, user = 'alice'): Promise<string> {
  return new SignJWT({ user, sub: user, iss: 'kvws', aud: 'kvws', iat: now(), exp })
    .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' })
    .sign(signer.key);
}

function open(server: RunningServer, options: WsOptions = {}): WsClient {
  const tls = server.wsScheme === 'wss' ? { wsOptions: { ca } } : {};
  const c = connectWs(wsUrl(server), { WebSocket, ...tls, ...options });
  clients.push(c);
  return c;
}

/** The rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: Error) => e,
  );
}

/** A listener that records messages, and waits (bounded) for the n-th one. */
function recorder<T = Message>() {
  const got: T[] = [];
  return {
    got,
    push: (m: T) => {
      got.push(m);
    },
    async nth(n: number, ms = 5000): Promise<T> {
      if (!(await waitFor(() => got.length >= n, ms))) throw new Error(`only ${got.length} messages, expected ${n}`);
      return got[n - 1];
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-client-ws-'));
  const cert = makeTestCertificate(dir);
  ca = readFileSync(cert.ca);
  signer = await writeTestKeysFile(dir, 'client-ws-test');
  const usersFile = path.join(dir, 'users.acl');
  writeFileSync(usersFile, ['user default off', 'user alice on >alice-pw ~* &* +@all', ''].join('\n'), { mode: 0o600 });
  [plain, secure] = await Promise.all([
    startKvws(['--port', String(await freePort()), '--no-tls', '--notify-keyspace-events', 'Kx']),
    startKvws([
      ...['--port', String(await freePort()), '--tls-cert', cert.cert, '--tls-key', cert.key],
      ...['--acl-file', usersFile, '--jwt-keys-file', signer.keysFile, '--auth-max-failures', '0'],
      ...['--auth-timeout', '1'],
    ]),
  ]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([plain?.stop(), secure?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('requests', () => {
  it('runs commands and typed methods; calls made while connecting wait for the connection', async () => {
    const c = open(plain);
    expect(c.transport.state).toBe('connecting');
    const set = c.set('ws:k', 'v', { ex: 10 });
    const get = c.get('ws:k');
    expect(await set).toBe('OK');
    expect(await get).toBe('v');
    expect(c.transport.state).toBe('connected');
    const ttl = (await c.call('TTL', 'ws:k')) as number;
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10);
    expect(await c.call('INCR', 'ws:n')).toBe(1);
    expect(await c.call('HSET', 'ws:h', 'f', 'x', 'g', 2)).toBe(2);
    expect(await c.call('HGETALL', 'ws:h')).toEqual({ f: 'x', g: '2' });
    expect(await c.get('ws:missing')).toBeNull();
  });

  it('sends pipelines and transactions; a transaction whose WATCHed key changed resolves to null', async () => {
    const c = open(plain);
    const other = open(plain);
    expect(await c.pipeline().set('ws:p', 'a').get('ws:p').call('INCR', 'ws:p').exec({ keepErrors: true })).toEqual([
      { result: 'OK' },
      { result: 'a' },
      { error: expect.objectContaining({ code: 'ERR' }) },
    ]);
    expect(await c.multi().call('INCR', 'ws:m').call('INCR', 'ws:m').exec()).toEqual([1, 2]);
    expect(await c.call('WATCH', 'ws:w')).toBe('OK');
    expect(await other.set('ws:w', 'changed')).toBe('OK');
    expect(await c.multi().set('ws:w', 'mine').exec()).toBeNull();
    expect(await c.get('ws:w')).toBe('changed');
  });

  it('rejects an error reply with KvwsError and its code; the connection stays usable', async () => {
    const c = open(plain);
    expect(await c.call('RPUSH', 'ws:list', 'x')).toBe(1);
    const e = await rejection(c.get('ws:list'));
    expect(e).toBeInstanceOf(KvwsError);
    expect((e as KvwsError).code).toBe('WRONGTYPE');
    const unknown = await rejection(c.call('NOSUCHCOMMAND'));
    expect((unknown as KvwsError).code).toBe('ERR');
    expect(await c.call('PING')).toBe('PONG');
  });

  it('times out a call (TimeoutError) and ignores its late reply', async () => {
    const c = open(plain);
    const other = open(plain);
    await c.call('PING');
    // Through the transport: the client itself gives blocking commands their blocking time on top.
    const e = await rejection(c.transport.request({ kind: 'cmd', argv: ['BLPOP', 'ws:late', 0] }, { timeout: 200 }));
    expect(e).toBeInstanceOf(TimeoutError);
    // The BLPOP still waits on the server: serve it; its reply arrives for a call that is gone.
    expect(await other.call('RPUSH', 'ws:late', 'x')).toBe(1);
    expect(await waitFor(async () => (await other.call('LLEN', 'ws:late')) === 0, 5000)).toBe(true);
    expect(await c.call('ECHO', 'still fine')).toBe('still fine');
  });

  it('aborts a call through its AbortSignal (AbortError), before or after it was sent', async () => {
    const c = open(plain);
    await c.call('PING');
    const ac = new AbortController();
    const pending = c.with({ signal: ac.signal }).call('BLPOP', 'ws:abort', 0);
    ac.abort();
    expect(await rejection(pending)).toBeInstanceOf(AbortError);
    const already = await rejection(c.with({ signal: AbortSignal.abort(new Error('gave up')) }).call('PING'));
    expect(already).toBeInstanceOf(AbortError);
    expect(already.message).toBe('gave up');
    expect(await c.call('PING')).toBe('PONG');
  });

  it('close(): state closed, the call in flight and later calls reject with ConnectionError', async () => {
    const c = open(plain);
    await c.call('PING');
    const states: string[] = [];
    c.transport.on('state', ({ oldState, newState }) => states.push(`${oldState}>${newState}`));
    const blocked = rejection(c.call('BLPOP', 'ws:close', 0));
    await c.close();
    expect(states).toEqual(['connected>closed']);
    expect(await blocked).toBeInstanceOf(ConnectionError);
    expect(await rejection(c.call('PING'))).toBeInstanceOf(ConnectionError);
    expect(await rejection(c.subscribe('ws:after-close'))).toBeInstanceOf(ConnectionError);
  });
});

describe('pub/sub', () => {
  it('delivers channel messages to listeners and async iterators, subscribing once per channel', async () => {
    const c = open(plain);
    const pub = open(plain);
    const a = recorder();
    const subA = await c.subscribe('ws:news', a.push);
    const subB = await c.subscribe('ws:news');
    const iter = subB[Symbol.asyncIterator]();
    // One subscription on the wire for both listeners.
    expect(await pub.call('PUBSUB', 'NUMSUB', 'ws:news')).toEqual(['ws:news', 1]);
    expect(await pub.call('PUBLISH', 'ws:news', 'hello')).toBe(1);
    expect(await a.nth(1)).toEqual({ channel: 'ws:news', data: 'hello', offset: expect.any(Number) });
    expect(await iter.next()).toEqual({
      done: false,
      value: { channel: 'ws:news', data: 'hello', offset: expect.any(Number) },
    });
    await subA.unsubscribe();
    expect(await pub.call('PUBSUB', 'NUMSUB', 'ws:news')).toEqual(['ws:news', 1]);
    await pub.call('PUBLISH', 'ws:news', 'second');
    expect(await iter.next()).toEqual({
      done: false,
      value: { channel: 'ws:news', data: 'second', offset: expect.any(Number) },
    });
    expect(a.got).toHaveLength(1);
    await subB.unsubscribe();
    expect(await iter.next()).toEqual({ done: true, value: undefined });
    expect(await pub.call('PUBSUB', 'NUMSUB', 'ws:news')).toEqual(['ws:news', 0]);
  });

  it('delivers pattern messages with the matching pattern', async () => {
    const c = open(plain);
    const pub = open(plain);
    const r = recorder();
    const sub = await c.psubscribe(['ws:sport.*', 'ws:weather.*'], r.push);
    await pub.call('PUBLISH', 'ws:sport.tennis', 'ace');
    await pub.call('PUBLISH', 'ws:weather.paris', 'rain');
    expect(await r.nth(1)).toEqual({
      channel: 'ws:sport.tennis',
      pattern: 'ws:sport.*',
      data: 'ace',
      offset: expect.any(Number),
    });
    expect(await r.nth(2)).toEqual({
      channel: 'ws:weather.paris',
      pattern: 'ws:weather.*',
      data: 'rain',
      offset: expect.any(Number),
    });
    await sub.unsubscribe();
    expect(await pub.call('PUBSUB', 'NUMPAT')).toBe(0);
  });

  it('onExpired reports keys as they expire', async () => {
    const c = open(plain);
    const r = recorder<string>();
    const sub = await c.onExpired('ws:sess:*', r.push);
    expect(await c.set('ws:sess:1', 'x', { px: 100 })).toBe('OK');
    expect(await c.set('ws:other', 'x', { px: 100 })).toBe('OK');
    expect(await r.nth(1)).toBe('ws:sess:1');
    await sleep(200);
    expect(r.got).toEqual(['ws:sess:1']);
    await sub.unsubscribe();
  });
});

describe('authentication (wss:// with a private CA)', () => {
  it('logs in with a username and password', async () => {
    const c = open(secure, { username: 'alice', password: 'alice-pw' });
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
    expect(await c.set('auth:k', 'v')).toBe('OK');
  });

  it('a refused password closes the transport for good with ConnectionError (no retry)', async () => {
    const c = open(secure, { username: 'alice', password: 'wrong' });
    const errors: Error[] = [];
    c.transport.on('error', (e) => errors.push(e));
    const call = c.call('PING');
    const e = await rejection(call);
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toMatch(/^authentication refused: WRONGPASS/);
    expect((e as ConnectionError).status).toBe(4401);
    expect(c.transport.state).toBe('closed');
    expect(errors).toEqual([e]);
    expect(await rejection(c.call('PING'))).toBe(e);
  });

  it('logs in with a token provider; a refused fresh token closes without calling it again', async () => {
    let calls = 0;
    const c = open(secure, {
      token: async () => {
        calls++;
        return mint(now() + 300);
      },
    });
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
    expect(calls).toBe(1);

    let badCalls = 0;
    const bad = open(secure, {
      token: () => {
        badCalls++;
        return mint(now() + 300, 'nobody');
      },
    });
    const e = await rejection(bad.call('PING'));
    expect(e.message).toBe("authentication refused: WRONGPASS the token's user is disabled or does not exist");
    await sleep(300);
    expect(bad.transport.state).toBe('closed');
    expect(badCalls).toBe(1);
  });

  it('without credentials where the server needs them: NOAUTH, then close 4401 ends it (no retry)', async () => {
    const c = open(secure);
    const errors: Error[] = [];
    c.transport.on('error', (e) => errors.push(e));
    const e = await rejection(c.call('PING'));
    expect(e).toBeInstanceOf(KvwsError);
    expect((e as KvwsError).code).toBe('NOAUTH');
    expect(await waitFor(() => c.transport.state === 'closed', 5000)).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConnectionError);
    expect((errors[0] as ConnectionError).status).toBe(4401);
    expect(errors[0].message).toBe('refused by the server: not authenticated within 1 seconds');
    expect(await rejection(c.call('PING'))).toBe(errors[0]);
  });

  it('logs in with a fixed token string', async () => {
    const c = open(secure, { token: await mint(now() + 300) });
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
  });

  it('refreshes the token before it expires on the same connection (same CLIENT ID, subscriptions kept)', async () => {
    const issued: number[] = [];
    const c = open(secure, {
      token: () => {
        const exp = now() + 4;
        issued.push(exp);
        return mint(exp);
      },
    });
    const id = await c.call('CLIENT', 'ID');
    const states: string[] = [];
    const errors: Error[] = [];
    c.transport.on('state', ({ newState }) => states.push(newState));
    c.transport.on('error', (e) => errors.push(e));
    const r = recorder();
    await c.subscribe('ws:kept', r.push);
    expect(await waitFor(() => issued.length >= 2, 8000)).toBe(true);
    // Past the first token's expiry: the session lives on with the refreshed token.
    await sleep(issued[0] * 1000 - Date.now() + 1500);
    expect(await c.call('CLIENT', 'ID')).toBe(id);
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
    expect(await c.call('PUBLISH', 'ws:kept', 'still here')).toBe(1);
    expect(await r.nth(1)).toEqual({ channel: 'ws:kept', data: 'still here', offset: expect.any(Number) });
    expect(states).toEqual([]);
    expect(errors).toEqual([]);
    expect(issued.length).toBeGreaterThanOrEqual(2);
  });
});
