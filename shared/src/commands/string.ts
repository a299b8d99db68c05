import { defineCommand as c, key1, keyRange } from './define.js';
import type { CommandSpec } from './types.js';

const g = 'string' as const;

/** String commands (Redis's t_string.c). */
export const string: CommandSpec[] = [
  c('GET', { group: g, arity: 2, flags: ['readonly', 'fast'], keys: [key1('RO', ['ACCESS'])], syntax: 'GET key', summary: 'Returns the string value of a key.' }),
  c('SET', {
    group: g,
    arity: -3,
    flags: ['write', 'denyoom'],
    keys: [key1('RW', ['ACCESS', 'UPDATE', 'VARIABLE_FLAGS'])],
    syntax: 'SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]',
    summary: 'Sets the string value of a key, ignoring its type. The key is created if it does not exist.',
  }),
  c('SETNX', { group: g, arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [key1('OW', ['INSERT'])], syntax: 'SETNX key value', summary: 'Set the string value of a key only when the key does not exist.' }),
  c('SETEX', { group: g, arity: 4, flags: ['write', 'denyoom'], keys: [key1('OW', ['UPDATE'])], syntax: 'SETEX key seconds value', summary: 'Sets the string value and expiration time of a key. Creates the key if it does not exist.', since: '2.0.0' }),
  c('PSETEX', { group: g, arity: 4, flags: ['write', 'denyoom'], keys: [key1('OW', ['UPDATE'])], syntax: 'PSETEX key milliseconds value', summary: 'Sets both string value and expiration time in milliseconds of a key. The key is created if it does not exist.', since: '2.6.0' }),
  c('GETEX', { group: g, arity: -2, flags: ['write', 'fast'], keys: [key1('RW', ['ACCESS', 'UPDATE'])], syntax: 'GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]', summary: 'Returns the string value of a key after setting its expiration time.', since: '6.2.0' }),
  c('GETDEL', { group: g, arity: 2, flags: ['write', 'fast'], keys: [key1('RW', ['ACCESS', 'DELETE'])], syntax: 'GETDEL key', summary: 'Returns the string value of a key after deleting the key.', since: '6.2.0' }),
  c('GETSET', { group: g, arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [key1('RW', ['ACCESS', 'UPDATE'])], syntax: 'GETSET key value', summary: 'Returns the previous string value of a key after setting it to a new value.' }),
  c('MGET', { group: g, arity: -2, flags: ['readonly', 'fast'], keys: [keyRange(1, -1, 1, 'RO', ['ACCESS'])], syntax: 'MGET key [key ...]', summary: 'Atomically returns the string values of one or more keys.' }),
  c('MSET', { group: g, arity: -3, flags: ['write', 'denyoom'], keys: [keyRange(1, -1, 2, 'OW', ['UPDATE'])], syntax: 'MSET key value [key value ...]', summary: 'Atomically creates or modifies the string values of one or more keys.', since: '1.0.1' }),
  c('MSETNX', { group: g, arity: -3, flags: ['write', 'denyoom'], keys: [keyRange(1, -1, 2, 'OW', ['INSERT'])], syntax: 'MSETNX key value [key value ...]', summary: 'Atomically modifies the string values of one or more keys only when all keys don\'t exist.', since: '1.0.1' }),
  c('APPEND', { group: g, arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [key1('RW', ['INSERT'])], syntax: 'APPEND key value', summary: 'Appends a string to the value of a key. Creates the key if it doesn\'t exist.', since: '2.0.0' }),
  c('STRLEN', { group: g, arity: 2, flags: ['readonly', 'fast'], keys: [key1('RO')], syntax: 'STRLEN key', summary: 'Returns the length of a string value.', since: '2.2.0' }),
  c('GETRANGE', { group: g, arity: 4, flags: ['readonly'], keys: [key1('RO', ['ACCESS'])], syntax: 'GETRANGE key start end', summary: 'Returns a substring of the string stored at a key.', since: '2.4.0' }),
  c('SUBSTR', { group: g, arity: 4, flags: ['readonly'], keys: [key1('RO', ['ACCESS'])], syntax: 'SUBSTR key start end', summary: 'Returns a substring from a string value.' }),
  c('SETRANGE', { group: g, arity: 4, flags: ['write', 'denyoom'], keys: [key1('RW', ['UPDATE'])], syntax: 'SETRANGE key offset value', summary: 'Overwrites a part of a string value with another by an offset. Creates the key if it doesn\'t exist.', since: '2.2.0' }),
  c('INCR', { group: g, arity: 2, flags: ['write', 'denyoom', 'fast'], keys: [key1('RW', ['ACCESS', 'UPDATE'])], syntax: 'INCR key', summary: 'Increments the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.' }),
  c('DECR', { group: g, arity: 2, flags: ['write', 'denyoom', 'fast'], keys: [key1('RW', ['ACCESS', 'UPDATE'])], syntax: 'DECR key', summary: 'Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.' }),
  c('INCRBY', { group: g, arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [key1('RW', ['ACCESS', 'UPDATE'])], syntax: 'INCRBY key increment', summary: 'Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.' }),
  c('DECRBY', { group: g, arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [key1('RW', ['ACCESS', 'UPDATE'])], syntax: 'DECRBY key decrement', summary: 'Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn\'t exist.' }),
  c('INCRBYFLOAT', { group: g, arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [key1('RW', ['ACCESS', 'UPDATE'])], syntax: 'INCRBYFLOAT key increment', summary: 'Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.', since: '2.6.0' }),
];
