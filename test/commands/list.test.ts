import type Redis from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NOT_INT, SYNTAX, WRONGTYPE } from '../helpers/errors.js';
import { keyevents } from '../helpers/events.js';
import { type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep, waitBlocked } from '../helpers/wait.js';

// Only Redis-compatible behaviour is asserted: with REDIS_URL set, the same file runs against real Redis 7.
let server: RunningServer;
let r: Redis;
const extra: Redis[] = [];

useServer((s) => {
  server = s;
  r = redisClient(s.port);
});

afterAll(() => {
  r.disconnect();
});

// Connections opened by a test are closed after it, so a client left blocked by a failure cannot
// disturb the next test's blocked-client counts.
afterEach(async () => {
  if (extra.length === 0) return;
  for (const c of extra.splice(0)) c.disconnect();
  await waitBlocked(r, 0);
});

let seq = 0;
/** A key name unique to this run, so the file can share a server with others. */
const k = (name: string) => `list-test:${process.pid}:${++seq}:${name}`;

/** Another connection, closed in afterAll. */
function client(): Redis {
  const c = redisClient(server.port);
  extra.push(c);
  return c;
}

/** Marks a reply we await later as handled, so a test that fails first leaves no unhandled rejection. */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

describe('LPUSH / RPUSH / LPUSHX / RPUSHX', () => {
  it('push at both ends and reply with the length', async () => {
    const key = k('l');
    expect(await r.rpush(key, 'a', 'b')).toBe(2);
    expect(await r.lpush(key, 'x', 'y')).toBe(4);
    expect(await r.rpush(key, 'c')).toBe(5);
    expect(await r.lrange(key, 0, -1)).toEqual(['y', 'x', 'a', 'b', 'c']);
    expect(await r.type(key)).toBe('list');
  });

  it('the X forms push only onto an existing list', async () => {
    const key = k('l');
    expect(await r.lpushx(key, 'a')).toBe(0);
    expect(await r.rpushx(key, 'a', 'b')).toBe(0);
    expect(await r.exists(key)).toBe(0);
    await r.rpush(key, 'm');
    expect(await r.lpushx(key, 'a', 'b')).toBe(3);
    expect(await r.rpushx(key, 'y', 'z')).toBe(5);
    expect(await r.lrange(key, 0, -1)).toEqual(['b', 'a', 'm', 'y', 'z']);
  });

  it('refuse other types', async () => {
    const key = k('s');
    await r.set(key, 'v');
    for (const cmd of ['LPUSH', 'RPUSH', 'LPUSHX', 'RPUSHX']) {
      await expect(r.call(cmd, key, 'a')).rejects.toThrow(WRONGTYPE);
    }
  });

  it('check arity', async () => {
    await expect(r.call('LPUSH', k('l'))).rejects.toThrow("ERR wrong number of arguments for 'lpush' command");
  });
});

describe('LPOP / RPOP', () => {
  it('pop one element, deleting the emptied key', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c');
    expect(await r.lpop(key)).toBe('a');
    expect(await r.rpop(key)).toBe('c');
    expect(await r.lpop(key)).toBe('b');
    expect(await r.exists(key)).toBe(0);
    expect(await r.lpop(key)).toBeNull();
    expect(await r.rpop(key)).toBeNull();
  });

  it('pop with a count', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c', 'd', 'e');
    expect(await r.lpop(key, 2)).toEqual(['a', 'b']);
    expect(await r.rpop(key, 2)).toEqual(['e', 'd']);
    expect(await r.lpop(key, 0)).toEqual([]);
    expect(await r.rpop(key, 10)).toEqual(['c']);
    expect(await r.exists(key)).toBe(0);
    expect(await r.lpop(key, 2)).toBeNull();
    expect(await r.lpop(key, 0)).toBeNull();
  });

  it('reject a bad count, too many arguments and other types', async () => {
    const key = k('l');
    await r.rpush(key, 'a');
    await expect(r.lpop(key, -1)).rejects.toThrow('ERR value is out of range, must be positive');
    await expect(r.call('RPOP', key, 'x')).rejects.toThrow('ERR value is out of range, must be positive');
    await expect(r.call('LPOP', key, '1', '2')).rejects.toThrow("ERR wrong number of arguments for 'lpop' command");
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.lpop(s)).rejects.toThrow(WRONGTYPE);
    await expect(r.rpop(s, 0)).rejects.toThrow(WRONGTYPE);
  });
});

