// kvws as a gateway in front of one real redis-server (`--engine redis://…`, `rediss://…`), through real
// clients: start-up and configuration errors (bad URLs, an unreachable Redis, wrong credentials) with clear
// messages that never echo a password; AUTH to Redis with the URL's credentials, KVWS_ENGINE_PASSWORD and
// the --engine-username/--engine-password flags; TLS to Redis with a throwaway CA; kvws's ACLs in front of
// Redis (no key-name leaks through KEYS, SCAN, DBSIZE, RANDOMKEY or keyspace events while Redis holds more);
// SELECT; blocking commands on dedicated connections, CLIENT UNBLOCK and --engine-max-dedicated; the
// WebSocket and HTTP front doors; and Redis SIGKILLed and restarted under a running gateway (last: it
// empties Redis). kvws-only.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Message } from '@kvws/client';
import { connectHttp } from '@kvws/client/http';
import { connectWs, type WsClient } from '@kvws/client/ws';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { httpJson } from '../helpers/http.js';
import { type RedisNode, startRedisServer } from '../helpers/redis-topology.js';
import {
  freePort,
  KVWS_BIN,
  makeTestCertificate,
  type RunningServer,
  redisClient,
  startKvws,
  wsUrl,
} from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** A password that must never appear in kvws's output. */
const SECRET = 'Sup3r-Secret-Pw';
/** --engine-timeout of the main gateway: short, so the "Redis stays down" case fails quickly. */
const ENGINE_TIMEOUT_MS = 5000;
const TOO_MANY =
  'ERR too many blocking commands and WATCH sessions on the Redis engine at once (engine-max-dedicated is 2)';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An ioredis client on a kvws server, disconnected after the file. */
function client(server: RunningServer, opts: RedisOptions = {}): Redis {
  const c = redisClient(server, opts);
  c.on('error', () => {});
  cleanups.push(() => c.disconnect());
  return c;
}

interface Exit {
  code: number | null;
  /** stdout and stderr. */
  output: string;
  /** From spawn to exit. */
  ms: number;
}

/**
 * Runs `kvws serve` with no listeners and `args` until it exits; SIGKILLs it (code null) after `limitMs`.
 * For start-ups that must fail.
 */
function serveUntilExit(args: string[], env: Record<string, string> = {}, limitMs = 30_000): Promise<Exit> {
  const t0 = Date.now();
  const child: ChildProcess = spawn(process.execPath, [KVWS_BIN, 'serve', '--resp-port', '0', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - t0 });
    });
  });
}

/** `field` of an INFO reply as a number (NaN when absent). */
function infoNumber(info: string, field: string): number {
  return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1]);
}

/** Records `"<key> <event>"` for the keyspace notifications a psubscribed ioredis client receives. */
function keyspaceRecorder(sub: Redis): string[] {
  const got: string[] = [];
  sub.on('pmessage', (_p: string, channel: string, message: string) => {
    got.push(`${channel.slice(channel.indexOf('__:') + 3)} ${message}`);
  });
  return got;
}

/** Waits (bounded) until `list` holds `item`; fails naming what it holds. */
async function waitForItem(list: string[], item: string, timeoutMs = 10_000): Promise<void> {
  if (!(await waitFor(() => list.includes(item), timeoutMs))) {
    throw new Error(`"${item}" not received within ${timeoutMs} ms; got ${JSON.stringify(list.slice(-20))}`);
  }
}

