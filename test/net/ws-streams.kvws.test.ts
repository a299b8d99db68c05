import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { type Frame, WsClient } from '../helpers/ws.js';

// Streams over the WebSocket gateway: blocking XREAD/XREADGROUP beside other requests, and stream tails
// (`tail` / `untail` requests, `entries` pushes: docs/protocol.md#tailing-a-stream). Real kvws processes
// (in the `gateway` project, on the Redis engine in front of a private redis-server), the `ws` client, and
// ioredis on the RESP port as the writer. kvws-only.

const servers: RunningServer[] = [];
const redisClients: Redis[] = [];
const wsClients: WsClient[] = [];
let server: RunningServer;
let r: Redis;

async function start(args: string[] = []): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), '--no-tls', ...args]);
  servers.push(s);
  return s;
}

function redis(s: RunningServer): Redis {
  const c = redisClient(s);
  c.on('error', () => {});
  redisClients.push(c);
  return c;
}

async function open(s: RunningServer = server, query = ''): Promise<WsClient> {
  const c = await WsClient.open(wsUrl(s, query));
  wsClients.push(c);
  return c;
}

type Entry = [string, string[]];
interface TailFrame extends Frame {
  key?: string;
  entries?: Entry[];
  event?: string;
}

/** Sends a tail request; resolves with its reply frame. */
async function tail(c: WsClient, key: string, from?: string, count?: number): Promise<Frame> {
  const t: Record<string, unknown> = { key };
  if (from !== undefined) t.from = from;
  if (count !== undefined) t.count = count;
  return c.reply(c.request({ tail: t }));
}

/** Takes `entries` pushes of `key` until `n` entries have come (bounded); returns them in arrival order. */
async function collect(c: WsClient, key: string, n: number, timeoutMs = 10_000): Promise<Entry[]> {
  const out: Entry[] = [];
  while (out.length < n) {
    const f = (await c.push((p) => p.push === 'entries' && (p as TailFrame).key === key, timeoutMs)) as TailFrame;
    out.push(...(f.entries as Entry[]));
  }
  return out;
}

/** The `entries` pushes not yet taken. */
function pendingEntries(c: WsClient): TailFrame[] {
  return c.frames.filter((f) => f.push === 'entries') as TailFrame[];
}

/** Compares stream IDs `a-b` numerically. */
function idLess(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am < bm || (am === bm && as < bs);
}

beforeAll(async () => {
  server = await start();
  r = redis(server);
});

