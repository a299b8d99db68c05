import { getKeyPositions } from '@kvws/shared/commands';
import { Acl } from '../auth/acl.js';
import { buildCommandTable, type CommandTable, type RuntimeCommand } from '../commands/index.js';
import type { ServerOptions } from '../config.js';
import { EventLog } from '../events/event-log.js';
import type { Aof } from '../persistence/aof.js';
import { Persistence } from '../persistence/persistence.js';
import { recordsFor } from '../persistence/propagate.js';
import { type ErrorReply, type Reply, SimpleString } from '../protocol/reply.js';
import { Blocking } from './blocking.js';
import { Client } from './client.js';
import { ConfigParams } from './config-params.js';
import { Db } from './db.js';
import { execute } from './dispatch.js';
import { ExpiryScheduler } from './expiry.js';
import { MemoryTracker } from './memory.js';
import {
  classBit,
  type DbEvent,
  type EventClass,
  type KeyEvent,
  type KeyspaceListener,
  NOTIFY_KEYEVENT,
  NOTIFY_KEYSPACE,
  parseNotifyFlags,
} from './notify.js';
import { PubSub } from './pubsub.js';
import { ScanCursors } from './scan.js';
import { SlowLog } from './slowlog.js';

/** Connected clients by id (CLIENT LIST / KILL / INFO clients). */
export class ClientRegistry {
  readonly byId = new Map<number, Client>();
  private last = 0;
  /** Total connections ever accepted (INFO total_connections_received). */
  totalConnections = 0;

  nextId(): number {
    return ++this.last;
  }
  add(c: Client): void {
    this.byId.set(c.id, c);
    this.totalConnections++;
  }
  get size(): number {
    return this.byId.size;
  }
  /** Set by the engine: cleans up a client that disconnected. */
  onRemove: (c: Client) => void = () => {};
  remove(c: Client): void {
    if (!this.byId.delete(c.id)) return;
    c.closed = true;
    this.onRemove(c);
  }
}

/**
 * A histogram with fixed upper bounds, as Prometheus exposes one: a count per bucket (not cumulative; the
 * last one is +Inf) and the sum of what was observed. `observe` allocates nothing. INFO latencystats and
 * the `/metrics` histograms (net/metrics.ts) both read these.
 */
export class Histogram {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; counts[bounds.length]: those above the last bound. */
  readonly counts: Float64Array;
  sum = 0;

  /** `bounds`: increasing upper bounds, in the unit observations come in. */
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
  }

  /** Number of observations. */
  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  /**
   * The estimated `q`-quantile (0 ≤ q ≤ 1), interpolated linearly inside its bucket as Prometheus's
   * `histogram_quantile` does: exact only to the bucket. The last finite bound when it falls above it; 0
   * when nothing was observed.
   */
  quantile(q: number): number {
    const total = this.count;
    if (total === 0) return 0;
    const rank = q * total;
    const b = this.bounds;
    let below = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i];
      if (c > 0 && below + c >= rank) {
        if (i === b.length) return b[b.length - 1];
        const lower = i === 0 ? 0 : b[i - 1];
        return lower + ((b[i] - lower) * (rank - below)) / c;
      }
      below += c;
    }
    return b[b.length - 1];
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
  }
}

/**
 * Upper bounds (µs) of every command's latency histogram: 1 µs to 10 s, 1-2.5-5 per decade. A command's
 * latency runs from the dispatcher receiving it (`execute`; for a command queued in MULTI, from EXEC running
 * it) to its reply (for a blocking or forwarded command, a Promise: to its settling).
 */
export const COMMAND_LATENCY_BOUNDS_US: readonly number[] = [
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7,
];

/** Upper bounds (ms) of the histogram of active expiry's lateness: 1 ms to 10 s. */
export const EXPIRY_LATENESS_BOUNDS_MS: readonly number[] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1e3, 2.5e3, 5e3, 1e4];

/** A command's counters (INFO commandstats and latencystats, `/metrics`): one object per table entry. */
export interface CommandStats {
  /** Times its handler ran (Redis's `calls`). */
  calls: number;
  /** Calls that answered an error (Redis's `failed_calls`). */
  failed: number;
  /** Times it was refused before running: NOAUTH, NOPERM, OOM, MISCONF, wrong context (Redis's `rejected_calls`). */
  rejected: number;
  /** Latency of finished calls, µs (COMMAND_LATENCY_BOUNDS_US); made at its first call. */
  latency: Histogram | null;
}

