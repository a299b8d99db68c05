import type Redis from 'ioredis';
import { describe, expect, it } from 'vitest';
import { err, WRONGTYPE } from '../helpers/errors.js';
import { useKeyspaceEvents } from '../helpers/events.js';
import { resp3 } from '../helpers/resp3.js';
import type { RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// Set commands through ioredis against a running kvws (or the server at REDIS_URL): only Redis-compatible
// behaviour is asserted. Keys carry a per-run prefix, so the file can share a real Redis with other files.

let server: RunningServer;
let r: Redis;
const P = `settest-${process.pid}-${Date.now()}:`;
const k = (name: string): string => P + name;

useServer((s, connect) => {
  server = s;
  r = connect();
});

// events(fn): the keyspace events `fn` causes on this file's keys, as "name event" (name without the prefix),
// in order. Notifications stay on for the whole file: A = g$lshzxetd; `new` events need their own class, n.
const events = useKeyspaceEvents({ server: () => server, r: () => r, prefix: P, db: '*', key: k, flags: 'KEAn' });

const sorted = (xs: string[]): string[] => [...xs].sort();

describe('SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD', () => {
  it('SADD counts new members and SMEMBERS lists them', async () => {
    const key = k('sadd');
    expect(await r.sadd(key, 'a', 'b', 'a')).toBe(2);
    expect(await r.sadd(key, 'b', 'c')).toBe(1);
    expect(await r.sadd(key, 'c')).toBe(0);
    expect(await r.sadd(key, '')).toBe(1);
    expect(sorted(await r.smembers(key))).toEqual(['', 'a', 'b', 'c']);
    expect(await r.scard(key)).toBe(4);
    expect(await r.type(key)).toBe('set');
  });

  it('SREM counts removed members and deletes the emptied key', async () => {
    const key = k('srem');
    await r.sadd(key, 'a', 'b', 'c');
    expect(await r.srem(key, 'a', 'a', 'x')).toBe(1);
    expect(await r.srem(key, 'x')).toBe(0);
    expect(await r.srem(key, 'b', 'c', 'd')).toBe(2);
    expect(await r.exists(key)).toBe(0);
    expect(await r.srem(key, 'a')).toBe(0);
  });

  it('SISMEMBER and SMISMEMBER', async () => {
    const key = k('ismember');
    await r.sadd(key, 'a', 'b');
    expect(await r.sismember(key, 'a')).toBe(1);
    expect(await r.sismember(key, 'z')).toBe(0);
    expect(await r.smismember(key, 'a', 'z', 'b', 'a')).toEqual([1, 0, 1, 1]);
    expect(await r.smismember(k('missing'), 'a', 'b')).toEqual([0, 0]);
  });

  it('treats a missing key as an empty set', async () => {
    const key = k('missing');
    expect(await r.smembers(key)).toEqual([]);
    expect(await r.scard(key)).toBe(0);
    expect(await r.sismember(key, 'a')).toBe(0);
    expect(await r.spop(key)).toBeNull();
    expect(await r.spop(key, 3)).toEqual([]);
    expect(await r.srandmember(key)).toBeNull();
    expect(await r.srandmember(key, 3)).toEqual([]);
    expect(await r.srandmember(key, -3)).toEqual([]);
    expect(await r.sscan(key, '0')).toEqual(['0', []]);
  });
});

describe('WRONGTYPE', () => {
  it('every set command refuses a string key', async () => {
    const key = k('string');
    const set = k('a-set');
    await r.set(key, 'x');
    await r.sadd(set, 'm');
    const calls: string[][] = [
      ['SADD', key, 'a'],
      ['SREM', key, 'a'],
      ['SMEMBERS', key],
      ['SISMEMBER', key, 'a'],
      ['SMISMEMBER', key, 'a'],
      ['SCARD', key],
      ['SPOP', key],
      ['SPOP', key, '2'],
      ['SRANDMEMBER', key],
      ['SRANDMEMBER', key, '-2'],
      ['SMOVE', key, set, 'm'],
      ['SMOVE', set, key, 'm'],
      ['SINTER', set, key],
      ['SINTER', key, k('missing')],
      ['SUNION', set, key],
      ['SDIFF', set, key],
      ['SDIFF', k('missing'), key],
      ['SINTERSTORE', k('dst'), set, key],
      ['SUNIONSTORE', k('dst'), set, key],
      ['SDIFFSTORE', k('dst'), set, key],
      ['SINTERCARD', '2', set, key],
      ['SSCAN', key, '0'],
    ];
    for (const [cmd, ...args] of calls) {
      expect(await err(r.call(cmd, ...args)), `${cmd} ${args.join(' ')}`).toBe(WRONGTYPE);
    }
    expect(await r.get(key)).toBe('x');
    expect(await r.smembers(set)).toEqual(['m']);
    expect(await r.exists(k('dst'))).toBe(0);
  });
});

describe('SPOP', () => {
  it('pops one random member and deletes the emptied key', async () => {
    const key = k('spop');
    await r.sadd(key, 'a', 'b', 'c');
    const popped = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const m = await r.spop(key);
      expect(['a', 'b', 'c']).toContain(m);
      popped.add(m as string);
    }
    expect(popped.size).toBe(3);
    expect(await r.exists(key)).toBe(0);
    expect(await r.spop(key)).toBeNull();
  });

  it('pops count distinct members', async () => {
    const key = k('spop-count');
    const members = Array.from({ length: 300 }, (_, i) => `m${i}`);
    await r.sadd(key, ...members);
    const all = new Set<string>();
    for (const n of [1, 10, 100, 50]) {
      const got = await r.spop(key, n);
      expect(got).toHaveLength(n);
      for (const m of got) {
        expect(all.has(m)).toBe(false);
        all.add(m);
      }
    }
    expect(await r.scard(key)).toBe(139);
    for (const m of await r.smembers(key)) expect(all.has(m)).toBe(false);
    expect(await r.spop(key, 0)).toEqual([]);
    expect(await r.scard(key)).toBe(139);
    const rest = await r.spop(key, 1000);
    expect(rest).toHaveLength(139);
    expect(await r.exists(key)).toBe(0);
  });

  it('rejects a negative or malformed count and extra arguments', async () => {
    const key = k('spop-errors');
    await r.sadd(key, 'a');
    expect(await err(r.call('SPOP', key, '-1'))).toBe('ERR value is out of range, must be positive');
    expect(await err(r.call('SPOP', key, 'x'))).toBe('ERR value is out of range, must be positive');
    expect(await err(r.call('SPOP', key, '1', '2'))).toBe('ERR syntax error');
    expect(await r.scard(key)).toBe(1);
  });
});

