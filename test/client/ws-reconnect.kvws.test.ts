import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AbortError, ConnectionError, KvwsError, type Message, TimeoutError } from '@kvws/client';
import { type ConnectionState, connectWs, type WsClient, type WsEvents, type WsOptions } from '@kvws/client/ws';
import type Redis from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type TestSigner, writeTestKeysFile } from '../helpers/jwt-keys.js';
import { freePort, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Reconnects of the WebSocket transport (@kvws/client/ws): a TCP proxy between the client and a real kvws
// lets the test cut every connection mid-stream, or refuse new ones (the server looks down). The client goes
// disconnected → connecting → connected, logs in again (password, or a fresh token from its provider),
// re-subscribes, and sends the calls queued while it was down; calls in flight at the cut reject with
// ConnectionError; the queue is bounded; backoff delays are full-jitter within their bounds; close() stops
// it all. Then the token-expiry path (push + close 4401 → fresh token), and a server killed and restarted
// on the same port. kvws-only.

let dir = '';
/** ws:// (--no-tls), users file (default off, alice, admin), a JWT keys file the test signs with. */
let server: RunningServer;
let proxy: TcpProxy;
let admin: Redis;
let signer: TestSigner;
const clients: WsClient[] = [];
const servers: RunningServer[] = [];

const now = () => Math.floor(Date.now() / 1000);
/** Fast backoff for tests. */
const FAST = { baseDelay: 20, maxDelay: 200 };
const ALICE = { username: 'alice', password: 'alice-pw' };

function mint(exp: number, user = 'alice'): Promise<string> {
  return new SignJWT({ user, sub: user, iss: 'kvws', aud: 'kvws', iat: now(), exp })
    .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' })
    .sign(signer.key);
}

/** A client to `url` (default: through the proxy) with the `ws` package as its WebSocket. */
function open(options: WsOptions, url = `ws://127.0.0.1:${proxy.port}/ws`): WsClient {
  const c = connectWs(url, { WebSocket, ...options });
  clients.push(c);
  return c;
}

/** Waits (bounded) until `check` holds for the client's state. */
async function reach(c: WsClient, check: ConnectionState | ((s: ConnectionState) => boolean), ms = 5000) {
  const ok = typeof check === 'string' ? (s: ConnectionState) => s === check : check;
  if (!(await waitFor(() => ok(c.transport.state), ms))) throw new Error(`still ${c.transport.state} after ${ms} ms`);
}

/** Records a transport event. */
function record<E extends keyof WsEvents>(c: WsClient, event: E): WsEvents[E][] {
  const out: WsEvents[E][] = [];
  c.transport.on(event, (e) => out.push(e));
  return out;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: Error) => e,
  );
}

function recorder() {
  const got: Message[] = [];
  return {
    got,
    push: (m: Message) => {
      got.push(m);
    },
    async nth(n: number, ms = 5000): Promise<Message> {
      if (!(await waitFor(() => got.length >= n, ms))) throw new Error(`only ${got.length} messages, expected ${n}`);
      return got[n - 1];
    },
  };
}

