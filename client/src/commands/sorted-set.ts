import { type Command, command, toNumber, toNumberOrNull, toScoredMembers, toStrings } from '../command.js';
import type { Arg, Key, Value } from '../types.js';

/** A member and its score, as WITHSCORES replies are decoded. */
export interface ScoredMember {
  member: string;
  score: number;
}

/** A score to store: a number (±Infinity are sent as `+inf`/`-inf`) or Redis's `+inf`/`-inf`. */
export type Score = number | '+inf' | '-inf';

/** One ZADD element. */
export interface ZMember {
  score: Score;
  member: Arg;
}

/** A score bound for ZCOUNT, ZRANGEBYSCORE…: inclusive number, `(n` exclusive, or `-inf`/`+inf`. */
export type ScoreBound = number | '-inf' | '+inf' | `(${number}`;

/** A lexicographical bound for ZLEXCOUNT, ZRANGEBYLEX…: `[a` inclusive, `(a` exclusive, `-` and `+` the ends. */
export type LexBound = '-' | '+' | `[${string}` | `(${string}`;

/** LIMIT offset count: skip `offset` matches, return at most `count` (negative count: all the rest). */
export interface Limit {
  offset: number;
  count: number;
}

/** A member's rank and score, as ZRANK/ZREVRANK WITHSCORE replies are decoded. */
export interface RankScore {
  rank: number;
  score: number;
}

/** Options that ask for WITHSCORES: the result is `{member, score}[]`. */
export type Scored = { withScores: true };

/** Options without WITHSCORES (absent or false): the result is members. */
export type Unscored = { withScores?: false };

/** ZADD's condition: `nx` (only add new) or `xx` (only update), and with `xx` or neither, `gt` or `lt`. */
export type ZAddCondition =
  | { nx: true; xx?: never; gt?: never; lt?: never }
  | ({ nx?: never; xx?: boolean } & ({ gt?: boolean; lt?: never } | { lt?: boolean; gt?: never }));

/** ZADD's options: a condition, `ch` (count changed, not only added) and `incr` (ZINCRBY-like, one member). */
export type ZAddOptions = ZAddCondition & { ch?: boolean; incr?: boolean };

/** ZRANGE's options: BYSCORE or BYLEX (LIMIT only with one of them; WITHSCORES not with BYLEX), REV. */
export type ZRangeOptions =
  | { byScore: true; byLex?: never; rev?: boolean; limit?: Limit; withScores?: boolean }
  | { byLex: true; byScore?: never; rev?: boolean; limit?: Limit; withScores?: never }
  | { byScore?: never; byLex?: never; rev?: boolean; limit?: never; withScores?: boolean };

/** ZRANGESTORE's options: ZRANGE's without WITHSCORES. */
export type ZRangeStoreOptions =
  | { byScore: true; byLex?: never; rev?: boolean; limit?: Limit }
  | { byLex: true; byScore?: never; rev?: boolean; limit?: Limit }
  | { byScore?: never; byLex?: never; rev?: boolean; limit?: never };

/** ZUNION/ZINTER(STORE)'s options: one weight per key, and how scores of a member combine (default SUM). */
export interface ZAggregateOptions {
  weights?: number[];
  aggregate?: 'SUM' | 'MIN' | 'MAX';
}

/** ZRANGEBYSCORE/ZREVRANGEBYSCORE's options. */
export interface ZRangeByScoreOptions {
  withScores?: boolean;
  limit?: Limit;
}

/** ZUNION/ZINTER's options: ZAggregateOptions and WITHSCORES. */
export type ZSetOpOptions = ZAggregateOptions & { withScores?: boolean };

/** A score or bound as an argument: ±Infinity become Redis's `+inf`/`-inf` (JSON cannot carry them). */
function scoreArg(s: number | string): Arg {
  if (s === Number.POSITIVE_INFINITY) return '+inf';
  if (s === Number.NEGATIVE_INFINITY) return '-inf';
  return s;
}

function limitArgs(argv: Arg[], limit: Limit | undefined): Arg[] {
  if (limit) argv.push('LIMIT', limit.offset, limit.count);
  return argv;
}

function rangeArgs(argv: Arg[], o: ZRangeOptions | ZRangeStoreOptions | undefined): Arg[] {
  if (!o) return argv;
  if (o.byScore) argv.push('BYSCORE');
  if (o.byLex) argv.push('BYLEX');
  if (o.rev) argv.push('REV');
  limitArgs(argv, o.limit);
  if ('withScores' in o && o.withScores) argv.push('WITHSCORES');
  return argv;
}

