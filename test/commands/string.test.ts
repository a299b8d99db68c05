import { execFile } from 'node:child_process';
import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { err, NOT_FLOAT, NOT_INT, SYNTAX, WRONGTYPE } from '../helpers/errors.js';
import { useKeyspaceEvents } from '../helpers/events.js';
import { RawConnection, type RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// String commands (Redis's t_string.c) end to end: ioredis, raw RESP and redis-cli against a running kvws.
// Only behaviour that real Redis 7.0 shares is asserted: the "redis" vitest project runs this same file
// against a private redis-server.

let server: RunningServer;
let r: Redis;
const P = `strtest-${process.pid}:`;
let seq = 0;
/** A fresh key name (unique within this run), so tests never see each other's keys. */
const k = (name = 'k'): string => `${P}${++seq}:${name}`;

const NAN_INF = 'ERR increment would produce NaN or Infinity';
const OVERFLOW = 'ERR increment or decrement would overflow';
const TOO_BIG = 'ERR string exceeds maximum allowed size (proto-max-bulk-len)';
const INT64_MAX = '9223372036854775807';
const INT64_MIN = '-9223372036854775808';
const invalidExpire = (cmd: string) => `ERR invalid expire time in '${cmd}' command`;

/** Runs redis-cli against the server under test (bounded by a 10 s timeout). */
function cli(args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'redis-cli',
      ['-h', server.host, '-p', String(server.port), ...args],
      { encoding: 'buffer', timeout: 10_000 },
      (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout)),
    );
    if (input) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

useServer((s, connect) => {
  server = s;
  r = connect();
});

const record = useKeyspaceEvents({
  server: () => server,
  r: () => r,
  prefix: P,
  db: 0,
  key: k,
  name: (key) => key.slice(key.indexOf(':', P.length) + 1),
});

afterAll(async () => {
  await r?.config('SET', 'notify-keyspace-events', '').catch(() => {});
});

/**
 * Runs `fn` with notify-keyspace-events `flags` (plus $) and returns the keyspace events it caused on this
 * file's keys, as "<name> <event>" (name = the key without its prefix and sequence number), in order.
 */
async function events(fn: () => Promise<unknown>, flags = 'KA'): Promise<string[]> {
  await r.config('SET', 'notify-keyspace-events', `${flags}$`);
  try {
    return await record(fn);
  } finally {
    await r.config('SET', 'notify-keyspace-events', '');
  }
}

describe('GET / SET basics', () => {
  it('sets and gets, overwriting a value of any type', async () => {
    const key = k();
    expect(await r.get(key)).toBeNull();
    expect(await r.set(key, 'v1')).toBe('OK');
    expect(await r.get(key)).toBe('v1');
    expect(await r.set(key, 'v2')).toBe('OK');
    expect(await r.get(key)).toBe('v2');
    const list = k('list');
    await r.rpush(list, 'a');
    expect(await r.set(list, 'now a string')).toBe('OK');
    expect(await r.type(list)).toBe('string');
    expect(await r.get(list)).toBe('now a string');
  });

  it('GET on another type is WRONGTYPE; empty values are values', async () => {
    const list = k('list');
    await r.rpush(list, 'a');
    expect(await err(r.get(list))).toBe(WRONGTYPE);
    const key = k();
    await r.set(key, '');
    expect(await r.get(key)).toBe('');
    expect(await r.exists(key)).toBe(1);
    expect(await r.strlen(key)).toBe(0);
  });

  it('arity errors name the command in lower case', async () => {
    expect(await err(r.call('SET', k()))).toBe("ERR wrong number of arguments for 'set' command");
    expect(await err(r.call('GET'))).toBe("ERR wrong number of arguments for 'get' command");
    expect(await err(r.call('get', 'a', 'b'))).toBe("ERR wrong number of arguments for 'get' command");
    expect(await err(r.call('SETEX', k(), '10'))).toBe("ERR wrong number of arguments for 'setex' command");
    expect(await err(r.call('MGET'))).toBe("ERR wrong number of arguments for 'mget' command");
  });
});

