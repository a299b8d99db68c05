import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Encoding, Envelope } from '@kvws/shared/protocol';
import { NOAUTH } from '../auth/acl.js';
import { RESERVED_CLAIMS, TokenError } from '../auth/jwt.js';
import type { Client } from '../engine/client.js';
import type { Engine } from '../engine/engine.js';
import { fromJsonArg, toEnvelope } from '../protocol/json.js';
import { ErrorReply, MultiReply, PushReply, type Reply } from '../protocol/reply.js';
import { type HttpsServer, pathOf } from './https-server.js';
import { clientForSocket, isLoopback } from './resp-server.js';

/**
 * The HTTP API: JSON requests on routes of the HTTPS server, in the shape of Upstash's REST API (commands
 * as JSON arrays, `{result}` / `{error}` envelopes), plus kvws's token endpoints.
 *
 *   POST /                        ["SET","k","v"]            → 200 {"result": "OK"}, 400 {"error": "…"}
 *   POST /pipeline                [["SET","k","v"],["GET","k"]] → 200 [{"result": …}, {"error": …}] (not atomic)
 *   POST /multi-exec              [[…], […]]                 → 200 [{"result": …}, …] (MULTI … EXEC), 400 EXECABORT
 *   POST /auth/token              {"username","password",…} or a Bearer token → 200 {"token",…}
 *   GET  /.well-known/jwks.json   kvws's public signing keys
 *   POST /subscribe/<channel>     (or GET) → 200 text/event-stream of the channel's messages (see `stream`)
 *   POST /psubscribe/<pattern>    (or GET) → 200 text/event-stream of messages on matching channels
 *
 * Every request to the command endpoints is its own session: a fresh `Client` (front door `http`) that
 * lives until the response is done or the socket closes, authenticated by `Authorization: Bearer <JWT>`
 * (or, without a header, the default user when it is open and the peer is loopback). Commands go through
 * `engine.execute` like every other front door's.
 *
 * Every response is JSON (`Content-Type: application/json`, `X-Content-Type-Options: nosniff`, and
 * `Cache-Control: no-store` except the JWKS). Nothing here logs, and no error message repeats a token or
 * a password.
 */

