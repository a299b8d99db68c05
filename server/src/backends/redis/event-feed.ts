import { Redis } from 'ioredis';
import type { Engine } from '../../engine/engine.js';
import {
  classBit,
  eventClassOf,
  formatNotifyFlags,
  NOTIFY_KEYEVENT,
  NOTIFY_KEYSPACE,
  parseNotifyFlags,
} from '../../engine/notify.js';
import { type RedisBackend, sendRaw } from './redis-backend.js';

const KEYSPACE = '__keyspace@';
const KEYEVENT = '__keyevent@';
/** Patterns subscribed on every master: its keyspace notifications (they are not propagated across a cluster). */
const KEY_PATTERNS = ['__keyspace@*__:*', '__keyevent@*__:*'];
/** Subscribed on one master only: PUBLISH reaches every node of a cluster, so one is enough (and no duplicates). */
const ALL_CHANNELS = '*';

interface Subscriber {
  conn: Redis;
  /** Whether this one carries `*` (the PUBLISHed messages). */
  publishes: boolean;
  /** Settles when the first subscription is confirmed and notify-keyspace-events widened. */
  ready: Promise<void>;
}

/**
 * Events from Redis into kvws's one event path. A subscriber connection per master psubscribes to that
 * master's keyspace and keyevent notifications, and one of them also to `*` for PUBLISHed messages; every
 * message becomes `engine.publishEvent(channel, message, key)`, so it gets an offset in the event log and
 * is delivered to kvws subscribers through the same ACL filter as on the embedded engine (keyspace events
 * only to sessions that may read the key). kvws's own `notify-keyspace-events` decides which classes are
 * delivered, whatever other gateways asked Redis for.
 *
 * Topology: a cluster's masters are re-read at every slot refresh (ioredis, every 2 s and after MOVED), so
 * a promoted replica or an added master is subscribed to and a departed one dropped; a single server or a
 * Sentinel-managed master has one subscriber that ioredis reconnects (Sentinel: to the new master, also
 * on +switch-master). On each (re)connection the master's `notify-keyspace-events` is widened to include
 * kvws's classes when `engineNotify` is on.
 */
