import { defineCommand as c, key1, keyNum, keyRange } from './define.js';
import type { CommandSpec, KeySpec } from './types.js';

const g = 'list' as const;

/** The source of a pop or move: read, then possibly deleted when emptied. */
const src = (index = 1): KeySpec => keyRange(index, 0, 1, 'RW', ['ACCESS', 'DELETE']);
/** The destination of a push or move. */
const dst = (index: number): KeySpec => keyRange(index, 0, 1, 'RW', ['INSERT']);

/** List commands (Redis's t_list.c), as in Redis 7.2's COMMAND INFO / COMMAND DOCS. */
export const list: CommandSpec[] = [
  c('LPUSH', {
    group: g,
    arity: -3,
    flags: ['write', 'denyoom', 'fast'],
    keys: [dst(1)],
    syntax: 'LPUSH key element [element ...]',
    summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
  }),
  c('RPUSH', {
    group: g,
    arity: -3,
    flags: ['write', 'denyoom', 'fast'],
    keys: [dst(1)],
    syntax: 'RPUSH key element [element ...]',
    summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.",
  }),
  c('LPUSHX', {
    group: g,
    arity: -3,
    flags: ['write', 'denyoom', 'fast'],
    keys: [dst(1)],
    syntax: 'LPUSHX key element [element ...]',
    summary: 'Prepends one or more elements to a list only when the list exists.',
    since: '2.2.0',
  }),
  c('RPUSHX', {
    group: g,
    arity: -3,
    flags: ['write', 'denyoom', 'fast'],
    keys: [dst(1)],
    syntax: 'RPUSHX key element [element ...]',
    summary: 'Appends an element to a list only when the list exists.',
    since: '2.2.0',
  }),
  c('LPOP', {
    group: g,
    arity: -2,
    flags: ['write', 'fast'],
    keys: [src()],
    syntax: 'LPOP key [count]',
    summary: 'Returns the first elements in a list after removing it. Deletes the list if the last element was popped.',
  }),
  c('RPOP', {
    group: g,
    arity: -2,
    flags: ['write', 'fast'],
    keys: [src()],
    syntax: 'RPOP key [count]',
    summary: 'Returns and removes the last elements of a list. Deletes the list if the last element was popped.',
  }),
  c('LLEN', {
    group: g,
    arity: 2,
    flags: ['readonly', 'fast'],
    keys: [key1('RO')],
    syntax: 'LLEN key',
    summary: 'Returns the length of a list.',
  }),
  c('LRANGE', {
    group: g,
    arity: 4,
    flags: ['readonly'],
    keys: [key1('RO', ['ACCESS'])],
    syntax: 'LRANGE key start stop',
    summary: 'Returns a range of elements from a list.',
  }),
  c('LINDEX', {
    group: g,
    arity: 3,
    flags: ['readonly'],
    keys: [key1('RO', ['ACCESS'])],
    syntax: 'LINDEX key index',
    summary: 'Returns an element from a list by its index.',
  }),
  c('LSET', {
    group: g,
    arity: 4,
    flags: ['write', 'denyoom'],
    keys: [key1('RW', ['UPDATE'])],
    syntax: 'LSET key index element',
    summary: 'Sets the value of an element in a list by its index.',
  }),
  c('LINSERT', {
    group: g,
    arity: 5,
    flags: ['write', 'denyoom'],
    keys: [dst(1)],
    syntax: 'LINSERT key <BEFORE | AFTER> pivot element',
    summary: 'Inserts an element before or after another element in a list.',
    since: '2.2.0',
  }),
  c('LREM', {
    group: g,
    arity: 4,
    flags: ['write'],
    keys: [key1('RW', ['DELETE'])],
    syntax: 'LREM key count element',
    summary: 'Removes elements from a list. Deletes the list if the last element was removed.',
  }),
  c('LTRIM', {
    group: g,
    arity: 4,
    flags: ['write'],
    keys: [key1('RW', ['DELETE'])],
    syntax: 'LTRIM key start stop',
    summary: 'Removes elements from both ends a list. Deletes the list if all elements were trimmed.',
  }),
  c('LPOS', {
    group: g,
    arity: -3,
    flags: ['readonly'],
    keys: [key1('RO', ['ACCESS'])],
    syntax: 'LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]',
    summary: 'Returns the index of matching elements in a list.',
    since: '6.0.6',
  }),
  c('LMOVE', {
    group: g,
    arity: 5,
    flags: ['write', 'denyoom'],
    keys: [src(), dst(2)],
    syntax: 'LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>',
    summary:
      'Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.',
    since: '6.2.0',
  }),
  c('RPOPLPUSH', {
    group: g,
    arity: 3,
    flags: ['write', 'denyoom'],
    keys: [src(), dst(2)],
    syntax: 'RPOPLPUSH source destination',
    summary:
      'Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.',
    since: '1.2.0',
  }),
  c('LMPOP', {
    group: g,
    arity: -4,
    flags: ['write'],
    keys: [keyNum(1, 0, 1, 1, 'RW', ['ACCESS', 'DELETE'])],
    syntax: 'LMPOP numkeys key [key ...] <LEFT | RIGHT> [COUNT count]',
    summary:
      'Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.',
    since: '7.0.0',
  }),
  c('BLPOP', {
    group: g,
    arity: -3,
    flags: ['write', 'blocking'],
    keys: [keyRange(1, -2, 1, 'RW', ['ACCESS', 'DELETE'])],
    syntax: 'BLPOP key [key ...] timeout',
    summary:
      'Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.',
    since: '2.0.0',
  }),
  c('BRPOP', {
    group: g,
    arity: -3,
    flags: ['write', 'blocking'],
    keys: [keyRange(1, -2, 1, 'RW', ['ACCESS', 'DELETE'])],
    syntax: 'BRPOP key [key ...] timeout',
    summary:
      'Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.',
    since: '2.0.0',
  }),
  c('BLMOVE', {
    group: g,
    arity: 6,
    flags: ['write', 'denyoom', 'blocking'],
    keys: [src(), dst(2)],
    syntax: 'BLMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout',
    summary:
      'Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.',
    since: '6.2.0',
  }),
  c('BRPOPLPUSH', {
    group: g,
    arity: 4,
    flags: ['write', 'denyoom', 'blocking'],
    keys: [src(), dst(2)],
    syntax: 'BRPOPLPUSH source destination timeout',
    summary:
      'Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.',
    since: '2.2.0',
  }),
  c('BLMPOP', {
    group: g,
    arity: -5,
    flags: ['write', 'blocking'],
    keys: [keyNum(2, 0, 1, 1, 'RW', ['ACCESS', 'DELETE'])],
    syntax: 'BLMPOP timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]',
    summary:
      'Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.',
    since: '7.0.0',
  }),
];
