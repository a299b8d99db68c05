import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, OPTION_FLAGS, resolveOptions } from '../../server/src/config.js';
import { KVWS_BIN } from '../helpers/server.js';
import {
  CONFIG_BAD_FLAGS,
  CONFIG_FLAGS,
  CONFIG_OBJECTS,
  CONFIG_TEXTS,
  CONFIG_VALUES,
  SECRETS,
} from './corpus/config.js';
import {
  announce,
  jsonValueMutated,
  latin1,
  mutated,
  NASTY_NUMBERS,
  noJsError,
  params,
  RUNS,
  SEED,
  Tally,
  timeLimit,
} from './harness.js';

/**
 * Fuzzing the configuration loader (docs/fuzzing.md): command-line flags, KVWS_* environment variables and
 * JSON/YAML config files, alone and together, through resolveOptions in this process (RUNS inputs), and the
 * `kvws serve` command with some of the refused ones (exit code 2, the same one-line message on stderr).
 */

announce('config');

/** One configuration to load: flags, environment, and maybe a config file (given by --config or KVWS_CONFIG). */
interface Case {
  argv: string[];
  env: Record<string, string>;
  file: { ext: 'json' | 'yaml' | 'yml'; text: string; via: 'flag' | 'env' } | null;
}

const FLAGS = Object.keys(OPTION_FLAGS);
const envName = (flag: string) => `KVWS_${flag.toUpperCase().replaceAll('-', '_')}`;
/** Environment variable → its flag. */
const ENV_FLAG = new Map(FLAGS.map((f) => [envName(f), f]));

const VALUE = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...CONFIG_VALUES) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY_NUMBERS) },
  {
    weight: 2,
    arbitrary: mutated(
      CONFIG_FLAGS.map(([, v]) => latin1(v)).filter((b) => b.length > 0),
      2,
    ).map((b) => b.toString('latin1')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

/** A flag as given on the command line: `--name value`, `--name=value`, bare `--name`, `--no-name`. */
const FLAG: fc.Arbitrary<string[]> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CONFIG_FLAGS).map(([n, v]) => [`--${n}`, v]) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...FLAGS), VALUE).map(([n, v]) => [`--${n}`, v]) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...FLAGS), VALUE).map(([n, v]) => [`--${n}=${v}`]) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...FLAGS), fc.boolean()).map(([n, yes]) => [yes ? `--${n}` : `--no-${n}`]),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...CONFIG_BAD_FLAGS), VALUE).map(([n, v]) => [n, v]) },
  { weight: 1, arbitrary: fc.constantFrom(...CONFIG_BAD_FLAGS).map((n) => [n]) },
);

const ENV: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.constantFrom(...CONFIG_FLAGS).map(([n, v]): [string, string] => [envName(n), v]),
  fc.tuple(fc.constantFrom(...FLAGS), VALUE).map(([n, v]): [string, string] => [envName(n), v]),
  fc.tuple(fc.constantFrom('KVWS_', 'KVWS_PORT_', 'KVWS_port', 'KVWS_CONSTRUCTOR', 'KVWS___PROTO__'), VALUE),
);

const FILE: fc.Arbitrary<NonNullable<Case['file']>> = fc
  .tuple(
    fc.oneof(
      {
        weight: 3,
        arbitrary: jsonValueMutated(CONFIG_OBJECTS).map((v) => ({
          ext: 'json' as const,
          text: JSON.stringify(v) ?? 'null',
        })),
      },
      {
        weight: 2,
        arbitrary: jsonValueMutated(CONFIG_OBJECTS).map((v) => ({
          ext: 'yaml' as const,
          text: Object.entries((v ?? {}) as object)
            .map(([k, x]) => `${k}: ${JSON.stringify(x)}`)
            .join('\n'),
        })),
      },
      { weight: 2, arbitrary: fc.constantFrom(...CONFIG_TEXTS) },
      {
        weight: 2,
        arbitrary: mutated(CONFIG_TEXTS.map((t) => latin1(t.text)).filter((b) => b.length > 0)).map((b) => ({
          ext: (b[0] === 123 ? 'json' : 'yml') as 'json' | 'yml',
          text: b.toString('latin1'),
        })),
      },
    ),
    fc.constantFrom('flag' as const, 'env' as const),
  )
  // At most 16 KiB: a file of 70,000 keys (a long string spread into an object) tells nothing more.
  .map(([f, via]) => ({ ...f, text: f.text.slice(0, 16 * 1024), via }));

