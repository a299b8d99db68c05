import { defineCommand as c } from './define.js';
import type { CommandSpec } from './types.js';

const g = 'server' as const;
const cs = ['loading', 'stale'] as const;

/** Server commands (Redis's server.c and config.c). */
export const server: CommandSpec[] = [
  c('INFO', {
    group: g,
    arity: -1,
    flags: ['loading', 'stale'],
    acl: ['dangerous'],
    syntax: 'INFO [section [section ...]]',
    summary: 'Returns information and statistics about the server.',
    tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'],
  }),
  c('TIME', {
    group: g,
    arity: 1,
    flags: ['loading', 'stale', 'fast'],
    syntax: 'TIME',
    summary: 'Returns the server time.',
    since: '2.6.0',
    tips: ['nondeterministic_output'],
  }),
  c('COMMAND', {
    group: g,
    arity: -1,
    flags: ['loading', 'stale'],
    acl: ['connection'],
    syntax: 'COMMAND',
    summary: 'Returns detailed information about all commands.',
    since: '2.8.13',
    subcommands: {
      COUNT: {
        arity: 2,
        flags: [...cs],
        acl: ['connection'],
        syntax: 'COMMAND COUNT',
        summary: 'Returns a count of commands.',
      },
      INFO: {
        arity: -2,
        flags: [...cs],
        acl: ['connection'],
        syntax: 'COMMAND INFO [command-name [command-name ...]]',
        summary: 'Returns information about one, multiple or all commands.',
      },
      DOCS: {
        arity: -2,
        flags: [...cs],
        acl: ['connection'],
        syntax: 'COMMAND DOCS [command-name [command-name ...]]',
        summary: 'Returns documentary information about one, multiple or all commands.',
        since: '7.0.0',
      },
      GETKEYS: {
        arity: -3,
        flags: [...cs],
        acl: ['connection'],
        syntax: 'COMMAND GETKEYS command [arg [arg ...]]',
        summary: 'Extracts the key names from an arbitrary command.',
      },
      GETKEYSANDFLAGS: {
        arity: -3,
        flags: [...cs],
        acl: ['connection'],
        syntax: 'COMMAND GETKEYSANDFLAGS command [arg [arg ...]]',
        summary: 'Extracts the key names and access flags for an arbitrary command.',
        since: '7.0.0',
      },
      LIST: {
        arity: -2,
        flags: [...cs],
        acl: ['connection'],
        syntax: 'COMMAND LIST [FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]',
        summary: 'Returns a list of command names.',
        since: '7.0.0',
      },
      HELP: {
        arity: 2,
        flags: [...cs],
        acl: ['connection'],
        syntax: 'COMMAND HELP',
        summary: 'Returns helpful text about the different subcommands.',
        since: '5.0.0',
      },
    },
  }),
  c('CONFIG', {
    group: g,
    arity: -2,
    syntax: 'CONFIG <subcommand> [<arg> [value] [opt] ...]',
    summary: 'A container for server configuration commands.',
    since: '2.0.0',
    subcommands: {
      GET: {
        arity: -3,
        flags: ['admin', 'noscript', 'loading', 'stale'],
        syntax: 'CONFIG GET parameter [parameter ...]',
        summary: 'Returns the effective values of configuration parameters.',
      },
      SET: {
        arity: -4,
        flags: ['admin', 'noscript', 'loading', 'stale'],
        syntax: 'CONFIG SET parameter value [parameter value ...]',
        summary: 'Sets configuration parameters in-flight.',
        tips: ['request_policy:all_nodes', 'response_policy:all_succeeded'],
      },
      RESETSTAT: {
        arity: 2,
        flags: ['admin', 'noscript', 'loading', 'stale'],
        syntax: 'CONFIG RESETSTAT',
        summary: "Resets the server's statistics.",
      },
      HELP: {
        arity: 2,
        flags: ['loading', 'stale'],
        syntax: 'CONFIG HELP',
        summary: 'Returns helpful text about the different subcommands.',
        since: '5.0.0',
      },
    },
  }),
];
