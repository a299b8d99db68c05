import { readFile } from 'node:fs/promises';
import net from 'node:net';
import type tls from 'node:tls';
import { type Logger, silentLogger } from '../log.js';

/**
 * Connection admission for every listener (the RESP port and the HTTPS port), decided on the raw TCP
 * connection before a byte is parsed or a TLS handshake starts, plus the TLS policy both TLS listeners
 * share (versions, ciphers, handshake timeout, client certificates). Spec: docs/security.md.
 *
 * - Allow-lists: `respAllowFrom` / `httpsAllowFrom` (CIDR, IPv4 and IPv6; an IPv4-mapped IPv6 peer
 *   `::ffff:a.b.c.d` matches IPv4 entries). Empty = everyone. A peer outside is destroyed at once.
 * - Per-address limit: at most `maxClientsPerAddress` open TCP connections from one address, both
 *   listeners together, except addresses in `clientLimitExempt` (default: loopback). Over it, a plain
 *   RESP peer reads `-ERR max number of clients per address reached` and is closed; a TLS peer (RESP or
 *   HTTPS) is closed before its handshake, as there is no protocol yet to answer in.
 * - Counters per listener and reason (`rejected`), shown in INFO stats and `/metrics`
 *   (`kvws_connections_rejected_total{listener,reason}`).
 */

/** The listeners admission guards. */
export type ListenerName = 'resp' | 'https';

/**
 * Why a connection was refused or dropped early: outside the allow-list, over the per-address limit, over
 * max clients, a TLS handshake not done in time, a client certificate refused (tls-auth-clients), an HTTP
 * request whose headers or body did not arrive in time.
 */
export const REJECT_REASONS = [
  'allowlist',
  'per_address',
  'max_clients',
  'handshake_timeout',
  'client_certificate',
  'request_timeout',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * The reasons each listener counts itself (INFO `<listener>_rejected_<reason>`). The HTTPS port's max
 * clients refusals are the WebSocket gateway's (INFO ws_rejected_maxclients); RESP has no HTTP requests.
 */
export const LISTENER_REASONS: Readonly<Record<ListenerName, readonly RejectReason[]>> = {
  resp: ['allowlist', 'per_address', 'max_clients', 'handshake_timeout', 'client_certificate'],
  https: ['allowlist', 'per_address', 'handshake_timeout', 'client_certificate', 'request_timeout'],
};

/** Loopback: the default of `clientLimitExempt` (tests and local proxies connect from there). */
export const LOOPBACK_CIDRS: readonly string[] = ['127.0.0.0/8', '::1'];

/** The RESP error a plain-TCP peer over the per-address limit reads before the close. */
export const PER_ADDRESS_ERR = '-ERR max number of clients per address reached\r\n';

/** A refusal of the same listener and reason is logged (warn) at most once per this many ms, with the count since. */
const WARN_EVERY_MS = 60_000;

/** A refused peer that does not read its error is destroyed after this long. */
const REFUSE_GRACE_MS = 1000;

/**
 * One allow-list entry checked: `a.b.c.d[/n]`, `ipv6[/n]` (brackets allowed), without a prefix a single
 * address. Returns its parts; throws an Error saying what is wrong.
 */
export function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const text = entry.trim();
  const slash = text.indexOf('/');
  let address = slash < 0 ? text : text.slice(0, slash);
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const v = net.isIP(address);
  if (v === 0 || address.includes('%')) {
    throw new Error(`${JSON.stringify(entry)} is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)`);
  }
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      throw new Error(`${JSON.stringify(entry)}: the prefix length must be 0-${max}`);
    }
    prefix = Number(p);
  }
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** A set of CIDR blocks (IPv4 and IPv6). An IPv4-mapped IPv6 address matches IPv4 blocks and vice versa. */
export class AddressList {
  private readonly blocks = new net.BlockList();

  /** Throws an Error naming the first invalid entry (see parseCidr). */
  constructor(readonly entries: readonly string[] = []) {
    for (const e of entries) {
      const { address, prefix, family } = parseCidr(e);
      this.blocks.addSubnet(address, prefix, family);
    }
  }

  /** True when the list has no entry (an allow-list that allows everyone). */
  get empty(): boolean {
    return this.entries.length === 0;
  }

