import type { Client } from '../engine/client.js';
import {
  CommandError,
  ErrorReply,
  MapReply,
  OK,
  PONG,
  type Reply,
  SimpleString,
  VerbatimReply,
} from '../protocol/reply.js';
import { authenticate } from './acl.js';
import { kw, toInt } from './args.js';
import type { Handlers } from './types.js';

/** HELLO without AUTH on a connection that must authenticate (Redis's text). */
const NOAUTH_HELLO =
  'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time';

/** The Redis version kvws answers as (HELLO, INFO): the Redis 7 behaviour it implements. */
export const REDIS_COMPAT_VERSION = '7.2.4';
export const KVWS_VERSION = '0.1.0';

/** Client names may not contain spaces or control characters (Redis's validateClientName). */
function checkName(name: string): void {
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch < 33 || ch > 126)
      throw new CommandError('ERR Client names cannot contain spaces, newlines or special characters.');
  }
}

/** One CLIENT LIST / CLIENT INFO line, with Redis's field names (plus kvws's `door`). */
export function clientInfoLine(c: Client, now: number): string {
  const flags =
    `${c.monitor ? 'O' : ''}${c.multi ? 'x' : ''}${c.subscriptionCount > 0 ? 'P' : ''}${c.blocked ? 'b' : ''}` || 'N';
  return (
    `id=${c.id} addr=${c.addr} laddr=${c.laddr} fd=-1 name=${c.name} age=${Math.floor((now - c.createdAt) / 1000)} ` +
    `idle=${Math.floor((now - c.lastInteraction) / 1000)} flags=${flags} db=${c.db.index} sub=${c.channels.size} ` +
    `psub=${c.patterns.size} ssub=0 multi=${c.multi ? c.multi.queue.length : -1} qbuf=0 qbuf-free=0 argv-mem=0 ` +
    `multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=${c.outputBytes()} tot-mem=0 events=r cmd=${c.lastCommand} ` +
    `user=${c.user.name} redir=-1 resp=${c.resp} lib-name=${c.libName} lib-ver=${c.libVer} door=${c.frontDoor}`
  );
}

function helloReply(c: Client): MapReply {
  return new MapReply([
    ['server', 'redis'],
    ['version', REDIS_COMPAT_VERSION],
    ['proto', c.resp],
    ['id', c.id],
    ['mode', 'standalone'],
    ['role', 'master'],
    ['modules', []],
  ]);
}

/** RESET: leaves the connection as a fresh one would be (Redis's resetCommand). */
function reset(c: Client): void {
  const engine = c.engine;
  c.multi = null;
  engine.unwatchAll(c);
  if (c.blocked) engine.blocking.unblock(c);
  engine.pubsub.removeClient(c);
  engine.removeMonitor(c);
  c.db = engine.dbs[0];
  c.resp = 2;
  c.name = '';
  engine.acl.logout(c);
}

