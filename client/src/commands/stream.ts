import { type Command, command, toNumber, toRecord, toStrings } from '../command.js';
import type { Arg, Key, Value } from '../types.js';

// Streams (Redis's t_stream.c). IDs are strings (`1700000000000-0`; `-`, `+`, `$`, `>` where Redis takes
// them); counts are numbers. Unlike the list commands, BLOCK is in milliseconds, as Redis has it (0 = wait
// forever); a read that times out resolves with null. The call's own timeout still applies: block longer
// through `client.with({ timeout: 0 })` or a timeout above the blocking one.

/** One entry: its ID and its fields (a repeated field name keeps its last value); null fields for an
 * entry deleted while pending (XREADGROUP history). */
export interface StreamEntry {
  id: string;
  fields: Record<string, string> | null;
}

/** The entries read from one stream (XREAD, XREADGROUP). */
export interface StreamRead {
  key: string;
  entries: StreamEntry[];
}

/**
 * XADD's and XTRIM's trimming: by length or by smallest ID to keep; `approx` (`~`) trims whole nodes only
 * (cheaper), and only then may `limit` bound the entries deleted.
 */
export type StreamTrim = ({ maxlen: number; minid?: never } | { minid: string; maxlen?: never }) &
  ({ approx?: false; limit?: never } | { approx: true; limit?: number });

/** XADD's options: the ID (default `*`: from the clock), no stream creation, trimming. */
export interface XaddOptions {
  id?: string;
  nomkstream?: boolean;
  trim?: StreamTrim;
}

/** The streams to read and the ID to read after in each (`$`: only new entries; `>` for groups). */
export type StreamIds = Record<Key, string> | [Key, string][];

/** XREAD's options; `block` in milliseconds (0: forever). */
export interface XreadOptions {
  count?: number;
  block?: number;
}

/** XREADGROUP's options: XREAD's, and NOACK (deliver without pending entries). */
export interface XreadgroupOptions extends XreadOptions {
  noack?: boolean;
}

/** XPENDING's summary: how many entries are pending, the smallest and largest ID, per consumer. */
export interface PendingSummary {
  count: number;
  first: string | null;
  last: string | null;
  consumers: { name: string; pending: number }[];
}

/** XPENDING's range form: IDs from `start` to `end` (`-`, `+`, `(` exclusive), at most `count`. */
export interface PendingRange {
  start: string;
  end: string;
  count: number;
  /** Only entries idle at least this many milliseconds. */
  idle?: number;
  /** Only this consumer's. */
  consumer?: string;
}

/** One pending entry: who has it, for how long (ms), how many times it was delivered. */
export interface PendingEntry {
  id: string;
  consumer: string;
  idle: number;
  deliveries: number;
}

/** XCLAIM's options: the new delivery time (`idle` ms ago, or at unix `time` ms), counter, FORCE, LASTID. */
export type XclaimOptions = ({ idle?: number; time?: never } | { time: number; idle?: never }) & {
  retrycount?: number;
  force?: boolean;
  lastid?: string;
};

/** XAUTOCLAIM's answer: the cursor for the next call (`0-0` when done), what was claimed, what was gone. */
export interface AutoClaimed<T> {
  next: string;
  claimed: T[];
  deleted: string[];
}

function fieldsOf(v: Value): Record<string, string> | null {
  return v === null ? null : toRecord(v, String);
}

/** `[[id, [field, value, …]], …]` → entries. */
export function toEntries(v: Value): StreamEntry[] {
  if (!Array.isArray(v)) return [];
  return (v as Value[][]).map((e) => ({ id: String(e[0]), fields: fieldsOf(e[1]) }));
}

/** XREAD's reply: `{key: entries}` (RESP3) or `[[key, entries], …]` (RESP2); null at the timeout. */
function toReads(v: Value): StreamRead[] | null {
  if (v === null) return null;
  if (Array.isArray(v)) return (v as Value[][]).map((p) => ({ key: String(p[0]), entries: toEntries(p[1]) }));
  return Object.entries(v as Record<string, Value>).map(([key, e]) => ({ key, entries: toEntries(e) }));
}

