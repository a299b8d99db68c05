import { type CommandSpec, getKeyPositions } from '@kvws/shared/commands';
import type { RuntimeCommand } from '../commands/index.js';
import type { Db, Value } from './db.js';
import type { Engine } from './engine.js';
import { Evictor } from './eviction.js';
import type { List } from './list.js';
import type { DbEvent } from './notify.js';
import type { SortedSet } from './sorted-set.js';
import type { Stream } from './stream.js';

// ---------------------------------------------------------------------------------------------------------
// What a key costs (docs/eviction.md#memory-accounting). Sizes of V8's objects on 64-bit Node without pointer
// compression (Node's official builds), measured with `node --expose-gc` (bench/memory-accuracy.mjs checks
// the sum against the heap's real growth).

/**
 * A one-byte string of `n` chars (keys and values are binary strings): 16-byte header, 8-byte aligned. Empty
 * and one-char strings are V8's shared constants: nothing.
 */
export function stringBytes(n: number): number {
  return n <= 1 ? 0 : (n + 23) & ~7;
}

/** A JS Map or Set object, without its table. */
const COLLECTION_OBJECT = 32;
/** An OrderedHashMap/Set table: header and counters, plus per slot an entry (3 words for a Map, 2 for a Set) and half a bucket. */
const TABLE_HEADER = 40;
const MAP_SLOT = 28;
const SET_SLOT = 20;
/** A `List` (engine/list.ts) and its ring buffer's array, plus 8 bytes per slot of the buffer. */
const LIST_BASE = 112;
/** A `SortedSet` with its first leaf; per element, its two slots in the B+tree's leaves and their share of nodes. */
const ZSET_BASE = 760;
const ZSET_INDEX = 24;
/**
 * A `Stream` with its node array; per node its objects (its arrays, or once sealed its typed arrays and
 * their buffer); per stored entry (tombstones too) its ID, offset and flag (21 bytes outside the heap once
 * the node is sealed) and its share of the node, the strings counted apart (StreamNode.stringsBytes); per
 * consumer group and consumer their objects and dictionary entries; per pending entry its NACK (its ID and
 * delivery time boxed) and its slots in the group's and the consumer's ordered lists. Measured on Node 20
 * (heap and array buffers): 500,000 entries of one 16-byte value, and their NACKs.
 */
const STREAM_BASE = 200;
const STREAM_NODE = 200;
const STREAM_ENTRY = 29;
const STREAM_GROUP = 400;
const STREAM_CONSUMER = 300;
const STREAM_NACK = 84;
/** A number that is not a 32-bit integer is a heap object of its own (a sorted-set score, a deadline). */
const HEAP_NUMBER = 16;
/** The `KeyNode` every key has (6 fields). */
export const NODE_BYTES = 72;
/** A key with a deadline: the deadline's heap number in `db.expires`, and its two slots in the expiry heap (with slack). */
const VOLATILE_BYTES = HEAP_NUMBER + 24;

/** Slots of a V8 hash table holding `n` entries that only grew: a power of two, at least 4. */
function slotsFor(n: number): number {
  return n <= 4 ? 4 : 2 ** (32 - Math.clz32(n - 1));
}

/** Up to this many elements a collection's size is recomputed exactly after every change. */
const EXACT_UP_TO = 16;
/** Bigger ones: the last exact size (`bytes` for `n` elements) scaled by their element count, until re-measured. */
interface Measured {
  bytes: number;
  n: number;
  /** Changes since the measure. */
  ops: number;
}
const measured = new WeakMap<object, Measured>();

/** Elements of a value (0 for a string; a stream's entries and pending entries). */
function countOf(v: Value): number {
  if (typeof v === 'string') return 0;
  if (v instanceof Map || v instanceof Set) return v.size;
  if (v.kind === 'stream') {
    const s = v as unknown as Stream;
    let n = s.length;
    for (const g of s.groups?.values() ?? []) n += g.pel.size;
    return n;
  }
  return v.kind === 'list' ? v.length : v.size;
}

