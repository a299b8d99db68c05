import type { Client } from '../engine/client.js';
import type { Db } from '../engine/db.js';
import { typeOf } from '../engine/db.js';
import type { Engine } from '../engine/engine.js';
import { List } from '../engine/list.js';
import { CommandError, Err, ErrorReply, NULL_ARRAY, OK, type Reply, wrongArity } from '../protocol/reply.js';
import { INT64_MAX, INT64_MIN, kw, parseTimeout, toAtLeastOne, toBigInt, toInt, toPositive } from './args.js';
import type { Handlers } from './types.js';

/** Which end of a list an operation works on (Redis's LIST_HEAD / LIST_TAIL). */
type End = 'left' | 'right';

/**
 * The list at `key`, or undefined when the key does not exist.
 * Throws CommandError(WRONGTYPE) when the key holds another type.
 */
function getList(db: Db, key: string): List | undefined {
  const v = db.lookup(key);
  if (v === undefined) return undefined;
  if (typeOf(v) !== 'list') throw new CommandError(Err.wrongType);
  return v as List;
}

/** True when `key` holds a list (never empty: emptied lists are deleted). Never throws. */
function holdsList(db: Db, key: string): boolean {
  const v = db.lookup(key);
  return v !== undefined && typeOf(v) === 'list';
}

/** Parses LEFT / RIGHT (case-insensitive); anything else is a syntax error. */
function parseEnd(s: string): End {
  const k = kw(s);
  if (k === 'LEFT') return 'left';
  if (k === 'RIGHT') return 'right';
  throw new CommandError(Err.syntax);
}

function pushAt(l: List, v: string, where: End): void {
  if (where === 'left') l.pushHead(v);
  else l.pushTail(v);
}

/**
 * Housekeeping after elements were popped from `l` at `key` (listElementsRemoved): notifies `lpop`/`rpop`,
 * then deletes the key and notifies `del` when the list is now empty.
 */
function popped(engine: Engine, db: Db, key: string, l: List, where: End): void {
  engine.notify(db, key, where === 'left' ? 'lpop' : 'rpop', 'l');
  if (l.length === 0) {
    db.delete(key);
    engine.notify(db, key, 'del', 'g');
  }
}

/** LPUSH / RPUSH / LPUSHX / RPUSHX: `xx` pushes only onto an existing list. Replies with the new length. */
function pushGeneric(engine: Engine, db: Db, argv: string[], where: End, xx: boolean): Reply {
  const key = argv[1];
  let l = getList(db, key);
  if (!l) {
    if (xx) return 0;
    l = new List(argv.length - 2);
    db.add(key, l);
  }
  if (where === 'left') for (let j = 2; j < argv.length; j++) l.pushHead(argv[j]);
  else for (let j = 2; j < argv.length; j++) l.pushTail(argv[j]);
  engine.notify(db, key, where === 'left' ? 'lpush' : 'rpush', 'l');
  return l.length;
}

/** LPOP / RPOP key [count]: a bulk string without count, an array with it. */
function popGeneric(engine: Engine, db: Db, argv: string[], where: End): Reply {
  if (argv.length > 3) throw new CommandError(wrongArity(argv[0]));
  const hasCount = argv.length === 3;
  const count = hasCount ? toPositive(argv[2], Err.notNumber) : 0;
  const key = argv[1];
  const l = getList(db, key);
  if (!l) return hasCount ? NULL_ARRAY : null;
  if (hasCount && count === 0) return [];
  let reply: Reply;
  if (!hasCount) reply = (where === 'left' ? l.popHead() : l.popTail()) as string;
  else reply = where === 'left' ? l.popHeadMany(count) : l.popTailMany(count);
  popped(engine, db, key, l, where);
  return reply;
}

/**
 * The pop of LMPOP / BLMPOP / BLPOP / BRPOP over `keys` in order: pops from the first non-empty list.
 * `count` < 0 pops one element and replies [key, element] (BLPOP); otherwise up to `count` elements,
 * replying [key, [elements]]. Returns undefined when no key holds a list. Throws WRONGTYPE on the first
 * key (in order) that holds another type.
 */
