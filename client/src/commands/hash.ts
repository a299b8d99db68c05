import { type Command, command, toBoolean, toNullableStrings, toNumber, toRecord, toStrings } from '../command.js';
import type { Arg, Key, Value } from '../types.js';
import { scanArgs, toScanPage } from './keys.js';

// Conventions as in keys.ts: counts are numbers, Redis's 0/1 yes/no answers are booleans.

/** HSCAN's options: a glob for field names, a hint of how many fields to visit, `noValues` for names only. */
export interface HScanOptions {
  match?: string;
  count?: number;
  noValues?: boolean;
}

/** One field of a hash with its value (HRANDFIELD … WITHVALUES). */
export interface FieldValue {
  field: string;
  value: string;
}

/** Field/value pairs: `[[f, v], …]` (RESP3) or `[f, v, f, v]` (RESP2), in reply order (repeats kept). */
export function toFieldValues(v: Value): FieldValue[] {
  const out: FieldValue[] = [];
  if (!Array.isArray(v)) return out;
  if (v.length > 0 && Array.isArray(v[0])) {
    for (const p of v as Value[][]) out.push({ field: String(p[0]), value: String(p[1]) });
  } else {
    for (let i = 0; i + 1 < v.length; i += 2) out.push({ field: String(v[i]), value: String(v[i + 1]) });
  }
  return out;
}

function fieldArgs(fields: Record<string, Arg>): Arg[] {
  return Object.entries(fields).flat();
}

/** HSCAN key cursor [MATCH pattern] [COUNT count] → one page: the next cursor ("0" at the end) and fields with values. */
function hscan(
  key: Key,
  cursor: string | number,
  options?: HScanOptions & { noValues?: false },
): Command<{ cursor: string; fields: Record<string, string> }>;
/** HSCAN key cursor [MATCH pattern] [COUNT count] NOVALUES → one page: the next cursor and field names only. */
function hscan(
  key: Key,
  cursor: string | number,
  options: HScanOptions & { noValues: true },
): Command<{ cursor: string; fields: string[] }>;
/** HSCAN with `noValues` not known at compile time: fields as a record, or names only with `noValues`. */
function hscan(
  key: Key,
  cursor: string | number,
  options?: HScanOptions,
): Command<{ cursor: string; fields: Record<string, string> | string[] }>;
function hscan(
  key: Key,
  cursor: string | number,
  options?: HScanOptions,
): Command<{ cursor: string; fields: Record<string, string> | string[] }> {
  const argv: Arg[] = ['HSCAN', key, cursor, ...scanArgs(options)];
  const noValues = options?.noValues === true;
  if (noValues) argv.push('NOVALUES');
  return command(argv, (v) => {
    const page = toScanPage(v);
    return { cursor: page.cursor, fields: noValues ? toStrings(page.items) : toRecord(page.items, String) };
  });
}

/** HRANDFIELD key → a random field name, or null when the key does not exist. */
function hrandfield(key: Key): Command<string | null>;
/**
 * HRANDFIELD key count → up to `count` distinct field names; with a negative count, exactly -count names
 * that may repeat. [] when the key does not exist.
 */
function hrandfield(key: Key, count: number): Command<string[]>;
/** HRANDFIELD key count WITHVALUES → random fields with their values (count as above). */
function hrandfield(key: Key, count: number, withValues: true): Command<FieldValue[]>;
/** HRANDFIELD with the shape not known at compile time (WITHVALUES only after a count). */
function hrandfield(
  key: Key,
  ...args: [count?: number] | [count: number, withValues: boolean]
): Command<string | null | string[] | FieldValue[]>;
function hrandfield(key: Key, count?: number, withValues?: boolean): Command<string | null | string[] | FieldValue[]> {
  if (count === undefined) return command<string | null>(['HRANDFIELD', key]);
  if (withValues) return command(['HRANDFIELD', key, count, 'WITHVALUES'], toFieldValues);
  return command(['HRANDFIELD', key, count], toStrings);
}

/** Hashes (Redis's t_hash.c). */
export const hashCommands = {
  /** HSET key field value [field value …] with `{field: value, …}` → the number of fields added (not updated). */
  hset: (key: Key, fields: Record<string, Arg>) => command(['HSET', key, ...fieldArgs(fields)], toNumber),
  /** HSETNX key field value → true if set, false when the field already exists. */
  hsetnx: (key: Key, field: string, value: Arg) => command(['HSETNX', key, field, value], toBoolean),
  /** HGET key field → the value, or null. */
  hget: (key: Key, field: string) => command<string | null>(['HGET', key, field]),
  /** HMGET key field [field …] → values in order, null for missing fields. */
  hmget: (key: Key, ...fields: string[]) => command(['HMGET', key, ...fields], toNullableStrings),
  /** HMSET key field value [field value …] with `{field: value, …}` → "OK" (deprecated in Redis: use hset). */
  hmset: (key: Key, fields: Record<string, Arg>) => command<'OK'>(['HMSET', key, ...fieldArgs(fields)]),
  /** HDEL key field [field …] → the number of fields removed. */
  hdel: (key: Key, ...fields: string[]) => command(['HDEL', key, ...fields], toNumber),
  /** HEXISTS key field → true if the field exists. */
  hexists: (key: Key, field: string) => command(['HEXISTS', key, field], toBoolean),
  /** HLEN key → the number of fields (0 when the key does not exist). */
  hlen: (key: Key) => command(['HLEN', key], toNumber),
  /** HKEYS key → every field name. */
  hkeys: (key: Key) => command(['HKEYS', key], toStrings),
  /** HVALS key → every value. */
  hvals: (key: Key) => command(['HVALS', key], toStrings),
  /** HGETALL key → `{field: value, …}` ({} when the key does not exist). */
  hgetall: (key: Key) => command(['HGETALL', key], (v) => toRecord(v, String)),
  /** HINCRBY key field increment → the new value. */
  hincrby: (key: Key, field: string, increment: number) => command(['HINCRBY', key, field, increment], toNumber),
  /** HINCRBYFLOAT key field increment → the new value. */
  hincrbyfloat: (key: Key, field: string, increment: number) =>
    command(['HINCRBYFLOAT', key, field, increment], toNumber),
  /** HSTRLEN key field → the value's length (0 when missing). */
  hstrlen: (key: Key, field: string) => command(['HSTRLEN', key, field], toNumber),
  hscan,
  hrandfield,
};