describe('SRANDMEMBER', () => {
  it('returns one member without removing it', async () => {
    const key = k('srand-one');
    await r.sadd(key, 'a', 'b', 'c');
    for (let i = 0; i < 20; i++) expect(['a', 'b', 'c']).toContain(await r.srandmember(key));
    expect(await r.scard(key)).toBe(3);
  });

  it('with a positive count returns distinct members, at most the whole set', async () => {
    const key = k('srand-pos');
    await r.sadd(key, ...Array.from({ length: 200 }, (_, i) => `m${i}`));
    for (const n of [1, 5, 60, 150, 199, 200, 1000]) {
      const got = await r.srandmember(key, n);
      expect(got).toHaveLength(Math.min(n, 200));
      expect(new Set(got).size).toBe(got.length);
    }
    expect(await r.srandmember(key, 0)).toEqual([]);
    expect(await r.scard(key)).toBe(200);
  });

  it('with a negative count returns exactly that many, repeats allowed', async () => {
    const key = k('srand-neg');
    await r.sadd(key, 'a', 'b');
    const got = await r.srandmember(key, -50);
    expect(got).toHaveLength(50);
    for (const m of got) expect(['a', 'b']).toContain(m);
  });

  it('validates the count', async () => {
    const key = k('srand-errors');
    await r.sadd(key, 'a');
    expect(await err(r.call('SRANDMEMBER', key, 'x'))).toBe('ERR value is not an integer or out of range');
    expect(await err(r.call('SRANDMEMBER', key, '1', '2'))).toBe('ERR syntax error');
    expect(await err(r.call('SRANDMEMBER', key, '-9223372036854775808'))).toBe(
      'ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807',
    );
  });
});

