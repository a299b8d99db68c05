import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { fails, NOT_FLOAT, NOT_INT, SYNTAX, WRONGTYPE } from '../helpers/errors.js';
import { keyevents } from '../helpers/events.js';
import { d, type R3, Resp3Connection } from '../helpers/resp3.js';
import { type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep, waitBlocked } from '../helpers/wait.js';

// Only Redis-compatible behaviour (Redis 7.2) is asserted: with REDIS_URL set, the same file runs against real Redis.
let server: RunningServer;
let r: Redis;
const extra: Redis[] = [];
const raw: Resp3Connection[] = [];

useServer((s, connect) => {
  server = s;
  r = connect();
});

afterAll(() => {
  for (const c of extra) c.disconnect();
  for (const c of raw) c.close();
});

let seq = 0;
/** A key name unique to this run, so the file can share a server with others. */
const k = (name: string) => `zset-test:${process.pid}:${++seq}:${name}`;

/** Another connection, closed in afterAll. */
function client(): Redis {
  const c = redisClient(server);
  extra.push(c);
  return c;
}

/** Another connection, speaking RESP3 (ioredis speaks RESP2 only); closed in afterAll. */
async function resp3Connection(): Promise<Resp3Connection> {
  const c = await Resp3Connection.open(server);
  raw.push(c);
  return c;
}

const MINMAX_FLOAT = 'ERR min or max is not a float';
const MINMAX_LEX = 'ERR min or max not valid string range item';

// ---- ZADD / ZINCRBY ------------------------------------------------------------------------------------------

describe('ZADD', () => {
  it('adds members, updates scores and replies the number added', async () => {
    const key = k('z');
    expect(await r.zadd(key, 1, 'a', 2, 'b', 3, 'c')).toBe(3);
    expect(await r.zadd(key, 10, 'a', 4, 'd')).toBe(1);
    expect(await r.zrange(key, 0, -1, 'WITHSCORES')).toEqual(['b', '2', 'c', '3', 'd', '4', 'a', '10']);
    expect(await r.zcard(key)).toBe(4);
    expect(await r.type(key)).toBe('zset');
  });

  it('orders equal scores by member bytes and keeps the last score of a repeated member', async () => {
    const key = k('z');
    expect(await r.zadd(key, 1, 'b', 1, 'a', 1, 'c', 5, 'a')).toBe(3);
    expect(await r.zrange(key, 0, -1)).toEqual(['b', 'c', 'a']);
  });

  it('NX adds only new members, XX only updates existing ones', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a');
    expect(await r.zadd(key, 'NX', 5, 'a', 2, 'b')).toBe(1);
    expect(await r.zscore(key, 'a')).toBe('1');
    expect(await r.zadd(key, 'XX', 7, 'a', 3, 'c')).toBe(0);
    expect(await r.zscore(key, 'a')).toBe('7');
    expect(await r.zscore(key, 'c')).toBe(null);
    expect(await r.zadd(key, 'XX', 'CH', 8, 'a', 3, 'c')).toBe(1);
    const missing = k('missing');
    expect(await r.zadd(missing, 'XX', 1, 'a')).toBe(0);
    expect(await r.exists(missing)).toBe(0);
  });

  it('GT and LT update only upward or downward, but still add new members', async () => {
    const key = k('z');
    await r.zadd(key, 5, 'a', 5, 'b');
    expect(await r.zadd(key, 'GT', 'CH', 3, 'a', 7, 'b', 1, 'c')).toBe(2);
    expect(await r.zrange(key, 0, -1, 'WITHSCORES')).toEqual(['c', '1', 'a', '5', 'b', '7']);
    expect(await r.zadd(key, 'LT', 'CH', 3, 'a', 9, 'b', 0, 'd')).toBe(2);
    expect(await r.zrange(key, 0, -1, 'WITHSCORES')).toEqual(['d', '0', 'c', '1', 'a', '3', 'b', '7']);
    // XX combines with GT / LT: no new members.
    expect(await r.zadd(key, 'XX', 'GT', 'CH', 10, 'a', 10, 'e')).toBe(1);
    expect(await r.zscore(key, 'a')).toBe('10');
    expect(await r.zscore(key, 'e')).toBe(null);
    // Equal score is no change, so CH does not count it.
    expect(await r.zadd(key, 'CH', 10, 'a')).toBe(0);
    expect(await r.zadd(key, 'gt', 'ch', 'xx', 11, 'a')).toBe(1);
  });

  it('INCR increments and replies the new score, or nil when the update is refused', async () => {
    const key = k('z');
    expect(await r.zadd(key, 'INCR', 5, 'a')).toBe('5');
    expect(await r.zadd(key, 'INCR', 2.5, 'a')).toBe('7.5');
    expect(await r.zadd(key, 'NX', 'INCR', 1, 'a')).toBe(null);
    expect(await r.zadd(key, 'XX', 'INCR', 1, 'b')).toBe(null);
    expect(await r.zadd(key, 'GT', 'INCR', -1, 'a')).toBe(null);
    expect(await r.zadd(key, 'GT', 'INCR', 1, 'a')).toBe('8.5');
    expect(await r.zadd(key, 'LT', 'INCR', 1, 'a')).toBe(null);
    expect(await r.zadd(key, 'LT', 'INCR', -0.5, 'a')).toBe('8');
    expect(await r.zadd(key, 'INCR', 0, 'a')).toBe('8');
  });

  it('rejects incompatible options and malformed arguments', async () => {
    const key = k('z');
    await fails(r.zadd(key, 'NX', 'XX', 1, 'a'), 'ERR XX and NX options at the same time are not compatible');
    await fails(r.zadd(key, 'GT', 'LT', 1, 'a'), 'ERR GT, LT, and/or NX options at the same time are not compatible');
    await fails(r.zadd(key, 'NX', 'GT', 1, 'a'), 'ERR GT, LT, and/or NX options at the same time are not compatible');
    await fails(r.zadd(key, 'NX', 'LT', 1, 'a'), 'ERR GT, LT, and/or NX options at the same time are not compatible');
    await fails(r.zadd(key, 'INCR', 1, 'a', 2, 'b'), 'ERR INCR option supports a single increment-element pair');
    await fails(r.zadd(key, 1, 'a', 2), SYNTAX);
    await fails(r.call('ZADD', key, 'NX', 1), SYNTAX);
    await fails(r.zadd(key, 'x', 'a'), NOT_FLOAT);
    await fails(r.zadd(key, 'nan', 'a'), NOT_FLOAT);
    await fails(r.zadd(key, 1, 'a', 'bad', 'b'), NOT_FLOAT);
    // Nothing was applied by the failed commands.
    expect(await r.exists(key)).toBe(0);
    await fails(r.call('ZADD', key), "ERR wrong number of arguments for 'zadd' command");
    await fails(r.call('ZADD', key, '1'), "ERR wrong number of arguments for 'zadd' command");
  });

  it('accepts inf scores and refuses a NaN result', async () => {
    const key = k('z');
    expect(await r.zadd(key, '+inf', 'top', '-inf', 'bottom', 'inf', 'top2', '1e3', 'big', '-0.5', 'neg')).toBe(5);
    expect(await r.zrange(key, 0, -1, 'WITHSCORES')).toEqual([
      'bottom',
      '-inf',
      'neg',
      '-0.5',
      'big',
      '1000',
      'top',
      'inf',
      'top2',
      'inf',
    ]);
    await fails(r.zadd(key, 'INCR', '-inf', 'top'), 'ERR resulting score is not a number (NaN)');
    await fails(r.zincrby(key, '-inf', 'top'), 'ERR resulting score is not a number (NaN)');
    expect(await r.zscore(key, 'top')).toBe('inf');
  });

  it('refuses other types', async () => {
    const key = k('s');
    await r.set(key, 'x');
    await fails(r.zadd(key, 1, 'a'), WRONGTYPE);
    // Scores are parsed before the key is looked at.
    await fails(r.zadd(key, 'x', 'a'), NOT_FLOAT);
  });
});

