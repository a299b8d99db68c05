import { defineCommand as c } from './define.js';
import type { CommandSpec } from './types.js';

const g = 'connection' as const;
const cl = ['admin', 'noscript', 'loading', 'stale'] as const;
const cs = ['noscript', 'loading', 'stale'] as const;

/** Connection commands (Redis's networking.c and server.c). */
export const connection: CommandSpec[] = [
  c('PING', {
    group: g,
    arity: -1,
    flags: ['fast'],
    syntax: 'PING [message]',
    summary: "Returns the server's liveliness response.",
    tips: ['request_policy:all_shards', 'response_policy:all_succeeded'],
  }),
  c('ECHO', { group: g, arity: 2, flags: ['fast'], syntax: 'ECHO message', summary: 'Returns the given string.' }),
  c('AUTH', {
    group: g,
    arity: -2,
    // kvws adds no_multi: checking a password (argon2id) or a token is asynchronous and cannot run inside EXEC.
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy', 'no_multi'],
    syntax: 'AUTH [username] password',
    summary:
      'Authenticates the connection (with a password, or with a JWT issued by kvws or the configured identity provider).',
  }),
  c('HELLO', {
    group: g,
    arity: -1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    syntax: 'HELLO [protover [AUTH username password] [SETNAME clientname]]',
    summary: 'Handshakes with the Redis server.',
    since: '6.0.0',
  }),
  c('QUIT', {
    group: g,
    arity: -1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    syntax: 'QUIT',
    summary: 'Closes the connection.',
  }),
  c('RESET', {
    group: g,
    arity: 1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    syntax: 'RESET',
    summary: 'Resets the connection.',
    since: '6.2.0',
  }),
  c('CLIENT', {
    group: g,
    arity: -2,
    syntax: 'CLIENT <subcommand> [<arg> [value] [opt] ...]',
    summary: 'A container for client connection commands.',
    since: '2.4.0',
    subcommands: {
      ID: {
        arity: 2,
        flags: [...cs],
        syntax: 'CLIENT ID',
        summary: 'Returns the unique client ID of the connection.',
        since: '5.0.0',
      },
      SETNAME: {
        arity: 3,
        flags: [...cs],
        syntax: 'CLIENT SETNAME connection-name',
        summary: 'Sets the connection name.',
        since: '2.6.9',
      },
      GETNAME: {
        arity: 2,
        flags: [...cs],
        syntax: 'CLIENT GETNAME',
        summary: 'Returns the name of the connection.',
        since: '2.6.9',
      },
      SETINFO: {
        arity: 4,
        flags: [...cs],
        syntax: 'CLIENT SETINFO <LIB-NAME libname | LIB-VER libver>',
        summary: 'Sets information specific to the client or connection.',
        since: '7.2.0',
      },
      LIST: {
        arity: -2,
        flags: [...cl],
        syntax: 'CLIENT LIST [TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id [client-id ...]]',
        summary: 'Lists open connections.',
        tips: ['nondeterministic_output'],
      },
      INFO: {
        arity: 2,
        flags: [...cs],
        syntax: 'CLIENT INFO',
        summary: 'Returns information about the connection.',
        since: '6.2.0',
        tips: ['nondeterministic_output'],
      },
      KILL: {
        arity: -3,
        flags: [...cl],
        syntax:
          'CLIENT KILL <ip:port | <[ID client-id] | [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] | [USER username] | [ADDR ip:port] | [LADDR ip:port] | [SKIPME <YES | NO>] [[ID client-id] ...]>>',
        summary: 'Terminates open connections.',
        since: '2.4.0',
      },
      UNBLOCK: {
        arity: -3,
        flags: [...cl],
        syntax: 'CLIENT UNBLOCK client-id [TIMEOUT | ERROR]',
        summary: 'Unblocks a client blocked by a blocking command from a different connection.',
        since: '5.0.0',
      },
      HELP: {
        arity: 2,
        flags: ['loading', 'stale'],
        syntax: 'CLIENT HELP',
        summary: 'Returns helpful text about the different subcommands.',
        since: '5.0.0',
      },
    },
  }),
];