  /** Whether `ip` (as a socket reports it) is in one of the blocks; false for anything not an IP address. */
  has(ip: string | undefined): boolean {
    if (!ip) return false;
    const v = net.isIP(ip);
    if (v === 0) return false;
    try {
      return this.blocks.check(ip, v === 4 ? 'ipv4' : 'ipv6');
    } catch {
      return false;
    }
  }
}

/** The key one peer's connections are counted under: IPv4-mapped IPv6 as plain IPv4, IPv6 lower-case. */
export function addressKey(ip: string): string {
  const lower = ip.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}

export interface AdmissionOptions {
  /** Peers allowed on the RESP port (CIDR); empty = all. Default []. */
  respAllowFrom?: readonly string[];
  /** Peers allowed on the HTTPS port (CIDR); empty = all. Default []. */
  httpsAllowFrom?: readonly string[];
  /** Open connections per peer address, both listeners together; 0 = no limit. Default 1000. */
  maxClientsPerAddress?: number;
  /** Addresses the per-address limit does not apply to (CIDR). Default loopback (LOOPBACK_CIDRS). */
  clientLimitExempt?: readonly string[];
  /** Refusals are logged at warn, at most once a minute per listener and reason, with the count. Default: none. */
  logger?: Logger;
}

/**
 * Admission state shared by the listeners of one server: the lists, the open connections per address and
 * the refusal counters. Contract: `guard(server, listener)` must be called right after the Node server is
 * created (before anything else listens to its 'connection' event); from then on every TCP connection is
 * checked before Node's own handling (HTTP parsing, the TLS handshake) sees it.
 */
export class Admission {
  /** Refusals by listener and reason (INFO `<listener>_rejected_<reason>`). */
  readonly rejected: Record<ListenerName, Record<RejectReason, number>> = {
    resp: zeroCounts(),
    https: zeroCounts(),
  };
  readonly maxClientsPerAddress: number;
  private readonly allow: Record<ListenerName, AddressList>;
  private readonly exempt: AddressList;
  private readonly open = new Map<string, number>();
  private readonly log: Logger;
  /** Per `listener:reason`: when a refusal was last logged and how many went unlogged since. */
  private readonly warned = new Map<string, { at: number; unlogged: number }>();

  /** Throws an Error naming an invalid CIDR entry. */
  constructor(o: AdmissionOptions = {}) {
    this.allow = { resp: new AddressList(o.respAllowFrom), https: new AddressList(o.httpsAllowFrom) };
    this.exempt = new AddressList(o.clientLimitExempt ?? LOOPBACK_CIDRS);
    this.maxClientsPerAddress = o.maxClientsPerAddress ?? 1000;
    this.log = o.logger ?? silentLogger;
  }

  /** Open connections counted for `ip` (0 for exempt addresses, which are not counted). */
  openFrom(ip: string): number {
    return this.open.get(addressKey(ip)) ?? 0;
  }

  /**
   * Checks a new TCP connection of `listener`: null when admitted (it is then counted until it closes),
   * else why not. Does not touch the socket otherwise.
   */
  check(listener: ListenerName, socket: net.Socket): RejectReason | null {
    const ip = socket.remoteAddress;
    if (ip === undefined) return 'allowlist';
    const allow = this.allow[listener];
    if (!allow.empty && !allow.has(ip)) return 'allowlist';
    const max = this.maxClientsPerAddress;
    if (max > 0 && !this.exempt.has(ip)) {
      const key = addressKey(ip);
      const n = this.open.get(key) ?? 0;
      if (n >= max) return 'per_address';
      this.open.set(key, n + 1);
      socket.once('close', () => {
        const left = (this.open.get(key) ?? 1) - 1;
        if (left <= 0) this.open.delete(key);
        else this.open.set(key, left);
      });
    }
    return null;
  }

  /**
   * Puts `check` in front of every 'connection' listener `server` has now (Node's own: the HTTP parser, the
   * TLS handshake, the net.createServer callback). A refused socket never reaches them: `refuse` closes it
   * (default: destroyed at once; it may write a short error first).
   */
  guard(
    server: net.Server,
    listener: ListenerName,
    refuse: (socket: net.Socket, reason: RejectReason) => void = destroyRefused,
  ): void {
    const node = server.listeners('connection') as ((socket: net.Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: net.Socket) => {
      // Already gone (reset before we saw it): nothing to admit or count.
      if (socket.remoteAddress === undefined) {
        socket.destroy();
        return;
      }
      const reason = this.check(listener, socket);
      if (reason === null) {
        for (const f of node) f.call(server, socket);
        return;
      }
      socket.on('error', () => {});
      this.count(listener, reason, socket.remoteAddress);
      refuse(socket, reason);
    });
  }

