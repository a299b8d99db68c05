import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { type RunningServer, redisClient, startKvws } from './server.js';

/** A fresh temporary data directory; `cleanup()` removes it. */
export function tempDataDir(prefix = 'kvws-data-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * SIGKILL (no shutdown path runs, nothing is flushed) and resolves once the process has exited (`stop()`
 * waits for its exit event). Throws when `server` is not a child process (REDIS_URL).
 */
export async function killHard(server: RunningServer): Promise<void> {
  const pid = server.pid;
  if (pid === undefined) throw new Error('not a kvws child process');
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone: stop() returns at once.
  }
  await server.stop();
}

/** The arguments of a kvws with the AOF in `data` under `appendfsync`, and no RDB snapshots. */
export function aofArgs(
  data: string,
  appendfsync: 'always' | 'everysec' | 'no',
  options: { autoRewrite?: boolean } = {},
): string[] {
  const args = ['--data-dir', data, '--appendfsync', appendfsync, '--save', ''];
  if (options.autoRewrite === false) args.push('--auto-aof-rewrite-percentage', '0');
  return args;
}

/** The value of `name` in an INFO reply (`name:value` lines), or undefined when absent. */
export function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/**
 * What a test file starts (kvws processes, clients, work directories, writer processes, anything with a
 * cleanup), remembered so that one `release()` in afterAll frees it all, whichever test failed where.
 */
export class TestResources {
  private readonly writers: { kill(): void }[] = [];
  private readonly clients: Redis[] = [];
  private readonly servers: RunningServer[] = [];
  private readonly cleanups: (() => void)[] = [];

  /** Starts kvws with `args` (startKvws). */
  async start(args: string[]): Promise<RunningServer> {
    const s = await startKvws(args);
    this.servers.push(s);
    return s;
  }

  /** An ioredis client for `server` (redisClient) whose `error` events are ignored: servers get killed. */
  client(server: RunningServer): Redis {
    const c = redisClient(server);
    c.on('error', () => {});
    this.clients.push(c);
    return c;
  }

  /** A fresh temporary directory `work` (named `prefix…`) with an empty `data/` inside, for kvws's data. */
  workDir(prefix: string): { work: string; data: string } {
    const work = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.onRelease(() => rmSync(work, { recursive: true, force: true }));
    const data = path.join(work, 'data');
    mkdirSync(data);
    return { work, data };
  }

  /** Remembers a process to kill (`kill()` must be harmless once it has exited); returns it. */
  writer<W extends { kill(): void }>(w: W): W {
    this.writers.push(w);
    return w;
  }

  /** Runs `cleanup` in release(), after the servers have stopped, in the reverse order of registration. */
  onRelease(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  /** Kills the writers, disconnects the clients, stops the servers, then runs the cleanups. */
  async release(): Promise<void> {
    for (const w of this.writers.splice(0)) w.kill();
    for (const c of this.clients.splice(0)) c.disconnect();
    await Promise.all(this.servers.splice(0).map((s) => s.stop()));
    for (const cleanup of this.cleanups.splice(0).reverse()) cleanup();
  }
}

/**
 * Everything a client can see of the dataset, as one comparable object: per database, per key, its type,
 * absolute deadline (PEXPIRETIME) and value (lists in order, sets and hashes sorted, sorted sets with
 * scores in order, streams as XINFO STREAM FULL: entries, groups, consumers, pending entries, times).
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
        else if (type === 'stream') value = await c.call('XINFO', 'STREAM', k, 'FULL', 'COUNT', '0');
        out[`${db}/${k}`] = { type, at, value };
      }
    }
    return out;
  } finally {
    c.disconnect();
  }
}