describe('ZINCRBY', () => {
  it('creates the member and increments its score', async () => {
    const key = k('z');
    expect(await r.zincrby(key, 2, 'a')).toBe('2');
    expect(await r.zincrby(key, -0.5, 'a')).toBe('1.5');
    expect(await r.zincrby(key, '1e3', 'a')).toBe('1001.5');
    await fails(r.zincrby(key, 'x', 'a'), NOT_FLOAT);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zincrby(s, 1, 'a'), WRONGTYPE);
  });
});

// ---- reads ---------------------------------------------------------------------------------------------------

describe('ZSCORE / ZMSCORE / ZCARD', () => {
  it('read scores and cardinality', async () => {
    const key = k('z');
    await r.zadd(key, 1.5, 'a', -2, 'b');
    expect(await r.zscore(key, 'a')).toBe('1.5');
    expect(await r.zscore(key, 'nope')).toBe(null);
    expect(await r.zscore(k('missing'), 'a')).toBe(null);
    expect(await r.zmscore(key, 'a', 'nope', 'b')).toEqual(['1.5', null, '-2']);
    expect(await r.zmscore(k('missing'), 'a', 'b')).toEqual([null, null]);
    expect(await r.zcard(key)).toBe(2);
    expect(await r.zcard(k('missing'))).toBe(0);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zscore(s, 'a'), WRONGTYPE);
    await fails(r.zmscore(s, 'a'), WRONGTYPE);
    await fails(r.zcard(s), WRONGTYPE);
    await fails(r.call('ZMSCORE', key), "ERR wrong number of arguments for 'zmscore' command");
  });
});

describe('ZCOUNT / ZLEXCOUNT', () => {
  it('count by score with inclusive, exclusive and infinite bounds', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3, 'c', 4, 'd', '-inf', 'lo', '+inf', 'hi');
    expect(await r.zcount(key, '-inf', '+inf')).toBe(6);
    expect(await r.zcount(key, 2, 3)).toBe(2);
    expect(await r.zcount(key, '(2', 3)).toBe(1);
    expect(await r.zcount(key, '(2', '(3')).toBe(0);
    expect(await r.zcount(key, '(-inf', '(inf')).toBe(4);
    expect(await r.zcount(key, '-inf', '-inf')).toBe(1);
    expect(await r.zcount(key, 3, 2)).toBe(0);
    expect(await r.zcount(k('missing'), 0, 1)).toBe(0);
    await fails(r.zcount(key, 'x', 1), MINMAX_FLOAT);
    await fails(r.zcount(key, 1, '((2'), MINMAX_FLOAT);
    await fails(r.zcount(key, 1, 'nan'), MINMAX_FLOAT);
  });

  it('count by lex range', async () => {
    const key = k('z');
    await r.zadd(key, 0, 'a', 0, 'b', 0, 'c', 0, 'd');
    expect(await r.zlexcount(key, '-', '+')).toBe(4);
    expect(await r.zlexcount(key, '[b', '[c')).toBe(2);
    expect(await r.zlexcount(key, '(b', '[d')).toBe(2);
    expect(await r.zlexcount(key, '(a', '(b')).toBe(0);
    expect(await r.zlexcount(key, '+', '-')).toBe(0);
    expect(await r.zlexcount(k('missing'), '-', '+')).toBe(0);
    await fails(r.zlexcount(key, 'a', '+'), MINMAX_LEX);
    await fails(r.zlexcount(key, '-', '++'), MINMAX_LEX);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zlexcount(s, '-', '+'), WRONGTYPE);
    await fails(r.zcount(s, 0, 1), WRONGTYPE);
  });
});

describe('ZRANK / ZREVRANK', () => {
  it('reply the rank, and with WITHSCORE the rank and score', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3.5, 'c');
    expect(await r.zrank(key, 'a')).toBe(0);
    expect(await r.zrank(key, 'c')).toBe(2);
    expect(await r.zrevrank(key, 'c')).toBe(0);
    expect(await r.zrevrank(key, 'a')).toBe(2);
    expect(await r.zrank(key, 'nope')).toBe(null);
    expect(await r.zrank(k('missing'), 'a')).toBe(null);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zrank(s, 'a'), WRONGTYPE);
  });
});

