import type Redis from 'ioredis';
import { describe, expect, it } from 'vitest';
import { err, WRONGTYPE } from '../helpers/errors.js';
import { useKeyspaceEvents } from '../helpers/events.js';
import { resp3 } from '../helpers/resp3.js';
import { type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// Hash commands through ioredis against a running kvws (or the server at REDIS_URL): only Redis-compatible
// behaviour is asserted. Keys carry a per-run prefix, so the file can share a real Redis with other files.

let server: RunningServer;
let r: Redis;
const P = `hashtest-${process.pid}-${Date.now()}:`;
const k = (name: string): string => P + name;

useServer((s, connect) => {
  server = s;
  r = connect();
});

// events(fn): the keyspace events `fn` causes on this file's keys, as "name event" (name without the prefix),
// in order. Notifications stay on for the whole file: A = g$lshzxetd; `new` events need their own class, n.
const events = useKeyspaceEvents({ server: () => server, r: () => r, prefix: P, db: '*', key: k, flags: 'KEAn' });

describe('HSET, HGET, HMGET, HMSET, HSETNX', () => {
  it('HSET counts new fields only and HGET reads them back', async () => {
    const key = k('hset');
    expect(await r.hset(key, 'a', '1', 'b', '2')).toBe(2);
    expect(await r.hset(key, 'a', '10', 'c', '3')).toBe(1);
    expect(await r.hset(key, 'a', '11', 'a', '12')).toBe(0);
    expect(await r.hget(key, 'a')).toBe('12');
    expect(await r.hget(key, 'b')).toBe('2');
    expect(await r.hget(key, 'nope')).toBeNull();
    expect(await r.hget(k('missing'), 'a')).toBeNull();
    expect(await r.hset(key, 'empty', '')).toBe(1);
    expect(await r.hget(key, 'empty')).toBe('');
    expect(await r.type(key)).toBe('hash');
  });

  it('HSET and HMSET reject an odd number of field/value arguments', async () => {
    const key = k('hset-arity');
    expect(await err(r.call('HSET', key, 'a', '1', 'b'))).toBe("ERR wrong number of arguments for 'hset' command");
    expect(await err(r.call('HSET', key, 'a'))).toBe("ERR wrong number of arguments for 'hset' command");
    expect(await err(r.call('HMSET', key, 'a', '1', 'b'))).toBe("ERR wrong number of arguments for 'hmset' command");
    expect(await r.exists(key)).toBe(0);
  });

  it('HMSET replies OK', async () => {
    const key = k('hmset');
    expect(await r.call('HMSET', key, 'a', '1', 'b', '2')).toBe('OK');
    expect(await r.call('HMSET', key, 'a', '3')).toBe('OK');
    expect(await r.hgetall(key)).toEqual({ a: '3', b: '2' });
  });

  it('HMGET returns nil for missing fields and for a missing key', async () => {
    const key = k('hmget');
    await r.hset(key, 'a', '1', 'b', '2');
    expect(await r.hmget(key, 'a', 'x', 'b', 'a')).toEqual(['1', null, '2', '1']);
    expect(await r.hmget(k('missing'), 'a', 'b')).toEqual([null, null]);
  });

  it('HSETNX sets only absent fields, creating the key if needed', async () => {
    const key = k('hsetnx');
    expect(await r.hsetnx(key, 'a', '1')).toBe(1);
    expect(await r.hsetnx(key, 'a', '2')).toBe(0);
    expect(await r.hsetnx(key, 'b', '3')).toBe(1);
    expect(await r.hgetall(key)).toEqual({ a: '1', b: '3' });
  });
});

describe('HDEL, HEXISTS, HLEN, HSTRLEN, HKEYS, HVALS, HGETALL', () => {
  it('HDEL counts removed fields and deletes the emptied key', async () => {
    const key = k('hdel');
    await r.hset(key, 'a', '1', 'b', '2', 'c', '3');
    expect(await r.hdel(key, 'a', 'a', 'x')).toBe(1);
    expect(await r.hlen(key)).toBe(2);
    expect(await r.hdel(key, 'x')).toBe(0);
    expect(await r.hdel(key, 'b', 'c', 'd')).toBe(2);
    expect(await r.exists(key)).toBe(0);
    expect(await r.hdel(key, 'a')).toBe(0);
  });

  it('answers for fields and whole hashes', async () => {
    const key = k('read');
    await r.hset(key, 'a', 'hello', 'b', '', 'c', 'xyz');
    expect(await r.hexists(key, 'a')).toBe(1);
    expect(await r.hexists(key, 'z')).toBe(0);
    expect(await r.hlen(key)).toBe(3);
    expect(await r.hstrlen(key, 'a')).toBe(5);
    expect(await r.hstrlen(key, 'b')).toBe(0);
    expect(await r.hstrlen(key, 'z')).toBe(0);
    expect((await r.hkeys(key)).sort()).toEqual(['a', 'b', 'c']);
    expect((await r.hvals(key)).sort()).toEqual(['', 'hello', 'xyz']);
    expect(await r.hgetall(key)).toEqual({ a: 'hello', b: '', c: 'xyz' });
  });

  it('treats a missing key as an empty hash', async () => {
    const key = k('missing');
    expect(await r.hexists(key, 'a')).toBe(0);
    expect(await r.hlen(key)).toBe(0);
    expect(await r.hstrlen(key, 'a')).toBe(0);
    expect(await r.hkeys(key)).toEqual([]);
    expect(await r.hvals(key)).toEqual([]);
    expect(await r.hgetall(key)).toEqual({});
    expect(await r.hscan(key, '0')).toEqual(['0', []]);
    expect(await r.hrandfield(key)).toBeNull();
    expect(await r.hrandfield(key, 3)).toEqual([]);
  });

  it('keeps a field count consistent with HKEYS after many updates', async () => {
    const key = k('many');
    const args: string[] = [];
    for (let i = 0; i < 500; i++) args.push(`f${i}`, `v${i}`);
    expect(await r.hset(key, ...args)).toBe(500);
    expect(await r.hlen(key)).toBe(500);
    const all = await r.hgetall(key);
    expect(Object.keys(all)).toHaveLength(500);
    expect(all.f123).toBe('v123');
  });
});

describe('WRONGTYPE', () => {
  it('every hash command refuses a string key', async () => {
    const key = k('string');
    await r.set(key, 'x');
    const calls: string[][] = [
      ['HSET', key, 'a', '1'],
      ['HSETNX', key, 'a', '1'],
      ['HMSET', key, 'a', '1'],
      ['HGET', key, 'a'],
      ['HMGET', key, 'a'],
      ['HDEL', key, 'a'],
      ['HEXISTS', key, 'a'],
      ['HLEN', key],
      ['HKEYS', key],
      ['HVALS', key],
      ['HGETALL', key],
      ['HINCRBY', key, 'a', '1'],
      ['HINCRBYFLOAT', key, 'a', '1'],
      ['HSTRLEN', key, 'a'],
      ['HSCAN', key, '0'],
      ['HRANDFIELD', key],
      ['HRANDFIELD', key, '2'],
      ['HRANDFIELD', key, '2', 'WITHVALUES'],
    ];
    for (const [cmd, ...args] of calls) {
      expect(await err(r.call(cmd, ...args)), cmd).toBe(WRONGTYPE);
    }
    expect(await r.get(key)).toBe('x');
  });

  it('string commands refuse a hash key', async () => {
    const key = k('hash-for-get');
    await r.hset(key, 'a', '1');
    expect(await err(r.get(key))).toBe(WRONGTYPE);
  });
});

describe('HINCRBY', () => {
  it('increments, creating the field and the key', async () => {
    const key = k('hincrby');
    expect(await r.hincrby(key, 'n', 5)).toBe(5);
    expect(await r.hincrby(key, 'n', -7)).toBe(-2);
    expect(await r.hget(key, 'n')).toBe('-2');
    await r.hset(key, 'm', '100');
    expect(await r.hincrby(key, 'm', 0)).toBe(100);
  });

  it('rejects a malformed increment before touching the key', async () => {
    const key = k('hincrby-bad');
    for (const bad of ['x', '1.5', ' 1', '1 ', '', '01', '+1', '9223372036854775808']) {
      expect(await err(r.call('HINCRBY', key, 'n', bad)), bad).toBe('ERR value is not an integer or out of range');
    }
    expect(await r.exists(key)).toBe(0);
  });

  it('rejects a field that does not hold an integer', async () => {
    const key = k('hincrby-notint');
    await r.hset(key, 'f', 'abc', 'g', '1.5', 'h', ' 1', 'e', '', 'z', '007');
    for (const f of ['f', 'g', 'h', 'e', 'z']) {
      expect(await err(r.hincrby(key, f, 1)), f).toBe('ERR hash value is not an integer');
    }
    expect(await r.hget(key, 'f')).toBe('abc');
  });

  it('detects 64-bit overflow in both directions', async () => {
    const key = k('hincrby-overflow');
    await r.hset(key, 'max', '9223372036854775807', 'min', '-9223372036854775808');
    expect(await err(r.hincrby(key, 'max', 1))).toBe('ERR increment or decrement would overflow');
    expect(await err(r.hincrby(key, 'min', -1))).toBe('ERR increment or decrement would overflow');
    expect(await r.hget(key, 'max')).toBe('9223372036854775807');
    await r.hincrby(key, 'max', -1);
    expect(await r.hget(key, 'max')).toBe('9223372036854775806');
    await r.call('HINCRBY', key, 'big', '9223372036854775807');
    expect(await r.hget(key, 'big')).toBe('9223372036854775807');
    await r.call('HINCRBY', key, 'min', '9223372036854775807');
    expect(await r.hget(key, 'min')).toBe('-1');
  });
});

describe('HINCRBYFLOAT', () => {
  it('adds and formats like Redis (no exponent, no trailing zeros)', async () => {
    const key = k('hincrbyfloat');
    await r.hset(key, 'f', '10.50', 'e', '5.0e3', 'i', '3');
    expect(await r.hincrbyfloat(key, 'f', 0.1)).toBe('10.6');
    expect(await r.hincrbyfloat(key, 'e', '2.0e2')).toBe('5200');
    expect(await r.hincrbyfloat(key, 'i', '1.5')).toBe('4.5');
    expect(await r.hincrbyfloat(key, 'i', '-4.5')).toBe('0');
    expect(await r.hincrbyfloat(key, 'new', '-1.25')).toBe('-1.25');
    expect(await r.hget(key, 'f')).toBe('10.6');
    expect(await r.hget(key, 'new')).toBe('-1.25');
    expect(await r.hincrbyfloat(k('hincrbyfloat-new'), 'x', '3')).toBe('3');
  });

  it('computes in long double and prints "%.17Lf", exactly as INCRBYFLOAT does', async () => {
    const key = k('hincrbyfloat-ld');
    expect(await r.hincrbyfloat(key, 'f', '0.1')).toBe('0.1');
    expect(await r.hincrbyfloat(key, 'f', '0.1')).toBe('0.2');
    expect(await r.hincrbyfloat(key, 'f', '0.1')).toBe('0.3');
    await r.hset(key, 'big', '12345678901234567890');
    expect(await r.hincrbyfloat(key, 'big', '1')).toBe('12345678901234567891');
    expect(await r.hget(key, 'big')).toBe('12345678901234567891');
    // The same operands give the same text through INCRBYFLOAT.
    const cases: [string, string][] = [
      ['100000', '2.5e-3'],
      ['0', '123456789.123456789'],
      ['1e30', '1'],
      ['0', '0x10'],
      ['1.5', '0x1p-1'],
      ['17', '-0.0'],
    ];
    for (const [start, by] of cases) {
      const str = k('incrbyfloat-ref');
      await r.set(str, start);
      await r.hset(key, 'cmp', start);
      expect(await r.hincrbyfloat(key, 'cmp', by)).toBe(await r.incrbyfloat(str, by));
    }
  });

  it('rejects a malformed increment, NaN and infinity', async () => {
    const key = k('hincrbyfloat-bad');
    expect(await err(r.call('HINCRBYFLOAT', key, 'f', 'abc'))).toBe('ERR value is not a valid float');
    expect(await err(r.call('HINCRBYFLOAT', key, 'f', ''))).toBe('ERR value is not a valid float');
    expect(await err(r.call('HINCRBYFLOAT', key, 'f', 'nan'))).toBe('ERR value is not a valid float');
    expect(await err(r.call('HINCRBYFLOAT', key, 'f', 'inf'))).toBe('ERR value is NaN or Infinity');
    expect(await err(r.call('HINCRBYFLOAT', key, 'f', '-inf'))).toBe('ERR value is NaN or Infinity');
    expect(await r.exists(key)).toBe(0);
  });

  it('rejects a field that is not a float, and a result that would be infinite', async () => {
    const key = k('hincrbyfloat-value');
    await r.hset(key, 's', 'abc', 'inf', 'inf', 'sp', ' 1');
    expect(await err(r.hincrbyfloat(key, 's', 1))).toBe('ERR hash value is not a float');
    expect(await err(r.hincrbyfloat(key, 'sp', 1))).toBe('ERR hash value is not a float');
    expect(await err(r.hincrbyfloat(key, 'inf', 1))).toBe('ERR increment would produce NaN or Infinity');
    expect(await r.hget(key, 'inf')).toBe('inf');
  });
});

describe('HSCAN', () => {
  it('returns a small hash in one call with cursor 0', async () => {
    const key = k('hscan-small');
    await r.hset(key, 'a', '1', 'b', '2', 'c', '3');
    const [cursor, items] = await r.hscan(key, '0', 'COUNT', '1');
    expect(cursor).toBe('0');
    const pairs = new Map<string, string>();
    for (let i = 0; i < items.length; i += 2) pairs.set(items[i], items[i + 1]);
    expect(pairs).toEqual(
      new Map([
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
      ]),
    );
  });

  it('iterates a large hash completely, with MATCH filtering fields', async () => {
    const key = k('hscan-large');
    const args: string[] = [];
    for (let i = 0; i < 1000; i++) args.push(`f${i}`, `v${i}`);
    await r.hset(key, ...args);
    const seen = new Map<string, string>();
    let cursor = '0';
    let calls = 0;
    do {
      const [next, items] = await r.hscan(key, cursor, 'COUNT', '50');
      for (let i = 0; i < items.length; i += 2) seen.set(items[i], items[i + 1]);
      cursor = next;
      calls++;
    } while (cursor !== '0' && calls < 10_000);
    expect(cursor).toBe('0');
    expect(calls).toBeGreaterThan(1);
    expect(seen.size).toBe(1000);
    expect(seen.get('f999')).toBe('v999');

    const matched = new Set<string>();
    cursor = '0';
    do {
      const [next, items] = await r.hscan(key, cursor, 'MATCH', 'f1?', 'COUNT', '100');
      for (let i = 0; i < items.length; i += 2) {
        expect(items[i]).toMatch(/^f1\d$/);
        expect(items[i + 1]).toBe(`v${items[i].slice(1)}`);
        matched.add(items[i]);
      }
      cursor = next;
    } while (cursor !== '0');
    expect(matched.size).toBe(10);
  });

  it('NOVALUES returns fields only (Redis 7.4)', async () => {
    // On the Redis engine, the Redis behind kvws answers HSCAN.
    const answering = server.backing ?? server;
    const probe = redisClient(answering);
    const info = await probe.info('server');
    probe.disconnect();
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    const supported =
      !answering.isRedis ||
      (version !== null && (Number(version[1]) > 7 || (Number(version[1]) === 7 && Number(version[2]) >= 4)));
    if (!supported) return;
    const key = k('hscan-novalues');
    await r.hset(key, 'a', '1', 'b', '2');
    const [cursor, items] = (await r.call('HSCAN', key, '0', 'NOVALUES')) as [string, string[]];
    expect(cursor).toBe('0');
    expect(items.sort()).toEqual(['a', 'b']);
  });

  it('validates the cursor and the options', async () => {
    const key = k('hscan-errors');
    await r.hset(key, 'a', '1');
    expect(await err(r.hscan(key, 'x'))).toBe('ERR invalid cursor');
    expect(await err(r.hscan(key, '-1x'))).toBe('ERR invalid cursor');
    expect(await err(r.hscan(key, ' 1'))).toBe('ERR invalid cursor');
    expect(await err(r.call('HSCAN', key, '0', 'COUNT', '0'))).toBe('ERR syntax error');
    expect(await err(r.call('HSCAN', key, '0', 'COUNT', 'x'))).toBe('ERR value is not an integer or out of range');
    expect(await err(r.call('HSCAN', key, '0', 'COUNT'))).toBe('ERR syntax error');
    expect(await err(r.call('HSCAN', key, '0', 'BOGUS', '1'))).toBe('ERR syntax error');
    expect(await err(r.call('HSCAN', key, '0', 'TYPE', 'hash'))).toBe('ERR syntax error');
    // A missing key answers an empty scan before the options are looked at, as in Redis.
    expect(await r.call('HSCAN', k('missing'), '0', 'COUNT', '0')).toEqual(['0', []]);
  });
});

describe('HRANDFIELD', () => {
  it('returns one field, or nil for a missing key', async () => {
    const key = k('hrand-one');
    await r.hset(key, 'a', '1', 'b', '2', 'c', '3');
    for (let i = 0; i < 20; i++) expect(['a', 'b', 'c']).toContain(await r.hrandfield(key));
    expect(await r.hrandfield(k('missing'))).toBeNull();
  });

  it('with a positive count returns distinct fields, at most the whole hash', async () => {
    const key = k('hrand-pos');
    const args: string[] = [];
    for (let i = 0; i < 200; i++) args.push(`f${i}`, `v${i}`);
    await r.hset(key, ...args);
    for (const n of [1, 5, 60, 150, 199, 200, 1000]) {
      const got = (await r.hrandfield(key, n)) as string[];
      expect(got).toHaveLength(Math.min(n, 200));
      expect(new Set(got).size).toBe(got.length);
      for (const f of got) expect(f).toMatch(/^f\d+$/);
    }
    expect(await r.hrandfield(key, 0)).toEqual([]);
  });

  it('with a negative count returns exactly that many, repeats allowed', async () => {
    const key = k('hrand-neg');
    await r.hset(key, 'a', '1', 'b', '2');
    const got = (await r.hrandfield(key, -50)) as string[];
    expect(got).toHaveLength(50);
    for (const f of got) expect(['a', 'b']).toContain(f);
    expect(await r.hrandfield(k('missing'), -5)).toEqual([]);
  });

  it('WITHVALUES pairs each field with its value (flat in RESP2)', async () => {
    const key = k('hrand-values');
    await r.hset(key, 'a', '1', 'b', '2', 'c', '3');
    const values: Record<string, string> = { a: '1', b: '2', c: '3' };
    for (const n of [2, 3, 10, -7]) {
      const got = (await r.hrandfield(key, n, 'WITHVALUES')) as string[];
      expect(got).toHaveLength(2 * (n < 0 ? -n : Math.min(n, 3)));
      for (let i = 0; i < got.length; i += 2) expect(got[i + 1]).toBe(values[got[i]]);
    }
    expect(await r.call('HRANDFIELD', key, '2', 'withvalues')).toHaveLength(4);
  });

  it('validates count and options', async () => {
    const key = k('hrand-errors');
    await r.hset(key, 'a', '1');
    expect(await err(r.call('HRANDFIELD', key, 'x'))).toBe('ERR value is not an integer or out of range');
    expect(await err(r.call('HRANDFIELD', key, '1', 'WITHVALUE'))).toBe('ERR syntax error');
    expect(await err(r.call('HRANDFIELD', key, '1', 'WITHVALUES', 'x'))).toBe('ERR syntax error');
    expect(await err(r.call('HRANDFIELD', key, '-9223372036854775808'))).toBe(
      'ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807',
    );
    expect(await err(r.call('HRANDFIELD', key, '9223372036854775807', 'WITHVALUES'))).toBe('ERR value is out of range');
    expect(await err(r.call('HRANDFIELD', key, '-9223372036854775807', 'WITHVALUES'))).toBe(
      'ERR value is out of range',
    );
  });
});

describe('binary safety', () => {
  it('stores all 256 byte values in keys, fields and values', async () => {
    const key = Buffer.concat([Buffer.from(k('bin')), Buffer.from([0, 255, 13, 10, 128])]);
    const field = (i: number): Buffer => Buffer.from([i]);
    const value = (i: number): Buffer => Buffer.from([255 - i, i, 0, 13, 10]);
    const args: Buffer[] = [];
    for (let i = 0; i < 256; i++) args.push(field(i), value(i));
    expect(await r.hset(key, ...args)).toBe(256);
    expect(await r.hlen(key)).toBe(256);

    const flat = (await r.callBuffer('HGETALL', key)) as Buffer[];
    expect(flat).toHaveLength(512);
    const got = new Map<string, string>();
    for (let i = 0; i < flat.length; i += 2) got.set(flat[i].toString('hex'), flat[i + 1].toString('hex'));
    for (let i = 0; i < 256; i++) expect(got.get(field(i).toString('hex'))).toBe(value(i).toString('hex'));

    for (let i = 0; i < 256; i += 17) {
      expect((await r.hgetBuffer(key, field(i)))?.equals(value(i))).toBe(true);
      expect(await r.hexists(key, field(i))).toBe(1);
      expect(await r.hstrlen(key, field(i))).toBe(5);
    }
    const mget = await r.hmgetBuffer(key, field(0), field(255), Buffer.from([1, 2]));
    expect(mget[0]?.equals(value(0))).toBe(true);
    expect(mget[1]?.equals(value(255))).toBe(true);
    expect(mget[2]).toBeNull();

    const keys = (await r.hkeysBuffer(key)).map((b) => b.toString('hex')).sort();
    expect(keys).toEqual(Array.from({ length: 256 }, (_, i) => field(i).toString('hex')).sort());
    const vals = (await r.hvalsBuffer(key)).map((b) => b.toString('hex')).sort();
    expect(vals).toEqual(Array.from({ length: 256 }, (_, i) => value(i).toString('hex')).sort());

    const scanned = new Map<string, string>();
    let cursor: Buffer | string = '0';
    do {
      const [next, items]: [Buffer, Buffer[]] = await r.hscanBuffer(key, cursor, 'COUNT', 20);
      for (let i = 0; i < items.length; i += 2) scanned.set(items[i].toString('hex'), items[i + 1].toString('hex'));
      cursor = next.toString();
    } while (cursor !== '0');
    expect(scanned).toEqual(got);

    const rand = (await r.hrandfieldBuffer(key, 300, 'WITHVALUES')) as Buffer[];
    expect(rand).toHaveLength(512);
    for (let i = 0; i < rand.length; i += 2) expect(got.get(rand[i].toString('hex'))).toBe(rand[i + 1].toString('hex'));

    expect(await r.hdel(key, field(0), field(255))).toBe(2);
    expect(await r.hgetBuffer(key, field(0))).toBeNull();
  });

  it('hgetallBuffer returns binary values under text fields', async () => {
    const key = k('bin-values');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await r.hset(key, 'all', all, 'rev', Buffer.from(all).reverse());
    const got = await r.hgetallBuffer(key);
    expect(got.all.equals(all)).toBe(true);
    expect(got.rev.equals(Buffer.from(all).reverse())).toBe(true);
    expect(await r.hstrlen(key, 'all')).toBe(256);
  });

  it('HINCRBY and HINCRBYFLOAT work on binary field names', async () => {
    const key = k('bin-incr');
    const f = Buffer.from([0, 255, 10]);
    expect(await r.hincrby(key, f, 3)).toBe(3);
    expect(await r.hincrbyfloat(key, f, '0.5')).toBe('3.5');
  });
});

describe('keyspace events', () => {
  it('HSET on a new key emits new then hset; on an existing key only hset', async () => {
    expect(
      await events(async () => {
        await r.hset(k('ev1'), 'a', '1');
        await r.hset(k('ev1'), 'a', '2', 'b', '3');
        await r.call('HMSET', k('ev1'), 'c', '4');
      }),
    ).toEqual(['ev1 new', 'ev1 hset', 'ev1 hset', 'ev1 hset']);
  });

  it('HSETNX emits hset only when it sets', async () => {
    expect(
      await events(async () => {
        await r.hsetnx(k('ev2'), 'a', '1');
        await r.hsetnx(k('ev2'), 'a', '2');
      }),
    ).toEqual(['ev2 new', 'ev2 hset']);
  });

  it('HDEL emits hdel, and del after the last field', async () => {
    await r.hset(k('ev3'), 'a', '1', 'b', '2');
    expect(
      await events(async () => {
        await r.hdel(k('ev3'), 'x');
        await r.hdel(k('ev3'), 'a');
        await r.hdel(k('ev3'), 'b', 'c');
        await r.hdel(k('ev3'), 'b');
      }),
    ).toEqual(['ev3 hdel', 'ev3 hdel', 'ev3 del']);
  });

  it('HINCRBY and HINCRBYFLOAT emit their own events, and nothing on error', async () => {
    expect(
      await events(async () => {
        await r.hincrby(k('ev4'), 'n', 1);
        await r.hincrbyfloat(k('ev4'), 'n', '1.5');
        await err(r.hincrby(k('ev4'), 'n', 1));
        await err(r.call('HINCRBYFLOAT', k('ev4'), 'n', 'x'));
      }),
    ).toEqual(['ev4 new', 'ev4 hincrby', 'ev4 hincrbyfloat']);
  });

  it('read commands emit nothing', async () => {
    await r.hset(k('ev5'), 'a', '1');
    expect(
      await events(async () => {
        await r.hget(k('ev5'), 'a');
        await r.hgetall(k('ev5'));
        await r.hscan(k('ev5'), '0');
        await r.hrandfield(k('ev5'), 2, 'WITHVALUES');
        await r.hlen(k('ev5'));
      }),
    ).toEqual([]);
  });
});

describe('RESP3 reply shapes', () => {
  it('HGETALL is a map and HRANDFIELD WITHVALUES an array of [field, value] pairs', async () => {
    const key = k('resp3');
    await r.hset(key, 'f', 'v');
    const [all, rand, randNeg, plain, keys, empty] = await resp3(server, [
      ['HGETALL', key],
      ['HRANDFIELD', key, '5', 'WITHVALUES'],
      ['HRANDFIELD', key, '-2', 'WITHVALUES'],
      ['HRANDFIELD', key, '5'],
      ['HKEYS', key],
      ['HGETALL', k('missing')],
    ]);
    expect(all).toEqual({ map: [['f', 'v']] });
    expect(rand).toEqual([['f', 'v']]);
    expect(randNeg).toEqual([
      ['f', 'v'],
      ['f', 'v'],
    ]);
    expect(plain).toEqual(['f']);
    expect(keys).toEqual(['f']);
    expect(empty).toEqual({ map: [] });
  });
});