describe('LLEN / LRANGE / LINDEX', () => {
  it('LLEN', async () => {
    const key = k('l');
    expect(await r.llen(key)).toBe(0);
    await r.rpush(key, 'a', 'b', 'c');
    expect(await r.llen(key)).toBe(3);
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.llen(s)).rejects.toThrow(WRONGTYPE);
  });

  it('LRANGE with negative and out-of-range indexes', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c', 'd');
    expect(await r.lrange(key, 0, -1)).toEqual(['a', 'b', 'c', 'd']);
    expect(await r.lrange(key, 1, 2)).toEqual(['b', 'c']);
    expect(await r.lrange(key, -3, -2)).toEqual(['b', 'c']);
    expect(await r.lrange(key, -100, 100)).toEqual(['a', 'b', 'c', 'd']);
    expect(await r.lrange(key, 2, 1)).toEqual([]);
    expect(await r.lrange(key, 4, 10)).toEqual([]);
    expect(await r.lrange(key, 0, -5)).toEqual([]);
    expect(await r.lrange(k('none'), 0, -1)).toEqual([]);
    await expect(r.call('LRANGE', key, 'a', '1')).rejects.toThrow(NOT_INT);
    await expect(r.call('LRANGE', key, '0', '1.5')).rejects.toThrow(NOT_INT);
  });

  it('LINDEX', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c');
    expect(await r.lindex(key, 0)).toBe('a');
    expect(await r.lindex(key, 2)).toBe('c');
    expect(await r.lindex(key, -1)).toBe('c');
    expect(await r.lindex(key, -3)).toBe('a');
    expect(await r.lindex(key, 3)).toBeNull();
    expect(await r.lindex(key, -4)).toBeNull();
    expect(await r.lindex(k('none'), 0)).toBeNull();
    await expect(r.call('LINDEX', key, 'x')).rejects.toThrow(NOT_INT);
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.lindex(s, 0)).rejects.toThrow(WRONGTYPE);
  });
});

describe('LSET / LINSERT', () => {
  it('LSET replaces by index', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c');
    expect(await r.lset(key, 0, 'A')).toBe('OK');
    expect(await r.lset(key, -1, 'C')).toBe('OK');
    expect(await r.lrange(key, 0, -1)).toEqual(['A', 'b', 'C']);
    await expect(r.lset(key, 3, 'x')).rejects.toThrow('ERR index out of range');
    await expect(r.lset(key, -4, 'x')).rejects.toThrow('ERR index out of range');
    await expect(r.lset(k('none'), 0, 'x')).rejects.toThrow('ERR no such key');
    await expect(r.call('LSET', key, 'x', 'y')).rejects.toThrow(NOT_INT);
  });

  it('LINSERT before and after the first pivot', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'a');
    expect(await r.linsert(key, 'BEFORE', 'a', 'x')).toBe(4);
    expect(await r.call('LINSERT', key, 'after', 'b', 'y')).toBe(5);
    expect(await r.lrange(key, 0, -1)).toEqual(['x', 'a', 'b', 'y', 'a']);
    expect(await r.linsert(key, 'AFTER', 'zz', 'q')).toBe(-1);
    expect(await r.linsert(k('none'), 'AFTER', 'a', 'q')).toBe(0);
    await expect(r.call('LINSERT', key, 'MIDDLE', 'a', 'q')).rejects.toThrow(SYNTAX);
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.linsert(s, 'BEFORE', 'a', 'b')).rejects.toThrow(WRONGTYPE);
  });
});