describe('SET options', () => {
  it('NX sets only a missing key, XX only an existing one', async () => {
    const key = k();
    expect(await r.set(key, 'a', 'XX')).toBeNull();
    expect(await r.exists(key)).toBe(0);
    expect(await r.set(key, 'a', 'NX')).toBe('OK');
    expect(await r.set(key, 'b', 'NX')).toBeNull();
    expect(await r.get(key)).toBe('a');
    expect(await r.set(key, 'c', 'XX')).toBe('OK');
    expect(await r.get(key)).toBe('c');
  });

  it('GET returns the old value (nil when missing), combined with NX and XX', async () => {
    const key = k();
    expect(await r.call('SET', key, 'a', 'GET')).toBeNull();
    expect(await r.call('SET', key, 'b', 'GET')).toBe('a');
    expect(await r.get(key)).toBe('b');
    // NX GET: the old value is returned and nothing is set when the key exists.
    expect(await r.call('SET', key, 'c', 'NX', 'GET')).toBe('b');
    expect(await r.get(key)).toBe('b');
    const fresh = k();
    expect(await r.call('SET', fresh, 'x', 'NX', 'GET')).toBeNull();
    expect(await r.get(fresh)).toBe('x');
    // XX GET: nil and nothing set on a missing key; old value and set on an existing one.
    const missing = k();
    expect(await r.call('SET', missing, 'x', 'XX', 'GET')).toBeNull();
    expect(await r.exists(missing)).toBe(0);
    expect(await r.call('SET', key, 'd', 'XX', 'GET')).toBe('b');
    expect(await r.get(key)).toBe('d');
  });

  it('GET on another type is WRONGTYPE and changes nothing', async () => {
    const list = k('list');
    await r.rpush(list, 'a');
    expect(await err(r.call('SET', list, 'v', 'GET'))).toBe(WRONGTYPE);
    expect(await err(r.call('SET', list, 'v', 'NX', 'GET'))).toBe(WRONGTYPE);
    expect(await err(r.call('SET', list, 'v', 'XX', 'GET', 'EX', '10'))).toBe(WRONGTYPE);
    expect(await r.type(list)).toBe('list');
    expect(await r.ttl(list)).toBe(-1);
    // The expire time is validated before GET's type check.
    expect(await err(r.call('SET', list, 'v', 'GET', 'EX', '0'))).toBe(invalidExpire('set'));
  });

  it('EX, PX, EXAT and PXAT set a deadline', async () => {
    const now = Date.now();
    const a = k();
    expect(await r.call('SET', a, 'v', 'EX', '100')).toBe('OK');
    expect(await r.ttl(a)).toBeGreaterThanOrEqual(99);
    expect(await r.ttl(a)).toBeLessThanOrEqual(100);
    const b = k();
    expect(await r.call('SET', b, 'v', 'PX', '100000')).toBe('OK');
    expect(await r.pttl(b)).toBeGreaterThan(98_000);
    expect(await r.pttl(b)).toBeLessThanOrEqual(100_000);
    const c = k();
    const at = Math.floor(now / 1000) + 500;
    expect(await r.call('SET', c, 'v', 'EXAT', String(at))).toBe('OK');
    expect(await r.call('EXPIRETIME', c)).toBe(at);
    const d = k();
    expect(await r.call('SET', d, 'v', 'PXAT', String(now + 600_000))).toBe('OK');
    expect(await r.call('PEXPIRETIME', d)).toBe(now + 600_000);
  });

  it('options are case-insensitive and a repeated option keeps the last value', async () => {
    const key = k();
    expect(await r.call('SET', key, 'v', 'ex', '10', 'nx')).toBe('OK');
    expect(await r.call('SET', key, 'w', 'Xx', 'Get', 'pX', '5000')).toBe('v');
    expect(await r.pttl(key)).toBeLessThanOrEqual(5000);
    expect(await r.call('SET', key, 'v', 'EX', '10', 'EX', '1000')).toBe('OK');
    expect(await r.ttl(key)).toBeGreaterThan(990);
    expect(await r.call('SET', key, 'v', 'NX', 'NX')).toBeNull();
    expect(await r.call('SET', key, 'v', 'XX', 'XX', 'KEEPTTL', 'KEEPTTL', 'GET', 'GET')).toBe('v');
    expect(await r.ttl(key)).toBeGreaterThan(990);
  });

  it('SET without KEEPTTL clears the deadline; KEEPTTL keeps it', async () => {
    const key = k();
    await r.set(key, 'a', 'EX', 100);
    expect(await r.call('SET', key, 'b', 'KEEPTTL')).toBe('OK');
    expect(await r.ttl(key)).toBeGreaterThan(90);
    expect(await r.call('SET', key, 'c', 'XX', 'KEEPTTL')).toBe('OK');
    expect(await r.ttl(key)).toBeGreaterThan(90);
    expect(await r.set(key, 'd')).toBe('OK');
    expect(await r.ttl(key)).toBe(-1);
    expect(await r.get(key)).toBe('d');
  });

  it.each([
    [['NX', 'XX']],
    [['XX', 'NX']],
    [['EX', '10', 'PX', '100']],
    [['PX', '10', 'EXAT', '100']],
    [['EXAT', '10', 'PXAT', '100']],
    [['KEEPTTL', 'EX', '10']],
    [['EX', '10', 'KEEPTTL']],
    [['PXAT', '10', 'KEEPTTL']],
    [['EX']],
    [['PX']],
    [['GET', 'EX']],
    [['FOO']],
    [['NX', 'bar']],
    [['PERSIST']],
    [['EX', '10', '20']],
  ])('syntax error for SET key value %j', async (opts) => {
    const key = k();
    expect(await err(r.call('SET', key, 'v', ...opts))).toBe(SYNTAX);
    expect(await r.exists(key)).toBe(0);
  });

  it.each([
    [['EX', '0']],
    [['EX', '-1']],
    [['PX', '0']],
    [['PX', '-100']],
    [['EXAT', '0']],
    [['PXAT', '0']],
    [['EXAT', '-5']],
    [['EX', '9223372036854776']],
    [['EX', '9223372036854775']],
    [['PX', INT64_MAX]],
    [['EXAT', '9223372036854776']],
  ])("'invalid expire time' for SET key value %j", async (opts) => {
    const key = k();
    expect(await err(r.call('SET', key, 'v', ...opts))).toBe(invalidExpire('set'));
    expect(await r.exists(key)).toBe(0);
  });

  it('non-integer expire times are integer errors', async () => {
    for (const bad of ['abc', '1.5', ' 1', '', '1e3', `${INT64_MAX}0`]) {
      expect(await err(r.call('SET', k(), 'v', 'EX', bad))).toBe(NOT_INT);
    }
  });

  it('accepts the largest deadlines that fit in 64-bit milliseconds', async () => {
    const a = k();
    expect(await r.call('SET', a, 'v', 'EXAT', '9223372036854775')).toBe('OK');
    expect(await r.ttl(a)).toBeGreaterThan(9e15);
    const b = k();
    expect(await r.call('SET', b, 'v', 'PXAT', INT64_MAX)).toBe('OK');
    expect(await r.get(b)).toBe('v');
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('PEXPIRETIME', b)).toBe(`:${INT64_MAX}\r\n`);
    } finally {
      c.close();
    }
  });
});

