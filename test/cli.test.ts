import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPTION_FLAGS } from '../server/src/config.js';
import { freePort, KVWS_BIN, RawConnection } from './helpers/server.js';

// The `kvws` command's contract: help, version, exit codes, flags/env/config-file precedence and errors,
// start-up output, SIGTERM, and `npm start` (scripts/bootstrap.mjs serve). kvws-only by nature.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The test process's environment without KVWS_* variables, so only what a test sets reaches kvws. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KVWS_')) env[k] = v;
  return { ...env, ...extra };
}

interface Proc {
  child: ChildProcess;
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Waits (bounded) until the output contains `text`; throws with the output so far otherwise. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

const procs: Proc[] = [];
/** Pids of servers started by bootstrap.mjs (grandchildren), killed in afterAll if still alive. */
const grandchildren: number[] = [];
const clients: Redis[] = [];
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'kvws-cli-test-'));
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  for (const pid of grandchildren) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function launch(cmd: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [cmd, ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  child.stdout?.on('data', (d) => {
    out += d;
    stdout += d;
    wake();
  });
  child.stderr?.on('data', (d) => {
    out += d;
    stderr += d;
    wake();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? -1);
      wake();
    });
  });
  const proc: Proc = {
    child,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor: (text, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.includes(text)) {
            done();
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(
              new Error(
                `exited (${child.exitCode ?? child.signalCode}) before printing ${JSON.stringify(text)}:\n${out}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${JSON.stringify(text)} within ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
  };
  procs.push(proc);
  return proc;
}

/** `kvws ...args`. */
function kvws(args: string[], env: Record<string, string> = {}): Proc {
  return launch(KVWS_BIN, args, env);
}

/** Runs a kvws command that is expected to exit on its own (bounded); returns code and output. */
async function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = kvws(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** SIGTERM, then the exit code (SIGKILL after 8 s, which fails the caller's expectation). */
async function terminate(p: Proc): Promise<number | string> {
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 8000);
  p.child.kill('SIGTERM');
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

function client(port: number): Redis {
  const c = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function configFile(name: string, text: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, text);
  return f;
}

describe('help, version, bad commands', () => {
  it('--help exits 0 and lists every flag', async () => {
    const { code, stdout, stderr } = await run(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toContain('kvws serve');
    expect(stdout).toContain('--config');
    for (const [flag, { kind }] of Object.entries(OPTION_FLAGS)) {
      const shown = stdout.includes(`--${flag} `) || stdout.includes(`--${flag},`);
      const shownNegated = kind === 'boolean' && stdout.includes(`--no-${flag} `);
      expect(shown || shownNegated, `--${flag} in --help`).toBe(true);
    }
  });

  it('--version prints the version and exits 0', async () => {
    const { code, stdout } = await run(['--version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^kvws \d+\.\d+\.\d+\n$/);
  });

  it('an unknown command exits 1 and says which', async () => {
    const { code, stdout, stderr } = await run(['frobnicate']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('unknown command "frobnicate"');
  });

  it('an unknown flag exits 2 and names it, with or without a value after it', async () => {
    for (const args of [['--nope'], ['--nope', '5'], ['--nope=5'], ['--no-host'], ['--nope', '--resp-port', '0']]) {
      const { code, stderr } = await run(['serve', ...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr, args.join(' ')).toMatch(/unknown flag --no(pe|-host)\b/);
    }
  });

  it('a bad value exits 2 and names the field and the value', async () => {
    const abc = await run(['serve', '--resp-port', 'abc']);
    expect(abc.code).toBe(2);
    expect(abc.stderr).toContain('--resp-port');
    expect(abc.stderr).toContain('"abc"');

    const big = await run(['serve', '--resp-port', '70000']);
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/respPort|resp-port/);
    expect(big.stderr).toContain('70000');

    for (const v of ['0x10', '1e3', '1.5', '-1']) {
      const r = await run(['serve', '--resp-port', v]);
      expect(r.code, v).toBe(2);
      expect(r.stderr, v).toContain(v);
    }

    const events = await run(['serve', '--notify-keyspace-events', 'Q']);
    expect(events.code).toBe(2);
    expect(events.stderr).toContain('notifyKeyspaceEvents');
    expect(events.stderr).toContain('"Q"');

    const tls = await run(['serve', '--resp-tls']);
    expect(tls.code).toBe(2);
    expect(tls.stderr).toContain('tlsCert');

    const missing = await run(['serve', '--resp-port']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--resp-port needs a value');
  });

  it('a bad environment variable exits 2 and names it', async () => {
    const { code, stderr } = await run(['serve', '--port', '0'], { KVWS_RESP_PORT: 'abc' });
    expect(code).toBe(2);
    expect(stderr).toContain('KVWS_RESP_PORT');
    expect(stderr).toContain('"abc"');
  });
});

describe('kvws serve', () => {
  it('prints the listening address, serves, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const p = kvws(['serve', '--resp-port', String(port), '--port', '0']);
    await p.waitFor('kvws: ready');
    expect(p.stdout()).toContain(`kvws: RESP listening on 127.0.0.1:${port}\n`);
    expect(await client(port).ping()).toBe('PONG');
    expect(await terminate(p)).toBe(0);
    expect(p.stdout()).toContain('kvws: SIGTERM received, shutting down');
    expect(await listening(port)).toBe(false);
  });

  it('SIGTERM exits 0 even while a subscriber is not reading its output', async () => {
    const port = await freePort();
    const p = kvws(['serve', '--resp-port', String(port), '--port', '0']);
    await p.waitFor('kvws: ready');
    const sub = await RawConnection.open(port);
    try {
      expect(await sub.command('SUBSCRIBE', 'c')).toBe('*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n');
      sub.socket.pause();
      // ~6 MiB pending: under the default 32 MiB pub/sub limit, so the subscriber stays connected.
      const pub = client(port);
      const msg = Buffer.alloc(64 * 1024, 'x');
      for (let i = 0; i < 96; i++) expect(await pub.publish('c', msg)).toBe(1);
      const t0 = Date.now();
      expect(await terminate(p)).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      sub.close();
    }
  });

  it('--host ::1 prints the address in brackets and accepts IPv6 loopback clients', async () => {
    const port = await freePort();
    const p = kvws(['serve', '--host', '::1', '--resp-port', String(port), '--port', '0']);
    await p.waitFor('kvws: ready');
    expect(p.stdout()).toContain(`kvws: RESP listening on [::1]:${port}\n`);
    const c = new Redis({ host: '::1', port, family: 6, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    clients.push(c);
    expect(await c.ping()).toBe('PONG');
    expect(await terminate(p)).toBe(0);
  });

  it('--protected-mode=false and --no-protected-mode turn protected mode off', async () => {
    for (const flag of ['--protected-mode=false', '--no-protected-mode']) {
      const port = await freePort();
      const p = kvws(['serve', flag, '--resp-port', String(port), '--port', '0']);
      await p.waitFor('kvws: ready');
      expect(p.stdout(), flag).not.toContain('protected mode');
      expect(await client(port).config('GET', 'protected-mode')).toEqual(['protected-mode', 'no']);
      expect(await terminate(p)).toBe(0);
    }
  });

  it('--resp-port 0 opens no RESP listener and keeps running until SIGTERM', async () => {
    const p = kvws(['serve', '--resp-port', '0', '--port', '0']);
    await p.waitFor('kvws: ready');
    expect(p.stdout()).not.toContain('listening on');
    expect(p.stdout()).toContain('no listener enabled');
    await new Promise((r) => setTimeout(r, 500));
    expect(p.child.exitCode).toBe(null);
    expect(await terminate(p)).toBe(0);
  });

  it('KVWS_RESP_PORT sets the port; a flag beats the environment', async () => {
    const envPort = await freePort();
    const a = kvws(['serve', '--port', '0'], { KVWS_RESP_PORT: String(envPort) });
    await a.waitFor('kvws: ready');
    expect(a.stdout()).toContain(`listening on 127.0.0.1:${envPort}\n`);
    expect(await client(envPort).ping()).toBe('PONG');
    expect(await terminate(a)).toBe(0);

    const flagPort = await freePort();
    const otherPort = await freePort();
    const b = kvws(['serve', '--port', '0', '--resp-port', String(flagPort)], { KVWS_RESP_PORT: String(otherPort) });
    await b.waitFor('kvws: ready');
    expect(b.stdout()).toContain(`listening on 127.0.0.1:${flagPort}\n`);
    expect(await client(flagPort).ping()).toBe('PONG');
    expect(await listening(otherPort)).toBe(false);
    expect(await terminate(b)).toBe(0);
  });

  it('--config FILE sets options (CONFIG GET shows them); env and flags beat it', async () => {
    const filePort = await freePort();
    const f = configFile('good.json', JSON.stringify({ respPort: filePort, port: 0, notifyKeyspaceEvents: 'Ex' }));
    const a = kvws(['serve', '--config', f]);
    await a.waitFor('kvws: ready');
    expect(a.stdout()).toContain(`listening on 127.0.0.1:${filePort}\n`);
    const c = client(filePort);
    expect(await c.config('GET', 'notify-keyspace-events')).toEqual(['notify-keyspace-events', 'xE']);
    expect(await c.config('GET', 'port')).toEqual(['port', String(filePort)]);
    expect(await terminate(a)).toBe(0);

    const envPort = await freePort();
    const b = kvws(['serve'], { KVWS_CONFIG: f, KVWS_RESP_PORT: String(envPort) });
    await b.waitFor('kvws: ready');
    expect(b.stdout()).toContain(`listening on 127.0.0.1:${envPort}\n`);
    expect(await client(envPort).config('GET', 'notify-keyspace-events')).toEqual(['notify-keyspace-events', 'xE']);
    expect(await terminate(b)).toBe(0);

    const flagPort = await freePort();
    const d = kvws(['serve', '--config', f, '--resp-port', String(flagPort), '--notify-keyspace-events', 'KA']);
    await d.waitFor('kvws: ready');
    expect(d.stdout()).toContain(`listening on 127.0.0.1:${flagPort}\n`);
    expect(await client(flagPort).config('GET', 'notify-keyspace-events')).toEqual(['notify-keyspace-events', 'AK']);
    expect(await terminate(d)).toBe(0);
  });

  it('a bad config file stops start-up with a clear message', async () => {
    const unknown = await run(['serve', '--config', configFile('unknown.json', '{"respPort": 0, "bogus": 1}')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown option "bogus"');
    expect(unknown.stderr).toContain('unknown.json');

    const bad = await run(['serve', '--config', configFile('bad.json', '{"respPort": ')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad.json is not valid JSON');

    const notObject = await run(['serve', '--config', configFile('array.json', '[6380]')]);
    expect(notObject.code).toBe(2);
    expect(notObject.stderr).toContain('must hold a JSON object');

    const wrongType = await run(['serve', '--config', configFile('type.json', '{"respPort": "6380"}')]);
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toContain('respPort');
    expect(wrongType.stderr).toContain('"6380"');

    const absent = await run(['serve', '--config', path.join(tmp, 'absent.json')]);
    expect(absent.code).toBe(2);
    expect(absent.stderr).toContain('cannot read config file');
  });

  it('an unusable TLS certificate fails start-up with exit 1, naming the file', async () => {
    const notPem = configFile('not-a-cert.pem', 'hello\n');
    const { code, stderr } = await run([
      'serve',
      '--resp-tls',
      '--tls-cert',
      notPem,
      '--tls-key',
      notPem,
      '--resp-port',
      String(await freePort()),
      '--port',
      '0',
    ]);
    expect(code).toBe(1);
    expect(stderr).toContain(`cannot use TLS certificate ${notPem}`);
  });

  it('a port already in use fails start-up with exit 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const { code, stderr } = await run(['serve', '--resp-port', String(port), '--port', '0']);
      expect(code).toBe(1);
      expect(stderr).toContain('EADDRINUSE');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('npm start', () => {
  it('scripts/bootstrap.mjs serve starts kvws with the given flags and passes SIGTERM on', async () => {
    const port = await freePort();
    const p = launch(path.join(ROOT, 'scripts/bootstrap.mjs'), ['serve', '--resp-port', String(port), '--port', '0']);
    // May rebuild first if sources changed since the last build.
    await p.waitFor('kvws: ready', 120_000);
    const pid = /pid (\d+)/.exec(p.stdout());
    if (pid) grandchildren.push(Number(pid[1]));
    expect(p.stdout()).toContain(`kvws: RESP listening on 127.0.0.1:${port}\n`);
    expect(await client(port).ping()).toBe('PONG');
    expect(await terminate(p)).toBe(0);
    expect(p.stdout()).toContain('kvws: SIGTERM received, shutting down');
  }, 150_000);
});
