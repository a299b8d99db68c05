import { readFileSync } from 'node:fs';
import type Redis from 'ioredis';

/** Returns a promise that resolves (to undefined) after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/**
 * Waits until the server `r` is connected to reports `n` blocked clients (INFO clients); returns after 100 ms
 * instead if INFO is unavailable, and throws if the count is not reached within 3 s.
 */
export async function waitBlocked(r: Redis, n: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    let info: string;
    try {
      info = await r.info('clients');
    } catch {
      await sleep(100);
      return;
    }
    const m = /blocked_clients:(\d+)/.exec(info);
    if (!m) {
      await sleep(100);
      return;
    }
    if (Number(m[1]) === n) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${n} blocked clients`);
}

/** Polls `check` every 50 ms until it is true or `timeoutMs` passes; returns whether it became true. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** Resident set size of a process, from /proc/<pid>/status (bytes). */
export function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