describe('SETNX / SETEX / PSETEX / GETSET', () => {
  it('SETNX answers 1 or 0', async () => {
    const key = k();
    expect(await r.setnx(key, 'a')).toBe(1);
    expect(await r.setnx(key, 'b')).toBe(0);
    expect(await r.get(key)).toBe('a');
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await r.setnx(list, 'b')).toBe(0);
  });

  it('SETEX and PSETEX set value and deadline, replacing any type', async () => {
    const key = k();
    expect(await r.setex(key, 100, 'v')).toBe('OK');
    expect(await r.get(key)).toBe('v');
    expect(await r.ttl(key)).toBeGreaterThan(98);
    expect(await r.psetex(key, 50_000, 'w')).toBe('OK');
    expect(await r.get(key)).toBe('w');
    expect(await r.pttl(key)).toBeLessThanOrEqual(50_000);
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await r.setex(list, 10, 'v')).toBe('OK');
    expect(await r.type(list)).toBe('string');
  });

  it('SETEX / PSETEX errors', async () => {
    const key = k();
    expect(await err(r.call('SETEX', key, '0', 'v'))).toBe(invalidExpire('setex'));
    expect(await err(r.call('SETEX', key, '-10', 'v'))).toBe(invalidExpire('setex'));
    expect(await err(r.call('PSETEX', key, '0', 'v'))).toBe(invalidExpire('psetex'));
    expect(await err(r.call('PSETEX', key, '-1', 'v'))).toBe(invalidExpire('psetex'));
    expect(await err(r.call('SETEX', key, 'ten', 'v'))).toBe(NOT_INT);
    expect(await err(r.call('PSETEX', key, '1.5', 'v'))).toBe(NOT_INT);
    expect(await r.exists(key)).toBe(0);
  });

  it('GETSET returns the old value and clears the deadline', async () => {
    const key = k();
    expect(await r.getset(key, 'a')).toBeNull();
    await r.expire(key, 100);
    expect(await r.getset(key, 'b')).toBe('a');
    expect(await r.get(key)).toBe('b');
    expect(await r.ttl(key)).toBe(-1);
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await err(r.getset(list, 'v'))).toBe(WRONGTYPE);
    expect(await r.type(list)).toBe('list');
  });
});

