import { describe, expect, it } from 'vitest';
import { hashCommands } from '../../client/src/commands/hash.js';
import { keyCommands } from '../../client/src/commands/keys.js';
import { listCommands } from '../../client/src/commands/list.js';
import { setCommands } from '../../client/src/commands/set.js';
import type { Value } from '../../client/src/types.js';
import { generic } from '../../shared/src/commands/generic.js';
import { hash } from '../../shared/src/commands/hash.js';
import { list } from '../../shared/src/commands/list.js';
import { set } from '../../shared/src/commands/set.js';
import type { CommandSpec } from '../../shared/src/commands/types.js';

// The keyspace, hash, list and set builders of @kvws/client, without a server: one builder per command of
// the server's table, the argv built for option combinations that are easy to get wrong, and the decoders
// on both reply shapes (RESP3-shaped JSON from the WebSocket, RESP2-shaped JSON from the HTTP API).
// Compile-time checks (impossible combinations) are in types-keys.ts.

type Builder = (...args: unknown[]) => { argv: unknown[]; decode: (v: Value) => unknown };

/**
 * Method name → the words its argv must start with, for a table: `del` → ['DEL']; container subcommands
 * in camelCase, `objectEncoding` → ['OBJECT', 'ENCODING'].
 */
function methods(specs: CommandSpec[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of specs) {
    if (!s.subcommands) out.set(s.name.toLowerCase(), [s.name]);
    else
      for (const sub of s.subcommands)
        out.set(s.name.toLowerCase() + sub.name[0] + sub.name.slice(1).toLowerCase(), [s.name, sub.name]);
  }
  return out;
}

const groups: [string, Record<string, unknown>, CommandSpec[]][] = [
  ['keys', keyCommands, generic],
  ['hash', hashCommands, hash],
  ['list', listCommands, list],
  ['set', setCommands, set],
];

const argv = (c: { argv: unknown[] }) => c.argv;

