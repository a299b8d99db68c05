import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { Client, type FrontDoor } from '../engine/client.js';
import type { Engine } from '../engine/engine.js';
import { type Logger, silentLogger } from '../log.js';
import { ErrorReply, isPipelined, type Reply } from '../protocol/reply.js';
import {
  PROTO_INLINE_MAX_SIZE,
  PROTO_MAX_BULK_LEN,
  RespParser,
  RespProtocolError,
  RespWriter,
} from '../protocol/resp.js';
import {
  Admission,
  acceptClientCertificate,
  certificateUser,
  DEFAULT_TLS_POLICY,
  readClientCa,
  refuseResp,
  type TlsPolicy,
  tlsServerOptions,
} from './admission.js';

/**
 * The RESP front door: Redis's protocol over TCP (or TLS). It owns sockets, parsing, reply encoding and
 * connection limits; every command goes through `engine.execute`. It knows nothing about commands except
 * the Client fields it reads: `resp`, `closeAfterReply`, `blocked`, `subscriptionCount`, `monitor`.
 */

export interface RespServerOptions {
  /** Address to bind. Default '127.0.0.1'. */
  host?: string;
  /** TCP port; 0 = an ephemeral port (see listen()'s result). Default 6380. */
  port?: number;
  /** Serve TLS with these PEM files (paths) instead of plain TCP. Default: plain TCP. */
  tls?: { cert: string; key: string };
  /** With `tls`: versions, ciphers, handshake timeout, client certificates. Default DEFAULT_TLS_POLICY. */
  tlsPolicy?: TlsPolicy;
  /**
   * Allow-list and per-address limit, checked on each TCP connection before anything is read (or the TLS
   * handshake starts), and the refusal counters; shared with the HTTPS port. Default: one of its own.
   */
  admission?: Admission;
  /**
   * Like Redis `maxclients`: when the engine already has this many clients (all front doors), a new
   * connection gets `-ERR max number of clients reached` and is closed. Default 10000.
   */
  maxClients?: number;
  /** Like Redis `timeout`: close clients idle this many seconds (blocked, pub/sub and monitor clients exempt). 0 = never. Default 0. */
  timeout?: number;
  /**
   * Like Redis `protected-mode`: while no authentication is configured (see `authConfigured`), accept only
   * loopback clients (127.0.0.0/8, ::1, ::ffff:127.*); others get a `-DENIED` error and are closed. Default true.
   */
  protectedMode?: boolean;
  /** Whether a password is set for the default user (disables protected mode). Default: () => false. */
  authConfigured?: () => boolean;
  /**
   * Whether this client still has to authenticate; if so Redis's unauthenticated request limits apply
   * (`*N` ≤ 10, `$N` ≤ 16384: beyond them `-ERR Protocol error: unauthenticated multibulk length` / `bulk
   * length`, then the connection is closed). Default: Redis's rule, the engine's default user has a password
   * or is off and the client has not logged in.
   */
  authRequired?: (client: Client) => boolean;
  /** Pub/sub clients (any subscription) whose pending output reaches this many bytes are disconnected. 0 = no limit. Default 32 MiB. */
  pubsubHardLimit?: number;
  /** … or stays at or above this many bytes for more than `pubsubSoftSeconds`. 0 = no limit. Default 8 MiB. */
  pubsubSoftLimit?: number;
  /**
   * Replies one connection may be waiting for at once from the Redis engine (pipelined commands); at the
   * limit, its next commands wait in the query buffer until replies come back. Default 1000.
   */
  maxInFlight?: number;
  /** See `pubsubSoftLimit`. Default 60. */
  pubsubSoftSeconds?: number;
  /** Other clients whose pending output reaches this many bytes are disconnected. 0 = unlimited. Default 0. */
  normalHardLimit?: number;
  /** Like Redis `proto-max-bulk-len`: longest bulk argument (bytes). Default 512 MiB. */
  maxBulkLen?: number;
  /** Longest inline request line (bytes). Default 64 KiB. */
  maxInlineLen?: number;
  /** Like Redis `client-query-buffer-limit`: unprocessed input beyond this closes the client. Default 1 GiB. */
  maxQueryBuffer?: number;
  /**
   * Lines about connections, each with its `clientId` and `addr`: failed logins (warn), disconnections for
   * output or query buffer limits (warn), protocol errors (info), refusals (max clients: warn; protected
   * mode: info), idle timeouts (debug). Default: none. Read once, at construction.
   */
  logger?: Logger;
}

