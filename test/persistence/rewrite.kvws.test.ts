import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { aofArgs, killHard, TestResources } from '../helpers/persistence.js';
import { sleep } from '../helpers/wait.js';
import { Acknowledged, startWriter } from './writer.mjs';

// AOF rewrites (BGREWRITEAOF) under write load (issue 7). kvws has no fork: the rewrite takes its snapshot
// in 2 ms slices between clients' commands (snapshot-job.ts) and switches to a new incremental file at the
// cut. Whatever clients do meanwhile must end up in the new base or the new incremental file: after a
// SIGKILL and restart every acknowledged write is there, nothing removed comes back, and the directory
// holds one base and one incremental file.

const res = new TestResources();
afterAll(() => res.release());

/** A work directory: `data/` for kvws, the writer's records next to it. */
const workDir = () => res.workDir('kvws-rewrite-');

async function persistence(r: Redis): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await r.info('persistence')).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** BGREWRITEAOF, then waits (at most `ms`) until no rewrite is in progress; returns how long it took. */
async function rewriteAndWait(r: Redis, ms = 30_000): Promise<number> {
  const t0 = Date.now();
  expect(await r.bgrewriteaof()).toBe('Background append only file rewriting started');
  while ((await persistence(r)).aof_rewrite_in_progress !== '0') {
    if (Date.now() - t0 > ms) throw new Error(`the rewrite did not finish in ${ms} ms`);
    await sleep(20);
  }
  return Date.now() - t0;
}

/** The manifest's lines as {name, type}, and the files present in the AOF directory. */
function aofDir(data: string): { manifest: { name: string; type: string }[]; files: string[] } {
  const dir = path.join(data, 'appendonlydir');
  const manifest = readFileSync(path.join(dir, 'appendonly.aof.manifest'), 'latin1')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const p = l.trim().split(/\s+/);
      return { name: p[1], type: p[5] };
    });
  return { manifest, files: readdirSync(dir).sort() };
}

/**
 * One base and one incremental file, exactly the AOF files of the directory besides the manifest (the
 * event log's `events.*` files live there too).
 */
function expectCompactLayout(data: string): void {
  const { manifest, files: all } = aofDir(data);
  const files = all.filter((f) => !f.startsWith('events.'));
  expect(manifest.map((f) => f.type)).toEqual(['b', 'i']);
  expect(manifest[0].name).toMatch(/^appendonly\.aof\.\d+\.base\.kvws$/);
  expect(manifest[1].name).toMatch(/^appendonly\.aof\.\d+\.incr\.aof$/);
  expect(files).toEqual([...manifest.map((f) => f.name), 'appendonly.aof.manifest'].sort());
}

/**
 * A kvws with the AOF on (`appendfsync`, no automatic rewrites) in a fresh work directory, and a client on it
 * that filled it with `n` keys (fill); `args` restart it on the same data.
 */
async function filled(appendfsync: 'always' | 'everysec', n: number) {
  const dirs = workDir();
  const args = aofArgs(dirs.data, appendfsync, { autoRewrite: false });
  const server = await res.start(args);
  const r = res.client(server);
  await fill(r, n);
  return { dirs, args, server, r };
}

/** Fills database 0 with `n` string keys `fill:i` = `value-i` (MSET, 1000 keys per command). */
async function fill(r: Redis, n: number): Promise<void> {
  for (let i = 0; i < n; i += 20_000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(n, i + 20_000); j += 1000) {
      const args: string[] = [];
      for (let k = j; k < Math.min(n, j + 1000); k++) args.push(`fill:${k}`, `value-${k}`);
      p.mset(...args);
    }
    for (const [err] of (await p.exec()) ?? []) expect(err).toBeNull();
  }
}

/**
 * Changes big collections (a hash, a set, a sorted set and a list, each encoded by the snapshot in several
 * pieces) from this process until `stop()`, one pipelined batch at a time, and records what was
 * acknowledged: `check` then compares a server with that.
 */
