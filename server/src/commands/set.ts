import type { Client } from '../engine/client.js';
import type { Db } from '../engine/db.js';
import { CommandError, Err, type Reply, SetReply } from '../protocol/reply.js';
import { toAtLeastOne, toPositive } from './args.js';
import { nth, parseRandomCount, randomIndex, sampleDistinct, sampleRepeated } from './random.js';
import { parseScanCursor, parseScanOptions, scanStep } from './scan-args.js';
import type { Handlers } from './types.js';

/** Returns the set at `key`, undefined when missing; throws WRONGTYPE for other types. */
function getSet(db: Db, key: string): Set<string> | undefined {
  const v = db.lookup(key);
  if (v === undefined) return undefined;
  if (!(v instanceof Set)) throw new CommandError(Err.wrongType);
  return v;
}

/** Like getSet, for read commands: also counts keyspace hits and misses (as Redis's lookupKeyRead). */
function readSet(client: Client, key: string): Set<string> | undefined {
  const s = getSet(client.db, key);
  if (s === undefined) client.engine.stats.keyspaceMisses++;
  else client.engine.stats.keyspaceHits++;
  return s;
}

/** Looks up every key as a set (missing → undefined). Type-checks all of them before any work, as Redis does. */
function getSets(client: Client, keys: string[]): (Set<string> | undefined)[] {
  return keys.map((k) => readSet(client, k));
}

/** Removes `key` after its set became empty, notifying `del` (after the command's own event). */
function deleteEmptied(client: Client, key: string): void {
  client.db.delete(key);
  client.engine.notify(client.db, key, 'del', 'g');
}

/** Intersection of `sets` (undefined = empty), stopping once `limit` members were found (0 = no limit). */
function intersect(sets: (Set<string> | undefined)[], limit = 0): Set<string> {
  const out = new Set<string>();
  if (sets.some((s) => s === undefined)) return out;
  const sorted = (sets as Set<string>[]).slice().sort((a, b) => a.size - b.size);
  const first = sorted[0];
  outer: for (const m of first) {
    for (let j = 1; j < sorted.length; j++) {
      if (sorted[j] !== first && !sorted[j].has(m)) continue outer;
    }
    out.add(m);
    if (limit !== 0 && out.size >= limit) break;
  }
  return out;
}

function union(sets: (Set<string> | undefined)[]): Set<string> {
  const out = new Set<string>();
  for (const s of sets) if (s) for (const m of s) out.add(m);
  return out;
}

function difference(sets: (Set<string> | undefined)[]): Set<string> {
  const first = sets[0];
  const out = new Set<string>();
  if (first === undefined) return out;
  for (let j = 1; j < sets.length; j++) if (sets[j] === first) return out;
  outer: for (const m of first) {
    for (let j = 1; j < sets.length; j++) if (sets[j]?.has(m)) continue outer;
    out.add(m);
  }
  return out;
}

type SetOp = 'sinterstore' | 'sunionstore' | 'sdiffstore';

/**
 * SINTERSTORE / SUNIONSTORE / SDIFFSTORE: computes `op` over argv[2…] and stores it at argv[1] (replacing
 * whatever was there and clearing its TTL), or deletes the destination when the result is empty.
 * Returns the cardinality of the result.
 */
function storeGeneric(client: Client, argv: string[], op: SetOp): Reply {
  const db = client.db;
  const dst = argv[1];
  const sets = getSets(client, argv.slice(2));
  const result = op === 'sinterstore' ? intersect(sets) : op === 'sunionstore' ? union(sets) : difference(sets);
  const engine = client.engine;
  if (result.size === 0) {
    if (db.lookup(dst) !== undefined) {
      db.delete(dst);
      engine.notify(db, dst, 'del', 'g');
    }
    return 0;
  }
  db.lookup(dst); // expire a stale destination first, so that `new` is emitted as Redis's setKey does
  db.set(dst, result);
  engine.notify(db, dst, op, 's');
  return result.size;
}

