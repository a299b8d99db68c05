import { execFile } from 'node:child_process';
import type Redis from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { err, NOT_INT, SYNTAX, WRONGTYPE } from '../helpers/errors.js';
import { RawConnection, type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// Keyspace commands (Redis's db.c) end to end. Every test starts from empty databases (FLUSHALL), so
// counts such as DBSIZE and KEYS * are exact. Only Redis-compatible behaviour is asserted.

let server: RunningServer;
let r: Redis;
const extra: Redis[] = [];

const DB_RANGE = 'ERR DB index is out of range';
const SAME = 'ERR source and destination objects are the same';

/** Another connection (closed in afterAll), optionally on database `db`. */
async function client(db = 0): Promise<Redis> {
  const c = redisClient(server);
  extra.push(c);
  if (db !== 0) await c.select(db);
  return c;
}

const sorted = (a: string[]) => [...a].sort();

useServer((s, connect) => {
  server = s;
  r = connect();
});

afterAll(() => {
  for (const c of extra) c.disconnect();
});

beforeEach(async () => {
  await r.flushall();
});

/** Creates one key of each type. */
async function oneOfEach(): Promise<void> {
  await r.set('str', 'v');
  await r.rpush('list', 'a', 'b');
  await r.sadd('set', 'm1', 'm2');
  await r.hset('hash', 'f', 'v');
  await r.zadd('zset', 1, 'z');
}

describe('DEL / UNLINK / EXISTS / TOUCH', () => {
  it('count each existing key once, whatever its type', async () => {
    await oneOfEach();
    expect(await r.del('str', 'str', 'nope', 'list')).toBe(2);
    expect(await r.unlink('set', 'set', 'hash')).toBe(2);
    expect(await r.del('str')).toBe(0);
    expect(await r.keys('*')).toEqual(['zset']);
  });

  it('EXISTS and TOUCH count repeated keys every time', async () => {
    await r.set('a', '1');
    await r.rpush('l', 'x');
    expect(await r.exists('a', 'a', 'a', 'nope')).toBe(3);
    expect(await r.exists('nope')).toBe(0);
    expect(await r.touch('a', 'l', 'nope', 'l')).toBe(3);
  });

  it('arity', async () => {
    expect(await err(r.call('DEL'))).toBe("ERR wrong number of arguments for 'del' command");
    expect(await err(r.call('EXISTS'))).toBe("ERR wrong number of arguments for 'exists' command");
    expect(await err(r.call('UNLINK'))).toBe("ERR wrong number of arguments for 'unlink' command");
  });
});

describe('TYPE / OBJECT', () => {
  it('TYPE names every type, and none', async () => {
    await oneOfEach();
    expect(await r.type('str')).toBe('string');
    expect(await r.type('list')).toBe('list');
    expect(await r.type('set')).toBe('set');
    expect(await r.type('hash')).toBe('hash');
    expect(await r.type('zset')).toBe('zset');
    expect(await r.type('nope')).toBe('none');
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('TYPE', 'str')).toBe('+string\r\n');
      expect(await c.command('TYPE', 'nope')).toBe('+none\r\n');
    } finally {
      c.close();
    }
  });

  it('OBJECT ENCODING of strings: int, embstr (≤ 44 bytes), raw', async () => {
    const cases: [string, string][] = [
      ['12345', 'int'],
      ['0', 'int'],
      ['-9223372036854775808', 'int'],
      ['9223372036854775807', 'int'],
      ['9223372036854775808', 'embstr'],
      ['01', 'embstr'],
      ['-0', 'embstr'],
      [' 1', 'embstr'],
      ['', 'embstr'],
      ['hello', 'embstr'],
      ['a'.repeat(44), 'embstr'],
      ['a'.repeat(45), 'raw'],
      ['1'.repeat(45), 'raw'],
    ];
    for (const [value, enc] of cases) {
      await r.set('e', value);
      expect([value, await r.object('ENCODING', 'e')]).toEqual([value, enc]);
    }
    await r.set('n', '10');
    await r.incrby('n', 5);
    expect(await r.object('ENCODING', 'n')).toBe('int');
    expect(await r.object('ENCODING', 'nope')).toBeNull();
  });

  it('OBJECT errors', async () => {
    expect(await err(r.call('OBJECT', 'FOO', 'x'))).toBe("ERR unknown subcommand 'FOO'. Try OBJECT HELP.");
    expect(await err(r.call('OBJECT'))).toBe("ERR wrong number of arguments for 'object' command");
    expect(await err(r.call('OBJECT', 'ENCODING'))).toBe("ERR wrong number of arguments for 'object|encoding' command");
    const help = (await r.call('OBJECT', 'HELP')) as string[];
    expect(help[0]).toMatch(/^OBJECT <subcommand>/);
  });
});

