import {
  DoubleReply,
  ErrorReply,
  MapReply,
  NULL_ARRAY,
  type Reply,
  SetReply,
  SimpleString,
} from '../../protocol/reply.js';

/**
 * A reply as ioredis hands it over with `stringNumbers` and no reply encoding: bulk and status strings as
 * Buffers, integers as decimal strings, nil as null, arrays, and Redis's error replies as Errors.
 */
export type RawReply = Buffer | string | null | RawReply[] | Error;

/**
 * Turns a reply from Redis (spoken in RESP2 by ioredis) into the typed reply the embedded engine's handler
 * of `argv` would have returned to a client speaking `resp`, so that every front door encodes it exactly
 * as it encodes the embedded engine's: status replies (`+OK`, TYPE) stay status replies, RESP2's nil
 * arrays stay nil arrays, and for RESP3 clients (the WebSocket) maps, sets, doubles and nested pairs come
 * back (HGETALL, SMEMBERS, ZSCORE, ZRANGE … WITHSCORES, HRANDFIELD … WITHVALUES, …).
 *
 * RESP2 clients get Redis's bytes back unchanged (a score is passed on as Redis formatted it).
 * The `gateway` vitest project runs the command suites through this path against the same expectations
 * as the embedded engine.
 */
export function toReply(raw: RawReply, argv: readonly string[], resp: 2 | 3): Reply {
  if (raw instanceof Error) return new ErrorReply(raw.message);
  const name = argv[0].toUpperCase();
  if (raw === null) return NULL_ARRAY_REPLIES(name, argv) ? NULL_ARRAY : null;
  if (Buffer.isBuffer(raw)) {
    const s = raw.toString('latin1');
    if (STATUS_REPLIES.has(name) && !isBulkForm(name, argv)) return new SimpleString(s);
    if (resp === 3 && DOUBLE_REPLIES.has(name)) return toDouble(s);
    return s;
  }
  if (typeof raw === 'string') return toInteger(raw);
  const shaped = SHAPED_ARRAYS[name];
  if (shaped !== undefined) return shaped(raw, argv, resp);
  if (resp === 3) {
    const up = RESP3_ARRAYS[name];
    if (up !== undefined) return up(raw, argv);
  }
  return raw.map(plain);
}

/** A reply without any command-specific shape: bulk strings, integers, nil, arrays, errors. */
export function plain(raw: RawReply): Reply {
  if (raw === null) return null;
  if (Buffer.isBuffer(raw)) return raw.toString('latin1');
  if (typeof raw === 'string') return toInteger(raw);
  if (raw instanceof Error) return new ErrorReply(raw.message);
  return raw.map(plain);
}