// ---- ranges --------------------------------------------------------------------------------------------------

describe('ZRANGE', () => {
  const fill = async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3, 'c', 4, 'd', 5, 'e');
    return key;
  };

  it('by rank, with negative indexes and REV', async () => {
    const key = await fill();
    expect(await r.zrange(key, 0, -1)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(await r.zrange(key, 1, 2)).toEqual(['b', 'c']);
    expect(await r.zrange(key, -2, -1)).toEqual(['d', 'e']);
    expect(await r.zrange(key, -100, 1)).toEqual(['a', 'b']);
    expect(await r.zrange(key, 3, 100)).toEqual(['d', 'e']);
    expect(await r.zrange(key, 3, 1)).toEqual([]);
    expect(await r.zrange(key, 5, 10)).toEqual([]);
    expect(await r.zrange(key, 0, 1, 'REV')).toEqual(['e', 'd']);
    expect(await r.zrange(key, 0, 1, 'REV', 'WITHSCORES')).toEqual(['e', '5', 'd', '4']);
    expect(await r.zrange(k('missing'), 0, -1)).toEqual([]);
  });

  it('BYSCORE with bounds, REV, LIMIT and WITHSCORES', async () => {
    const key = await fill();
    expect(await r.zrange(key, 2, 4, 'BYSCORE')).toEqual(['b', 'c', 'd']);
    expect(await r.zrange(key, '(2', '+inf', 'BYSCORE')).toEqual(['c', 'd', 'e']);
    expect(await r.zrange(key, '-inf', '(3', 'BYSCORE', 'WITHSCORES')).toEqual(['a', '1', 'b', '2']);
    expect(await r.zrange(key, 4, 2, 'BYSCORE', 'REV')).toEqual(['d', 'c', 'b']);
    expect(await r.zrange(key, 2, 4, 'BYSCORE', 'REV')).toEqual([]);
    expect(await r.zrange(key, '-inf', '+inf', 'BYSCORE', 'LIMIT', 1, 2)).toEqual(['b', 'c']);
    expect(await r.zrange(key, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 1, 2)).toEqual(['d', 'c']);
    expect(await r.zrange(key, '-inf', '+inf', 'BYSCORE', 'LIMIT', 3, -1)).toEqual(['d', 'e']);
    expect(await r.zrange(key, '-inf', '+inf', 'BYSCORE', 'LIMIT', 0, 0)).toEqual([]);
    expect(await r.zrange(key, '-inf', '+inf', 'BYSCORE', 'LIMIT', -1, 2)).toEqual([]);
    expect(await r.zrange(key, '-inf', '+inf', 'BYSCORE', 'LIMIT', 10, 2)).toEqual([]);
  });

  it('BYLEX with REV and LIMIT', async () => {
    const key = k('z');
    await r.zadd(key, 0, 'a', 0, 'b', 0, 'c', 0, 'd');
    expect(await r.zrange(key, '[b', '+', 'BYLEX')).toEqual(['b', 'c', 'd']);
    expect(await r.zrange(key, '-', '(c', 'BYLEX')).toEqual(['a', 'b']);
    expect(await r.zrange(key, '+', '-', 'BYLEX', 'REV')).toEqual(['d', 'c', 'b', 'a']);
    expect(await r.zrange(key, '-', '+', 'BYLEX', 'LIMIT', 1, 2)).toEqual(['b', 'c']);
    expect(await r.zrange(key, '[c', '[a', 'BYLEX', 'REV', 'LIMIT', 0, 2)).toEqual(['c', 'b']);
  });

  it('reports Redis errors for bad option combinations and ranges', async () => {
    const key = await fill();
    await fails(
      r.zrange(key, 0, 1, 'LIMIT', 0, 1),
      'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX',
    );
    await fails(
      r.zrange(key, '-', '+', 'BYLEX', 'WITHSCORES'),
      'ERR syntax error, WITHSCORES not supported in combination with BYLEX',
    );
    await fails(r.call('ZRANGE', key, 0, 1, 'BYSCORE', 'BYLEX'), SYNTAX);
    await fails(r.call('ZRANGE', key, 0, 1, 'REV', 'REV'), SYNTAX);
    await fails(r.call('ZRANGE', key, 0, 1, 'BYSCORE', 'LIMIT', 0), SYNTAX);
    await fails(r.call('ZRANGE', key, 0, 1, 'FOO'), SYNTAX);
    await fails(r.call('ZRANGE', key, 0, 1, 'BYSCORE', 'LIMIT', 'x', 1), NOT_INT);
    await fails(r.zrange(key, 'a', 1), NOT_INT);
    await fails(r.zrange(key, 'a', 1, 'BYSCORE'), MINMAX_FLOAT);
    await fails(r.zrange(key, 'a', '+', 'BYLEX'), MINMAX_LEX);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zrange(s, 0, 1), WRONGTYPE);
  });
});

