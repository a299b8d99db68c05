/**
 * Keyspace event classes, as in Redis's notify-keyspace-events flags:
 * g generic, $ string, l list, s set, h hash, z sorted set, x expired, e evicted, t stream, n new, d module,
 * m key-miss. K and E select the channel kinds; A is an alias for "g$lshzxetd".
 */
export type EventClass = 'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 't' | 'n' | 'd' | 'm';

export const NOTIFY_KEYSPACE = 1 << 0; // K
export const NOTIFY_KEYEVENT = 1 << 1; // E
const CLASS_BITS: Record<string, number> = {
  g: 1 << 2,
  $: 1 << 3,
  l: 1 << 4,
  s: 1 << 5,
  h: 1 << 6,
  z: 1 << 7,
  x: 1 << 8,
  e: 1 << 9,
  t: 1 << 10,
  n: 1 << 11,
  d: 1 << 12,
  m: 1 << 13,
};
const ALL =
  CLASS_BITS.g |
  CLASS_BITS.$ |
  CLASS_BITS.l |
  CLASS_BITS.s |
  CLASS_BITS.h |
  CLASS_BITS.z |
  CLASS_BITS.x |
  CLASS_BITS.e |
  CLASS_BITS.t |
  CLASS_BITS.d;

export function classBit(c: EventClass): number {
  return CLASS_BITS[c];
}

/**
 * Parses a notify-keyspace-events string (Redis's keyspaceEventsStringToFlags).
 * Returns the bit mask, or -1 for an unknown character.
 */
export function parseNotifyFlags(s: string): number {
  let flags = 0;
  for (const ch of s) {
    if (ch === 'A') flags |= ALL;
    else if (ch === 'K') flags |= NOTIFY_KEYSPACE;
    else if (ch === 'E') flags |= NOTIFY_KEYEVENT;
    else if (ch in CLASS_BITS) flags |= CLASS_BITS[ch];
    else return -1;
  }
  return flags;
}

/**
 * Formats flags back to Redis's string (keyspaceEventsFlagsToString), quirks included: classes (or `A`;
 * with `A`, Redis omits `n`), then `K`, `E`, `m` — e.g. "AKE", "xE", "gnKm".
 */
export function formatNotifyFlags(flags: number): string {
  let s = '';
  if ((flags & ALL) === ALL) s += 'A';
  else {
    for (const c of ['g', '$', 'l', 's', 'h', 'z', 'x', 'e', 't', 'd', 'n'] as const) if (flags & CLASS_BITS[c]) s += c;
  }
  if (flags & NOTIFY_KEYSPACE) s += 'K';
  if (flags & NOTIFY_KEYEVENT) s += 'E';
  if (flags & CLASS_BITS.m) s += 'm';
  return s;
}

/**
 * One key change, as passed to every listener of the notify path (keyspace notifications, WATCH,
 * blocked-client wake-up, and — in later issues — the append-only file and the resumable event log).
 */
export interface KeyEvent {
  db: number;
  key: string;
  /**
   * Redis's event name: `set`, `del`, `expired`, `lpush`, `hset`, …; empty for a change Redis announces with
   * no event (engine.keyChanged: XACK, a stream's consumer-group bookkeeping).
   */
  event: string;
  cls: EventClass;
}

/** A whole-database change that has no per-key events (FLUSHDB, FLUSHALL, SWAPDB). `db` -1 = all. */
export interface DbEvent {
  kind: 'flushdb' | 'swapdb';
  db: number;
  other?: number;
}

export interface KeyspaceListener {
  onKeyEvent?(e: KeyEvent): void;
  onDbEvent?(e: DbEvent): void;
  /**
   * Key events may have been missed (the Redis engine's event feed lost its connection to a master and
   * subscribed again): whatever a listener derives from them should be looked at afresh.
   */
  onResync?(): void;
}

/** Event names Redis emits, by class (for events that come from elsewhere: the Redis engine's feed). */
const EVENT_CLASSES: Record<string, EventClass> = {};
for (const [cls, names] of [
  ['$', 'set setrange incrby incrbyfloat append'],
  ['l', 'lpush rpush lpop rpop linsert lset lrem ltrim'],
  ['s', 'sadd srem spop sinterstore sunionstore sdiffstore'],
  ['h', 'hset hsetnx hincrby hincrbyfloat hdel hexpire hpersist hexpired'],
  [
    'z',
    'zadd zincr zrem zpopmin zpopmax zrembyscore zrembyrank zrembylex zinterstore zunionstore zdiffstore zrangestore',
  ],
  ['x', 'expired'],
  ['e', 'evicted'],
  ['n', 'new'],
  ['m', 'keymiss'],
  ['t', 'xadd xtrim xdel xsetid xgroup-create xgroup-createconsumer xgroup-delconsumer xgroup-destroy xgroup-setid'],
] as const) {
  for (const n of names.split(' ')) EVENT_CLASSES[n] = cls;
}

/**
 * The class of a keyspace event by its name (`expired` → x, `hset` → h, …); generic (g) for the rest
 * (del, expire, rename_from, copy_to, restore, sortstore, …), as Redis classes them.
 */
export function eventClassOf(event: string): EventClass {
  return EVENT_CLASSES[event] ?? 'g';
}
