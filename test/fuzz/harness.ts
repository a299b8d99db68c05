import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type Redis from 'ioredis';
import { expect } from 'vitest';
import { type RunningServer, redisClient, startKvws } from '../helpers/server.js';

/**
 * What every fuzz suite shares (docs/fuzzing.md): the seed and the run counts, the mutators that turn a
 * corpus of valid inputs into nasty ones, the "is this a JavaScript error leaking out?" check, the canary
 * client and the memory samples of a running kvws.
 *
 *   KVWS_FUZZ_SEED  the seed of every property (default 42, fixed in CI; `random` picks one and prints it)
 *   KVWS_FUZZ_RUNS  inputs per front door for the in-process properties (default 100000); the real-socket
 *                   parts run SOCKET_RUNS = RUNS / 20 (at least 1000)
 *   KVWS_FUZZ_PATH  fast-check's replay path of a failure (with its seed, and `-t` naming the failing test)
 */

const seedText = process.env.KVWS_FUZZ_SEED ?? '';
/** The seed of every property in this run. */
export const SEED = seedText === '' ? 42 : seedText === 'random' ? (Math.random() * 2 ** 31) | 0 : Number(seedText);
if (!Number.isInteger(SEED)) throw new Error(`KVWS_FUZZ_SEED must be an integer or "random", not ${seedText}`);
/** Inputs per front door driven through the server's own code in this process. */
export const RUNS = Number(process.env.KVWS_FUZZ_RUNS || 100_000);
if (!(RUNS >= 1)) throw new Error(`KVWS_FUZZ_RUNS must be a positive number, not ${process.env.KVWS_FUZZ_RUNS}`);
/** RUNS relative to the CI default (10 for `npm run fuzz`). */
export const SCALE = RUNS / 100_000;
/** Inputs per front door sent to a running kvws over real sockets. */
export const SOCKET_RUNS = Math.max(1000, Math.round(RUNS / 20));
/** A test's time limit: `ms` for the CI counts, scaled with RUNS (never below `ms`). */
export function timeLimit(ms: number): number {
  return Math.round(ms * Math.max(1, SCALE));
}

/** The fast-check parameters of a property that runs `numRuns` times (seed, replay path, failure output). */
export function params<T>(numRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  const path = process.env.KVWS_FUZZ_PATH;
  return { seed: SEED, numRuns, ...(path ? { path } : {}), ...extra };
}

/** Prints where the numbers came from, so that any failure can be replayed. */
export function announce(suite: string): void {
  console.log(`fuzz ${suite}: seed ${SEED}, ${RUNS} in-process and ${SOCKET_RUNS} socket inputs`);
  console.log(`  replay: KVWS_FUZZ_SEED=${SEED} KVWS_FUZZ_RUNS=${RUNS} npx vitest run --project kvws test/fuzz`);
}

/** Counts inputs per front door (and per outcome) for the summary line of a test. */
export class Tally {
  readonly counts = new Map<string, number>();
  private readonly started = performance.now();
  constructor(readonly name: string) {}
  add(what: string, n = 1): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + n);
  }
  get(what: string): number {
    return this.counts.get(what) ?? 0;
  }
  /** One line: `fuzz NAME: N inputs in S s (outcome: n, …)`. */
  print(total = 'inputs'): void {
    const secs = ((performance.now() - this.started) / 1000).toFixed(1);
    const rest = [...this.counts].filter(([k]) => k !== total).map(([k, v]) => `${k}: ${v}`);
    console.log(
      `fuzz ${this.name}: ${this.get(total)} ${total} in ${secs} s${rest.length ? ` (${rest.join(', ')})` : ''}`,
    );
  }
}

// ---- inputs ------------------------------------------------------------------------------------------------------

/** Bytes of a binary string (one char per byte). */
export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * Numbers that break parsers: signs, zeros, the edges of int32/int64/uint64/2^53, overflow, floats and
 * their spellings, blanks, hex.
 */
export const NASTY_NUMBERS = [
  '-1',
  '0',
  '-0',
  '00',
  '007',
  '+5',
  ' 1',
  '1 ',
  '0x10',
  '1.5',
  '1e3',
  '1e309',
  '-1e309',
  'NaN',
  'nan',
  'inf',
  '-inf',
  'Infinity',
  '2147483647',
  '2147483648',
  '-2147483649',
  '4294967296',
  '9007199254740993',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '-9223372036854775809',
  '18446744073709551616',
  '99999999999999999999999999',
  '536870912',
  '1048577',
];