export const handlers: Handlers = {
  // SADD key member [member ...]
  SADD(client, argv) {
    const db = client.db;
    const key = argv[1];
    let s = getSet(db, key);
    if (s === undefined) {
      s = new Set();
      db.add(key, s);
    }
    let added = 0;
    for (let i = 2; i < argv.length; i++) {
      const size = s.size;
      s.add(argv[i]);
      if (s.size !== size) added++;
    }
    if (added !== 0) client.engine.notify(db, key, 'sadd', 's');
    return added;
  },

  // SREM key member [member ...]
  SREM(client, argv) {
    const db = client.db;
    const key = argv[1];
    const s = getSet(db, key);
    if (s === undefined) return 0;
    let removed = 0;
    for (let i = 2; i < argv.length; i++) if (s.delete(argv[i])) removed++;
    if (removed === 0) return 0;
    client.engine.notify(db, key, 'srem', 's');
    if (s.size === 0) deleteEmptied(client, key);
    return removed;
  },

  // SMEMBERS key
  SMEMBERS(client, argv) {
    const s = readSet(client, argv[1]);
    return new SetReply(s ? Array.from(s) : []);
  },

  // SISMEMBER key member
  SISMEMBER(client, argv) {
    return readSet(client, argv[1])?.has(argv[2]) ? 1 : 0;
  },

  // SMISMEMBER key member [member ...]
  SMISMEMBER(client, argv) {
    const s = readSet(client, argv[1]);
    const out: number[] = new Array(argv.length - 2);
    for (let i = 2; i < argv.length; i++) out[i - 2] = s?.has(argv[i]) ? 1 : 0;
    return out;
  },

  // SCARD key
  SCARD(client, argv) {
    return readSet(client, argv[1])?.size ?? 0;
  },

  // SPOP key [count]
  SPOP(client, argv) {
    if (argv.length > 3) throw new CommandError(Err.syntax);
    const db = client.db;
    const key = argv[1];
    const engine = client.engine;
    if (argv.length === 2) {
      const s = getSet(db, key);
      if (s === undefined) return null;
      const m = nth(s, randomIndex(s.size));
      s.delete(m);
      engine.notify(db, key, 'spop', 's');
      if (s.size === 0) deleteEmptied(client, key);
      return m;
    }
    const count = toPositive(argv[2]);
    const s = getSet(db, key);
    if (s === undefined || count === 0) return new SetReply([]);
    if (count >= s.size) {
      const all = Array.from(s);
      engine.notify(db, key, 'spop', 's');
      deleteEmptied(client, key);
      return new SetReply(all);
    }
    const picks = sampleDistinct(s, s.size, count);
    for (const m of picks) s.delete(m);
    engine.notify(db, key, 'spop', 's');
    return new SetReply(picks);
  },

  // SRANDMEMBER key [count]
  SRANDMEMBER(client, argv) {
    if (argv.length > 3) throw new CommandError(Err.syntax);
    if (argv.length === 2) {
      const s = readSet(client, argv[1]);
      if (s === undefined) return null;
      return nth(s, randomIndex(s.size));
    }
    const l = Number(parseRandomCount(argv[2]));
    const s = readSet(client, argv[1]);
    if (s === undefined || l === 0) return [];
    const size = s.size;
    if (l < 0) return sampleRepeated(s, size, -l);
    return l >= size ? Array.from(s) : sampleDistinct(s, size, l);
  },

  // SMOVE source destination member
  SMOVE(client, argv) {
    const db = client.db;
    const [, srcKey, dstKey, member] = argv;
    const srcV = db.lookup(srcKey);
    const dstV = db.lookup(dstKey);
    if (srcV === undefined) return 0;
    if (!(srcV instanceof Set) || (dstV !== undefined && !(dstV instanceof Set))) {
      throw new CommandError(Err.wrongType);
    }
    let dst = dstV as Set<string> | undefined;
    if (srcV === dst) return srcV.has(member) ? 1 : 0;
    if (!srcV.delete(member)) return 0;
    const engine = client.engine;
    engine.notify(db, srcKey, 'srem', 's');
    if (srcV.size === 0) deleteEmptied(client, srcKey);
    if (dst === undefined) {
      dst = new Set();
      db.add(dstKey, dst);
    }
    if (!dst.has(member)) {
      dst.add(member);
      engine.notify(db, dstKey, 'sadd', 's');
    }
    return 1;
  },

  // SINTER key [key ...]
  SINTER(client, argv) {
    return new SetReply(Array.from(intersect(getSets(client, argv.slice(1)))));
  },

  // SUNION key [key ...]
  SUNION(client, argv) {
    return new SetReply(Array.from(union(getSets(client, argv.slice(1)))));
  },

  // SDIFF key [key ...]
  SDIFF(client, argv) {
    return new SetReply(Array.from(difference(getSets(client, argv.slice(1)))));
  },

  // SINTERSTORE destination key [key ...]
  SINTERSTORE(client, argv) {
    return storeGeneric(client, argv, 'sinterstore');
  },

  // SUNIONSTORE destination key [key ...]
  SUNIONSTORE(client, argv) {
    return storeGeneric(client, argv, 'sunionstore');
  },

  // SDIFFSTORE destination key [key ...]
  SDIFFSTORE(client, argv) {
    return storeGeneric(client, argv, 'sdiffstore');
  },

  // SINTERCARD numkeys key [key ...] [LIMIT limit]
  SINTERCARD(client, argv) {
    const numkeys = toAtLeastOne(argv[1], 'ERR numkeys should be greater than 0');
    if (numkeys > argv.length - 2) throw new CommandError("ERR Number of keys can't be greater than number of args");
    let limit = 0;
    for (let i = 2 + numkeys; i < argv.length; i++) {
      if (argv[i].toUpperCase() === 'LIMIT' && i + 1 < argv.length) {
        limit = toPositive(argv[++i], "ERR LIMIT can't be negative");
      } else {
        throw new CommandError(Err.syntax);
      }
    }
    return intersect(getSets(client, argv.slice(2, 2 + numkeys)), limit).size;
  },

  // SSCAN key cursor [MATCH pattern] [COUNT count]
  SSCAN(client, argv) {
    const cursor = parseScanCursor(argv[2]);
    const s = readSet(client, argv[1]);
    if (s === undefined) return ['0', []];
    return scanStep(client, cursor, parseScanOptions(argv, 3, null), {
      items: s,
      small: s,
      name: (m) => m,
      emit: (m, out) => {
        out.push(m);
      },
    });
  },
};
