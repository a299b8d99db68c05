import { readFileSync } from 'node:fs';
import { CHECK_AOF_USAGE, checkAofMain } from './cli-aof.js';
import { tokenMain, USERS_USAGE, userMain } from './cli-users.js';
import { KVWS_VERSION } from './commands/connection.js';
import { ConfigError, resolveOptions } from './config.js';
import { createLogger, resolveLogFormat } from './log.js';
import { KvwsServer, StartError } from './server.js';

const HELP = `kvws ${KVWS_VERSION} — an in-memory Redis-compatible data store for browsers and the edge

Usage:
  kvws serve [flags]      run the server (npm start -- [flags] does the same)
${USERS_USAGE}
${CHECK_AOF_USAGE}
  kvws --help | --version
  kvws COMMAND --help, kvws help COMMAND   a command's own help (serve, user, user add, token issue, check-aof…)

Exit codes (every command): 0 done; 1 a failure while working (a port in use, an unusable TLS certificate, a
user that already exists or does not, a damaged AOF); 2 a usage or configuration error (an unknown command
or flag, a bad value, a bad config file, users file or keys file) or a refusal to start (an open default
user on a public address, an AOF that cannot be loaded, a Redis engine that does not answer). Messages go to
stderr as "kvws: …" and name what is wrong.

Flags (each also as an environment variable KVWS_<NAME>, e.g. --resp-port → KVWS_RESP_PORT):
  --host ADDR                   address to listen on (default 127.0.0.1)
  --port N                      HTTPS port for the WebSocket gateway and HTTP API (default 8443; 0 = off)
  --resp-port N                 Redis protocol port (default 6380; 0 = off)
  --resp-tls                    serve the Redis protocol over TLS (needs --tls-cert and --tls-key)
  --tls-cert FILE, --tls-key FILE   PEM certificate and key (HTTPS default: certs-dev/server.pem and
                                server.key when present); reloaded when the files change and on SIGHUP
  --no-tls                      plain HTTP and ws:// on --port (loopback hosts only)
  --allow-insecure-remote       with --no-tls, allow a non-loopback --host anyway
  --data-dir DIR                directory for persistent state: AOF, dumps, users, keys (none: memory only)
  --config FILE                 config file: JSON, or YAML when it ends in .yaml/.yml (keys as in
                                docs/configuration.md; also KVWS_CONFIG); env and flags override it
  --log-format FORMAT           json (one object per line), pretty ("kvws: …" lines) or auto (default:
                                pretty when stdout is a terminal, else json)
  --log-level LEVEL             fatal, error, warn, info (default), debug, trace or silent
  --databases N                 number of databases (default 16)
  --notify-keyspace-events STR  keyspace notification classes, Redis syntax (default "" = off)
  --timeout S                   close idle RESP clients after S seconds (default 0 = never)
  --max-clients N               maximum connected clients (default 10000)
  --proto-max-bulk-len BYTES    largest bulk string (default 536870912)
  --max-inline-len BYTES        largest inline command (default 65536)
  --pubsub-hard-limit BYTES     disconnect a subscriber with this much unsent output (default 33554432)
  --pubsub-soft-limit BYTES     … or this much for --pubsub-soft-seconds (default 8388608)
  --pubsub-soft-seconds S       (default 60)
  --no-protected-mode           accept RESP and WebSocket clients from non-loopback addresses without auth
  --scan-cursor-cache N         live SCAN cursors kept (default 4096)
  --slowlog-log-slower-than US  log commands that run at least US microseconds in SLOWLOG (default 10000;
                                0 = every command, -1 = none)
  --slowlog-max-len N           slow log entries kept (default 128)
  --max-subscriptions-per-client N  channels + patterns one client may subscribe to (default 10000; 0 = no limit)
  --ws-max-frame BYTES          largest WebSocket message from a client (default 1048576; over: close 1009)
  --ws-max-in-flight N          unanswered requests per WebSocket (default 1000; over: BUSY error)
  --ws-ping-interval S          WebSocket ping interval; no pong by the next one: close 4410 (default 30; 0 = off)
  --ws-max-buffer BYTES         unsent bytes per WebSocket before closing it with 4408 (default 8388608; 0 = off)
  --ws-soft-buffer BYTES        … or this many for more than --ws-soft-seconds (default 2097152; 0 = off)
  --ws-soft-seconds S           (default 60)
  --event-log-max-bytes BYTES   events kept for resumes (default 67108864; 0 = no log, no offsets)
  --event-log-max-age S         … and none older than S seconds (default 3600)
  --http-max-body BYTES         largest HTTP API request body (default 1048576; over: 413)
  --no-http-query-token         refuse the HTTP API token as ?_token= (default: accepted, as Upstash does)
  --api-tokens JSON             static HTTP API tokens bound to users: [{"user":"alice","sha256":"…"}]
                                (better in --config or KVWS_API_TOKENS; see docs/http-api.md)
  --allowed-origins LIST        browser origins allowed besides the server's own, comma-separated
                                (e.g. https://app.example.com; null; * = any)
  --metrics-access MODE         who may read /metrics: loopback (default: this machine without a token,
                                others with one), token, open, off (docs/observability.md)
  --metrics-token TOKEN         a bearer token that may read /metrics from anywhere (better in --config
                                or KVWS_METRICS_TOKEN); tokens of users allowed INFO may too

Network limits and TLS (docs/security.md):
  --resp-allow-from CIDRS       client addresses allowed on the RESP port, e.g. 10.0.0.0/8,2001:db8::/32
                                (default: any); others are closed on connect, before anything is read
  --https-allow-from CIDRS      … on the HTTPS port (default: any)
  --max-clients-per-address N   open connections per client address, both ports (default 1000; 0 = no limit)
  --client-limit-exempt CIDRS   addresses without that limit (default 127.0.0.0/8,::1)
  --user-allow-from JSON        per user, the addresses it may log in from: {"alice":["10.0.0.0/8"]}
                                (better in --config; users not listed: anywhere)
  --tls-min-version V           TLSv1.2 (default) or TLSv1.3
  --tls-ciphers LIST            OpenSSL cipher list for TLS 1.2 (default: ECDHE with AES-GCM or ChaCha20)
  --tls-handshake-timeout S     a TLS handshake not done S seconds after connecting is closed (default 10)
  --tls-client-ca FILE          CA that signs client certificates
  --tls-auth-clients MODE       client certificates: no (default), optional (checked when given), yes
  --tls-client-user-field F     a valid client certificate logs in as the user its cn or san names
                                (default off)
  --http-headers-timeout S      HTTP request headers (and WebSocket upgrades) must arrive within S seconds
                                (default 20; then 408)
  --http-request-timeout S      a whole HTTP request must arrive within S seconds (default 60; 0 = no limit)
  --http-keep-alive-timeout S   idle keep-alive HTTP connections are closed after S seconds (default 5)
  --no-http-fast-lane           node:http serves every HTTP API request (default: the fast lane takes
                                plain POST /, /pipeline and /multi-exec requests; docs/http-api.md)
  --hsts-max-age S              Strict-Transport-Security max-age on HTTPS answers (default 31536000; 0 = off)

Memory limit and eviction (docs/eviction.md; embedded engine only):
  --maxmemory BYTES             limit of the dataset as kvws accounts it (units as Redis: 100mb, 1gb;
                                default 0 = none)
  --maxmemory-policy POLICY     past the limit: noeviction (default: writes get OOM errors), allkeys-lru,
                                allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random,
                                volatile-ttl
  --maxmemory-samples N         keys sampled per round by volatile-lfu (and volatile-lru's fallback) (default 5)
  --maxmemory-eviction-tenacity N  eviction time per command before it continues in the background, 0..100
                                (default 10: 500 µs)
  --lfu-log-factor N            LFU counter growth: higher needs more accesses per step (default 10)
  --lfu-decay-time MIN          minutes per one-step decay of an idle key's LFU counter (default 1; 0 = never)

Persistence (docs/persistence.md; needs --data-dir):
  --no-appendonly               no append-only file (default: on when there is a data directory)
  --appendfsync POLICY          always (fsync before each reply), everysec (default) or no
  --appendfilename NAME, --appenddirname NAME   AOF file base name and directory (appendonly.aof, appendonlydir)
  --auto-aof-rewrite-percentage N   rewrite the AOF when it grew N% since the last rewrite (default 100; 0 = never)
  --auto-aof-rewrite-min-size BYTES  … and is at least this big (default 67108864)
  --no-aof-load-truncated       refuse to start on a truncated AOF tail (default: cut it off, logged)
  --save "S N [S N …]"          dump after S seconds with N changes (default "3600 1 300 100 60 10000"; "" = never)
  --dbfilename NAME             dump file for SAVE/BGSAVE (default dump.kvws)

The Redis engine (docs/scaling.md): the gateway in front of real Redis instead of the embedded engine
  --engine URL                  embedded (default), redis://host:port, redis-cluster://h1:p1,h2:p2,…,
                                redis-sentinel://h1:p1,h2:p2/MASTER (rediss… for TLS to Redis)
  --engine-username NAME, --engine-password PW   AUTH to Redis (prefer KVWS_ENGINE_PASSWORD to the flag)
  --engine-tls-ca FILE          CA that signed the Redis servers' certificates (rediss…)
  --engine-timeout MS           longest wait for Redis, failover retries included (default 10000)
  --engine-max-dedicated N      connections held by blocking commands and WATCH at once (default 1000)
  --resp-max-in-flight N        pipelined commands a RESP connection may have waiting on Redis (default 1000)
  --no-engine-notify            do not turn notify-keyspace-events on on the Redis servers

Users and tokens (docs/security.md):
  --acl-file FILE               users file, Redis ACL syntax with argon2id hashes (default DATA_DIR/users.acl)
  --acl-log-max-len N           ACL LOG entries kept (default 128)
  --auth-max-failures N         failed logins per user and per address before a lock-out (default 10; 0 = off)
  --auth-failure-window S       window for counting failed logins (default 60)
  --auth-lockout S              lock-out after too many failed logins (default 60)
  --auth-max-concurrent-hashes N  argon2id computations at once (default 2; 19 MiB each)
  --auth-max-queued N           logins waiting for a hashing slot; beyond it refused at once (default 256;
                                0 = no limit)
  --auth-hash-nice N            CPU priority (Unix nice, 1-19) of the process hashing passwords (default 10;
                                0 = hash inside the server process)
  --auth-timeout S              WebSocket connections must authenticate within S seconds (default 10)
  --jwt-issuer STR, --jwt-audience STR   iss and aud of kvws's own tokens (default kvws, kvws)
  --jwt-keys-file FILE          Ed25519 signing keys (default DATA_DIR/jwt-keys.json; none: in memory)
  --jwt-default-ttl S           token lifetime when none is asked for (default 900)
  --jwt-max-ttl S               longest token lifetime that may be asked for (default 86400)
  --jwt-clock-skew S            tolerated clock skew on exp/nbf/iat (default 30)
  --jwt-max-token-bytes BYTES   largest token accepted (default 8192)
  --jwt-external-jwks-url URL   an external identity provider's JWKS (https, or http on loopback)
  --jwt-external-public-key FILE  … or its PEM public key
  --jwt-external-issuer STR, --jwt-external-audience STR   required with an external provider
  --jwt-external-algorithms LIST  accepted algorithms (default RS256,ES256,EdDSA; never none or HS*)
  --jwt-external-user-claim NAME  claim naming the kvws user (default user)
  --jwt-external-default-user NAME  kvws user for external tokens without that claim (default: refused)
`;