describe('RENAME / RENAMENX', () => {
  it('move the value and its deadline', async () => {
    await r.set('a', 'v', 'EX', 100);
    expect(await r.rename('a', 'b')).toBe('OK');
    expect(await r.exists('a')).toBe(0);
    expect(await r.get('b')).toBe('v');
    expect(await r.ttl('b')).toBeGreaterThan(90);
    expect(await r.renamenx('b', 'c')).toBe(1);
    expect(await r.ttl('c')).toBeGreaterThan(90);
    expect(await r.get('c')).toBe('v');
  });

  it('RENAME overwrites a destination of any type and drops its deadline', async () => {
    await r.rpush('src', 'x', 'y');
    await r.set('dst', 'old', 'EX', 100);
    expect(await r.rename('src', 'dst')).toBe('OK');
    expect(await r.type('dst')).toBe('list');
    expect(await r.lrange('dst', 0, -1)).toEqual(['x', 'y']);
    expect(await r.ttl('dst')).toBe(-1);
  });

  it('RENAMENX does nothing when the destination exists', async () => {
    await r.set('a', '1');
    await r.set('b', '2');
    expect(await r.renamenx('a', 'b')).toBe(0);
    expect(await r.mget('a', 'b')).toEqual(['1', '2']);
  });

  it('renaming a key to itself', async () => {
    await r.set('a', '1', 'EX', 100);
    expect(await r.rename('a', 'a')).toBe('OK');
    expect(await r.renamenx('a', 'a')).toBe(0);
    expect(await r.get('a')).toBe('1');
    expect(await r.ttl('a')).toBeGreaterThan(90);
  });

  it('a missing source is an error', async () => {
    expect(await err(r.rename('nope', 'x'))).toBe('ERR no such key');
    expect(await err(r.renamenx('nope', 'x'))).toBe('ERR no such key');
    expect(await err(r.rename('nope', 'nope'))).toBe('ERR no such key');
  });
});

describe('COPY', () => {
  it('copies value and deadline; the copy is independent', async () => {
    await r.rpush('l', 'a', 'b');
    await r.expire('l', 100);
    expect(await r.copy('l', 'l2')).toBe(1);
    expect(await r.ttl('l2')).toBeGreaterThan(90);
    await r.rpush('l2', 'c');
    expect(await r.lrange('l', 0, -1)).toEqual(['a', 'b']);
    expect(await r.lrange('l2', 0, -1)).toEqual(['a', 'b', 'c']);
    await r.hset('h', 'f', '1');
    expect(await r.copy('h', 'h2')).toBe(1);
    await r.hset('h2', 'g', '2');
    expect(await r.hgetall('h')).toEqual({ f: '1' });
    await r.sadd('s', 'm');
    expect(await r.copy('s', 's2')).toBe(1);
    await r.sadd('s2', 'n');
    expect(await r.smembers('s')).toEqual(['m']);
  });

  it('copies sorted sets independently', async () => {
    await r.zadd('z', 1, 'm');
    expect(await r.copy('z', 'z2')).toBe(1);
    await r.zadd('z2', 2, 'n');
    expect(await r.zrange('z', 0, -1)).toEqual(['m']);
    expect(await r.zrange('z2', 0, -1, 'WITHSCORES')).toEqual(['m', '1', 'n', '2']);
  });

  it('does not overwrite without REPLACE', async () => {
    await r.set('a', '1');
    await r.set('b', '2', 'EX', 100);
    expect(await r.copy('a', 'b')).toBe(0);
    expect(await r.get('b')).toBe('2');
    expect(await r.call('COPY', 'a', 'b', 'REPLACE')).toBe(1);
    expect(await r.get('b')).toBe('1');
    expect(await r.ttl('b')).toBe(-1);
    expect(await r.copy('nope', 'c')).toBe(0);
    expect(await r.exists('c')).toBe(0);
  });

  it('copies to another database', async () => {
    await r.set('a', '1');
    expect(await r.call('COPY', 'a', 'a', 'DB', '1')).toBe(1);
    expect(await r.call('COPY', 'a', 'a', 'DB', '1')).toBe(0);
    expect(await r.call('COPY', 'a', 'a', 'db', '1', 'replace')).toBe(1);
    const db1 = await client(1);
    expect(await db1.get('a')).toBe('1');
    expect(await r.dbsize()).toBe(1);
  });

  it('errors', async () => {
    await r.set('a', '1');
    expect(await err(r.copy('a', 'a'))).toBe(SAME);
    expect(await err(r.call('COPY', 'a', 'a', 'DB', '0'))).toBe(SAME);
    expect(await err(r.call('COPY', 'a', 'b', 'DB', '16'))).toBe(DB_RANGE);
    expect(await err(r.call('COPY', 'a', 'b', 'DB', '-1'))).toBe(DB_RANGE);
    expect(await err(r.call('COPY', 'a', 'b', 'DB', 'x'))).toBe(NOT_INT);
    expect(await err(r.call('COPY', 'a', 'b', 'DB'))).toBe(SYNTAX);
    expect(await err(r.call('COPY', 'a', 'b', 'FOO'))).toBe(SYNTAX);
    expect(await r.exists('b')).toBe(0);
  });
});

