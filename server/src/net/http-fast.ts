// The HTTP port's fast lane: the HTTP API's command requests (`POST /`, `/pipeline`, `/multi-exec` with a
// JSON body), read straight from the socket and answered with one write, without node:http's per-request
// objects and streams. Everything else on the port — any other method, path or header, a chunked or large
// body, a query string, a WebSocket upgrade, anything malformed — is left to node:http.
//
// Contract:
// - A connection starts here (`FastLane.accept`). Each request is taken only if its head is a strict subset
//   of HTTP/1.1 (see `parseHead`: `POST <route> HTTP/1.1`, CRLF lines, token names, printable values, only
//   the headers in FAST_HEADERS and each once, one decimal Content-Length, no Transfer-Encoding). The first
//   request that is not is handed, with every byte after the last answered request, to node:http's own
//   connection handler, which then serves the connection to its end. Nothing is ever parsed by both, and the
//   lane never guesses where a message it does not fully understand ends: no request smuggling between the
//   two parsers.
// - Requests on one connection are answered in order; the next one is not started before the previous
//   one's answer is written (a pipelined request waits in the buffer, at most FAST_MAX_HEAD + FAST_MAX_BODY
//   bytes, then the socket is paused).
// - The route's `request` handler gets a FastRequest and a FastResponse standing in for node:http's
//   IncomingMessage and ServerResponse (the members listed on each class, nothing else), and answers with
//   `writeHead(status, flatHeaders)` then `end(payload)`; the lane adds Date, Connection and Keep-Alive.
// - Timeouts as node:http's on the same port: headersTimeout / requestTimeout for a request still arriving
//   (then `onTimeout`, which answers 408), keepAliveTimeout for an idle connection (closed).

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** A request head (request line and headers) longer than this goes to node:http (whose limit, 16 KiB, applies). */
export const FAST_MAX_HEAD = 8 * 1024;
/**
 * A body longer than this goes to node:http, which streams it. Not a limit: both paths take bodies up to the
 * API's own maximum (httpMaxBody).
 */
export const FAST_MAX_BODY = 64 * 1024;
/** Header lines of a head taken here; more go to node:http. */
const FAST_MAX_HEADERS = 32;

/**
 * The only headers a request taken here may carry (lower case), each at most once: those HTTP clients,
 * `fetch` and `@upstash/redis` send with a command. Any other (Origin and Sec-Fetch-Site, which need the CORS
 * checks; Transfer-Encoding; Expect; Upgrade; cookies…) sends the request to node:http. So does a
 * `Connection` other than `keep-alive`.
 */
const FAST_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'content-type',
  'authorization',
  'accept',
  'accept-encoding',
  'accept-language',
  'user-agent',
  'connection',
  'cache-control',
  'pragma',
  'sec-fetch-mode',
  'upstash-sync-token',
  'upstash-encoding',
  'upstash-response-format',
  'x-request-id',
]);
/** `Upstash-Telemetry-*` headers (runtime, platform, SDK) are taken too, each at most once. */
const TELEMETRY_PREFIX = 'upstash-telemetry-';

/** A header name: an RFC 9110 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value taken here: tabs and printable ASCII only (no obs-text, no control characters). */
const VALUE = /^[\t\x20-\x7e]*$/;
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');

/**
 * A request read by the fast lane, standing in for node:http's IncomingMessage in a route's handler: its
 * method (always POST), target (`url`, a route's exact path), headers (lower-case names, one value each),
 * socket, and the whole body (`body`, already read: `complete` is true).
 */
export class FastRequest {
  readonly method = 'POST';
  readonly httpVersion = '1.1';
  readonly complete = true;
  constructor(
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    readonly socket: Socket,
    readonly body: Buffer,
  ) {}
}

/** The body of a request the fast lane read (see FastRequest), or undefined for node:http's own requests. */
export function fastBody(req: IncomingMessage): Buffer | undefined {
  const r: unknown = req;
  return r instanceof FastRequest ? r.body : undefined;
}

/**
 * A response of the fast lane, standing in for node:http's ServerResponse in a route's handler:
 * `headersSent`, `destroyed`, `setHeader`, `writeHead(status, [name, value, …])` and `end(payload)`. Header
 * names and values must be valid (they are not checked: they come from kvws, never from the request).
 */
