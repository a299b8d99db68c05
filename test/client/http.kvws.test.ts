import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbortError, ConnectionError, type KeyEvent, KvwsError, type Message, TimeoutError } from '@kvws/client';
import { connectHttp, HttpTransport } from '@kvws/client/http';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';

// @kvws/client/http end to end: the built client with Node's global fetch against real kvws processes
// (--no-tls on loopback: Node's fetch cannot be given a private CA without undici's own Agent, so TLS is
// left to the HTTP API's own suite), ioredis on the RESP port of the same servers, and a small HTTP proxy
// in this file that counts requests and injects failures (a 503, a dropped connection, a hang).
// kvws-only.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const servers: RunningServer[] = [];
const redisClients: Redis[] = [];
const closers: (() => Promise<void>)[] = [];
let dir = '';
/** --no-tls, default user open, keyspace events on. */
let open: RunningServer;
/** --no-tls, default user off; admin (everything) and app (`~app:*`, keyspace channels only). */
let secured: RunningServer;

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), '--no-tls', ...args]);
  servers.push(s);
  return s;
}

function redis(server: RunningServer, opts: Parameters<typeof redisClient>[1] = {}): Redis {
  const c = redisClient(server, opts);
  c.on('error', () => {});
  redisClients.push(c);
  return c;
}

const base = (s: RunningServer | number) => `http://127.0.0.1:${typeof s === 'number' ? s : s.httpsPort}`;

/** A client closed after the file's tests. */
function client(url: string, options: Parameters<typeof connectHttp>[1] = {}) {
  const c = connectHttp(url, options);
  closers.push(() => c.close());
  return c;
}

