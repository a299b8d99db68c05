import type { Client } from '../engine/client.js';
import type { Db } from '../engine/db.js';
import {
  type LexBound,
  parseLexBound,
  parseScoreBound,
  type RangeOptions,
  type ScoreBound,
  SortedSet,
} from '../engine/sorted-set.js';
import { CommandError, DoubleReply, Err, ErrorReply, NULL_ARRAY, type Reply, wrongArity } from '../protocol/reply.js';
import { formatDouble, kw, parseTimeout, toAtLeastOne, toFloat, toInt, toPositive } from './args.js';
import { parseRandomCountWith, randomIndex, sampleDistinct, sampleRepeated } from './random.js';
import { parseScanCursor, parseScanOptions, scanStep } from './scan-args.js';
import type { Handlers } from './types.js';

/** Returns the sorted set at `key`, undefined when missing; throws WRONGTYPE for other types. */
export function getZset(db: Db, key: string): SortedSet | undefined {
  const v = db.lookup(key);
  if (v === undefined) return undefined;
  if (!(v instanceof SortedSet)) throw new CommandError(Err.wrongType);
  return v;
}

/** Deletes `key` once its sorted set is empty and emits `del` (after the command's own event). */
function deleteIfEmpty(client: Client, key: string, z: SortedSet): void {
  if (z.size !== 0) return;
  client.db.delete(key);
  client.engine.notify(client.db, key, 'del', 'g');
}

/**
 * [member, score] pairs as Redis 7 replies them: members only; with scores a flat array in RESP2 and an
 * array of [member, score] pairs in RESP3 (ZRANGE WITHSCORES, ZPOPMIN with a count, ZRANDMEMBER, ZUNION…).
 */
function pairsReply(
  client: Client,
  pairs: Iterable<[string, number]>,
  withScores: boolean,
  nested = client.resp === 3,
): Reply[] {
  const out: Reply[] = [];
  if (!withScores) for (const [m] of pairs) out.push(m);
  else if (nested) for (const [m, s] of pairs) out.push([m, new DoubleReply(s)]);
  else for (const [m, s] of pairs) out.push(m, new DoubleReply(s));
  return out;
}

/**
 * The score as a sorted set keeps it: -0 becomes 0. Redis stores small sets as listpacks, where a score that
 * is a whole number is written as an integer, so -0 reads back as 0 (replies computed before storing, such as
 * ZINCRBY's or ZUNION's, still show -0).
 */
const stored = (score: number): number => score + 0;

/** A score range bound pair, or Redis's error. */
function scoreRange(min: string, max: string): [ScoreBound, ScoreBound] {
  const a = parseScoreBound(min);
  const b = parseScoreBound(max);
  if (a === null || b === null) throw new CommandError(Err.minMaxFloat);
  return [a, b];
}

/** A lex range bound pair, or Redis's error. */
function lexRange(min: string, max: string): [LexBound, LexBound] {
  const a = parseLexBound(min);
  const b = parseLexBound(max);
  if (a === null || b === null) throw new CommandError(Err.minMaxLex);
  return [a, b];
}

/**
 * Resolves Redis rank indexes (negative counts from the end) against `length`; returns the inclusive
 * [start, stop] clipped to the set, or null when the range is empty.
 */
function rankRange(start: number, stop: number, length: number): [number, number] | null {
  if (start < 0) start = length + start;
  if (stop < 0) stop = length + stop;
  if (start < 0) start = 0;
  if (start > stop || start >= length) return null;
  if (stop >= length) stop = length - 1;
  return [start, stop];
}

// ---- ZADD / ZINCRBY ----------------------------------------------------------------------------------------

const NAN_ERR = 'ERR resulting score is not a number (NaN)';

/**
 * Redis's zaddGenericCommand, serving ZADD and ZINCRBY (`incr` preset). Options come first (NX XX GT LT CH
 * INCR, any order), then score/member pairs. Every score is parsed before the key is touched, so the command
 * runs fully or not at all. Replies the number added (or added+changed with CH), or with INCR the new score
 * (null when NX/XX/GT/LT blocked the update). Emits `zadd` (or `zincr`) when something changed.
 */