describe('command builders: keyspace, hashes, lists, sets', () => {
  it.each(groups)('%s: one builder per command of the table, each sending its own command', (_, builders, specs) => {
    const table = methods(specs);
    expect(Object.keys(builders).sort()).toEqual([...table.keys()].sort());
    for (const [name, head] of table) {
      // Any arguments will do to see the command's name: builders do not validate.
      const built = (builders[name] as Builder)('x', 'x', 'x', 'x', 'x', 'x');
      expect(built.argv.slice(0, head.length), name).toEqual(head);
    }
  });

  it('keyspace: expiry conditions, COPY, SCAN and FLUSH options in Redis order', () => {
    const k = keyCommands;
    expect(argv(k.expire('k', 10))).toEqual(['EXPIRE', 'k', 10]);
    expect(argv(k.pexpireat('k', 1_700_000_000_000, 'GT'))).toEqual(['PEXPIREAT', 'k', 1_700_000_000_000, 'GT']);
    expect(argv(k.copy('a', 'b'))).toEqual(['COPY', 'a', 'b']);
    expect(argv(k.copy('a', 'b', { replace: true }))).toEqual(['COPY', 'a', 'b', 'REPLACE']);
    expect(argv(k.copy('a', 'b', { db: 0, replace: true }))).toEqual(['COPY', 'a', 'b', 'DB', 0, 'REPLACE']);
    expect(argv(k.copy('a', 'b', { replace: false }))).toEqual(['COPY', 'a', 'b']);
    expect(argv(k.scan(0))).toEqual(['SCAN', 0]);
    expect(argv(k.scan('17', { type: 'zset', count: 0, match: 'user:*' }))).toEqual([
      'SCAN',
      '17',
      'MATCH',
      'user:*',
      'COUNT',
      0,
      'TYPE',
      'zset',
    ]);
    expect(argv(k.flushall())).toEqual(['FLUSHALL']);
    expect(argv(k.flushdb('ASYNC'))).toEqual(['FLUSHDB', 'ASYNC']);
    expect(argv(k.del('a', 'b', 'c'))).toEqual(['DEL', 'a', 'b', 'c']);
    expect(argv(k.objectHelp())).toEqual(['OBJECT', 'HELP']);
  });

  it('keyspace: decoders read RESP3 and RESP2 shapes alike', () => {
    const k = keyCommands;
    for (const n of [2, '2']) {
      expect(k.del('a', 'b').decode(n)).toBe(2);
      expect(k.exists('a', 'b').decode(n)).toBe(2);
    }
    for (const [yes, no] of [
      [1, 0],
      [true, false],
      ['1', '0'],
    ] as const) {
      for (const c of [
        k.expire('k', 1, 'NX'),
        k.persist('k'),
        k.renamenx('a', 'b'),
        k.move('k', 1),
        k.copy('a', 'b'),
      ]) {
        expect(c.decode(yes)).toBe(true);
        expect(c.decode(no)).toBe(false);
      }
    }
    expect(k.ttl('k').decode(-2)).toBe(-2);
    expect(k.pexpiretime('k').decode('1700000000123')).toBe(1_700_000_000_123);
    expect(k.objectRefcount('k').decode(null)).toBeNull();
    expect(k.objectRefcount('k').decode(1)).toBe(1);
    expect(k.type('k').decode('hash')).toBe('hash');
    expect(k.scan(0).decode(['42', ['a', 'b']])).toEqual({ cursor: '42', keys: ['a', 'b'] });
    expect(k.scan(0).decode(['0', []])).toEqual({ cursor: '0', keys: [] });
  });

  it('hashes: HSET pairs, HSCAN NOVALUES, HRANDFIELD forms', () => {
    const h = hashCommands;
    expect(argv(h.hset('h', { a: 1, b: 'two' }))).toEqual(['HSET', 'h', 'a', 1, 'b', 'two']);
    expect(argv(h.hmget('h', 'a', 'b'))).toEqual(['HMGET', 'h', 'a', 'b']);
    expect(argv(h.hscan('h', 0))).toEqual(['HSCAN', 'h', 0]);
    expect(argv(h.hscan('h', '5', { noValues: true, match: 'f*', count: 2 }))).toEqual([
      'HSCAN',
      'h',
      '5',
      'MATCH',
      'f*',
      'COUNT',
      2,
      'NOVALUES',
    ]);
    expect(argv(h.hscan('h', 0, { noValues: false }))).toEqual(['HSCAN', 'h', 0]);
    expect(argv(h.hrandfield('h'))).toEqual(['HRANDFIELD', 'h']);
    expect(argv(h.hrandfield('h', -3))).toEqual(['HRANDFIELD', 'h', -3]);
    expect(argv(h.hrandfield('h', 0, true))).toEqual(['HRANDFIELD', 'h', 0, 'WITHVALUES']);
    expect(argv(h.hrandfield('h', 2, false))).toEqual(['HRANDFIELD', 'h', 2]);
  });

  it('hashes: decoders read RESP3 and RESP2 shapes alike', () => {
    const h = hashCommands;
    const record = { a: '1', b: 'x y' };
    expect(h.hgetall('h').decode({ a: '1', b: 'x y' })).toEqual(record); // RESP3 map
    expect(h.hgetall('h').decode(['a', '1', 'b', 'x y'])).toEqual(record); // RESP2 flat array
    expect(h.hgetall('h').decode([])).toEqual({});
    expect(h.hgetall('h').decode({})).toEqual({});
    expect(h.hincrbyfloat('h', 'f', 0.1).decode('10.6')).toBe(10.6); // a bulk string in both protocols
    expect(h.hincrbyfloat('h', 'f', 0.1).decode(10.6)).toBe(10.6);
    expect(h.hincrby('h', 'f', 1).decode('9007199254740993')).toBe(Number('9007199254740993'));
    for (const [yes, no] of [
      [1, 0],
      [true, false],
    ] as const) {
      expect(h.hexists('h', 'f').decode(yes)).toBe(true);
      expect(h.hexists('h', 'f').decode(no)).toBe(false);
      expect(h.hsetnx('h', 'f', 'v').decode(no)).toBe(false);
    }
    const pairs = [
      { field: 'a', value: '1' },
      { field: 'a', value: '1' },
      { field: 'b', value: '2' },
    ];
    const withValues = h.hrandfield('h', -3, true);
    expect(
      withValues.decode([
        ['a', '1'],
        ['a', '1'],
        ['b', '2'],
      ]),
    ).toEqual(pairs); // RESP3 nests pairs (and keeps repeats)
    expect(withValues.decode(['a', '1', 'a', '1', 'b', '2'])).toEqual(pairs); // RESP2 flattens them
    expect(withValues.decode([])).toEqual([]);
    expect(h.hrandfield('h').decode(null)).toBeNull();
    expect(h.hrandfield('h', 2).decode(['a', 'b'])).toEqual(['a', 'b']);
    expect(h.hscan('h', 0).decode(['3', ['f', 'v', 'g', 'w']])).toEqual({ cursor: '3', fields: { f: 'v', g: 'w' } });
    expect(h.hscan('h', 0, { noValues: true }).decode(['0', ['f', 'g']])).toEqual({ cursor: '0', fields: ['f', 'g'] });
    expect(h.hmget('h', 'a', 'b').decode(['1', null])).toEqual(['1', null]);
  });

  it('lists: LPOS options, multi-key pops with numkeys, blocking timeouts last or first as in Redis', () => {
    const l = listCommands;
    expect(argv(l.lpos('l', 'x'))).toEqual(['LPOS', 'l', 'x']);
    expect(argv(l.lpos('l', 'x', { maxlen: 0, count: 0, rank: -2 }))).toEqual([
      'LPOS',
      'l',
      'x',
      'RANK',
      -2,
      'COUNT',
      0,
      'MAXLEN',
      0,
    ]);
    expect(argv(l.lmpop(['a', 'b'], 'RIGHT'))).toEqual(['LMPOP', 2, 'a', 'b', 'RIGHT']);
    expect(argv(l.lmpop(['a'], 'LEFT', 3))).toEqual(['LMPOP', 1, 'a', 'LEFT', 'COUNT', 3]);
    expect(argv(l.blmpop(0.5, ['a', 'b', 'c'], 'LEFT', 2))).toEqual([
      'BLMPOP',
      0.5,
      3,
      'a',
      'b',
      'c',
      'LEFT',
      'COUNT',
      2,
    ]);
    expect(argv(l.blpop('a', 0))).toEqual(['BLPOP', 'a', 0]);
    expect(argv(l.brpop(['a', 'b'], 1.5))).toEqual(['BRPOP', 'a', 'b', 1.5]);
    expect(argv(l.blmove('a', 'b', 'RIGHT', 'LEFT', 2))).toEqual(['BLMOVE', 'a', 'b', 'RIGHT', 'LEFT', 2]);
    expect(argv(l.lmove('a', 'b', 'LEFT', 'LEFT'))).toEqual(['LMOVE', 'a', 'b', 'LEFT', 'LEFT']);
    expect(argv(l.linsert('l', 'AFTER', 'p', 7))).toEqual(['LINSERT', 'l', 'AFTER', 'p', 7]);
    expect(argv(l.lpop('l'))).toEqual(['LPOP', 'l']);
    expect(argv(l.rpop('l', 0))).toEqual(['RPOP', 'l', 0]);
    expect(argv(l.lpush('l', 'a', 2))).toEqual(['LPUSH', 'l', 'a', 2]);
  });

  it('lists: decoders (null on timeout or nothing to pop)', () => {
    const l = listCommands;
    expect(l.blpop('a', 1).decode(['a', 'x'])).toEqual({ key: 'a', element: 'x' });
    expect(l.brpop('a', 1).decode(null)).toBeNull();
    expect(l.blmpop(1, ['a'], 'LEFT').decode(['a', ['x', 'y']])).toEqual({ key: 'a', elements: ['x', 'y'] });
    expect(l.lmpop(['a'], 'LEFT').decode(null)).toBeNull();
    expect(l.blmove('a', 'b', 'LEFT', 'RIGHT', 1).decode(null)).toBeNull();
    expect(l.lpos('l', 'x').decode(3)).toBe(3);
    expect(l.lpos('l', 'x').decode(null)).toBeNull();
    expect(l.lpos('l', 'x', { count: 0 }).decode([0, 4])).toEqual([0, 4]);
    expect(l.lpos('l', 'x', { count: 0 }).decode([])).toEqual([]);
    expect(l.lpop('l', 2).decode(null)).toBeNull(); // missing key with a count: a null array
    expect(l.lpop('l', 2).decode(['a', 'b'])).toEqual(['a', 'b']);
    expect(l.rpop('l').decode('z')).toBe('z');
    expect(l.linsert('l', 'BEFORE', 'p', 'x').decode(-1)).toBe(-1);
    expect(l.llen('l').decode('4')).toBe(4);
  });

  it('sets: SINTERCARD numkeys and LIMIT, SSCAN options, counts', () => {
    const s = setCommands;
    expect(argv(s.sintercard(['a', 'b']))).toEqual(['SINTERCARD', 2, 'a', 'b']);
    expect(argv(s.sintercard(['a'], 0))).toEqual(['SINTERCARD', 1, 'a', 'LIMIT', 0]);
    expect(argv(s.sscan('s', 0, { count: 10 }))).toEqual(['SSCAN', 's', 0, 'COUNT', 10]);
    expect(argv(s.spop('s'))).toEqual(['SPOP', 's']);
    expect(argv(s.spop('s', 0))).toEqual(['SPOP', 's', 0]);
    expect(argv(s.srandmember('s', -2))).toEqual(['SRANDMEMBER', 's', -2]);
    expect(argv(s.sinterstore('d', 'a', 'b'))).toEqual(['SINTERSTORE', 'd', 'a', 'b']);
    expect(argv(s.smismember('s', 'a', 1))).toEqual(['SMISMEMBER', 's', 'a', 1]);
  });

  it('sets: decoders read RESP3 and RESP2 shapes alike', () => {
    const s = setCommands;
    for (const [yes, no] of [
      [1, 0],
      [true, false],
    ] as const) {
      expect(s.sismember('s', 'm').decode(yes)).toBe(true);
      expect(s.smove('a', 'b', 'm').decode(no)).toBe(false);
      expect(s.smismember('s', 'a', 'b', 'c').decode([yes, no, yes])).toEqual([true, false, true]);
    }
    expect(s.sscan('s', 0).decode(['9', ['m', 'n']])).toEqual({ cursor: '9', members: ['m', 'n'] });
    expect(s.spop('s').decode(null)).toBeNull();
    expect(s.spop('s', 3).decode([])).toEqual([]);
    expect(s.srandmember('s', 2).decode(['a', 'b'])).toEqual(['a', 'b']);
    expect(s.sintercard(['a', 'b']).decode('3')).toBe(3);
    expect(s.scard('s').decode(0)).toBe(0);
  });
});