  /**
   * Counts a refusal (also those decided elsewhere: max clients, handshake timeouts, client certificates,
   * HTTP request timeouts) and logs it, at most once a minute per listener and reason.
   */
  count(listener: ListenerName, reason: RejectReason, ip?: string): void {
    this.rejected[listener][reason]++;
    const key = `${listener}:${reason}`;
    const now = Date.now();
    const w = this.warned.get(key);
    if (w && now - w.at < WARN_EVERY_MS) {
      w.unlogged++;
      return;
    }
    const since = w && w.unlogged > 0 ? ` (and ${w.unlogged} more in the last minute)` : '';
    this.warned.set(key, { at: now, unlogged: 0 });
    this.log.warn({ addr: ip, listener, reason }, `${listener} connection refused: ${REASON_TEXT[reason]}${since}`);
  }

  /** Counts a TLS listener's handshake failure when it is a limit's (the handshake timeout); see tlsServerOptions. */
  tlsClientError(listener: ListenerName, err: Error & { code?: string }, socket: { remoteAddress?: string }): void {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.count(listener, 'handshake_timeout', socket.remoteAddress);
  }

  /** INFO stats fields: `<listener>_rejected_<reason>` for every listener and its LISTENER_REASONS. */
  infoFields(): [string, number][] {
    const out: [string, number][] = [];
    for (const l of ['resp', 'https'] as const) {
      for (const r of LISTENER_REASONS[l]) out.push([`${l}_rejected_${r}`, this.rejected[l][r]]);
    }
    return out;
  }
}

const REASON_TEXT: Record<RejectReason, string> = {
  allowlist: 'the address is not in the allow-list',
  per_address: 'max number of clients per address reached',
  max_clients: 'max number of clients reached',
  handshake_timeout: 'TLS handshake not completed in time',
  client_certificate: 'client certificate missing or not valid',
  request_timeout: 'HTTP request headers or body not received in time',
};

function zeroCounts(): Record<RejectReason, number> {
  return Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
}

function destroyRefused(socket: net.Socket): void {
  socket.destroy();
}

/** A refusal for plain-TCP RESP: the per-address error, then the close; other reasons: destroyed at once. */
export function refuseResp(socket: net.Socket, reason: RejectReason): void {
  if (reason !== 'per_address') {
    socket.destroy();
    return;
  }
  socket.end(PER_ADDRESS_ERR, () => socket.destroy());
  setTimeout(() => socket.destroy(), REFUSE_GRACE_MS).unref();
}

// ---- TLS policy ---------------------------------------------------------------------------------------------

/** tls-auth-clients (Redis's names): no client certificate, one checked when given, or one required. */
export type TlsAuthClients = 'no' | 'optional' | 'yes';
/** Which field of a valid client certificate names the kvws user it logs in as; `off` = none. */
export type TlsClientUserField = 'off' | 'cn' | 'san';

/**
 * The TLS 1.2 suites kvws offers by default: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only
 * (Mozilla's "intermediate" list without DHE). TLS 1.3 uses Node's suites (all AEAD).
 */
export const DEFAULT_TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** What both TLS listeners apply (options tlsMinVersion, tlsCiphers, tlsHandshakeTimeout, tlsClientCa, …). */
export interface TlsPolicy {
  /** Lowest protocol version accepted. */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites too when it names `TLS_…` ones). */
  ciphers: string;
  /** Seconds a peer has to complete the TLS handshake from its TCP connection; then it is destroyed. */
  handshakeTimeout: number;
  /** CA file (PEM) that client certificates must chain to; needed when authClients is not `no`. */
  clientCa?: string;
  authClients: TlsAuthClients;
  clientUserField: TlsClientUserField;
}