/**
 * Byte strings that break parsers: NUL, line ends, invalid or overlong UTF-8, surrogates in UTF-8,
 * quotes and escapes, percent signs, brackets, RESP type bytes.
 */
export const NASTY_BYTES = [
  '\0',
  '\r',
  '\n',
  '\r\n',
  '\r\n\r\n',
  '\xff',
  '\xfe\xff',
  '\xc0\x80',
  '\xc3',
  '\xe2\x82',
  '\xed\xa0\x80',
  '\xf4\x90\x80\x80',
  '\xef\xbb\xbf',
  '"',
  "'",
  '\\',
  '\\x',
  '\\x4',
  '"\\',
  '%',
  '%zz',
  '%00',
  '%ff',
  '+',
  '{',
  '}',
  '[',
  ']',
  '(',
  ')',
  ',',
  ':',
  ' ',
  '\t',
  '*',
  '$',
  '-',
  '~',
  '&',
  '|',
  '@',
  '#',
  '!',
  '>',
  '<',
  '=',
  '?',
  '/',
  '__proto__',
  'constructor',
];

/** One mutation of a byte string (`corpus` is where splices come from). */
type Mutation = (b: Buffer, corpus: readonly Buffer[]) => Buffer;

const at = (p: number, b: Buffer) => p % (b.length + 1);
const insert = (b: Buffer, p: number, x: Buffer) => Buffer.concat([b.subarray(0, p), x, b.subarray(p)]);

/** Every way `mutated` changes an input, each a fast-check arbitrary (so failures shrink and replay). */
const MUTATION: fc.Arbitrary<Mutation> = fc.oneof(
  // Bit flip.
  fc.tuple(fc.nat(), fc.nat(7)).map(
    ([p, bit]): Mutation =>
      (b) => {
        if (b.length === 0) return b;
        const c = Buffer.from(b);
        c[p % c.length] ^= 1 << bit;
        return c;
      },
  ),
  // Byte set to a random value.
  fc.tuple(fc.nat(), fc.nat(255)).map(
    ([p, v]): Mutation =>
      (b) => {
        if (b.length === 0) return b;
        const c = Buffer.from(b);
        c[p % c.length] = v;
        return c;
      },
  ),
  // Truncation.
  fc.nat().map(
    (p): Mutation =>
      (b) =>
        b.subarray(0, at(p, b)),
  ),
  // A range deleted.
  fc.tuple(fc.nat(), fc.nat(32)).map(
    ([p, n]): Mutation =>
      (b) => {
        const s = at(p, b);
        return Buffer.concat([b.subarray(0, s), b.subarray(s + n)]);
      },
  ),
  // Random bytes inserted.
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(
    ([p, x]): Mutation =>
      (b) =>
        insert(b, at(p, b), Buffer.from(x)),
  ),
  // A nasty byte string inserted.
  fc.tuple(fc.nat(), fc.constantFrom(...NASTY_BYTES)).map(
    ([p, x]): Mutation =>
      (b) =>
        insert(b, at(p, b), latin1(x)),
  ),
  // The first number at or after a position replaced by a nasty one (or one inserted there).
  fc.tuple(fc.nat(), fc.constantFrom(...NASTY_NUMBERS)).map(
    ([p, x]): Mutation =>
      (b) => {
        const s = at(p, b);
        let i = s;
        while (i < b.length && !(b[i] >= 48 && b[i] <= 57)) i++;
        if (i >= b.length) return insert(b, s, latin1(x));
        let j = i;
        while (j < b.length && b[j] >= 48 && b[j] <= 57) j++;
        if (i > 0 && b[i - 1] === 45) i--; // with its minus sign
        return Buffer.concat([b.subarray(0, i), latin1(x), b.subarray(j)]);
      },
  ),
  // Splice: the head of this input, the tail of another.
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(
    ([k, p, q]): Mutation =>
      (b, corpus) => {
        const o = corpus[k % corpus.length];
        return Buffer.concat([b.subarray(0, at(p, b)), o.subarray(at(q, o))]);
      },
  ),
  // A range repeated: long tokens, many arguments, deep nesting (mostly a few times, sometimes thousands).
  fc
    .tuple(
      fc.nat(),
      fc.integer({ min: 1, max: 32 }),
      fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 2, max: 16 }) }, fc.integer({ min: 17, max: 4000 })),
    )
    .map(
      ([p, n, k]): Mutation =>
        (b) => {
          const s = at(p, b);
          const piece = b.subarray(s, s + n);
          if (piece.length === 0) return b;
          const reps = Math.min(k, Math.floor((64 * 1024) / piece.length) + 1);
          return insert(b, s, Buffer.concat(Array.from({ length: reps }, () => piece)));
        },
    ),
);

