import { blockOptionAt } from '@kvws/shared/commands';
import { Cluster } from 'ioredis';
import { toInt } from '../../commands/args.js';
import type { RuntimeCommand } from '../../commands/index.js';
import { parseScanCursor } from '../../commands/scan-args.js';
import type { Handler } from '../../commands/types.js';
import type { Client } from '../../engine/client.js';
import { commandKeys, type Engine } from '../../engine/engine.js';
import { Err, ErrorReply, NULL_ARRAY, OK, pipelined, type Reply, VerbatimReply } from '../../protocol/reply.js';
import { RedisEventFeed } from './event-feed.js';
import { type Dedicated, EngineUnavailable, type MasterNode, type RedisBackend, sendRaw } from './redis-backend.js';
import { execReply, type RawReply, toReply } from './reply-shapes.js';

const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";
/** Redirections and transient cluster states after which a transaction did not run and may be sent again. */
const TX_RETRYABLE = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|MASTERDOWN|READONLY)\b/;
/** SCAN cursors: the low bits name the master (in `masters()` order), the rest is that master's cursor. */
const NODE_BITS = 1024n;

/**
 * How the gateway runs each command of the table on the Redis engine:
 *  - local: kvws answers itself (connection state, auth and ACLs, pub/sub subscriptions fed by the event
 *    feed, COMMAND, CONFIG of kvws's own options, MONITOR and SLOWLOG of this gateway);
 *  - forward: sent to Redis by its keys' slot (every keyed command);
 *  - blocking: on a dedicated connection;
 *  - special: its own handler below (fan-out to every master, transactions, PUBLISH…).
 * Installing fails if a command of the table has no route, so a new command must be given one.
 */
const LOCAL = new Set([
  'AUTH',
  'HELLO',
  'QUIT',
  'RESET',
  'CLIENT',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'PSUBSCRIBE',
  'PUNSUBSCRIBE',
  'PUBSUB',
  'MULTI',
  'MONITOR',
  'COMMAND',
  'ACL',
  'PING',
  'ECHO',
  'TIME',
  // kvws's own slow log: the commands this gateway ran and how long each took through it (Redis's is on
  // the Redis servers: SLOWLOG there).
  'SLOWLOG',
  'object|help',
  'xinfo|help',
  'xgroup|help',
]);
/** Local commands that may be queued in a transaction (Redis runs them inside EXEC). */
const QUEUEABLE_LOCAL = new Set(['PING', 'ECHO', 'TIME']);
/** MONITOR inside EXEC: refused there as Redis refuses it, by EXEC itself (it is never sent to Redis). */
const MONITOR_IN_EXEC = "ERR MONITOR isn't allowed for DENY BLOCKING client";
/** Command flags that keep a command off MONITOR (the dispatcher's rule). */
const HIDDEN_FROM_MONITORS = ['admin', 'skip_monitor'] as const;

interface WatchSession {
  d: Dedicated;
  db: number;
  /** Slot of the watched keys (cluster). */
  slot: number;
  /** The connection broke: the watch is lost, so EXEC must fail (null reply). */
  broken: boolean;
}

/**
 * The gateway in front of Redis: installs the Redis engine's handlers into the engine's command table,
 * so every front door keeps its one dispatch path (`engine.execute`: lookup, arity, NOAUTH, ACL, MULTI
 * queueing) and only the last step, running the command, changes. Handlers return Promises of typed
 * replies, shaped as the embedded engine's (reply-shapes.ts).
 */
export class RedisGateway {
  readonly feed: RedisEventFeed;
  private readonly sessions = new Map<Client, WatchSession>();
  private blockedNow = 0;

  constructor(
    readonly engine: Engine,
    readonly backend: RedisBackend,
    configureNotify: boolean,
  ) {
    this.feed = new RedisEventFeed(engine, backend, configureNotify);
  }

  /** Replaces the handlers of the engine's table; throws for a command without a route. */
  install(): void {
    const engine = this.engine;
    const seen = new Set<RuntimeCommand>();
    for (const entry of engine.table.values()) {
      if (seen.has(entry)) continue;
      seen.add(entry);
      if (entry.subcommands) for (const sub of entry.subcommands.values()) this.route(sub);
      if (!entry.subcommands || entry.bareHandler) this.route(entry);
    }
    const onRemove = engine.clients.onRemove;
    engine.clients.onRemove = (c) => {
      onRemove(c);
      this.endSession(c, false);
    };
    engine.gateway = this;
  }

