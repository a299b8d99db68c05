import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { aofArgs, digest, infoField, killHard, TestResources } from '../helpers/persistence.js';
import type { RunningServer } from '../helpers/server.js';
import { sleep, waitBlocked } from '../helpers/wait.js';

// Streams in the append-only file and its rewrites (issue 13): entries, tombstones and node layout, consumer
// groups with their pending entries, delivery times and counters, consumers' seen-times, read counters —
// everything XINFO STREAM FULL shows must be the same after a restart from the AOF, after a BGREWRITEAOF
// (the snapshot base), and after a rewrite taken while clients keep reading and writing streams.

const res = new TestResources();
afterAll(() => res.release());

/** BGREWRITEAOF, then waits (at most 30 s) until no rewrite is in progress. */
async function rewrite(r: Redis): Promise<void> {
  expect(await r.bgrewriteaof()).toBe('Background append only file rewriting started');
  const deadline = Date.now() + 30_000;
  while (infoField(await r.info('persistence'), 'aof_rewrite_in_progress') !== '0') {
    if (Date.now() > deadline) throw new Error('the rewrite did not finish in 30 s');
    await sleep(20);
  }
}

/** Restarts `server` (SIGKILL: with appendfsync always every acknowledged write is on disk) on `args`. */
async function restart(server: RunningServer, args: string[]): Promise<{ server: RunningServer; r: Redis }> {
  await killHard(server);
  const s = await res.start(args);
  return { server: s, r: res.client(s) };
}

/**
 * Streams with everything a stream can hold: several nodes, tombstones, approximate trims, auto IDs, the
 * largest IDs, groups read with and without NOACK, history reads, acknowledgements, claims, an XAUTOCLAIM
 * that meets deleted entries, a blocked XREADGROUP served later, a transaction, XSETID.
 */
async function workload(server: RunningServer, r: Redis, tag: string): Promise<void> {
  const big = `${tag}:big`;
  const small = `${tag}:small`;
  const p = r.pipeline();
  for (let i = 0; i < 3000; i++) p.xadd(big, '*', 'f', String(i), 'g', 'x'.repeat(i % 40));
  await p.exec();
  const ids = (await r.xrange(big, '-', '+', 'COUNT', 50)).map((e) => e[0]);
  await r.xdel(big, ids[3], ids[4], ids[40]);
  await r.xtrim(big, 'MAXLEN', '~', 2950);
  await r.call('XADD', big, 'MAXLEN', '~', '2500', 'LIMIT', '300', '*', 'a', 'b');
  await r.xadd(big, 'MINID', '=', ids[45], '*', 'c', 'd');
  await r.xgroup('CREATE', big, 'g1', '0');
  await r.xgroup('CREATE', big, 'g2', '$');
  await r.call('XGROUP', 'CREATE', big, 'g3', '0', 'ENTRIESREAD', '10');
  await r.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', 10, 'STREAMS', big, '>');
  const bob = (await r.xreadgroup('GROUP', 'g1', 'bob', 'COUNT', 5, 'STREAMS', big, '>')) as [string, [string][]][];
  await r.xreadgroup('GROUP', 'g1', 'carol', 'NOACK', 'COUNT', 3, 'STREAMS', big, '>');
  await r.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', 4, 'STREAMS', big, '0');
  const alice = (await r.xpending(big, 'g1', '-', '+', 10, 'alice')) as string[][];
  await r.xack(big, 'g1', alice[0][0], alice[1][0]);
  await r.xclaim(big, 'g1', 'dave', 0, alice[2][0], alice[3][0], 'IDLE', 5000, 'RETRYCOUNT', 4);
  await r.xdel(big, bob[0][1][1][0]);
  await r.xautoclaim(big, 'g1', 'erin', 0, '0', 'COUNT', 8);
  await r.call('XGROUP', 'CREATECONSUMER', big, 'g2', 'frank');
  await r.call('XGROUP', 'DELCONSUMER', big, 'g1', 'carol');
  await r.call('XGROUP', 'SETID', big, 'g3', ids[20], 'ENTRIESREAD', '42');

  await r.xgroup('CREATE', small, 'g', '$', 'MKSTREAM');
  const blocked = res.client(server);
  const served = blocked.xreadgroup('GROUP', 'g', 'gina', 'BLOCK', 0, 'STREAMS', small, '>');
  await waitBlocked(r, 1);
  await r.xadd(small, '5-1', 'x', '1');
  expect(await served).toEqual([[small, [['5-1', ['x', '1']]]]]);
  const noack = res.client(server);
  const servedNoack = noack.xreadgroup('GROUP', 'g', 'hank', 'NOACK', 'BLOCK', 0, 'STREAMS', small, '>');
  await waitBlocked(r, 1);
  await r.xadd(small, '6-1', 'y', '2');
  expect(await servedNoack).toEqual([[small, [['6-1', ['y', '2']]]]]);
  await r
    .multi()
    .xadd(small, '7-1', 'z', '3')
    .xreadgroup('GROUP', 'g', 'ivan', 'STREAMS', small, '>')
    .xack(small, 'g', '5-1')
    .exec();
  await r.call('XSETID', small, '9-9', 'ENTRIESADDED', '12', 'MAXDELETEDID', '8-0');
  await r.xadd(`${tag}:max`, '18446744073709551615-18446744073709551614', 'a', '1');
  await r.xgroup('CREATE', `${tag}:empty`, 'g', '$', 'MKSTREAM');
}

