import type { RuntimeCommand } from '../commands/index.js';
import { ErrorReply } from '../protocol/reply.js';
import type { Client } from './client.js';
import type { Db } from './db.js';
import type { Engine } from './engine.js';
import type { DbMemory, KeyNode, MemoryTracker } from './memory.js';

/** Redis's shared.oomerr. */
export const OOM_ERROR = "OOM command not allowed when used memory > 'maxmemory'.";

/** performEvictions' outcome: under the limit, still evicting in the background, or nothing left to evict. */
export type EvictionResult = 'ok' | 'running' | 'fail';

/** Commands a client inside MULTI may still send when memory is over the limit (Redis's processCommand). */
const ALLOWED_IN_MULTI_WHEN_OOM = new Set(['EXEC', 'DISCARD', 'QUIT', 'RESET']);
/** Redis's EVPOOL_SIZE: the best candidates kept between sampling rounds. */
const POOL_SIZE = 16;
/** volatile-lru walks at most this many keys of the exact LRU order looking for one with a TTL, then samples. */
const VOLATILE_WALK = 64;
/** Random picks (allkeys-random, volatile-random, samples) step a per-table iterator 1..RANDOM_STEP times. */
const RANDOM_STEP = 8;
/** Sampling rounds before giving up on finding a victim (each samples every database). */
const SAMPLING_ROUNDS = 64;

interface Candidate {
  db: number;
  key: string;
  /** Higher is a better victim (Redis's `idle`). */
  score: number;
}

/**
 * Redis's processCommand memory check, called by the dispatcher after the ACL check when `maxmemory` is
 * set: runs the evictions (performEvictions) and returns the OOM error when memory is still over the
 * limit and the command may not run then — a command flagged `denyoom`, an EXEC whose queue holds one, or
 * anything but EXEC/DISCARD/QUIT/RESET inside MULTI (queueing takes memory). null otherwise.
 */
export function oomRefusal(engine: Engine, client: Client, cmd: RuntimeCommand): ErrorReply | null {
  if (engine.memory.evictor.perform() !== 'fail') return null;
  let refuse = cmd.spec.flags.includes('denyoom');
  if (client.multi !== null) {
    if (!ALLOWED_IN_MULTI_WHEN_OOM.has(cmd.root)) refuse = true;
    else if (cmd.root === 'EXEC') refuse = client.multi.queue.some((argv) => isDenyoom(engine, argv));
  }
  return refuse ? new ErrorReply(OOM_ERROR) : null;
}

/** Whether a queued command (already checked when queued) is flagged denyoom. */
function isDenyoom(engine: Engine, argv: string[]): boolean {
  let c = engine.table.get(argv[0]) ?? engine.table.get(argv[0].toLowerCase());
  if (c?.subcommands && argv.length > 1) c = c.subcommands.get(argv[1].toLowerCase()) ?? c;
  return c?.spec.flags.includes('denyoom') === true;
}

/**
 * Redis's maxmemory-eviction-tenacity: how long one performEvictions may evict before the rest continues
 * on later turns of the event loop, µs (0..10: linear up to 500 µs; then 15% more per step; 100: no limit).
 */
function timeLimitUs(tenacity: number): number {
  if (tenacity <= 10) return 50 * tenacity;
  if (tenacity < 100) return 500 * 1.15 ** (tenacity - 10);
  return Number.POSITIVE_INFINITY;
}

/**
 * Evicts keys while `engine.memory.used` exceeds `maxmemory`, under `maxmemory-policy` (Redis's evict.c).
 *
 * - allkeys-lru: exactly the least recently used key (the head of each database's access order; the
 *   oldest of those across databases).
 * - allkeys-lfu: exactly the key with the lowest decayed LFU counter (Redis's counter and decay), least
 *   recently used among equals: the heads of each database's counter lists.
 * - volatile-lru: the least recently used key that has a TTL, found by walking the LRU order (up to
 *   VOLATILE_WALK keys); when the walk finds none, sampled as volatile-lfu is.
 * - volatile-lfu: sampled like Redis: `maxmemory-samples` keys with a TTL per database per round into a
 *   pool of the 16 best candidates, the best one evicted.
 * - volatile-ttl: exactly the key with the nearest deadline (the expiry heaps).
 * - allkeys-random / volatile-random: a random key (of those with a TTL), databases in turn.
 *
 * Each eviction deletes through the key-change path (`evicted` event, class `e`: keyspace notifications,
 * the event log, WATCH, and a DEL in the AOF).
 */
export class Evictor {
  private readonly pool: Candidate[] = [];
  private nextDb = 0;
  private timer: NodeJS.Immediate | null = null;
  private stopped = false;
  /** Unix ms since when `used` has been over `maxmemory`, or 0; and the total of finished periods (INFO). */
  private overSince = 0;
  private overTotalMs = 0;
  private readonly randomIters = new WeakMap<Map<string, unknown>, Iterator<string>>();