export class RedisEventFeed {
  private readonly subs = new Map<string, Subscriber>();
  readonly stats = { events: 0, dropped: 0, subscriptions: 0, resubscriptions: 0, notifyConfigured: 0 };
  /** Masters whose notify-keyspace-events could not be set (CONFIG refused), already logged once. */
  private readonly warned = new Set<string>();
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly backend: RedisBackend,
    private readonly configureNotify: boolean,
  ) {
    const main = backend.main;
    if (backend.isCluster) main.on('refresh', () => this.sync());
  }

  /**
   * Subscribes to the current masters; resolves once each has confirmed its subscriptions and had its
   * notify-keyspace-events widened (so the gateway says "ready" only when events flow), or after `timeoutMs`.
   */
  async start(timeoutMs: number): Promise<void> {
    this.sync();
    const waits = [...this.subs.values()].map((s) => s.ready);
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Brings the subscribers in line with the masters now known. */
  sync(): void {
    if (this.closed) return;
    const wanted = new Set<string>();
    if (!this.backend.isCluster) wanted.add('main');
    else for (const m of this.backend.masters(0)) wanted.add(m.key);
    for (const [key, sub] of this.subs) {
      if (!wanted.has(key)) {
        this.subs.delete(key);
        sub.conn.disconnect();
      }
    }
    for (const key of wanted) if (!this.subs.has(key)) this.subscribe(key);
    // Exactly one subscriber carries `*`.
    let carrier = [...this.subs.values()].find((s) => s.publishes);
    if (!carrier && this.subs.size > 0) {
      carrier = this.subs.values().next().value as Subscriber;
      carrier.publishes = true;
      carrier.conn.psubscribe(ALL_CHANNELS).catch(() => {});
    }
  }

  private subscribe(key: string): void {
    const options =
      key === 'main'
        ? this.backend.connectionOptions(0)
        : this.backend.nodeOptions(key.slice(0, key.lastIndexOf(':')), Number(key.slice(key.lastIndexOf(':') + 1)));
    const conn = new Redis({ ...options, connectionName: 'kvws-gateway-events', autoResubscribe: true });
    let first = true;
    let widened: Promise<void> = Promise.resolve();
    const subscribed = conn.psubscribe(...KEY_PATTERNS).then(
      () => {},
      () => {},
    );
    const sub: Subscriber = { conn, publishes: false, ready: subscribed.then(() => widened) };
    this.subs.set(key, sub);
    this.stats.subscriptions++;
    conn.on('error', () => {});
    conn.on('ready', () => {
      if (!first) this.stats.resubscriptions++;
      if (this.configureNotify) widened = this.widenNotify(key, options);
      first = false;
    });
    conn.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) =>
      this.onMessage(pattern.toString('latin1'), channel.toString('latin1'), message.toString('latin1')),
    );
  }

  /** One message from Redis: into the event log and to kvws's subscribers, if kvws's flags select it. */
  private onMessage(pattern: string, channel: string, message: string): void {
    const isKeyspace = channel.startsWith(KEYSPACE);
    const isKeyevent = !isKeyspace && channel.startsWith(KEYEVENT);
    if (pattern === ALL_CHANNELS) {
      // Keyspace notifications arrive through the per-master patterns.
      if (isKeyspace || isKeyevent) return;
      this.stats.events++;
      this.engine.publishEvent(channel, message, null);
      return;
    }
    const sep = channel.indexOf('__:');
    if (sep < 0) return;
    const rest = channel.slice(sep + 3);
    const event = isKeyspace ? message : rest;
    const key = isKeyspace ? rest : message;
    const flags = this.engine.notifyFlags;
    if (
      (flags & (isKeyspace ? NOTIFY_KEYSPACE : NOTIFY_KEYEVENT)) === 0 ||
      (flags & classBit(eventClassOf(event))) === 0
    ) {
      this.stats.dropped++;
      return;
    }
    this.stats.events++;
    this.engine.publishEvent(channel, message, key);
  }

  /**
   * Adds kvws's notification classes to the master's `notify-keyspace-events` (never removing any: other
   * gateways and applications may need theirs). When CONFIG is refused (a managed Redis), says once in
   * the log what to set by hand.
   */
  async widenNotify(key: string, options: { host?: string; port?: number } = {}): Promise<void> {
    const want = this.engine.notifyFlags;
    if (want === 0) return;
    const conn =
      key === 'main' ? (this.backend.main as Redis) : this.backend.masters(0).find((m) => m.key === key)?.conn;
    if (!conn) return;
    const where = key === 'main' ? `${options.host ?? 'the master'}` : key;
    try {
      const cur = await sendRaw(conn, ['CONFIG', 'GET', 'notify-keyspace-events'], this.backend.options.timeout);
      if (cur instanceof Error) throw cur;
      const value = Array.isArray(cur) && Buffer.isBuffer(cur[1]) ? cur[1].toString('latin1') : '';
      const have = parseNotifyFlags(value);
      const merged = Math.max(have, 0) | want;
      if (merged === have) return;
      const r = await sendRaw(
        conn,
        ['CONFIG', 'SET', 'notify-keyspace-events', formatNotifyFlags(merged)],
        this.backend.options.timeout,
      );
      if (r instanceof Error) throw r;
      this.stats.notifyConfigured++;
    } catch (e) {
      if (this.warned.has(key)) return;
      this.warned.add(key);
      this.engine.log(
        `Redis engine: could not turn notify-keyspace-events on at ${where} (${(e as Error).message}); ` +
          `set it there to at least "${formatNotifyFlags(want)}" for keyspace events`,
      );
    }
  }

  /**
   * Widens every master's notify-keyspace-events now (after CONFIG SET notify-keyspace-events); resolves
   * once they have answered, so events caused after the CONFIG SET reply are delivered.
   */
  async widenAll(): Promise<void> {
    if (!this.configureNotify) return;
    this.warned.clear();
    await Promise.all([...this.subs.keys()].map((key) => this.widenNotify(key)));
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  close(): void {
    this.closed = true;
    for (const s of this.subs.values()) s.conn.disconnect();
    this.subs.clear();
  }
}
