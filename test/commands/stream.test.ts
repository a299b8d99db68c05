import { execFile } from 'node:child_process';
import type Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { err, SYNTAX, WRONGTYPE } from '../helpers/errors.js';
import { keyevents } from '../helpers/events.js';
import { Resp3Connection } from '../helpers/resp3.js';
import { RawConnection, type RunningServer, redisClient, startRedis } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep, waitBlocked } from '../helpers/wait.js';

// Redis Streams (t_stream.c) through RESP, with ioredis, raw RESP2/RESP3 and redis-cli. Only Redis 7.0
// behaviour is asserted: the `redis` project runs this file against the Debian redis-server, the `gateway`
// project against kvws in front of one.

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

// Connections opened by a test are closed after it, so a client left blocked by a failure cannot disturb
// the next test's blocked-client counts.
afterEach(async () => {
  if (extra.length === 0) return;
  for (const c of extra.splice(0)) c.disconnect();
  await waitBlocked(r, 0);
});

let seq = 0;
const prefix = `stream-test:${process.pid}:`;
/** A key name unique to this run, so the file can share a server with others. */
const k = (name: string) => `${prefix}${++seq}:${name}`;

/** Another connection, closed after the test. */
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

const call = (...args: (string | number)[]) => r.call(args[0] as string, ...args.slice(1));
const INVALID_ID = 'ERR Invalid stream ID specified as stream command argument';

/** XINFO's flat [field, value, …] replies as an object. */
function fields(reply: unknown): Record<string, unknown> {
  const a = reply as unknown[];
  const o: Record<string, unknown> = {};
  for (let i = 0; i < a.length; i += 2) o[a[i] as string] = a[i + 1];
  return o;
}

/** Adds entries `${i}-1` f i for i in [from, to]. */
async function fill(key: string, from: number, to: number): Promise<void> {
  const p = r.pipeline();
  for (let i = from; i <= to; i++) p.xadd(key, `${i}-1`, 'f', String(i));
  await p.exec();
}

describe('XADD', () => {
  it('appends with explicit, partial and automatic IDs', async () => {
    const key = k('s');
    expect(await r.xadd(key, '1-1', 'a', '1')).toBe('1-1');
    expect(await r.xadd(key, '1-*', 'b', '2')).toBe('1-2');
    expect(await r.xadd(key, '5', 'c', '3')).toBe('5-0');
    expect(await r.xadd(key, '5-*', 'd', '4')).toBe('5-1');
    expect(await r.xadd(key, '6-*', 'e', '5')).toBe('6-0');
    const auto = (await r.xadd(key, '*', 'f', '6', 'g', '7')) as string;
    expect(auto).toMatch(/^\d+-\d+$/);
    expect(Number(auto.split('-')[0])).toBeGreaterThan(1_600_000_000_000);
    expect(await r.xlen(key)).toBe(6);
    expect(await r.type(key)).toBe('stream');
    expect(await r.object('ENCODING', key)).toBe('stream');
    expect(await r.xrange(key, '-', '+', 'COUNT', 2)).toEqual([
      ['1-1', ['a', '1']],
      ['1-2', ['b', '2']],
    ]);
    // Automatic IDs keep growing even when the clock does not.
    const next = (await r.xadd(key, '*', 'h', '8')) as string;
    expect(next > auto || next.length > auto.length).toBe(true);
  });

  it('refuses IDs that do not grow, 0-0 and malformed ones', async () => {
    const key = k('s');
    await r.xadd(key, '5-5', 'a', '1');
    const cases: [string, string][] = [
      ['5-5', 'ERR The ID specified in XADD is equal or smaller than the target stream top item'],
      ['5-4', 'ERR The ID specified in XADD is equal or smaller than the target stream top item'],
      ['4-*', 'ERR The ID specified in XADD is equal or smaller than the target stream top item'],
      ['0-0', 'ERR The ID specified in XADD must be greater than 0-0'],
      ['abc', INVALID_ID],
      ['-1', INVALID_ID],
      ['1-', INVALID_ID],
      ['-', INVALID_ID],
      ['+', INVALID_ID],
      ['18446744073709551616-0', INVALID_ID],
      ['1-18446744073709551616', INVALID_ID],
      ['1--1', INVALID_ID],
    ];
    for (const [id, e] of cases) expect(await err(call('XADD', key, id, 'f', 'v')), id).toBe(e);
    expect(await r.xlen(key)).toBe(1);
    // strtoull's forms that Redis accepts too: a sign, leading zeros.
    expect(await call('XADD', key, '+6-007', 'f', 'v')).toBe('6-7');
  });

  it('goes up to the largest ID and then refuses to add', async () => {
    const key = k('s');
    expect(await r.xadd(key, '5-18446744073709551615', 'a', '1')).toBe('5-18446744073709551615');
    expect(await err(r.xadd(key, '5-*', 'a', '1'))).toBe('ERR Elements are too large to be stored');
    expect(await r.xadd(key, '18446744073709551615-18446744073709551615', 'a', '1')).toBe(
      '18446744073709551615-18446744073709551615',
    );
    expect(await err(r.xadd(key, '*', 'a', '1'))).toBe(
      'ERR The stream has exhausted the last possible ID, unable to add more items',
    );
    expect(await r.xrange(key, '18446744073709551615', '+')).toEqual([
      ['18446744073709551615-18446744073709551615', ['a', '1']],
    ]);
    expect(await r.xrevrange(key, '+', '-', 'COUNT', 1)).toEqual([
      ['18446744073709551615-18446744073709551615', ['a', '1']],
    ]);
    expect(fields(await r.xinfo('STREAM', key))['last-generated-id']).toBe('18446744073709551615-18446744073709551615');
  });

  it('NOMKSTREAM, options and arity errors', async () => {
    const key = k('s');
    expect(await call('XADD', key, 'NOMKSTREAM', '*', 'a', '1')).toBeNull();
    expect(await r.exists(key)).toBe(0);
    // 0-0 is refused before the key is created.
    expect(await err(call('XADD', key, '0-0', 'a', '1'))).toBe('ERR The ID specified in XADD must be greater than 0-0');
    expect(await r.exists(key)).toBe(0);
    const cases: [(string | number)[], string][] = [
      [['XADD', key, '*', 'a'], "ERR wrong number of arguments for 'xadd' command"],
      [['XADD', key, 'MAXLEN', '1', 'NOMKSTREAM'], "ERR wrong number of arguments for 'xadd' command"],
      [['XADD', key, 'MAXLEN', '-1', '*', 'a', '1'], 'ERR The MAXLEN argument must be >= 0.'],
      [['XADD', key, 'MAXLEN', 'x', '*', 'a', '1'], 'ERR value is not an integer or out of range'],
      [
        ['XADD', key, 'MAXLEN', '1', 'LIMIT', '5', '*', 'a', '1'],
        'ERR syntax error, LIMIT cannot be used without the special ~ option',
      ],
      [
        ['XADD', key, 'LIMIT', '5', '*', 'a', '1'],
        'ERR syntax error, LIMIT cannot be used without specifying a trimming strategy',
      ],
      [['XADD', key, 'MAXLEN', '~', '1', 'LIMIT', '-1', '*', 'a', '1'], 'ERR The LIMIT argument must be >= 0.'],
      [
        ['XADD', key, 'MAXLEN', '~', '1', 'MINID', '4', '*', 'a', '1'],
        'ERR syntax error, MAXLEN and MINID options at the same time are not compatible',
      ],
      [['XADD', key, 'MINID', '=', 'x', '*', 'a', '1'], INVALID_ID],
      [['XADD', key, 'BOGUS', 'a', '1'], INVALID_ID],
    ];
    for (const [args, e] of cases) expect(await err(call(...args)), args.join(' ')).toBe(e);
    expect(await r.exists(key)).toBe(0);
    await r.set(key, 'x');
    expect(await err(r.xadd(key, '*', 'a', '1'))).toBe(WRONGTYPE);
  });

  it('trims with MAXLEN and MINID, exactly or by whole nodes', async () => {
    const key = k('s');
    await fill(key, 1, 250);
    let info = fields(await r.xinfo('STREAM', key));
    expect(info['radix-tree-keys']).toBe(3);
    expect(info['radix-tree-nodes']).toBe(8);
    // ~: whole nodes of 100 entries only.
    expect(await r.xadd(key, 'MAXLEN', '~', '160', '251-1', 'f', '251')).toBe('251-1');
    expect(await r.xlen(key)).toBe(251);
    expect(await r.xadd(key, 'MAXLEN', '~', '100', '252-1', 'f', '252')).toBe('252-1');
    expect(await r.xlen(key)).toBe(152);
    expect((await r.xrange(key, '-', '+', 'COUNT', 1))[0][0]).toBe('101-1');
    // Exactly: tombstones inside the first node.
    expect(await r.xadd(key, 'MAXLEN', '=', '10', '253-1', 'f', '253')).toBe('253-1');
    expect(await r.xlen(key)).toBe(10);
    info = fields(await r.xinfo('STREAM', key));
    expect(info['radix-tree-keys']).toBe(1);
    expect(info['recorded-first-entry-id']).toBe('244-1');
    expect(await r.xadd(key, 'MINID', '250', '254-1', 'f', '254')).toBe('254-1');
    expect((await r.xrange(key, '-', '+')).map((e) => e[0])).toEqual(['250-1', '251-1', '252-1', '253-1', '254-1']);
    expect(fields(await r.xinfo('STREAM', key))['entries-added']).toBe(254);
  });
});