describe('LREM / LTRIM', () => {
  it('LREM removes from the head, the tail or everywhere', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'a', 'c', 'a', 'b', 'a');
    expect(await r.lrem(key, 2, 'a')).toBe(2);
    expect(await r.lrange(key, 0, -1)).toEqual(['b', 'c', 'a', 'b', 'a']);
    expect(await r.lrem(key, -1, 'b')).toBe(1);
    expect(await r.lrange(key, 0, -1)).toEqual(['b', 'c', 'a', 'a']);
    expect(await r.lrem(key, 0, 'a')).toBe(2);
    expect(await r.lrange(key, 0, -1)).toEqual(['b', 'c']);
    expect(await r.lrem(key, 0, 'zz')).toBe(0);
    expect(await r.lrem(key, 0, 'b')).toBe(1);
    expect(await r.lrem(key, -5, 'c')).toBe(1);
    expect(await r.exists(key)).toBe(0);
    expect(await r.lrem(key, 0, 'c')).toBe(0);
    await expect(r.call('LREM', key, 'x', 'a')).rejects.toThrow(NOT_INT);
  });

  it('LTRIM keeps a range and deletes an emptied list', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c', 'd', 'e');
    expect(await r.ltrim(key, 1, -2)).toBe('OK');
    expect(await r.lrange(key, 0, -1)).toEqual(['b', 'c', 'd']);
    expect(await r.ltrim(key, -100, 100)).toBe('OK');
    expect(await r.lrange(key, 0, -1)).toEqual(['b', 'c', 'd']);
    expect(await r.ltrim(key, 0, 0)).toBe('OK');
    expect(await r.lrange(key, 0, -1)).toEqual(['b']);
    expect(await r.ltrim(key, 1, 0)).toBe('OK');
    expect(await r.exists(key)).toBe(0);
    expect(await r.ltrim(key, 0, 1)).toBe('OK');
    await expect(r.call('LTRIM', key, '0', 'x')).rejects.toThrow(NOT_INT);
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.ltrim(s, 0, 1)).rejects.toThrow(WRONGTYPE);
  });
});

describe('LPOS', () => {
  it('finds matches with RANK, COUNT and MAXLEN', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c', '1', '2', '3', 'c', 'c');
    const lpos = (...args: (string | number)[]) => r.call('LPOS', key, ...args);
    expect(await lpos('c')).toBe(2);
    expect(await lpos('zz')).toBeNull();
    expect(await lpos('c', 'RANK', 2)).toBe(6);
    expect(await lpos('c', 'RANK', -1)).toBe(7);
    expect(await lpos('c', 'RANK', 4)).toBeNull();
    expect(await lpos('c', 'COUNT', 2)).toEqual([2, 6]);
    expect(await lpos('c', 'COUNT', 0)).toEqual([2, 6, 7]);
    expect(await lpos('c', 'RANK', -1, 'COUNT', 2)).toEqual([7, 6]);
    expect(await lpos('c', 'rank', 2, 'count', 0)).toEqual([6, 7]);
    expect(await lpos('c', 'MAXLEN', 2)).toBeNull();
    expect(await lpos('c', 'MAXLEN', 3)).toBe(2);
    expect(await lpos('c', 'COUNT', 0, 'MAXLEN', 1)).toEqual([]);
    expect(await lpos('c', 'RANK', -1, 'COUNT', 0, 'MAXLEN', 2)).toEqual([7, 6]);
    expect(await lpos('zz', 'COUNT', 0)).toEqual([]);
    expect(await r.call('LPOS', k('none'), 'a')).toBeNull();
    expect(await r.call('LPOS', k('none'), 'a', 'COUNT', 1)).toEqual([]);
  });

  it('rejects bad options', async () => {
    const key = k('l');
    await r.rpush(key, 'a');
    await expect(r.call('LPOS', key, 'a', 'RANK', 0)).rejects.toThrow(
      "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
    );
    await expect(r.call('LPOS', key, 'a', 'RANK', 'x')).rejects.toThrow(NOT_INT);
    await expect(r.call('LPOS', key, 'a', 'COUNT', -1)).rejects.toThrow("ERR COUNT can't be negative");
    await expect(r.call('LPOS', key, 'a', 'MAXLEN', -1)).rejects.toThrow("ERR MAXLEN can't be negative");
    await expect(r.call('LPOS', key, 'a', 'COUNT')).rejects.toThrow(SYNTAX);
    await expect(r.call('LPOS', key, 'a', 'FOO', 1)).rejects.toThrow(SYNTAX);
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.call('LPOS', s, 'a')).rejects.toThrow(WRONGTYPE);
  });
});