describe('start-up and configuration errors', () => {
  it('a bad --engine URL is refused at once, saying what is wrong, without echoing the password', async () => {
    const cases: [string, RegExp][] = [
      [`http://bob:${SECRET}@127.0.0.1:6379`, /--engine must be "embedded", redis:\/\/host:port/],
      [`redis://bob:${SECRET}@127.0.0.1:notaport`, /"127\.0\.0\.1:notaport" is not host:port/],
      [`redis://bob:${SECRET}@127.0.0.1:6379/2`, /takes no path \(databases are chosen with SELECT\)/],
      [`redis-sentinel://bob:${SECRET}@127.0.0.1:26379`, /needs the master name as its path/],
      [`redis://bob:${SECRET}@127.0.0.1:6379?tls=1`, /unknown parameter "tls"/],
      [`redis://bob:${SECRET}@127.0.0.1:6379,127.0.0.1:6380`, /takes one host:port/],
    ];
    // A long --engine-timeout: a URL that got as far as connecting would keep kvws running for a minute.
    const runs = await Promise.all(
      cases.map(([url]) => serveUntilExit(['--engine', url, '--engine-timeout', '60000'])),
    );
    runs.forEach((run, i) => {
      const what = `${cases[i][0]} → ${run.output}`;
      expect(run.code, what).toBe(2);
      expect(run.output, what).toMatch(cases[i][1]);
      expect(run.output, what).not.toContain('kvws: ready');
      expect(run.output, `the password is echoed: ${run.output}`).not.toContain(SECRET);
      // Refused while reading the options: no connection attempt, no waiting for --engine-timeout.
      expect(run.ms, what).toBeLessThan(30_000);
    });
  });

  it('a password with an unescaped "/" is not echoed either', async () => {
    // The "/" ends the authority for the URL pattern, so the password's head is taken for a host.
    const run = await serveUntilExit(['--engine', `redis://bob:${SECRET}/x@127.0.0.1:6379`]);
    expect(run.code, run.output).toBe(2);
    expect(run.output, `the password is echoed: ${run.output}`).not.toContain(SECRET);
  });

  it('an unreachable Redis: kvws serve fails after --engine-timeout, naming the engine', async () => {
    const port = await freePort(); // nothing listens there
    const run = await serveUntilExit([
      '--engine',
      `redis://app:${SECRET}@127.0.0.1:${port}`,
      '--engine-timeout',
      '1500',
    ]);
    expect(run.code, run.output).toBe(2);
    expect(run.output).toMatch(/kvws: the Redis engine did not answer/);
    expect(run.output).toContain(`(--engine redis://app:***@127.0.0.1:${port})`);
    expect(run.output).not.toContain(SECRET);
    expect(run.output).not.toContain('kvws: ready');
    expect(run.ms).toBeGreaterThanOrEqual(1500);
    expect(run.ms).toBeLessThan(1500 + 10_000);
  });
});