describe('XTRIM', () => {
  it('trims and answers the number deleted', async () => {
    const key = k('s');
    await fill(key, 1, 1000);
    expect(await r.xtrim(key, 'MAXLEN', '~', 650)).toBe(300);
    expect(await r.xlen(key)).toBe(700);
    expect(await r.xtrim(key, 'MINID', '~', 550)).toBe(200);
    expect(await r.xtrim(key, 'MINID', '~', 990, 'LIMIT', 50)).toBe(0);
    expect(await r.xtrim(key, 'MINID', '~', 990, 'LIMIT', 250)).toBe(200);
    expect(await r.xtrim(key, 'MINID', 995)).toBe(294);
    expect(await r.xtrim(key, 'MAXLEN', 2)).toBe(4);
    expect((await r.xrange(key, '-', '+')).map((e) => e[0])).toEqual(['999-1', '1000-1']);
    expect(await r.xtrim(key, 'MAXLEN', 0)).toBe(2);
    expect(await r.exists(key)).toBe(1);
    const info = fields(await r.xinfo('STREAM', key));
    expect(info.length).toBe(0);
    expect(info['radix-tree-keys']).toBe(0);
    expect(info['recorded-first-entry-id']).toBe('0-0');
    expect(info['first-entry']).toBeNull();
    expect(info['last-generated-id']).toBe('1000-1');
  });

  it('errors', async () => {
    const key = k('s');
    expect(await r.xtrim(key, 'MAXLEN', 1)).toBe(0);
    expect(await err(call('XTRIM', key, 'FOO', '1'))).toBe(SYNTAX);
    expect(await err(call('XTRIM', key, 'LIMIT', '1', 'x'))).toBe(SYNTAX);
    expect(await err(call('XTRIM', key, 'MAXLEN', '1', 'LIMIT', '5'))).toBe(
      'ERR syntax error, LIMIT cannot be used without the special ~ option',
    );
    expect(await err(call('XTRIM', key, 'MAXLEN', '1', 'FOO'))).toBe(SYNTAX);
    expect(await err(call('XTRIM', key))).toBe("ERR wrong number of arguments for 'xtrim' command");
    expect(await err(call('XTRIM', key, 'LIMIT', '0'))).toBe(
      'ERR syntax error, XTRIM must be called with a trimming strategy',
    );
  });
});

describe('XRANGE / XREVRANGE', () => {
  it('ranges with incomplete, exclusive and special IDs', async () => {
    const key = k('s');
    await r.xadd(key, '1-1', 'a', '1');
    await r.xadd(key, '1-2', 'b', '2');
    await r.xadd(key, '2-5', 'c', '3');
    await r.xadd(key, '3-0', 'd', '4');
    const ids = async (...args: (string | number)[]) =>
      ((await call('XRANGE', key, ...args)) as [string, string[]][]).map((e) => e[0]);
    expect(await ids('-', '+')).toEqual(['1-1', '1-2', '2-5', '3-0']);
    expect(await ids('1', '1')).toEqual(['1-1', '1-2']);
    expect(await ids('(1-1', '+')).toEqual(['1-2', '2-5', '3-0']);
    expect(await ids('(1-2', '(3-0')).toEqual(['2-5']);
    expect(await ids('2', '+', 'COUNT', 1)).toEqual(['2-5']);
    expect(await call('XRANGE', key, '-', '+', 'COUNT', -5)).toBeNull();
    expect(await call('XRANGE', key, '-', '+', 'COUNT', 0)).toBeNull();
    expect(await ids('3-1', '+')).toEqual([]);
    expect(await err(call('XRANGE', key, '(18446744073709551615-18446744073709551615', '+'))).toBe(
      'ERR invalid start ID for the interval',
    );
    expect(await err(call('XRANGE', key, '-', '(0-0'))).toBe('ERR invalid end ID for the interval');
    expect(await err(call('XRANGE', key, '(-', '+'))).toBe(INVALID_ID);
    expect(await err(call('XRANGE', key, 'x', '+'))).toBe(INVALID_ID);
    expect(await err(call('XRANGE', key, '-', '+', 'COUNT'))).toBe(SYNTAX);
    expect(await err(call('XRANGE', key, '-', '+', 'COUNT', 'x'))).toBe('ERR value is not an integer or out of range');
    expect(((await call('XREVRANGE', key, '+', '-', 'COUNT', 2)) as [string][]).map((e) => e[0])).toEqual([
      '3-0',
      '2-5',
    ]);
    expect(((await call('XREVRANGE', key, '(3-0', '1-2')) as [string][]).map((e) => e[0])).toEqual(['2-5', '1-2']);
    expect(await call('XRANGE', k('none'), '-', '+')).toEqual([]);
    expect(await r.xlen(k('none'))).toBe(0);
  });

  it('a range of COUNT 0 is a nil array, an empty one an empty array (raw RESP2)', async () => {
    const key = k('s');
    await r.xadd(key, '1-1', 'a', '1');
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('XRANGE', key, '-', '+', 'COUNT', '0')).toBe('*-1\r\n');
      expect(await c.command('XRANGE', key, '5', '+')).toBe('*0\r\n');
      expect(await c.command('XRANGE', key, '-', '+')).toBe('*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n');
    } finally {
      c.close();
    }
  });
});