describe('GETEX / GETDEL', () => {
  it('GETEX without options is GET', async () => {
    const key = k();
    await r.set(key, 'v', 'EX', 100);
    expect(await r.call('GETEX', key)).toBe('v');
    expect(await r.ttl(key)).toBeGreaterThan(90);
    expect(await r.call('GETEX', k())).toBeNull();
  });

  it('GETEX sets, replaces and removes the deadline', async () => {
    const key = k();
    await r.set(key, 'v');
    expect(await r.call('GETEX', key, 'EX', '100')).toBe('v');
    expect(await r.ttl(key)).toBeGreaterThan(98);
    expect(await r.call('GETEX', key, 'PX', '5000')).toBe('v');
    expect(await r.pttl(key)).toBeLessThanOrEqual(5000);
    const at = Math.floor(Date.now() / 1000) + 1000;
    expect(await r.call('GETEX', key, 'EXAT', String(at))).toBe('v');
    expect(await r.call('EXPIRETIME', key)).toBe(at);
    expect(await r.call('GETEX', key, 'PXAT', String(at * 1000 + 1))).toBe('v');
    expect(await r.call('PEXPIRETIME', key)).toBe(at * 1000 + 1);
    expect(await r.call('GETEX', key, 'PERSIST')).toBe('v');
    expect(await r.ttl(key)).toBe(-1);
    expect(await r.call('GETEX', key, 'persist')).toBe('v');
  });

  it('GETEX with a deadline in the past returns the value and deletes the key', async () => {
    const a = k();
    await r.set(a, 'v');
    expect(await r.call('GETEX', a, 'EXAT', '1')).toBe('v');
    expect(await r.exists(a)).toBe(0);
    const b = k();
    await r.set(b, 'w');
    expect(await r.call('GETEX', b, 'PXAT', String(Date.now() - 1000))).toBe('w');
    expect(await r.exists(b)).toBe(0);
  });

  it('GETEX checks syntax, then the key (nil), then its type, then the expire value', async () => {
    const key = k();
    await r.set(key, 'v');
    for (const opts of [
      ['PX', '100', 'PERSIST'],
      ['PERSIST', 'EX', '10'],
      ['EX', '1', 'PX', '1'],
      ['FOO'],
      ['EX'],
      ['KEEPTTL'],
      ['NX'],
    ]) {
      expect(await err(r.call('GETEX', key, ...opts))).toBe(SYNTAX);
    }
    const missing = k();
    expect(await r.call('GETEX', missing, 'EX', '0')).toBeNull();
    expect(await r.call('GETEX', missing, 'EX', 'abc')).toBeNull();
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await err(r.call('GETEX', list, 'EX', '0'))).toBe(WRONGTYPE);
    expect(await err(r.call('GETEX', key, 'EX', '0'))).toBe(invalidExpire('getex'));
    expect(await err(r.call('GETEX', key, 'PX', '-1'))).toBe(invalidExpire('getex'));
    expect(await err(r.call('GETEX', key, 'EX', 'abc'))).toBe(NOT_INT);
    expect(await r.ttl(key)).toBe(-1);
  });

  it('GETDEL returns the value and deletes the key', async () => {
    const key = k();
    await r.set(key, 'v', 'EX', 100);
    expect(await r.getdel(key)).toBe('v');
    expect(await r.exists(key)).toBe(0);
    expect(await r.getdel(key)).toBeNull();
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await err(r.getdel(list))).toBe(WRONGTYPE);
  });
});

describe('MGET / MSET / MSETNX', () => {
  it('MGET answers nil for missing keys and other types', async () => {
    const [a, b, list] = [k('a'), k('b'), k('list')];
    await r.set(a, '1');
    await r.rpush(list, 'x');
    expect(await r.mget(a, b, list, a)).toEqual(['1', null, null, '1']);
  });

  it('MSET sets all pairs, the last of a repeated key winning, and clears deadlines', async () => {
    const [a, b] = [k('a'), k('b')];
    await r.set(a, 'old', 'EX', 100);
    expect(await r.mset(a, '1', b, '2', a, '3')).toBe('OK');
    expect(await r.mget(a, b)).toEqual(['3', '2']);
    expect(await r.ttl(a)).toBe(-1);
    expect(await err(r.call('MSET', a, '1', b))).toBe("ERR wrong number of arguments for 'mset' command");
    expect(await err(r.call('MSET', a))).toBe("ERR wrong number of arguments for 'mset' command");
  });

  it('MSETNX sets all or nothing', async () => {
    const [a, b, c] = [k('a'), k('b'), k('c')];
    expect(await r.msetnx(a, '1', b, '2')).toBe(1);
    expect(await r.msetnx(b, 'x', c, '3')).toBe(0);
    expect(await r.exists(c)).toBe(0);
    expect(await r.get(b)).toBe('2');
    // A key repeated in the arguments is set once (last value wins).
    const d = k('d');
    expect(await r.msetnx(d, '1', d, '2')).toBe(1);
    expect(await r.get(d)).toBe('2');
    expect(await err(r.call('MSETNX', a, '1', b))).toBe("ERR wrong number of arguments for 'msetnx' command");
  });
});

describe('APPEND / STRLEN', () => {
  it('APPEND creates or extends and answers the new length', async () => {
    const key = k();
    expect(await r.append(key, 'Hello')).toBe(5);
    expect(await r.append(key, ', World')).toBe(12);
    expect(await r.get(key)).toBe('Hello, World');
    expect(await r.append(key, '')).toBe(12);
    const empty = k();
    expect(await r.append(empty, '')).toBe(0);
    expect(await r.exists(empty)).toBe(1);
  });

  it('APPEND keeps the deadline and works on integers', async () => {
    const key = k();
    await r.set(key, '12', 'EX', 100);
    expect(await r.append(key, '34')).toBe(4);
    expect(await r.get(key)).toBe('1234');
    expect(await r.incr(key)).toBe(1235);
    expect(await r.ttl(key)).toBeGreaterThan(90);
  });

  it('STRLEN counts bytes; 0 for a missing key', async () => {
    const key = k();
    expect(await r.strlen(key)).toBe(0);
    await r.set(key, 'héllo'); // é is two bytes in UTF-8
    expect(await r.strlen(key)).toBe(6);
    await r.set(key, '-12345');
    expect(await r.strlen(key)).toBe(6);
  });

  it('other types are WRONGTYPE', async () => {
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await err(r.append(list, 'x'))).toBe(WRONGTYPE);
    expect(await err(r.strlen(list))).toBe(WRONGTYPE);
  });
});

