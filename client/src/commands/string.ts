import { command, toBoolean, toNullableStrings, toNumber } from '../command.js';
import type { Arg, Key } from '../types.js';

/** Expiry for SET: at most one of these (`ex` seconds, `px` ms, `exat`/`pxat` Unix time, `keepTtl`). */
export type SetExpiry =
  | { ex: number; px?: never; exat?: never; pxat?: never; keepTtl?: never }
  | { px: number; ex?: never; exat?: never; pxat?: never; keepTtl?: never }
  | { exat: number; ex?: never; px?: never; pxat?: never; keepTtl?: never }
  | { pxat: number; ex?: never; px?: never; exat?: never; keepTtl?: never }
  | { keepTtl: true; ex?: never; px?: never; exat?: never; pxat?: never }
  | { ex?: never; px?: never; exat?: never; pxat?: never; keepTtl?: never };

/** Condition for SET: only if the key does not exist (`nx`) or only if it does (`xx`), not both. */
export type SetCondition = { nx: true; xx?: never } | { xx: true; nx?: never } | { nx?: never; xx?: never };

/** SET's options: one expiry, one condition, and `get` to return the old value. */
export type SetOptions = SetExpiry & SetCondition & { get?: boolean };

/** GETEX's options: one expiry, or `persist`. */
export type GetExOptions =
  | { ex: number; px?: never; exat?: never; pxat?: never; persist?: never }
  | { px: number; ex?: never; exat?: never; pxat?: never; persist?: never }
  | { exat: number; ex?: never; px?: never; pxat?: never; persist?: never }
  | { pxat: number; ex?: never; px?: never; exat?: never; persist?: never }
  | { persist: true; ex?: never; px?: never; exat?: never; pxat?: never };

function setArgs(key: Key, value: Arg, o?: SetOptions): Arg[] {
  const argv: Arg[] = ['SET', key, value];
  if (!o) return argv;
  if (o.nx) argv.push('NX');
  if (o.xx) argv.push('XX');
  if (o.get) argv.push('GET');
  if (o.ex !== undefined) argv.push('EX', o.ex);
  if (o.px !== undefined) argv.push('PX', o.px);
  if (o.exat !== undefined) argv.push('EXAT', o.exat);
  if (o.pxat !== undefined) argv.push('PXAT', o.pxat);
  if (o.keepTtl) argv.push('KEEPTTL');
  return argv;
}

/** Strings (Redis's t_string.c). */
export const stringCommands = {
  /** GET key → the value, or null. */
  get: (key: Key) => command<string | null>(['GET', key]),
  /**
   * SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL] → "OK"; null when NX/XX prevented it; with
   * `get`, the old value (or null).
   */
  set: (key: Key, value: Arg, options?: SetOptions) => command<string | null>(setArgs(key, value, options)),
  /** SETNX key value → true if set. */
  setnx: (key: Key, value: Arg) => command(['SETNX', key, value], toBoolean),
  /** SETEX key seconds value. */
  setex: (key: Key, seconds: number, value: Arg) => command<'OK'>(['SETEX', key, seconds, value]),
  /** PSETEX key milliseconds value. */
  psetex: (key: Key, ms: number, value: Arg) => command<'OK'>(['PSETEX', key, ms, value]),
  /** GETSET key value → the old value (deprecated in Redis: use set with get). */
  getset: (key: Key, value: Arg) => command<string | null>(['GETSET', key, value]),
  /** GETDEL key → the value, then deletes the key. */
  getdel: (key: Key) => command<string | null>(['GETDEL', key]),
  /** GETEX key [EX|PX|EXAT|PXAT|PERSIST] → the value, changing its expiry. */
  getex: (key: Key, options?: GetExOptions) => {
    const argv: Arg[] = ['GETEX', key];
    if (options?.ex !== undefined) argv.push('EX', options.ex);
    if (options?.px !== undefined) argv.push('PX', options.px);
    if (options?.exat !== undefined) argv.push('EXAT', options.exat);
    if (options?.pxat !== undefined) argv.push('PXAT', options.pxat);
    if (options?.persist) argv.push('PERSIST');
    return command<string | null>(argv);
  },
  /** MGET key [key …] → values in order, null for missing keys. */
  mget: (...keys: Key[]) => command(['MGET', ...keys], toNullableStrings),
  /** MSET {key: value, …}. */
  mset: (pairs: Record<Key, Arg>) => command<'OK'>(['MSET', ...Object.entries(pairs).flat()]),
  /** MSETNX {key: value, …} → true if all were set (none existed). */
  msetnx: (pairs: Record<Key, Arg>) => command(['MSETNX', ...Object.entries(pairs).flat()], toBoolean),
  /** INCR key → the new value. */
  incr: (key: Key) => command(['INCR', key], toNumber),
  /** DECR key → the new value. */
  decr: (key: Key) => command(['DECR', key], toNumber),
  /** INCRBY key increment → the new value. */
  incrby: (key: Key, increment: number) => command(['INCRBY', key, increment], toNumber),
  /** DECRBY key decrement → the new value. */
  decrby: (key: Key, decrement: number) => command(['DECRBY', key, decrement], toNumber),
  /** INCRBYFLOAT key increment → the new value. */
  incrbyfloat: (key: Key, increment: number) => command(['INCRBYFLOAT', key, increment], toNumber),
  /** APPEND key value → the new length. */
  append: (key: Key, value: Arg) => command(['APPEND', key, value], toNumber),
  /** STRLEN key → the length (0 when missing). */
  strlen: (key: Key) => command(['STRLEN', key], toNumber),
  /** GETRANGE key start end → the substring (inclusive offsets, negative from the end). */
  getrange: (key: Key, start: number, end: number) => command<string>(['GETRANGE', key, start, end]),
  /** SETRANGE key offset value → the new length. */
  setrange: (key: Key, offset: number, value: Arg) => command(['SETRANGE', key, offset, value], toNumber),
  /** SUBSTR key start end (old name of GETRANGE). */
  substr: (key: Key, start: number, end: number) => command<string>(['SUBSTR', key, start, end]),
};
