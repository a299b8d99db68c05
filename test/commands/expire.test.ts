import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { err, NOT_INT } from '../helpers/errors.js';
import { RawConnection, type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep } from '../helpers/wait.js';

// Expiry (Redis's expire.c and the expiry paths of db.c) end to end: deadlines, TTL reporting, lazy and
// active expiry with their keyspace events. Only Redis-compatible behaviour is asserted; waits are bounded.

let server: RunningServer;
let r: Redis;
let sub: Redis;
let seq = 0;
const P = `exptest-${process.pid}:`;
const k = (name = 'k'): string => `${P}${++seq}:${name}`;

const invalid = (cmd: string) => `ERR invalid expire time in '${cmd}' command`;
const INT64_MAX = '9223372036854775807';

useServer((s, connect) => {
  server = s;
  r = connect();
  sub = connect();
});

afterAll(async () => {
  await r?.config('SET', 'notify-keyspace-events', '').catch(() => {});
});

/** Polls `check` every 10 ms until it is true or `ms` pass; returns whether it became true. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(10);
  }
  return check();
}

describe('EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT', () => {
  it('set relative and absolute deadlines', async () => {
    const key = k();
    await r.set(key, 'v');
    expect(await r.expire(key, 100)).toBe(1);
    expect(await r.ttl(key)).toBe(100);
    expect(await r.pexpire(key, 50_000)).toBe(1);
    expect(await r.pttl(key)).toBeLessThanOrEqual(50_000);
    expect(await r.pttl(key)).toBeGreaterThan(49_000);
    const at = Math.floor(Date.now() / 1000) + 1000;
    expect(await r.expireat(key, at)).toBe(1);
    expect(await r.call('EXPIRETIME', key)).toBe(at);
    expect(await r.pexpireat(key, at * 1000 + 123)).toBe(1);
    expect(await r.call('PEXPIRETIME', key)).toBe(at * 1000 + 123);
  });

  it('answer 0 for a missing key', async () => {
    const key = k();
    expect(await r.expire(key, 100)).toBe(0);
    expect(await r.pexpire(key, 100)).toBe(0);
    expect(await r.expireat(key, 2_000_000_000)).toBe(0);
    expect(await r.pexpireat(key, 2_000_000_000_000)).toBe(0);
    expect(await r.expire(key, 0)).toBe(0);
    expect(await r.exists(key)).toBe(0);
  });

  it('work on every type', async () => {
    const l = k('l');
    const h = k('h');
    await r.rpush(l, 'a');
    await r.hset(h, 'f', 'v');
    expect(await r.expire(l, 100)).toBe(1);
    expect(await r.expire(h, 100)).toBe(1);
    expect(await r.ttl(l)).toBeGreaterThan(90);
    expect(await r.ttl(h)).toBeGreaterThan(90);
  });

  it('a deadline now or in the past deletes the key and answers 1', async () => {
    for (const [cmd, arg] of [
      ['EXPIRE', '0'],
      ['EXPIRE', '-1'],
      ['PEXPIRE', '-100'],
      ['EXPIREAT', '1'],
      ['PEXPIREAT', String(Date.now() - 1000)],
      ['EXPIRE', '-9223372036854775'],
      ['PEXPIRE', '-9223372036854775808'],
    ]) {
      const key = k();
      await r.set(key, 'v');
      expect([cmd, arg, await r.call(cmd, key, arg)]).toEqual([cmd, arg, 1]);
      expect(await r.exists(key)).toBe(0);
    }
  });

  it('NX, XX, GT and LT', async () => {
    const key = k();
    await r.set(key, 'v');
    // No deadline yet: XX and GT refuse (no TTL counts as infinite), NX and LT accept.
    expect(await r.call('EXPIRE', key, '100', 'XX')).toBe(0);
    expect(await r.call('EXPIRE', key, '100', 'GT')).toBe(0);
    expect(await r.ttl(key)).toBe(-1);
    expect(await r.call('EXPIRE', key, '100', 'NX')).toBe(1);
    expect(await r.call('EXPIRE', key, '200', 'NX')).toBe(0);
    expect(await r.ttl(key)).toBe(100);
    expect(await r.call('EXPIRE', key, '200', 'XX')).toBe(1);
    expect(await r.ttl(key)).toBe(200);
    expect(await r.call('EXPIRE', key, '100', 'GT')).toBe(0);
    expect(await r.call('EXPIRE', key, '300', 'GT')).toBe(1);
    expect(await r.call('EXPIRE', key, '400', 'LT')).toBe(0);
    expect(await r.call('EXPIRE', key, '50', 'lt')).toBe(1);
    expect(await r.ttl(key)).toBe(50);
    expect(await r.call('EXPIRE', key, '60', 'XX', 'GT')).toBe(1);
    expect(await r.call('EXPIRE', key, '30', 'XX', 'GT')).toBe(0);
    expect(await r.ttl(key)).toBe(60);
    const fresh = k();
    await r.set(fresh, 'v');
    expect(await r.call('PEXPIRE', fresh, '100000', 'LT')).toBe(1);
    expect(await r.pttl(fresh)).toBeGreaterThan(90_000);
    // GT never deletes a key without a deadline, even with a past time.
    const g = k();
    await r.set(g, 'v');
    expect(await r.call('PEXPIRE', g, '-100', 'GT')).toBe(0);
    expect(await r.exists(g)).toBe(1);
    expect(await r.call('PEXPIRE', g, '-100', 'LT')).toBe(1);
    expect(await r.exists(g)).toBe(0);
  });

  it('option errors come before the time argument is parsed', async () => {
    const key = k();
    await r.set(key, 'v');
    const nx = 'ERR NX and XX, GT or LT options at the same time are not compatible';
    expect(await err(r.call('EXPIRE', key, '100', 'NX', 'XX'))).toBe(nx);
    expect(await err(r.call('EXPIRE', key, '100', 'NX', 'GT'))).toBe(nx);
    expect(await err(r.call('EXPIRE', key, '100', 'LT', 'NX'))).toBe(nx);
    expect(await err(r.call('EXPIRE', key, '100', 'GT', 'LT'))).toBe(
      'ERR GT and LT options at the same time are not compatible',
    );
    expect(await err(r.call('EXPIRE', key, '100', 'FOO'))).toBe('ERR Unsupported option FOO');
    expect(await err(r.call('PEXPIRE', key, 'abc', 'bar'))).toBe('ERR Unsupported option bar');
    expect(await err(r.call('EXPIRE', key, 'abc', 'NX', 'XX'))).toBe(nx);
    expect(await err(r.call('EXPIRE', key, 'abc'))).toBe(NOT_INT);
    expect(await err(r.call('EXPIRE', key, '1.5'))).toBe(NOT_INT);
    expect(await err(r.call('EXPIRE', key, ''))).toBe(NOT_INT);
    expect(await err(r.call('EXPIREAT', k(), 'x'))).toBe(NOT_INT);
    expect(await err(r.call('EXPIRE', key))).toBe("ERR wrong number of arguments for 'expire' command");
    expect(await r.ttl(key)).toBe(-1);
  });

  it('deadlines must fit in 64-bit milliseconds', async () => {
    const key = k();
    await r.set(key, 'v');
    expect(await err(r.call('EXPIRE', key, '9223372036854776'))).toBe(invalid('expire'));
    expect(await err(r.call('EXPIRE', key, '9223372036854775'))).toBe(invalid('expire'));
    expect(await err(r.call('EXPIRE', key, '-9223372036854776'))).toBe(invalid('expire'));
    expect(await err(r.call('PEXPIRE', key, INT64_MAX))).toBe(invalid('pexpire'));
    expect(await err(r.call('EXPIREAT', key, '9223372036854776'))).toBe(invalid('expireat'));
    expect(await err(r.call('EXPIRE', key, '99999999999999999999'))).toBe(NOT_INT);
    // Missing keys are checked only after the time.
    expect(await err(r.call('PEXPIRE', k(), INT64_MAX))).toBe(invalid('pexpire'));
    expect(await r.ttl(key)).toBe(-1);
    // The largest absolute deadlines are accepted.
    expect(await r.call('EXPIREAT', key, '9223372036854775')).toBe(1);
    expect(await r.call('PEXPIREAT', key, INT64_MAX)).toBe(1);
    expect(await r.call('EXPIRE', key, '9223372036854')).toBe(1);
    expect(await r.exists(key)).toBe(1);
    expect(await r.ttl(key)).toBeGreaterThan(9e12);
  });
});

describe('TTL / PTTL / EXPIRETIME / PEXPIRETIME / PERSIST', () => {
  it('-2 for a missing key, -1 for a key without a deadline', async () => {
    const key = k();
    for (const cmd of ['TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME']) expect(await r.call(cmd, key)).toBe(-2);
    await r.set(key, 'v');
    for (const cmd of ['TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME']) expect(await r.call(cmd, key)).toBe(-1);
  });

  it('TTL and EXPIRETIME round milliseconds to the nearest second', async () => {
    const key = k();
    await r.set(key, 'v');
    await r.pexpireat(key, 1_999_999_999_999);
    expect(await r.call('EXPIRETIME', key)).toBe(2_000_000_000);
    await r.pexpireat(key, 1_999_999_999_499);
    expect(await r.call('EXPIRETIME', key)).toBe(1_999_999_999);
    await r.pexpireat(key, 1_999_999_999_500);
    expect(await r.call('EXPIRETIME', key)).toBe(2_000_000_000);
    await r.pexpire(key, 2700);
    expect(await r.ttl(key)).toBe(3);
    await r.pexpire(key, 2300);
    expect(await r.ttl(key)).toBe(2);
  });

  it('PERSIST removes a deadline', async () => {
    const key = k();
    await r.set(key, 'v', 'EX', 100);
    expect(await r.persist(key)).toBe(1);
    expect(await r.ttl(key)).toBe(-1);
    expect(await r.persist(key)).toBe(0);
    expect(await r.persist(k())).toBe(0);
    expect(await err(r.call('PERSIST', key, key))).toBe("ERR wrong number of arguments for 'persist' command");
  });

  it('raw integer replies', async () => {
    const key = k();
    await r.set(key, 'v');
    await r.pexpireat(key, 4_102_444_800_000);
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('PEXPIRETIME', key)).toBe(':4102444800000\r\n');
      expect(await c.command('EXPIRETIME', key)).toBe(':4102444800\r\n');
      expect(await c.command('TTL', `${key}-missing`)).toBe(':-2\r\n');
    } finally {
      c.close();
    }
  });
});

describe('which writes keep the deadline', () => {
  it('SET without KEEPTTL, GETSET and MSET clear it', async () => {
    const key = k();
    await r.set(key, 'a', 'EX', 100);
    await r.set(key, 'b');
    expect(await r.ttl(key)).toBe(-1);
    await r.expire(key, 100);
    await r.getset(key, 'c');
    expect(await r.ttl(key)).toBe(-1);
    await r.expire(key, 100);
    await r.mset(key, 'd');
    expect(await r.ttl(key)).toBe(-1);
    await r.set(key, 'e', 'EX', 100);
    await r.del(key);
    await r.set(key, 'f');
    expect(await r.ttl(key)).toBe(-1);
  });

  it('KEEPTTL, APPEND, SETRANGE, INCR, INCRBYFLOAT and list pushes keep it', async () => {
    const key = k();
    await r.set(key, '1', 'EX', 100);
    await r.call('SET', key, '2', 'KEEPTTL');
    await r.append(key, '0');
    await r.setrange(key, 0, '3');
    await r.incr(key);
    await r.incrbyfloat(key, '0.5');
    expect(await r.get(key)).toBe('31.5');
    expect(await r.ttl(key)).toBeGreaterThan(90);
    const l = k('l');
    await r.rpush(l, 'a');
    await r.expire(l, 100);
    await r.rpush(l, 'b');
    expect(await r.ttl(l)).toBeGreaterThan(90);
  });
});

describe('expiry', () => {
  it('a key past its deadline is gone on access', async () => {
    const key = k();
    await r.set(key, 'v', 'PX', 30);
    const l = k('l');
    await r.rpush(l, 'a');
    await r.pexpire(l, 30);
    await sleep(80);
    expect(await r.get(key)).toBeNull();
    expect(await r.exists(key)).toBe(0);
    expect(await r.ttl(key)).toBe(-2);
    expect(await r.llen(l)).toBe(0);
    expect(await r.type(l)).toBe('none');
    // The name is free for a new value without a deadline.
    expect(await r.set(key, 'w', 'NX')).toBe('OK');
    expect(await r.ttl(key)).toBe(-1);
  });

  it('keys expire without being accessed, with `expired` events on both channels', async () => {
    await r.config('SET', 'notify-keyspace-events', 'KEx');
    const got: string[] = [];
    const key = k();
    const onMessage = (_p: string, channel: string, message: string) => {
      if (channel === '__keyevent@0__:expired' && message === key) got.push('keyevent');
      if (channel === `__keyspace@0__:${key}` && message === 'expired') got.push('keyspace');
    };
    sub.on('pmessage', onMessage);
    try {
      await sub.psubscribe('__key*@0__:*');
      await r.set(key, 'v', 'PX', 50);
      expect(await eventually(async () => got.length === 2, 5000)).toBe(true);
      expect(got.sort()).toEqual(['keyevent', 'keyspace']);
      // It was removed from the keyspace, not just hidden: the key count dropped without any access.
      expect(await r.call('DBSIZE')).toBeTypeOf('number');
      expect(await r.exists(key)).toBe(0);
    } finally {
      sub.off('pmessage', onMessage);
      await sub.punsubscribe('__key*@0__:*');
      await r.config('SET', 'notify-keyspace-events', '');
    }
  });

  it('active expiry empties the database without any access', async () => {
    const c = redisClient(server);
    try {
      await c.select(9);
      await c.flushdb();
      for (let i = 0; i < 50; i++) await c.set(`gone:${i}`, 'v', 'PX', 20 + (i % 5) * 10);
      await c.set('stays', 'v');
      expect(await eventually(async () => (await c.dbsize()) === 1, 8000)).toBe(true);
      expect(await c.keys('*')).toEqual(['stays']);
    } finally {
      c.disconnect();
    }
  });

  it('expire / persist / del events of the expire commands', async () => {
    await r.config('SET', 'notify-keyspace-events', 'Eg');
    const got: string[] = [];
    const key = k();
    const onMessage = (_p: string, channel: string, message: string) => {
      if (message === key) got.push(channel.slice(channel.indexOf(':') + 1));
    };
    sub.on('pmessage', onMessage);
    try {
      await sub.psubscribe('__keyevent@0__:*');
      await r.set(key, 'v');
      await r.expire(key, 100);
      await r.call('EXPIRE', key, '50', 'GT'); // refused: no event
      await r.pexpireat(key, Date.now() + 100_000);
      await r.persist(key);
      await r.persist(key); // nothing to remove: no event
      await r.expire(key, 0);
      await r.set(`${key}:end`, 'x');
      await r.del(`${key}:end`);
      expect(await eventually(async () => got.length >= 4, 3000)).toBe(true);
      await sleep(50);
      expect(got).toEqual(['expire', 'expire', 'persist', 'del']);
    } finally {
      sub.off('pmessage', onMessage);
      await sub.punsubscribe('__keyevent@0__:*');
      await r.config('SET', 'notify-keyspace-events', '');
    }
  });
});