/**
 * Mutated inputs: a corpus entry with 1 to `max` mutations (bit flips, byte sets, truncation, deletion,
 * random or nasty insertions, nasty numbers, splices with another entry, repeated ranges).
 */
export function mutated(corpus: readonly Buffer[], max = 4): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.nat(corpus.length - 1), fc.array(MUTATION, { minLength: 1, maxLength: max }))
    .map(([i, ms]) => ms.reduce((b, m) => m(b, corpus), corpus[i]));
}

/** Random bytes: uniform, or tokens of `alphabet` (a protocol's own vocabulary) glued together. */
export function randomBytes(alphabet: readonly string[], maxLength = 64): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength: maxLength * 4 }).map((a) => Buffer.from(a)),
    fc
      .array(
        fc.oneof(fc.constantFrom(...alphabet), fc.constantFrom(...NASTY_BYTES), fc.constantFrom(...NASTY_NUMBERS)),
        {
          maxLength,
        },
      )
      .map((parts) => latin1(parts.join(''))),
  );
}

/** Random and mutated inputs: the valid corpus, mutated (most), random bytes, and the fixed nasty cases. */
export function fuzzInputs(valid: readonly Buffer[], nasty: readonly Buffer[], alphabet: readonly string[]) {
  return fc.oneof(
    { weight: 6, arbitrary: mutated(valid) },
    { weight: 2, arbitrary: randomBytes(alphabet) },
    { weight: 1, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constantFrom(...nasty) },
  );
}

// ---- JSON inputs -------------------------------------------------------------------------------------------------

/** Values that break JSON consumers: wrong types, edge numbers, odd strings, odd shapes. */
export const NASTY_JSON: unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  -1,
  1.5,
  2 ** 53 + 2,
  -(2 ** 63),
  1e308,
  '',
  ' ',
  '\0',
  '\ud800',
  '\udfff\ud800',
  '\u2028',
  '\uffff',
  'é',
  '💥',
  '%00',
  '__proto__',
  'constructor',
  'toString',
  'x'.repeat(70_000),
  [],
  [[]],
  [null],
  {},
  { __proto__: null, x: 1 },
  JSON.parse('{"__proto__": {"polluted": 1}}'),
  { toString: 'x', valueOf: 1 },
  Array.from({ length: 2000 }, (_, i) => i),
];

/** A value nested `depth` arrays deep (built without recursion). */
export function deepArray(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** One change to a parsed JSON value (see jsonMutated). */
type JsonMutation = (root: unknown) => unknown;

/** Every node of `root`, with a way to replace it (the root itself: index 0). */
function nodes(root: unknown): { get: () => unknown; set: (v: unknown) => void; del: () => void }[] {
  const out: { get: () => unknown; set: (v: unknown) => void; del: () => void }[] = [];
  const holder = { v: root };
  const stack: [Record<string | number, unknown>, string | number][] = [[holder as Record<string, unknown>, 'v']];
  while (stack.length > 0 && out.length < 10_000) {
    const [parent, key] = stack.pop() as [Record<string | number, unknown>, string | number];
    out.push({
      get: () => parent[key],
      set: (v) => {
        parent[key] = v;
      },
      del: () => {
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
      },
    });
    const v = parent[key];
    if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v)) stack.push([v as Record<string, unknown>, Array.isArray(v) ? Number(k) : k]);
    }
  }
  return out;
}

