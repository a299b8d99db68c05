import { randomBytes } from 'node:crypto';
import { ACL_CATEGORIES, type AclCategory } from '@kvws/shared/commands';
import { Acl, type AclLogEntry } from '../auth/acl.js';
import type { Selector, User } from '../auth/acl-user.js';
import { looksLikeJwt } from '../auth/jwt.js';
import { aclFilePath } from '../config.js';
import type { Client } from '../engine/client.js';
import { lookupCommand } from '../engine/dispatch.js';
import { CommandError, DoubleReply, ErrorReply, MapReply, OK, type Reply } from '../protocol/reply.js';
import { kw, toInt } from './args.js';
import type { Handlers } from './types.js';

/** AUTH and ACL (Redis's acl.c commands), over engine.acl. */

const NO_ACL_FILE =
  'ERR This kvws instance is not configured to use a users file: start it with --data-dir or --acl-file to use ACL SAVE and ACL LOAD';

/** AUTH/HELLO: a token or a password, for `username` (null: the token names its user; a password: default). */
export function authenticate(client: Client, username: string | null, secret: string, command: string): Promise<Reply> {
  const acl = client.engine.acl;
  if (looksLikeJwt(secret)) return acl.authToken(client, secret, username);
  // ACL LOG names the command as typed (`auth`, `AUTH`, `hello`), as Redis does.
  return acl.authPassword(client, username ?? 'default', secret, command);
}

/** Redis's error for a container subcommand given the wrong number of arguments, naming it as typed. */
function subcommandArity(argv: string[]): CommandError {
  return new CommandError(
    `ERR unknown subcommand or wrong number of arguments for '${argv[1]}'. Try ${argv[0].toUpperCase()} HELP.`,
  );
}

function selectorMap(s: Selector, root: boolean, u?: User): MapReply {
  const entries: [Reply, Reply][] = [];
  if (root && u) {
    const flags: string[] = [u.enabled ? 'on' : 'off'];
    if (u.nopass) flags.push('nopass');
    if (u.sanitize) flags.push(u.sanitize);
    entries.push(['flags', flags], ['passwords', [...u.passwords]]);
  }
  entries.push(['commands', s.describeCommands()], ['keys', s.describeKeys()], ['channels', s.describeChannels()]);
  if (root && u) entries.push(['selectors', u.selectors.map((x) => selectorMap(x, false))]);
  return new MapReply(entries);
}

function logEntry(e: AclLogEntry, now: number): MapReply {
  return new MapReply([
    ['count', e.count],
    ['reason', e.reason],
    ['context', e.context],
    ['object', e.object],
    ['username', e.username],
    ['age-seconds', new DoubleReply((now - e.updatedAt) / 1000)],
    ['client-info', e.clientInfo],
    ['entry-id', e.entryId],
    ['timestamp-created', e.createdAt],
    ['timestamp-last-updated', e.updatedAt],
  ]);
}