const CASE: fc.Arbitrary<Case> = fc
  .tuple(
    fc.array(FLAG, { maxLength: 5 }),
    fc.array(ENV, { maxLength: 3 }),
    // A config file in one case of ten (each is written to disk and parsed).
    fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: FILE }),
  )
  .map(([flags, env, file]) => ({ argv: flags.flat(), env: Object.fromEntries(env), file }));

/** Every name under which `c` gives an option: flags, environment variables, option keys, the file's path. */
function names(c: Case, file: string): string[] {
  const out = [file];
  for (const a of c.argv) {
    // A stray argument (a boolean flag takes none) is named as it is; so is a config file's path.
    out.push(JSON.stringify(a), a);
    if (!a.startsWith('--')) continue;
    const n = a.slice(2).split('=')[0];
    out.push(`--${n}`);
    const def = OPTION_FLAGS[n.replace(/^no-/, '')];
    if (def && Object.hasOwn(OPTION_FLAGS, n.replace(/^no-/, ''))) out.push(def.key, `--${n.replace(/^no-/, '')}`);
  }
  for (const [k, v] of Object.entries(c.env)) {
    out.push(k);
    if (k === 'KVWS_CONFIG') out.push(v);
    const flag = ENV_FLAG.get(k);
    if (flag) out.push(OPTION_FLAGS[flag].key, `--${flag}`);
  }
  return out.filter((n) => n.length > 0);
}

/**
 * Options whose values are secrets (never shown in errors), as flags and as option keys; of `engine`, only
 * the password of a URL is (config.ts's contract).
 */
const SECRET_FLAGS = new Set(['metrics-token', 'engine-password', 'api-tokens']);
const SECRET_KEYS = new Set(['metricsToken', 'enginePassword', 'apiTokens']);

/** The password of an engine URL, or null. */
function urlPassword(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  try {
    const p = decodeURIComponent(new URL(v).password);
    return p === '' ? null : p;
  } catch {
    return null;
  }
}

/** The SECRETS that `c` gives only as values of secret options (so no error may show them). */
function secretsGiven(c: Case): string[] {
  const secret: string[] = [];
  const other: string[] = [];
  // A secret flag's value is secret; every other argument (stray ones too) may be echoed.
  for (let i = 0; i < c.argv.length; i++) {
    const a = c.argv[i];
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] : '';
    if (!SECRET_FLAGS.has(name)) other.push(a);
    else if (a.includes('=')) secret.push(a.slice(a.indexOf('=') + 1));
    else if (i + 1 < c.argv.length) secret.push(c.argv[++i]);
  }
  for (const [k, v] of Object.entries(c.env)) {
    const flag = ENV_FLAG.get(k);
    (flag && SECRET_FLAGS.has(flag) ? secret : other).push(v);
  }
  if (c.file) {
    // Keys of a secret option hold secrets; anything else in the file may be echoed.
    let o: unknown = null;
    try {
      o = JSON.parse(c.file.text);
    } catch {
      other.push(c.file.text);
    }
    if (o !== null && typeof o === 'object')
      for (const [k, v] of Object.entries(o)) {
        let text: string;
        try {
          text = JSON.stringify(v) ?? '';
        } catch {
          text = c.file.text; // nested too deep to stringify: count the whole file
        }
        (SECRET_KEYS.has(k) ? secret : other).push(text);
      }
    else other.push(c.file.text);
  }
  // Engine URLs: their passwords are secret, the rest may be shown.
  const engines = [
    ...c.argv.flatMap((a, i) => (a === '--engine' ? [c.argv[i + 1]] : a.startsWith('--engine=') ? [a.slice(9)] : [])),
    c.env.KVWS_ENGINE,
  ];
  for (const e of engines) {
    const pw = urlPassword(e);
    if (pw !== null) secret.push(pw);
  }
  return Object.values(SECRETS).filter((s) => secret.some((v) => v.includes(s)) && !other.some((v) => v.includes(s)));
}

