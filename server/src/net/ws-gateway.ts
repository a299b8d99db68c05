import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { blockOptionAt } from '@kvws/shared/commands';
import {
  AuthRequestSchema,
  CloseCode,
  CommandRequestSchema,
  type Encoding,
  type Envelope,
  FrameError,
  type Id,
  IdSchema,
  MultiRequestSchema,
  PipelineRequestSchema,
  SUBPROTOCOL,
  TAIL_DEFAULT_COUNT,
  TailRequestSchema,
  UntailRequestSchema,
} from '@kvws/shared/protocol';
import { type WebSocket, WebSocketServer } from 'ws';
import type { z } from 'zod';
import { looksLikeJwt } from '../auth/jwt.js';
import type { Client } from '../engine/client.js';
import { lookupCommand } from '../engine/dispatch.js';
import { type Engine, MonitorLine } from '../engine/engine.js';
import { type Logger, silentLogger } from '../log.js';
import { fromJsonArg, toEnvelope, toJson } from '../protocol/json.js';
import { ErrorReply, isPipelined, NullArray, PushReply, type Reply } from '../protocol/reply.js';
import { rejectUpgrade } from './https-server.js';
import { clientForSocket, formatAddr, isLoopback } from './resp-server.js';
import { type TailOpen, TailRegistry, TailSet } from './ws-tails.js';

/**
 * The WebSocket gateway: JSON frames (docs/protocol.md, schemas in shared/src/protocol.ts) over the `/ws`
 * route of the HTTPS server. It owns the handshake checks, frame validation, request bookkeeping and the
 * connection limits; every command goes through `engine.execute` with one `Client` per connection
 * (`frontDoor: 'ws'`, RESP3-shaped replies, so commands and subscriptions mix freely).
 */

export interface WsGatewayOptions {
  /** Largest message a client may send (bytes); the ws library closes with 1009 beyond it. Default 1 MiB. Fixed at construction. */
  maxFrame?: number;
  /** Unanswered requests per connection; a request beyond it is answered `BUSY …`. Default 1000. */
  maxInFlight?: number;
  /** Seconds between pings; a peer that has not answered the previous ping is closed with 4410. 0 = off. Default 30. Fixed at construction. */
  pingInterval?: number;
  /**
   * Unsent bytes (ws `bufferedAmount`) a connection may have when a new frame is due; beyond it the
   * connection is closed with 4408. 0 = no limit. Default 8 MiB.
   */
  maxBuffer?: number;
  /**
   * The soft limit, as Redis's `client-output-buffer-limit pubsub … soft seconds`: a connection with at least
   * `softBuffer` unsent bytes for more than `softSeconds` is closed with 4408. 0 = none. Default 2 MiB, 60 s.
   */
  softBuffer?: number;
  softSeconds?: number;
  /** Origins allowed besides the server's own (canonical `scheme://host[:port]`, `null`, `*`). Default []. */
  allowedOrigins?: string[];
  /** Shared with the other front doors via `engine.clients.size`: handshakes beyond it get 503. Default 10000. */
  maxClients?: number;
  /** Like the RESP port's protected mode: without authentication, non-loopback clients are closed with 1008. Default true. */
  protectedMode?: boolean;
  /** Whether authentication is configured (disables protected mode). Default: () => false. */
  authConfigured?: () => boolean;
  /**
   * Lines about handshakes and connections, with the connection's `clientId` and `addr`: failed logins
   * (warn), disconnections for slowness (4408, warn), protocol errors and frames too large (info), dead
   * peers, authentication timeouts and expired tokens (info), refused handshakes (origin, protected mode:
   * info; max clients: warn). Default: none. Read once, at construction.
   */
  logger?: Logger;
}

type ResolvedOptions = Required<Omit<WsGatewayOptions, 'logger'>>;

/** Counters for INFO (stats section, `ws_*`). */
export interface WsGatewayStats {
  /** Handshakes accepted (protected-mode refusals included: they are closed with 1008 after opening). */
  connectionsReceived: number;
  /** Handshakes refused, by reason (HTTP status in brackets). */
  rejectedSubprotocol: number; // 400
  rejectedBadRequest: number; // 400: bad ?encoding=
  rejectedOrigin: number; // 403
  rejectedMaxClients: number; // 503
  /** Connections closed with 1008 by protected mode. */
  rejectedProtectedMode: number;
  framesIn: number;
  framesOut: number;
  /** Frames answered with a BADFRAME error (not JSON, wrong shape, unknown field, binary). */
  badFrames: number;
  /** Requests answered BUSY (max in flight). */
  busyReplies: number;
  /** Connections closed with 1009 (frame over maxFrame). */
  frameTooLarge: number;
  /** Connections closed with 4408 (send buffer over maxBuffer). */
  slowDisconnections: number;
  /** Connections closed with 4410 (no pong). */
  deadPeers: number;
  /** Other WebSocket protocol errors (1002, 1007) and socket errors. */
  protocolErrors: number;
}

/**
 * Receiving stops while this many bytes (or half of maxBuffer, if less) are unsent: the peer reads slower
 * than it asks. It resumes once the socket drains, so a client that asks but reads slowly is slowed down
 * rather than dropped.
 */
const HIGH_WATER = 1024 * 1024;
/**
 * Receiving also stops while this many pipelined commands (the Redis engine) await their replies, each of
 * which the send buffer will take; it resumes as for HIGH_WATER, when the frames sent leave the socket.
 */
const AWAITED_HIGH_WATER = 32;
/** On shutdown, connections that have not finished the closing handshake after this long are destroyed. */
const CLOSE_GRACE_MS = 1000;
/** After sending a close frame, the ws library destroys the socket if the peer has not answered in this time. */
const CLOSE_TIMEOUT_MS = 2000;
/** Commands that would break a `multi` frame's MULTI … EXEC unit. */
const NOT_IN_MULTI = new Set(['MULTI', 'EXEC', 'DISCARD', 'WATCH', 'QUIT', 'RESET']);
const PROTECTED_REASON =
  'DENIED protected mode: no authentication is configured, so only loopback clients are accepted';