describe('AUTH to Redis (requirepass and an ACL user)', () => {
  let node: RedisNode;
  beforeAll(async () => {
    node = await startRedisServer();
    // Set at run time: the helper's PING (which waits for the server) needs no password. Its admin
    // connection stays logged in as the default user.
    await node.call('ACL', 'SETUSER', 'alice', 'on', '>alice-pw', '~*', '&*', '+@all');
    await node.call('CONFIG', 'SET', 'requirepass', 'default-pw');
  });
  afterAll(() => node?.stop());

  /** The ACL user of each of kvws's connections to Redis (named kvws-gateway…), per CLIENT LIST. */
  async function gatewayUsers(): Promise<string[]> {
    const list = String(await node.call('CLIENT', 'LIST'));
    return list
      .split('\n')
      .filter((l) => / name=kvws-gateway/.test(l))
      .map((l) => /\buser=(\S+)/.exec(l)?.[1] ?? '?');
  }

  const logins: { what: string; args: string[]; env?: Record<string, string>; user: string }[] = [
    { what: "the URL's user and password", args: ['--engine', 'redis://alice:alice-pw@127.0.0.1:PORT'], user: 'alice' },
    {
      what: "the URL's user, KVWS_ENGINE_PASSWORD",
      args: ['--engine', 'redis://alice@127.0.0.1:PORT'],
      env: { KVWS_ENGINE_PASSWORD: 'alice-pw' },
      user: 'alice',
    },
    {
      what: 'requirepass from KVWS_ENGINE_PASSWORD',
      args: ['--engine', 'redis://127.0.0.1:PORT'],
      env: { KVWS_ENGINE_PASSWORD: 'default-pw' },
      user: 'default',
    },
    {
      what: '--engine-username/--engine-password over the URL',
      args: ['--engine', 'redis://mallory:wrong-pw@127.0.0.1:PORT', '--engine-username', 'alice'],
      env: { KVWS_ENGINE_PASSWORD: 'alice-pw' },
      user: 'alice',
    },
  ];

  it.each(logins.map((l, i) => [l.what, i] as const))('logs in to Redis with %s', async (_what, i) => {
    const l = logins[i];
    const args = l.args.map((a) => a.replace('PORT', String(node.port)));
    const server = await startKvws(['--notify-keyspace-events', 'KEA', ...args], l.env);
    const r = redisClient(server);
    r.on('error', () => {});
    try {
      expect(await r.set(`auth:${i}`, 'v')).toBe('OK');
      expect(await node.call('GET', `auth:${i}`)).toBe('v');
      // Every connection (shared and event feed) logged in as that user.
      const users = await gatewayUsers();
      expect(users.length).toBeGreaterThanOrEqual(2);
      expect(new Set(users)).toEqual(new Set([l.user]));
      for (const pw of ['alice-pw', 'default-pw', 'wrong-pw']) expect(server.output()).not.toContain(pw);
    } finally {
      r.disconnect();
      await server.stop();
    }
    // The next login's CLIENT LIST must not see this gateway's connections.
    expect(await waitFor(async () => (await gatewayUsers()).length === 0, 5000)).toBe(true);
  });

  it('a wrong or missing password: kvws serve fails with the reason Redis gave, naming the engine', async () => {
    const [wrong, missing] = await Promise.all([
      serveUntilExit(['--engine', `redis://alice:${SECRET}@127.0.0.1:${node.port}`, '--engine-timeout', '1000']),
      serveUntilExit(['--engine', `redis://127.0.0.1:${node.port}`, '--engine-timeout', '1000']),
    ]);
    expect(wrong.code, wrong.output).toBe(2);
    expect(wrong.output).toMatch(/WRONGPASS invalid username-password pair/);
    expect(wrong.output).toContain(`(--engine redis://alice:***@127.0.0.1:${node.port})`);
    expect(wrong.output).not.toContain(SECRET);
    expect(missing.code, missing.output).toBe(2);
    expect(missing.output).toMatch(/NOAUTH Authentication required/);
    for (const run of [wrong, missing]) expect(run.ms).toBeLessThan(1000 + 10_000);
  });
});

describe('TLS to Redis (rediss://, --engine-tls-ca)', () => {
  let node: RedisNode;
  let dir = '';
  let ca = '';
  let tlsPort = 0;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kvws-gateway-tls-'));
    const cert = makeTestCertificate(dir, 'redis');
    ca = cert.ca;
    tlsPort = await freePort();
    // The plain port stays open for the helper's PING and admin connection; kvws uses the TLS one.
    node = await startRedisServer({
      args: [
        ...['--tls-port', String(tlsPort), '--tls-cert-file', cert.cert, '--tls-key-file', cert.key],
        ...['--tls-ca-cert-file', cert.ca, '--tls-auth-clients', 'no'],
      ],
    });
  });
  afterAll(async () => {
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves commands and keyspace events over TLS to Redis', async () => {
    const server = await startKvws([
      ...['--engine', `rediss://127.0.0.1:${tlsPort}`, '--engine-tls-ca', ca],
      ...['--notify-keyspace-events', 'KEA'],
    ]);
    const r = redisClient(server);
    const sub = redisClient(server);
    try {
      const events = keyspaceRecorder(sub);
      await sub.psubscribe('__keyspace@0__:tls:*');
      expect(await r.set('tls:k', 'over-tls')).toBe('OK');
      expect(await r.get('tls:k')).toBe('over-tls');
      expect(await node.call('GET', 'tls:k')).toBe('over-tls');
      await waitForItem(events, 'tls:k set');
      // kvws's connections reached Redis on its TLS port.
      const lines = String(await node.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((l) => / name=kvws-gateway/.test(l));
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (const l of lines) expect(l).toContain(`laddr=127.0.0.1:${tlsPort} `);
    } finally {
      r.disconnect();
      sub.disconnect();
      await server.stop();
    }
  });

  it('without the CA, start-up fails and the message names the certificate problem', async () => {
    const run = await serveUntilExit(['--engine', `rediss://127.0.0.1:${tlsPort}`, '--engine-timeout', '1000']);
    expect(run.code, run.output).toBe(2);
    expect(run.output).toContain(`(--engine rediss://127.0.0.1:${tlsPort})`);
    // Not just "timed out": the operator must learn that the certificate was not trusted.
    expect(run.output).toMatch(/certificate/i);
  });
});

