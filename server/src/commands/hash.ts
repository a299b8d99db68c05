import type { Client } from '../engine/client.js';
import type { Db } from '../engine/db.js';
import { compileGlob } from '../engine/glob.js';
import { CommandError, Err, MapReply, OK, type Reply, wrongArity } from '../protocol/reply.js';
import { INT64_MAX, INT64_MIN, kw, parseIntStrict, toBigInt, toFloat, toInt } from './args.js';
import { parseScanCursor } from './keys.js';
import { formatHumanDouble } from './string.js';
import type { Handlers } from './types.js';

/** Returns the hash at `key` for a write, undefined when missing; throws WRONGTYPE for other types. */
function getHash(db: Db, key: string): Map<string, string> | undefined {
  const v = db.lookup(key);
  if (v === undefined) return undefined;
  if (!(v instanceof Map)) throw new CommandError(Err.wrongType);
  return v;
}

/** Like getHash, for read commands: also counts keyspace hits and misses (as Redis's lookupKeyRead). */
function readHash(client: Client, key: string): Map<string, string> | undefined {
  const h = getHash(client.db, key);
  if (h === undefined) client.engine.stats.keyspaceMisses++;
  else client.engine.stats.keyspaceHits++;
  return h;
}

/** Returns the hash at `key`, creating it (and emitting `new`) when missing; Redis's hashTypeLookupWriteOrCreate. */
function getOrCreateHash(db: Db, key: string): Map<string, string> {
  let h = getHash(db, key);
  if (h === undefined) {
    h = new Map();
    db.add(key, h);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers shared with the other collection types (set.ts and zset.ts use them).

/** Collections at or below this size answer a fresh *SCAN (cursor 0) in one reply, as Redis's listpacks do. */
export const SCAN_SMALL = 128;

/**
 * Validates a *SCAN cursor (Redis's parseScanCursorOrReply). Throws `ERR invalid cursor`.
 * Prefer keys.ts's parseScanCursor, which also returns the canonical form to hand to ScanCursors.
 */
export function checkScanCursor(cursor: string): void {
  parseScanCursor(cursor);
}

export interface ScanOptions {
  /** Entries to visit per call (COUNT, default 10). */
  count: number;
  /** MATCH filter; null when there is none or the pattern is `*`. */
  match: ((s: string) => boolean) | null;
  /** HSCAN NOVALUES (Redis 7.4): reply with fields only. */
  noValues: boolean;
}

/**
 * Parses `[MATCH pattern] [COUNT count]` (and NOVALUES when `allowNoValues`) from argv[from…], as Redis's
 * scanGenericCommand does. Throws `ERR syntax error` for unknown options or COUNT < 1, and the integer
 * error for a malformed COUNT.
 */
export function parseScanOptions(argv: string[], from: number, allowNoValues: boolean): ScanOptions {
  const opts: ScanOptions = { count: 10, match: null, noValues: false };
  for (let i = from; i < argv.length; i++) {
    const o = kw(argv[i]);
    const more = i + 1 < argv.length;
    if (o === 'COUNT' && more) {
      opts.count = toInt(argv[++i]);
      if (opts.count < 1) throw new CommandError(Err.syntax);
    } else if (o === 'MATCH' && more) {
      const p = argv[++i];
      opts.match = p === '*' ? null : compileGlob(p);
    } else if (o === 'NOVALUES' && allowNoValues) {
      opts.noValues = true;
    } else {
      throw new CommandError(Err.syntax);
    }
  }
  return opts;
}

/**
 * Parses the count of SRANDMEMBER / HRANDFIELD: any 64-bit integer but INT64_MIN (Redis's range
 * -LONG_MAX..LONG_MAX). Throws the integer or range error Redis gives.
 */
export function parseRandomCount(s: string): bigint {
  const n = toBigInt(s);
  if (n === INT64_MIN) {
    throw new CommandError(`ERR value is out of range, value must between ${-INT64_MAX} and ${INT64_MAX}`);
  }
  return n;
}

/**
 * Largest reply a negative (repeating) random count may ask for. Redis would stream it until the client's
 * output buffer limit disconnects it; kvws builds replies in memory, so it refuses such counts up front.
 */
export const MAX_RANDOM_REPLY = 10_000_000;

/** A uniformly random integer in [0, n). */
export function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

/** The element at position `i` of `items`' iteration order. O(i). `i` must be < the number of items. */
export function nth<T>(items: Iterable<T>, i: number): T {
  for (const x of items) {
    if (i-- === 0) return x;
  }
  throw new Error('nth: index out of range');
}

/**
 * `k` distinct elements of `items` (which holds `size` > `k` elements), chosen uniformly at random, in
 * random order. O(size).
 */
export function sampleDistinct<T>(items: Iterable<T>, size: number, k: number): T[] {
  if (k * 3 > size) {
    // Partial Fisher–Yates over a copy.
    const all = Array.from(items);
    for (let i = 0; i < k; i++) {
      const j = i + randomIndex(size - i);
      const t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    all.length = k;
    return all;
  }
  // Few picks from a large collection: choose positions, then walk once.
  const picked = new Set<number>();
  while (picked.size < k) picked.add(randomIndex(size));
  const positions = [...picked].sort((a, b) => a - b);
  const out: T[] = [];
  let pos = 0;
  let next = 0;
  for (const x of items) {
    if (pos++ === positions[next]) {
      out.push(x);
      if (++next === k) break;
    }
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomIndex(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

/** HSET and HMSET (Redis's hsetCommand): set field/value pairs; `hmset` selects the OK reply. */
function hsetGeneric(client: Client, argv: string[], hmset: boolean): Reply {
  if (argv.length % 2 === 1) throw new CommandError(wrongArity(hmset ? 'hmset' : 'hset'));
  const db = client.db;
  const key = argv[1];
  const h = getOrCreateHash(db, key);
  let created = 0;
  for (let i = 2; i < argv.length; i += 2) {
    const size = h.size;
    h.set(argv[i], argv[i + 1]);
    if (h.size !== size) created++;
  }
  client.engine.notify(db, key, 'hset', 'h');
  return hmset ? OK : created;
}

/** Reply of HRANDFIELD … WITHVALUES: RESP3 nests [field, value] pairs, RESP2 flattens them. */
function pairsReply(client: Client, pairs: [string, string][]): Reply {
  if (client.resp === 3) return pairs;
  const out: string[] = new Array(pairs.length * 2);
  for (let i = 0; i < pairs.length; i++) {
    out[2 * i] = pairs[i][0];
    out[2 * i + 1] = pairs[i][1];
  }
  return out;
}

export const handlers: Handlers = {
  // HSET key field value [field value ...]
  HSET(client, argv) {
    return hsetGeneric(client, argv, false);
  },

  // HMSET key field value [field value ...]
  HMSET(client, argv) {
    return hsetGeneric(client, argv, true);
  },

  // HSETNX key field value
  HSETNX(client, argv) {
    const db = client.db;
    const key = argv[1];
    const h = getOrCreateHash(db, key);
    if (h.has(argv[2])) return 0;
    h.set(argv[2], argv[3]);
    client.engine.notify(db, key, 'hset', 'h');
    return 1;
  },

  // HGET key field
  HGET(client, argv) {
    return readHash(client, argv[1])?.get(argv[2]) ?? null;
  },

  // HMGET key field [field ...]
  HMGET(client, argv) {
    const h = readHash(client, argv[1]);
    const out: Reply[] = new Array(argv.length - 2);
    for (let i = 2; i < argv.length; i++) out[i - 2] = h?.get(argv[i]) ?? null;
    return out;
  },

  // HDEL key field [field ...]
  HDEL(client, argv) {
    const db = client.db;
    const key = argv[1];
    const h = getHash(db, key);
    if (h === undefined) return 0;
    let deleted = 0;
    for (let i = 2; i < argv.length; i++) if (h.delete(argv[i])) deleted++;
    if (deleted === 0) return 0;
    const engine = client.engine;
    engine.notify(db, key, 'hdel', 'h');
    if (h.size === 0) {
      db.delete(key);
      engine.notify(db, key, 'del', 'g');
    }
    return deleted;
  },

  // HEXISTS key field
  HEXISTS(client, argv) {
    return readHash(client, argv[1])?.has(argv[2]) ? 1 : 0;
  },

  // HLEN key
  HLEN(client, argv) {
    return readHash(client, argv[1])?.size ?? 0;
  },

  // HSTRLEN key field
  HSTRLEN(client, argv) {
    return readHash(client, argv[1])?.get(argv[2])?.length ?? 0;
  },

  // HKEYS key
  HKEYS(client, argv) {
    const h = readHash(client, argv[1]);
    return h ? Array.from(h.keys()) : [];
  },

  // HVALS key
  HVALS(client, argv) {
    const h = readHash(client, argv[1]);
    return h ? Array.from(h.values()) : [];
  },

  // HGETALL key — a map in RESP3, a flat field/value array in RESP2.
  HGETALL(client, argv) {
    const h = readHash(client, argv[1]);
    return new MapReply(h ? Array.from(h) : []);
  },

  // HINCRBY key field increment
  HINCRBY(client, argv) {
    const db = client.db;
    const key = argv[1];
    const incr = toBigInt(argv[3]);
    const h = getHash(db, key);
    const cur = h?.get(argv[2]);
    let value = 0n;
    if (cur !== undefined) {
      const n = parseIntStrict(cur);
      if (n === undefined) throw new CommandError(Err.hashNotInteger);
      value = n;
    }
    const result = value + incr;
    if (result > INT64_MAX || result < INT64_MIN) throw new CommandError(Err.overflow);
    const target = h ?? getOrCreateHash(db, key);
    target.set(argv[2], result.toString());
    client.engine.notify(db, key, 'hincrby', 'h');
    return result >= -9007199254740991n && result <= 9007199254740991n ? Number(result) : result;
  },

  // HINCRBYFLOAT key field increment
  HINCRBYFLOAT(client, argv) {
    const db = client.db;
    const key = argv[1];
    const incr = toFloat(argv[3]);
    if (!Number.isFinite(incr)) throw new CommandError('ERR value is NaN or Infinity');
    const h = getHash(db, key);
    const cur = h?.get(argv[2]);
    const value = cur === undefined ? 0 : toFloat(cur, Err.hashNotFloat);
    const result = value + incr;
    if (!Number.isFinite(result)) throw new CommandError(Err.nanOrInf);
    const s = formatHumanDouble(result);
    const target = h ?? getOrCreateHash(db, key);
    target.set(argv[2], s);
    client.engine.notify(db, key, 'hincrbyfloat', 'h');
    return s;
  },

  // HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]
  HSCAN(client, argv) {
    const cursor = parseScanCursor(argv[2]);
    const h = readHash(client, argv[1]);
    if (h === undefined) return ['0', []];
    const { count, match, noValues } = parseScanOptions(argv, 3, true);
    const out: string[] = [];
    const visit = ([f, v]: [string, string]): void => {
      if (match && !match(f)) return;
      out.push(f);
      if (!noValues) out.push(v);
    };
    if (cursor === '0' && h.size <= SCAN_SMALL) {
      for (const e of h) visit(e);
      return ['0', out];
    }
    const next = client.engine.scans.step(h, cursor, count, visit);
    return [next, out];
  },

  // HRANDFIELD key [count [WITHVALUES]]
  HRANDFIELD(client, argv) {
    if (argv.length === 2) {
      const h = readHash(client, argv[1]);
      if (h === undefined) return null;
      return nth(h.keys(), randomIndex(h.size));
    }
    const big = parseRandomCount(argv[2]);
    if (argv.length > 4 || (argv.length === 4 && kw(argv[3]) !== 'WITHVALUES')) throw new CommandError(Err.syntax);
    const withValues = argv.length === 4;
    // Redis: -LONG_MAX/2 .. LONG_MAX/2, so that count*2 reply entries cannot overflow.
    if (withValues && (big > INT64_MAX / 2n || big < -INT64_MAX / 2n))
      throw new CommandError('ERR value is out of range');
    const l = Number(big);
    const h = readHash(client, argv[1]);
    if (h === undefined || l === 0) return [];
    const size = h.size;
    if (l < 0) {
      const count = -l;
      if (count > MAX_RANDOM_REPLY) throw new CommandError('ERR value is out of range');
      const entries = Array.from(h);
      const picks: [string, string][] = new Array(count);
      for (let i = 0; i < count; i++) picks[i] = entries[randomIndex(size)];
      return withValues ? pairsReply(client, picks) : picks.map((e) => e[0]);
    }
    const picks = l >= size ? Array.from(h) : sampleDistinct(h, size, l);
    return withValues ? pairsReply(client, picks) : picks.map((e) => e[0]);
  },
};
