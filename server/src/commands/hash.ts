import type { Client } from '../engine/client.js';
import type { Db } from '../engine/db.js';
import { CommandError, Err, MapReply, OK, type Reply, wrongArity } from '../protocol/reply.js';
import { INT64_MAX, INT64_MIN, parseIntStrict, toBigInt } from './args.js';
import { addLongDouble, formatLongDouble, LD_ZERO, parseLongDouble } from './long-double.js';
import { nth, parseRandomCountWith, randomIndex, sampleDistinct, sampleRepeated } from './random.js';
import { parseScanCursor, parseScanOptions, scanStep } from './scan-args.js';
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

  // HINCRBYFLOAT key field increment — long double arithmetic and "%.17Lf" output, as INCRBYFLOAT.
  HINCRBYFLOAT(client, argv) {
    const db = client.db;
    const key = argv[1];
    const incr = parseLongDouble(argv[3]);
    if (incr === null) throw new CommandError(Err.notFloat);
    if ('inf' in incr) throw new CommandError('ERR value is NaN or Infinity');
    const h = getHash(db, key);
    const cur = h?.get(argv[2]);
    const value = cur === undefined ? LD_ZERO : parseLongDouble(cur);
    if (value === null) throw new CommandError(Err.hashNotFloat);
    const result = addLongDouble(value, incr);
    if ('inf' in result) throw new CommandError(Err.nanOrInf);
    const s = formatLongDouble(result);
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
    const opts = parseScanOptions(argv, 3, 'NOVALUES');
    return scanStep(client, cursor, opts, {
      items: h,
      small: h,
      name: ([f]) => f,
      emit: ([f, v], out) => {
        out.push(f);
        if (!opts.noValues) out.push(v);
      },
    });
  },

  // HRANDFIELD key [count [WITHVALUES]]
  HRANDFIELD(client, argv) {
    if (argv.length === 2) {
      const h = readHash(client, argv[1]);
      if (h === undefined) return null;
      return nth(h.keys(), randomIndex(h.size));
    }
    const { count: l, withPairs: withValues } = parseRandomCountWith(argv, 'WITHVALUES');
    const h = readHash(client, argv[1]);
    if (h === undefined || l === 0) return [];
    const size = h.size;
    const picks = l < 0 ? sampleRepeated(h, size, -l) : l >= size ? Array.from(h) : sampleDistinct(h, size, l);
    return withValues ? pairsReply(client, picks) : picks.map((e) => e[0]);
  },
};
