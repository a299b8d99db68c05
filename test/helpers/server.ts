import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Redis, { type RedisOptions } from 'ioredis';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const KVWS_BIN = path.join(ROOT, 'server/bin/kvws.js');

export interface RunningServer {
  host: string;
  port: number;
  /** True when this is a real redis-server (the `redis` project, REDIS_URL), not kvws. */
  isRedis: boolean;
  /**
   * For kvws: where its data lives. `embedded` is kvws's own engine; `redis` is the Redis engine (the
   * `gateway` project: kvws started with `--engine redis://` in front of a private redis-server, `backing`).
   * Unset for a bare redis-server.
   */
  engine?: 'embedded' | 'redis';
  /** The redis-server behind a kvws on the Redis engine (stopped with it). */
  backing?: RunningServer;
  /**
   * Everything the process printed so far (kvws only): its log in the human form (`kvws: …` lines; the
   * helper starts kvws with KVWS_LOG_FORMAT=pretty unless the test gives `--log-format` or the variable),
   * and stderr.
   */
  output(): string;
  /**
   * The WebSocket/HTTPS port and scheme, when the caller enabled it (`--port N`, N from freePort()); taken
   * from the start-up line `kvws: WebSocket gateway listening on wss://HOST:PORT/ws` (or its JSON form).
   */
  httpsPort?: number;
  /** `wss` with TLS, `ws` with --no-tls. */
  wsScheme?: 'ws' | 'wss';
  stop(): Promise<void>;
  pid?: number;
}

/**
 * What PUBLISH to an ordinary channel answers on `server` when `n` of its subscribers receive the message:
 * `n` on kvws's embedded engine and on Redis. On the Redis engine it is Redis's count of its own receivers,
 * and this gateway's subscription to every channel is one of them (docs/scaling.md): always 1 here.
 */
export function publishReceivers(server: RunningServer, n: number): number {
  return server.engine === 'redis' ? 1 : n;
}

/** Returns a free TCP port on 127.0.0.1 (bound and released; fine on loopback for tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The vitest project's target: `redis` (a bare redis-server), `gateway` (kvws on the Redis engine) or kvws. */
const TARGET = process.env.KVWS_TEST_TARGET;

/** True in the `gateway` project: startKvws puts kvws in front of a private redis-server. */
export const onRedisEngine = TARGET === 'gateway';

/**
 * Starts a kvws server process (`kvws serve`) on a free RESP port with the HTTPS port off, waits for
 * "ready", and returns it. In the `redis` project (or with REDIS_URL set) returns a real Redis server
 * instead (REDIS_URL's is flushed), so the same test checks that kvws answers as Redis does. In the
 * `gateway` project starts a private redis-server and kvws with `extraArgs` plus `--engine redis://…` in
 * front of it (`engine: 'redis'`); `stop()` stops both.
 */
export async function startKvws(extraArgs: string[] = [], env: Record<string, string> = {}): Promise<RunningServer> {
  if (TARGET === 'redis') return startRedis();
  if (TARGET === 'gateway') return startGateway(extraArgs, env);
  const redisUrl = process.env.REDIS_URL;
  if (redisUrl) {
    const u = new URL(redisUrl);
    const port = Number(u.port || 6379);
    const c = new Redis({ host: u.hostname, port, lazyConnect: false, maxRetriesPerRequest: 0 });
    await c.flushall();
    await c.config('SET', 'notify-keyspace-events', '');
    c.disconnect();
    return { host: u.hostname, port, isRedis: true, output: () => '', stop: async () => {} };
  }
  return spawnKvwsRetrying(extraArgs, env);
}

/** startKvws in the `gateway` project: a private redis-server, then kvws on the Redis engine in front of it. */
async function startGateway(extraArgs: string[], env: Record<string, string>): Promise<RunningServer> {
  const redis = await startRedis();
  try {
    const kvws = await spawnKvwsRetrying([...extraArgs, '--engine', `redis://127.0.0.1:${redis.port}`], env);
    return {
      ...kvws,
      engine: 'redis',
      backing: redis,
      stop: async () => {
        await kvws.stop();
        await redis.stop();
      },
    };
  } catch (e) {
    await redis.stop();
    throw e;
  }
}

async function spawnKvwsRetrying(extraArgs: string[], env: Record<string, string>): Promise<RunningServer> {
  // freePort() releases the port before kvws binds it, so a test running at the same time may take it first:
  // on EADDRINUSE, start again on fresh ports (an explicit `--port` too; tests read it back as httpsPort).
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnKvws(extraArgs, env);
    } catch (e) {
      if (attempt >= 4 || !/EADDRINUSE/.test((e as Error).message)) throw e;
      const i = extraArgs.indexOf('--port');
      if (i >= 0 && extraArgs[i + 1] !== '0') {
        extraArgs = [...extraArgs];
        extraArgs[i + 1] = String(await freePort());
      }
    }
  }
}