function zaddGeneric(client: Client, argv: string[], incrPreset: boolean): Reply {
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  let ch = false;
  let incr = incrPreset;
  let i = 2;
  for (; i < argv.length; i++) {
    const o = kw(argv[i]);
    if (o === 'NX') nx = true;
    else if (o === 'XX') xx = true;
    else if (o === 'CH') ch = true;
    else if (o === 'INCR') incr = true;
    else if (o === 'GT') gt = true;
    else if (o === 'LT') lt = true;
    else break;
  }
  const rest = argv.length - i;
  if (rest === 0 || rest % 2 !== 0) throw new CommandError(Err.syntax);
  const n = rest / 2;
  if (nx && xx) throw new CommandError('ERR XX and NX options at the same time are not compatible');
  if ((gt && nx) || (lt && nx) || (gt && lt)) {
    throw new CommandError('ERR GT, LT, and/or NX options at the same time are not compatible');
  }
  if (incr && n > 1) throw new CommandError('ERR INCR option supports a single increment-element pair');
  const scores: number[] = new Array(n);
  for (let j = 0; j < n; j++) scores[j] = toFloat(argv[i + 2 * j]);

  const { db, engine } = client;
  const key = argv[1];
  let z = getZset(db, key);
  let added = 0;
  let updated = 0;
  let processed = 0;
  let score = 0;
  if (z === undefined && !xx) {
    z = new SortedSet();
    db.add(key, z);
  }
  if (z !== undefined) {
    try {
      for (let j = 0; j < n; j++) {
        const member = argv[i + 1 + 2 * j];
        let s = scores[j];
        const cur = z.score(member);
        if (cur !== undefined) {
          if (nx) continue;
          if (incr) {
            s += cur;
            if (Number.isNaN(s)) throw new CommandError(NAN_ERR);
          }
          if ((lt && s >= cur) || (gt && s <= cur)) continue;
          if (s !== cur) {
            z.add(member, stored(s));
            updated++;
          }
        } else if (!xx) {
          z.add(member, stored(s));
          added++;
        } else continue;
        processed++;
        score = s;
      }
    } finally {
      if (added || updated) engine.notify(db, key, incr ? 'zincr' : 'zadd', 'z');
    }
  }
  if (incr) return processed ? new DoubleReply(score) : null;
  return ch ? added + updated : added;
}

// ---- ranges ------------------------------------------------------------------------------------------------

type RangeType = 'auto' | 'rank' | 'score' | 'lex';

/**
 * Redis's zrangeGenericCommand, serving ZRANGE, ZRANGESTORE and the deprecated Z[REV]RANGE[BYSCORE|BYLEX].
 * argv[argStart] is the source key, followed by min, max and options. `type`/`reverse` fixed by the legacy
 * commands ('auto' / undefined let ZRANGE's BYSCORE, BYLEX and REV choose). With `dst` the result is stored.
 */
