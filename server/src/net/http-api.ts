import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Envelope } from '@kvws/shared/protocol';
import { NOAUTH } from '../auth/acl.js';
import type { User } from '../auth/acl-user.js';
import { RESERVED_CLAIMS, TokenError } from '../auth/jwt.js';
import type { ApiToken } from '../config.js';
import type { Client } from '../engine/client.js';
import { type Engine, MonitorLine } from '../engine/engine.js';
import { type Logger, silentLogger } from '../log.js';
import { fromJsonArg, resp2Json } from '../protocol/json.js';
import { ErrorReply, MultiReply, PushReply, type Reply } from '../protocol/reply.js';
import { RespWriter } from '../protocol/resp.js';
import { certificateUser } from './admission.js';
import { fastBody } from './http-fast.js';
import { BASE_SECURITY_HEADERS, type HttpsServer, pathOf } from './https-server.js';
import { clientForSocket, formatAddr, isLoopback, loggedInByCertificate } from './resp-server.js';
import { originAllowed } from './ws-gateway.js';

/**
 * The HTTP API: Upstash's REST API (so the unmodified `@upstash/redis` client works with kvws's URL and a
 * token), plus kvws's token endpoints. Spec: docs/http-api.md.
 *
 *   POST /                        ["SET","k","v"]            → 200 {"result": "OK"}, 400 {"error": "…"}
 *   GET|HEAD|POST|PUT /<cmd>/<arg>/…[?NAME=VALUE|FLAG…]      the path form: one command from the path
 *                                 (a POST/PUT body is one more argument, before the query's)
 *   POST /pipeline                [["SET","k","v"],["GET","k"]] → 200 [{"result": …}, {"error": …}] (not atomic)
 *   POST /multi-exec              [[…], […]]                 → 200 [{"result": …}, …] (MULTI … EXEC), 400 EXECABORT
 *   POST /auth/token              {"username","password",…} or a Bearer token → 200 {"token",…}
 *   GET  /.well-known/jwks.json   kvws's public signing keys
 *   POST /subscribe/<channel>     (or GET) → 200 text/event-stream of the channel's messages (see `stream`)
 *   POST /psubscribe/<pattern>    (or GET) → 200 text/event-stream of messages on matching channels
 *   POST /monitor                 (or GET) → 200 text/event-stream of MONITOR lines (admins)
 *   OPTIONS <any of these>        CORS preflight → 204
 *
 * Every request to the command endpoints is its own session: a fresh `Client` (front door `http`; a
 * keep-alive connection's last one reopened with a new id, see Client.reopen) that lives until its answer
 * is written, its event stream ends, or the socket closes, authenticated by a token in `Authorization: Bearer`
 * or `?_token=` (a static API token from `apiTokens`, or a kvws/external JWT), or, without one, the default
 * user when it is open and the peer is loopback. Commands go through `engine.execute` like every other
 * front door's. Results are RESP2-shaped JSON (`resp2Json`), in UTF-8 text or, with `Upstash-Encoding:
 * base64`, base64; `Upstash-Response-Format: resp2` answers the raw RESP2 bytes instead.
 *
 * Every response carries `Vary: Origin`, `X-Content-Type-Options: nosniff`, `Cache-Control: no-store`
 * (except the JWKS), `X-Request-Id` (the request's id: the client's own `X-Request-Id` when it is a sane
 * token, see `requestId`, else one made here) and, on the command endpoints, `upstash-sync-token` (the
 * server's count of key changes so far); a request from an allowed browser origin gets the CORS headers.
 * Failed requests are logged with their `reqId` (see HttpApiOptions.logger); no log line or error message
 * repeats a token or a password, and none holds a query string or a request body.
 */

export interface HttpApiOptions {
  /** Largest request body in bytes. A larger one gets 413 and is not buffered (see `readBody`). Default 1 MiB. */
  maxBody?: number;
  /**
   * While the default user is open, requests without a token run as it only from loopback (like the other
   * front doors' protected mode); false allows them from anywhere. Default true. Read at each request.
   */
  protectedMode?: boolean;
  /** Accept the token as `?_token=` too. Default: the server option `httpQueryToken` (true). Read at each request. */
  queryToken?: boolean;
  /**
   * Browser origins allowed besides the server's own (canonical form, `null` or `*`; see `originAllowed`).
   * Default: the server option `allowedOrigins`, shared with the WebSocket gateway. Read at each request.
   */
  allowedOrigins?: string[];
  /** Static API tokens bound to ACL users. Default: the server option `apiTokens`. Read once, at construction. */
  apiTokens?: ApiToken[];
  /**
   * Lines about failed requests, each with its `reqId`, method, route (the path's first segment, never a
   * key or a value), status and `addr`: 5xx at error (with the exception), 401 at warn, 403 at info, other
   * 4xx at debug. Default: none. Read once, at construction.
   */
  logger?: Logger;
}

/** Counters for INFO (stats section, `http_*`). */
export interface HttpApiStats {
  /** Requests to the API's routes (any method). */
  requests: number;
  /** Responses by status class. */
  responses2xx: number;
  responses4xx: number;
  responses5xx: number;
  /** 401s: no credentials where they are needed, a refused token, a wrong password. */
  authFailures: number;
  /** 413s: bodies over maxBody. */
  rejectedBodyTooLarge: number;
  /** Tokens issued by POST /auth/token. */
  tokensIssued: number;
  /** Event streams opened by /subscribe/ and /psubscribe/. */
  streams: number;
  /** Event streams closed because their peer did not read (more than `wsMaxBuffer` bytes unsent). */
  streamsTooSlow: number;
  /** 403s: a browser origin not in `allowedOrigins`, or a cross-site request without an Origin. */
  rejectedOrigin: number;
}

/** A request refused before (or instead of) running commands: status, `{error}` text, extra headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * One per request that runs commands: the session and why it was closed under us, if it was. Once the
 * request is answered, the object, its Client (reopened: a new id, see Client.reopen) and its `kill` hook
 * may serve the same connection's next request (see Connection).
 */
interface Session {
  client: Client;
  /** Set by client.kill (CLIENT KILL, user deleted or turned off, token expired); later commands do not run. */
  killed: string | null;
  /** The connection whose request it serves. */
  conn: Connection;
  /** May be recycled once answered; false for an event stream's (its hooks are the stream's). */
  recyclable: boolean;
}

/** The sessions of one connection (kept on its socket under kConnection). */
interface Connection {
  /**
   * Sessions of its requests in progress (several when requests are pipelined); ended when it closes. An
   * array: a Set that empties at every request reallocates its table each time.
   */
  active: Session[];
  /** The last answered request's session, closed, for the next request to reopen; or null. */
  idle: Session | null;
  /**
   * The socket's client certificate names a user (clientForSocket logs sessions in as it): sessions are
   * not recycled then (reopen would log them out), and only then can one be logged in by certificate.
   */
  certificateUser: boolean;
  /** The peer is on loopback (protected mode). */
  loopback: boolean;
}

/** A route: the methods it answers and its handler (which may throw HttpError). */
interface Endpoint {
  /** The route also serves every path under it (see HttpsServer.route). */
  prefix?: boolean;
  /** POST requests to exactly this path may come from the fast lane (see http-fast.ts and Route.fast). */
  fast?: boolean;
  methods: readonly string[];
  /** Answers the request, now or later; may throw (or reject with) an HttpError, answered by `serve`. */
  handle: (req: IncomingMessage, res: ServerResponse) => undefined | Promise<void>;
}

/** A command request's start (see `HttpApi.start`): its session, reply format and query, and a login still under way. */
interface Started {
  session: Session;
  format: ReplyFormat;
  query: Query;
  /** The JWT check still running (resolves when logged in, rejects with HttpError 401); null when done. */
  pending: Promise<void> | null;
}

/** Receives a request body: an HttpError (413, or 400 for a body cut short) or the body's bytes. */
type BodyCallback = (err: HttpError | null, body: Buffer) => void;

const NO_BODY = Buffer.alloc(0);
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** How a request wants its results: `Upstash-Encoding` and `Upstash-Response-Format`. */
interface ReplyFormat {
  /** `Upstash-Encoding: base64`: every string of a result in base64 (see `resp2Json`). */
  readonly base64: boolean;
  /** `Upstash-Response-Format: resp2`: the raw RESP2 bytes (application/octet-stream). */
  readonly resp2: boolean;
}

/** The format of a request without those headers: UTF-8 JSON. */
const JSON_FORMAT: ReplyFormat = Object.freeze({ base64: false, resp2: false });

/** What the query string holds: the token of `_token`, and every other parameter as arguments. */
interface Query {
  /** `_token`'s value (percent-decoded); undefined without one. */
  token: string | undefined;
  /** `lastEventId`'s value (an SSE resume where headers cannot be set; also left in `args`); undefined without one. */
  lastEventId: string | undefined;
  /** `NAME=VALUE` → NAME, VALUE; a bare `FLAG` → FLAG; in order, percent-decoded (`+` = space). */
  readonly args: readonly string[];
}

/** The query of a URL without one. */
const NO_QUERY: Readonly<Query> = Object.freeze({ token: undefined, lastEventId: undefined, args: Object.freeze([]) });

/** A static API token, ready to compare: the SHA-256 of the token, its user and whether it is read-only. */
interface StaticToken {
  hash: Buffer;
  user: string;
  readonly: boolean;
}

