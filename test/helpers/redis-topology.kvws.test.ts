// Self-test of test/helpers/redis-topology.ts: real Redis Cluster and Sentinel deployments come up, fail over
// when a master is SIGKILLed, and (cluster) grow by a master that takes slots while a client writes.

import Redis, { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  keyInSlot,
  keySlot,
  type RedisClusterHandle,
  type SentinelHandle,
  startRedisCluster,
  startSentinelSetup,
  waitReplicasCaughtUp,
} from './redis-topology.js';

const KEYS = Array.from({ length: 200 }, (_, i) => `key:${i}`);

/** A cluster client on the live nodes that gives up on a command after a few redirections/retries. */
function clusterClient(cluster: RedisClusterHandle): Cluster {
  const c = new Cluster(cluster.seeds(), {
    redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 2000 },
    clusterRetryStrategy: (times) => (times > 20 ? null : 200),
  });
  c.on('error', () => {});
  return c;
}

/** Reads every key of KEYS and returns those whose value is not `v:<key>`. */
async function wrongKeys(c: Cluster): Promise<string[]> {
  const wrong: string[] = [];
  for (const k of KEYS) if ((await c.get(k)) !== `v:${k}`) wrong.push(k);
  return wrong;
}

describe('startRedisCluster (3 masters, 1 replica each)', () => {
  let cluster: RedisClusterHandle;
  const clients: (Cluster | Redis)[] = [];
  const track = <T extends Cluster | Redis>(c: T): T => {
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    console.log(`[redis-topology] cluster up in ${Date.now() - t0} ms`);
  }, 90_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await cluster?.stop();
  });

  it('comes up healthy and serves keys through ioredis Cluster', async () => {
    expect(cluster.nodes).toHaveLength(6);
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    for (const m of masters) expect(await cluster.replicasOf(m)).toHaveLength(1);
    const c = track(clusterClient(cluster));
    for (const k of KEYS) await c.set(k, `v:${k}`);
    expect(await wrongKeys(c)).toEqual([]);
    // masterForKey names the node that really holds the key.
    const owner = await cluster.masterForKey(KEYS[0]);
    expect(await track(owner.client()).get(KEYS[0])).toBe(`v:${KEYS[0]}`);
  });

  it('promotes the replica when a master is SIGKILLed, and serves again', async () => {
    const old = await cluster.masterForKey(KEYS[0]);
    const [replica] = await cluster.replicasOf(old);
    await waitReplicasCaughtUp(old);
    const t0 = Date.now();
    old.kill('SIGKILL');
    const promoted = await cluster.waitForFailover(old, 30_000);
    console.log(`[redis-topology] cluster failover in ${Date.now() - t0} ms`);
    expect(promoted).toBe(replica);
    expect(await cluster.masterForKey(KEYS[0])).toBe(promoted);
    const c = track(clusterClient(cluster));
    expect(await wrongKeys(c)).toEqual([]);
    await c.set('after-failover', '1');
    expect(await c.get('after-failover')).toBe('1');
    // The old master comes back as a replica of the promoted node (same id, from its nodes.conf).
    const t1 = Date.now();
    await old.restart();
    await cluster.waitHealthy(30_000);
    console.log(`[redis-topology] old master rejoined as replica in ${Date.now() - t1} ms`);
    expect((await cluster.replicasOf(promoted)).map((n) => n.port)).toEqual([old.port]);
  });

  it('computes key slots as CLUSTER KEYSLOT does', async () => {
    const keys = [...KEYS, 'a{user:1}b', '{}x', 'x{}y{z}', '{{a}}', 'ключ', '', keyInSlot(0), keyInSlot(16383)];
    const node = cluster.nodes.find((n) => n.alive)!;
    for (const k of keys) expect(keySlot(k), k).toBe(Number(await node.call('CLUSTER', 'KEYSLOT', k)));
    expect(keySlot(keyInSlot(12345, 'p'))).toBe(12345);
  });

  it('adds a master and moves 100 slots (and their keys) to it while a client writes', async () => {
    const t0 = Date.now();
    const added = await cluster.addMaster();
    console.log(`[redis-topology] addMaster in ${Date.now() - t0} ms`);
    expect(await cluster.masters()).toContain(added);
    expect(await cluster.slotsOf(added)).toEqual([]);
    const from = await cluster.masterForKey(KEYS[0]);
    const fromSlots = (await cluster.slotsOf(from)).flatMap(([a, b]) =>
      Array.from({ length: b - a + 1 }, (_, i) => a + i),
    );
    // One key in each of the source's 300 lowest slots (reshard moves slots from the low end).
    const slotKeys = fromSlots.slice(0, 300).map((slot) => keyInSlot(slot, 'm'));
    const writer = track(clusterClient(cluster));
    for (const k of slotKeys) await writer.set(k, `v:${k}`);

    let writing = true;
    let written = 0;
    const errors: string[] = [];
    const writes = (async () => {
      while (writing && written < 100_000) {
        const k = slotKeys[written % slotKeys.length];
        try {
          await writer.set(k, `v:${k}`);
        } catch (err) {
          errors.push(String(err));
        }
        written++;
      }
    })();
    const t1 = Date.now();
    try {
      await cluster.moveSlots(from, added, 100);
    } finally {
      writing = false;
      await writes;
    }
    console.log(`[redis-topology] moveSlots(100) in ${Date.now() - t1} ms, ${written} writes meanwhile`);
    expect(errors).toEqual([]);
    const moved = (await cluster.slotsOf(added)).flatMap(([a, b]) =>
      Array.from({ length: b - a + 1 }, (_, i) => a + i),
    );
    expect(moved).toHaveLength(100);
    expect(moved).toEqual(fromSlots.slice(0, 100));
    expect(await cluster.slotsOf(from)).not.toContainEqual([fromSlots[0], fromSlots[0]]);
    // The keys of the moved slots went with them; every key is still readable through the cluster.
    expect(Number(await added.call('DBSIZE'))).toBe(100);
    for (const k of slotKeys.slice(0, 100)) expect(await cluster.masterForKey(k)).toBe(added);
    const reader = track(clusterClient(cluster));
    for (const k of slotKeys) expect(await reader.get(k)).toBe(`v:${k}`);
    expect(await wrongKeys(reader)).toEqual([]);
  });
});