describe('deprecated range commands', () => {
  it('ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3, 'c', 4, 'd');
    expect(await r.zrevrange(key, 0, 1)).toEqual(['d', 'c']);
    expect(await r.zrevrange(key, 0, 1, 'WITHSCORES')).toEqual(['d', '4', 'c', '3']);
    expect(await r.zrangebyscore(key, 2, '+inf')).toEqual(['b', 'c', 'd']);
    expect(await r.zrangebyscore(key, '(1', 3, 'WITHSCORES', 'LIMIT', 1, 5)).toEqual(['c', '3']);
    expect(await r.zrevrangebyscore(key, '+inf', '(2')).toEqual(['d', 'c']);
    expect(await r.zrevrangebyscore(key, 3, 1, 'WITHSCORES', 'LIMIT', 0, 2)).toEqual(['c', '3', 'b', '2']);
    const lex = k('lex');
    await r.zadd(lex, 0, 'a', 0, 'b', 0, 'c');
    expect(await r.zrangebylex(lex, '(a', '+')).toEqual(['b', 'c']);
    expect(await r.zrangebylex(lex, '-', '+', 'LIMIT', 1, 1)).toEqual(['b']);
    expect(await r.zrevrangebylex(lex, '[b', '-')).toEqual(['b', 'a']);
    expect(await r.zrevrangebylex(lex, '+', '-', 'LIMIT', 0, 2)).toEqual(['c', 'b']);
    // The fixed parts of each legacy command cannot be changed by ZRANGE's options.
    await fails(r.call('ZRANGEBYSCORE', key, 1, 2, 'REV'), SYNTAX);
    await fails(r.call('ZRANGEBYSCORE', key, 1, 2, 'BYLEX'), SYNTAX);
    await fails(r.call('ZREVRANGE', key, 0, 1, 'BYSCORE'), SYNTAX);
    await fails(
      r.call('ZREVRANGE', key, 0, 1, 'LIMIT', 0, 1),
      'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX',
    );
    await fails(
      r.call('ZRANGEBYLEX', lex, '-', '+', 'WITHSCORES'),
      'ERR syntax error, WITHSCORES not supported in combination with BYLEX',
    );
    await fails(r.zrangebyscore(key, 'x', 1), MINMAX_FLOAT);
    await fails(r.zrangebylex(key, 'x', '+'), MINMAX_LEX);
  });
});

describe('lex ranges over binary members', () => {
  it('order members bytewise, including NUL and 0xff', async () => {
    const key = k('bin');
    const nul = Buffer.from([0x00]);
    const ff = Buffer.from([0xff]);
    const aNulB = Buffer.from([0x61, 0x00, 0x62]);
    const high = Buffer.from([0xc3, 0xa9]); // "é" in UTF-8
    await r.zadd(key, 0, ff, 0, 'b', 0, aNulB, 0, 'a', 0, nul, 0, high);
    const all = (await r.callBuffer('ZRANGEBYLEX', key, '-', '+')) as Buffer[];
    expect(all).toEqual([nul, Buffer.from('a'), aNulB, Buffer.from('b'), high, ff]);
    const incl = (bytes: Buffer) => Buffer.concat([Buffer.from('['), bytes]);
    const excl = (bytes: Buffer) => Buffer.concat([Buffer.from('('), bytes]);
    expect(await r.callBuffer('ZRANGEBYLEX', key, excl(Buffer.from('a')), incl(high))).toEqual([
      aNulB,
      Buffer.from('b'),
      high,
    ]);
    expect(await r.callBuffer('ZRANGEBYLEX', key, excl(nul), excl(aNulB))).toEqual([Buffer.from('a')]);
    expect(await r.callBuffer('ZREVRANGEBYLEX', key, incl(ff), excl(high))).toEqual([ff]);
    expect(await r.zlexcount(key, incl(nul), excl(ff))).toBe(5);
    expect(await r.zlexcount(key, '[', '+')).toBe(6);
    expect(await r.zremrangebylex(key, incl(aNulB), incl(high))).toBe(3);
    expect(await r.callBuffer('ZRANGE', key, 0, -1)).toEqual([nul, Buffer.from('a'), ff]);
    expect(await r.zscore(key, ff)).toBe('0');
  });
});

describe('ZRANGESTORE', () => {
  it('stores a range, overwriting the destination, and deletes it on an empty result', async () => {
    const src = k('src');
    const dst = k('dst');
    await r.zadd(src, 1, 'a', 2, 'b', 3, 'c', 4, 'd');
    await r.set(dst, 'old', 'EX', 100);
    expect(await r.zrangestore(dst, src, 1, 2)).toBe(2);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['b', '2', 'c', '3']);
    expect(await r.ttl(dst)).toBe(-1);
    expect(await r.zrangestore(dst, src, '(1', '+inf', 'BYSCORE', 'REV', 'LIMIT', 0, 2)).toBe(0);
    expect(await r.exists(dst)).toBe(0);
    expect(await r.zrangestore(dst, src, '+inf', '(1', 'BYSCORE', 'REV', 'LIMIT', 0, 2)).toBe(2);
    expect(await r.zrange(dst, 0, -1)).toEqual(['c', 'd']);
    expect(await r.zrangestore(dst, src, '[c', '+', 'BYLEX')).toBe(2);
    expect(await r.zrange(dst, 0, -1)).toEqual(['c', 'd']);
    expect(await r.zrangestore(dst, k('missing'), 0, -1)).toBe(0);
    expect(await r.exists(dst)).toBe(0);
    await fails(r.call('ZRANGESTORE', dst, src, 0, -1, 'WITHSCORES'), SYNTAX);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zrangestore(dst, s, 0, -1), WRONGTYPE);
  });
});

// ---- removals --------------------------------------------------------------------------------------------------

describe('ZREM / ZREMRANGEBY*', () => {
  it('ZREM removes members and the key once empty', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3, 'c');
    expect(await r.zrem(key, 'a', 'x', 'a')).toBe(1);
    expect(await r.zrem(k('missing'), 'a')).toBe(0);
    expect(await r.zrem(key, 'b', 'c', 'd')).toBe(2);
    expect(await r.exists(key)).toBe(0);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zrem(s, 'a'), WRONGTYPE);
  });

  it('ZREMRANGEBYSCORE / BYRANK / BYLEX', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3, 'c', 4, 'd', 5, 'e');
    expect(await r.zremrangebyscore(key, '(1', 2)).toBe(1);
    expect(await r.zremrangebyscore(key, 10, 20)).toBe(0);
    expect(await r.zremrangebyrank(key, -2, -1)).toBe(2);
    expect(await r.zrange(key, 0, -1)).toEqual(['a', 'c']);
    expect(await r.zremrangebyrank(key, 5, 10)).toBe(0);
    expect(await r.zremrangebyscore(key, '-inf', '+inf')).toBe(2);
    expect(await r.exists(key)).toBe(0);
    await r.zadd(key, 0, 'a', 0, 'b', 0, 'c');
    expect(await r.zremrangebylex(key, '[a', '(c')).toBe(2);
    expect(await r.zremrangebyrank(key, 0, 0)).toBe(1);
    expect(await r.exists(key)).toBe(0);
    expect(await r.zremrangebyrank(key, 0, -1)).toBe(0);
    await fails(r.zremrangebyscore(key, 'a', 1), MINMAX_FLOAT);
    await fails(r.zremrangebylex(key, 'a', '+'), MINMAX_LEX);
    await fails(r.zremrangebyrank(key, 'a', 1), NOT_INT);
  });
});