  private route(cmd: RuntimeCommand): void {
    const local = cmd.handler;
    const special = this.special(cmd, local);
    if (special) cmd.handler = special;
    else if (LOCAL.has(cmd.root) || LOCAL.has(cmd.fullName)) return;
    else if (cmd.spec.flags.includes('blocking')) cmd.handler = (client, argv) => this.blocking(client, cmd, argv);
    else if (cmd.spec.keys.length > 0) cmd.handler = (client, argv) => this.forward(client, cmd, argv);
    else throw new Error(`command ${cmd.fullName} has no route on the Redis engine (backends/redis/gateway.ts)`);
  }

  private special(cmd: RuntimeCommand, local: Handler): Handler | null {
    switch (cmd.fullName) {
      case 'select':
        return (client, argv) => {
          if (this.backend.isCluster && argv[1] !== '0')
            return new ErrorReply('ERR SELECT is not allowed in cluster mode');
          return local(client, argv);
        };
      case 'watch':
        return (client, argv) => this.watch(client, cmd, argv);
      case 'unwatch':
        return (client) => {
          this.endSession(client, true);
          return OK;
        };
      case 'discard':
        return (client, argv) => {
          const r = local(client, argv);
          this.endSession(client, true);
          return r;
        };
      case 'exec':
        return (client) => this.exec(client);
      case 'keys':
        return (client, argv) => this.keys(client, argv);
      case 'scan':
        return (client, argv) => this.scan(client, argv);
      case 'randomkey':
        return (client) => this.randomKey(client);
      case 'dbsize':
        return (client) => this.dbsize(client);
      case 'flushdb':
      case 'flushall':
      case 'save':
      case 'bgsave':
      case 'bgrewriteaof':
      case 'lastsave':
        return (client, argv) => this.everyMaster(client, argv, cmd.write);
      case 'swapdb':
        return (client, argv) =>
          this.backend.isCluster
            ? new ErrorReply('ERR SWAPDB is not allowed in cluster mode')
            : this.forward(client, cmd, argv);
      case 'wait':
        return (client, argv) => this.wait(client, argv);
      case 'publish':
        return (client, argv) => this.send(client, argv, 0);
      case 'xread':
      case 'xreadgroup':
        // Only a read that may block needs a connection of its own.
        return (client, argv) =>
          blockOptionAt(argv) >= 0 ? this.blocking(client, cmd, argv) : this.forward(client, cmd, argv);
      case 'info':
        return (client, argv) => this.info(client, argv, local);
      case 'config|set':
        return (client, argv) => {
          const r = local(client, argv);
          if (!(r instanceof ErrorReply) && argv.some((a) => a.toLowerCase() === 'notify-keyspace-events')) {
            return this.feed.widenAll().then(() => r);
          }
          return r;
        };
      default:
        return cmd.root === 'CONFIG' ? local : null;
    }
  }

  /**
   * Checked when a command is queued inside MULTI: commands kvws answers itself cannot run inside Redis's
   * transaction (SELECT would switch a shared connection, CLIENT and CONFIG would reach Redis's own), fan-out
   * commands cannot be filtered there (KEYS, SCAN), and in a cluster every key must be in one slot.
   */
  queueCheck(client: Client, cmd: RuntimeCommand, argv: string[]): ErrorReply | null {
    if (cmd.handler === undefined) return null;
    const forwarded =
      QUEUEABLE_LOCAL.has(cmd.root) ||
      cmd.root === 'MONITOR' ||
      cmd.root === 'PUBLISH' ||
      (!LOCAL.has(cmd.root) && cmd.spec.keys.length > 0 && cmd.root !== 'WATCH');
    if (!forwarded) {
      return new ErrorReply(`ERR ${cmd.fullName.toUpperCase()} cannot be queued in a transaction on the Redis engine`);
    }
    if (!this.backend.isCluster) return null;
    const multi = client.multi;
    const keys = commandKeys(cmd, argv);
    if (keys.length === 0) return null;
    const slot = this.slotOfKeys(keys);
    if (slot < 0) return new ErrorReply(CROSSSLOT);
    const first = multi ? this.firstSlot(multi.queue) : -1;
    if (first >= 0 && first !== slot) return new ErrorReply(CROSSSLOT);
    const s = this.sessions.get(client);
    if (s && s.slot !== slot && this.backend.masterOfSlot(s.slot) !== this.backend.masterOfSlot(slot)) {
      return new ErrorReply(CROSSSLOT);
    }
    return null;
  }