/** After a 413, what the peer still sends is read and dropped up to this many bytes, so it can see the answer. */
const LINGER_BYTES = 4 * 1024 * 1024;
/** …and for at most this long; then the connection is closed. */
const LINGER_MS = 2000;

/** The `Cache-Control` of the JWKS: public keys change only at rotation (old ones stay listed for maxTtl). */
const JWKS_CACHE_CONTROL = 'public, max-age=300';

/** The methods of the path form (Upstash's list). */
const PATH_FORM_METHODS = ['GET', 'HEAD', 'POST', 'PUT'] as const;
/** CORS preflight answers: the methods and request headers a page may use (those @upstash/redis 1.39 sends). */
const CORS_ALLOW_METHODS = 'GET, HEAD, POST, PUT, OPTIONS';
const CORS_ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'Accept',
  'Cache-Control',
  'Upstash-Encoding',
  'Upstash-Response-Format',
  'Upstash-Sync-Token',
  'Upstash-Telemetry-Runtime',
  'Upstash-Telemetry-Platform',
  'Upstash-Telemetry-Sdk',
  'Upstash-Telemetry-Retry',
  'X-Request-Id',
].join(', ');
/** Seconds a browser may cache a preflight answer (Chromium caps it at 7200). */
export const CORS_MAX_AGE = 600;
/** Longest `Upstash-Sync-Token` request header accepted (its value is otherwise ignored). */
export const MAX_SYNC_TOKEN = 256;
/**
 * The rights a `readonly` API token narrows its user to: read commands on every key (read access only),
 * connection commands, subscriptions and transactions of read commands; never writes, admin or
 * dangerous commands (KEYS, …). Both these and the user's own rules must allow a command.
 */
export const READONLY_TOKEN_RULES =
  '%R~* &* +@read +@connection +@transaction +subscribe +psubscribe -@write -@admin -@dangerous';

const SUBSCRIPTIONS =
  'subscriptions need a stream: use POST /subscribe/<channel> or /psubscribe/<pattern> (server-sent events), or the WebSocket endpoint /ws';
const TRANSACTIONS = 'each request is its own session: send the whole transaction to /multi-exec';
/** Commands that need a connection's state across requests, refused (400) with the reason. */
const NOT_OVER_HTTP: ReadonlyMap<string, string> = new Map([
  ['SUBSCRIBE', SUBSCRIPTIONS],
  ['PSUBSCRIBE', SUBSCRIPTIONS],
  ['SSUBSCRIBE', SUBSCRIPTIONS],
  ['MONITOR', 'it streams: use POST /monitor (server-sent events), the WebSocket or the RESP port'],
  ['MULTI', TRANSACTIONS],
  ['EXEC', TRANSACTIONS],
  ['DISCARD', TRANSACTIONS],
  ['WATCH', 'each request is its own session, so a WATCH would end with the request'],
  ['UNWATCH', 'each request is its own session, so nothing is watched'],
  ['QUIT', 'there is no connection to close'],
  ['RESET', 'each request is already a fresh session'],
  ['HELLO', 'the HTTP API always answers in JSON'],
  ['AUTH', 'send a token in the Authorization header (Bearer), from POST /auth/token'],
]);

/** Fields of a POST /auth/token body. */
const TOKEN_REQUEST_FIELDS = new Set(['username', 'password', 'ttl', 'acl', 'claims']);

const badRequest = (message: string) => new HttpError(400, `ERR ${message}`);

/**
 * An event stream writes the comment line `: keepalive` this often, so that the peer and the proxies
 * between see it alive (a client may treat a much longer silence as a dead connection).
 */
export const SSE_KEEPALIVE_MS = 15_000;

/**
 * One server-sent event whose data is `text` (a binary string, sent as its bytes): one `data:` line per
 * line of it (SSE readers join them with "\n"; a CR or CRLF in a message therefore arrives as LF), then the
 * blank line that ends the event.
 */
function sseEvent(text: string, id = ''): Buffer {
  const head = id === '' ? '' : `id: ${id}\n`;
  return Buffer.from(`${head}data: ${text.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`, 'latin1');
}

/** `<epoch>:<offset>` from a Last-Event-ID header (or `?lastEventId=`), or null when absent or malformed. */
function parseEventId(v: string | null | undefined): { epoch: string; offset: number } | null {
  const m = /^([0-9A-Za-z_-]{1,64}):(\d{1,15})$/.exec((v ?? '').trim());
  return m ? { epoch: m[1], offset: Number(m[2]) } : null;
}

/**
 * Percent-decodes `s` (a path segment or query part, as Node gives it: one char per byte) into an engine
 * binary string: `%XX` becomes that byte, other characters stay as they are, so UTF-8 text arrives as its
 * bytes and any byte can be sent; with `plusIsSpace` (query strings) `+` is a space. Returns null for a `%`
 * not followed by two hex digits.
 */
export function percentDecode(s: string, plusIsSpace: boolean): string | null {
  if (!s.includes('%') && !(plusIsSpace && s.includes('+'))) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 2;
    } else if (c === '+' && plusIsSpace) out += ' ';
    else out += c;
  }
  return out;
}

/**
 * The query string: `_token` apart, every other parameter as arguments (see Query). Throws HttpError 400
 * for bad percent-encoding or a second `_token` (without quoting either).
 */
function parseQuery(req: IncomingMessage): Query {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  if (q < 0) return NO_QUERY;
  const args: string[] = [];
  const out: Query = { token: undefined, lastEventId: undefined, args };
  for (const part of url.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = percentDecode(eq < 0 ? part : part.slice(0, eq), true);
    const value = eq < 0 ? null : percentDecode(part.slice(eq + 1), true);
    if (name === null || (eq >= 0 && value === null)) {
      throw badRequest('the query string is not valid percent-encoding');
    }
    if (name === '_token') {
      if (out.token !== undefined) throw badRequest('give _token once');
      out.token = value ?? '';
      continue;
    }
    // Read by the event streams; a command's path form still gets it as arguments, as any other.
    if (name === 'lastEventId') out.lastEventId = value ?? '';
    args.push(name);
    if (value !== null) args.push(value);
  }
  return out;
}

/** A request header's value (repeated ones joined with ", "), or undefined. */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * The request's `Upstash-Encoding` and `Upstash-Response-Format` (see ReplyFormat), after checking the
 * `Upstash-Sync-Token` header: printable ASCII, at most MAX_SYNC_TOKEN characters (kvws is one node, so its
 * value is not needed). Throws HttpError 400 for an unknown encoding or format, base64 with resp2, or a bad
 * sync token (never quoted).
 */
function replyFormat(req: IncomingMessage): ReplyFormat {
  const h = req.headers;
  if (
    h['upstash-sync-token'] === undefined &&
    h['upstash-encoding'] === undefined &&
    h['upstash-response-format'] === undefined
  ) {
    return JSON_FORMAT;
  }
  const sync = header(req, 'upstash-sync-token');
  if (sync !== undefined && (sync.length > MAX_SYNC_TOKEN || !/^[\x20-\x7e]*$/.test(sync))) {
    throw badRequest(`the Upstash-Sync-Token header must be printable ASCII of at most ${MAX_SYNC_TOKEN} characters`);
  }
  const enc = (header(req, 'upstash-encoding') ?? '').trim().toLowerCase();
  if (enc !== '' && enc !== 'base64') throw badRequest('the Upstash-Encoding header takes one value: base64');
  const format = (header(req, 'upstash-response-format') ?? '').trim().toLowerCase();
  if (format !== '' && format !== 'json' && format !== 'resp2') {
    throw badRequest('the Upstash-Response-Format header takes json or resp2');
  }
  if (enc === 'base64' && format === 'resp2') {
    throw badRequest('Upstash-Encoding: base64 cannot be combined with Upstash-Response-Format: resp2');
  }
  return { base64: enc === 'base64', resp2: format === 'resp2' };
}

/**
 * The body as JSON. Throws HttpError 400 for an empty body or one that is not JSON (naming the position,
 * never quoting the body: it may hold a password).
 */