// ---- pops ------------------------------------------------------------------------------------------------------

describe('ZPOPMIN / ZPOPMAX', () => {
  it('pop one or several members with their scores', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3, 'c', 4, 'd');
    expect(await r.zpopmin(key)).toEqual(['a', '1']);
    expect(await r.zpopmax(key)).toEqual(['d', '4']);
    expect(await r.zpopmin(key, 0)).toEqual([]);
    expect(await r.zpopmax(key, 5)).toEqual(['c', '3', 'b', '2']);
    expect(await r.exists(key)).toBe(0);
    expect(await r.zpopmin(key)).toEqual([]);
    expect(await r.zpopmin(key, 3)).toEqual([]);
  });

  it('reject bad counts and other types', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a');
    await fails(r.zpopmin(key, -1), 'ERR value is out of range, must be positive');
    await fails(r.call('ZPOPMIN', key, 'x'), 'ERR value is out of range, must be positive');
    await fails(r.call('ZPOPMIN', key, 1, 2), SYNTAX);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zpopmax(s), WRONGTYPE);
  });
});

describe('ZMPOP', () => {
  it('pops from the first non-empty key', async () => {
    const a = k('a');
    const b = k('b');
    await r.zadd(b, 1, 'x', 2, 'y', 3, 'z');
    expect(await r.call('ZMPOP', 2, a, b, 'MIN')).toEqual([b, [['x', '1']]]);
    expect(await r.call('ZMPOP', 2, a, b, 'max', 'COUNT', 10)).toEqual([
      b,
      [
        ['z', '3'],
        ['y', '2'],
      ],
    ]);
    expect(await r.exists(b)).toBe(0);
    expect(await r.call('ZMPOP', 2, a, b, 'MIN')).toBe(null);
  });

  it('reports Redis errors', async () => {
    const a = k('a');
    await fails(r.call('ZMPOP', 0, a, 'MIN'), 'ERR numkeys should be greater than 0');
    await fails(r.call('ZMPOP', 'x', a, 'MIN'), 'ERR numkeys should be greater than 0');
    await fails(r.call('ZMPOP', 2, a, 'MIN'), SYNTAX);
    await fails(r.call('ZMPOP', 1, a, 'MID'), SYNTAX);
    await fails(r.call('ZMPOP', 1, a, 'MIN', 'COUNT', 0), 'ERR count should be greater than 0');
    await fails(r.call('ZMPOP', 1, a, 'MIN', 'COUNT', 1, 'COUNT', 1), SYNTAX);
    await fails(r.call('ZMPOP', 1, a, 'MIN', 'COUNT'), SYNTAX);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.call('ZMPOP', 2, a, s, 'MIN'), WRONGTYPE);
  });
});

describe('BZPOPMIN / BZPOPMAX / BZMPOP', () => {
  it('pop at once when a set is there', async () => {
    const a = k('a');
    const b = k('b');
    await r.zadd(b, 1, 'x', 2, 'y');
    expect(await r.bzpopmin(a, b, 0)).toEqual([b, 'x', '1']);
    expect(await r.bzpopmax(a, b, 0)).toEqual([b, 'y', '2']);
    expect(await r.exists(b)).toBe(0);
    await r.zadd(a, 5, 'm', 6, 'n');
    expect(await r.call('BZMPOP', 0, 2, a, b, 'MAX', 'COUNT', 5)).toEqual([
      a,
      [
        ['n', '6'],
        ['m', '5'],
      ],
    ]);
  });

  it('time out with a null reply', async () => {
    const key = k('z');
    const t0 = Date.now();
    expect(await r.bzpopmin(key, 0.1)).toBe(null);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(await r.call('BZMPOP', '0.05', 1, key, 'MIN')).toBe(null);
  });

  it('serve blocked clients in the order they blocked', async () => {
    const key = k('z');
    const c1 = client();
    const c2 = client();
    const c3 = client();
    const p1 = c1.bzpopmin(key, 5);
    await waitBlocked(r, 1);
    const p2 = c2.bzpopmin(key, 5);
    await waitBlocked(r, 2);
    const p3 = c3.bzpopmax(key, 5);
    await waitBlocked(r, 3);
    await r.zadd(key, 3, 'c', 1, 'a', 2, 'b');
    expect(await p1).toEqual([key, 'a', '1']);
    expect(await p2).toEqual([key, 'b', '2']);
    expect(await p3).toEqual([key, 'c', '3']);
    expect(await r.exists(key)).toBe(0);
  });

  it('wake on any of several keys, and BZMPOP with a count', async () => {
    const a = k('a');
    const b = k('b');
    const c1 = client();
    const p = c1.bzpopmax(a, b, 5);
    await waitBlocked(r, 1);
    await r.zadd(b, 7, 'q');
    expect(await p).toEqual([b, 'q', '7']);
    const p2 = c1.call('BZMPOP', 5, 2, a, b, 'MIN', 'COUNT', 2);
    await waitBlocked(r, 1);
    await r.zadd(a, 1, 'x', 2, 'y', 3, 'z');
    expect(await p2).toEqual([
      a,
      [
        ['x', '1'],
        ['y', '2'],
      ],
    ]);
    expect(await r.zrange(a, 0, -1)).toEqual(['z']);
  });

  it('keep waiting while the key holds another type', async () => {
    const key = k('z');
    const c1 = client();
    const p = c1.bzpopmin(key, 5);
    await waitBlocked(r, 1);
    await r.set(key, 'string');
    await sleep(50);
    await r.del(key);
    await r.zadd(key, 1, 'a');
    expect(await p).toEqual([key, 'a', '1']);
  });

  it('reply null at once inside MULTI', async () => {
    const key = k('z');
    const res = await r.multi().bzpopmin(key, 0).call('BZMPOP', 0, 1, key, 'MIN').exec();
    expect(res).toEqual([
      [null, null],
      [null, null],
    ]);
  });

  it('report Redis errors', async () => {
    const key = k('z');
    await fails(r.bzpopmin(key, -1), 'ERR timeout is negative');
    await fails(r.call('BZPOPMIN', key, 'x'), 'ERR timeout is not a float or out of range');
    await fails(r.call('BZMPOP', 'x', 1, key, 'MIN'), 'ERR timeout is not a float or out of range');
    await fails(r.call('BZMPOP', 0, 0, key, 'MIN'), 'ERR numkeys should be greater than 0');
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.bzpopmin(s, key, 0), WRONGTYPE);
  });
});