/** Cuts the proxy's connections with new ones refused, and waits until the client noticed. */
async function takeDown(c: WsClient): Promise<void> {
  proxy.refusing = true;
  proxy.cut();
  await reach(c, (s) => s !== 'connected');
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-client-reconnect-'));
  signer = await writeTestKeysFile(dir, 'client-reconnect-test');
  const usersFile = path.join(dir, 'users.acl');
  writeFileSync(
    usersFile,
    ['user default off', 'user alice on >alice-pw ~rc:* &rc:* +@all', 'user admin on >admin-pw ~* &* +@all', ''].join(
      '\n',
    ),
    { mode: 0o600 },
  );
  server = await startKvws([
    ...['--port', String(await freePort()), '--no-tls', '--acl-file', usersFile],
    ...['--jwt-keys-file', signer.keysFile, '--auth-max-failures', '0'],
  ]);
  proxy = await TcpProxy.start(server.httpsPort as number);
  admin = redisClient(server, { username: 'admin', password: 'admin-pw' });
  admin.on('error', () => {});
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  admin?.disconnect();
  await proxy?.close();
  await Promise.all([server, ...servers].map((s) => s?.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('through a proxy that cuts connections', () => {
  it('reconnects after a cut, logs in again and re-subscribes; the call in flight rejects', async () => {
    proxy.refusing = false;
    const c = open({ ...ALICE, ...FAST });
    const firstId = await c.call('CLIENT', 'ID');
    const news = recorder();
    const pat = recorder();
    await c.subscribe('rc:news', news.push);
    await c.psubscribe('rc:p.*', pat.push);
    const states = record(c, 'state');
    const inFlight = rejection(c.call('BLPOP', 'rc:never', 0));
    proxy.cut();
    const e = await inFlight;
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toMatch(/^connection lost \(1006/);
    await reach(c, 'connected');
    expect(states.map((s) => s.newState)).toEqual(['disconnected', 'connecting', 'connected']);
    expect(states[0].oldState).toBe('connected');
    expect(await c.call('CLIENT', 'ID')).not.toBe(firstId);
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
    // Published after the reconnect: both subscriptions are back on the new session.
    expect(await admin.publish('rc:news', 'after')).toBe(1);
    expect(await admin.publish('rc:p.x', 'pattern after')).toBe(1);
    expect(await news.nth(1)).toEqual({ channel: 'rc:news', data: 'after', offset: expect.any(Number) });
    expect(await pat.nth(1)).toEqual({
      channel: 'rc:p.x',
      pattern: 'rc:p.*',
      data: 'pattern after',
      offset: expect.any(Number),
    });
  });

  it('calls made while down wait in the queue and are answered in order after the reconnect', async () => {
    proxy.refusing = false;
    const c = open({ ...ALICE, ...FAST });
    expect(await c.call('DEL', 'rc:q')).toBe(0);
    await takeDown(c);
    const settled: string[] = [];
    const set = c.set('rc:q', 'a').finally(() => settled.push('set'));
    const append = c.call('APPEND', 'rc:q', 'b').finally(() => settled.push('append'));
    const get = c.get('rc:q').finally(() => settled.push('get'));
    // Queued calls still honour their timeout and AbortSignal.
    expect(await rejection(c.with({ timeout: 100 }).call('PING'))).toBeInstanceOf(TimeoutError);
    const ac = new AbortController();
    const aborted = rejection(c.with({ signal: ac.signal }).call('INCR', 'rc:aborted'));
    ac.abort();
    expect(await aborted).toBeInstanceOf(AbortError);
    await sleep(300);
    expect(settled).toEqual([]);
    proxy.refusing = false;
    expect(await set).toBe('OK');
    expect(await append).toBe(2);
    expect(await get).toBe('ab');
    expect(settled).toEqual(['set', 'append', 'get']);
    expect(await c.call('EXISTS', 'rc:aborted')).toBe(0);
  });

  it('a full offline queue rejects further calls at once', async () => {
    proxy.refusing = false;
    const c = open({ ...ALICE, ...FAST, maxQueue: 2 });
    await c.call('PING');
    await takeDown(c);
    const first = c.call('ECHO', 'one');
    const second = c.call('ECHO', 'two');
    const e = await rejection(c.call('ECHO', 'three'));
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toBe('offline queue full');
    proxy.refusing = false;
    expect(await first).toBe('one');
    expect(await second).toBe('two');
  });

  it('backoff delays are full jitter: random(0, min(maxDelay, baseDelay·2^attempt)), reset after a connect', async () => {
    proxy.refusing = false;
    const fixed = open({ ...ALICE, baseDelay: 20, maxDelay: 100, random: () => 0.5 });
    const jittered = open({ ...ALICE, baseDelay: 20, maxDelay: 100 });
    await Promise.all([fixed.call('PING'), jittered.call('PING')]);
    const fixedDelays = record(fixed, 'reconnect');
    const delays = record(jittered, 'reconnect');
    await takeDown(fixed);
    expect(await waitFor(() => fixedDelays.length >= 6 && delays.length >= 6, 10_000)).toBe(true);
    expect(fixedDelays.slice(0, 6)).toEqual([
      { attempt: 1, delay: 10 },
      { attempt: 2, delay: 20 },
      { attempt: 3, delay: 40 },
      { attempt: 4, delay: 50 },
      { attempt: 5, delay: 50 },
      { attempt: 6, delay: 50 },
    ]);
    delays.forEach(({ attempt, delay }, i) => {
      expect(attempt).toBe(i + 1);
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(100, 20 * 2 ** i));
    });
    proxy.refusing = false;
    await reach(fixed, 'connected');
    // After a successful connect the backoff starts over.
    const before = fixedDelays.length;
    proxy.cut();
    expect(await waitFor(() => fixedDelays.length > before, 5000)).toBe(true);
    expect(fixedDelays[before]).toEqual({ attempt: 1, delay: 10 });
    await reach(fixed, 'connected');
  });

  it('close() while reconnecting stops for good and rejects the queued calls', async () => {
    proxy.refusing = false;
    const c = open({ ...ALICE, baseDelay: 20, maxDelay: 50 });
    await c.call('PING');
    const attempts = record(c, 'reconnect');
    await takeDown(c);
    expect(await waitFor(() => attempts.length >= 2, 5000)).toBe(true);
    const queued = rejection(c.call('PING'));
    const states = record(c, 'state');
    await c.close();
    expect(c.transport.state).toBe('closed');
    const e = await queued;
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toBe('the client was closed');
    // No more attempts: each would emit 'reconnect' (when refused) and a state change (when opened).
    const seen = attempts.length;
    await sleep(400);
    expect(attempts).toHaveLength(seen);
    expect(states.map((s) => s.newState)).toEqual(['closed']);
    proxy.refusing = false;
  });

  it('asks the token provider for a fresh token on every reconnect', async () => {
    proxy.refusing = false;
    let calls = 0;
    const c = open({
      ...FAST,
      token: () => {
        calls++;
        return mint(now() + 300);
      },
    });
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
    expect(calls).toBe(1);
    const states = record(c, 'state');
    proxy.cut();
    expect(await waitFor(() => states.some((s) => s.newState === 'connected'), 5000)).toBe(true);
    expect(states.map((s) => s.newState)).toEqual(['disconnected', 'connecting', 'connected']);
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
    expect(calls).toBe(2);
  });
});

describe('token expiry and server restarts', () => {
  it('after the expiry push and close 4401 it reconnects with a fresh token and re-subscribes', async () => {
    let calls = 0;
    // 1st token: short-lived; its refresh is refused (unknown user), so the session expires; then valid ones.
    const c = open(
      {
        ...FAST,
        token: () => {
          calls++;
          if (calls === 1) return mint(now() + 3);
          if (calls === 2) return mint(now() + 300, 'nobody');
          return mint(now() + 300);
        },
      },
      wsUrl(server),
    );
    const firstId = await c.call('CLIENT', 'ID');
    const news = recorder();
    await c.subscribe('rc:expiry', news.push);
    const errors = record(c, 'error');
    const states = record(c, 'state');
    expect(await waitFor(() => states.some((s) => s.newState === 'connected'), 10_000)).toBe(true);
    expect(states.map((s) => s.newState)).toEqual(['disconnected', 'connecting', 'connected']);
    expect(errors.map((e) => e.message)).toEqual([
      "WRONGPASS the token's user is disabled or does not exist",
      'the session token expired',
    ]);
    expect(errors[0]).toBeInstanceOf(KvwsError);
    expect((errors[1] as ConnectionError).status).toBe(4401);
    expect(calls).toBe(3);
    expect(await c.call('CLIENT', 'ID')).not.toBe(firstId);
    expect(await c.call('ACL', 'WHOAMI')).toBe('alice');
    expect(await admin.publish('rc:expiry', 'back')).toBe(1);
    expect(await news.nth(1)).toEqual({ channel: 'rc:expiry', data: 'back', offset: expect.any(Number) });
  });

  it('survives a server killed and restarted on the same port: queued calls run on the new one', async () => {
    const port = await freePort();
    const args = ['--port', String(port), '--no-tls'];
    let s = await startKvws(args);
    servers.push(s);
    const c = open({ baseDelay: 50, maxDelay: 300 }, wsUrl(s));
    const pub = open({ baseDelay: 50, maxDelay: 300 }, wsUrl(s));
    const news = recorder();
    await c.subscribe('restart:news', news.push);
    expect(await c.set('restart:k', 'old')).toBe('OK');
    await pub.call('PING');
    await s.stop();
    await reach(c, (st) => st !== 'connected');
    const queued = c.get('restart:k');
    s = await startKvws(args);
    servers.push(s);
    // A fresh in-memory server: the key is gone, which shows the queued GET ran there.
    expect(await queued).toBeNull();
    await reach(pub, 'connected');
    expect(await pub.call('PUBLISH', 'restart:news', 'hello again')).toBe(1);
    expect(await news.nth(1)).toEqual({ channel: 'restart:news', data: 'hello again', offset: expect.any(Number) });
  });
});