function trimArgs(t: StreamTrim): Arg[] {
  const argv: Arg[] = t.maxlen !== undefined ? ['MAXLEN'] : ['MINID'];
  argv.push(t.approx ? '~' : '=', t.maxlen !== undefined ? t.maxlen : (t.minid as string));
  if (t.approx && t.limit !== undefined) argv.push('LIMIT', t.limit);
  return argv;
}

function streamArgs(streams: StreamIds): Arg[] {
  const pairs = Array.isArray(streams) ? streams : Object.entries(streams);
  return ['STREAMS', ...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])];
}

function readArgs(options?: XreadgroupOptions): Arg[] {
  const argv: Arg[] = [];
  if (options?.count !== undefined) argv.push('COUNT', options.count);
  if (options?.block !== undefined) argv.push('BLOCK', options.block);
  if (options?.noack) argv.push('NOACK');
  return argv;
}

/** XPENDING key group → the summary. */
function xpending(key: Key, group: string): Command<PendingSummary>;
/** XPENDING key group [IDLE min-idle] start end count [consumer] → the pending entries in the range. */
function xpending(key: Key, group: string, range: PendingRange): Command<PendingEntry[]>;
function xpending(key: Key, group: string, range?: PendingRange): Command<PendingSummary | PendingEntry[]> {
  if (range === undefined) {
    return command(['XPENDING', key, group], (v) => {
      const a = Array.isArray(v) ? v : [];
      const owners = Array.isArray(a[3]) ? (a[3] as Value[][]) : [];
      return {
        count: toNumber(a[0] ?? 0),
        first: (a[1] ?? null) as string | null,
        last: (a[2] ?? null) as string | null,
        consumers: owners.map((o) => ({ name: String(o[0]), pending: toNumber(o[1]) })),
      };
    });
  }
  const argv: Arg[] = ['XPENDING', key, group];
  if (range.idle !== undefined) argv.push('IDLE', range.idle);
  argv.push(range.start, range.end, range.count);
  if (range.consumer !== undefined) argv.push(range.consumer);
  return command(argv, (v) =>
    (Array.isArray(v) ? (v as Value[][]) : []).map((e) => ({
      id: String(e[0]),
      consumer: String(e[1]),
      idle: toNumber(e[2]),
      deliveries: toNumber(e[3]),
    })),
  );
}

function claimArgs(options?: XclaimOptions & { justid?: boolean }): Arg[] {
  const argv: Arg[] = [];
  if (options?.idle !== undefined) argv.push('IDLE', options.idle);
  if (options?.time !== undefined) argv.push('TIME', options.time);
  if (options?.retrycount !== undefined) argv.push('RETRYCOUNT', options.retrycount);
  if (options?.force) argv.push('FORCE');
  if (options?.justid) argv.push('JUSTID');
  if (options?.lastid !== undefined) argv.push('LASTID', options.lastid);
  return argv;
}

/** XCLAIM key group consumer min-idle-time id [id …] [options] → the entries now owned by `consumer`. */
function xclaim(
  key: Key,
  group: string,
  consumer: string,
  minIdle: number,
  ids: string[],
  options?: XclaimOptions & { justid?: false },
): Command<StreamEntry[]>;
/** XCLAIM … JUSTID → only their IDs (the delivery counter is left alone). */
function xclaim(
  key: Key,
  group: string,
  consumer: string,
  minIdle: number,
  ids: string[],
  options: XclaimOptions & { justid: true },
): Command<string[]>;
function xclaim(
  key: Key,
  group: string,
  consumer: string,
  minIdle: number,
  ids: string[],
  options?: XclaimOptions & { justid?: boolean },
): Command<StreamEntry[] | string[]> {
  return command(['XCLAIM', key, group, consumer, minIdle, ...ids, ...claimArgs(options)], (v) =>
    options?.justid ? toStrings(v) : toEntries(v),
  );
}