describe('MOVE', () => {
  it('moves a key with its deadline', async () => {
    await r.set('a', '1', 'EX', 100);
    expect(await r.move('a', 1)).toBe(1);
    expect(await r.exists('a')).toBe(0);
    const db1 = await client(1);
    expect(await db1.get('a')).toBe('1');
    expect(await db1.ttl('a')).toBeGreaterThan(90);
  });

  it('answers 0 for a missing key or an existing destination', async () => {
    expect(await r.move('nope', 1)).toBe(0);
    await r.set('a', 'here');
    const db1 = await client(1);
    await db1.set('a', 'there');
    expect(await r.move('a', 1)).toBe(0);
    expect(await r.get('a')).toBe('here');
    expect(await db1.get('a')).toBe('there');
  });

  it('errors', async () => {
    await r.set('a', '1');
    expect(await err(r.move('a', 0))).toBe(SAME);
    expect(await err(r.move('a', 16))).toBe(DB_RANGE);
    expect(await err(r.move('a', -1))).toBe(DB_RANGE);
    expect(await err(r.call('MOVE', 'a', 'x'))).toBe(NOT_INT);
    expect(await err(r.call('MOVE', 'a', '4294967296'))).toBe(
      'ERR value is out of range, value must between -2147483648 and 2147483647',
    );
  });
});

describe('KEYS', () => {
  const names = [
    'hello',
    'hallo',
    'hxllo',
    'hllo',
    'heeeello',
    'Hello',
    'h*llo',
    'h?llo',
    'h[llo',
    'h\\llo',
    'h-llo',
    'h]llo',
    'foo',
    'foo:bar',
  ];
  beforeEach(async () => {
    await r.mset(...names.flatMap((n) => [n, '1']));
  });

  it.each([
    ['*', names],
    ['h?llo', ['hello', 'hallo', 'hxllo', 'h*llo', 'h?llo', 'h[llo', 'h\\llo', 'h-llo', 'h]llo']],
    ['h*llo', ['hello', 'hallo', 'hxllo', 'hllo', 'heeeello', 'h*llo', 'h?llo', 'h[llo', 'h\\llo', 'h-llo', 'h]llo']],
    ['h[ae]llo', ['hello', 'hallo']],
    ['h[^e]llo', ['hallo', 'hxllo', 'h*llo', 'h?llo', 'h[llo', 'h\\llo', 'h-llo', 'h]llo']],
    ['h[a-e]llo', ['hello', 'hallo']],
    ['h[e-a]llo', ['hello', 'hallo']],
    ['h\\*llo', ['h*llo']],
    ['h\\?llo', ['h?llo']],
    ['h\\[llo', ['h[llo']],
    ['h\\\\llo', ['h\\llo']],
    ['h[\\]]llo', ['h]llo']],
    ['h[-]llo', ['h-llo']],
    ['[Hh]ello', ['hello', 'Hello']],
    ['foo*', ['foo', 'foo:bar']],
    ['*:*', ['foo:bar']],
    ['hello', ['hello']],
    ['nomatch*', []],
    ['', []],
    ['h[', []],
  ])('KEYS %j', async (pattern, expected) => {
    expect(sorted(await r.keys(pattern))).toEqual(sorted(expected));
  });

  it('binary keys and patterns', async () => {
    const key = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x2a]);
    await r.set(key, 'v');
    const got = await r.keysBuffer(Buffer.from([0x00, 0x3f, 0x0d, 0x2a]));
    expect(got).toEqual([key]);
  });

  it('skips keys whose deadline has passed', async () => {
    await r.set('short', '1', 'PX', 20);
    await new Promise((res) => setTimeout(res, 60));
    expect(await r.keys('short')).toEqual([]);
  });
});

