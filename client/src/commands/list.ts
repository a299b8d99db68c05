import { type Command, command, toNumber, toStrings } from '../command.js';
import type { Arg, Key, Value } from '../types.js';

// Conventions as in keys.ts: counts and indexes are numbers. Blocking commands take their timeout in
// seconds (fractions allowed, 0 = wait forever) and resolve with null when it passes. The call's own
// timeout (the client's default, 10 s unless set) still applies: block longer through
// `client.with({ timeout: 0 })` or a timeout above the blocking one.

/** Which end of a list: LEFT is the head (index 0), RIGHT the tail. */
export type Direction = 'LEFT' | 'RIGHT';

/** LPOS's options besides COUNT: which match to start from (negative: from the tail), how many elements to compare. */
export interface LposOptions {
  rank?: number;
  maxlen?: number;
}

/** A popped element and the list it came from (BLPOP, BRPOP). */
export interface KeyElement {
  key: string;
  element: string;
}

/** Popped elements and the list they came from (LMPOP, BLMPOP). */
export interface KeyElements {
  key: string;
  elements: string[];
}

/** `[key, element]` or null (timeout / nothing to pop). */
function toKeyElement(v: Value): KeyElement | null {
  return Array.isArray(v) ? { key: String(v[0]), element: String(v[1]) } : null;
}

/** `[key, [elements]]` or null (timeout / nothing to pop). */
function toKeyElements(v: Value): KeyElements | null {
  return Array.isArray(v) ? { key: String(v[0]), elements: toStrings(v[1]) } : null;
}

function keyList(keys: Key | Key[]): Key[] {
  return typeof keys === 'string' ? [keys] : keys;
}

/** `numkeys key [key …] <LEFT | RIGHT> [COUNT count]` of LMPOP and BLMPOP. */
function mpopArgs(keys: Key[], from: Direction, count?: number): Arg[] {
  const argv: Arg[] = [keys.length, ...keys, from];
  if (count !== undefined) argv.push('COUNT', count);
  return argv;
}

/** LPOP / RPOP: one element (or null), or with `count` up to that many (null when the key does not exist). */
function popGeneric(name: 'LPOP' | 'RPOP', key: Key, count?: number): Command<string | string[] | null> {
  if (count === undefined) return command<string | null>([name, key]);
  return command([name, key, count], (v) => (v === null ? null : toStrings(v)));
}

/** LPOP key → the first element, or null when the key does not exist. */
function lpop(key: Key): Command<string | null>;
/** LPOP key count → up to `count` elements from the head; null when the key does not exist. */
function lpop(key: Key, count: number): Command<string[] | null>;
/** LPOP with or without count. */
function lpop(key: Key, count?: number): Command<string | string[] | null>;
function lpop(key: Key, count?: number): Command<string | string[] | null> {
  return popGeneric('LPOP', key, count);
}

/** RPOP key → the last element, or null when the key does not exist. */
function rpop(key: Key): Command<string | null>;
/** RPOP key count → up to `count` elements from the tail; null when the key does not exist. */
function rpop(key: Key, count: number): Command<string[] | null>;
/** RPOP with or without count. */
function rpop(key: Key, count?: number): Command<string | string[] | null>;
function rpop(key: Key, count?: number): Command<string | string[] | null> {
  return popGeneric('RPOP', key, count);
}

/** LPOS key element [RANK rank] [MAXLEN len] → the index of the match, or null when there is none. */
function lpos(key: Key, element: Arg, options?: LposOptions & { count?: never }): Command<number | null>;
/** LPOS key element [RANK rank] COUNT num-matches [MAXLEN len] → up to `count` indexes (0: all matches); [] when none. */
function lpos(key: Key, element: Arg, options: LposOptions & { count: number }): Command<number[]>;
/** LPOS with `count` not known at compile time. */
function lpos(key: Key, element: Arg, options?: LposOptions & { count?: number }): Command<number | null | number[]>;
function lpos(key: Key, element: Arg, options?: LposOptions & { count?: number }): Command<number | null | number[]> {
  const argv: Arg[] = ['LPOS', key, element];
  if (options?.rank !== undefined) argv.push('RANK', options.rank);
  if (options?.count !== undefined) argv.push('COUNT', options.count);
  if (options?.maxlen !== undefined) argv.push('MAXLEN', options.maxlen);
  return command(argv, (v) => (v === null ? null : Array.isArray(v) ? v.map(toNumber) : toNumber(v)));
}

