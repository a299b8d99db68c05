import { lookupCommand, runCommand } from '../engine/dispatch.js';
import { CommandError, Err, ErrorReply, NULL_ARRAY, OK, type Reply } from '../protocol/reply.js';
import type { Handlers } from './types.js';

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
        const denied = engine.acl.deniedAtExec(client, cmd, argv);
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