describe('GETRANGE / SUBSTR', () => {
  it.each([
    ['0', '3', 'This'],
    ['-3', '-1', 'ing'],
    ['0', '-1', 'This is a string'],
    ['10', '100', 'string'],
    ['5', '3', ''],
    ['-1', '-5', ''],
    // Redis 7.0 and 7.2 clamp an end before the start of the string to 0 (so the first byte).
    ['0', '-100', 'T'],
    ['-100', '-100', 'T'],
    ['-100', '2', 'Thi'],
    ['100', '200', ''],
    ['15', '15', 'g'],
    [INT64_MIN, INT64_MAX, 'This is a string'],
    [INT64_MAX, INT64_MAX, ''],
  ])('GETRANGE %s %s', async (start, end, expected) => {
    const key = k();
    await r.set(key, 'This is a string');
    expect(await r.getrange(key, start, end)).toBe(expected);
    expect(await r.call('SUBSTR', key, start, end)).toBe(expected);
  });

  it('missing key is an empty string; bad indexes and types are errors', async () => {
    expect(await r.getrange(k(), 0, -1)).toBe('');
    const key = k();
    await r.set(key, 'abc');
    expect(await err(r.call('GETRANGE', key, 'a', '1'))).toBe(NOT_INT);
    expect(await err(r.call('GETRANGE', key, '0', '1.5'))).toBe(NOT_INT);
    expect(await err(r.call('GETRANGE', key, '', '1'))).toBe(NOT_INT);
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await err(r.getrange(list, 0, 1))).toBe(WRONGTYPE);
    expect(await err(r.call('SUBSTR', list, '0', '1'))).toBe(WRONGTYPE);
  });

  it('works on integer values', async () => {
    const key = k();
    await r.set(key, '1234567');
    expect(await r.getrange(key, 1, 3)).toBe('234');
  });
});

describe('SETRANGE', () => {
  it('overwrites in place and answers the new length', async () => {
    const key = k();
    await r.set(key, 'Hello World');
    expect(await r.setrange(key, 6, 'Redis')).toBe(11);
    expect(await r.get(key)).toBe('Hello Redis');
    expect(await r.setrange(key, 6, 'kvws and more')).toBe(19);
    expect(await r.get(key)).toBe('Hello kvws and more');
  });

  it('pads with zero bytes, on a new key and past the end', async () => {
    const key = k();
    expect(await r.setrange(key, 5, 'hi')).toBe(7);
    expect(await r.getBuffer(key)).toEqual(Buffer.from([0, 0, 0, 0, 0, 0x68, 0x69]));
    expect(await r.setrange(key, 9, 'x')).toBe(10);
    expect(await r.getBuffer(key)).toEqual(Buffer.from([0, 0, 0, 0, 0, 0x68, 0x69, 0, 0, 0x78]));
  });

  it('an empty value creates nothing and changes nothing', async () => {
    const key = k();
    expect(await r.setrange(key, 100, '')).toBe(0);
    expect(await r.exists(key)).toBe(0);
    await r.set(key, 'abc');
    expect(await r.setrange(key, 100, '')).toBe(3);
    expect(await r.get(key)).toBe('abc');
  });

  it('keeps the deadline', async () => {
    const key = k();
    await r.set(key, 'abc', 'EX', 100);
    await r.setrange(key, 1, 'X');
    expect(await r.get(key)).toBe('aXc');
    expect(await r.ttl(key)).toBeGreaterThan(90);
  });

  it('offset errors', async () => {
    const key = k();
    await r.set(key, 'abc');
    expect(await err(r.setrange(key, -1, 'x'))).toBe('ERR offset is out of range');
    expect(await err(r.call('SETRANGE', key, 'x', 'y'))).toBe(NOT_INT);
    // 512 MB (proto-max-bulk-len) is the largest string: checked before anything is allocated.
    expect(await err(r.setrange(key, 536870912, 'x'))).toBe(TOO_BIG);
    expect(await err(r.setrange(k(), 536870912, 'x'))).toBe(TOO_BIG);
    expect(await err(r.call('SETRANGE', key, INT64_MAX, 'x'))).toBe(TOO_BIG);
    // …but an empty value is a no-op whatever the offset.
    expect(await r.setrange(k(), 536870912, '')).toBe(0);
    expect(await r.get(key)).toBe('abc');
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await err(r.setrange(list, 0, 'x'))).toBe(WRONGTYPE);
    expect(await err(r.setrange(list, 0, ''))).toBe(WRONGTYPE);
  });
});