describe('XDEL and XSETID', () => {
  it('XDEL leaves tombstones and tracks the first and the largest deleted ID', async () => {
    const key = k('s');
    await fill(key, 1, 5);
    expect(await r.xdel(key, '2-1', '9-9', '2-1')).toBe(1);
    expect(await r.xdel(key, '1-1')).toBe(1);
    let info = fields(await r.xinfo('STREAM', key));
    expect(info.length).toBe(3);
    expect(info['max-deleted-entry-id']).toBe('2-1');
    expect(info['recorded-first-entry-id']).toBe('3-1');
    expect(info['first-entry']).toEqual(['3-1', ['f', '3']]);
    expect(await err(r.xdel(key, 'x'))).toBe(INVALID_ID);
    expect(await r.xdel(k('none'), 'x')).toBe(0);
    expect(await r.xdel(key, '3-1', '4-1', '5-1')).toBe(3);
    info = fields(await r.xinfo('STREAM', key));
    expect(info.length).toBe(0);
    expect(info['radix-tree-keys']).toBe(0);
    expect(info['radix-tree-nodes']).toBe(1);
    expect(info['recorded-first-entry-id']).toBe('0-0');
    // An empty stream still knows its last ID.
    expect(await err(r.xadd(key, '5-1', 'a', '1'))).toBe(
      'ERR The ID specified in XADD is equal or smaller than the target stream top item',
    );
  });

  it('XSETID sets the last ID, entries added and max deleted ID', async () => {
    const key = k('s');
    await r.xadd(key, '5-1', 'a', '1');
    await r.xadd(key, '6-1', 'a', '1');
    expect(await err(call('XSETID', key, '6-0'))).toBe(
      'ERR The ID specified in XSETID is smaller than the target stream top item',
    );
    expect(await err(call('XSETID', key, '9-9', 'ENTRIESADDED', 1))).toBe(
      'ERR The entries_added specified in XSETID is smaller than the target stream length',
    );
    expect(await err(call('XSETID', key, '9-9', 'ENTRIESADDED', -1))).toBe('ERR entries_added must be positive');
    expect(await err(call('XSETID', key, '9-9', 'MAXDELETEDID', '10-0'))).toBe(
      'ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id',
    );
    expect(await err(call('XSETID', key, '9-9', 'FOO'))).toBe(SYNTAX);
    expect(await err(call('XSETID', key, '+'))).toBe(INVALID_ID);
    expect(await err(call('XSETID', k('none'), '1-1'))).toBe('ERR no such key');
    expect(await call('XSETID', key, '9-9', 'ENTRIESADDED', 10, 'MAXDELETEDID', '5-0')).toBe('OK');
    const info = fields(await r.xinfo('STREAM', key));
    expect(info['last-generated-id']).toBe('9-9');
    expect(info['entries-added']).toBe(10);
    expect(info['max-deleted-entry-id']).toBe('5-0');
    expect(await r.xadd(key, '9-*', 'b', '2')).toBe('9-10');
  });
});