afterAll(async () => {
  for (const c of wsClients) c.close();
  for (const c of redisClients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
});

describe('blocking stream reads do not hold up the connection', () => {
  it('a pending XREAD BLOCK: GET and SET answer at once, XADD from another client answers it', async () => {
    const c = await open();
    await r.set('plain', 'v');
    const read = c.request({ cmd: ['XREAD', 'BLOCK', 0, 'STREAMS', 'b:s1', '$'] });
    expect(await c.result('GET', 'plain')).toBe('v');
    expect(await c.result('SET', 'while-blocked', 1)).toBe('OK');
    expect(await r.get('while-blocked')).toBe('1');
    expect(c.take((f) => f.id === read)).toBeUndefined();
    const id = await r.xadd('b:s1', '*', 'f', 'v');
    expect(await c.reply(read)).toEqual({ id: read, result: { 'b:s1': [[id, ['f', 'v']]] } });
  });

  it('a second blocking request (XREADGROUP BLOCK) waits for the first; a plain XREAD does not', async () => {
    const c = await open();
    await r.xadd('b:q', '1-1', 'n', '1');
    await r.xgroup('CREATE', 'b:g', 'grp', '$', 'MKSTREAM');
    const first = c.request({ cmd: ['XREAD', 'BLOCK', 0, 'STREAMS', 'b:s2', '$'] });
    const second = c.request({ cmd: ['XREADGROUP', 'GROUP', 'grp', 'alice', 'BLOCK', 0, 'STREAMS', 'b:g', '>'] });
    // XREAD without BLOCK never blocks: it runs at once, not behind the pending one.
    expect(await c.result('XREAD', 'STREAMS', 'b:q', '0')).toEqual({ 'b:q': [['1-1', ['n', '1']]] });
    // The group has an entry, but the second request has not run yet: nothing is delivered to alice.
    await r.xadd('b:g', '5-1', 'job', 'a');
    await sleep(150);
    expect(c.take((f) => f.id === second)).toBeUndefined();
    const pending = (await r.xpending('b:g', 'grp')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    expect(c.take((f) => f.id === first)).toBeUndefined();
    const id = await r.xadd('b:s2', '*', 'k', 'v');
    expect(await c.reply(first)).toEqual({ id: first, result: { 'b:s2': [[id, ['k', 'v']]] } });
    // Then the second runs, and the entry already there answers it at once.
    expect(await c.reply(second)).toEqual({ id: second, result: { 'b:g': [['5-1', ['job', 'a']]] } });
  });

  it('XREAD BLOCK with a timeout answers null; a pipeline with one is answered when it is done', async () => {
    const c = await open();
    const t0 = Date.now();
    expect(await c.result('XREAD', 'BLOCK', 100, 'STREAMS', 'b:never', '$')).toBeNull();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    const p = c.request({
      pipeline: [
        ['XREAD', 'BLOCK', 0, 'STREAMS', 'b:p', '$'],
        ['XLEN', 'b:p'],
      ],
    });
    expect(await c.result('PING')).toBe('PONG');
    await r.xadd('b:p', '7-0', 'a', 'b');
    expect(await c.reply(p)).toEqual({
      id: p,
      result: [{ result: { 'b:p': [['7-0', ['a', 'b']]] } }, { result: 1 }],
    });
  });
});

describe('tail', () => {
  it('from $: the reply places the cursor, then each XADD is pushed once, in order', async () => {
    const c = await open();
    await r.xadd('t:a', '1-1', 'old', 'x');
    expect(await tail(c, 't:a')).toEqual({ id: expect.any(Number), result: { after: '1-1' } });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await r.xadd('t:a', '*', 'i', String(i), 'f', 'v')) as string);
    // A pipeline of XADDs from another client: one tick, one read.
    const p = r.pipeline();
    for (let i = 30; i < 60; i++) p.xadd('t:a', '*', 'i', String(i));
    for (const [err, id] of (await p.exec()) ?? []) {
      expect(err).toBeNull();
      ids.push(id as string);
    }
    const got = await collect(c, 't:a', 60);
    expect(got.map((e) => e[0])).toEqual(ids);
    expect(got[0]).toEqual([ids[0], ['i', '0', 'f', 'v']]);
    expect(got[59]).toEqual([ids[59], ['i', '59']]);
    expect(await c.result('PING')).toBe('PONG');
    expect(pendingEntries(c)).toEqual([]);
  });

  it('from $ on a missing key: after 0-0, and the stream created later is delivered from its first entry', async () => {
    const c = await open();
    expect((await tail(c, 't:new')).result).toEqual({ after: '0-0' });
    await r.xadd('t:new', '3-0', 'a', '1');
    expect(await collect(c, 't:new', 1)).toEqual([['3-0', ['a', '1']]]);
  });

  it('from 0 or an ID: the backlog after it, in batches of count, then live entries', async () => {
    const p = r.pipeline();
    for (let i = 1; i <= 50; i++) p.xadd('t:b', `${i}-0`, 'n', String(i));
    await p.exec();
    const c = await open();
    expect((await tail(c, 't:b', '0', 7)).result).toEqual({ after: '0' });
    const all = await collect(c, 't:b', 50);
    expect(all.map((e) => e[0])).toEqual(Array.from({ length: 50 }, (_, i) => `${i + 1}-0`));
    // Resume: entries after the ID given, only.
    const d = await open();
    expect((await tail(d, 't:b', '45-0')).result).toEqual({ after: '45-0' });
    expect((await collect(d, 't:b', 5)).map((e) => e[0])).toEqual(['46-0', '47-0', '48-0', '49-0', '50-0']);
    await r.xadd('t:b', '51-0', 'n', '51');
    expect(await collect(d, 't:b', 1)).toEqual([['51-0', ['n', '51']]]);
    expect(await collect(c, 't:b', 1)).toEqual([['51-0', ['n', '51']]]);
  });

  it('count bounds the entries per push', async () => {
    const p = r.pipeline();
    for (let i = 1; i <= 25; i++) p.xadd('t:count', `${i}-0`, 'n', String(i));
    await p.exec();
    const c = await open();
    await tail(c, 't:count', '0', 10);
    const sizes: number[] = [];
    let n = 0;
    while (n < 25) {
      const f = (await c.push((x) => x.push === 'entries')) as TailFrame;
      sizes.push((f.entries as Entry[]).length);
      n += (f.entries as Entry[]).length;
    }
    expect(sizes).toEqual([10, 10, 5]);
  });

  it('untail ends it (1), or answers 0; a second tail of the same key replaces the first', async () => {
    const c = await open();
    await tail(c, 't:u');
    await tail(c, 't:u', '0');
    await r.xadd('t:u', '1-0', 'a', '1');
    expect(await collect(c, 't:u', 1)).toEqual([['1-0', ['a', '1']]]);
    expect((await c.reply(c.request({ untail: 't:u' }))).result).toBe(1);
    expect((await c.reply(c.request({ untail: 't:u' }))).result).toBe(0);
    await r.xadd('t:u', '2-0', 'a', '2');
    await sleep(100);
    expect(await c.result('PING')).toBe('PONG');
    expect(pendingEntries(c)).toEqual([]);
  });

  it('refusals answer the tail request: bad ID, wrong type, bad frames', async () => {
    const c = await open();
    expect((await tail(c, 't:bad', 'nope')).error).toBe('ERR Invalid stream ID specified as stream command argument');
    await r.set('t:string', 'x');
    expect((await tail(c, 't:string')).error).toMatch(/^WRONGTYPE /);
    expect((await tail(c, 't:string', '0')).error).toMatch(/^WRONGTYPE /);
    expect((await c.reply(c.request({ tail: { key: 'k', count: 0 } }))).error).toMatch(/^BADFRAME tail\.count: /);
    expect((await c.reply(c.request({ tail: { key: 'k', extra: 1 } }))).error).toMatch(/^BADFRAME /);
    expect((await c.reply(c.request({ tail: { key: 'k' }, cmd: ['PING'] }))).error).toBe(
      'BADFRAME a request has exactly one of "cmd", "pipeline", "multi", "auth", "tail" or "untail" (got "cmd", "tail")',
    );
    expect((await c.reply(c.request({ untail: 5 }))).error).toMatch(/^BADFRAME untail: /);
  });

  it('deleted entries are not delivered; a deleted key is said, and the tail goes on when it comes back', async () => {
    const c = await open();
    await r.xadd('t:d', '1-0', 'a', '1');
    await tail(c, 't:d');
    // Added and deleted in one transaction: never delivered.
    await r.multi().xadd('t:d', '2-0', 'a', '2').xdel('t:d', '2-0').xadd('t:d', '3-0', 'a', '3').exec();
    expect(await collect(c, 't:d', 1)).toEqual([['3-0', ['a', '3']]]);
    await r.del('t:d');
    expect(await c.push((f) => f.push === 'tail')).toEqual({ push: 'tail', key: 't:d', event: 'deleted' });
    // Recreated: entries above the cursor are delivered.
    await r.xadd('t:d', '9-0', 'b', '1');
    expect(await collect(c, 't:d', 1)).toEqual([['9-0', ['b', '1']]]);
    // Expiry deletes too.
    await r.pexpire('t:d', 50);
    expect(await c.push((f) => f.push === 'tail', 5000)).toEqual({ push: 'tail', key: 't:d', event: 'deleted' });
  });

  it('FLUSHDB says deleted (embedded engine); a stream created again is delivered on both engines', async () => {
    const s = await start();
    const w = redis(s);
    const c = await open(s);
    await w.xadd('t:f', '1-0', 'a', '1');
    await tail(c, 't:f');
    await w.flushdb();
    // Redis sends no keyspace event for FLUSHDB: the Redis engine's tails do not hear of it.
    if (s.engine !== 'redis') {
      expect(await c.push((f) => f.push === 'tail')).toEqual({ push: 'tail', key: 't:f', event: 'deleted' });
    }
    await w.xadd('t:f', '2-0', 'a', '2');
    expect(await collect(c, 't:f', 1)).toEqual([['2-0', ['a', '2']]]);
    expect(c.frames).toEqual([]);
  });

  it('a key that comes to hold another type ends the tail', async () => {
    const c = await open();
    await r.xadd('t:type', '1-0', 'a', '1');
    await tail(c, 't:type');
    await r.set('t:type', 'now a string');
    // The Redis engine learns of changes from keyspace events of the classes tails need (docs/streams.md),
    // which leave out SET's: the tail finds the new type at the key's next generic change.
    if (server.engine === 'redis') await r.expire('t:type', 100);
    const f = (await c.push((x) => x.push === 'tail')) as TailFrame;
    expect(f).toEqual({ push: 'tail', key: 't:type', event: 'ended', error: expect.stringMatching(/^WRONGTYPE /) });
    await r.del('t:type');
    await r.xadd('t:type', '2-0', 'a', '2');
    await sleep(100);
    expect(await c.result('PING')).toBe('PONG');
    expect(pendingEntries(c)).toEqual([]);
  });

  it('reads the database it was opened in, whatever the session SELECTs later', async () => {
    const c = await open();
    await tail(c, 't:db');
    await c.result('SELECT', 1);
    const r1 = redis(server);
    await r1.select(1);
    await r1.xadd('t:db', '5-0', 'db', '1');
    await r.xadd('t:db', '6-0', 'db', '0');
    expect(await collect(c, 't:db', 1)).toEqual([['6-0', ['db', '0']]]);
    await sleep(50);
    expect(pendingEntries(c)).toEqual([]);
    // untail names a key in the current database.
    expect((await c.reply(c.request({ untail: 't:db' }))).result).toBe(0);
    await c.result('SELECT', 0);
    expect((await c.reply(c.request({ untail: 't:db' }))).result).toBe(1);
  });

  it('waits while the session has a MULTI open, then reads', async () => {
    const c = await open();
    await tail(c, 't:m');
    expect(await c.result('MULTI')).toBe('OK');
    expect((await tail(c, 't:other')).error).toBe('ERR a tail cannot start inside MULTI');
    await r.xadd('t:m', '1-0', 'a', '1');
    await sleep(100);
    expect(pendingEntries(c)).toEqual([]);
    expect(await c.result('GET', 'x')).toBe('QUEUED');
    expect(await c.result('EXEC')).toEqual([null]);
    expect(await collect(c, 't:m', 1)).toEqual([['1-0', ['a', '1']]]);
  });

  it('base64: the key and fields in the encoding, IDs in plain text', async () => {
    const c = await open(server, '?encoding=base64');
    const key = Buffer.from([0x74, 0x3a, 0xff]);
    const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
    expect((await tail(c, b64(key))).result).toEqual({ after: '0-0' });
    await r.xadd(key, '1-0', Buffer.from([0x00, 0xfe]), 'v');
    const f = (await c.push((x) => x.push === 'entries')) as TailFrame;
    expect(f).toEqual({ push: 'entries', key: b64(key), entries: [['1-0', [b64(Buffer.from([0, 0xfe])), b64('v')]]] });
  });

  it('ACLs: a user without read access to the key is refused; one who loses it sees the tail end', async () => {
    await r.call('ACL', 'SETUSER', 'reader', 'on', '>pw', 'resetkeys', '~t:acl:*', '+@all');
    await r.call('ACL', 'SETUSER', 'outsider', 'on', '>pw', 'resetkeys', '~other:*', '+@all');
    await r.call('ACL', 'SETUSER', 'noread', 'on', '>pw', 'resetkeys', '%W~t:acl:*', '+@all');
    const login = async (user: string) => {
      const c = await open();
      expect((await c.reply(c.request({ auth: { username: user, password: 'pw' } }))).error).toBeUndefined();
      return c;
    };
    const out = await login('outsider');
    expect((await tail(out, 't:acl:feed')).error).toMatch(/^NOPERM /);
    expect((await tail(out, 't:acl:feed', '0')).error).toMatch(/^NOPERM /);
    const writeOnly = await login('noread');
    expect((await tail(writeOnly, 't:acl:feed')).error).toMatch(/^NOPERM /);
    const c = await login('reader');
    await tail(c, 't:acl:feed');
    await r.xadd('t:acl:feed', '1-0', 'a', '1');
    expect(await collect(c, 't:acl:feed', 1)).toEqual([['1-0', ['a', '1']]]);
    await r.call('ACL', 'SETUSER', 'reader', 'resetkeys', '~other:*');
    await r.xadd('t:acl:feed', '2-0', 'a', '2');
    const f = (await c.push((x) => x.push === 'tail')) as TailFrame;
    expect(f).toEqual({ push: 'tail', key: 't:acl:feed', event: 'ended', error: expect.stringMatching(/^NOPERM /) });
    expect(pendingEntries(c)).toEqual([]);
  });

  it('a client that does not read: the server stops reading at the high-water mark, loses nothing', async () => {
    const s = await start(['--ws-soft-buffer', '262144', '--ws-soft-seconds', '600']);
    const w = redis(s);
    const c = await open(s);
    await c.result('CLIENT', 'SETNAME', 'tailer');
    await tail(c, 't:flood', '$', 50);
    c.ws.pause();
    const value = 'x'.repeat(1000);
    const total = 20_000; // 20 MB of entries
    for (let i = 0; i < total; i += 500) {
      const p = w.pipeline();
      for (let j = i; j < i + 500; j++) p.xadd('t:flood', `${j + 1}-0`, 'n', String(j + 1), 'v', value);
      await p.exec();
    }
    // The connection's queue stays near the high-water mark (128 KiB) plus one batch (50 KB).
    let omem = 0;
    for (let i = 0; i < 5; i++) {
      const line = ((await w.call('CLIENT', 'LIST')) as string).split('\n').find((l) => l.includes('name=tailer'));
      omem = Math.max(omem, Number(/omem=(\d+)/.exec(line ?? '')?.[1]));
      await sleep(20);
    }
    expect(omem).toBeLessThan(512 * 1024);
    // Trimmed before they were read: not delivered. The rest arrives once, in order.
    await w.xtrim('t:flood', 'MINID', '15001');
    c.ws.resume();
    const seen: string[] = [];
    let last = '0-0';
    let ok = true;
    while (ok) {
      const f = (await c.push((x) => x.push === 'entries', 20_000)) as TailFrame;
      for (const [id] of f.entries as Entry[]) {
        expect(idLess(last, id)).toBe(true);
        last = id;
        seen.push(id);
      }
      ok = last !== `${total}-0`;
    }
    // Everything from 15001 on, and before it only what had gone out before the trim.
    expect(seen.slice(seen.indexOf('15001-0'))).toEqual(
      Array.from({ length: total - 15000 }, (_, i) => `${15001 + i}-0`),
    );
    expect(seen.indexOf('15001-0')).toBeLessThan(15000);
    expect(c.closeInfo).toBeNull();
  }, 60_000);

  it('at most max-subscriptions-per-client tails per connection', async () => {
    const s = await start(['--max-subscriptions-per-client', '2']);
    const c = await open(s);
    expect((await tail(c, 'a')).error).toBeUndefined();
    expect((await tail(c, 'b')).error).toBeUndefined();
    expect((await tail(c, 'b', '0')).error).toBeUndefined(); // replaces: still two
    expect((await tail(c, 'c')).error).toBe('ERR max tails per client reached (2)');
    expect((await c.reply(c.request({ untail: 'a' }))).result).toBe(1);
    expect((await tail(c, 'c')).error).toBeUndefined();
  });

  it('closing the connection ends its tails', async () => {
    const c = await open();
    await c.result('CLIENT', 'SETNAME', 'closer');
    await tail(c, 't:close');
    c.close();
    expect(await waitFor(async () => !((await r.call('CLIENT', 'LIST')) as string).includes('name=closer'), 3000)).toBe(
      true,
    );
    await r.xadd('t:close', '*', 'a', '1');
    expect(await r.ping()).toBe('PONG');
  });
});