function collectionLoad(r: Redis) {
  let stopped = false;
  let acknowledged = 0;
  let removedUpTo = -1;
  const run = (async () => {
    for (let i = 0; !stopped && i < 1_000_000; i += 50) {
      const p = r.pipeline();
      for (let j = i; j < i + 50; j++) {
        p.hset('big:hash', `f${j}`, `v${j}`);
        p.sadd('big:set', `m${j}`);
        p.zadd('big:zset', j, `m${j}`);
        p.rpush('big:list', String(j));
      }
      // Removals too: what was removed must not come back from an older snapshot piece.
      if (i >= 5000) p.hdel('big:hash', ...Array.from({ length: 50 }, (_, k) => `f${i - 5000 + k}`));
      for (const [err] of (await p.exec()) ?? []) if (err) throw err;
      acknowledged = i + 50;
      if (i >= 5000) removedUpTo = i - 5000 + 49;
    }
  })();
  return {
    async stop(): Promise<void> {
      stopped = true;
      await run;
    },
    get acknowledged() {
      return acknowledged;
    },
    /** Differences between the server behind `c` and what was acknowledged (empty when it matches). */
    async check(c: Redis): Promise<string[]> {
      const problems: string[] = [];
      const n = acknowledged;
      const hash = await c.hgetall('big:hash');
      for (let j = removedUpTo + 1; j < n; j++)
        if (hash[`f${j}`] !== `v${j}`) problems.push(`big:hash f${j} is ${hash[`f${j}`]}`);
      for (let j = 0; j <= removedUpTo; j++) if (`f${j}` in hash) problems.push(`big:hash f${j} came back`);
      const members = new Set(await c.smembers('big:set'));
      for (let j = 0; j < n; j++) if (!members.has(`m${j}`)) problems.push(`big:set lacks m${j}`);
      const zcard = await c.zcard('big:zset');
      if (zcard < n) problems.push(`big:zset has ${zcard} members, ${n} acknowledged`);
      const z = await c.zrange('big:zset', 0, n - 1, 'WITHSCORES');
      for (let j = 0; j < n; j++)
        if (z[2 * j] !== `m${j}` || z[2 * j + 1] !== String(j)) problems.push(`big:zset rank ${j} is ${z[2 * j]}`);
      const list = await c.lrange('big:list', 0, -1);
      if (list.length < n) problems.push(`big:list has ${list.length} elements, ${n} acknowledged`);
      list.forEach((v, j) => {
        if (v !== String(j)) problems.push(`big:list[${j}] is ${v}`);
      });
      return problems.slice(0, 20);
    },
  };
}