function zrangeGeneric(
  client: Client,
  argv: string[],
  argStart: number,
  dst: string | null,
  type: RangeType,
  reverse?: boolean,
): Reply {
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = argStart + 3; j < argv.length; j++) {
    const o = kw(argv[j]);
    const left = argv.length - j - 1;
    if (dst === null && o === 'WITHSCORES') withScores = true;
    else if (o === 'LIMIT' && left >= 2) {
      offset = toInt(argv[j + 1]);
      limit = toInt(argv[j + 2]);
      j += 2;
    } else if (reverse === undefined && o === 'REV') reverse = true;
    else if (type === 'auto' && o === 'BYLEX') type = 'lex';
    else if (type === 'auto' && o === 'BYSCORE') type = 'score';
    else throw new CommandError(Err.syntax);
  }
  reverse ??= false;
  if (type === 'auto') type = 'rank';
  if (limit !== -1 && type === 'rank') {
    throw new CommandError('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
  }
  if (withScores && type === 'lex') {
    throw new CommandError('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  }
  // Reverse score and lex ranges are given as max, min.
  let minArg = argv[argStart + 1];
  let maxArg = argv[argStart + 2];
  if (reverse && type !== 'rank') [minArg, maxArg] = [maxArg, minArg];
  let query: (z: SortedSet) => Array<[string, number]>;
  const opts: RangeOptions = { reverse, offset, count: limit };
  if (type === 'rank') {
    const start = toInt(minArg);
    const stop = toInt(maxArg);
    query = (z) => {
      const r = rankRange(start, stop, z.size);
      return r ? z.byRank(r[0], r[1], reverse) : [];
    };
  } else if (type === 'score') {
    const [min, max] = scoreRange(minArg, maxArg);
    query = (z) => z.rangeByScore(min, max, opts);
  } else {
    const [min, max] = lexRange(minArg, maxArg);
    query = (z) => z.rangeByLex(min, max, opts);
  }
  const z = getZset(client.db, argv[argStart]);
  const result = z ? query(z) : [];
  if (dst === null) return pairsReply(client, result, withScores);
  const out = new SortedSet();
  for (const [m, s] of result) out.add(m, stored(s));
  return store(client, dst, out, 'zrangestore');
}

/**
 * Stores `z` at `dst` (replacing any value and its TTL) and emits `event`, replying its size; an empty
 * result deletes `dst` instead (emitting `del` if it existed) and replies 0.
 */
function store(client: Client, dst: string, z: SortedSet, event: string): Reply {
  const { db, engine } = client;
  if (z.size === 0) {
    if (db.delete(dst)) engine.notify(db, dst, 'del', 'g');
    return 0;
  }
  db.lookup(dst); // expire a stale destination first, as setKey's lookupKeyWrite does
  db.set(dst, z);
  engine.notify(db, dst, event, 'z');
  return z.size;
}

/** ZREMRANGEBYSCORE / ZREMRANGEBYRANK / ZREMRANGEBYLEX: parse the range, remove it, notify. */
function zremrangeGeneric(client: Client, argv: string[], type: 'score' | 'rank' | 'lex'): Reply {
  let remove: (z: SortedSet) => number;
  if (type === 'rank') {
    const start = toInt(argv[2]);
    const stop = toInt(argv[3]);
    remove = (z) => {
      const r = rankRange(start, stop, z.size);
      return r ? z.removeRangeByRank(r[0], r[1]).length : 0;
    };
  } else if (type === 'score') {
    const [min, max] = scoreRange(argv[2], argv[3]);
    remove = (z) => z.removeRangeByScore(min, max).length;
  } else {
    const [min, max] = lexRange(argv[2], argv[3]);
    remove = (z) => z.removeRangeByLex(min, max).length;
  }
  const key = argv[1];
  const z = getZset(client.db, key);
  if (!z) return 0;
  const n = remove(z);
  if (n > 0) {
    client.engine.notify(client.db, key, `zremrangeby${type}`, 'z');
    deleteIfEmpty(client, key, z);
  }
  return n;
}

// ---- pops --------------------------------------------------------------------------------------------------

type Where = 'min' | 'max';

/**
 * Redis's genericZpopCommand. Pops from the first of `keys` that exists (WRONGTYPE if that is not a sorted
 * set). `count` -1 is the single pop. Reply shapes: flat [m, s, …]; `nested` [[m, s], …]; with `emitKey`
 * flat [key, m, s, …] or nested [key, [[m, s], …]]. Nothing to pop: null array if `nilWhenEmpty`, else [].
 * Emits `zpopmin`/`zpopmax` once, then `del` if the set emptied.
 */
function zpopGeneric(
  client: Client,
  keys: string[],
  where: Where,
  emitKey: boolean,
  count: number,
  nested: boolean,
  nilWhenEmpty: boolean,
): Reply {
  const db = client.db;
  let key = '';
  let z: SortedSet | undefined;
  for (const k of keys) {
    z = getZset(db, k);
    if (z) {
      key = k;
      break;
    }
  }
  if (!z) return nilWhenEmpty ? NULL_ARRAY : [];
  if (count === 0) return [];
  const popped = where === 'min' ? z.popMin(count < 0 ? 1 : count) : z.popMax(count < 0 ? 1 : count);
  client.engine.notify(db, key, where === 'min' ? 'zpopmin' : 'zpopmax', 'z');
  deleteIfEmpty(client, key, z);
  const items = pairsReply(client, popped, true, nested);
  if (!emitKey) return items;
  return nested ? [key, items] : [key, ...items];
}

/**
 * BZPOPMIN / BZPOPMAX / BZMPOP: pops at once when one of `keys` exists (WRONGTYPE if the first that exists
 * is not a sorted set), otherwise blocks until one holds a sorted set, replying a null array at the timeout.
 */
function blockingZpop(
  client: Client,
  keys: string[],
  where: Where,
  timeoutMs: number,
  count: number,
  nested: boolean,
): Reply | Promise<Reply> {
  const { db, engine } = client;
  const pop = () => zpopGeneric(client, keys, where, true, count, nested, true);
  for (const k of keys) if (getZset(db, k)) return pop();
  // A waiter is served only once some key holds a sorted set (a key of another type keeps it waiting), and
  // then the command runs again in full, as Redis re-executes it.
  const attempt = (): Reply | undefined => {
    if (!keys.some((k) => db.lookup(k) instanceof SortedSet)) return undefined;
    try {
      return pop();
    } catch (e) {
      if (e instanceof CommandError) return new ErrorReply(e.message);
      throw e;
    }
  };
  return engine.blocking.block(client, db, keys, timeoutMs, attempt, NULL_ARRAY);
}

/** ZPOPMIN / ZPOPMAX key [count]. */
function zpopMinMax(client: Client, argv: string[], where: Where): Reply {
  if (argv.length > 3) throw new CommandError(Err.syntax);
  const count = argv.length === 3 ? toPositive(argv[2]) : -1;
  return zpopGeneric(client, [argv[1]], where, false, count, client.resp === 3 && count !== -1, false);
}

/** ZMPOP / BZMPOP: `numkeys key [key ...] <MIN | MAX> [COUNT count]` starting at argv[numkeysIdx]. */
function zmpopGeneric(client: Client, argv: string[], numkeysIdx: number, block: boolean): Reply | Promise<Reply> {
  const numkeys = toAtLeastOne(argv[numkeysIdx], 'ERR numkeys should be greater than 0');
  const whereIdx = numkeysIdx + numkeys + 1;
  if (whereIdx >= argv.length) throw new CommandError(Err.syntax);
  const w = kw(argv[whereIdx]);
  if (w !== 'MIN' && w !== 'MAX') throw new CommandError(Err.syntax);
  const where: Where = w === 'MIN' ? 'min' : 'max';
  let count = -1;
  for (let j = whereIdx + 1; j < argv.length; j++) {
    if (count === -1 && kw(argv[j]) === 'COUNT' && j + 1 < argv.length) {
      count = toAtLeastOne(argv[++j], 'ERR count should be greater than 0');
    } else throw new CommandError(Err.syntax);
  }
  if (count === -1) count = 1;
  const keys = argv.slice(numkeysIdx + 1, whereIdx);
  if (block) return blockingZpop(client, keys, where, parseTimeout(argv[1]), count, true);
  return zpopGeneric(client, keys, where, true, count, true, true);
}

// ---- union / intersection / difference ---------------------------------------------------------------------

/** One input of ZUNION/ZINTER/ZDIFF: a sorted set, or a plain set whose members all score 1. */
interface Source {
  value: SortedSet | Set<string> | undefined;
  weight: number;
}

function sourceSize(s: Source): number {
  return s.value === undefined ? 0 : s.value.size;
}

function sourceScore(s: Source, member: string): number | undefined {
  const v = s.value;
  if (v === undefined) return undefined;
  if (v instanceof SortedSet) return v.score(member);
  return v.has(member) ? 1 : undefined;
}

function* sourceEntries(s: Source): Generator<[string, number]> {
  const v = s.value;
  if (v === undefined) return;
  if (v instanceof SortedSet) yield* v.scores;
  else for (const m of v) yield [m, 1];
}

type Aggregate = 'sum' | 'min' | 'max';

function aggregate(acc: number, v: number, how: Aggregate): number {
  if (how === 'sum') {
    const r = acc + v;
    return Number.isNaN(r) ? 0 : r; // inf + -inf is 0 by convention
  }
  // Not Math.min/max: on a tie (0 and -0) Redis keeps the accumulated value.
  // biome-ignore lint/complexity/useMathMinMax: tie-breaking must match Redis
  if (how === 'min') return v < acc ? v : acc;
  // biome-ignore lint/complexity/useMathMinMax: tie-breaking must match Redis
  return v > acc ? v : acc;
}

type SetOp = 'union' | 'inter' | 'diff';

/**
 * Redis's zunionInterDiffGenericCommand, serving ZUNION ZINTER ZDIFF ZINTERCARD and their *STORE forms.
 * argv[numkeysIdx] is numkeys; then the keys and options (WEIGHTS, AGGREGATE; WITHSCORES without `dst`;
 * LIMIT for ZINTERCARD). Plain sets are accepted as inputs with every score 1.
 */
function zsetOp(
  client: Client,
  argv: string[],
  numkeysIdx: number,
  op: SetOp,
  dst: string | null,
  cardOnly = false,
): Reply {
  const setnum = toInt(argv[numkeysIdx]);
  if (setnum < 1) {
    throw new CommandError(`ERR at least 1 input key is needed for '${argv[0].toLowerCase()}' command`);
  }
  if (setnum > argv.length - (numkeysIdx + 1)) throw new CommandError(Err.syntax);
  const db = client.db;
  const src: Source[] = [];
  let j = numkeysIdx + 1;
  for (let i = 0; i < setnum; i++, j++) {
    const v = db.lookup(argv[j]);
    if (v !== undefined && !(v instanceof SortedSet) && !(v instanceof Set)) throw new CommandError(Err.wrongType);
    src.push({ value: v as SortedSet | Set<string> | undefined, weight: 1 });
  }
  let how: Aggregate = 'sum';
  let withScores = false;
  let limit = 0;
  while (j < argv.length) {
    const remaining = argv.length - j;
    const o = kw(argv[j]);
    if (op !== 'diff' && !cardOnly && remaining >= setnum + 1 && o === 'WEIGHTS') {
      j++;
      for (let i = 0; i < setnum; i++, j++) src[i].weight = toFloat(argv[j], 'ERR weight value is not a float');
    } else if (op !== 'diff' && !cardOnly && remaining >= 2 && o === 'AGGREGATE') {
      const a = kw(argv[j + 1]);
      if (a === 'SUM') how = 'sum';
      else if (a === 'MIN') how = 'min';
      else if (a === 'MAX') how = 'max';
      else throw new CommandError(Err.syntax);
      j += 2;
    } else if (dst === null && !cardOnly && o === 'WITHSCORES') {
      withScores = true;
      j++;
    } else if (cardOnly && remaining >= 2 && o === 'LIMIT') {
      limit = toPositive(argv[j + 1], "ERR LIMIT can't be negative");
      j += 2;
    } else throw new CommandError(Err.syntax);
  }
  // Smallest inputs first, as Redis does (it fixes the order in which weighted scores are summed).
  if (op !== 'diff') src.sort((a, b) => sourceSize(a) - sourceSize(b));

  const acc = new Map<string, number>();
  if (op === 'inter') {
    if (sourceSize(src[0]) > 0) {
      for (const [m, s0] of sourceEntries(src[0])) {
        let score = src[0].weight * s0;
        if (Number.isNaN(score)) score = 0;
        let k = 1;
        for (; k < setnum; k++) {
          const v = sourceScore(src[k], m);
          if (v === undefined) break;
          score = aggregate(score, v * src[k].weight, how);
        }
        if (k < setnum) continue;
        acc.set(m, score);
        if (cardOnly && limit > 0 && acc.size >= limit) break;
      }
    }
  } else if (op === 'union') {
    for (const s of src) {
      for (const [m, v] of sourceEntries(s)) {
        let score = s.weight * v;
        if (Number.isNaN(score)) score = 0;
        const cur = acc.get(m);
        acc.set(m, cur === undefined ? score : aggregate(cur, score, how));
      }
    }
  } else {
    for (const [m, s0] of sourceEntries(src[0])) {
      let found = false;
      for (let k = 1; k < setnum && !found; k++) found = sourceScore(src[k], m) !== undefined;
      if (!found) acc.set(m, s0);
    }
  }
  if (cardOnly) return acc.size;
  const out = new SortedSet();
  for (const [m, s] of acc) out.add(m, dst === null ? s : stored(s));
  if (dst !== null) return store(client, dst, out, `z${op}store`);
  return pairsReply(client, out, withScores);
}

// ---- ZRANDMEMBER -------------------------------------------------------------------------------------------

/**
 * ZRANDMEMBER with a count: a positive count gives distinct members (the whole set when count ≥ size), a
 * negative one |count| independent picks that may repeat.
 */
function zrandmemberWithCount(client: Client, key: string, l: number, withScores: boolean): Reply {
  const z = getZset(client.db, key);
  if (!z) return [];
  const size = z.size;
  const count = Math.abs(l);
  if (count === 0) return [];
  if (l > 1 && count >= size) {
    // The whole set, highest first: Redis walks sorted sets from the tail here.
    return pairsReply(client, z.iterate(0, true), withScores);
  }
  const at = (i: number): [string, number] => z.at(i)!;
  const picks = l < 0 || count === 1 ? sampleRepeated(z, size, count, at) : sampleDistinct(z, size, count, at);
  return pairsReply(client, picks, withScores);
}

// ---- handlers ----------------------------------------------------------------------------------------------

export const handlers: Handlers = {
  // ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
  ZADD(client, argv) {
    return zaddGeneric(client, argv, false);
  },

  // ZINCRBY key increment member
  ZINCRBY(client, argv) {
    return zaddGeneric(client, argv, true);
  },

  // ZREM key member [member ...]
  ZREM(client, argv) {
    const key = argv[1];
    const z = getZset(client.db, key);
    if (!z) return 0;
    let removed = 0;
    for (let i = 2; i < argv.length && z.size > 0; i++) if (z.remove(argv[i])) removed++;
    if (removed) {
      client.engine.notify(client.db, key, 'zrem', 'z');
      deleteIfEmpty(client, key, z);
    }
    return removed;
  },

  // ZCARD key
  ZCARD(client, argv) {
    return getZset(client.db, argv[1])?.size ?? 0;
  },

  // ZSCORE key member
  ZSCORE(client, argv) {
    const s = getZset(client.db, argv[1])?.score(argv[2]);
    return s === undefined ? null : new DoubleReply(s);
  },

  // ZMSCORE key member [member ...]
  ZMSCORE(client, argv) {
    const z = getZset(client.db, argv[1]);
    const out: Reply[] = [];
    for (let i = 2; i < argv.length; i++) {
      const s = z?.score(argv[i]);
      out.push(s === undefined ? null : new DoubleReply(s));
    }
    return out;
  },

  // ZCOUNT key min max
  ZCOUNT(client, argv) {
    const [min, max] = scoreRange(argv[2], argv[3]);
    return getZset(client.db, argv[1])?.countByScore(min, max) ?? 0;
  },

  // ZLEXCOUNT key min max
  ZLEXCOUNT(client, argv) {
    const [min, max] = lexRange(argv[2], argv[3]);
    return getZset(client.db, argv[1])?.countByLex(min, max) ?? 0;
  },

  // ZRANK key member [WITHSCORE]
  ZRANK(client, argv) {
    return zrank(client, argv, false);
  },

  // ZREVRANK key member [WITHSCORE]
  ZREVRANK(client, argv) {
    return zrank(client, argv, true);
  },

  // ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
  ZRANGE(client, argv) {
    return zrangeGeneric(client, argv, 1, null, 'auto');
  },

  // ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
  ZRANGESTORE(client, argv) {
    return zrangeGeneric(client, argv, 2, argv[1], 'auto');
  },

  // ZREVRANGE key start stop [WITHSCORES]
  ZREVRANGE(client, argv) {
    return zrangeGeneric(client, argv, 1, null, 'rank', true);
  },

  // ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
  ZRANGEBYSCORE(client, argv) {
    return zrangeGeneric(client, argv, 1, null, 'score', false);
  },

  // ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
  ZREVRANGEBYSCORE(client, argv) {
    return zrangeGeneric(client, argv, 1, null, 'score', true);
  },

  // ZRANGEBYLEX key min max [LIMIT offset count]
  ZRANGEBYLEX(client, argv) {
    return zrangeGeneric(client, argv, 1, null, 'lex', false);
  },

  // ZREVRANGEBYLEX key max min [LIMIT offset count]
  ZREVRANGEBYLEX(client, argv) {
    return zrangeGeneric(client, argv, 1, null, 'lex', true);
  },

  // ZREMRANGEBYSCORE key min max
  ZREMRANGEBYSCORE(client, argv) {
    return zremrangeGeneric(client, argv, 'score');
  },

  // ZREMRANGEBYRANK key start stop
  ZREMRANGEBYRANK(client, argv) {
    return zremrangeGeneric(client, argv, 'rank');
  },

  // ZREMRANGEBYLEX key min max
  ZREMRANGEBYLEX(client, argv) {
    return zremrangeGeneric(client, argv, 'lex');
  },

  // ZPOPMIN key [count]
  ZPOPMIN(client, argv) {
    return zpopMinMax(client, argv, 'min');
  },

  // ZPOPMAX key [count]
  ZPOPMAX(client, argv) {
    return zpopMinMax(client, argv, 'max');
  },

  // BZPOPMIN key [key ...] timeout
  BZPOPMIN(client, argv) {
    const timeout = parseTimeout(argv[argv.length - 1]);
    return blockingZpop(client, argv.slice(1, -1), 'min', timeout, -1, false);
  },

  // BZPOPMAX key [key ...] timeout
  BZPOPMAX(client, argv) {
    const timeout = parseTimeout(argv[argv.length - 1]);
    return blockingZpop(client, argv.slice(1, -1), 'max', timeout, -1, false);
  },

  // ZMPOP numkeys key [key ...] <MIN | MAX> [COUNT count]
  ZMPOP(client, argv) {
    return zmpopGeneric(client, argv, 1, false);
  },

  // BZMPOP timeout numkeys key [key ...] <MIN | MAX> [COUNT count]
  BZMPOP(client, argv) {
    return zmpopGeneric(client, argv, 2, true);
  },

  // ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]
  ZUNIONSTORE(client, argv) {
    return zsetOp(client, argv, 2, 'union', argv[1]);
  },

  // ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]
  ZINTERSTORE(client, argv) {
    return zsetOp(client, argv, 2, 'inter', argv[1]);
  },

  // ZDIFFSTORE destination numkeys key [key ...]
  ZDIFFSTORE(client, argv) {
    return zsetOp(client, argv, 2, 'diff', argv[1]);
  },

  // ZUNION numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]
  ZUNION(client, argv) {
    return zsetOp(client, argv, 1, 'union', null);
  },

  // ZINTER numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]
  ZINTER(client, argv) {
    return zsetOp(client, argv, 1, 'inter', null);
  },

  // ZDIFF numkeys key [key ...] [WITHSCORES]
  ZDIFF(client, argv) {
    return zsetOp(client, argv, 1, 'diff', null);
  },

  // ZINTERCARD numkeys key [key ...] [LIMIT limit]
  ZINTERCARD(client, argv) {
    return zsetOp(client, argv, 1, 'inter', null, true);
  },

  // ZSCAN key cursor [MATCH pattern] [COUNT count]
  // Scores are bulk strings, even in RESP3. A small set answers a fresh scan in one reply, as a listpack does.
  ZSCAN(client, argv) {
    const cursor = parseScanCursor(argv[2]);
    const z = getZset(client.db, argv[1]);
    if (!z) return ['0', []];
    return scanStep(client, cursor, parseScanOptions(argv, 3, null), {
      items: z.scores,
      small: z,
      name: ([m]) => m,
      emit: ([m, s], out) => {
        out.push(m, formatDouble(s));
      },
    });
  },

  // ZRANDMEMBER key [count [WITHSCORES]]
  ZRANDMEMBER(client, argv) {
    if (argv.length >= 3) {
      const { count, withPairs } = parseRandomCountWith(argv, 'WITHSCORES');
      return zrandmemberWithCount(client, argv[1], count, withPairs);
    }
    const z = getZset(client.db, argv[1]);
    if (!z) return null;
    return z.at(randomIndex(z.size))![0];
  },
};

/** ZRANK / ZREVRANK key member [WITHSCORE]: the rank, or [rank, score]; null (null array) when absent. */
function zrank(client: Client, argv: string[], reverse: boolean): Reply {
  if (argv.length > 4) throw new CommandError(wrongArity(argv[0]));
  let withScore = false;
  if (argv.length === 4) {
    if (kw(argv[3]) !== 'WITHSCORE') throw new CommandError(Err.syntax);
    withScore = true;
  }
  const z = getZset(client.db, argv[1]);
  const rank = z?.rank(argv[2], reverse);
  if (rank === undefined) return withScore ? NULL_ARRAY : null;
  return withScore ? [rank, new DoubleReply(z!.score(argv[2])!)] : rank;
}