describe('consumer groups', () => {
  it('XGROUP CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER and their errors', async () => {
    const key = k('s');
    const none = k('none');
    expect(await err(r.xgroup('CREATE', none, 'g', '0'))).toBe(
      'ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.',
    );
    expect(await r.xgroup('CREATE', key, 'g', '$', 'MKSTREAM')).toBe('OK');
    expect(await r.xlen(key)).toBe(0);
    expect(await err(r.xgroup('CREATE', key, 'g', '0'))).toBe('BUSYGROUP Consumer Group name already exists');
    expect(await err(call('XGROUP', 'CREATE', key, 'g2', '0', 'ENTRIESREAD', -2))).toBe(
      'ERR value for ENTRIESREAD must be positive or -1',
    );
    expect(await err(call('XGROUP', 'CREATE', key, 'g2', '0', 'FOO'))).toBe(
      "ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.",
    );
    expect(await err(call('XGROUP', 'CREATE', key, 'g2', 'x'))).toBe(INVALID_ID);
    expect(await err(call('XGROUP', 'CREATE', key, 'g2', '+'))).toBe(INVALID_ID);
    expect(await err(call('XGROUP', 'CREATE', key))).toBe("ERR wrong number of arguments for 'xgroup|create' command");
    expect(await err(call('XGROUP', 'NOPE', key, 'g'))).toBe("ERR unknown subcommand 'NOPE'. Try XGROUP HELP.");
    expect(await err(call('XGROUP', 'SETID', key, 'nog', '0'))).toBe(
      `NOGROUP No such consumer group 'nog' for key name '${key}'`,
    );
    expect(await err(call('XGROUP', 'CREATECONSUMER', key, 'nog', 'c'))).toBe(
      `NOGROUP No such consumer group 'nog' for key name '${key}'`,
    );
    expect(await err(call('XGROUP', 'DELCONSUMER', key, 'nog', 'c'))).toBe(
      `NOGROUP No such consumer group 'nog' for key name '${key}'`,
    );
    expect(await err(call('XGROUP', 'SETID', key, 'g', '0', 'MKSTREAM'))).toBe(
      "ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP.",
    );
    expect(await call('XGROUP', 'DESTROY', key, 'nog')).toBe(0);
    expect(await call('XGROUP', 'CREATECONSUMER', key, 'g', 'c1')).toBe(1);
    expect(await call('XGROUP', 'CREATECONSUMER', key, 'g', 'c1')).toBe(0);
    expect(await call('XGROUP', 'DELCONSUMER', key, 'g', 'nobody')).toBe(0);
    await r.xadd(key, '1-1', 'a', '1');
    await r.xadd(key, '2-1', 'b', '2');
    expect(await call('XGROUP', 'CREATE', key, 'g2', '$', 'ENTRIESREAD', 2)).toBe('OK');
    expect(await call('XGROUP', 'CREATE', key, 'a', '0')).toBe('OK');
    const groups = ((await r.xinfo('GROUPS', key)) as unknown[]).map(fields);
    // In byte order of their names, as Redis's rax.
    expect(groups).toEqual([
      { name: 'a', consumers: 0, pending: 0, 'last-delivered-id': '0-0', 'entries-read': null, lag: 2 },
      { name: 'g', consumers: 1, pending: 0, 'last-delivered-id': '0-0', 'entries-read': null, lag: 2 },
      { name: 'g2', consumers: 0, pending: 0, 'last-delivered-id': '2-1', 'entries-read': 2, lag: 0 },
    ]);
    expect(await call('XGROUP', 'SETID', key, 'g', '1-1', 'ENTRIESREAD', 1)).toBe('OK');
    expect(await call('XGROUP', 'SETID', key, 'a', '$')).toBe('OK');
    const after = ((await r.xinfo('GROUPS', key)) as unknown[]).map(fields);
    expect(after[0]).toMatchObject({ name: 'a', 'last-delivered-id': '2-1', 'entries-read': null, lag: 0 });
    expect(after[1]).toMatchObject({ name: 'g', 'last-delivered-id': '1-1', 'entries-read': 1, lag: 1 });
    expect(await call('XGROUP', 'DESTROY', key, 'g2')).toBe(1);
    expect(((await r.xinfo('GROUPS', key)) as unknown[]).length).toBe(2);
    const help = (await call('XGROUP', 'HELP')) as string[];
    expect(help[0]).toBe('XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:');
    expect(help).toContain('SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]');
  });

  it('delivers to two consumers, keeps pending lists, acknowledges', async () => {
    const key = k('s');
    await fill(key, 1, 4);
    await r.xgroup('CREATE', key, 'g', '0');
    const a = (await r.xreadgroup('GROUP', 'g', 'alice', 'COUNT', 1, 'STREAMS', key, '>')) as unknown[];
    expect(a).toEqual([[key, [['1-1', ['f', '1']]]]]);
    const b = (await r.xreadgroup('GROUP', 'g', 'bob', 'COUNT', 2, 'STREAMS', key, '>')) as unknown[];
    expect(b).toEqual([
      [
        key,
        [
          ['2-1', ['f', '2']],
          ['3-1', ['f', '3']],
        ],
      ],
    ]);
    // Nothing new for alice beyond 4-1, then nothing at all: a nil array.
    expect(await r.xreadgroup('GROUP', 'g', 'alice', 'STREAMS', key, '>')).toEqual([[key, [['4-1', ['f', '4']]]]]);
    expect(await r.xreadgroup('GROUP', 'g', 'alice', 'STREAMS', key, '>')).toBeNull();
    // History: each consumer sees only its own pending entries.
    expect(await r.xreadgroup('GROUP', 'g', 'bob', 'STREAMS', key, '0')).toEqual(b);
    expect(await r.xreadgroup('GROUP', 'g', 'alice', 'COUNT', 1, 'STREAMS', key, '1-1')).toEqual([
      [key, [['4-1', ['f', '4']]]],
    ]);
    expect(await r.xpending(key, 'g')).toEqual([
      4,
      '1-1',
      '4-1',
      [
        ['alice', '2'],
        ['bob', '2'],
      ],
    ]);
    const ext = (await r.xpending(key, 'g', '-', '+', 10)) as [string, string, number, number][];
    expect(ext.map((e) => [e[0], e[1], e[3]])).toEqual([
      ['1-1', 'alice', 1],
      ['2-1', 'bob', 2],
      ['3-1', 'bob', 2],
      ['4-1', 'alice', 2],
    ]);
    for (const e of ext) expect(e[2]).toBeGreaterThanOrEqual(0);
    expect(((await r.xpending(key, 'g', '-', '+', 10, 'bob')) as string[][]).map((e) => e[0])).toEqual(['2-1', '3-1']);
    expect(await r.xpending(key, 'g', '-', '+', 10, 'nobody')).toEqual([]);
    expect(((await r.xpending(key, 'g', '(1-1', '(4-1', 1)) as string[][]).map((e) => e[0])).toEqual(['2-1']);
    expect(await r.xpending(key, 'g', 'IDLE', 3_600_000, '-', '+', 10)).toEqual([]);
    expect(((await r.xpending(key, 'g', 'IDLE', 0, '-', '+', 10)) as unknown[]).length).toBe(4);
    expect(await r.xack(key, 'g', '1-1', '2-1', '9-9')).toBe(2);
    expect(await r.xack(key, 'g', '1-1')).toBe(0);
    expect(await r.xack(key, 'nog', '1-1')).toBe(0);
    expect(await r.xack(k('none'), 'g', '1-1')).toBe(0);
    expect(await err(r.xack(key, 'g', 'x'))).toBe(INVALID_ID);
    expect(await r.xpending(key, 'g')).toEqual([
      2,
      '3-1',
      '4-1',
      [
        ['alice', '1'],
        ['bob', '1'],
      ],
    ]);
    const group = fields(((await r.xinfo('GROUPS', key)) as unknown[])[0]);
    expect(group).toEqual({
      name: 'g',
      consumers: 2,
      pending: 2,
      'last-delivered-id': '4-1',
      'entries-read': 4,
      lag: 0,
    });
    const consumers = ((await r.xinfo('CONSUMERS', key, 'g')) as unknown[]).map(fields);
    expect(consumers.map((c) => [c.name, c.pending])).toEqual([
      ['alice', 1],
      ['bob', 1],
    ]);
    for (const c of consumers) expect(c.idle).toBeGreaterThanOrEqual(0);
    expect(await call('XGROUP', 'DELCONSUMER', key, 'g', 'bob')).toBe(1);
    expect(await r.xpending(key, 'g')).toEqual([1, '4-1', '4-1', [['alice', '1']]]);
  });

  it('XPENDING on an empty group, and its errors', async () => {
    const key = k('s');
    await r.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
    expect(await r.xpending(key, 'g')).toEqual([0, null, null, null]);
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('XPENDING', key, 'g')).toBe('*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n');
    } finally {
      c.close();
    }
    expect(await err(call('XPENDING', key, 'g', '-'))).toBe(SYNTAX);
    expect(await err(call('XPENDING', key, 'g', 'IDLE', 5, '-', '+'))).toBe(SYNTAX);
    expect(await err(call('XPENDING', key, 'g', 'IDLE', 'x', '-', '+', 10))).toBe(
      'ERR value is not an integer or out of range',
    );
    expect(await err(call('XPENDING', key, 'g', '-', '+', 'x'))).toBe('ERR value is not an integer or out of range');
    expect(await err(call('XPENDING', key, 'g', 'x', '+', 10))).toBe(INVALID_ID);
    expect(await err(call('XPENDING', key, 'nog'))).toBe(`NOGROUP No such key '${key}' or consumer group 'nog'`);
    expect(await err(call('XPENDING', k('none'), 'g'))).toMatch(/^NOGROUP No such key/);
  });

  it('lag and entries-read follow deletions as in Redis 7.0', async () => {
    const key = k('s');
    await fill(key, 1, 5);
    await r.xgroup('CREATE', key, 'g', '0');
    await r.xreadgroup('GROUP', 'g', 'c', 'COUNT', 2, 'STREAMS', key, '>');
    let g = fields(((await r.xinfo('GROUPS', key)) as unknown[])[0]);
    expect([g['entries-read'], g.lag]).toEqual([2, 3]);
    await r.xdel(key, '4-1');
    g = fields(((await r.xinfo('GROUPS', key)) as unknown[])[0]);
    expect([g['entries-read'], g.lag]).toEqual([2, null]);
    await r.xreadgroup('GROUP', 'g', 'c', 'STREAMS', key, '>');
    g = fields(((await r.xinfo('GROUPS', key)) as unknown[])[0]);
    expect([g['last-delivered-id'], g['entries-read'], g.lag]).toEqual(['5-1', 5, 0]);
  });

  it('XREADGROUP history shows deleted entries as nil, and its errors', async () => {
    const key = k('s');
    await fill(key, 1, 3);
    await r.xgroup('CREATE', key, 'g', '0');
    await r.xreadgroup('GROUP', 'g', 'c', 'STREAMS', key, '>');
    await r.xdel(key, '2-1');
    expect(await r.xreadgroup('GROUP', 'g', 'c', 'STREAMS', key, '0')).toEqual([
      [
        key,
        [
          ['1-1', ['f', '1']],
          ['2-1', null],
          ['3-1', ['f', '3']],
        ],
      ],
    ]);
    const c = await RawConnection.open(server);
    try {
      const text = await c.command('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', '1', 'STREAMS', key, '1-1');
      expect(text).toBe(`*1\r\n*2\r\n$${key.length}\r\n${key}\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*-1\r\n`);
    } finally {
      c.close();
    }
    const cases: [(string | number)[], string][] = [
      [
        ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', key, '$'],
        'ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.',
      ],
      [
        ['XREADGROUP', 'GROUP', 'nog', 'c', 'STREAMS', key, '>'],
        `NOGROUP No such key '${key}' or consumer group 'nog' in XREADGROUP with GROUP option`,
      ],
      [['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', key, 'x'], INVALID_ID],
      [
        ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', key, key, '>'],
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
      ],
      [['XREADGROUP', 'COUNT', 1, 'FOO', 'STREAMS', key, '>'], SYNTAX],
      [['XREADGROUP', 'COUNT', 1, 'NOACK', 'STREAMS', key, '>'], 'ERR Missing GROUP option for XREADGROUP'],
      [['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', -1, 'STREAMS', key, '>'], 'ERR timeout is negative'],
      [
        ['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', 1.5, 'STREAMS', key, '>'],
        'ERR timeout is not an integer or out of range',
      ],
    ];
    for (const [args, e] of cases) expect(await err(call(...args)), args.join(' ')).toBe(e);
  });

  it('NOACK delivers without pending entries', async () => {
    const key = k('s');
    await fill(key, 1, 2);
    await r.xgroup('CREATE', key, 'g', '0');
    expect(await r.xreadgroup('GROUP', 'g', 'c', 'NOACK', 'STREAMS', key, '>')).toEqual([
      [
        key,
        [
          ['1-1', ['f', '1']],
          ['2-1', ['f', '2']],
        ],
      ],
    ]);
    expect(await r.xpending(key, 'g')).toEqual([0, null, null, null]);
    expect(fields(((await r.xinfo('GROUPS', key)) as unknown[])[0])).toMatchObject({ consumers: 1, 'entries-read': 2 });
  });
});

