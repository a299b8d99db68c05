import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPTION_FLAGS } from '../server/src/config.js';
import { createLogger, lineLevel, resolveLogFormat, scrubSecrets } from '../server/src/log.js';
import { freePort, KVWS_BIN, RawConnection } from './helpers/server.js';
import { WsClient } from './helpers/ws.js';

// The `kvws` command's contract: help, version, exit codes, flags/env/config-file precedence and errors,
// start-up output, SIGTERM, and `npm start` (scripts/bootstrap.mjs serve). kvws-only by nature.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The test process's environment without KVWS_* variables, so only what a test sets reaches kvws — except
 * KVWS_LOG_FORMAT=pretty (stdout is a pipe, so kvws would log JSON lines): the tests read `kvws: …` lines
 * unless they ask for JSON (a flag beats it; `KVWS_LOG_FORMAT: ''` leaves the format to kvws's default).
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KVWS_')) env[k] = v;
  return { ...env, KVWS_LOG_FORMAT: 'pretty', ...extra };
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

/**
 * `run` for each of `argsList`, two at a time (each start costs a second of CPU; the machine has two
 * cores, shared with the other test file): results in the same order.
 */
async function runEach(
  argsList: string[][],
  env: Record<string, string> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }[]> {
  const out: { code: number | string; stdout: string; stderr: string }[] = [];
  for (let i = 0; i < argsList.length; i += 2) {
    out.push(...(await Promise.all(argsList.slice(i, i + 2).map((args) => run(args, env)))));
  }
  return out;
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

// Each kvws process costs about a second of CPU to start, more on a loaded machine: generous timeouts.
describe('help, version, bad commands', { timeout: 120_000 }, () => {
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

  it('an unknown command exits 2 (a usage error) and says which; no command at all too', async () => {
    const { code, stdout, stderr } = await run(['frobnicate']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('unknown command "frobnicate"');

    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('kvws serve');
    expect(none.stderr).toContain('kvws --help');

    const noHelp = await run(['help', 'frobnicate']);
    expect(noHelp.code).toBe(2);
    expect(noHelp.stderr).toContain('"frobnicate"');
  });

  it('every command and subcommand has its own --help: exit 0, usage on stdout, exit codes explained', async () => {
    const cases: [string[], string][] = [
      [['serve', '--help'], 'kvws serve [flags]'],
      [['help', 'serve'], 'kvws serve [flags]'],
      [['user', '--help'], 'Usage: kvws user add|passwd|del|list'],
      [['user', 'add', '--help'], 'Usage: kvws user add NAME [--rules RULES]'],
      [['user', 'add', 'alice', '-h'], 'Usage: kvws user add NAME [--rules RULES]'],
      [['user', 'passwd', '--help'], 'Usage: kvws user passwd NAME'],
      [['user', 'del', '--help'], 'Usage: kvws user del NAME'],
      [['user', 'list', '--help'], 'Usage: kvws user list'],
      [['help', 'user', 'add'], 'Usage: kvws user add NAME [--rules RULES]'],
      [['token', '--help'], 'Usage: kvws token issue|rotate'],
      [['token', 'issue', '--help'], 'Usage: kvws token issue --user NAME'],
      [['token', 'rotate', '--help'], 'Usage: kvws token rotate'],
      [['check-aof', '--help'], 'Usage: kvws check-aof [--fix] PATH'],
      [['help', 'check-aof'], 'Usage: kvws check-aof [--fix] PATH'],
    ];
    const runs = await runEach(cases.map(([args]) => args));
    runs.forEach((r, i) => {
      const what = cases[i][0].join(' ');
      expect(r.code, what).toBe(0);
      expect(r.stderr, what).toBe('');
      expect(r.stdout, what).toContain(cases[i][1]);
      expect(r.stdout, what).toMatch(/Exit codes.*0 .*1 .*2 /s);
    });
    // Each subcommand's help describes its own flags.
    expect(runs[3].stdout).toContain('--rules RULES');
    expect(runs[10].stdout).toContain('--ttl T');
    expect(runs[10].stdout).toContain('--claim K=V');
    expect(runs[12].stdout).toContain('--fix');
  });

  it('check-aof: usage errors exit 2 (no PATH, an unknown flag, no AOF there)', async () => {
    const none = await run(['check-aof']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('missing PATH');
    const flag = await run(['check-aof', '--frob', tmp]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('unknown flag --frob');
    const nothing = await run(['check-aof', path.join(tmp, 'no-such-dir')]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('no AOF manifest');
  });

  it('user and token: a missing or unknown subcommand exits 2 and points to --help', async () => {
    for (const args of [['user'], ['user', 'frob'], ['token'], ['token', 'frob']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toContain(`kvws ${args[0]} --help`);
    }
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

describe('kvws serve', { timeout: 120_000 }, () => {
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
    expect(bad.stderr).toContain('bad.json:1:14: not valid JSON');

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

describe('config files: JSON and YAML, errors, precedence', { timeout: 120_000 }, () => {
  it('a YAML file (.yaml or .yml) sets options; null keeps the default; env and flags beat it', async () => {
    const filePort = await freePort();
    const yaml = [
      '# kvws settings',
      `respPort: ${filePort}`,
      'port: 0',
      'notifyKeyspaceEvents: Ex',
      'tlsCert:          # empty: the default',
      'allowedOrigins:',
      '  - https://app.example.com',
      '',
    ].join('\n');
    for (const name of ['good.yaml', 'good.yml']) {
      const a = kvws(['serve', '--config', configFile(name, yaml)]);
      await a.waitFor('kvws: ready');
      expect(a.stdout(), name).toContain(`listening on 127.0.0.1:${filePort}\n`);
      expect(await client(filePort).config('GET', 'notify-keyspace-events')).toEqual(['notify-keyspace-events', 'xE']);
      expect(await terminate(a)).toBe(0);
    }

    // The environment beats the file even where the file's value is invalid; a flag beats the environment.
    const badInFile = configFile('overridden.yaml', `respPort: 70000\nport: 0\nnotifyKeyspaceEvents: Ex\n`);
    const envPort = await freePort();
    const b = kvws(['serve', '--config', badInFile], { KVWS_RESP_PORT: String(envPort) });
    await b.waitFor('kvws: ready');
    expect(b.stdout()).toContain(`listening on 127.0.0.1:${envPort}\n`);
    expect(await terminate(b)).toBe(0);

    const flagPort = await freePort();
    const c = kvws(['serve', '--config', badInFile, '--resp-port', String(flagPort)], {
      KVWS_RESP_PORT: 'not-a-number-but-unused',
      KVWS_NOTIFY_KEYSPACE_EVENTS: 'KA',
    });
    // A bad environment value is refused even when a flag overrides it (each source is checked as read).
    expect(await c.exited).toBe(2);
    expect(c.stderr()).toContain('KVWS_RESP_PORT');
    const d = kvws(['serve', '--config', badInFile, '--resp-port', String(flagPort)], {
      KVWS_RESP_PORT: String(envPort),
      KVWS_NOTIFY_KEYSPACE_EVENTS: 'KA',
    });
    await d.waitFor('kvws: ready');
    expect(d.stdout()).toContain(`listening on 127.0.0.1:${flagPort}\n`);
    expect(await client(flagPort).config('GET', 'notify-keyspace-events')).toEqual(['notify-keyspace-events', 'AK']);
    expect(await terminate(d)).toBe(0);
  });

  it('errors name the field, the value and where it came from: FILE:LINE, the variable, the flag', async () => {
    const yamlFile = configFile('range.yaml', 'port: 0\n\nrespPort: 70000\n');
    const fromFile = await run(['serve', '--config', yamlFile]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toBe(
      `kvws: config file ${yamlFile}:3: invalid option respPort (--resp-port) = 70000: Too big: expected number to be <=65535\n`,
    );
    const jsonFile = configFile('range.json', '{\n  "port": 0,\n  "respPort": "6380"\n}\n');
    const fromJson = await run(['serve', '--config', jsonFile]);
    expect(fromJson.code).toBe(2);
    expect(fromJson.stderr).toContain(`config file ${jsonFile}:3: invalid option respPort (--resp-port) = "6380":`);
    const fromEnv = await run(['serve', '--port', '0'], { KVWS_RESP_PORT: '70000' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain(
      'environment variable KVWS_RESP_PORT: invalid option respPort (--resp-port) = 70000: Too big',
    );
    const fromFlag = await run(['serve', '--port', '0', '--resp-port', '70000']);
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.stderr).toMatch(/^kvws: invalid option respPort \(--resp-port\) = 70000: Too big/);
    const enumValue = await run(['serve', '--config', configFile('fsync.yml', 'appendfsync: sometimes\n')]);
    expect(enumValue.code).toBe(2);
    expect(enumValue.stderr).toContain('fsync.yml:1: invalid option appendfsync (--appendfsync) = "sometimes"');
    const nested = await run([
      'serve',
      '--config',
      configFile('tokens.yaml', 'port: 0\napiTokens:\n  - user: app\n    sha256: xyz\n'),
    ]);
    expect(nested.code).toBe(2);
    expect(nested.stderr).toContain('tokens.yaml:4: invalid option apiTokens.0.sha256 = (not shown): must be');
  });

  it('YAML syntax errors give FILE:LINE:COLUMN; unknown keys their line and the key meant', async () => {
    const unterminated = configFile('quote.yaml', 'port: 0\ntlsKey: "abc\n');
    const q = await run(['serve', '--config', unterminated]);
    expect(q.code).toBe(2);
    expect(q.stderr).toMatch(
      new RegExp(`^kvws: config file ${unterminated}:\\d+:\\d+: not valid YAML: Missing closing "quote\n$`),
    );
    const dup = configFile('dup.yaml', 'port: 0\nrespPort: 1\nport: 1\n');
    const d = await run(['serve', '--config', dup]);
    expect(d.code).toBe(2);
    expect(d.stderr).toBe(`kvws: config file ${dup}:3:1: not valid YAML: Map keys must be unique\n`);
    const indent = await run(['serve', '--config', configFile('indent.yaml', 'port: 0\n  respPort: 1\n')]);
    expect(indent.code).toBe(2);
    expect(indent.stderr).toMatch(/indent\.yaml:\d+:\d+: not valid YAML: /);
    const list = await run(['serve', '--config', configFile('list.yaml', '- respPort: 1\n')]);
    expect(list.code).toBe(2);
    expect(list.stderr).toContain('must hold a YAML mapping of options');

    const unknownYaml = configFile('unknown.yaml', 'port: 0\n\nresp-port: 6380\n');
    const u = await run(['serve', '--config', unknownYaml]);
    expect(u.code).toBe(2);
    expect(u.stderr).toBe(
      `kvws: unknown option "resp-port" in config file ${unknownYaml}:3 (did you mean "respPort"?)\n`,
    );
    const typo = await run(['serve', '--config', configFile('typo.json', '{"port": 0, "notifyKeyspaceEvent": "Ex"}')]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('(did you mean "notifyKeyspaceEvents"?)');
    const far = await run(['serve', '--config', configFile('far.yaml', 'port: 0\nfrobnicate: 1\n')]);
    expect(far.code).toBe(2);
    expect(far.stderr).toContain('unknown option "frobnicate"');
    expect(far.stderr).not.toContain('did you mean');
  });

  it('secrets in a config file are never echoed, whatever the mistake', async () => {
    const SECRET = 'hunter2-very-secret';
    const cases: [string, string, RegExp][] = [
      ['s1.json', `{"port": 0, "enginePassword": "${SECRET}" x}`, /s1\.json:1:\d+: not valid JSON/],
      ['s2.json', `"${SECRET}"`, /must hold a JSON object/],
      ['s3.json', `${SECRET}`, /s3\.json: not valid JSON/],
      ['s4.yaml', `port: 0\nenginePassword: "${SECRET}\n`, /s4\.yaml:\d+:\d+: not valid YAML/],
      ['s5.yaml', `port: 0\nenginePassword: 12345\n`, /enginePassword \(--engine-password\) = \(not shown\)/],
      [
        's6.yaml',
        `port: 0\napiTokens:\n  - user: app\n    token: ${SECRET}\n    tokn: x\n`,
        /apiTokens\.0 .*= \(not shown\)/,
      ],
      [
        's7.yaml',
        `port: 0\nengine: redis://u:${SECRET}@127.0.0.1:notaport\n`,
        /engine \(--engine\) = "redis:\/\/u:\*\*\*@/,
      ],
      ['s8.yaml', `port: 0\n${SECRET}: 1\n`, /unknown option/],
    ];
    const runs = await runEach(cases.map(([name, text]) => ['serve', '--config', configFile(name, text)]));
    runs.forEach((r, i) => {
      const what = `${cases[i][0]}: ${r.stderr}`;
      expect(r.code, what).toBe(2);
      expect(r.stderr, what).toMatch(cases[i][2]);
      // s8 names the unknown key itself (a key is not a secret); the others must not show the value.
      if (i !== 7) expect(r.stderr, what).not.toContain('hunter2');
    });
    // 12345 is the value of a secret option: not shown either.
    expect(runs[4].stderr).not.toContain('12345');
  });
});

/** The JSON objects of `text`'s lines; throws naming the first line that is not one. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${JSON.stringify(l)}`);
      }
    });
}

describe('logs', { timeout: 120_000 }, () => {
  it('JSON lines with level, time and msg; request ids in the HTTP API response header and its log line', async () => {
    const port = await freePort();
    const httpPort = await freePort();
    const p = kvws([
      'serve',
      '--resp-port',
      String(port),
      '--port',
      String(httpPort),
      '--no-tls',
      '--log-format',
      'json',
    ]);
    await p.waitFor('"msg":"ready"');
    const base = `http://127.0.0.1:${httpPort}`;

    // A failing request (a token that is no JWT, given as ?_token=): its id comes back and is in its log line.
    const failed = await fetch(`${base}/get/k?_token=supersecret-token-value`);
    expect(failed.status).toBe(401);
    const id = failed.headers.get('x-request-id') ?? '';
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    // The client's own id is kept when it is a sane token, replaced when it is not.
    const own = await fetch(`${base}/get/k`, {
      headers: { 'x-request-id': 'checkout-42.a:b', authorization: 'Bearer not.a.jwt' },
    });
    expect(own.status).toBe(401);
    expect(own.headers.get('x-request-id')).toBe('checkout-42.a:b');
    const insane = await fetch(`${base}/get/k`, { headers: { 'x-request-id': 'two words' } });
    expect(insane.status).toBe(200);
    expect(insane.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(insane.headers.get('x-request-id')).not.toBe(id);
    // A wrong password on the RESP port, with the connection's client id.
    const c = client(port);
    await expect(c.call('AUTH', 'nobody', 'wrong-password')).rejects.toThrow(/WRONGPASS/);
    const clientId = Number(await c.call('CLIENT', 'ID'));

    const logged = (pred: (l: Record<string, unknown>) => boolean) => jsonLines(p.stdout()).find(pred);
    for (let i = 0; i < 100 && !logged((l) => l.clientId === clientId); i++)
      await new Promise((r) => setTimeout(r, 50));
    const lines = jsonLines(p.stdout());
    for (const l of lines) {
      expect(typeof l.level, JSON.stringify(l)).toBe('string');
      expect(new Date(l.time as string).toISOString()).toBe(l.time);
      expect(typeof l.msg, JSON.stringify(l)).toBe('string');
      expect(l.pid).toBe(p.child.pid);
    }
    expect(lines.find((l) => l.msg === 'ready')?.level).toBe('info');
    expect(lines.find((l) => l.msg === `RESP listening on 127.0.0.1:${port}`)?.level).toBe('info');
    const line = lines.find((l) => l.reqId === id);
    expect(line, p.stdout()).toMatchObject({ level: 'warn', status: 401, method: 'GET', route: '/get' });
    expect(line?.msg).toMatch(/^HTTP API authentication failed: WRONGPASS invalid token/);
    expect(lines.find((l) => l.reqId === 'checkout-42.a:b')).toMatchObject({ level: 'warn', status: 401 });
    const auth = lines.find((l) => l.clientId === clientId);
    expect(auth, p.stdout()).toMatchObject({ level: 'warn' });
    expect(auth?.msg).toMatch(/^RESP authentication failed: WRONGPASS/);
    expect(auth?.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    // Secrets: neither the query token nor the password is anywhere in the output.
    expect(p.output()).not.toContain('supersecret');
    expect(p.output()).not.toContain('wrong-password');
    expect(await terminate(p)).toBe(0);
    expect(jsonLines(p.stdout()).at(-1)).toMatchObject({ level: 'info', msg: 'SIGTERM received, shutting down' });
  });

  it('the default format is JSON when stdout is not a terminal; pretty lines carry the fields', async () => {
    const port = await freePort();
    const auto = kvws(['serve', '--resp-port', String(port), '--port', '0'], { KVWS_LOG_FORMAT: '' });
    await auto.waitFor('"msg":"ready"');
    expect(auto.stdout()).not.toContain('kvws: ');
    expect(jsonLines(auto.stdout()).length).toBeGreaterThan(2);
    expect(await terminate(auto)).toBe(0);

    const port2 = await freePort();
    const pretty = kvws(['serve', '--resp-port', String(port2), '--port', '0', '--log-format', 'pretty']);
    await pretty.waitFor('kvws: ready');
    const c = client(port2);
    await expect(c.call('AUTH', 'nobody', 'wrong-password')).rejects.toThrow(/WRONGPASS/);
    const id = Number(await c.call('CLIENT', 'ID'));
    await pretty.waitFor(`[clientId=${id} addr=127.0.0.1:`);
    expect(pretty.stdout()).toMatch(
      new RegExp(
        `^kvws: RESP authentication failed: WRONGPASS .* \\[clientId=${id} addr=127\\.0\\.0\\.1:\\d+\\]$`,
        'm',
      ),
    );
    expect(await terminate(pretty)).toBe(0);
  });

  it('--log-level drops the lines below it; a bad level is a configuration error', async () => {
    const port = await freePort();
    const p = kvws(['serve', '--resp-port', String(port), '--port', '0', '--log-format', 'json'], {
      KVWS_LOG_LEVEL: 'warn',
    });
    for (let i = 0; i < 300 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 50));
    const c = client(port);
    await expect(c.call('AUTH', 'nobody', 'x')).rejects.toThrow(/WRONGPASS/);
    await p.waitFor('RESP authentication failed');
    expect(await terminate(p)).toBe(0);
    const levels = new Set(jsonLines(p.stdout()).map((l) => l.level));
    expect([...levels]).toEqual(['warn']);

    const bad = await run(['serve', '--log-level', 'verbose']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('logLevel (--log-level) = "verbose"');
    const badFormat = await run(['serve'], { KVWS_LOG_FORMAT: 'xml' });
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain(
      'environment variable KVWS_LOG_FORMAT: invalid option logFormat (--log-format) = "xml"',
    );
  });

  it("a WebSocket login that fails is logged with the connection's client id", async () => {
    const httpPort = await freePort();
    const p = kvws(['serve', '--resp-port', '0', '--port', String(httpPort), '--no-tls', '--log-format', 'json']);
    await p.waitFor('"msg":"ready"');
    const ws = await WsClient.open(`ws://127.0.0.1:${httpPort}/ws`);
    try {
      const reply = await ws.reply(ws.request({ auth: { username: 'nobody', password: 'wrong-password' } }));
      expect(reply.error).toMatch(/^WRONGPASS/);
      const id = (await ws.result('CLIENT', 'ID')) as number;
      await p.waitFor(`"clientId":${id}`);
      const line = jsonLines(p.stdout()).find((l) => l.clientId === id);
      expect(line).toMatchObject({ level: 'warn' });
      expect(line?.msg).toMatch(/^WebSocket authentication failed: WRONGPASS/);
      expect(p.output()).not.toContain('wrong-password');
    } finally {
      ws.close();
    }
    expect(await terminate(p)).toBe(0);
  });
});

describe('the logger (server/src/log.ts)', () => {
  it('masks secrets in messages and fields, whatever the call site passes', () => {
    expect(scrubSecrets('GET /get/k?_token=abc123&x=1')).toBe('GET /get/k?_token=***&x=1');
    expect(scrubSecrets('engine redis://bob:p@ss:w0rd@10.0.0.1:6379 down')).toBe(
      'engine redis://bob:***@10.0.0.1:6379 down',
    );
    expect(scrubSecrets('rediss://:hunter2@h:1/?sentinelPassword=s3cret')).toBe(
      'rediss://:***@h:1/?sentinelPassword=***',
    );
    expect(scrubSecrets('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer ***');
    expect(scrubSecrets('token eyJhbGciOiJFZERTQSJ9.eyJ1c2VyIjoiYSJ9.c2lnbmF0dXJl here')).toBe('token *** here');
    expect(scrubSecrets('RESP listening on 127.0.0.1:6380')).toBe('RESP listening on 127.0.0.1:6380');

    const lines: string[] = [];
    const logger = createLogger({ format: 'json', level: 'info', sink: { write: (l) => lines.push(l) } });
    logger.warn({ password: 'pw1', token: 'tk1', user: { password: 'pw2' }, url: '/x?_token=tk2' }, 'Bearer tk3');
    logger.debug('dropped below the level');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]);
    expect(o).toMatchObject({
      level: 'warn',
      password: '***',
      token: '***',
      user: { password: '***' },
      url: '/x?_token=***',
    });
    expect(o.msg).toBe('Bearer ***');
    expect(lines[0]).not.toMatch(/pw1|pw2|tk1|tk2|tk3/);
  });

  it("pretty lines: `kvws: msg`, fields after it, an error's stack below", () => {
    const lines: string[] = [];
    const logger = createLogger({ format: 'pretty', level: 'debug', sink: { write: (l) => lines.push(l) } });
    logger.info('ready');
    logger.warn({ reqId: 'r-1', status: 401, route: '/get', note: 'two words' }, 'HTTP API authentication failed');
    logger.error({ err: new Error('boom') }, 'internal');
    expect(lines[0]).toBe('kvws: ready\n');
    expect(lines[1]).toBe('kvws: HTTP API authentication failed [reqId=r-1 status=401 route=/get note="two words"]\n');
    expect(lines[2]).toMatch(/^kvws: internal \[err=boom\]\n {4}Error: boom\n {8}at /);
  });

  it('plain lines from the persistence and TLS modules: warn when something went wrong, else info', () => {
    expect(lineLevel('AOF loaded: 3 keys from 4 records')).toBe('info');
    expect(lineLevel('AOF write error: ENOSPC. Refusing write commands (MISCONF)')).toBe('warn');
    expect(lineLevel('AOF write error is over: accepting writes again')).toBe('info');
    expect(lineLevel('AOF appendonly.aof.1.incr.aof was truncated: the last record was incomplete')).toBe('warn');
    expect(lineLevel('TLS certificate reload (SIGHUP) failed, still serving the previous one: ENOENT')).toBe('warn');
    expect(lineLevel('WARNING: the open-files limit is 1024')).toBe('warn');
    expect(lineLevel('Redis engine: could not turn notify-keyspace-events on at h:1')).toBe('warn');
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
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
