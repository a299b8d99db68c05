import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errors, Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpAnswer, httpJson, RawBody } from '../helpers/http.js';
import { freePort, publishReceivers, type RunningServer, startKvws } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

// Upstash REST API compatibility, end to end: real kvws processes (--no-tls, loopback) with users and static
// API tokens from a --config file, driven by the unmodified @upstash/redis client (`new Redis({url, token})`)
// and by raw requests through node:http (test/helpers/http.ts) for what the client never sends: the path
// form, ?_token=, CORS, Upstash-Response-Format: resp2, bad input. kvws-only.

const servers: RunningServer[] = [];
let dir = '';
/** Users (default off) and API tokens from a config file; https://app.example is an allowed origin. */
let server: RunningServer;
let url = '';
/** API tokens from KVWS_API_TOKENS, ?_token= turned off by KVWS_HTTP_QUERY_TOKEN=false. */
let envServer: RunningServer;

const secret = (name: string) => `${name}-${randomBytes(18).toString('base64url')}`;
const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
/** alice (`~* &* +@all`): a plaintext token in the config file. */
const ALICE = secret('alice');
/** alice, read-only, by hash. */
const ALICE_RO = secret('alice-ro');
/** bob (`~bob:* +@all`), by hash. */
const BOB = secret('bob');
/** For users deleted or turned off during the tests, and one that never existed. */
const DAVE = secret('dave');
const ERIN = secret('erin');
const GHOST = secret('ghost');
const MAX_BODY = 4096;
const ORIGIN = 'https://app.example';

async function start(args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), '--no-tls', ...args], env);
  servers.push(s);
  return s;
}

/** An @upstash/redis client for `server` with `token`; `opts` as the client takes them. */
function upstash(token = ALICE, opts: Partial<ConstructorParameters<typeof Redis>[0]> = {}): Redis {
  return new Redis({ url, token, enableTelemetry: true, ...opts });
}

/**
 * A raw request to `target` (default: the main server): `body` as JSON unless a RawBody; `token` in
 * `Authorization: Bearer`.
 */
function raw(
  method: string,
  pathname: string,
  o: { body?: unknown; token?: string; headers?: Record<string, string>; target?: RunningServer } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  return httpJson({ port: (o.target ?? server).httpsPort, tls: false }, method, pathname, o.body, headers);
}

