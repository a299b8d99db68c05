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