describe('INCR / DECR / INCRBY / DECRBY', () => {
  it('count from 0 on a missing key', async () => {
    const key = k();
    expect(await r.incr(key)).toBe(1);
    expect(await r.incr(key)).toBe(2);
    expect(await r.decr(key)).toBe(1);
    expect(await r.incrby(key, 10)).toBe(11);
    expect(await r.decrby(key, 20)).toBe(-9);
    expect(await r.incrby(key, -1)).toBe(-10);
    expect(await r.decrby(key, -10)).toBe(0);
    expect(await r.get(key)).toBe('0');
    expect(await r.decr(k())).toBe(-1);
  });

  it('reach the int64 limits exactly and refuse to overflow', async () => {
    const key = k();
    await r.set(key, '9223372036854775806');
    await r.incr(key);
    expect(await r.get(key)).toBe(INT64_MAX);
    expect(await err(r.incr(key))).toBe(OVERFLOW);
    expect(await err(r.incrby(key, 1))).toBe(OVERFLOW);
    expect(await r.get(key)).toBe(INT64_MAX);
    await r.set(key, '-9223372036854775807');
    await r.decr(key);
    expect(await r.get(key)).toBe(INT64_MIN);
    expect(await err(r.decr(key))).toBe(OVERFLOW);
    expect(await err(r.call('INCRBY', key, '-1'))).toBe(OVERFLOW);
    await r.set(key, '0');
    await r.call('INCRBY', key, INT64_MAX);
    expect(await r.get(key)).toBe(INT64_MAX);
    await r.call('DECRBY', key, INT64_MAX);
    await r.call('DECRBY', key, INT64_MAX);
    expect(await r.get(key)).toBe('-9223372036854775807');
    expect(await err(r.call('DECRBY', key, '2'))).toBe(OVERFLOW);
  });

  it('raw replies carry exact 64-bit integers', async () => {
    const key = k();
    await r.set(key, '9223372036854775800');
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('INCRBY', key, '7')).toBe(':9223372036854775807\r\n');
      expect(await c.command('DECRBY', key, '9223372036854775807')).toBe(':0\r\n');
      expect(await c.command('INCRBY', key, INT64_MIN)).toBe(':-9223372036854775808\r\n');
    } finally {
      c.close();
    }
  });

  it('DECRBY of INT64_MIN cannot be negated', async () => {
    expect(await err(r.call('DECRBY', k(), INT64_MIN))).toBe('ERR decrement would overflow');
  });

  it.each([
    ' 1',
    '1 ',
    '+1',
    '01',
    '-0',
    '00',
    '1.0',
    '1e3',
    '',
    'abc',
    '0x10',
    '9223372036854775808',
    '-9223372036854775809',
    '１',
  ])('a stored %j is not an integer', async (value) => {
    const key = k();
    await r.set(key, value);
    expect(await err(r.incr(key))).toBe(NOT_INT);
    expect(await err(r.decrby(key, 1))).toBe(NOT_INT);
    expect(await r.get(key)).toBe(value);
  });

  it.each([' 1', '+1', '01', '-0', '1.5', '', 'x', '9223372036854775808', '-9223372036854775809'])(
    'an increment of %j is not an integer',
    async (by) => {
      const key = k();
      await r.set(key, '5');
      expect(await err(r.call('INCRBY', key, by))).toBe(NOT_INT);
      expect(await err(r.call('DECRBY', key, by))).toBe(NOT_INT);
      expect(await r.get(key)).toBe('5');
    },
  );

  it('keep the deadline; other types are WRONGTYPE', async () => {
    const key = k();
    await r.set(key, '5', 'EX', 100);
    await r.incr(key);
    expect(await r.ttl(key)).toBeGreaterThan(90);
    const list = k('list');
    await r.rpush(list, 'x');
    for (const p of [r.incr(list), r.decr(list), r.incrby(list, 2), r.decrby(list, 2)])
      expect(await err(p)).toBe(WRONGTYPE);
    // The increment is parsed before the key is looked at.
    expect(await err(r.call('INCRBY', list, 'x'))).toBe(NOT_INT);
  });
});

