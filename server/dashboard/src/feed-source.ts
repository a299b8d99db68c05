import type { Message, Subscription } from '@kvws/client';
import type { Explained } from './explain.js';
import { globMatch } from './glob.js';
import type { Session } from './session.js';
import { Store } from './store.js';

/**
 * The live feed's source: keyspace notifications through the client's psubscribe, on
 * `__keyspace@<db>__:<pattern>` (key and event) and `__keyevent@<db>__:*` (event and key; for servers that
 * publish only keyevent messages, `notify-keyspace-events E…`). A change published on both channels comes as
 * two consecutive messages and is shown once. The client resumes both subscriptions after a reconnect (the
 * missed events arrive in order); when the server cannot replay them the transport's `resume` event is shown
 * as a gap in the feed and a notice.
 */

/** One keyspace event. */
export interface FeedEvent {
  kind: 'event';
  id: number;
  /** When it arrived (Unix ms). */
  at: number;
  db: number;
  key: string;
  event: string;
  /** Its offset in the server's event stream, when the server keeps an event log. */
  offset?: number;
}

/** A line in the feed about the feed itself: subscribed, connection lost, reconnected, events lost. */
export interface FeedMarker {
  kind: 'marker';
  id: number;
  at: number;
  level: 'info' | 'warning' | 'error';
  text: string;
}

export type FeedItem = FeedEvent | FeedMarker;

export interface FeedStatus {
  state: 'idle' | 'subscribing' | 'live' | 'denied' | 'failed';
  /** The database listened to, `*` for all. */
  db: '*' | number;
  /** The key pattern of the subscription. */
  pattern: string;
  /** Whether the keyevent channels are subscribed too (false: not permitted to this user). */
  keyevent: boolean;
  /** Why subscribing failed (state denied or failed). */
  error: Explained | null;
  /** Reconnects after which the server could not replay what was missed. */
  gaps: number;
}

/** Items kept; older ones are dropped. */
export const FEED_LIMIT = 2000;
/** Events are added to `items` in batches at most this often (a busy server must not re-render per event). */
const FLUSH_MS = 100;

export class EventFeed {
  readonly items = new Store<FeedItem[]>([]);
  readonly status = new Store<FeedStatus>({
    state: 'idle',
    db: '*',
    pattern: '*',
    keyevent: false,
    error: null,
    gaps: 0,
  });
  /** Events received since the session started (for the rate). */
  received = 0;
  private subs: Subscription[] = [];
  private readonly listeners = new Set<(e: FeedEvent) => void>();
  private pending: FeedItem[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private nextId = 1;
  /** The last keyspace message, to drop the keyevent message of the same change. */
  private lastSpace: { db: number; key: string; event: string; offset?: number } | null = null;
  private generation = 0;
  private wasLost = false;

  constructor(private readonly session: Session) {
    const t = session.kv.transport;
    t.on('state', ({ oldState, newState }) => {
      if (this.status.value.state !== 'live') return;
      if (oldState === 'connected' && newState === 'disconnected') {
        this.wasLost = true;
        this.mark('warning', 'Connection lost: reconnecting…');
      } else if (newState === 'connected' && this.wasLost) {
        this.wasLost = false;
        this.mark('info', 'Reconnected: the events missed meanwhile are replayed in order');
      }
    });
    t.on('resume', (r) => {
      if (!r.patterns.some((p) => p.startsWith('__keyspace@') || p.startsWith('__keyevent@'))) return;
      const text =
        'Events were lost while disconnected: the server could not replay them (it restarted, or its event log ' +
        `no longer reaches back). The feed goes on from stream offset ${r.offset}; reload the keys you watch.`;
      this.mark('error', text);
      this.status.update((s) => ({ ...s, gaps: s.gaps + 1 }));
      session.notices.push('warning', 'Live feed: events lost', text);
    });
  }

  /** Calls `listener` for every event as it arrives (the key browser keeps its rows current with it). */
  on(listener: (e: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * (Re)subscribes to the events of keys matching `pattern` in database `db` (`*`: every database). Resolves
   * once subscribed, or with the status `denied`/`failed` and its explanation.
   */
  async start(db: '*' | number, pattern: string): Promise<void> {
    const gen = ++this.generation;
    await this.unsubscribe();
    this.status.update((s) => ({ ...s, state: 'subscribing', db, pattern, keyevent: false, error: null }));
    const space = `__keyspace@${db}__:${pattern}`;
    const onMessage = (m: Message) => this.receive(m);
    let sub: Subscription;
    try {
      sub = await this.session.kv.psubscribe(space, onMessage);
    } catch (e) {
      if (gen !== this.generation) return;
      const error = this.session.explain(e, ['PSUBSCRIBE', space], { channel: space });
      this.status.update((s) => ({ ...s, state: error.code === 'NOPERM' ? 'denied' : 'failed', error }));
      return;
    }
    if (gen !== this.generation) return void sub.unsubscribe();
    this.subs.push(sub);
    const event = `__keyevent@${db}__:*`;
    let keyevent = false;
    try {
      const s2 = await this.session.kv.psubscribe(event, onMessage);
      if (gen !== this.generation) return void s2.unsubscribe();
      this.subs.push(s2);
      keyevent = true;
    } catch {
      // Not permitted (or failed): the keyspace channel alone carries every event the server publishes
      // with K in notify-keyspace-events.
    }
    this.status.update((s) => ({ ...s, state: 'live', keyevent }));
    this.mark('info', `Listening to ${space}${keyevent ? ` and ${event}` : ''}`);
  }

  /** Empties the feed. */
  clear(): void {
    this.pending = [];
    this.items.set([]);
  }

  private async unsubscribe(): Promise<void> {
    const subs = this.subs;
    this.subs = [];
    this.lastSpace = null;
    await Promise.all(subs.map((s) => s.unsubscribe().catch(() => {})));
  }

  private receive(m: Message): void {
    const head = /^__key(space|event)@(\d+)__:/.exec(m.channel);
    if (!head) return;
    const db = Number(head[2]);
    const rest = m.channel.slice(head[0].length);
    let key: string;
    let event: string;
    if (head[1] === 'space') {
      key = rest;
      event = m.data;
      this.lastSpace = { db, key, event, offset: m.offset };
    } else {
      key = m.data;
      event = rest;
      const last = this.lastSpace;
      this.lastSpace = null;
      const same = last !== null && last.db === db && last.key === key && last.event === event;
      if (same && (m.offset === undefined || last.offset === undefined || m.offset === last.offset + 1)) return;
      if (!globMatch(this.status.value.pattern, key)) return;
    }
    this.received++;
    const e: FeedEvent = { kind: 'event', id: this.nextId++, at: Date.now(), db, key, event, offset: m.offset };
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    this.add(e);
  }

  private mark(level: FeedMarker['level'], text: string): void {
    this.add({ kind: 'marker', id: this.nextId++, at: Date.now(), level, text });
  }

  private add(item: FeedItem): void {
    this.pending.push(item);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const batch = this.pending;
      this.pending = [];
      this.items.update((l) =>
        l.length + batch.length > FEED_LIMIT ? [...l, ...batch].slice(-FEED_LIMIT) : [...l, ...batch],
      );
    }, FLUSH_MS);
  }
}