describe('streams in the AOF', () => {
  it('come back the same after a restart, after a rewrite, and after a restart from the rewrite', async () => {
    const { data } = res.workDir('kvws-stream-aof-');
    const args = aofArgs(data, 'always', { autoRewrite: false });
    let server = await res.start(args);
    let r = res.client(server);
    await workload(server, r, 'one');
    const before = await digest(server.port);
    expect(Object.keys(before).length).toBe(4);
    expect(((before['0/one:big'] as { value: unknown[] }).value as unknown[]).length).toBe(18);

    ({ server, r } = await restart(server, args));
    expect(await digest(server.port)).toEqual(before);

    await rewrite(r);
    expect(await digest(server.port)).toEqual(before);
    ({ server, r } = await restart(server, args));
    expect(await digest(server.port)).toEqual(before);

    // Records after the rewrite's base replay on top of it.
    await workload(server, r, 'two');
    const both = await digest(server.port);
    ({ server, r } = await restart(server, args));
    expect(await digest(server.port)).toEqual(both);
  });

  it('a rewrite taken while clients add, read and acknowledge keeps every change', async () => {
    const { data } = res.workDir('kvws-stream-rewrite-');
    const args = aofArgs(data, 'always', { autoRewrite: false });
    let server = await res.start(args);
    let r = res.client(server);
    const key = 'busy';
    const p = r.pipeline();
    for (let i = 0; i < 20_000; i++) p.xadd(key, `${i + 1}-0`, 'n', String(i), 'pad', 'x'.repeat(20));
    await p.exec();
    await r.xgroup('CREATE', key, 'g', '0');
    await r.xreadgroup('GROUP', 'g', 'c0', 'COUNT', 5000, 'STREAMS', key, '>');
    expect(await r.bgrewriteaof()).toBe('Background append only file rewriting started');
    let rounds = 0;
    let next = 20_001;
    while (infoField(await r.info('persistence'), 'aof_rewrite_in_progress') !== '0' || rounds < 3) {
      rounds++;
      await r.xadd(key, `${next++}-0`, 'n', 'during');
      await r.xreadgroup('GROUP', 'g', `c${rounds % 3}`, 'COUNT', 7, 'STREAMS', key, '>');
      await r.xack(key, 'g', `${rounds * 3}-0`, `${rounds * 3 + 1}-0`);
      await r.xdel(key, `${rounds * 5 + 2}-0`);
      if (rounds > 5000) throw new Error('the rewrite did not finish');
    }
    const before = await digest(server.port);
    ({ server, r } = await restart(server, args));
    expect(await digest(server.port)).toEqual(before);
  });
});
