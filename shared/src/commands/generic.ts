import { defineCommand as c, key1, keyRange } from './define.js';
import type { CommandSpec } from './types.js';

const g = 'generic' as const;

/** Keyspace commands (Redis's db.c and expire.c). */
export const generic: CommandSpec[] = [
  c('DEL', { group: g, arity: -2, flags: ['write'], keys: [keyRange(1, -1, 1, 'RM', ['DELETE'])], syntax: 'DEL key [key ...]', summary: 'Deletes one or more keys.' }),
  c('UNLINK', { group: g, arity: -2, flags: ['write', 'fast'], keys: [keyRange(1, -1, 1, 'RM', ['DELETE'])], syntax: 'UNLINK key [key ...]', summary: 'Asynchronously deletes one or more keys.', since: '4.0.0' }),
  c('EXISTS', { group: g, arity: -2, flags: ['readonly', 'fast'], keys: [keyRange(1, -1, 1, 'RO')], syntax: 'EXISTS key [key ...]', summary: 'Determines whether one or more keys exist.' }),
  c('TYPE', { group: g, arity: 2, flags: ['readonly', 'fast'], keys: [key1('RO')], syntax: 'TYPE key', summary: 'Determines the type of value stored at a key.' }),
  c('RENAME', { group: g, arity: 3, flags: ['write'], keys: [key1('RW', ['ACCESS', 'DELETE']), keyRange(2, 0, 1, 'OW', ['UPDATE'])], syntax: 'RENAME key newkey', summary: 'Renames a key and overwrites the destination.' }),
  c('RENAMENX', { group: g, arity: 3, flags: ['write', 'fast'], keys: [key1('RW', ['ACCESS', 'DELETE']), keyRange(2, 0, 1, 'OW', ['INSERT'])], syntax: 'RENAMENX key newkey', summary: 'Renames a key only when the target key name doesn\'t exist.' }),
  c('COPY', { group: g, arity: -3, flags: ['write', 'denyoom'], keys: [key1('RO', ['ACCESS']), keyRange(2, 0, 1, 'OW', ['UPDATE'])], syntax: 'COPY source destination [DB destination-db] [REPLACE]', summary: 'Copies the value of a key to a new key.', since: '6.2.0' }),
  c('MOVE', { group: g, arity: 3, flags: ['write', 'fast'], keys: [key1('RW', ['ACCESS', 'DELETE'])], syntax: 'MOVE key db', summary: 'Moves a key to another database.' }),
  c('KEYS', { group: g, arity: 2, flags: ['readonly'], acl: ['dangerous'], syntax: 'KEYS pattern', summary: 'Returns all key names that match a pattern.', tips: ['request_policy:all_shards', 'nondeterministic_output_order'] }),
  c('SCAN', { group: g, arity: -2, flags: ['readonly'], syntax: 'SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]', summary: 'Iterates over the key names in the database.', since: '2.8.0', tips: ['nondeterministic_output', 'request_policy:special', 'response_policy:special'] }),
  c('RANDOMKEY', { group: g, arity: 1, flags: ['readonly'], syntax: 'RANDOMKEY', summary: 'Returns a random key name from the database.', tips: ['request_policy:all_shards', 'response_policy:special', 'nondeterministic_output'] }),
  c('DBSIZE', { group: 'server', arity: 1, flags: ['readonly', 'fast'], acl: ['keyspace'], syntax: 'DBSIZE', summary: 'Returns the number of keys in the database.', tips: ['request_policy:all_shards', 'response_policy:agg_sum'] }),
  c('FLUSHDB', { group: 'server', arity: -1, flags: ['write'], acl: ['keyspace', 'dangerous'], syntax: 'FLUSHDB [ASYNC | SYNC]', summary: 'Removes all keys from the current database.', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
  c('FLUSHALL', { group: 'server', arity: -1, flags: ['write'], acl: ['keyspace', 'dangerous'], syntax: 'FLUSHALL [ASYNC | SYNC]', summary: 'Removes all keys from all databases.', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
  c('SWAPDB', { group: 'server', arity: 3, flags: ['write', 'fast'], acl: ['keyspace', 'dangerous'], syntax: 'SWAPDB index1 index2', summary: 'Swaps two Redis databases.', since: '4.0.0' }),
  c('SELECT', { group: 'connection', arity: 2, flags: ['loading', 'stale', 'fast'], syntax: 'SELECT index', summary: 'Changes the selected database.' }),
  c('TOUCH', { group: g, arity: -2, flags: ['readonly', 'fast'], keys: [keyRange(1, -1, 1, 'RO')], syntax: 'TOUCH key [key ...]', summary: 'Returns the number of existing keys out of those specified after updating the time they were last accessed.', since: '3.2.1' }),
  c('OBJECT', {
    group: g,
    arity: -2,
    syntax: 'OBJECT <subcommand> [<arg> [value] [opt] ...]',
    summary: 'A container for object introspection commands.',
    since: '2.2.3',
    subcommands: {
      ENCODING: { arity: 3, flags: ['readonly'], acl: ['keyspace'], keys: [keyRange(2, 0, 1, 'RO')], syntax: 'OBJECT ENCODING key', summary: 'Returns the internal encoding of a Redis object.' },
      REFCOUNT: { arity: 3, flags: ['readonly'], acl: ['keyspace'], keys: [keyRange(2, 0, 1, 'RO')], syntax: 'OBJECT REFCOUNT key', summary: 'Returns the reference count of a value of a key.' },
      HELP: { arity: 2, flags: ['loading', 'stale'], acl: ['keyspace'], syntax: 'OBJECT HELP', summary: 'Returns helpful text about the different subcommands.', since: '6.2.0' },
    },
  }),
  c('EXPIRE', { group: g, arity: -3, flags: ['write', 'fast'], keys: [key1('RW', ['UPDATE'])], syntax: 'EXPIRE key seconds [NX | XX | GT | LT]', summary: 'Sets the expiration time of a key in seconds.' }),
  c('PEXPIRE', { group: g, arity: -3, flags: ['write', 'fast'], keys: [key1('RW', ['UPDATE'])], syntax: 'PEXPIRE key milliseconds [NX | XX | GT | LT]', summary: 'Sets the expiration time of a key in milliseconds.', since: '2.6.0' }),
  c('EXPIREAT', { group: g, arity: -3, flags: ['write', 'fast'], keys: [key1('RW', ['UPDATE'])], syntax: 'EXPIREAT key unix-time-seconds [NX | XX | GT | LT]', summary: 'Sets the expiration time of a key to a Unix timestamp.', since: '1.2.0' }),
  c('PEXPIREAT', { group: g, arity: -3, flags: ['write', 'fast'], keys: [key1('RW', ['UPDATE'])], syntax: 'PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]', summary: 'Sets the expiration time of a key to a Unix milliseconds timestamp.', since: '2.6.0' }),
  c('TTL', { group: g, arity: 2, flags: ['readonly', 'fast'], keys: [key1('RO', ['ACCESS'])], syntax: 'TTL key', summary: 'Returns the expiration time in seconds of a key.', tips: ['nondeterministic_output'] }),
  c('PTTL', { group: g, arity: 2, flags: ['readonly', 'fast'], keys: [key1('RO', ['ACCESS'])], syntax: 'PTTL key', summary: 'Returns the expiration time in milliseconds of a key.', since: '2.6.0', tips: ['nondeterministic_output'] }),
  c('EXPIRETIME', { group: g, arity: 2, flags: ['readonly', 'fast'], keys: [key1('RO', ['ACCESS'])], syntax: 'EXPIRETIME key', summary: 'Returns the expiration time of a key as a Unix timestamp.', since: '7.0.0' }),
  c('PEXPIRETIME', { group: g, arity: 2, flags: ['readonly', 'fast'], keys: [key1('RO', ['ACCESS'])], syntax: 'PEXPIRETIME key', summary: 'Returns the expiration time of a key as a Unix milliseconds timestamp.', since: '7.0.0' }),
  c('PERSIST', { group: g, arity: 2, flags: ['write', 'fast'], keys: [key1('RW', ['UPDATE'])], syntax: 'PERSIST key', summary: 'Removes the expiration time of a key.', since: '2.2.0' }),
];
