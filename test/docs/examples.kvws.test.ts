import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningServer, redisClient, startKvws } from '../helpers/server.js';

// The documentation's shell examples, run as written against real kvws processes (issue 6).
//
// Which blocks: every ```sh and ```console block of docs/http-api.md and README.md, in document order, each
// as one `bash -e` script in a scratch directory. A block preceded (on the line right before its fence) by
// `<!-- not run: reason -->` is not run; there must be few of those, each with a reason.
//
// Expected output:
//  - ```sh: a comment `# → TEXT` under a command (one line each; several lines for several output lines) or
//    at the end of its last line is what that command prints. Commands without one are only required to
//    succeed.
//  - ```console: a transcript; `$ COMMAND` lines run, the lines up to the next `$` are its whole output
//    (an annotation `   <- …` at the end of a line is dropped). `redis-cli` gets `--no-raw`, because the
//    test's stdout is not a terminal and redis-cli would otherwise print raw replies.
//  Output lines are compared without `\r`, trailing blanks and empty lines (SSE's separators). In expected
//  lines `…` stands for any text; a line that is only `…` for any number of lines.
//
// Streams (`curl -N …`, `redis-cli … subscribe|psubscribe|monitor`) run until interrupted, so the test bounds
// them: curl gets `--max-time 2` (its exit code 28 is success here), redis-cli runs under `timeout 2` (124).
// Once a stream's output shows it is listening (MEANWHILE's `ready`), the test runs that stream's commands
// from another client (ioredis on the RESP port): publishes the message, makes the key expire, runs a
// command for MONITOR. Every stream must have such an entry and must reach `ready`.
//
// Environment (what the docs assume): `KVWS` (the HTTP API's base URL; the servers run with --no-tls),
// `TOKEN` (a static API token of user `app`, `~* &* +@all`, given as its SHA-256 in the config file, as
// docs/http-api.md describes), `KVWS_RESP_PORT` (the RESP port) and `PASSWORD` (alice's, README's
// Security section). README's Quick start assumes a fresh kvws without users, so its blocks run against a
// second server with the default user open (loopback).
// kvws-only.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DOCS = ['docs/http-api.md', 'README.md'];
/** Sections whose examples assume a fresh kvws without users; the others run against the secured server. */
const OPEN_DOOR_SECTIONS = new Set(['README.md › Quick start']);
/** At most this many blocks may be marked `<!-- not run: … -->`. */
const MAX_NOT_RUN = 3;
/** Seconds a stream is given before it is interrupted (curl --max-time, timeout). */
const STREAM_SECONDS = 2;
/** Bound on one block's run (streams included). */
const BLOCK_TIMEOUT_MS = 25_000;

/** What the test does while a stream runs: once `ready` matches its output, `run` (argv lists) on the RESP port. */
interface Meanwhile {
  command: RegExp;
  ready: RegExp;
  run: string[][];
}

const MEANWHILE: Meanwhile[] = [
  { command: /\/subscribe\/news\b/, ready: /^data: subscribe,news,1$/m, run: [['PUBLISH', 'news', 'hello']] },
  {
    command: /\/psubscribe\/news\.\*/,
    ready: /^data: psubscribe,news\.\*,1$/m,
    run: [['PUBLISH', 'news.sport', 'goal']],
  },
  { command: /\/monitor\b/, ready: /^data: OK$/m, run: [['SET', 'greeting', 'hello']] },
  // README's key expires "at the deadline", an hour later: the test brings the deadline forward.
  {
    command: /psubscribe '__key\*__:expired'/,
    ready: /^"psubscribe","__key\*__:expired",1$/m,
    run: [['PEXPIRE', 'logged_in_user:1234', '1']],
  },
];

interface Command {
  /** The shell text as written (continuation lines included). */
  text: string;
  /** 1-based line in the document. */
  line: number;
  /** The expected output lines, or null when the doc shows none (then only success is checked). */
  expected: string[] | null;
  /** For a stream: how it is bounded and what runs meanwhile. */
  stream: { okExit: number; meanwhile: Meanwhile } | null;
}

interface Block {
  file: string;
  /** `FILE › heading` of the section the block is in. */
  section: string;
  line: number;
  lang: 'sh' | 'console';
  /** The reason given in `<!-- not run: reason -->`, or null when the block runs. */
  notRun: string | null;
  commands: Command[];
}

const NOT_RUN = /^<!-- not run: (.*) -->$/;

