import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { type Document, isMap, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { z } from 'zod';
import { parseEngineTarget, redactUrl } from './backends/engine-target.js';
import { POLICIES, parseMemory } from './engine/memory.js';
import { parseNotifyFlags } from './engine/notify.js';
import { DEFAULT_TLS_CIPHERS, LOOPBACK_CIDRS, parseCidr } from './net/admission.js';

/**
 * A static HTTP API token bound to an ACL user (like Upstash's `ACL RESTTOKEN`): `sha256` (the SHA-256 of
 * the token as 64 hex digits, preferred: the file then holds no secret) or `token` (the token itself), and
 * `readonly` to narrow the user to read commands. A request presenting the token runs as the user; a
 * token whose user is deleted or off is refused.
 */
export const ApiTokenSchema = z
  .object({
    user: z.string().min(1),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be the SHA-256 of the token as 64 hex digits')
      .transform((h) => h.toLowerCase())
      .optional(),
    token: z.string().min(16, 'must be at least 16 characters (e.g. openssl rand -base64 32)').optional(),
    readonly: z.boolean().default(false),
  })
  .strict()
  .refine((t) => (t.sha256 === undefined) !== (t.token === undefined), 'give exactly one of "sha256" and "token"');

export type ApiToken = z.infer<typeof ApiTokenSchema>;

/**
 * A list of client addresses as CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, a single address): a string
 * separated by commas or blanks (flags, environment) or an array (config file). Each entry is checked.
 */
const cidrList = () =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/)).map((e) => e.trim()).filter((e) => e !== ''))
    .superRefine((list, ctx) => {
      for (const e of list) {
        try {
          parseCidr(e);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }
    });

/**
 * Every server option, its default and its validation. The CLI (flags and KVWS_* environment variables)
 * and the config file (JSON or YAML) both land here; start-up fails with a message naming the bad field and value.
 * Options that Redis also has keep Redis's names in CONFIG GET/SET (see engine/config-params.ts).
 */
export const ServerOptionsSchema = z
  .object({
    /** Address every listener binds to. */
    host: z.string().min(1).default('127.0.0.1'),
    /** HTTPS port for the WebSocket gateway and HTTP API; 0 disables it. */
    port: z.number().int().min(0).max(65535).default(8443),
    /** RESP (Redis protocol) port; 0 disables it. */
    respPort: z.number().int().min(0).max(65535).default(6380),
    /** Serve RESP over TLS with `tlsCert`/`tlsKey` instead of plain TCP. */
    respTls: z.boolean().default(false),
    /** Certificate and key (PEM files) for TLS listeners. */
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    /** Directory for the append-only file and other state; unset = memory only. */
    dataDir: z.string().optional(),
    /** Log lines on stdout: `json` (one object per line), `pretty` (`kvws: …`), `auto` = pretty on a terminal, else json. */
    logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
    /** Lines below this level are dropped (`silent`: none). */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Where the data lives: `embedded` (kvws's own engine) or a Redis deployment the gateway fronts:
     * redis://host:port, redis-cluster://h1:p1,h2:p2, redis-sentinel://h1:p1,h2:p2/<master> (rediss… for
     * TLS). See backends/engine-target.ts and docs/scaling.md.
     */
    engine: z
      .string()
      .superRefine((v, ctx) => {
        try {
          parseEngineTarget(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      })
      .default('embedded'),
    /** Credentials for the Redis engine (override the URL's; prefer KVWS_ENGINE_PASSWORD to a flag). */
    engineUsername: z.string().optional(),
    enginePassword: z.string().optional(),
    /** CA certificate (PEM file) that signed the Redis servers' certificates, for rediss… engines. */
    engineTlsCa: z.string().optional(),
    /**
     * How long a command may wait for the Redis engine (ms), retries through a failover included, before
     * the client gets an error.
     */
    engineTimeout: z.number().int().min(100).default(10_000),
    /**
     * Connections to Redis held by one session at a time (blocking commands, WATCH): at most this many
     * at once; beyond it such a command gets an error.
     */
    engineMaxDedicated: z.number().int().min(1).default(1000),
    /** Turn `notify-keyspace-events` on on the Redis servers (adding kvws's classes to theirs, never removing). */
    engineNotify: z.boolean().default(true),
    /**
     * Replies one RESP connection may be waiting for from the Redis engine at once (pipelined commands);
     * at the limit its next commands wait until replies come back.
     */
    respMaxInFlight: z.number().int().min(1).default(1000),
    /** Keep an append-only file in the data directory (Redis's `appendonly`); on by default when there is one. */
    appendonly: z.boolean().default(true),
    /** When the AOF is fsynced: `always` (before each reply), `everysec` (once a second) or `no` (left to the OS). */
    appendfsync: z.enum(['always', 'everysec', 'no']).default('everysec'),
    /** Base name of the AOF's files, and the directory (inside the data directory) that holds them. */
    appendfilename: z
      .string()
      .regex(/^[^/\\\s]+$/, 'must be a file name without slashes or blanks')
      .default('appendonly.aof'),
    appenddirname: z
      .string()
      .regex(/^[^/\\\s]+$/, 'must be a directory name without slashes or blanks')
      .default('appendonlydir'),
    /** Rewrite the AOF automatically when it has grown by this percentage since the last rewrite (0 = never)… */
    autoAofRewritePercentage: z.number().int().min(0).default(100),
    /** …and is at least this many bytes. */
    autoAofRewriteMinSize: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024),
    /** At start, cut off an incomplete last record of the AOF (logged) instead of refusing to start. */
    aofLoadTruncated: z.boolean().default(true),
    /** File of SAVE/BGSAVE dumps inside the data directory. */
    dbfilename: z
      .string()
      .regex(/^[^/\\\s]+$/, 'must be a file name without slashes or blanks')
      .default('dump.kvws'),
    /** Background dumps after `seconds changes` pairs, Redis's `save` syntax; "" = none. */
    save: z
      .string()
      .refine((v) => /^\s*(\d+\s+\d+\s*)*$/.test(v), 'must be pairs of "seconds changes", e.g. "3600 1 300 100"')
      .default('3600 1 300 100 60 10000'),
    /** Number of logical databases (SELECT 0..n-1). */
    databases: z.number().int().min(1).max(1024).default(16),
    /**
     * The event stream's log behind resumes (issue 8): the most recent keyspace notifications and PUBLISH
     * messages, at most this many bytes (0 = no log: no offsets, resumes never recover)…
     */
    eventLogMaxBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024),
    /** …and none older than this many seconds. */
    eventLogMaxAge: z.number().int().min(1).default(3600),
    /** Keyspace notification classes, Redis syntax (e.g. "Ex", "AKE"). Empty = off, as in Redis. */
    notifyKeyspaceEvents: z
      .string()
      .refine((v) => parseNotifyFlags(v) >= 0, "invalid event class character (use 'Ag$lshzxeKEtmdn')")
      .default(''),
    /**
     * Memory limit of the dataset as kvws accounts it (docs/eviction.md): bytes, or Redis's units (`100mb`,
     * `1gb`); 0 = none. Past it, keys are evicted under `maxmemoryPolicy`. Embedded engine only.
     */
    maxmemory: z
      .union([
        z.number().int().min(0),
        z.string().refine((v) => {
          try {
            parseMemory(v);
            return true;
          } catch {
            return false;
          }
        }, 'must be a memory value: bytes, or a number with b, k, kb, m, mb, g or gb'),
      ])
      .transform((v) => (typeof v === 'number' ? v : parseMemory(v)))
      .default(0),
    /** Which keys go when the dataset is over `maxmemory` (Redis's policies); `noeviction` refuses writes instead. */
    maxmemoryPolicy: z.enum(POLICIES).default('noeviction'),
    /** Keys sampled per database per round by the sampled policies (volatile-lfu, and volatile-lru's fallback). */
    maxmemorySamples: z.number().int().min(1).max(2147483647).default(5),
    /** How long one eviction round may run before the rest continues in the background (Redis's 0..100). */
    maxmemoryEvictionTenacity: z.number().int().min(0).max(100).default(10),
    /** LFU counter growth: higher factors need more accesses per counter step (Redis's `lfu-log-factor`). */
    lfuLogFactor: z.number().int().min(0).max(2147483647).default(10),
    /** Minutes per one-step decay of an idle key's LFU counter; 0 = never (Redis's `lfu-decay-time`). */
    lfuDecayTime: z.number().int().min(0).max(2147483647).default(1),
    /** Close RESP clients idle for this many seconds (0 = never), like Redis `timeout`. */
    timeout: z.number().int().min(0).default(0),
    /** Maximum simultaneous clients per server, like Redis `maxclients`. */
    maxClients: z.number().int().min(1).default(10000),
    /** Largest bulk string accepted (bytes), like Redis `proto-max-bulk-len`. */
    protoMaxBulkLen: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(512 * 1024 * 1024),
    /** Largest inline command line (bytes). */
    maxInlineLen: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024),
    /** Output buffer limits for pub/sub clients (bytes, bytes, seconds), like Redis `client-output-buffer-limit pubsub 32mb 8mb 60`. */
    pubsubHardLimit: z
      .number()
      .int()
      .min(0)
      .default(32 * 1024 * 1024),
    pubsubSoftLimit: z
      .number()
      .int()
      .min(0)
      .default(8 * 1024 * 1024),
    pubsubSoftSeconds: z.number().int().min(0).default(60),
    /**
     * Until authentication exists, accept RESP clients only from loopback addresses (Redis's protected
     * mode). Set false to accept any address the listener is bound to.
     */
    protectedMode: z.boolean().default(true),
    /** Largest number of live SCAN cursors kept per server (oldest dropped first). */
    scanCursorCache: z.number().int().min(16).default(4096),
    /**
     * Commands that run at least this many microseconds go to the slow log (Redis's
     * `slowlog-log-slower-than`): 0 logs every command, a negative value (-1) none.
     */
    slowlogLogSlowerThan: z.number().int().min(-1).default(10_000),
    /** Entries the slow log keeps, the oldest dropped first (Redis's `slowlog-max-len`). */
    slowlogMaxLen: z.number().int().min(0).default(128),
    /**
     * Channels plus patterns one client may be subscribed to at once (SUBSCRIBE, PSUBSCRIBE, on every front
     * door); a subscription beyond it is refused with an error, those made before are kept. 0 = no limit.
     */
    maxSubscriptionsPerClient: z.number().int().min(0).default(10_000),
    /**
     * Serve the HTTPS port over TLS (the default). `false` (`--no-tls`) serves plain HTTP and `ws://`, and
     * is refused on a non-loopback `host` unless `allowInsecureRemote` is also set.
     */
    tls: z.boolean().default(true),
    /** With `tls: false`, allow binding a non-loopback `host` anyway (traffic is then readable on the wire). */
    allowInsecureRemote: z.boolean().default(false),
    /**
     * Client addresses (CIDR) allowed to connect to the RESP port / the HTTPS port; empty = any. Others are
     * closed on connect, before anything is read or a TLS handshake starts (net/admission.ts).
     */
    respAllowFrom: cidrList().default([]),
    httpsAllowFrom: cidrList().default([]),
    /**
     * Open TCP connections one client address may have (both ports together); one more is refused: RESP
     * over TCP reads `-ERR max number of clients per address reached`, TLS peers are closed before the
     * handshake. 0 = no limit. Addresses in `clientLimitExempt` are not limited.
     */
    maxClientsPerAddress: z.number().int().min(0).default(1000),
    /** Addresses (CIDR) exempt from `maxClientsPerAddress`: loopback by default (local proxies, tests). */
    clientLimitExempt: cidrList().default([...LOOPBACK_CIDRS]),
    /**
     * Per user: the only addresses (CIDR) it may log in from, by any means (password, token, API token,
     * client certificate); users not listed may log in from anywhere. Elsewhere a login fails as with a
     * wrong password (recorded in ACL LOG). Config file `{alice: ["10.0.0.0/8"]}`; flag/env: JSON.
     */
    userAllowFrom: z.record(z.string().min(1), cidrList()).default({}),
    /** Seconds a client has, from its TCP connection, to complete the TLS handshake (both TLS listeners). */
    tlsHandshakeTimeout: z.number().int().min(1).max(3600).default(10),
    /** Lowest TLS version accepted by the TLS listeners. */
    tlsMinVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /** OpenSSL cipher list for TLS 1.2 (and TLS 1.3 when it names `TLS_…` suites). Default: ECDHE with AES-GCM or ChaCha20. */
    tlsCiphers: z
      .string()
      .min(1)
      .refine((v) => {
        try {
          createSecureContext({ ciphers: v });
          return true;
        } catch {
          return false;
        }
      }, 'OpenSSL accepts no cipher in this list')
      .default(DEFAULT_TLS_CIPHERS),
    /** CA certificate (PEM file) client certificates must chain to, for `tlsAuthClients`. */
    tlsClientCa: z.string().optional(),
    /**
     * Client certificates on the TLS listeners (Redis's tls-auth-clients): `no` (none asked), `optional`
     * (checked when given: an invalid one is refused), `yes` (required). A refused connection is closed as
     * its handshake ends, before anything is read.
     */
    tlsAuthClients: z.enum(['no', 'optional', 'yes']).default('no'),
    /**
     * A valid client certificate logs its connection in as the user its subject CN (`cn`) or first
     * subjectAltName DNS/email/URI entry (`san`) names, when that user exists and is enabled; `off` = never.
     */
    tlsClientUserField: z.enum(['off', 'cn', 'san']).default('off'),
    /** Seconds an HTTP request's headers may take to arrive (also the WebSocket upgrade request); then 408 and closed. */
    httpHeadersTimeout: z.number().int().min(1).max(3600).default(20),
    /** Seconds a whole HTTP request (headers and body) may take to arrive; 0 = no limit. At least httpHeadersTimeout. */
    httpRequestTimeout: z.number().int().min(0).max(3600).default(60),
    /** Seconds an idle keep-alive HTTP connection stays open waiting for its next request. */
    httpKeepAliveTimeout: z.number().int().min(1).max(3600).default(5),
    /**
     * Serve plain HTTP API command requests (POST /, /pipeline, /multi-exec) on the fast lane
     * (net/http-fast.ts); off: node:http serves every request.
     */
    httpFastLane: z.boolean().default(true),
    /** `Strict-Transport-Security: max-age=…; includeSubDomains` on every HTTPS answer; 0 = not sent. */
    hstsMaxAge: z.number().int().min(0).default(31_536_000),
    /** Largest WebSocket message a client may send (bytes); larger ones close the connection with 1009. */
    wsMaxFrame: z
      .number()
      .int()
      .min(1024)
      .max(512 * 1024 * 1024)
      .default(1024 * 1024),
    /** Requests a WebSocket connection may have unanswered; more get a `BUSY` error frame. */
    wsMaxInFlight: z.number().int().min(1).default(1000),
    /** Seconds between WebSocket pings; a peer that has not answered the previous one is closed (4410). 0 = off. */
    wsPingInterval: z.number().int().min(0).default(30),
    /**
     * Unsent bytes a WebSocket connection may have queued when a new frame is due; over it the client is
     * closed with 4408 ("too slow"). 0 = no limit.
     */
    wsMaxBuffer: z
      .number()
      .int()
      .min(0)
      .default(8 * 1024 * 1024),
    /**
     * The soft limit on unsent bytes (Redis's pubsub soft limit): a WebSocket connection or event stream
     * with at least `wsSoftBuffer` unsent for more than `wsSoftSeconds` is closed (4408). 0 = none.
     */
    wsSoftBuffer: z
      .number()
      .int()
      .min(0)
      .default(2 * 1024 * 1024),
    wsSoftSeconds: z.number().int().min(0).default(60),
    /**
     * Browser origins allowed to open the WebSocket besides the server's own (the Host header's): a
     * comma-separated string or an array, each `scheme://host[:port]`, `null` (file: pages, sandboxed
     * frames) or `*` (any). Requests without an Origin header (non-browser clients) are always allowed.
     */
    allowedOrigins: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/)).map((o) => o.trim()).filter((o) => o !== ''))
      .superRefine((list, ctx) => {
        for (const o of list) {
          if (normalizeOrigin(o) === null)
            ctx.addIssue({
              code: 'custom',
              message: `${JSON.stringify(o)} is not an origin (scheme://host[:port], null or *)`,
            });
        }
      })
      .transform((list) => list.map((o) => normalizeOrigin(o) as string))
      .default([]),
    /** Largest HTTP API request body (bytes); larger ones are answered 413 without being read into memory. */
    httpMaxBody: z
      .number()
      .int()
      .min(1024)
      .max(512 * 1024 * 1024)
      .default(1024 * 1024),
    /**
     * Let the HTTP API read its token from the `_token` query parameter as well as from
     * `Authorization: Bearer` (as Upstash's REST API does). URLs end up in logs and browser history:
     * turn it off when no client needs it.
     */
    httpQueryToken: z.boolean().default(true),
    /** Static HTTP API tokens bound to ACL users (see ApiTokenSchema). Config file or KVWS_API_TOKENS (JSON). */
    apiTokens: z.array(ApiTokenSchema).default([]),
    /**
     * Who may read `/metrics` on the HTTPS port (docs/observability.md): `loopback` (peers on this machine
     * without a token, anyone else with one), `token` (only requests with a token), `open` (anyone who
     * reaches the port) or `off` (404). A token is `metricsToken` or a kvws token (JWT) of a user whose ACL
     * allows INFO. `/healthz` and `/readyz` are always open.
     */
    metricsAccess: z.enum(['loopback', 'token', 'open', 'off']).default('loopback'),
    /** A bearer token that may read `/metrics` from anywhere (prefer KVWS_METRICS_TOKEN or the config file). */
    metricsToken: z.string().min(16, 'must be at least 16 characters (e.g. openssl rand -base64 32)').optional(),
    /**
     * Users file in Redis ACL syntax with argon2id hashes (`user alice on #$argon2id$… ~app:* +@read`), read
     * at start, written by ACL SAVE and `kvws user add`. Default: `<dataDir>/users.acl` when a data
     * directory is set; unset = users live in memory only (ACL SAVE/LOAD answer an error).
     */
    aclFile: z.string().optional(),
    /** Entries kept by ACL LOG, like Redis `acllog-max-len`. */
    aclLogMaxLen: z.number().int().min(0).max(100_000).default(128),
    /** Failed logins per user and per client address within `authFailureWindow` seconds that lock them out. 0 = never lock. */
    authMaxFailures: z.number().int().min(0).default(10),
    authFailureWindow: z.number().int().min(1).default(60),
    /** Seconds a user or address stays locked out after too many failed logins. */
    authLockout: z.number().int().min(1).default(60),
    /** argon2id hashes computed at once (each takes 19 MiB and a thread-pool thread); more wait in line. */
    authMaxConcurrentHashes: z.number().int().min(1).max(64).default(2),
    /**
     * Logins that may wait for a hashing slot (beyond `authMaxConcurrentHashes`); a login beyond it is refused
     * at once with an error, so a storm of logins cannot queue up without bound. 0 = no limit.
     */
    authMaxQueued: z.number().int().min(0).default(256),
    /**
     * Unix nice value (1–19) of the child process that computes argon2id hashes, so that a storm of logins gets
     * only the CPU the other clients leave over; 0 = hash inside the server process (libuv's thread pool).
     */
    authHashNice: z.number().int().min(0).max(19).default(10),
    /** Seconds a WebSocket connection may stay open without authenticating, when authentication is required. */
    authTimeout: z.number().int().min(1).default(10),
    /** `iss` and `aud` of the tokens kvws issues and accepts as its own. */
    jwtIssuer: z.string().min(1).default('kvws'),
    jwtAudience: z.string().min(1).default('kvws'),
    /** kvws's JWT signing keys (Ed25519, JSON, mode 0600). Default: `<dataDir>/jwt-keys.json`; unset = in memory (tokens die with the process). */
    jwtKeysFile: z.string().optional(),
    /** Token lifetime in seconds when none is asked for, and the longest that may be asked for. */
    jwtDefaultTtl: z.number().int().min(1).default(900),
    jwtMaxTtl: z.number().int().min(1).default(86_400),
    /** Seconds of clock skew tolerated on exp, nbf and iat. */
    jwtClockSkew: z.number().int().min(0).max(600).default(30),
    /** Largest token accepted (bytes); larger ones are refused unparsed. */
    jwtMaxTokenBytes: z.number().int().min(256).max(1_048_576).default(8192),
    /** An external identity provider: its JWKS URL or PEM public key file, issuer and audience. */
    jwtExternalJwksUrl: z.string().url().optional(),
    jwtExternalPublicKey: z.string().optional(),
    jwtExternalIssuer: z.string().optional(),
    jwtExternalAudience: z.string().optional(),
    /** Signature algorithms accepted from the external provider (never `none`; HS* are refused). */
    jwtExternalAlgorithms: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/)).filter((a) => a !== ''))
      .refine(
        (l) => l.every((a) => /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^ES256K$/.test(a)),
        'algorithms must be RS*, PS*, ES* or EdDSA',
      )
      .default(['RS256', 'ES256', 'EdDSA']),
    /** Claim of an external token that names the kvws user, and the user for tokens without it (unset = refused). */
    jwtExternalUserClaim: z.string().min(1).default('user'),
    jwtExternalDefaultUser: z.string().optional(),
  })
  .strict();

