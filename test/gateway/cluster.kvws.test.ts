// kvws as a gateway in front of a real Redis Cluster (`--engine redis-cluster://…`), through real clients:
// ioredis on kvws's RESP port, WebSocket subscribers on its /ws. One cluster (3 masters, 1 replica each,
// cluster-node-timeout 2 s) serves every test; the tests that change the topology run last, least
// destructive first: forwarding and events, two gateways, live resharding onto an added master, a master
// SIGKILLed, a master SIGSTOPped until the cluster failed over and SIGCONTed back as a replica.

import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  keyInSlot,
  keySlot,
  type RedisClusterHandle,
  type RedisNode,
  startRedisCluster,
  waitReplicasCaughtUp,
} from '../helpers/redis-topology.js';
import { freePort, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { type Frame, WsClient } from '../helpers/ws.js';

const NODE_TIMEOUT_MS = 2000;
/** kvws's --engine-timeout here: longer than a failover takes on this machine, so retries can cover it. */
const ENGINE_TIMEOUT_MS = 15_000;
const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";
const KEYEVENT = '__keyevent@0__:';

let cluster: RedisClusterHandle;
/** The gateway every test uses (more are started by the tests that need them). */
let gw: Gateway;
const cleanups: (() => Promise<void> | void)[] = [];

interface Gateway {
  server: RunningServer;
  /** An ioredis client on kvws's RESP port. */
  r: Redis;
  /** A WebSocket session PSUBSCRIBEd to every keyevent channel and SUBSCRIBEd to `news`. */
  events: WsClient;
  /** Closes the clients and stops kvws (also done after all tests). */
  stop(): Promise<void>;
}

/** Starts a kvws gateway in front of the cluster with an ioredis client and a subscribed WebSocket. */
async function startGateway(): Promise<Gateway> {
  const seeds = cluster.seeds().map((s) => `${s.host}:${s.port}`);
  const server = await startKvws([
    ...['--engine', `redis-cluster://${seeds.join(',')}`, '--engine-timeout', String(ENGINE_TIMEOUT_MS)],
    ...['--notify-keyspace-events', 'KEA', '--port', String(await freePort()), '--no-tls'],
  ]);
  const r = redisClient(server);
  const events = await WsClient.open(wsUrl(server));
  const stop = async () => {
    events.close();
    r.disconnect();
    await server.stop();
  };
  cleanups.push(stop);
  for (const cmd of [
    ['PSUBSCRIBE', `${KEYEVENT}*`],
    ['SUBSCRIBE', 'news'],
  ]) {
    const f = await events.reply(events.request({ cmd }));
    expect(f.error).toBeUndefined();
  }
  return { server, r, events, stop };
}

/** Removes and returns the keyevent pushes received so far for `key` (event names, in order). */
function takeEvents(ws: WsClient, key: string): string[] {
  const out: string[] = [];
  for (;;) {
    const f = ws.take((x) => x.push === 'pmessage' && x.data === key);
    if (!f) return out;
    out.push(String(f.channel).slice(KEYEVENT.length));
  }
}

/** Waits (bounded) for the keyevent push `event` on `key`. */
function waitEvent(ws: WsClient, event: string, key: string, timeoutMs = 5000): Promise<Frame> {
  return ws.push((f) => f.push === 'pmessage' && f.channel === KEYEVENT + event && f.data === key, timeoutMs);
}

/** Each of `keys`, written once through `r`, gives exactly one `set` event on `ws`. */
async function expectOneEventEach(r: Redis, ws: WsClient, keys: string[]): Promise<void> {
  for (const k of keys) await r.set(k, 'e');
  for (const k of keys) await waitEvent(ws, 'set', k);
  await sleep(300);
  for (const k of keys) expect(takeEvents(ws, k), k).toEqual([]);
}

/** Every slot `node` serves, per the cluster. */
async function slotsOf(node: RedisNode): Promise<number[]> {
  return (await cluster.slotsOf(node)).flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
}

// ---- writers: a few clients writing through kvws, one command at a time each -----------------------------

interface WriteError {
  at: number;
  key: string;
  message: string;
}

interface Writers {
  /** Stops the loops and resolves once each has finished its command in flight. */
  stop(): Promise<void>;
  readonly errors: WriteError[];
  /** Successful commands. */
  ok(): number;
  /** The failed commands that started at or after `since`. */
  errorsSince(since: number): WriteError[];
  /** Longest time one command took, and when it started. */
  slowest(): { ms: number; at: number };
  /** Last acknowledged value of each SET key, acknowledged SETs and INCRs per key. */
  readonly values: Map<string, string>;
  readonly sets: Map<string, number>;
  readonly incrs: Map<string, number>;
  /** The writers' kvws clients (never reconnected: one whose connection kvws closed stays closed). */
  readonly clients: Redis[];
}

/**
 * `n` writers through `server`: writer w takes the keys `keys[i]` with i % n === w, and for each in turn sends
 * `SET key w:seq`, then `INCR counterOf(key)`. Every loop is bounded (50 000 commands).
 */
function startWriters(server: RunningServer, keys: string[], n: number, counterOf: (key: string) => string): Writers {
  let running = true;
  const errors: WriteError[] = [];
  const values = new Map<string, string>();
  const sets = new Map<string, number>();
  const incrs = new Map<string, number>();
  let ok = 0;
  let slowest = { ms: 0, at: 0 };
  const clients: Redis[] = [];
  const loops: Promise<void>[] = [];
  for (let w = 0; w < n; w++) {
    const mine = keys.filter((_, i) => i % n === w);
    const r = redisClient(server);
    r.on('error', () => {});
    clients.push(r);
    loops.push(
      (async () => {
        for (let seq = 0; running && seq < 50_000; seq++) {
          const key = mine[Math.floor(seq / 2) % mine.length];
          const isSet = seq % 2 === 0;
          const target = isSet ? key : counterOf(key);
          const t0 = Date.now();
          try {
            if (isSet) {
              const v = `${w}:${seq}`;
              await r.set(target, v);
              values.set(target, v);
              sets.set(target, (sets.get(target) ?? 0) + 1);
            } else {
              await r.incr(target);
              incrs.set(target, (incrs.get(target) ?? 0) + 1);
            }
            ok++;
          } catch (e) {
            errors.push({ at: t0, key: target, message: (e as Error).message });
            // A client whose connection kvws closed is not restarted: its errors go on being recorded.
            if (r.status === 'end') await sleep(50);
          }
          const ms = Date.now() - t0;
          if (ms > slowest.ms) slowest = { ms, at: t0 };
        }
      })(),
    );
  }
  cleanups.push(() => {
    running = false;
    for (const c of clients) c.disconnect();
  });
  return {
    errors,
    values,
    sets,
    incrs,
    clients,
    ok: () => ok,
    slowest: () => slowest,
    errorsSince: (since) => errors.filter((e) => e.at >= since),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Keys whose slots are served by each master: `perMaster` keys in the first slots of each. */
async function keysOnEachMaster(prefix: string, perMaster: number): Promise<Map<RedisNode, string[]>> {
  const out = new Map<RedisNode, string[]>();
  for (const m of await cluster.masters()) {
    const slots = await slotsOf(m);
    out.set(
      m,
      slots.slice(0, perMaster).map((s) => keyInSlot(s, prefix)),
    );
  }
  return out;
}

/** The counter beside `key` (same hash tag, so the same slot). */
const counterOf = (key: string) => `${key}:n`;

beforeAll(async () => {
  const t0 = Date.now();
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: NODE_TIMEOUT_MS });
  const t1 = Date.now();
  gw = await startGateway();
  console.log(`[cluster] cluster up in ${t1 - t0} ms, gateway in ${Date.now() - t1} ms`);
}, 90_000);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await cluster?.stop();
});