async function spawnKvws(extraArgs: string[], env: Record<string, string>): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [KVWS_BIN, 'serve', '--resp-port', String(port), '--port', '0', ...extraArgs], {
    cwd: ROOT,
    // Piped stdout would log JSON lines (--log-format auto); the suites read the human `kvws: …` lines.
    env: { KVWS_LOG_FORMAT: 'pretty', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kvws did not start in 15 s:\n${out}`)), 15_000);
    const check = () => {
      if (out.includes('kvws: ready') || out.includes('"msg":"ready"')) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kvws exited with ${code} before it was ready:\n${out}`));
    });
  });
  const gateway = /(?:kvws: |"msg":")WebSocket gateway listening on (wss?):\/\/.*:(\d+)\/ws/.exec(out);
  return {
    host: '127.0.0.1',
    port,
    isRedis: false,
    engine: 'embedded',
    pid: child.pid,
    output: () => out,
    stop: () => stopChild(child),
    httpsPort: gateway ? Number(gateway[2]) : undefined,
    wsScheme: gateway ? (gateway[1] as 'ws' | 'wss') : undefined,
  };
}

/**
 * The WebSocket endpoint of a kvws started with `--port N`: `wss://127.0.0.1:N/ws` (or `ws://` with
 * --no-tls), plus `query` (e.g. `?encoding=base64`). Throws when the server has no gateway.
 */
export function wsUrl(server: RunningServer, query = ''): string {
  if (!server.httpsPort || !server.wsScheme)
    throw new Error('this server has no WebSocket gateway (start it with --port N)');
  return `${server.wsScheme}://127.0.0.1:${server.httpsPort}/ws${query}`;
}

/**
 * Starts a private real redis-server (no persistence) on a free port: the fidelity project runs the
 * Redis-compatible suites against it, one server per test file so files do not disturb each other.
 */