/**
 * Every ```sh and ```console block of `file` with its commands and expectations. Throws on a misplaced or
 * malformed `not run` marker, a ```bash/```shell block (write ```sh), a `# →` line with no command above it,
 * or a stream the test cannot bound.
 */
function extractBlocks(file: string): Block[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  let section = file;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const where = `${file}:${i + 1}`;
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (heading) section = `${file} › ${heading[1]!.trim()}`;
    if (line.startsWith('<!-- not run') && !NOT_RUN.test(line))
      throw new Error(`${where}: write <!-- not run: reason -->`);
    const fence = /^```(\S*)\s*$/.exec(line);
    if (!fence) continue;
    const lang = fence[1]!;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`${where}: unclosed code block`);
    const body = lines.slice(i + 1, end);
    const marker = NOT_RUN.exec(lines[i - 1] ?? '');
    if (['bash', 'shell', 'zsh'].includes(lang)) throw new Error(`${where}: write \`\`\`sh so that the test runs it`);
    if (lang === 'sh' || lang === 'console') {
      blocks.push({
        file,
        section,
        line: i + 1,
        lang,
        notRun: marker ? marker[1]!.trim() : null,
        commands: lang === 'sh' ? parseScript(body, i + 2, file) : parseTranscript(body, i + 2, file),
      });
    } else if (marker) {
      throw new Error(`${where}: a "not run" marker on a block that is never run (\`\`\`${lang})`);
    }
    i = end;
  }
  for (const [i, line] of lines.entries()) {
    if (NOT_RUN.test(line) && !/^```/.test(lines[i + 1] ?? ''))
      throw new Error(`${file}:${i + 1}: a "not run" marker must be the line right before a code block`);
  }
  return blocks;
}

/** A ```sh block's commands: logical lines (joined by trailing `\`), with their `# →` expectations. */
function parseScript(body: string[], firstLine: number, file: string): Command[] {
  const commands: Command[] = [];
  let open: Command | null = null; // a command continued on the next line
  for (const [k, line] of body.entries()) {
    if (open) {
      open.text += `\n${line}`;
      if (!line.endsWith('\\')) {
        addTrailing(open, line);
        open = null;
      }
      continue;
    }
    if (line.trim() === '') continue;
    const comment = /^\s*#(.*)$/.exec(line);
    if (comment) {
      const arrow = /^ → ?(.*)$/.exec(comment[1]!);
      if (!arrow) continue;
      const last = commands.at(-1);
      if (!last) throw new Error(`${file}:${firstLine + k}: a "# →" line with no command above it`);
      last.expected = [...(last.expected ?? []), arrow[1]!.trimEnd()];
      continue;
    }
    const command: Command = { text: line, line: firstLine + k, expected: null, stream: null };
    commands.push(command);
    if (line.endsWith('\\')) open = command;
    else addTrailing(command, line);
  }
  for (const c of commands) c.stream = streamOf(c, file);
  return commands;
}

/** `cmd … # → TEXT` at the end of a command's last line: TEXT is its first expected line. */
function addTrailing(command: Command, lastLine: string): void {
  const m = /\s# → ?(.*)$/.exec(lastLine);
  if (m) command.expected = [m[1]!.trimEnd(), ...(command.expected ?? [])];
}

/** A ```console transcript: each `$ COMMAND` and the lines after it, its whole output. */
function parseTranscript(body: string[], firstLine: number, file: string): Command[] {
  const commands: Command[] = [];
  for (const [k, line] of body.entries()) {
    if (line.startsWith('$ ')) {
      commands.push({ text: line.slice(2), line: firstLine + k, expected: [], stream: null });
      continue;
    }
    const last = commands.at(-1);
    if (!last) throw new Error(`${file}:${firstLine + k}: a transcript must start with a "$ " command line`);
    last.expected!.push(line.replace(/\s+<- .*$/, '').trimEnd());
  }
  for (const c of commands) c.stream = streamOf(c, file);
  return commands;
}

/** The stream settings of a command that runs until interrupted, or null. Throws when no MEANWHILE entry fits. */
function streamOf(c: Command, file: string): Command['stream'] {
  const curl = /^curl\b/.test(c.text) && /\s-N\b/.test(c.text);
  const cli = /^redis-cli\b/.test(c.text) && /\s(p?subscribe|monitor)\b/i.test(c.text);
  if (!curl && !cli) return null;
  const fits = MEANWHILE.filter((m) => m.command.test(c.text));
  if (fits.length !== 1)
    throw new Error(`${file}:${c.line}: stream \`${c.text}\` needs exactly one MEANWHILE entry (has ${fits.length})`);
  return { okExit: curl ? 28 : 124, meanwhile: fits[0]! };
}

/** The command as the test runs it: streams bounded, redis-cli in transcripts formatted as on a terminal. */
function runnable(c: Command, lang: Block['lang']): string {
  let text = c.text;
  if (lang === 'console') text = text.replace(/^redis-cli\b/, 'redis-cli --no-raw');
  if (c.stream?.okExit === 28) text = text.replace(/^curl\b/, `curl --max-time ${STREAM_SECONDS}`);
  if (c.stream?.okExit === 124) text = `timeout ${STREAM_SECONDS} ${text}`;
  return text;
}

/** The block as one bash script that prints a separator `\n::example <index>::\n` before each command's output. */
function script(block: Block): string {
  const out: string[] = [];
  for (const [i, c] of block.commands.entries()) {
    out.push(`printf '\\n::example %s::\\n' ${i}`);
    if (c.stream) {
      out.push('set +e', runnable(c, block.lang), '__rc=$?', 'set -e');
      out.push(`[ "$__rc" -eq 0 ] || [ "$__rc" -eq ${c.stream.okExit} ]`);
    } else {
      out.push(runnable(c, block.lang));
    }
  }
  out.push(`printf '\\n::example end::\\n'`);
  return `${out.join('\n')}\n`;
}

/** Splits a script's stdout by its separators: the output of command i (so far), and whether `end` was seen. */
function outputs(stdout: string): { byCommand: Map<number, string>; current: number; ended: boolean } {
  const byCommand = new Map<number, string>();
  const parts = stdout.split(/\n::example (\d+|end)::\n/);
  let current = -1;
  let ended = false;
  for (let k = 1; k < parts.length; k += 2) {
    if (parts[k] === 'end') {
      ended = true;
      break;
    }
    current = Number(parts[k]);
    byCommand.set(current, parts[k + 1] ?? '');
  }
  return { byCommand, current, ended };
}

/** Output lines as compared: no `\r`, no trailing blanks, no empty lines. */
function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r/g, '').trimEnd())
    .filter((l) => l !== '');
}