function aggregateArgs(argv: Arg[], o: ZAggregateOptions | undefined): Arg[] {
  if (o?.weights) argv.push('WEIGHTS', ...o.weights.map(scoreArg));
  if (o?.aggregate) argv.push('AGGREGATE', o.aggregate);
  return argv;
}

/** Keys as a list, and `numkeys key [key …]`. */
function keyList(keys: Key | Key[]): Key[] {
  return typeof keys === 'string' ? [keys] : keys;
}

/** Decodes a reply by `withScores`: scored members or plain members. */
function membersOrScored(withScores: boolean | undefined): (v: Value) => ScoredMember[] | string[] {
  return withScores ? toScoredMembers : toStrings;
}

/** ZMPOP/BZMPOP's `[key, [[m, s], …]]` (both protocols), or null. */
function toKeyMembers(v: Value): { key: string; members: ScoredMember[] } | null {
  if (!Array.isArray(v) || v.length < 2) return null;
  return { key: String(v[0]), members: toScoredMembers(v[1]) };
}

/** BZPOPMIN/BZPOPMAX's `[key, member, score]`, or null at the timeout. */
function toKeyMember(v: Value): { key: string; member: string; score: number } | null {
  if (!Array.isArray(v) || v.length < 3) return null;
  return { key: String(v[0]), member: String(v[1]), score: toNumber(v[2]) };
}

// The builders whose result depends on an option are overloaded functions (most specific signature first,
// the last one for options only known at run time), not generics: the client's and pipeline's methods are
// mapped from the builders' signatures, which keeps overloads and would erase a generic.

/**
 * ZADD key [XX] [GT|LT] [CH] INCR score member → the member's new score (ZINCRBY-like, one member only),
 * or null when the condition prevented the update.
 */
function zadd(key: Key, member: ZMember, options: ZAddOptions & { incr: true }): Command<number | null>;
/**
 * ZADD key [NX|XX] [GT|LT] [CH] score member [score member …] → the number of members added (with `ch`:
 * added or changed).
 */
function zadd(key: Key, members: ZMember | ZMember[], options?: ZAddOptions & { incr?: false }): Command<number>;
/** ZADD of one member with `incr` only known at run time → the new score or null, or the number added. */
function zadd(key: Key, member: ZMember, options?: ZAddOptions): Command<number | null>;
function zadd(key: Key, members: ZMember | ZMember[], options?: ZAddOptions): Command<number | null> {
  const argv: Arg[] = ['ZADD', key];
  const o = options;
  if (o?.nx) argv.push('NX');
  if (o?.xx) argv.push('XX');
  if (o?.gt) argv.push('GT');
  if (o?.lt) argv.push('LT');
  if (o?.ch) argv.push('CH');
  if (o?.incr) argv.push('INCR');
  for (const m of Array.isArray(members) ? members : [members]) argv.push(scoreArg(m.score), m.member);
  return command(argv, o?.incr ? toNumberOrNull : toNumber);
}

/** ZRANK key member WITHSCORE → `{rank, score}` (0-based rank by ascending score), or null. */
function zrank(key: Key, member: Arg, options: { withScore: true }): Command<RankScore | null>;
/** ZRANK key member → the 0-based rank by ascending score, or null. */
function zrank(key: Key, member: Arg, options?: { withScore?: false }): Command<number | null>;
/** ZRANK with `withScore` only known at run time. */
function zrank(key: Key, member: Arg, options?: { withScore?: boolean }): Command<number | RankScore | null>;
function zrank(key: Key, member: Arg, options?: { withScore?: boolean }): Command<number | RankScore | null> {
  return rankCommand('ZRANK', key, member, options);
}

/** ZREVRANK key member WITHSCORE → `{rank, score}` (0-based rank by descending score), or null. */
function zrevrank(key: Key, member: Arg, options: { withScore: true }): Command<RankScore | null>;
/** ZREVRANK key member → the 0-based rank by descending score, or null. */
function zrevrank(key: Key, member: Arg, options?: { withScore?: false }): Command<number | null>;
/** ZREVRANK with `withScore` only known at run time. */
function zrevrank(key: Key, member: Arg, options?: { withScore?: boolean }): Command<number | RankScore | null>;
function zrevrank(key: Key, member: Arg, options?: { withScore?: boolean }): Command<number | RankScore | null> {
  return rankCommand('ZREVRANK', key, member, options);
}