// ---- set operations --------------------------------------------------------------------------------------------

describe('ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE', () => {
  const fill = async () => {
    const a = k('a');
    const b = k('b');
    await r.zadd(a, 1, 'x', 2, 'y', 3, 'z');
    await r.zadd(b, 10, 'y', 20, 'z', 30, 'w');
    return [a, b];
  };

  it('union with weights and each aggregate', async () => {
    const [a, b] = await fill();
    const dst = k('dst');
    expect(await r.zunionstore(dst, 2, a, b)).toBe(4);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '1', 'y', '12', 'z', '23', 'w', '30']);
    expect(await r.zunionstore(dst, 2, a, b, 'WEIGHTS', 2, 0.5)).toBe(4);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '2', 'y', '9', 'w', '15', 'z', '16']);
    expect(await r.zunionstore(dst, 2, a, b, 'AGGREGATE', 'MIN')).toBe(4);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '1', 'y', '2', 'z', '3', 'w', '30']);
    expect(await r.zunionstore(dst, 2, a, b, 'WEIGHTS', 1, -1, 'AGGREGATE', 'max')).toBe(4);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['w', '-30', 'x', '1', 'y', '2', 'z', '3']);
    expect(await r.zunionstore(dst, 3, a, k('missing'), a)).toBe(3);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '2', 'y', '4', 'z', '6']);
  });

  it('inf + -inf sums to 0 and inf * 0 weighs 0', async () => {
    const a = k('a');
    const b = k('b');
    const dst = k('dst');
    await r.zadd(a, 'inf', 'x', 1, 'y');
    await r.zadd(b, '-inf', 'x', 'inf', 'y');
    expect(await r.zunionstore(dst, 2, a, b)).toBe(2);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '0', 'y', 'inf']);
    expect(await r.zunionstore(dst, 1, a, 'WEIGHTS', 0)).toBe(2);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '0', 'y', '0']);
  });

  it('intersection and difference, storing and deleting the destination', async () => {
    const [a, b] = await fill();
    const dst = k('dst');
    await r.set(dst, 'old');
    expect(await r.zinterstore(dst, 2, a, b)).toBe(2);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['y', '12', 'z', '23']);
    expect(await r.zinterstore(dst, 2, a, b, 'WEIGHTS', 3, 1, 'AGGREGATE', 'MAX')).toBe(2);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['y', '10', 'z', '20']);
    expect(await r.zdiffstore(dst, 2, a, b)).toBe(1);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '1']);
    expect(await r.zdiffstore(dst, 2, b, a)).toBe(1);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['w', '30']);
    expect(await r.zinterstore(dst, 2, a, k('missing'))).toBe(0);
    expect(await r.exists(dst)).toBe(0);
    expect(await r.zdiffstore(dst, 2, a, a)).toBe(0);
    expect(await r.zunionstore(dst, 1, k('missing'))).toBe(0);
    expect(await r.exists(dst)).toBe(0);
    // The destination may be one of the inputs.
    expect(await r.zunionstore(a, 2, a, b)).toBe(4);
    expect(await r.zscore(a, 'z')).toBe('23');
  });

  it('accept plain sets as inputs with score 1', async () => {
    const [a] = await fill();
    const s = k('set');
    const dst = k('dst');
    await r.sadd(s, 'x', 'q');
    expect(await r.zunionstore(dst, 2, a, s)).toBe(4);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['q', '1', 'x', '2', 'y', '2', 'z', '3']);
    expect(await r.zinterstore(dst, 2, s, a, 'WEIGHTS', 5, 1)).toBe(1);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['x', '6']);
    expect(await r.zdiffstore(dst, 2, s, a)).toBe(1);
    expect(await r.zrange(dst, 0, -1, 'WITHSCORES')).toEqual(['q', '1']);
    expect(await r.call('ZINTERCARD', 2, s, a)).toBe(1);
  });

  it('report Redis errors', async () => {
    const [a, b] = await fill();
    const dst = k('dst');
    await fails(r.zunionstore(dst, 0, a), "ERR at least 1 input key is needed for 'zunionstore' command");
    await fails(r.call('ZINTER', 0, a), "ERR at least 1 input key is needed for 'zinter' command");
    await fails(r.zunionstore(dst, 3, a, b), SYNTAX);
    await fails(r.call('ZUNIONSTORE', dst, 'x', a), NOT_INT);
    await fails(r.zunionstore(dst, 2, a, b, 'WEIGHTS', 1), SYNTAX);
    await fails(r.zunionstore(dst, 2, a, b, 'WEIGHTS', 1, 'x'), 'ERR weight value is not a float');
    await fails(r.zunionstore(dst, 2, a, b, 'AGGREGATE', 'AVG'), SYNTAX);
    await fails(r.zunionstore(dst, 2, a, b, 'AGGREGATE'), SYNTAX);
    await fails(r.call('ZUNIONSTORE', dst, 2, a, b, 'WITHSCORES'), SYNTAX);
    await fails(r.call('ZDIFFSTORE', dst, 2, a, b, 'WEIGHTS', 1, 1), SYNTAX);
    await fails(r.call('ZDIFF', 2, a, b, 'AGGREGATE', 'SUM'), SYNTAX);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zunionstore(dst, 2, a, s), WRONGTYPE);
    // WRONGTYPE comes before option errors, as the keys are read first.
    await fails(r.zunionstore(dst, 2, a, s, 'AGGREGATE', 'AVG'), WRONGTYPE);
    expect(await r.exists(dst)).toBe(0);
  });
});

