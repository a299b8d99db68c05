import { randomBytes } from 'node:crypto';
import type { Client } from '../engine/client.js';
import { globMatch } from '../engine/glob.js';
import { PushReply } from '../protocol/reply.js';

/** One event of the stream: a keyspace/keyevent notification or a PUBLISH. Strings are binary strings. */
export interface StreamEvent {
  offset: number;
  /** Unix ms when it happened (for the age bound). */
  time: number;
  channel: string;
  message: string;
  /** For keyspace notifications, the key (delivery is filtered by the subscriber's read permission). */
  key: string | null;
}

/** Where a subscriber stands in the stream: the reply to SUBSCRIBE/PSUBSCRIBE over the WebSocket and SSE. */
export interface StreamPosition {
  epoch: string;
  /** The offset of the last event so far (0 when none): events after it are the subscriber's. */
  offset: number;
  /** Only for a resume: whether every event since the given position could be delivered. */
  recovered?: boolean;
}

/** A resume in progress for one client (see EventLog.resume). */
export interface Catchup {
  /** Last offset replayed (or skipped) so far. */
  cursor: number;
  /** Per subscription ("c\0channel" / "p\0pattern"): events at or before this offset are not its own. */
  starts: Map<string, number>;
}

/** Per-event bytes counted besides channel and message (object, array slot, numbers). */
const EVENT_OVERHEAD = 96;

/** Persistence of the log (events/event-log-file.ts); absent = memory only. */
export interface EventSink {
  append(e: StreamEvent): void;
}

/**
 * The event stream (issue 8): every keyspace/keyevent notification and every PUBLISH, with a monotonically
 * increasing offset and the stream's epoch. The epoch is a random id that changes whenever history is
 * lost (a start without a persisted log, a reset): an offset means something only with its epoch.
 *
 * The log keeps the most recent events in memory, bounded by `maxBytes` (channel + message + key + a
 * fixed overhead per event) and `maxAgeMs`; with persistence on, events are also written next to the
 * append-only file (event-log-file.ts) so that resuming works across a restart.
 *
 * Resume: a subscriber that gives `{offset, epoch}` gets every event after `offset` that its subscriptions
 * and read permissions select, in order and once, then live events, with nothing lost or repeated at the
 * seam (`resume` + `pump`); or `recovered: false` when the epoch differs or the log no longer reaches back.
 */
export class EventLog {
  epoch: string;
  /** Offset of the newest event (0: none yet). */
  lastOffset = 0;
  private ring: StreamEvent[] = [];
  /** Index of the oldest event in `ring` (the array is compacted now and then). */
  private head = 0;
  private bytes = 0;
  sink: EventSink | null = null;
  readonly stats = { appended: 0, trimmed: 0, resumes: 0, recoveredResumes: 0, unrecoveredResumes: 0, replayed: 0 };

  constructor(
    public maxBytes: number,
    public maxAgeMs: number,
  ) {
    this.epoch = newEpoch();
  }

  /** Whether the log records anything (maxBytes 0 turns it off: no offsets, resumes never recover). */
  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Offset of the oldest event held (lastOffset + 1 when empty). */
  get firstOffset(): number {
    return this.head < this.ring.length ? this.ring[this.head].offset : this.lastOffset + 1;
  }

  get size(): number {
    return this.ring.length - this.head;
  }

  get memoryBytes(): number {
    return this.bytes;
  }

  private indexAfter(offset: number): number {
    return indexAfterIn(this.ring, this.head, offset);
  }

  /** Events after `offset`, oldest first (for SSE resumes and tests). */
  *after(offset: number): Generator<StreamEvent> {
    for (let i = this.indexAfter(offset); i < this.ring.length; i++) yield this.ring[i];
  }

  /** Records an event and returns its offset (0 when the log is off). */
  append(channel: string, message: string, key: string | null): number {
    if (!this.enabled) return 0;
    const e: StreamEvent = { offset: ++this.lastOffset, time: Date.now(), channel, message, key };
    this.push(e);
    this.stats.appended++;
    this.sink?.append(e);
    return e.offset;
  }

  /** Adds an event read back from disk (start-up): offsets must increase. */
  restore(e: StreamEvent): void {
    if (e.offset <= this.lastOffset) return;
    this.lastOffset = e.offset;
    this.push(e);
  }

  /** Forgets every event and starts a new epoch (history is lost). */
  reset(epoch = newEpoch()): void {
    this.ring = [];
    this.head = 0;
    this.bytes = 0;
    this.epoch = epoch;
  }

  private push(e: StreamEvent): void {
    this.ring.push(e);
    this.bytes += sizeOfEvent(e);
    this.trim(e.time);
  }