/** The exact estimate of a value: O(elements). */
export function exactValueBytes(v: Value): number {
  if (typeof v === 'string') return stringBytes(v.length);
  let b: number;
  if (v instanceof Map) {
    b = COLLECTION_OBJECT + TABLE_HEADER + MAP_SLOT * slotsFor(v.size);
    for (const [f, x] of v) b += stringBytes(f.length) + stringBytes(x.length);
  } else if (v instanceof Set) {
    b = COLLECTION_OBJECT + TABLE_HEADER + SET_SLOT * slotsFor(v.size);
    for (const m of v) b += stringBytes(m.length);
  } else if (v.kind === 'list') {
    const l = v as unknown as List;
    b = LIST_BASE + 8 * l.capacity;
    for (const e of l) b += stringBytes(e.length);
  } else if (v.kind === 'stream') {
    b = streamBytes(v as unknown as Stream);
  } else {
    const z = v as unknown as SortedSet;
    b = ZSET_BASE + COLLECTION_OBJECT + TABLE_HEADER + MAP_SLOT * slotsFor(z.size);
    for (const [m, s] of z.scores) b += stringBytes(m.length) + ZSET_INDEX + ((s | 0) === s ? 0 : HEAP_NUMBER);
  }
  return b;
}

/** The estimate of a stream: its entries (tombstones included), groups, consumers and pending entries. */
function streamBytes(s: Stream): number {
  let b = STREAM_BASE + 8 * s.nodes.length;
  for (const n of s.nodes) {
    b += STREAM_NODE;
    b += STREAM_ENTRY * n.size + n.stringsBytes(stringBytes);
  }
  for (const g of s.groups?.values() ?? []) {
    b += STREAM_GROUP + stringBytes(g.name.length) + STREAM_NACK * g.pel.size;
    for (const c of g.consumers.values()) b += STREAM_CONSUMER + stringBytes(c.name.length);
  }
  return b;
}

/**
 * The estimate of a value after a change, cheap: strings and collections of up to EXACT_UP_TO elements
 * exactly; bigger collections from their last exact measure scaled by their element count, measured again
 * after n/8 changes or when the count moved by more than an eighth (so a change costs O(1) amortised, and
 * an in-place change that grows elements, like HSET of a longer value, is seen within n/8 changes).
 */
export function valueBytes(v: Value): number {
  if (typeof v === 'string') return stringBytes(v.length);
  const n = countOf(v);
  if (n <= EXACT_UP_TO) return exactValueBytes(v);
  const m = measured.get(v);
  if (m === undefined) {
    const bytes = exactValueBytes(v);
    measured.set(v, { bytes, n, ops: 0 });
    return bytes;
  }
  if (++m.ops * 8 < m.n && n * 8 <= m.n * 9 && n * 8 >= m.n * 7) return Math.round((m.bytes * n) / m.n);
  m.bytes = exactValueBytes(v);
  m.n = n;
  m.ops = 0;
  return m.bytes;
}

/**
 * The hash table of a JS Map or Set as V8 sizes it (OrderedHashTable): it doubles when entries plus
 * deleted holes fill it (or rehashes in place when half are holes), and halves when under a quarter full.
 * Followed exactly for the tables that mirror keys (`db.dict` and the key nodes); `bytes` is its size.
 */
class TableSim {
  private slots = 4;
  private entries = 0;
  private holes = 0;
  bytes: number;

  constructor(private readonly perSlot: number) {
    this.bytes = this.size();
  }

  private size(): number {
    return TABLE_HEADER + this.slots * this.perSlot;
  }

  /** An entry added; returns the change of `bytes`. */
  add(): number {
    if (this.entries + this.holes >= this.slots) {
      if (this.holes < this.slots >> 1) this.slots *= 2;
      this.holes = 0;
    }
    this.entries++;
    return this.resized();
  }

