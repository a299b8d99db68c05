import type { Client } from '../engine/client.js';
import { cloneValue, type Db, typeOf } from '../engine/db.js';
import { compileGlob } from '../engine/glob.js';
import { CommandError, Err, OK, type Reply, SimpleString } from '../protocol/reply.js';
import { kw, toInt } from './args.js';
import { parseScanCursor, parseScanOptions, scanStep } from './scan-args.js';
import type { Handlers } from './types.js';

/**
 * Parses a database index as Redis's getIntFromObjectOrReply does: an integer (else `ERR value is not an
 * integer…`) within C int range (else the range error, or `rangeErr` when given).
 */
function toDbIndex(arg: string, rangeErr?: string): number {
  const i = toInt(arg, rangeErr);
  if (i < -2147483648 || i > 2147483647) {
    throw new CommandError(rangeErr ?? 'ERR value is out of range, value must between -2147483648 and 2147483647');
  }
  return i;
}

/** Returns the Db for a SELECT/MOVE/COPY index argument, or throws Redis's errors. */
export function dbByIndex(client: Client, arg: string): Db {
  const i = toDbIndex(arg);
  const dbs = client.engine.dbs;
  if (i < 0 || i >= dbs.length) throw new CommandError(Err.dbIndex);
  return dbs[i];
}

/** Redis's OBJECT ENCODING answer for a value, using Redis 7's default size thresholds. */
export function encodingOf(v: ReturnType<Db['lookup']>): string {
  if (v === undefined) return '';
  if (typeof v === 'string') {
    if (v.length <= 20 && /^(?:0|-?[1-9][0-9]*)$/.test(v) && BigInt.asIntN(64, BigInt(v)) === BigInt(v)) return 'int';
    return v.length <= 44 ? 'embstr' : 'raw';
  }
  const small = (items: Iterable<string>, max: number) => {
    let n = 0;
    for (const s of items) {
      if (++n > max || s.length > 64) return false;
    }
    return true;
  };
  switch (typeOf(v)) {
    case 'hash': {
      const m = v as Map<string, string>;
      return m.size <= 128 && small(m.keys(), 128) && small(m.values(), 128) ? 'listpack' : 'hashtable';
    }
    case 'set': {
      const s = v as Set<string>;
      if (s.size <= 512 && [...s].every((x) => /^(?:0|-?[1-9][0-9]{0,18})$/.test(x))) return 'intset';
      return s.size <= 128 && small(s, 128) ? 'listpack' : 'hashtable';
    }
    case 'list':
      return (v as { length: number }).length <= 128 ? 'listpack' : 'quicklist';
    case 'stream':
      return 'stream';
    default: {
      const z = v as unknown as { size: number; scores: Map<string, number> };
      return z.size <= 128 && small(z.scores.keys(), 128) ? 'listpack' : 'skiplist';
    }
  }
}

/** OBJECT FREQ and OBJECT IDLETIME under the other family of policies (Redis's wording). */
const ADJUST =
  'Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';
const LFU_NOT_SELECTED = `ERR An LFU maxmemory policy is not selected, access frequency not tracked. ${ADJUST}`;
const LFU_SELECTED = `ERR An LFU maxmemory policy is selected, idle time not tracked. ${ADJUST}`;
/**
 * kvws keeps no per-key access data in the default configuration (it would cost about 100 bytes a key):
 * OBJECT IDLETIME needs a maxmemory or a maxmemory-policy other than noeviction (engine/memory.ts).
 */
const NOT_TRACKED =
  "ERR access times are not tracked: set maxmemory or a maxmemory-policy other than 'noeviction' (CONFIG SET maxmemory-policy allkeys-lru)";

/** Keys of `db` whose deadline has not passed. */
function isLive(db: Db, key: string, now: number): boolean {
  const at = db.expires.size !== 0 ? db.expires.get(key) : undefined;
  return at === undefined || at > now;
}

