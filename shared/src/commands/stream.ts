import { defineCommand as c, key1, keyAfter, keyRange } from './define.js';
import type { CommandSpec } from './types.js';

const g = 'stream' as const;

/** XREAD / XREADGROUP: the first half of the arguments after STREAMS are the keys. */
const streamsKeys = (startFrom: number) => keyAfter('STREAMS', startFrom, -1, 1, 'RO', ['ACCESS'], 2);

/**
 * Stream commands (Redis's t_stream.c): arity, flags, key specs and tips as Redis 7.0's COMMAND INFO
 * (test/commands/stream.test.ts compares them with redis-server's); summaries as Redis 7.2's docs, like the
 * other groups.
 */
export const stream: CommandSpec[] = [
  c('XADD', {
    group: g,
    arity: -5,
    flags: ['write', 'denyoom', 'fast'],
    keys: [{ ...key1('RW', ['UPDATE']), notes: 'UPDATE instead of INSERT because of the optional trimming feature' }],
    syntax:
      'XADD key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]',
    summary: "Appends a new message to a stream. Creates the key if it doesn't exist.",
    since: '5.0.0',
    tips: ['nondeterministic_output'],
  }),
  c('XLEN', {
    group: g,
    arity: 2,
    flags: ['readonly', 'fast'],
    keys: [key1('RO')],
    syntax: 'XLEN key',
    summary: 'Return the number of messages in a stream.',
    since: '5.0.0',
  }),
  c('XRANGE', {
    group: g,
    arity: -4,
    flags: ['readonly'],
    keys: [key1('RO', ['ACCESS'])],
    syntax: 'XRANGE key start end [COUNT count]',
    summary: 'Returns the messages from a stream within a range of IDs.',
    since: '5.0.0',
  }),
  c('XREVRANGE', {
    group: g,
    arity: -4,
    flags: ['readonly'],
    keys: [key1('RO', ['ACCESS'])],
    syntax: 'XREVRANGE key end start [COUNT count]',
    summary: 'Returns the messages from a stream within a range of IDs in reverse order.',
    since: '5.0.0',
  }),
  c('XREAD', {
    group: g,
    arity: -4,
    flags: ['readonly', 'blocking'],
    keys: [streamsKeys(1)],
    syntax: 'XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]',
    summary:
      'Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.',
    since: '5.0.0',
  }),
  c('XREADGROUP', {
    group: g,
    arity: -7,
    flags: ['write', 'blocking'],
    // As Redis declares it: the keys are read (RO ACCESS) although the command writes the group.
    keys: [streamsKeys(4)],
    syntax:
      'XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]',
    summary:
      'Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.',
    since: '5.0.0',
  }),
  c('XDEL', {
    group: g,
    arity: -3,
    flags: ['write', 'fast'],
    keys: [key1('RW', ['DELETE'])],
    syntax: 'XDEL key id [id ...]',
    summary: 'Returns the number of messages after removing them from a stream.',
    since: '5.0.0',
  }),
  c('XTRIM', {
    group: g,
    arity: -4,
    flags: ['write'],
    keys: [key1('RW', ['DELETE'])],
    syntax: 'XTRIM key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]',
    summary: 'Deletes messages from the beginning of a stream.',
    since: '5.0.0',
    tips: ['nondeterministic_output'],
  }),
  c('XSETID', {
    group: g,
    arity: -3,
    flags: ['write', 'denyoom', 'fast'],
    keys: [key1('RW', ['UPDATE'])],
    syntax: 'XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]',
    summary: 'An internal command for replicating stream values.',
    since: '5.0.0',
  }),
  c('XACK', {
    group: g,
    arity: -4,
    flags: ['write', 'fast'],
    keys: [key1('RW', ['UPDATE'])],
    syntax: 'XACK key group id [id ...]',
    summary:
      'Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.',
    since: '5.0.0',
  }),
  c('XPENDING', {
    group: g,
    arity: -3,
    flags: ['readonly'],
    keys: [key1('RO', ['ACCESS'])],
    syntax: 'XPENDING key group [[IDLE min-idle-time] start end count [consumer]]',
    summary: "Returns the information and entries from a stream consumer group's pending entries list.",
    since: '5.0.0',
    tips: ['nondeterministic_output'],
  }),
  c('XCLAIM', {
    group: g,
    arity: -6,
    flags: ['write', 'fast'],
    keys: [key1('RW', ['UPDATE'])],
    syntax:
      'XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]',
    summary:
      'Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.',
    since: '5.0.0',
    tips: ['nondeterministic_output'],
  }),
  c('XAUTOCLAIM', {
    group: g,
    arity: -6,
    flags: ['write', 'fast'],
    keys: [key1('RW', ['DELETE'])],
    syntax: 'XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]',
    summary:
      'Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.',
    since: '6.2.0',
    tips: ['nondeterministic_output'],
  }),
  c('XINFO', {
    group: g,
    arity: -2,
    syntax: 'XINFO <subcommand> [<arg> [value] [opt] ...]',
    summary: 'A container for stream introspection commands.',
    since: '5.0.0',
    subcommands: {
      CONSUMERS: {
        arity: 4,
        flags: ['readonly'],
        keys: [keyRange(2, 0, 1, 'RO', ['ACCESS'])],
        syntax: 'XINFO CONSUMERS key group',
        summary: 'Returns a list of the consumers in a consumer group.',
        since: '5.0.0',
        tips: ['nondeterministic_output'],
      },
      GROUPS: {
        arity: 3,
        flags: ['readonly'],
        keys: [keyRange(2, 0, 1, 'RO', ['ACCESS'])],
        syntax: 'XINFO GROUPS key',
        summary: 'Returns a list of the consumer groups of a stream.',
        since: '5.0.0',
      },
      STREAM: {
        arity: -3,
        flags: ['readonly'],
        keys: [keyRange(2, 0, 1, 'RO', ['ACCESS'])],
        syntax: 'XINFO STREAM key [FULL [COUNT count]]',
        summary: 'Returns information about a stream.',
        since: '5.0.0',
      },
      HELP: {
        arity: 2,
        flags: ['loading', 'stale'],
        syntax: 'XINFO HELP',
        summary: 'Returns helpful text about the different subcommands.',
        since: '5.0.0',
      },
    },
  }),
  c('XGROUP', {
    group: g,
    arity: -2,
    syntax: 'XGROUP <subcommand> [<arg> [value] [opt] ...]',
    summary: 'A container for consumer groups commands.',
    since: '5.0.0',
    subcommands: {
      CREATE: {
        arity: -5,
        flags: ['write', 'denyoom'],
        keys: [keyRange(2, 0, 1, 'RW', ['INSERT'])],
        syntax: 'XGROUP CREATE key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]',
        summary: 'Creates a consumer group.',
        since: '5.0.0',
      },
      CREATECONSUMER: {
        arity: 5,
        flags: ['write', 'denyoom'],
        keys: [keyRange(2, 0, 1, 'RW', ['INSERT'])],
        syntax: 'XGROUP CREATECONSUMER key group consumer',
        summary: 'Creates a consumer in a consumer group.',
        since: '6.2.0',
      },
      DELCONSUMER: {
        arity: 5,
        flags: ['write'],
        keys: [keyRange(2, 0, 1, 'RW', ['DELETE'])],
        syntax: 'XGROUP DELCONSUMER key group consumer',
        summary: 'Deletes a consumer from a consumer group.',
        since: '5.0.0',
      },
      DESTROY: {
        arity: 4,
        flags: ['write'],
        keys: [keyRange(2, 0, 1, 'RW', ['DELETE'])],
        syntax: 'XGROUP DESTROY key group',
        summary: 'Destroys a consumer group.',
        since: '5.0.0',
      },
      SETID: {
        arity: -5,
        flags: ['write'],
        keys: [keyRange(2, 0, 1, 'RW', ['UPDATE'])],
        syntax: 'XGROUP SETID key group <id | $> [ENTRIESREAD entries-read]',
        summary: 'Sets the last-delivered ID of a consumer group.',
        since: '5.0.0',
      },
      HELP: {
        arity: 2,
        flags: ['loading', 'stale'],
        syntax: 'XGROUP HELP',
        summary: 'Returns helpful text about the different subcommands.',
        since: '5.0.0',
      },
    },
  }),
];
