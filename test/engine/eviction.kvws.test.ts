import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { KVWS_BIN, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

// Eviction on the embedded engine (engine/memory.ts, engine/eviction.ts; docs/eviction.md), through the
// RESP port: which keys each policy keeps when the dataset is filled past maxmemory, the `evicted` events
// (and their ACL filtering), the AOF's DELs, and the budget as INFO reports it. kvws-only: which keys go
// is where kvws is exact (LRU order, LFU minimum, nearest deadline) and Redis samples.

const started: RunningServer[] = [];
const clients: Redis[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const s of started) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(args: string[]): Promise<{ server: RunningServer; r: Redis }> {
  const server = await startKvws(args);
  started.push(server);
  return { server, r: connect(server) };
}

function connect(server: RunningServer): Redis {
  const c = redisClient(server);
  clients.push(c);
  return c;
}

/** INFO fields of every section, by name. */
async function info(r: Redis): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await r.info('everything')).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

const VALUE = 'v'.repeat(1000);

/** SETs `names` in order (pipelines of 50), with `EX ttl` when given; throws on any error reply. */
async function fill(r: Redis, names: string[], ttl?: (name: string) => string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 50) {
    const p = r.pipeline();
    for (const n of names.slice(i, i + 50)) p.set(n, VALUE, ...((ttl?.(n) ?? []) as []));
    for (const [e] of (await p.exec()) ?? []) if (e) throw e;
  }
}

/** Which of `names` exist. */
async function alive(r: Redis, names: string[]): Promise<Set<string>> {
  const p = r.pipeline();
  for (const n of names) p.exists(n);
  const res = (await p.exec()) ?? [];
  return new Set(names.filter((_, i) => res[i][1] === 1));
}