  /** An entry deleted; returns the change of `bytes`. */
  remove(): number {
    this.entries--;
    this.holes++;
    if (this.entries < this.slots >> 2 && this.slots > 4) {
      this.slots >>= 1;
      this.holes = 0;
    }
    return this.resized();
  }

  private resized(): number {
    const b = this.size();
    const d = b - this.bytes;
    this.bytes = b;
    return d;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Access tracking (LRU and LFU).

/** Redis's LFU_INIT_VAL: the counter of a new key, so that it is not evicted before it had a chance. */
export const LFU_INIT_VAL = 5;

/**
 * One key's bookkeeping: its accounted size, its place in its database's access order, its last access
 * (seconds on the tracker's clock) and, under an LFU policy, Redis's LFU word: the minute of the last
 * decrement (16 bits) and the logarithmic counter (8 bits).
 */
export class KeyNode {
  prev: KeyNode | null = null;
  next: KeyNode | null = null;
  constructor(
    readonly key: string,
    public size: number,
    public atime: number,
    public lfu: number,
  ) {}
}

/**
 * A database's bookkeeping: a node per key and the access order. Under an LRU (or no) policy every node is
 * in list 0, least recently used first; under an LFU policy list c holds the keys whose counter is c, each
 * least recently used first (so a list's head is its most decayed key).
 */
export class DbMemory {
  readonly nodes = new Map<string, KeyNode>();
  readonly heads: (KeyNode | null)[] = new Array(256).fill(null);
  readonly tails: (KeyNode | null)[] = new Array(256).fill(null);
  /** Bit c set when list c is not empty (8 words of 32), so that eviction visits only those. */
  readonly nonEmpty = new Uint32Array(8);
  /** Σ node sizes. */
  bytes = 0;
  /** `db.dict` and `nodes` (same keys): two tables of 3-word entries, sized as one. */
  readonly table = new TableSim(2 * MAP_SLOT);
  readonly expiresTable = new TableSim(MAP_SLOT);
  /** `db.expires.size` when last seen. */
  expiresCount = 0;

  /** Everything this database costs. */
  get total(): number {
    return (
      3 * COLLECTION_OBJECT +
      this.bytes +
      this.table.bytes +
      this.expiresTable.bytes +
      this.expiresCount * VOLATILE_BYTES
    );
  }

  append(node: KeyNode, list: number): void {
    const tail = this.tails[list];
    node.prev = tail;
    node.next = null;
    if (tail === null) {
      this.heads[list] = node;
      this.nonEmpty[list >> 5] |= 1 << (list & 31);
    } else tail.next = node;
    this.tails[list] = node;
  }

  unlink(node: KeyNode, list: number): void {
    const { prev, next } = node;
    if (prev === null) this.heads[list] = next;
    else prev.next = next;
    if (next === null) this.tails[list] = prev;
    else next.prev = prev;
    if (this.heads[list] === null) this.nonEmpty[list >> 5] &= ~(1 << (list & 31));
    node.prev = null;
    node.next = null;
  }
}

/** Period of the clocks' timer, ms: the resolution of last-access times. */
const CLOCK_MS = 100;

/** How the dispatcher touches a command's keys: none, argv[1] only, or the key specs. */
const TOUCH_NONE = 0;
const TOUCH_FIRST = 1;
const TOUCH_SPECS = 2;
/**
 * Commands that look keys up without counting as an access (Redis's LOOKUP_NOTOUCH): TYPE, EXISTS, the TTL
 * family and OBJECT; WATCH does not look its keys up at all. KEYS, SCAN, RANDOMKEY and DBSIZE name no keys.
 */
const NOTOUCH = new Set(['TYPE', 'EXISTS', 'TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME', 'OBJECT', 'WATCH']);

function touchPlan(cmd: RuntimeCommand): number {
  const keys = cmd.spec.keys;
  if (keys.length === 0 || NOTOUCH.has(cmd.root)) return TOUCH_NONE;
  if (keys.length === 1 && isFirstArgOnly(keys[0])) return TOUCH_FIRST;
  return TOUCH_SPECS;
}

function isFirstArgOnly(k: CommandSpec['keys'][number]): boolean {
  return 'index' in k.begin && k.begin.index === 1 && 'range' in k.find && k.find.range.lastKey === 0;
}

/** The eviction policies, as Redis names them. */
export const POLICIES = [
  'volatile-lru',
  'volatile-lfu',
  'volatile-random',
  'volatile-ttl',
  'allkeys-lru',
  'allkeys-lfu',
  'allkeys-random',
  'noeviction',
] as const;
export type Policy = (typeof POLICIES)[number];

/**
 * The engine's memory accounting and access tracking (`engine.memory`).
 *
 * - Accounting: every key has a `KeyNode` whose `size` estimates what the key costs (key, value, node), kept
 *   up to date from the key-change path (`onKeyChange`, called by `engine.notify`); `used` is their sum plus
 *   the tables that hold them. What it counts and how close it is to the heap: docs/eviction.md.
 * - Access: the dispatcher calls `touchCommand` before a command runs, with the keys its table entry names
 *   (not for NOTOUCH commands); a key created by the command starts fresh (LFU counter LFU_INIT_VAL).
 * - Eviction: `evictor` (engine/eviction.ts) picks victims from this bookkeeping.
 */
export class MemoryTracker {
  /** Estimated bytes of the dataset: what `maxmemory` bounds (INFO used_memory). */
  used = 0;
  /** Highest `used` seen (INFO used_memory_peak). */
  peak = 0;
  /** Keys evicted since start or CONFIG RESETSTAT (INFO evicted_keys). */
  evictedKeys = 0;
  /** True under an LFU policy: nodes are kept in counter lists and counters move on access. */
  lfuMode: boolean;
  /**
   * Whether keys are tracked at all (a node per key: its size, last access, LFU counter; about 100 bytes a
   * key). Only while there is something to track them for — a `maxmemory`, or a `maxmemory-policy` other
   * than noeviction (OBJECT IDLETIME/FREQ) — so the default configuration pays nothing per key. Turned on
   * by `refreshTracking`, which then walks every key once.
   */
  tracking = false;
  readonly evictor: Evictor;
  private dbs: DbMemory[];
  /**
   * The clocks, read every CLOCK_MS by a timer (Redis's server.lruclock, updated by serverCron) so that an
   * access costs no clock read: `clock` is seconds since `epoch` (last accesses), `minutes` the LFU clock
   * (Unix minutes, 16 bits).
   */
  private readonly epoch = Date.now();
  private clock = 0;
  private minutes = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly plans = new Map<RuntimeCommand, number>();

  constructor(private readonly engine: Engine) {
    this.dbs = engine.dbs.map(() => new DbMemory());
    for (const d of this.dbs) this.used += d.total;
    this.lfuMode = engine.options.maxmemoryPolicy.endsWith('-lfu');
    this.tracking = wantsTracking(engine.options);
    this.evictor = new Evictor(engine, this);
    this.tick();
    this.timer = setInterval(() => this.tick(), CLOCK_MS);
    this.timer.unref();
  }

  /** Stops the clock and background eviction (shutdown). */
  stop(): void {
    clearInterval(this.timer);
    this.evictor.stop();
  }

  /** The bookkeeping of database `index`. */
  db(index: number): DbMemory {
    return this.dbs[index];
  }

  /** Reads the clocks (LRU seconds, LFU minutes). */
  private tick(): void {
    const now = Date.now();
    this.clock = Math.floor((now - this.epoch) / 1000);
    this.minutes = Math.floor(now / 60_000) & 0xffff;
  }

  /** Seconds on the LRU clock (to CLOCK_MS). */
  now(): number {
    return this.clock;
  }

  /**
   * The key-change path's hook (engine.notify): `key` in `db` was created, changed or removed. Updates its
   * node and `used`. While loading nothing is tracked (`rebuild` follows).
   */
  onKeyChange(db: Db, key: string): void {
    if (!this.tracking || this.engine.loading) return;
    const dm = this.dbs[db.index];
    const v = db.dict.get(key);
    const node = dm.nodes.get(key);
    if (v === undefined) {
      if (node !== undefined) this.removeNode(dm, node);
    } else if (node === undefined) this.addNode(dm, key, v);
    else {
      const size = stringBytes(key.length) + valueBytes(v) + NODE_BYTES;
      const d = size - node.size;
      if (d !== 0) {
        node.size = size;
        dm.bytes += d;
        this.used += d;
      }
    }
    const n = db.expires.size;
    if (n !== dm.expiresCount) this.syncExpires(dm, n);
    if (this.used > this.peak) this.peak = this.used;
  }

  /** FLUSHDB/FLUSHALL start the databases' bookkeeping afresh; SWAPDB swaps it with the dictionaries. */
  onDbEvent(e: DbEvent): void {
    if (!this.tracking) return;
    if (e.kind === 'swapdb') {
      const o = e.other as number;
      [this.dbs[e.db], this.dbs[o]] = [this.dbs[o], this.dbs[e.db]];
      return;
    }
    for (let i = 0; i < this.dbs.length; i++) {
      if (e.db !== -1 && e.db !== i) continue;
      this.used -= this.dbs[i].total;
      this.dbs[i] = new DbMemory();
      this.used += this.dbs[i].total;
    }
  }

  /**
   * Rebuilds every node from the dictionaries (after loading a snapshot or an AOF, which bypass the
   * key-change path): sizes measured exactly, every key as if just created, in dictionary order.
   */
  rebuild(): void {
    this.tick();
    if (!this.tracking) {
      this.dbs = this.engine.dbs.map(() => new DbMemory());
      this.used = 0;
      for (const d of this.dbs) this.used += d.total;
      return;
    }
    this.dbs = this.engine.dbs.map((db) => {
      const dm = new DbMemory();
      for (const [key, v] of db.dict) this.addNode(dm, key, v);
      this.syncExpires(dm, db.expires.size);
      return dm;
    });
    this.used = 0;
    for (const d of this.dbs) this.used += d.total;
    this.peak = Math.max(this.peak, this.used);
  }

  /**
   * Before `cmd` runs (the dispatcher): an access to each key its table entry names that exists in `db`,
   * unless the command is one of NOTOUCH.
   */
  touchCommand(db: Db, cmd: RuntimeCommand, argv: string[]): void {
    if (!this.tracking) return;
    let plan = this.plans.get(cmd);
    if (plan === undefined) {
      plan = touchPlan(cmd);
      this.plans.set(cmd, plan);
    }
    if (plan === TOUCH_NONE) return;
    const dm = this.dbs[db.index];
    if (dm.nodes.size === 0) return;
    if (plan === TOUCH_FIRST) {
      if (argv.length > 1) {
        const node = dm.nodes.get(argv[1]);
        if (node !== undefined) this.touch(dm, node);
      }
      return;
    }
    for (const r of getKeyPositions(cmd.spec.keys, argv)) {
      const node = dm.nodes.get(argv[r.index]);
      if (node !== undefined) this.touch(dm, node);
    }
  }

  /** One access: LRU, the key moves to the end of the order; LFU, Redis's updateLFU (decay, then a log increment). */
  private touch(dm: DbMemory, node: KeyNode): void {
    node.atime = this.clock;
    if (!this.lfuMode) {
      if (dm.tails[0] !== node) {
        dm.unlink(node, 0);
        dm.append(node, 0);
      }
      return;
    }
    const before = node.lfu & 255;
    const c = this.logIncr(this.decayed(node.lfu));
    node.lfu = (this.minutes << 8) | c;
    if (c !== before || dm.tails[c] !== node) {
      dm.unlink(node, before);
      dm.append(node, c);
    }
  }

  private addNode(dm: DbMemory, key: string, v: Value): void {
    const size = stringBytes(key.length) + valueBytes(v) + NODE_BYTES;
    const node = new KeyNode(key, size, this.clock, (this.minutes << 8) | LFU_INIT_VAL);
    dm.nodes.set(key, node);
    dm.append(node, this.lfuMode ? LFU_INIT_VAL : 0);
    dm.bytes += size;
    this.used += size + dm.table.add();
  }

  private removeNode(dm: DbMemory, node: KeyNode): void {
    dm.unlink(node, this.lfuMode ? node.lfu & 255 : 0);
    dm.nodes.delete(node.key);
    dm.bytes -= node.size;
    this.used += dm.table.remove() - node.size;
  }

  /** `db.expires` went from `dm.expiresCount` to `n` entries. */
  private syncExpires(dm: DbMemory, n: number): void {
    let d = (n - dm.expiresCount) * VOLATILE_BYTES;
    for (let i = dm.expiresCount; i < n; i++) d += dm.expiresTable.add();
    for (let i = n; i < dm.expiresCount; i++) d += dm.expiresTable.remove();
    dm.expiresCount = n;
    this.used += d;
  }

  // ---- LFU (Redis's evict.c) ----

  /** LFUDecrAndReturn: the counter of an LFU word, less one per `lfu-decay-time` minutes since its last decrement. */
  decayed(lfu: number): number {
    const counter = lfu & 255;
    const period = this.engine.options.lfuDecayTime;
    if (period === 0) return counter;
    const ldt = lfu >>> 8;
    const now = this.minutes;
    const elapsed = now >= ldt ? now - ldt : 65535 - ldt + now;
    const periods = Math.floor(elapsed / period);
    return periods >= counter ? 0 : counter - periods;
  }

  /** LFULogIncr: +1 with probability 1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1), saturating at 255. */
  private logIncr(counter: number): number {
    if (counter === 255) return 255;
    const base = counter > LFU_INIT_VAL ? counter - LFU_INIT_VAL : 0;
    return Math.random() < 1 / (base * this.engine.options.lfuLogFactor + 1) ? counter + 1 : counter;
  }

  /**
   * Switches between LRU and LFU bookkeeping when the policy changes family. To LFU: every key gets
   * LFU_INIT_VAL, in LRU order (least recently used evicted first among equals). To LRU: keys are ordered
   * by their last access (second resolution). O(n log n); other policy changes cost nothing.
   */
  setPolicy(p: Policy): void {
    this.engine.options.maxmemoryPolicy = p;
    this.evictor.clearPool();
    const lfu = p.endsWith('-lfu');
    if (lfu === this.lfuMode) return;
    this.tick();
    for (const dm of this.dbs) {
      const nodes: KeyNode[] = [];
      for (let c = 0; c < 256; c++) {
        for (let n = dm.heads[c]; n !== null; n = n.next) nodes.push(n);
        dm.heads[c] = null;
        dm.tails[c] = null;
      }
      dm.nonEmpty.fill(0);
      if (!lfu) nodes.sort((a, b) => a.atime - b.atime);
      for (const n of nodes) {
        if (lfu) n.lfu = (this.minutes << 8) | LFU_INIT_VAL;
        dm.append(n, lfu ? LFU_INIT_VAL : 0);
      }
    }
    this.lfuMode = lfu;
  }

  /**
   * Starts or stops tracking after `maxmemory` or `maxmemory-policy` changed (see `tracking`): starting
   * walks every key once (each as if just accessed); stopping drops the nodes.
   */
  refreshTracking(): void {
    const want = wantsTracking(this.engine.options);
    if (want === this.tracking) return;
    this.tracking = want;
    this.rebuild();
  }

  // ---- OBJECT FREQ / IDLETIME ----

  /** OBJECT FREQ: the decayed LFU counter of `key`, or null when it has no node. */
  frequency(db: Db, key: string): number | null {
    const node = this.dbs[db.index].nodes.get(key);
    if (node === undefined) return null;
    return this.decayed(node.lfu);
  }

  /** OBJECT IDLETIME: seconds since the last access to `key`, or null when it has no node. */
  idleSeconds(db: Db, key: string): number | null {
    const node = this.dbs[db.index].nodes.get(key);
    if (node === undefined) return null;
    return Math.max(0, this.clock - node.atime);
  }

  /** CONFIG RESETSTAT. */
  resetStats(): void {
    this.evictedKeys = 0;
    this.peak = this.used;
    this.evictor.resetStats();
  }

  /**
   * INFO memory's fields, in Redis's names and order: `usage` (used_memory … used_memory_dataset) and
   * `limit` (maxmemory, maxmemory_human, maxmemory_policy).
   */
  info(): { usage: [string, string | number][]; limit: [string, string | number][] } {
    const o = this.engine.options;
    if (!this.tracking) {
      // No per-key accounting without a limit or a policy: the process's heap stands in (as before).
      const m = process.memoryUsage();
      const heap = m.heapUsed + m.external + m.arrayBuffers;
      if (heap > this.peak) this.peak = heap;
      return {
        usage: [
          ['used_memory', heap],
          ['used_memory_human', bytesToHuman(heap)],
          ['used_memory_peak', this.peak],
          ['used_memory_peak_human', bytesToHuman(this.peak)],
          ['used_memory_peak_perc', `${((heap / this.peak) * 100).toFixed(2)}%`],
          ['used_memory_overhead', 0],
          ['used_memory_dataset', heap],
        ],
        limit: [
          ['maxmemory', o.maxmemory],
          ['maxmemory_human', bytesToHuman(o.maxmemory)],
          ['maxmemory_policy', o.maxmemoryPolicy],
        ],
      };
    }
    let overhead = 0;
    for (const d of this.dbs) overhead += d.total - d.bytes + d.nodes.size * NODE_BYTES;
    return {
      usage: [
        ['used_memory', this.used],
        ['used_memory_human', bytesToHuman(this.used)],
        ['used_memory_peak', this.peak],
        ['used_memory_peak_human', bytesToHuman(this.peak)],
        ['used_memory_peak_perc', `${this.peak === 0 ? '0.00' : ((this.used / this.peak) * 100).toFixed(2)}%`],
        ['used_memory_overhead', overhead],
        ['used_memory_dataset', this.used - overhead],
      ],
      limit: [
        ['maxmemory', o.maxmemory],
        ['maxmemory_human', bytesToHuman(o.maxmemory)],
        ['maxmemory_policy', o.maxmemoryPolicy],
      ],
    };
  }
}

/**
 * Parses a memory amount as Redis's memtoull does: digits, optionally followed by a unit, case-insensitive:
 * b (1), k (1000), kb (1024), m (10^6), mb (2^20), g (10^9), gb (2^30); no digits at all is 0. Throws
 * Error("argument must be a memory value") otherwise (a sign, a fraction, blanks, another unit).
 */
/** Whether the options ask for per-key tracking (MemoryTracker.tracking). */
function wantsTracking(o: Engine['options']): boolean {
  return o.maxmemory !== 0 || o.maxmemoryPolicy !== 'noeviction';
}

export function parseMemory(v: string): number {
  const m = /^(\d*)(b|k|kb|m|mb|g|gb)?$/i.exec(v);
  if (!m) throw new Error('argument must be a memory value');
  const unit = (m[2] ?? '').toLowerCase();
  const mul: Record<string, number> = { '': 1, b: 1, k: 1000, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
  // No digits read as 0, as strtoull makes of them ("", "mb").
  return Number(m[1]) * mul[unit];
}

/** Redis's bytesToHuman: 1023B, 1.00K, 12.50M, 2.00G… */
export function bytesToHuman(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T', 'P'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)}${units[i]}`;
}
