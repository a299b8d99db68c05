import { ErrorReply, type Reply } from '../protocol/reply.js';
import type { Client } from './client.js';
import type { Db } from './db.js';

interface Waiter {
  client: Client;
  /** The blocked command's arguments (for the AOF record when it is served). */
  argv: string[];
  db: Db;
  keys: string[];
  attempt: (key: string) => Reply | undefined;
  /** Offer the waiter its keys also while they do not exist (blocked XREADGROUP: a deleted stream is an error). */
  serveMissing: boolean;
  resolve: (r: Reply) => void;
  onTimeout: Reply;
  timer: NodeJS.Timeout | null;
  done: boolean;
}

const slot = (db: number, key: string) => `${db}\0${key}`;
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Blocking commands (BLPOP, BLMOVE, BZPOPMIN, XREAD, …). A handler first tries to serve itself; when nothing
 * is there it calls `block`, passing an `attempt` closure that re-runs the operation for the key that became
 * ready and returns undefined while there is still nothing to serve.
 *
 * Keys touched through the notify path are marked ready; after every command (and after EXEC as a whole,
 * and after active expiry) the dispatcher calls `serveReady`, which offers each ready key to its waiters in
 * the order they blocked (FIFO, as Redis does).
 */
export class Blocking {
  private readonly byKey = new Map<string, Waiter[]>();
  private readonly ready = new Map<string, { db: Db; key: string }>();
  /** Number of clients currently blocked (INFO blocked_clients). */
  count = 0;
  /** Set by the engine: called before a blocked command is offered a key (it may change it in place). */
  beforeServe: (db: Db, argv: string[]) => void = () => {};
  /** Set by the engine: a blocked command was served (it has just changed the dataset). */
  onServed: (client: Client, db: Db, argv: string[], reply: Reply) => void = () => {};

  /**
   * Blocks `client` on `keys` of `db` for `timeoutMs` (0 = forever). Resolves with attempt()'s reply once
   * it has one, with `onTimeout` at the timeout, or with an error if unblocked by CLIENT UNBLOCK ERROR.
   * Inside EXEC (or a script) it does not block: it returns `onTimeout` at once. `attempt` gets the ready
   * key; it is offered only keys that exist unless `serveMissing` (then also a key deleted meanwhile).
   */
  block(
    client: Client,
    db: Db,
    keys: string[],
    timeoutMs: number,
    attempt: (key: string) => Reply | undefined,
    onTimeout: Reply,
    serveMissing = false,
  ): Reply | Promise<Reply> {
    if (client.inExec) return onTimeout;
    return new Promise<Reply>((resolve) => {
      const w: Waiter = {
        client,
        argv: client.argv,
        db,
        keys,
        attempt,
        serveMissing,
        resolve,
        onTimeout,
        timer: null,
        done: false,
      };
      for (const k of keys) {
        const s = slot(db.index, k);
        let q = this.byKey.get(s);
        if (!q) {
          q = [];
          this.byKey.set(s, q);
        }
        q.push(w);
      }
      if (timeoutMs > 0) {
        // setTimeout fires at once for delays over 2^31-1 ms (~24.8 days): re-arm in steps.
        const arm = (left: number) => {
          w.timer = setTimeout(
            () => (left > MAX_DELAY ? arm(left - MAX_DELAY) : this.finish(w, onTimeout)),
            Math.min(left, MAX_DELAY),
          );
        };
        arm(timeoutMs);
      }
      this.count++;
      client.blocked = {
        db: db.index,
        keys,
        cancel: (error: boolean) =>
          this.finish(w, error ? new ErrorReply('UNBLOCKED client unblocked via CLIENT UNBLOCK') : w.onTimeout),
      };
    });
  }

  /** Called from the notify path: a key that someone waits for has changed. */
  signal(db: Db, key: string): void {
    if (this.byKey.size === 0) return;
    const s = slot(db.index, key);
    if (this.byKey.has(s) && !this.ready.has(s)) this.ready.set(s, { db, key });
  }

  /** Called for FLUSHDB/FLUSHALL/SWAPDB: every key someone waits for in database `db` (-1: all) is ready. */
  signalDb(db: number): void {
    for (const q of this.byKey.values()) {
      for (const w of q) if (db === -1 || w.db.index === db) for (const k of w.keys) this.signal(w.db, k);
    }
  }

  /** True when there are ready keys to serve (cheap check for the dispatcher). */
  get hasReady(): boolean {
    return this.ready.size !== 0;
  }

  /**
   * Serves waiters of every ready key in FIFO order until no key is ready. Serving may make further keys
   * ready (BLMOVE pushes to its destination); those are served in the same call.
   */
  serveReady(): void {
    let rounds = 0;
    while (this.ready.size !== 0 && rounds++ < 1_000_000) {
      const batch = [...this.ready.entries()];
      this.ready.clear();
      for (const [s, { db, key }] of batch) {
        const q = this.byKey.get(s);
        if (!q) continue;
        // Offer the key to each waiter in the order they blocked, while it has data. A waiter that cannot
        // use it (another type: BZPOPMIN on what is now a list) stays blocked and is skipped. A key that is
        // gone is offered only to waiters that want to know (XREADGROUP answers an error).
        for (const w of [...q]) {
          if (w.done || (!w.serveMissing && !db.dict.has(key))) continue;
          this.beforeServe(w.db, w.argv);
          const r = w.attempt(key);
          if (r !== undefined) {
            this.onServed(w.client, w.db, w.argv, r);
            this.finish(w, r);
          }
        }
      }
    }
  }

  /** Unblocks a client (CLIENT UNBLOCK, disconnect). Returns false when it was not blocked. */
  unblock(client: Client, error = false): boolean {
    if (!client.blocked) return false;
    client.blocked.cancel(error);
    return true;
  }

  private finish(w: Waiter, reply: Reply): void {
    if (w.done) return;
    w.done = true;
    if (w.timer) clearTimeout(w.timer);
    for (const k of w.keys) {
      const s = slot(w.db.index, k);
      const q = this.byKey.get(s);
      if (!q) continue;
      const i = q.indexOf(w);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) {
        this.byKey.delete(s);
        this.ready.delete(s);
      }
    }
    this.count--;
    w.client.blocked = null;
    w.resolve(reply);
  }
}