/** True when the names that exist are exactly a suffix of `names` (the most recent ones). */
function isSuffix(names: string[], live: Set<string>): boolean {
  const first = names.findIndex((n) => live.has(n));
  return first >= 0 && names.slice(first).every((n) => live.has(n));
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}:${i}`);

/** Checks the budget as INFO reports it, and returns the number of evicted keys. */
async function withinBudget(r: Redis): Promise<number> {
  const i = await info(r);
  expect(Number(i.used_memory)).toBeGreaterThan(0);
  expect(Number(i.used_memory)).toBeLessThanOrEqual(Number(i.maxmemory));
  return Number(i.evicted_keys);
}

describe('which keys survive, per policy', () => {
  it('allkeys-lru evicts exactly in least-recently-used order; a key read often survives', async () => {
    const { r } = await start(['--maxmemory', '300kb', '--maxmemory-policy', 'allkeys-lru']);
    const names = range('lru', 600);
    await r.set('lru:hot', VALUE);
    for (let i = 0; i < names.length; i += 50) {
      await fill(r, names.slice(i, i + 50));
      expect(await r.get('lru:hot')).toBe(VALUE);
    }
    const live = await alive(r, names);
    expect(live.size).toBeGreaterThan(100);
    expect(live.size).toBeLessThan(300);
    expect(isSuffix(names, live)).toBe(true);
    expect(await r.exists('lru:hot')).toBe(1);
    expect(await withinBudget(r)).toBe(names.length - live.size);
  });

  it('allkeys-lfu evicts the lowest counter first, least recently used among equals', async () => {
    const { r } = await start([
      '--maxmemory',
      '300kb',
      '--maxmemory-policy',
      'allkeys-lfu',
      '--lfu-log-factor',
      '0',
      '--lfu-decay-time',
      '0',
    ]);
    const hot = range('hot', 10);
    await fill(r, hot);
    for (let j = 0; j < 5; j++) for (const h of hot) await r.get(h);
    for (const h of hot) expect(await r.call('OBJECT', 'FREQ', h)).toBe(10);
    const cold = range('cold', 600);
    await fill(r, cold);
    expect((await alive(r, hot)).size).toBe(hot.length); // older than every cold key, but used more
    const live = await alive(r, cold);
    expect(live.size).toBeGreaterThan(100);
    expect(isSuffix(cold, live)).toBe(true);
    await withinBudget(r);
  });

  it('allkeys-random evicts keys of every age', async () => {
    const { r } = await start(['--maxmemory', '300kb', '--maxmemory-policy', 'allkeys-random']);
    const names = range('rnd', 600);
    await fill(r, names);
    const live = await alive(r, names);
    expect(live.size).toBeGreaterThan(100);
    expect(live.size).toBeLessThan(300);
    expect(isSuffix(names, live)).toBe(false);
    expect(await withinBudget(r)).toBe(names.length - live.size);
  });

  it('volatile-lru evicts only keys with a TTL, least recently used first', async () => {
    const { r } = await start(['--maxmemory', '300kb', '--maxmemory-policy', 'volatile-lru']);
    const kept = range('persist', 50);
    await fill(r, kept);
    const names = range('vol', 600);
    await fill(r, names, () => ['EX', '3600']);
    expect((await alive(r, kept)).size).toBe(kept.length);
    const live = await alive(r, names);
    expect(live.size).toBeGreaterThan(50);
    expect(isSuffix(names, live)).toBe(true);
    await withinBudget(r);
  });

  it('volatile-lru samples when the least recently used keys have no TTL (past its walk of the order)', async () => {
    const { r } = await start(['--maxmemory', '400kb', '--maxmemory-policy', 'volatile-lru']);
    const kept = range('persist', 150);
    await fill(r, kept);
    const names = range('vol', 600);
    await fill(r, names, () => ['EX', '3600']);
    expect((await alive(r, kept)).size).toBe(kept.length);
    expect((await alive(r, names)).size).toBeGreaterThan(20);
    await withinBudget(r);
  });

  it('volatile-lfu evicts only keys with a TTL, the rarely used first', async () => {
    const { r } = await start([
      '--maxmemory',
      '300kb',
      '--maxmemory-policy',
      'volatile-lfu',
      '--lfu-log-factor',
      '0',
      '--lfu-decay-time',
      '0',
    ]);
    const kept = range('persist', 30);
    await fill(r, kept);
    const hot = range('hot', 10);
    await fill(r, hot, () => ['EX', '3600']);
    for (let j = 0; j < 10; j++) for (const h of hot) await r.get(h);
    await fill(r, range('vol', 600), () => ['EX', '3600']);
    expect((await alive(r, kept)).size).toBe(kept.length);
    expect((await alive(r, hot)).size).toBe(hot.length);
    await withinBudget(r);
  });

  it('volatile-random evicts only keys with a TTL', async () => {
    const { r } = await start(['--maxmemory', '300kb', '--maxmemory-policy', 'volatile-random']);
    const kept = range('persist', 50);
    await fill(r, kept);
    const names = range('vol', 600);
    await fill(r, names, () => ['EX', '3600']);
    expect((await alive(r, kept)).size).toBe(kept.length);
    expect((await alive(r, names)).size).toBeLessThan(300);
    await withinBudget(r);
  });

  it('volatile-ttl evicts the nearest deadline first, whatever the order the keys were written in', async () => {
    const { r } = await start(['--maxmemory', '300kb', '--maxmemory-policy', 'volatile-ttl']);
    const kept = range('persist', 20);
    await fill(r, kept);
    // Deadlines in an order unrelated to the writes: key i expires in 1000 + ((i * 7919) % 600) seconds.
    const names = range('ttl', 600);
    const ttlOf = (n: string) => 1000 + ((Number(n.split(':')[1]) * 7919) % 600);
    await fill(r, names, (n) => ['EX', String(ttlOf(n))]);
    expect((await alive(r, kept)).size).toBe(kept.length);
    const live = await alive(r, names);
    expect(live.size).toBeGreaterThan(100);
    const liveTtls = names.filter((n) => live.has(n)).map(ttlOf);
    const goneTtls = names.filter((n) => !live.has(n)).map(ttlOf);
    expect(Math.min(...liveTtls)).toBeGreaterThan(Math.max(...goneTtls));
    await withinBudget(r);
  });

  it('noeviction refuses writes past the limit and evicts nothing', async () => {
    const { r } = await start(['--maxmemory', '200kb']);
    let refused: Error | null = null;
    for (let i = 0; i < 1000 && refused === null; i++) {
      try {
        await r.set(`k:${i}`, VALUE);
      } catch (e) {
        refused = e as Error;
      }
    }
    expect(refused?.message).toBe("OOM command not allowed when used memory > 'maxmemory'.");
    const n = await r.dbsize();
    expect(await r.get('k:0')).toBe(VALUE);
    await expect(r.set('another', VALUE)).rejects.toThrow(/^OOM/);
    expect(await r.dbsize()).toBe(n);
    const i = await info(r);
    expect(i.evicted_keys).toBe('0');
    expect(Number(i.used_memory)).toBeGreaterThan(Number(i.maxmemory));
    // Deleting makes room again.
    await r.del('k:0', 'k:1', 'k:2', 'k:3', 'k:4');
    expect(await r.set('another', VALUE)).toBe('OK');
  });

  it('every volatile policy refuses writes (OOM) when no key has a TTL', async () => {
    const { r } = await start(['--maxmemory', '100kb', '--maxmemory-policy', 'volatile-lru']);
    const names = range('p', 100);
    await expect(fill(r, names)).rejects.toThrow(/^OOM/);
    for (const policy of ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl']) {
      await r.config('SET', 'maxmemory-policy', policy);
      await expect(r.set('one-more', VALUE)).rejects.toThrow(/^OOM/);
    }
    expect((await info(r)).evicted_keys).toBe('0');
  });
});

describe('evictions go through the key-change path', () => {
  it('`evicted` events reach subscribers, filtered by what each may read', async () => {
    const { server, r } = await start(['--maxmemory', '200kb', '--maxmemory-policy', 'allkeys-lru']);
    await r.config('SET', 'notify-keyspace-events', 'Ee');
    await r.call('ACL', 'SETUSER', 'limited', 'on', 'nopass', '~allowed:*', '&*', '+@all');
    const all = connect(server);
    const limited = connect(server);
    await limited.call('AUTH', 'limited', 'x');
    const seenAll: string[] = [];
    const seenLimited: string[] = [];
    all.on('message', (_ch, key) => seenAll.push(key));
    limited.on('message', (_ch, key) => seenLimited.push(key));
    await all.subscribe('__keyevent@0__:evicted');
    await limited.subscribe('__keyevent@0__:evicted');
    const names = Array.from({ length: 400 }, (_, i) => `${i % 2 === 0 ? 'allowed' : 'secret'}:${i}`);
    await fill(r, names);
    const evicted = Number((await info(r)).evicted_keys);
    expect(evicted).toBeGreaterThan(100);
    expect(await waitFor(() => seenAll.length === evicted, 10_000)).toBe(true);
    const gone = names.filter((n) => seenAll.includes(n));
    expect(gone.length).toBe(evicted);
    expect((await alive(r, gone)).size).toBe(0);
    const allowedGone = gone.filter((n) => n.startsWith('allowed:'));
    expect(await waitFor(() => seenLimited.length === allowedGone.length, 10_000)).toBe(true);
    expect(seenLimited.sort()).toEqual(allowedGone.sort());
  });

  it('the AOF records each eviction as a DEL: after a restart the same keys exist', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kvws-evict-'));
    dirs.push(dir);
    const args = ['--data-dir', dir, '--appendfsync', 'always', '--save', ''];
    const first = await start([...args, '--maxmemory', '200kb', '--maxmemory-policy', 'allkeys-lru']);
    const names = range('aof', 400);
    await fill(first.r, names);
    await first.r.del('aof:399');
    const before = (await first.r.keys('*')).sort();
    const evicted = Number((await info(first.r)).evicted_keys);
    expect(evicted).toBeGreaterThan(100);
    first.r.disconnect();
    await first.server.stop();

    const aofDir = path.join(dir, 'appendonlydir');
    const text = readdirSync(aofDir)
      .filter((f) => f.endsWith('.incr.aof'))
      .map((f) => readFileSync(path.join(aofDir, f), 'latin1'))
      .join('');
    // Evictions, and the client's own DEL (ioredis sends it as `del`).
    expect(text.match(/\*2\r\n\$3\r\nDEL\r\n/gi)?.length).toBe(evicted + 1);

    // Started again without a limit, so that nothing is evicted while it loads.
    const second = await start(args);
    expect((await second.r.keys('*')).sort()).toEqual(before);
  });
});

describe('the budget', () => {
  it('INFO used_memory stays within maxmemory under a mix of types; the peak exceeds it by at most one command', async () => {
    const { r } = await start(['--maxmemory', '400kb', '--maxmemory-policy', 'allkeys-lru']);
    for (let round = 0; round < 40; round++) {
      const p = r.pipeline();
      for (let i = 0; i < 10; i++) {
        const id = `${round}:${i}`;
        p.set(`s:${id}`, VALUE);
        p.hset(`h:${id}`, ...Array.from({ length: 20 }, (_, f) => [`f${f}`, 'x'.repeat(50)]).flat());
        p.rpush(`l:${id}`, ...Array.from({ length: 20 }, (_, e) => `element-${e}`));
        p.sadd(`set:${id}`, ...Array.from({ length: 20 }, (_, e) => `member-${e}`));
        p.zadd(`z:${id}`, ...Array.from({ length: 20 }, (_, e) => [String(e + 0.5), `m-${e}`]).flat());
        p.append(`s:${id}`, VALUE);
      }
      for (const [e] of (await p.exec()) ?? []) if (e) throw e;
      await withinBudget(r);
    }
    const i = await info(r);
    expect(Number(i.evicted_keys)).toBeGreaterThan(500);
    // The peak is over the limit by one command at most: its own bytes (under 8 KB for the largest here, a
    // 20-field HSET of a new key) and, when it adds a key, a doubling of the key tables (56 bytes a slot,
    // fewer than 2 slots a key before one).
    const keys = await r.dbsize();
    expect(Number(i.used_memory_peak)).toBeLessThanOrEqual(Number(i.maxmemory) + 8 * 1024 + 2 * 56 * keys);
    // What the accounting says the keys take: the sum of the parts INFO shows.
    expect(Number(i.used_memory_dataset) + Number(i.used_memory_overhead)).toBe(Number(i.used_memory));
  });

  it('CONFIG SET maxmemory below the usage evicts in the background, a tenacity-bounded round per turn', async () => {
    const { r } = await start(['--maxmemory-policy', 'allkeys-lru', '--maxmemory-eviction-tenacity', '0']);
    await fill(r, range('bg', 2000));
    const used = Number((await info(r)).used_memory);
    expect(used).toBeGreaterThan(2_000_000);
    expect(await r.config('SET', 'maxmemory', '500kb')).toBe('OK');
    // Each round evicts 16 keys (tenacity 0) and the rest follows in the background, commands or not.
    expect(await waitFor(async () => Number((await info(r)).used_memory) <= 500 * 1024, 10_000)).toBe(true);
    const i = await info(r);
    expect(Number(i.evicted_keys)).toBeGreaterThan(1000);
    expect(Number(i.total_eviction_exceeded_time)).toBeGreaterThanOrEqual(0);
    expect(i.current_eviction_exceeded_time).toBe('0');
  });
});

describe('configuration', () => {
  it('--maxmemory takes Redis units; INFO memory shows the limit and the policy', async () => {
    const { r } = await start(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lfu']);
    expect(await r.config('GET', 'maxmemory')).toEqual(['maxmemory', String(100 * 1024 * 1024)]);
    const i = await info(r);
    expect(i.maxmemory).toBe(String(100 * 1024 * 1024));
    expect(i.maxmemory_human).toBe('100.00M');
    expect(i.maxmemory_policy).toBe('allkeys-lfu');
  });

  it('the default configuration tracks no key (no per-key cost); a policy or a limit starts tracking every key', async () => {
    const { r } = await start([]);
    await r.set('t:a', 'v');
    expect(await r.call('OBJECT', 'IDLETIME', 't:a').catch((e: Error) => e.message)).toMatch(
      /^ERR access times are not tracked/,
    );
    // INFO still answers (the process heap stands in for the dataset).
    expect(Number((await info(r)).used_memory)).toBeGreaterThan(0);
    await r.config('SET', 'maxmemory-policy', 'allkeys-lru');
    expect(await r.call('OBJECT', 'IDLETIME', 't:a')).toBe(0);
    // Accounted again: a key of 1,000 bytes is counted once tracking is on.
    const before = Number((await info(r)).used_memory);
    await r.set('t:b', VALUE);
    expect(Number((await info(r)).used_memory) - before).toBeGreaterThanOrEqual(1000);
    await r.config('SET', 'maxmemory-policy', 'noeviction');
    expect(await r.call('OBJECT', 'IDLETIME', 't:a').catch((e: Error) => e.message)).toMatch(/not tracked/);
    await r.config('SET', 'maxmemory', '100mb');
    expect(await r.call('OBJECT', 'IDLETIME', 't:a')).toBe(0);
  });

  it('switching between LRU and LFU policies keeps every key tracked: counters start at 5, idle times carry over', async () => {
    const { server, r } = await start(['--maxmemory-policy', 'allkeys-lru']);
    await r.set('a', '1');
    await r.set('b', '2');
    await r.config('SET', 'maxmemory-policy', 'allkeys-lfu', 'lfu-log-factor', '0');
    expect(await r.call('OBJECT', 'FREQ', 'a')).toBe(5);
    await r.get('a');
    expect(await r.call('OBJECT', 'FREQ', 'a')).toBe(6);
    await r.config('SET', 'maxmemory-policy', 'volatile-lru');
    expect(await r.call('OBJECT', 'IDLETIME', 'b')).toBeGreaterThanOrEqual(0);
    // Back in LRU order (by last access): b was used last before a, so b goes first.
    await r.config('SET', 'notify-keyspace-events', 'Ee');
    const sub = connect(server);
    const order: string[] = [];
    sub.on('message', (_ch, key) => order.push(key));
    await sub.subscribe('__keyevent@0__:evicted');
    await r.config('SET', 'maxmemory-policy', 'allkeys-lru', 'maxmemory', '1');
    await r.ping();
    expect(await r.dbsize()).toBe(0);
    expect(await waitFor(() => order.length === 2, 5000)).toBe(true);
    expect(order).toEqual(['b', 'a']);
  });

  it('--maxmemory with the Redis engine stops start-up: Redis evicts', async () => {
    const child = spawn(
      process.execPath,
      [KVWS_BIN, 'serve', '--engine', 'redis://127.0.0.1:1', '--maxmemory', '1mb', '--resp-port', '0', '--port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(out).toContain('the Redis engine (--engine) does not evict');
  });
});
