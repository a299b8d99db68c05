import type Redis from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { publishReceivers, type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep } from '../helpers/wait.js';

// maxmemory as clients see it, the same on kvws and on Redis: OBJECT FREQ and OBJECT IDLETIME (which
// accesses count, Redis's errors under the other family of policies) and the OOM refusals (denyoom
// commands, MULTI, EXEC, volatile policies without volatile keys). Which keys an eviction picks is
// kvws's own (test/engine/eviction.kvws.test.ts).
//
// On the Redis engine (the gateway project) memory limits are Redis's: kvws refuses CONFIG SET maxmemory*,
// so this file sets them on the Redis server behind it, and the commands reach Redis.

let server: RunningServer;
let r: Redis;
/** Where maxmemory settings go: the server itself, or the Redis behind kvws's Redis engine. */
let admin: Redis;
let seq = 0;
const P = `evtest-${process.pid}:`;
const k = (name = 'k'): string => `${P}${++seq}:${name}`;

const ADJUST =
  'Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';
const NOT_LFU = `ERR An LFU maxmemory policy is not selected, access frequency not tracked. ${ADJUST}`;
const IS_LFU = `ERR An LFU maxmemory policy is selected, idle time not tracked. ${ADJUST}`;
const OOM = "OOM command not allowed when used memory > 'maxmemory'.";

useServer((s, connect) => {
  server = s;
  r = connect();
  admin = s.backing ? redisClient(s.backing) : connect();
});

async function config(...pairs: string[]): Promise<void> {
  await admin.config('SET', ...(pairs as [string, string]));
}

async function reply(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (e) {
    return (e as Error).message;
  }
}

afterEach(async () => {
  await config('maxmemory', '0', 'maxmemory-policy', 'noeviction', 'lfu-log-factor', '10', 'lfu-decay-time', '1');
});

afterAll(() => {
  if (server.backing) admin.disconnect();
});

describe('OBJECT FREQ', () => {
  it('needs an LFU policy, and answers nil for a missing key under any policy', async () => {
    const key = k();
    await r.set(key, 'v');
    expect(await reply(r.call('OBJECT', 'FREQ', key))).toBe(NOT_LFU);
    expect(await r.call('OBJECT', 'FREQ', k('missing'))).toBeNull();
    await config('maxmemory-policy', 'allkeys-lru');
    expect(await reply(r.call('OBJECT', 'FREQ', key))).toBe(NOT_LFU);
    await config('maxmemory-policy', 'allkeys-lfu');
    expect(await r.call('OBJECT', 'FREQ', k('missing'))).toBeNull();
  });

  it('counts reads and writes, not TYPE, EXISTS, TTL or OBJECT (lfu-log-factor 0: one step per access)', async () => {
    await config('maxmemory-policy', 'volatile-lfu', 'lfu-log-factor', '0', 'lfu-decay-time', '0');
    const key = k();
    await r.set(key, 'v');
    expect(await r.call('OBJECT', 'FREQ', key)).toBe(5); // LFU_INIT_VAL: a new key
    await r.get(key);
    expect(await r.call('OBJECT', 'FREQ', key)).toBe(6);
    await r.get(key);
    await r.strlen(key);
    expect(await r.call('OBJECT', 'FREQ', key)).toBe(8);
    await r.type(key);
    await r.exists(key);
    await r.ttl(key);
    await r.pttl(key);
    await r.call('OBJECT', 'ENCODING', key);
    await r.call('OBJECT', 'IDLETIME', key).catch(() => {});
    expect(await r.call('OBJECT', 'FREQ', key)).toBe(8);
    await r.call('TOUCH', key);
    expect(await r.call('OBJECT', 'FREQ', key)).toBe(9);
    await r.set(key, 'overwritten'); // an overwrite keeps the counter, after counting the access
    expect(await r.call('OBJECT', 'FREQ', key)).toBe(10);
    await r.append(key, '!');
    await r.mget(key, k('other'));
    expect(await r.call('OBJECT', 'FREQ', key)).toBe(12);
  });

  it('counts accesses to every kind of value, and a new key of any type starts at 5', async () => {
    await config('maxmemory-policy', 'allkeys-lfu', 'lfu-log-factor', '0', 'lfu-decay-time', '0');
    const h = k('h');
    const l = k('l');
    const s = k('s');
    const z = k('z');
    await r.hset(h, 'f', 'v');
    await r.rpush(l, 'a', 'b');
    await r.sadd(s, 'm');
    await r.zadd(z, 1, 'm');
    for (const key of [h, l, s, z]) expect(await r.call('OBJECT', 'FREQ', key)).toBe(5);
    await r.hget(h, 'f');
    await r.hset(h, 'g', 'w');
    await r.lrange(l, 0, -1);
    await r.sismember(s, 'm');
    await r.zscore(z, 'm');
    expect(await r.call('OBJECT', 'FREQ', h)).toBe(7);
    for (const key of [l, s, z]) expect(await r.call('OBJECT', 'FREQ', key)).toBe(6);
  });
});

describe('OBJECT IDLETIME', () => {
  it('is refused under an LFU policy, nil for a missing key', async () => {
    const key = k();
    await r.set(key, 'v');
    await config('maxmemory-policy', 'allkeys-lfu');
    expect(await reply(r.call('OBJECT', 'IDLETIME', key))).toBe(IS_LFU);
    expect(await r.call('OBJECT', 'IDLETIME', k('missing'))).toBeNull();
  });

  it('counts seconds since the last read or write; TYPE, EXISTS and TTL do not reset it', async () => {
    // Under an LRU policy (kvws tracks accesses only with a limit or a policy; Redis always does).
    await config('maxmemory-policy', 'allkeys-lru');
    const key = k();
    await r.set(key, 'v');
    expect(await r.call('OBJECT', 'IDLETIME', key)).toBe(0);
    await sleep(2200);
    await r.type(key);
    await r.exists(key);
    await r.ttl(key);
    expect(await r.call('OBJECT', 'IDLETIME', key)).toBeGreaterThanOrEqual(2);
    await r.get(key);
    expect(await r.call('OBJECT', 'IDLETIME', key)).toBe(0);
  });
});

