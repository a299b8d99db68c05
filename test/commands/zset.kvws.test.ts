import type Redis from 'ioredis';
import { describe, expect, it } from 'vitest';
import { fails } from '../helpers/errors.js';
import { d, Resp3Connection } from '../helpers/resp3.js';
import type { RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// Sorted-set behaviour kvws shares with Redis 7.2 but the Debian redis-server (7.0) the fidelity project runs
// lacks: ZRANK/ZREVRANK WITHSCORE and the shortest round-trip double replies. Runs in the kvws project only.

let server: RunningServer;
let r: Redis;

useServer((s, connect) => {
  server = s;
  r = connect();
});

let seq = 0;
/** A key name unique to this run. */
const k = (name: string) => `zset-kvws-test:${process.pid}:${++seq}:${name}`;

describe('score replies', () => {
  it('print the shortest round-trip form, as Redis 7.2 does', async () => {
    const key = k('z');
    expect(await r.zincrby(key, 0.1, 'a')).toBe('0.1');
    expect(await r.zincrby(key, 0.2, 'a')).toBe('0.30000000000000004');
    await r.zadd(key, '1e300', 'big', '1.1', 'x', '-1.5e-10', 'tiny', '12345678901234567', 'int');
    expect(await r.zmscore(key, 'big', 'x', 'tiny', 'int')).toEqual(['1e+300', '1.1', '-1.5e-10', '12345678901234568']);
  });
});

describe('ZRANK / ZREVRANK WITHSCORE (Redis 7.2)', () => {
  it('WITHSCORE adds the score', async () => {
    const key = k('z');
    await r.zadd(key, 1, 'a', 2, 'b', 3.5, 'c');
    expect(await r.call('ZRANK', key, 'c', 'WITHSCORE')).toEqual([2, '3.5']);
    expect(await r.call('ZREVRANK', key, 'c', 'withscore')).toEqual([0, '3.5']);
    expect(await r.call('ZRANK', key, 'nope', 'WITHSCORE')).toBe(null);
    expect(await r.call('ZRANK', k('missing'), 'a', 'WITHSCORE')).toBe(null);
    await fails(r.call('ZRANK', key, 'a', 'WITHSCORES'), 'ERR syntax error');
    await fails(r.call('ZRANK', key, 'a', 'WITHSCORE', 'x'), "ERR wrong number of arguments for 'zrank' command");
  });

  it('in RESP3, replies [integer, double] or null', async () => {
    const c = await Resp3Connection.open(server);
    try {
      const key = k('z');
      await c.call('ZADD', key, 1, 'a', 2.5, 'b');
      expect(await c.call('ZRANK', key, 'b', 'WITHSCORE')).toEqual([1, d('2.5')]);
      expect(await c.call('ZREVRANK', key, 'b', 'WITHSCORE')).toEqual([0, d('2.5')]);
      expect(await c.call('ZRANK', key, 'nope', 'WITHSCORE')).toBe(null);
      expect(await c.call('ZRANK', k('missing'), 'a', 'WITHSCORE')).toBe(null);
    } finally {
      c.close();
    }
  });
});