describe('kvws in front of a Redis Cluster', () => {
  it('forwards by slot: keys on every master, CROSSSLOT, hash tags, KEYS/SCAN/DBSIZE over all masters', async () => {
    const { r } = gw;
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    for (const m of masters) await m.call('CONFIG', 'RESETSTAT');
    const keys = Array.from({ length: 300 }, (_, i) => `spread:${i}`);
    for (const k of keys) expect(await r.set(k, `v:${k}`)).toBe('OK');
    for (const m of masters) {
      const own = Number(await m.call('DBSIZE'));
      expect(own, `keys on master ${m.port}`).toBeGreaterThan(30);
      // The gateway knows every slot's master: no command was sent to the wrong one and redirected.
      expect(String(await m.call('INFO', 'errorstats')), `errors at ${m.port}`).not.toMatch(/errorstat_(MOVED|ASK)/);
    }
    for (const k of keys.slice(0, 50)) expect(await r.get(k)).toBe(`v:${k}`);
    const owner = await cluster.masterForKey(keys[7]);
    expect(await owner.call('GET', keys[7])).toBe(`v:${keys[7]}`);

    // Keys in different slots: refused as Redis Cluster does; with one hash tag: served.
    expect(keySlot('spread:0')).not.toBe(keySlot('spread:1'));
    await expect(r.mget('spread:0', 'spread:1')).rejects.toThrow(CROSSSLOT);
    await expect(r.del('spread:0', 'spread:1')).rejects.toThrow(CROSSSLOT);
    expect(await r.mset('{user1}:a', '1', '{user1}:b', '2')).toBe('OK');
    expect(await r.mget('{user1}:a', '{user1}:b')).toEqual(['1', '2']);

    // The fan-out commands see the keys of every master.
    const all = [...keys, '{user1}:a', '{user1}:b'].sort();
    expect((await r.keys('*')).sort()).toEqual(all);
    expect((await r.keys('spread:1*')).sort()).toEqual(keys.filter((k) => k.startsWith('spread:1')).sort());
    expect(await r.dbsize()).toBe(all.length);
    const scanned = new Set<string>();
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, batch] = await r.scan(cursor, 'COUNT', 50);
      for (const k of batch) scanned.add(k);
      cursor = next;
    } while (cursor !== '0' && ++rounds < 1000);
    expect([...scanned].sort()).toEqual(all);
    expect(await r.del(...keys.filter((k) => keySlot(k) === keySlot(keys[0])))).toBe(1);
    await r.set(keys[0], `v:${keys[0]}`);
  });

  it('runs MULTI/EXEC on one slot, fails EXEC when a WATCHed key changed, wakes BLPOP', async () => {
    const { server, r } = gw;
    const other = redisClient(server);
    cleanups.push(() => other.disconnect());

    expect(await r.multi().set('{tx}a', '1').incr('{tx}a').get('{tx}a').exec()).toEqual([
      [null, 'OK'],
      [null, 2],
      [null, '2'],
    ]);
    // A transaction across slots is refused when queued.
    await expect(r.multi().set('{tx}a', '1').set('{other}b', '2').exec()).rejects.toThrow(/EXECABORT|CROSSSLOT/);

    // WATCH, then a write from another client: EXEC returns null and nothing of the transaction ran.
    await r.set('{w}k', 'before');
    expect(await r.watch('{w}k')).toBe('OK');
    expect(await other.set('{w}k', 'theirs')).toBe('OK');
    expect(await r.multi().set('{w}k', 'mine').exec()).toBeNull();
    expect(await r.get('{w}k')).toBe('theirs');
    // Untouched, the same WATCH lets EXEC through.
    expect(await r.watch('{w}k')).toBe('OK');
    expect(await r.multi().set('{w}k', 'mine').exec()).toEqual([[null, 'OK']]);
    expect(await r.get('{w}k')).toBe('mine');

    // BLPOP waits on a connection of its own; an LPUSH from another client wakes it.
    const blocked = other.blpop('{q}list', 10);
    expect(
      await waitFor(async () => /engine_blocked_clients:1\b/.test(await r.info('engine')), 5000),
      'BLPOP blocked',
    ).toBe(true);
    expect(await r.lpush('{q}list', 'job')).toBe(1);
    expect(await blocked).toEqual(['{q}list', 'job']);
    // Meanwhile the shared connection kept serving.
    expect(await other.get('{w}k')).toBe('mine');
  });

  it('delivers keyspace events from every master (set, expired)', async () => {
    const { r, events } = gw;
    const byMaster = await keysOnEachMaster('ev', 1);
    expect(byMaster.size).toBe(3);
    const keys = [...byMaster.values()].flat();
    for (const k of keys) await r.set(k, 'x', 'PX', 200);
    // SET … PX is a `set` and an `expire`; the deadline passing an `expired` (Redis's active expiry).
    for (const k of keys) await waitEvent(events, 'set', k);
    for (const k of keys) await waitEvent(events, 'expire', k);
    for (const k of keys) await waitEvent(events, 'expired', k, 5000);
    expect(await r.exists(...keys.slice(0, 1))).toBe(0);
    for (const k of keys) expect(takeEvents(events, k), k).toEqual([]);
  });

  it('two gateways on one cluster: writes through one are events on the other; PUBLISH reaches both once', async () => {
    const a = gw;
    const b = await startGateway();
    try {
      const keys = [...(await keysOnEachMaster('two', 2)).values()].flat();
      for (const k of keys) await a.r.set(k, 'via-a');
      for (const k of keys) await waitEvent(b.events, 'set', k);
      for (const k of keys) await waitEvent(a.events, 'set', k);
      expect(await b.r.mget(keys.slice(0, 1))).toEqual(['via-a']);
      // And the other way round.
      await b.r.incr(keys[0].replace('two', 'cnt'));
      await waitEvent(a.events, 'incrby', keys[0].replace('two', 'cnt'));

      for (let i = 0; i < 5; i++) await a.r.publish('news', `m${i}`);
      await b.r.publish('news', 'from-b');
      const expected = ['m0', 'm1', 'm2', 'm3', 'm4', 'from-b'];
      for (const g of [a, b]) {
        const got: unknown[] = [];
        for (let i = 0; i < expected.length; i++) {
          got.push((await g.events.push((f) => f.push === 'message' && f.channel === 'news')).data);
        }
        expect(got.sort()).toEqual([...expected].sort());
      }
      // Exactly once: nothing more arrives.
      await sleep(500);
      for (const g of [a, b]) {
        expect(g.events.take((f) => f.push === 'message')).toBeUndefined();
        for (const k of keys) expect(takeEvents(g.events, k), k).toEqual([]);
      }
    } finally {
      await b.stop();
    }
  });

  it('adds a master and reshards onto it while clients write: no client sees an error, every write is kept', async () => {
    const t0 = Date.now();
    const added = await cluster.addMaster();
    const tAdded = Date.now();
    // The gateway subscribes to the new master as soon as it has joined, before it serves any slot.
    let info = '';
    const subscribed = await waitFor(async () => {
      info = await gw.r.info('engine');
      return /engine_event_subscribers:4\b/.test(info);
    }, 5000);
    expect(subscribed, info).toBe(true);
    const from = (await cluster.masters()).find((m) => m !== added) as RedisNode;
    const fromSlots = await slotsOf(from);
    const MOVE = 100;
    // One key (and its counter) in each of the source's 200 lowest slots: reshard moves the lowest first.
    const keys = fromSlots.slice(0, 2 * MOVE).map((s) => keyInSlot(s, 'el'));
    const clock = eventClock(gw.events);
    const writers = startWriters(gw.server, keys, 4, counterOf);
    await waitFor(() => writers.ok() > 200, 10_000);
    const tMove = Date.now();
    try {
      await cluster.moveSlots(from, added, MOVE);
    } finally {
      await sleep(300);
      await writers.stop();
      await clock.stop();
    }
    const tMoved = Date.now();
    console.log(
      `[cluster] addMaster ${tAdded - t0} ms, moveSlots(${MOVE}) ${tMoved - tMove} ms, ${writers.ok()} writes, ` +
        `slowest ${writers.slowest().ms} ms, errors ${writers.errors.length}, ` +
        `set events vs SETs: ${JSON.stringify(clock.mismatches(writers))}`,
    );
    expect(writers.errors).toEqual([]);
    expect(writers.ok()).toBeGreaterThan(400);
    // Every acknowledged SET was one `set` event, also those the new master served before the gateway's slot
    // map named it (its subscriber was there since it joined, its messages held until it served slots).
    expect(clock.mismatches(writers)).toEqual({ lost: 0, extra: 0 });
    expect(await slotsOf(added)).toEqual(fromSlots.slice(0, MOVE));
    expect(Number(await added.call('DBSIZE'))).toBeGreaterThan(0);
    // Every acknowledged write is there, read through kvws.
    const c = redisClient(gw.server);
    cleanups.push(() => c.disconnect());
    for (const [k, v] of writers.values) expect(await c.get(k), k).toBe(v);
    for (const [k, n] of writers.incrs) expect(await c.get(k), k).toBe(String(n));
    for (const w of writers.clients) expect(w.status).toBe('ready');
    // The new master's keyspace events reach subscribers.
    await expectOneEventEach(
      gw.r,
      gw.events,
      fromSlots.slice(0, 5).map((s) => keyInSlot(s, 'newmaster')),
    );
  });

  it('a master SIGKILLed while clients write: the gateway serves again within the failover time, events go on', async () => {
    const { victim, victimSlots, keys, victimKeys, bystanderKeys } = await failoverSetup('fo');
    await waitReplicasCaughtUp(victim);
    const clock = eventClock(gw.events);
    const writers = startWriters(gw.server, keys, 4, counterOf);
    const bystander = startWriters(gw.server, bystanderKeys, 1, counterOf);
    await waitFor(() => writers.ok() > 200, 10_000);
    const pop = await blockedPop(keyInSlot(victimSlots[1], 'queue'));

    const tKill = Date.now();
    victim.kill('SIGKILL');
    const promoted = await cluster.waitForFailover(victim, 30_000);
    const tFailover = Date.now();
    // The gateway serves the promoted master's slots: a write through a new kvws client succeeds.
    const tServing = await firstWrite(keyInSlot(victimSlots[0], 'probe'));
    // The BLPOP blocked on the dead master was sent again to the promoted one: a push there wakes it.
    const popped = await pop.push();
    const okAtServing = writers.ok();
    // Every command from now on must succeed; let them run a while.
    const progressed = await waitFor(() => writers.ok() > okAtServing + 400, 15_000);
    await writers.stop();
    await bystander.stop();
    await clock.stop();
    const report = {
      failoverMs: tFailover - tKill,
      servingMs: tServing - tKill,
      slowestWriteMs: writers.slowest().ms,
      writes: writers.ok(),
      errors: writers.errors.slice(0, 5).map((e) => ({ at: e.at - tKill, key: e.key, message: e.message })),
      errorCount: writers.errors.length,
      bystanderSlowestMs: bystander.slowest().ms,
      bystanderErrors: bystander.errors.length,
      victimEventsFromMs: clock.firstAfter(victimKeys, tKill + 500) - tKill,
      setEvents: clock.mismatches(writers),
    };
    console.log(`[cluster] SIGKILL: ${JSON.stringify(report)}`);
    expect(popped).toEqual([pop.key, 'pushed']);
    expect(progressed, 'writes went on after the failover').toBe(true);
    // Serving again within the failover time plus the gateway's slot refresh (every second) and retry delays.
    expect(tServing - tKill).toBeLessThan(tFailover - tKill + 3000);
    expect(writers.errorsSince(tServing)).toEqual([]);
    // The retry layer covers the failover: commands waited (up to --engine-timeout) instead of failing.
    expect(writers.errors).toEqual([]);
    expect(bystander.errors).toEqual([]);
    expect(writers.slowest().ms).toBeLessThan(tFailover - tKill + 3000);
    for (const w of writers.clients) expect(w.status).toBe('ready');
    expect(gw.events.closeInfo).toBeNull();
    // Every key was written again after the failover: reads through kvws give the last acknowledged values.
    await expectValues(writers);
    await expectValues(bystander);
    // Events for keys now on the promoted master reach the same (never reconnected) subscriber.
    expect(await cluster.masterForKey(victimKeys[0])).toBe(promoted);
    expect(report.victimEventsFromMs).toBeLessThan(tFailover - tKill + 3000);
    await expectOneEventEach(
      gw.r,
      gw.events,
      victimSlots.slice(0, 5).map((s) => keyInSlot(s, 'after-kill')),
    );
  });

  it('a master partitioned (SIGSTOP) until the cluster fails over, then back (SIGCONT): kvws serves throughout', async () => {
    const { victim, victimSlots, keys, victimKeys, bystanderKeys } = await failoverSetup('ps');
    await waitReplicasCaughtUp(victim);
    const clock = eventClock(gw.events);
    const writers = startWriters(gw.server, keys, 4, counterOf);
    // Writes only to the other masters: they must go on while the stopped master is still considered up.
    const bystander = startWriters(gw.server, bystanderKeys, 1, counterOf);
    await waitFor(() => writers.ok() > 200, 10_000);
    const pop = await blockedPop(keyInSlot(victimSlots[1], 'queue'));

    const tStop = Date.now();
    victim.kill('SIGSTOP');
    let promoted: RedisNode;
    let tFailover = 0;
    let tServing = 0;
    let okAtFailover = 0;
    let progressed = false;
    let popped: unknown;
    try {
      promoted = await cluster.waitForFailover(victim, 30_000);
      tFailover = Date.now();
      // The old master stays unreachable (it is not restarted): the gateway must serve without it.
      tServing = await firstWrite(keyInSlot(victimSlots[0], 'probe'));
      // The BLPOP blocked on the stopped master is sent again to the promoted one: a push there wakes it.
      popped = await pop.push();
      okAtFailover = writers.ok();
      progressed = await waitFor(() => writers.ok() > okAtFailover + 400, 12_000);
    } finally {
      victim.kill('SIGCONT');
    }
    const tCont = Date.now();
    await cluster.waitHealthy(30_000);
    const tRejoined = Date.now();
    expect((await cluster.replicasOf(promoted)).map((n) => n.port)).toContain(victim.port);
    const okAtRejoin = writers.ok();
    await waitFor(() => writers.ok() > okAtRejoin + 200, 10_000);
    await writers.stop();
    await bystander.stop();
    await clock.stop();
    const report = {
      failoverMs: tFailover - tStop,
      servingMs: tServing - tStop,
      contMs: tCont - tStop,
      rejoinedMs: tRejoined - tStop,
      slowestWriteMs: writers.slowest().ms,
      slowestStartedMs: writers.slowest().at - tStop,
      writes: writers.ok(),
      errors: writers.errors.slice(0, 5).map((e) => ({ at: e.at - tStop, key: e.key, message: e.message })),
      errorCount: writers.errors.length,
      bystanderSlowestMs: bystander.slowest().ms,
      bystanderErrors: bystander.errors.length,
      bystanderEventsDuringStop: clock.count(bystanderKeys, tStop + 200, tFailover),
      victimEventsFromMs: clock.firstAfter(victimKeys, tStop + 500) - tStop,
      setEvents: clock.mismatches(writers),
    };
    console.log(`[cluster] SIGSTOP: ${JSON.stringify(report)}`);
    expect(popped, 'BLPOP served while the old master was still stopped').toEqual([pop.key, 'pushed']);
    expect(progressed, 'writes went on while the old master was still stopped').toBe(true);
    expect(writers.errors).toEqual([]);
    expect(bystander.errors).toEqual([]);
    // The longest stall: the failover, then the gateway's slot refresh (every second, 1 s timeout if it asks
    // the stopped node first), closing the stopped node's connections (300 ms) and the retry; not
    // --engine-timeout, nor the old master coming back.
    expect(tServing - tStop).toBeLessThan(tFailover - tStop + 3500);
    expect(writers.slowest().ms).toBeLessThan(tFailover - tStop + 3500);
    for (const w of writers.clients) expect(w.status).toBe('ready');
    expect(gw.events.closeInfo).toBeNull();
    // Events from the other masters kept flowing while one was unreachable; the promoted one's came after.
    expect(report.bystanderEventsDuringStop).toBeGreaterThan(50);
    expect(report.victimEventsFromMs).toBeLessThan(tCont - tStop);
    await expectValues(writers);
    await expectValues(bystander);
    await expectOneEventEach(
      gw.r,
      gw.events,
      victimSlots.slice(0, 5).map((s) => keyInSlot(s, 'after-stop')),
    );
  });
});