  constructor(
    private readonly engine: Engine,
    private readonly memory: MemoryTracker,
  ) {}

  /**
   * performEvictions: 'ok' when `used` is within `maxmemory` (or there is none; or the data lives in Redis),
   * 'running' when the time limit stopped it first (it goes on in the background and the command may run),
   * 'fail' when nothing can be evicted (noeviction, or volatile-* without keys that have a TTL).
   */
  perform(): EvictionResult {
    const o = this.engine.options;
    const max = o.maxmemory;
    const mem = this.memory;
    if (max === 0 || mem.used <= max || this.engine.gateway !== null) {
      this.under();
      return 'ok';
    }
    if (this.overSince === 0) this.overSince = Date.now();
    if (o.maxmemoryPolicy === 'noeviction') return 'fail';
    const limit = timeLimitUs(o.maxmemoryEvictionTenacity);
    const started = performance.now();
    let n = 0;
    while (mem.used > max) {
      const v = this.select();
      if (v === null) return 'fail';
      this.evict(this.engine.dbs[v.db], v.key);
      if ((++n & 15) === 0 && (performance.now() - started) * 1000 > limit) {
        this.schedule();
        return 'running';
      }
    }
    this.under();
    return 'ok';
  }

  /** Evicts in the background, a time-limited round per turn of the event loop, until under the limit. */
  schedule(): void {
    if (this.timer !== null || this.stopped) return;
    this.timer = setImmediate(() => {
      this.timer = null;
      const r = this.perform();
      this.engine.afterExternalChange();
      if (r === 'running') this.schedule();
    });
  }

  /** Stops background eviction (shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearImmediate(this.timer);
    this.timer = null;
  }

  /** INFO stats: total_eviction_exceeded_time and current_eviction_exceeded_time (ms). */
  exceededMs(): { total: number; current: number } {
    const current = this.overSince === 0 ? 0 : Date.now() - this.overSince;
    return { total: this.overTotalMs + current, current };
  }

  resetStats(): void {
    this.overTotalMs = 0;
    if (this.overSince !== 0) this.overSince = Date.now();
  }

  private under(): void {
    if (this.overSince === 0) return;
    this.overTotalMs += Date.now() - this.overSince;
    this.overSince = 0;
  }

  private evict(db: Db, key: string): void {
    db.delete(key);
    this.memory.evictedKeys++;
    this.engine.notify(db, key, 'evicted', 'e');
  }

  /** The next victim under the current policy, or null when there is none. */
  private select(): { db: number; key: string } | null {
    switch (this.engine.options.maxmemoryPolicy) {
      case 'allkeys-lru':
        return this.lruHead();
      case 'allkeys-lfu':
        return this.lowestCounter();
      case 'volatile-lru':
        return this.volatileLruHead() ?? this.sampled(true);
      case 'volatile-lfu':
        return this.sampled(false);
      case 'volatile-ttl':
        return this.nearestDeadline();
      case 'allkeys-random':
        return this.random(false);
      case 'volatile-random':
        return this.random(true);
      default:
        return null;
    }
  }

  private lruHead(): { db: number; key: string } | null {
    let best: KeyNode | null = null;
    let bestDb = -1;
    for (let i = 0; i < this.engine.dbs.length; i++) {
      const h = this.memory.db(i).heads[0];
      if (h !== null && (best === null || h.atime < best.atime)) {
        best = h;
        bestDb = i;
      }
    }
    return best === null ? null : { db: bestDb, key: best.key };
  }

  private lowestCounter(): { db: number; key: string } | null {
    let best: KeyNode | null = null;
    let bestDb = -1;
    let bestCounter = 256;
    for (let i = 0; i < this.engine.dbs.length; i++) {
      const dm = this.memory.db(i);
      if (dm.nodes.size === 0) continue;
      const c = this.lowestInDb(dm);
      if (
        c !== null &&
        (c.counter < bestCounter || (c.counter === bestCounter && c.node.atime < (best as KeyNode).atime))
      ) {
        best = c.node;
        bestDb = i;
        bestCounter = c.counter;
      }
    }
    return best === null ? null : { db: bestDb, key: best.key };
  }

  /**
   * The node of `dm` with the lowest decayed counter. Each counter list's head is its most decayed key (the
   * least recently accessed), so only heads are compared; without decay the first non-empty list wins.
   */
  private lowestInDb(dm: DbMemory): { node: KeyNode; counter: number } | null {
    const mem = this.memory;
    const decay = this.engine.options.lfuDecayTime !== 0;
    let best: KeyNode | null = null;
    let bestCounter = 256;
    for (let w = 0; w < 8; w++) {
      let bits = dm.nonEmpty[w];
      while (bits !== 0) {
        const low = bits & -bits;
        bits ^= low;
        const c = (w << 5) | (31 - Math.clz32(low));
        const h = dm.heads[c] as KeyNode;
        const d = decay ? mem.decayed(h.lfu) : c;
        if (d < bestCounter || (d === bestCounter && h.atime < (best as KeyNode).atime)) {
          best = h;
          bestCounter = d;
        }
        if (!decay || bestCounter === 0) return { node: best as KeyNode, counter: bestCounter };
      }
    }
    return best === null ? null : { node: best, counter: bestCounter };
  }

