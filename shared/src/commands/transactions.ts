import { defineCommand as c, keyRange } from './define.js';
import type { CommandSpec } from './types.js';

const g = 'transactions' as const;
const f = ['noscript', 'loading', 'stale', 'fast', 'allow_busy'] as const;

/** Transactions (Redis's multi.c). */
export const transactions: CommandSpec[] = [
  c('MULTI', {
    group: g,
    arity: 1,
    flags: [...f, 'no_multi'],
    syntax: 'MULTI',
    summary: 'Starts a transaction.',
    since: '1.2.0',
  }),
  c('EXEC', {
    group: g,
    arity: 1,
    flags: ['noscript', 'loading', 'stale', 'skip_slowlog'],
    syntax: 'EXEC',
    summary: 'Executes all commands in a transaction.',
    since: '1.2.0',
  }),
  c('DISCARD', {
    group: g,
    arity: 1,
    flags: [...f],
    syntax: 'DISCARD',
    summary: 'Discards a transaction.',
    since: '2.0.0',
  }),
  c('WATCH', {
    group: g,
    arity: -2,
    flags: [...f, 'no_multi'],
    keys: [keyRange(1, -1, 1, 'RO')],
    syntax: 'WATCH key [key ...]',
    summary: 'Monitors changes to keys to determine the execution of a transaction.',
    since: '2.2.0',
  }),
  c('UNWATCH', {
    group: g,
    arity: 1,
    flags: [...f],
    syntax: 'UNWATCH',
    summary: 'Forgets about watched keys of a transaction.',
    since: '2.2.0',
  }),
];
