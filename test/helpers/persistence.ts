import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { RunningServer } from './server.js';
import { sleep } from './wait.js';

/** A fresh temporary data directory; `cleanup()` removes it. */
export function tempDataDir(prefix = 'kvws-data-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** SIGKILL (no chance to flush anything) and wait until the process is gone (bounded: 10 s). */
export async function killHard(server: RunningServer): Promise<void> {
  const pid = server.pid;
  if (pid === undefined) throw new Error('not a kvws child process');
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
  throw new Error(`kvws ${pid} still alive 10 s after SIGKILL`);
}

/**
 * Everything a client can see of the dataset, as one comparable object: per database, per key, its type,
 * absolute deadline (PEXPIRETIME) and value (lists in order, sets and hashes sorted, sorted sets with
 * scores in order).
 */
export async function digest(port: number, databases = 16): Promise<Record<string, unknown>> {
  const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  try {
    const out: Record<string, unknown> = {};
    for (let db = 0; db < databases; db++) {
      await c.select(db);
      const keys = (await c.keys('*')).sort();
      for (const k of keys) {
        const type = await c.type(k);
        const at = await c.call('PEXPIRETIME', k);
        let value: unknown;
        if (type === 'string') value = await c.get(k);
        else if (type === 'list') value = await c.lrange(k, 0, -1);
        else if (type === 'set') value = (await c.smembers(k)).sort();
        else if (type === 'hash') value = Object.entries(await c.hgetall(k)).sort();
        else if (type === 'zset') value = await c.zrange(k, 0, -1, 'WITHSCORES');
        out[`${db}/${k}`] = { type, at, value };
      }
    }
    return out;
  } finally {
    c.disconnect();
  }
}
