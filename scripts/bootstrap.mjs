#!/usr/bin/env node
// Bootstrap: make a checkout runnable with nothing but Node and npm. Uses node: built-ins only,
// because it runs before node_modules exists.
//
//   node scripts/bootstrap.mjs --build-only      install if needed, build if stale, exit 0
//   node scripts/bootstrap.mjs serve [flags...]  same, then dev certificates if missing, then run
//                                                `node server/bin/kvws.js serve [flags...]`
//   node scripts/bootstrap.mjs cli CMD [flags...] same as --build-only, then `node server/bin/kvws.js CMD …`
//                                                (`npm run kvws -- user add alice`)
// serve and cli add `--data-dir data` (the checkout's data/ directory: users file, JWT keys, later the
// append-only file) unless a --data-dir flag, KVWS_DATA_DIR or --config is given.
//
// Install: `npm ci` when node_modules is missing or the sha256 of package-lock.json differs from the
//   stamp node_modules/.kvws-lock-hash (`npm install` only when there is no package-lock.json).
// Build: `tsc -b`, then `node scripts/build-dashboard.mjs` (the dashboard's bundle, server/dist/dashboard),
//   when an expected dist/ output is missing (server/dist/dashboard/index.html included), or any file under
//   {shared,server,client}/src or server/dashboard (the dashboard's sources) or any tsconfig*.json is newer
//   than the stamp .kvws-build-stamp (written after a successful build, dated to the moment the build
//   started so edits made during the build are not missed).
// When nothing is stale this costs one mtime walk and no child processes.
// Exit code: 0 on success; the failing step's exit code (or 1) otherwise; for `serve`, the server's.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['shared', 'server', 'client'];
const LOCK_FILE = join(ROOT, 'package-lock.json');
const LOCK_STAMP = join(ROOT, 'node_modules', '.kvws-lock-hash');
const BUILD_STAMP = join(ROOT, '.kvws-build-stamp');
/** The dashboard's sources (bundled by scripts/build-dashboard.mjs) and the page the bundle writes. */
const DASHBOARD_SRC = join(ROOT, 'server', 'dashboard');
const DASHBOARD_INDEX = join(ROOT, 'server', 'dist', 'dashboard', 'index.html');
const CERT_FILES = ['ca.pem', 'server.pem', 'server.key'].map((f) => join(ROOT, 'certs-dev', f));
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Prints one line prefixed with the script name. */
function say(msg) {
  console.log(`[bootstrap] ${msg}`);
}