describe('OOM', () => {
  it('noeviction over maxmemory: denyoom commands are refused; reads, DEL, EXPIRE and PUBLISH still run', async () => {
    const key = k();
    await r.set(key, 'v');
    await config('maxmemory', '1');
    expect(await reply(r.set(k(), 'v'))).toBe(OOM);
    expect(await reply(r.lpush(k(), 'v'))).toBe(OOM);
    expect(await reply(r.incr(k()))).toBe(OOM);
    expect(await reply(r.append(key, 'more'))).toBe(OOM);
    expect(await r.get(key)).toBe('v');
    expect(await r.expire(key, 100)).toBe(1);
    expect(await r.publish(k('channel'), 'x')).toBe(publishReceivers(server, 0));
    expect(await r.del(key)).toBe(1);
  });

  it('a volatile policy with no key that has a TTL cannot free anything: OOM', async () => {
    await r.set(k(), 'v');
    await config('maxmemory-policy', 'volatile-lru', 'maxmemory', '1');
    expect(await reply(r.set(k(), 'v'))).toBe(OOM);
    await config('maxmemory-policy', 'volatile-ttl');
    expect(await reply(r.set(k(), 'v'))).toBe(OOM);
  });

  it('inside MULTI every command but EXEC/DISCARD is refused; EXEC holding a denyoom command is aborted', async () => {
    if (server.engine === 'redis') return; // the gateway queues transactions itself: Redis sees them at EXEC
    const key = k();
    await config('maxmemory', '1');
    await r.multi({ pipeline: false });
    expect(await reply(r.get(key))).toBe(OOM);
    expect(await reply(r.exec())).toBe('EXECABORT Transaction discarded because of previous errors.');

    await config('maxmemory', '0');
    await r.multi({ pipeline: false });
    expect(await r.set(key, 'v')).toBe('QUEUED');
    await config('maxmemory', '1');
    expect(await reply(r.exec())).toBe(`EXECABORT Transaction discarded because of: ${OOM}`);

    await config('maxmemory', '0');
    await r.multi({ pipeline: false });
    expect(await r.get(key)).toBe('QUEUED');
    await config('maxmemory', '1');
    expect(await r.exec()).toEqual([[null, null]]);
  });
});

describe('CONFIG SET maxmemory and the eviction parameters', () => {
  it('maxmemory takes Redis memory units', async () => {
    for (const [v, bytes] of [
      ['1m', 1_000_000],
      ['1MB', 1024 * 1024],
      ['2gb', 2 * 1024 ** 3],
      ['3k', 3000],
      ['1000b', 1000],
      ['mb', 0],
      ['0', 0],
    ] as const) {
      await config('maxmemory', v);
      expect(await admin.config('GET', 'maxmemory')).toEqual(['maxmemory', String(bytes)]);
    }
  });

  it("refuses bad values with Redis's errors", async () => {
    const failed = (name: string) => `ERR CONFIG SET failed (possibly related to argument '${name}') - `;
    for (const v of ['-1', '+1', ' 1', '1.5mb', '10xb', '1e3']) {
      expect(await reply(r.config('SET', 'maxmemory', v))).toBe(
        `${failed('maxmemory')}argument must be a memory value`,
      );
    }
    expect(await reply(r.config('SET', 'maxmemory-policy', 'lru'))).toBe(
      `${failed('maxmemory-policy')}argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction`,
    );
    expect(await reply(r.config('SET', 'maxmemory-samples', '0'))).toBe(
      `${failed('maxmemory-samples')}argument must be between 1 and 2147483647 inclusive`,
    );
    expect(await reply(r.config('SET', 'maxmemory-eviction-tenacity', '101'))).toBe(
      `${failed('maxmemory-eviction-tenacity')}argument must be between 0 and 100 inclusive`,
    );
    expect(await reply(r.config('SET', 'lfu-log-factor', '-1'))).toBe(
      `${failed('lfu-log-factor')}argument must be between 0 and 2147483647 inclusive`,
    );
    expect(await reply(r.config('SET', 'lfu-decay-time', 'x'))).toBe(
      `${failed('lfu-decay-time')}argument couldn't be parsed into an integer`,
    );
  });

  it('reads back the policy in lower case and the LFU parameters', async () => {
    await config('maxmemory-policy', 'ALLKEYS-LRU', 'lfu-log-factor', '3', 'lfu-decay-time', '0');
    expect(await admin.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'allkeys-lru']);
    const lfu = (await admin.config('GET', 'lfu-*')) as string[];
    expect(Object.fromEntries([0, 2].map((i) => [lfu[i], lfu[i + 1]]))).toEqual({
      'lfu-log-factor': '3',
      'lfu-decay-time': '0',
    });
  });
});

describe('on the Redis engine', () => {
  it('CONFIG SET maxmemory and the eviction parameters are refused: they belong to the Redis servers', async () => {
    if (server.engine !== 'redis') return;
    for (const [name, value] of [
      ['maxmemory', '10mb'],
      ['maxmemory-policy', 'allkeys-lru'],
      ['lfu-log-factor', '1'],
    ]) {
      expect(await reply(r.config('SET', name, value))).toMatch(
        new RegExp(
          `^ERR CONFIG SET failed \\(possibly related to argument '${name}'\\) - the Redis engine does not evict`,
        ),
      );
    }
  });
});
