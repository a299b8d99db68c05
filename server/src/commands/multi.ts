import type { Client } from '../engine/client.js';
import { lookupCommand, runCommand } from '../engine/dispatch.js';
import { CommandError, Err, ErrorReply, NULL_ARRAY, OK, type Reply } from '../protocol/reply.js';
import type { RuntimeCommand } from './index.js';
import type { Handlers } from './types.js';

/**
 * Rights may have changed since a command was queued (Redis 7 checks them again at EXEC): Redis's error for
 * a queued command no longer allowed, or null. Used by EXEC here and on the Redis engine.
 */
export function deniedAtExec(client: Client, cmd: RuntimeCommand, argv: string[]): ErrorReply | null {
  const denied = client.engine.acl.check(client, cmd, argv, 'multi');
  if (!denied) return null;
  const why = denied.message.startsWith('NOPERM this user has no permissions to run')
    ? 'no permission to execute the command or subcommand'
    : denied.message.includes('keys')
      ? 'no permission to touch the specified keys'
      : 'no permission to access one of the channels used as arguments';
  return new ErrorReply(
    `NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: ${why}`,
  );
}

export const handlers: Handlers = {
  // MULTI
  MULTI(client) {
    if (client.multi) throw new CommandError('ERR MULTI calls can not be nested');
    client.multi = { queue: [], error: false };
    return OK;
  },

  // EXEC — runs the queue atomically; null array when a WATCHed key changed, EXECABORT after queueing errors.
  EXEC(client) {
    const engine = client.engine;
    const multi = client.multi;
    if (!multi) throw new CommandError('ERR EXEC without MULTI');
    client.multi = null;
    if (multi.error) {
      engine.unwatchAll(client);
      return new ErrorReply(Err.execAbort);
    }
    const now = engine.now();
    let dirty = client.dirtyCas;
    // A watched key that was live when WATCHed and has logically expired since aborts EXEC too,
    // even if no expiry has deleted it yet (Redis 7's isWatchedKeyExpired).
    if (!dirty) {
      for (const w of client.watched.values()) {
        if (w.expiresAt !== undefined && w.expiresAt <= now && engine.dbs[w.db].expires.get(w.key) === w.expiresAt) {
          dirty = true;
          break;
        }
      }
    }
    engine.unwatchAll(client);
    if (dirty) return NULL_ARRAY;
    const replies: Reply[] = [];
    client.inExec = true;
    try {
      for (const argv of multi.queue) {
        const cmd = lookupCommand(engine, argv);
        if (cmd instanceof ErrorReply) {
          replies.push(cmd);
          continue;
        }
        const denied = deniedAtExec(client, cmd, argv);
        if (denied) {
          replies.push(denied);
          continue;
        }
        const r = runCommand(engine, client, cmd, argv);
        // Blocking commands do not block inside EXEC (Blocking.block returns at once), so no Promise here.
        replies.push(r instanceof Promise ? new ErrorReply('ERR blocking command inside EXEC') : r);
      }
    } finally {
      client.inExec = false;
    }
    return replies;
  },

  // DISCARD
  DISCARD(client) {
    if (!client.multi) throw new CommandError('ERR DISCARD without MULTI');
    client.multi = null;
    client.engine.unwatchAll(client);
    return OK;
  },

  // WATCH key [key ...]
  WATCH(client, argv) {
    if (client.multi) throw new CommandError('ERR WATCH inside MULTI is not allowed');
    for (let i = 1; i < argv.length; i++) client.engine.watch(client, client.db, argv[i]);
    return OK;
  },

  // UNWATCH
  UNWATCH(client) {
    client.engine.unwatchAll(client);
    return OK;
  },
};