describe('SMOVE', () => {
  it('moves a member, creating the destination and deleting an emptied source', async () => {
    const src = k('smove-src');
    const dst = k('smove-dst');
    await r.sadd(src, 'a', 'b');
    expect(await r.smove(src, dst, 'a')).toBe(1);
    expect(await r.smembers(src)).toEqual(['b']);
    expect(await r.smembers(dst)).toEqual(['a']);
    expect(await r.smove(src, dst, 'x')).toBe(0);
    await r.sadd(dst, 'b');
    expect(await r.smove(src, dst, 'b')).toBe(1);
    expect(await r.exists(src)).toBe(0);
    expect(sorted(await r.smembers(dst))).toEqual(['a', 'b']);
    expect(await r.smove(src, dst, 'a')).toBe(0);
  });

  it('with source equal to destination only reports membership', async () => {
    const key = k('smove-same');
    await r.sadd(key, 'a');
    expect(await r.smove(key, key, 'a')).toBe(1);
    expect(await r.smove(key, key, 'b')).toBe(0);
    expect(await r.smembers(key)).toEqual(['a']);
  });

  it('returns 0 for a missing source even when the destination has the wrong type', async () => {
    const str = k('smove-str');
    await r.set(str, 'x');
    expect(await r.smove(k('missing'), str, 'a')).toBe(0);
  });
});

describe('SINTER, SUNION, SDIFF and their STORE forms', () => {
  const a = k('ops-a');
  const b = k('ops-b');
  const c = k('ops-c');
  const setup = async (): Promise<void> => {
    await r.del(a, b, c);
    await r.sadd(a, '1', '2', '3', '4');
    await r.sadd(b, '3', '4', '5');
    await r.sadd(c, '4', '6');
  };

  it('computes intersections, unions and differences; missing keys are empty sets', async () => {
    await setup();
    const missing = k('missing');
    expect(sorted(await r.sinter(a, b))).toEqual(['3', '4']);
    expect(sorted(await r.sinter(a, b, c))).toEqual(['4']);
    expect(sorted(await r.sinter(a))).toEqual(['1', '2', '3', '4']);
    expect(sorted(await r.sinter(a, a))).toEqual(['1', '2', '3', '4']);
    expect(await r.sinter(a, missing)).toEqual([]);
    expect(sorted(await r.sunion(a, b, c))).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(sorted(await r.sunion(missing, c))).toEqual(['4', '6']);
    expect(await r.sunion(missing)).toEqual([]);
    expect(sorted(await r.sdiff(a, b))).toEqual(['1', '2']);
    expect(sorted(await r.sdiff(a, b, c))).toEqual(['1', '2']);
    expect(sorted(await r.sdiff(a, missing))).toEqual(['1', '2', '3', '4']);
    expect(await r.sdiff(missing, a)).toEqual([]);
    expect(await r.sdiff(a, a)).toEqual([]);
    expect(await r.sdiff(a, c, a)).toEqual([]);
  });

  it('STORE forms store the result, replacing any value and its TTL', async () => {
    await setup();
    const dst = k('ops-dst');
    await r.set(dst, 'a string', 'EX', 1000);
    expect(await r.sinterstore(dst, a, b)).toBe(2);
    expect(await r.type(dst)).toBe('set');
    expect(await r.ttl(dst)).toBe(-1);
    expect(sorted(await r.smembers(dst))).toEqual(['3', '4']);
    expect(await r.sunionstore(dst, a, c)).toBe(5);
    expect(sorted(await r.smembers(dst))).toEqual(['1', '2', '3', '4', '6']);
    expect(await r.sdiffstore(dst, a, b)).toBe(2);
    expect(sorted(await r.smembers(dst))).toEqual(['1', '2']);
    // The destination may be one of the sources.
    expect(await r.sunionstore(dst, dst, c)).toBe(4);
    expect(sorted(await r.smembers(dst))).toEqual(['1', '2', '4', '6']);
    expect(sorted(await r.smembers(a))).toEqual(['1', '2', '3', '4']);
  });

  it('STORE of an empty result deletes the destination', async () => {
    await setup();
    const dst = k('ops-empty');
    for (const store of [
      () => r.sinterstore(dst, a, k('missing')),
      () => r.sinterstore(dst, b, k('ops-none'), a),
      () => r.sunionstore(dst, k('missing')),
      () => r.sdiffstore(dst, a, a),
      () => r.sdiffstore(dst, k('missing'), a),
    ]) {
      await r.set(dst, 'x');
      expect(await store()).toBe(0);
      expect(await r.exists(dst)).toBe(0);
    }
    expect(await r.sinterstore(dst, a, k('missing'))).toBe(0);
    expect(await r.exists(dst)).toBe(0);
  });
});

