import type { Client } from '../engine/client.js';
import type { Reply } from '../protocol/reply.js';

/**
 * A command implementation. Receives the session and the full argv (argv[0] is the command name as sent,
 * binary strings throughout), returns a typed reply (or a Promise of one, for blocking commands).
 * It may throw CommandError with a Redis error string. It never checks arity, permissions or MULTI
 * state (the dispatcher does) and never writes bytes. After changing a key it calls
 * `client.engine.notify(db, key, event, class)`.
 */
export type Handler = (client: Client, argv: string[]) => Reply | Promise<Reply>;

/** Handlers of one group, by upper-case name; subcommands as "CONTAINER|SUB" (e.g. "CONFIG|GET"). */
export type Handlers = Record<string, Handler>;