  /** The slot all `keys` hash to, or -1 when they differ. */
  private slotOfKeys(keys: string[]): number {
    const b = this.backend;
    const slot = b.slotOf(keys[0]);
    for (let i = 1; i < keys.length; i++) if (b.slotOf(keys[i]) !== slot) return -1;
    return slot;
  }

  /** Slot of the first keyed command of a queue (-1: none has keys). */
  private firstSlot(queue: string[][]): number {
    for (const argv of queue) {
      const cmd = this.lookup(argv);
      if (!cmd) continue;
      const keys = commandKeys(cmd, argv);
      if (keys.length > 0) return this.backend.slotOf(keys[0]);
    }
    return -1;
  }

  private lookup(argv: string[]): RuntimeCommand | null {
    const t = this.engine.table;
    let cmd = t.get(argv[0]) ?? t.get(argv[0].toLowerCase());
    if (cmd?.subcommands && argv.length > 1) cmd = cmd.subcommands.get(argv[1].toLowerCase()) ?? cmd;
    return cmd ?? null;
  }

  // ---- forwarding ----------------------------------------------------------------------------------------

  /** A keyed command: CROSSSLOT checked here in a cluster (saves a round trip), then sent by slot. */
  private forward(client: Client, cmd: RuntimeCommand, argv: string[]): Reply | Promise<Reply> {
    if (this.backend.isCluster) {
      const keys = commandKeys(cmd, argv);
      if (keys.length > 1 && this.slotOfKeys(keys) < 0) return new ErrorReply(CROSSSLOT);
    }
    return this.send(client, argv, client.db.index, cmd.write);
  }

  /**
   * Sends `argv` to Redis for database `db`. A `write` command answered without an error counts as a key
   * change (`engine.dirty`: the HTTP API's upstash-sync-token only has to grow, as on the embedded engine).
   */
  private send(client: Client, argv: string[], db: number, write = false): Promise<Reply> {
    // Sent now, in order, on the connection that serves it: the front door may run the next commands.
    return pipelined(
      this.backend.request(db, argv).then((raw) => {
        if (write && !(raw instanceof Error)) this.engine.dirty++;
        return toReply(raw, argv, client.resp);
      }, unavailable),
    );
  }

