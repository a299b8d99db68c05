import { globMatch } from '../engine/glob.js';
import { CommandError, Err, MapReply, OK } from '../protocol/reply.js';
import type { Handlers } from './types.js';

export const handlers: Handlers = {
  // CONFIG GET parameter [parameter ...]
  'CONFIG|GET'(client, argv) {
    const pairs = client.engine.params.get(argv.slice(2), (p, s) => globMatch(p, s, true));
    return new MapReply(pairs);
  },

  // CONFIG SET parameter value [parameter value ...]
  'CONFIG|SET'(client, argv) {
    if ((argv.length - 2) % 2 !== 0) throw new CommandError(Err.syntax);
    const pairs: [string, string][] = [];
    for (let i = 2; i < argv.length; i += 2) pairs.push([argv[i], argv[i + 1]]);
    client.engine.params.set(pairs);
    return OK;
  },

  // CONFIG RESETSTAT
  'CONFIG|RESETSTAT'(client) {
    client.engine.resetStats();
    return OK;
  },

  // CONFIG HELP
  'CONFIG|HELP'() {
    return [
      'CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'GET <pattern>',
      '    Return parameters matching the glob-like <pattern> and their values.',
      'SET <directive> <value>',
      '    Set the configuration <directive> to <value>.',
      'RESETSTAT',
      '    Reset statistics reported by the INFO command.',
      'HELP',
      '    Print this help.',
    ];
  },
};