function parseJson(body: Buffer, example: string): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw badRequest(`the request body is empty: send ${example}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    throw badRequest(`the request body is not valid JSON${pos ? ` (at position ${pos[1]})` : ''}: send ${example}`);
  }
}

/**
 * One command of a request body (`where` names it in errors: "" for POST /, "[3]" in a pipeline) as engine
 * binary strings: strings are sent as their UTF-8 bytes, numbers as their decimal text. Throws HttpError
 * 400 naming the bad element.
 */
function parseCommand(x: unknown, where: string): string[] {
  const what = where === '' ? 'the command' : `command ${where}`;
  if (!Array.isArray(x)) throw badRequest(`${what} must be a JSON array: ["NAME", ...arguments]`);
  if (x.length === 0) throw badRequest(`${what} is empty: a command needs at least its name`);
  const argv = new Array<string>(x.length);
  for (let i = 0; i < x.length; i++) {
    const a: unknown = x[i];
    if (typeof a !== 'string' && !(typeof a === 'number' && Number.isFinite(a))) {
      throw badRequest(`${where}[${i}]: expected a string or a finite number`);
    }
    argv[i] = fromJsonArg(a, 'utf8');
  }
  return argv;
}

/**
 * `parseCommand(parseJson(body))` for the common body, read straight from its bytes: a JSON array of one or
 * more strings of printable ASCII without escapes (`["SET","k","v"]`), with no blank anywhere. Returns null
 * for any other body (which then takes the general path, with the same result or error).
 */
function quickCommand(body: Buffer): string[] | null {
  const n = body.length;
  if (n < 4 || body[0] !== 0x5b /* [ */ || body[n - 1] !== 0x5d /* ] */) return null;
  const argv: string[] = [];
  let i = 1;
  for (;;) {
    if (body[i] !== 0x22 /* " */) return null;
    const start = ++i;
    for (;;) {
      if (i >= n) return null;
      const c = body[i];
      if (c === 0x22) break;
      if (c < 0x20 || c > 0x7e || c === 0x5c /* \ */) return null;
      i++;
    }
    // Printable ASCII: its latin1 text is the engine binary string fromJsonArg would make.
    argv.push(body.toString('latin1', start, i));
    i++;
    const c = body[i];
    if (c === 0x2c /* , */) i++;
    else return c === 0x5d && i === n - 1 ? argv : null;
  }
}

/** A list of commands (pipeline, multi-exec): at least one. Throws HttpError 400. */
function parseCommands(x: unknown, endpoint: string): string[][] {
  if (!Array.isArray(x)) throw badRequest(`${endpoint} takes a JSON array of commands: [["SET","k","v"],["GET","k"]]`);
  if (x.length === 0) throw badRequest(`${endpoint} takes at least one command`);
  return x.map((c, i) => parseCommand(c, `[${i}]`));
}

/**
 * The shortest and longest of NOT_OVER_HTTP's names: a command outside (GET, SET) needs no lookup.
 * Upper-casing never shortens a string; it lengthens one only by `ß` → `SS`, and the one name holding
 * `SS`, SSUBSCRIBE, comes from no fewer than 9 characters.
 */
const NOT_OVER_HTTP_MIN = Math.min(...[...NOT_OVER_HTTP.keys()].map((k) => k.length));
const NOT_OVER_HTTP_MAX = Math.max(...[...NOT_OVER_HTTP.keys()].map((k) => k.length));

/** The refusal of a command that needs a connection (NOT_OVER_HTTP), or null. */
function notOverHttp(argv: string[]): string | null {
  const n = argv[0].length;
  if (n < NOT_OVER_HTTP_MIN || n > NOT_OVER_HTTP_MAX) return null;
  const name = argv[0].toUpperCase();
  const why = NOT_OVER_HTTP.get(name);
  return why === undefined ? null : `ERR ${name} is not supported by the HTTP API: ${why}`;
}

function internalError(e: unknown): ErrorReply {
  const msg = e instanceof Error ? e.message : String(e);
  return new ErrorReply(/^[A-Z]+ /.test(msg) ? msg : `ERR ${msg}`);
}

/** A top-level reply as an envelope: errors become `{error}` (never base64), everything else `{result}`. */
function envelope(reply: Reply, base64: boolean): Envelope {
  return reply instanceof ErrorReply ? { error: reply.message } : { result: resp2Json(reply, base64) };
}

/**
 * `JSON.stringify(envelope(reply, base64))`, put together directly for an error or a result that is a
 * string, a number or null (JSON.stringify of the object costs several times more).
 */
function envelopeJson(reply: Reply, base64: boolean): string {
  if (reply instanceof ErrorReply) return `{"error":${jsonString(reply.message)}}`;
  const v = resp2Json(reply, base64);
  if (typeof v === 'string') return `{"result":${jsonString(v)}}`;
  if (typeof v === 'number' && Number.isFinite(v)) return `{"result":${v}}`;
  if (v === null) return '{"result":null}';
  return JSON.stringify({ result: v });
}

/** `JSON.stringify(s)`, without calling it for a short string that needs no escaping. */
function jsonString(s: string): string {
  if (s.length > 64) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Control characters, `"`, `\` and (lone) surrogates are escaped by JSON.stringify.
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** Replies as the bytes a RESP2 connection would receive for them, one after another. */
function resp2Bytes(replies: Reply[]): Buffer {
  const w = new RespWriter();
  for (const r of replies) w.write(r, 2);
  // take() may point into a slab that later writes reuse: copy.
  return Buffer.from(w.take());
}

/** A request body being read (see `HttpApi.readBodyThen`), kept on its request under kBody. */
class BodyRead {
  first: Buffer | null = null;
  chunks: Buffer[] | null = null;
  size = 0;
  constructor(
    readonly max: number,
    /** Content-Length (NaN without one). */
    readonly length: number,
    readonly done: BodyCallback,
  ) {}
}

const kBody = Symbol('kvws.httpBody');
type BodyRequest = IncomingMessage & { [kBody]?: BodyRead | null };

/**
 * Ends a body read: calls its callback (once). The listeners stay (removing them costs more than their
 * calls that follow, which find no read and return).
 */
function finishBody(req: BodyRequest, err: HttpError | null, body: Buffer): void {
  const b = req[kBody];
  if (!b) return;
  req[kBody] = null;
  b.done(err, body);
}

function onBodyData(this: BodyRequest, d: Buffer): void {
  const b = this[kBody];
  if (!b) return;
  b.size += d.length;
  if (b.size > b.max) {
    this.pause();
    finishBody(this, new HttpError(413, `ERR request body larger than ${b.max} bytes`), NO_BODY);
    return;
  }
  // With a Content-Length, the chunk that completes it ends the read (the stream ends by itself).
  if (b.first === null) {
    b.first = d;
    if (b.size === b.length) finishBody(this, null, d);
  } else {
    b.chunks ??= [b.first];
    b.chunks.push(d);
    if (b.size === b.length) finishBody(this, null, Buffer.concat(b.chunks, b.size));
  }
}

function onBodyEnd(this: BodyRequest): void {
  const b = this[kBody];
  if (!b) return;
  finishBody(this, null, b.chunks !== null ? Buffer.concat(b.chunks, b.size) : (b.first ?? NO_BODY));
}

function onBodyAbort(this: BodyRequest): void {
  if (!this[kBody]) return; // read already (every request closes in the end)
  finishBody(this, new HttpError(400, 'ERR the request body was not received completely'), NO_BODY);
}

const kSession = Symbol('kvws.httpSession');
type SessionResponse = ServerResponse & { [kSession]?: Session | null };
const kConnection = Symbol('kvws.httpConnection');
type ConnectionSocket = Socket & { [kConnection]?: Connection };

/** A connection's requests on node:http: one is being served (busy), later ones wait in order. */
interface Turn {
  busy: boolean;
  waiting: { ep: Endpoint; req: IncomingMessage; res: ServerResponse }[];
}
const kTurn = Symbol('kvws.httpTurn');
type TurnSocket = Socket & { [kTurn]?: Turn };

const kRequestId = Symbol('kvws.requestId');
type IdResponse = ServerResponse & { [kRequestId]?: string };

/** A client's `X-Request-Id` that is used as the request's id: 1 to 128 of A–Z a–z 0–9 and `_.:+/=@-`. */
const SANE_REQUEST_ID = /^[\w.:+/=@-]{1,128}$/;

/** The id of the request `res` answers ('' before `serve` gave it one). */
function requestIdOf(res: ServerResponse): string {
  return (res as IdResponse)[kRequestId] ?? '';
}

/**
 * The route of a request for log lines: its path's first segment (`/set`, `/pipeline`, `/subscribe`) —
 * later segments may be keys and values — or the whole path of the token and key endpoints.
 */
function routeOf(req: IncomingMessage): string {
  const path = pathOf(req);
  if (path === '/auth/token' || path === '/.well-known/jwks.json') return path;
  const slash = path.indexOf('/', 1);
  return (slash < 0 ? path : path.slice(0, slash)).slice(0, 64);
}

/**
 * Ends the session of the request `res` answers, if it still has one: its client leaves `engine.clients`
 * (closed and cleaned up, as every removal). With `recycle` (its answer was just written on a live
 * connection, and nothing of the request runs any more), a session not killed is kept for the connection's
 * next request.
 */
function endSession(res: ServerResponse, recycle: boolean): void {
  const r = res as SessionResponse;
  const session = r[kSession];
  if (session == null) return;
  r[kSession] = null;
  const conn = session.conn;
  const active = conn.active;
  const i = active.indexOf(session);
  if (i >= 0) {
    active[i] = active[active.length - 1];
    active.pop();
  }
  const client = session.client;
  if (client.closed) return; // killed, or ended with its connection
  client.engine.clients.remove(client);
  if (recycle && session.recyclable && !conn.certificateUser && session.killed === null && client.reopenable) {
    conn.idle = session;
  }
}

/** An event stream's response closed: its session ends (never recycled). */
function onStreamClose(this: ServerResponse): void {
  endSession(this, false);
}

/** A connection closed: the sessions of its requests still in progress end (blocked commands are cancelled). */
function onConnectionClose(this: ConnectionSocket): void {
  const conn = this[kConnection];
  if (conn === undefined) return;
  conn.idle = null;
  const active = conn.active;
  conn.active = [];
  for (const s of active) s.client.engine.clients.remove(s.client);
}

/**
 * The API behind HttpsServer routes (see the file comment). Contract: `register` adds its routes; every
 * request is answered exactly once (unless the peer went away first), and its session is removed from
 * `engine.clients` when its answer is written (`send`), its event stream ends, or the socket closes.
 */
export class HttpApi {
  /** Event streams in progress (ended by `close`). */
  private readonly openStreams = new Set<ServerResponse>();
  readonly options: Required<HttpApiOptions>;
  readonly stats: HttpApiStats = {
    requests: 0,
    responses2xx: 0,
    responses4xx: 0,
    responses5xx: 0,
    authFailures: 0,
    rejectedBodyTooLarge: 0,
    tokensIssued: 0,
    streams: 0,
    streamsTooSlow: 0,
    rejectedOrigin: 0,
  };
  /**
   * The `upstash-sync-token` of every command response: the engine's count of key changes
   * (`engine.dirty`). One node, so every write is visible at once and the token only has to grow.
   */
  get writes(): number {
    return this.engine.dirty;
  }
  /** `writes` as text, and the count it was made for (a run of reads reuses it). */
  private syncText = '0';
  private syncFor = 0;

  /** The `upstash-sync-token` value: `writes` in decimal. */
  private syncToken(): string {
    const w = this.writes;
    if (w !== this.syncFor) {
      this.syncFor = w;
      this.syncText = String(w);
    }
    return this.syncText;
  }
  /** Routes by exact path. */
  private readonly endpoints: ReadonlyMap<string, Endpoint>;
  private readonly staticTokens: readonly StaticToken[];
  /** READONLY_TOKEN_RULES, compiled at first use. */
  private readonlyRules: User | null = null;
  /** The port's security headers (flat [name, value, …]), put on every answer by send/preflight/stream. */
  private securityHeaders: readonly string[] = BASE_SECURITY_HEADERS;
  /** The headers of every `send`, values to fill in left '' (see sendHead): without, and with the sync token. */
  private head: string[] = sendHead(BASE_SECURITY_HEADERS, false);
  private syncHead: string[] = sendHead(BASE_SECURITY_HEADERS, true);
  /** See HttpApiOptions.logger. */
  readonly log: Logger;
  /** Made request ids: this random prefix (one per server) and `-`, then a counter in base 36. */
  private readonly idPrefix = `${randomBytes(4).toString('hex')}-`;
  private idCounter = 0;

  constructor(
    readonly engine: Engine,
    opts: HttpApiOptions = {},
  ) {
    // Reads through to `opts` (or the engine's live options) at each use.
    const live = engine.options;
    this.options = {
      get maxBody() {
        return opts.maxBody ?? 1024 * 1024;
      },
      get protectedMode() {
        return opts.protectedMode ?? true;
      },
      get queryToken() {
        return opts.queryToken ?? live.httpQueryToken ?? true;
      },
      get allowedOrigins() {
        return opts.allowedOrigins ?? live.allowedOrigins ?? [];
      },
      apiTokens: opts.apiTokens ?? live.apiTokens ?? [],
      logger: opts.logger ?? silentLogger,
    };
    this.log = this.options.logger;
    this.staticTokens = this.options.apiTokens.map((t) => ({
      hash:
        t.sha256 !== undefined
          ? Buffer.from(t.sha256, 'hex')
          : createHash('sha256')
              .update(t.token ?? '', 'utf8')
              .digest(),
      user: t.user,
      readonly: t.readonly === true,
    }));
    const post = ['POST'];
    this.endpoints = new Map<string, Endpoint>([
      // Every path no other route takes: POST / (a JSON command), else the path form.
      ['/', { prefix: true, fast: true, methods: PATH_FORM_METHODS, handle: (req, res) => this.root(req, res) }],
      ['/pipeline', { fast: true, methods: post, handle: (req, res) => this.pipeline(req, res) }],
      ['/multi-exec', { fast: true, methods: post, handle: (req, res) => this.multiExec(req, res) }],
      ['/auth/token', { methods: post, handle: (req, res) => this.issueToken(req, res) }],
      ['/.well-known/jwks.json', { methods: ['GET', 'HEAD'], handle: async (_req, res) => this.jwks(res) }],
      // GET too, for EventSource (which sends no Authorization header: ?_token=, or an open default user).
      [
        '/subscribe/',
        { prefix: true, methods: ['POST', 'GET'], handle: (req, res) => this.stream('channel', req, res) },
      ],
      [
        '/psubscribe/',
        { prefix: true, methods: ['POST', 'GET'], handle: (req, res) => this.stream('pattern', req, res) },
      ],
      ['/monitor', { methods: ['POST', 'GET'], handle: (req, res) => this.stream('monitor', req, res) }],
    ]);
  }

  /** Shutdown: ends every event stream with a `: server shutting down` comment line. */
  close(): void {
    for (const res of this.openStreams) {
      if (!res.writableEnded && !res.destroyed) res.end(': server shutting down\n\n');
    }
    this.openStreams.clear();
  }

  /** Adds the API's routes to `https`. */
  register(https: HttpsServer): void {
    this.securityHeaders = https.securityHeaders;
    this.head = sendHead(https.securityHeaders, false);
    this.syncHead = sendHead(https.securityHeaders, true);
    for (const [path, ep] of this.endpoints) {
      https.route(path, {
        prefix: ep.prefix,
        request: (req, res) => this.serve(ep, req, res),
        writesSecurityHeaders: true,
        fast: ep.fast === true,
      });
    }
  }

  /**
   * Serves a request once every earlier request of its connection is answered: node:http parses pipelined
   * requests ahead and would start a later one while an earlier one still waits (for its body's end, a
   * blocked command, the AOF), so commands would run out of order. The fast lane takes one request at a
   * time already.
   */
  private serve(ep: Endpoint, req: IncomingMessage, res: ServerResponse): void {
    if (fastBody(req) !== undefined) {
      this.serveNow(ep, req, res);
      return;
    }
    const socket = req.socket as TurnSocket;
    let turn = socket[kTurn];
    if (turn === undefined) {
      turn = { busy: false, waiting: [] };
      socket[kTurn] = turn;
    }
    if (turn.busy) turn.waiting.push({ ep, req, res });
    else this.takeTurn(turn, ep, req, res);
  }

  /** Serves the request now, and the next one waiting on its connection once it is answered (or gone). */
  private takeTurn(turn: Turn, ep: Endpoint, req: IncomingMessage, res: ServerResponse): void {
    turn.busy = true;
    res.once('close', () => {
      turn.busy = false;
      // Requests whose connection closed meanwhile are not run.
      for (let next = turn.waiting.shift(); next !== undefined; next = turn.waiting.shift()) {
        if (next.res.destroyed || next.req.socket.destroyed) continue;
        this.takeTurn(turn, next.ep, next.req, next.res);
        return;
      }
    });
    this.serveNow(ep, req, res);
  }

  /**
   * Origin check (and the CORS headers), OPTIONS preflight, method check, then the endpoint; an HttpError
   * becomes its status, anything else a 500.
   */
  private serveNow(ep: Endpoint, req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    (res as IdResponse)[kRequestId] = this.requestId(req);
    const method = req.method ?? '';
    try {
      this.checkOrigin(req, res);
    } catch (e) {
      this.stats.rejectedOrigin++;
      this.fail(req, res, e as HttpError);
      return;
    }
    if (method === 'OPTIONS') {
      this.preflight(ep, req, res);
      return;
    }
    if (!ep.methods.includes(method)) {
      const allow = ep.methods.join(', ');
      this.fail(req, res, new HttpError(405, `ERR method ${method} not allowed: use ${allow}`, { allow }));
      return;
    }
    let p: undefined | Promise<void>;
    try {
      p = ep.handle(req, res);
    } catch (e) {
      this.failWith(req, res, e);
      return;
    }
    if (p !== undefined) p.catch((e: unknown) => this.failWith(req, res, e));
  }

  /**
   * The request's id: its `X-Request-Id` header when that is a sane token (SANE_REQUEST_ID: no blanks,
   * quotes or control characters, at most 128 characters), else a new one (`<prefix>-<counter>`).
   */
  private requestId(req: IncomingMessage): string {
    const given = req.headers['x-request-id'];
    if (typeof given === 'string' && SANE_REQUEST_ID.test(given)) return given;
    return this.idPrefix + (++this.idCounter).toString(36);
  }

  /** Answers a thrown value: an HttpError with its status, anything else as a 500 (logged with its stack). */
  private failWith(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    if (e instanceof HttpError) this.fail(req, res, e);
    else this.fail(req, res, new HttpError(500, internalError(e).message), e);
  }

  /**
   * Logs a failed request (see HttpApiOptions.logger): `e`'s status and message (never a token: error
   * messages do not repeat them), and `cause`, the exception behind a 500.
   */
  private logFailure(req: IncomingMessage, res: ServerResponse, e: HttpError, cause?: unknown): void {
    const status = e.status;
    const level = status >= 500 ? 'error' : status === 401 ? 'warn' : status === 403 ? 'info' : 'debug';
    if (!this.log.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {
      reqId: requestIdOf(res),
      method: req.method,
      route: routeOf(req),
      status,
      addr: formatAddr(req.socket.remoteAddress, req.socket.remotePort),
    };
    if (cause instanceof Error) fields.err = cause;
    const what = status === 401 ? 'HTTP API authentication failed' : `HTTP API request failed (${status})`;
    this.log[level](fields, `${what}: ${e.message}`);
  }

  /**
   * A browser request must come from an allowed origin: its `Origin` must pass `originAllowed` (the
   * server's own origin, or one of `allowedOrigins`, as for the WebSocket), and then gets
   * `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`. A request without `Origin` that a
   * browser marks cross-site or same-site (`Sec-Fetch-Site`: an `<img>`, a link, a form from another
   * page) is refused too, so that no page can make a browser run a command (think of an open default user
   * on loopback). Clients outside browsers send neither header. Throws HttpError 403.
   */
  private checkOrigin(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin === undefined) {
      const site = req.headers['sec-fetch-site'];
      if (site === 'cross-site' || site === 'same-site') {
        throw new HttpError(403, 'ERR a cross-site request without an Origin header is refused');
      }
      return;
    }
    const secure = (req.socket as TLSSocket).encrypted === true;
    if (!originAllowed(origin, req.headers.host, secure, this.options.allowedOrigins)) {
      throw new HttpError(
        403,
        `ERR origin ${JSON.stringify(origin.slice(0, 200))} is not allowed (see --allowed-origins)`,
      );
    }
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-expose-headers', 'upstash-sync-token');
  }

  /**
   * OPTIONS: 204 with `Allow`; from a browser (an allowed Origin, see checkOrigin) also the preflight
   * answer: the methods and headers a page may use, cacheable for CORS_MAX_AGE seconds.
   */
  private preflight(ep: Endpoint, req: IncomingMessage, res: ServerResponse): void {
    if (res.headersSent || res.destroyed) return;
    req.resume();
    this.stats.responses2xx++;
    const headers: Record<string, string> = {
      vary: 'Origin',
      allow: [...ep.methods, 'OPTIONS'].join(', '),
      'content-length': '0',
      'x-request-id': requestIdOf(res),
    };
    Object.assign(headers, securityHeaderObject(this.securityHeaders));
    if (req.headers.origin !== undefined) {
      headers['access-control-allow-methods'] = CORS_ALLOW_METHODS;
      headers['access-control-allow-headers'] = CORS_ALLOW_HEADERS;
      headers['access-control-max-age'] = String(CORS_MAX_AGE);
    }
    res.writeHead(204, headers);
    res.end();
  }

  /**
   * Sends a body with the API's headers (and counts it): `payload` is JSON text (application/json) or, as a
   * Buffer, raw bytes (application/octet-stream: Upstash-Response-Format: resp2); `headers` are added, and
   * with `syncToken` the `upstash-sync-token`. Does nothing once the response is sent or gone. The request's
   * session ends here (see endSession).
   */
  private send(
    res: ServerResponse,
    status: number,
    payload: string | Buffer,
    headers: Readonly<Record<string, string>> = NO_HEADERS,
    cacheControl = 'no-store',
    syncToken = false,
  ): void {
    if (res.headersSent) return;
    if (res.destroyed) {
      endSession(res, false);
      return;
    }
    if (status < 300) this.stats.responses2xx++;
    else if (status < 500) this.stats.responses4xx++;
    else this.stats.responses5xx++;
    const json = typeof payload === 'string';
    // One writeHead with a flat [name, value, …] array and no setHeader keeps Node on its fast path.
    const h = syncToken ? this.syncHead.slice() : this.head.slice();
    h[HEAD_TYPE] = json ? 'application/json' : 'application/octet-stream';
    h[HEAD_LENGTH] = String(json ? Buffer.byteLength(payload) : payload.length);
    h[HEAD_CACHE] = cacheControl;
    if (syncToken) h[h.length - 3] = this.syncToken();
    const id = requestIdOf(res);
    if (id !== '') h[h.length - 1] = id;
    else h.length -= 2;
    if (headers !== NO_HEADERS) for (const k in headers) h.push(k, headers[k]);
    res.writeHead(status, h);
    res.end(payload);
    // Answered: nothing of the request runs any more, so its session ends here and may serve the next one.
    endSession(res, true);
  }

  /**
   * Sends a command endpoint's answer (`payload` as for `send`: JSON text or raw RESP2 bytes) with the
   * `upstash-sync-token` header, once the AOF holds what it acknowledges.
   */
  private answer(res: ServerResponse, status: number, payload: string | Buffer): void {
    // Nothing leaves before the AOF has what this answer acknowledges (written; with always, fsynced).
    const aof = this.engine.aof;
    const durable = aof === null ? null : aof.beforeReply((res as SessionResponse)[kSession]?.client ?? null);
    if (durable === null) {
      this.send(res, status, payload, NO_HEADERS, 'no-store', true);
      return;
    }
    durable.then(
      () => this.send(res, status, payload, NO_HEADERS, 'no-store', true),
      (e: Error) => {
        const error = `ERR not acknowledged: the append-only file could not keep the write (${e.message})`;
        this.log.error({ reqId: requestIdOf(res), status: 500 }, `HTTP API request failed (500): ${error}`);
        this.send(res, 500, JSON.stringify({ error }));
      },
    );
  }

  /** Answers `{error}` with the HttpError's status and headers; a 413 also drops the rest of the body. */
  private fail(req: IncomingMessage, res: ServerResponse, e: HttpError, cause?: unknown): void {
    if (e.status === 401) this.stats.authFailures++;
    if (!res.headersSent && !res.destroyed) this.logFailure(req, res, e, cause);
    if (e.status === 413) {
      this.stats.rejectedBodyTooLarge++;
      this.discardRest(req);
    }
    this.send(res, e.status, JSON.stringify({ error: e.message }), e.headers);
  }

  /**
   * Reads the body, at most maxBody bytes. A Content-Length over it is refused before reading; a body that
   * grows over it is refused as soon as it does, and nothing more of it is kept. Throws HttpError 413, or
   * 400 when the peer stops sending midway.
   */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.readBodyThen(
        req,
        (err, body) => {
          if (err !== null) reject(err);
          else resolve(body);
        },
        true,
      );
    });
  }

  /**
   * `readBody` with a callback, called at most once: `done(null, body)` or `done(HttpError)`. A body with a
   * Content-Length is passed on with the chunk that completes it, without waiting for 'end'. A request cut
   * short (its connection closed: HTTP/1.1 has no other way) calls `done` with the 400 only when
   * `abortable`; otherwise not at all (no answer can reach the peer, and the request's session ends with
   * its connection, see Connection), which spares a listener per request.
   */
  private readBodyThen(req: IncomingMessage, done: BodyCallback, abortable = false): void {
    const max = this.options.maxBody;
    const length = Number(req.headers['content-length']);
    if (length > max) {
      done(new HttpError(413, `ERR request body larger than ${max} bytes`), NO_BODY);
      return;
    }
    // The fast lane has read the whole body already.
    const fast = fastBody(req);
    if (fast !== undefined) {
      done(null, fast);
      return;
    }
    // Shared listeners with their state on the request: no closures per request.
    (req as BodyRequest)[kBody] = new BodyRead(max, length, done);
    req.on('data', onBodyData);
    // Without a Content-Length (chunked), or with 0 (no 'data' at all), the end of the stream ends the read.
    if (!(length > 0)) req.on('end', onBodyEnd);
    // 'close' comes after an abort ('error' only goes to listeners, so none is needed).
    if (abortable) req.on('close', onBodyAbort);
  }

  /**
   * After an early answer (413): reads and drops what the peer still sends, up to LINGER_BYTES and
   * LINGER_MS, so that a client still uploading reads the answer instead of a reset; then closes.
   */
  private discardRest(req: IncomingMessage): void {
    if (req.complete) return;
    let left = LINGER_BYTES;
    const timer = setTimeout(() => req.socket.destroy(), LINGER_MS);
    timer.unref();
    req.on('data', (d: Buffer) => {
      left -= d.length;
      if (left < 0) req.socket.destroy();
    });
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
    req.resume();
  }

  /**
   * A fresh session for this request (the connection's last one reopened, when it has one: see
   * Connection), in `engine.clients` until its answer is written (`send`), its event stream ends, or the
   * connection closes. Throws HttpError 503 at max clients (shared with the other front doors).
   */
  private openSession(req: IncomingMessage, res: ServerResponse): Session {
    const engine = this.engine;
    if (engine.clients.size >= engine.options.maxClients) throw new HttpError(503, 'ERR max number of clients reached');
    const socket = req.socket as ConnectionSocket;
    let conn = socket[kConnection];
    if (conn === undefined) {
      conn = {
        active: [],
        idle: null,
        certificateUser: certificateUser(socket) !== null,
        loopback: isLoopback(socket.remoteAddress),
      };
      socket[kConnection] = conn;
      socket.once('close', onConnectionClose);
    }
    let session = conn.idle;
    if (session !== null) {
      conn.idle = null;
      session.client.reopen();
    } else {
      const client = clientForSocket(engine, 'http', socket);
      // RESP2 replies (HGETALL a flat array, ZSCORE a string…), as Upstash's REST API answers.
      client.resp = 2;
      const s: Session = { client, killed: null, conn, recyclable: true };
      client.kill = (reason) => {
        s.killed = reason;
        engine.clients.remove(client);
      };
      session = s;
    }
    engine.clients.add(session.client);
    conn.active.push(session);
    (res as SessionResponse)[kSession] = session;
    return session;
  }

  /**
   * The token presented with the request: `Authorization: Bearer <token>` or `?_token=<token>` (when
   * `queryToken` is on); null for none. Throws HttpError 400 when both are given, 401 for another
   * Authorization scheme, a malformed header, or `_token` while `queryToken` is off (tokens are never quoted).
   */
  private presentedToken(req: IncomingMessage, query: Query): string | null {
    const h = req.headers.authorization;
    let header: string | null = null;
    if (h !== undefined) {
      const m = /^Bearer +([^\s]+) *$/i.exec(h);
      if (!m) {
        throw new HttpError(401, 'ERR the Authorization header must be "Bearer <token>"', {
          'www-authenticate': 'Bearer error="invalid_request"',
        });
      }
      header = m[1];
    }
    if (query.token === undefined) return header;
    if (!this.options.queryToken) {
      throw new HttpError(
        401,
        'ERR ?_token= is turned off on this server (httpQueryToken): send Authorization: Bearer',
        {
          'www-authenticate': 'Bearer error="invalid_request"',
        },
      );
    }
    if (header !== null) throw badRequest('give the token either in Authorization: Bearer or as ?_token=, not both');
    return query.token;
  }

  /** The static API token `token` is, compared in constant time (SHA-256 of it against each); or null. */
  private staticToken(token: string): StaticToken | null {
    if (this.staticTokens.length === 0) return null;
    const h = createHash('sha256').update(Buffer.from(token, 'latin1')).digest();
    let found: StaticToken | null = null;
    for (const t of this.staticTokens) {
      if (timingSafeEqual(t.hash, h) && found === null) found = t;
    }
    return found;
  }

  /**
   * Authenticates a command request. A static API token logs the session in as its user (narrowed to
   * READONLY_TOKEN_RULES for a read-only one); another token must be a JWT (kvws's or the external
   * provider's); without a token the session stays the default user only when that needs no password and
   * the peer is on loopback. Throws HttpError 401 (NOAUTH, or the WRONGPASS text of a refused token, also
   * for a static token whose user is gone or off). Returns undefined when done, or the JWT check still
   * under way (which rejects with the 401).
   */
  private authenticate(session: Session, token: string | null): undefined | Promise<void> {
    const acl = this.engine.acl;
    if (token === null) {
      // Logged in by the connection's TLS client certificate (tlsClientUserField), or an open default user.
      if (session.conn.certificateUser && loggedInByCertificate(session.client)) return;
      if (!acl.authRequired && (!this.options.protectedMode || session.conn.loopback)) return;
      throw new HttpError(
        401,
        `${NOAUTH} Send Authorization: Bearer <token> (an API token, or one from POST /auth/token).`,
        { 'www-authenticate': 'Bearer' },
      );
    }
    const fixed = this.staticToken(token);
    if (fixed !== null) {
      const user = acl.users.get(fixed.user);
      if (!user?.enabled) {
        throw new HttpError(401, "WRONGPASS the token's user is disabled or does not exist", {
          'www-authenticate': 'Bearer error="invalid_token"',
        });
      }
      let rules: User | null = null;
      if (fixed.readonly) rules = this.readonlyRules ??= acl.parseTokenRules(READONLY_TOKEN_RULES);
      // The user may be limited to other addresses (userAllowFrom): then a plain WRONGPASS.
      const denied = acl.login(session.client, user, null, rules, 0, 'apitoken');
      if (denied) throw new HttpError(401, denied.message, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    return acl.authToken(session.client, token, null).then((r) => {
      if (r instanceof ErrorReply) {
        throw new HttpError(401, r.message, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
    });
  }

  /**
   * The common start of a command request: the reply format, the query and its token, then a session
   * logged in (see authenticate). Throws HttpError 400, 401 or 503.
   */
  private async begin(req: IncomingMessage, res: ServerResponse): Promise<[Session, ReplyFormat, Query]> {
    const s = this.start(req, res);
    if (s.pending !== null) await s.pending;
    return [s.session, s.format, s.query];
  }

  /**
   * `begin` without waiting: the same checks (throws the same HttpErrors synchronously), with a JWT check
   * still running in `pending` (which rejects with its 401).
   */
  private start(req: IncomingMessage, res: ServerResponse): Started {
    const format = replyFormat(req);
    const query = parseQuery(req);
    const token = this.presentedToken(req, query);
    const session = this.openSession(req, res);
    const pending = this.authenticate(session, token) ?? null;
    return { session, format, query, pending };
  }

  /** engine.execute, awaited (blocking commands, password hashing); internal errors become error replies. */
  private async run(session: Session, argv: string[]): Promise<Reply> {
    return this.runNow(session, argv);
  }

  /**
   * engine.execute: the reply, or a promise of it when the command is still running (blocking commands,
   * password hashing); never throws or rejects (internal errors become error replies).
   */
  private runNow(session: Session, argv: string[]): Reply | Promise<Reply> {
    if (session.killed !== null) return new ErrorReply(`ERR not run: the session was closed (${session.killed})`);
    if (session.client.closed) return new ErrorReply('ERR not run: the request was aborted');
    try {
      const r = this.engine.execute(session.client, argv);
      return r instanceof Promise ? r.catch(internalError) : r;
    } catch (e) {
      return internalError(e);
    }
  }

  /** Answers one command's reply, now or once it is there (see answerOne); a failure answers 500. */
  private answerSoon(
    req: IncomingMessage,
    res: ServerResponse,
    reply: Reply | Promise<Reply>,
    format: ReplyFormat,
  ): void {
    if (reply instanceof Promise) {
      reply.then((r) => this.answerOne(res, r, format)).catch((e: unknown) => this.failWith(req, res, e));
    } else {
      this.answerOne(res, reply, format);
    }
  }

  /**
   * Calls `then` with the request's body once it is read and the login done (`s.pending`); an HttpError
   * from either, or thrown by `then`, is answered (see failWith).
   */
  private withBody(req: IncomingMessage, res: ServerResponse, s: Started, then: (body: Buffer) => void): void {
    const done: BodyCallback = (err, body) => {
      if (err !== null) {
        this.fail(req, res, err);
        return;
      }
      try {
        then(body);
      } catch (e) {
        this.failWith(req, res, e);
      }
    };
    if (s.pending === null) this.readBodyThen(req, done);
    else
      s.pending.then(
        () => this.readBodyThen(req, done),
        (e: unknown) => this.failWith(req, res, e),
      );
  }

  /** Answers one command's reply: 200 `{result}`, or 400 `{error}` for an error reply (as Upstash); or RESP2. */
  private answerOne(res: ServerResponse, reply: Reply, format: ReplyFormat): void {
    const status = reply instanceof ErrorReply ? 400 : 200;
    this.answer(res, status, format.resp2 ? resp2Bytes([reply]) : envelopeJson(reply, format.base64));
  }

  /** `/` and every path no other route takes: POST / runs the JSON body; any other path is the path form. */
  private root(req: IncomingMessage, res: ServerResponse): undefined {
    const url = req.url;
    if (url !== '/' && pathOf(req) !== '/') return this.pathCommand(req, res);
    if (req.method !== 'POST') {
      throw new HttpError(405, `ERR method ${req.method} not allowed: use POST`, { allow: 'POST' });
    }
    const s = this.start(req, res);
    this.withBody(req, res, s, (body) => {
      const argv = quickCommand(body) ?? parseCommand(parseJson(body, 'a JSON array: ["SET","k","v"]'), '');
      const refused = notOverHttp(argv);
      if (refused !== null) throw new HttpError(400, refused);
      this.answerSoon(req, res, this.runNow(s.session, argv), s.format);
    });
  }

  /**
   * The path form, `/<command>/<arg>/…`: each segment percent-decoded to bytes is an argument (an empty
   * segment an empty string); for POST and PUT a non-empty body, as it is, is one more; then the query's
   * parameters (`NAME=VALUE` two arguments, a bare `FLAG` one; `_token` aside). A path whose first segment
   * names no command answers 404; bad percent-encoding 400; otherwise as POST /.
   */
  private pathCommand(req: IncomingMessage, res: ServerResponse): undefined {
    const path = pathOf(req);
    const segments = path.slice(1).split('/');
    const name = percentDecode(segments[0], false);
    const table = this.engine.table;
    if (name === null || name === '' || !(table.has(name) || table.has(name.toLowerCase()))) {
      throw new HttpError(404, `ERR no such endpoint: ${req.method} ${path}`);
    }
    const argv: string[] = [name];
    for (let i = 1; i < segments.length; i++) {
      const a = percentDecode(segments[i], false);
      if (a === null) throw badRequest(`path segment ${i + 1} is not valid percent-encoding`);
      argv.push(a);
    }
    const s = this.start(req, res);
    const run = (body: Buffer) => {
      if (body.length > 0) argv.push(body.toString('latin1'));
      for (const a of s.query.args) argv.push(a);
      const refused = notOverHttp(argv);
      if (refused !== null) throw new HttpError(400, refused);
      this.answerSoon(req, res, this.runNow(s.session, argv), s.format);
    };
    if (req.method === 'POST' || req.method === 'PUT') {
      this.withBody(req, res, s, run);
      return;
    }
    req.resume(); // a GET or HEAD body, if any, is read and dropped
    if (s.pending === null) run(NO_BODY);
    else s.pending.then(() => run(NO_BODY)).catch((e: unknown) => this.failWith(req, res, e));
  }

  /** POST /pipeline: the commands in order on one session (not atomic) → 200 `[envelope…]` (or RESP2 replies). */
  private pipeline(req: IncomingMessage, res: ServerResponse): undefined {
    const s = this.start(req, res);
    this.withBody(req, res, s, (body) => {
      const argvs = parseCommands(
        parseJson(body, 'a JSON array of commands: [["SET","k","v"],["GET","k"]]'),
        '/pipeline',
      );
      const replies: Reply[] = new Array(argvs.length);
      const answer = () => {
        const format = s.format;
        if (format.resp2) this.answer(res, 200, resp2Bytes(replies));
        else this.answer(res, 200, JSON.stringify(replies.map((r) => envelope(r, format.base64))));
      };
      // Synchronously while the replies are there; from the first pending one on, one at a time.
      for (let i = 0; i < argvs.length; i++) {
        const refused = notOverHttp(argvs[i]);
        const r = refused !== null ? new ErrorReply(refused) : this.runNow(s.session, argvs[i]);
        if (r instanceof Promise) {
          this.pipelineRest(s.session, argvs, replies, i, r)
            .then(answer)
            .catch((e: unknown) => this.failWith(req, res, e));
          return;
        }
        replies[i] = r;
      }
      answer();
    });
  }

  /** The rest of a pipeline from command `i` (whose reply `first` is pending), in order, into `replies`. */
  private async pipelineRest(
    session: Session,
    argvs: string[][],
    replies: Reply[],
    i: number,
    first: Promise<Reply>,
  ): Promise<void> {
    replies[i] = await first;
    for (let j = i + 1; j < argvs.length; j++) {
      const refused = notOverHttp(argvs[j]);
      replies[j] = refused !== null ? new ErrorReply(refused) : await this.runNow(session, argvs[j]);
    }
  }

  /**
   * POST /multi-exec: MULTI, the commands, EXEC on one session → 200 `[envelope…]`, or 400 `{error}` when
   * the transaction is discarded (`EXECABORT …`, naming the first command refused while queueing). Always
   * JSON (as Upstash: `Upstash-Response-Format: resp2` does not apply here).
   */
  private async multiExec(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [session, format] = await this.begin(req, res);
    const body = parseJson(await this.readBody(req), 'a JSON array of commands: [["SET","k","v"],["GET","k"]]');
    const argvs = parseCommands(body, '/multi-exec');
    for (let i = 0; i < argvs.length; i++) {
      const refused = notOverHttp(argvs[i]);
      if (refused !== null) throw new HttpError(400, refused.replace(/^ERR /, `ERR [${i}]: `));
    }
    const engine = this.engine;
    const client = session.client;
    if (session.killed !== null) throw new HttpError(400, `ERR not run: the session was closed (${session.killed})`);
    if (client.closed) return; // the peer went away while the body was read
    // Queueing is synchronous: nothing else runs between MULTI and EXEC. A refused MULTI (NOPERM) must
    // stop here, or the commands would run one by one instead of being queued.
    const begun = engine.execute(client, ['MULTI']);
    if (begun instanceof ErrorReply) throw new HttpError(400, begun.message);
    if (client.multi === null) throw new HttpError(500, 'ERR internal error: MULTI did not open a transaction');
    let firstError: string | null = null;
    for (let i = 0; i < argvs.length; i++) {
      const r = engine.execute(client, argvs[i]);
      if (firstError === null && r instanceof ErrorReply) firstError = `[${i}]: ${r.message}`;
    }
    const r = await this.run(session, ['EXEC']);
    if (Array.isArray(r)) {
      this.answer(res, 200, JSON.stringify(r.map((x) => envelope(x, format.base64))));
      return;
    }
    if (r instanceof ErrorReply) {
      const detail = firstError !== null && r.message.startsWith('EXECABORT') ? ` (${firstError})` : '';
      this.answer(res, 400, JSON.stringify({ error: `${r.message}${detail}` }));
    } else {
      this.answer(res, 200, envelopeJson(r, format.base64));
    }
  }

  /**
   * POST (or GET) /subscribe/<channel>, /psubscribe/<pattern> and /monitor: server-sent events in
   * Upstash's format. /monitor (MONITOR: @admin, so admins only) sends `OK`, then one event per command any
   * client runs, in Redis's MONITOR line format (`<sec>.<usec> [<db> <addr>] "cmd" "arg" …`).
   * The path's last part, percent-decoded (UTF-8), names one channel or glob pattern; a body is ignored.
   * The session (authenticated like POST /'s, `?_token=` included: EventSource cannot send headers) runs
   * SUBSCRIBE or PSUBSCRIBE through `engine.execute`, so ACLs and the keyspace-notification filter apply as
   * on the other front doors. Then → 200 `text/event-stream`, `Cache-Control: no-store`, and events whose
   * data is
   *
   *   subscribe,<channel>,1                    (psubscribe,<pattern>,1): the subscription is active
   *   message,<channel>,<message>              each message on the channel
   *   pmessage,<pattern>,<channel>,<message>   each message on a matching channel
   *
   * (a message with line breaks spans several `data:` lines; the comma-joined fields are not escaped, as in
   * Upstash; Upstash-Encoding does not apply), with `: keepalive` comment lines every SSE_KEEPALIVE_MS. The
   * stream lasts until the peer goes away, the session is killed (CLIENT KILL, user turned off, channel
   * rights revoked, token expired: a comment line says why, then the stream ends), or the peer stops
   * reading: with more than `wsMaxBuffer` bytes unsent (the WebSocket gateway's limit, 0 = none) the
   * connection is closed. Errors before the stream starts are JSON: 400 (a bad path, or the command's error
   * reply, e.g. NOPERM), 401, 503.
   */
  private async stream(
    kind: 'channel' | 'pattern' | 'monitor',
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const command = kind === 'channel' ? 'SUBSCRIBE' : kind === 'pattern' ? 'PSUBSCRIBE' : 'MONITOR';
    const route = kind === 'channel' ? '/subscribe/' : '/psubscribe/';
    let name = '';
    if (kind !== 'monitor') {
      try {
        name = decodeURIComponent(pathOf(req).slice(route.length));
      } catch {
        throw badRequest(`the ${kind} in the path is not valid percent-encoded UTF-8`);
      }
      if (name === '') throw badRequest(`name the ${kind} in the path: ${route}<${kind}>`);
    }
    req.resume(); // a body, if any, is read and dropped
    const [session, , query] = await this.begin(req, res);
    const client = session.client;
    const engine = this.engine;
    // The hooks below are this stream's: the session ends with the response and is not recycled.
    session.recyclable = false;
    res.once('close', onStreamClose);
    // Deliveries before the response head is written wait here (none are expected: SUBSCRIBE is synchronous).
    let queued: Buffer[] | null = [];
    /** Since when the peer has had at least wsSoftBuffer unsent bytes (0: it has not). */
    let softSince = 0;
    const write = (chunk: Buffer): void => {
      if (res.destroyed || res.writableEnded) return;
      if (queued !== null) {
        queued.push(chunk);
        return;
      }
      const o = engine.options;
      const unsent = res.writableLength;
      let tooSlow = o.wsMaxBuffer > 0 && unsent > o.wsMaxBuffer;
      if (!tooSlow && o.wsSoftBuffer > 0 && unsent >= o.wsSoftBuffer) {
        if (softSince === 0) softSince = Date.now();
        else tooSlow = Date.now() - softSince > o.wsSoftSeconds * 1000;
      } else if (!tooSlow) softSince = 0;
      if (tooSlow) {
        this.stats.streamsTooSlow++;
        res.destroy();
        return;
      }
      res.write(chunk);
    };
    client.push = (reply) => {
      if (reply instanceof MonitorLine) {
        write(sseEvent(reply.value));
        return;
      }
      if (!(reply instanceof PushReply)) return;
      const [type] = reply.items;
      // Stream events carry `id: <epoch>:<offset>`: a reconnecting EventSource sends it back as Last-Event-ID.
      const id = reply.offset !== 0 ? `${engine.events.epoch}:${reply.offset}` : '';
      if (type === 'message' || type === 'pmessage') write(sseEvent(reply.items.join(','), id));
      else if (type === 'stream') write(streamReset());
    };
    const streamReset = () => {
      const { epoch, lastOffset } = engine.events;
      return Buffer.from(
        `event: kvws-stream\ndata: ${JSON.stringify({ recovered: false, epoch, offset: lastOffset })}\n\n`,
      );
    };
    client.outputBytes = () => res.writableLength;
    client.kill = (reason) => {
      session.killed = reason;
      engine.clients.remove(client);
      if (queued === null && !res.writableEnded && !res.destroyed) res.end(`: closed (${reason})\n\n`);
    };
    if (client.closed) return;
    const r = await this.run(session, kind === 'monitor' ? [command] : [command, fromJsonArg(name, 'utf8')]);
    if (r instanceof ErrorReply) throw new HttpError(400, r.message);
    // Resume (Last-Event-ID, or ?lastEventId= where headers cannot be set): in this same turn, so no event
    // falls between the subscription and the replay.
    const events = engine.events;
    const since = kind === 'monitor' ? null : parseEventId(header(req, 'last-event-id') ?? query.lastEventId);
    const position = since
      ? events.resume(client, [fromJsonArg(name, 'utf8')], kind === 'pattern', since)
      : events.position();
    const confirm = r instanceof MultiReply && r.replies[0] instanceof PushReply ? r.replies[0].items : null;
    const count = confirm?.[2] ?? client.subscriptionCount;
    if (res.destroyed || session.killed !== null) return;
    this.stats.responses2xx++;
    this.stats.streams++;
    res.writeHead(200, {
      vary: 'Origin',
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      ...securityHeaderObject(this.securityHeaders),
      'upstash-sync-token': this.syncToken(),
      'x-request-id': requestIdOf(res),
      // Tells nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    const before = queued;
    queued = null;
    // The confirmation carries the stream position as its id, so even a subscriber that got no message yet
    // resumes from where it started.
    write(
      sseEvent(
        kind === 'monitor' ? 'OK' : `${command.toLowerCase()},${fromJsonArg(name, 'utf8')},${String(count)}`,
        kind === 'monitor' || !events.enabled ? '' : `${position.epoch}:${position.offset}`,
      ),
    );
    if (position.recovered === false) write(streamReset());
    for (const chunk of before) write(chunk);
    // The replay of a resume, a window at a time as the response drains.
    const pump = () => {
      if (res.destroyed || client.catchup === null) return;
      if (!events.pump(client, 256 * 1024)) res.once('drain', pump);
    };
    pump();
    const keepalive = setInterval(() => write(Buffer.from(': keepalive\n\n')), SSE_KEEPALIVE_MS);
    keepalive.unref();
    this.openStreams.add(res);
    res.once('close', () => {
      clearInterval(keepalive);
      this.openStreams.delete(res);
    });
  }

  /**
   * POST /auth/token. Body `{"username","password","ttl"?,"acl"?}`: a password login, then a kvws
   * token for that user. Or, with a kvws or external JWT in `Authorization: Bearer` (or `?_token=`) and no
   * username/password: a narrower token for the same user (see `narrow`; static API tokens get none). → 200 `{"token","expiresAt","tokenType":"Bearer","user"}`;
   * 400 for a bad body, 401 for refused credentials, 503 when token issuing is off or too many logins wait for password hashing (`auth-max-queued`; with `Retry-After`).
   */
  private async issueToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const acl = this.engine.acl;
    const tokens = acl.tokens;
    if (tokens === null) throw new HttpError(503, 'ERR token issuing is not enabled on this server');
    const session = this.openSession(req, res);
    const body = parseJson(
      await this.readBody(req),
      'a JSON object: {"username": "…", "password": "…", "ttl": 900, "acl": "~app:* +@read"}',
    );
    const want = this.parseTokenRequest(body);
    const presented = this.presentedToken(req, parseQuery(req));
    const withPassword = want.username !== undefined || want.password !== undefined;
    if (withPassword && presented !== null) {
      throw badRequest('give either "username" and "password" or an Authorization: Bearer token, not both');
    }
    let issue: Parameters<typeof tokens.issue>[0];
    if (withPassword) {
      if (want.username === undefined || want.password === undefined) {
        throw badRequest('a password login needs both "username" and "password"');
      }
      // Claims feed `{claim:NAME}` patterns, so a client may never choose them: a password login's token
      // carries sub = the user; other claims come from `kvws token issue` or the identity provider.
      if (want.claims !== undefined) {
        throw badRequest('"claims" cannot be chosen at login: they would widen {claim:NAME} patterns');
      }
      const r = await acl.authPassword(session.client, want.username, want.password);
      // Too many logins waiting for password hashing (auth-max-queued): not a refusal of these credentials.
      if (r instanceof ErrorReply && r.message.startsWith('TRYAGAIN ')) {
        throw new HttpError(503, r.message, { 'retry-after': '1' });
      }
      if (r instanceof ErrorReply) throw new HttpError(401, r.message, { 'www-authenticate': 'Bearer' });
      issue = { user: session.client.user.name, ttl: want.ttl, acl: want.acl };
    } else if (presented !== null) {
      const r = await acl.authToken(session.client, presented, null);
      if (r instanceof ErrorReply) {
        throw new HttpError(401, r.message, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      issue = this.narrow(session.client, want);
    } else {
      throw new HttpError(
        401,
        `${NOAUTH} Send {"username", "password"}, or a token to narrow in Authorization: Bearer <token>.`,
        { 'www-authenticate': 'Bearer' },
      );
    }
    let issued: Awaited<ReturnType<typeof tokens.issue>>;
    try {
      issued = await tokens.issue(issue);
    } catch (e) {
      if (e instanceof TokenError || e instanceof RangeError) throw badRequest(e.message);
      throw e;
    }
    this.stats.tokensIssued++;
    this.send(
      res,
      200,
      JSON.stringify({ token: issued.token, expiresAt: issued.expiresAt, tokenType: 'Bearer', user: issue.user }),
    );
  }

  /**
   * The token a session logged in with a token may get: the same user, the same claims (`sub` and all
   * string/number claims; request claims are refused, since `{claim:NAME}` patterns would let new ones widen
   * the rights), an expiry no later than the presented token's, and an `acl` that is at least as narrow.
   * Two rule sets narrow independently, so both would have to hold; a token carries one `acl` string, hence
   * the simple rule: with an `acl` on the presented token, the new token keeps that `acl` and a requested
   * one is refused (400); without, the requested one (if any) is used.
   */
  private narrow(
    client: Client,
    want: TokenRequest,
  ): { user: string; sub?: string; ttl: number; acl?: string; claims: Record<string, string | number> } {
    const old = client.claims ?? {};
    if (want.claims !== undefined) {
      throw badRequest('"claims" cannot be set when narrowing a token: they are copied from the presented one');
    }
    const oldAcl = typeof old.acl === 'string' ? old.acl : undefined;
    if (oldAcl !== undefined && want.acl !== undefined) {
      throw badRequest(
        'the presented token already has an "acl": a narrower token keeps it (omit "acl"), or ask for a new one with a password',
      );
    }
    const claims: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(old)) {
      if (RESERVED_CLAIMS.has(k)) continue;
      if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) claims[k] = v;
    }
    const left = Math.floor(client.authExpiresAt / 1000) - Math.floor(Date.now() / 1000);
    if (left < 1) throw new HttpError(401, 'WRONGPASS invalid token: the token has expired');
    const ttl = Math.min(want.ttl ?? this.engine.options.jwtDefaultTtl, left);
    return {
      user: client.user.name,
      sub: typeof old.sub === 'string' && old.sub !== '' ? old.sub : undefined,
      ttl,
      acl: oldAcl ?? want.acl,
      claims,
    };
  }

  /** Checks a /auth/token body: known fields, their types, ttl range, `acl` rules, claim names. Throws HttpError 400. */
  private parseTokenRequest(body: unknown): TokenRequest {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest('the request body must be a JSON object: {"username": "…", "password": "…"}');
    }
    const o = body as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !TOKEN_REQUEST_FIELDS.has(k));
    if (unknown.length > 0) {
      throw badRequest(
        `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')} (allowed: username, password, ttl, acl, claims)`,
      );
    }
    const out: TokenRequest = {};
    if (o.username !== undefined) {
      if (typeof o.username !== 'string' || o.username === '')
        throw badRequest('"username" must be a non-empty string');
      out.username = o.username;
    }
    if (o.password !== undefined) {
      if (typeof o.password !== 'string') throw badRequest('"password" must be a string');
      out.password = o.password;
    }
    if (o.ttl !== undefined) {
      const max = this.engine.options.jwtMaxTtl;
      if (typeof o.ttl !== 'number' || !Number.isInteger(o.ttl) || o.ttl < 1 || o.ttl > max) {
        throw badRequest(`"ttl" must be an integer from 1 to ${max} (seconds)`);
      }
      out.ttl = o.ttl;
    }
    if (o.acl !== undefined) {
      if (typeof o.acl !== 'string') throw badRequest('"acl" must be a string of ACL rules, e.g. "~app:* +@read"');
      try {
        this.engine.acl.parseTokenRules(o.acl);
      } catch (e) {
        throw badRequest(`invalid "acl": ${(e as Error).message}`);
      }
      out.acl = o.acl;
    }
    if (o.claims !== undefined) {
      const c = o.claims;
      if (c === null || typeof c !== 'object' || Array.isArray(c)) {
        throw badRequest('"claims" must be a JSON object of string or number values');
      }
      const claims: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(c as Record<string, unknown>)) {
        const name = JSON.stringify(k.slice(0, 64));
        if (RESERVED_CLAIMS.has(k)) throw badRequest(`claim ${name} is reserved`);
        if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
          throw badRequest(`claim ${name} must be a string or a finite number`);
        }
        claims[k] = v;
      }
      out.claims = claims;
    }
    return out;
  }

  /** GET /.well-known/jwks.json: kvws's public signing keys (cacheable), or 503 when token issuing is off. */
  private jwks(res: ServerResponse): void {
    const tokens = this.engine.acl.tokens;
    if (tokens === null) throw new HttpError(503, 'ERR token issuing is not enabled on this server');
    this.send(res, 200, JSON.stringify(tokens.jwks()), NO_HEADERS, JWKS_CACHE_CONTROL);
  }
}

/** A checked /auth/token body. */
interface TokenRequest {
  username?: string;
  password?: string;
  ttl?: number;
  acl?: string;
  claims?: Record<string, string | number>;
}

/** Where `send` puts the content type, length and cache control in its head (see sendHead). */
const HEAD_TYPE = 3;
const HEAD_LENGTH = 5;
const HEAD_CACHE = 7;

/**
 * The headers of every `send`, flat [name, value, …], with '' for the values it fills in: HEAD_*, then
 * `security`, then (with `syncToken`) `upstash-sync-token`, then `x-request-id` last.
 */
function sendHead(security: readonly string[], syncToken: boolean): string[] {
  const h = ['vary', 'Origin', 'content-type', '', 'content-length', '', 'cache-control', '', ...security];
  if (syncToken) h.push('upstash-sync-token', '');
  h.push('x-request-id', '');
  return h;
}

/** A flat [name, value, …] header list as an object (for writeHead calls that take one). */
function securityHeaderObject(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}