/** A fresh copy of a nasty value (the constants are shared: a later mutation must not change them). */
const JSON_LEAF: fc.Arbitrary<unknown> = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_JSON) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...NASTY_NUMBERS.map((n) => (Number.isFinite(Number(n)) ? Number(n) : n))),
    },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    // Deeper nesting comes as text (the corpora's nasty texts, repeated ranges): JSON.stringify recurses.
    { weight: 1, arbitrary: fc.integer({ min: 2, max: 1000 }).map((d) => deepArray(d)) },
  )
  .map((v) => (v !== null && typeof v === 'object' ? structuredClone(v) : v));

const JSON_MUTATION: fc.Arbitrary<JsonMutation> = fc.oneof(
  // A node replaced by a nasty value.
  fc.tuple(fc.nat(), JSON_LEAF).map(
    ([i, v]): JsonMutation =>
      (root) => {
        const ns = nodes(root);
        const n = ns[i % ns.length];
        if (n === ns[0]) return v;
        n.set(v);
        return root;
      },
  ),
  // A node removed.
  fc.nat().map(
    (i): JsonMutation =>
      (root) => {
        const ns = nodes(root);
        if (ns.length > 1) ns[1 + (i % (ns.length - 1))].del();
        return root;
      },
  ),
  // A field added to an object (a known field name or a nasty one).
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom('id', 'cmd', 'pipeline', 'multi', 'auth', 'encoding', 'since', 'token', 'x', '__proto__', ''),
      JSON_LEAF,
    )
    .map(
      ([i, k, v]): JsonMutation =>
        (root) => {
          const objs = nodes(root).filter((n) => {
            const x = n.get();
            return x !== null && typeof x === 'object' && !Array.isArray(x);
          });
          if (objs.length > 0)
            Object.defineProperty(objs[i % objs.length].get(), k, {
              value: v,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          return root;
        },
    ),
  // A node wrapped in an array, or an array turned into an object.
  fc.tuple(fc.nat(), fc.boolean()).map(
    ([i, wrap]): JsonMutation =>
      (root) => {
        const ns = nodes(root);
        const n = ns[i % ns.length];
        const x = n.get();
        const v = wrap ? [x] : Array.isArray(x) ? { ...x } : x;
        if (n === ns[0]) return v;
        n.set(v);
        return root;
      },
  ),
);

/** A corpus value (deep-copied) with 1 to 4 structural mutations (see jsonMutated). */
export function jsonValueMutated(corpus: readonly unknown[]): fc.Arbitrary<unknown> {
  return fc.tuple(fc.nat(corpus.length - 1), fc.array(JSON_MUTATION, { minLength: 1, maxLength: 4 })).map(([i, ms]) => {
    let root: unknown = structuredClone(corpus[i]);
    for (const m of ms) root = m(root);
    return root;
  });
}

/**
 * JSON texts: a corpus value with 1 to 4 structural mutations (nodes replaced by nasty values, removed,
 * fields added, wrapped), or its text with byte mutations (then usually not JSON at all), or a hand-made
 * text (deep nesting, huge numbers, duplicate or `__proto__` keys, lone surrogates).
 */
export function jsonMutated(corpus: readonly unknown[], nastyTexts: readonly string[]): fc.Arbitrary<Buffer> {
  const texts = corpus.map((v) => Buffer.from(JSON.stringify(v)));
  const structural = jsonValueMutated(corpus).map((root) => {
    try {
      return Buffer.from(JSON.stringify(root) ?? 'null');
    } catch {
      return Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`); // nested too deep to stringify
    }
  });
  return fc.oneof(
    { weight: 6, arbitrary: structural },
    { weight: 3, arbitrary: mutated(texts) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: fc.constantFrom(...texts) },
    { weight: 1, arbitrary: fc.constantFrom(...nastyTexts.map((t) => Buffer.from(t))) },
  );
}

// ---- checks ------------------------------------------------------------------------------------------------------

/**
 * Text that means a JavaScript exception leaked into a reply or a log: engine error names and V8's
 * messages, kvws's own "internal error" replies, stack frames.
 */
export const JS_ERROR =
  /internal error|TypeError|ReferenceError|RangeError|SyntaxError|Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|undefined is not|Maximum call stack|Invalid array length|Invalid string length|out of memory|\n\s+at /;

/** Throws when `text` (a reply, an error message, a log) looks like a leaked JavaScript exception. */
export function noJsError(text: string, what: string): void {
  const m = JS_ERROR.exec(text);
  if (m)
    throw new Error(
      `${what} looks like a leaked JavaScript exception (${JSON.stringify(m[0])}): ${text.slice(0, 300)}`,
    );
}

/** Redis's error reply form: an upper-case code, a space, a message (`ERR …`, `WRONGTYPE …`, `NOPERM …`). */
export const ERROR_FORM = /^[A-Z][A-Z0-9_]+ ./;

/** The lines of a kvws process's output that mean an uncaught exception or an internal error. */
export function crashLines(output: string): string[] {
  return output
    .split('\n')
    .filter((l) =>
      /internal error|Uncaught|uncaughtException|unhandledRejection|FATAL|heap out of memory|^\s+at /.test(l),
    );
}

// ---- a running kvws: users, canary, memory -----------------------------------------------------------------------

/** The admin's password in the fuzz servers' users files (the canary logs in with it). */
export const ADMIN_PASSWORD = 'fuzz-admin-password';

/**
 * The users file of a fuzzed server: the default user (every fuzz connection) may run every command but
 * those that would reach other clients' data or the server as a whole (no other database, no flush, no
 * admin or dangerous commands, no blocking: a fuzz connection must always answer), and `admin` (the
 * canary, with a password) may do everything. (WAIT with replicas asked for blocks like BLPOP: kvws has none.)
 */
export const FUZZ_USERS = [
  'user default on nopass ~* &* +@all -@dangerous -@admin -@blocking -wait -select -move -copy -swapdb -flushall -flushdb',
  `user admin on >${ADMIN_PASSWORD} ~* &* +@all`,
  '',
].join('\n');

/**
 * The flags every fuzzed kvws gets: its users file, no login lock-outs (the fuzzer fails logins by the
 * thousand), 1 MiB bulk strings (random lengths stay small), and a maxmemory policy without a limit so that
 * INFO used_memory is the dataset's accounting rather than the heap.
 */
export function fuzzServerArgs(usersFile: string): string[] {
  return [
    '--acl-file',
    usersFile,
    '--auth-max-failures',
    '0',
    '--proto-max-bulk-len',
    String(1024 * 1024),
    '--maxmemory-policy',
    'allkeys-lru',
  ];
}

/** A running kvws for a socket fuzz run, with the clients that set it up and watch it. */
export interface FuzzServer {
  server: RunningServer;
  /** Logged in as the users file's `admin` (database 0): setup, INFO, memory samples. */
  admin: Redis;
  /** Logged in as `admin` in database 1, where the keepsake (`keep:*`) was written: the data of others. */
  canary: Redis;
  /** The users file (FUZZ_USERS) in a temporary directory. */
  usersFile: string;
  /** Disconnects the clients, stops the server, removes the directory. */
  stop(): Promise<void>;
}

/** Starts kvws with FUZZ_USERS, fuzzServerArgs and `extra`, and writes the canary's keepsake. */
export async function startFuzzServer(label: string, extra: string[] = []): Promise<FuzzServer> {
  const dir = mkdtempSync(path.join(tmpdir(), `kvws-fuzz-${label}-`));
  const usersFile = path.join(dir, 'users.acl');
  writeFileSync(usersFile, FUZZ_USERS);
  const server = await startKvws([...fuzzServerArgs(usersFile), ...extra]);
  const admin = redisClient(server, { username: 'admin', password: ADMIN_PASSWORD });
  const canary = redisClient(server, { username: 'admin', password: ADMIN_PASSWORD, db: 1 });
  await writeKeepsake(canary, 'keep');
  return {
    server,
    admin,
    canary,
    usersFile,
    async stop() {
      admin.disconnect();
      canary.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resident set size of process `pid` in bytes (Linux /proc), or NaN elsewhere. */
export function rssOf(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** INFO fields of `client` as a map. */
export async function info(client: Redis, section = 'everything'): Promise<Map<string, string>> {
  const text = await client.info(section);
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

export interface MemorySample {
  usedMemory: number;
  rss: number;
  clients: number;
}

/** The server's INFO used_memory and connected_clients, and its process's RSS. */
export async function memorySample(server: RunningServer, admin: Redis): Promise<MemorySample> {
  const i = await info(admin);
  return {
    usedMemory: Number(i.get('used_memory')),
    rss: rssOf(server.pid),
    clients: Number(i.get('connected_clients')),
  };
}

/**
 * A canary: an ordinary client (ioredis, logged in as admin, database `db`) that SETs and GETs its own keys
 * in a loop while the fuzzer runs. `stop()` ends the loop and returns how many round trips it made and every
 * wrong answer or error it saw (there must be none).
 */
export class Canary {
  private running = true;
  private loop: Promise<void>;
  readonly problems: string[] = [];
  ops = 0;

  constructor(
    readonly client: Redis,
    readonly prefix: string,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let i = 0;
    while (this.running) {
      const key = `${this.prefix}:live:${i % 100}`;
      const value = createHash('sha1').update(`${i}`).digest('hex');
      try {
        await this.client.set(key, value);
        const got = await this.client.get(key);
        if (got !== value) this.problems.push(`GET ${key}: ${got} instead of ${value}`);
        this.ops++;
      } catch (e) {
        this.problems.push(`SET/GET ${key}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      i++;
      // A breath between round trips: the canary measures, it does not compete.
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async stop(): Promise<{ ops: number; problems: string[] }> {
    this.running = false;
    await this.loop;
    return { ops: this.ops, problems: this.problems };
  }
}

/** Writes `n` keys of several types under `prefix` with `client` (the data that must survive the fuzz). */
export async function writeKeepsake(client: Redis, prefix: string, n = 200): Promise<void> {
  const p = client.pipeline();
  for (let i = 0; i < n; i++) {
    p.set(`${prefix}:s:${i}`, `value-${i}`);
    p.hset(`${prefix}:h:${i % 10}`, `f${i}`, `${i}`);
    p.rpush(`${prefix}:l:${i % 10}`, `${i}`);
    p.zadd(`${prefix}:z`, i, `m${i}`);
  }
  await p.exec();
}

/** Checks the keys writeKeepsake wrote are all there, unchanged. Returns the differences (none expected). */
export async function checkKeepsake(client: Redis, prefix: string, n = 200): Promise<string[]> {
  const bad: string[] = [];
  const p = client.pipeline();
  for (let i = 0; i < n; i++) p.get(`${prefix}:s:${i}`);
  for (let j = 0; j < 10; j++) {
    p.hlen(`${prefix}:h:${j}`);
    p.llen(`${prefix}:l:${j}`);
  }
  p.zcard(`${prefix}:z`);
  const r = ((await p.exec()) ?? []).map(([err, v]) => (err ? `error ${err.message}` : v));
  for (let i = 0; i < n; i++) if (r[i] !== `value-${i}`) bad.push(`${prefix}:s:${i} = ${r[i]}`);
  for (let j = 0; j < 10; j++) {
    if (r[n + 2 * j] !== n / 10) bad.push(`HLEN ${prefix}:h:${j} = ${r[n + 2 * j]}`);
    if (r[n + 2 * j + 1] !== n / 10) bad.push(`LLEN ${prefix}:l:${j} = ${r[n + 2 * j + 1]}`);
  }
  if (r[n + 20] !== n) bad.push(`ZCARD ${prefix}:z = ${r[n + 20]}`);
  return bad;
}

// ---- argument lists ----------------------------------------------------------------------------------------------

/** A nasty argument: a number's edge, a nasty byte string, random binary text, empty, or a long one. */
export const NASTY_ARG: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_NUMBERS) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY_BYTES) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map((s) => latin1Text(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '*', '-', '+', '(', '[', '{', '}', '0', '1', 'fz:s', 'fz:h', 'fz:l', 'fz:z'),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 70_000 }).map((n) => 'y'.repeat(n)) },
);