export const DEFAULT_TLS_POLICY: TlsPolicy = {
  minVersion: 'TLSv1.2',
  ciphers: DEFAULT_TLS_CIPHERS,
  handshakeTimeout: 10,
  authClients: 'no',
  clientUserField: 'off',
};

/** The client CA's PEM bytes when client certificates are asked for, else null. Rejects if unreadable. */
export async function readClientCa(policy: TlsPolicy): Promise<Buffer | null> {
  if (policy.authClients === 'no' || !policy.clientCa) return null;
  try {
    return await readFile(policy.clientCa);
  } catch (e) {
    throw new Error(`cannot read the client CA file ${policy.clientCa}: ${(e as Error).message}`);
  }
}

/** The secure-context part of the policy (what a certificate reload replaces): keys, CA, versions, ciphers. */
export function secureContextOptions(
  policy: TlsPolicy,
  cert: Buffer,
  key: Buffer,
  clientCa: Buffer | null,
): tls.SecureContextOptions {
  const o: tls.SecureContextOptions = {
    cert,
    key,
    minVersion: policy.minVersion,
    ciphers: policy.ciphers,
    honorCipherOrder: true,
  };
  if (clientCa !== null) o.ca = clientCa;
  return o;
}

/**
 * Options for tls.createServer / https.createServer: the secure context, the handshake timeout (absolute:
 * a peer trickling handshake bytes is closed at the deadline too), and client certificates, asked for
 * under `optional` and `yes`. Node is not told to reject them itself (it would drop an invalid one
 * silently): `acceptClientCertificate`, on the finished handshake, refuses what the mode does not allow,
 * before the connection is handed over, and the listener counts it.
 */
export function tlsServerOptions(
  policy: TlsPolicy,
  cert: Buffer,
  key: Buffer,
  clientCa: Buffer | null,
): tls.TlsOptions {
  return {
    ...secureContextOptions(policy, cert, key, clientCa),
    handshakeTimeout: policy.handshakeTimeout * 1000,
    requestCert: policy.authClients !== 'no' && clientCa !== null,
    rejectUnauthorized: false,
  };
}

/** TLS sockets whose valid client certificate names a user (see acceptClientCertificate). */
const certificateUsers = new WeakMap<object, string>();

/**
 * Called for every TLS connection once its handshake is done, before its first byte is read. Returns
 * false when it must be closed: under `yes`, no valid certificate (missing, not chaining to the client
 * CA, expired…); under `optional`, a certificate that was presented but is not valid. With a valid
 * certificate and `clientUserField` on, remembers the user name it carries (certificateUser).
 */
export function acceptClientCertificate(policy: TlsPolicy, socket: tls.TLSSocket): boolean {
  if (policy.authClients === 'no') return true;
  if (!socket.authorized) {
    if (policy.authClients === 'yes') return false;
    // `optional`: no certificate is fine, a bad one is not.
    const cert = socket.getPeerCertificate();
    return cert === null || cert === undefined || Object.keys(cert).length === 0;
  }
  if (policy.clientUserField === 'off') return true;
  const name = certificateUserName(socket.getPeerCertificate(), policy.clientUserField);
  if (name !== null) certificateUsers.set(socket, name);
  return true;
}

/**
 * The user name in a certificate: `cn`, the subject's common name (refused when there are several);
 * `san`, the first DNS, email or URI entry of subjectAltName, in the certificate's order. null for none.
 */
export function certificateUserName(cert: tls.PeerCertificate, field: 'cn' | 'san'): string | null {
  if (field === 'cn') {
    const cn = cert.subject?.CN as string | string[] | undefined;
    return typeof cn === 'string' && cn !== '' ? cn : null;
  }
  const san = cert.subjectaltname;
  if (!san) return null;
  // Node's form: `DNS:a, email:b, URI:c`, with a value JSON-quoted when it holds a comma or a quote.
  const re = /(DNS|email|URI|IP Address|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (let m = re.exec(san); m !== null; m = re.exec(san)) {
    if (m[1] !== 'DNS' && m[1] !== 'email' && m[1] !== 'URI') continue;
    let v = m[2];
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        continue;
      }
    }
    if (v !== '') return v;
  }
  return null;
}

/** The user name carried by this socket's valid client certificate (see acceptClientCertificate), or null. */
export function certificateUser(socket: object): string | null {
  return certificateUsers.get(socket) ?? null;
}