/** Whether `actual` lines match `expected` ones: `…` in a line is any text, a line `…` any number of lines. */
function linesMatch(expected: string[], actual: string[]): boolean {
  const one = (e: string, a: string): boolean =>
    new RegExp(
      `^${e
        .split('…')
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(a);
  const from = (i: number, j: number): boolean => {
    if (i === expected.length) return j === actual.length;
    if (expected[i] === '…') {
      for (let k = j; k <= actual.length; k++) if (from(i + 1, k)) return true;
      return false;
    }
    return j < actual.length && one(expected[i]!, actual[j]!) && from(i + 1, j + 1);
  };
  return from(0, 0);
}

const BLOCKS = DOCS.flatMap(extractBlocks);

/** One server the examples run against, with the variables they use and a client for the MEANWHILE actions. */
interface Target {
  server: RunningServer;
  env: Record<string, string>;
  redis: Redis;
}

let scratch = '';
let secured: Target;
let openDoor: Target;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'kvws-doc-examples-'));
  const token = randomBytes(32).toString('hex');
  const appPassword = randomBytes(16).toString('hex');
  const alicePassword = randomBytes(16).toString('hex');
  const users = path.join(scratch, 'users.acl');
  // README's `kvws user add alice` gives alice `~* &* +@all` and closes the default user.
  writeFileSync(
    users,
    `user default off\nuser app on >${appPassword} ~* &* +@all\nuser alice on >${alicePassword} ~* &* +@all\n`,
  );
  const config = path.join(scratch, 'kvws.json');
  writeFileSync(
    config,
    JSON.stringify({
      aclFile: users,
      apiTokens: [{ user: 'app', sha256: createHash('sha256').update(token).digest('hex') }],
      allowedOrigins: ['https://app.example.com'],
    }),
  );
  const start = async (args: string[]): Promise<RunningServer> => {
    const s = await startKvws(['--port', String(await freePort()), '--no-tls', ...args]);
    expect(s.isRedis).toBe(false);
    expect(s.httpsPort).toBeTypeOf('number');
    return s;
  };
  const [a, b] = await Promise.all([start(['--config', config]), start([])]);
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: scratch, LC_ALL: 'C.UTF-8' };
  const target = (server: RunningServer, vars: Record<string, string>, redis: Redis): Target => {
    redis.on('error', () => {});
    return {
      server,
      redis,
      env: { ...base, KVWS: `http://127.0.0.1:${server.httpsPort}`, KVWS_RESP_PORT: String(server.port), ...vars },
    };
  };
  secured = target(
    a,
    { TOKEN: token, PASSWORD: alicePassword },
    redisClient(a, { username: 'app', password: appPassword }),
  );
  openDoor = target(b, {}, redisClient(b));
  await Promise.all([secured.redis.ping(), openDoor.redis.ping()]);
});