  /** Drops events beyond the size bound or older than the age bound. */
  trim(now = Date.now()): void {
    const oldest = now - this.maxAgeMs;
    while (this.head < this.ring.length - 1 && (this.bytes > this.maxBytes || this.ring[this.head].time < oldest)) {
      this.bytes -= sizeOfEvent(this.ring[this.head]);
      this.head++;
      this.stats.trimmed++;
    }
    if (this.head > 1024 && this.head * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.head);
      this.head = 0;
    }
  }

  /** The position a new subscriber starts from. */
  position(): StreamPosition {
    return { epoch: this.epoch, offset: this.lastOffset };
  }

  /**
   * Subscriptions `names` (channels, or patterns with `pattern`) of `client` resume after `since`. When the
   * log reaches back that far in the same epoch, the client enters catch-up: live deliveries to it stop
   * (PubSub skips it) and `pump` replays from the log until it reaches the newest event, then it is live
   * again. Otherwise nothing is replayed and `recovered` is false. Call right after the subscriptions were
   * made, in the same tick.
   */
  resume(client: Client, names: string[], pattern: boolean, since: { offset: number; epoch: string }): StreamPosition {
    this.stats.resumes++;
    const pos = this.position();
    const ok =
      this.enabled &&
      since.epoch === this.epoch &&
      since.offset <= this.lastOffset &&
      since.offset >= this.firstOffset - 1;
    if (!ok) {
      this.stats.unrecoveredResumes++;
      return { ...pos, recovered: false };
    }
    this.stats.recoveredResumes++;
    if (since.offset === this.lastOffset) return { ...pos, recovered: true };
    let c = client.catchup;
    if (c === null) {
      // Subscriptions the client already had are live up to now: their history is not replayed.
      c = { cursor: this.lastOffset, starts: new Map() };
      for (const ch of client.channels) c.starts.set(`c\0${ch}`, this.lastOffset);
      for (const p of client.patterns) c.starts.set(`p\0${p}`, this.lastOffset);
      client.catchup = c;
    }
    if (since.offset < c.cursor) {
      // Moving the cursor back: what the other subscriptions got up to the cursor is not sent again.
      for (const [k, start] of c.starts) if (start < c.cursor) c.starts.set(k, c.cursor);
      c.cursor = since.offset;
    }
    for (const n of names) c.starts.set(`${pattern ? 'p' : 'c'}\0${n}`, since.offset);
    return { ...pos, recovered: true };
  }

  /** A subscription made during catch-up without `since` starts now. */
  subscribed(client: Client, name: string, pattern: boolean): void {
    client.catchup?.starts.set(`${pattern ? 'p' : 'c'}\0${name}`, this.lastOffset);
  }

  /**
   * Replays events to a client in catch-up, in order, until its pending output reaches `maxPending` bytes
   * (the front door calls again when it drains) or it has caught up; then it is live. Returns true when
   * caught up. If the log lost events the client still needed, it gets a `stream` push with
   * `recovered: false` and goes live.
   */
  pump(client: Client, maxPending: number): boolean {
    const c = client.catchup;
    if (c === null) return true;
    if (c.cursor < this.firstOffset - 1) {
      client.catchup = null;
      client.push(new PushReply(['stream', 'reset']));
      return true;
    }
    let i = this.indexAfter(c.cursor);
    const acl = client.engine.acl;
    while (i < this.ring.length) {
      if (client.closed) return true;
      if (client.outputBytes() >= maxPending) return false;
      const e = this.ring[i++];
      c.cursor = e.offset;
      if (e.key !== null && !acl.canReadKey(client, e.key)) continue;
      const start = c.starts.get(`c\0${e.channel}`);
      if (start !== undefined && e.offset > start && client.channels.has(e.channel)) {
        client.push(new PushReply(['message', e.channel, e.message], e.offset));
        this.stats.replayed++;
      }
      for (const p of client.patterns) {
        const ps = c.starts.get(`p\0${p}`);
        if (ps !== undefined && e.offset > ps && globMatch(p, e.channel)) {
          client.push(new PushReply(['pmessage', p, e.channel, e.message], e.offset));
          this.stats.replayed++;
        }
      }
    }
    client.catchup = null;
    return true;
  }
}

/** Index in `ring` of the first event after `offset` (binary search: offsets increase). */
function indexAfterIn(ring: StreamEvent[], head: number, offset: number): number {
  let lo = head;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ring[mid].offset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sizeOfEvent(e: StreamEvent): number {
  return EVENT_OVERHEAD + e.channel.length + e.message.length + (e.key === null ? 0 : e.key.length);
}

export function newEpoch(): string {
  return randomBytes(8).toString('hex');
}