describe('LMOVE / RPOPLPUSH', () => {
  it('moves between every pair of ends', async () => {
    const src = k('src');
    const dst = k('dst');
    await r.rpush(src, '1', '2', '3', '4');
    await r.rpush(dst, 'x');
    expect(await r.lmove(src, dst, 'LEFT', 'LEFT')).toBe('1');
    expect(await r.lmove(src, dst, 'RIGHT', 'RIGHT')).toBe('4');
    expect(await r.call('LMOVE', src, dst, 'left', 'right')).toBe('2');
    expect(await r.lmove(src, dst, 'RIGHT', 'LEFT')).toBe('3');
    expect(await r.exists(src)).toBe(0);
    expect(await r.lrange(dst, 0, -1)).toEqual(['3', '1', 'x', '4', '2']);
    expect(await r.lmove(src, dst, 'LEFT', 'LEFT')).toBeNull();
  });

  it('rotates a list onto itself', async () => {
    const key = k('l');
    await r.rpush(key, 'a', 'b', 'c');
    expect(await r.lmove(key, key, 'LEFT', 'RIGHT')).toBe('a');
    expect(await r.lrange(key, 0, -1)).toEqual(['b', 'c', 'a']);
    expect(await r.rpoplpush(key, key)).toBe('a');
    expect(await r.lrange(key, 0, -1)).toEqual(['a', 'b', 'c']);
    const one = k('one');
    await r.rpush(one, 'z');
    expect(await r.lmove(one, one, 'RIGHT', 'LEFT')).toBe('z');
    expect(await r.lrange(one, 0, -1)).toEqual(['z']);
  });

  it('RPOPLPUSH creates the destination', async () => {
    const src = k('src');
    const dst = k('dst');
    await r.rpush(src, 'a', 'b');
    expect(await r.rpoplpush(src, dst)).toBe('b');
    expect(await r.rpoplpush(src, dst)).toBe('a');
    expect(await r.lrange(dst, 0, -1)).toEqual(['a', 'b']);
    expect(await r.exists(src)).toBe(0);
    expect(await r.rpoplpush(src, dst)).toBeNull();
  });

  it('errors leave the source untouched', async () => {
    const src = k('src');
    const s = k('s');
    await r.rpush(src, 'a');
    await r.set(s, 'v');
    await expect(r.lmove(src, s, 'LEFT', 'LEFT')).rejects.toThrow(WRONGTYPE);
    await expect(r.rpoplpush(src, s)).rejects.toThrow(WRONGTYPE);
    await expect(r.lmove(s, src, 'LEFT', 'LEFT')).rejects.toThrow(WRONGTYPE);
    await expect(r.call('LMOVE', src, k('d'), 'UP', 'LEFT')).rejects.toThrow(SYNTAX);
    await expect(r.call('LMOVE', src, k('d'), 'LEFT', 'DOWN')).rejects.toThrow(SYNTAX);
    expect(await r.lrange(src, 0, -1)).toEqual(['a']);
    // A missing source replies nil before the destination's type is looked at.
    expect(await r.lmove(k('none'), s, 'LEFT', 'LEFT')).toBeNull();
  });
});