/**
 * For a failover test: a master of the original three (it has a replica), `prefix` keys in 15 slots of
 * each master, the victim's keys, 15 more of its slots, and keys on the other masters only (bystanders).
 */
async function failoverSetup(prefix: string) {
  let victim: RedisNode | undefined;
  for (const m of await cluster.masters()) if (!victim && (await cluster.replicasOf(m)).length > 0) victim = m;
  if (!victim) throw new Error('no master with a replica left');
  const byMaster = await keysOnEachMaster(prefix, 15);
  const victimKeys = byMaster.get(victim) as string[];
  const bystanderKeys = [...byMaster]
    .filter(([m]) => m !== victim)
    .flatMap(([, ks]) => ks.map((k) => k.replace(prefix, `${prefix}-bystander`)));
  const victimSlots = (await slotsOf(victim)).slice(15, 30);
  return { victim, victimSlots, keys: [...byMaster.values()].flat(), victimKeys, bystanderKeys };
}

/**
 * A BLPOP on `key` through its own kvws client, resolved once kvws counts it blocked. `push()` LPUSHes
 * through the shared client and resolves with the BLPOP's reply, or "not woken" after 8 s.
 */
async function blockedPop(key: string) {
  const c = redisClient(gw.server);
  cleanups.push(() => c.disconnect());
  let settled: unknown = 'pending';
  const reply = c.blpop(key, 0).then(
    (r) => {
      settled = r;
      return r;
    },
    (e: Error) => {
      settled = `error: ${e.message}`;
      return settled;
    },
  );
  let info = '';
  const blocked = await waitFor(async () => {
    info = await gw.r.info('engine');
    return /engine_blocked_clients:1\b/.test(info);
  }, 5000);
  expect(blocked, `BLPOP blocked (reply: ${JSON.stringify(settled)}): ${info}`).toBe(true);
  return {
    key,
    async push(): Promise<unknown> {
      await gw.r.lpush(key, 'pushed');
      return Promise.race([reply, sleep(8000).then(() => 'not woken')]);
    },
  };
}