export interface EngineStats {
  startedAt: number;
  commands: number;
  expiredKeys: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  rejectedCalls: number;
  errorReplies: number;
  /** PUBLISH calls. */
  pubsubMessages: number;
  /** Events of the stream (keyspace notifications, PUBLISH) sent out by `publishEvent`… */
  eventsPublished: number;
  /** …and the deliveries to subscribers they made (one event, many subscribers). */
  eventsDelivered: number;
  /** How late active expiry deleted keys after their deadline, ms (EXPIRY_LATENESS_BOUNDS_MS). */
  expiryLateness: Histogram;
}

/**
 * The embedded engine: databases, the command table, and the one key-change path (`notify`).
 * Every front door calls `execute(client, argv)`; nothing else runs commands.
 */
export class Engine {
  readonly dbs: Db[];
  readonly clients = new ClientRegistry();
  readonly pubsub = new PubSub();
  readonly blocking = new Blocking();
  readonly expiry: ExpiryScheduler;
  /** Memory accounting, access tracking (LRU/LFU) and eviction (engine/memory.ts, engine/eviction.ts). */
  readonly memory: MemoryTracker;
  readonly scans: ScanCursors;
  readonly table: CommandTable;
  readonly params: ConfigParams;
  /** Users, authentication and the ACL check (auth/acl.ts). */
  readonly acl: Acl;
  readonly listeners: KeyspaceListener[] = [];
  /** The event stream: offsets, epoch and the bounded log behind resumes (events/event-log.ts). */
  readonly events: EventLog;
  /** WATCHed keys: "db\0key" → clients watching it. */
  readonly watchers = new Map<string, Set<Client>>();
  /** Clients in MONITOR mode, in the order they started (Redis's server.monitors). */
  readonly monitors = new Set<Client>();
  /** SLOWLOG: commands that ran at least `slowlog-log-slower-than` µs (fed by the dispatcher's runCommand). */
  readonly slowlog = new SlowLog();
  notifyFlags: number;
  /** Key changes since start (Redis's server.dirty): every notify and notifyDb. The HTTP API's sync token. */
  dirty = 0;
  /**
   * True while the dataset is being loaded from disk: the clock stands still (`now()` is 0), so nothing
   * expires and no deadline counts as past until loading is over, as Redis does while loading.
   */
  loading = false;
  /** The append-only file when it is on (persistence/aof.ts): the dispatcher feeds it every write. */
  aof: Aof | null = null;
  /**
   * Set while a snapshot is encoding values it froze at its cut (persistence/snapshot-job.ts): called
   * before a write command (or a served blocked command) runs, with its keys from the command table, so a
   * frozen value is copied before it is changed in place. null otherwise (the dispatcher's fast path).
   */
  writeGuard: ((db: Db, keys: string[]) => void) | null = null;
  /**
   * Set when the data lives in Redis (backends/redis/gateway.ts): the table's handlers forward to it, and
   * the dispatcher asks it whether a command may be queued in a transaction.
   */
  gateway: {
    queueCheck(client: Client, cmd: RuntimeCommand, argv: string[]): ErrorReply | null;
    /**
     * Makes the backend report key changes to `listeners` from now on (the WebSocket's stream tails need
     * them): the Redis engine widens its masters' notify-keyspace-events. Settles once it has.
     */
    wantKeyEvents(): Promise<void>;
  } | null = null;
  /** The AOF and dumps: loading at start, SAVE/BGSAVE, INFO persistence, durable shutdown. */
  readonly persistence: Persistence;
  readonly stats: EngineStats = {
    startedAt: Date.now(),
    commands: 0,
    expiredKeys: 0,
    keyspaceHits: 0,
    keyspaceMisses: 0,
    rejectedCalls: 0,
    errorReplies: 0,
    pubsubMessages: 0,
    eventsPublished: 0,
    eventsDelivered: 0,
    expiryLateness: new Histogram(EXPIRY_LATENESS_BOUNDS_MS),
  };
  /** Extra `INFO stats` fields from the front doors (rejected connections, buffer-limit disconnections…). */
  readonly infoStats: (() => [string, number][])[] = [];
  /** One-line notices for the server log (set by the server; silent by default). */
  log: (line: string) => void = () => {};
  /** Unique id of this run (INFO run_id). */
  readonly runId: string;

