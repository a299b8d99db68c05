#!/usr/bin/env node
// Makes sure the system programs the tests need, which npm cannot install, are present:
//   redis-server                  (Debian package redis-server)  real Redis to compare against
//   redis-cli, redis-benchmark    (Debian package redis-tools)   real clients / load generator
//   /usr/bin/chromium             (Debian package chromium)      real browser for the client tests
// Missing ones are installed with apt-get (as root, or through passwordless `sudo -n`).
// Never skips silently: if something is still missing at the end, prints what and exits 1.
// Uses node: built-ins only.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What the tests need: a program name (looked up on PATH) or an absolute path, and its Debian package. */
const NEEDS = [
  { name: 'redis-server', pkg: 'redis-server' },
  { name: 'redis-cli', pkg: 'redis-tools' },
  { name: 'redis-benchmark', pkg: 'redis-tools' },
  { name: '/usr/bin/chromium', pkg: 'chromium' },
];
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

/** Returns the resolved path of a program, or null. */
function locate(name) {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

function missingNeeds() {
  return NEEDS.filter((n) => locate(n.name) === null);
}

/** Runs apt-get (possibly via sudo -n) with bounded retries; returns true on success. */
function aptGet(prefix, args) {
  const full = [...prefix, 'apt-get', '-o', `DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_S}`, ...args];
  for (let attempt = 1; attempt <= APT_ATTEMPTS; attempt++) {
    console.log(`[test-deps] ${full.join(' ')}`);
    const r = spawnSync(full[0], full.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: (APT_LOCK_TIMEOUT_S + 900) * 1000,
    });
    if (r.status === 0) return true;
    console.error(`[test-deps] apt-get ${args[0]} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`})`);
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

function main() {
  let missing = missingNeeds();
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => n.pkg))];
    console.log(`[test-deps] missing ${missing.map((n) => n.name).join(', ')}: installing ${pkgs.join(' ')}`);
    const prefix = privilegePrefix();
    if (prefix === null) {
      console.error('[test-deps] cannot install: not root, no passwordless sudo, or no apt-get');
    } else if (aptGet(prefix, ['update'])) {
      aptGet(prefix, ['install', '-y', '--no-install-recommends', ...pkgs]);
    }
    missing = missingNeeds();
  }
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => n.pkg))].join(' ');
    console.error(`[test-deps] still missing: ${missing.map((n) => n.name).join(', ')}`);
    console.error(`[test-deps] install them with: sudo apt-get install -y --no-install-recommends ${pkgs}`);
    process.exit(1);
  }
  console.log(`[test-deps] found ${NEEDS.map((n) => locate(n.name)).join(', ')}`);
}

main();
