// kvws as a gateway in front of a Sentinel-managed master (`--engine redis-sentinel://s1,s2,s3/mymaster`):
// 1 master, 2 replicas, 3 sentinels (down-after-milliseconds 1000). Two clients write through kvws in
// bounded loops, one key per write (ioredis on the RESP port, @kvws/client over the WebSocket), while an
// ioredis subscriber on kvws watches the keyspace events of those keys. The master is SIGKILLed: the
// gateway goes on serving once the sentinels have promoted a replica, the subscriber gets the events of
// the writes made after the failover, no client reconnects. Then the new master is SIGSTOPped (a
// partition): the sentinels fail over again and kvws follows (ioredis's failoverDetector); SIGCONTed, it
// comes back as a replica and kvws keeps serving. The errors clients saw in each window are printed.
// kvws-only.

import { connectWs, type WsClient } from '@kvws/client/ws';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SentinelHandle, startSentinelSetup } from '../helpers/redis-topology.js';
import { freePort, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';

const DOWN_AFTER_MS = 1000;
/** kvws's --engine-timeout: longer than a failover takes here, so commands wait through it. */
const ENGINE_TIMEOUT_MS = 15_000;
/** How much longer than the sentinels' failover the gateway may take to serve again (a generous bound). */
const RESUME_SLACK_MS = 10_000;
const KEYSPACE = '__keyspace@0__:';

/** One write through kvws: its key, when it was issued and settled (ms since the epoch), its error. */
interface Op {
  writer: string;
  key: string;
  issued: number;
  done: number;
  error?: string;
}

interface Writer {
  readonly name: string;
  readonly ops: Op[];
  /** Ends the loop after the write in flight; resolves once it has. */
  stop(): Promise<void>;
}

/** Writes `w:<name>:<i>` = i through `write`, one at a time, every 25 ms, until stopped (at most 20 000). */
function startWriter(name: string, write: (key: string, value: string) => Promise<unknown>): Writer {
  const ops: Op[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running && i < 20_000; i++) {
      const op: Op = { writer: name, key: `w:${name}:${i}`, issued: Date.now(), done: 0 };
      try {
        await write(op.key, String(i));
      } catch (e) {
        op.error = (e as Error).message;
      }
      op.done = Date.now();
      ops.push(op);
      await sleep(25);
    }
  })();
  return {
    name,
    ops,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

let setup: SentinelHandle;
let server: RunningServer;
let writer: Redis;
let subscriber: Redis;
let ws: WsClient;
let writers: Writer[] = [];
/** Arrival time of the `set` keyspace event of each written key. */
const seen = new Map<string, number>();
const wsStates: string[] = [];
let closes = 0;

beforeAll(async () => {
  const t0 = Date.now();
  setup = await startSentinelSetup({ replicas: 2, sentinels: 3, downAfterMs: DOWN_AFTER_MS });
  const sentinels = setup.sentinelAddrs().map((s) => `${s.host}:${s.port}`);
  server = await startKvws([
    ...['--engine', `redis-sentinel://${sentinels.join(',')}/${setup.masterName}`],
    ...['--engine-timeout', String(ENGINE_TIMEOUT_MS), '--notify-keyspace-events', 'KEA'],
    ...['--port', String(await freePort()), '--no-tls'],
  ]);
  console.log(`[gateway/sentinel] setup and gateway up in ${Date.now() - t0} ms`);
  // No reconnects: a client that lost its connection to kvws would fail its next command.
  writer = redisClient(server);
  subscriber = redisClient(server);
  for (const c of [writer, subscriber]) {
    c.on('error', () => {});
    c.on('close', () => closes++);
  }
  subscriber.on('pmessage', (_p: string, channel: string, message: string) => {
    const key = channel.slice(KEYSPACE.length);
    if (message === 'set' && !seen.has(key)) seen.set(key, Date.now());
  });
  await subscriber.psubscribe(`${KEYSPACE}w:*`);
  ws = connectWs(wsUrl(server), { WebSocket, timeout: ENGINE_TIMEOUT_MS + 10_000 });
  expect(await ws.call('PING')).toBe('PONG');
  ws.transport.on('state', (s) => wsStates.push(s.newState));
}, 120_000);

afterAll(async () => {
  await Promise.all(writers.map((w) => w.stop()));
  await ws?.close();
  writer?.disconnect();
  subscriber?.disconnect();
  await server?.stop();
  await setup?.stop();
});

/** Every op of every writer, in issue order. */
const allOps = (): Op[] => writers.flatMap((w) => w.ops).sort((a, b) => a.issued - b.issued);

/**
 * Prints what the clients saw from `t0` (the fault) on: per writer, when it served again, the longest
 * stall, and the errors (message, count, first and last time after t0). Returns the ops settled since t0.
 */
function report(label: string, t0: number, note: string): Op[] {
  const ops = allOps().filter((o) => o.done >= t0);
  const lines = [`[gateway/sentinel] ${label}: ${note}`];
  for (const w of writers) {
    const mine = ops.filter((o) => o.writer === w.name);
    const resumed = mine.find((o) => o.issued >= t0 && !o.error);
    const stall = Math.max(0, ...mine.map((o) => o.done - o.issued));
    lines.push(
      `  ${w.name}: ${mine.length} writes, served again ${resumed ? resumed.done - t0 : '(never)'} ms after the fault, longest wait ${stall} ms`,
    );
  }
  const errors = new Map<string, { n: number; first: number; last: number }>();
  for (const o of ops) {
    if (!o.error) continue;
    const k = `${o.writer}: ${o.error}`;
    const e = errors.get(k) ?? { n: 0, first: o.done - t0, last: 0 };
    e.n++;
    e.last = o.done - t0;
    errors.set(k, e);
  }
  if (errors.size === 0) lines.push('  errors: none');
  for (const [m, e] of errors) lines.push(`  error ×${e.n} (+${e.first}…+${e.last} ms): ${m}`);
  console.log(lines.join('\n'));
  return ops;
}

/**
 * Checks the fault window starting at `t0`, the sentinels' failover done at `failedOver`: no write failed;
 * every writer served again within the failover plus RESUME_SLACK_MS; events came back for writes issued
 * after the failover, and from the first of those on, no write lacks its event.
 */
async function checkWindow(label: string, t0: number, failedOver: number): Promise<void> {
  // Let the writers go on long enough after the failover to see both things.
  const writesAfter = () => allOps().filter((o) => o.issued > failedOver && !o.error);
  expect(await waitFor(() => writesAfter().length >= 40, 20_000), `${label}: writes after the failover`).toBe(true);
  const ops = report(label, t0, `sentinels failed over in ${failedOver - t0} ms`);
  // Commands wait through a failover shorter than --engine-timeout: no client sees an error.
  expect(ops.filter((o) => o.error).map((o) => `${o.key}: ${o.error}`)).toEqual([]);
  for (const w of writers) {
    const resumed = ops.find((o) => o.writer === w.name && o.issued >= t0 && !o.error);
    expect(resumed, `${label}: ${w.name} served again`).toBeDefined();
    expect(resumed!.done - t0, `${label}: ${w.name} served again within the failover + slack`).toBeLessThan(
      failedOver - t0 + RESUME_SLACK_MS,
    );
  }
  // Events: wait for those of the writes made so far, then look for the first one after the failover.
  const after = writesAfter();
  await waitFor(() => after.every((o) => seen.has(o.key)), 5000);
  const first = after.findIndex((o) => seen.has(o.key));
  if (first < 0) {
    // What kvws knew: its engine figures and its log about Redis (a failed widening of notify-keyspace-events).
    const info = (await writer.info('engine')).split('\r\n').filter((l) => l.startsWith('engine_'));
    const log = server
      .output()
      .split('\n')
      .filter((l) => /Redis|engine/i.test(l))
      .slice(-20);
    console.log(`[gateway/sentinel] ${label}: no events\n  ${info.join(', ')}\n  ${log.join('\n  ')}`);
  }
  expect(first, `${label}: no event for any of ${after.length} writes after the failover`).toBeGreaterThanOrEqual(0);
  const gap = allOps().filter((o) => o.issued >= t0 && o.issued < after[first].issued && !o.error && !seen.has(o.key));
  console.log(
    `[gateway/sentinel] ${label}: events back for writes issued ${after[first].issued - failedOver} ms after the failover; ${gap.length} writes of the window had no event (the documented gap)`,
  );
  expect(after[first].issued - failedOver).toBeLessThan(RESUME_SLACK_MS);
  const missing = after.slice(first).filter((o) => !seen.has(o.key));
  expect(missing.map((o) => o.key)).toEqual([]);
}

describe('kvws in front of Sentinel: 1 master, 2 replicas, 3 sentinels', () => {
  it('serves writes and keyspace events through the master the sentinels name', async () => {
    expect(await writer.set('hello', 'sentinel')).toBe('OK');
    const master = await setup.master();
    expect(master).toBe(setup.nodes[0]);
    expect(await master.call('GET', 'hello')).toBe('sentinel');
    expect(await ws.get('hello')).toBe('sentinel');
    writers = [startWriter('resp', (k, v) => writer.set(k, v)), startWriter('ws', (k, v) => ws.set(k, v))];
    expect(await waitFor(() => allOps().length >= 20, 10_000)).toBe(true);
    const ok = allOps().filter((o) => !o.error);
    await waitFor(() => ok.every((o) => seen.has(o.key)), 5000);
    expect(allOps().filter((o) => o.error)).toEqual([]);
    expect(ok.filter((o) => !seen.has(o.key)).map((o) => o.key)).toEqual([]);
  });

  it("WAIT through kvws counts the master's replicas that have the session's writes", async () => {
    expect(await writer.set('wait:k', 'v')).toBe('OK');
    const t0 = Date.now();
    // kvws has the master ask its replicas for their offsets at once (REPLCONF GETACK), so WAIT does not
    // wait for their once-a-second reports.
    expect(await writer.call('WAIT', '2', '5000')).toBe(2);
    expect(Date.now() - t0).toBeLessThan(900);
    // More replicas than there are: the count after the timeout.
    expect(await writer.call('WAIT', '3', '300')).toBe(2);
  });

  it('the master is SIGKILLed: kvws serves again once a replica is promoted, events included', async () => {
    // Writes go on meanwhile, so the replicas may lag by a few: Redis replication is asynchronous, and
    // acknowledged writes not yet replicated are lost with the master (docs/scaling.md). Not checked here.
    const old = await setup.master();
    const t0 = Date.now();
    old.kill('SIGKILL');
    const promoted = await setup.waitForFailover(old, 30_000);
    const failedOver = Date.now();
    expect(promoted).not.toBe(old);
    await checkWindow('SIGKILL of the master', t0, failedOver);
    // The data written through kvws after the failover is on the promoted master.
    const last = allOps()
      .filter((o) => !o.error && o.writer === 'resp')
      .at(-1)!;
    expect(await promoted.call('EXISTS', last.key)).toBe(1);
  }, 60_000);

  it('the new master is SIGSTOPped (a partition): kvws follows the second failover; SIGCONTed, it becomes a replica', async () => {
    const paused = await setup.master();
    const t0 = Date.now();
    paused.kill('SIGSTOP');
    let promoted: Awaited<ReturnType<SentinelHandle['master']>>;
    try {
      promoted = await setup.waitForFailover(paused, 40_000);
    } catch (e) {
      paused.kill('SIGCONT');
      throw e;
    }
    const failedOver = Date.now();
    expect(promoted).not.toBe(paused);
    await checkWindow('SIGSTOP of the new master', t0, failedOver);

    // Back from the partition: the sentinels turn it into a replica of the promoted node.
    const t1 = Date.now();
    paused.kill('SIGCONT');
    await setup.waitHealthy(30_000);
    const healthy = Date.now();
    expect(String(((await paused.call('ROLE')) as unknown[])[0])).toBe('slave');
    expect(await setup.master()).toBe(promoted);
    // kvws kept serving across it: writes after it succeed and give events.
    expect(await waitFor(() => allOps().filter((o) => o.issued > healthy && !o.error).length >= 20, 15_000)).toBe(true);
    await Promise.all(writers.map((w) => w.stop()));
    const since = report('SIGCONT of the paused master', t1, `rejoined as a replica in ${healthy - t1} ms`).filter(
      (o) => o.issued >= t1,
    );
    expect(since.filter((o) => o.error).map((o) => `${o.key}: ${o.error}`)).toEqual([]);
    await waitFor(() => since.every((o) => seen.has(o.key)), 5000);
    expect(since.filter((o) => !seen.has(o.key)).map((o) => o.key)).toEqual([]);
    const last = since.at(-1)!;
    expect(await promoted.call('EXISTS', last.key)).toBe(1);
    expect(await writer.get(last.key)).not.toBeNull();

    // No client of kvws was disconnected through all of it.
    expect(closes).toBe(0);
    expect(wsStates).toEqual([]);
    const info = await writer.info('engine');
    console.log(
      `[gateway/sentinel] ${info
        .split('\r\n')
        .filter((l) =>
          /^engine_(retries|timeouts|event_resubscriptions|events_received|requests|notify_config_retries)/.test(l),
        )
        .join(', ')}`,
    );
  }, 90_000);
});