describe('SINTERCARD', () => {
  it('counts the intersection, with an optional LIMIT', async () => {
    const a = k('card-a');
    const b = k('card-b');
    await r.sadd(a, '1', '2', '3', '4', '5');
    await r.sadd(b, '2', '3', '4', '5', '6');
    expect(await r.call('SINTERCARD', '2', a, b)).toBe(4);
    expect(await r.call('SINTERCARD', '1', a)).toBe(5);
    expect(await r.call('SINTERCARD', '2', a, b, 'LIMIT', '2')).toBe(2);
    expect(await r.call('SINTERCARD', '2', a, b, 'limit', '0')).toBe(4);
    expect(await r.call('SINTERCARD', '2', a, b, 'LIMIT', '100')).toBe(4);
    expect(await r.call('SINTERCARD', '2', a, k('missing'))).toBe(0);
    expect(await r.call('SINTERCARD', '2', a, a)).toBe(5);
  });

  it('validates numkeys and options', async () => {
    const a = k('card-e');
    await r.sadd(a, '1');
    expect(await err(r.call('SINTERCARD', '0', a))).toBe('ERR numkeys should be greater than 0');
    expect(await err(r.call('SINTERCARD', '-1', a))).toBe('ERR numkeys should be greater than 0');
    expect(await err(r.call('SINTERCARD', 'x', a))).toBe('ERR numkeys should be greater than 0');
    expect(await err(r.call('SINTERCARD', '3', a, a))).toBe("ERR Number of keys can't be greater than number of args");
    expect(await err(r.call('SINTERCARD', '1', a, 'LIMIT', '-1'))).toBe("ERR LIMIT can't be negative");
    expect(await err(r.call('SINTERCARD', '1', a, 'LIMIT', 'x'))).toBe("ERR LIMIT can't be negative");
    expect(await err(r.call('SINTERCARD', '1', a, 'LIMIT'))).toBe('ERR syntax error');
    expect(await err(r.call('SINTERCARD', '1', a, a))).toBe('ERR syntax error');
  });
});