export type ResolvedRespServerOptions = Required<Omit<RespServerOptions, 'tls' | 'logger'>> &
  Pick<RespServerOptions, 'tls'>;

/** Counters for INFO (stats section). */
export interface RespServerStats {
  /** Connections accepted past the max-clients and protected-mode checks (total_connections_received). */
  connectionsReceived: number;
  /** Connections refused: allow-list, per-address limit, max clients or protected mode (rejected_connections). */
  rejectedConnections: number;
  /** Connections closed after a protocol error reply. */
  protocolErrors: number;
  /** Connections closed because the AOF could not keep their writes (their replies were never sent). */
  persistenceDisconnections: number;
  /** Socket-level errors (ECONNRESET, EPIPE, TLS handshake failures…); the socket is just closed. */
  socketErrors: number;
  /** Clients closed for exceeding an output buffer limit (client_output_buffer_limit_disconnections). */
  outputBufferLimitDisconnections: number;
  /** Clients closed for exceeding maxQueryBuffer (client_query_buffer_limit_disconnections). */
  queryBufferLimitDisconnections: number;
  /** Clients closed by the idle timeout. */
  idleTimeouts: number;
}

const MAX_CLIENTS_ERR = '-ERR max number of clients reached\r\n';
const DENIED_ERR =
  '-DENIED kvws is running in protected mode because protected mode is enabled and no password is set ' +
  'for the default user. In this mode connections are only accepted from the loopback interface. ' +
  'If you want to connect from external computers to kvws you may adopt one of the following solutions: ' +
  "1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback " +
  'interface by connecting to kvws from the same host the server is running, however MAKE SURE kvws is ' +
  'not publicly accessible from internet if you do so. ' +
  '2) Alternatively you can just disable the protected mode by setting protectedMode to false in the kvws ' +
  'configuration file, and restarting the server. 3) If you started the server manually just for testing, ' +
  "restart it with the '--no-protected-mode' option. 4) Set up an authentication password for the " +
  'default user. NOTE: You only need to do one of the above things in order for the server to start ' +
  'accepting connections from the outside.\r\n';

/** On close(), connections still open this long after being ended (peer not reading) are destroyed. */
const CLOSE_GRACE_MS = 1000;

/** Pending output at which a batch is written out mid-loop (then backpressure can stop the loop). */
const FLUSH_THRESHOLD = 64 * 1024;

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.* addresses. */
export function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

/** Redis's anetFormatAddr: `ip:port`, IPv6 in brackets; IPv4-mapped IPv6 shown as plain IPv4. Every front door's CLIENT LIST address. */
export function formatAddr(ip: string | undefined, port: number | undefined): string {
  let a = ip ?? '?';
  if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
  return a.includes(':') ? `[${a}]:${port ?? 0}` : `${a}:${port ?? 0}`;
}

/**
 * A new session for a connection of `door` on socket `s` (addresses as CLIENT LIST shows them); not yet
 * registered. When `s` carries a valid client certificate naming a user (see admission.ts), the session
 * is logged in as that user (Acl.authCertificate: existing, enabled, allowed from this address).
 */
export function clientForSocket(
  engine: Engine,
  door: FrontDoor,
  s: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number },
): Client {
  const addr = formatAddr(s.remoteAddress, s.remotePort);
  const c = new Client(engine, door, addr, formatAddr(s.localAddress, s.localPort));
  // A valid TLS client certificate naming a user (tlsClientUserField): the session starts logged in as it.
  const certUser = certificateUser(s);
  if (certUser !== null && engine.acl.authCertificate(c, certUser)) certificateSessions.add(c);
  return c;
}