describe('LMPOP', () => {
  it('pops from the first non-empty list', async () => {
    const a = k('a');
    const b = k('b');
    await r.rpush(b, '1', '2', '3', '4');
    expect(await r.call('LMPOP', 2, a, b, 'LEFT')).toEqual([b, ['1']]);
    expect(await r.call('LMPOP', 2, a, b, 'RIGHT', 'COUNT', 2)).toEqual([b, ['4', '3']]);
    expect(await r.call('LMPOP', 2, a, b, 'left', 'count', 10)).toEqual([b, ['2']]);
    expect(await r.exists(b)).toBe(0);
    expect(await r.call('LMPOP', 2, a, b, 'LEFT')).toBeNull();
  });

  it('rejects bad arguments and other types', async () => {
    const a = k('a');
    await r.rpush(a, 'x');
    await expect(r.call('LMPOP', 0, a, 'LEFT')).rejects.toThrow('ERR numkeys should be greater than 0');
    await expect(r.call('LMPOP', 'x', a, 'LEFT')).rejects.toThrow('ERR numkeys should be greater than 0');
    await expect(r.call('LMPOP', 3, a, 'LEFT')).rejects.toThrow(SYNTAX);
    await expect(r.call('LMPOP', 1, a, 'UP')).rejects.toThrow(SYNTAX);
    await expect(r.call('LMPOP', 1, a, 'LEFT', 'COUNT', 0)).rejects.toThrow('ERR count should be greater than 0');
    await expect(r.call('LMPOP', 1, a, 'LEFT', 'COUNT', 1, 'COUNT', 1)).rejects.toThrow(SYNTAX);
    await expect(r.call('LMPOP', 1, a, 'LEFT', 'COUNT')).rejects.toThrow(SYNTAX);
    await expect(r.call('LMPOP', 1, a)).rejects.toThrow("ERR wrong number of arguments for 'lmpop' command");
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.call('LMPOP', 2, s, a, 'LEFT')).rejects.toThrow(WRONGTYPE);
    expect(await r.call('LMPOP', 2, a, s, 'LEFT')).toEqual([a, ['x']]);
  });
});

