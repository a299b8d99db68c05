import { KVWS_VERSION } from './commands/connection.js';
import { ConfigError, resolveOptions } from './config.js';
import { KvwsServer } from './server.js';

const HELP = `kvws ${KVWS_VERSION} — an in-memory Redis-compatible data store for browsers and the edge

Usage:
  kvws serve [flags]      run the server (npm start -- [flags] does the same)
  kvws --help | --version

Flags (each also as an environment variable KVWS_<NAME>, e.g. --resp-port → KVWS_RESP_PORT):
  --host ADDR                   address to listen on (default 127.0.0.1)
  --port N                      HTTPS port for the WebSocket gateway and HTTP API (default 8443; 0 = off)
  --resp-port N                 Redis protocol port (default 6380; 0 = off)
  --resp-tls                    serve the Redis protocol over TLS (needs --tls-cert and --tls-key)
  --tls-cert FILE, --tls-key FILE   PEM certificate and key
  --data-dir DIR                directory for persistent state
  --config FILE                 JSON config file (keys as in docs/configuration.md)
  --databases N                 number of databases (default 16)
  --notify-keyspace-events STR  keyspace notification classes, Redis syntax (default "" = off)
  --timeout S                   close idle RESP clients after S seconds (default 0 = never)
  --max-clients N               maximum connected clients (default 10000)
  --proto-max-bulk-len BYTES    largest bulk string (default 536870912)
  --max-inline-len BYTES        largest inline command (default 65536)
  --pubsub-hard-limit BYTES     disconnect a subscriber with this much unsent output (default 33554432)
  --pubsub-soft-limit BYTES     … or this much for --pubsub-soft-seconds (default 8388608)
  --pubsub-soft-seconds S       (default 60)
  --no-protected-mode           accept RESP clients from non-loopback addresses without authentication
  --scan-cursor-cache N         live SCAN cursors kept (default 4096)
`;

/** Entry point of the `kvws` command. Resolves with the exit code (for `serve`, when the server stops). */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined ? 1 : 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(`kvws ${KVWS_VERSION}\n`);
    return 0;
  }
  if (cmd !== 'serve') {
    process.stderr.write(`kvws: unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
    return 1;
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
  const server = new KvwsServer(options);
  const listening = await server.start();
  const log = (s: string) => process.stdout.write(`kvws: ${s}\n`);
  log(`version ${KVWS_VERSION}, embedded engine, ${options.databases} databases, pid ${process.pid}`);
  for (const l of listening) {
    const host = l.host.includes(':') ? `[${l.host}]` : l.host;
    log(`${l.kind === 'resp' ? 'RESP' : 'RESP over TLS'} listening on ${host}:${l.port}`);
  }
  if (listening.length === 0) log('no listener enabled (--resp-port 0)');
  if (options.protectedMode)
    log('protected mode: no authentication is configured, so only loopback clients are accepted');
  if (!options.dataDir) log('no --data-dir: data is kept in memory only');
  log('ready');
  return new Promise<number>((resolve) => {
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
  });
}