/** XAUTOCLAIM key group consumer min-idle-time start [COUNT count] → claimed entries, the next cursor, deleted IDs. */
function xautoclaim(
  key: Key,
  group: string,
  consumer: string,
  minIdle: number,
  start: string,
  options?: { count?: number; justid?: false },
): Command<AutoClaimed<StreamEntry>>;
/** XAUTOCLAIM … JUSTID → the claimed IDs only. */
function xautoclaim(
  key: Key,
  group: string,
  consumer: string,
  minIdle: number,
  start: string,
  options: { count?: number; justid: true },
): Command<AutoClaimed<string>>;
function xautoclaim(
  key: Key,
  group: string,
  consumer: string,
  minIdle: number,
  start: string,
  options?: { count?: number; justid?: boolean },
): Command<AutoClaimed<StreamEntry> | AutoClaimed<string>> {
  const argv: Arg[] = ['XAUTOCLAIM', key, group, consumer, minIdle, start];
  if (options?.count !== undefined) argv.push('COUNT', options.count);
  if (options?.justid) argv.push('JUSTID');
  return command(argv, (v) => {
    const a = Array.isArray(v) ? v : [];
    return {
      next: String(a[0] ?? '0-0'),
      claimed: options?.justid ? toStrings(a[1] ?? []) : toEntries(a[1] ?? []),
      deleted: toStrings(a[2] ?? []),
    } as AutoClaimed<StreamEntry> | AutoClaimed<string>;
  });
}

/** XINFO's maps (RESP3 objects or RESP2 flat arrays) as records, values as they came. */
function toInfos(v: Value): Record<string, Value>[] {
  return Array.isArray(v) ? (v as Value[]).map((x) => toRecord<Value>(x)) : [];
}