describe('XCLAIM / XAUTOCLAIM', () => {
  /** A stream with entries 1-1…n-1 all delivered to `owner` in group g. */
  async function delivered(n: number, owner = 'c1'): Promise<string> {
    const key = k('s');
    await fill(key, 1, n);
    await r.xgroup('CREATE', key, 'g', '0');
    await r.xreadgroup('GROUP', 'g', owner, 'STREAMS', key, '>');
    return key;
  }

  it('XCLAIM moves pending entries between consumers', async () => {
    const key = await delivered(5);
    expect(await r.xclaim(key, 'g', 'c2', 0, '1-1', '2-1', 'JUSTID')).toEqual(['1-1', '2-1']);
    expect(await r.xclaim(key, 'g', 'c2', 0, '3-1')).toEqual([['3-1', ['f', '3']]]);
    // Not idle long enough, not pending, or not in the stream: nothing.
    expect(await r.xclaim(key, 'g', 'c3', 3_600_000, '4-1', 'JUSTID')).toEqual([]);
    expect(await r.xclaim(key, 'g', 'c3', 0, '9-9', 'FORCE', 'JUSTID')).toEqual([]);
    const ext = (await r.xpending(key, 'g', '-', '+', 10)) as [string, string, number, number][];
    // JUSTID leaves the delivery counter alone; a claim with the entries adds one.
    expect(ext.map((e) => [e[0], e[1], e[3]])).toEqual([
      ['1-1', 'c2', 1],
      ['2-1', 'c2', 1],
      ['3-1', 'c2', 2],
      ['4-1', 'c1', 1],
      ['5-1', 'c1', 1],
    ]);
    // RETRYCOUNT, IDLE and TIME set the counter and the delivery time.
    await r.xclaim(key, 'g', 'c3', 0, '4-1', 'RETRYCOUNT', 7, 'IDLE', 3_600_000, 'JUSTID');
    const [[, owner, idle, count]] = (await r.xpending(key, 'g', '4-1', '4-1', 1)) as [
      string,
      string,
      number,
      number,
    ][];
    expect([owner, count]).toEqual(['c3', 7]);
    expect(idle).toBeGreaterThanOrEqual(3_600_000);
    await r.xclaim(key, 'g', 'c3', 0, '5-1', 'TIME', Date.now() - 5_000_000, 'JUSTID');
    expect(((await r.xpending(key, 'g', 'IDLE', 4_000_000, '-', '+', 10)) as string[][]).map((e) => e[0])).toEqual([
      '5-1',
    ]);
    // FORCE creates a pending entry for an entry of the stream nobody had.
    await r.xadd(key, '6-1', 'f', '6');
    expect(await r.xclaim(key, 'g', 'c4', 0, '6-1', 'FORCE', 'JUSTID')).toEqual(['6-1']);
    // LASTID moves the group forward.
    expect(await r.xclaim(key, 'g', 'c4', 0, '6-1', 'LASTID', '8-0', 'JUSTID')).toEqual(['6-1']);
    expect(fields(((await r.xinfo('GROUPS', key)) as unknown[])[0])['last-delivered-id']).toBe('8-0');
    // A pending entry deleted from the stream is dropped by XCLAIM.
    await r.xdel(key, '1-1');
    expect(await r.xclaim(key, 'g', 'c4', 0, '1-1', 'JUSTID')).toEqual([]);
    expect((await r.xpending(key, 'g'))[0]).toBe(5);
  });

  it('XCLAIM errors', async () => {
    const key = await delivered(1);
    const cases: [(string | number)[], string][] = [
      [['XCLAIM', key, 'g', 'c', 'x', '1-1'], 'ERR Invalid min-idle-time argument for XCLAIM'],
      [['XCLAIM', key, 'g', 'c', 0, '1-1', 'BOGUS'], "ERR Unrecognized XCLAIM option 'BOGUS'"],
      [['XCLAIM', key, 'g', 'c', 0, '1-1', 'IDLE'], "ERR Unrecognized XCLAIM option 'IDLE'"],
      [['XCLAIM', key, 'g', 'c', 0, '1-1', 'IDLE', 'x'], 'ERR Invalid IDLE option argument for XCLAIM'],
      [['XCLAIM', key, 'g', 'c', 0, '1-1', 'TIME', 'x'], 'ERR Invalid TIME option argument for XCLAIM'],
      [['XCLAIM', key, 'g', 'c', 0, '1-1', 'RETRYCOUNT', 'x'], 'ERR Invalid RETRYCOUNT option argument for XCLAIM'],
      [['XCLAIM', key, 'g', 'c', 0, '1-1', 'LASTID', 'x'], INVALID_ID],
      [['XCLAIM', key, 'g', 'c', 0, '0-0', 'KVWS-SEEN', '5'], "ERR Unrecognized XCLAIM option 'KVWS-SEEN'"],
      [['XCLAIM', key, 'nog', 'c', 0, '1-1'], `NOGROUP No such key '${key}' or consumer group 'nog'`],
    ];
    for (const [args, e] of cases) expect(await err(call(...args)), args.join(' ')).toBe(e);
    expect((await r.xpending(key, 'g'))[3]).toEqual([['c1', '1']]);
  });

  it('XAUTOCLAIM claims in ID order with a cursor and reports deleted entries (Redis 7)', async () => {
    const key = await delivered(6);
    await r.xdel(key, '2-1', '5-1');
    // Deleted entries count against COUNT too.
    expect(await r.xautoclaim(key, 'g', 'c2', 0, '0', 'COUNT', 2, 'JUSTID')).toEqual(['3-1', ['1-1'], ['2-1']]);
    expect(await r.xautoclaim(key, 'g', 'c2', 0, '3-1', 'COUNT', 3)).toEqual([
      '6-1',
      [
        ['3-1', ['f', '3']],
        ['4-1', ['f', '4']],
      ],
      ['5-1'],
    ]);
    expect(await r.xautoclaim(key, 'g', 'c2', 0, '6-1', 'JUSTID')).toEqual(['0-0', ['6-1'], []]);
    expect(await r.xpending(key, 'g')).toEqual([4, '1-1', '6-1', [['c2', '4']]]);
    // Idle time filters; the cursor moves past what was examined.
    expect(await r.xautoclaim(key, 'g', 'c3', 3_600_000, '0')).toEqual(['0-0', [], []]);
    expect(await r.xautoclaim(key, 'g', 'c3', 0, '(1-1', 'COUNT', 1, 'JUSTID')).toEqual(['4-1', ['3-1'], []]);
    const cases: [(string | number)[], string][] = [
      [['XAUTOCLAIM', key, 'g', 'c', 'x', '0'], 'ERR Invalid min-idle-time argument for XAUTOCLAIM'],
      [['XAUTOCLAIM', key, 'g', 'c', 0, 'x'], INVALID_ID],
      [['XAUTOCLAIM', key, 'g', 'c', 0, '0', 'COUNT', 0], 'ERR COUNT must be > 0'],
      [['XAUTOCLAIM', key, 'g', 'c', 0, '0', 'COUNT', 'x'], 'ERR COUNT must be > 0'],
      [['XAUTOCLAIM', key, 'g', 'c', 0, '0', 'COUNT', '1152921504606846976'], 'ERR COUNT must be > 0'],
      [['XAUTOCLAIM', key, 'g', 'c', 0, '0', 'BOGUS'], SYNTAX],
      [['XAUTOCLAIM', key, 'nog', 'c', 0, '0'], `NOGROUP No such key '${key}' or consumer group 'nog'`],
    ];
    for (const [args, e] of cases) expect(await err(call(...args)), args.join(' ')).toBe(e);
  });
});