/** The commands `kvws help COMMAND` and `kvws COMMAND --help` know. */
const COMMANDS = new Set(['serve', 'user', 'token', 'check-aof']);

/**
 * Entry point of the `kvws` command. Resolves with the exit code (for `serve`, when the server stops):
 * 0 done, 1 a failure while working, 2 a usage or configuration error or a refusal to start (see HELP).
 */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    // The usage lines without the flags.
    process.stderr.write(`${HELP.slice(0, HELP.indexOf('\nExit codes'))}\n\nkvws --help lists the flags too.\n`);
    return 2;
  }
  if (cmd === '--help' || cmd === '-h') {
    process.stdout.write(HELP);
    return 0;
  }
  if (cmd === 'help') {
    // `kvws help user add` is `kvws user add --help`.
    if (rest.length === 0) {
      process.stdout.write(HELP);
      return 0;
    }
    if (!COMMANDS.has(rest[0])) {
      process.stderr.write(`kvws: no help for ${JSON.stringify(rest[0])}: not a command (see kvws --help)\n`);
      return 2;
    }
    return main([...rest, '--help']);
  }
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`kvws ${KVWS_VERSION}\n`);
    return 0;
  }
  if (cmd === 'user') return userMain(rest);
  if (cmd === 'token') return tokenMain(rest);
  if (cmd === 'check-aof') return checkAofMain(rest);
  if (cmd !== 'serve') {
    process.stderr.write(`kvws: unknown command ${JSON.stringify(cmd)} (see kvws --help)\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  let options: ReturnType<typeof resolveOptions>;
  try {
    options = resolveOptions(rest, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kvws: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const format = resolveLogFormat(options.logFormat);
  const logger = createLogger({ format, level: options.logLevel });
  const log = (s: string) => logger.info(s);
  const warn = (s: string) => logger.warn(s);
  const server = new KvwsServer(options, logger);
  let listening: Awaited<ReturnType<KvwsServer['start']>>;
  try {
    listening = await server.start();
  } catch (e) {
    // The message goes to stderr as always; as JSON lines, a fatal line too, for log collectors.
    if (format === 'json')
      logger.fatal(e instanceof StartError ? {} : { err: e }, `start-up failed: ${(e as Error).message}`);
    if (e instanceof StartError || (e instanceof Error && /users file|keys file/.test(e.message))) {
      process.stderr.write(`kvws: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  log(
    `version ${KVWS_VERSION}, ${options.engine === 'embedded' ? 'embedded engine' : 'Redis engine'}, ${options.databases} databases, pid ${process.pid}`,
  );
  for (const l of listening) {
    const host = l.host.includes(':') ? `[${l.host}]` : l.host;
    if (l.kind === 'https' || l.kind === 'http') {
      log(`WebSocket gateway listening on ${l.kind === 'https' ? 'wss' : 'ws'}://${host}:${l.port}/ws`);
      log(
        `HTTP API (Upstash REST) on ${l.kind}://${host}:${l.port}/ (POST /, /pipeline, /multi-exec, /<cmd>/<args>; tokens: POST /auth/token)`,
      );
      const cert = server.https?.describeCertificate();
      if (cert) log(`TLS certificate ${server.https?.options.tls?.cert}: ${cert}`);
      else warn('--no-tls: plain ws:// without encryption, for local development only');
    } else {
      log(`${l.kind === 'resp' ? 'RESP' : 'RESP over TLS'} listening on ${host}:${l.port}`);
    }
  }
  if (listening.length === 0) log('no listener enabled (--resp-port 0 --port 0)');
  if (!server.engine.acl.authRequired) {
    if (options.protectedMode)
      log(
        'no authentication configured (the default user is open): only loopback clients are accepted (protected mode)',
      );
    else
      warn(
        'WARNING: no authentication configured and --no-protected-mode: anyone who can reach the ports has full access',
      );
  } else {
    log(`authentication required: ${server.engine.acl.users.size} users`);
  }
  if (!options.dataDir) log('no --data-dir: data is kept in memory only');
  const files = openFilesLimit();
  if (files !== null && files < options.maxClients + 64) {
    warn(
      `WARNING: the open-files limit is ${files}, fewer than --max-clients ${options.maxClients} needs: connections ` +
        `beyond about ${Math.max(0, files - 64)} will fail. Raise it (ulimit -n ${options.maxClients + 64}) or lower --max-clients`,
    );
  }
  // The signal handlers go in before "ready" is printed: whoever waits for it may signal at once.
  const stopped = new Promise<number>((resolve) => {
    // Serve until signalled, even with no listener open (--resp-port 0), instead of exiting when the
    // event loop runs dry.
    const keepAlive = setInterval(() => {}, 2 ** 30);
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(keepAlive);
      log(`${sig} received, shutting down`);
      server.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // SIGHUP reloads the HTTPS certificate (instead of Node's default: exit).
    process.on('SIGHUP', () => {
      if (stopping) return;
      void server.reloadCertificate('SIGHUP');
      void server.reloadKeys();
    });
  });
  log('ready');
  return stopped;
}

/** The process's soft limit on open files (Linux /proc/self/limits), or null where it cannot be read. */
function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return null;
  }
}
