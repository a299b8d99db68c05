import { defineCommand as c } from './define.js';
import type { CommandSpec } from './types.js';

const g = 'pubsub' as const;
const sub = ['pubsub', 'noscript', 'loading', 'stale'] as const;

/** Pub/sub commands (Redis's pubsub.c). */
export const pubsub: CommandSpec[] = [
  c('SUBSCRIBE', {
    group: g,
    arity: -2,
    flags: [...sub],
    syntax: 'SUBSCRIBE channel [channel ...]',
    summary: 'Listens for messages published to channels.',
    since: '2.0.0',
  }),
  c('UNSUBSCRIBE', {
    group: g,
    arity: -1,
    flags: [...sub],
    syntax: 'UNSUBSCRIBE [channel [channel ...]]',
    summary: 'Stops listening to messages posted to channels.',
    since: '2.0.0',
  }),
  c('PSUBSCRIBE', {
    group: g,
    arity: -2,
    flags: [...sub],
    syntax: 'PSUBSCRIBE pattern [pattern ...]',
    summary: 'Listens for messages published to channels that match one or more patterns.',
    since: '2.0.0',
  }),
  c('PUNSUBSCRIBE', {
    group: g,
    arity: -1,
    flags: [...sub],
    syntax: 'PUNSUBSCRIBE [pattern [pattern ...]]',
    summary: 'Stops listening to messages published to channels that match one or more patterns.',
    since: '2.0.0',
  }),
  c('PUBLISH', {
    group: g,
    arity: 3,
    flags: ['pubsub', 'loading', 'stale', 'fast', 'may_replicate'],
    syntax: 'PUBLISH channel message',
    summary: 'Posts a message to a channel.',
    since: '2.0.0',
  }),
  c('PUBSUB', {
    group: g,
    arity: -2,
    syntax: 'PUBSUB <subcommand> [<arg> [value] [opt] ...]',
    summary: 'A container for Pub/Sub commands.',
    since: '2.8.0',
    subcommands: {
      CHANNELS: {
        arity: -2,
        flags: ['pubsub', 'loading', 'stale'],
        syntax: 'PUBSUB CHANNELS [pattern]',
        summary: 'Returns the active channels.',
      },
      NUMSUB: {
        arity: -2,
        flags: ['pubsub', 'loading', 'stale'],
        syntax: 'PUBSUB NUMSUB [channel [channel ...]]',
        summary: 'Returns a count of subscribers to channels.',
      },
      NUMPAT: {
        arity: 2,
        flags: ['pubsub', 'loading', 'stale'],
        syntax: 'PUBSUB NUMPAT',
        summary: 'Returns a count of unique pattern subscriptions.',
      },
      HELP: {
        arity: 2,
        flags: ['loading', 'stale'],
        syntax: 'PUBSUB HELP',
        summary: 'Returns helpful text about the different subcommands.',
        since: '6.2.0',
      },
    },
  }),
];