export type ServerOptions = z.infer<typeof ServerOptionsSchema>;

/** How a flag's or environment variable's text becomes the option's value (`json`: parsed as JSON). */
export type OptionKind = 'string' | 'number' | 'boolean' | 'json';

/** Flag name → option key, with its kind. The CLI and env mapping (KVWS_RESP_PORT, …) derive from this. */
export const OPTION_FLAGS: Record<string, { key: keyof ServerOptions; kind: OptionKind }> = {
  host: { key: 'host', kind: 'string' },
  port: { key: 'port', kind: 'number' },
  'resp-port': { key: 'respPort', kind: 'number' },
  'resp-tls': { key: 'respTls', kind: 'boolean' },
  'tls-cert': { key: 'tlsCert', kind: 'string' },
  'tls-key': { key: 'tlsKey', kind: 'string' },
  'data-dir': { key: 'dataDir', kind: 'string' },
  'log-format': { key: 'logFormat', kind: 'string' },
  'log-level': { key: 'logLevel', kind: 'string' },
  engine: { key: 'engine', kind: 'string' },
  'resp-max-in-flight': { key: 'respMaxInFlight', kind: 'number' },
  'engine-username': { key: 'engineUsername', kind: 'string' },
  'engine-password': { key: 'enginePassword', kind: 'string' },
  'engine-tls-ca': { key: 'engineTlsCa', kind: 'string' },
  'engine-timeout': { key: 'engineTimeout', kind: 'number' },
  'engine-max-dedicated': { key: 'engineMaxDedicated', kind: 'number' },
  'engine-notify': { key: 'engineNotify', kind: 'boolean' },
  appendonly: { key: 'appendonly', kind: 'boolean' },
  appendfsync: { key: 'appendfsync', kind: 'string' },
  appendfilename: { key: 'appendfilename', kind: 'string' },
  appenddirname: { key: 'appenddirname', kind: 'string' },
  'auto-aof-rewrite-percentage': { key: 'autoAofRewritePercentage', kind: 'number' },
  'auto-aof-rewrite-min-size': { key: 'autoAofRewriteMinSize', kind: 'number' },
  'aof-load-truncated': { key: 'aofLoadTruncated', kind: 'boolean' },
  dbfilename: { key: 'dbfilename', kind: 'string' },
  save: { key: 'save', kind: 'string' },
  databases: { key: 'databases', kind: 'number' },
  'notify-keyspace-events': { key: 'notifyKeyspaceEvents', kind: 'string' },
  maxmemory: { key: 'maxmemory', kind: 'string' },
  'maxmemory-policy': { key: 'maxmemoryPolicy', kind: 'string' },
  'maxmemory-samples': { key: 'maxmemorySamples', kind: 'number' },
  'maxmemory-eviction-tenacity': { key: 'maxmemoryEvictionTenacity', kind: 'number' },
  'lfu-log-factor': { key: 'lfuLogFactor', kind: 'number' },
  'lfu-decay-time': { key: 'lfuDecayTime', kind: 'number' },
  'event-log-max-bytes': { key: 'eventLogMaxBytes', kind: 'number' },
  'event-log-max-age': { key: 'eventLogMaxAge', kind: 'number' },
  timeout: { key: 'timeout', kind: 'number' },
  'max-clients': { key: 'maxClients', kind: 'number' },
  'proto-max-bulk-len': { key: 'protoMaxBulkLen', kind: 'number' },
  'max-inline-len': { key: 'maxInlineLen', kind: 'number' },
  'pubsub-hard-limit': { key: 'pubsubHardLimit', kind: 'number' },
  'pubsub-soft-limit': { key: 'pubsubSoftLimit', kind: 'number' },
  'pubsub-soft-seconds': { key: 'pubsubSoftSeconds', kind: 'number' },
  'protected-mode': { key: 'protectedMode', kind: 'boolean' },
  'scan-cursor-cache': { key: 'scanCursorCache', kind: 'number' },
  'slowlog-log-slower-than': { key: 'slowlogLogSlowerThan', kind: 'number' },
  'slowlog-max-len': { key: 'slowlogMaxLen', kind: 'number' },
  'max-subscriptions-per-client': { key: 'maxSubscriptionsPerClient', kind: 'number' },
  tls: { key: 'tls', kind: 'boolean' },
  'allow-insecure-remote': { key: 'allowInsecureRemote', kind: 'boolean' },
  'resp-allow-from': { key: 'respAllowFrom', kind: 'string' },
  'https-allow-from': { key: 'httpsAllowFrom', kind: 'string' },
  'max-clients-per-address': { key: 'maxClientsPerAddress', kind: 'number' },
  'client-limit-exempt': { key: 'clientLimitExempt', kind: 'string' },
  'user-allow-from': { key: 'userAllowFrom', kind: 'json' },
  'tls-handshake-timeout': { key: 'tlsHandshakeTimeout', kind: 'number' },
  'tls-min-version': { key: 'tlsMinVersion', kind: 'string' },
  'tls-ciphers': { key: 'tlsCiphers', kind: 'string' },
  'tls-client-ca': { key: 'tlsClientCa', kind: 'string' },
  'tls-auth-clients': { key: 'tlsAuthClients', kind: 'string' },
  'tls-client-user-field': { key: 'tlsClientUserField', kind: 'string' },
  'http-headers-timeout': { key: 'httpHeadersTimeout', kind: 'number' },
  'http-request-timeout': { key: 'httpRequestTimeout', kind: 'number' },
  'http-keep-alive-timeout': { key: 'httpKeepAliveTimeout', kind: 'number' },
  'http-fast-lane': { key: 'httpFastLane', kind: 'boolean' },
  'hsts-max-age': { key: 'hstsMaxAge', kind: 'number' },
  'ws-max-frame': { key: 'wsMaxFrame', kind: 'number' },
  'ws-max-in-flight': { key: 'wsMaxInFlight', kind: 'number' },
  'ws-ping-interval': { key: 'wsPingInterval', kind: 'number' },
  'ws-max-buffer': { key: 'wsMaxBuffer', kind: 'number' },
  'ws-soft-buffer': { key: 'wsSoftBuffer', kind: 'number' },
  'ws-soft-seconds': { key: 'wsSoftSeconds', kind: 'number' },
  'allowed-origins': { key: 'allowedOrigins', kind: 'string' },
  'http-max-body': { key: 'httpMaxBody', kind: 'number' },
  'http-query-token': { key: 'httpQueryToken', kind: 'boolean' },
  'api-tokens': { key: 'apiTokens', kind: 'json' },
  'metrics-access': { key: 'metricsAccess', kind: 'string' },
  'metrics-token': { key: 'metricsToken', kind: 'string' },
  'acl-file': { key: 'aclFile', kind: 'string' },
  'acl-log-max-len': { key: 'aclLogMaxLen', kind: 'number' },
  'auth-max-failures': { key: 'authMaxFailures', kind: 'number' },
  'auth-failure-window': { key: 'authFailureWindow', kind: 'number' },
  'auth-lockout': { key: 'authLockout', kind: 'number' },
  'auth-max-concurrent-hashes': { key: 'authMaxConcurrentHashes', kind: 'number' },
  'auth-max-queued': { key: 'authMaxQueued', kind: 'number' },
  'auth-hash-nice': { key: 'authHashNice', kind: 'number' },
  'auth-timeout': { key: 'authTimeout', kind: 'number' },
  'jwt-issuer': { key: 'jwtIssuer', kind: 'string' },
  'jwt-audience': { key: 'jwtAudience', kind: 'string' },
  'jwt-keys-file': { key: 'jwtKeysFile', kind: 'string' },
  'jwt-default-ttl': { key: 'jwtDefaultTtl', kind: 'number' },
  'jwt-max-ttl': { key: 'jwtMaxTtl', kind: 'number' },
  'jwt-clock-skew': { key: 'jwtClockSkew', kind: 'number' },
  'jwt-max-token-bytes': { key: 'jwtMaxTokenBytes', kind: 'number' },
  'jwt-external-jwks-url': { key: 'jwtExternalJwksUrl', kind: 'string' },
  'jwt-external-public-key': { key: 'jwtExternalPublicKey', kind: 'string' },
  'jwt-external-issuer': { key: 'jwtExternalIssuer', kind: 'string' },
  'jwt-external-audience': { key: 'jwtExternalAudience', kind: 'string' },
  'jwt-external-algorithms': { key: 'jwtExternalAlgorithms', kind: 'string' },
  'jwt-external-user-claim': { key: 'jwtExternalUserClaim', kind: 'string' },
  'jwt-external-default-user': { key: 'jwtExternalDefaultUser', kind: 'string' },
};

