import { type Command, command, toBoolean, toNumber, toStrings } from '../command.js';
import type { Arg, Key, Value } from '../types.js';
import { scanArgs, toScanPage } from './keys.js';

// Conventions as in keys.ts: counts are numbers, Redis's 0/1 yes/no answers are booleans. Members come
// back in no particular order.

/** SSCAN's options: a glob for members, a hint of how many members to visit. */
export interface SScanOptions {
  match?: string;
  count?: number;
}

/** SMISMEMBER's `[0, 1, …]` as booleans. */
function toBooleans(v: Value): boolean[] {
  return Array.isArray(v) ? v.map(toBoolean) : [];
}

/** SPOP key → a random member, removed; null when the key does not exist. */
function spop(key: Key): Command<string | null>;
/** SPOP key count → up to `count` random members, removed; [] when the key does not exist. */
function spop(key: Key, count: number): Command<string[]>;
/** SPOP with or without count. */
function spop(key: Key, count?: number): Command<string | null | string[]>;
function spop(key: Key, count?: number): Command<string | null | string[]> {
  if (count === undefined) return command<string | null>(['SPOP', key]);
  return command(['SPOP', key, count], toStrings);
}

/** SRANDMEMBER key → a random member, or null when the key does not exist. */
function srandmember(key: Key): Command<string | null>;
/**
 * SRANDMEMBER key count → up to `count` distinct random members; with a negative count, exactly -count
 * members that may repeat. [] when the key does not exist.
 */
function srandmember(key: Key, count: number): Command<string[]>;
/** SRANDMEMBER with or without count. */
function srandmember(key: Key, count?: number): Command<string | null | string[]>;
function srandmember(key: Key, count?: number): Command<string | null | string[]> {
  if (count === undefined) return command<string | null>(['SRANDMEMBER', key]);
  return command(['SRANDMEMBER', key, count], toStrings);
}

/** Sets (Redis's t_set.c). */
export const setCommands = {
  /** SADD key member [member …] → the number of members added (not already present). */
  sadd: (key: Key, ...members: Arg[]) => command(['SADD', key, ...members], toNumber),
  /** SREM key member [member …] → the number of members removed. */
  srem: (key: Key, ...members: Arg[]) => command(['SREM', key, ...members], toNumber),
  /** SMEMBERS key → every member ([] when the key does not exist). */
  smembers: (key: Key) => command(['SMEMBERS', key], toStrings),
  /** SISMEMBER key member → true if member is in the set. */
  sismember: (key: Key, member: Arg) => command(['SISMEMBER', key, member], toBoolean),
  /** SMISMEMBER key member [member …] → for each member in order, true if it is in the set. */
  smismember: (key: Key, ...members: Arg[]) => command(['SMISMEMBER', key, ...members], toBooleans),
  /** SCARD key → the number of members (0 when the key does not exist). */
  scard: (key: Key) => command(['SCARD', key], toNumber),
  spop,
  srandmember,
  /** SMOVE source destination member → true if moved, false when member is not in source. */
  smove: (source: Key, destination: Key, member: Arg) => command(['SMOVE', source, destination, member], toBoolean),
  /** SINTER key [key …] → the members in every set. */
  sinter: (...keys: Key[]) => command(['SINTER', ...keys], toStrings),
  /** SUNION key [key …] → the members in any set. */
  sunion: (...keys: Key[]) => command(['SUNION', ...keys], toStrings),
  /** SDIFF key [key …] → the members of the first set that are in none of the others. */
  sdiff: (...keys: Key[]) => command(['SDIFF', ...keys], toStrings),
  /** SINTERSTORE destination key [key …] → the size of the intersection stored at destination. */
  sinterstore: (destination: Key, ...keys: Key[]) => command(['SINTERSTORE', destination, ...keys], toNumber),
  /** SUNIONSTORE destination key [key …] → the size of the union stored at destination. */
  sunionstore: (destination: Key, ...keys: Key[]) => command(['SUNIONSTORE', destination, ...keys], toNumber),
  /** SDIFFSTORE destination key [key …] → the size of the difference stored at destination. */
  sdiffstore: (destination: Key, ...keys: Key[]) => command(['SDIFFSTORE', destination, ...keys], toNumber),
  /**
   * SINTERCARD numkeys key [key …] [LIMIT limit] → the size of the intersection, counting stops at `limit`
   * (0: no limit). numkeys is `keys.length`.
   */
  sintercard: (keys: Key[], limit?: number) =>
    command(
      limit === undefined ? ['SINTERCARD', keys.length, ...keys] : ['SINTERCARD', keys.length, ...keys, 'LIMIT', limit],
      toNumber,
    ),
  /** SSCAN key cursor [MATCH pattern] [COUNT count] → one page: the next cursor ("0" at the end) and members. */
  sscan: (key: Key, cursor: string | number, options?: SScanOptions) =>
    command(['SSCAN', key, cursor, ...scanArgs(options)], (v): { cursor: string; members: string[] } => {
      const page = toScanPage(v);
      return { cursor: page.cursor, members: toStrings(page.items) };
    }),
};
