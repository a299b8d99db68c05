#!/usr/bin/env node
// Builds the dashboard (docs/dashboard.md): server/dashboard → server/dist/dashboard, which
// server/src/net/dashboard.ts serves at /dashboard on the HTTPS port.
//
//   node scripts/build-dashboard.mjs             type-check, bundle, print the sizes
//   node scripts/build-dashboard.mjs --no-check  bundle only (esbuild does not type-check)
//   npm run build                                `tsc -b` first (the page imports the built @kvws/client), then this
//
// Steps: (1) `tsc -p server/dashboard/tsconfig.json` (no output: types only); (2) esbuild bundles
// server/dashboard/src/main.tsx (Preact, JSX) and server/dashboard/styles.css, minified, into
// server/dist/dashboard/assets/ under content-hashed names (`main-<hash>.js`, `styles-<hash>.css`, with
// linked source maps); (3) index.html is copied with its `./src/main.tsx` and `./styles.css` references
// replaced by those names, favicon.svg is copied as is. The output directory is emptied first, so stale
// hashed files never linger. Everything the page runs is in those files: no inline script or style, as the
// Content-Security-Policy requires.
// Exit code: 0 on success, 1 when type-checking or bundling fails.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SRC_DIR = join(ROOT, 'server', 'dashboard');
export const OUT_DIR = join(ROOT, 'server', 'dist', 'dashboard');
/** The URL the bundle is served under (server/src/net/dashboard.ts). */
const BASE_URL = '/dashboard/';

/**
 * @typedef {object} DashboardBuild
 * @property {{ file: string; bytes: number; gzipped: number }[]} assets  the JS and CSS written (paths under OUT_DIR)
 * @property {number} bytes    total bytes of the JS and CSS
 * @property {number} gzipped  total gzipped bytes (level 9) of the JS and CSS
 */

/**
 * Builds the dashboard into OUT_DIR. With `check`, runs the type check first. Resolves with the sizes;
 * rejects with an Error naming the failing step.
 * @param {{ check?: boolean }} [options]
 * @returns {Promise<DashboardBuild>}
 */
export async function buildDashboard({ check = true } = {}) {
  if (check) {
    const tsc = join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
    const r = spawnSync(tsc, ['-p', join(SRC_DIR, 'tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0)
      throw new Error(`type-checking server/dashboard failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const result = await build({
    entryPoints: { main: join(SRC_DIR, 'src', 'main.tsx'), styles: join(SRC_DIR, 'styles.css') },
    absWorkingDir: ROOT,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(SRC_DIR, 'tsconfig.json'),
    outdir: OUT_DIR,
    entryNames: 'assets/[name]-[hash]',
    assetNames: 'assets/[name]-[hash]',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  /** Output path (relative to OUT_DIR) of each entry point, by its source path relative to ROOT. */
  const byEntry = new Map();
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint) byEntry.set(meta.entryPoint, relative(OUT_DIR, join(ROOT, out)).split('\\').join('/'));
  }
  const urlOf = (src) => {
    const out = byEntry.get(relative(ROOT, join(SRC_DIR, src)).split('\\').join('/'));
    if (!out) throw new Error(`esbuild wrote no output for server/dashboard/${src}`);
    return BASE_URL + out;
  };
  let html = readFileSync(join(SRC_DIR, 'index.html'), 'utf8');
  for (const [ref, src] of [
    ['./src/main.tsx', 'src/main.tsx'],
    ['./styles.css', 'styles.css'],
    ['./favicon.svg', null],
  ]) {
    if (!html.includes(`"${ref}"`)) throw new Error(`server/dashboard/index.html does not reference "${ref}"`);
    html = html.replace(`"${ref}"`, `"${src ? urlOf(src) : `${BASE_URL}favicon.svg`}"`);
  }
  writeFileSync(join(OUT_DIR, 'index.html'), html);
  copyFileSync(join(SRC_DIR, 'favicon.svg'), join(OUT_DIR, 'favicon.svg'));
  const assets = [...byEntry.values()].map((file) => {
    const body = readFileSync(join(OUT_DIR, file));
    return { file, bytes: body.length, gzipped: gzipSync(body, { level: 9 }).length };
  });
  return {
    assets,
    bytes: assets.reduce((n, a) => n + a.bytes, 0),
    gzipped: assets.reduce((n, a) => n + a.gzipped, 0),
  };
}

async function main() {
  if (!existsSync(join(ROOT, 'client', 'dist', 'ws.js'))) {
    console.error('build-dashboard: client/dist is missing: run `npx tsc -b` first (npm run build does both)');
    process.exit(1);
  }
  try {
    const b = await buildDashboard({ check: !process.argv.includes('--no-check') });
    for (const a of b.assets) console.log(`dashboard: ${a.file}  ${a.bytes} bytes, ${a.gzipped} gzipped`);
    console.log(`dashboard: built into ${relative(ROOT, OUT_DIR)} (${b.bytes} bytes, ${b.gzipped} gzipped)`);
  } catch (e) {
    console.error(`build-dashboard: ${e.message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