/** The `error` of a JSON answer. */
const errorOf = (a: HttpAnswer) => (a.json as { error: string }).error;

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-upstash-test-'));
  const users = path.join(dir, 'users.acl');
  writeFileSync(
    users,
    [
      'user default off',
      'user alice on >alice-pw ~* &* +@all',
      'user bob on >bob-pw ~bob:* +@all',
      'user dave on >dave-pw ~* +@all',
      'user erin on >erin-pw ~* +@all',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const config = path.join(dir, 'kvws.json');
  writeFileSync(
    config,
    JSON.stringify({
      aclFile: users,
      httpMaxBody: MAX_BODY,
      allowedOrigins: [ORIGIN],
      apiTokens: [
        { user: 'alice', token: ALICE },
        { user: 'alice', sha256: sha256(ALICE_RO), readonly: true },
        { user: 'bob', sha256: sha256(BOB).toUpperCase() },
        { user: 'dave', sha256: sha256(DAVE) },
        { user: 'erin', sha256: sha256(ERIN) },
        { user: 'ghost', sha256: sha256(GHOST) },
      ],
    }),
    { mode: 0o600 },
  );
  [server, envServer] = await Promise.all([
    start(['--config', config]),
    start([], {
      KVWS_API_TOKENS: JSON.stringify([{ user: 'default', sha256: sha256(ALICE) }]),
      KVWS_HTTP_QUERY_TOKEN: 'false',
    }),
  ]);
  url = `http://127.0.0.1:${server.httpsPort}`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('@upstash/redis, unmodified, with url and token', () => {
  it('strings: SET with options, GET, INCR, MSET/MGET, GETDEL, unicode', async () => {
    const redis = upstash();
    expect(await redis.set('s:greeting', 'héllo wörld €')).toBe('OK');
    expect(await redis.get('s:greeting')).toBe('héllo wörld €');
    expect(await redis.set('s:ttl', 'v', { ex: 100 })).toBe('OK');
    expect(await redis.ttl('s:ttl')).toBe(100);
    expect(await redis.set('s:ttl', 'w', { nx: true })).toBe(null);
    expect(await redis.set('s:ttl', 'w', { xx: true, get: true })).toBe('v');
    expect(await redis.incr('s:n')).toBe(1);
    expect(await redis.incrby('s:n', 41)).toBe(42);
    expect(await redis.incrbyfloat('s:f', 1.5)).toBe(1.5);
    expect(await redis.mset({ 's:a': 'x', 's:b': 'y' })).toBe('OK');
    expect(await redis.mget('s:a', 's:b', 's:none')).toEqual(['x', 'y', null]);
    expect(await redis.append('s:a', 'z')).toBe(2);
    expect(await redis.getdel('s:a')).toBe('xz');
    expect(await redis.exists('s:a', 's:b')).toBe(1);
    expect(await redis.type('s:b')).toBe('string');
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.echo('OK')).toBe('OK');
    // A value that is itself "OK" or looks like base64 comes back as it is.
    await redis.set('s:ok', 'OK');
    expect(await redis.get('s:ok')).toBe('OK');
    await redis.set('s:b64', 'YmFy');
    expect(await redis.get('s:b64')).toBe('YmFy');
  });

  it('hashes, lists, sets', async () => {
    const redis = upstash();
    expect(await redis.hset('h:1', { name: 'ada', n: 2 })).toBe(2);
    expect(await redis.hget('h:1', 'name')).toBe('ada');
    expect(await redis.hgetall('h:1')).toEqual({ name: 'ada', n: 2 });
    expect(await redis.hincrby('h:1', 'n', 3)).toBe(5);
    expect(await redis.hmget('h:1', 'name', 'nope')).toEqual({ name: 'ada', nope: null });
    expect((await redis.hkeys('h:1')).sort()).toEqual(['n', 'name']);
    expect(await redis.hdel('h:1', 'n')).toBe(1);
    expect(await redis.hgetall('h:none')).toBe(null);

    expect(await redis.rpush('l:1', 'a', 'b', 'c')).toBe(3);
    expect(await redis.lpush('l:1', 'z')).toBe(4);
    expect(await redis.lrange('l:1', 0, -1)).toEqual(['z', 'a', 'b', 'c']);
    expect(await redis.lpop('l:1')).toBe('z');
    expect(await redis.lindex('l:1', -1)).toBe('c');
    expect(await redis.llen('l:1')).toBe(3);

    expect(await redis.sadd('set:1', 'a', 'b', 'c')).toBe(3);
    expect(await redis.sismember('set:1', 'b')).toBe(1);
    expect(await redis.srem('set:1', 'b')).toBe(1);
    expect((await redis.smembers('set:1')).sort()).toEqual(['a', 'c']);
    expect(await redis.scard('set:1')).toBe(2);
  });

  it('sorted sets, with scores', async () => {
    const redis = upstash();
    expect(
      await redis.zadd('z:1', { score: 1.5, member: 'a' }, { score: 2, member: 'b' }, { score: -3, member: 'c' }),
    ).toBe(3);
    expect(await redis.zscore('z:1', 'a')).toBe(1.5);
    expect(await redis.zrange('z:1', 0, -1)).toEqual(['c', 'a', 'b']);
    expect(await redis.zrange('z:1', 0, -1, { withScores: true })).toEqual(['c', -3, 'a', 1.5, 'b', 2]);
    expect(await redis.zrange('z:1', 0, 1, { rev: true, withScores: true })).toEqual(['b', 2, 'a', 1.5]);
    expect(await redis.zincrby('z:1', 0.25, 'a')).toBe(1.75);
    expect(await redis.zrank('z:1', 'b')).toBe(2);
    expect(await redis.zcard('z:1')).toBe(3);
    expect(await redis.zpopmin('z:1')).toEqual(['c', -3]);
    expect(await redis.zrem('z:1', 'a')).toBe(1);
  });

  it('JSON values, with automatic deserialization on (the default) and off', async () => {
    const redis = upstash();
    const value = { name: 'ada', tags: ['x', 'ü'], n: 1.5, ok: true, none: null };
    expect(await redis.set('json:1', value)).toBe('OK');
    expect(await redis.get('json:1')).toEqual(value);
    await redis.hset('json:h', { doc: value });
    expect(await redis.hget('json:h', 'doc')).toEqual(value);
    await redis.rpush('json:l', { i: 1 }, { i: 2 });
    expect(await redis.lrange('json:l', 0, -1)).toEqual([{ i: 1 }, { i: 2 }]);

    const plain = upstash(ALICE, { automaticDeserialization: false });
    expect(await plain.get('json:1')).toBe(JSON.stringify(value));
    await plain.set('json:n', '42');
    expect(await plain.get('json:n')).toBe('42');
    expect(await redis.get('json:n')).toBe(42);
    expect(await plain.zadd('json:z', { score: 2.5, member: 'm' })).toBe(1);
    expect(await plain.zscore('json:z', 'm')).toBe('2.5');
    expect(await plain.zrange('json:z', 0, -1, { withScores: true })).toEqual(['m', '2.5']);
  });

  it('answers in base64 (the client default) and in UTF-8 text (responseEncoding: false) alike', async () => {
    const values = ['plain', 'ünïcödé €', 'OK', 'PONG', 'YmFy', '', 'a,b\nc'];
    for (const responseEncoding of ['base64', false] as const) {
      const redis = upstash(ALICE, { responseEncoding, automaticDeserialization: false });
      for (const [i, v] of values.entries()) {
        expect(await redis.set(`enc:${i}`, v)).toBe('OK');
        expect(await redis.get(`enc:${i}`), `${responseEncoding} ${JSON.stringify(v)}`).toBe(v);
      }
      expect(await redis.mget(...values.map((_, i) => `enc:${i}`))).toEqual(values);
      expect(await redis.type('enc:0')).toBe('string');
      expect(await redis.hset(`enc:h:${responseEncoding}`, { fïeld: 'välue' })).toBe(1);
      // Without deserialization the client hands over the reply as it came: a flat array.
      expect(await redis.hgetall(`enc:h:${responseEncoding}`)).toEqual(['fïeld', 'välue']);
    }
  });

  it('pipelines: results in order; a failed command throws, or stays in place with keepErrors', async () => {
    const redis = upstash();
    const p = redis.pipeline();
    p.set('p:1', 'a').incr('p:n').incr('p:n').get('p:1').hset('p:h', { f: 'v' }).hgetall('p:h');
    expect(await p.exec()).toEqual(['OK', 1, 2, 'a', 1, { f: 'v' }]);

    const bad = redis.pipeline();
    bad.set('p:2', 'x').incr('p:2').get('p:2');
    const e = await rejection(bad.exec());
    expect(e).toBeInstanceOf(errors.UpstashError);
    expect(e.message).toMatch(/Command 2 \[ incr \] failed: ERR value is not an integer or out of range/);

    const kept = redis.pipeline();
    kept.get('p:2').incr('p:2');
    expect(await kept.exec({ keepErrors: true })).toEqual([
      { result: 'x', error: undefined },
      { result: undefined, error: 'ERR value is not an integer or out of range' },
    ]);
  });

  it('transactions (multi): atomic results; a runtime error stays in place', async () => {
    const redis = upstash();
    const m = redis.multi();
    m.set('m:1', 'v').incr('m:n').get('m:1').lpush('m:l', 'a', 'b').lrange('m:l', 0, -1);
    expect(await m.exec()).toEqual(['OK', 1, 'v', 2, ['b', 'a']]);
    const failing = redis.multi();
    failing.set('m:2', 'text').incr('m:2').get('m:2');
    const e = await rejection(failing.exec());
    expect(e.message).toMatch(/Command 2 \[ incr \] failed: ERR value is not an integer/);
    // The transaction ran as a whole: the SET before the failed INCR is there.
    expect(await redis.get('m:2')).toBe('text');
  });

  it('errors surface as thrown UpstashErrors, with and without auto-pipelining', async () => {
    const redis = upstash();
    await redis.set('e:1', 'text');
    const a = await rejection(redis.incr('e:1'));
    expect(a).toBeInstanceOf(errors.UpstashError);
    expect(a.message).toBe('Command failed: ERR value is not an integer or out of range');
    const direct = upstash(ALICE, { enableAutoPipelining: false });
    const b = await rejection(direct.incr('e:1'));
    expect(b).toBeInstanceOf(errors.UpstashError);
    expect(b.message).toMatch(/^ERR value is not an integer or out of range, command was: \["incr","e:1"\]$/);
    const c = await rejection(direct.lpush('e:1', 'x'));
    expect(c.message).toMatch(/^WRONGTYPE /);
  });

  it('readYourWrites: each answer carries an upstash-sync-token that grows with writes', async () => {
    const redis = upstash();
    expect(redis.readYourWritesSyncToken).toBe('');
    await redis.set('ryw:1', 'a');
    const t1 = redis.readYourWritesSyncToken as string;
    expect(t1).toMatch(/^\d+$/);
    await redis.set('ryw:1', 'b');
    const t2 = Number(redis.readYourWritesSyncToken);
    expect(t2).toBeGreaterThan(Number(t1));
    expect(await redis.get('ryw:1')).toBe('b');
    expect(Number(redis.readYourWritesSyncToken)).toBeGreaterThanOrEqual(t2);
    const off = upstash(ALICE, { readYourWrites: false });
    await off.set('ryw:2', 'x');
    expect(off.readYourWritesSyncToken).toBe('');
    expect(await off.get('ryw:2')).toBe('x');
  });

  it('a static token runs as its user: rights outside it are NOPERM', async () => {
    const bob = upstash(BOB);
    expect(await bob.set('bob:1', 'mine')).toBe('OK');
    expect(await bob.get('bob:1')).toBe('mine');
    const e = await rejection(bob.set('alice:1', 'x'));
    expect(e.message).toMatch(/NOPERM this user has no permissions to access one of the keys/);
    const who = await raw('POST', '/', { body: ['ACL', 'WHOAMI'], token: BOB });
    expect(who.json).toEqual({ result: 'bob' });
  });

  it('a read-only token reads, and is refused writes with NOPERM', async () => {
    const redis = upstash();
    await redis.set('ro:1', 'v');
    const ro = upstash(ALICE_RO);
    expect(await ro.get('ro:1')).toBe('v');
    expect(await ro.exists('ro:1')).toBe(1);
    const set = await rejection(ro.set('ro:1', 'changed'));
    expect(set.message).toMatch(/NOPERM this user has no permissions to run the 'set' command/);
    const del = await rejection(ro.del('ro:1'));
    expect(del.message).toMatch(/NOPERM/);
    const keys = await rejection(ro.keys('*'));
    expect(keys.message).toMatch(/NOPERM this user has no permissions to run the 'keys' command/);
    // A transaction of reads is fine; one with a write is discarded as a whole.
    const m = ro.multi();
    m.get('ro:1').strlen('ro:1');
    expect(await m.exec()).toEqual(['v', 1]);
    const w = ro.multi();
    w.get('ro:1').set('ro:1', 'x');
    expect((await rejection(w.exec())).message).toMatch(/^EXECABORT .*NOPERM/);
    expect(await redis.get('ro:1')).toBe('v');
  });

  it('refuses (401) a token whose user never existed, was deleted or was turned off', async () => {
    const ghost = await rejection(upstash(GHOST, { enableAutoPipelining: false }).get('x'));
    expect(ghost.message).toMatch(/^WRONGPASS the token's user is disabled or does not exist/);
    expect(await upstash(DAVE).set('dave:1', 'x')).toBe('OK');
    expect(await upstash(ERIN).set('erin:1', 'x')).toBe('OK');
    const admin = async (...argv: string[]) => (await raw('POST', '/', { body: argv, token: ALICE })).json;
    expect(await admin('ACL', 'DELUSER', 'dave')).toEqual({ result: 1 });
    expect(await admin('ACL', 'SETUSER', 'erin', 'off')).toEqual({ result: 'OK' });
    for (const token of [DAVE, ERIN]) {
      const e = await rejection(upstash(token).get('x'));
      expect(e.message).toMatch(/WRONGPASS the token's user is disabled or does not exist/);
      const a = await raw('GET', '/get/x', { token });
      expect(a.status).toBe(401);
      expect(a.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
    // Turned on again, the same token works again (users are looked up at each request).
    expect(await admin('ACL', 'SETUSER', 'erin', 'on')).toEqual({ result: 'OK' });
    expect(await upstash(ERIN).get('erin:1')).toBe('x');
  });

  it('subscribe and psubscribe: messages arrive as events', async () => {
    const redis = upstash();
    const sub = redis.subscribe<{ n: number }>(['sub:news']);
    const psub = redis.psubscribe<string>(['sub:*']);
    const heard: unknown[] = [];
    const counts: unknown[] = [];
    sub.on('subscribe', (n) => counts.push(n));
    sub.on('message', (m) => heard.push(['message', m.channel, m.message]));
    psub.on('pmessage', (m) => heard.push(['pmessage', m.pattern, m.channel, m.message]));
    try {
      // The streams are open once the server counts their subscriptions.
      const open = await waitFor(async () => {
        const n = await raw('POST', '/', { body: ['PUBSUB', 'NUMSUB', 'sub:news'], token: ALICE });
        const p = await raw('POST', '/', { body: ['PUBSUB', 'NUMPAT'], token: ALICE });
        return (n.json as { result: unknown[] }).result[1] === 1 && (p.json as { result: number }).result === 1;
      }, 5000);
      expect(open).toBe(true);
      expect(await redis.publish('sub:news', { n: 1 })).toBe(publishReceivers(server, 2));
      expect(await redis.publish('sub:news', { n: 2 })).toBe(publishReceivers(server, 2));
      expect(await waitFor(() => heard.length === 4, 5000)).toBe(true);
      expect(counts).toEqual([1]);
      expect(heard.filter((h) => (h as string[])[0] === 'message')).toEqual([
        ['message', 'sub:news', { n: 1 }],
        ['message', 'sub:news', { n: 2 }],
      ]);
      expect(heard.filter((h) => (h as string[])[0] === 'pmessage')).toEqual([
        ['pmessage', 'sub:*', 'sub:news', { n: 1 }],
        ['pmessage', 'sub:*', 'sub:news', { n: 2 }],
      ]);
    } finally {
      await sub.unsubscribe();
      await psub.unsubscribe();
    }
    // Closing the streams ends their sessions.
    const gone = await waitFor(async () => {
      const n = await raw('POST', '/', { body: ['PUBSUB', 'NUMSUB', 'sub:news'], token: ALICE });
      return (n.json as { result: unknown[] }).result[1] === 0;
    }, 5000);
    expect(gone).toBe(true);
  });
});

describe('the path form: /<command>/<arg>/…', () => {
  it('runs a command from the path, arguments percent-decoded to bytes', async () => {
    const set = await raw('GET', '/set/pf:1/bar/EX/100', { token: ALICE });
    expect({ status: set.status, json: set.json }).toEqual({ status: 200, json: { result: 'OK' } });
    expect(set.headers.get('content-type')).toBe('application/json');
    expect((await raw('GET', '/get/pf:1', { token: ALICE })).json).toEqual({ result: 'bar' });
    expect((await raw('GET', '/TTL/pf:1', { token: ALICE })).json).toEqual({ result: 100 });
    const k = encodeURIComponent('pf:ü k');
    const v = encodeURIComponent('välue/with/slashes?&#');
    expect((await raw('POST', `/set/${k}/${v}`, { token: ALICE })).json).toEqual({ result: 'OK' });
    expect((await raw('POST', '/', { body: ['GET', 'pf:ü k'], token: ALICE })).json).toEqual({
      result: 'välue/with/slashes?&#',
    });
    // Any byte: %FF is not UTF-8, and comes back as it was in base64.
    expect((await raw('GET', '/set/pf:bin/%00%FF%c3', { token: ALICE })).json).toEqual({ result: 'OK' });
    expect((await raw('GET', '/strlen/pf:bin', { token: ALICE })).json).toEqual({ result: 3 });
    const bin = await raw('GET', '/get/pf:bin', { token: ALICE, headers: { 'upstash-encoding': 'base64' } });
    expect(bin.json).toEqual({ result: 'AP/D' });
    // An empty segment is an empty argument; + in a path is a plus.
    expect((await raw('GET', '/set/pf:empty/', { token: ALICE })).json).toEqual({ result: 'OK' });
    expect((await raw('GET', '/strlen/pf:empty', { token: ALICE })).json).toEqual({ result: 0 });
    expect((await raw('GET', '/echo/a+b%20c', { token: ALICE })).json).toEqual({ result: 'a+b c' });
  });

  it('HEAD and PUT work; other methods are 405 with Allow', async () => {
    const head = await raw('HEAD', '/get/pf:1', { token: ALICE });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(Number(head.headers.get('content-length'))).toBe('{"result":"bar"}'.length);
    expect((await raw('PUT', '/set/pf:put/v', { token: ALICE })).json).toEqual({ result: 'OK' });
    for (const method of ['DELETE', 'PATCH']) {
      const a = await raw(method, '/get/pf:1', { token: ALICE });
      expect(a.status, method).toBe(405);
      expect(a.headers.get('allow')).toBe('GET, HEAD, POST, PUT');
      expect(errorOf(a)).toMatch(/^ERR method \w+ not allowed/);
    }
  });

  it('a POST body is the last path argument; query parameters follow it, a bare one as a flag', async () => {
    const value = 'bar baz\n{"x": [1, 2]} é';
    const a = await raw('POST', '/set/pf:body?EX=100', { body: new RawBody(value), token: ALICE });
    expect(a.json).toEqual({ result: 'OK' });
    expect((await raw('GET', '/get/pf:body', { token: ALICE })).json).toEqual({ result: value });
    expect((await raw('GET', '/ttl/pf:body', { token: ALICE })).json).toEqual({ result: 100 });
    // SET pf:body other NX → null; SET pf:body new GET → the old value.
    const nx = await raw('POST', '/set/pf:body?NX', { body: new RawBody('other'), token: ALICE });
    expect(nx.json).toEqual({ result: null });
    const get = await raw('POST', '/set/pf:body?GET', { body: new RawBody('new'), token: ALICE });
    expect(get.json).toEqual({ result: value });
    // Without a body, the query follows the path; + and %2B in a query.
    expect((await raw('GET', '/set/pf:q/v?PX=5000&NX', { token: ALICE })).json).toEqual({ result: 'OK' });
    expect((await raw('GET', '/pttl/pf:q', { token: ALICE })).json).toEqual({ result: expect.any(Number) });
    expect((await raw('GET', '/echo?a+b%2Bc', { token: ALICE })).json).toEqual({ result: 'a b+c' });
    // An empty POST body adds nothing.
    expect((await raw('POST', '/get/pf:body', { token: ALICE })).json).toEqual({ result: 'new' });
  });

  it('404 for a path that names no command, 400 for bad encoding or a command error', async () => {
    for (const p of ['/nosuchcommand/x', '/%ZZ', '/.hidden', '//get/x']) {
      const a = await raw('GET', p, { token: ALICE });
      expect(a.status, p).toBe(404);
      expect(a.json).toEqual({ error: `ERR no such endpoint: GET ${p}` });
    }
    const bad = await raw('GET', '/get/%E', { token: ALICE });
    expect(bad.status).toBe(400);
    expect(errorOf(bad)).toBe('ERR path segment 2 is not valid percent-encoding');
    const arity = await raw('GET', '/get', { token: ALICE });
    expect(arity.status).toBe(400);
    expect(arity.json).toEqual({ error: "ERR wrong number of arguments for 'get' command" });
    const sub = await raw('GET', '/subscribe/', { token: ALICE });
    expect(sub.status).toBe(400);
    const multi = await raw('GET', '/multi', { token: ALICE });
    expect(errorOf(multi)).toMatch(/^ERR MULTI is not supported by the HTTP API: .*\/multi-exec/);
  });

  it('the exact routes keep their meaning', async () => {
    const p = await raw('POST', '/pipeline', { body: [['ECHO', 'x']], token: ALICE });
    expect(p.json).toEqual([{ result: 'x' }]);
    expect((await raw('GET', '/.well-known/jwks.json')).status).toBe(200);
    expect((await raw('GET', '/ws')).status).toBe(426);
    expect((await raw('GET', '/pipeline', { token: ALICE })).status).toBe(405);
    expect((await raw('GET', '/', { token: ALICE })).status).toBe(405);
  });

  it('needs a token like the other endpoints, and refuses a body over --http-max-body', async () => {
    const none = await raw('GET', '/get/pf:1');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(errorOf(none)).toMatch(/^NOAUTH /);
    const big = await raw('POST', '/set/pf:big', { body: new RawBody('x'.repeat(MAX_BODY + 1)), token: ALICE });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({ error: `ERR request body larger than ${MAX_BODY} bytes` });
    expect((await raw('GET', '/exists/pf:big', { token: ALICE })).json).toEqual({ result: 0 });
  });
});

describe('?_token=', () => {
  it('is accepted instead of Authorization: Bearer, and is not an argument', async () => {
    const t = encodeURIComponent(ALICE);
    expect((await raw('GET', `/echo/x?_token=${t}`)).json).toEqual({ result: 'x' });
    expect((await raw('GET', `/set/qt:1/v?_token=${t}&EX=60`)).json).toEqual({ result: 'OK' });
    expect((await raw('GET', `/ttl/qt:1?_token=${t}`)).json).toEqual({ result: 60 });
    expect((await raw('POST', `/?_token=${t}`, { body: ['GET', 'qt:1'] })).json).toEqual({ result: 'v' });
    expect((await raw('POST', `/pipeline?_token=${t}`, { body: [['GET', 'qt:1']] })).json).toEqual([{ result: 'v' }]);
    // EventSource cannot send headers: a stream with ?_token=.
    const ac = new AbortController();
    try {
      const res = await fetch(`${url}/subscribe/qt:chan?_token=${t}`, { signal: ac.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      const reader = res.body?.getReader();
      const first = await reader?.read();
      expect(new TextDecoder().decode(first?.value)).toMatch(/^id: [0-9a-f]{16}:\d+\ndata: subscribe,qt:chan,1\n\n$/);
    } finally {
      ac.abort();
    }
  });

  it('refuses it with a header too (400), twice (400), or wrong (401) — never repeating it', async () => {
    const both = await raw('GET', `/echo/x?_token=${encodeURIComponent(ALICE)}`, { token: ALICE });
    expect(both.status).toBe(400);
    expect(errorOf(both)).toBe('ERR give the token either in Authorization: Bearer or as ?_token=, not both');
    const twice = await raw('GET', `/echo/x?_token=${ALICE}&_token=${ALICE}`);
    expect(twice.status).toBe(400);
    const wrong = secret('wrong');
    const w = await raw('GET', `/echo/x?_token=${wrong}`);
    expect(w.status).toBe(401);
    for (const a of [both, twice, w]) {
      expect(a.text).not.toContain(ALICE);
      expect(a.text).not.toContain(wrong);
    }
  });

  it('with httpQueryToken off (KVWS_HTTP_QUERY_TOKEN=false) it is refused; API tokens from KVWS_API_TOKENS', async () => {
    const off = await raw('GET', `/echo/x?_token=${ALICE}`, { target: envServer });
    expect(off.status).toBe(401);
    expect(errorOf(off)).toMatch(/^ERR \?_token= is turned off on this server \(httpQueryToken\)/);
    expect(off.text).not.toContain(ALICE);
    const ok = await raw('POST', '/', { body: ['ACL', 'WHOAMI'], token: ALICE, target: envServer });
    expect(ok.json).toEqual({ result: 'default' });
    // The default user is open there, but a token that is neither an API token nor a JWT is still refused.
    expect((await raw('GET', '/ping', { token: secret('x'), target: envServer })).status).toBe(401);
    expect((await raw('GET', '/ping', { target: envServer })).json).toEqual({ result: 'PONG' });
  });
});

describe('CORS', () => {
  const SENT_BY_UPSTASH = [
    'authorization',
    'content-type',
    'upstash-encoding',
    'upstash-sync-token',
    'upstash-response-format',
    'upstash-telemetry-runtime',
    'upstash-telemetry-platform',
    'upstash-telemetry-sdk',
    'upstash-telemetry-retry',
    'accept',
    'cache-control',
  ];

  it('answers a preflight from an allowed origin with 204 and what @upstash/redis needs', async () => {
    for (const p of ['/pipeline', '/multi-exec', '/', '/set/cors:pre/x', '/subscribe/c']) {
      const a = await raw('OPTIONS', p, {
        headers: {
          origin: ORIGIN,
          'access-control-request-method': 'POST',
          'access-control-request-headers': SENT_BY_UPSTASH.join(','),
        },
      });
      expect(a.status, p).toBe(204);
      expect(a.text).toBe('');
      expect(a.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(a.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, PUT, OPTIONS');
      const allowed = (a.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
      for (const h of SENT_BY_UPSTASH) expect(allowed, h).toContain(h);
      expect(a.headers.get('access-control-max-age')).toBe('600');
      expect(a.headers.get('access-control-expose-headers')).toBe('upstash-sync-token');
      expect(a.headers.get('vary')).toBe('Origin');
    }
    // A preflight runs nothing.
    expect((await raw('GET', '/exists/cors:pre', { token: ALICE })).json).toEqual({ result: 0 });
  });

  it('answers allowed origins (the listed ones and its own) with the CORS headers', async () => {
    for (const origin of [ORIGIN, url]) {
      const a = await raw('POST', '/pipeline', { body: [['SET', 'cors:1', 'x']], token: ALICE, headers: { origin } });
      expect(a.status, origin).toBe(200);
      expect(a.headers.get('access-control-allow-origin')).toBe(origin);
      expect(a.headers.get('access-control-expose-headers')).toBe('upstash-sync-token');
      expect(a.headers.get('vary')).toBe('Origin');
      expect(a.headers.get('upstash-sync-token')).toMatch(/^\d+$/);
    }
    const none = await raw('GET', '/get/cors:1', { token: ALICE });
    expect(none.headers.get('access-control-allow-origin')).toBe(null);
    expect(none.headers.get('vary')).toBe('Origin');
  });

  it('refuses (403) other origins and cross-site requests without an Origin, running nothing', async () => {
    const evil = 'https://evil.example';
    const pre = await raw('OPTIONS', '/set/cors:evil/x', { headers: { origin: evil } });
    expect(pre.status).toBe(403);
    expect(pre.headers.get('access-control-allow-origin')).toBe(null);
    const a = await raw('GET', '/set/cors:evil/x', { token: ALICE, headers: { origin: evil } });
    expect(a.status).toBe(403);
    expect(a.json).toEqual({ error: 'ERR origin "https://evil.example" is not allowed (see --allowed-origins)' });
    // An <img src> or a link from another site: no Origin, but Sec-Fetch-Site says where it comes from.
    for (const site of ['cross-site', 'same-site']) {
      const b = await raw('GET', `/set/cors:evil/${site}?_token=${ALICE}`, { headers: { 'sec-fetch-site': site } });
      expect(b.status, site).toBe(403);
      expect(errorOf(b)).toBe('ERR a cross-site request without an Origin header is refused');
    }
    expect((await raw('GET', '/exists/cors:evil', { token: ALICE })).json).toEqual({ result: 0 });
    // Typed in the address bar (none) or from kvws's own pages (same-origin): allowed.
    for (const site of ['none', 'same-origin']) {
      const c = await raw('GET', `/echo/${site}?_token=${ALICE}`, { headers: { 'sec-fetch-site': site } });
      expect(c.json, site).toEqual({ result: site });
    }
  });
});

describe('Upstash-Encoding: base64 and Upstash-Response-Format: resp2', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const BASE64 = { 'upstash-encoding': 'base64' };

  it('base64: every string of a result, except the status reply OK; integers and errors as they are', async () => {
    const one = (body: unknown) => raw('POST', '/', { body, token: ALICE, headers: BASE64 });
    expect((await one(['SET', 'b64:k', 'välue'])).json).toEqual({ result: 'OK' });
    expect((await one(['GET', 'b64:k'])).json).toEqual({ result: b64('välue') });
    expect((await one(['TYPE', 'b64:k'])).json).toEqual({ result: b64('string') });
    expect((await one(['STRLEN', 'b64:k'])).json).toEqual({ result: 6 });
    expect((await one(['GET', 'b64:none'])).json).toEqual({ result: null });
    expect((await one(['INCR', 'b64:k'])).json).toEqual({ error: 'ERR value is not an integer or out of range' });
    const p = await raw('POST', '/pipeline', {
      token: ALICE,
      headers: BASE64,
      body: [
        ['HSET', 'b64:h', 'f', 'v'],
        ['HGETALL', 'b64:h'],
        ['ZADD', 'b64:z', 1.5, 'm'],
        ['ZSCORE', 'b64:z', 'm'],
        ['SET', 'b64:s', 'OK'],
        ['GET', 'b64:s'],
        ['LPUSH', 'b64:h', 'x'],
      ],
    });
    expect(p.json).toEqual([
      { result: 1 },
      { result: [b64('f'), b64('v')] },
      { result: 1 },
      { result: b64('1.5') },
      { result: 'OK' },
      { result: b64('OK') },
      { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' },
    ]);
    const m = await raw('POST', '/multi-exec', {
      token: ALICE,
      headers: BASE64,
      body: [['SET', 'b64:m', 'x'], ['GET', 'b64:m'], ['PING']],
    });
    expect(m.json).toEqual([{ result: 'OK' }, { result: b64('x') }, { result: b64('PONG') }]);
    const bad = await raw('GET', '/ping', { token: ALICE, headers: { 'upstash-encoding': 'hex' } });
    expect(bad.status).toBe(400);
    expect(errorOf(bad)).toBe('ERR the Upstash-Encoding header takes one value: base64');
  });

  it('without it, results are RESP2-shaped JSON in UTF-8: flat maps, doubles as text', async () => {
    const one = async (body: unknown) => (await raw('POST', '/', { body, token: ALICE })).json;
    expect(await one(['HGETALL', 'b64:h'])).toEqual({ result: ['f', 'v'] });
    expect(await one(['ZRANGE', 'b64:z', 0, -1, 'WITHSCORES'])).toEqual({ result: ['m', '1.5'] });
    expect(await one(['CONFIG', 'GET', 'maxclients'])).toEqual({ result: ['maxclients', '10000'] });
    expect(await one(['TYPE', 'b64:h'])).toEqual({ result: 'hash' });
  });

  it('resp2: the raw RESP2 bytes, as application/octet-stream', async () => {
    const resp2 = { 'upstash-response-format': 'resp2' };
    const get = await fetch(`${url}/get/b64:m`, { headers: { ...resp2, authorization: `Bearer ${ALICE}` } });
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe('application/octet-stream');
    expect(get.headers.get('upstash-sync-token')).toMatch(/^\d+$/);
    expect(await get.text()).toBe('$1\r\nx\r\n');
    const one = (body: unknown) => raw('POST', '/', { body, token: ALICE, headers: resp2 });
    expect((await one(['SET', 'b64:r', 'bar'])).text).toBe('+OK\r\n');
    expect((await one(['GET', 'b64:none'])).text).toBe('$-1\r\n');
    expect((await one(['HGETALL', 'b64:h'])).text).toBe('*2\r\n$1\r\nf\r\n$1\r\nv\r\n');
    expect((await one(['ZSCORE', 'b64:z', 'm'])).text).toBe('$3\r\n1.5\r\n');
    const err = await one(['INCR', 'b64:r']);
    expect(err.status).toBe(400);
    expect(err.text).toBe('-ERR value is not an integer or out of range\r\n');
    const p = await raw('POST', '/pipeline', {
      token: ALICE,
      headers: resp2,
      body: [
        ['GET', 'b64:r'],
        ['INCR', 'b64:r'],
        ['STRLEN', 'b64:r'],
        ['SUBSCRIBE', 'c'],
      ],
    });
    expect(p.status).toBe(200);
    expect(p.text).toMatch(
      /^\$3\r\nbar\r\n-ERR value is not an integer or out of range\r\n:3\r\n-ERR SUBSCRIBE is not supported by the HTTP API: [^\r\n]+\r\n$/,
    );
    // Not for /multi-exec, which answers JSON (as Upstash).
    const m = await raw('POST', '/multi-exec', { token: ALICE, headers: resp2, body: [['GET', 'b64:r']] });
    expect(m.json).toEqual([{ result: 'bar' }]);
    // Refused combinations and values.
    const both = await raw('GET', '/ping', { token: ALICE, headers: { ...resp2, ...BASE64 } });
    expect(both.status).toBe(400);
    expect(errorOf(both)).toMatch(/cannot be combined/);
    const other = await raw('GET', '/ping', { token: ALICE, headers: { 'upstash-response-format': 'resp3' } });
    expect(other.status).toBe(400);
    expect(errorOf(other)).toBe('ERR the Upstash-Response-Format header takes json or resp2');
    expect((await raw('GET', '/ping', { token: ALICE, headers: { 'upstash-response-format': 'json' } })).json).toEqual({
      result: 'PONG',
    });
  });

  it('upstash-sync-token: any printable value up to 256 characters is accepted, others are 400', async () => {
    for (const v of ['', '12', 'x'.repeat(256), 'opaque token from elsewhere']) {
      const a = await raw('GET', '/ping', { token: ALICE, headers: { 'upstash-sync-token': v } });
      expect(a.status, v).toBe(200);
    }
    for (const v of ['x'.repeat(257), 'caf\u00e9']) {
      const a = await raw('GET', '/ping', { token: ALICE, headers: { 'upstash-sync-token': v } });
      expect(a.status).toBe(400);
      expect(errorOf(a)).toBe('ERR the Upstash-Sync-Token header must be printable ASCII of at most 256 characters');
    }
  });
});

describe('bad input', () => {
  it('400 for bodies that are not JSON or have the wrong shape', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/', new RawBody('["SET", "k"'), /^ERR the request body is not valid JSON/],
      ['/', new RawBody(''), /^ERR the request body is empty/],
      ['/', { cmd: 'GET' }, /^ERR the command must be a JSON array/],
      ['/', [['GET', 'k']], /^ERR \[0\]: expected a string or a finite number/],
      ['/pipeline', new RawBody('not json'), /^ERR the request body is not valid JSON/],
      ['/pipeline', ['GET', 'k'], /^ERR command \[0\] must be a JSON array/],
      ['/multi-exec', [], /^ERR \/multi-exec takes at least one command/],
      ['/multi-exec', [['GET', 'k'], [null]], /^ERR \[1\]\[0\]: expected a string or a finite number/],
    ];
    for (const [p, body, re] of cases) {
      const a = await raw('POST', p, { body, token: ALICE });
      expect(a.status, `${p} ${JSON.stringify(body)}`).toBe(400);
      expect(errorOf(a)).toMatch(re);
      expect(a.headers.get('content-type')).toBe('application/json');
    }
  });

  it('401 without a token, with a bad one, or another scheme; 413 over the body limit', async () => {
    for (const p of ['/', '/pipeline', '/multi-exec']) {
      const a = await raw('POST', p, { body: p === '/' ? ['PING'] : [['PING']] });
      expect(a.status, p).toBe(401);
      expect(errorOf(a)).toMatch(/^NOAUTH Authentication required\./);
    }
    const bad = await raw('POST', '/', { body: ['PING'], token: 'not-a-token' });
    expect(bad.status).toBe(401);
    expect(errorOf(bad)).toMatch(/^WRONGPASS invalid token/);
    const basic = await raw('POST', '/', { body: ['PING'], headers: { authorization: `Basic ${ALICE}` } });
    expect(basic.status).toBe(401);
    expect(basic.text).not.toContain(ALICE);
    const big = await raw('POST', '/pipeline', { body: [['SET', 'k', 'x'.repeat(MAX_BODY)]], token: ALICE });
    expect(big.status).toBe(413);
  });
});

describe('configuration of API tokens', () => {
  it('refuses bad entries at start-up, naming the field and never the token', async () => {
    const short = 'short-secret';
    const cases: [unknown, RegExp][] = [
      [[{ user: 'a', token: short }], /invalid option apiTokens\.0\.token = \(not shown\): must be at least 16/],
      [[{ user: 'a', sha256: 'abc' }], /invalid option apiTokens\.0\.sha256 = \(not shown\): must be the SHA-256/],
      [
        [{ user: 'a', token: `${short}-0123456789`, sha256: sha256('x') }],
        /invalid option apiTokens\.0 = \(not shown\): give exactly one of "sha256" and "token"/,
      ],
      [[{ user: 'a', token: `${short}-0123456789`, role: 'x' }], /invalid option apiTokens\.0 = \(not shown\)/],
    ];
    for (const [apiTokens, re] of cases) {
      const f = path.join(dir, 'bad.json');
      writeFileSync(f, JSON.stringify({ apiTokens }));
      const e = await rejection(startKvws(['--port', '0', '--config', f]));
      expect(e.message).toMatch(/exited with 2/);
      expect(e.message).toMatch(re);
      expect(e.message).not.toContain(short);
    }
    const e = await rejection(startKvws(['--port', '0'], { KVWS_API_TOKENS: `[{"user": "a", "token": "${short}` }));
    expect(e.message).toMatch(/invalid value for KVWS_API_TOKENS: not valid JSON/);
    expect(e.message).not.toContain(short);
  });
});