/** FLUSHDB/FLUSHALL: empties databases, invalidating WATCH on every key that existed. */
function flush(client: Client, dbs: Db[], all: boolean): void {
  const engine = client.engine;
  const touched: [number, string][] = [];
  for (const w of engine.watchers.keys()) {
    const sep = w.indexOf('\0');
    const idx = Number(w.slice(0, sep));
    const key = w.slice(sep + 1);
    if (dbs.some((d) => d.index === idx && d.dict.has(key))) touched.push([idx, key]);
  }
  for (const db of dbs) {
    db.clear();
    engine.expiry.rebuild(db);
  }
  engine.notifyDb({ kind: 'flushdb', db: all ? -1 : dbs[0].index }, touched);
}

const RANDOM_SKIP = 32;
const randomIters = new WeakMap<Map<string, unknown>, Iterator<string>>();

/** A key of `dict` a random 0..31 steps along a per-dict iterator (O(1) amortised); undefined when empty. */
function randomDictKey(dict: Map<string, unknown>): string | undefined {
  let it = randomIters.get(dict);
  const skip = Math.floor(Math.random() * Math.min(RANDOM_SKIP, dict.size));
  let key: string | undefined;
  for (let i = 0; i <= skip; i++) {
    let r = it?.next();
    if (!r || r.done) {
      it = dict.keys();
      randomIters.set(dict, it);
      r = it.next();
      if (r.done) return undefined;
    }
    key = r.value;
  }
  return key;
}