/**
 * ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] WITHSCORES → `{member, score}[]` (by index, or
 * between score bounds). Not with BYLEX.
 */
function zrange(
  key: Key,
  start: ScoreBound | LexBound,
  stop: ScoreBound | LexBound,
  options: ZRangeOptions & Scored,
): Command<ScoredMember[]>;
/**
 * ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] → the members (by index, or between
 * score/lex bounds).
 */
function zrange(
  key: Key,
  start: ScoreBound | LexBound,
  stop: ScoreBound | LexBound,
  options?: ZRangeOptions & Unscored,
): Command<string[]>;
/** ZRANGE with `withScores` only known at run time. */
function zrange(
  key: Key,
  start: ScoreBound | LexBound,
  stop: ScoreBound | LexBound,
  options?: ZRangeOptions,
): Command<string[] | ScoredMember[]>;
function zrange(
  key: Key,
  start: ScoreBound | LexBound,
  stop: ScoreBound | LexBound,
  options?: ZRangeOptions,
): Command<string[] | ScoredMember[]> {
  return command(
    rangeArgs(['ZRANGE', key, scoreArg(start), scoreArg(stop)], options),
    membersOrScored(options?.withScores),
  );
}

/** ZREVRANGE key start stop WITHSCORES → `{member, score}[]` by descending score (deprecated: zrange rev). */
function zrevrange(key: Key, start: number, stop: number, options: Scored): Command<ScoredMember[]>;
/** ZREVRANGE key start stop → members by descending score (deprecated: zrange with rev). */
function zrevrange(key: Key, start: number, stop: number, options?: Unscored): Command<string[]>;
/** ZREVRANGE with `withScores` only known at run time. */
function zrevrange(
  key: Key,
  start: number,
  stop: number,
  options?: { withScores?: boolean },
): Command<string[] | ScoredMember[]>;
function zrevrange(
  key: Key,
  start: number,
  stop: number,
  options?: { withScores?: boolean },
): Command<string[] | ScoredMember[]> {
  const argv: Arg[] = ['ZREVRANGE', key, start, stop];
  if (options?.withScores) argv.push('WITHSCORES');
  return command(argv, membersOrScored(options?.withScores));
}

/**
 * ZRANGEBYSCORE key min max WITHSCORES [LIMIT offset count] → `{member, score}[]` by ascending score
 * (deprecated: zrange with byScore).
 */
function zrangebyscore(
  key: Key,
  min: ScoreBound,
  max: ScoreBound,
  options: ZRangeByScoreOptions & Scored,
): Command<ScoredMember[]>;
/** ZRANGEBYSCORE key min max [LIMIT offset count] → members by ascending score (deprecated: zrange byScore). */
function zrangebyscore(
  key: Key,
  min: ScoreBound,
  max: ScoreBound,
  options?: ZRangeByScoreOptions & Unscored,
): Command<string[]>;
/** ZRANGEBYSCORE with `withScores` only known at run time. */
function zrangebyscore(
  key: Key,
  min: ScoreBound,
  max: ScoreBound,
  options?: ZRangeByScoreOptions,
): Command<string[] | ScoredMember[]>;
function zrangebyscore(
  key: Key,
  min: ScoreBound,
  max: ScoreBound,
  options?: ZRangeByScoreOptions,
): Command<string[] | ScoredMember[]> {
  return byScore('ZRANGEBYSCORE', key, min, max, options);
}

/**
 * ZREVRANGEBYSCORE key max min WITHSCORES [LIMIT offset count] → `{member, score}[]` by descending score
 * (deprecated: zrange byScore rev).
 */
function zrevrangebyscore(
  key: Key,
  max: ScoreBound,
  min: ScoreBound,
  options: ZRangeByScoreOptions & Scored,
): Command<ScoredMember[]>;
/** ZREVRANGEBYSCORE key max min [LIMIT offset count] → members by descending score (deprecated). */
function zrevrangebyscore(
  key: Key,
  max: ScoreBound,
  min: ScoreBound,
  options?: ZRangeByScoreOptions & Unscored,
): Command<string[]>;
/** ZREVRANGEBYSCORE with `withScores` only known at run time. */
function zrevrangebyscore(
  key: Key,
  max: ScoreBound,
  min: ScoreBound,
  options?: ZRangeByScoreOptions,
): Command<string[] | ScoredMember[]>;
function zrevrangebyscore(
  key: Key,
  max: ScoreBound,
  min: ScoreBound,
  options?: ZRangeByScoreOptions,
): Command<string[] | ScoredMember[]> {
  return byScore('ZREVRANGEBYSCORE', key, max, min, options);
}