/** Retries `SET key` through a new kvws client (every 100 ms, at most 150 times); returns when it succeeded. */
async function firstWrite(key: string): Promise<number> {
  const probe = redisClient(gw.server);
  try {
    for (let i = 0; i < 150; i++) {
      try {
        await probe.set(key, 'probe');
        return Date.now();
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`SET ${key} through kvws never succeeded`);
  } finally {
    probe.disconnect();
  }
}

/** Reads every key the writers set or counted through kvws and compares with what they were told. */
async function expectValues(writers: Writers): Promise<void> {
  const c = redisClient(gw.server);
  try {
    for (const [k, v] of writers.values) expect(await c.get(k), k).toBe(v);
  } finally {
    c.disconnect();
  }
}

/** When `set` keyevent pushes arrived on `ws` (listening from now until stop()). */
function eventClock(ws: WsClient) {
  const seen: { at: number; key: string }[] = [];
  const onMessage = (d: unknown) => {
    const f = JSON.parse(String(d)) as Frame;
    if (f.push === 'pmessage' && f.channel === `${KEYEVENT}set`) seen.push({ at: Date.now(), key: String(f.data) });
  };
  ws.ws.on('message', onMessage);
  // The pushes themselves are not needed: drop them as they come so the client's list stays short.
  const drain = setInterval(() => {
    for (let i = ws.frames.length - 1; i >= 0; i--) if (ws.frames[i].push === 'pmessage') ws.frames.splice(i, 1);
  }, 200);
  return {
    /** Stops listening once the pushes of the last writes had time to arrive. */
    async stop() {
      await sleep(500);
      ws.ws.off('message', onMessage);
      clearInterval(drain);
      for (let i = ws.frames.length - 1; i >= 0; i--) if (ws.frames[i].push === 'pmessage') ws.frames.splice(i, 1);
    },
    /** Pushes for any of `keys` that arrived in [from, to). */
    count(keys: string[], from: number, to: number): number {
      const set = new Set(keys);
      return seen.filter((e) => set.has(e.key) && e.at >= from && e.at < to).length;
    },
    /** For each key the writers SET: how many more (or fewer) `set` pushes arrived than SETs were acknowledged. */
    mismatches(writers: Writers): { lost: number; extra: number } {
      const got = new Map<string, number>();
      for (const e of seen) got.set(e.key, (got.get(e.key) ?? 0) + 1);
      let lost = 0;
      let extra = 0;
      for (const [k, n] of writers.sets) {
        const d = (got.get(k) ?? 0) - n;
        if (d < 0) lost -= d;
        else extra += d;
      }
      return { lost, extra };
    },
    /** When the first push for any of `keys` arrived at or after `from` (Infinity: none). */
    firstAfter(keys: string[], from: number): number {
      const set = new Set(keys);
      return seen.find((e) => set.has(e.key) && e.at >= from)?.at ?? Number.POSITIVE_INFINITY;
    },
  };
}