describe('BGREWRITEAOF under write load', () => {
  it('keeps every acknowledged write through several rewrites, a SIGKILL and a restart', async () => {
    const { dirs, args, server, r } = await filled('everysec', 50_000);
    const acked = new Acknowledged();
    for (let i = 0; i < 50_000; i++) acked.keys.set(`fill:${i}`, `value-${i}`);

    const out = path.join(dirs.work, 'acks');
    const w = res.writer(startWriter({ port: server.port, out, round: 0, maxMs: 60_000 }));
    await w.started(256);
    const load = collectionLoad(res.client(server));
    const REWRITES = 4;
    const times: number[] = [];
    for (let i = 0; i < REWRITES; i++) {
      times.push(await rewriteAndWait(r));
      const p = await persistence(r);
      expect(p.aof_last_bgrewrite_status).toBe('ok');
      expect(Number(p.aof_rewrites)).toBe(i + 1);
      await sleep(100 + Math.floor(Math.random() * 300)); // writes go to the new incremental file meanwhile
    }
    await load.stop();
    expectCompactLayout(dirs.data);
    expect(server.output().match(/kvws: AOF rewrite done/g)?.length).toBe(REWRITES);

    await killHard(server);
    const { code, stdout } = await w.done;
    expect(code, stdout).toBe(0);
    acked.addRound(out, 0);
    expect(acked.errors).toEqual([]);
    expect(acked.count).toBeGreaterThan(0);

    const again = await res.start(args);
    expect(again.output()).toMatch(/kvws: loading AOF base appendonly\.aof\.\d+\.base\.kvws/);
    const c = res.client(again);
    expect(await acked.check(c)).toEqual([]);
    expect(await load.check(c)).toEqual([]);
    expect((await persistence(c)).aof_rewrites).toBe('0'); // counted per process, as Redis
    expectCompactLayout(dirs.data);
    console.log(
      `rewrites took ${times.join(', ')} ms under load; ${acked.count} acknowledged replies from the writer, ` +
        `${load.acknowledged} collection updates`,
    );
    await again.stop();
  }, 120_000);

  it('pauses clients briefly while rewriting 200k keys (longest pause < 50 ms)', async () => {
    const { server, r } = await filled('everysec', 200_000);
    const probe = res.client(server);

    /** GETs one after another until `until()` (bounded to 60 s); returns their latencies (ms), sorted. */
    const gets = async (until: () => boolean): Promise<number[]> => {
      const out: number[] = [];
      const t0 = Date.now();
      for (let i = 0; !until() && Date.now() - t0 < 60_000; i++) {
        const k = (i * 7919) % 200_000;
        const t = performance.now();
        expect(await probe.get(`fill:${k}`)).toBe(`value-${k}`);
        out.push(performance.now() - t);
      }
      return out.sort((a, b) => a - b);
    };
    const summary = (l: number[]) => {
      const at = (q: number) => l[Math.min(l.length - 1, Math.floor(q * l.length))]?.toFixed(2);
      return `${l.length} GETs, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
    };
    // For comparison: the same GETs with no rewrite running (this machine's noise).
    const quietUntil = Date.now() + 500;
    const quiet = await gets(() => Date.now() > quietUntil);

    const t0 = Date.now();
    expect(await r.bgrewriteaof()).toBe('Background append only file rewriting started');
    let done = false;
    const watch = (async () => {
      while (!done && Date.now() - t0 < 60_000) {
        done = (await persistence(r)).aof_rewrite_in_progress === '0';
        if (!done) await sleep(10);
      }
    })();
    const during = await gets(() => done);
    await watch;
    const took = Date.now() - t0;
    expect(done, 'the rewrite finished within 60 s').toBe(true);
    const p = await persistence(r);
    expect(p.aof_last_bgrewrite_status).toBe('ok');
    const pause = Number(p.aof_last_rewrite_longest_pause_ms);
    console.log(
      `rewrite of 200k keys took ${took} ms; during it: ${summary(during)}; without a rewrite: ${summary(quiet)}; ` +
        `aof_last_rewrite_longest_pause_ms ${pause}`,
    );
    expect(during.length).toBeGreaterThan(0); // clients were served while the rewrite ran
    expect(pause).toBeGreaterThan(0);
    expect(pause).toBeLessThan(50);
    await server.stop();
  }, 120_000);

  it('FLUSHALL during a rewrite: the rewrite starts again, completes, and flushed keys stay gone', async () => {
    const { dirs, args, server, r } = await filled('always', 200_000);

    expect(await r.bgrewriteaof()).toBe('Background append only file rewriting started');
    expect((await persistence(r)).aof_rewrite_in_progress).toBe('1');
    expect(await r.flushall()).toBe('OK');
    const p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`after:${i}`, `v${i}`);
    await p.exec();
    const deadline = Date.now() + 30_000;
    while ((await persistence(r)).aof_rewrite_in_progress !== '0' && Date.now() < deadline) await sleep(20);
    const info = await persistence(r);
    expect(info.aof_rewrite_in_progress).toBe('0');
    expect(info.aof_last_bgrewrite_status).toBe('ok');
    expect(info.aof_rewrites).toBe('1');
    expect(server.output()).toMatch(/kvws: AOF rewrite restarted: FLUSH(ALL|DB) while the snapshot was being taken/);
    expectCompactLayout(dirs.data);

    await killHard(server);
    const again = await res.start(args);
    const c = res.client(again);
    expect(await c.dbsize()).toBe(1000);
    expect(await c.get('after:999')).toBe('v999');
    expect(await c.exists('fill:0', 'fill:199999')).toBe(0);
    await again.stop();
  }, 120_000);
});