describe('XREAD', () => {
  it('reads several streams after the given IDs', async () => {
    const a = k('a');
    const b = k('b');
    await fill(a, 1, 3);
    await fill(b, 1, 1);
    expect(await r.xread('COUNT', 2, 'STREAMS', a, b, '0', '1-1')).toEqual([
      [
        a,
        [
          ['1-1', ['f', '1']],
          ['2-1', ['f', '2']],
        ],
      ],
    ]);
    expect(await r.xread('STREAMS', a, b, '2-1', '0')).toEqual([
      [a, [['3-1', ['f', '3']]]],
      [b, [['1-1', ['f', '1']]]],
    ]);
    expect(await r.xread('STREAMS', a, k('none'), '$', '$')).toBeNull();
    const cases: [(string | number)[], string][] = [
      [
        ['XREAD', 'STREAMS', a, '>'],
        'ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.',
      ],
      [
        ['XREAD', 'GROUP', 'g', 'c', 'STREAMS', a, '0'],
        'ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.',
      ],
      [
        ['XREAD', 'NOACK', 'STREAMS', a, '0'],
        'ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.',
      ],
      [['XREAD', 'STREAMS', a], "ERR wrong number of arguments for 'xread' command"],
      [
        ['XREAD', 'STREAMS', a, b, '0'],
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
      ],
      [['XREAD', 'COUNT', 1, 'FOO', a], SYNTAX],
      [['XREAD', 'COUNT', 'x', 'STREAMS', a, '0'], 'ERR value is not an integer or out of range'],
      [['XREAD', 'STREAMS', a, '-'], INVALID_ID],
    ];
    for (const [args, e] of cases) expect(await err(call(...args)), args.join(' ')).toBe(e);
    await r.set(b, 'x');
    expect(await err(r.xread('STREAMS', a, b, '0', '0'))).toBe(WRONGTYPE);
  });

  it('RESP3 answers maps (XREAD, XINFO) and a null at the timeout', async () => {
    const key = k('s');
    await fill(key, 1, 1);
    await r.xgroup('CREATE', key, 'g', '0');
    const c = await Resp3Connection.open(server);
    try {
      expect(await c.call('XREAD', 'STREAMS', key, '0')).toEqual({ map: [[key, [['1-1', ['f', '1']]]]] });
      expect(await c.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', key, '>')).toEqual({
        map: [[key, [['1-1', ['f', '1']]]]],
      });
      expect(await c.call('XREAD', 'BLOCK', '10', 'STREAMS', key, '$')).toBeNull();
      expect(await c.call('XINFO', 'GROUPS', key)).toEqual([
        {
          map: [
            ['name', 'g'],
            ['consumers', 1],
            ['pending', 1],
            ['last-delivered-id', '1-1'],
            ['entries-read', 1],
            ['lag', 0],
          ],
        },
      ]);
      const info = (await c.call('XINFO', 'STREAM', key, 'FULL')) as { map: [string, unknown][] };
      expect(info.map.map(([f]) => f)).toEqual([
        'length',
        'radix-tree-keys',
        'radix-tree-nodes',
        'last-generated-id',
        'max-deleted-entry-id',
        'entries-added',
        'recorded-first-entry-id',
        'entries',
        'groups',
      ]);
      const groups = info.map[8][1] as { map: [string, unknown][] }[];
      expect(groups[0].map.map(([f]) => f)).toEqual([
        'name',
        'last-delivered-id',
        'entries-read',
        'lag',
        'pel-count',
        'pending',
        'consumers',
      ]);
      const consumer = (groups[0].map[6][1] as { map: [string, unknown][] }[])[0];
      expect(consumer.map.map(([f]) => f)).toEqual(['name', 'seen-time', 'pel-count', 'pending']);
      expect(await c.call('XINFO', 'CONSUMERS', key, 'g')).toEqual([
        {
          map: [
            ['name', 'c'],
            ['pending', 1],
            ['idle', expect.any(Number)],
          ],
        },
      ]);
    } finally {
      c.close();
    }
  });
});