export class FastResponse {
  headersSent = false;
  private status = 200;
  private head: readonly string[] = [];
  private extra: string[] | null = null;
  constructor(private readonly conn: FastConnection) {}

  get destroyed(): boolean {
    return this.conn.socket.destroyed;
  }

  setHeader(name: string, value: string | number): this {
    this.extra ??= [];
    this.extra.push(name, String(value));
    return this;
  }

  writeHead(status: number, headers: readonly string[]): this {
    this.status = status;
    this.head = headers;
    this.headersSent = true;
    return this;
  }

  end(payload: string | Buffer = ''): void {
    this.headersSent = true;
    this.conn.respond(this, this.status, this.head, this.extra, payload);
  }
}

/** A route's handler, as HttpsServer routes have it. */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface FastLaneOptions {
  /** The handler of a route the lane serves at exactly `path` (its `fast` flag), or null. */
  route: (path: string) => Handler | null;
  /** node:http's handler for a connection, called for a connection the lane hands over. */
  handOver: (socket: Socket) => void;
  /** A request still arriving after headersTimeout / requestTimeout: answer 408 and close (as node:http's). */
  onTimeout: (socket: Socket) => void;
  /** A socket error (a reset…): counted by the server; the socket is destroyed. */
  onError: (socket: Socket) => void;
  /** Milliseconds, as the server's options (0 = no limit for requestTimeout). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** How often timeouts are checked. */
  checkIntervalMs: number;
}

/** `Date:` value, remade at most once a second. */
let dateText = '';
let dateUntil = 0;
function httpDate(now: number): string {
  if (now >= dateUntil) {
    dateText = new Date(now).toUTCString();
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateText;
}

const kFast = Symbol('kvws.fastConnection');
type FastSocket = Socket & { [kFast]?: FastConnection };

/** A request head that the lane takes: the route's handler, the target, the headers and the body's length. */
interface Head {
  handler: Handler;
  path: string;
  headers: IncomingHttpHeaders;
  length: number;
}

/**
 * The request head `text` (without its final CRLF CRLF) when the lane takes it (see the file comment), else
 * null: then the request goes to node:http, which answers it or refuses it with its own error.
 */
function parseHead(text: string, route: (path: string) => Handler | null): Head | null {
  const eol = text.indexOf('\r\n');
  if (eol < 0) return null;
  const line = text.slice(0, eol);
  if (!line.startsWith('POST /') || !line.endsWith(' HTTP/1.1')) return null;
  const path = line.slice(5, line.length - 9);
  const handler = route(path);
  if (handler === null) return null;
  const lines = text.slice(eol + 2).split('\r\n');
  if (lines.length > FAST_MAX_HEADERS) return null;
  const headers: IncomingHttpHeaders = {};
  let length = -1;
  let host = false;
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon <= 0) return null;
    const name = l.slice(0, colon);
    if (!TOKEN.test(name)) return null;
    const lower = name.toLowerCase();
    if (!FAST_HEADERS.has(lower) && !lower.startsWith(TELEMETRY_PREFIX)) return null;
    const raw = l.slice(colon + 1);
    if (!VALUE.test(raw)) return null;
    const value = raw.trim();
    if (headers[lower] !== undefined) return null;
    headers[lower] = value;
    if (lower === 'content-length') {
      if (!/^\d{1,9}$/.test(value)) return null;
      length = Number(value);
      if (length > FAST_MAX_BODY) return null;
    } else if (lower === 'connection') {
      if (value.toLowerCase() !== 'keep-alive') return null;
    } else if (lower === 'host') host = true;
  }
  // HTTP/1.1 requires Host; a POST without a Content-Length is chunked or refused: node:http's to answer.
  if (!host || length < 0) return null;
  return { handler, path, headers, length };
}