/**
 * Whether an Origin header may open a connection: the server's own origin (scheme of the listener +
 * Host header), any configured one, or anything when `*` is configured.
 */
export function originAllowed(origin: string, host: string | undefined, secure: boolean, allowed: string[]): boolean {
  if (allowed.includes('*')) return true;
  if (origin === 'null') return allowed.includes('null');
  let canonical: string;
  try {
    canonical = new URL(origin).origin;
  } catch {
    return false;
  }
  if (allowed.includes(canonical)) return true;
  if (!host) return false;
  try {
    return new URL(`${secure ? 'https' : 'http'}://${host}`).origin === canonical;
  } catch {
    return false;
  }
}

/** A validated request, ready to run: its arguments decoded to engine binary strings. */
interface Job {
  id: Id;
  kind: 'cmd' | 'pipeline' | 'multi' | 'auth' | 'tail' | 'untail';
  /** A `tail` request (its key decoded); an `untail` one has its key here too. */
  tail?: TailOpen;
  /** A SUBSCRIBE/PSUBSCRIBE resuming after this stream position. */
  since?: { offset: number; epoch: string };
  enc: Encoding;
  argvs: string[][];
  /** Index of the next command to run (cmd and pipeline jobs can stop at a blocking command). */
  next: number;
  results: Envelope[];
  /** Results still pending from pipelined commands (the Redis engine); the job answers when none is. */
  pending?: number;
  /** A malformed frame held behind an asynchronous request: its BADFRAME reply, sent in its turn. */
  badFrame?: { id: Id | null; error: string };
}

type Parsed = { job: Job } | { id: Id | null; error: string };

/** `cmd[1]`, `pipeline[0][2]`: a zod issue path as the client wrote it. */
function pathText(p: readonly PropertyKey[]): string {
  let s = '';
  for (const k of p) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    return `${FrameError.shape} unknown field${issue.keys.length > 1 ? 's' : ''} ${keys} (allowed: "id", "encoding" and one of "cmd", "pipeline", "multi", "auth", "tail", "untail")`;
  }
  const where = pathText(issue.path);
  return `${FrameError.shape} ${where ? `${where}: ` : ''}${issue.message}`;
}

/**
 * True when `o` is exactly what CommandRequestSchema accepts in the common case: `id` (finite number or
 * string ≤ 256 chars), `cmd` (1…1,000,000 strings or finite numbers), optional `encoding`, nothing else.
 * A false answer only means "let the schema decide".
 */
function isPlainCommandRequest(o: Record<string, unknown>): boolean {
  let n = 0;
  for (const k in o) {
    n++;
    if (k !== 'id' && k !== 'cmd' && k !== 'encoding') return false;
  }
  const id = o.id;
  if (!((typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= 256))) return false;
  const enc = o.encoding;
  if (enc !== undefined && enc !== 'utf8' && enc !== 'base64') return false;
  if (n !== (enc === undefined ? 2 : 3)) return false;
  const cmd = o.cmd;
  if (!Array.isArray(cmd) || cmd.length === 0 || cmd.length > 1_000_000) return false;
  for (let i = 0; i < cmd.length; i++) {
    const a = cmd[i];
    if (typeof a !== 'string' && !(typeof a === 'number' && Number.isFinite(a))) return false;
  }
  return true;
}

/** The push frame of a stream event (a `message` or `pmessage` PushReply with its offset). */
function streamFrame(reply: PushReply, enc: Encoding): object {
  const it = reply.items as string[];
  if (it[0] === 'pmessage')
    return {
      push: 'pmessage',
      pattern: toJson(it[1], enc),
      channel: toJson(it[2], enc),
      data: toJson(it[3], enc),
      offset: reply.offset,
    };
  return { push: it[0], channel: toJson(it[1], enc), data: toJson(it[2], enc), offset: reply.offset };
}

/** Header of an unmasked, final text frame carrying `len` payload bytes. */
function textFrameHeader(len: number): Buffer {
  if (len < 126) return Buffer.from([0x81, len]);
  if (len < 65536) {
    const h = Buffer.allocUnsafe(4);
    h[0] = 0x81;
    h[1] = 126;
    h.writeUInt16BE(len, 2);
    return h;
  }
  const h = Buffer.allocUnsafe(10);
  h[0] = 0x81;
  h[1] = 127;
  h.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
  h.writeUInt32BE(len >>> 0, 6);
  return h;
}

/** A `tail` or `untail` request: the key decoded in the request's encoding. */
function parseTail(o: Record<string, unknown>, kind: 'tail' | 'untail', id: Id | null, connEnc: Encoding): Parsed {
  let enc: Encoding;
  let key: string;
  let tail: TailOpen;
  if (kind === 'tail') {
    const r = TailRequestSchema.safeParse(o);
    if (!r.success) return { id, error: describeIssue(r.error.issues[0]) };
    enc = r.data.encoding ?? connEnc;
    key = r.data.tail.key;
    tail = { key, from: r.data.tail.from ?? '$', count: r.data.tail.count ?? TAIL_DEFAULT_COUNT, enc };
  } else {
    const r = UntailRequestSchema.safeParse(o);
    if (!r.success) return { id, error: describeIssue(r.error.issues[0]) };
    enc = r.data.encoding ?? connEnc;
    key = r.data.untail;
    tail = { key, from: '$', count: TAIL_DEFAULT_COUNT, enc };
  }
  try {
    tail.key = fromJsonArg(key, enc);
  } catch (e) {
    return { id, error: `${FrameError.shape} ${kind === 'tail' ? 'tail.key' : 'untail'}: ${(e as Error).message}` };
  }
  return { job: { id: id as Id, kind, enc, argvs: [], next: 0, results: [], tail } };
}

/**
 * Validates one decoded JSON frame against the schemas and decodes its arguments. Returns the job, or an
 * error message (`BADFRAME …`) with the frame's id when it could be read.
 */