function popFirst(engine: Engine, db: Db, keys: string[], where: End, count: number): Reply | undefined {
  for (const key of keys) {
    const l = getList(db, key);
    if (!l || l.length === 0) continue;
    let reply: Reply;
    if (count < 0) reply = [key, (where === 'left' ? l.popHead() : l.popTail()) as string];
    else reply = [key, where === 'left' ? l.popHeadMany(count) : l.popTailMany(count)];
    popped(engine, db, key, l, where);
    return reply;
  }
  return undefined;
}

/**
 * LMOVE / RPOPLPUSH and their blocking forms once there is something to move: pops from `srcKey` at `from`,
 * pushes onto `dstKey` at `to` (creating it), replies with the element, or null when the source is missing.
 * Events in Redis's order: [`new`,] `lpush`/`rpush` on the destination, `lpop`/`rpop` on the source,
 * then `del` if the source emptied. Throws WRONGTYPE (before changing anything) for either key.
 */
function moveGeneric(engine: Engine, db: Db, srcKey: string, dstKey: string, from: End, to: End): Reply {
  const s = getList(db, srcKey);
  if (!s || s.length === 0) return null;
  let d = getList(db, dstKey);
  const v = (from === 'left' ? s.popHead() : s.popTail()) as string;
  if (!d) {
    d = new List();
    db.add(dstKey, d);
  }
  pushAt(d, v, to);
  engine.notify(db, dstKey, to === 'left' ? 'lpush' : 'rpush', 'l');
  popped(engine, db, srcKey, s, from);
  return v;
}

/**
 * The `attempt` a blocked list command hands to Blocking: nothing to serve (undefined) until one of `keys`
 * holds a list — a key that became another type keeps the client blocked. Then it re-runs the command as
 * Redis 7 reprocesses it, so a WRONGTYPE met on the way (say an earlier key is now a string) is the reply.
 */
function retryWhenList(db: Db, keys: string[], run: () => Reply | undefined): () => Reply | undefined {
  return () => {
    if (!keys.some((k) => holdsList(db, k))) return undefined;
    try {
      return run();
    } catch (e) {
      if (e instanceof CommandError) return new ErrorReply(e.message);
      throw e;
    }
  };
}

/** Parsed `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]` of LMPOP (at argv[1]) and BLMPOP (argv[2]). */
function parseMpop(argv: string[], numkeysIdx: number): { keys: string[]; where: End; count: number } {
  const numkeys = toAtLeastOne(argv[numkeysIdx], 'ERR numkeys should be greater than 0');
  const whereIdx = numkeysIdx + numkeys + 1;
  if (whereIdx >= argv.length) throw new CommandError(Err.syntax);
  const where = parseEnd(argv[whereIdx]);
  let count = -1;
  for (let j = whereIdx + 1; j < argv.length; j++) {
    if (count === -1 && kw(argv[j]) === 'COUNT' && j + 1 < argv.length) {
      count = toAtLeastOne(argv[++j], 'ERR count should be greater than 0');
    } else {
      throw new CommandError(Err.syntax);
    }
  }
  return { keys: argv.slice(numkeysIdx + 1, whereIdx), where, count: count === -1 ? 1 : count };
}

/**
 * BLPOP / BRPOP / BLMPOP: pops at once when one of `keys` holds a list, otherwise blocks until one does
 * (replying NULL_ARRAY at the timeout). `count` < 0 is the single-element BLPOP reply shape.
 */
function blockingPop(
  client: Client,
  keys: string[],
  where: End,
  timeoutMs: number,
  count: number,
): Reply | Promise<Reply> {
  const { engine, db } = client;
  const r = popFirst(engine, db, keys, where, count);
  if (r !== undefined) return r;
  const attempt = retryWhenList(db, keys, () => popFirst(engine, db, keys, where, count));
  return engine.blocking.block(client, db, keys, timeoutMs, attempt, NULL_ARRAY);
}