/** Sessions that clientForSocket logged in with their connection's client certificate. */
const certificateSessions = new WeakSet<Client>();

/** Whether clientForSocket logged `client` in with its connection's TLS client certificate. */
export function loggedInByCertificate(client: Client): boolean {
  return certificateSessions.has(client);
}

/**
 * RESP server over TCP or TLS.
 *
 * Contract: `listen()` resolves with the bound address (rejects on bind errors); `close()` stops accepting,
 * ends every connection (flushing pending replies) and resolves once all are closed. Fields of `options`
 * are read at each use, so CONFIG SET can change them on the live object.
 */
export class RespServer {
  readonly options: ResolvedRespServerOptions;
  readonly stats: RespServerStats = {
    connectionsReceived: 0,
    rejectedConnections: 0,
    protocolErrors: 0,
    persistenceDisconnections: 0,
    socketErrors: 0,
    outputBufferLimitDisconnections: 0,
    queryBufferLimitDisconnections: 0,
    idleTimeouts: 0,
  };
  private readonly connections = new Set<RespConnection>();
  /** Every accepted TCP socket, including TLS ones still in their handshake (for close()). */
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  private cron: NodeJS.Timeout | null = null;
  /** See RespServerOptions.logger. */
  readonly log: Logger;

  constructor(
    readonly engine: Engine,
    opts: RespServerOptions = {},
  ) {
    this.log = opts.logger ?? silentLogger;
    const defaults: ResolvedRespServerOptions = {
      host: '127.0.0.1',
      port: 6380,
      tls: undefined,
      tlsPolicy: DEFAULT_TLS_POLICY,
      admission: opts.admission ?? new Admission(),
      maxClients: 10000,
      timeout: 0,
      protectedMode: true,
      authConfigured: () => false,
      // Redis's authRequired(): the default user has a password or is off, and this client has not logged in.
      authRequired: (client) => !client.authenticated && engine.acl.authRequired,
      pubsubHardLimit: 32 * 1024 * 1024,
      pubsubSoftLimit: 8 * 1024 * 1024,
      pubsubSoftSeconds: 60,
      normalHardLimit: 0,
      maxBulkLen: PROTO_MAX_BULK_LEN,
      maxInlineLen: PROTO_INLINE_MAX_SIZE,
      maxQueryBuffer: 1024 * 1024 * 1024,
      maxInFlight: 1000,
    };
    // An option that is a getter on `opts` is read through it at every use (falling back to its default), so
    // an options object whose fields are getters over the live server configuration makes CONFIG SET take
    // effect on open connections. Any other field is copied here once (with its default) and can still be
    // changed through `this.options`. Either way a read is a plain property load, no generic `opts[k]`
    // lookup: some of these are read for every batch of commands.
    const live = {} as ResolvedRespServerOptions;
    for (const k of Object.keys(defaults) as (keyof ResolvedRespServerOptions)[]) {
      const getter = Object.getOwnPropertyDescriptor(opts, k)?.get;
      if (getter === undefined) {
        Object.defineProperty(live, k, { enumerable: true, writable: true, value: opts[k] ?? defaults[k] });
        continue;
      }
      Object.defineProperty(live, k, {
        enumerable: true,
        get: () => getter.call(opts) ?? defaults[k],
        set: (v) => {
          (opts as Record<string, unknown>)[k] = v;
        },
      });
    }
    this.options = live;
  }