describe('ZUNION / ZINTER / ZDIFF / ZINTERCARD', () => {
  it('reply members, optionally with scores', async () => {
    const a = k('a');
    const b = k('b');
    await r.zadd(a, 1, 'x', 2, 'y', 3, 'z');
    await r.zadd(b, 10, 'y', 20, 'z', 30, 'w');
    expect(await r.call('ZUNION', 2, a, b)).toEqual(['x', 'y', 'z', 'w']);
    expect(await r.call('ZUNION', 2, a, b, 'WEIGHTS', 1, 2, 'WITHSCORES')).toEqual([
      'x',
      '1',
      'y',
      '22',
      'z',
      '43',
      'w',
      '60',
    ]);
    expect(await r.call('ZINTER', 2, a, b, 'AGGREGATE', 'MIN', 'WITHSCORES')).toEqual(['y', '2', 'z', '3']);
    expect(await r.call('ZINTER', 2, a, k('missing'))).toEqual([]);
    expect(await r.call('ZDIFF', 2, a, b, 'WITHSCORES')).toEqual(['x', '1']);
    expect(await r.call('ZDIFF', 1, a)).toEqual(['x', 'y', 'z']);
    expect(await r.call('ZINTERCARD', 2, a, b)).toBe(2);
    expect(await r.call('ZINTERCARD', 2, a, b, 'LIMIT', 1)).toBe(1);
    expect(await r.call('ZINTERCARD', 2, a, b, 'LIMIT', 0)).toBe(2);
    expect(await r.call('ZINTERCARD', 1, k('missing'))).toBe(0);
    await fails(r.call('ZINTERCARD', 2, a, b, 'LIMIT', -1), "ERR LIMIT can't be negative");
    await fails(r.call('ZINTERCARD', 2, a, b, 'WITHSCORES'), SYNTAX);
    await fails(r.call('ZINTERCARD', 2, a, b, 'WEIGHTS', 1, 1), SYNTAX);
    await fails(r.call('ZINTERCARD', 0, a), "ERR at least 1 input key is needed for 'zintercard' command");
  });
});

// ---- ZSCAN / ZRANDMEMBER ----------------------------------------------------------------------------------------

describe('ZSCAN', () => {
  it('iterates every member with its score', async () => {
    const key = k('z');
    const n = 300;
    const args: Array<string | number> = [];
    for (let i = 0; i < n; i++) args.push(i, `m${i}`);
    await r.zadd(key, ...args);
    const seen = new Map<string, string>();
    let cursor = '0';
    do {
      const [next, items] = (await r.zscan(key, cursor, 'COUNT', 50)) as [string, string[]];
      for (let i = 0; i < items.length; i += 2) seen.set(items[i], items[i + 1]);
      cursor = next;
    } while (cursor !== '0');
    expect(seen.size).toBe(n);
    expect(seen.get('m123')).toBe('123');
  });

  it('filters with MATCH and validates its arguments', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'apple', 2, 'banana', 3, 'avocado');
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, items] = (await r.zscan(key, cursor, 'MATCH', 'a*')) as [string, string[]];
      found.push(...items);
      cursor = next;
    } while (cursor !== '0');
    const pairs: string[][] = [];
    for (let i = 0; i < found.length; i += 2) pairs.push([found[i], found[i + 1]]);
    expect(pairs.sort()).toEqual([
      ['apple', '1'],
      ['avocado', '3'],
    ]);
    expect(await r.zscan(k('missing'), 0)).toEqual(['0', []]);
    await fails(r.zscan(key, 'x'), 'ERR invalid cursor');
    await fails(r.zscan(key, 0, 'COUNT', 0), SYNTAX);
    await fails(r.call('ZSCAN', key, 0, 'COUNT', 'x'), NOT_INT);
    await fails(r.call('ZSCAN', key, 0, 'MATCH'), SYNTAX);
    await fails(r.call('ZSCAN', key, 0, 'TYPE', 'zset'), SYNTAX);
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zscan(s, 0), WRONGTYPE);
  });
});

describe('ZRANDMEMBER', () => {
  it('returns random members with or without scores', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3, 'c', 4, 'd', 5, 'e');
    const scores: Record<string, string> = { a: '1', b: '2', c: '3', d: '4', e: '5' };
    expect(Object.keys(scores)).toContain(await r.zrandmember(key));
    expect(await r.zrandmember(k('missing'))).toBe(null);
    expect(await r.zrandmember(k('missing'), 3)).toEqual([]);
    expect(await r.zrandmember(key, 0)).toEqual([]);
    const three = (await r.zrandmember(key, 3)) as string[];
    expect(three).toHaveLength(3);
    expect(new Set(three).size).toBe(3);
    const all = (await r.zrandmember(key, 10)) as string[];
    expect([...all].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    const many = (await r.zrandmember(key, -20)) as string[];
    expect(many).toHaveLength(20);
    for (const m of many) expect(Object.keys(scores)).toContain(m);
    const ws = (await r.zrandmember(key, -6, 'WITHSCORES')) as string[];
    expect(ws).toHaveLength(12);
    for (let i = 0; i < ws.length; i += 2) expect(scores[ws[i]]).toBe(ws[i + 1]);
    const ws2 = (await r.zrandmember(key, 4, 'WITHSCORES')) as string[];
    expect(ws2).toHaveLength(8);
    for (let i = 0; i < ws2.length; i += 2) expect(scores[ws2[i]]).toBe(ws2[i + 1]);
  });

  it('reports Redis errors', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a');
    await fails(r.call('ZRANDMEMBER', key, 'x'), NOT_INT);
    await fails(r.call('ZRANDMEMBER', key, 1, 'WITHSCORE'), SYNTAX);
    await fails(r.call('ZRANDMEMBER', key, 1, 'WITHSCORES', 'x'), SYNTAX);
    await fails(r.call('ZRANDMEMBER', key, '-9223372036854775807', 'WITHSCORES'), 'ERR value is out of range');
    const s = k('s');
    await r.set(s, 'x');
    await fails(r.zrandmember(s), WRONGTYPE);
    await fails(r.zrandmember(s, 1), WRONGTYPE);
  });
});