afterAll(async () => {
  for (const t of [secured, openDoor]) t?.redis.disconnect();
  await Promise.all([secured, openDoor].map((t) => t?.server.stop()));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Per stream command index: the MEANWHILE commands' replies, or the error they raised. */
  meanwhile: Map<number, string>;
}

/** Runs `block` with `bash -e` against `target`, firing MEANWHILE actions as streams become ready. */
function runBlock(block: Block, target: Target): Promise<Run> {
  const child = spawn('bash', ['-e', '-c', script(block)], {
    cwd: scratch,
    env: target.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a hung block is stopped with its curl/redis-cli
  });
  let stdout = '';
  let stderr = '';
  const meanwhile = new Map<number, string>();
  const pending: Promise<void>[] = [];
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
    const { byCommand, current } = outputs(stdout);
    const stream = block.commands[current]?.stream;
    if (!stream || meanwhile.has(current) || !stream.meanwhile.ready.test(byCommand.get(current) ?? '')) return;
    meanwhile.set(current, 'started');
    pending.push(
      (async () => {
        const replies: unknown[] = [];
        try {
          for (const argv of stream.meanwhile.run) replies.push(await target.redis.call(argv[0]!, ...argv.slice(1)));
          meanwhile.set(current, JSON.stringify(replies));
        } catch (e) {
          meanwhile.set(current, `error: ${(e as Error).message}`);
        }
      })(),
    );
  });
  child.stderr.on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
      reject(
        new Error(`block ${block.file}:${block.line} ran longer than ${BLOCK_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`),
      );
    }, BLOCK_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      void Promise.all(pending).then(() => resolve({ code, stdout, stderr, meanwhile }));
    });
  });
}

describe('documentation examples', () => {
  it('finds the examples; only a few blocks are marked not run, each with its reason', () => {
    const notRun = BLOCKS.filter((b) => b.notRun !== null);
    expect(notRun.length).toBeLessThanOrEqual(MAX_NOT_RUN);
    for (const b of notRun) expect(b.notRun!.length, `${b.file}:${b.line}`).toBeGreaterThanOrEqual(10);
    const run = BLOCKS.filter((b) => b.notRun === null);
    const commands = run.flatMap((b) => b.commands);
    const checked = commands.filter((c) => c.expected !== null);
    // Guards against a parser that silently finds nothing: the docs hold this much today.
    expect(run.filter((b) => b.file === 'docs/http-api.md').length).toBeGreaterThanOrEqual(10);
    expect(run.filter((b) => b.file === 'README.md').length).toBeGreaterThanOrEqual(2);
    expect(checked.length).toBeGreaterThanOrEqual(25);
    expect(commands.filter((c) => c.stream).length).toBeGreaterThanOrEqual(4);
    for (const b of run) expect(b.commands.length, `${b.file}:${b.line} has no commands`).toBeGreaterThan(0);
  });

  for (const block of BLOCKS.filter((b) => b.notRun === null)) {
    it(`${block.section} (${block.file}:${block.line})`, async () => {
      const target = OPEN_DOOR_SECTIONS.has(block.section) ? openDoor : secured;
      const r = await runBlock(block, target);
      const { byCommand, current, ended } = outputs(r.stdout);
      const failed = block.commands[current];
      expect(
        r.code === 0 && ended,
        `exit ${r.code} at ${block.file}:${failed?.line} \`${failed?.text}\`\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`,
      ).toBe(true);
      for (const [i, c] of block.commands.entries()) {
        const where = `${block.file}:${c.line} \`${c.text}\``;
        if (c.stream) {
          const replies = r.meanwhile.get(i);
          expect(replies, `${where}: the stream never showed ${c.stream.meanwhile.ready}`).toBeDefined();
          expect(replies, where).not.toMatch(/^error/);
        }
        if (c.expected === null) continue;
        const expected = c.expected.filter((l) => l !== '');
        const actual = lines(byCommand.get(i) ?? '');
        if (!linesMatch(expected, actual))
          expect.fail(`${where} printed\n  ${actual.join('\n  ')}\nbut the doc shows\n  ${expected.join('\n  ')}`);
      }
    });
  }
});