/** One connection served by the lane (see the file comment), until it closes or is handed over. */
class FastConnection {
  /** Bytes received and not yet taken as a request. */
  private buf: Buffer | null = null;
  /** A request was taken and its answer is not written yet. */
  private busy = false;
  /** Waiting for 'drain' before reading on. */
  private blocked = false;
  /** In `next` (an answer written from inside it needs no new call). */
  private inNext = false;
  /** The peer ended its side. */
  private ended = false;
  /** The answer awaited (a FastResponse answers once). */
  private current: FastResponse | null = null;
  /** When the bytes of the request now arriving began (buf non-null), or the connection went idle. */
  since: number;

  constructor(
    readonly lane: FastLane,
    readonly socket: FastSocket,
  ) {
    this.since = Date.now();
  }

  /** Bytes from the socket. */
  receive(d: Buffer): void {
    if (this.buf === null) {
      this.buf = d;
      if (!this.busy) this.since = Date.now();
    } else {
      this.buf = Buffer.concat([this.buf, d]);
    }
    if (!this.busy && !this.blocked) this.next();
    else if (this.buf !== null && this.buf.length > FAST_MAX_HEAD + FAST_MAX_BODY) this.socket.pause();
  }

  /**
   * The peer ended its side: the connection ends too, as node:http's does (no half-open connections); a
   * request still running is then cancelled with its session when the socket closes.
   */
  end(): void {
    this.ended = true;
    this.socket.end();
  }

  /** Whether a request is arriving for longer than its timeout (then the lane answers 408). */
  timedOut(now: number): boolean {
    if (this.busy || this.buf === null) return false;
    const age = now - this.since;
    const o = this.lane.options;
    if (o.requestTimeoutMs > 0 && age > o.requestTimeoutMs) return true;
    return age > o.headersTimeoutMs && this.buf.indexOf(CRLF2) < 0;
  }

  /** Idle (nothing running or arriving) for longer than keepAliveTimeout. */
  idleTooLong(now: number): boolean {
    return this.idle && now - this.since > this.lane.options.keepAliveTimeoutMs;
  }

  /** Nothing running or arriving. */
  get idle(): boolean {
    return !this.busy && this.buf === null;
  }

  /** Takes the complete requests buffered, one at a time (see the file comment). */
  private next(): void {
    this.inNext = true;
    try {
      while (this.buf !== null && !this.busy && !this.blocked) {
        const buf = this.buf;
        const end = buf.indexOf(CRLF2);
        if (end < 0 || end > FAST_MAX_HEAD) {
          if (buf.length > FAST_MAX_HEAD) this.handOver();
          return;
        }
        const head = parseHead(buf.toString('latin1', 0, end), this.lane.options.route);
        if (head === null) {
          this.handOver();
          return;
        }
        const total = end + 4 + head.length;
        if (buf.length < total) return; // the body is still arriving
        const body = buf.subarray(end + 4, total);
        this.buf = total === buf.length ? null : buf.subarray(total);
        this.busy = true;
        this.lane.requests++;
        const res = new FastResponse(this);
        this.current = res;
        const req = new FastRequest(head.path, head.headers, this.socket, body);
        try {
          head.handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
        } catch {
          // Handlers answer their own errors; one that throws anyway leaves no answer to wait for.
          this.socket.destroy();
          return;
        }
      }
    } finally {
      this.inNext = false;
    }
  }

