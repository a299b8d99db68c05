import { describe, expect, it } from 'vitest';
import { BLOCKING, blockingMs } from '../../client/src/command.js';
import { streamCommands as x } from '../../client/src/commands/stream.js';
import type { Value } from '../../client/src/types.js';
import { stream } from '../../shared/src/commands/stream.js';

// The stream builders of @kvws/client, without a server: one builder per command of the table, argv in
// Redis's order, and the decoders on both reply shapes (RESP3-shaped JSON from the WebSocket, RESP2-shaped
// from the HTTP API).

const argv = (c: { argv: unknown[] }) => c.argv;

describe('stream command builders', () => {
  it('one builder per command of the table', () => {
    const names: string[] = [];
    for (const s of stream) {
      if (!s.subcommands) names.push(s.name.toLowerCase());
      for (const sub of s.subcommands ?? [])
        names.push(s.name.toLowerCase() + sub.name[0] + sub.name.slice(1).toLowerCase());
    }
    expect(Object.keys(x).sort()).toEqual(names.sort());
  });

  it('build argv in Redis order', () => {
    expect(argv(x.xadd('s', { a: 1, b: 'x' }))).toEqual(['XADD', 's', '*', 'a', 1, 'b', 'x']);
    expect(
      argv(x.xadd('s', [['f', 'v']], { id: '5-*', nomkstream: true, trim: { maxlen: 10, approx: true, limit: 50 } })),
    ).toEqual(['XADD', 's', 'NOMKSTREAM', 'MAXLEN', '~', 10, 'LIMIT', 50, '5-*', 'f', 'v']);
    expect(argv(x.xtrim('s', { minid: '5-0' }))).toEqual(['XTRIM', 's', 'MINID', '=', '5-0']);
    expect(argv(x.xread({ a: '0', b: '$' }, { count: 2, block: 100 }))).toEqual([
      'XREAD',
      'COUNT',
      2,
      'BLOCK',
      100,
      'STREAMS',
      'a',
      'b',
      '0',
      '$',
    ]);
    expect(argv(x.xreadgroup('g', 'c', [['s', '>']], { noack: true }))).toEqual([
      'XREADGROUP',
      'GROUP',
      'g',
      'c',
      'NOACK',
      'STREAMS',
      's',
      '>',
    ]);
    expect(argv(x.xpending('s', 'g', { start: '-', end: '+', count: 10, idle: 5, consumer: 'c' }))).toEqual([
      'XPENDING',
      's',
      'g',
      'IDLE',
      5,
      '-',
      '+',
      10,
      'c',
    ]);
    expect(argv(x.xclaim('s', 'g', 'c', 0, ['1-1'], { time: 7, retrycount: 2, force: true, justid: true }))).toEqual([
      'XCLAIM',
      's',
      'g',
      'c',
      0,
      '1-1',
      'TIME',
      7,
      'RETRYCOUNT',
      2,
      'FORCE',
      'JUSTID',
    ]);
    expect(argv(x.xgroupCreate('s', 'g', '$', { mkstream: true, entriesRead: 3 }))).toEqual([
      'XGROUP',
      'CREATE',
      's',
      'g',
      '$',
      'MKSTREAM',
      'ENTRIESREAD',
      3,
    ]);
    expect(argv(x.xinfoStream('s', { count: 5 }))).toEqual(['XINFO', 'STREAM', 's', 'FULL', 'COUNT', 5]);
  });

  it('decode both reply shapes', () => {
    const entries: Value = [
      ['1-1', ['a', '1']],
      ['2-1', null],
    ];
    const want = [
      { id: '1-1', fields: { a: '1' } },
      { id: '2-1', fields: null },
    ];
    expect(x.xrange('s').decode(entries)).toEqual(want);
    expect(x.xread({ s: '0' }).decode([['s', entries]])).toEqual([{ key: 's', entries: want }]);
    expect(x.xread({ s: '0' }).decode({ s: entries })).toEqual([{ key: 's', entries: want }]);
    expect(x.xread({ s: '0' }).decode(null)).toBeNull();
    expect(x.xpending('s', 'g').decode([2, '1-1', '2-1', [['c', '2']]])).toEqual({
      count: 2,
      first: '1-1',
      last: '2-1',
      consumers: [{ name: 'c', pending: 2 }],
    });
    expect(x.xpending('s', 'g').decode([0, null, null, null])).toEqual({
      count: 0,
      first: null,
      last: null,
      consumers: [],
    });
    expect(x.xautoclaim('s', 'g', 'c', 0, '0', { justid: true }).decode(['0-0', ['1-1'], ['2-1']])).toEqual({
      next: '0-0',
      claimed: ['1-1'],
      deleted: ['2-1'],
    });
    expect(x.xinfoGroups('s').decode([{ name: 'g', lag: null }])).toEqual([{ name: 'g', lag: null }]);
    expect(x.xinfoGroups('s').decode([['name', 'g', 'lag', null]])).toEqual([{ name: 'g', lag: null }]);
  });

  it('XREAD and XREADGROUP block only with BLOCK, in milliseconds', () => {
    expect(Object.keys(BLOCKING)).toEqual(expect.arrayContaining(['XREAD', 'XREADGROUP']));
    expect(blockingMs(argv(x.xread({ s: '$' })) as string[])).toBeNull();
    expect(blockingMs(argv(x.xread({ s: '$' }, { block: 1500 })) as string[])).toBe(1500);
    expect(blockingMs(argv(x.xreadgroup('BLOCK', 'c', { s: '>' }, { block: 0 })) as string[])).toBe(0);
    expect(blockingMs(argv(x.xreadgroup('BLOCK', 'c', { s: '>' })) as string[])).toBeNull();
  });
});