// ---- RESP3 reply shapes ---------------------------------------------------------------------------------------

describe('RESP3 replies', () => {
  it('use doubles for scores and [member, score] pairs where Redis 7 nests them', async () => {
    const c = await resp3Connection();
    const key = k('z');
    expect(await c.call('ZADD', key, 1, 'a', 2.5, 'b', 'inf', 'c')).toBe(3);
    expect(await c.call('ZSCORE', key, 'b')).toEqual(d('2.5'));
    expect(await c.call('ZSCORE', key, 'c')).toEqual(d('inf'));
    expect(await c.call('ZSCORE', key, 'nope')).toBe(null);
    expect(await c.call('ZMSCORE', key, 'a', 'nope')).toEqual([d('1'), null]);
    expect(await c.call('ZINCRBY', key, 1, 'a')).toEqual(d('2'));
    expect(await c.call('ZADD', key, 'INCR', 1, 'a')).toEqual(d('3'));
    expect(await c.call('ZRANGE', key, 0, -1)).toEqual(['b', 'a', 'c']);
    expect(await c.call('ZRANGE', key, 0, -1, 'WITHSCORES')).toEqual([
      ['b', d('2.5')],
      ['a', d('3')],
      ['c', d('inf')],
    ]);
    expect(await c.call('ZRANGEBYSCORE', key, 3, '+inf', 'WITHSCORES')).toEqual([
      ['a', d('3')],
      ['c', d('inf')],
    ]);
    expect(await c.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')).toEqual([['c', d('inf')]]);
    // With a count ≥ the size, the whole set, walked from the highest score.
    expect(await c.call('ZRANDMEMBER', key, 5, 'WITHSCORES')).toEqual([
      ['c', d('inf')],
      ['a', d('3')],
      ['b', d('2.5')],
    ]);
    expect(await c.call('ZUNION', 1, key, 'WITHSCORES')).toEqual([
      ['b', d('2.5')],
      ['a', d('3')],
      ['c', d('inf')],
    ]);
    const [, items] = (await c.call('ZSCAN', key, 0)) as [string, R3[]];
    // ZSCAN scores are bulk strings even in RESP3.
    expect(items).toContain('2.5');
    expect(await c.call('ZPOPMIN', key)).toEqual(['b', d('2.5')]);
    expect(await c.call('ZPOPMAX', key, 1)).toEqual([['c', d('inf')]]);
    expect(await c.call('ZPOPMIN', key, 0)).toEqual([]);
    await c.call('ZADD', key, 4, 'd', 5, 'e');
    expect(await c.call('BZPOPMIN', key, 0)).toEqual([key, 'a', d('3')]);
    expect(await c.call('ZMPOP', 1, key, 'MAX', 'COUNT', 5)).toEqual([
      key,
      [
        ['e', d('5')],
        ['d', d('4')],
      ],
    ]);
    expect(await c.call('ZMPOP', 1, key, 'MAX')).toBe(null);
    expect(await c.call('BZPOPMIN', key, '0.01')).toBe(null);
    expect(await c.call('ZADD', key, 'x', 'a')).toEqual({ error: NOT_FLOAT });
  });
});

// ---- keyspace events ------------------------------------------------------------------------------------------

describe('keyspace events', () => {
  it('are emitted with Redis names and order', async () => {
    const prefix = k('ev');
    const a = `${prefix}a`;
    const b = `${prefix}b`;
    const c = `${prefix}c`;
    const expected = [
      'zadd a',
      'zincr a',
      'zincr a',
      'zrem a',
      'zremrangebyscore a',
      'zadd a',
      'zremrangebyrank a',
      'zadd a',
      'zremrangebylex a',
      'zunionstore b',
      'zinterstore b',
      'zdiffstore b',
      'zrangestore c',
      'del c',
      'zpopmin a',
      'zpopmax a',
      'del a',
      'del b',
    ];
    const events = await keyevents(r, client, prefix, { count: expected.length, settleMs: 20 }, async () => {
      await r.zadd(a, 1, 'x', 2, 'y', 3, 'z', 4, 'w');
      await r.zadd(a, 'NX', 1, 'x'); // no change: no event
      await r.zadd(a, 'INCR', 1, 'x');
      await r.zincrby(a, 1, 'x');
      await r.zrem(a, 'nope'); // no change: no event
      await r.zrem(a, 'w');
      await r.zremrangebyscore(a, 100, 200); // no change: no event
      await r.zremrangebyscore(a, 3, 3);
      await r.zadd(a, 5, 'v', 6, 'u');
      await r.zremrangebyrank(a, -1, -1);
      await r.zadd(a, 0, 'l');
      await r.zremrangebylex(a, '[l', '[l');
      await r.zunionstore(b, 1, a);
      await r.zinterstore(b, 1, a);
      await r.zdiffstore(b, 1, a);
      await r.zrangestore(c, a, 0, 0);
      await r.zrangestore(c, a, 10, 20); // empty result: deletes c
      await r.zpopmin(a);
      await r.zpopmax(a, 10);
      await r.zunionstore(b, 1, a); // a is gone: deletes b
    });
    expect(events).toEqual(expected);
  });
});
