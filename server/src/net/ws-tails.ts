import type { Encoding, Envelope } from '@kvws/shared/protocol';
import type { Client } from '../engine/client.js';
import type { Db } from '../engine/db.js';
import type { Engine } from '../engine/engine.js';
import type { DbEvent, KeyEvent, KeyspaceListener } from '../engine/notify.js';
import { text } from '../protocol/json.js';
import { ErrorReply, type Reply } from '../protocol/reply.js';

/**
 * Stream tails over the WebSocket (docs/protocol.md#tailing-a-stream): after a `tail` request, the entries a
 * stream receives are pushed to the connection (`{"push": "entries", …}`), in ID order, each once, from
 * the ID the client names — so a client that reconnects resumes with the last ID it received.
 *
 * Contract:
 * - Every read is a command through `engine.execute`, on the connection's session (XREVRANGE once to place
 *   `$`, then `XRANGE key (cursor + COUNT n`): NOAUTH, the ACL check (read access to the key), MONITOR,
 *   the command stats apply as to any read. A refused first read answers the `tail` request; a later one
 *   ends the tail with `{"push": "tail", "event": "ended", "error": …}`.
 * - A tail reads when a change of its key wakes it on the key-change path (`engine.listeners`: the embedded
 *   engine's `notify`, the Redis engine's keyspace events), never on a timer: the changes of one tick give
 *   one read, followed by as many as it takes to catch up.
 * - The cursor is the ID of the last entry delivered (at first: `from`, or the stream's last ID for `$`):
 *   each read returns what lies after it and moves it, so every entry is delivered once and in order;
 *   entries deleted or trimmed before they were read are not delivered.
 * - Bounded memory: a tail reads only while its connection has less than `TailHost.highWater()` bytes
 *   unsent, and goes on from its cursor once the socket drains — the stream itself is the buffer, so a slow
 *   browser costs at most that plus one batch (`count` entries), and loses nothing.
 * - Deleted key (DEL, UNLINK, expiry, eviction, RENAME or MOVE away, FLUSHDB/FLUSHALL/SWAPDB): a tail that
 *   had seen the stream pushes `{"push": "tail", "event": "deleted"}` and stays, delivering the entries of
 *   a stream created again at the key whose IDs are above its cursor. A key that comes to hold another
 *   type ends the tail (its next read answers WRONGTYPE).
 */

/** Events Redis sends only when the key existed, and after which it no longer holds that value. */
const GONE_EVENTS = new Set(['del', 'expired', 'evicted', 'rename_from', 'move_from']);

/** What a tail needs from its WebSocket connection. */
export interface TailHost {
  readonly client: Client;
  /** engine.execute for the connection's session (its internal errors as replies). */
  exec(argv: string[]): Reply | Promise<Reply>;
  /** Sends one push frame (JSON text). */
  send(frame: string): void;
  /** Bytes queued on the connection and not yet written to the network. */
  unsent(): number;
  /** Tails stop reading at this many unsent bytes, and go on when the socket drains. */
  highWater(): number;
  isClosed(): boolean;
}

/**
 * The tails of one gateway, by database and key, and the one key-change listener that wakes them. The
 * listener is in `engine.listeners` only while there are tails (the notify path pays nothing otherwise).
 */
export class TailRegistry implements KeyspaceListener {
  private readonly byDb = new Map<number, Map<string, Set<Tail>>>();
  private count = 0;
  private readonly due = new Set<Tail>();
  private scheduled = false;
  /** The Redis engine asked to report key changes (first tail): settles once it does. */
  private eventsWanted: Promise<void> | null = null;
  private eventsOn = false;

  constructor(readonly engine: Engine) {}

  /** Tails open on every connection. */
  get size(): number {
    return this.count;
  }

  /**
   * Starts waking `t` on changes of its key. Returns a Promise to wait for before its first read when the
   * backend must first be asked to report key changes (the Redis engine, the first tail), else null.
   */
  add(t: Tail): Promise<void> | null {
    let keys = this.byDb.get(t.db.index);
    if (keys === undefined) {
      keys = new Map();
      this.byDb.set(t.db.index, keys);
    }
    let set = keys.get(t.key);
    if (set === undefined) {
      set = new Set();
      keys.set(t.key, set);
    }
    set.add(t);
    if (this.count++ === 0) this.engine.listeners.push(this);
    const gateway = this.engine.gateway;
    if (gateway === null || this.eventsOn) return null;
    this.eventsWanted ??= gateway.wantKeyEvents().then(
      () => {
        this.eventsOn = true;
      },
      () => {
        this.eventsOn = true;
      },
    );
    return this.eventsWanted;
  }