describe('blocking reads', () => {
  it('XREAD BLOCK is served by XADD, with $ meaning what comes next', async () => {
    const key = k('s');
    await r.xadd(key, '1-1', 'a', '1');
    const c = client();
    const p = later(c.xread('BLOCK', 0, 'STREAMS', key, '$'));
    await waitBlocked(r, 1);
    // Neither a deletion nor a raised last ID serves it: only new entries do.
    await r.xdel(key, '1-1');
    await call('XSETID', key, '5-0');
    await sleep(50);
    await r.xadd(key, '6-1', 'b', '2');
    expect(await p).toEqual([[key, [['6-1', ['b', '2']]]]]);
  });

  it('XREAD BLOCK on a missing key waits for it; the timeout answers nil', async () => {
    const key = k('s');
    const c = client();
    expect(await c.xread('BLOCK', 20, 'STREAMS', key, '0')).toBeNull();
    const p = later(c.xread('BLOCK', 0, 'STREAMS', k('other'), key, '0', '0'));
    await waitBlocked(r, 1);
    await r.xadd(key, '3-3', 'x', 'y');
    expect(await p).toEqual([[key, [['3-3', ['x', 'y']]]]]);
  });

  it('blocked XREADGROUP consumers are served in the order they blocked', async () => {
    const key = k('s');
    await r.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
    const c1 = client();
    const c2 = client();
    const p1 = later(c1.xreadgroup('GROUP', 'g', 'one', 'COUNT', 1, 'BLOCK', 0, 'STREAMS', key, '>'));
    await waitBlocked(r, 1);
    const p2 = later(c2.xreadgroup('GROUP', 'g', 'two', 'COUNT', 1, 'BLOCK', 0, 'STREAMS', key, '>'));
    await waitBlocked(r, 2);
    await r.xadd(key, '1-1', 'a', '1');
    expect(await p1).toEqual([[key, [['1-1', ['a', '1']]]]]);
    await waitBlocked(r, 1);
    await r.xadd(key, '2-1', 'b', '2');
    expect(await p2).toEqual([[key, [['2-1', ['b', '2']]]]]);
    expect(await r.xpending(key, 'g')).toEqual([
      2,
      '1-1',
      '2-1',
      [
        ['one', '1'],
        ['two', '1'],
      ],
    ]);
  });

  it('a blocked XREADGROUP gets NOGROUP when its group is destroyed, UNBLOCKED when its key goes', async () => {
    const key = k('s');
    await r.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
    const c = client();
    const p = later(c.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', key, '>'));
    await waitBlocked(r, 1);
    await r.xgroup('DESTROY', key, 'g');
    expect(await err(p)).toBe('NOGROUP the consumer group this client was blocked on no longer exists');
    await r.xgroup('CREATE', key, 'g', '$');
    const q = later(c.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', key, '>'));
    await waitBlocked(r, 1);
    await r.del(key);
    expect(await err(q)).toBe('UNBLOCKED the stream key no longer exists');
    // A plain XREAD stays blocked when its key is deleted.
    await r.xadd(key, '1-1', 'a', '1');
    const x = later(c.xread('BLOCK', 0, 'STREAMS', key, '$'));
    await waitBlocked(r, 1);
    await r.del(key);
    await sleep(50);
    await r.xadd(key, '2-1', 'b', '2');
    expect(await x).toEqual([[key, [['2-1', ['b', '2']]]]]);
  });

  it('FLUSHDB unblocks XREADGROUP with an error and leaves XREAD waiting', async () => {
    const key = k('s');
    const [c1, c2, admin] = [client(), client(), client()];
    for (const c of [c1, c2, admin]) await c.select(9);
    await admin.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
    const p = later(c1.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', key, '>'));
    const x = later(c2.xread('BLOCK', 0, 'STREAMS', key, '0'));
    await waitBlocked(r, 2);
    await admin.flushdb();
    expect(await err(p)).toBe('UNBLOCKED the stream key no longer exists');
    await waitBlocked(r, 1);
    await admin.xadd(key, '1-1', 'a', '1');
    expect(await x).toEqual([[key, [['1-1', ['a', '1']]]]]);
  });

  it('CLIENT UNBLOCK ends a blocked XREAD with nil, or an error', async () => {
    const key = k('s');
    const c = client();
    const id = (await c.client('ID')) as number;
    const p = later(c.xread('BLOCK', 0, 'STREAMS', key, '$'));
    await waitBlocked(r, 1);
    expect(await r.client('UNBLOCK', id)).toBe(1);
    expect(await p).toBeNull();
    const q = later(c.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', key, '>').catch((e: Error) => e.message));
    expect(await q).toMatch(/^NOGROUP/);
    await r.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
    const q2 = later(c.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', key, '>'));
    await waitBlocked(r, 1);
    expect(await r.client('UNBLOCK', id, 'ERROR')).toBe(1);
    expect(await err(q2)).toBe('UNBLOCKED client unblocked via CLIENT UNBLOCK');
  });

  it('inside MULTI a BLOCK read does not block', async () => {
    const key = k('s');
    const res = await r.multi().xread('BLOCK', 0, 'STREAMS', key, '$').xadd(key, '1-1', 'a', '1').exec();
    expect(res).toEqual([
      [null, null],
      [null, '1-1'],
    ]);
  });
});

describe('keyspace events', () => {
  it('are the ones Redis sends', async () => {
    const s = 'ev:s';
    const key = `${prefix}${s}`;
    const expected = [
      'xgroup-create ev:s',
      'xadd ev:s',
      'xadd ev:s',
      'xadd ev:s',
      'xtrim ev:s',
      'xgroup-createconsumer ev:s',
      'xgroup-createconsumer ev:s',
      'xdel ev:s',
      'xadd ev:s',
      'xtrim ev:s',
      'xgroup-setid ev:s',
      'xsetid ev:s',
      'xgroup-delconsumer ev:s',
      'xgroup-destroy ev:s',
      'del ev:s',
    ];
    const events = await keyevents(r, client, prefix, { count: expected.length, settleMs: 50 }, async () => {
      await r.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
      await r.xadd(key, '1-1', 'a', '1');
      await r.xadd(key, '2-1', 'a', '1');
      await r.xadd(key, 'MAXLEN', '1', '3-1', 'a', '1');
      await r.xreadgroup('GROUP', 'g', 'c', 'STREAMS', key, '>');
      await r.xack(key, 'g', '3-1');
      await call('XGROUP', 'CREATECONSUMER', key, 'g', 'c2');
      await r.xclaim(key, 'g', 'c', 0, '9-9');
      await r.xdel(key, '3-1', '9-9');
      await r.xdel(key, '3-1');
      await r.xadd(key, 'NOMKSTREAM', '4-1', 'a', '1').then(() => r.xtrim(key, 'MAXLEN', 0));
      await r.xtrim(key, 'MAXLEN', 0);
      await call('XGROUP', 'SETID', key, 'g', '0');
      await call('XSETID', key, '9-9');
      await call('XGROUP', 'DELCONSUMER', key, 'g', 'c2');
      await call('XGROUP', 'DESTROY', key, 'g');
      await r.del(key);
    });
    expect(events).toEqual(expected);
  });
});

describe('other commands and clients', () => {
  it('streams refuse other types, and other commands refuse streams', async () => {
    const key = k('str');
    await r.set(key, 'v');
    const cmds: (string | number)[][] = [
      ['XLEN', key],
      ['XRANGE', key, '-', '+'],
      ['XREVRANGE', key, '+', '-'],
      ['XDEL', key, '1-1'],
      ['XTRIM', key, 'MAXLEN', 1],
      ['XSETID', key, '1-1'],
      ['XACK', key, 'g', '1-1'],
      ['XPENDING', key, 'g'],
      ['XCLAIM', key, 'g', 'c', 0, '1-1'],
      ['XAUTOCLAIM', key, 'g', 'c', 0, '0'],
      ['XINFO', 'STREAM', key],
      ['XINFO', 'GROUPS', key],
      ['XINFO', 'CONSUMERS', key, 'g'],
      ['XGROUP', 'CREATE', key, 'g', '0'],
      ['XREAD', 'STREAMS', key, '0'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', key, '>'],
    ];
    for (const c of cmds) expect(await err(call(...c)), c.join(' ')).toBe(WRONGTYPE);
    const s = k('s');
    await r.xadd(s, '1-1', 'a', '1');
    expect(await err(r.get(s))).toBe(WRONGTYPE);
    expect(await err(r.lpush(s, 'x'))).toBe(WRONGTYPE);
    expect(await err(call('XINFO', 'STREAM', k('none')))).toBe('ERR no such key');
  });

  it('COPY, RENAME and SCAN TYPE handle streams with their groups', async () => {
    const a = `{${k('s')}}`;
    const b = `${a}:copy`;
    await fill(a, 1, 3);
    await r.xgroup('CREATE', a, 'g', '0');
    await r.xreadgroup('GROUP', 'g', 'c', 'COUNT', 2, 'STREAMS', a, '>');
    expect(await call('COPY', a, b)).toBe(1);
    await r.xadd(a, '4-1', 'f', '4');
    await r.xack(a, 'g', '1-1');
    expect(await r.xlen(b)).toBe(3);
    expect(await r.xpending(b, 'g')).toEqual([2, '1-1', '2-1', [['c', '2']]]);
    expect(await r.xpending(a, 'g')).toEqual([1, '2-1', '2-1', [['c', '1']]]);
    const c = `${a}:renamed`;
    expect(await r.rename(b, c)).toBe('OK');
    expect(await r.xlen(c)).toBe(3);
    const [, keys] = await r.scan(0, 'MATCH', `${a}*`, 'TYPE', 'stream', 'COUNT', 1000);
    expect(keys.sort()).toEqual([a, c].sort());
  });

  it('redis-cli adds and reads entries', async () => {
    const key = k('cli');
    const run = (...args: string[]) =>
      new Promise<string>((resolve, reject) => {
        execFile('redis-cli', ['-h', server.host, '-p', String(server.port), ...args], (e, out) =>
          e ? reject(e) : resolve(out),
        );
      });
    expect(await run('XADD', key, '1-1', 'name', 'ada')).toBe('1-1\n');
    expect(await run('XADD', key, '2-1', 'name', 'bob')).toBe('2-1\n');
    expect(await run('XRANGE', key, '-', '+')).toBe('1-1\nname\nada\n2-1\nname\nbob\n');
    expect(await run('XREAD', 'COUNT', '1', 'STREAMS', key, '1-1')).toBe(`${key}\n2-1\nname\nbob\n`);
    expect(await run('XLEN', key)).toBe('2\n');
  });

  it('XINFO HELP', async () => {
    const help = (await call('XINFO', 'HELP')) as string[];
    expect(help[0]).toBe('XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:');
    expect(help).toContain('STREAM <key> [FULL [COUNT <count>]');
    expect(await err(call('XINFO', 'STREAM', k('s'), 'FULL', 'x'))).toBe('ERR no such key');
    const key = k('s');
    await r.xadd(key, '1-1', 'a', '1');
    expect(await err(call('XINFO', 'STREAM', key, 'FULL', 'x'))).toBe(
      "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
    );
    expect(await err(call('XINFO', 'STREAM', key, 'FULL', 'COUNT', 'x'))).toBe(
      'ERR value is not an integer or out of range',
    );
    expect(fields(await call('XINFO', 'STREAM', key, 'FULL', 'COUNT', 0)).entries).toEqual([['1-1', ['a', '1']]]);
  });

  it('ACL: a read-only key pattern may read and XREADGROUP (its keys are RO in Redis 7) but not XADD', async () => {
    const key = k('acl');
    const user = `stream-ro-${process.pid}-${seq}`;
    await fill(key, 1, 1);
    await r.xgroup('CREATE', key, 'g', '0');
    await call('ACL', 'SETUSER', user, 'on', 'nopass', '%R~*', '+@all');
    const c = client();
    try {
      await c.call('AUTH', user, 'any');
      expect(await c.xrange(key, '-', '+')).toEqual([['1-1', ['f', '1']]]);
      expect(await c.xreadgroup('GROUP', 'g', 'c', 'STREAMS', key, '>')).toEqual([[key, [['1-1', ['f', '1']]]]]);
      const denied = 'NOPERM this user has no permissions to access one of the keys used as arguments';
      expect(await err(c.xadd(key, '*', 'a', '1'))).toBe(denied);
      expect(await err(c.xack(key, 'g', '1-1'))).toBe(denied);
      expect(await err(c.xtrim(key, 'MAXLEN', 0))).toBe(denied);
    } finally {
      await call('ACL', 'DELUSER', user);
    }
  });
});

describe('the command table', () => {
  let redis: RunningServer | undefined;
  let ref: Redis;
  beforeAll(async () => {
    redis = server.isRedis ? undefined : await startRedis();
    ref = redis ? redisClient(redis) : redisClient(server.port);
  });
  afterAll(async () => {
    ref?.disconnect();
    await redis?.stop();
  });

  it('COMMAND INFO of every stream command is redis-server 7.0’s', async () => {
    const names = [
      'xadd',
      'xlen',
      'xrange',
      'xrevrange',
      'xread',
      'xreadgroup',
      'xdel',
      'xtrim',
      'xsetid',
      'xack',
      'xpending',
      'xclaim',
      'xautoclaim',
      'xinfo',
      'xgroup',
    ];
    const sortSubs = (info: unknown[]) => {
      const subs = info[9] as unknown[][];
      return [...info.slice(0, 9), [...subs].sort((a, b) => String(a[0]).localeCompare(String(b[0])))];
    };
    const mine = ((await r.call('COMMAND', 'INFO', ...names)) as unknown[][]).map(sortSubs);
    const theirs = ((await ref.call('COMMAND', 'INFO', ...names)) as unknown[][]).map(sortSubs);
    expect(mine).toEqual(theirs);
    expect(await r.call('COMMAND', 'GETKEYS', 'XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 'a', 'b', '>', '>')).toEqual([
      'a',
      'b',
    ]);
  });
});