export const handlers: Handlers = {
  // AUTH [username] password — the password may be a JWT (kvws's or the identity provider's).
  AUTH(client, argv) {
    if (argv.length > 3) throw new CommandError('ERR syntax error');
    const secret = argv[argv.length - 1];
    const username = argv.length === 3 ? argv[1] : null;
    const acl = client.engine.acl;
    if (username === null && !looksLikeJwt(secret) && acl.defaultUser.nopass) {
      return new ErrorReply(
        'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
      );
    }
    return authenticate(client, username, secret, argv[0]);
  },

  // ACL CAT [category]
  'ACL|CAT'(client, argv) {
    if (argv.length > 3) throw subcommandArity(argv);
    if (argv.length === 2) return [...ACL_CATEGORIES];
    const cat = argv[2].toLowerCase();
    if (!(ACL_CATEGORIES as readonly string[]).includes(cat))
      throw new CommandError(`ERR Unknown category '${argv[2]}'`);
    const out: string[] = [];
    const seen = new Set<unknown>();
    for (const cmd of client.engine.table.values()) {
      if (seen.has(cmd)) continue;
      seen.add(cmd);
      for (const c of [cmd, ...(cmd.subcommands?.values() ?? [])]) {
        if (c.spec.acl.includes(cat as AclCategory) && !(c.subcommands && c === cmd)) out.push(c.fullName);
      }
    }
    return out;
  },

  // ACL DELUSER username [username ...]
  'ACL|DELUSER'(client, argv) {
    const names = argv.slice(2);
    if (names.includes('default')) throw new CommandError("ERR The 'default' user cannot be removed");
    return client.engine.acl.deleteUsers(names);
  },

  // ACL DRYRUN username command [arg ...]
  'ACL|DRYRUN'(client, argv) {
    const engine = client.engine;
    const user = engine.acl.users.get(argv[2]);
    if (!user) throw new CommandError(`ERR User '${argv[2]}' not found`);
    const cmdArgv = argv.slice(3);
    const cmd = lookupCommand(engine, cmdArgv);
    if (cmd instanceof ErrorReply) {
      if (cmd.message.startsWith('ERR unknown')) throw new CommandError(`ERR Command '${argv[3]}' not found`);
      return cmd;
    }
    const d = engine.acl.dryRun(user, cmd, cmdArgv);
    if (!d) return OK;
    if (d.reason === 'command') return `This user has no permissions to run the '${d.object}' command`;
    if (d.reason === 'key') return `This user has no permissions to access the '${d.object}' key`;
    return `This user has no permissions to access the '${d.object}' channel`;
  },

  // ACL GENPASS [bits]
  'ACL|GENPASS'(_client, argv) {
    if (argv.length > 3) throw subcommandArity(argv);
    let bits = 256;
    if (argv.length === 3) {
      bits = toInt(argv[2]);
      if (bits <= 0 || bits > 4096)
        throw new CommandError(
          'ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096',
        );
    }
    const chars = Math.ceil(bits / 4);
    return randomBytes(Math.ceil(chars / 2))
      .toString('hex')
      .slice(0, chars);
  },

  // ACL GETUSER username
  'ACL|GETUSER'(client, argv) {
    const u = client.engine.acl.users.get(argv[2]);
    if (!u) return null;
    return selectorMap(u.root, true, u);
  },

  // ACL LIST
  'ACL|LIST'(client) {
    return client.engine.acl.sortedUsers().map((u) => u.describe());
  },

  // ACL LOAD
  'ACL|LOAD'(client) {
    const path = aclFilePath(client.engine.options);
    if (!path) throw new CommandError(NO_ACL_FILE);
    if (client.inExec)
      throw new CommandError('ERR ACL LOAD cannot run inside MULTI (reading the file is asynchronous)');
    return client.engine.acl.loadFile(path).then(
      () => OK,
      (e: Error) => new ErrorReply(`ERR ${e.message}`),
    );
  },

  // ACL LOG [count | RESET]
  'ACL|LOG'(client, argv) {
    if (argv.length > 3) throw subcommandArity(argv);
    const acl = client.engine.acl;
    let count = 10;
    if (argv.length === 3) {
      if (kw(argv[2]) === 'RESET') {
        acl.log.length = 0;
        return OK;
      }
      count = toInt(argv[2]);
      if (count < 0) return [];
    }
    const now = Date.now();
    return acl.log.slice(0, count).map((e) => logEntry(e, now));
  },

  // ACL SAVE
  'ACL|SAVE'(client) {
    const path = aclFilePath(client.engine.options);
    if (!path) throw new CommandError(NO_ACL_FILE);
    if (client.inExec)
      throw new CommandError('ERR ACL SAVE cannot run inside MULTI (writing the file is asynchronous)');
    return client.engine.acl.saveFile(path).then(
      () => OK,
      (e: Error) =>
        new ErrorReply(
          `ERR There was an error trying to save the ACLs. Please check the server logs for more information (${e.message})`,
        ),
    );
  },

  // ACL SETUSER username [rule ...]
  'ACL|SETUSER'(client, argv) {
    const ops = argv.slice(3);
    if (client.inExec && Acl.needsHashing(ops))
      throw new CommandError(
        "ERR ACL SETUSER with '>' or '<' password rules cannot run inside MULTI (argon2id hashing is asynchronous)",
      );
    // Redis's ACLStringHasSpaces: the users file separates rules with blanks and users with newlines.
    if (/[ \t\n\v\f\r\0]/.test(argv[2]))
      throw new CommandError("ERR Usernames can't contain spaces or null characters");
    const r = client.engine.acl.setUser(argv[2], ops);
    if (r instanceof Promise) return r.then((e) => e ?? OK);
    return r ?? OK;
  },

  // ACL USERS
  'ACL|USERS'(client) {
    return [...client.engine.acl.users.keys()].sort();
  },

  // ACL WHOAMI
  'ACL|WHOAMI'(client) {
    return client.user.name;
  },

  // ACL HELP
  'ACL|HELP'() {
    return [
      'ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'CAT [<category>]',
      '    List all commands that belong to <category>, or all command categories',
      '    when no category is specified.',
      'DELUSER <username> [<username> ...]',
      '    Delete a list of users.',
      'DRYRUN <username> <command> [<arg> ...]',
      '    Returns whether the user can execute the given command without executing the command.',
      'GETUSER <username>',
      "    Get the user's details.",
      'GENPASS [<bits>]',
      '    Generate a secure 256-bit user password. The optional `bits` argument can',
      '    be used to specify a different size.',
      'LIST',
      '    Show users details in config file format.',
      'LOAD',
      '    Reload users from the users file.',
      'LOG [<count> | RESET]',
      '    Show the ACL log entries.',
      'SAVE',
      '    Save the current config to the users file.',
      'SETUSER <username> <attribute> [<attribute> ...]',
      '    Create or modify a user with the specified attributes (passwords are stored as argon2id hashes).',
      'USERS',
      '    List all the registered usernames.',
      'WHOAMI',
      '    Return the current connection username.',
      'HELP',
      '    Print this help.',
    ];
  },
};