  /** Stops waking `t`. */
  remove(t: Tail): void {
    const keys = this.byDb.get(t.db.index);
    const set = keys?.get(t.key);
    if (keys === undefined || set === undefined || !set.delete(t)) return;
    if (set.size === 0) keys.delete(t.key);
    if (keys.size === 0) this.byDb.delete(t.db.index);
    this.due.delete(t);
    if (--this.count === 0) {
      const listeners = this.engine.listeners;
      const i = listeners.indexOf(this);
      if (i >= 0) listeners.splice(i, 1);
    }
  }

  onKeyEvent(e: KeyEvent): void {
    // An empty event is bookkeeping without new entries (XACK, a group's read position).
    if (e.event === '') return;
    const set = this.byDb.get(e.db)?.get(e.key);
    if (set === undefined) return;
    const gone = GONE_EVENTS.has(e.event);
    for (const t of set) this.wake(t, gone);
  }

  onDbEvent(e: DbEvent): void {
    for (const [db, keys] of this.byDb) {
      if (e.db !== -1 && db !== e.db && db !== e.other) continue;
      for (const set of keys.values()) for (const t of set) this.wake(t, true);
    }
  }

  onResync(): void {
    for (const keys of this.byDb.values()) for (const set of keys.values()) for (const t of set) this.wake(t, false);
  }

  /** Marks `t` to read (and, with `gone`, to say its stream went) at the end of this tick. */
  private wake(t: Tail, gone: boolean): void {
    if (gone) t.gone = true;
    t.dirty = true;
    this.due.add(t);
    if (!this.scheduled) {
      this.scheduled = true;
      // After the command (or the batch of commands) that made the change: one read for all its changes.
      process.nextTick(this.serveDue);
    }
  }

  private readonly serveDue = (): void => {
    this.scheduled = false;
    const due = [...this.due];
    this.due.clear();
    for (const t of due) t.serve();
  };
}

/** A tail request, its key decoded to an engine binary string. */
export interface TailOpen {
  key: string;
  /** `$`, or an ID: entries after it. */
  from: string;
  count: number;
  enc: Encoding;
}

/** The tails of one connection: at most one per database and key. */
export class TailSet {
  private readonly tails = new Map<string, Tail>();
  /** Tails that wait for the socket to drain or for the session's MULTI to end. */
  private readonly waiting = new Set<Tail>();

  constructor(
    readonly registry: TailRegistry,
    readonly host: TailHost,
  ) {}

  get size(): number {
    return this.tails.size;
  }

  /** Whether some tail waits for `resume`. */
  get hasWaiting(): boolean {
    return this.waiting.size !== 0;
  }

  /**
   * A `tail` request in the session's current database: `answer` gets its reply (`{after}` or an error)
   * before any push of the tail. Replaces a tail of the same key; refused beyond `maxSubscriptionsPerClient`
   * tails (0 = no limit).
   */
  open(req: TailOpen, answer: (e: Envelope) => void): void {
    const { client } = this.host;
    if (client.multi !== null) {
      answer({ error: 'ERR a tail cannot start inside MULTI' });
      return;
    }
    const db = client.db;
    const id = `${db.index} ${req.key}`;
    const old = this.tails.get(id);
    const max = client.engine.options.maxSubscriptionsPerClient;
    if (old === undefined && max > 0 && this.tails.size >= max) {
      answer({ error: `ERR max tails per client reached (${max})` });
      return;
    }
    old?.end();
    const t = new Tail(this, req.key, db, req.enc, req.count);
    this.tails.set(id, t);
    const ready = this.registry.add(t);
    if (ready === null) t.start(req.from, answer);
    else
      ready.then(() => {
        if (!t.ended) t.start(req.from, answer);
        else if (!this.host.isClosed()) answer({ error: 'ERR the tail was replaced or removed before it started' });
      });
  }

  /** An `untail` request in the session's current database: 1 when a tail of `key` ended, else 0. */
  untail(key: string): number {
    const t = this.tails.get(`${this.host.client.db.index} ${key}`);
    if (t === undefined) return 0;
    t.end();
    return 1;
  }

  /** `t` reads again at the next `resume`. */
  wait(t: Tail): void {
    this.waiting.add(t);
  }

  /** The socket drained, or a request ended (a MULTI may have): the tails that waited read again. */
  resume(): void {
    if (this.waiting.size === 0) return;
    const list = [...this.waiting];
    this.waiting.clear();
    for (const t of list) t.serve();
  }

  /** Forgets `t` (it ended). */
  forget(t: Tail): void {
    const id = `${t.db.index} ${t.key}`;
    if (this.tails.get(id) === t) this.tails.delete(id);
    this.waiting.delete(t);
  }

  /** The connection closed: every tail ends, without pushes. */
  close(): void {
    for (const t of [...this.tails.values()]) t.end();
    this.waiting.clear();
  }
}

/** One followed stream. See the module comment. */
export class Tail {
  /** The last ID delivered (entries after it are due); null until placed. */
  private cursor: string | null = null;
  /** The key held a stream since the last `deleted` push (so a deletion is worth telling). */
  private seen = false;
  /** A change woke it since its last read. */
  dirty = false;
  /** Its stream was deleted since its last read. */
  gone = false;
  /** A read is under way on the Redis engine. */
  private reading = false;
  ended = false;
  private readonly keyJson: string;