  /** Number of open RESP connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Starts listening. Resolves with the bound host and port; rejects if binding fails. */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('RespServer is already listening');
    const o = this.options;
    let server: net.Server;
    if (o.tls) {
      let s: tls.Server;
      const policy = o.tlsPolicy;
      const clientCa = await readClientCa(policy);
      try {
        const [cert, key] = await Promise.all([readFile(o.tls.cert), readFile(o.tls.key)]);
        s = tls.createServer(tlsServerOptions(policy, cert, key, clientCa));
      } catch (e) {
        throw new Error(`cannot use TLS certificate ${o.tls.cert} with key ${o.tls.key}: ${(e as Error).message}`);
      }
      s.on('secureConnection', (socket) => {
        if (acceptClientCertificate(policy, socket)) {
          this.accept(socket);
          return;
        }
        o.admission.count('resp', 'client_certificate', socket.remoteAddress);
        socket.destroy();
      });
      s.on('tlsClientError', (err, socket) => {
        this.stats.socketErrors++;
        o.admission.tlsClientError('resp', err, socket);
        socket.destroy();
      });
      server = s;
    } else {
      server = net.createServer((socket) => this.accept(socket));
    }
    // Allow-list and per-address limit on the raw TCP connection: before the TLS handshake or any parsing.
    // Over TLS there is no protocol to answer in yet: refused peers are just closed.
    o.admission.guard(server, 'resp', (socket, reason) => {
      this.stats.rejectedConnections++;
      if (o.tls) socket.destroy();
      else refuseResp(socket, reason);
    });
    this.server = server;
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.server = null;
        reject(err);
      };
      server.once('error', onError);
      server.listen(o.port, o.host, () => {
        server.off('error', onError);
        server.on('error', () => this.stats.socketErrors++);
        resolve();
      });
    });
    this.cron = setInterval(() => this.serverCron(), 1000);
    this.cron.unref();
    const addr = server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  /**
   * Stops accepting, ends all connections after flushing their pending replies, resolves when all are
   * closed. Sockets still open after CLOSE_GRACE_MS (a peer that does not read, a TLS handshake that never
   * finishes) are destroyed, so shutdown always completes.
   */
  async close(): Promise<void> {
    if (this.cron) clearInterval(this.cron);
    this.cron = null;
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const c of this.connections) c.end();
    const force = setTimeout(() => {
      for (const c of this.connections) c.socket.destroy();
      for (const socket of this.sockets) socket.destroy();
    }, CLOSE_GRACE_MS);
    await closed;
    clearTimeout(force);
  }

  /** Admission (max clients, protected mode), then a RespConnection. */
  private accept(socket: net.Socket): void {
    socket.on('error', () => this.stats.socketErrors++);
    const o = this.options;
    if (socket.destroyed || socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    if (this.engine.clients.size >= o.maxClients) {
      o.admission.rejected.resp.max_clients++;
      this.log.warn(
        { addr: formatAddr(socket.remoteAddress, socket.remotePort) },
        `RESP connection refused: max number of clients reached (${o.maxClients})`,
      );
      this.reject(socket, MAX_CLIENTS_ERR);
      return;
    }
    if (o.protectedMode && !o.authConfigured() && !isLoopback(socket.remoteAddress)) {
      this.log.info(
        { addr: formatAddr(socket.remoteAddress, socket.remotePort) },
        'RESP connection refused: protected mode (no authentication configured, the client is not on loopback)',
      );
      this.reject(socket, DENIED_ERR);
      return;
    }
    this.stats.connectionsReceived++;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 300_000);
    const conn = new RespConnection(this, socket);
    this.connections.add(conn);
    socket.on('close', () => {
      this.connections.delete(conn);
      conn.onClose();
    });
  }

  private reject(socket: net.Socket, message: string): void {
    this.stats.rejectedConnections++;
    socket.end(message, () => socket.destroy());
  }

  /** Once a second: idle timeouts (Redis clientsCronHandleTimeout). */
  private serverCron(): void {
    const timeout = this.options.timeout;
    const timeoutMs = timeout > 0 ? timeout * 1000 : Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (const c of this.connections) c.checkIdle(now, timeoutMs);
  }
}