/** Runs a full SCAN iteration with `args` and returns every key seen (with repeats) and the number of calls. */
async function scanAll(
  c: Redis,
  args: (string | number)[] = [],
  between?: (step: number) => Promise<void>,
): Promise<{ keys: string[]; calls: number }> {
  let cursor = '0';
  const keys: string[] = [];
  let calls = 0;
  do {
    const [next, page] = (await c.call('SCAN', cursor, ...args)) as [string, string[]];
    expect(typeof next).toBe('string');
    keys.push(...page);
    cursor = next;
    calls++;
    if (between) await between(calls);
    if (calls > 100_000) throw new Error('SCAN did not finish');
  } while (cursor !== '0');
  return { keys, calls };
}

describe('SCAN', () => {
  it('visits every key; COUNT bounds the work per call', async () => {
    const all = Array.from({ length: 300 }, (_, i) => `key:${i}`);
    await r.mset(...all.flatMap((k) => [k, '1']));
    const { keys, calls } = await scanAll(r, ['COUNT', 10]);
    expect(sorted([...new Set(keys)])).toEqual(sorted(all));
    expect(calls).toBeGreaterThan(5);
    const big = await scanAll(r, ['COUNT', 1000]);
    expect(sorted([...new Set(big.keys)])).toEqual(sorted(all));
  });

  it('MATCH filters by glob and TYPE by type', async () => {
    await oneOfEach();
    await r.set('str2', 'x');
    await r.sadd('set2', 'x');
    const strings = await scanAll(r, ['TYPE', 'string']);
    expect(sorted([...new Set(strings.keys)])).toEqual(['str', 'str2']);
    const sets = await scanAll(r, ['TYPE', 'set', 'COUNT', 100]);
    expect(sorted([...new Set(sets.keys)])).toEqual(['set', 'set2']);
    expect(sorted([...new Set((await scanAll(r, ['TYPE', 'zset'])).keys)])).toEqual(['zset']);
    expect(sorted([...new Set((await scanAll(r, ['TYPE', 'hash'])).keys)])).toEqual(['hash']);
    expect(sorted([...new Set((await scanAll(r, ['TYPE', 'list'])).keys)])).toEqual(['list']);
    const matched = await scanAll(r, ['MATCH', 's*', 'COUNT', 3]);
    expect(sorted([...new Set(matched.keys)])).toEqual(['set', 'set2', 'str', 'str2']);
    const both = await scanAll(r, ['MATCH', 's*', 'TYPE', 'set']);
    expect(sorted([...new Set(both.keys)])).toEqual(['set', 'set2']);
    expect((await scanAll(r, ['TYPE', 'nosuchtype'])).keys).toEqual([]);
  });

  it('returns every key that exists for the whole scan while others come and go', async () => {
    const stable = Array.from({ length: 500 }, (_, i) => `stable:${i}`);
    const churn = Array.from({ length: 500 }, (_, i) => `churn:${i}`);
    await r.mset(...stable.flatMap((k) => [k, '1']), ...churn.flatMap((k) => [k, '1']));
    const other = await client();
    let added = 0;
    const { keys } = await scanAll(r, ['COUNT', 7], async (step) => {
      // Between calls another client deletes churn keys and adds new ones (with MULTI, atomically).
      const m = other.multi();
      for (let i = 0; i < 5; i++) m.del(`churn:${(step * 5 + i) % 500}`);
      for (let i = 0; i < 5; i++) m.set(`new:${added++}`, '1');
      await m.exec();
    });
    const seen = new Set(keys);
    const missing = stable.filter((k) => !seen.has(k));
    expect(missing).toEqual([]);
    // Nothing that never existed is returned.
    for (const k of seen) expect(k).toMatch(/^(stable|churn|new):\d+$/);
  });

  it('cursor and option errors', async () => {
    await r.set('a', '1');
    expect(await err(r.call('SCAN', 'x'))).toBe('ERR invalid cursor');
    expect(await err(r.call('SCAN', ' 1'))).toBe('ERR invalid cursor');
    expect(await err(r.call('SCAN', '1.5'))).toBe('ERR invalid cursor');
    expect(await err(r.call('SCAN', '18446744073709551616'))).toBe('ERR invalid cursor');
    expect(await err(r.call('SCAN', '0', 'COUNT', '0'))).toBe(SYNTAX);
    expect(await err(r.call('SCAN', '0', 'COUNT', '-1'))).toBe(SYNTAX);
    expect(await err(r.call('SCAN', '0', 'COUNT', 'x'))).toBe(NOT_INT);
    expect(await err(r.call('SCAN', '0', 'MATCH'))).toBe(SYNTAX);
    expect(await err(r.call('SCAN', '0', 'FOO', 'x'))).toBe(SYNTAX);
    // strtoul-style cursors are accepted: a sign, and the whole 64-bit range.
    for (const c of ['18446744073709551615', '-1', '+0']) {
      const reply = (await r.call('SCAN', c)) as [string, string[]];
      expect(Array.isArray(reply[1])).toBe(true);
    }
  });

  it('raw reply shape: [cursor as bulk string, array of keys]', async () => {
    await r.set('only', '1');
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('SCAN', '0', 'COUNT', '100')).toBe('*2\r\n$1\r\n0\r\n*1\r\n$4\r\nonly\r\n');
    } finally {
      c.close();
    }
  });

  it('redis-cli --scan walks every key', async () => {
    const all = Array.from({ length: 50 }, (_, i) => `cli:${i}`);
    await r.mset(...all.flatMap((k) => [k, '1']), 'other', '1');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'redis-cli',
        ['-h', server.host, '-p', String(server.port), '--scan', '--pattern', 'cli:*'],
        { timeout: 10_000 },
        (e, stdout) => (e ? reject(e) : resolve(stdout)),
      ),
    );
    expect(sorted([...new Set(out.trim().split('\n'))])).toEqual(sorted(all));
  });
});