export function parseRequest(frame: unknown, connectionEncoding: Encoding): Parsed {
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    return { id: null, error: `${FrameError.shape} a frame must be a JSON object: {"id": …, "cmd": […]}` };
  }
  const o = frame as Record<string, unknown>;
  const idOk = IdSchema.safeParse(o.id);
  const id = idOk.success ? idOk.data : null;
  if (!('id' in o)) return { id: null, error: `${FrameError.shape} missing "id"` };
  const kinds = (['cmd', 'pipeline', 'multi', 'auth', 'tail', 'untail'] as const).filter((k) => k in o);
  if (kinds.length !== 1) {
    return {
      id,
      error: `${FrameError.shape} a request has exactly one of "cmd", "pipeline", "multi", "auth", "tail" or "untail"${kinds.length > 1 ? ` (got ${kinds.map((k) => `"${k}"`).join(', ')})` : ''}`,
    };
  }
  const kind = kinds[0];
  if (kind === 'tail' || kind === 'untail') return parseTail(o, kind, id, connectionEncoding);
  if (kind === 'auth') {
    const r = AuthRequestSchema.safeParse(o);
    if (!r.success) return { id, error: describeIssue(r.error.issues[0]) };
    // Credentials are JSON text: sent to AUTH as UTF-8 bytes.
    const a = r.data.auth;
    if ('token' in a && !looksLikeJwt(a.token))
      return { id, error: `${FrameError.shape} auth.token: not a JWT (three base64url parts)` };
    const bytes = (x: string) => fromJsonArg(x, 'utf8');
    const argv =
      'token' in a
        ? a.username !== undefined
          ? ['AUTH', bytes(a.username), bytes(a.token)]
          : ['AUTH', bytes(a.token)]
        : ['AUTH', bytes(a.username), bytes(a.password)];
    return { job: { id: r.data.id, kind, enc: 'utf8', argvs: [argv], next: 0, results: [] } };
  }
  let argvs: (string | number)[][];
  let enc: Encoding;
  let since: Job['since'];
  if (kind === 'cmd' && isPlainCommandRequest(o)) {
    // Fast path for the common frame; anything unusual goes through the schema for its error message.
    argvs = [o.cmd as (string | number)[]];
    enc = (o.encoding as Encoding | undefined) ?? connectionEncoding;
  } else if (kind === 'cmd') {
    const r = CommandRequestSchema.safeParse(o);
    if (!r.success) return { id, error: describeIssue(r.error.issues[0]) };
    argvs = [r.data.cmd];
    enc = r.data.encoding ?? connectionEncoding;
    if (r.data.since !== undefined) {
      const name = String(r.data.cmd[0]).toUpperCase();
      if (name !== 'SUBSCRIBE' && name !== 'PSUBSCRIBE')
        return { id, error: `${FrameError.shape} "since" goes only with SUBSCRIBE or PSUBSCRIBE` };
      since = r.data.since;
    }
  } else {
    const r = (kind === 'pipeline' ? PipelineRequestSchema : MultiRequestSchema).safeParse(o);
    if (!r.success) return { id, error: describeIssue(r.error.issues[0]) };
    argvs =
      kind === 'pipeline'
        ? (r.data as { pipeline: (string | number)[][] }).pipeline
        : (r.data as { multi: (string | number)[][] }).multi;
    enc = r.data.encoding ?? connectionEncoding;
  }
  const decoded: string[][] = new Array(argvs.length);
  for (let i = 0; i < argvs.length; i++) {
    const a = argvs[i];
    const argv: string[] = new Array(a.length);
    for (let j = 0; j < a.length; j++) {
      try {
        // The command name is always text; the arguments follow the encoding.
        argv[j] = fromJsonArg(a[j], j === 0 ? 'utf8' : enc);
      } catch (e) {
        const where = kind === 'cmd' ? `cmd[${j}]` : `${kind}[${i}][${j}]`;
        return { id, error: `${FrameError.shape} ${where}: ${(e as Error).message}` };
      }
    }
    decoded[i] = argv;
  }
  return { job: { id: id as Id, kind, enc, argvs: decoded, next: 0, results: [], since } };
}

/**
 * The gateway: the `ws` library in noServer mode behind an HttpsServer route.
 *
 * Contract: `handleUpgrade` answers a handshake (refusing with 400/403/503 as documented, or opening a
 * connection); `close()` closes every connection with 1001 and resolves when all have gone (destroying
 * stragglers after CLOSE_GRACE_MS). Options other than maxFrame and pingInterval are read at each use.
 */
export class WsGateway {
  readonly options: ResolvedOptions;
  readonly stats: WsGatewayStats = {
    connectionsReceived: 0,
    rejectedSubprotocol: 0,
    rejectedBadRequest: 0,
    rejectedOrigin: 0,
    rejectedMaxClients: 0,
    rejectedProtectedMode: 0,
    framesIn: 0,
    framesOut: 0,
    badFrames: 0,
    busyReplies: 0,
    frameTooLarge: 0,
    slowDisconnections: 0,
    deadPeers: 0,
    protocolErrors: 0,
  };
  readonly connections = new Set<WsConnection>();
  /** Every connection's stream tails, and the key-change listener that wakes them (ws-tails.ts). */
  readonly tails: TailRegistry;
  private readonly wss: WebSocketServer;
  private pingTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** See WsGatewayOptions.logger. */
  readonly log: Logger;