describe('INCRBYFLOAT', () => {
  // Results as real Redis prints them: long double arithmetic, "%.17Lf", trailing zeros removed.
  it.each([
    ['10.5', '0.1', '10.6'],
    ['5.0e3', '2.0e2', '5200'],
    ['3', '-3', '0'],
    ['0.1', '0.2', '0.3'],
    ['-1.5', '-1.5', '-3'],
    ['.5', '1.', '1.5'],
    ['+.5', '+1', '1.5'],
    ['1', '1e17', '100000000000000001'],
    ['12345678901234567890', '1', '12345678901234567891'],
    ['0', '1e-20', '0'],
    ['0', '-1e-20', '0'],
    ['0', '0x10', '16'],
    ['1.5', '0x1p-1', '2'],
    ['17', '-0.0', '17'],
    ['1', '1.23456789012345678', '2.23456789012345678'],
    ['1', '1e-5', '1.00001'],
    ['100000', '2.5e-3', '100000.00249999999999773'],
    ['0', '1e21', '1000000000000000000000'],
    ['0', '123456789.123456789', '123456789.12345678899873747'],
    ['1e30', '1', '1000000000000000000024696061952'],
    ['Infinity', '-1e-400', null],
  ])('%s + %s = %s', async (start, by, expected) => {
    const key = k();
    await r.set(key, start);
    if (expected === null) {
      expect(await err(r.incrbyfloat(key, by))).toBe(NAN_INF);
      return;
    }
    expect(await r.incrbyfloat(key, by)).toBe(expected);
    expect(await r.get(key)).toBe(expected);
  });

  it('keeps long double range and precision beyond a double', async () => {
    const key = k();
    await r.set(key, '1e308');
    const sum = await r.incrbyfloat(key, '1e308');
    expect(sum).toHaveLength(309);
    expect(
      sum.startsWith(
        '19999999999999999999337175931169129132112019969483113441559409598984346973767612374420025384377707864',
      ),
    ).toBe(true);
    const big = k();
    const v = await r.incrbyfloat(big, '1e400');
    expect(v).toHaveLength(401);
    expect(v.startsWith('10000000000000000000281880683947586514586453433629052038625910693539685534008629')).toBe(true);
    const tiny = k();
    await r.set(tiny, '5');
    expect(await r.incrbyfloat(tiny, '1e-400')).toBe('5');
  });

  it('starts from 0 on a missing key and keeps the deadline', async () => {
    const key = k();
    expect(await r.incrbyfloat(key, '2.5')).toBe('2.5');
    expect(await r.incrbyfloat(key, '-0.5')).toBe('2');
    await r.expire(key, 100);
    expect(await r.incrbyfloat(key, '1e3')).toBe('1002');
    expect(await r.ttl(key)).toBeGreaterThan(90);
    const other = k();
    expect(await r.incrbyfloat(other, '3')).toBe('3');
    expect(await r.incr(other)).toBe(4);
  });

  it('infinite results are refused', async () => {
    const key = k();
    await r.set(key, '1');
    expect(await err(r.incrbyfloat(key, 'inf'))).toBe(NAN_INF);
    expect(await err(r.incrbyfloat(key, '-inf'))).toBe(NAN_INF);
    expect(await err(r.incrbyfloat(key, '+Infinity'))).toBe(NAN_INF);
    await r.set(key, 'inf');
    expect(await err(r.incrbyfloat(key, '1'))).toBe(NAN_INF);
    await r.set(key, '1e4932');
    expect(await err(r.incrbyfloat(key, '1e4932'))).toBe(NAN_INF);
    expect(await r.get(key)).toBe('1e4932');
  });

  it.each([
    'nan',
    'abc',
    '',
    ' 1',
    '1 ',
    '1e',
    '1e+',
    '.',
    '-',
    '0x',
    '1,5',
    '1e99999',
    '1e-99999',
    `0.${'1'.repeat(5200)}`,
  ])('an increment of %j is not a valid float', async (by) => {
    const key = k();
    await r.set(key, '1');
    expect(await err(r.call('INCRBYFLOAT', key, by))).toBe(NOT_FLOAT);
    expect(await r.get(key)).toBe('1');
  });

  it('a stored non-number is not a valid float; another type is WRONGTYPE', async () => {
    const key = k();
    await r.set(key, 'abc');
    expect(await err(r.incrbyfloat(key, '1'))).toBe(NOT_FLOAT);
    await r.set(key, ' 1');
    expect(await err(r.incrbyfloat(key, '1'))).toBe(NOT_FLOAT);
    const list = k('list');
    await r.rpush(list, 'x');
    expect(await err(r.incrbyfloat(list, '1'))).toBe(WRONGTYPE);
    expect(await err(r.call('INCRBYFLOAT', list, 'abc'))).toBe(WRONGTYPE);
  });
});