  /**
   * A blocking command on a connection of its own (so it holds up no one else), to the master of its
   * keys' slot. CLIENT UNBLOCK and disconnection close that connection. If it breaks (failover), the
   * command is sent again on a new one until `engineTimeout` has passed since the break. The client counts
   * as blocked (INFO blocked_clients) from when the command is written to Redis.
   */
  private blocking(client: Client, cmd: RuntimeCommand, argv: string[]): Reply | Promise<Reply> {
    const keys = commandKeys(cmd, argv);
    const slot = keys.length > 0 ? this.slotOfKeys(keys) : 0;
    if (slot < 0) return new ErrorReply(CROSSSLOT);
    const db = client.db.index;
    return new Promise<Reply>((resolve) => {
      let done = false;
      let current: Dedicated | null = null;
      let brokeAt = 0;
      let counted = false;
      const count = () => {
        if (done || counted) return;
        counted = true;
        this.blockedNow++;
      };
      const finish = (reply: Reply, reusable: boolean) => {
        if (done) return;
        done = true;
        if (counted) this.blockedNow--;
        if (client.blocked?.keys === keys) client.blocked = null;
        if (current) this.backend.release(current, reusable);
        current = null;
        if (cmd.write && !(reply instanceof ErrorReply) && reply !== null && reply !== NULL_ARRAY) this.engine.dirty++;
        resolve(reply);
      };
      client.blocked = {
        db,
        keys,
        cancel: (error) =>
          finish(
            error ? new ErrorReply('UNBLOCKED client unblocked via CLIENT UNBLOCK') : toReply(null, argv, client.resp),
            false,
          ),
      };
      const attempt = () => {
        if (done) return;
        const d = this.backend.dedicated(db, slot);
        if (d === null) {
          finish(new ErrorReply(this.tooManyDedicated()), false);
          return;
        }
        current = d;
        const sent = sendRaw(d.conn, argv, 0);
        // A new connection writes its queued commands before it emits 'ready'.
        if (d.conn.status === 'ready') count();
        else d.conn.once('ready', count);
        sent.then(
          (raw) => {
            if (done) return;
            if (raw instanceof Error && /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|READONLY)\b/.test(raw.message)) {
              retry(false);
              return;
            }
            finish(toReply(raw, argv, client.resp), true);
          },
          () => retry(true),
        );
      };
      const retry = (broken: boolean) => {
        if (done) return;
        if (current) this.backend.release(current, !broken);
        current = null;
        const now = Date.now();
        if (brokeAt === 0) brokeAt = now;
        if (now - brokeAt > this.backend.options.timeout) {
          finish(
            new ErrorReply(
              `ERR engine unavailable: the connection of a blocking command broke and Redis did not come back within ${this.backend.options.timeout} ms`,
            ),
            false,
          );
          return;
        }
        void this.backend.refreshTopology();
        setTimeout(attempt, 200).unref();
      };
      attempt();
    });
  }

  private tooManyDedicated(): string {
    return `ERR too many blocking commands and WATCH sessions on the Redis engine at once (engine-max-dedicated is ${this.backend.options.maxDedicated})`;
  }

  // ---- transactions --------------------------------------------------------------------------------------

  /** WATCH on a connection dedicated to the session (kept until EXEC, DISCARD, UNWATCH or disconnection). */
  private watch(client: Client, cmd: RuntimeCommand, argv: string[]): Reply | Promise<Reply> {
    if (client.multi) return new ErrorReply('ERR WATCH inside MULTI is not allowed');
    const keys = commandKeys(cmd, argv);
    const slot = this.slotOfKeys(keys);
    if (slot < 0) return new ErrorReply(CROSSSLOT);
    const db = client.db.index;
    let s = this.sessions.get(client);
    if (s && this.backend.isCluster && this.backend.masterOfSlot(s.slot) !== this.backend.masterOfSlot(slot)) {
      return new ErrorReply(CROSSSLOT);
    }
    if (!s) {
      const d = this.backend.dedicated(db, slot);
      if (d === null) return new ErrorReply(this.tooManyDedicated());
      s = { d, db, slot, broken: false };
      const session = s;
      this.sessions.set(client, s);
      d.conn.once('close', () => {
        session.broken = true;
      });
    }
    const session = s;
    const out: Promise<RawReply>[] = [];
    if (session.db !== db) {
      out.push(sendRaw(session.d.conn, ['SELECT', String(db)], this.backend.options.timeout));
      session.db = db;
    }
    out.push(sendRaw(session.d.conn, argv, this.backend.options.timeout));
    return Promise.all(out).then(
      (rs) => toReply(rs[rs.length - 1], argv, client.resp),
      (e) => {
        session.broken = true;
        return unavailable(e);
      },
    );
  }

  /** Ends a WATCH session: the connection goes back to the pool (after UNWATCH) or is closed. */
  private endSession(client: Client, reusable: boolean): void {
    const s = this.sessions.get(client);
    if (!s) return;
    this.sessions.delete(client);
    const keep = reusable && !s.broken && s.d.conn.status === 'ready';
    if (keep) {
      sendRaw(s.d.conn, ['UNWATCH'], this.backend.options.timeout).catch(() => {});
      if (s.db !== (s.d.pool.startsWith('db:') ? Number(s.d.pool.slice(3)) : 0)) {
        sendRaw(s.d.conn, ['SELECT', s.d.pool.startsWith('db:') ? s.d.pool.slice(3) : '0'], 1000).catch(() => {});
      }
    }
    this.backend.release(s.d, keep);
  }

  /**
   * EXEC: MULTI, the queue and EXEC written back to back on one connection (the session's when it
   * WATCHes, else the shared one of the queue's master), so Redis runs them atomically. Without WATCH, a
   * transaction refused because its slot moved (MOVED/ASK, a failover) is sent again once the slots are
   * known; with WATCH it fails with a null reply (the watch could not be kept), as a changed key would.
   */
  private exec(client: Client): Reply | Promise<Reply> {
    const multi = client.multi;
    if (!multi) return new ErrorReply('ERR EXEC without MULTI');
    client.multi = null;
    const s = this.sessions.get(client);
    if (multi.error) {
      this.endSession(client, true);
      return new ErrorReply(Err.execAbort);
    }
    if (s?.broken) {
      this.endSession(client, false);
      return NULL_ARRAY;
    }
    // EXEC answers some queued commands itself: those the session's rights no longer allow (Redis 7 checks
    // again at EXEC, as commands/multi.ts does) and MONITOR. The others go to Redis, and to monitors now,
    // between MULTI and EXEC, as the embedded engine shows the commands its EXEC runs.
    const own: (Reply | undefined)[] = [];
    const queue: string[][] = [];
    let writes = false;
    for (const argv of multi.queue) {
      const cmd = this.lookup(argv);
      const answer = cmd ? this.answeredAtExec(client, cmd, argv) : undefined;
      own.push(answer);
      if (answer !== undefined) continue;
      queue.push(argv);
      if (!cmd) continue;
      if (cmd.write) writes = true;
      if (!HIDDEN_FROM_MONITORS.some((f) => cmd.spec.flags.includes(f))) this.engine.feedMonitors(client, argv);
    }
    const db = client.db.index;
    const deadline = Date.now() + this.backend.options.timeout;
    const run = (): Promise<Reply> => {
      const conn = s ? s.d.conn : this.txConnection(db, queue);
      if (conn === null) return Promise.resolve(new ErrorReply(CROSSSLOT));
      const t = Math.max(1, deadline - Date.now());
      const sent: Promise<RawReply>[] = [];
      if (s && s.db !== db) {
        sent.push(sendRaw(conn, ['SELECT', String(db)], t));
        s.db = db;
      }
      sent.push(sendRaw(conn, ['MULTI'], t));
      for (const argv of queue) sent.push(sendRaw(conn, argv, t));
      sent.push(sendRaw(conn, ['EXEC'], t));
      return Promise.all(sent).then(
        (rs) => {
          const execRaw = rs[rs.length - 1];
          const queued = rs.slice(rs.length - 1 - queue.length, rs.length - 1);
          const redirected = queued.find((r) => r instanceof Error && TX_RETRYABLE.test(r.message));
          if (redirected && !s && Date.now() < deadline) {
            return this.backend
              .refreshTopology()
              .then(() => sleep(100))
              .then(run);
          }
          if (s) this.endSession(client, true);
          if (execRaw instanceof Error) {
            // EXECABORT: Redis refused a queued command (a type or redirection error): say which.
            const first = queued.find((r) => r instanceof Error) as Error | undefined;
            return new ErrorReply(
              first && /^EXECABORT/.test(execRaw.message)
                ? `EXECABORT Transaction discarded because of: ${first.message}`
                : execRaw.message,
            );
          }
          if (writes && Array.isArray(execRaw)) this.engine.dirty++;
          const fromRedis = execReply(execRaw, queue, client.resp);
          if (!Array.isArray(fromRedis) || queue.length === own.length) return fromRedis;
          let next = 0;
          return own.map((r) => r ?? fromRedis[next++]);
        },
        (e) => {
          if (s) {
            this.endSession(client, false);
            return unavailable(e);
          }
          if (Date.now() < deadline)
            return this.backend
              .refreshTopology()
              .then(() => sleep(100))
              .then(run);
          return unavailable(e);
        },
      );
    };
    return run();
  }

  /** The reply EXEC gives a queued command without sending it to Redis, or undefined to send it. */
  private answeredAtExec(client: Client, cmd: RuntimeCommand, argv: string[]): Reply | undefined {
    const denied = this.engine.acl.deniedAtExec(client, cmd, argv);
    if (denied) return denied;
    if (cmd.root === 'MONITOR') return new ErrorReply(MONITOR_IN_EXEC);
    return undefined;
  }

  /** The shared connection a transaction without WATCH runs on: the master of its keys (cluster), or db's. */
  private txConnection(db: number, queue: string[][]) {
    const b = this.backend;
    if (!(b.main instanceof Cluster)) return b.masters(db)[0].conn;
    const slot = Math.max(0, this.firstSlot(queue));
    const key = b.masterOfSlot(slot);
    const node = key === null ? undefined : b.masters(0).find((m) => m.key === key);
    return node?.conn ?? b.masters(0)[0]?.conn ?? null;
  }

  // ---- fan-out -------------------------------------------------------------------------------------------

  /** Masters in a stable order (SCAN cursors name them by position). */
  private sortedMasters(db: number): MasterNode[] {
    return this.backend.masters(db).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private async onEveryMaster(db: number, argv: string[]): Promise<RawReply[]> {
    if (this.backend.isCluster) await this.backend.refreshTopology();
    const masters = this.sortedMasters(db);
    return Promise.all(masters.map((m) => this.backend.request(db, argv, m.conn)));
  }

  /** KEYS: every master's keys, then only those the session may read (kvws: no key-name leaks). */
  private keys(client: Client, argv: string[]): Promise<Reply> {
    return this.onEveryMaster(client.db.index, argv).then((rs) => {
      const visible = this.engine.acl.keyFilter(client);
      const out: Reply[] = [];
      for (const r of rs) {
        if (r instanceof Error) return new ErrorReply(r.message);
        if (!Array.isArray(r)) continue;
        for (const k of r) {
          const key = (k as Buffer).toString('latin1');
          if (visible === null || visible(key)) out.push(key);
        }
      }
      return out;
    }, unavailable);
  }

  /**
   * SCAN across the masters: the cursor (parsed as Redis parses it) has the master's position in its low
   * 10 bits and that master's cursor above them (a single server's cursor is passed as it is); keys the
   * session may not read are left out. A change of topology during a scan may repeat or miss keys (Redis
   * Cluster itself scans one node at a time).
   */
  private async scan(client: Client, argv: string[]): Promise<Reply> {
    let cursor: bigint;
    try {
      cursor = BigInt(parseScanCursor(argv[1]));
    } catch (e) {
      return new ErrorReply((e as Error).message);
    }
    const db = client.db.index;
    const single = !this.backend.isCluster;
    if (!single && cursor === 0n) await this.backend.refreshTopology();
    const masters = this.sortedMasters(db);
    // One server: its own cursor, as it is.
    let node = single ? 0 : Number(cursor % NODE_BITS);
    let own = single ? cursor : cursor / NODE_BITS;
    if (node >= masters.length) return ['0', []];
    const visible = this.engine.acl.keyFilter(client);
    const keys: Reply[] = [];
    try {
      const r = await this.backend.request(db, ['SCAN', String(own), ...argv.slice(2)], masters[node].conn);
      if (r instanceof Error) return new ErrorReply(r.message);
      const [next, batch] = r as [Buffer, Buffer[]];
      for (const k of batch) {
        const key = k.toString('latin1');
        if (visible === null || visible(key)) keys.push(key);
      }
      own = BigInt(next.toString('latin1'));
      if (single) return [String(own), keys];
      if (own === 0n) node++;
      const out = node >= masters.length ? 0n : own * NODE_BITS + BigInt(node);
      return [String(out), keys];
    } catch (e) {
      return unavailable(e);
    }
  }

  /** Every key the session may read in `db`, visited through SCAN on each master (DBSIZE/RANDOMKEY under an ACL). */
  private async visitVisible(client: Client, visit: (key: string) => void): Promise<void> {
    const db = client.db.index;
    const visible = this.engine.acl.keyFilter(client);
    for (const m of this.sortedMasters(db)) {
      let cursor = '0';
      do {
        const r = await this.backend.request(db, ['SCAN', cursor, 'COUNT', '1000'], m.conn);
        if (r instanceof Error) throw new EngineUnavailable(r.message);
        const [next, batch] = r as [Buffer, Buffer[]];
        for (const k of batch) {
          const key = k.toString('latin1');
          if (visible === null || visible(key)) visit(key);
        }
        cursor = next.toString('latin1');
      } while (cursor !== '0');
    }
  }

  /** DBSIZE: the sum over the masters; with a key-restricted ACL, the keys the session may read (O(n)). */
  private async dbsize(client: Client): Promise<Reply> {
    try {
      if (this.engine.acl.keyFilter(client) !== null) {
        let n = 0;
        await this.visitVisible(client, () => n++);
        return n;
      }
      const rs = await this.onEveryMaster(client.db.index, ['DBSIZE']);
      let n = 0;
      for (const r of rs) {
        if (r instanceof Error) return new ErrorReply(r.message);
        n += Number(r);
      }
      return n;
    } catch (e) {
      return unavailable(e);
    }
  }

  /** RANDOMKEY from a random master; under a key-restricted ACL 100 picks, then one pass over the keys. */
  private async randomKey(client: Client): Promise<Reply> {
    const db = client.db.index;
    const visible = this.engine.acl.keyFilter(client);
    try {
      const masters = this.sortedMasters(db);
      for (let tries = 0; tries < (visible === null ? 8 : 100); tries++) {
        const m = masters[Math.floor(Math.random() * masters.length)];
        const r = await this.backend.request(db, ['RANDOMKEY'], m.conn);
        if (r instanceof Error) return new ErrorReply(r.message);
        if (r === null) {
          if (masters.length === 1) return null;
          continue;
        }
        const key = (r as Buffer).toString('latin1');
        if (visible === null || visible(key)) return key;
      }
      if (visible === null) return null;
      const all: string[] = [];
      await this.visitVisible(client, (k) => all.push(k));
      return all.length === 0 ? null : all[Math.floor(Math.random() * all.length)];
    } catch (e) {
      return unavailable(e);
    }
  }

  /**
   * FLUSHDB, FLUSHALL, SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE on every master: the first error, else the first
   * reply. A `write` (FLUSHDB, FLUSHALL) that no master refused counts as a key change (`engine.dirty`).
   */
  private everyMaster(client: Client, argv: string[], write: boolean): Promise<Reply> {
    return this.onEveryMaster(client.db.index, argv).then((rs) => {
      const err = rs.find((r) => r instanceof Error);
      if (write && err === undefined) this.engine.dirty++;
      return toReply(err ?? rs[0] ?? null, argv, client.resp);
    }, unavailable);
  }

  /**
   * WAIT numreplicas timeout, over every master (Redis's tips: all_shards, agg_min): each master's
   * replication offset now covers this client's acknowledged writes (they were sent before), so the
   * answer is the smallest number of replicas of a master that have reached it. Replica offsets come
   * from INFO replication, polled every 50 ms without holding any shared connection, each poll preceded
   * by a request for fresh acknowledgements (askForAcks). CLIENT UNBLOCK and disconnection end it.
   */
  private async wait(client: Client, argv: string[]): Promise<Reply> {
    let wanted: number;
    let timeout: number;
    try {
      wanted = toInt(argv[1]);
      timeout = toInt(argv[2], 'ERR timeout is not an integer or out of range');
    } catch (e) {
      return new ErrorReply((e as Error).message);
    }
    if (timeout < 0) return new ErrorReply('ERR timeout is negative');
    const deadline = timeout === 0 ? Number.POSITIVE_INFINITY : Date.now() + timeout;
    let stop: Reply | null = null;
    const keys: string[] = [];
    client.blocked = {
      db: client.db.index,
      keys,
      cancel: (error) => {
        stop = error ? new ErrorReply('UNBLOCKED client unblocked via CLIENT UNBLOCK') : -1;
      },
    };
    this.blockedNow++;
    try {
      const masters = this.sortedMasters(0);
      const replication = async (m: MasterNode) => {
        const r = await this.backend.request(0, ['INFO', 'replication'], m.conn);
        if (!Buffer.isBuffer(r)) throw new EngineUnavailable(r instanceof Error ? r.message : 'bad INFO reply');
        return r.toString('latin1');
      };
      const targets = await Promise.all(
        masters.map(async (m) => Number(/master_repl_offset:(\d+)/.exec(await replication(m))?.[1] ?? 0)),
      );
      for (;;) {
        this.askForAcks(masters);
        const counts = await Promise.all(
          masters.map(async (m, i) => {
            let n = 0;
            for (const x of (await replication(m)).matchAll(/^slave\d+:.*?offset=(\d+)/gm))
              if (Number(x[1]) >= targets[i]) n++;
            return n;
          }),
        );
        const acked = counts.length === 0 ? 0 : Math.min(...counts);
        if (stop !== null) return stop === -1 ? acked : stop;
        if (acked >= wanted || Date.now() >= deadline || client.closed) return acked;
        await sleep(Math.min(50, deadline - Date.now()));
      }
    } catch (e) {
      return unavailable(e);
    } finally {
      this.blockedNow--;
      if (client.blocked?.keys === keys) client.blocked = null;
    }
  }

  /**
   * Makes each master ask its replicas for their offsets now (REPLCONF GETACK) instead of at their next
   * once-a-second report: a WAIT that cannot be satisfied, with a 1 ms timeout, on a connection of its own,
   * does that in Redis. Skipped when no dedicated connection is free.
   */
  private askForAcks(masters: MasterNode[]): void {
    for (const m of masters) {
      const d = this.backend.dedicatedToMaster(m.key);
      if (d === null) return;
      sendRaw(d.conn, ['WAIT', '1000000', '1'], this.backend.options.timeout).then(
        () => this.backend.release(d, true),
        () => this.backend.release(d, false),
      );
    }
  }

  // ---- INFO ----------------------------------------------------------------------------------------------

  /** kvws's INFO, with the keyspace section summed over the masters and an `engine` section. */
  private async info(client: Client, argv: string[], local: Handler): Promise<Reply> {
    const wanted = argv.slice(1).map((s) => s.toLowerCase());
    const all = wanted.length === 0 || wanted.some((w) => w === 'default' || w === 'all' || w === 'everything');
    const mine = await local(client, argv);
    let text = mine instanceof VerbatimReply ? mine.text : typeof mine === 'string' ? mine : '';
    // This gateway's clients waiting on Redis (blocking commands, WAIT) are its blocked clients.
    text = text.replace(/^blocked_clients:(\d+)/m, (_, n) => `blocked_clients:${Number(n) + this.blockedNow}`);
    if (all || wanted.includes('keyspace')) {
      try {
        const rs = await this.onEveryMaster(0, ['INFO', 'keyspace']);
        const sums = new Map<string, { keys: number; expires: number }>();
        for (const r of rs) {
          if (!Buffer.isBuffer(r)) continue;
          for (const m of r.toString('latin1').matchAll(/^(db\d+):keys=(\d+),expires=(\d+)/gm)) {
            const s = sums.get(m[1]) ?? { keys: 0, expires: 0 };
            s.keys += Number(m[2]);
            s.expires += Number(m[3]);
            sums.set(m[1], s);
          }
        }
        const lines = [...sums].map(([db, s]) => `${db}:keys=${s.keys},expires=${s.expires},avg_ttl=0\r\n`).join('');
        text = text.replace(/# Keyspace\r\n(?:db\d+:[^\r\n]*\r\n)*/, `# Keyspace\r\n${lines}`);
        if (!text.includes('# Keyspace') && wanted.includes('keyspace')) text = `# Keyspace\r\n${lines}`;
      } catch {
        // The engine is down: the local sections still answer.
      }
    }
    if (all || wanted.includes('engine')) {
      text += `${text === '' ? '' : '\r\n'}# Engine\r\n${this.engineInfo()
        .map(([k, v]) => `${k}:${v}\r\n`)
        .join('')}`;
    }
    return new VerbatimReply(text);
  }

  /** The `engine` section of INFO. */
  engineInfo(): [string, string | number][] {
    const b = this.backend;
    const f = this.feed.stats;
    return [
      ['engine', b.kind === 'redis' ? 'redis' : `redis-${b.kind}`],
      ['engine_masters', b.isCluster ? b.masters(0).length : 1],
      ['engine_status', b.main.status],
      ['engine_requests', b.stats.requests],
      ['engine_retries', b.stats.retries],
      ['engine_timeouts', b.stats.timeouts],
      ['engine_dedicated_in_use', b.dedicatedInUse],
      ['engine_dedicated_opened', b.stats.dedicatedOpened],
      ['engine_blocked_clients', this.blockedNow],
      ['engine_watch_sessions', this.sessions.size],
      ['engine_event_subscribers', this.feed.subscriberCount],
      ['engine_events_received', f.events],
      ['engine_events_filtered', f.dropped],
      ['engine_event_resubscriptions', f.resubscriptions],
      ['engine_notify_config_retries', f.notifyRetries],
    ];
  }

  /** See Engine.gateway: from now on Redis reports the key changes stream tails need (RedisEventFeed.wantKeyEvents). */
  wantKeyEvents(): Promise<void> {
    return this.feed.wantKeyEvents();
  }

  async start(): Promise<void> {
    await this.backend.ready();
    await this.feed.start(this.backend.options.timeout);
  }

  async close(): Promise<void> {
    this.feed.close();
    for (const c of [...this.sessions.keys()]) this.endSession(c, false);
    await this.backend.close();
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The reply for a command Redis could not answer. */
function unavailable(e: unknown): ErrorReply {
  const m = e instanceof Error ? e.message : String(e);
  return new ErrorReply(`ERR engine unavailable: ${m.replace(/[\r\n]+/g, ' ')}`);
}