describe('blocking pops', { timeout: 10_000 }, () => {
  it('BLPOP / BRPOP serve at once when a list has data', async () => {
    const a = k('a');
    const b = k('b');
    await r.rpush(b, '1', '2', '3');
    expect(await r.blpop(a, b, 0)).toEqual([b, '1']);
    expect(await r.brpop(a, b, 1)).toEqual([b, '3']);
    expect(await r.call('BLMPOP', 0, 2, a, b, 'LEFT', 'COUNT', 5)).toEqual([b, ['2']]);
    expect(await r.exists(b)).toBe(0);
    await r.rpush(a, 'x', 'y');
    expect(await r.blmove(a, b, 'LEFT', 'RIGHT', 0)).toBe('x');
    expect(await r.brpoplpush(a, b, 0)).toBe('y');
    expect(await r.lrange(b, 0, -1)).toEqual(['y', 'x']);
  });

  it('parse timeouts as Redis does', async () => {
    const a = k('a');
    await expect(r.call('BLPOP', a, 'abc')).rejects.toThrow('ERR timeout is not a float or out of range');
    await expect(r.call('BRPOP', a, '1x')).rejects.toThrow('ERR timeout is not a float or out of range');
    await expect(r.call('BLPOP', a, '-1')).rejects.toThrow('ERR timeout is negative');
    await expect(r.call('BLMOVE', a, k('b'), 'LEFT', 'LEFT', '-0.5')).rejects.toThrow('ERR timeout is negative');
    await expect(r.call('BRPOPLPUSH', a, k('b'), 'x')).rejects.toThrow('ERR timeout is not a float or out of range');
    await expect(r.call('BLMPOP', 'x', 1, a, 'LEFT')).rejects.toThrow('ERR timeout is not a float or out of range');
    await expect(r.call('BLMPOP', 1, 0, a, 'LEFT')).rejects.toThrow('ERR numkeys should be greater than 0');
    await expect(r.call('BLMOVE', a, k('b'), 'UP', 'LEFT', 0)).rejects.toThrow(SYNTAX);
    await expect(r.call('BLPOP', a)).rejects.toThrow("ERR wrong number of arguments for 'blpop' command");
    const s = k('s');
    await r.set(s, 'v');
    await expect(r.blpop(s, 0)).rejects.toThrow(WRONGTYPE);
    await expect(r.brpoplpush(s, a, 0)).rejects.toThrow(WRONGTYPE);
  });

  it('BLPOP times out with nil after about the timeout', async () => {
    const started = Date.now();
    expect(await r.blpop(k('empty'), 0.1)).toBeNull();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(elapsed).toBeLessThan(2000);
    expect(await r.brpoplpush(k('empty'), k('d'), 0.05)).toBeNull();
    expect(await r.blmove(k('empty'), k('d'), 'LEFT', 'LEFT', 0.05)).toBeNull();
    expect(await r.call('BLMPOP', 0.05, 1, k('empty'), 'LEFT')).toBeNull();
    expect(await r.brpop(k('empty'), 0.05)).toBeNull();
  });

  it('serves two clients blocked on one key first come, first served', async () => {
    const key = k('q');
    const c1 = client();
    const c2 = client();
    const p1 = later(c1.blpop(key, 0));
    await waitBlocked(r, 1);
    const p2 = later(c2.blpop(key, 0));
    await waitBlocked(r, 2);
    expect(await r.lpush(key, 'a', 'b')).toBe(2);
    expect(await p1).toEqual([key, 'b']);
    expect(await p2).toEqual([key, 'a']);
    expect(await r.exists(key)).toBe(0);
  });

  it('wakes a client blocked on several keys with the key that got data', async () => {
    const a = k('a');
    const b = k('b');
    const c1 = client();
    const p = later(c1.brpop(a, b, 0));
    await waitBlocked(r, 1);
    await r.rpush(b, 'x', 'y');
    expect(await p).toEqual([b, 'y']);
    expect(await r.lrange(b, 0, -1)).toEqual(['x']);
  });

  it('BLMPOP wakes with up to COUNT elements', async () => {
    const a = k('a');
    const c1 = client();
    const p = later(c1.call('BLMPOP', 0, 1, a, 'RIGHT', 'COUNT', 2));
    await waitBlocked(r, 1);
    await r.rpush(a, '1', '2', '3');
    expect(await p).toEqual([a, ['3', '2']]);
    expect(await r.lrange(a, 0, -1)).toEqual(['1']);
  });

  it('BLMOVE wakes a second waiter blocked on its destination', async () => {
    const src = k('src');
    const dst = k('dst');
    const c1 = client();
    const c2 = client();
    const moved = later(c1.blmove(src, dst, 'LEFT', 'RIGHT', 0));
    await waitBlocked(r, 1);
    const popped = later(c2.blpop(dst, 0));
    await waitBlocked(r, 2);
    await r.lpush(src, 'x');
    expect(await moved).toBe('x');
    expect(await popped).toEqual([dst, 'x']);
    expect(await r.exists(src, dst)).toBe(0);
  });

  it('BRPOPLPUSH blocks until the source gets data', async () => {
    const src = k('src');
    const dst = k('dst');
    const c1 = client();
    const p = later(c1.brpoplpush(src, dst, 0));
    await waitBlocked(r, 1);
    await r.rpush(src, 'a', 'b');
    expect(await p).toBe('b');
    expect(await r.lrange(dst, 0, -1)).toEqual(['b']);
    expect(await r.lrange(src, 0, -1)).toEqual(['a']);
  });

  it('stays blocked while the key holds another type', async () => {
    const key = k('q');
    const c1 = client();
    const p = later(c1.blpop(key, 0));
    await waitBlocked(r, 1);
    await r.set(key, 'string');
    await sleep(50);
    await waitBlocked(r, 1);
    await r.del(key);
    await r.rpush(key, 'v');
    expect(await p).toEqual([key, 'v']);
  });

  it('serves a list waiter queued behind a sorted-set waiter on the same key', async () => {
    const key = k('q');
    const z = client();
    const l = client();
    const zp = later(z.bzpopmin(key, 0));
    await waitBlocked(r, 1);
    const lp = later(l.blpop(key, 0));
    await waitBlocked(r, 2);
    await r.lpush(key, 'v');
    expect(await Promise.race([lp, sleep(2000).then(() => 'still blocked')])).toEqual([key, 'v']);
    await r.zadd(key, 1, 'm');
    expect(await zp).toEqual([key, 'm', '1']);
  });

  it('forgets a blocked client that disconnects', async () => {
    const key = k('q');
    const c1 = client();
    const p = later(c1.blpop(key, 0).catch(() => 'closed'));
    await waitBlocked(r, 1);
    c1.disconnect();
    expect(await p).toBe('closed');
    await waitBlocked(r, 0);
    expect(await r.rpush(key, 'v')).toBe(1);
    expect(await r.lrange(key, 0, -1)).toEqual(['v']);
  });

  it('keeps waiting through a timeout longer than a timer can hold (~24.8 days)', async () => {
    const key = k('q');
    const c1 = client();
    const p = later(c1.blpop(key, 3_000_000));
    await waitBlocked(r, 1);
    await sleep(100);
    await waitBlocked(r, 1);
    await r.rpush(key, 'late');
    expect(await p).toEqual([key, 'late']);
  });

  it('does not block inside MULTI', async () => {
    const key = k('q');
    const started = Date.now();
    const res = await r.multi().blpop(key, 0).brpoplpush(key, k('d'), 0).call('BLMPOP', 0, 1, key, 'LEFT').exec();
    expect(res).toEqual([
      [null, null],
      [null, null],
      [null, null],
    ]);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('binary safety', () => {
  it('stores and returns all 256 byte values', async () => {
    const key = k('bin');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const rev = Buffer.from(all).reverse();
    await r.rpush(key, all, rev, Buffer.from([0]), Buffer.alloc(0));
    expect(await r.lrangeBuffer(key, 0, -1)).toEqual([all, rev, Buffer.from([0]), Buffer.alloc(0)]);
    expect(await r.lindexBuffer(key, 1)).toEqual(rev);
    expect(await r.call('LPOS', key, rev)).toBe(1);
    expect(await r.lrem(key, 0, Buffer.from([0]))).toBe(1);
    expect(await r.lpopBuffer(key)).toEqual(all);
    const c1 = client();
    const dst = k('bin-dst');
    const p = later(c1.blpopBuffer(dst, 0));
    await waitBlocked(r, 1);
    await r.lpush(dst, all);
    expect(await p).toEqual([Buffer.from(dst), all]);
  });
});

describe('keyspace events', () => {
  it('are emitted with Redis names and order', async () => {
    const prefix = k('ev');
    const a = `${prefix}a`;
    const b = `${prefix}b`;
    const expected = [
      'rpush a',
      'lpush a',
      'lset a',
      'linsert a',
      'lrem a',
      'ltrim a',
      'rpush b',
      'lpop a',
      'rpop a',
      'del a',
      'lpop b',
      'del b',
    ];
    const events = await keyevents(r, client, prefix, { count: expected.length }, async () => {
      await r.rpush(a, '1', '2', '3');
      await r.lpush(a, '0');
      await r.lset(a, 0, 'z');
      await r.linsert(a, 'AFTER', 'z', 'y');
      await r.lrem(a, 1, 'y');
      await r.ltrim(a, 0, 2);
      await r.lmove(a, b, 'LEFT', 'RIGHT');
      await r.rpop(a, 5);
      await r.lpop(b);
    });
    expect(events).toEqual(expected);
  });
});