/** Loads `c` (its file written to `dir`); returns the options or the ConfigError's message. */
function load(c: Case, dir: string): { ok: true } | { ok: false; message: string; names: string[]; secrets: string[] } {
  const file = path.join(dir, `fuzz.${c.file?.ext ?? 'json'}`);
  const argv = [...c.argv];
  const env = { ...c.env };
  if (c.file) {
    writeFileSync(file, c.file.text, 'latin1');
    if (c.file.via === 'flag') argv.push('--config', file);
    else env.KVWS_CONFIG = file;
  }
  try {
    const o = resolveOptions(argv, env);
    if (o === null || typeof o !== 'object') throw new Error(`resolveOptions returned ${String(o)}`);
    return { ok: true };
  } catch (e) {
    if (!(e instanceof ConfigError))
      throw new Error(`resolveOptions threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return { ok: false, message: e.message, names: names(c, file), secrets: secretsGiven(c) };
  }
}

/** Checks a refusal: a clean one-line message, naming something the case gave, never repeating a secret. */
function checkRefusal(r: { message: string; names: string[]; secrets: string[] }): void {
  if (r.message === '') throw new Error('a ConfigError without a message');
  if (r.message.includes('\n')) throw new Error(`a ConfigError over several lines: ${JSON.stringify(r.message)}`);
  noJsError(r.message, 'a ConfigError');
  for (const s of r.secrets) if (r.message.includes(s)) throw new Error(`a ConfigError repeats a secret: ${r.message}`);
  if (!r.names.some((n) => r.message.includes(n)))
    throw new Error(`a ConfigError names none of ${JSON.stringify(r.names)}: ${r.message}`);
}

describe('configuration loader in process: resolveOptions over flags, environment and config files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kvws-fuzz-config-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    `loads ${RUNS} configurations into options or one clean error naming the field`,
    () => {
      const tally = new Tally('config in-process');
      fc.assert(
        fc.property(CASE, (c) => {
          const t0 = performance.now();
          try {
            return check(c);
          } finally {
            const ms = performance.now() - t0;
            if (ms > 50 && process.env.KVWS_FUZZ_SLOW)
              process.stderr.write(`slow ${ms.toFixed(0)} ms: ${JSON.stringify(c).slice(0, 300)}\n`);
          }
        }),
        params(RUNS),
      );
      function check(c: Case): void {
        tally.add('inputs');
        if (c.file) tally.add('with a file');
        const r = load(c, dir);
        if (r.ok) {
          tally.add('loaded');
          return;
        }
        tally.add('refused');
        checkRefusal(r);
      }
      tally.print();
      expect(tally.get('inputs')).toBeGreaterThanOrEqual(RUNS);
      expect(tally.get('loaded')).toBeGreaterThan(0);
    },
    timeLimit(100_000),
  );

  it('`kvws serve` refuses what resolveOptions refuses: exit code 2, the same message on one line', async () => {
    // The refused cases among a sample, without a config file (a loaded one would start a server on its ports).
    const refused: { c: Case; message: string }[] = [];
    for (const c of fc.sample(CASE, { seed: SEED, numRuns: 400 })) {
      if (c.file !== null) continue;
      const r = load(c, dir);
      if (!r.ok) refused.push({ c, message: r.message });
      if (refused.length >= 8) break;
    }
    expect(refused.length).toBeGreaterThan(0);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KVWS_')));
    const children: ChildProcess[] = [];
    try {
      const outcomes = await Promise.allSettled(
        refused.map(async ({ c, message }) => {
          const child = spawn(process.execPath, [KVWS_BIN, 'serve', ...c.argv], {
            env: { ...clean, ...c.env },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          children.push(child);
          let err = '';
          child.stderr.on('data', (d) => {
            err += d;
          });
          // A server that starts after all (it must not) is stopped at once, and the test fails below.
          child.stdout.on('data', (d) => {
            if (String(d).includes('ready')) child.kill('SIGKILL');
          });
          const code = await new Promise<number | null>((resolve) => {
            const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
            child.on('exit', (x) => {
              clearTimeout(t);
              resolve(x);
            });
          });
          expect({ code, err }, JSON.stringify(c)).toEqual({ code: 2, err: `kvws: ${message}\n` });
        }),
      );
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }, 60_000);
});