  constructor(readonly options: ServerOptions) {
    this.dbs = Array.from({ length: options.databases }, (_, i) => new Db(this, i));
    this.expiry = new ExpiryScheduler(this, options.databases);
    this.memory = new MemoryTracker(this);
    this.scans = new ScanCursors(options.scanCursorCache);
    this.events = new EventLog(options.eventLogMaxBytes, options.eventLogMaxAge * 1000);
    this.table = buildCommandTable();
    this.acl = new Acl(this);
    const flags = parseNotifyFlags(options.notifyKeyspaceEvents);
    if (flags < 0) throw new Error(`invalid notify-keyspace-events ${JSON.stringify(options.notifyKeyspaceEvents)}`);
    this.notifyFlags = flags;
    this.persistence = new Persistence(this, options, (line) => this.log(line));
    this.params = new ConfigParams(this);
    this.runId = Array.from({ length: 40 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
    this.clients.onRemove = (c) => this.cleanupClient(c);
    this.blocking.beforeServe = (db, argv) => {
      const cmd = this.table.get(argv[0]) ?? this.table.get(argv[0].toLowerCase());
      if (this.writeGuard !== null && cmd) this.writeGuard(db, commandKeys(cmd, argv));
    };
    this.blocking.onServed = (client, db, argv, reply) => {
      // A blocked command served later (BLPOP woken by an LPUSH) changed the dataset now: record it.
      const cmd = this.table.get(argv[0]) ?? this.table.get(argv[0].toLowerCase());
      if (this.aof !== null && cmd) this.aof.feed(db.index, recordsFor(cmd.root, argv, reply, db), client);
    };
  }

  /** Runs one command for `client`. Blocking commands return a Promise; everything else replies at once. */
  execute(client: Client, argv: string[]): Reply | Promise<Reply> {
    return execute(this, client, argv);
  }

  /** Current time in Unix ms. One place so tests and persistence can reason about time. */
  now(): number {
    return this.loading ? 0 : Date.now();
  }

  /** Creates an internal client (no connection), e.g. for loading or server-side tasks. */
  internalClient(): Client {
    return new Client(this, 'internal');
  }

  /**
   * THE key-change path. Every mutation of a key — by a command, lazy expiry, active expiry, eviction —
   * calls this right after the change, with Redis's event name and class. It invalidates WATCH, wakes
   * blocked clients, publishes keyspace notifications per `notify-keyspace-events`, and feeds every
   * registered listener (the append-only file and event log in later issues).
   */
  notify(db: Db, key: string, event: string, cls: EventClass): void {
    this.dirty++;
    this.memory.onKeyChange(db, key);
    if (this.watchers.size !== 0) this.touchWatched(db.index, key);
    this.blocking.signal(db, key);
    const flags = this.notifyFlags;
    if (flags !== 0 && (flags & classBit(cls)) !== 0 && (this.events.enabled || !this.pubsub.idle) && !this.loading) {
      // Logged for resumes even with nobody subscribed; delivered only to subscribers who may read the key
      // (kvws: notifications do not leak key names).
      if (flags & NOTIFY_KEYSPACE) this.publishEvent(`__keyspace@${db.index}__:${key}`, event, key);
      if (flags & NOTIFY_KEYEVENT) this.publishEvent(`__keyevent@${db.index}__:${event}`, key, key);
    }
    // Expiry and eviction are not commands: the AOF gets a DEL for them here (Redis's propagateDeletion).
    if ((cls === 'x' || cls === 'e') && this.aof !== null) this.aof.feed(db.index, [['DEL', key]]);
    if (this.listeners.length !== 0) {
      const e: KeyEvent = { db: db.index, key, event, cls };
      for (const l of this.listeners) l.onKeyEvent?.(e);
    }
  }

  /**
   * One event of the stream (a keyspace notification, with its key, or a PUBLISH): logged with an offset
   * for resumes (events/event-log.ts), then delivered. Returns the number of deliveries.
   */
  publishEvent(channel: string, message: string, key: string | null): number {
    const offset = this.events.append(channel, message, key);
    const n = this.pubsub.publish(channel, message, key, offset);
    this.stats.eventsPublished++;
    this.stats.eventsDelivered += n;
    return n;
  }

  /**
   * Whole-database changes (FLUSHDB, FLUSHALL, SWAPDB): WATCH invalidation, blocked clients offered their
   * keys again (a blocked XREADGROUP whose stream is gone answers an error), and listeners.
   */
  notifyDb(e: DbEvent, touchedKeys: Iterable<[number, string]>): void {
    this.dirty++;
    this.memory.onDbEvent(e);
    for (const [db, key] of touchedKeys) this.touchWatched(db, key);
    if (this.blocking.count !== 0) {
      this.blocking.signalDb(e.db);
      if (e.other !== undefined) this.blocking.signalDb(e.other);
    }
    for (const l of this.listeners) l.onDbEvent?.(e);
  }

  /**
   * A change Redis makes without a keyspace event or a signal to WATCH and blocked clients (XACK, the
   * pending entries and counters of a stream's consumer groups): counted in `dirty` (so the AOF records the
   * command), accounted in memory and shown to listeners (a snapshot in progress), as a KeyEvent with an
   * empty event name.
   */
  keyChanged(db: Db, key: string): void {
    this.dirty++;
    this.memory.onKeyChange(db, key);
    if (this.listeners.length !== 0) {
      const e: KeyEvent = { db: db.index, key, event: '', cls: 't' };
      for (const l of this.listeners) l.onKeyEvent?.(e);
    }
  }

  /** Deletes an expired key and notifies `expired` (lazy and active expiry both end here). */
  expireKey(db: Db, key: string): void {
    db.delete(key);
    this.stats.expiredKeys++;
    this.notify(db, key, 'expired', 'x');
  }

  /** After changes made outside a command (active expiry): serve clients blocked on keys that changed. */
  afterExternalChange(): void {
    if (this.blocking.hasReady) this.blocking.serveReady();
  }

  /**
   * Puts `client` in MONITOR mode: from now on it receives a `MonitorLine` through `client.push` for every
   * command that runs (see `feedMonitors`). Returns false, changing nothing, if it already was a monitor.
   * MONITOR uses it; another front door (e.g. a server-sent-events stream) may too.
   */
  addMonitor(client: Client): boolean {
    if (client.monitor) return false;
    client.monitor = true;
    this.monitors.add(client);
    return true;
  }

  /** Takes `client` out of MONITOR mode (RESET, disconnection). Returns whether it was a monitor. */
  removeMonitor(client: Client): boolean {
    if (!client.monitor) return false;
    client.monitor = false;
    this.monitors.delete(client);
    return true;
  }

  /**
   * Redis's replicationFeedMonitors: sends every monitor the line
   * `<unix seconds>.<microseconds> [<db> <addr>] "arg" "arg" …` for a command `client` has just run, with
   * each argument quoted as Redis's sdscatrepr does. `argv` is what the monitors may see (secrets already
   * redacted by the dispatcher). The client's own line, when it is a monitor, follows its reply; a monitor
   * closing after its reply (QUIT) gets none.
   */
  feedMonitors(client: Client, argv: readonly string[]): void {
    if (this.monitors.size === 0) return;
    let text = `${monitorTimestamp()} [${client.db.index} ${client.addr}]`;
    for (const a of argv) text += ` ${reprString(a)}`;
    const line = new MonitorLine(text);
    for (const m of this.monitors) {
      // A client that is closing after this reply (QUIT) gets nothing more, as in Redis.
      if (m.closeAfterReply) continue;
      if (m === client) m.pushAfterReply(line);
      else m.push(line);
    }
  }

  /** Marks every client watching db/key as dirty, so its EXEC fails. */
  touchWatched(db: number, key: string): void {
    const set = this.watchers.get(`${db}\0${key}`);
    if (set) for (const c of set) c.dirtyCas = true;
  }

  /** WATCH bookkeeping (used by the transaction commands). */
  watch(client: Client, db: Db, key: string): void {
    const slot = `${db.index}\0${key}`;
    if (client.watched.has(slot)) return;
    const expiresAt = db.dict.has(key) ? db.expires.get(key) : undefined;
    client.watched.set(slot, { db: db.index, key, expiresAt });
    let set = this.watchers.get(slot);
    if (!set) {
      set = new Set();
      this.watchers.set(slot, set);
    }
    set.add(client);
  }

  unwatchAll(client: Client): void {
    for (const slot of client.watched.keys()) {
      const set = this.watchers.get(slot);
      if (set) {
        set.delete(client);
        if (set.size === 0) this.watchers.delete(slot);
      }
    }
    // V8 reallocates a Map's table on clear() even when it is empty, and every client removal comes here
    // (for the HTTP API, every request).
    if (client.watched.size !== 0) client.watched.clear();
    client.dirtyCas = false;
  }

  private cleanupClient(c: Client): void {
    this.acl.forget(c);
    if (c.blocked) this.blocking.unblock(c);
    this.unwatchAll(c);
    this.pubsub.removeClient(c);
    this.removeMonitor(c);
    c.multi = null;
  }

  /**
   * CONFIG RESETSTAT: zeroes the counters INFO stats, commandstats and latencystats show (and `/metrics`
   * with them: Prometheus sees a counter reset).
   */
  resetStats(): void {
    const s = this.stats;
    s.commands = 0;
    s.expiredKeys = 0;
    s.keyspaceHits = 0;
    s.keyspaceMisses = 0;
    s.rejectedCalls = 0;
    s.errorReplies = 0;
    s.pubsubMessages = 0;
    s.eventsPublished = 0;
    s.eventsDelivered = 0;
    s.expiryLateness.reset();
    this.memory.resetStats();
    const a = this.acl.stats;
    a.authFailures = 0;
    a.deniedCommands = 0;
    a.deniedKeys = 0;
    a.deniedChannels = 0;
    const zero = (c: RuntimeCommand) => {
      c.stats.calls = 0;
      c.stats.failed = 0;
      c.stats.rejected = 0;
      c.stats.latency?.reset();
    };
    for (const cmd of new Set(this.table.values())) {
      zero(cmd);
      for (const sub of cmd.subcommands?.values() ?? []) zero(sub);
    }
  }

  /** Stops timers; the front doors close their own sockets. */
  shutdown(): void {
    this.expiry.stop();
    this.memory.stop();
  }
}

/** The key names a command's arguments name (the table's key specs). */
export function commandKeys(cmd: RuntimeCommand, argv: string[]): string[] {
  return getKeyPositions(cmd.spec.keys, argv).map((r) => argv[r.index]);
}

/**
 * One MONITOR line (without RESP's `+` and CRLF): a status reply, so the RESP port writes it as Redis does
 * (`+1700000000.123456 [0 127.0.0.1:60866] "set" "k" "v"`, in RESP2 and RESP3 alike). The text is
 * printable ASCII. Other front doors recognise it by class (the WebSocket's `{"push":"monitor"}` frame).
 */
export class MonitorLine extends SimpleString {}

/** Unix ms at performance.now() = 0: high-resolution wall-clock time is this plus performance.now(). */
let clockOffset = performance.timeOrigin;

/** Wall-clock time as `<seconds>.<6-digit microseconds>` (gettimeofday's precision, as Redis prints it). */
function monitorTimestamp(): string {
  let ms = clockOffset + performance.now();
  const wall = Date.now();
  if (Math.abs(ms - wall) > 5) {
    // The system clock was set: follow it (to within a millisecond).
    clockOffset = wall + 0.5 - performance.now();
    ms = wall + 0.5;
  }
  const us = Math.floor(ms * 1000);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}

const REPR_ESCAPES: Record<number, string> = {
  92: '\\\\',
  34: '\\"',
  10: '\\n',
  13: '\\r',
  9: '\\t',
  7: '\\a',
  8: '\\b',
};

/**
 * Redis's sdscatrepr for a binary string: in double quotes; backslash and double quote escaped with a
 * backslash; \n \r \t \a \b for those controls; any other byte outside 0x20–0x7e as \xNN (lower-case hex).
 */
export function reprString(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch >= 0x20 && ch <= 0x7e && ch !== 0x22 && ch !== 0x5c) continue;
    out += s.slice(from, i) + (REPR_ESCAPES[ch] ?? `\\x${ch.toString(16).padStart(2, '0')}`);
    from = i + 1;
  }
  return `${out + s.slice(from)}"`;
}