  constructor(
    private readonly set: TailSet,
    readonly key: string,
    readonly db: Db,
    readonly enc: Encoding,
    readonly count: number,
  ) {
    this.keyJson = text(key, enc);
  }

  /** Places the cursor (`$`: the last entry's ID; else `from`, after a first read that checks it), then answers. */
  start(from: string, answer: (e: Envelope) => void): void {
    if (from === '$') {
      this.run(['XREVRANGE', this.key, '+', '-', 'COUNT', '1'], (r) => {
        const entries = entriesOf(r);
        if (entries === null) {
          this.end();
          answer({ error: r instanceof ErrorReply ? r.message : 'ERR unexpected reply' });
          return;
        }
        const last = entries[0] as Reply[] | undefined;
        this.cursor = last === undefined ? '0-0' : String(last[0]);
        this.seen = last !== undefined;
        answer({ result: { after: this.cursor } });
        if (this.dirty) this.serve();
      });
      return;
    }
    this.cursor = from;
    this.run(this.readArgv(), (r) => {
      if (entriesOf(r) === null) {
        this.cursor = null;
        this.end();
        answer({ error: r instanceof ErrorReply ? r.message : 'ERR unexpected reply' });
        return;
      }
      answer({ result: { after: from } });
      if (this.handle(r)) this.serve();
    });
  }

  /**
   * Reads what is due, batch after batch, until caught up, or until the connection has `highWater` bytes
   * unsent or a MULTI open (then it waits for TailSet.resume).
   */
  serve(): void {
    const host = this.set.host;
    for (;;) {
      if (this.ended || this.cursor === null || this.reading || host.isClosed()) return;
      // Inside MULTI a command would be queued, not run.
      if (host.client.multi !== null || host.unsent() >= host.highWater()) {
        this.set.wait(this);
        return;
      }
      if (this.gone) {
        this.gone = false;
        if (this.seen) {
          this.seen = false;
          host.send(JSON.stringify({ push: 'tail', key: this.keyJson, event: 'deleted' }));
        }
      }
      this.dirty = false;
      let again = false;
      let sync = true;
      this.run(this.readArgv(), (r) => {
        again = this.handle(r);
        if (!sync && again) this.serve();
      });
      sync = false;
      if (this.reading || !again) return;
    }
  }

  /** Ends the tail: no more reads or pushes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.set.registry.remove(this);
    this.set.forget(this);
  }

  /** XRANGE key (cursor + COUNT n. */
  private readArgv(): string[] {
    return ['XRANGE', this.key, `(${this.cursor}`, '+', 'COUNT', String(this.count)];
  }

  /** Delivers a read's entries and moves the cursor; ends the tail on an error. Returns whether to read again. */
  private handle(r: Reply): boolean {
    const entries = entriesOf(r);
    if (entries === null) {
      const error = r instanceof ErrorReply ? r.message : 'ERR unexpected reply';
      this.set.host.send(JSON.stringify({ push: 'tail', key: this.keyJson, event: 'ended', error }));
      this.end();
      return false;
    }
    const n = entries.length;
    if (n !== 0) {
      const enc = this.enc;
      const out = new Array(n);
      for (let i = 0; i < n; i++) {
        const e = entries[i] as [string, string[]];
        const fv = e[1];
        const f = new Array<string>(fv.length);
        for (let j = 0; j < fv.length; j++) f[j] = text(fv[j], enc);
        out[i] = [e[0], f];
      }
      this.cursor = String((entries[n - 1] as Reply[])[0]);
      this.seen = true;
      this.set.host.send(JSON.stringify({ push: 'entries', key: this.keyJson, entries: out }));
    }
    return n >= this.count || this.dirty;
  }

  /**
   * Runs `argv` in the tail's database (the session may have SELECTed another since) and hands the reply
   * to `done`, at once or, on the Redis engine, when it comes (not at all if the tail ended meanwhile).
   */
  private run(argv: string[], done: (r: Reply) => void): void {
    const host = this.set.host;
    const client = host.client;
    const selected = client.db;
    client.db = this.db;
    let r: Reply | Promise<Reply>;
    try {
      r = host.exec(argv);
    } finally {
      client.db = selected;
    }
    if (!(r instanceof Promise)) {
      done(r);
      return;
    }
    this.reading = true;
    const settle = (reply: Reply) => {
      this.reading = false;
      if (!this.ended && !host.isClosed()) done(reply);
    };
    r.then(settle, (e) => settle(new ErrorReply(`ERR ${(e as Error).message}`)));
  }
}

/** A range reply's entries, or null when it is not one (an error). */
function entriesOf(r: Reply): Reply[] | null {
  return Array.isArray(r) ? r : null;
}