describe('startSentinelSetup (1 master, 2 replicas, 3 sentinels)', () => {
  let setup: SentinelHandle;
  const clients: Redis[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    setup = await startSentinelSetup({ replicas: 2, sentinels: 3 });
    console.log(`[redis-topology] sentinel setup up in ${Date.now() - t0} ms`);
  }, 90_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await setup?.stop();
  });

  it('fails over to a replica that accepts writes when the master is SIGKILLed', async () => {
    const old = await setup.master();
    expect(old).toBe(setup.nodes[0]);
    await old.client().set('before', 'kept');
    await waitReplicasCaughtUp(old);
    const t0 = Date.now();
    old.kill('SIGKILL');
    const promoted = await setup.waitForFailover(old, 30_000);
    console.log(`[redis-topology] sentinel failover in ${Date.now() - t0} ms`);
    expect(promoted).not.toBe(old);
    expect(setup.nodes).toContain(promoted);
    expect(await setup.master()).toBe(promoted);
    const direct = promoted.client();
    expect(await direct.get('before')).toBe('kept');
    expect(await direct.set('after', 'written')).toBe('OK');
    // A sentinel-aware client finds the new master from sentinelAddrs().
    const viaSentinel = new Redis({
      sentinels: setup.sentinelAddrs(),
      name: setup.masterName,
      maxRetriesPerRequest: 1,
      sentinelRetryStrategy: () => null,
    });
    viaSentinel.on('error', () => {});
    clients.push(viaSentinel);
    expect(await viaSentinel.get('after')).toBe('written');
  });
});