describe('SSCAN', () => {
  it('returns a small set in one call with cursor 0', async () => {
    const key = k('sscan-small');
    // Integers: an intset in every Redis version, answered in one call whatever COUNT says.
    await r.sadd(key, ...Array.from({ length: 20 }, (_, i) => String(i)));
    const [cursor, items] = await r.sscan(key, '0', 'COUNT', '1');
    expect(cursor).toBe('0');
    expect(items).toHaveLength(20);
  });

  it('iterates a large set completely, with MATCH', async () => {
    const key = k('sscan-large');
    await r.sadd(key, ...Array.from({ length: 1000 }, (_, i) => `m${i}`));
    const seen = new Set<string>();
    let cursor = '0';
    let calls = 0;
    do {
      const [next, items] = await r.sscan(key, cursor, 'COUNT', '50');
      for (const m of items) seen.add(m);
      cursor = next;
      calls++;
    } while (cursor !== '0' && calls < 10_000);
    expect(cursor).toBe('0');
    expect(calls).toBeGreaterThan(1);
    expect(seen.size).toBe(1000);

    const matched = new Set<string>();
    cursor = '0';
    do {
      const [next, items] = await r.sscan(key, cursor, 'MATCH', 'm[12]?', 'COUNT', '100');
      for (const m of items) {
        expect(m).toMatch(/^m[12]\d$/);
        matched.add(m);
      }
      cursor = next;
    } while (cursor !== '0');
    expect(matched.size).toBe(20);
  });

  it('validates the cursor and the options', async () => {
    const key = k('sscan-errors');
    await r.sadd(key, 'a');
    expect(await err(r.sscan(key, 'x'))).toBe('ERR invalid cursor');
    expect(await err(r.sscan(key, '1 '))).toBe('ERR invalid cursor');
    expect(await err(r.sscan(key, '18446744073709551616'))).toBe('ERR invalid cursor');
    // strtoul's forms of 0: a sign, or the empty string.
    for (const cursor of ['', '+0', '-0']) {
      expect(await r.call('SSCAN', key, cursor), JSON.stringify(cursor)).toEqual(['0', ['a']]);
    }
    expect(await err(r.call('SSCAN', key, '0', 'COUNT', '0'))).toBe('ERR syntax error');
    expect(await err(r.call('SSCAN', key, '0', 'COUNT', 'x'))).toBe('ERR value is not an integer or out of range');
    expect(await err(r.call('SSCAN', key, '0', 'MATCH'))).toBe('ERR syntax error');
    expect(await err(r.call('SSCAN', key, '0', 'NOVALUES'))).toBe('ERR syntax error');
    expect(await err(r.call('SSCAN', key, '0', 'TYPE', 'set'))).toBe('ERR syntax error');
  });
});

describe('binary safety', () => {
  it('stores all 256 byte values as members', async () => {
    const key = Buffer.concat([Buffer.from(k('bin')), Buffer.from([0, 255, 13, 10])]);
    const single = Array.from({ length: 256 }, (_, i) => Buffer.from([i]));
    const triple = Array.from({ length: 256 }, (_, i) => Buffer.from([i, 0, 255 - i]));
    expect(await r.sadd(key, ...single, ...triple)).toBe(512);
    expect(await r.sadd(key, ...single)).toBe(0);
    expect(await r.scard(key)).toBe(512);
    const expected = [...single, ...triple].map((b) => b.toString('hex')).sort();

    const members = (await r.smembersBuffer(key)).map((b) => b.toString('hex')).sort();
    expect(members).toEqual(expected);
    for (let i = 0; i < 256; i += 15) {
      expect(await r.sismember(key, single[i])).toBe(1);
      expect(await r.sismember(key, triple[i])).toBe(1);
    }
    expect(await r.smismember(key, single[0], single[255], Buffer.from([1, 1]))).toEqual([1, 1, 0]);

    const scanned = new Set<string>();
    let cursor: string = '0';
    do {
      const [next, items]: [Buffer, Buffer[]] = await r.sscanBuffer(key, cursor, 'COUNT', 30);
      for (const m of items) scanned.add(m.toString('hex'));
      cursor = next.toString();
    } while (cursor !== '0');
    expect([...scanned].sort()).toEqual(expected);

    const other = Buffer.concat([Buffer.from(k('bin2')), Buffer.from([200])]);
    await r.sadd(other, ...single);
    expect((await r.sdiffBuffer(key, other)).map((b) => b.toString('hex')).sort()).toEqual(
      triple.map((b) => b.toString('hex')).sort(),
    );
    expect(await r.sinterstore(other, key, other)).toBe(256);
    const rand = (await r.srandmemberBuffer(key, 600)) as Buffer[];
    expect(rand.map((b) => b.toString('hex')).sort()).toEqual(expected);
    const popped = (await r.spopBuffer(key, 512)) as Buffer[];
    expect(popped.map((b) => b.toString('hex')).sort()).toEqual(expected);
    expect(await r.exists(key)).toBe(0);
  });
});