describe('RANDOMKEY / DBSIZE', () => {
  it('RANDOMKEY is nil on an empty database and some existing key otherwise', async () => {
    expect(await r.randomkey()).toBeNull();
    await r.mset('a', '1', 'b', '2', 'c', '3');
    for (let i = 0; i < 20; i++) expect(['a', 'b', 'c']).toContain(await r.randomkey());
    const c = await RawConnection.open(server);
    try {
      await c.command('SELECT', '5');
      expect(await c.command('RANDOMKEY')).toBe('$-1\r\n');
    } finally {
      c.close();
    }
  });

  it('RANDOMKEY eventually returns every key', async () => {
    await r.mset('a', '1', 'b', '2', 'c', '3');
    const seen = new Set<string | null>();
    for (let i = 0; i < 300 && seen.size < 3; i++) seen.add(await r.randomkey());
    expect(sorted([...seen] as string[])).toEqual(['a', 'b', 'c']);
  });

  it('DBSIZE counts keys of the selected database', async () => {
    expect(await r.dbsize()).toBe(0);
    await oneOfEach();
    expect(await r.dbsize()).toBe(5);
    const db2 = await client(2);
    expect(await db2.dbsize()).toBe(0);
    await r.del('str');
    expect(await r.dbsize()).toBe(4);
  });
});

