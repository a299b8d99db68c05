import { X509Certificate } from 'node:crypto';
import { existsSync, type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { isLoopbackHost } from '../config.js';
import {
  Admission,
  acceptClientCertificate,
  DEFAULT_TLS_POLICY,
  readClientCa,
  secureContextOptions,
  type TlsPolicy,
  tlsServerOptions,
} from './admission.js';
import { FastLane } from './http-fast.js';

/**
 * kvws's one HTTP(S) port: TLS termination (the TLS policy and client certificates of admission.ts),
 * certificate reload, connection admission before any parsing, header and request timeouts, the security
 * headers of every answer, and routing by path. It knows nothing of WebSocket frames or commands: front
 * doors register a route (`/ws` for the gateway, the HTTP API, the dashboard, metrics) and get the request
 * or the upgrade. Other paths get a 404 JSON envelope.
 */

/** The repository's dev certificates (certs-dev/make-dev-certs.sh), used when no --tls-cert is given. */
export const DEV_CERT_DIR = fileURLToPath(new URL('../../../certs-dev/', import.meta.url));

/** The PEM files a TLS listener serves. */
export interface TlsFiles {
  cert: string;
  key: string;
}

export interface HttpsServerOptions {
  /** Address to bind. Default '127.0.0.1'. */
  host?: string;
  /** TCP port; 0 = ephemeral (see listen()'s result). Default 8443. */
  port?: number;
  /** Certificate and key (PEM paths) to serve TLS 1.2+ with; null = plain HTTP (loopback only, see below). */
  tls: TlsFiles | null;
  /** With `tls: null`, allow a non-loopback `host`. Default false: listen() refuses. */
  allowInsecureRemote?: boolean;
  /**
   * Reload the certificate when its files change (directory watch, debounced by `reloadDebounceMs`).
   * SIGHUP-style reloads via reloadCertificate() work either way. Default true.
   */
  watchCertificate?: boolean;
  /** Quiet period after the last file event before reloading. Default 250 ms. */
  reloadDebounceMs?: number;
  /** One-line log sink (certificate reloads). Default: none. */
  log?: (line: string) => void;
  /**
   * Connection admission (allow-list, per-address limit, refusal counters), shared with the other
   * listeners. Default: one of its own that admits everyone but 1000 connections per non-loopback address.
   */
  admission?: Admission;
  /** TLS versions, ciphers, handshake timeout, client certificates. Default DEFAULT_TLS_POLICY. */
  tlsPolicy?: TlsPolicy;
  /**
   * Seconds a request's headers may take to arrive (WebSocket upgrade requests included); then the peer
   * gets 408 and is closed. Default 20.
   */
  headersTimeout?: number;
  /** Seconds a whole request (headers and body) may take to arrive; 0 = no limit. Default 60. */
  requestTimeout?: number;
  /** Seconds an idle keep-alive connection waits for its next request. Default 5. */
  keepAliveTimeout?: number;
  /** `Strict-Transport-Security` max-age on every answer over TLS; 0 = not sent. Default 31536000 (a year). */
  hstsMaxAge?: number;
  /**
   * Serve the `fast` routes' plain requests on the fast lane (http-fast.ts) instead of node:http's
   * request objects; every other request is node:http's either way. Default true.
   */
  fastLane?: boolean;
}

/**
 * Headers on every answer of the port (with HSTS over TLS, see securityHeadersFor): no MIME sniffing, no
 * framing, no Referer sent onwards.
 */
export const BASE_SECURITY_HEADERS: readonly string[] = [
  'x-content-type-options',
  'nosniff',
  'x-frame-options',
  'DENY',
  'referrer-policy',
  'no-referrer',
];

/** The security headers as a flat [name, value, …] list: BASE_SECURITY_HEADERS, plus HSTS when `hstsMaxAge` > 0. */
export function securityHeadersFor(secure: boolean, hstsMaxAge: number): readonly string[] {
  if (!secure || hstsMaxAge <= 0) return BASE_SECURITY_HEADERS;
  return ['strict-transport-security', `max-age=${hstsMaxAge}; includeSubDomains`, ...BASE_SECURITY_HEADERS];
}

/** Raw header lines (`Name: value\r\n`…) of `rejectUpgrade`, per upgrade socket (set by HttpsServer.onUpgrade). */
const upgradeHeaderLines = new WeakMap<object, string>();

/** Milliseconds between Node's checks of the header and request timeouts (its default, 30 s, is too coarse). */
const TIMEOUT_CHECK_MS = 500;

/** A route's handlers: plain HTTP requests and/or `Upgrade:` requests on that exact path. */
export interface Route {
  /**
   * Also serve every path that starts with the route's path (which should then end with `/`, e.g.
   * `/subscribe/`). An exact route wins over a prefix route; among prefix routes, the longest. Default false.
   */
  prefix?: boolean;
  request?: (req: IncomingMessage, res: ServerResponse) => void;
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * The route puts `HttpsServer.securityHeaders` on every answer itself (the HTTP API, to keep one
   * writeHead per answer). Default false: the server sets them before calling `request`.
   */
  writesSecurityHeaders?: boolean;
  /**
   * `request` also serves the fast lane's requests to this exact path (see http-fast.ts: `POST` with a
   * Content-Length body, given as a FastRequest and FastResponse). Needs `writesSecurityHeaders`. Default false.
   */
  fast?: boolean;
}

/** On close(), sockets still open this long after the listener stopped are destroyed. */
const CLOSE_GRACE_MS = 1000;

/**
 * The certificate and key for the HTTPS port: the given ones, else `certs-dev/server.pem` and
 * `certs-dev/server.key` when both exist. Throws an Error saying how to get one when neither is there.
 */
export function findCertificate(given: Partial<TlsFiles>, devDir = DEV_CERT_DIR): TlsFiles {
  if (given.cert && given.key) return { cert: given.cert, key: given.key };
  const dev = { cert: path.join(devDir, 'server.pem'), key: path.join(devDir, 'server.key') };
  if (existsSync(dev.cert) && existsSync(dev.key)) return dev;
  throw new Error(
    'the HTTPS port needs a TLS certificate: pass --tls-cert FILE --tls-key FILE, ' +
      `run ${path.join(devDir, 'make-dev-certs.sh')} to make a local development one (npm start does), ` +
      'use --port 0 to turn the port off, or --no-tls for plain ws:// on loopback',
  );
}

/** A JSON error envelope, as the HTTP API answers errors. */
export function sendJsonError(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Refuses an upgrade request on its raw socket with an HTTP status and a JSON error envelope. */
export function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: message });
  const security = upgradeHeaderLines.get(socket) ?? headerLines(BASE_SECURITY_HEADERS);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `${security}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  // A peer that never reads must not keep the socket: end() flushes, then this closes regardless.
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}

/** `Name: value\r\n` lines of a flat [name, value, …] header list. */
function headerLines(flat: readonly string[]): string {
  let out = '';
  for (let i = 0; i < flat.length; i += 2) out += `${flat[i]}: ${flat[i + 1]}\r\n`;
  return out;
}

/** "CN=localhost, valid until <date>" for log lines. */
function describeCertificate(pem: Buffer): string {
  try {
    const x = new X509Certificate(pem);
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1] ?? x.subject.replace(/\n/g, ', ');
    return `CN=${cn}, valid until ${new Date(x.validTo).toISOString().slice(0, 10)}`;
  } catch {
    return 'unparsable certificate';
  }
}

/**
 * One HTTPS (or, with `tls: null`, HTTP) listener with routes by path.
 *
 * Contract: `listen()` resolves with the bound address (rejects on bind errors, an unreadable certificate,
 * or plain HTTP on a non-loopback host without `allowInsecureRemote`); `close()` stops accepting and
 * resolves once every socket is closed (sockets left after CLOSE_GRACE_MS are destroyed). Front doors
 * close their own upgraded connections first (the gateway sends 1001).
 */
export class HttpsServer {
  readonly options: Required<Omit<HttpsServerOptions, 'tls'>> & Pick<HttpsServerOptions, 'tls'>;
  /** Headers every answer carries (flat [name, value, …]; see securityHeadersFor and Route.writesSecurityHeaders). */
  readonly securityHeaders: readonly string[];
  /** The same as raw header lines, for answers written on the socket (rejectUpgrade, clientError). */
  private readonly securityHeaderLines: string;
  /** TLS handshake failures, HTTP parse errors and socket errors. */
  socketErrors = 0;
  /** Successful certificate reloads. */
  certificateReloads = 0;
  private readonly routes = new Map<string, Route>();
  /** The prefix routes' paths, longest first. */
  private prefixes: string[] = [];
  private readonly sockets = new Set<net.Socket>();
  private server: http.Server | https.Server | null = null;
  /** The fast lane (null when turned off, or before listen). */
  private lane: FastLane | null = null;
  private current: { cert: Buffer; key: Buffer } | null = null;
  private watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | null = null;

  constructor(opts: HttpsServerOptions) {
    this.options = {
      host: '127.0.0.1',
      port: 8443,
      allowInsecureRemote: false,
      watchCertificate: true,
      reloadDebounceMs: 250,
      log: () => {},
      tlsPolicy: DEFAULT_TLS_POLICY,
      headersTimeout: 20,
      requestTimeout: 60,
      keepAliveTimeout: 5,
      hstsMaxAge: 31_536_000,
      fastLane: true,
      ...opts,
      admission: opts.admission ?? new Admission(),
    };
    this.securityHeaders = securityHeadersFor(opts.tls !== null, this.options.hstsMaxAge);
    this.securityHeaderLines = headerLines(this.securityHeaders);
  }

  /** Whether this listener serves TLS. */
  get secure(): boolean {
    return this.options.tls !== null;
  }

  /**
   * Registers handlers for an exact path (query string ignored), or with `route.prefix` for every path under
   * it. Later registrations of the same path replace earlier ones.
   */
  route(pathname: string, route: Route): void {
    this.routes.set(pathname, route);
    this.prefixes = [...this.routes].filter(([, r]) => r.prefix).map(([p]) => p);
    this.prefixes.sort((a, b) => b.length - a.length);
  }

  /** The route serving `pathname`: the exact one, else the longest prefix route it starts with. */
  private find(pathname: string): Route | undefined {
    const exact = this.routes.get(pathname);
    if (exact) return exact;
    const p = this.prefixes.find((x) => pathname.startsWith(x));
    return p === undefined ? undefined : this.routes.get(p);
  }

  async listen(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('HttpsServer is already listening');
    const o = this.options;
    let server: http.Server | https.Server;
    const httpOptions: http.ServerOptions = {
      headersTimeout: o.headersTimeout * 1000,
      requestTimeout: o.requestTimeout * 1000,
      keepAliveTimeout: o.keepAliveTimeout * 1000,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    };
    const policy = o.tlsPolicy;
    if (o.tls) {
      const files = o.tls;
      const clientCa = await readClientCa(policy);
      try {
        const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
        server = https.createServer({ ...tlsServerOptions(policy, cert, key, clientCa), ...httpOptions });
        this.current = { cert, key };
      } catch (e) {
        throw new Error(`cannot use TLS certificate ${files.cert} with key ${files.key}: ${(e as Error).message}`);
      }
      this.lane = o.fastLane ? this.startFastLane(server, true) : null;
      server.on('tlsClientError', (err, socket) => {
        this.socketErrors++;
        o.admission.tlsClientError('https', err, socket);
        socket.destroy();
      });
      // Before Node's own handler: a connection refused here never reaches the HTTP parser.
      server.prependListener('secureConnection', (socket: tls.TLSSocket) => {
        if (acceptClientCertificate(policy, socket)) return;
        o.admission.count('https', 'client_certificate', socket.remoteAddress);
        socket.destroy();
      });
    } else {
      if (!o.allowInsecureRemote && !isLoopbackHost(o.host)) {
        throw new Error(`refusing plain HTTP on non-loopback host ${o.host} without allowInsecureRemote`);
      }
      server = http.createServer(httpOptions);
      this.lane = o.fastLane ? this.startFastLane(server, false) : null;
    }
    // Allow-list and per-address limit on the raw TCP connection, before the TLS handshake or any parsing.
    o.admission.guard(server, 'https');
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => this.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    server.on('clientError', (err: Error & { code?: string }, socket) => {
      // Headers (or the whole request) not received within headersTimeout / requestTimeout.
      this.refuseRequest(socket as net.Socket, err.code === 'ERR_HTTP_REQUEST_TIMEOUT');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.server = null;
        reject(err);
      };
      server.once('error', onError);
      server.listen(o.port, o.host, () => {
        server.off('error', onError);
        server.on('error', () => this.socketErrors++);
        resolve();
      });
    });
    if (o.tls && o.watchCertificate) this.watchFiles(o.tls);
    const addr = server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  /**
   * Answers a request node:http could not parse (400) or that did not arrive in time (408, counted as an
   * admission refusal), then closes the connection.
   */
  private refuseRequest(socket: net.Socket, timedOut: boolean): void {
    this.socketErrors++;
    if (timedOut) this.options.admission.count('https', 'request_timeout', socket.remoteAddress);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(
      `HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\n` +
        `${this.securityHeaderLines}Content-Length: 0\r\n\r\n`,
    );
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /**
   * Puts the fast lane in front of node:http on `server`: node:http's own handler of a new connection
   * ('connection', or 'secureConnection' over TLS) is taken out, and called only for connections the lane
   * hands over. Must run right after the server is made, before anything else listens to that event.
   */
  private startFastLane(server: http.Server | https.Server, secure: boolean): FastLane {
    const event = secure ? 'secureConnection' : 'connection';
    const node = server.listeners(event) as ((socket: net.Socket) => void)[];
    server.removeAllListeners(event);
    const o = this.options;
    const lane = new FastLane({
      route: (path) => {
        const r = this.routes.get(path);
        return r?.fast === true && r.writesSecurityHeaders === true && r.request !== undefined ? r.request : null;
      },
      handOver: (socket) => {
        for (const f of node) f.call(server, socket);
      },
      onTimeout: (socket) => this.refuseRequest(socket, true),
      onError: () => this.socketErrors++,
      headersTimeoutMs: o.headersTimeout * 1000,
      requestTimeoutMs: o.requestTimeout * 1000,
      keepAliveTimeoutMs: o.keepAliveTimeout * 1000,
      checkIntervalMs: TIMEOUT_CHECK_MS,
    });
    server.on(event, (socket: net.Socket) => lane.accept(socket));
    return lane;
  }

  /** Connections on the fast lane now, requests it took, and connections it handed over to node:http (INFO). */
  get fastLaneStats(): { connections: number; requests: number; handedOver: number } {
    const l = this.lane;
    return { connections: l?.size ?? 0, requests: l?.requests ?? 0, handedOver: l?.handedOver ?? 0 };
  }

  /** One line describing the served certificate ("CN=…, valid until …"), or null without TLS. */
  describeCertificate(): string | null {
    return this.current ? describeCertificate(this.current.cert) : null;
  }

  /**
   * Re-reads the certificate and key and serves them to new connections (existing ones keep theirs).
   * `why` names the trigger in the log line ("SIGHUP", "file change"). A file-change reload of unchanged
   * files does nothing; an unusable pair is logged and the previous certificate kept. Resolves true when
   * the new certificate is in use.
   */
  async reloadCertificate(why: string): Promise<boolean> {
    const files = this.options.tls;
    const server = this.server;
    if (!files || !server || !(server instanceof https.Server)) return false;
    let cert: Buffer;
    let key: Buffer;
    let clientCa: Buffer | null;
    try {
      [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
      clientCa = await readClientCa(this.options.tlsPolicy);
      // Checks the pair (and that the key matches the certificate) before it replaces a working one.
      tls.createSecureContext(secureContextOptions(this.options.tlsPolicy, cert, key, clientCa));
    } catch (e) {
      this.options.log(
        `TLS certificate reload (${why}) failed, still serving the previous one: ${(e as Error).message}`,
      );
      return false;
    }
    if (this.server !== server) return false;
    const cur = this.current;
    if (why === 'file change' && cur && cur.cert.equals(cert) && cur.key.equals(key)) return false;
    server.setSecureContext(secureContextOptions(this.options.tlsPolicy, cert, key, clientCa));
    this.current = { cert, key };
    this.certificateReloads++;
    this.options.log(`TLS certificate reloaded (${why}) from ${files.cert}: ${describeCertificate(cert)}`);
    return true;
  }

  /**
   * Watches the directories holding the certificate and key (a file replaced by rename, or a Kubernetes
   * secret's symlink swap, is seen there; a watch on the file itself would follow the old inode). Any
   * event there schedules a debounced reload, which is a no-op when the bytes did not change.
   */
  private watchFiles(files: TlsFiles): void {
    const dirs = new Set([path.dirname(path.resolve(files.cert)), path.dirname(path.resolve(files.key))]);
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.scheduleReload());
        w.on('error', () => {});
        this.watchers.push(w);
      } catch (e) {
        this.options.log(`cannot watch ${dir} for certificate changes (SIGHUP still reloads): ${(e as Error).message}`);
      }
    }
  }

  private scheduleReload(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      void this.reloadCertificate('file change');
    }, this.options.reloadDebounceMs);
    this.reloadTimer.unref();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const route = this.find(pathOf(req));
    if (route?.writesSecurityHeaders !== true) {
      const h = this.securityHeaders;
      for (let i = 0; i < h.length; i += 2) res.setHeader(h[i], h[i + 1]);
    }
    if (route?.request) {
      route.request(req, res);
      return;
    }
    sendJsonError(res, 404, `ERR no such endpoint: ${req.method} ${pathOf(req)}`);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => this.socketErrors++);
    upgradeHeaderLines.set(socket, this.securityHeaderLines);
    const route = this.find(pathOf(req));
    if (route?.upgrade) {
      route.upgrade(req, socket, head);
      return;
    }
    rejectUpgrade(socket, 404, `ERR no such endpoint: ${pathOf(req)} (the WebSocket endpoint is /ws)`);
  }

  /** Stops accepting and watching; resolves when every socket has closed (destroying stragglers). */
  async close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = null;
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    this.lane?.close();
    const force = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, CLOSE_GRACE_MS);
    await closed;
    clearTimeout(force);
  }
}

/** The request's path without its query string (still percent-encoded). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
