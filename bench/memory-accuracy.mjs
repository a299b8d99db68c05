#!/usr/bin/env node
// How close kvws's memory accounting (server/src/engine/memory.ts, INFO used_memory) is to the heap it
// actually takes, per value type.
//
//   node bench/memory-accuracy.mjs [--quick]      (needs the server built: npm run build)
//
// For each workload, a fresh embedded Engine in this process (no network, no persistence) runs the
// commands through engine.execute, with every argument made the way the RESP parser makes it (a flat
// one-byte string cut from a Buffer), then the garbage collector runs (node --expose-gc; the script re-runs
// itself with it) and the V8 heap's growth (heapUsed + external) is compared with INFO used_memory's growth.
// ratio = accounted / real: 1.00 is exact, below 1 the accounting under-counts. Prints a Markdown table
// (docs/eviction.md quotes one run).

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

const { Engine } = await import(pathToFileURL(join(ROOT, 'server/dist/engine/engine.js')).href);
const { ServerOptionsSchema } = await import(pathToFileURL(join(ROOT, 'server/dist/config.js')).href);

const quick = process.argv.includes('--quick');
const scale = quick ? 0.2 : 1;

/** A flat one-byte string, as RespParser's latin1Slice makes each argument. */
function arg(s) {
  const b = Buffer.from(s, 'latin1');
  return b.latin1Slice(0, b.length);
}

function pad(i, n) {
  return String(i).padStart(n, '0');
}

function heap() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Each workload: a name and the commands (as arrays of JS strings) it runs, produced lazily. */
const WORKLOADS = [
  {
    name: 'strings: SET key:%010d, 16-byte values',
    keys: 200_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) yield ['SET', `key:${pad(i, 10)}`, `val:${pad(i, 12)}`];
    },
  },
  {
    name: 'strings, 100-byte values',
    keys: 100_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) yield ['SET', `key:${pad(i, 10)}`, `v${pad(i, 99)}`];
    },
  },
  {
    name: 'strings with a TTL: SET … EX 3600',
    keys: 200_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) yield ['SET', `key:${pad(i, 10)}`, `val:${pad(i, 12)}`, 'EX', '3600'];
    },
  },
  {
    name: 'strings past maxmemory 8mb, allkeys-lru (evicting)',
    keys: 200_000 * scale,
    options: { maxmemory: '8mb', maxmemoryPolicy: 'allkeys-lru' },
    *commands(n) {
      for (let i = 0; i < n; i++) yield ['SET', `key:${pad(i, 10)}`, `val:${pad(i, 12)}`];
    },
  },
  {
    name: 'counters: INCR',
    keys: 200_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) yield ['INCR', `ctr:${pad(i, 10)}`];
    },
  },
  {
    name: 'hashes: 20 fields of 10-byte values',
    keys: 10_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) {
        const argv = ['HSET', `h:${pad(i, 8)}`];
        for (let f = 0; f < 20; f++) argv.push(`field:${pad(f, 3)}`, `v${pad(i + f, 9)}`);
        yield argv;
      }
    },
  },
  {
    name: 'one hash of 200,000 fields',
    keys: 1,
    *commands() {
      const n = 200_000 * scale;
      for (let f = 0; f < n; f += 100) {
        const argv = ['HSET', 'bighash'];
        for (let j = f; j < f + 100; j++) argv.push(`field:${pad(j, 8)}`, `v${pad(j, 9)}`);
        yield argv;
      }
    },
  },
  {
    name: 'sets: 50 members',
    keys: 10_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) {
        const argv = ['SADD', `s:${pad(i, 8)}`];
        for (let m = 0; m < 50; m++) argv.push(`member:${pad(i * 50 + m, 9)}`);
        yield argv;
      }
    },
  },
  {
    name: 'lists: 50 elements',
    keys: 10_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) {
        const argv = ['RPUSH', `l:${pad(i, 8)}`];
        for (let m = 0; m < 50; m++) argv.push(`element:${pad(i * 50 + m, 9)}`);
        yield argv;
      }
    },
  },
  {
    name: 'sorted sets: 50 members, fractional scores',
    keys: 10_000 * scale,
    *commands(n) {
      for (let i = 0; i < n; i++) {
        const argv = ['ZADD', `z:${pad(i, 8)}`];
        for (let m = 0; m < 50; m++) argv.push(String(m + 0.5), `member:${pad(i * 50 + m, 9)}`);
        yield argv;
      }
    },
  },
  {
    name: 'one sorted set of 200,000 members',
    keys: 1,
    *commands() {
      const n = 200_000 * scale;
      for (let f = 0; f < n; f += 100) {
        const argv = ['ZADD', 'bigzset'];
        for (let j = f; j < f + 100; j++) argv.push(String((j * 7919) % n), `member:${pad(j, 9)}`);
        yield argv;
      }
    },
  },
];

function usedMemory(engine) {
  return engine.memory.used;
}

const rows = [];
for (const w of WORKLOADS) {
  const options = ServerOptionsSchema.parse({ respPort: 0, port: 0, ...w.options });
  const engine = new Engine(options);
  const client = engine.internalClient();
  const keys = Math.round(w.keys);
  const h0 = heap();
  const u0 = usedMemory(engine);
  for (const argv of w.commands(keys)) {
    const r = engine.execute(
      client,
      argv.map((a) => arg(a)),
    );
    if (r && typeof r === 'object' && r.constructor?.name === 'ErrorReply') throw new Error(`${argv[0]}: ${r.message}`);
  }
  const h1 = heap();
  const u1 = usedMemory(engine);
  const real = h1 - h0;
  const accounted = u1 - u0;
  rows.push({ name: w.name, keys, real, accounted, ratio: accounted / real });
  engine.shutdown();
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`Node ${process.version}, ${quick ? 'quick run (a fifth of the keys)' : 'full run'}\n`);
console.log('| Workload | Keys | Heap growth (bytes) | Accounted (bytes) | Accounted / heap |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of rows)
  console.log(`| ${r.name} | ${fmt(r.keys)} | ${fmt(r.real)} | ${fmt(r.accounted)} | ${r.ratio.toFixed(2)} |`);