/** ZUNION numkeys key [key …] [WEIGHTS w …] [AGGREGATE …] WITHSCORES → `{member, score}[]`. */
function zunion(keys: Key[], options: ZSetOpOptions & Scored): Command<ScoredMember[]>;
/** ZUNION numkeys key [key …] [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] → the members in any set. */
function zunion(keys: Key[], options?: ZSetOpOptions & Unscored): Command<string[]>;
/** ZUNION with `withScores` only known at run time. */
function zunion(keys: Key[], options?: ZSetOpOptions): Command<string[] | ScoredMember[]>;
function zunion(keys: Key[], options?: ZSetOpOptions): Command<string[] | ScoredMember[]> {
  return setOp('ZUNION', keys, options);
}

/** ZINTER numkeys key [key …] [WEIGHTS w …] [AGGREGATE …] WITHSCORES → `{member, score}[]`. */
function zinter(keys: Key[], options: ZSetOpOptions & Scored): Command<ScoredMember[]>;
/** ZINTER numkeys key [key …] [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] → the members in every set. */
function zinter(keys: Key[], options?: ZSetOpOptions & Unscored): Command<string[]>;
/** ZINTER with `withScores` only known at run time. */
function zinter(keys: Key[], options?: ZSetOpOptions): Command<string[] | ScoredMember[]>;
function zinter(keys: Key[], options?: ZSetOpOptions): Command<string[] | ScoredMember[]> {
  return setOp('ZINTER', keys, options);
}

/** ZDIFF numkeys key [key …] WITHSCORES → `{member, score}[]` of the first set in none of the others. */
function zdiff(keys: Key[], options: Scored): Command<ScoredMember[]>;
/** ZDIFF numkeys key [key …] → members of the first set in none of the others. */
function zdiff(keys: Key[], options?: Unscored): Command<string[]>;
/** ZDIFF with `withScores` only known at run time. */
function zdiff(keys: Key[], options?: { withScores?: boolean }): Command<string[] | ScoredMember[]>;
function zdiff(keys: Key[], options?: { withScores?: boolean }): Command<string[] | ScoredMember[]> {
  const argv: Arg[] = ['ZDIFF', keys.length, ...keys];
  if (options?.withScores) argv.push('WITHSCORES');
  return command(argv, membersOrScored(options?.withScores));
}

/** ZRANDMEMBER key → one random member, or null when the key does not exist. */
function zrandmember(key: Key): Command<string | null>;
/**
 * ZRANDMEMBER key count WITHSCORES → `{member, score}[]`: distinct members if count > 0, possibly
 * repeated if < 0.
 */
function zrandmember(key: Key, options: { count: number } & Scored): Command<ScoredMember[]>;
/** ZRANDMEMBER key count → members: distinct if count > 0, possibly repeated if < 0 ([] when missing). */
function zrandmember(key: Key, options: { count: number } & Unscored): Command<string[]>;
/** ZRANDMEMBER with the shape only known at run time (WITHSCORES only with a count). */
function zrandmember(
  key: Key,
  options?: { count: number; withScores?: boolean },
): Command<string | null | string[] | ScoredMember[]>;
function zrandmember(
  key: Key,
  options?: { count: number; withScores?: boolean },
): Command<string | null | string[] | ScoredMember[]> {
  const argv: Arg[] = ['ZRANDMEMBER', key];
  if (options) argv.push(options.count);
  if (options?.withScores) argv.push('WITHSCORES');
  if (!options) return command<string | null>(argv);
  return command(argv, membersOrScored(options.withScores));
}

/**
 * Sorted sets (Redis's t_zset.c). Scores come back as numbers (`inf` → Infinity); WITHSCORES replies as
 * `{member, score}[]` in both protocols. Blocking commands take Redis's timeout in seconds (0 = forever):
 * give the call a longer client timeout (`client.with({ timeout })`) than the command's.
 */