/** Streams (Redis's t_stream.c). */
export const streamCommands = {
  /**
   * XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] id|* field value [field value …] →
   * the new entry's ID; null with `nomkstream` when the key does not exist.
   */
  xadd: (key: Key, fields: Record<string, Arg> | [Arg, Arg][], options?: XaddOptions) => {
    const argv: Arg[] = ['XADD', key];
    if (options?.nomkstream) argv.push('NOMKSTREAM');
    if (options?.trim) argv.push(...trimArgs(options.trim));
    argv.push(options?.id ?? '*');
    for (const [f, v] of Array.isArray(fields) ? fields : Object.entries(fields)) argv.push(f, v);
    return command<string | null>(argv);
  },
  /** XLEN key → the number of entries (0 when the key does not exist). */
  xlen: (key: Key) => command(['XLEN', key], toNumber),
  /** XRANGE key start end [COUNT count] → the entries between the IDs (`-`/`+`, `(` exclusive), ascending. */
  xrange: (key: Key, start = '-', end = '+', count?: number) =>
    command(count === undefined ? ['XRANGE', key, start, end] : ['XRANGE', key, start, end, 'COUNT', count], toEntries),
  /** XREVRANGE key end start [COUNT count] → the entries between the IDs, descending. */
  xrevrange: (key: Key, end = '+', start = '-', count?: number) =>
    command(
      count === undefined ? ['XREVRANGE', key, end, start] : ['XREVRANGE', key, end, start, 'COUNT', count],
      toEntries,
    ),
  /**
   * XREAD [COUNT count] [BLOCK ms] STREAMS key … id … → the entries after each ID, per stream that has some;
   * null when none has (at once, or at the end of `block`).
   */
  xread: (streams: StreamIds, options?: XreadOptions) =>
    command(['XREAD', ...readArgs(options), ...streamArgs(streams)], toReads),
  /**
   * XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key … id … → new entries (`>`)
   * delivered to `consumer`, or its pending ones after an ID (history); null when there is nothing.
   */
  xreadgroup: (group: string, consumer: string, streams: StreamIds, options?: XreadgroupOptions) =>
    command(['XREADGROUP', 'GROUP', group, consumer, ...readArgs(options), ...streamArgs(streams)], toReads),
  /** XDEL key id [id …] → how many entries were deleted. */
  xdel: (key: Key, ...ids: string[]) => command(['XDEL', key, ...ids], toNumber),
  /** XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count] → how many entries were deleted. */
  xtrim: (key: Key, trim: StreamTrim) => command(['XTRIM', key, ...trimArgs(trim)], toNumber),
  /** XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id] → "OK". */
  xsetid: (key: Key, lastId: string, options?: { entriesAdded?: number; maxDeletedId?: string }) => {
    const argv: Arg[] = ['XSETID', key, lastId];
    if (options?.entriesAdded !== undefined) argv.push('ENTRIESADDED', options.entriesAdded);
    if (options?.maxDeletedId !== undefined) argv.push('MAXDELETEDID', options.maxDeletedId);
    return command<'OK'>(argv);
  },
  /** XACK key group id [id …] → how many pending entries were acknowledged. */
  xack: (key: Key, group: string, ...ids: string[]) => command(['XACK', key, group, ...ids], toNumber),
  xpending,
  xclaim,
  xautoclaim,
  /** XINFO CONSUMERS key group → per consumer: name, pending, idle (ms). */
  xinfoConsumers: (key: Key, group: string) => command(['XINFO', 'CONSUMERS', key, group], toInfos),
  /** XINFO GROUPS key → per group: name, consumers, pending, last-delivered-id, entries-read, lag. */
  xinfoGroups: (key: Key) => command(['XINFO', 'GROUPS', key], toInfos),
  /**
   * XINFO STREAM key [FULL [COUNT count]] → the stream's fields (length, radix-tree-keys, last-generated-id,
   * first-entry…; with `full`, its entries and groups in detail), values as the server sent them.
   */
  xinfoStream: (key: Key, full?: boolean | { count: number }) => {
    const argv: Arg[] = ['XINFO', 'STREAM', key];
    if (full) argv.push('FULL');
    if (typeof full === 'object') argv.push('COUNT', full.count);
    return command(argv, (v) => toRecord<Value>(v));
  },
  /** XINFO HELP → the help lines. */
  xinfoHelp: () => command(['XINFO', 'HELP'], toStrings),
  /** XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n] → "OK"; rejects with BUSYGROUP when it exists. */
  xgroupCreate: (key: Key, group: string, id: string, options?: { mkstream?: boolean; entriesRead?: number }) => {
    const argv: Arg[] = ['XGROUP', 'CREATE', key, group, id];
    if (options?.mkstream) argv.push('MKSTREAM');
    if (options?.entriesRead !== undefined) argv.push('ENTRIESREAD', options.entriesRead);
    return command<'OK'>(argv);
  },
  /** XGROUP CREATECONSUMER key group consumer → 1 when created, 0 when it existed. */
  xgroupCreateconsumer: (key: Key, group: string, consumer: string) =>
    command(['XGROUP', 'CREATECONSUMER', key, group, consumer], toNumber),
  /** XGROUP DELCONSUMER key group consumer → how many pending entries the consumer had. */
  xgroupDelconsumer: (key: Key, group: string, consumer: string) =>
    command(['XGROUP', 'DELCONSUMER', key, group, consumer], toNumber),
  /** XGROUP DESTROY key group → 1 when the group existed. */
  xgroupDestroy: (key: Key, group: string) => command(['XGROUP', 'DESTROY', key, group], toNumber),
  /** XGROUP SETID key group id|$ [ENTRIESREAD n] → "OK". */
  xgroupSetid: (key: Key, group: string, id: string, options?: { entriesRead?: number }) =>
    command<'OK'>(
      options?.entriesRead === undefined
        ? ['XGROUP', 'SETID', key, group, id]
        : ['XGROUP', 'SETID', key, group, id, 'ENTRIESREAD', options.entriesRead],
    ),
  /** XGROUP HELP → the help lines. */
  xgroupHelp: () => command(['XGROUP', 'HELP'], toStrings),
};