export const handlers: Handlers = {
  // DEL key [key ...]
  DEL(client, argv) {
    const db = client.db;
    let n = 0;
    for (let i = 1; i < argv.length; i++) {
      if (db.lookup(argv[i]) !== undefined && db.delete(argv[i])) {
        n++;
        client.engine.notify(db, argv[i], 'del', 'g');
      }
    }
    return n;
  },

  // UNLINK key [key ...] — memory is reclaimed by the garbage collector, so this is DEL.
  UNLINK(client, argv) {
    return handlers.DEL(client, argv);
  },

  // EXISTS key [key ...]
  EXISTS(client, argv) {
    const db = client.db;
    let n = 0;
    for (let i = 1; i < argv.length; i++) if (db.lookup(argv[i]) !== undefined) n++;
    return n;
  },

  // TYPE key
  TYPE(client, argv) {
    const v = client.db.lookup(argv[1]);
    return new SimpleString(v === undefined ? 'none' : typeOf(v));
  },

  // RENAME key newkey
  RENAME(client, argv) {
    return rename(client, argv[1], argv[2], false);
  },

  // RENAMENX key newkey
  RENAMENX(client, argv) {
    return rename(client, argv[1], argv[2], true);
  },

  // COPY source destination [DB destination-db] [REPLACE]
  COPY(client, argv) {
    const src = client.db;
    let dst = src;
    let replace = false;
    for (let i = 3; i < argv.length; i++) {
      const o = kw(argv[i]);
      if (o === 'REPLACE') replace = true;
      else if (o === 'DB' && i + 1 < argv.length) dst = dbByIndex(client, argv[++i]);
      else throw new CommandError(Err.syntax);
    }
    if (src === dst && argv[1] === argv[2]) throw new CommandError('ERR source and destination objects are the same');
    const v = src.lookup(argv[1]);
    if (v === undefined) return 0;
    const exists = dst.lookup(argv[2]) !== undefined;
    if (exists && !replace) return 0;
    const at = src.getExpire(argv[1]);
    if (exists) dst.delete(argv[2]);
    dst.add(argv[2], cloneValue(v));
    if (at !== undefined) dst.setExpire(argv[2], at);
    client.engine.notify(dst, argv[2], 'copy_to', 'g');
    return 1;
  },

  // MOVE key db
  MOVE(client, argv) {
    const src = client.db;
    const dst = dbByIndex(client, argv[2]);
    if (dst === src) throw new CommandError('ERR source and destination objects are the same');
    const key = argv[1];
    const v = src.lookup(key);
    if (v === undefined || dst.lookup(key) !== undefined) return 0;
    const at = src.getExpire(key);
    src.delete(key);
    dst.add(key, v);
    if (at !== undefined) dst.setExpire(key, at);
    client.engine.notify(src, key, 'move_from', 'g');
    client.engine.notify(dst, key, 'move_to', 'g');
    return 1;
  },

  // KEYS pattern — only keys the caller's ACL lets it read (kvws: no key-name leaks).
  KEYS(client, argv) {
    const db = client.db;
    const now = client.engine.now();
    const visible = client.engine.acl.keyFilter(client);
    const out: string[] = [];
    const all = argv[1] === '*';
    const match = all ? null : compileGlob(argv[1]);
    for (const key of db.dict.keys()) {
      if ((all || match?.(key)) && isLive(db, key, now) && (visible === null || visible(key))) out.push(key);
    }
    return out;
  },

  // SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
  SCAN(client, argv) {
    const db = client.db;
    const cursor = parseScanCursor(argv[1]);
    const opts = parseScanOptions(argv, 2, 'TYPE');
    const { type } = opts;
    const now = client.engine.now();
    // Keys the caller may not read are skipped like expired ones (kvws: no key-name leaks).
    const visible = client.engine.acl.keyFilter(client);
    return scanStep(client, cursor, opts, {
      items: db.dict,
      name: ([key]) => key,
      emit: ([key, v], out) => {
        if ((type === null || typeOf(v) === type) && isLive(db, key, now) && (visible === null || visible(key)))
          out.push(key);
      },
    });
  },

  // RANDOMKEY — walks a per-database iterator a random 0..31 steps (O(1) amortised, not uniform; like
  // Redis's, the distribution is uneven).
  // With a key-restricted ACL, only readable keys: 100 random picks, then one pass over the keys.
  RANDOMKEY(client) {
    const db = client.db;
    const now = client.engine.now();
    const visible = client.engine.acl.keyFilter(client);
    if (visible !== null) {
      for (let tries = 0; tries < 100 && db.dict.size > 0; tries++) {
        const k = randomDictKey(db.dict);
        if (k !== undefined && visible(k) && isLive(db, k, now)) return k;
      }
      const candidates: string[] = [];
      for (const k of db.dict.keys()) if (visible(k) && isLive(db, k, now)) candidates.push(k);
      return candidates.length === 0 ? null : candidates[Math.floor(Math.random() * candidates.length)];
    }
    for (let tries = 0; tries < 100 && db.dict.size > 0; tries++) {
      const key = randomDictKey(db.dict);
      if (key === undefined) return null;
      if (isLive(db, key, now)) return key;
      db.lookup(key);
    }
    return null;
  },

  // DBSIZE — with a key-restricted ACL, the number of keys the caller may read (O(n)).
  DBSIZE(client) {
    const visible = client.engine.acl.keyFilter(client);
    if (visible === null) return client.db.size;
    const db = client.db;
    const now = client.engine.now();
    let n = 0;
    for (const k of db.dict.keys()) if (visible(k) && isLive(db, k, now)) n++;
    return n;
  },

  // FLUSHDB [ASYNC | SYNC]
  FLUSHDB(client, argv) {
    if (argv.length > 2 || (argv.length === 2 && kw(argv[1]) !== 'ASYNC' && kw(argv[1]) !== 'SYNC'))
      throw new CommandError(Err.syntax);
    flush(client, [client.db], false);
    return OK;
  },

  // FLUSHALL [ASYNC | SYNC]
  FLUSHALL(client, argv) {
    if (argv.length > 2 || (argv.length === 2 && kw(argv[1]) !== 'ASYNC' && kw(argv[1]) !== 'SYNC'))
      throw new CommandError(Err.syntax);
    flush(client, client.engine.dbs, true);
    return OK;
  },

  // SWAPDB index1 index2
  SWAPDB(client, argv) {
    const engine = client.engine;
    const dbs = engine.dbs;
    // Both indexes are parsed before either is range-checked, as in Redis.
    const i1 = toDbIndex(argv[1], 'ERR invalid first DB index');
    const i2 = toDbIndex(argv[2], 'ERR invalid second DB index');
    if (i1 < 0 || i1 >= dbs.length || i2 < 0 || i2 >= dbs.length) throw new CommandError(Err.dbIndex);
    const a = dbs[i1];
    const b = dbs[i2];
    if (a === b) return OK;
    const touched: [number, string][] = [];
    for (const w of engine.watchers.keys()) {
      const sep = w.indexOf('\0');
      const idx = Number(w.slice(0, sep));
      const key = w.slice(sep + 1);
      if ((idx === a.index || idx === b.index) && (a.dict.has(key) || b.dict.has(key))) touched.push([idx, key]);
    }
    [a.dict, b.dict] = [b.dict, a.dict];
    [a.expires, b.expires] = [b.expires, a.expires];
    engine.expiry.rebuild(a);
    engine.expiry.rebuild(b);
    engine.notifyDb({ kind: 'swapdb', db: a.index, other: b.index }, touched);
    return OK;
  },

  // SELECT index
  SELECT(client, argv) {
    client.db = dbByIndex(client, argv[1]);
    return OK;
  },

  // WAIT numreplicas timeout — the embedded engine has no replicas: 0 at once when none are asked for
  // (or inside EXEC), else 0 after `timeout` ms (0 = never, until CLIENT UNBLOCK), as a Redis master without
  // replicas answers. The Redis engine asks its masters (backends/redis/gateway.ts).
  WAIT(client, argv) {
    const wanted = toInt(argv[1]);
    const timeout = toInt(argv[2], 'ERR timeout is not an integer or out of range');
    if (timeout < 0) throw new CommandError('ERR timeout is negative');
    if (wanted <= 0 || client.inExec) return 0;
    return client.engine.blocking.block(client, client.db, [], timeout, () => undefined, 0);
  },

  // TOUCH key [key ...]
  TOUCH(client, argv) {
    return handlers.EXISTS(client, argv);
  },

  // OBJECT ENCODING key
  'OBJECT|ENCODING'(client, argv) {
    const v = client.db.lookup(argv[2]);
    return v === undefined ? null : encodingOf(v);
  },

  // OBJECT FREQ key — the key's logarithmic access counter, decayed to now (engine/memory.ts); LFU policies only.
  'OBJECT|FREQ'(client, argv) {
    const db = client.db;
    if (db.lookup(argv[2]) === undefined) return null;
    const memory = client.engine.memory;
    if (!memory.lfuMode) throw new CommandError(LFU_NOT_SELECTED);
    return memory.frequency(db, argv[2]);
  },

  // OBJECT IDLETIME key — seconds since the key was last accessed; not under an LFU policy.
  'OBJECT|IDLETIME'(client, argv) {
    const db = client.db;
    if (db.lookup(argv[2]) === undefined) return null;
    const memory = client.engine.memory;
    if (memory.lfuMode) throw new CommandError(LFU_SELECTED);
    if (!memory.tracking) throw new CommandError(NOT_TRACKED);
    return memory.idleSeconds(db, argv[2]);
  },

  // OBJECT REFCOUNT key — values are never shared between keys here, so 1 (Redis answers 2147483647 for shared integers).
  'OBJECT|REFCOUNT'(client, argv) {
    return client.db.lookup(argv[2]) === undefined ? null : 1;
  },

  // OBJECT HELP
  'OBJECT|HELP'() {
    return [
      'OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'ENCODING <key>',
      '    Return the kind of internal representation used in order to store the value',
      '    associated with a <key>.',
      'FREQ <key>',
      '    Return the access frequency index of the <key>. The returned integer is',
      '    proportional to the logarithm of the recent access frequency of the key.',
      'IDLETIME <key>',
      '    Return the idle time of the <key>, that is the approximated number of',
      '    seconds elapsed since the last access to the key.',
      'REFCOUNT <key>',
      '    Return the number of references of the value associated with the specified',
      '    <key>.',
      'HELP',
      '    Print this help.',
    ] as Reply[];
  },
};

/** RENAME / RENAMENX (Redis's renameGenericCommand): the deadline moves with the value. */
function rename(client: Client, from: string, to: string, nx: boolean): Reply {
  const db = client.db;
  const v = db.lookup(from);
  if (v === undefined) throw new CommandError(Err.noSuchKey);
  if (from === to) return nx ? 0 : OK;
  const at = db.getExpire(from);
  if (db.lookup(to) !== undefined) {
    if (nx) return 0;
    db.delete(to);
  }
  db.delete(from);
  db.add(to, v);
  if (at !== undefined) db.setExpire(to, at);
  client.engine.notify(db, from, 'rename_from', 'g');
  client.engine.notify(db, to, 'rename_to', 'g');
  return nx ? 1 : OK;
}