describe('binary safety', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

  it('every byte value round-trips in keys and values', async () => {
    const key = Buffer.concat([Buffer.from(P), all]);
    expect(await r.set(key, all)).toBe('OK');
    expect(await r.getBuffer(key)).toEqual(all);
    expect(await r.strlen(key)).toBe(256);
    expect(await r.getrangeBuffer(key, 250, 255)).toEqual(all.subarray(250));
    expect(await r.append(key, all)).toBe(512);
    expect(await r.getBuffer(key)).toEqual(Buffer.concat([all, all]));
    expect(await r.setrange(key, 1, Buffer.from([0xff, 0x00, 0x0d, 0x0a]))).toBe(512);
    expect((await r.getBuffer(key))?.subarray(0, 6)).toEqual(Buffer.from([0, 0xff, 0x00, 0x0d, 0x0a, 5]));
  });

  it('each single-byte key is distinct', async () => {
    const keys = Array.from({ length: 256 }, (_, i) =>
      Buffer.concat([Buffer.from(P), Buffer.from('b:'), Buffer.from([i])]),
    );
    const args: Buffer[] = [];
    for (const [i, key] of keys.entries()) args.push(key, Buffer.from([255 - i]));
    expect(await r.mset(...args)).toBe('OK');
    const got = await r.mgetBuffer(...keys);
    expect(got).toEqual(keys.map((_, i) => Buffer.from([255 - i])));
    expect(await r.del(...keys)).toBe(256);
  });

  it('raw RESP: CR, LF and NUL inside bulk strings', async () => {
    const c = await RawConnection.open(server);
    try {
      const key = `${P}raw\r\n\0`;
      expect(await c.command('SET', key, 'a\r\nb\0c')).toBe('+OK\r\n');
      expect(await c.command('GET', key)).toBe('$6\r\na\r\nb\0c\r\n');
      expect(await c.command('GETRANGE', key, '1', '2')).toBe('$2\r\n\r\n\r\n');
      expect(await c.command('GET', `${P}missing`)).toBe('$-1\r\n');
      expect(await c.command('INCRBYFLOAT', `${P}rawf`, '10.5')).toBe('$4\r\n10.5\r\n');
    } finally {
      c.close();
    }
  });
});

describe('keyspace events of string commands', () => {
  it('new / set / expire / del and friends, in Redis order', async () => {
    const a = k('a');
    const b = k('b');
    const c = k('c');
    const got = await events(async () => {
      await r.set(a, '1'); // new key
      await r.set(a, '2'); // overwrite
      await r.set(a, '3', 'EX', 100);
      await r.set(a, '4', 'NX'); // not set: no event
      await r.setex(b, 100, 'x');
      await r.setnx(c, 'x');
      await r.getset(c, 'y');
      await r.call('GETEX', c, 'EX', '100');
      await r.call('GETEX', c, 'PERSIST');
      await r.call('GETEX', c, 'PERSIST'); // no deadline: no event
      await r.getdel(c);
      await r.append(c, 'x');
      await r.setrange(c, 3, 'y');
      await r.incr(b).catch(() => {});
      await r.del(b);
      await r.incr(b);
      await r.decrby(b, 2);
      await r.incrbyfloat(b, '1.5');
      await r.mset(a, '1', c, '2');
      await r.msetnx(a, '1', c, '2'); // fails: no event
      await r.call('GETEX', c, 'PXAT', '1');
    }, 'KAn');
    expect(got).toEqual([
      'a new',
      'a set',
      'a set',
      'a set',
      'a expire',
      'b new',
      'b set',
      'b expire',
      'c new',
      'c set',
      'c set',
      'c expire',
      'c persist',
      'c del',
      'c new',
      'c append',
      'c setrange',
      'b del',
      'b new',
      'b incrby',
      'b incrby',
      'b incrbyfloat',
      'a set',
      'c set',
      'c del',
    ]);
  });

  it('class $ alone leaves out generic events; without n there is no `new`', async () => {
    const a = k('a');
    const got = await events(async () => {
      await r.set(a, '1', 'EX', 100);
      await r.del(a);
    }, 'K');
    expect(got).toEqual(['a set']);
  });
});

describe('redis-cli', () => {
  it('sets and reads values, including binary ones from stdin (-x)', async () => {
    const key = `${P}cli`;
    expect((await cli(['SET', key, 'hello world'])).toString()).toBe('OK\n');
    expect((await cli(['GET', key])).toString()).toBe('hello world\n');
    expect((await cli(['--no-raw', 'STRLEN', key])).toString()).toBe('(integer) 11\n');
    expect((await cli(['--no-raw', 'GET', `${P}cli-missing`])).toString()).toBe('(nil)\n');
    const bin = Buffer.from([0, 1, 2, 0x0d, 0x0a, 0xff, 0x80]);
    expect((await cli(['-x', 'SET', `${P}cli-bin`], bin)).toString()).toBe('OK\n');
    expect(await r.getBuffer(`${P}cli-bin`)).toEqual(bin);
    expect(await cli(['--raw', 'GET', `${P}cli-bin`])).toEqual(Buffer.concat([bin, Buffer.from('\n')]));
  });

  it('prints errors and float replies like Redis', async () => {
    const key = `${P}cli-f`;
    expect((await cli(['INCRBYFLOAT', key, '10.5'])).toString()).toBe('10.5\n');
    expect((await cli(['--no-raw', 'INCRBYFLOAT', key, '0.1'])).toString()).toBe('"10.6"\n');
    expect((await cli(['--no-raw', 'INCR', key])).toString()).toBe(
      '(error) ERR value is not an integer or out of range\n',
    );
  });
});