export interface HttpApiOptions {
  /** Largest request body in bytes. A larger one gets 413 and is not buffered (see `readBody`). Default 1 MiB. */
  maxBody?: number;
  /**
   * While the default user is open, requests without a token run as it only from loopback (like the other
   * front doors' protected mode); false allows them from anywhere. Default true. Read at each request.
   */
  protectedMode?: boolean;
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

/** One per request that runs commands: the session and why it was closed under us, if it was. */
interface Session {
  client: Client;
  /** Set by client.kill (CLIENT KILL, user deleted or turned off, token expired); later commands do not run. */
  killed: string | null;
}

/** A route: the methods it answers and its handler (which may throw HttpError). */
interface Endpoint {
  /** The route also serves every path under it (see HttpsServer.route). */
  prefix?: boolean;
  methods: readonly string[];
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/** After a 413, what the peer still sends is read and dropped up to this many bytes, so it can see the answer. */
const LINGER_BYTES = 4 * 1024 * 1024;
/** …and for at most this long; then the connection is closed. */
const LINGER_MS = 2000;

/** The `Cache-Control` of the JWKS: public keys change only at rotation (old ones stay listed for maxTtl). */
const JWKS_CACHE_CONTROL = 'public, max-age=300';

const SUBSCRIPTIONS =
  'subscriptions need a stream: use POST /subscribe/<channel> or /psubscribe/<pattern> (server-sent events), or the WebSocket endpoint /ws';
const TRANSACTIONS = 'each request is its own session: send the whole transaction to /multi-exec';
/** Commands that need a connection's state across requests, refused (400) with the reason. */
const NOT_OVER_HTTP: ReadonlyMap<string, string> = new Map([
  ['SUBSCRIBE', SUBSCRIPTIONS],
  ['PSUBSCRIBE', SUBSCRIPTIONS],
  ['SSUBSCRIBE', SUBSCRIPTIONS],
  ['MONITOR', 'it streams to a connection: use the RESP port'],
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
function sseEvent(text: string): Buffer {
  return Buffer.from(`data: ${text.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`, 'latin1');
}

/**
 * The Bearer token of the Authorization header; null without the header. Throws HttpError 401 for another
 * scheme or a malformed header (the token itself is never quoted).
 */
function bearerToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (h === undefined) return null;
  const m = /^Bearer +([^\s]+) *$/i.exec(h);
  if (!m) {
    throw new HttpError(401, 'ERR the Authorization header must be "Bearer <token>"', {
      'www-authenticate': 'Bearer error="invalid_request"',
    });
  }
  return m[1];
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
 * binary strings: strings are sent as their bytes in `enc` (the name always as UTF-8), numbers as their
 * decimal text. Throws HttpError 400 naming the bad element.
 */
function parseCommand(x: unknown, where: string, enc: Encoding): string[] {
  const what = where === '' ? 'the command' : `command ${where}`;
  if (!Array.isArray(x)) throw badRequest(`${what} must be a JSON array: ["NAME", ...arguments]`);
  if (x.length === 0) throw badRequest(`${what} is empty: a command needs at least its name`);
  const argv = new Array<string>(x.length);
  for (let i = 0; i < x.length; i++) {
    const a: unknown = x[i];
    if (typeof a !== 'string' && !(typeof a === 'number' && Number.isFinite(a))) {
      throw badRequest(`${where}[${i}]: expected a string or a finite number`);
    }
    try {
      argv[i] = fromJsonArg(a, i === 0 ? 'utf8' : enc);
    } catch (e) {
      throw badRequest(`${where}[${i}]: ${(e as Error).message}`);
    }
  }
  return argv;
}

/** A list of commands (pipeline, multi-exec): at least one. Throws HttpError 400. */
function parseCommands(x: unknown, endpoint: string, enc: Encoding): string[][] {
  if (!Array.isArray(x)) throw badRequest(`${endpoint} takes a JSON array of commands: [["SET","k","v"],["GET","k"]]`);
  if (x.length === 0) throw badRequest(`${endpoint} takes at least one command`);
  return x.map((c, i) => parseCommand(c, `[${i}]`, enc));
}

/** The refusal of a command that needs a connection (NOT_OVER_HTTP), or null. */
function notOverHttp(argv: string[]): string | null {
  const name = argv[0].toUpperCase();
  const why = NOT_OVER_HTTP.get(name);
  return why === undefined ? null : `ERR ${name} is not supported by the HTTP API: ${why}`;
}

function internalError(e: unknown): ErrorReply {
  const msg = e instanceof Error ? e.message : String(e);
  return new ErrorReply(/^[A-Z]+ /.test(msg) ? msg : `ERR ${msg}`);
}

/**
 * The API behind HttpsServer routes (see the file comment). Contract: `register` adds its routes; every
 * request is answered exactly once with a JSON body (unless the peer went away first), and its session is
 * removed from `engine.clients` when the response is done or the socket closes.
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
  };
  /** Routes by exact path. */
  private readonly endpoints: ReadonlyMap<string, Endpoint>;

  constructor(
    readonly engine: Engine,
    opts: HttpApiOptions = {},
  ) {
    // Reads through to `opts` at each use (getters over the live configuration).
    this.options = {
      get maxBody() {
        return opts.maxBody ?? 1024 * 1024;
      },
      get protectedMode() {
        return opts.protectedMode ?? true;
      },
    };
    const post = ['POST'];
    this.endpoints = new Map<string, Endpoint>([
      ['/', { methods: post, handle: (req, res) => this.command(req, res) }],
      ['/pipeline', { methods: post, handle: (req, res) => this.pipeline(req, res) }],
      ['/multi-exec', { methods: post, handle: (req, res) => this.multiExec(req, res) }],
      ['/auth/token', { methods: post, handle: (req, res) => this.issueToken(req, res) }],
      ['/.well-known/jwks.json', { methods: ['GET', 'HEAD'], handle: async (_req, res) => this.jwks(res) }],
      // GET too, for EventSource (which sends no Authorization header: only for an open default user).
      [
        '/subscribe/',
        { prefix: true, methods: ['POST', 'GET'], handle: (req, res) => this.stream('channel', req, res) },
      ],
      [
        '/psubscribe/',
        { prefix: true, methods: ['POST', 'GET'], handle: (req, res) => this.stream('pattern', req, res) },
      ],
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
    for (const [path, ep] of this.endpoints) {
      https.route(path, { prefix: ep.prefix, request: (req, res) => this.serve(ep, req, res) });
    }
  }

  /** Method check, then the endpoint; an HttpError becomes its status, anything else a 500. */
  private serve(ep: Endpoint, req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    const method = req.method ?? '';
    if (!ep.methods.includes(method)) {
      const allow = ep.methods.join(', ');
      this.fail(req, res, new HttpError(405, `ERR method ${method} not allowed: use ${allow}`, { allow }));
      return;
    }
    ep.handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) this.fail(req, res, e);
      else this.fail(req, res, new HttpError(500, internalError(e).message));
    });
  }

  /** Sends a JSON body with the API's headers (and counts it). Does nothing once the response is sent or gone. */
  private send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
    cacheControl = 'no-store',
  ): void {
    if (res.headersSent || res.destroyed) return;
    if (status < 300) this.stats.responses2xx++;
    else if (status < 500) this.stats.responses4xx++;
    else this.stats.responses5xx++;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': cacheControl,
      'x-content-type-options': 'nosniff',
    });
    res.end(text);
  }

  /** Answers `{error}` with the HttpError's status and headers; a 413 also drops the rest of the body. */
  private fail(req: IncomingMessage, res: ServerResponse, e: HttpError): void {
    if (e.status === 401) this.stats.authFailures++;
    if (e.status === 413) {
      this.stats.rejectedBodyTooLarge++;
      this.discardRest(req);
    }
    this.send(res, e.status, { error: e.message }, e.headers);
  }

  /**
   * Reads the body, at most maxBody bytes. A Content-Length over it is refused before reading; a body that
   * grows over it is refused as soon as it does, and nothing more of it is kept. Throws HttpError 413, or
   * 400 when the peer stops sending midway.
   */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    const max = this.options.maxBody;
    const tooLarge = () => new HttpError(413, `ERR request body larger than ${max} bytes`);
    if (Number(req.headers['content-length']) > max) return Promise.reject(tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onAbort);
        req.off('close', onAbort);
      };
      const onData = (d: Buffer) => {
        size += d.length;
        if (size > max) {
          done();
          req.pause();
          reject(tooLarge());
          return;
        }
        chunks.push(d);
      };
      const onEnd = () => {
        done();
        resolve(Buffer.concat(chunks, size));
      };
      const onAbort = () => {
        done();
        reject(new HttpError(400, 'ERR the request body was not received completely'));
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onAbort);
      req.on('close', onAbort);
    });
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
   * A fresh session for this request, in `engine.clients` until the response is done or the socket
   * closes. Throws HttpError 503 at max clients (shared with the other front doors).
   */
  private openSession(req: IncomingMessage, res: ServerResponse): Session {
    const engine = this.engine;
    if (engine.clients.size >= engine.options.maxClients) throw new HttpError(503, 'ERR max number of clients reached');
    const s = req.socket;
    const client = clientForSocket(engine, 'http', s);
    // RESP2-shaped replies (HGETALL a flat array, ZSCORE a string…), as Upstash's REST API answers.
    client.resp = 2;
    const session: Session = { client, killed: null };
    client.kill = (reason) => {
      session.killed = reason;
      engine.clients.remove(client);
    };
    engine.clients.add(client);
    res.once('close', () => engine.clients.remove(client));
    return session;
  }

  /**
   * Authenticates a command request: a Bearer token (kvws or external JWT) logs the session in; without
   * the header, the session stays the default user only when that needs no password and the peer is on
   * loopback. Throws HttpError 401 (NOAUTH, or the WRONGPASS text of a refused token).
   */
  private async authenticate(req: IncomingMessage, session: Session): Promise<void> {
    const token = bearerToken(req);
    if (token === null) {
      if (!this.engine.acl.authRequired && (!this.options.protectedMode || isLoopback(req.socket.remoteAddress)))
        return;
      throw new HttpError(401, `${NOAUTH} Send Authorization: Bearer <token> (POST /auth/token issues one).`, {
        'www-authenticate': 'Bearer',
      });
    }
    const r = await this.engine.acl.authToken(session.client, token, null);
    if (r instanceof ErrorReply) {
      throw new HttpError(401, r.message, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
  }

  /** Opens and authenticates a session, then reads the body as JSON. */
  private async begin(req: IncomingMessage, res: ServerResponse, example: string): Promise<[Session, unknown]> {
    const session = this.openSession(req, res);
    await this.authenticate(req, session);
    return [session, parseJson(await this.readBody(req), example)];
  }

  /** engine.execute, awaited (blocking commands, password hashing); internal errors become error replies. */
  private async run(session: Session, argv: string[]): Promise<Reply> {
    if (session.killed !== null) return new ErrorReply(`ERR not run: the session was closed (${session.killed})`);
    if (session.client.closed) return new ErrorReply('ERR not run: the request was aborted');
    try {
      return await this.engine.execute(session.client, argv);
    } catch (e) {
      return internalError(e);
    }
  }

  /** POST /: one command → 200 `{result}`, or 400 `{error}` for a command error (as Upstash). */
  private async command(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const enc: Encoding = 'utf8';
    const [session, body] = await this.begin(req, res, 'a JSON array: ["SET","k","v"]');
    const argv = parseCommand(body, '', enc);
    const refused = notOverHttp(argv);
    if (refused !== null) throw new HttpError(400, refused);
    const envelope = toEnvelope(await this.run(session, argv), enc);
    this.send(res, 'error' in envelope ? 400 : 200, envelope);
  }

  /** POST /pipeline: the commands in order on one session (not atomic) → 200 `[envelope…]`. */
  private async pipeline(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const enc: Encoding = 'utf8';
    const [session, body] = await this.begin(req, res, 'a JSON array of commands: [["SET","k","v"],["GET","k"]]');
    const argvs = parseCommands(body, '/pipeline', enc);
    const out: Envelope[] = new Array(argvs.length);
    for (let i = 0; i < argvs.length; i++) {
      const refused = notOverHttp(argvs[i]);
      out[i] = refused !== null ? { error: refused } : toEnvelope(await this.run(session, argvs[i]), enc);
    }
    this.send(res, 200, out);
  }

  /**
   * POST /multi-exec: MULTI, the commands, EXEC on one session → 200 `[envelope…]`, or 400 `{error}` when
   * the transaction is discarded (`EXECABORT …`, naming the first command refused while queueing).
   */
  private async multiExec(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const enc: Encoding = 'utf8';
    const [session, body] = await this.begin(req, res, 'a JSON array of commands: [["SET","k","v"],["GET","k"]]');
    const argvs = parseCommands(body, '/multi-exec', enc);
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
      this.send(
        res,
        200,
        r.map((x) => toEnvelope(x, enc)),
      );
      return;
    }
    const envelope = toEnvelope(r, enc);
    if ('error' in envelope) {
      const detail = firstError !== null && envelope.error.startsWith('EXECABORT') ? ` (${firstError})` : '';
      this.send(res, 400, { error: `${envelope.error}${detail}` });
    } else {
      this.send(res, 200, envelope);
    }
  }

  /**
   * POST (or GET) /subscribe/<channel> and /psubscribe/<pattern>: server-sent events in Upstash's format.
   * The path's last part, percent-decoded (UTF-8), names one channel or glob pattern; a body is ignored.
   * The session (authenticated like POST /'s) runs SUBSCRIBE or PSUBSCRIBE through `engine.execute`, so
   * ACLs and the keyspace-notification filter apply as on the other front doors. Then → 200
   * `text/event-stream`, `Cache-Control: no-store`, and events whose data is
   *
   *   subscribe,<channel>,1                    (psubscribe,<pattern>,1): the subscription is active
   *   message,<channel>,<message>              each message on the channel
   *   pmessage,<pattern>,<channel>,<message>   each message on a matching channel
   *
   * (a message with line breaks spans several `data:` lines; the comma-joined fields are not escaped, as in
   * Upstash), with `: keepalive` comment lines every SSE_KEEPALIVE_MS. The stream lasts until the peer goes
   * away, the session is killed (CLIENT KILL, user turned off, channel rights revoked, token expired: a
   * comment line says why, then the stream ends), or the peer stops reading: with more than `wsMaxBuffer`
   * bytes unsent (the WebSocket gateway's limit, 0 = none) the connection is closed. Errors before the
   * stream starts are JSON: 400 (a bad path, or the command's error reply, e.g. NOPERM), 401, 503.
   */
  private async stream(kind: 'channel' | 'pattern', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const command = kind === 'channel' ? 'SUBSCRIBE' : 'PSUBSCRIBE';
    const route = kind === 'channel' ? '/subscribe/' : '/psubscribe/';
    let name: string;
    try {
      name = decodeURIComponent(pathOf(req).slice(route.length));
    } catch {
      throw badRequest(`the ${kind} in the path is not valid percent-encoded UTF-8`);
    }
    if (name === '') throw badRequest(`name the ${kind} in the path: ${route}<${kind}>`);
    req.resume(); // a body, if any, is read and dropped
    const session = this.openSession(req, res);
    await this.authenticate(req, session);
    const client = session.client;
    const engine = this.engine;
    // Deliveries before the response head is written wait here (none are expected: SUBSCRIBE is synchronous).
    let queued: Buffer[] | null = [];
    const write = (chunk: Buffer): void => {
      if (res.destroyed || res.writableEnded) return;
      if (queued !== null) {
        queued.push(chunk);
        return;
      }
      const max = engine.options.wsMaxBuffer;
      if (max > 0 && res.writableLength > max) {
        this.stats.streamsTooSlow++;
        res.destroy();
        return;
      }
      res.write(chunk);
    };
    client.push = (reply) => {
      if (!(reply instanceof PushReply)) return;
      const [type] = reply.items;
      if (type === 'message' || type === 'pmessage') write(sseEvent(reply.items.join(',')));
    };
    client.kill = (reason) => {
      session.killed = reason;
      engine.clients.remove(client);
      if (queued === null && !res.writableEnded && !res.destroyed) res.end(`: closed (${reason})\n\n`);
    };
    if (client.closed) return;
    const r = await this.run(session, [command, fromJsonArg(name, 'utf8')]);
    if (r instanceof ErrorReply) throw new HttpError(400, r.message);
    const confirm = r instanceof MultiReply && r.replies[0] instanceof PushReply ? r.replies[0].items : null;
    const count = confirm?.[2] ?? client.subscriptionCount;
    if (res.destroyed || session.killed !== null) return;
    this.stats.responses2xx++;
    this.stats.streams++;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Tells nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    const before = queued;
    queued = null;
    write(sseEvent(`${command.toLowerCase()},${fromJsonArg(name, 'utf8')},${String(count)}`));
    for (const chunk of before) write(chunk);
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
   * token for that user. Or, with `Authorization: Bearer <token>` and no username/password: a narrower
   * token for the same user (see `narrow`). → 200 `{"token","expiresAt","tokenType":"Bearer","user"}`;
   * 400 for a bad body, 401 for refused credentials, 503 when token issuing is off.
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
    const presented = bearerToken(req);
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
    this.send(res, 200, { token: issued.token, expiresAt: issued.expiresAt, tokenType: 'Bearer', user: issue.user });
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
    this.send(res, 200, tokens.jwks(), {}, JWKS_CACHE_CONTROL);
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