/**
 * An allowed-origin entry in canonical form (`new URL(o).origin`: lower-case scheme and host, default
 * port dropped), `null` or `*`; returns null when `o` is not an origin (a path, a query, no host).
 */
export function normalizeOrigin(o: string): string | null {
  if (o === '*' || o === 'null') return o;
  let u: URL;
  try {
    u = new URL(o);
  } catch {
    return null;
  }
  if (
    u.origin === 'null' ||
    u.username ||
    u.password ||
    u.search ||
    u.hash ||
    (u.pathname !== '/' && u.pathname !== '')
  )
    return null;
  return u.origin;
}

/** True for names and addresses that only reach this machine: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.startsWith('127.') || h === '::1' || h.startsWith('::ffff:127.');
}

export class ConfigError extends Error {}

/** A config file read and checked: its options, and where in the file each one is. */
export interface ConfigFile {
  file: string;
  /** Option key → value (keys checked against the schema; `null` values left out: the default applies). */
  values: Record<string, unknown>;
  /** `FILE:LINE` of the value at `path` (or of the nearest enclosing one found), else FILE. */
  where(path: readonly PropertyKey[]): string;
}

/**
 * Reads a config file: YAML when its name ends in `.yaml` or `.yml`, else JSON; either holds an object
 * whose keys are option keys (ServerOptionsSchema's). Values are not validated here (resolveOptions does,
 * after the environment and flags are applied). Throws ConfigError: unreadable file; a syntax error with
 * FILE:LINE:COLUMN and the parser's reason (never a quote of the file's text, which may hold secrets); not
 * an object; an unknown key with its FILE:LINE (and the key it probably meant).
 */