export const sortedSetCommands = {
  zadd,
  /** ZINCRBY key increment member → the member's new score. */
  zincrby: (key: Key, increment: number, member: Arg) =>
    command(['ZINCRBY', key, scoreArg(increment), member], toNumber),
  /** ZREM key member [member …] → the number of members removed. */
  zrem: (key: Key, ...members: Arg[]) => command(['ZREM', key, ...members], toNumber),
  /** ZCARD key → the number of members (0 when missing). */
  zcard: (key: Key) => command(['ZCARD', key], toNumber),
  /** ZSCORE key member → the score, or null. */
  zscore: (key: Key, member: Arg) => command(['ZSCORE', key, member], toNumberOrNull),
  /** ZMSCORE key member [member …] → each member's score in order, null for missing ones. */
  zmscore: (key: Key, ...members: Arg[]) =>
    command(['ZMSCORE', key, ...members], (v) => (Array.isArray(v) ? v.map(toNumberOrNull) : [])),
  /** ZCOUNT key min max → the number of members with a score in [min, max]. */
  zcount: (key: Key, min: ScoreBound, max: ScoreBound) =>
    command(['ZCOUNT', key, scoreArg(min), scoreArg(max)], toNumber),
  /** ZLEXCOUNT key min max → the number of members between the lexicographical bounds. */
  zlexcount: (key: Key, min: LexBound, max: LexBound) => command(['ZLEXCOUNT', key, min, max], toNumber),
  zrank,
  zrevrank,
  zrange,
  /** ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] → the number stored in dst. */
  zrangestore: (
    destination: Key,
    source: Key,
    min: ScoreBound | LexBound,
    max: ScoreBound | LexBound,
    options?: ZRangeStoreOptions,
  ) => command(rangeArgs(['ZRANGESTORE', destination, source, scoreArg(min), scoreArg(max)], options), toNumber),
  zrevrange,
  zrangebyscore,
  zrevrangebyscore,
  /** ZRANGEBYLEX key min max [LIMIT offset count] → members (deprecated: zrange with byLex). */
  zrangebylex: (key: Key, min: LexBound, max: LexBound, options?: { limit?: Limit }) =>
    command(limitArgs(['ZRANGEBYLEX', key, min, max], options?.limit), toStrings),
  /** ZREVRANGEBYLEX key max min [LIMIT offset count] → members (deprecated: zrange byLex rev). */
  zrevrangebylex: (key: Key, max: LexBound, min: LexBound, options?: { limit?: Limit }) =>
    command(limitArgs(['ZREVRANGEBYLEX', key, max, min], options?.limit), toStrings),
  /** ZREMRANGEBYSCORE key min max → the number of members removed. */
  zremrangebyscore: (key: Key, min: ScoreBound, max: ScoreBound) =>
    command(['ZREMRANGEBYSCORE', key, scoreArg(min), scoreArg(max)], toNumber),
  /** ZREMRANGEBYRANK key start stop → the number of members removed. */
  zremrangebyrank: (key: Key, start: number, stop: number) => command(['ZREMRANGEBYRANK', key, start, stop], toNumber),
  /** ZREMRANGEBYLEX key min max → the number of members removed. */
  zremrangebylex: (key: Key, min: LexBound, max: LexBound) => command(['ZREMRANGEBYLEX', key, min, max], toNumber),
  /** ZPOPMIN key [count] → the popped lowest-scoring members (at most `count`, default 1; [] when none). */
  zpopmin: (key: Key, count?: number) =>
    command(count === undefined ? ['ZPOPMIN', key] : ['ZPOPMIN', key, count], toScoredMembers),
  /** ZPOPMAX key [count] → the popped highest-scoring members (at most `count`, default 1; [] when none). */
  zpopmax: (key: Key, count?: number) =>
    command(count === undefined ? ['ZPOPMAX', key] : ['ZPOPMAX', key, count], toScoredMembers),
  /**
   * BZPOPMIN key [key …] timeout → `{key, member, score}` popped from the first non-empty sorted set,
   * waiting up to `timeout` seconds (0 = forever) for one; null at the timeout.
   */
  bzpopmin: (keys: Key | Key[], timeout: number) => command(['BZPOPMIN', ...keyList(keys), timeout], toKeyMember),
  /** BZPOPMAX key [key …] timeout → as bzpopmin, the highest-scoring member. */
  bzpopmax: (keys: Key | Key[], timeout: number) => command(['BZPOPMAX', ...keyList(keys), timeout], toKeyMember),
  /**
   * ZMPOP numkeys key [key …] MIN|MAX [COUNT count] → `{key, members}` popped from the first non-empty
   * sorted set (at most `count`, default 1), or null when all are empty.
   */
  zmpop: (keys: Key | Key[], where: 'MIN' | 'MAX', options?: { count?: number }) => {
    const k = keyList(keys);
    const argv: Arg[] = ['ZMPOP', k.length, ...k, where];
    if (options?.count !== undefined) argv.push('COUNT', options.count);
    return command(argv, toKeyMembers);
  },
  /**
   * BZMPOP timeout numkeys key [key …] MIN|MAX [COUNT count] → as zmpop, waiting up to `timeout` seconds
   * (0 = forever) for a non-empty sorted set; null at the timeout.
   */
  bzmpop: (timeout: number, keys: Key | Key[], where: 'MIN' | 'MAX', options?: { count?: number }) => {
    const k = keyList(keys);
    const argv: Arg[] = ['BZMPOP', timeout, k.length, ...k, where];
    if (options?.count !== undefined) argv.push('COUNT', options.count);
    return command(argv, toKeyMembers);
  },
  /** ZUNIONSTORE destination numkeys key [key …] [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] → the size stored. */
  zunionstore: (destination: Key, keys: Key[], options?: ZAggregateOptions) =>
    command(aggregateArgs(['ZUNIONSTORE', destination, keys.length, ...keys], options), toNumber),
  /** ZINTERSTORE destination numkeys key [key …] [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] → the size stored. */
  zinterstore: (destination: Key, keys: Key[], options?: ZAggregateOptions) =>
    command(aggregateArgs(['ZINTERSTORE', destination, keys.length, ...keys], options), toNumber),
  /** ZDIFFSTORE destination numkeys key [key …] → the size stored. */
  zdiffstore: (destination: Key, keys: Key[]) => command(['ZDIFFSTORE', destination, keys.length, ...keys], toNumber),
  zunion,
  zinter,
  zdiff,
  /** ZINTERCARD numkeys key [key …] [LIMIT limit] → the size of the intersection (stopping at `limit`). */
  zintercard: (keys: Key[], options?: { limit?: number }) => {
    const argv: Arg[] = ['ZINTERCARD', keys.length, ...keys];
    if (options?.limit !== undefined) argv.push('LIMIT', options.limit);
    return command(argv, toNumber);
  },
  /**
   * ZSCAN key cursor [MATCH pattern] [COUNT count] → the next cursor ("0" when the iteration is done) and
   * a batch of `{member, score}`.
   */
  zscan: (key: Key, cursor: string | number, options?: { match?: string; count?: number }) => {
    const argv: Arg[] = ['ZSCAN', key, cursor];
    if (options?.match !== undefined) argv.push('MATCH', options.match);
    if (options?.count !== undefined) argv.push('COUNT', options.count);
    return command(argv, (v) => {
      const [next, batch] = Array.isArray(v) ? v : [];
      return { cursor: String(next ?? '0'), members: toScoredMembers(batch ?? []) };
    });
  },
  zrandmember,
};