  private volatileLruHead(): { db: number; key: string } | null {
    let best: KeyNode | null = null;
    let bestDb = -1;
    for (let i = 0; i < this.engine.dbs.length; i++) {
      const expires = this.engine.dbs[i].expires;
      if (expires.size === 0) continue;
      let n = this.memory.db(i).heads[0];
      for (let steps = 0; n !== null && steps < VOLATILE_WALK; steps++, n = n.next) {
        if (expires.has(n.key)) {
          if (best === null || n.atime < best.atime) {
            best = n;
            bestDb = i;
          }
          break;
        }
      }
    }
    return best === null ? null : { db: bestDb, key: best.key };
  }

  /**
   * Redis's evictionPoolPopulate and pick, over keys with a TTL: `maxmemory-samples` of each database's
   * join the pool (kept sorted, best last) when better than its worst; the best one still alive is taken.
   * `lru` scores by idle time, else by 255 - decayed LFU counter.
   */
  private sampled(lru: boolean): { db: number; key: string } | null {
    const dbs = this.engine.dbs;
    const mem = this.memory;
    const samples = this.engine.options.maxmemorySamples;
    const clock = mem.now();
    for (let round = 0; round < SAMPLING_ROUNDS; round++) {
      let total = 0;
      for (let i = 0; i < dbs.length; i++) {
        const expires = dbs[i].expires;
        if (expires.size === 0) continue;
        total += expires.size;
        const dm = mem.db(i);
        for (let s = 0; s < samples; s++) {
          const key = this.randomKey(expires);
          if (key === undefined) break;
          const node = dm.nodes.get(key);
          if (node === undefined) continue;
          const score = lru ? clock - node.atime : 255 - mem.decayed(node.lfu);
          this.offer({ db: i, key, score });
        }
      }
      if (total === 0) {
        this.pool.length = 0;
        return null;
      }
      while (this.pool.length > 0) {
        const c = this.pool.pop() as Candidate;
        if (dbs[c.db].expires.has(c.key)) return c;
      }
    }
    return null;
  }

  /** Forgets the sampled candidates (their scores belong to the policy that made them). */
  clearPool(): void {
    this.pool.length = 0;
  }

  /** Adds a candidate to the pool, sorted by score (best last), at most POOL_SIZE (dropping the worst). */
  private offer(c: Candidate): void {
    const pool = this.pool;
    for (const p of pool) if (p.db === c.db && p.key === c.key) return;
    if (pool.length === POOL_SIZE) {
      if (c.score <= pool[0].score) return;
      pool.shift();
    }
    let i = pool.length;
    while (i > 0 && pool[i - 1].score > c.score) i--;
    pool.splice(i, 0, c);
  }

  private nearestDeadline(): { db: number; key: string } | null {
    let bestKey: string | undefined;
    let bestDb = -1;
    let bestAt = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.engine.dbs.length; i++) {
      const db = this.engine.dbs[i];
      if (db.expires.size === 0) continue;
      const key = this.engine.expiry.nearest(db);
      if (key === undefined) continue;
      const at = db.expires.get(key) as number;
      if (at < bestAt) {
        bestAt = at;
        bestKey = key;
        bestDb = i;
      }
    }
    return bestKey === undefined ? null : { db: bestDb, key: bestKey };
  }

  /** A random key of the next database (in turn) that has any (of those with a TTL when `volatile`). */
  private random(volatile: boolean): { db: number; key: string } | null {
    const dbs = this.engine.dbs;
    for (let i = 0; i < dbs.length; i++) {
      this.nextDb = (this.nextDb + 1) % dbs.length;
      const j = this.nextDb;
      const table = volatile ? dbs[j].expires : dbs[j].dict;
      if (table.size === 0) continue;
      const key = this.randomKey(table);
      if (key !== undefined) return { db: j, key };
    }
    return null;
  }

  /** A key of `table` 1..RANDOM_STEP steps along a per-table iterator (O(1) amortised; not uniform). */
  private randomKey(table: Map<string, unknown>): string | undefined {
    let it = this.randomIters.get(table);
    const steps = 1 + Math.floor(Math.random() * Math.min(RANDOM_STEP, table.size));
    let key: string | undefined;
    for (let i = 0; i < steps; i++) {
      let r = it?.next();
      if (r === undefined || r.done) {
        it = table.keys();
        this.randomIters.set(table, it);
        r = it.next();
        if (r.done) return undefined;
      }
      key = r.value;
    }
    return key;
  }
}