describe('one gateway in front of one redis-server', () => {
  let node: RedisNode;
  let server: RunningServer;
  /** The default (open) user on kvws's RESP port. */
  let admin: Redis;

  beforeAll(async () => {
    node = await startRedisServer();
    server = await startKvws([
      ...['--engine', `redis://127.0.0.1:${node.port}`, '--engine-timeout', String(ENGINE_TIMEOUT_MS)],
      ...['--engine-max-dedicated', '2', '--notify-keyspace-events', 'KEA'],
      ...['--port', String(await freePort()), '--no-tls'],
    ]);
    admin = client(server);
  });
  afterAll(async () => {
    await server?.stop();
    await node?.stop();
  });

  const blockedInRedis = async () => infoNumber(String(await node.call('INFO', 'clients')), 'blocked_clients');
  const engineInfo = async (field: string) => infoNumber(await admin.info('engine'), field);

  it("kvws's ACLs apply in front of Redis: a key-restricted user sees only its keys, events included", async () => {
    expect(await admin.call('ACL', 'SETUSER', 'bob', 'on', '>bob-pw', '~bob:*', '&__keyspace@0__:*', '+@all')).toBe(
      'OK',
    );
    const mine = Array.from({ length: 5 }, (_, i) => `bob:${i}`);
    for (const k of mine) await admin.set(k, 'b');
    for (let i = 0; i < 8; i++) await admin.set(`alice:${i}`, 'a');
    // Written into Redis behind kvws's back: the gateway must filter them too.
    for (let i = 0; i < 4; i++) await node.call('SET', `direct:${i}`, 'd');
    const login = { username: 'bob', password: 'bob-pw', enableReadyCheck: false, disableClientInfo: true };
    const bob = client(server, login);

    expect(await bob.get('bob:0')).toBe('b');
    await expect(bob.get('alice:0')).rejects.toThrow(/^NOPERM/);
    await expect(bob.get('direct:0')).rejects.toThrow(/^NOPERM/);
    expect((await bob.keys('*')).sort()).toEqual(mine);
    const scanned: string[] = [];
    let cursor = '0';
    for (let pages = 0; pages < 200; pages++) {
      const [next, keys] = await bob.scan(cursor, 'COUNT', 2);
      scanned.push(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
    expect(cursor).toBe('0');
    expect([...new Set(scanned)].sort()).toEqual(mine);
    expect(await bob.dbsize()).toBe(5);
    for (let i = 0; i < 5; i++) expect(await bob.randomkey()).toMatch(/^bob:/);
    // Redis holds more, and the default user sees all of it.
    const inRedis = Number(await node.call('DBSIZE'));
    expect(inRedis).toBe(17);
    expect(await admin.dbsize()).toBe(inRedis);

    // Keyspace events: bob's subscriber gets only bob:* keys, writes made directly on Redis included.
    const bobSub = client(server, login);
    const adminSub = client(server);
    const bobEvents = keyspaceRecorder(bobSub);
    const allEvents = keyspaceRecorder(adminSub);
    await bobSub.psubscribe('__keyspace@0__:*');
    await adminSub.psubscribe('__keyspace@0__:*');
    await admin.set('alice:ev', '1');
    await admin.set('bob:ev', '1');
    await node.call('SET', 'alice:direct-ev', '1');
    await node.call('SET', 'bob:direct-ev', '1');
    await admin.del('alice:ev');
    await admin.set('bob:last', '1');
    await waitForItem(allEvents, 'bob:last set');
    await waitForItem(bobEvents, 'bob:last set');
    expect(allEvents).toEqual(
      expect.arrayContaining(['alice:ev set', 'alice:direct-ev set', 'alice:ev del', 'bob:direct-ev set']),
    );
    expect(bobEvents).toEqual(['bob:ev set', 'bob:direct-ev set', 'bob:last set']);
  });

  it('SELECT 3: the data lands in Redis db 3 and its events carry @3', async () => {
    const c = client(server);
    const sub = client(server);
    const events: string[] = [];
    sub.on('pmessage', (_p: string, channel: string, message: string) => events.push(`${channel} ${message}`));
    await sub.psubscribe('__keyspace@3__:db3:*', '__keyevent@3__:set');
    expect(await c.select(3)).toBe('OK');
    expect(await c.set('db3:k', 'three')).toBe('OK');
    expect(await c.get('db3:k')).toBe('three');
    const direct3 = node.client({ db: 3 });
    expect(await direct3.get('db3:k')).toBe('three');
    expect(await node.client().exists('db3:k')).toBe(0);
    expect(await admin.get('db3:k')).toBeNull(); // kvws's db 0
    // A write made in Redis's db 3 directly is an @3 event too.
    await direct3.set('db3:direct', 'x');
    await waitForItem(events, '__keyspace@3__:db3:direct set');
    expect(events).toEqual([
      '__keyspace@3__:db3:k set',
      '__keyevent@3__:set db3:k',
      '__keyspace@3__:db3:direct set',
      '__keyevent@3__:set db3:direct',
    ]);
    expect(await c.info('keyspace')).toMatch(/^db3:keys=2,/m);
  });

  it('BLPOP blocks in Redis on a connection of its own; CLIENT UNBLOCK from another kvws client ends it', async () => {
    const blocker = client(server);
    const other = client(server);
    const id = String(await blocker.client('ID'));
    const settle = (p: Promise<unknown>) =>
      p.then(
        (v) => ({ v }),
        (e: Error) => ({ e: e.message }),
      );

    const first = settle(blocker.blpop('blk:list', 0));
    expect(await waitFor(async () => (await blockedInRedis()) === 1, 5000)).toBe(true);
    expect(await engineInfo('engine_blocked_clients')).toBe(1);
    expect(await other.ping()).toBe('PONG'); // the shared connection is not held up
    expect(await other.call('CLIENT', 'UNBLOCK', id, 'ERROR')).toBe(1);
    expect(await first).toEqual({ e: 'UNBLOCKED client unblocked via CLIENT UNBLOCK' });
    expect(await waitFor(async () => (await blockedInRedis()) === 0, 5000)).toBe(true);

    // Without ERROR it ends as a timeout would: a null reply.
    const second = settle(blocker.blpop('blk:list', 0));
    expect(await waitFor(async () => (await blockedInRedis()) === 1, 5000)).toBe(true);
    expect(await other.call('CLIENT', 'UNBLOCK', id)).toBe(1);
    expect(await second).toEqual({ v: null });

    // And a push serves a blocked pop, as usual.
    const third = settle(blocker.blpop('blk:list', 0));
    expect(await waitFor(async () => (await blockedInRedis()) === 1, 5000)).toBe(true);
    expect(await other.lpush('blk:list', 'x')).toBe(1);
    expect(await third).toEqual({ v: ['blk:list', 'x'] });
    expect(await waitFor(async () => (await engineInfo('engine_blocked_clients')) === 0, 5000)).toBe(true);
  });

  it('beyond --engine-max-dedicated 2, blocking commands and WATCH get the documented error', async () => {
    const [c1, c2, c3] = [client(server), client(server), client(server)];
    const p1 = c1.blpop('md:a', 0);
    const p2 = c2.blpop('md:b', 0);
    expect(await waitFor(async () => (await blockedInRedis()) === 2, 5000)).toBe(true);
    expect(await engineInfo('engine_dedicated_in_use')).toBe(2);
    await expect(c3.blpop('md:c', 0)).rejects.toThrow(TOO_MANY);
    await expect(c3.watch('md:c')).rejects.toThrow(TOO_MANY);
    expect(await blockedInRedis()).toBe(2); // the refused one never reached Redis
    // One is served: its connection is free for the next.
    expect(await admin.lpush('md:a', '1')).toBe(1);
    expect(await p1).toEqual(['md:a', '1']);
    const p3 = c3.blpop('md:c', 0);
    expect(await waitFor(async () => (await blockedInRedis()) === 2, 5000)).toBe(true);
    await admin.lpush('md:c', '3');
    await admin.lpush('md:b', '2');
    expect(await p3).toEqual(['md:c', '3']);
    expect(await p2).toEqual(['md:b', '2']);
    expect(await waitFor(async () => (await engineInfo('engine_dedicated_in_use')) === 0, 5000)).toBe(true);
    // WATCH works again once a connection is free.
    expect(await c3.watch('md:c')).toBe('OK');
    expect(await c3.multi().set('md:c', 'tx').exec()).toEqual([[null, 'OK']]);
    expect(await node.call('GET', 'md:c')).toBe('tx');
  });

  it('the WebSocket (@kvws/client) and the HTTP API serve commands and subscriptions', async () => {
    const ws: WsClient = connectWs(wsUrl(server), { WebSocket });
    cleanups.push(() => ws.close());
    expect(await ws.set('door:ws', '1')).toBe('OK');
    expect(await ws.call('INCR', 'door:ws')).toBe(2);
    expect(await ws.call('HSET', 'door:h', 'f', 'x', 'g', 2)).toBe(2);
    expect(await ws.call('HGETALL', 'door:h')).toEqual({ f: 'x', g: '2' });
    expect(await node.call('GET', 'door:ws')).toBe('2');
    const wsMessages: Message[] = [];
    await ws.subscribe('door:news', (m) => wsMessages.push(m));
    const wsKeys: string[] = [];
    await ws.onKeyspace('door:*', (e) => wsKeys.push(`${e.key} ${e.event}`));

    const api = { port: server.httpsPort, tls: false };
    let res = await httpJson(api, 'POST', '/', ['SET', 'door:http', 'h']);
    expect([res.status, res.json]).toEqual([200, { result: 'OK' }]);
    res = await httpJson(api, 'POST', '/', ['GET', 'door:http']);
    expect([res.status, res.json]).toEqual([200, { result: 'h' }]);
    res = await httpJson(api, 'POST', '/', ['INCR', 'door:http']);
    expect([res.status, res.json]).toEqual([400, { error: 'ERR value is not an integer or out of range' }]);
    res = await httpJson(api, 'POST', '/pipeline', [
      ['INCR', 'door:n'],
      ['INCR', 'door:n'],
    ]);
    expect([res.status, res.json]).toEqual([200, [{ result: 1 }, { result: 2 }]]);
    expect(await node.call('GET', 'door:http')).toBe('h');

    const http = connectHttp(`http://127.0.0.1:${server.httpsPort}`);
    cleanups.push(() => http.close());
    const httpMessages: Message[] = [];
    await http.subscribe('door:news', (m) => httpMessages.push(m));
    // Published through kvws's HTTP API, then on Redis directly: both reach both subscribers. Redis counts
    // one receiver, the gateway's event feed.
    res = await httpJson(api, 'POST', '/', ['PUBLISH', 'door:news', 'via-http']);
    expect([res.status, res.json]).toEqual([200, { result: 1 }]);
    expect(await node.call('PUBLISH', 'door:news', 'direct')).toBe(1);
    expect(await waitFor(() => wsMessages.length >= 2 && httpMessages.length >= 2, 10_000)).toBe(true);
    expect(wsMessages.map((m) => [m.channel, m.data])).toEqual([
      ['door:news', 'via-http'],
      ['door:news', 'direct'],
    ]);
    expect(httpMessages.map((m) => [m.channel, m.data])).toEqual([
      ['door:news', 'via-http'],
      ['door:news', 'direct'],
    ]);
    await waitForItem(wsKeys, 'door:n incrby');
    expect(wsKeys).toEqual(['door:http set', 'door:n incrby', 'door:n incrby']);
  });

  // Last: Redis restarts empty (no persistence).
  it('Redis SIGKILLed and restarted: kvws reconnects by itself; commands wait for it or fail after --engine-timeout; events come back', async () => {
    const ws: WsClient = connectWs(wsUrl(server), { WebSocket });
    cleanups.push(() => ws.close());
    const wsKeys: string[] = [];
    await ws.onKeyspace('rs:*', (e) => wsKeys.push(`${e.key} ${e.event}`));
    const wsStates: string[] = [];
    ws.transport.on('state', (s) => wsStates.push(s.newState));
    const sub = client(server);
    const subKeys = keyspaceRecorder(sub);
    await sub.psubscribe('__keyspace@0__:rs:*');
    let closes = 0;
    for (const c of [admin, sub]) c.on('close', () => closes++);
    await admin.set('rs:before', '1');
    await waitForItem(subKeys, 'rs:before set');
    await waitForItem(wsKeys, 'rs:before set');

    /** Settles `p`, with the time from now until it did. */
    const timed = (p: Promise<unknown>) => {
      const t = Date.now();
      return p.then(
        (v) => ({ v, ms: Date.now() - t }),
        (e: Error) => ({ e: e.message, ms: Date.now() - t }),
      );
    };
    /** Writes `key` once a second until both subscribers saw its set event (bounded); returns how long that took. */
    const untilEventsFlow = async (key: string): Promise<number> => {
      const t = Date.now();
      while (Date.now() - t < 15_000) {
        await admin.set(key, '1');
        if (await waitFor(() => subKeys.includes(`${key} set`) && wsKeys.includes(`${key} set`), 1000)) {
          return Date.now() - t;
        }
      }
      throw new Error(`no set event for ${key} within 15 s: sub ${subKeys.slice(-5)}, ws ${wsKeys.slice(-5)}`);
    };

    // 1. Down for about a second: commands issued meanwhile wait, and succeed once Redis is back.
    node.kill('SIGKILL');
    await node.exited();
    const t0 = Date.now();
    const during = Promise.all([
      timed(admin.set('rs:during', '1')),
      timed(ws.set('rs:during-ws', '1')),
      timed(admin.get('rs:before')),
    ]);
    await sleep(1000);
    await node.restart();
    const backAfter = Date.now() - t0;
    const results = await during;
    console.log(
      `[gateway/redis] Redis back ${backAfter} ms after SIGKILL; commands issued during the outage took ${results.map((r) => r.ms).join(', ')} ms`,
    );
    expect(results.map((r) => ('e' in r ? r.e : r.v))).toEqual(['OK', 'OK', null]); // rs:before died with Redis
    for (const r of results) expect(r.ms).toBeLessThan(ENGINE_TIMEOUT_MS);
    expect(await node.call('GET', 'rs:during')).toBe('1');
    expect(await node.call('GET', 'rs:during-ws')).toBe('1');
    // Events again: kvws re-subscribed and turned notify-keyspace-events on in the new process.
    const eventsBack = await untilEventsFlow('rs:probe-1');
    console.log(`[gateway/redis] keyspace events flowing again ${eventsBack} ms after the first probe`);
    expect(((await node.call('CONFIG', 'GET', 'notify-keyspace-events')) as string[])[1]).toMatch(/K/);

    // 2. Down for longer than --engine-timeout: commands fail with ERR engine unavailable, and are not
    // applied later when Redis comes back.
    node.kill('SIGKILL');
    await node.exited();
    const [lost, lostWs] = await Promise.all([timed(admin.set('rs:lost', '1')), timed(ws.set('rs:lost-ws', '1'))]);
    console.log(`[gateway/redis] Redis down: the commands failed after ${lost.ms} and ${lostWs.ms} ms`);
    expect('e' in lost && lost.e).toMatch(/^ERR engine unavailable/);
    expect('e' in lostWs && lostWs.e).toMatch(/^ERR engine unavailable/);
    for (const r of [lost, lostWs]) {
      expect(r.ms).toBeGreaterThanOrEqual(ENGINE_TIMEOUT_MS - 200);
      expect(r.ms).toBeLessThan(ENGINE_TIMEOUT_MS + 3000);
    }
    await node.restart();
    expect(await admin.set('rs:after', '1')).toBe('OK');
    expect(await ws.get('rs:after')).toBe('1');
    await untilEventsFlow('rs:probe-2');
    // No kvws client noticed more than slow or failed replies.
    expect(closes).toBe(0);
    expect(wsStates).toEqual([]);
    // The clients were told these writes failed: they must not have run once Redis was back.
    await sleep(500);
    expect(await node.call('EXISTS', 'rs:lost', 'rs:lost-ws')).toBe(0);
  });
});