describe('keyspace events', () => {
  it('SADD emits new and sadd; nothing when no member was added', async () => {
    expect(
      await events(async () => {
        await r.sadd(k('ev1'), 'a', 'b');
        await r.sadd(k('ev1'), 'a');
        await r.sadd(k('ev1'), 'c');
      }),
    ).toEqual(['ev1 new', 'ev1 sadd', 'ev1 sadd']);
  });

  it('SREM emits srem, and del after the last member', async () => {
    await r.sadd(k('ev2'), 'a', 'b');
    expect(
      await events(async () => {
        await r.srem(k('ev2'), 'x');
        await r.srem(k('ev2'), 'a');
        await r.srem(k('ev2'), 'b', 'c');
      }),
    ).toEqual(['ev2 srem', 'ev2 srem', 'ev2 del']);
  });

  it('SPOP emits spop, and del when the set is emptied', async () => {
    await r.sadd(k('ev3'), 'a', 'b', 'c', 'd');
    expect(
      await events(async () => {
        await r.spop(k('ev3'));
        await r.spop(k('ev3'), 0);
        await r.spop(k('ev3'), 2);
        await r.spop(k('ev3'), 5);
        await r.spop(k('ev3'));
      }),
    ).toEqual(['ev3 spop', 'ev3 spop', 'ev3 spop', 'ev3 del']);
  });

  it('SMOVE emits srem (and del) on the source, then new and sadd on the destination', async () => {
    await r.sadd(k('ev4-src'), 'a', 'b');
    await r.sadd(k('ev4-other'), 'b');
    expect(
      await events(async () => {
        await r.smove(k('ev4-src'), k('ev4-dst'), 'a');
        await r.smove(k('ev4-src'), k('ev4-dst'), 'x');
        await r.smove(k('ev4-src'), k('ev4-other'), 'b');
      }),
    ).toEqual(['ev4-src srem', 'ev4-dst new', 'ev4-dst sadd', 'ev4-src srem', 'ev4-src del']);
  });

  it('STORE forms emit their own event, or del for an empty result', async () => {
    await r.sadd(k('ev5-a'), '1', '2');
    await r.sadd(k('ev5-b'), '2', '3');
    expect(
      await events(async () => {
        await r.sinterstore(k('ev5-d'), k('ev5-a'), k('ev5-b'));
        await r.sunionstore(k('ev5-d'), k('ev5-a'), k('ev5-b'));
        await r.sdiffstore(k('ev5-d'), k('ev5-a'), k('ev5-b'));
        await r.sinterstore(k('ev5-d'), k('ev5-a'), k('ev5-none'));
        await r.sdiffstore(k('ev5-d'), k('ev5-a'), k('ev5-a'));
        await r.sunionstore(k('ev5-e'), k('ev5-a'));
      }),
    ).toEqual([
      'ev5-d new',
      'ev5-d sinterstore',
      'ev5-d sunionstore',
      'ev5-d sdiffstore',
      'ev5-d del',
      'ev5-e new',
      'ev5-e sunionstore',
    ]);
  });

  it('read commands emit nothing', async () => {
    await r.sadd(k('ev6'), 'a', 'b');
    expect(
      await events(async () => {
        await r.smembers(k('ev6'));
        await r.sinter(k('ev6'), k('ev6'));
        await r.sscan(k('ev6'), '0');
        await r.srandmember(k('ev6'), -3);
        await r.call('SINTERCARD', '1', k('ev6'));
        await r.smove(k('ev6'), k('ev6'), 'a');
      }),
    ).toEqual([]);
  });
});

describe('RESP3 reply shapes', () => {
  it('SMEMBERS, SINTER, SUNION, SDIFF and SPOP with count are sets; SRANDMEMBER with count an array', async () => {
    const key = k('resp3');
    await r.sadd(key, 'm');
    const replies = await resp3(server, [
      ['SMEMBERS', key],
      ['SINTER', key, key],
      ['SUNION', key],
      ['SDIFF', key, k('missing')],
      ['SMEMBERS', k('missing')],
      ['SRANDMEMBER', key, '3'],
      ['SRANDMEMBER', key, '-2'],
      ['SMISMEMBER', key, 'm', 'x'],
      ['SPOP', key, '0'],
      ['SPOP', key, '5'],
    ]);
    expect(replies).toEqual([
      { set: ['m'] },
      { set: ['m'] },
      { set: ['m'] },
      { set: ['m'] },
      { set: [] },
      ['m'],
      ['m', 'm'],
      [1, 0],
      { set: [] },
      { set: ['m'] },
    ]);
  });
});