/** ZRANK/ZREVRANK: the rank, `{rank, score}` with `withScore`, or null. */
function rankCommand(
  name: string,
  key: Key,
  member: Arg,
  options?: { withScore?: boolean },
): Command<number | RankScore | null> {
  const argv: Arg[] = [name, key, member];
  if (options?.withScore) argv.push('WITHSCORE');
  return command(argv, (v) => {
    if (v === null) return null;
    if (Array.isArray(v)) return { rank: toNumber(v[0]), score: toNumber(v[1]) };
    return toNumber(v);
  });
}

/** ZRANGEBYSCORE/ZREVRANGEBYSCORE key from to [WITHSCORES] [LIMIT offset count]. */
function byScore(
  name: string,
  key: Key,
  from: ScoreBound,
  to: ScoreBound,
  options?: ZRangeByScoreOptions,
): Command<string[] | ScoredMember[]> {
  const argv: Arg[] = [name, key, scoreArg(from), scoreArg(to)];
  if (options?.withScores) argv.push('WITHSCORES');
  limitArgs(argv, options?.limit);
  return command(argv, membersOrScored(options?.withScores));
}

/** ZUNION/ZINTER numkeys key [key …] [WEIGHTS …] [AGGREGATE …] [WITHSCORES]. */
function setOp(name: string, keys: Key[], options?: ZSetOpOptions): Command<string[] | ScoredMember[]> {
  const argv = aggregateArgs([name, keys.length, ...keys], options);
  if (options?.withScores) argv.push('WITHSCORES');
  return command(argv, membersOrScored(options?.withScores));
}