export async function startRedis(): Promise<RunningServer> {
  // As in startKvws: another test may take the free port first; start again on a fresh one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnRedis();
    } catch (e) {
      if (attempt >= 4 || !/Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function spawnRedis(): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start in 15 s:\n${out}`));
    }, 15_000);
    const check = () => {
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${out}`));
    });
  });
  return { host: '127.0.0.1', port, isRedis: true, pid: child.pid, output: () => out, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** An ioredis client for `server` that fails fast instead of retrying (so broken tests fail, not hang). */
export function redisClient(server: RunningServer | number, opts: RedisOptions = {}): Redis {
  const port = typeof server === 'number' ? server : server.port;
  const host = typeof server === 'number' ? '127.0.0.1' : server.host;
  return new Redis({
    host,
    port,
    lazyConnect: false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
    retryStrategy: () => null,
    ...opts,
  });
}

/**
 * A raw RESP connection for byte-level tests: `send` writes bytes, `read` waits until `n` complete
 * top-level replies (or `until` matches) have arrived and returns the text received so far.
 */
export class RawConnection {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  static async open(server: RunningServer | number): Promise<RawConnection> {
    const port = typeof server === 'number' ? server : server.port;
    const host = typeof server === 'number' ? '127.0.0.1' : server.host;
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  send(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Waits (bounded by `timeoutMs`) until the received text satisfies `done`, then returns and clears it. */
  async readUntil(done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.buf.toString('latin1'))) {
      if (this.closed || Date.now() > deadline) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const text = this.buf.toString('latin1');
    this.buf = Buffer.alloc(0);
    return text;
  }

  /** Sends a command as a RESP array and returns the raw reply text (one complete reply). */
  async command(...argv: (string | Buffer)[]): Promise<string> {
    const parts: Buffer[] = [Buffer.from(`*${argv.length}\r\n`)];
    for (const a of argv) {
      const b = typeof a === 'string' ? Buffer.from(a, 'latin1') : a;
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    this.send(Buffer.concat(parts));
    return this.readUntil((t) => completeReplies(t) >= 1);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One top-level RESP2/RESP3 reply: its type byte and its first line; errors keep their message. */
export interface RespReply {
  type: string;
  /** The first line after the type byte (an error's message, a bulk's length…). */
  head: string;
  /** The whole reply's text. */
  raw: string;
}

/**
 * Splits `text` into complete top-level replies; `rest` is what is left (an incomplete reply), `errors` every
 * error message of the complete ones. Throws when the text is not RESP at all (an unknown type byte, a bad
 * length, a bulk string not followed by CRLF).
 */
export function parseReplies(text: string): { replies: RespReply[]; rest: string; errors: string[] } {
  const replies: RespReply[] = [];
  /** Every error message, nested ones (EXEC) included. */
  const errors: string[] = [];
  let pos = 0;
  const one = (): boolean => {
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0) return false;
    const type = text[pos];
    const head = text.slice(pos + 1, eol);
    pos = eol + 2;
    switch (type) {
      case '-':
        errors.push(head);
        return true;
      case '+':
      case ',':
      case '#':
      case '_':
      case '(':
        return true;
      case ':':
        if (!/^-?\d+$/.test(head)) throw new Error(`bad integer reply ${JSON.stringify(head)}`);
        return true;
      case '$':
      case '=':
      case '!': {
        if (!/^(-1|\d+)$/.test(head)) throw new Error(`bad bulk length ${JSON.stringify(head)}`);
        const len = Number(head);
        if (len < 0) return true;
        if (text.length < pos + len + 2) return false;
        if (text.slice(pos + len, pos + len + 2) !== '\r\n') throw new Error('bulk reply not followed by CRLF');
        pos += len + 2;
        return true;
      }
      case '*':
      case '~':
      case '>':
      case '%':
      case '|': {
        if (!/^(-1|\d+)$/.test(head)) throw new Error(`bad aggregate length ${JSON.stringify(head)}`);
        let len = Number(head);
        if (len < 0) return true;
        if (type === '%' || type === '|') len *= 2;
        for (let i = 0; i < len; i++) if (!one()) return false;
        return true;
      }
      default:
        throw new Error(`not a RESP reply: type byte ${JSON.stringify(type)} at ${pos - head.length - 3}`);
    }
  };
  while (pos < text.length) {
    const start = pos;
    if (!one()) {
      pos = start;
      break;
    }
    const eol = text.indexOf('\r\n', start);
    replies.push({ type: text[start], head: text.slice(start + 1, eol), raw: text.slice(start, pos) });
  }
  return { replies, rest: text.slice(pos), errors };
}

/** Counts complete top-level RESP2/RESP3 replies at the start of `text` (-1 if malformed: see parseReplies). */
export function completeReplies(text: string): number {
  try {
    return parseReplies(text).replies.length;
  } catch {
    return -1;
  }
}

/**
 * Makes a throwaway CA and a leaf certificate for localhost/127.0.0.1 signed by it (EC P-256, 2 days),
 * as certs-dev/make-dev-certs.sh does, in `dir` with file names prefixed by `name`. Returns the paths.
 */
export function makeTestCertificate(dir: string, name = 'server'): { ca: string; cert: string; key: string } {
  const f = (suffix: string) => path.join(dir, `${name}-${suffix}`);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 20_000 });
  writeFileSync(
    f('leaf.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      'CN = localhost',
      '[v3_leaf]',
      'basicConstraints = critical, CA:false',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = DNS:localhost, IP:127.0.0.1',
      '',
    ].join('\n'),
  );
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('ca.key'));
  openssl(
    'req',
    '-x509',
    '-new',
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=kvws test CA ${name}`,
    '-key',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('key.pem'));
  openssl('req', '-new', '-sha256', '-config', f('leaf.cnf'), '-key', f('key.pem'), '-out', f('leaf.csr'));
  openssl(
    ...['x509', '-req', '-sha256', '-days', '2', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key')],
    ...['-set_serial', `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`, '-extfile', f('leaf.cnf')],
    ...['-extensions', 'v3_leaf', '-out', f('cert.pem')],
  );
  return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
}

/**
 * Issues a TLS client certificate (EC P-256, 2 days, extendedKeyUsage clientAuth) signed by the CA that
 * `makeTestCertificate(dir, caName)` made, with subject CN `cn` and, when given, subjectAltName `san`
 * (OpenSSL syntax, e.g. `DNS:bob` or `email:bob@example.com`). Returns the certificate and key paths.
 */
export function makeClientCertificate(
  dir: string,
  caName: string,
  name: string,
  subject: { cn: string; san?: string },
): { cert: string; key: string } {
  const f = (suffix: string) => path.join(dir, `${name}-${suffix}`);
  const ca = (suffix: string) => path.join(dir, `${caName}-${suffix}`);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 20_000 });
  writeFileSync(
    f('client.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      `CN = ${subject.cn}`,
      '[v3_client]',
      'basicConstraints = critical, CA:false',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = clientAuth',
      ...(subject.san ? [`subjectAltName = ${subject.san}`] : []),
      '',
    ].join('\n'),
  );
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('key.pem'));
  openssl('req', '-new', '-sha256', '-config', f('client.cnf'), '-key', f('key.pem'), '-out', f('client.csr'));
  openssl(
    ...['x509', '-req', '-sha256', '-days', '2', '-in', f('client.csr'), '-CA', ca('ca.pem'), '-CAkey', ca('ca.key')],
    ...['-set_serial', `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`, '-extfile', f('client.cnf')],
    ...['-extensions', 'v3_client', '-out', f('cert.pem')],
  );
  return { cert: f('cert.pem'), key: f('key.pem') };
}
