#!/usr/bin/env node
// Client bundle size: what each @kvws/client entry point costs a web page.
//
//   node scripts/bundle-size.mjs          Markdown table: entry, minified bytes, gzipped bytes, target
//   node scripts/bundle-size.mjs --json   the same as JSON (an array of results, see measure())
//   npm run bundle-size                   builds first (scripts/bootstrap.mjs --build-only), then the above
//
// Each entry is a one-line module that imports the entry's main export and re-exports it, as an application
// would, bundled with esbuild (bundle, minify, ESM, platform browser, tree shaking) from the repository root,
// so the workspace packages resolve to the built client/dist and shared/dist (build with `npx tsc -b` first).
// The bundle is then gzipped with node:zlib at level 9.
//
// Fails (exit 1) when the WebSocket entry is over its budget (12 KiB gzipped, with everything it imports),
// or when any bundle pulls in zod or a `node:` module (read from esbuild's metafile: the client must stay
// small and run in browsers and edge runtimes). Exit 2 when an entry cannot be bundled (not built?).
// test/client/bundle.test.ts runs measure() so CI enforces the same limits.

import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The WebSocket entry's budget: 12 KiB gzipped, dependencies included. */
export const WS_BUDGET = 12 * 1024;

/**
 * The entry points measured: the package specifier, the export an application uses, and the gzipped budget
 * in bytes (null: reported only).
 * @type {{ entry: string; use: string; budget: number | null }[]}
 */
export const ENTRIES = [
  { entry: '@kvws/client', use: 'KvwsClient', budget: null },
  { entry: '@kvws/client/ws', use: 'connectWs', budget: WS_BUDGET },
  { entry: '@kvws/client/http', use: 'connectHttp', budget: null },
];

/**
 * @typedef {object} BundleResult
 * @property {string} entry     the package specifier (`@kvws/client/ws`)
 * @property {number} minified  bytes of the minified ESM bundle
 * @property {number} gzipped   bytes of that bundle gzipped (level 9)
 * @property {number | null} budget  the gzipped budget in bytes, or null
 * @property {boolean} withinBudget  gzipped ≤ budget (true without a budget)
 * @property {string[]} inputs  the files bundled (paths relative to the repository root)
 * @property {string[]} forbidden  what must not be there: zod files, `node:` imports (empty when clean)
 */

/** True for an input file that belongs to the zod package. */
const isZod = (path) => /(^|[\\/])node_modules[\\/]zod[\\/]/.test(path);

/**
 * Bundles one entry as a browser application would and measures it.
 * Returns its BundleResult; rejects with esbuild's error when the entry cannot be resolved or bundled.
 * @param {{ entry: string; use: string; budget: number | null }} e
 * @returns {Promise<BundleResult>}
 */
export async function measureEntry(e) {
  const result = await build({
    stdin: {
      contents: `import { ${e.use} } from '${e.entry}';\nexport default ${e.use};\n`,
      resolveDir: ROOT,
      sourcefile: `bundle-size:${e.entry}`,
      loader: 'js',
    },
    bundle: true,
    minify: true,
    treeShaking: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Kept out of the bundle so they can be reported (a browser build would otherwise fail on them).
    external: ['node:*'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  const gzipped = gzipSync(code, { level: 9 }).length;
  const inputs = Object.keys(result.metafile.inputs).sort();
  // Reported once per importing file outside zod (zod's own files import each other by the hundred).
  const forbidden = [];
  let zodFiles = 0;
  for (const [file, input] of Object.entries(result.metafile.inputs)) {
    if (isZod(file)) {
      zodFiles++;
      continue;
    }
    for (const imp of input.imports) {
      if (imp.path.startsWith('node:')) forbidden.push(`${imp.path} (imported by ${file})`);
      else if (isZod(imp.path)) forbidden.push(`zod (imported by ${file})`);
    }
  }
  if (zodFiles > 0 && !forbidden.some((f) => f.startsWith('zod'))) forbidden.push(`zod (${zodFiles} files)`);
  return {
    entry: e.entry,
    minified: code.length,
    gzipped,
    budget: e.budget,
    withinBudget: e.budget === null || gzipped <= e.budget,
    inputs,
    forbidden: [...new Set(forbidden)].sort(),
  };
}

/**
 * Measures every entry in ENTRIES, in order. Rejects when one cannot be bundled (e.g. client/dist is not
 * built: run `npx tsc -b`).
 * @returns {Promise<BundleResult[]>}
 */
export async function measure() {
  const out = [];
  for (const e of ENTRIES) out.push(await measureEntry(e));
  return out;
}

/** The problems that make the run fail: budgets exceeded, forbidden inputs. Empty when all is well. */
export function problems(results) {
  const out = [];
  for (const r of results) {
    if (!r.withinBudget) out.push(`${r.entry}: ${r.gzipped} bytes gzipped, over its budget of ${r.budget}`);
    for (const f of r.forbidden) out.push(`${r.entry}: bundles ${f}`);
  }
  return out;
}

const n = (x) => x.toLocaleString('en-US');
const kib = (x) => `${(x / 1024).toFixed(1)} KiB`;

/** The results as a Markdown table. */
export function toMarkdown(results) {
  const rows = ['| Entry | Minified (bytes) | Gzipped (bytes) | Target (gzipped) |', '| --- | ---: | ---: | --- |'];
  for (const r of results) {
    const target =
      r.budget === null ? '—' : `≤ ${n(r.budget)} (${kib(r.budget)}): ${r.withinBudget ? 'within' : '**over**'}`;
    rows.push(`| \`${r.entry}\` | ${n(r.minified)} | ${n(r.gzipped)} (${kib(r.gzipped)}) | ${target} |`);
  }
  return rows.join('\n');
}

async function main() {
  let results;
  try {
    results = await measure();
  } catch (err) {
    console.error(`bundle-size: ${err instanceof Error ? err.message : err}`);
    console.error('bundle-size: is the client built? Run `npx tsc -b` (or `npm run bundle-size`, which builds).');
    process.exitCode = 2;
    return;
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2));
  else console.log(toMarkdown(results));
  const bad = problems(results);
  for (const p of bad) console.error(`bundle-size: ${p}`);
  process.exitCode = bad.length > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