/** One client connection: input parsing, command execution in order, batched reply writes. */
class RespConnection {
  readonly client: Client;
  private readonly parser: RespParser;
  private readonly writer = new RespWriter();
  /** A blocking command's Promise is pending: later commands wait in the parser. */
  private waiting = false;
  /**
   * Replies in command order while one of them is a pending Promise (null: none pending, replies are
   * written as they come). A pipelined Promise (Redis engine) lets later commands run meanwhile.
   */
  private queue: Slot[] | null = null;
  /** Pipelined Promises pending (bounded by maxInFlight). */
  private inFlight = 0;
  /** Inside process(): replies are flushed at its end, and a self-kill waits for the reply. */
  private executing = false;
  /** Stop reading commands; close once pending replies are written (QUIT, protocol error, self-kill). */
  private ending = false;
  private closed = false;
  private flushScheduled = false;
  /**
   * Replies waiting for the AOF to have this batch's writes on disk (appendfsync always), in order; later
   * replies queue behind them. null = none held.
   */
  private held: Buffer[] | null = null;
  /** Waiting for 'drain': socket paused and buffered commands not run. */
  private paused = false;
  /** Since when pending output has been at or above the pub/sub soft limit (0 = not). */
  private softSince = 0;
  /** Pushes to write right after the reply being produced (client.pushAfterReply: a monitor's own line). */
  private afterReply: Reply[] = [];
  /** Activity (input or output) since the last cron tick; lastActivity is in ms, at cron granularity. */
  private active = true;
  private lastActivity = Date.now();

