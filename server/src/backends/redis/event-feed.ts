import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import type { Engine } from '../../engine/engine.js';
import {
  classBit,
  eventClassOf,
  formatNotifyFlags,
  type KeyEvent,
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
/**
 * What the engine's key-event listeners (the WebSocket's stream tails) need from Redis once they exist:
 * keyspace-channel events of streams (xadd…), generic changes (del, rename…), expiries and evictions.
 */
const LISTENER_FLAGS = NOTIFY_KEYSPACE | classBit('t') | classBit('g') | classBit('x') | classBit('e');

/** A keyspace message held back: pattern, channel, message. */
type Held = [string, string, string];
/** Messages held per subscriber at most (a master without slots has no keys, so this is a safety bound). */
const HOLD_MAX = 100_000;
/** Pause between tries to widen a node's notify-keyspace-events that could not be reached. */
const WIDEN_RETRY_MS = 250;

interface Subscriber {
  conn: Redis;
  /** Whether this one carries `*` (the PUBLISHed messages). */
  publishes: boolean;
  /** Settles when the first subscription is confirmed and notify-keyspace-events widened. */
  ready: Promise<void>;
  /**
   * Cluster: while the node is a master that serves no slot in the gateway's view (added, about to receive
   * slots, or drained of them), its keyspace messages are held here instead of delivered: released in
   * order once a slot refresh shows it serving slots, dropped with it if it turns out not to be a master
   * (a drained master becomes a replica, whose notifications repeat its master's). null: delivered at once.
   */
  held: Held[] | null;
  /** Counts the connection's (re)connections: a widening retried for one stops once the next one exists. */
  epoch: number;
}

/**
 * Events from Redis into kvws's one event path. A subscriber connection per master psubscribes to that
 * master's keyspace and keyevent notifications, and one of them also to `*` for PUBLISHed messages; every
 * message becomes `engine.publishEvent(channel, message, key)`, so it gets an offset in the event log and
 * is delivered to kvws subscribers through the same ACL filter as on the embedded engine (keyspace events
 * only to sessions that may read the key). kvws's own `notify-keyspace-events` decides which classes are
 * delivered, whatever other gateways asked Redis for.
 *
 * Topology: a cluster's masters are re-read at every slot refresh (ioredis, every second and after MOVED),
 * so a promoted replica is subscribed to and a departed master dropped. Masters that serve no slot yet
 * (an added node) are found in CLUSTER NODES at each refresh and subscribed to ahead, their messages held
 * (see Subscriber.held) until they serve slots: the keys a resharding moves there give events from the
 * first one, before ioredis's slot map names the node. A single server or a Sentinel-managed master has
 * one subscriber that ioredis reconnects (Sentinel: to the new master, also on +switch-master). On each
 * (re)connection the master's `notify-keyspace-events` is widened to include kvws's classes when
 * `engineNotify` is on.
 */
export class RedisEventFeed {
  private readonly subs = new Map<string, Subscriber>();
  readonly stats = {
    events: 0,
    dropped: 0,
    subscriptions: 0,
    resubscriptions: 0,
    notifyConfigured: 0,
    /** Tries to widen notify-keyspace-events that failed and were made again (see widenUntilDone). */
    notifyRetries: 0,
    /** Held messages delivered, and dropped (their node was no master, or HOLD_MAX was passed). */
    released: 0,
    heldDropped: 0,
  };
  /** Masters without slots, per the last CLUSTER NODES ("host:port"). */
  private emptyMasters = new Set<string>();
  private discovering = false;
  /** Masters whose notify-keyspace-events could not be set (CONFIG refused), already logged once. */
  private readonly warned = new Set<string>();
  private closed = false;
  /** Notification flags wanted besides kvws's own: LISTENER_FLAGS once wantKeyEvents was called. */
  private extraFlags = 0;
  private extraWidened: Promise<void> | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly backend: RedisBackend,
    private readonly configureNotify: boolean,
  ) {
    const main = backend.main;
    if (backend.isCluster) {
      main.on('refresh', () => {
        this.sync();
        this.discoverEmptyMasters();
      });
    }
  }

  /**
   * Subscribes to the current masters; resolves once each has confirmed its subscriptions and had its
   * notify-keyspace-events widened (so the gateway says "ready" only when events flow), or after `timeoutMs`.
   */
  async start(timeoutMs: number): Promise<void> {
    this.sync();
    this.discoverEmptyMasters();
    const waits = [...this.subs.values()].map((s) => s.ready);
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Brings the subscribers in line with the masters now known. */
  sync(): void {
    if (this.closed) return;
    const serving = new Set<string>();
    if (!this.backend.isCluster) serving.add('main');
    else for (const m of this.backend.masters(0)) serving.add(m.key);
    const wanted = new Set([...serving, ...this.emptyMasters]);
    for (const [key, sub] of this.subs) {
      if (!wanted.has(key)) {
        this.subs.delete(key);
        if (sub.held) this.stats.heldDropped += sub.held.length;
        // A demoted or partitioned master may still send what it had buffered: none of it is an event now.
        sub.conn.removeAllListeners('pmessageBuffer');
        sub.conn.disconnect();
      }
    }
    for (const key of wanted) {
      const sub = this.subs.get(key) ?? this.subscribe(key);
      if (serving.has(key)) this.release(sub);
      else if (sub.held === null) sub.held = [];
    }
    // Exactly one subscriber carries `*` (PUBLISH reaches every node, held or not).
    let carrier = [...this.subs.values()].find((s) => s.publishes);
    if (!carrier && this.subs.size > 0) {
      carrier = this.subs.values().next().value as Subscriber;
      carrier.publishes = true;
      carrier.conn.psubscribe(ALL_CHANNELS).catch(() => {});
    }
  }

  /**
   * Reads CLUSTER NODES (from any node) for the masters that serve no slot and are not failing; syncs when
   * that set changed. One read at a time; a failed read changes nothing.
   */
  private discoverEmptyMasters(): void {
    if (this.discovering || this.closed || !this.backend.isCluster) return;
    this.discovering = true;
    this.backend
      .request(0, ['CLUSTER', 'NODES'])
      .then((r) => {
        if (!Buffer.isBuffer(r)) return;
        const found = new Set<string>();
        for (const line of r.toString('latin1').split('\n')) {
          // id addr flags master ping pong epoch link [slot…]; `[slot->-id]`/`[slot-<-id]` are migrations.
          const f = line.trim().split(' ');
          if (f.length < 8 || f.slice(8).some((x) => !x.startsWith('['))) continue;
          const flags = f[2].split(',');
          // `fail?` (one node's suspicion) passes: dropping a held subscriber on it would lose its messages.
          if (!flags.includes('master') || flags.some((x) => /^(fail|handshake|noaddr)$/.test(x))) continue;
          const addr = f[1].split('@')[0];
          if (addr.startsWith(':')) continue; // address not known yet
          found.add(addr);
        }
        const same = found.size === this.emptyMasters.size && [...found].every((k) => this.emptyMasters.has(k));
        if (same) return;
        this.emptyMasters = found;
        this.sync();
      })
      .catch(() => {})
      .finally(() => {
        this.discovering = false;
      });
  }

  private subscribe(key: string): Subscriber {
    const options = this.optionsFor(key);
    const conn = new Redis({ ...options, connectionName: 'kvws-gateway-events', autoResubscribe: true });
    let first = true;
    let widened: Promise<void> = Promise.resolve();
    const subscribed = conn.psubscribe(...KEY_PATTERNS).then(
      () => {},
      () => {},
    );
    const sub: Subscriber = { conn, publishes: false, ready: subscribed.then(() => widened), held: null, epoch: 0 };
    this.subs.set(key, sub);
    this.stats.subscriptions++;
    conn.on('error', () => {});
    conn.on('ready', () => {
      if (!first) {
        this.stats.resubscriptions++;
        // Key events of the time the connection was down are lost: listeners look again.
        for (const l of this.engine.listeners) l.onResync?.();
      }
      sub.epoch++;
      if (this.configureNotify) widened = this.widenUntilDone(sub, key);
      first = false;
    });
    conn.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) =>
      this.onMessage(sub, pattern.toString('latin1'), channel.toString('latin1'), message.toString('latin1')),
    );
    return sub;
  }

  private optionsFor(key: string) {
    if (key === 'main') return this.backend.connectionOptions(0);
    const i = key.lastIndexOf(':');
    return this.backend.nodeOptions(key.slice(0, i), Number(key.slice(i + 1)));
  }

  /** Delivers what `sub` held, in order, and delivers its messages at once from now on. */
  private release(sub: Subscriber): void {
    const held = sub.held;
    if (held === null) return;
    sub.held = null;
    this.stats.released += held.length;
    for (const [pattern, channel, message] of held) this.onKeyspace(pattern, channel, message);
  }

  /** One message from Redis: into the event log and to kvws's subscribers, if kvws's flags select it. */
  private onMessage(sub: Subscriber, pattern: string, channel: string, message: string): void {
    if (pattern === ALL_CHANNELS) {
      // Keyspace notifications arrive through the per-master patterns.
      if (channel.startsWith(KEYSPACE) || channel.startsWith(KEYEVENT)) return;
      this.stats.events++;
      this.engine.publishEvent(channel, message, null);
      return;
    }
    if (sub.held) {
      if (sub.held.length >= HOLD_MAX) {
        sub.held.shift();
        this.stats.heldDropped++;
      }
      sub.held.push([pattern, channel, message]);
      return;
    }
    this.onKeyspace(pattern, channel, message);
  }

  private onKeyspace(_pattern: string, channel: string, message: string): void {
    const isKeyspace = channel.startsWith(KEYSPACE);
    const isKeyevent = !isKeyspace && channel.startsWith(KEYEVENT);
    if (!isKeyspace && !isKeyevent) return;
    const sep = channel.indexOf('__:');
    if (sep < 0) return;
    const rest = channel.slice(sep + 3);
    const event = isKeyspace ? message : rest;
    const key = isKeyspace ? rest : message;
    const listeners = this.engine.listeners;
    if (isKeyspace && listeners.length !== 0) {
      // The key-change path's listeners see Redis's changes as the embedded engine's (one channel kind
      // only, so each change once), whatever kvws's own notify-keyspace-events selects.
      const e: KeyEvent = { db: Number(channel.slice(KEYSPACE.length, sep)), key, event, cls: eventClassOf(event) };
      for (const l of listeners) l.onKeyEvent?.(e);
    }
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
   * Widens the notify-keyspace-events of the node `sub` is connected to (see widenNotify), trying again
   * every WIDEN_RETRY_MS while that connection lasts, until `deadline`. One try can fail in a failover's
   * first moments (the promoted node not yet answering, a sentinel naming it before the others): a master
   * left with kvws's classes off would send no events at all until the next reconnection. A refusal
   * (CONFIG renamed or denied, as on a managed Redis) is not tried again.
   */
  private async widenUntilDone(sub: Subscriber, key: string, deadline = Number.POSITIVE_INFINITY): Promise<void> {
    const epoch = sub.epoch;
    for (;;) {
      if (this.closed || sub.epoch !== epoch || sub.conn.status !== 'ready' || this.subs.get(key) !== sub) return;
      if ((await this.widenNotify(key, sub)) !== 'retry' || Date.now() + WIDEN_RETRY_MS > deadline) return;
      this.stats.notifyRetries++;
      await new Promise((r) => setTimeout(r, WIDEN_RETRY_MS).unref());
    }
  }

  /**
   * Adds kvws's notification classes to `notify-keyspace-events` on the node `sub` receives from (never
   * removing any: other gateways and applications may need theirs). The node is asked over a connection of
   * its own to the subscriber's peer: the shared connection may still be on the way to another node after
   * a failover. When CONFIG is refused (a managed Redis), says once in the log what to set by hand.
   * 'retry' when the node could not be reached or was not ready.
   */
  private async widenNotify(key: string, sub: Subscriber): Promise<'done' | 'retry' | 'refused'> {
    const want = this.engine.notifyFlags | this.extraFlags;
    if (want === 0) return 'done';
    const stream = sub.conn.stream as (Socket & { servername?: string | false }) | undefined;
    const host = stream?.remoteAddress;
    const port = stream?.remotePort;
    if (!host || !port) return 'retry';
    let conn: Redis | undefined = key === 'main' ? undefined : this.backend.masters(0).find((m) => m.key === key)?.conn;
    // The subscriber's node has no connection of ours to run commands on: one for this, closed after.
    let own: Redis | null = null;
    if (!conn) {
      const options = this.backend.nodeOptions(host, port);
      if (options.tls && stream.servername) options.tls = { ...options.tls, servername: stream.servername };
      own = new Redis({
        ...options,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        connectionName: 'kvws-gateway',
      });
      own.on('error', () => {});
      conn = own;
    }
    const where = key === 'main' ? `${host}:${port}` : key;
    const timeout = this.backend.options.timeout;
    try {
      const cur = await sendRaw(conn, ['CONFIG', 'GET', 'notify-keyspace-events'], timeout);
      if (cur instanceof Error) return this.refused(key, where, want, cur);
      const value = Array.isArray(cur) && Buffer.isBuffer(cur[1]) ? cur[1].toString('latin1') : '';
      const have = Math.max(parseNotifyFlags(value), 0);
      // Redis's CONFIG GET does not show `n` after `A`: it may be on. Keep it on when setting, and set when
      // kvws needs it and cannot tell.
      const nHidden = value.includes('A');
      const N = classBit('n');
      if ((have | want) === have && !(nHidden && want & N)) return 'done';
      const merged = have | want | (nHidden ? N : 0);
      const r = await sendRaw(conn, ['CONFIG', 'SET', 'notify-keyspace-events', notifySetting(merged)], timeout);
      if (r instanceof Error) return this.refused(key, where, want, r);
      this.stats.notifyConfigured++;
      return 'done';
    } catch {
      return 'retry';
    } finally {
      own?.disconnect();
    }
  }

  /** A CONFIG reply error: 'retry' for a node that is busy or loading, else logged once and 'refused'. */
  private refused(key: string, where: string, want: number, e: Error): 'retry' | 'refused' {
    if (/^(LOADING|BUSY|TRYAGAIN|MASTERDOWN)/.test(e.message)) return 'retry';
    if (!this.warned.has(key)) {
      this.warned.add(key);
      this.engine.log(
        `Redis engine: could not turn notify-keyspace-events on at ${where} (${e.message}); ` +
          `set it there to at least "${formatNotifyFlags(want)}" for keyspace events`,
      );
    }
    return 'refused';
  }

  /**
   * Widens every master's notify-keyspace-events now (after CONFIG SET notify-keyspace-events); resolves
   * once they have answered, or after the engine timeout, so events caused after the CONFIG SET reply are
   * delivered.
   */
  async widenAll(): Promise<void> {
    if (!this.configureNotify) return;
    this.warned.clear();
    const deadline = Date.now() + this.backend.options.timeout;
    await Promise.all([...this.subs].map(([key, sub]) => this.widenUntilDone(sub, key, deadline)));
  }

  /**
   * From now on, every master's notify-keyspace-events also has LISTENER_FLAGS (widened now and at every
   * reconnection), so the engine's listeners see key changes. Resolves once the masters have answered.
   * Without `engineNotify`, the operator sets them (docs/streams.md).
   */
  wantKeyEvents(): Promise<void> {
    if (this.extraWidened === null) {
      this.extraFlags = LISTENER_FLAGS;
      this.extraWidened = this.widenAll();
    }
    return this.extraWidened;
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

/**
 * `flags` as a notify-keyspace-events value for CONFIG SET. formatNotifyFlags copies Redis's CONFIG GET, which
 * leaves `n` out after `A` (so Redis 7 reads back "AKE" where "AKEn" was set): sent as is, the new-key
 * events would be turned off. Also why a setting read back may lack `n` although Redis has it.
 */
function notifySetting(flags: number): string {
  const s = formatNotifyFlags(flags);
  return flags & classBit('n') && !s.includes('n') ? `${s}n` : s;
}