export function readConfigFile(file: string): ConfigFile {
  // The path as messages show it: quoted when it holds control characters, so that an error stays one line.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
  const name = /[\x00-\x1f\x7f]/.test(file) ? JSON.stringify(file) : file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    // Node's message ends with the path again (`…, open '<path>'`): said once, above.
    const reason = (e as Error).message.replace(/, [a-z]+ '[\s\S]*'$/, '');
    throw new ConfigError(`cannot read config file ${name}: ${reason}`);
  }
  // The YAML parser recurses per level (and is also run over JSON files, for line numbers): a file nested
  // thousands deep would exhaust the stack, at worst inside V8's regexp compiler, which aborts the process.
  if (nestingDepth(text) > MAX_CONFIG_DEPTH) {
    throw new ConfigError(`config file ${name}: nested more than ${MAX_CONFIG_DEPTH} levels deep`);
  }
  const isYaml = /\.ya?ml$/i.test(file);
  const lines = new LineCounter();
  let doc: Document.Parsed | null = null;
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${name}:${line}:${col}`;
  };
  let data: unknown;
  if (isYaml) {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
    const err = doc.errors[0] ?? duplicateKey(doc);
    if (err) throw new ConfigError(`config file ${at(err.pos[0])}: not valid YAML: ${firstLine(err.message)}`);
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new ConfigError(`config file ${name}: not valid YAML: ${firstLine((e as Error).message)}`);
    }
    // An empty file, or one of comments only: no options.
    data ??= {};
  } else {
    try {
      data = JSON.parse(text);
    } catch (e) {
      const { reason, position } = jsonError((e as Error).message, text.length);
      const place = position === null ? name : `${name}:${lineColumn(text, position)}`;
      throw new ConfigError(`config file ${place}: not valid JSON: ${reason}`);
    }
  }
  const kind = isYaml ? 'a YAML mapping of options (key: value lines)' : 'a JSON object of options';
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError(`config file ${name} must hold ${kind}`);
  /** The parsed document for line numbers: YAML's own, or the JSON text read as YAML (JSON is YAML 1.2). */
  const located = (): Document.Parsed | null => {
    doc ??= parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
    return doc.errors.length > 0 ? null : doc;
  };
  const where = (path: readonly PropertyKey[]): string => {
    const d = located();
    for (let n = path.length; d !== null && n > 0; n--) {
      const node = d.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return `${name}:${lines.linePos(node.range[0]).line}`;
    }
    return name;
  };
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (!Object.hasOwn(ServerOptionsSchema.shape, key)) {
      // The key's own line: its value's node would point past a key with no value.
      const d = located();
      const pair =
        d?.contents && isMap(d.contents)
          ? d.contents.items.find((p) => isScalar(p.key) && p.key.value === key)
          : undefined;
      const line =
        pair && isScalar(pair.key) && pair.key.range ? `${name}:${lines.linePos(pair.key.range[0]).line}` : name;
      const hint = closestOption(key);
      throw new ConfigError(
        `unknown option ${JSON.stringify(key)} in config file ${line}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`,
      );
    }
    if (value !== null) values[key] = value;
  }
  return { file, values, where };
}

/** Deepest nesting a config file or a JSON flag value may have (options are a few levels deep at most). */
const MAX_CONFIG_DEPTH = 32;

/**
 * How deeply `text` nests, over-estimated: the deepest run of unclosed `[` and `{` (quotes not skipped), or
 * the number of distinct indentations plus a line's leading `- ` items (YAML block nesting).
 */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 91 || c === 123) max = Math.max(max, ++depth);
    else if ((c === 93 || c === 125) && depth > 0) depth--;
  }
  const indents = new Set<number>();
  for (const line of text.split('\n')) {
    const m = /^([ \t]*)((?:-[ \t]+)*)\S/.exec(line);
    if (!m) continue;
    indents.add(m[1].length);
    max = Math.max(max, indents.size + (m[2].match(/-/g)?.length ?? 0));
  }
  return max;
}

/**
 * The first key repeated within one mapping of `doc`, as a parse error. (The YAML library's own check compares
 * every pair of keys, which takes minutes on a file of 70,000 keys; it is turned off and this linear one runs.)
 */
function duplicateKey(doc: Document.Parsed): { pos: [number, number]; message: string } | undefined {
  let found: { pos: [number, number]; message: string } | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(k)) {
          const at = isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0;
          found = { pos: [at, at], message: 'Map keys must be unique' };
          return visit.BREAK;
        }
        seen.add(k);
      }
    },
  });
  return found;
}

/** The reason and position of a JSON.parse error, without the snippet of text newer Node versions quote. */
function jsonError(message: string, end: number): { reason: string; position: number | null } {
  const pos = /at position (\d+)/.exec(message);
  const reason = message
    // V8 quotes the text around the error, cut short with `...` on either side when long:
    // `Unexpected token 'x', ..."{"a":x"... is not valid JSON`.
    .replace(/,? (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, '')
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/ \(line \d+ column \d+\)$/, '');
  if (pos) return { reason, position: Number(pos[1]) };
  return { reason, position: /end of JSON input/.test(message) ? end : null };
}

/** `LINE:COLUMN` (both from 1) of `offset` in `text`. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${line}:${offset - before.lastIndexOf('\n')}`;
}

function firstLine(s: string): string {
  // The parser's own recursion gave out (a value nested thousands deep): say so, not V8's words.
  if (s.includes('Maximum call stack size exceeded')) return 'nested too deeply';
  const nl = s.indexOf('\n');
  return (nl < 0 ? s : s.slice(0, nl)).replace(/:$/, '');
}

/**
 * The option key `key` probably meant: the key of a flag name (`resp-port` → `respPort`), one that differs
 * only in case or in `-`/`_`, or one within two edits; null when none is close.
 */
export function closestOption(key: string): string | null {
  const flag = flagDef(key);
  if (flag) return flag.key;
  const norm = (k: string) => k.toLowerCase().replace(/[-_]/g, '');
  let best: string | null = null;
  let bestDistance = 3;
  for (const k of Object.keys(ServerOptionsSchema.shape)) {
    if (norm(k) === norm(key)) return k;
    const d = editDistance(k.toLowerCase(), key.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance of `a` and `b`, or `limit` when it is at least that. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return Math.min(prev[b.length], limit);
}

/** Options whose values are never shown in errors: they are or may hold secrets. */
const SECRET_OPTIONS = new Set(['apiTokens', 'enginePassword', 'metricsToken']);

/**
 * Resolves options from, in increasing precedence: defaults, the config file (`--config FILE` or
 * KVWS_CONFIG: JSON, or YAML for `.yaml`/`.yml`, with the option keys above), KVWS_* environment
 * variables, command-line flags. Throws ConfigError naming the offending field, its value (never for
 * secrets: apiTokens, enginePassword, metricsToken, the password in an engine URL) and where it came from
 * (FILE:LINE, the environment variable, or the flag).
 */
export function resolveOptions(argv: string[], env: Record<string, string | undefined>): ServerOptions {
  const raw: Record<string, unknown> = {};
  /** Option key → where its value came from, when not from its flag: the config file or an environment variable. */
  const source = new Map<string, string>();
  const flags = parseFlags(argv);
  const configFile = flags.config ?? env.KVWS_CONFIG;
  let config: ConfigFile | null = null;
  if (configFile) {
    config = readConfigFile(configFile);
    Object.assign(raw, config.values);
    for (const key of Object.keys(config.values)) source.set(key, 'config');
  }
  for (const [flag, { key, kind }] of Object.entries(OPTION_FLAGS)) {
    const envName = `KVWS_${flag.toUpperCase().replaceAll('-', '_')}`;
    const v = env[envName];
    if (v !== undefined && v !== '') {
      raw[key] = convert(v, kind, envName);
      source.set(key, envName);
    }
  }
  for (const [flag, v] of Object.entries(flags)) {
    if (flag === 'config') continue;
    const def = flagDef(flag);
    if (!def) throw new ConfigError(`unknown flag --${flag} (see kvws --help)`);
    raw[def.key] = convert(v, def.kind, `--${flag}`);
    source.delete(def.key);
  }
  const parsed = ServerOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const top = String(issue.path[0] ?? '');
    const field = issue.path.join('.');
    // apiTokens and the engine password may hold secrets: never echoed; the engine URL with its password hidden.
    const value = SECRET_OPTIONS.has(top)
      ? '(not shown)'
      : top === 'engine' && typeof raw.engine === 'string'
        ? JSON.stringify(redactUrl(raw.engine))
        : valueAt(raw, issue.path);
    // The flag of a whole option (not of an element inside one, like apiTokens.0.token).
    const flag =
      issue.path.length === 1 ? Object.keys(OPTION_FLAGS).find((f) => OPTION_FLAGS[f].key === top) : undefined;
    const from = source.get(top);
    const where =
      from === 'config' && config
        ? `config file ${config.where(issue.path)}: `
        : from
          ? `environment variable ${from}: `
          : '';
    throw new ConfigError(`${where}invalid option ${field}${flag ? ` (--${flag})` : ''} = ${value}: ${issue.message}`);
  }
  const o = parsed.data;
  if (o.respTls && !(o.tlsCert && o.tlsKey)) {
    throw new ConfigError('invalid option respTls = true: needs tlsCert and tlsKey');
  }
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) {
    throw new ConfigError(`invalid option ${o.tlsCert ? 'tlsCert' : 'tlsKey'}: give both --tls-cert and --tls-key`);
  }
  if (!o.tls && o.port !== 0 && !o.allowInsecureRemote && !isLoopbackHost(o.host)) {
    throw new ConfigError(
      `refusing to serve plain HTTP/ws:// (--no-tls) on non-loopback host ${o.host}: anyone on the network could ` +
        'read and alter the traffic. Serve TLS (--tls-cert/--tls-key), bind 127.0.0.1, or add --allow-insecure-remote',
    );
  }
  if ((o.jwtExternalJwksUrl || o.jwtExternalPublicKey) && !(o.jwtExternalIssuer && o.jwtExternalAudience)) {
    throw new ConfigError(
      'invalid option jwtExternalJwksUrl/jwtExternalPublicKey: an external identity provider needs jwtExternalIssuer and jwtExternalAudience',
    );
  }
  if (o.jwtExternalJwksUrl && o.jwtExternalPublicKey) {
    throw new ConfigError(
      'invalid option jwtExternalPublicKey: give either jwtExternalJwksUrl or jwtExternalPublicKey',
    );
  }
  if (o.engine !== 'embedded' && (o.maxmemory !== 0 || o.maxmemoryPolicy !== 'noeviction')) {
    throw new ConfigError(
      `invalid option ${o.maxmemory !== 0 ? 'maxmemory' : 'maxmemoryPolicy'}: the Redis engine (--engine) does not evict; set maxmemory and maxmemory-policy on the Redis servers`,
    );
  }
  if (o.tlsAuthClients !== 'no' && !o.tlsClientCa) {
    throw new ConfigError(
      `invalid option tlsAuthClients = ${o.tlsAuthClients}: client certificates need --tls-client-ca (the CA that signs them)`,
    );
  }
  if (o.httpRequestTimeout !== 0 && o.httpHeadersTimeout > o.httpRequestTimeout) {
    throw new ConfigError(
      `invalid option httpHeadersTimeout = ${o.httpHeadersTimeout}: more than httpRequestTimeout (${o.httpRequestTimeout})`,
    );
  }
  if (o.jwtDefaultTtl > o.jwtMaxTtl) {
    throw new ConfigError(`invalid option jwtDefaultTtl = ${o.jwtDefaultTtl}: more than jwtMaxTtl (${o.jwtMaxTtl})`);
  }
  return o;
}

/** The users file: `aclFile`, else `<dataDir>/users.acl`, else none. */
export function aclFilePath(o: ServerOptions): string | undefined {
  return o.aclFile ?? (o.dataDir ? join(o.dataDir, 'users.acl') : undefined);
}

/** kvws's JWT keys file: `jwtKeysFile`, else `<dataDir>/jwt-keys.json`, else none (keys in memory). */
export function jwtKeysPath(o: ServerOptions): string | undefined {
  return o.jwtKeysFile ?? (o.dataDir ? join(o.dataDir, 'jwt-keys.json') : undefined);
}

/** The value at `path` in `raw`, JSON-quoted, or `(missing)`. */
function valueAt(raw: Record<string, unknown>, path: readonly PropertyKey[]): string {
  let v: unknown = raw;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return '(missing)';
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return JSON.stringify(v) ?? String(v);
}

function convert(v: string, kind: OptionKind, where: string): unknown {
  if (kind === 'string') return v;
  if (kind === 'json') {
    if (nestingDepth(v) > MAX_CONFIG_DEPTH) {
      throw new ConfigError(`invalid value for ${where}: nested more than ${MAX_CONFIG_DEPTH} levels deep`);
    }
    try {
      return JSON.parse(v);
    } catch (e) {
      // Never quote the value: it may hold secrets (apiTokens).
      const pos = /position (\d+)/.exec((e as Error).message);
      throw new ConfigError(`invalid value for ${where}: not valid JSON${pos ? ` (at position ${pos[1]})` : ''}`);
    }
  }
  if (kind === 'boolean') {
    if (v === '' || v === 'true' || v === 'yes' || v === '1') return true;
    if (v === 'false' || v === 'no' || v === '0') return false;
    throw new ConfigError(`invalid value for ${where}: ${JSON.stringify(v)} (expected true or false)`);
  }
  // Decimal only: Number() would also take "0x10", "1e3" and surrounding blanks.
  const n = Number(v);
  if (!/^[+-]?\d+(\.\d+)?$/.test(v) || !Number.isFinite(n))
    throw new ConfigError(`invalid value for ${where}: ${JSON.stringify(v)} (expected a number)`);
  return n;
}

/** The option of flag `name` (own entries of OPTION_FLAGS only: `--toString` is no flag), or undefined. */
function flagDef(name: string): (typeof OPTION_FLAGS)[string] | undefined {
  return Object.hasOwn(OPTION_FLAGS, name) ? OPTION_FLAGS[name] : undefined;
}

/** True when `arg` is a flag kvws knows: `--name`, `--name=…`, `--no-name` (boolean), `--config`. */
function isFlag(arg: string): boolean {
  if (!arg.startsWith('--')) return false;
  const eq = arg.indexOf('=');
  const name = arg.slice(2, eq > 0 ? eq : undefined);
  return name === 'config' || flagDef(name) !== undefined || flagDef(name.slice(3))?.kind === 'boolean';
}

/** Parses `--name value`, `--name=value` and bare boolean `--name` / `--no-name`. */
export function parseFlags(argv: string[]): Record<string, string> {
  // No prototype: `--__proto__=x` is a flag like any other (and unknown), not a prototype change.
  const out: Record<string, string> = Object.create(null);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--'))
      throw new ConfigError(`unexpected argument ${JSON.stringify(a)} (flags look like --name value)`);
    const eq = a.indexOf('=');
    if (eq > 0) {
      out[a.slice(2, eq)] = a.slice(eq + 1);
      continue;
    }
    const name = a.slice(2);
    const def = flagDef(name);
    if (def?.kind === 'boolean') {
      out[name] = 'true';
      continue;
    }
    if (name.startsWith('no-') && flagDef(name.slice(3))?.kind === 'boolean') {
      out[name.slice(3)] = 'false';
      continue;
    }
    // Before taking the next argument as its value, so `--nope` names itself rather than "needs a value".
    if (!def && name !== 'config') throw new ConfigError(`unknown flag --${name} (see kvws --help)`);
    // A value missing before the next flag (`--host --engine-password pw`) would take that flag's name and
    // leave its value a stray argument, echoed in the error: refuse it here. `--name=--x` gives such a value.
    if (i + 1 >= argv.length || isFlag(argv[i + 1])) throw new ConfigError(`flag --${name} needs a value`);
    out[name] = argv[++i];
  }
  return out;
}
