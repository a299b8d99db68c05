#!/usr/bin/env node
// Makes sure the system programs the tests (or the benchmarks) need, which npm cannot install, are present:
//   redis-server                  (Debian package redis-server)  real Redis to compare against
//   redis-cli, redis-benchmark    (Debian package redis-tools)   real clients / load generator
//   redis-sentinel                (Debian package redis-sentinel) Sentinel setups behind the gateway tests
//   /usr/bin/chromium             (Debian package chromium)      real browser for the client tests
//   webdis                        (Debian package webdis)        HTTP front for Redis; benchmarks only
//
//   node scripts/test-deps.mjs           what `npm test` needs (TEST_NEEDS)
//   node scripts/test-deps.mjs --bench   what `npm run bench` needs (BENCH_NEEDS; no browser)
//
// Missing ones are installed with apt-get (as root, or through passwordless `sudo -n`): `apt-get update` once,
// then one `apt-get install`. Never skips silently: if something is still missing at the end, prints what and
// exits 1. bench/run.mjs imports `ensureInstalled` and `BENCH_NEEDS` to do the same before its HTTP section.
// Uses node: built-ins only.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A program name (looked up on PATH) or an absolute path, and the Debian package that provides it. */
const REDIS_NEEDS = [
  { name: 'redis-server', pkg: 'redis-server' },
  { name: 'redis-cli', pkg: 'redis-tools' },
  { name: 'redis-benchmark', pkg: 'redis-tools' },
  { name: 'redis-sentinel', pkg: 'redis-sentinel' },
];
/** What `npm test` needs. */
export const TEST_NEEDS = [...REDIS_NEEDS, { name: '/usr/bin/chromium', pkg: 'chromium' }];
/** What `npm run bench` needs (webdis: the HTTP section's comparison; not installed by `npm test`). */
export const BENCH_NEEDS = [...REDIS_NEEDS, { name: 'webdis', pkg: 'webdis' }];
/** How long apt-get waits for a dpkg/apt lock held by another apt run before giving up. */
const APT_LOCK_TIMEOUT_S = 600;
/** Attempts per apt-get command; a retry helps when another apt run held a lock the timeout does not cover. */
const APT_ATTEMPTS = 3;

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Returns the resolved path of a program (a name looked up on PATH, or an absolute path), or null. */
export function locate(name) {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * Runs apt-get (possibly via sudo -n) with bounded retries, its output going to `stdio` (spawnSync's option);
 * returns true on success.
 */
function aptGet(prefix, args, log, stdio) {
  const full = [...prefix, 'apt-get', '-o', `DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_S}`, ...args];
  for (let attempt = 1; attempt <= APT_ATTEMPTS; attempt++) {
    log(`[test-deps] ${full.join(' ')}`);
    const r = spawnSync(full[0], full.slice(1), {
      stdio,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: (APT_LOCK_TIMEOUT_S + 900) * 1000,
    });
    if (r.status === 0) return true;
    log(`[test-deps] apt-get ${args[0]} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`})`);
    if (attempt < APT_ATTEMPTS) spawnSync('sleep', ['10']);
  }
  return false;
}

/** Chooses how to run apt-get: directly as root, through `sudo -n`, or not at all (null). */
function privilegePrefix() {
  if (locate('apt-get') === null) return null;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return [];
  if (locate('sudo') === null) return null;
  const r = spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 ? ['sudo', '-n'] : null;
}

/**
 * Installs the missing ones of `needs` with apt-get (synchronously; `apt-get update` once, then one install).
 * Options: `log` (one line per message; default console.log) and `stdio` (where apt-get's output goes, as
 * spawnSync's option; default 'inherit', use ['ignore', 2, 2] to keep stdout clean). Returns the needs still
 * missing afterwards (empty when all are present); never throws or exits.
 */
export function ensureInstalled(needs, { log = console.log, stdio = 'inherit' } = {}) {
  const missingNow = () => needs.filter((n) => locate(n.name) === null);
  const missing = missingNow();
  if (missing.length === 0) return [];
  const pkgs = [...new Set(missing.map((n) => n.pkg))];
  log(`[test-deps] missing ${missing.map((n) => n.name).join(', ')}: installing ${pkgs.join(' ')}`);
  const prefix = privilegePrefix();
  if (prefix === null) log('[test-deps] cannot install: not root, no passwordless sudo, or no apt-get');
  else if (aptGet(prefix, ['update'], log, stdio)) {
    aptGet(prefix, ['install', '-y', '--no-install-recommends', ...pkgs], log, stdio);
  }
  return missingNow();
}

function main() {
  const args = process.argv.slice(2);
  if (args.some((a) => a !== '--bench')) {
    console.error('usage: node scripts/test-deps.mjs [--bench]');
    process.exit(2);
  }
  const needs = args.includes('--bench') ? BENCH_NEEDS : TEST_NEEDS;
  const missing = ensureInstalled(needs);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => n.pkg))].join(' ');
    console.error(`[test-deps] still missing: ${missing.map((n) => n.name).join(', ')}`);
    console.error(`[test-deps] install them with: sudo apt-get install -y --no-install-recommends ${pkgs}`);
    process.exit(1);
  }
  console.log(`[test-deps] found ${needs.map((n) => locate(n.name)).join(', ')}`);
}

// Run as a program, not when imported (bench/run.mjs imports ensureInstalled).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