/** A token from POST /auth/token (password login). */
async function login(server: RunningServer, username: string, password: string): Promise<string> {
  const res = await fetch(`${base(server)}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** What a call rejected with (fails the test when it resolved). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to reject');
}

type Fault = '503' | 'drop' | 'hang';

/**
 * An HTTP proxy in front of a kvws HTTP port: logs every request (`METHOD /path`), answers the next ones
 * with the queued faults (503 with a plain-text body as a gateway would, a dropped connection, or no answer
 * at all) instead of forwarding them, and can cut every open connection (`dropAll`, e.g. event streams).
 */
class FaultyProxy {
  readonly log: string[] = [];
  private readonly faults: Fault[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly server: http.Server;
  port = 0;
  /** When set, a request's Last-Event-ID header is replaced by this (a position the server never gave). */
  rewriteLastEventId: string | null = null;

  constructor(private readonly target: number) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    closers.push(() => this.close());
    return this;
  }

  /** Queues faults for the next requests, in order. */
  fail(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  /** How many requests were made to `what` (`POST /pipeline`) since the log was last cleared. */
  count(what: string): number {
    return this.log.filter((l) => l === what).length;
  }

  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.log.push(`${req.method} ${req.url}`);
    const fault = this.faults.shift();
    if (fault === '503') {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream unavailable');
      return;
    }
    if (fault === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault === 'hang') {
      req.resume();
      return;
    }
    const headers = { ...req.headers };
    if (this.rewriteLastEventId !== null && headers['last-event-id'] !== undefined)
      headers['last-event-id'] = this.rewriteLastEventId;
    const up = http.request(
      { host: '127.0.0.1', port: this.target, method: req.method, path: req.url, headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-client-http-test-'));
  const users = path.join(dir, 'users.acl');
  writeFileSync(
    users,
    'user default off\nuser admin on >adminpw ~* &* +@all\nuser app on >apppw ~app:* &__keyspace@0__:* +@all\n',
  );
  [open, secured] = await Promise.all([
    start(['--notify-keyspace-events', 'KA']),
    start(['--acl-file', users, '--notify-keyspace-events', 'KA']),
  ]);
});

afterAll(async () => {
  for (const c of closers.reverse()) await c();
  for (const c of redisClients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the readonly table', () => {
  it('client/src/generated/readonly.ts is up to date with the command table', () => {
    // Exits 1 (and execFileSync throws) when the file differs from what the generator writes.
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/gen-client-table.mjs'), '--check'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  });
});

describe('commands over POST /, /pipeline, /multi-exec', () => {
  it('typed commands decode the HTTP API RESP2 shapes', async () => {
    const kv = client(base(open));
    expect(await kv.set('h:s', 'hello, ü')).toBe('OK');
    expect(await kv.get('h:s')).toBe('hello, ü');
    expect(await kv.get('h:missing')).toBeNull();
    expect(await kv.set('h:s', 'x', { nx: true })).toBeNull();
    expect(await kv.incr('h:n')).toBe(1);
    expect(await kv.incrbyfloat('h:n', 1.5)).toBe(2.5);
    expect(await kv.hset('h:h', { a: '1', b: 2 })).toBe(2);
    expect(await kv.hgetall('h:h')).toEqual({ a: '1', b: '2' });
    expect(await kv.rpush('h:l', 'x', 'y')).toBe(2);
    expect(await kv.lrange('h:l', 0, -1)).toEqual(['x', 'y']);
    expect(await kv.zadd('h:z', { score: 1.5, member: 'm' })).toBe(1);
    expect(await kv.zscore('h:z', 'm')).toBe(1.5);
    expect(await kv.mget('h:s', 'h:missing')).toEqual(['hello, ü', null]);
    expect(await kv.expire('h:s', 100)).toBeTruthy();
    expect(await kv.ttl('h:s')).toBe(100);
    expect(await kv.call('ECHO', 42)).toBe('42');
    expect(await redis(open).hget('h:h', 'b')).toBe('2');
  });

  it('pipelines run in order and keep per-command errors; transactions run as MULTI … EXEC', async () => {
    const kv = client(base(open));
    expect(await kv.pipeline().set('p:a', 'v').incr('p:n').get('p:a').exec()).toEqual(['OK', 1, 'v']);
    const settled = await kv.pipeline().incr('p:a').get('p:a').exec({ keepErrors: true });
    expect(settled[0]).toEqual({ error: expect.any(KvwsError) });
    expect((settled[0] as { error: KvwsError }).error.message).toBe('ERR value is not an integer or out of range');
    expect(settled[1]).toEqual({ result: 'v' });
    const failed = await rejection(kv.pipeline().get('p:a').incr('p:a').exec());
    expect(failed).toBeInstanceOf(KvwsError);
    expect(failed.message).toMatch(/^ERR value is not an integer or out of range \(command 1 of the pipeline\)/);
    expect(await kv.multi().set('t:a', '1').incr('t:a').get('t:a').exec()).toEqual(['OK', 2, '2']);
    const aborted = await rejection(kv.multi().set('t:b', 'x').call('NOSUCHCMD').exec());
    expect(aborted).toBeInstanceOf(KvwsError);
    expect((aborted as KvwsError).code).toBe('EXECABORT');
    expect(await redis(open).exists('t:b')).toBe(0);
  });

  it('error replies reject with KvwsError and their code', async () => {
    const kv = client(base(open));
    await kv.set('e:s', 'x');
    await kv.rpush('e:l', 'x');
    const notInt = await rejection(kv.incr('e:s'));
    expect(notInt).toBeInstanceOf(KvwsError);
    expect((notInt as KvwsError).code).toBe('ERR');
    const wrongType = await rejection(kv.get('e:l'));
    expect((wrongType as KvwsError).code).toBe('WRONGTYPE');
    const refused = await rejection(kv.call('SUBSCRIBE', 'c'));
    expect(refused.message).toMatch(/^ERR SUBSCRIBE is not supported by the HTTP API/);
  });

  it('network failures reject with ConnectionError; timeouts, aborts and close() with their errors', async () => {
    const closedPort = await freePort();
    const down = client(base(closedPort), { retries: 0 });
    const refused = await rejection(down.get('x'));
    expect(refused).toBeInstanceOf(ConnectionError);
    expect((refused as ConnectionError).status).toBeUndefined();

    const proxy = await new FaultyProxy(open.httpsPort as number).listen();
    const kv = client(base(proxy.port));
    proxy.fail('hang');
    expect(await rejection(kv.with({ timeout: 200 }).get('x'))).toBeInstanceOf(TimeoutError);
    proxy.fail('hang');
    const ac = new AbortController();
    const aborted = kv.with({ signal: ac.signal }).get('x');
    expect(await waitFor(() => proxy.log.length === 2, 5000)).toBe(true);
    ac.abort();
    expect(await rejection(aborted)).toBeInstanceOf(AbortError);
    proxy.fail('hang');
    const pending = kv.get('x');
    expect(await waitFor(() => proxy.log.length === 3, 5000)).toBe(true);
    await kv.close();
    const closed = await rejection(pending);
    expect(closed).toBeInstanceOf(ConnectionError);
    expect(closed.message).toMatch(/closed/);
    expect(await rejection(kv.get('x'))).toBeInstanceOf(ConnectionError);
  });
});

describe('tokens (default user off)', () => {
  it('401 without a token or with a bad one: ConnectionError with the status', async () => {
    const none = await rejection(client(base(secured)).get('app:x'));
    expect(none).toBeInstanceOf(ConnectionError);
    expect((none as ConnectionError).status).toBe(401);
    expect(none.message).toMatch(/^NOAUTH/);
    const bad = await rejection(client(base(secured), { token: 'not.a.token' }).get('app:x'));
    expect((bad as ConnectionError).status).toBe(401);
    expect(bad.message).toMatch(/^WRONGPASS/);
  });

  it('a token from POST /auth/token, as a string or from a provider called per request; ACLs apply', async () => {
    const token = await login(secured, 'app', 'apppw');
    const kv = client(base(secured), { token });
    expect(await kv.set('app:a', '1')).toBe('OK');
    expect(await kv.call('ACL', 'WHOAMI')).toBe('app');
    const denied = await rejection(kv.get('other:a'));
    expect(denied).toBeInstanceOf(KvwsError);
    expect((denied as KvwsError).code).toBe('NOPERM');
    let calls = 0;
    const viaProvider = client(base(secured), {
      token: async () => {
        calls++;
        return token;
      },
    });
    expect(await viaProvider.get('app:a')).toBe('1');
    expect(await viaProvider.pipeline().get('app:a').exists('app:a').exec()).toEqual(['1', 1]);
    expect(calls).toBe(2);
    const failing = client(base(secured), {
      token: () => {
        throw new Error('no session');
      },
    });
    const e = await rejection(failing.get('app:a'));
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toBe('the token provider failed: no session');
  });
});

describe('retries', () => {
  let proxy: FaultyProxy;
  let r: Redis;

  beforeAll(async () => {
    proxy = await new FaultyProxy(open.httpsPort as number).listen();
    r = redis(open);
  });

  it('a readonly command is sent again after a 503 or a dropped connection', async () => {
    await r.set('r:a', 'v');
    const kv = client(base(proxy.port));
    proxy.log.length = 0;
    proxy.fail('503');
    expect(await kv.get('r:a')).toBe('v');
    expect(proxy.count('POST /')).toBe(2);
    proxy.log.length = 0;
    proxy.fail('drop', '503');
    expect(await kv.mget('r:a')).toEqual(['v']);
    expect(proxy.count('POST /')).toBe(3);
    // Only `retries` times: a third failure is the answer.
    proxy.log.length = 0;
    proxy.fail('503', '503', '503');
    const e = await rejection(kv.get('r:a'));
    expect(e).toBeInstanceOf(ConnectionError);
    expect((e as ConnectionError).status).toBe(503);
    expect(proxy.count('POST /')).toBe(3);
    const once = client(base(proxy.port), { retries: 0 });
    proxy.fail('503');
    expect(((await rejection(once.get('r:a'))) as ConnectionError).status).toBe(503);
  });

  it('a write, a pipeline holding a write, and a transaction are never sent twice', async () => {
    const kv = client(base(proxy.port));
    proxy.log.length = 0;
    proxy.fail('503');
    const w = await rejection(kv.incr('r:n'));
    expect((w as ConnectionError).status).toBe(503);
    proxy.fail('drop');
    const dropped = await rejection(kv.set('r:w', 'x'));
    expect(dropped).toBeInstanceOf(ConnectionError);
    expect(proxy.count('POST /')).toBe(2);
    expect(await r.exists('r:n', 'r:w')).toBe(0);
    proxy.fail('503');
    await rejection(kv.pipeline().get('r:a').incr('r:n').exec());
    expect(proxy.count('POST /pipeline')).toBe(1);
    proxy.fail('503');
    await rejection(kv.multi().get('r:a').exec());
    expect(proxy.count('POST /multi-exec')).toBe(1);
    // A pipeline of reads only is retried.
    proxy.fail('503');
    expect(await kv.pipeline().get('r:a').exists('r:a').exec()).toEqual(['v', 1]);
    expect(proxy.count('POST /pipeline')).toBe(3);
  });
});

describe('autoPipeline', () => {
  it('sends the commands of one macrotask as one /pipeline and hands out each result', async () => {
    const proxy = await new FaultyProxy(open.httpsPort as number).listen();
    const kv = client(base(proxy.port), { autoPipeline: true });
    await redis(open).set('ap:s', 'str');
    const results = await Promise.allSettled([
      kv.set('ap:a', '1'),
      kv.incr('ap:a'),
      kv.get('ap:a'),
      kv.incr('ap:s'),
      kv.hgetall('ap:none'),
    ]);
    expect(proxy.log).toEqual(['POST /pipeline']);
    expect(results.slice(0, 3)).toEqual([
      { status: 'fulfilled', value: 'OK' },
      { status: 'fulfilled', value: 2 },
      { status: 'fulfilled', value: '2' },
    ]);
    expect(results[3]).toMatchObject({ status: 'rejected', reason: expect.any(KvwsError) });
    expect(results[4]).toEqual({ status: 'fulfilled', value: {} });
    // Commands awaited one by one go out one by one (as POST /: nothing to batch with).
    proxy.log.length = 0;
    expect(await kv.get('ap:a')).toBe('2');
    expect(await kv.exists('ap:a')).toBe(1);
    expect(proxy.log).toEqual(['POST /', 'POST /']);
    // Off by default.
    const plain = client(base(proxy.port));
    proxy.log.length = 0;
    await Promise.all([plain.get('ap:a'), plain.get('ap:a')]);
    expect(proxy.log).toEqual(['POST /', 'POST /']);
  });
});

describe('subscriptions over server-sent events', () => {
  it('receives messages published over RESP, commas and line breaks intact; unsubscribe ends the stream', async () => {
    const kv = client(base(open));
    const r = redis(open);
    const got: Message[] = [];
    const sub = await kv.subscribe('news,eu', (m) => got.push(m));
    await r.publish('news,eu', 'hello, world');
    await r.publish('news,eu', 'two\nlines');
    expect(await waitFor(() => got.length === 2, 5000)).toBe(true);
    expect(got).toEqual([
      { channel: 'news,eu', data: 'hello, world', offset: expect.any(Number) },
      { channel: 'news,eu', data: 'two\nlines', offset: (got[0].offset as number) + 1 },
    ]);
    const pgot: Message[] = [];
    const psub = await kv.psubscribe('feed.*', (m) => pgot.push(m));
    await r.publish('feed.a', '{"x":1,"y":2}');
    expect(await waitFor(() => pgot.length === 1, 5000)).toBe(true);
    expect(pgot).toEqual([{ pattern: 'feed.*', channel: 'feed.a', data: '{"x":1,"y":2}', offset: expect.any(Number) }]);
    await sub.unsubscribe();
    await psub.unsubscribe();
    const numsub = async () => ((await r.pubsub('NUMSUB', 'news,eu')) as unknown[])[1];
    expect(await waitFor(async () => (await numsub()) === 0, 5000)).toBe(true);
    expect(Number(await r.pubsub('NUMPAT'))).toBe(0);
  });

  it('reopens the stream after the connection drops', async () => {
    const proxy = await new FaultyProxy(open.httpsPort as number).listen();
    const kv = client(base(proxy.port));
    const r = redis(open);
    const got: string[] = [];
    const sub = await kv.subscribe('reconnect', (m) => got.push(m.data));
    proxy.dropAll();
    // Messages published while the stream is down are lost: publish until one arrives.
    const arrived = await waitFor(async () => {
      await r.publish('reconnect', 'after');
      return got.includes('after');
    }, 10_000);
    expect(arrived).toBe(true);
    expect(proxy.count('POST /subscribe/reconnect')).toBeGreaterThanOrEqual(2);
    await sub.unsubscribe();
  });

  it('resumes with Last-Event-ID: messages published while the stream was down arrive once, in order', async () => {
    const proxy = await new FaultyProxy(open.httpsPort as number).listen();
    const kv = client(base(proxy.port));
    const r = redis(open);
    const got: Message[] = [];
    const sub = await kv.subscribe('resumed', (m) => got.push(m));
    await r.publish('resumed', 'a');
    expect(await waitFor(() => got.length === 1, 5000)).toBe(true);
    for (let round = 0; round < 3; round++) {
      proxy.dropAll();
      for (let i = 0; i < 5; i++) await r.publish('resumed', `down${round}.${i}`);
      expect(await waitFor(() => got.length === 1 + 5 * (round + 1), 10_000)).toBe(true);
    }
    await r.publish('resumed', 'z');
    expect(await waitFor(() => got.length === 17, 5000)).toBe(true);
    await sleep(100);
    expect(got.map((m) => m.data)).toEqual([
      'a',
      ...[0, 1, 2].flatMap((round) => [0, 1, 2, 3, 4].map((i) => `down${round}.${i}`)),
      'z',
    ]);
    const offsets = got.map((m) => m.offset as number);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
    expect(proxy.count('POST /subscribe/resumed')).toBeGreaterThanOrEqual(4);
    await sub.unsubscribe();
  });

  it('a stream the server cannot resume (another epoch) is reported with the resume event', async () => {
    const events: unknown[] = [];
    const r = redis(open);
    const got: Message[] = [];
    const proxy = await new FaultyProxy(open.httpsPort as number).listen();
    const tp = new HttpTransport(`http://127.0.0.1:${proxy.port}`);
    tp.on('resume', (e) => events.push(e));
    const stop = await tp.subscribe('channel', 'epochs', (m) => got.push(m));
    // The client's position names an epoch this server never had (as after a restart without persistence).
    await r.publish('epochs', 'one');
    expect(await waitFor(() => got.length === 1, 5000)).toBe(true);
    proxy.rewriteLastEventId = 'ffffffffffffffff:1';
    proxy.dropAll();
    expect(await waitFor(() => events.length === 1, 10_000)).toBe(true);
    expect(events[0]).toEqual({
      recovered: false,
      channels: ['epochs'],
      patterns: [],
      epoch: expect.stringMatching(/^[0-9a-f]{16}$/),
      offset: expect.any(Number),
    });
    await r.publish('epochs', 'two');
    expect(await waitFor(() => got.length === 2, 5000)).toBe(true);
    expect(got.map((m) => m.data)).toEqual(['one', 'two']);
    await stop();
    await tp.close();
  });

  it('keyspace events are filtered by the ACL: a restricted user sees only its keys', async () => {
    const adminKv = client(base(secured), { token: await login(secured, 'admin', 'adminpw') });
    const appKv = client(base(secured), { token: await login(secured, 'app', 'apppw') });
    const all: KeyEvent[] = [];
    const mine: KeyEvent[] = [];
    const s1 = await adminKv.onKeyspace('*', (e) => all.push(e));
    const s2 = await appKv.onKeyspace('*', (e) => mine.push(e));
    const r = redis(secured, { username: 'admin', password: 'adminpw' });
    await r.set('other:k', '1');
    await r.set('app:k', '1');
    expect(await waitFor(() => mine.length >= 1 && all.length >= 2, 5000)).toBe(true);
    expect(all).toEqual([
      { key: 'other:k', event: 'set', db: 0, offset: expect.any(Number) },
      { key: 'app:k', event: 'set', db: 0, offset: expect.any(Number) },
    ]);
    // The same event, at the same place in the stream, for both users.
    expect(mine).toEqual([{ key: 'app:k', event: 'set', db: 0, offset: all[1].offset }]);
    // A channel outside its rights is refused with NOPERM.
    const denied = await rejection(appKv.subscribe('news'));
    expect(denied).toBeInstanceOf(KvwsError);
    expect((denied as KvwsError).code).toBe('NOPERM');
    await s1.unsubscribe();
    await s2.unsubscribe();
  });

  it('close() ends streams and later calls reject', async () => {
    const t = new HttpTransport(base(open));
    const r = redis(open);
    await t.subscribe('channel', 'closing', () => {});
    expect(((await r.pubsub('NUMSUB', 'closing')) as unknown[])[1]).toBe(1);
    await t.close();
    expect(await waitFor(async () => ((await r.pubsub('NUMSUB', 'closing')) as unknown[])[1] === 0, 5000)).toBe(true);
    expect(await rejection(t.subscribe('channel', 'closing', () => {}))).toBeInstanceOf(ConnectionError);
    expect(await rejection(t.request({ kind: 'cmd', argv: ['PING'] }))).toBeInstanceOf(ConnectionError);
  });
});
