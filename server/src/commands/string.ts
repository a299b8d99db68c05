import { constants as bufferConstants } from 'node:buffer';
import type { Db } from '../engine/db.js';
import { CommandError, Err, OK, type Reply } from '../protocol/reply.js';
import { INT64_MAX, INT64_MIN, kw, parseIntStrict, toBigInt, toInt } from './args.js';
import { addLongDouble, formatLongDouble, LD_ZERO, parseLongDouble } from './long-double.js';
import type { Handlers } from './types.js';

/** Returns the string at `key`, undefined when missing; throws WRONGTYPE for other types. */
export function getString(db: Db, key: string): string | undefined {
  const v = db.lookup(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new CommandError(Err.wrongType);
  return v;
}

/** JS strings cannot be longer than this (V8: 2^29 - 24 on 64-bit), a little under Redis's 512 MB default. */
const MAX_STRING_LENGTH = bufferConstants.MAX_STRING_LENGTH;

/** Throws Redis's size error for a string value longer than proto-max-bulk-len (or than a JS string can be). */
function checkSize(client: { engine: { options: { protoMaxBulkLen: number } } }, len: number): void {
  if (len > client.engine.options.protoMaxBulkLen || len > MAX_STRING_LENGTH) throw new CommandError(Err.stringTooLong);
}

type ExpireUnit = 'EX' | 'PX' | 'EXAT' | 'PXAT';

/**
 * Converts an expire option to an absolute Unix-ms deadline with Redis's checks
 * (getExpireMillisecondsOrReply): the value must be > 0, and the deadline must fit in a signed 64-bit
 * millisecond count. Deadlines beyond 2^53 ms (far past year 200000) are kept as the nearest double.
 */
function deadline(unit: ExpireUnit, arg: string, now: number, cmd: string): number {
  const n = toBigInt(arg);
  const invalid = `ERR invalid expire time in '${cmd}' command`;
  const seconds = unit === 'EX' || unit === 'EXAT';
  if (n <= 0n || (seconds && n > INT64_MAX / 1000n)) throw new CommandError(invalid);
  let at = seconds ? n * 1000n : n;
  if (unit === 'EX' || unit === 'PX') at += BigInt(now);
  if (at > INT64_MAX) throw new CommandError(invalid);
  return Number(at);
}

/**
 * The generic SET (Redis's setGenericCommand), shared by SET, SETNX, SETEX, PSETEX and GETSET.
 * Returns the reply: OK, null (condition not met), or the old value when `get`.
 */
function setGeneric(
  client: Parameters<Handlers[string]>[0],
  key: string,
  value: string,
  opts: { nx?: boolean; xx?: boolean; get?: boolean; at?: number; keepTtl?: boolean },
  okReply: Reply = OK,
): Reply {
  const db = client.db;
  // Plain SET in a database without deadlines needs no look-up: Db.set tells whether the key was new.
  // Otherwise look up, so a key past its deadline expires (with its event) before being replaced.
  const old = opts.nx || opts.xx || opts.get || opts.keepTtl || db.expires.size !== 0 ? db.lookup(key) : undefined;
  let oldValue: string | null = null;
  if (opts.get && old !== undefined) {
    if (typeof old !== 'string') throw new CommandError(Err.wrongType);
    oldValue = old;
  }
  if ((opts.nx && old !== undefined) || (opts.xx && old === undefined)) return opts.get ? oldValue : null;
  checkSize(client, value.length);
  db.set(key, value, opts.keepTtl === true);
  const engine = client.engine;
  engine.notify(db, key, 'set', '$');
  if (opts.at !== undefined) {
    db.setExpire(key, opts.at);
    engine.notify(db, key, 'expire', 'g');
  }
  return opts.get ? oldValue : okReply;
}

/** Adds `by` (number or bigint) to the integer at key; INCR/DECR/INCRBY/DECRBY share this. */
function incrGeneric(client: Parameters<Handlers[string]>[0], key: string, by: bigint | number): Reply {
  const db = client.db;
  const cur = getString(db, key);
  let base: bigint | number = 0;
  if (cur !== undefined) {
    if (cur.length < 16 && /^(?:0|-?[1-9][0-9]*)$/.test(cur)) base = Number(cur);
    else {
      const b = parseIntStrict(cur);
      if (b === undefined) throw new CommandError(Err.notInteger);
      base = b;
    }
  }
  let result: bigint | number;
  if (typeof base === 'number' && typeof by === 'number' && Number.isSafeInteger(base + by)) {
    result = base + by;
  } else {
    const r = BigInt(base) + BigInt(by);
    if (r > INT64_MAX || r < INT64_MIN) throw new CommandError(Err.overflow);
    result = Number.isSafeInteger(Number(r)) ? Number(r) : r;
  }
  const s = String(result);
  if (cur === undefined) db.add(key, s);
  else db.set(key, s, true);
  client.engine.notify(db, key, 'incrby', '$');
  return result;
}

/** Normalises Redis-style (start, end) string offsets against `len`; returns [start, end] or null if empty. */
function strRange(start: number, end: number, len: number): [number, number] | null {
  if (start < 0 && end < 0 && start > end) return null;
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return null;
  return [start, end];
}

export const handlers: Handlers = {
  // GET key
  GET(client, argv) {
    const v = getString(client.db, argv[1]);
    if (v === undefined) {
      client.engine.stats.keyspaceMisses++;
      return null;
    }
    client.engine.stats.keyspaceHits++;
    return v;
  },

  // SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
  SET(client, argv) {
    if (argv.length === 3) return setGeneric(client, argv[1], argv[2], {});
    const opts: { nx?: boolean; xx?: boolean; get?: boolean; at?: number; keepTtl?: boolean } = {};
    let unit: ExpireUnit | undefined;
    let unitArg = '';
    for (let i = 3; i < argv.length; i++) {
      const o = kw(argv[i]);
      if (o === 'NX' && !opts.xx) opts.nx = true;
      else if (o === 'XX' && !opts.nx) opts.xx = true;
      else if (o === 'GET') opts.get = true;
      else if (o === 'KEEPTTL' && unit === undefined) opts.keepTtl = true;
      // As in Redis, repeating the same expire option is allowed (the last one wins); mixing two is not.
      else if (
        (o === 'EX' || o === 'PX' || o === 'EXAT' || o === 'PXAT') &&
        (unit === undefined || unit === o) &&
        !opts.keepTtl &&
        i + 1 < argv.length
      ) {
        unit = o;
        unitArg = argv[++i];
      } else throw new CommandError(Err.syntax);
    }
    if (unit) opts.at = deadline(unit, unitArg, client.engine.now(), 'set');
    return setGeneric(client, argv[1], argv[2], opts);
  },

  // SETNX key value
  SETNX(client, argv) {
    return setGeneric(client, argv[1], argv[2], { nx: true }, 1) ?? 0;
  },

  // SETEX key seconds value
  SETEX(client, argv) {
    return setGeneric(client, argv[1], argv[3], { at: deadline('EX', argv[2], client.engine.now(), 'setex') });
  },

  // PSETEX key milliseconds value
  PSETEX(client, argv) {
    return setGeneric(client, argv[1], argv[3], { at: deadline('PX', argv[2], client.engine.now(), 'psetex') });
  },

  // GETSET key value
  GETSET(client, argv) {
    return setGeneric(client, argv[1], argv[2], { get: true });
  },

  // GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]
  // Checks in Redis's order: syntax, missing key (nil), WRONGTYPE, then the expire value.
  GETEX(client, argv) {
    const db = client.db;
    const key = argv[1];
    let unit: ExpireUnit | undefined;
    let unitArg = '';
    let persist = false;
    for (let i = 2; i < argv.length; i++) {
      const o = kw(argv[i]);
      if (
        (o === 'EX' || o === 'PX' || o === 'EXAT' || o === 'PXAT') &&
        (unit === undefined || unit === o) &&
        !persist &&
        i + 1 < argv.length
      ) {
        unit = o;
        unitArg = argv[++i];
      } else if (o === 'PERSIST' && unit === undefined) persist = true;
      else throw new CommandError(Err.syntax);
    }
    const v = getString(db, key);
    if (v === undefined) return null;
    const at = unit ? deadline(unit, unitArg, client.engine.now(), 'getex') : undefined;
    if (at !== undefined) {
      if (at <= client.engine.now()) {
        db.delete(key);
        client.engine.notify(db, key, 'del', 'g');
      } else {
        db.setExpire(key, at);
        client.engine.notify(db, key, 'expire', 'g');
      }
    } else if (persist && db.persist(key)) {
      client.engine.notify(db, key, 'persist', 'g');
    }
    return v;
  },

  // GETDEL key
  GETDEL(client, argv) {
    const db = client.db;
    const v = getString(db, argv[1]);
    if (v === undefined) return null;
    db.delete(argv[1]);
    client.engine.notify(db, argv[1], 'del', 'g');
    return v;
  },

  // MGET key [key ...]
  MGET(client, argv) {
    const db = client.db;
    const out: Reply[] = new Array(argv.length - 1);
    for (let i = 1; i < argv.length; i++) {
      const v = db.lookup(argv[i]);
      out[i - 1] = typeof v === 'string' ? v : null;
    }
    return out;
  },

  // MSET key value [key value ...]
  MSET(client, argv) {
    if (argv.length % 2 === 0) throw new CommandError("ERR wrong number of arguments for 'mset' command");
    const db = client.db;
    for (let i = 1; i < argv.length; i += 2) {
      checkSize(client, argv[i + 1].length);
      db.set(argv[i], argv[i + 1]);
      client.engine.notify(db, argv[i], 'set', '$');
    }
    return OK;
  },

  // MSETNX key value [key value ...]
  MSETNX(client, argv) {
    if (argv.length % 2 === 0) throw new CommandError("ERR wrong number of arguments for 'msetnx' command");
    const db = client.db;
    for (let i = 1; i < argv.length; i += 2) if (db.lookup(argv[i]) !== undefined) return 0;
    for (let i = 1; i < argv.length; i += 2) {
      checkSize(client, argv[i + 1].length);
      db.set(argv[i], argv[i + 1]);
      client.engine.notify(db, argv[i], 'set', '$');
    }
    return 1;
  },

  // APPEND key value
  APPEND(client, argv) {
    const db = client.db;
    const cur = getString(db, argv[1]);
    const next = cur === undefined ? argv[2] : cur + argv[2];
    checkSize(client, next.length);
    if (cur === undefined) db.add(argv[1], next);
    else db.set(argv[1], next, true);
    client.engine.notify(db, argv[1], 'append', '$');
    return next.length;
  },

  // STRLEN key
  STRLEN(client, argv) {
    return getString(client.db, argv[1])?.length ?? 0;
  },

  // GETRANGE key start end
  GETRANGE(client, argv) {
    const start = toInt(argv[2]);
    const end = toInt(argv[3]);
    const v = getString(client.db, argv[1]);
    if (v === undefined) return '';
    const r = strRange(start, end, v.length);
    return r ? v.slice(r[0], r[1] + 1) : '';
  },

  // SUBSTR key start end
  SUBSTR(client, argv) {
    return handlers.GETRANGE(client, argv);
  },

  // SETRANGE key offset value
  SETRANGE(client, argv) {
    const db = client.db;
    const offset = toInt(argv[2]);
    if (offset < 0) throw new CommandError('ERR offset is out of range');
    const value = argv[3];
    const cur = getString(db, argv[1]);
    if (cur === undefined) {
      if (value.length === 0) return 0;
      checkSize(client, offset + value.length);
      db.add(argv[1], '\0'.repeat(offset) + value);
    } else {
      if (value.length === 0) return cur.length;
      checkSize(client, offset + value.length);
      const padded = cur.length < offset ? cur + '\0'.repeat(offset - cur.length) : cur;
      db.set(argv[1], padded.slice(0, offset) + value + padded.slice(offset + value.length), true);
    }
    client.engine.notify(db, argv[1], 'setrange', '$');
    return (db.dict.get(argv[1]) as string).length;
  },

  // INCR key
  INCR(client, argv) {
    return incrGeneric(client, argv[1], 1);
  },

  // DECR key
  DECR(client, argv) {
    return incrGeneric(client, argv[1], -1);
  },

  // INCRBY key increment
  INCRBY(client, argv) {
    const by = toBigInt(argv[2]);
    return incrGeneric(client, argv[1], Number.isSafeInteger(Number(by)) ? Number(by) : by);
  },

  // DECRBY key decrement
  DECRBY(client, argv) {
    const by = toBigInt(argv[2]);
    if (by === INT64_MIN) throw new CommandError('ERR decrement would overflow');
    return incrGeneric(client, argv[1], Number.isSafeInteger(Number(by)) ? -Number(by) : -by);
  },

  // INCRBYFLOAT key increment — long double arithmetic and "%.17Lf" output, as in Redis (see LongDouble).
  INCRBYFLOAT(client, argv) {
    const db = client.db;
    const cur = getString(db, argv[1]);
    const base = cur === undefined ? LD_ZERO : parseLongDouble(cur);
    if (base === null) throw new CommandError(Err.notFloat);
    const by = parseLongDouble(argv[2]);
    if (by === null) throw new CommandError(Err.notFloat);
    const result = addLongDouble(base, by);
    if ('inf' in result) throw new CommandError(Err.nanOrInf);
    const s = formatLongDouble(result);
    if (cur === undefined) db.add(argv[1], s);
    else db.set(argv[1], s, true);
    client.engine.notify(db, argv[1], 'incrbyfloat', '$');
    return s;
  },
};