/** BLMOVE / BRPOPLPUSH: moves at once when the source holds a list, otherwise blocks (null at the timeout). */
function blockingMove(client: Client, argv: string[], from: End, to: End, timeoutMs: number): Reply | Promise<Reply> {
  const { engine, db } = client;
  const srcKey = argv[1];
  const dstKey = argv[2];
  if (getList(db, srcKey)) return moveGeneric(engine, db, srcKey, dstKey, from, to);
  const attempt = retryWhenList(db, [srcKey], () => moveGeneric(engine, db, srcKey, dstKey, from, to));
  return engine.blocking.block(client, db, [srcKey], timeoutMs, attempt, null);
}

/** Resolves a Redis list index (negative counts from the tail) to a position, or -1 when out of range. */
function resolveIndex(index: number, length: number): number {
  const i = index < 0 ? length + index : index;
  return i >= 0 && i < length ? i : -1;
}

export const handlers: Handlers = {
  // LPUSH key element [element ...]
  LPUSH(client, argv) {
    return pushGeneric(client.engine, client.db, argv, 'left', false);
  },

  // RPUSH key element [element ...]
  RPUSH(client, argv) {
    return pushGeneric(client.engine, client.db, argv, 'right', false);
  },

  // LPUSHX key element [element ...]
  LPUSHX(client, argv) {
    return pushGeneric(client.engine, client.db, argv, 'left', true);
  },

  // RPUSHX key element [element ...]
  RPUSHX(client, argv) {
    return pushGeneric(client.engine, client.db, argv, 'right', true);
  },

  // LPOP key [count]
  LPOP(client, argv) {
    return popGeneric(client.engine, client.db, argv, 'left');
  },

  // RPOP key [count]
  RPOP(client, argv) {
    return popGeneric(client.engine, client.db, argv, 'right');
  },

  // LLEN key
  LLEN(client, argv) {
    return getList(client.db, argv[1])?.length ?? 0;
  },

  // LRANGE key start stop
  LRANGE(client, argv) {
    let start = toInt(argv[2]);
    let end = toInt(argv[3]);
    const l = getList(client.db, argv[1]);
    if (!l) return [];
    const n = l.length;
    if (start < 0) start = n + start;
    if (end < 0) end = n + end;
    if (start < 0) start = 0;
    if (start > end || start >= n) return [];
    return l.range(start, Math.min(end, n - 1));
  },

  // LINDEX key index
  LINDEX(client, argv) {
    const l = getList(client.db, argv[1]);
    if (!l) return null;
    const i = resolveIndex(toInt(argv[2]), l.length);
    return i < 0 ? null : (l.at(i) as string);
  },

  // LSET key index element
  LSET(client, argv) {
    const db = client.db;
    const key = argv[1];
    const l = getList(db, key);
    if (!l) throw new CommandError(Err.noSuchKey);
    const i = resolveIndex(toInt(argv[2]), l.length);
    if (i < 0) throw new CommandError(Err.outOfRange);
    l.set(i, argv[3]);
    client.engine.notify(db, key, 'lset', 'l');
    return OK;
  },

  // LINSERT key <BEFORE | AFTER> pivot element
  LINSERT(client, argv) {
    const where = kw(argv[2]);
    if (where !== 'BEFORE' && where !== 'AFTER') throw new CommandError(Err.syntax);
    const db = client.db;
    const key = argv[1];
    const l = getList(db, key);
    if (!l) return 0;
    const at = l.indexOf(argv[3]);
    if (at < 0) return -1;
    l.insert(where === 'BEFORE' ? at : at + 1, argv[4]);
    client.engine.notify(db, key, 'linsert', 'l');
    return l.length;
  },

  // LREM key count element
  LREM(client, argv) {
    const count = toInt(argv[2]);
    const db = client.db;
    const key = argv[1];
    const l = getList(db, key);
    if (!l) return 0;
    const removed = l.remove(argv[3], count);
    if (removed) client.engine.notify(db, key, 'lrem', 'l');
    if (l.length === 0) {
      db.delete(key);
      client.engine.notify(db, key, 'del', 'g');
    }
    return removed;
  },

  // LTRIM key start stop
  LTRIM(client, argv) {
    let start = toInt(argv[2]);
    let end = toInt(argv[3]);
    const db = client.db;
    const key = argv[1];
    const l = getList(db, key);
    if (!l) return OK;
    const n = l.length;
    if (start < 0) start = n + start;
    if (end < 0) end = n + end;
    if (start < 0) start = 0;
    l.trim(start, end); // start > end or start >= n empties the list
    client.engine.notify(db, key, 'ltrim', 'l');
    if (l.length === 0) {
      db.delete(key);
      client.engine.notify(db, key, 'del', 'g');
    }
    return OK;
  },

  // LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
  LPOS(client, argv) {
    const ele = argv[2];
    let rank = 1;
    let count = -1; // -1: COUNT not given
    let maxlen = 0;
    for (let j = 3; j < argv.length; j++) {
      const opt = kw(argv[j]);
      const moreArgs = j + 1 < argv.length;
      if (opt === 'RANK' && moreArgs) {
        const r = toBigInt(argv[++j]);
        if (r === INT64_MIN) {
          throw new CommandError(`ERR value is out of range, value must between ${-INT64_MAX} and ${INT64_MAX}`);
        }
        if (r === 0n) {
          throw new CommandError(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
          );
        }
        rank = Number(r);
      } else if (opt === 'COUNT' && moreArgs) {
        count = toPositive(argv[++j], "ERR COUNT can't be negative");
      } else if (opt === 'MAXLEN' && moreArgs) {
        maxlen = toPositive(argv[++j], "ERR MAXLEN can't be negative");
      } else {
        throw new CommandError(Err.syntax);
      }
    }
    const l = getList(client.db, argv[1]);
    if (!l) return count !== -1 ? [] : null;
    const fromTail = rank < 0;
    if (fromTail) rank = -rank;
    const n = l.length;
    const scan = maxlen === 0 ? n : Math.min(maxlen, n);
    const found: number[] = [];
    let matches = 0;
    for (let k = 0; k < scan; k++) {
      const i = fromTail ? n - 1 - k : k;
      if (l.at(i) !== ele) continue;
      matches++;
      if (matches < rank) continue;
      if (count === -1) return i;
      found.push(i);
      if (count !== 0 && found.length >= count) break;
    }
    return count === -1 ? null : found;
  },

  // LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>
  LMOVE(client, argv) {
    const from = parseEnd(argv[3]);
    const to = parseEnd(argv[4]);
    return moveGeneric(client.engine, client.db, argv[1], argv[2], from, to);
  },

  // RPOPLPUSH source destination
  RPOPLPUSH(client, argv) {
    return moveGeneric(client.engine, client.db, argv[1], argv[2], 'right', 'left');
  },

  // LMPOP numkeys key [key ...] <LEFT | RIGHT> [COUNT count]
  LMPOP(client, argv) {
    const { keys, where, count } = parseMpop(argv, 1);
    return popFirst(client.engine, client.db, keys, where, count) ?? NULL_ARRAY;
  },

  // BLPOP key [key ...] timeout
  BLPOP(client, argv) {
    const timeout = parseTimeout(argv[argv.length - 1]);
    return blockingPop(client, argv.slice(1, -1), 'left', timeout, -1);
  },

  // BRPOP key [key ...] timeout
  BRPOP(client, argv) {
    const timeout = parseTimeout(argv[argv.length - 1]);
    return blockingPop(client, argv.slice(1, -1), 'right', timeout, -1);
  },

  // BLMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout
  BLMOVE(client, argv) {
    const from = parseEnd(argv[3]);
    const to = parseEnd(argv[4]);
    const timeout = parseTimeout(argv[5]);
    return blockingMove(client, argv, from, to, timeout);
  },

  // BRPOPLPUSH source destination timeout
  BRPOPLPUSH(client, argv) {
    const timeout = parseTimeout(argv[3]);
    return blockingMove(client, argv, 'right', 'left', timeout);
  },

  // BLMPOP timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]
  BLMPOP(client, argv) {
    const { keys, where, count } = parseMpop(argv, 2);
    const timeout = parseTimeout(argv[1]);
    return blockingPop(client, keys, where, timeout, count);
  },
};
