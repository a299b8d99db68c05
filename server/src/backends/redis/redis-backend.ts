import { readFileSync } from 'node:fs';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type ClusterOptions, Command, Redis, type RedisOptions, ReplyError } from 'ioredis';
import type { EngineTarget } from '../engine-target.js';
import type { RawReply } from './reply-shapes.js';

/** Options of the Redis engine (server options `engine*`). */
export interface RedisBackendOptions {
  username?: string;
  password?: string;
  tlsCa?: string;
  /** Longest wait for a command (ms), retries through a failover included. */
  timeout: number;
  /** Dedicated connections (blocking commands, WATCH) held at once. */
  maxDedicated: number;
}

/** The engine could not answer (down, failing over beyond the timeout): not a reply from Redis. */
export class EngineUnavailable extends Error {}

/** Redis errors after which the command did not run and may be sent again once the deployment settles. */
const RETRYABLE = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|NOREPLICAS)\b/;

/** A master the gateway can address on its own: fan-out commands (KEYS, SCAN, FLUSHALL…) and events. */
export interface MasterNode {
  /** "host:port" (cluster), or "main" for a single Redis or the Sentinel-managed master. */
  key: string;
  conn: Redis;
}

/** A connection held by one session (a blocking command, or WATCH … EXEC). */
export interface Dedicated {
  conn: Redis;
  /** Pool it returns to: "db:N" (single/sentinel) or "host:port" (cluster). */
  pool: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * The connections to a Redis deployment, with ioredis underneath: one shared, pipelined connection per
 * database (a single server or a Sentinel-managed master), or an ioredis `Cluster` that routes by slot and
 * follows MOVED/ASK, TRYAGAIN and CLUSTERDOWN itself; dedicated connections for sessions; and the list of
 * masters for commands that must reach every one of them.
 *
 * `request` never rejects for a reply from Redis (an error reply is returned as an Error in the raw
 * reply); it rejects with EngineUnavailable when Redis could not answer within `timeout`, retrying
 * meanwhile on connection loss and on the errors of a deployment that is failing over (`RETRYABLE`).
 * A command whose connection broke after it was written may be applied twice by such a retry (as
 * ioredis's own resend does); docs/scaling.md says so.
 */
export class RedisBackend {
  readonly kind: 'redis' | 'cluster' | 'sentinel';
  private readonly base: RedisOptions;
  /** db 0 (single/sentinel) or the cluster. */
  readonly main: Redis | Cluster;
  private readonly dbConns = new Map<number, Redis>();
  private readonly idle = new Map<string, Redis[]>();
  /** Dedicated connections handed out and not yet released. */
  private readonly inUse = new Set<Dedicated>();
  readonly stats = { requests: 0, retries: 0, timeouts: 0, dedicatedOpened: 0 };
  private closed = false;
  /** The last connection error of the shared connection (start-up messages). */
  private lastError: Error | null = null;

  constructor(
    readonly target: Extract<EngineTarget, { kind: 'redis' | 'cluster' | 'sentinel' }>,
    readonly options: RedisBackendOptions,
  ) {
    this.kind = target.kind;
    const tls = target.tls ? (options.tlsCa ? { ca: readFileSync(options.tlsCa) } : {}) : undefined;
    this.base = {
      username: options.username ?? target.username,
      password: options.password ?? target.password,
      tls,
      // Integers as decimal strings (int64 stays exact, and they differ from bulk strings, which are Buffers).
      stringNumbers: true,
      maxRetriesPerRequest: null,
      connectionName: 'kvws-gateway',
      // A master demoted by a failover answers READONLY: reconnect (Sentinel then names the new master) and resend.
      reconnectOnError: (err) => (/^(READONLY|MASTERDOWN)/.test(err.message) ? 2 : false),
      retryStrategy: (times) => Math.min(50 * times, 1000),
      // A connection we close waits this long for the server's side of the close, then is destroyed and its
      // pending commands fail (and are retried). Matters for a master that stopped answering without closing
      // (partitioned, paused): once a slot refresh drops it from the topology, the commands stuck on its
      // socket go to the new master after this instead of after ioredis's default 2 s.
      disconnectTimeout: 300,
    };
    if (target.kind === 'cluster') {
      const clusterOptions: ClusterOptions = {
        redisOptions: this.base,
        scaleReads: 'master',
        maxRedirections: 64,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        // How soon a failover or a resharding is seen without a MOVED (a paused master answers nothing, so
        // the commands sent to it wait for this refresh); per node tried, CLUSTER SLOTS may take this long.
        slotsRefreshInterval: 1000,
        slotsRefreshTimeout: 1000,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        enableReadyCheck: true,
      };
      const cluster = new Cluster(target.nodes, clusterOptions);
      // ioredis reads CLUSTER SLOTS on a copy of a node connection, which would inherit stringNumbers: the
      // slot numbers would come as strings, and its loop over a range compares them as strings, so a range
      // such as "5461".."10922" would be skipped and its slots left unmapped (each command there sent to a
      // random master and redirected, masterOfSlot null). The copy parses integers as numbers.
      cluster.on('+node', (node: Redis) => {
        const duplicate = node.duplicate.bind(node);
        node.duplicate = (override) => duplicate({ ...override, stringNumbers: false });
      });
      cluster.on('refresh', () => this.dropDedicatedOffMasters());
      this.main = cluster;
    } else {
      this.main = new Redis(this.connectionOptions(0));
    }
    // Errors are seen by the requests that hit them; ioredis reconnects by itself. The last one explains a
    // failed start (a refused connection, a certificate, a password).
    this.main.on('error', (e: Error) => {
      this.lastError = e;
    });
  }

  /** ioredis options for a connection to database `db` of the single server or the Sentinel-managed master. */
  connectionOptions(db: number): RedisOptions {
    const t = this.target;
    if (t.kind === 'sentinel') {
      return {
        ...this.base,
        db,
        sentinels: t.nodes,
        name: t.masterName,
        role: 'master',
        sentinelUsername: t.sentinelUsername,
        sentinelPassword: t.sentinelPassword,
        enableTLSForSentinelMode: t.tls,
        sentinelTLS: this.base.tls,
        // Watch the sentinels' +switch-master: a master that stops answering (partitioned) is left at once.
        failoverDetector: true,
        sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
        ...ONE_TRY,
      };
    }
    return { ...this.base, ...ONE_TRY, db, host: t.nodes[0].host, port: t.nodes[0].port };
  }

  /** Options for a connection to one cluster node. */
  nodeOptions(host: string, port: number): RedisOptions {
    return { ...this.base, host, port };
  }

  /** Waits until the deployment answers (start-up), or throws after `timeout`. */
  async ready(): Promise<void> {
    const deadline = Date.now() + this.options.timeout;
    for (;;) {
      try {
        const r = await this.request(0, ['PING']);
        if (r instanceof Error) throw r;
        if (this.main instanceof Cluster) await this.refreshTopology();
        return;
      } catch (e) {
        const last = this.lastError;
        // A refused password cannot fix itself: say so at once.
        if (last && /^(WRONGPASS|NOAUTH|NOPERM|ERR (invalid password|AUTH))/.test(last.message)) {
          throw new EngineUnavailable(`Redis refused kvws's login: ${last.message}`);
        }
        if (Date.now() > deadline) {
          const why = last && last.message !== (e as Error).message ? ` (last connection error: ${last.message})` : '';
          throw new EngineUnavailable(`the Redis engine did not answer: ${(e as Error).message}${why}`);
        }
        await sleep(200);
      }
    }
  }

  /** The shared connection for database `db` (the cluster for every command in cluster mode). */
  private conn(db: number): Redis | Cluster {
    if (db === 0 || this.main instanceof Cluster) return this.main;
    let c = this.dbConns.get(db);
    if (!c) {
      c = new Redis(this.connectionOptions(db));
      c.on('error', () => {});
      this.dbConns.set(db, c);
    }
    return c;
  }

  /**
   * Sends `argv` (binary strings) for database `db` and resolves with Redis's raw reply (an Error for an
   * error reply). Retries as described on the class until `timeout`.
   */
  request(db: number, argv: readonly string[], via?: Redis): Promise<RawReply> {
    this.stats.requests++;
    const deadline = Date.now() + this.options.timeout;
    return this.attempt(via ?? this.conn(db), argv, deadline, 0);
  }

  private attempt(conn: Redis | Cluster, argv: readonly string[], deadline: number, tries: number): Promise<RawReply> {
    if (conn.status !== 'ready') {
      // Not handed to ioredis while it reconnects: its offline queue would send the command after our
      // deadline, when the client has already been told it failed.
      if (this.closed) return Promise.reject(new EngineUnavailable('the gateway is shutting down'));
      const left = deadline - Date.now();
      if (left <= 0) {
        this.stats.timeouts++;
        const why = this.lastError ? ` (${this.lastError.message})` : '';
        return Promise.reject(
          new EngineUnavailable(`the Redis engine did not answer within ${this.options.timeout} ms${why}`),
        );
      }
      return sleep(Math.min(50, left)).then(() => this.attempt(conn, argv, deadline, tries));
    }
    if (!this.corked) this.cork();
    return sendRaw(conn, argv, deadline - Date.now()).then(
      (reply) => {
        if (reply instanceof Error && RETRYABLE.test(reply.message) && Date.now() < deadline) {
          return this.retry(conn, argv, deadline, tries);
        }
        return reply;
      },
      (err: Error) => {
        if (this.closed) throw new EngineUnavailable('the gateway is shutting down');
        if (Date.now() >= deadline) {
          this.stats.timeouts++;
          throw new EngineUnavailable(
            `the Redis engine did not answer within ${this.options.timeout} ms (${err.message})`,
          );
        }
        return this.retry(conn, argv, deadline, tries);
      },
    );
  }

  private async retry(
    conn: Redis | Cluster,
    argv: readonly string[],
    deadline: number,
    tries: number,
  ): Promise<RawReply> {
    this.stats.retries++;
    await sleep(Math.min(50 * 2 ** tries, 500, Math.max(0, deadline - Date.now())));
    if (conn instanceof Cluster) conn.refreshSlotsCache();
    return this.attempt(conn, argv, deadline, tries + 1);
  }

  /**
   * Batches writes: the shared connections' sockets are corked until the event loop's next check phase, so
   * the commands of many clients that arrived together leave in one write (as ioredis's auto-pipelining
   * would, without changing the order of anything sent on a connection).
   */
  private cork(): void {
    const streams: { cork(): void; uncork(): void }[] = [];
    const conns = this.main instanceof Cluster ? this.main.nodes('master') : [this.main, ...this.dbConns.values()];
    for (const c of conns) {
      const st = (c as Redis).stream;
      if (st && (c as Redis).status === 'ready') {
        st.cork();
        streams.push(st);
      }
    }
    this.corked = true;
    // After this pass of the event loop's I/O callbacks: every client whose request arrived in it is batched.
    setImmediate(() => {
      this.corked = false;
      for (const st of streams) st.uncork();
    });
  }
  private corked = false;

  /** The cluster's slot of `key` (hash tags honoured), or 0 outside cluster mode. */
  slotOf(key: string): number {
    return this.main instanceof Cluster ? calculateSlot(Buffer.from(key, 'latin1')) : 0;
  }

  get isCluster(): boolean {
    return this.main instanceof Cluster;
  }

  /** Asks a cluster for its slots now (after MOVED in a transaction, before fan-out). */
  refreshTopology(): Promise<void> {
    const c = this.main;
    if (!(c instanceof Cluster)) return Promise.resolve();
    return new Promise((resolve) => c.refreshSlotsCache(() => resolve()));
  }

  /**
   * The masters, each with a connection of its own for database `db`: every master of a cluster, or the
   * one server / the Sentinel-managed master.
   */
  masters(db: number): MasterNode[] {
    const c = this.main;
    if (c instanceof Cluster) {
      return c.nodes('master').map((n) => ({ key: `${n.options.host}:${n.options.port}`, conn: n }));
    }
    return [{ key: 'main', conn: this.conn(db) as Redis }];
  }

  /** "host:port" of the master serving `slot` in a cluster (null outside cluster mode or when unknown). */
  masterOfSlot(slot: number): string | null {
    const c = this.main;
    if (!(c instanceof Cluster)) return null;
    return c.slots[slot]?.[0] ?? null;
  }

  /**
   * A connection of its own for one session, to database `db` (single/sentinel) or to the master of
   * `slot` (cluster). Taken from the idle pool when one is there; null when `maxDedicated` are in use.
   * Dedicated connections do not reconnect: a broken one is dropped and the session told.
   */
  dedicated(db: number, slot: number): Dedicated | null {
    if (this.main instanceof Cluster) {
      const seed = this.target.nodes[0];
      return this.dedicatedIn(this.masterOfSlot(slot) ?? `${seed.host}:${seed.port}`);
    }
    return this.dedicatedIn(`db:${db}`);
  }

  /** A dedicated connection to one master (`MasterNode.key`; "main" is database 0 of the one master). */
  dedicatedToMaster(key: string): Dedicated | null {
    return this.dedicatedIn(key === 'main' ? 'db:0' : key);
  }

  /** A dedicated connection from pool "db:N" (single/sentinel) or "host:port" (a cluster node). */
  private dedicatedIn(pool: string): Dedicated | null {
    if (this.inUse.size >= this.options.maxDedicated) return null;
    let options: RedisOptions;
    if (pool.startsWith('db:')) options = this.connectionOptions(Number(pool.slice(3)));
    else {
      const i = pool.lastIndexOf(':');
      options = this.nodeOptions(pool.slice(0, i), Number(pool.slice(i + 1)));
    }
    const idle = this.idle.get(pool);
    while (idle && idle.length > 0) {
      const conn = idle.pop() as Redis;
      if (conn.status === 'ready') return this.handOut({ conn, pool });
      conn.disconnect();
    }
    this.stats.dedicatedOpened++;
    const conn = new Redis({
      ...options,
      // One attempt: a session's connection that broke has lost its state (WATCH, a blocked pop).
      retryStrategy: () => null,
      autoResendUnfulfilledCommands: false,
      reconnectOnError: () => false,
      failoverDetector: false,
    });
    conn.on('error', () => {});
    return this.handOut({ conn, pool });
  }

  private handOut(d: Dedicated): Dedicated {
    this.inUse.add(d);
    return d;
  }

  /** Dedicated connections handed out and not yet released. */
  get dedicatedInUse(): number {
    return this.inUse.size;
  }

  /**
   * After a slot refresh: closes the dedicated connections (in use and idle) to nodes that are no longer
   * masters. A master that answers demotes or redirects its blocked clients itself, but one that stopped
   * answering (partitioned, paused) would hold a blocking command or a WATCH until it came back: closed, the
   * blocking command is sent again to the new master and the WATCH fails as lost (EXEC answers null). The
   * close is graceful (`disconnectTimeout`), so a reply already on its way is still read.
   */
  private dropDedicatedOffMasters(): void {
    const masters = new Set(this.masters(0).map((m) => m.key));
    for (const d of this.inUse) if (!masters.has(d.pool)) d.conn.disconnect();
    for (const [pool, idle] of this.idle) {
      if (masters.has(pool)) continue;
      for (const c of idle) c.disconnect();
      this.idle.delete(pool);
    }
  }

  /** Gives a dedicated connection back: to the pool when `reusable` (its session state is clean), else closed. */
  release(d: Dedicated, reusable: boolean): void {
    if (!this.inUse.delete(d)) return;
    if (!reusable || this.closed || d.conn.status !== 'ready') {
      d.conn.disconnect();
      return;
    }
    let idle = this.idle.get(d.pool);
    if (!idle) {
      idle = [];
      this.idle.set(d.pool, idle);
    }
    if (idle.length >= IDLE_PER_POOL) d.conn.disconnect();
    else idle.push(d.conn);
  }

  /** Closes every connection. Pending requests fail with EngineUnavailable. */
  async close(): Promise<void> {
    this.closed = true;
    for (const idle of this.idle.values()) for (const c of idle) c.disconnect();
    this.idle.clear();
    for (const c of this.dbConns.values()) c.disconnect();
    this.main.disconnect();
  }
}

/**
 * For the connections to a single server or a Sentinel-managed master: a command in flight when the
 * connection breaks is failed at once instead of being kept by ioredis and sent again after the reconnect.
 * Our retry layer (`request`) sends it again while its deadline allows; once the client has been told it
 * failed, nothing sends it any more.
 */
const ONE_TRY: RedisOptions = { maxRetriesPerRequest: 0 };

/** Idle dedicated connections kept per pool for the next blocking command or WATCH. */
const IDLE_PER_POOL = 16;

/**
 * One command on `conn` with no reply decoding (Buffers, integers as strings). Resolves with the raw
 * reply, a Redis error reply as an Error; rejects on connection errors and after `timeoutMs`.
 */
export function sendRaw(conn: Redis | Cluster, argv: readonly string[], timeoutMs: number): Promise<RawReply> {
  const args = new Array<Buffer>(argv.length - 1);
  for (let i = 1; i < argv.length; i++) args[i - 1] = Buffer.from(argv[i], 'latin1');
  // Upper case: ioredis's reply transformers (HGETALL → object) are keyed by lower-case names.
  const cmd = new Command(argv[0].toUpperCase(), args, { replyEncoding: null });
  const p = (conn.sendCommand(cmd) as Promise<RawReply>).then(
    (r) => r,
    (e: Error) => {
      if (e instanceof ReplyError) return e;
      throw e;
    },
  );
  if (!(timeoutMs > 0)) return p;
  return withTimeout(p, timeoutMs);
}

/** Settles like `p`, or rejects after `ms`. One shared sweep instead of a timer per command. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry: Pending = { deadline: Date.now() + ms, reject };
    pending.add(entry);
    if (sweeper === null) startSweeper();
    p.then(
      (v) => {
        pending.delete(entry);
        resolve(v);
      },
      (e) => {
        pending.delete(entry);
        reject(e);
      },
    );
  });
}

interface Pending {
  deadline: number;
  reject: (e: Error) => void;
}
const pending = new Set<Pending>();
let sweeper: NodeJS.Timeout | null = null;

function startSweeper(): void {
  sweeper = setInterval(() => {
    const now = Date.now();
    for (const p of pending) {
      if (p.deadline <= now) {
        pending.delete(p);
        p.reject(new Error('timed out'));
      }
    }
    if (pending.size === 0 && sweeper !== null) {
      clearInterval(sweeper);
      sweeper = null;
    }
  }, 100);
  sweeper.unref();
}