  /** Writes the answer of the request running (see FastResponse.end), then goes on with the next one. */
  respond(
    res: FastResponse,
    status: number,
    head: readonly string[],
    extra: string[] | null,
    payload: string | Buffer,
  ): void {
    if (res !== this.current) return;
    this.current = null;
    this.busy = false;
    const socket = this.socket;
    const now = Date.now();
    this.since = now;
    if (!socket.writable) return;
    const last = this.lane.closing || this.ended;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
    for (let i = 0; i < head.length; i += 2) text += `${head[i]}: ${head[i + 1]}\r\n`;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) text += `${extra[i]}: ${extra[i + 1]}\r\n`;
    text += `Date: ${httpDate(now)}\r\n${last ? 'Connection: close\r\n' : this.lane.keepAliveLines}\r\n`;
    if (typeof payload === 'string') socket.write(text + payload);
    else socket.write(Buffer.concat([Buffer.from(text, 'latin1'), payload]));
    if (last) {
      socket.end();
      return;
    }
    if (socket.writableNeedDrain) {
      this.blocked = true;
      socket.pause();
      socket.once('drain', () => {
        this.blocked = false;
        socket.resume();
        if (!this.busy) this.next();
      });
      return;
    }
    if (socket.isPaused()) socket.resume();
    if (!this.inNext && this.buf !== null) this.next();
  }

  /**
   * Gives the connection to node:http: the lane lets go of the socket, puts the bytes not taken back in
   * front of its stream, and node:http's connection handler takes over (on the next tick, outside this
   * read's callback). After the peer ended its side, the connection is ended instead.
   */
  private handOver(): void {
    const socket = this.socket;
    const rest = this.buf;
    this.buf = null;
    this.lane.release(this);
    if (this.ended) {
      socket.end();
      return;
    }
    // Until node:http's own listeners are on (next tick), an error must not go unheard.
    socket.on('error', ignoreError);
    socket.pause();
    if (rest !== null) socket.unshift(rest);
    process.nextTick(() => {
      if (socket.destroyed) return;
      this.lane.handedOver++;
      this.lane.options.handOver(socket);
      socket.removeListener('error', ignoreError);
      socket.resume();
    });
  }
}

function ignoreError(): void {}

function onData(this: FastSocket, d: Buffer): void {
  this[kFast]?.receive(d);
}
function onEnd(this: FastSocket): void {
  this[kFast]?.end();
}
function onError(this: FastSocket): void {
  const c = this[kFast];
  if (c === undefined) return;
  c.lane.options.onError(this);
  this.destroy();
}
function onClose(this: FastSocket): void {
  const c = this[kFast];
  if (c !== undefined) c.lane.release(c);
}

/** The lane's listeners on a socket it serves (shared by every connection: no closures per connection). */
const SOCKET_LISTENERS = [
  ['data', onData],
  ['end', onEnd],
  ['error', onError],
  ['close', onClose],
] as const;

/**
 * The fast lane of one HttpsServer (see the file comment). Contract: `accept` each new connection (after
 * admission and, over TLS, the handshake); `close` when the server closes: idle connections are closed
 * then, busy ones after their answer (`Connection: close`).
 */
export class FastLane {
  readonly options: FastLaneOptions;
  /** Connections served here now. */
  private readonly conns = new Set<FastConnection>();
  private readonly timer: NodeJS.Timeout;
  /** The server is closing: answers say `Connection: close` and end their connection. */
  closing = false;
  /** Requests taken here, and connections handed over to node:http (INFO). */
  requests = 0;
  handedOver = 0;
  /** `Connection` and `Keep-Alive` lines of a keep-alive answer. */
  readonly keepAliveLines: string;

  constructor(options: FastLaneOptions) {
    this.options = options;
    this.keepAliveLines = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(options.keepAliveTimeoutMs / 1000)}\r\n`;
    this.timer = setInterval(() => this.check(), options.checkIntervalMs);
    this.timer.unref();
  }

  /** Serves a new connection. */
  accept(socket: Socket): void {
    const s = socket as FastSocket;
    if (s.destroyed) return;
    const c = new FastConnection(this, s);
    s[kFast] = c;
    this.conns.add(c);
    for (const [event, f] of SOCKET_LISTENERS) s.on(event, f);
  }

  /** The connection leaves the lane (closed, or handed over): its listeners go. */
  release(c: FastConnection): void {
    const s = c.socket;
    if (s[kFast] !== c) return;
    s[kFast] = undefined;
    this.conns.delete(c);
    for (const [event, f] of SOCKET_LISTENERS) s.removeListener(event, f);
  }

  /** Connections served here now. */
  get size(): number {
    return this.conns.size;
  }

  /** Closes idle connections; busy ones close after their answer. */
  close(): void {
    this.closing = true;
    clearInterval(this.timer);
    for (const c of [...this.conns]) if (c.idle) c.socket.destroy();
  }

  private check(): void {
    const now = Date.now();
    for (const c of [...this.conns]) {
      if (c.idleTooLong(now)) c.socket.destroy();
      else if (c.timedOut(now)) {
        this.release(c);
        this.options.onTimeout(c.socket);
      }
    }
  }
}