export const handlers: Handlers = {
  // PING [message]
  PING(client, argv) {
    if (argv.length > 2) throw new CommandError("ERR wrong number of arguments for 'ping' command");
    if (client.inPubSubMode) return ['pong', argv.length === 2 ? argv[1] : ''];
    return argv.length === 2 ? argv[1] : PONG;
  },

  // ECHO message
  ECHO(_client, argv) {
    return argv[1];
  },

  // HELLO [protover [AUTH username password] [SETNAME clientname]]
  HELLO(client, argv) {
    let proto: 2 | 3 = client.resp;
    let name: string | undefined;
    let auth: [string, string] | undefined;
    if (argv.length >= 2) {
      let v: number;
      try {
        v = toInt(argv[1]);
      } catch {
        return new ErrorReply('ERR Protocol version is not an integer or out of range');
      }
      if (v !== 2 && v !== 3) return new ErrorReply('NOPROTO unsupported protocol version');
      proto = v;
      for (let i = 2; i < argv.length; i++) {
        const o = kw(argv[i]);
        if (o === 'AUTH' && i + 2 < argv.length) {
          auth = [argv[i + 1], argv[i + 2]];
          i += 2;
        } else if (o === 'SETNAME' && i + 1 < argv.length) {
          name = argv[++i];
          checkName(name);
        } else {
          throw new CommandError(`ERR Syntax error in HELLO option '${argv[i]}'`);
        }
      }
    }
    const finish = (): Reply => {
      client.resp = proto;
      if (name !== undefined) client.name = name;
      return helloReply(client);
    };
    if (!auth) {
      if (!client.authenticated && client.engine.acl.authRequired) return new ErrorReply(NOAUTH_HELLO);
      return finish();
    }
    if (client.inExec) return new ErrorReply('ERR HELLO AUTH cannot run inside MULTI (authentication is asynchronous)');
    // Authentication fails → the error, and neither the protocol nor the name changes.
    return authenticate(client, auth[0], auth[1], argv[0]).then((r) => (r instanceof ErrorReply ? r : finish()));
  },

  // QUIT — replies OK, then the front door closes the connection.
  QUIT(client) {
    client.closeAfterReply = true;
    return OK;
  },

  // RESET
  RESET(client) {
    reset(client);
    return new SimpleString('RESET');
  },

  // CLIENT ID
  'CLIENT|ID': (client) => client.id,

  // CLIENT SETNAME connection-name
  'CLIENT|SETNAME'(client, argv) {
    checkName(argv[2]);
    client.name = argv[2];
    return OK;
  },

  // CLIENT GETNAME
  'CLIENT|GETNAME': (client) => (client.name === '' ? null : client.name),

  // CLIENT SETINFO <LIB-NAME libname | LIB-VER libver>
  'CLIENT|SETINFO'(client, argv) {
    const attr = kw(argv[2]);
    const v = argv[3];
    if (attr !== 'LIB-NAME' && attr !== 'LIB-VER') throw new CommandError(`ERR Unrecognized option '${argv[2]}'`);
    if (/[^\x21-\x7e]/.test(v)) {
      throw new CommandError(`ERR ${attr.toLowerCase()} cannot contain spaces, newlines or special characters.`);
    }
    if (attr === 'LIB-NAME') client.libName = v;
    else client.libVer = v;
    return OK;
  },

  // CLIENT LIST [TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id [client-id ...]]
  'CLIENT|LIST'(client, argv) {
    const engine = client.engine;
    let type: string | null = null;
    let ids: Set<number> | null = null;
    for (let i = 2; i < argv.length; i++) {
      const o = kw(argv[i]);
      if (o === 'TYPE' && i + 1 < argv.length) {
        type = argv[++i].toLowerCase();
        if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(type)) {
          throw new CommandError(`ERR Unknown client type '${argv[i]}'`);
        }
      } else if (o === 'ID' && i + 1 < argv.length) {
        ids = new Set();
        // Any integer is accepted (ids that match no client just list nothing), as in Redis.
        for (i++; i < argv.length; i++) ids.add(toInt(argv[i], 'ERR Invalid client ID'));
      } else throw new CommandError('ERR syntax error');
    }
    const now = engine.now();
    let out = '';
    for (const c of engine.clients.byId.values()) {
      if (ids && !ids.has(c.id)) continue;
      if (type === 'pubsub' && c.subscriptionCount === 0) continue;
      if (type === 'normal' && c.subscriptionCount > 0) continue;
      if (type === 'master' || type === 'replica' || type === 'slave') continue;
      out += `${clientInfoLine(c, now)}\n`;
    }
    return new VerbatimReply(out);
  },

  // CLIENT INFO
  'CLIENT|INFO': (client) => new VerbatimReply(`${clientInfoLine(client, client.engine.now())}\n`),

  // CLIENT KILL <ip:port | [ID client-id] [TYPE t] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME yes/no] ...>
  'CLIENT|KILL'(client, argv) {
    const engine = client.engine;
    if (argv.length === 3) {
      const target = [...engine.clients.byId.values()].find((c) => c.addr === argv[2]);
      if (!target) throw new CommandError('ERR No such client');
      target.kill('client kill');
      if (target === client) client.closeAfterReply = true;
      return OK;
    }
    const filter: { id?: number; type?: string; user?: string; addr?: string; laddr?: string; skipme: boolean } = {
      skipme: true,
    };
    if ((argv.length - 2) % 2 !== 0) throw new CommandError('ERR syntax error');
    for (let i = 2; i < argv.length; i += 2) {
      const o = kw(argv[i]);
      const v = argv[i + 1];
      if (o === 'ID') {
        filter.id = toInt(v, 'ERR client-id should be greater than 0');
        if (filter.id <= 0) throw new CommandError('ERR client-id should be greater than 0');
      } else if (o === 'TYPE') {
        filter.type = v.toLowerCase();
        if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(filter.type)) {
          throw new CommandError(`ERR Unknown client type '${v}'`);
        }
      } else if (o === 'USER') {
        if (!client.engine.acl.users.has(v)) throw new CommandError(`ERR No such user '${v}'`);
        filter.user = v;
      } else if (o === 'ADDR') filter.addr = v;
      else if (o === 'LADDR') filter.laddr = v;
      else if (o === 'SKIPME') {
        const y = kw(v);
        if (y !== 'YES' && y !== 'NO') throw new CommandError('ERR syntax error');
        filter.skipme = y === 'YES';
      } else throw new CommandError('ERR syntax error');
    }
    let n = 0;
    for (const c of [...engine.clients.byId.values()]) {
      if (filter.id !== undefined && c.id !== filter.id) continue;
      if (filter.addr !== undefined && c.addr !== filter.addr) continue;
      if (filter.laddr !== undefined && c.laddr !== filter.laddr) continue;
      if (filter.user !== undefined && c.user.name !== filter.user) continue;
      if (filter.type === 'pubsub' && c.subscriptionCount === 0) continue;
      if (filter.type === 'normal' && c.subscriptionCount > 0) continue;
      if (filter.type === 'master' || filter.type === 'replica' || filter.type === 'slave') continue;
      if (c === client && filter.skipme) continue;
      if (c === client) client.closeAfterReply = true;
      else c.kill('client kill');
      n++;
    }
    return n;
  },

  // CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
  'CLIENT|UNBLOCK'(client, argv) {
    if (argv.length > 4) {
      throw new CommandError(
        `ERR unknown subcommand or wrong number of arguments for '${argv[1].slice(0, 128)}'. Try CLIENT HELP.`,
      );
    }
    let error = false;
    if (argv.length === 4) {
      const o = kw(argv[3]);
      if (o === 'ERROR') error = true;
      else if (o !== 'TIMEOUT') throw new CommandError('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
    }
    const id = toInt(argv[2]);
    const target = client.engine.clients.byId.get(id);
    if (!target?.blocked) return 0;
    client.engine.blocking.unblock(target, error);
    return 1;
  },

  // CLIENT HELP
  'CLIENT|HELP'() {
    return [
      'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'GETNAME',
      '    Return the name of the current connection.',
      'ID',
      '    Return the ID of the current connection.',
      'INFO',
      '    Return information about the current client connection.',
      'KILL <ip:port>',
      '    Kill connection made from <ip:port>.',
      'KILL <option> <value> [<option> <value> [...]]',
      '    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME.',
      'LIST [options ...]',
      '    Return information about client connections. Options: TYPE, ID.',
      'SETINFO <option> <value>',
      '    Set client meta attr. Options are: LIB-NAME, LIB-VER.',
      'SETNAME <name>',
      '    Assign the name <name> to the current connection.',
      'UNBLOCK <clientid> [TIMEOUT|ERROR]',
      '    Unblock the specified blocked client.',
      'HELP',
      '    Print this help.',
    ] as Reply[];
  },
};