function toInteger(s: string): number | bigint {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

/** A score as Redis writes it in RESP2 ("1.5", "inf", "-inf", "nan") → a RESP3 double. */
function toDouble(s: string): DoubleReply {
  const l = s.toLowerCase();
  if (l === 'inf' || l === '+inf') return new DoubleReply(Number.POSITIVE_INFINITY);
  if (l === '-inf') return new DoubleReply(Number.NEGATIVE_INFINITY);
  return new DoubleReply(Number(s));
}

function dbl(raw: RawReply): Reply {
  return Buffer.isBuffer(raw) ? toDouble(raw.toString('latin1')) : plain(raw);
}

/** Whether an argument after `from` is the option `opt` (case-insensitive). */
function hasOption(argv: readonly string[], from: number, opt: string): boolean {
  for (let i = from; i < argv.length; i++)
    if (argv[i].length === opt.length && argv[i].toUpperCase() === opt) return true;
  return false;
}

/** The forms of STATUS_REPLIES commands that answer a bulk string: SET … GET, PING message. */
function isBulkForm(name: string, argv: readonly string[]): boolean {
  return (name === 'SET' && hasOption(argv, 3, 'GET')) || (name === 'PING' && argv.length > 1);
}

/** Commands whose string replies are status replies (`+OK`, `+string`), as their handlers return them. */
const STATUS_REPLIES = new Set([
  'SET',
  'SETEX',
  'PSETEX',
  'MSET',
  'RENAME',
  'LSET',
  'LTRIM',
  'HMSET',
  'FLUSHDB',
  'FLUSHALL',
  'SWAPDB',
  'TYPE',
  'PING',
  'MULTI',
  'DISCARD',
  'WATCH',
  'UNWATCH',
  'SAVE',
  'BGSAVE',
  'BGREWRITEAOF',
  'SELECT',
  'XSETID',
  'XGROUP',
]);

/** Commands whose RESP2 nil is a nil array (`*-1`), not a nil bulk string. */
function NULL_ARRAY_REPLIES(name: string, argv: readonly string[]): boolean {
  switch (name) {
    case 'BLPOP':
    case 'BRPOP':
    case 'BZPOPMIN':
    case 'BZPOPMAX':
    case 'BLMPOP':
    case 'BZMPOP':
    case 'LMPOP':
    case 'ZMPOP':
    case 'EXEC':
    case 'XREAD':
    case 'XREADGROUP':
    case 'XRANGE':
    case 'XREVRANGE':
      return true;
    case 'LPOP':
    case 'RPOP':
      return argv.length > 2;
    case 'ZRANK':
    case 'ZREVRANK':
      return argv.length > 3;
    default:
      return false;
  }
}

/** Bulk-string replies that are doubles in RESP3. */
const DOUBLE_REPLIES = new Set(['ZSCORE', 'ZINCRBY', 'ZADD']);

/** [a, b, a, b, …] → [[a, b], …], with `second` applied to each b. */
function pairs(raw: RawReply[], second: (r: RawReply) => Reply): Reply[] {
  const out: Reply[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([plain(raw[i]), second(raw[i + 1])]);
  return out;
}

/** Members, or [member, double] pairs when WITHSCORES is among the arguments. */
function withScores(raw: RawReply[], argv: readonly string[]): Reply {
  return hasOption(argv, 2, 'WITHSCORES') ? pairs(raw, dbl) : raw.map(plain);
}

/** [key, [[member, score], …]] (ZMPOP, BZMPOP) with doubles. */
function keyAndScoredPairs(raw: RawReply[]): Reply {
  const [key, items] = raw;
  return [
    plain(key),
    Array.isArray(items) ? items.map((p) => (Array.isArray(p) ? [plain(p[0]), dbl(p[1])] : plain(p))) : plain(items),
  ];
}

/** RESP3 shapes of array replies, by command (the embedded handlers' `client.resp === 3` branches). */
const RESP3_ARRAYS: Record<string, (raw: RawReply[], argv: readonly string[]) => Reply> = {
  HGETALL: (raw) => new MapReply(pairs(raw, plain) as [Reply, Reply][]),
  SMEMBERS: (raw) => new SetReply(raw.map(plain)),
  SINTER: (raw) => new SetReply(raw.map(plain)),
  SUNION: (raw) => new SetReply(raw.map(plain)),
  SDIFF: (raw) => new SetReply(raw.map(plain)),
  SPOP: (raw) => new SetReply(raw.map(plain)),
  ZMSCORE: (raw) => raw.map(dbl),
  ZRANGE: withScores,
  ZREVRANGE: withScores,
  ZRANGEBYSCORE: withScores,
  ZREVRANGEBYSCORE: withScores,
  ZUNION: withScores,
  ZINTER: withScores,
  ZDIFF: withScores,
  ZRANDMEMBER: withScores,
  HRANDFIELD: (raw, argv) => (hasOption(argv, 3, 'WITHVALUES') ? pairs(raw, plain) : raw.map(plain)),
  // Without a count: [member, score] flat; with one: [[member, score], …].
  ZPOPMIN: (raw, argv) => (argv.length > 2 ? pairs(raw, dbl) : [plain(raw[0]), dbl(raw[1])]),
  ZPOPMAX: (raw, argv) => (argv.length > 2 ? pairs(raw, dbl) : [plain(raw[0]), dbl(raw[1])]),
  BZPOPMIN: (raw) => [plain(raw[0]), plain(raw[1]), dbl(raw[2])],
  BZPOPMAX: (raw) => [plain(raw[0]), plain(raw[1]), dbl(raw[2])],
  ZMPOP: keyAndScoredPairs,
  BZMPOP: keyAndScoredPairs,
  ZRANK: (raw) => [plain(raw[0]), dbl(raw[1])],
  ZREVRANK: (raw) => [plain(raw[0]), dbl(raw[1])],
};

/** Stream entries [[id, [field, value, …]], …]; a deleted entry's fields (XREADGROUP history) are a nil array. */
function streamEntries(raw: RawReply): Reply {
  if (!Array.isArray(raw)) return plain(raw);
  return raw.map((e) => (Array.isArray(e) ? [plain(e[0]), e[1] === null ? NULL_ARRAY : plain(e[1])] : plain(e)));
}

/** [k, v, k, v, …] → a map, each v through `value(key, v)`. */
function flatMap(raw: RawReply, value: (key: string, v: RawReply) => Reply = (_k, v) => plain(v)): Reply {
  if (!Array.isArray(raw)) return plain(raw);
  const out: [Reply, Reply][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = Buffer.isBuffer(raw[i]) ? (raw[i] as Buffer).toString('latin1') : String(raw[i]);
    out.push([k, value(k, raw[i + 1])]);
  }
  return new MapReply(out);
}

/** XINFO STREAM's fields (FULL: its entries, and its groups and their consumers as maps). */
function xinfoStreamField(key: string, v: RawReply): Reply {
  if (key === 'entries') return streamEntries(v);
  if (key === 'first-entry' || key === 'last-entry') return v === null ? null : (streamEntries([v]) as Reply[])[0];
  if (key === 'groups' && Array.isArray(v)) {
    return v.map((g) =>
      flatMap(g, (k, x) => (k === 'consumers' && Array.isArray(x) ? x.map((c) => flatMap(c)) : plain(x))),
    );
  }
  return plain(v);
}

/**
 * Array replies shaped for both protocols (the embedded handlers' replies, nil arrays and RESP3 maps
 * included): the stream commands.
 */
const SHAPED_ARRAYS: Record<string, (raw: RawReply[], argv: readonly string[], resp: 2 | 3) => Reply> = {
  // [[key, entries], …]; RESP3: a map key → entries.
  XREAD: (raw, _argv, resp) => streamsReply(raw, resp),
  XREADGROUP: (raw, _argv, resp) => streamsReply(raw, resp),
  XRANGE: (raw) => streamEntries(raw),
  XREVRANGE: (raw) => streamEntries(raw),
  XCLAIM: (raw) => raw.map((e) => (Array.isArray(e) ? [plain(e[0]), plain(e[1])] : plain(e))),
  // Summary form: [count, first, last, consumers], consumers a nil array when nothing is pending.
  XPENDING: (raw, argv) =>
    argv.length === 3
      ? [plain(raw[0]), plain(raw[1]), plain(raw[2]), raw[3] === null ? NULL_ARRAY : plain(raw[3])]
      : raw.map(plain),
  XINFO: (raw, argv, resp) => {
    if (resp === 2) return raw.map(plain);
    const sub = argv[1]?.toUpperCase();
    if (sub === 'STREAM') return flatMap(raw, xinfoStreamField);
    if (sub === 'GROUPS' || sub === 'CONSUMERS') return raw.map((x) => flatMap(x));
    return raw.map(plain);
  },
};

function streamsReply(raw: RawReply[], resp: 2 | 3): Reply {
  const pairs: [Reply, Reply][] = raw.map((p) =>
    Array.isArray(p) ? [plain(p[0]), streamEntries(p[1])] : [plain(p), null],
  );
  return resp === 3 ? new MapReply(pairs) : pairs;
}

/**
 * EXEC's reply: each queued command's reply shaped as that command's own (the queue is what the client
 * queued, in order); a nil (WATCH) or an error stays as it is.
 */
export function execReply(raw: RawReply, queue: readonly string[][], resp: 2 | 3): Reply {
  if (raw === null) return NULL_ARRAY;
  if (!Array.isArray(raw)) return toReply(raw, ['EXEC'], resp);
  return raw.map((r, i) => (i < queue.length ? toReply(r, queue[i], resp) : plain(r)));
}