/** Runs a command with inherited stdio; exits this process with its code if it fails. */
function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.error) {
    console.error(`[bootstrap] ${what} could not start: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`[bootstrap] ${what} failed (${r.signal ?? `exit ${r.status}`})`);
    process.exit(r.status || 1);
  }
}

/** Runs npm with the given arguments, preferring the npm that launched us (npm_execpath). */
function npm(args, what) {
  const cli = process.env.npm_execpath;
  if (cli && /\.[cm]?js$/.test(cli)) run(process.execPath, [cli, ...args], what);
  else run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, what);
}

function sha256File(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function readOr(path, fallback) {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/** (a) Installs dependencies when node_modules is missing or the lock file changed. */
function ensureInstalled() {
  const hasModules = existsSync(join(ROOT, 'node_modules'));
  if (!existsSync(LOCK_FILE)) {
    if (hasModules) return;
    say('node_modules is missing and there is no package-lock.json: running npm install');
    npm(['install', '--no-audit', '--no-fund'], 'npm install');
    if (existsSync(LOCK_FILE)) writeFileSync(LOCK_STAMP, `${sha256File(LOCK_FILE)}\n`);
    return;
  }
  const want = sha256File(LOCK_FILE);
  let reason = null;
  if (!hasModules) reason = 'node_modules is missing';
  else {
    const have = readOr(LOCK_STAMP, null);
    if (have === null) reason = 'node_modules was not installed by npm ci from this package-lock.json';
    else if (have !== want) reason = 'package-lock.json changed since the last install';
  }
  if (reason === null) return;
  say(`${reason}: running npm ci`);
  npm(['ci', '--no-audit', '--no-fund'], 'npm ci');
  writeFileSync(LOCK_STAMP, `${want}\n`);
}

/** Calls visit(path, stat) for every file under dir, skipping node_modules and dist. */
function walk(dir, visit) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, visit);
    else if (e.isFile()) visit(p, statSync(p));
  }
}

/** Maps a source file under <pkg>/src to the JS file tsc emits under <pkg>/dist, or null. */
function outputFor(pkgDir, srcFile) {
  if (/\.d\.[cm]?ts$/.test(srcFile)) return null;
  const m = /\.(ts|tsx|mts|cts)$/.exec(srcFile);
  if (!m) return null;
  const ext = { ts: '.js', tsx: '.js', mts: '.mjs', cts: '.cjs' }[m[1]];
  const rel = relative(join(pkgDir, 'src'), srcFile).slice(0, -m[0].length);
  return join(pkgDir, 'dist', rel + ext);
}

/** Returns why a build is needed, or null when dist/ is up to date. */
function buildStaleReason() {
  const stampMs = existsSync(BUILD_STAMP) ? statSync(BUILD_STAMP).mtimeMs : -1;
  let newer = null;
  let missing = null;
  const tsconfigs = [ROOT, ...PACKAGES.map((p) => join(ROOT, p)), DASHBOARD_SRC];
  for (const dir of tsconfigs) {
    for (const name of readdirSync(dir)) {
      if (!/^tsconfig.*\.json$/.test(name)) continue;
      const p = join(dir, name);
      if (newer === null && statSync(p).mtimeMs > stampMs) newer = p;
    }
  }
  for (const pkg of PACKAGES) {
    const pkgDir = join(ROOT, pkg);
    walk(join(pkgDir, 'src'), (file, st) => {
      if (newer === null && st.mtimeMs > stampMs) newer = file;
      if (missing === null) {
        const out = outputFor(pkgDir, file);
        if (out !== null && !existsSync(out)) missing = out;
      }
    });
  }
  walk(DASHBOARD_SRC, (file, st) => {
    if (newer === null && st.mtimeMs > stampMs) newer = file;
  });
  if (missing === null && !existsSync(DASHBOARD_INDEX)) missing = DASHBOARD_INDEX;
  if (missing !== null) return `${relative(ROOT, missing)} is missing`;
  if (stampMs < 0) return 'no record of a previous build';
  if (newer !== null) return `${relative(ROOT, newer)} changed since the last build`;
  return null;
}

/** (b) Runs tsc -b, then the dashboard's bundle, when the build is stale. */
function ensureBuilt() {
  const reason = buildStaleReason();
  if (reason === null) return;
  say(`${reason}: running tsc -b and scripts/build-dashboard.mjs`);
  const started = new Date();
  const tsc = join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
  if (!existsSync(tsc)) {
    console.error('[bootstrap] node_modules/.bin/tsc is missing; delete node_modules and run again');
    process.exit(1);
  }
  run(tsc, ['-b'], 'tsc -b');
  run(process.execPath, [join(ROOT, 'scripts', 'build-dashboard.mjs')], 'build-dashboard.mjs');
  writeFileSync(BUILD_STAMP, `built by scripts/bootstrap.mjs at ${started.toISOString()}\n`);
  utimesSync(BUILD_STAMP, started, started);
}

/** (c) Creates the dev CA and server certificate when any of them is missing. */
function ensureDevCerts() {
  const absent = CERT_FILES.filter((f) => !existsSync(f));
  if (absent.length === 0) return;
  say(`${relative(ROOT, absent[0])} is missing: running certs-dev/make-dev-certs.sh`);
  run('bash', [join(ROOT, 'certs-dev', 'make-dev-certs.sh')], 'make-dev-certs.sh');
}

/** `flags` plus `--data-dir <checkout>/data` when the caller chose no data directory or config file. */
function withDataDir(flags) {
  const chosen =
    flags.some((f) => /^--(data-dir|config)(=|$)/.test(f)) || process.env.KVWS_DATA_DIR || process.env.KVWS_CONFIG;
  return chosen ? flags : [...flags, '--data-dir', join(ROOT, 'data')];
}

/** Runs `kvws CMD flags` as a child with inherited stdio, forwarding signals; exits with its code. */
function serve(cmd, flags) {
  const child = spawn(process.execPath, [join(ROOT, 'server', 'bin', 'kvws.js'), cmd, ...flags], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  for (const sig of FORWARDED_SIGNALS) {
    process.on(sig, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    });
  }
  child.on('error', (err) => {
    console.error(`[bootstrap] could not start the server: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      // Conventional shell status for "killed by signal N".
      const num = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 0;
      process.exit(128 + num);
    }
    process.exit(code ?? 1);
  });
}

function main(argv) {
  const [mode, ...rest] = argv;
  if (mode !== '--build-only' && mode !== 'serve' && mode !== 'cli') {
    console.error('usage: node scripts/bootstrap.mjs --build-only | serve [kvws serve flags...] | cli CMD [flags...]');
    process.exit(2);
  }
  ensureInstalled();
  ensureBuilt();
  if (mode === '--build-only') return;
  if (mode === 'cli') {
    const [cmd, ...flags] = rest;
    // `user …` and `token …` take the data directory; --help/--version take nothing.
    serve(cmd ?? '--help', cmd === 'user' || cmd === 'token' ? withDataDir(flags) : flags);
    return;
  }
  ensureDevCerts();
  serve('serve', withDataDir(rest));
}

main(process.argv.slice(2));