/** A JS string's UTF-8 bytes as a binary string (one char per byte). */
export function latin1Text(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/**
 * Mutated argument lists: a corpus command with 1 to 3 of: an argument replaced by a nasty one or by another
 * command's argument, one inserted, one removed, the name's case changed; the framing stays valid, so the
 * command's own argument parser is what gets fuzzed.
 */
export function argvMutated(corpus: readonly string[][]): fc.Arbitrary<string[]> {
  const all = corpus.flat();
  const edit = fc.oneof(
    fc.tuple(fc.constant(0), fc.nat(), NASTY_ARG),
    fc.tuple(fc.constant(1), fc.nat(), fc.constantFrom(...all)),
    fc.tuple(fc.constant(2), fc.nat(), NASTY_ARG),
    fc.tuple(fc.constant(3), fc.nat(), fc.constant('')),
    fc.tuple(fc.constant(4), fc.nat(), fc.constant('')),
  );
  return fc.tuple(fc.nat(corpus.length - 1), fc.array(edit, { minLength: 1, maxLength: 3 })).map(([i, edits]) => {
    const argv = [...corpus[i]];
    for (const [kind, p, x] of edits) {
      const j = argv.length > 1 ? 1 + (p % (argv.length - 1)) : 1;
      if (kind === 0 || kind === 1) {
        if (argv.length > 1) argv[j] = x;
        else argv.push(x);
      } else if (kind === 2) argv.splice(1 + (p % argv.length), 0, x);
      else if (kind === 3) {
        if (argv.length > 1) argv.splice(j, 1);
      } else argv[0] = p % 2 ? argv[0].toLowerCase() : argv[0].replace(/^./, (c) => c.toLowerCase());
    }
    return argv;
  });
}

// ---- HTTP responses ----------------------------------------------------------------------------------------------

export interface HttpResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * Parses complete responses from `buf` (HEAD's carry no body); returns them and the bytes used. Throws
 * on something that is not an HTTP/1.1 response.
 */
export function parseResponses(
  buf: Buffer,
  heads: boolean[],
  from = 0,
  responses: HttpResponse[] = [],
): { responses: HttpResponse[]; used: number } {
  let p = from;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', p);
    if (end < 0) break;
    const lines = buf.subarray(p, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]);
    if (!m) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(lines[0].slice(0, 100))}`);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
    }
    let q = end + 4;
    let body: Buffer;
    if (status < 200) {
      p = q;
      continue;
    }
    if (heads[responses.length] || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (headers.get('transfer-encoding')?.includes('chunked')) {
      const chunks: Buffer[] = [];
      for (;;) {
        const eol = buf.indexOf('\r\n', q);
        if (eol < 0) return { responses, used: p };
        const n = Number.parseInt(buf.subarray(q, eol).toString('latin1'), 16);
        if (eol + 2 + n + 2 > buf.length) return { responses, used: p };
        chunks.push(buf.subarray(eol + 2, eol + 2 + n));
        q = eol + 2 + n + 2;
        if (n === 0) break;
      }
      body = Buffer.concat(chunks);
    } else {
      const n = Number(headers.get('content-length') ?? 0);
      if (q + n > buf.length) break;
      body = buf.subarray(q, q + n);
      q += n;
    }
    responses.push({ status, headers, body });
    p = q;
  }
  return { responses, used: p };
}

/** Growth of the kvws process's RSS a socket fuzz run may cause (V8 grows its heap lazily; a leak outgrows it). */
export const RSS_GROWTH_LIMIT = 384 * 1024 * 1024;

/**
 * After a socket fuzz run: the server still answers, printed no crash, the canary's data (`keep`, database
 * 1) is intact; once the fuzzer's keys are gone the dataset is back to its size (the canary's few keys
 * aside), every fuzz session is gone, and the process did not balloon.
 */
export async function checkAfterFuzz(
  name: string,
  server: RunningServer,
  admin: Redis,
  canary: Redis,
  before: MemorySample,
): Promise<void> {
  expect(await admin.ping()).toBe('PONG');
  expect(crashLines(server.output())).toEqual([]);
  expect(await checkKeepsake(canary, 'keep')).toEqual([]);
  await admin.flushdb();
  let after = await memorySample(server, admin);
  for (let t = 0; t < 50 && after.clients > before.clients; t++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await memorySample(server, admin);
  }
  console.log(
    `fuzz ${name} memory: used_memory ${before.usedMemory} → ${after.usedMemory}, rss ${before.rss} → ${after.rss}, clients ${before.clients} → ${after.clients}`,
  );
  expect(after.clients).toBe(before.clients);
  expect(after.usedMemory).toBeLessThan(before.usedMemory + 1024 * 1024);
  expect(after.rss).toBeLessThan(before.rss + RSS_GROWTH_LIMIT);
}