  constructor(
    readonly server: RespServer,
    readonly socket: net.Socket,
  ) {
    const o = server.options;
    const engine = server.engine;
    this.parser = new RespParser({ maxBulkLen: o.maxBulkLen, maxInlineLen: o.maxInlineLen });
    const client = clientForSocket(engine, 'resp', socket);
    this.client = client;
    client.push = (reply) => this.push(reply);
    client.pushAfterReply = (reply) => this.afterReply.push(reply);
    client.kill = (reason) => this.kill(reason);
    client.outputBytes = () => this.socket.writableLength + this.writer.length;
    engine.clients.add(client);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (!this.paused || this.closed) return;
      this.paused = false;
      this.socket.resume();
      if (!this.waiting) this.process();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.ending) return;
    this.active = true;
    const parser = this.parser;
    parser.feed(chunk);
    if (parser.bufferedBytes > this.server.options.maxQueryBuffer) {
      this.server.stats.queryBufferLimitDisconnections++;
      this.logLine('warn', `RESP client closed: query buffer over ${this.server.options.maxQueryBuffer} bytes`);
      this.destroy();
      return;
    }
    if (!this.waiting && !this.paused) this.process();
  }

  /** Runs every complete buffered command, in order, until one blocks; then writes all replies at once. */
  private process(): void {
    const { parser, writer, client } = this;
    const engine = this.server.engine;
    const o = this.server.options;
    parser.maxBulkLen = o.maxBulkLen;
    parser.maxInlineLen = o.maxInlineLen;
    // Read once per batch, not per command (it is called for each one).
    const authRequired = o.authRequired;
    this.executing = true;
    try {
      while (!this.ending && !this.closed && !this.paused) {
        parser.unauthenticatedLimits = authRequired(client);
        const argv = parser.next();
        if (argv === null) break;
        if (argv instanceof RespProtocolError) {
          this.server.stats.protocolErrors++;
          this.logLine('info', `RESP client closed after a protocol error: ${argv.message}`);
          writer.write(new ErrorReply(argv.message), client.resp);
          this.ending = true;
          break;
        }
        let reply: Reply | Promise<Reply>;
        try {
          reply = engine.execute(client, argv);
        } catch (e) {
          reply = internalError(e);
        }
        if (this.closed) return;
        if (reply instanceof Promise) {
          const slot = this.enqueue(null);
          const blocking = !isPipelined(reply);
          if (blocking) this.waiting = true;
          else this.inFlight++;
          reply.then(
            (r) => this.settled(slot, r, blocking),
            (e) => this.settled(slot, internalError(e), blocking),
          );
          if (blocking || this.inFlight >= (o.maxInFlight ?? 1000)) break;
          continue;
        }
        if (this.queue !== null) {
          // An earlier reply is still pending: this one waits its turn.
          this.enqueue(reply);
          if (client.closeAfterReply) this.ending = true;
          continue;
        }
        writer.write(reply, client.resp);
        if (this.afterReply.length !== 0) this.writeAfterReply();
        if (client.closeAfterReply) this.ending = true;
        // Big batches go out in pieces, so a client that doesn't read stops the loop (backpressure).
        if (writer.length >= FLUSH_THRESHOLD) this.flush();
      }
    } finally {
      this.executing = false;
    }
    this.flush();
    if (this.ending) this.end();
  }

  /**
   * Adds a reply slot (`reply` null: its Promise is pending), with what must follow the reply (a monitor's
   * own line, closing after QUIT) captured now, while the command's effects are fresh.
   */
  private enqueue(reply: Reply | null): Slot {
    const slot: Slot = {
      reply,
      done: reply !== null,
      after: this.afterReply.length !== 0 ? this.afterReply : null,
      close: this.client.closeAfterReply,
    };
    if (slot.after !== null) this.afterReply = [];
    if (this.queue === null) this.queue = [];
    this.queue.push(slot);
    return slot;
  }

  /**
   * A Promise reply settled: write every reply now at the head of the queue, then carry on with the
   * commands that queued up (a blocking command held them; a full pipeline paused them).
   */
  private settled(slot: Slot, reply: Reply, blocking: boolean): void {
    if (blocking) this.waiting = false;
    else this.inFlight--;
    // Logins are asynchronous (argon2id, JWT checks): a failed one is a Promise settled with WRONGPASS.
    if (reply instanceof ErrorReply && reply.message.startsWith('WRONGPASS')) {
      this.logLine('warn', `RESP authentication failed: ${reply.message}`);
    }
    if (this.closed) return;
    slot.reply = reply;
    slot.done = true;
    const q = this.queue as Slot[];
    let i = 0;
    for (; i < q.length && q[i].done; i++) {
      const s = q[i];
      this.writer.write(s.reply as Reply, this.client.resp);
      if (s.after !== null) for (const r of s.after) this.writer.write(r, this.client.resp);
      if (s.close) this.ending = true;
    }
    if (i === q.length) this.queue = null;
    else if (i > 0) q.splice(0, i);
    if (this.ending) {
      if (this.queue === null) this.end();
      else this.flush();
      return;
    }
    if (!this.waiting && !this.paused) this.process();
    else this.flush();
  }

  /** Writes what client.pushAfterReply queued during the command whose reply was just written. */
  private writeAfterReply(): void {
    for (const r of this.afterReply) this.writer.write(r, this.client.resp);
    this.afterReply = [];
  }

  /** Out-of-band reply (pub/sub message, invalidation): RESP3 push or RESP2 array. */
  private push(reply: Reply): void {
    if (this.closed) return;
    if (Array.isArray(reply)) this.writer.writePush(reply, this.client.resp);
    else this.writer.write(reply, this.client.resp);
    if (!this.checkOutputLimits()) return;
    if (!this.executing && !this.flushScheduled) {
      // Coalesce all pushes produced in this tick (e.g. a pipelined burst of PUBLISH) into one write.
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /**
   * Writes pending replies with one socket.write. On backpressure (write returned false) a client without
   * subscriptions stops being read and served until 'drain'; pub/sub clients are bounded by the output
   * buffer limits instead.
   */
  private flush(): void {
    if (this.closed || this.writer.length === 0) return;
    if (this.held !== null) {
      this.held.push(this.writer.take());
      this.checkOutputLimits();
      return;
    }
    // Nothing leaves before the AOF has what these replies acknowledge (written; with always, fsynced).
    const durable = this.server.engine.aof?.beforeReply(this.client) ?? null;
    if (durable !== null) {
      this.held = [this.writer.take()];
      durable.then(
        () => this.releaseHeld(),
        () => {
          // Not durable: the replies are never sent; the client sees the connection close (no acknowledgement).
          this.server.stats.persistenceDisconnections++;
          this.logLine('warn', 'RESP client closed: the append-only file could not keep its writes');
          this.destroy();
        },
      );
      return;
    }
    this.send(this.writer.take());
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = null;
    if (this.closed || held === null) return;
    this.send(held.length === 1 ? held[0] : Buffer.concat(held));
    if (this.ending) this.end();
  }

  private send(bytes: Buffer): void {
    this.active = true;
    const ok = this.socket.write(bytes);
    if (!ok && !this.paused && this.client.subscriptionCount === 0 && !this.ending) {
      this.paused = true;
      this.socket.pause();
    }
    this.checkOutputLimits();
  }

  /**
   * Redis's checkClientOutputBufferLimits on pending output (Node's write queue plus unflushed replies).
   * Returns false if the client was disconnected.
   */
  private checkOutputLimits(): boolean {
    const o = this.server.options;
    let pending = this.socket.writableLength + this.writer.length;
    if (this.held !== null) for (const b of this.held) pending += b.length;
    if (this.client.subscriptionCount > 0) {
      let over = o.pubsubHardLimit > 0 && pending >= o.pubsubHardLimit;
      if (!over && o.pubsubSoftLimit > 0 && pending >= o.pubsubSoftLimit) {
        const now = Date.now();
        if (this.softSince === 0) this.softSince = now;
        else if (now - this.softSince > o.pubsubSoftSeconds * 1000) over = true;
      } else if (!over) {
        this.softSince = 0;
      }
      if (!over) return true;
    } else if (!(o.normalHardLimit > 0 && pending >= o.normalHardLimit)) {
      this.softSince = 0;
      return true;
    }
    this.server.stats.outputBufferLimitDisconnections++;
    this.logLine(
      'warn',
      `RESP client closed for overcoming its output buffer limit (${pending} bytes unsent${this.client.subscriptionCount > 0 ? ', pub/sub' : ''})`,
    );
    this.destroy();
    return false;
  }

  /** client.kill: CLIENT KILL and the like. A client killing itself still gets its reply first. */
  private kill(_reason: string): void {
    if (this.closed) return;
    if (this.executing) {
      this.ending = true;
      return;
    }
    this.destroy();
  }

  checkIdle(now: number, timeoutMs: number): void {
    if (this.active) {
      this.active = false;
      this.lastActivity = now;
      return;
    }
    this.parser.dropArgCache();
    const c = this.client;
    // As Redis: blocked, pub/sub and monitor clients are not closed for idling.
    if (this.waiting || this.queue !== null || c.blocked !== null || c.subscriptionCount > 0 || c.monitor) {
      this.lastActivity = now;
      return;
    }
    if (now - this.lastActivity > timeoutMs) {
      this.server.stats.idleTimeouts++;
      this.logLine('debug', `RESP client closed: idle for over ${timeoutMs / 1000} s (timeout)`);
      this.destroy();
    }
  }

  /** Flushes pending replies, then closes (QUIT, protocol error, server shutdown). */
  end(): void {
    if (this.closed) return;
    this.ending = true;
    // Replies still pending from the Redis engine: settled() ends the connection once they are written.
    if (this.queue !== null) {
      this.flush();
      return;
    }
    this.flush();
    if (this.closed) return;
    if (this.held !== null) return; // releaseHeld() ends the connection once the held replies are out
    this.closed = true;
    const socket = this.socket;
    if (this.paused) socket.resume();
    socket.end(() => socket.destroy());
  }

  /** Closes at once, dropping pending output. The engine forgets the client on 'close'. */
  private destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  /** Logs `msg` at `level` with this connection's client id and address. */
  private logLine(level: 'debug' | 'info' | 'warn', msg: string): void {
    this.server.log[level]({ clientId: this.client.id, addr: this.client.addr }, msg);
  }

  /** Socket closed (either side): the engine cleans up subscriptions, blocked state and watches. */
  onClose(): void {
    this.closed = true;
    this.server.engine.clients.remove(this.client);
  }
}

function internalError(e: unknown): ErrorReply {
  const msg = e instanceof Error ? e.message : String(e);
  return new ErrorReply(/^[A-Z]+ /.test(msg) ? msg : `ERR ${msg}`);
}

/** One reply in command order (RespConnection.queue). */
interface Slot {
  reply: Reply | null;
  done: boolean;
  /** Pushes to write right after the reply (client.pushAfterReply during the command). */
  after: Reply[] | null;
  /** The command asked for the connection to close after its reply (QUIT). */
  close: boolean;
}