/** Lists (Redis's t_list.c). */
export const listCommands = {
  /** LPUSH key element [element …] → the list's new length (elements end up in reverse order at the head). */
  lpush: (key: Key, ...elements: Arg[]) => command(['LPUSH', key, ...elements], toNumber),
  /** RPUSH key element [element …] → the list's new length. */
  rpush: (key: Key, ...elements: Arg[]) => command(['RPUSH', key, ...elements], toNumber),
  /** LPUSHX key element [element …] → the new length; 0 (nothing pushed) when the key does not exist. */
  lpushx: (key: Key, ...elements: Arg[]) => command(['LPUSHX', key, ...elements], toNumber),
  /** RPUSHX key element [element …] → the new length; 0 (nothing pushed) when the key does not exist. */
  rpushx: (key: Key, ...elements: Arg[]) => command(['RPUSHX', key, ...elements], toNumber),
  lpop,
  rpop,
  /** LLEN key → the length (0 when the key does not exist). */
  llen: (key: Key) => command(['LLEN', key], toNumber),
  /** LRANGE key start stop → the elements between the inclusive indexes (negative from the tail). */
  lrange: (key: Key, start: number, stop: number) => command(['LRANGE', key, start, stop], toStrings),
  /** LINDEX key index → the element, or null when out of range. */
  lindex: (key: Key, index: number) => command<string | null>(['LINDEX', key, index]),
  /** LSET key index element → "OK"; rejects (ERR index out of range / no such key) otherwise. */
  lset: (key: Key, index: number, element: Arg) => command<'OK'>(['LSET', key, index, element]),
  /** LINSERT key BEFORE|AFTER pivot element → the new length; -1 when the pivot is absent, 0 when the key is. */
  linsert: (key: Key, where: 'BEFORE' | 'AFTER', pivot: Arg, element: Arg) =>
    command(['LINSERT', key, where, pivot, element], toNumber),
  /** LREM key count element → how many were removed (count > 0 from the head, < 0 from the tail, 0 all). */
  lrem: (key: Key, count: number, element: Arg) => command(['LREM', key, count, element], toNumber),
  /** LTRIM key start stop → "OK"; keeps only the elements between the inclusive indexes. */
  ltrim: (key: Key, start: number, stop: number) => command<'OK'>(['LTRIM', key, start, stop]),
  lpos,
  /** LMOVE source destination LEFT|RIGHT LEFT|RIGHT → the element moved, or null when the source is empty. */
  lmove: (source: Key, destination: Key, from: Direction, to: Direction) =>
    command<string | null>(['LMOVE', source, destination, from, to]),
  /** RPOPLPUSH source destination → the element moved, or null (deprecated in Redis: use lmove). */
  rpoplpush: (source: Key, destination: Key) => command<string | null>(['RPOPLPUSH', source, destination]),
  /**
   * LMPOP numkeys key [key …] LEFT|RIGHT [COUNT count] → up to `count` (default 1) elements from the first
   * non-empty list with its key, or null when every list is empty. numkeys is `keys.length`.
   */
  lmpop: (keys: Key[], from: Direction, count?: number) =>
    command(['LMPOP', ...mpopArgs(keys, from, count)], toKeyElements),
  /** BLPOP key [key …] timeout → the head of the first non-empty list with its key, or null at the timeout (seconds). */
  blpop: (keys: Key | Key[], timeout: number) => command(['BLPOP', ...keyList(keys), timeout], toKeyElement),
  /** BRPOP key [key …] timeout → the tail of the first non-empty list with its key, or null at the timeout (seconds). */
  brpop: (keys: Key | Key[], timeout: number) => command(['BRPOP', ...keyList(keys), timeout], toKeyElement),
  /** BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout → the element moved, or null at the timeout (seconds). */
  blmove: (source: Key, destination: Key, from: Direction, to: Direction, timeout: number) =>
    command<string | null>(['BLMOVE', source, destination, from, to, timeout]),
  /** BRPOPLPUSH source destination timeout → the element moved, or null at the timeout (deprecated: use blmove). */
  brpoplpush: (source: Key, destination: Key, timeout: number) =>
    command<string | null>(['BRPOPLPUSH', source, destination, timeout]),
  /**
   * BLMPOP timeout numkeys key [key …] LEFT|RIGHT [COUNT count] → as lmpop, waiting up to `timeout` seconds
   * for a non-empty list; null at the timeout.
   */
  blmpop: (timeout: number, keys: Key[], from: Direction, count?: number) =>
    command(['BLMPOP', timeout, ...mpopArgs(keys, from, count)], toKeyElements),
};