  constructor(
    readonly engine: Engine,
    opts: WsGatewayOptions = {},
  ) {
    this.log = opts.logger ?? silentLogger;
    this.tails = new TailRegistry(engine);
    const defaults: ResolvedOptions = {
      maxFrame: 1024 * 1024,
      maxInFlight: 1000,
      pingInterval: 30,
      maxBuffer: 8 * 1024 * 1024,
      softBuffer: 2 * 1024 * 1024,
      softSeconds: 60,
      allowedOrigins: [],
      maxClients: 10000,
      protectedMode: true,
      authConfigured: () => false,
    };
    // Each option reads through to `opts` at every use, so getters over the live configuration
    // (CONFIG SET maxclients, protected-mode) apply to the next handshake.
    const live = {} as ResolvedOptions;
    for (const k of Object.keys(defaults) as (keyof ResolvedOptions)[]) {
      Object.defineProperty(live, k, { enumerable: true, get: () => opts[k] ?? defaults[k] });
    }
    this.options = live;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: live.maxFrame,
      handleProtocols: () => SUBPROTOCOL,
      closeTimeout: CLOSE_TIMEOUT_MS,
    } as ConstructorParameters<typeof WebSocketServer>[0] & { closeTimeout: number });
    const interval = live.pingInterval;
    if (interval > 0) {
      this.pingTimer = setInterval(() => this.heartbeat(), interval * 1000);
      this.pingTimer.unref();
    }
  }

  /**
   * Handles an `Upgrade: websocket` request for /ws. Refusals, in order: no `kvws.v1` subprotocol or a bad
   * `encoding` query → 400; an Origin not allowed → 403; max clients reached → 503. Malformed handshakes
   * get the ws library's 400/405. Protected mode opens the connection and closes it with 1008 and a reason
   * a browser can read.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const o = this.options;
    if (this.closing) {
      rejectUpgrade(socket, 503, 'ERR the server is shutting down');
      return;
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL)) {
      this.stats.rejectedSubprotocol++;
      rejectUpgrade(socket, 400, `ERR the WebSocket subprotocol must be ${SUBPROTOCOL}`);
      return;
    }
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const encParam = query.get('encoding') ?? 'utf8';
    if (encParam !== 'utf8' && encParam !== 'base64') {
      this.stats.rejectedBadRequest++;
      rejectUpgrade(socket, 400, `ERR encoding must be utf8 or base64, not ${JSON.stringify(encParam.slice(0, 32))}`);
      return;
    }
    const origin = req.headers.origin;
    const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted);
    if (origin !== undefined && !originAllowed(origin, req.headers.host, secure, o.allowedOrigins)) {
      this.stats.rejectedOrigin++;
      this.log.info(
        { addr: formatAddr(req.socket.remoteAddress, req.socket.remotePort), origin: origin.slice(0, 200) },
        'WebSocket handshake refused (403): origin not allowed (see --allowed-origins)',
      );
      rejectUpgrade(
        socket,
        403,
        `ERR origin ${JSON.stringify(origin.slice(0, 200))} is not allowed (see --allowed-origins)`,
      );
      return;
    }
    if (this.engine.clients.size >= o.maxClients) {
      this.stats.rejectedMaxClients++;
      this.log.warn(
        { addr: formatAddr(req.socket.remoteAddress, req.socket.remotePort) },
        `WebSocket handshake refused (503): max number of clients reached (${o.maxClients})`,
      );
      rejectUpgrade(socket, 503, 'ERR max number of clients reached');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.closing) {
        ws.on('error', () => {});
        ws.close(CloseCode.shuttingDown, 'server shutting down');
        return;
      }
      if (o.protectedMode && !o.authConfigured() && !isLoopback(req.socket.remoteAddress)) {
        this.stats.rejectedProtectedMode++;
        this.log.info(
          { addr: formatAddr(req.socket.remoteAddress, req.socket.remotePort) },
          'WebSocket connection closed (1008): protected mode (no authentication configured, the client is not on loopback)',
        );
        ws.on('error', () => {});
        ws.close(CloseCode.policyViolation, PROTECTED_REASON);
        return;
      }
      this.stats.connectionsReceived++;
      const conn = new WsConnection(this, ws, req, encParam);
      this.connections.add(conn);
    });
  }

  /** Called by a connection once its socket has closed. */
  forget(conn: WsConnection): void {
    this.connections.delete(conn);
  }

  /** Every ping interval: close peers that did not answer the last ping (4410), ping the rest. */
  private heartbeat(): void {
    // One `stream` push for every subscriber the stream moved past without anything for it (serialized once).
    const events = this.engine.events;
    let position: Buffer | null = null;
    const streamPush = () => {
      position ??= Buffer.from(JSON.stringify({ push: 'stream', epoch: events.epoch, offset: events.lastOffset }));
      return position;
    };
    for (const c of this.connections) c.heartbeat(events.lastOffset, streamPush);
  }

  /** Closes every connection with 1001; resolves when all are gone (stragglers destroyed after the grace). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const all = [...this.connections];
    for (const c of all) c.close(CloseCode.shuttingDown, 'server shutting down');
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.terminate();
    this.connections.clear();
  }
}

/** One WebSocket connection: frame validation, requests in flight, pushes, limits. */
class WsConnection {
  readonly client: Client;
  /** Answered or not, the peer showed life since the last heartbeat (pong or any frame). */
  private alive = true;
  /** The engine has forgotten the client and no more frames are sent (close frame queued or socket gone). */
  private closed = false;
  /** QUIT or a self-kill: stop reading requests, close once the current reply is out. */
  private ending = false;
  /** Inside a request: a CLIENT KILL of this client waits for the reply. */
  private executing = false;
  /** Requests received and not yet answered. */
  private inFlight = 0;
  /** A request is waiting on a blocking command; later requests with blocking commands queue in `lane`. */
  private laneBusy = false;
  private readonly lane: Job[] = [];
  /** An asynchronous non-blocking command (AUTH…) is running: new requests wait in `held`, in order. */
  private barrier = false;
  /** Why client.kill was called (see kill). */
  private killReason: string | null = null;
  private readonly held: Job[] = [];
  /** Closes the connection if it has not authenticated in time (when authentication is required). */
  private authTimer: NodeJS.Timeout | null = null;
  /** Receiving is paused until the socket drains (HIGH_WATER). */
  private paused = false;
  /** Frames received while paused, run by unpause (at most what one socket read held). */
  private readonly parked: [Buffer, boolean][] = [];
  /** Pipelined commands under way on the Redis engine, their replies still to come. */
  private awaited = 0;
  /** Frames built this tick, written together by `flush` (one socket write per tick). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  /** The highest stream offset this connection has been told about (a push, or a `stream` heartbeat). */
  private streamSent = 0;
  /** Since when unsent output has been at or over the soft limit (0: it is not). */
  private softSince = 0;
  /** A resume's replay stopped at its window: go on at the next 'drain'. */
  private pumpPending = false;
  /** Frames wait for the AOF to have this tick's writes on disk (appendfsync always). */
  private durableWait = false;
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.durableWait) return;
    // Nothing leaves before the AOF has what these replies acknowledge (written; with always, fsynced).
    const durable = this.gateway.engine.aof?.beforeReply(this.client) ?? null;
    if (durable !== null) {
      this.durableWait = true;
      durable.then(
        () => {
          this.durableWait = false;
          this.flush();
        },
        () => {
          // Not durable: the replies are never sent (no acknowledgement); the client reconnects.
          this.durableWait = false;
          this.pending = [];
          this.pendingBytes = 0;
          this.logLine('warn', 'WebSocket client closed: the append-only file could not keep its writes');
          this.close(CloseCode.internalError, 'the append-only file could not keep the writes (disk error)');
        },
      );
      return;
    }
    // One buffer, one write: header and payload in the same TLS record, one syscall per tick.
    const out = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.socket.destroyed) return;
    this.socket.write(out);
    if (this.pumpPending && !this.socket.writableNeedDrain) {
      // The replay window went out without filling the socket: no 'drain' will come, so go on here.
      this.pumpPending = false;
      setImmediate(() => this.pumpEvents());
    }
    // The same for tails that stopped reading at their high-water mark.
    if (this.tails.hasWaiting && !this.socket.writableNeedDrain) setImmediate(() => this.tails.resume());
    // Paused while these frames were pending: if the socket took them without needing to drain, no
    // 'drain' will come, so resume here.
    if (this.paused && !this.socket.writableNeedDrain) this.unpause();
  };
  private readonly socket: Duplex;
  /** This connection's stream tails (ws-tails.ts). */
  private readonly tails: TailSet;

  constructor(
    readonly gateway: WsGateway,
    readonly ws: WebSocket,
    req: IncomingMessage,
    /** Encoding for requests that name none, and for pushes (`?encoding=`). */
    readonly encoding: Encoding,
  ) {
    const engine = gateway.engine;
    const s = req.socket;
    this.socket = s;
    const client = clientForSocket(engine, 'ws', s);
    client.resp = 3;
    client.push = (reply) => this.push(reply);
    client.kill = (reason) => this.kill(reason);
    client.outputBytes = () => ws.bufferedAmount + this.pendingBytes;
    client.onAuthExpired = () => {
      this.logLine('info', 'WebSocket client closed (4401): its token expired');
      this.send(JSON.stringify({ push: 'auth', event: 'expired' }));
      this.close(CloseCode.unauthorized, 'token expired');
    };
    this.client = client;
    this.tails = new TailSet(gateway.tails, {
      client,
      exec: (argv) => this.exec(argv),
      send: (frame) => this.send(frame),
      unsent: () => ws.bufferedAmount + this.pendingBytes,
      highWater: () => tailHighWater(gateway.options),
      isClosed: () => this.closed,
    });
    engine.clients.add(client);
    if (!client.authenticated) {
      const secs = engine.options.authTimeout;
      this.authTimer = setTimeout(() => {
        this.authTimer = null;
        if (this.client.authenticated) return;
        this.logLine('info', `WebSocket client closed (4401): not authenticated within ${secs} seconds`);
        this.close(CloseCode.unauthorized, `not authenticated within ${secs} seconds`);
      }, secs * 1000);
      this.authTimer.unref();
    }
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') gateway.stats.frameTooLarge++;
      else gateway.stats.protocolErrors++;
      this.logLine('info', `WebSocket client closed after a protocol error: ${err.message}`, { code: err.code });
    });
    ws.on('close', () => this.onClose());
    s.on('drain', () => {
      if (this.pumpPending) {
        this.pumpPending = false;
        this.pumpEvents();
      }
      this.tails.resume();
      if (this.paused) this.unpause();
    });
  }

  /**
   * Receiving again: first the frames that arrived while paused (the ws library hands over every frame of a
   * socket read at once, pause or not), as long as they do not pause it again; then the socket.
   */
  private unpause(): void {
    this.paused = false;
    while (!this.paused && this.parked.length > 0 && !this.closed) {
      const [data, isBinary] = this.parked.shift() as [Buffer, boolean];
      this.onMessage(data, isBinary);
    }
    if (!this.paused) this.ws.resume();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    // Paused (backpressure): later frames of the same socket read wait for unpause.
    if (this.paused && !this.closed) {
      this.parked.push([data, isBinary]);
      return;
    }
    this.alive = true;
    const stats = this.gateway.stats;
    stats.framesIn++;
    if (this.closed || this.ending) return;
    if (isBinary) {
      this.badFrame(null, FrameError.binary);
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString());
    } catch (e) {
      this.badFrame(null, `${FrameError.notJson}: ${(e as Error).message}`);
      return;
    }
    const parsed = parseRequest(frame, this.encoding);
    if (!('job' in parsed)) {
      this.badFrame(parsed.id, parsed.error);
      return;
    }
    const job = parsed.job;
    if (this.inFlight >= this.gateway.options.maxInFlight) {
      stats.busyReplies++;
      this.reply(job.id, { error: `${FrameError.tooManyInFlight} (max ${this.gateway.options.maxInFlight})` });
      return;
    }
    this.inFlight++;
    // An authentication (or another non-blocking command that answers later) is pending: keep order.
    if (this.barrier) {
      this.held.push(job);
      return;
    }
    this.dispatch(job);
  }

  /**
   * Answers a malformed frame with BADFRAME: at once, or, while an asynchronous request (a login…) holds
   * later requests, in its turn after them, so that replies keep request order. Over the in-flight cap it
   * is answered at once (holding it would let a flood of bad frames grow `held`).
   */
  private badFrame(id: Id | null, error: string): void {
    this.gateway.stats.badFrames++;
    if (!this.barrier || this.inFlight >= this.gateway.options.maxInFlight) {
      this.reply(id, { error });
      return;
    }
    this.inFlight++;
    this.held.push({
      id: 0,
      kind: 'cmd',
      enc: this.encoding,
      argvs: [],
      next: 0,
      results: [],
      badFrame: { id, error },
    });
  }

  private dispatch(job: Job): void {
    if (job.badFrame !== undefined) {
      this.inFlight--;
      this.reply(job.badFrame.id, { error: job.badFrame.error });
      return;
    }
    if (job.kind === 'multi') {
      this.runMulti(job);
      return;
    }
    if (job.kind === 'tail' || job.kind === 'untail') {
      this.runTail(job);
      return;
    }
    // One blocked command per client: a request with a blocking command waits for the one pending.
    if (this.laneBusy && this.client.multi === null && this.hasBlocking(job)) {
      this.lane.push(job);
      return;
    }
    this.runJob(job);
  }

  private hasBlocking(job: Job): boolean {
    return job.argvs.some((argv) => this.isBlocking(argv));
  }

  /** A `tail` (answered once its cursor is placed, before its pushes) or `untail` request. */
  private runTail(job: Job): void {
    const t = job.tail as TailOpen;
    if (job.kind === 'untail') {
      this.inFlight--;
      this.reply(job.id, { result: this.tails.untail(t.key) });
      return;
    }
    this.tails.open(t, (envelope) => {
      this.inFlight--;
      this.reply(job.id, envelope);
    });
  }

  /** engine.execute, with internal errors as replies and the session kept RESP3 (HELLO 2 and RESET aside). */
  private exec(argv: string[]): Reply | Promise<Reply> {
    const client = this.client;
    this.executing = true;
    let r: Reply | Promise<Reply>;
    try {
      r = this.gateway.engine.execute(client, argv);
    } catch (e) {
      r = internalError(e);
    } finally {
      this.executing = false;
    }
    client.resp = 3;
    return r;
  }

  /**
   * Runs a cmd or pipeline job from `job.next`. Stops at a command that blocks (the job then holds the
   * lane until it resumes) or at QUIT; answers once every command has run.
   */
  private runJob(job: Job): void {
    while (job.next < job.argvs.length) {
      if (this.closed) return;
      if (this.ending) {
        job.results.push({ error: 'ERR not run: the connection is closing' });
        job.next++;
        continue;
      }
      const argv = job.argvs[job.next++];
      const r = this.exec(argv);
      if (r instanceof Promise && isPipelined(r)) {
        // Under way on the Redis engine in order: run the next commands meanwhile, fill the slot later.
        const slot = job.results.length;
        job.results.push({ result: null });
        job.pending = (job.pending ?? 0) + 1;
        // Their replies will fill the send buffer: stop reading while many are to come, or a client that
        // asks faster than it reads would overrun maxBuffer (4408) instead of being slowed down.
        if (++this.awaited >= AWAITED_HIGH_WATER && !this.paused) {
          this.paused = true;
          this.ws.pause();
        }
        r.then(
          (reply) => this.pipelinedDone(job, slot, reply),
          (e) => this.pipelinedDone(job, slot, internalError(e)),
        );
        continue;
      }
      if (r instanceof Promise) {
        if (this.isBlocking(argv)) {
          this.laneBusy = true;
          r.then(
            (reply) => this.resume(job, reply),
            (e) => this.resume(job, internalError(e)),
          );
        } else {
          // AUTH, ACL SETUSER with a password…: later requests wait, so they run with its outcome.
          this.barrier = true;
          r.then(
            (reply) => this.afterBarrier(job, reply),
            (e) => this.afterBarrier(job, internalError(e)),
          );
        }
        return;
      }
      job.results.push(toEnvelope(r, job.enc));
      if (this.client.closeAfterReply) this.ending = true;
    }
    if (!job.pending) this.finish(job);
  }

  /** A pipelined command of `job` answered: fill its slot; the job answers once it has run and none is pending. */
  private pipelinedDone(job: Job, slot: number, reply: Reply): void {
    this.awaited--;
    job.results[slot] = toEnvelope(reply, job.enc);
    job.pending = (job.pending as number) - 1;
    if (this.closed) return;
    if (job.pending === 0 && job.next >= job.argvs.length) this.finish(job);
  }

  /** An asynchronous non-blocking command of `job` answered: carry on with the job, then with held requests. */
  private afterBarrier(job: Job, reply: Reply): void {
    this.barrier = false;
    if (this.closed) return;
    job.results.push(toEnvelope(reply, job.enc));
    if (this.client.closeAfterReply) this.ending = true;
    this.runJob(job);
    while (!this.barrier && this.held.length > 0 && !this.closed) this.dispatch(this.held.shift() as Job);
  }

  /**
   * Whether `argv` names a command flagged `blocking` in the command table that may block: XREAD and
   * XREADGROUP only with BLOCK.
   */
  private isBlocking(argv: string[]): boolean {
    const cmd = lookupCommand(this.gateway.engine, argv);
    if (cmd instanceof ErrorReply || !cmd.spec.flags.includes('blocking')) return false;
    return cmd.root !== 'XREAD' && cmd.root !== 'XREADGROUP' ? true : blockOptionAt(argv) >= 0;
  }

  /** A blocking command of `job` answered: record it, carry on with the job, then with the lane. */
  private resume(job: Job, reply: Reply): void {
    this.laneBusy = false;
    if (this.closed) return;
    job.results.push(toEnvelope(reply, job.enc));
    if (this.client.closeAfterReply) this.ending = true;
    this.runJob(job);
    while (!this.laneBusy && this.lane.length > 0 && !this.closed) this.runJob(this.lane.shift() as Job);
  }

  private finish(job: Job): void {
    this.inFlight--;
    if (job.kind === 'auth' || job.kind === 'cmd') {
      // An `auth` frame, or AUTH / HELLO … AUTH sent as a command.
      const r = job.results[0];
      if ('error' in r && r.error.startsWith('WRONGPASS')) {
        this.logLine('warn', `WebSocket authentication failed: ${r.error}`);
      }
    }
    if (job.kind === 'auth') {
      const r = job.results[0];
      const c = this.client;
      if ('error' in r) this.reply(job.id, r);
      else this.reply(job.id, { result: { user: c.user.name, expiresAt: c.authExpiresAt || null } });
      if (!('error' in r)) this.clearAuthTimer();
    } else if (job.kind === 'cmd') {
      const r = job.results[0];
      const name = job.argvs[0][0].toUpperCase();
      if ((name === 'SUBSCRIBE' || name === 'PSUBSCRIBE') && !('error' in r)) {
        // The stream position, and for a resume the replay: in this same tick, so no event falls between.
        const events = this.gateway.engine.events;
        const stream = job.since
          ? events.resume(this.client, job.argvs[0].slice(1), name === 'PSUBSCRIBE', job.since)
          : events.position();
        this.send(JSON.stringify({ id: job.id, result: r.result, stream }));
        this.pumpEvents();
      } else this.reply(job.id, r);
    } else this.reply(job.id, { result: job.results });
    // A tail that waited for a MULTI to end reads now.
    if (this.tails.hasWaiting && this.client.multi === null) this.tails.resume();
    if (this.ending) this.closeAfterReply();
  }

  /** After the reply to QUIT or to a CLIENT KILL of this very client. */
  private closeAfterReply(): void {
    if (this.killReason !== null) this.closeKilled();
    else this.close(CloseCode.normal, 'QUIT');
  }

  /**
   * MULTI, the commands, EXEC as one synchronous unit. Queueing errors (unknown command, arity) abort it:
   * one `EXECABORT …` error naming the first of them.
   */
  private runMulti(job: Job): void {
    this.inFlight--;
    if (this.client.multi) {
      this.reply(job.id, { error: 'ERR MULTI calls can not be nested (a MULTI sent as a cmd frame is open)' });
      return;
    }
    for (let i = 0; i < job.argvs.length; i++) {
      const name = job.argvs[i][0].toUpperCase();
      if (NOT_IN_MULTI.has(name)) {
        this.reply(job.id, { error: `ERR multi[${i}]: ${name} cannot be used inside a multi frame` });
        return;
      }
    }
    // MULTI itself may be refused (ACL, NOAUTH): then nothing runs, rather than the commands one by one.
    const opened = this.exec(['MULTI']);
    if (opened instanceof ErrorReply) {
      this.reply(job.id, { error: opened.message });
      return;
    }
    let firstError: string | null = null;
    for (let i = 0; i < job.argvs.length; i++) {
      const r = this.exec(job.argvs[i]);
      if (firstError === null && r instanceof ErrorReply) firstError = `multi[${i}]: ${r.message}`;
    }
    const r = this.exec(['EXEC']);
    if (r instanceof Promise) {
      // The Redis engine: EXEC is under way on Redis (later frames are sent after it); answer when it settles.
      r.then(
        (reply) => this.answerExec(job, reply, firstError),
        (e) => this.answerExec(job, internalError(e), firstError),
      );
      return;
    }
    this.answerExec(job, r, firstError);
  }

  /** The reply to a multi frame, from EXEC's. */
  private answerExec(job: Job, r: Reply, firstError: string | null): void {
    if (this.closed) return;
    if (r instanceof ErrorReply) {
      const detail = firstError && r.code === 'EXECABORT' ? ` (${firstError})` : '';
      this.reply(job.id, { error: `${r.message}${detail}` });
    } else if (Array.isArray(r)) {
      this.reply(job.id, { result: r.map((x) => toEnvelope(x, job.enc)) });
    } else if (r instanceof NullArray) {
      // A WATCHed key changed (WATCH sent earlier as a cmd frame): the transaction did not run.
      this.reply(job.id, { result: null });
    } else {
      this.reply(job.id, toEnvelope(r as Reply, job.enc));
    }
    if (this.ending || this.client.closeAfterReply) {
      this.ending = true;
      this.closeAfterReply();
    }
  }

  /**
   * Replays the event log to this connection while it is resuming, a window at a time: more when the
   * socket drains, then it is live again (events/event-log.ts).
   */
  private pumpEvents(): void {
    if (this.closed || this.client.catchup === null) return;
    const window = Math.max(64 * 1024, Math.min(1 << 20, (this.gateway.options.maxBuffer || 8 << 20) / 4));
    if (!this.gateway.engine.events.pump(this.client, window)) this.pumpPending = true;
  }

  /** Pub/sub delivery, MONITOR line (and any other out-of-band reply) as a push frame. */
  private push(reply: Reply): void {
    if (this.closed) return;
    let frame: object;
    const enc = this.encoding;
    if (reply instanceof PushReply && reply.offset !== 0) {
      if (reply.offset > this.streamSent) this.streamSent = reply.offset;
      // A stream event: serialized once per encoding however many subscribers it goes to.
      let cache = reply.encoded;
      let frame = cache?.get(enc);
      if (frame === undefined) {
        // The whole WebSocket frame, header included: each subscriber's write shares this one buffer.
        const payload = Buffer.from(JSON.stringify(streamFrame(reply, enc)));
        frame = Buffer.concat([textFrameHeader(payload.length), payload]);
        if (cache === null) {
          cache = new Map();
          reply.encoded = cache;
        }
        cache.set(enc, frame);
      }
      this.sendBytes(frame, true);
      return;
    }
    if (reply instanceof PushReply && reply.items[0] === 'stream') {
      const { epoch, lastOffset } = this.gateway.engine.events;
      frame = { push: 'stream', recovered: false, epoch, offset: lastOffset };
    } else if (reply instanceof MonitorLine) {
      // Printable ASCII (Redis's escaping), so plain text whatever the connection's encoding.
      frame = { push: 'monitor', data: reply.value };
    } else if (reply instanceof PushReply && reply.items[0] === 'message') {
      const [, channel, data] = reply.items as string[];
      frame = { push: 'message', channel: toJson(channel, enc), data: toJson(data, enc) };
    } else if (reply instanceof PushReply && reply.items[0] === 'pmessage') {
      const [, pattern, channel, data] = reply.items as string[];
      frame = {
        push: 'pmessage',
        pattern: toJson(pattern, enc),
        channel: toJson(channel, enc),
        data: toJson(data, enc),
      };
    } else if (reply instanceof PushReply && typeof reply.items[0] === 'string') {
      frame = { push: reply.items[0], data: reply.items.slice(1).map((r) => toJson(r, enc)) };
    } else {
      frame = { push: 'reply', data: toJson(reply, enc) };
    }
    this.send(JSON.stringify(frame));
  }

  private reply(id: Id | null, envelope: Envelope): void {
    this.send(JSON.stringify('error' in envelope ? { id, error: envelope.error } : { id, result: envelope.result }));
  }

  /**
   * Sends one frame. A connection that already has more than maxBuffer unsent bytes is closed with 4408
   * instead (so memory per connection stays under maxBuffer plus one frame). Frames sent in the same tick
   * leave in one socket write (and one TLS record stream) via cork/uncork.
   */
  private send(text: string): void {
    this.sendBytes(Buffer.from(text));
  }

  /**
   * `send` for a payload already encoded (UTF-8 JSON), or with `framed` a whole frame (header included); the
   * buffer may be shared with other connections.
   */
  private sendBytes(payload: Buffer, framed = false): void {
    if (this.closed) return;
    const ws = this.ws;
    const max = this.gateway.options.maxBuffer;
    const unsent = ws.bufferedAmount + this.pendingBytes;
    if (max > 0 && unsent > max) {
      this.gateway.stats.slowDisconnections++;
      this.logLine('warn', `WebSocket client closed (4408): too slow, more than ${max} bytes unsent`);
      this.close(CloseCode.tooSlow, `too slow: more than ${max} bytes unsent`);
      return;
    }
    const soft = this.gateway.options.softBuffer;
    if (soft > 0 && unsent >= soft) {
      const now = Date.now();
      const secs = this.gateway.options.softSeconds;
      if (this.softSince === 0) this.softSince = now;
      else if (now - this.softSince > secs * 1000) {
        this.gateway.stats.slowDisconnections++;
        this.logLine(
          'warn',
          `WebSocket client closed (4408): too slow, ${soft} bytes or more unsent for over ${secs} s`,
        );
        this.close(CloseCode.tooSlow, `too slow: ${soft} bytes or more unsent for over ${secs} s`);
        return;
      }
    } else this.softSince = 0;
    // Server frames are unmasked text frames (RFC 6455 §5.2); each tick's frames leave in one write.
    if (framed) this.pending.push(payload);
    else this.pending.push(textFrameHeader(payload.length), payload);
    this.pendingBytes += payload.length + 10;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
    this.gateway.stats.framesOut++;
    if (
      !this.paused &&
      ws.bufferedAmount + this.pendingBytes >= (max > 0 ? Math.min(HIGH_WATER, max / 2) : HIGH_WATER)
    ) {
      this.paused = true;
      ws.pause();
    }
  }

  private clearAuthTimer(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
  }

  /** client.kill (CLIENT KILL from another connection, or this one while its request runs). */
  /**
   * client.kill: CLIENT KILL (1000), or the session lost its rights — user deleted or turned off, channel
   * permissions revoked (4401 with the reason). While this connection's own request runs, after its reply.
   */
  private kill(reason: string): void {
    if (this.closed) return;
    this.killReason = reason;
    if (this.executing) {
      this.ending = true;
      return;
    }
    this.closeKilled();
  }

  private closeKilled(): void {
    if (this.killReason === 'client kill') this.close(CloseCode.normal, 'killed (CLIENT KILL)');
    else this.close(CloseCode.unauthorized, this.killReason ?? 'killed');
  }

  /**
   * Every ping interval: a peer that did not answer the last ping is closed; one with subscriptions that is
   * live and got no event while the stream moved on to `lastOffset` gets a `stream` push, so its resume
   * position moves on too (a quiet subscription would otherwise fall behind the log and not recover).
   */
  heartbeat(lastOffset: number, streamPush: () => Buffer): void {
    if (this.closed) return;
    if (!this.alive) {
      this.gateway.stats.deadPeers++;
      this.logLine('info', 'WebSocket client closed (4410): no pong within the ping interval');
      this.close(CloseCode.deadPeer, 'no pong within the ping interval');
      return;
    }
    this.alive = false;
    this.ws.ping();
    const c = this.client;
    if (lastOffset > this.streamSent && c.subscriptionCount > 0 && c.catchup === null) {
      this.streamSent = lastOffset;
      this.sendBytes(streamPush());
    }
  }

  /**
   * Starts the closing handshake with `code`. The engine forgets the client at once (subscriptions,
   * blocked command, WATCH); the socket goes when the peer answers or after CLOSE_TIMEOUT_MS.
   */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.clearAuthTimer();
    this.gateway.engine.clients.remove(this.client);
    this.tails.close();
    this.lane.length = 0;
    this.held.length = 0;
    this.parked.length = 0;
    // The peer's close frame must be read for the handshake to finish.
    if (this.paused) {
      this.paused = false;
      this.ws.resume();
    }
    this.ws.close(code, reason);
  }

  /** Logs `msg` at `level` with this connection's client id and address (and `extra` fields). */
  private logLine(level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>): void {
    this.gateway.log[level]({ clientId: this.client.id, addr: this.client.addr, ...extra }, msg);
  }

  terminate(): void {
    this.closed = true;
    this.clearAuthTimer();
    this.gateway.engine.clients.remove(this.client);
    this.tails.close();
    this.ws.terminate();
  }

  private onClose(): void {
    this.closed = true;
    this.clearAuthTimer();
    this.lane.length = 0;
    this.held.length = 0;
    this.gateway.engine.clients.remove(this.client);
    this.tails.close();
    this.gateway.forget(this);
  }
}

/**
 * Where tails stop reading (unsent bytes): half the soft limit, so that a tail never keeps a slow reader over
 * it (4408), and at most half of maxBuffer; HIGH_WATER when neither limit is set.
 */
function tailHighWater(o: ResolvedOptions): number {
  let limit = Number.POSITIVE_INFINITY;
  if (o.softBuffer > 0) limit = o.softBuffer / 2;
  if (o.maxBuffer > 0) limit = Math.min(limit, o.maxBuffer / 2);
  return Number.isFinite(limit) ? limit : HIGH_WATER;
}

function internalError(e: unknown): ErrorReply {
  const msg = e instanceof Error ? e.message : String(e);
  return new ErrorReply(/^[A-Z]+ /.test(msg) ? msg : `ERR ${msg}`);
}