describe('SELECT / FLUSHDB / FLUSHALL / SWAPDB', () => {
  it('SELECT switches databases; errors', async () => {
    const c = await client();
    await c.set('a', 'db0');
    expect(await c.select(3)).toBe('OK');
    expect(await c.get('a')).toBeNull();
    await c.set('a', 'db3');
    await c.select(0);
    expect(await c.get('a')).toBe('db0');
    expect(await err(c.select(16))).toBe(DB_RANGE);
    expect(await err(c.select(-1))).toBe(DB_RANGE);
    expect(await err(c.call('SELECT', 'x'))).toBe(NOT_INT);
    expect(await err(c.call('SELECT', '1.5'))).toBe(NOT_INT);
    expect(await err(c.call('SELECT', '99999999999999999999'))).toBe(NOT_INT);
    expect(await err(c.call('SELECT', '2147483648'))).toBe(
      'ERR value is out of range, value must between -2147483648 and 2147483647',
    );
    expect(await err(c.call('SELECT', '-2147483649'))).toBe(
      'ERR value is out of range, value must between -2147483648 and 2147483647',
    );
    expect(await err(c.call('SELECT', '2147483647'))).toBe(DB_RANGE);
    expect(await err(c.call('SELECT', '0', '1'))).toBe("ERR wrong number of arguments for 'select' command");
    expect(await c.get('a')).toBe('db0');
  });

  it('FLUSHDB empties only the selected database', async () => {
    await r.set('a', '1');
    const db1 = await client(1);
    await db1.set('b', '1');
    expect(await r.flushdb()).toBe('OK');
    expect(await r.dbsize()).toBe(0);
    expect(await db1.dbsize()).toBe(1);
    expect(await r.call('FLUSHDB', 'ASYNC')).toBe('OK');
    expect(await r.call('FLUSHDB', 'sync')).toBe('OK');
    expect(await err(r.call('FLUSHDB', 'FOO'))).toBe(SYNTAX);
    expect(await err(r.call('FLUSHDB', 'ASYNC', 'SYNC'))).toBe(SYNTAX);
  });

  it('FLUSHALL empties every database', async () => {
    await r.set('a', '1', 'EX', 100);
    const db7 = await client(7);
    await db7.set('b', '1');
    expect(await r.flushall()).toBe('OK');
    expect(await r.dbsize()).toBe(0);
    expect(await db7.dbsize()).toBe(0);
    expect(await r.call('FLUSHALL', 'ASYNC')).toBe('OK');
    expect(await r.call('FLUSHALL', 'SYNC')).toBe('OK');
    expect(await err(r.call('FLUSHALL', 'FOO'))).toBe(SYNTAX);
  });

  it('SWAPDB exchanges contents and deadlines; clients keep their index', async () => {
    await r.set('a', 'in0', 'EX', 100);
    const db1 = await client(1);
    await db1.set('b', 'in1');
    expect(await r.swapdb(0, 1)).toBe('OK');
    expect(await r.get('a')).toBeNull();
    expect(await r.get('b')).toBe('in1');
    expect(await db1.get('a')).toBe('in0');
    expect(await db1.ttl('a')).toBeGreaterThan(90);
    expect(await r.swapdb(1, 1)).toBe('OK');
    expect(await db1.get('a')).toBe('in0');
  });

  it('SWAPDB errors', async () => {
    expect(await err(r.call('SWAPDB', 'x', '1'))).toBe('ERR invalid first DB index');
    expect(await err(r.call('SWAPDB', '0', 'x'))).toBe('ERR invalid second DB index');
    expect(await err(r.call('SWAPDB', '0', '16'))).toBe(DB_RANGE);
    expect(await err(r.call('SWAPDB', '-1', '0'))).toBe(DB_RANGE);
    // Both indexes are parsed before either is range-checked; C int range.
    expect(await err(r.call('SWAPDB', '99', 'x'))).toBe('ERR invalid second DB index');
    expect(await err(r.call('SWAPDB', '9223372036854775807', '0'))).toBe('ERR invalid first DB index');
    expect(await err(r.call('SWAPDB', '0', '2147483648'))).toBe('ERR invalid second DB index');
  });
});

describe('commands on the wrong type', () => {
  it('string commands on a list are WRONGTYPE; generic ones work', async () => {
    await r.rpush('l', 'a');
    expect(await err(r.get('l'))).toBe(WRONGTYPE);
    expect(await r.exists('l')).toBe(1);
    expect(await r.expire('l', 100)).toBe(1);
    expect(await r.rename('l', 'l2')).toBe('OK');
    expect(await r.type('l2')).toBe('list');
  });
});
