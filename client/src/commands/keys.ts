import { type Command, command, toBoolean, toNumber, toNumberOrNull, toStrings } from '../command.js';
import type { Arg, Key, Value } from '../types.js';

// Conventions for every builder in commands/: counts and times are numbers (decoded with toNumber, so
// RESP3 numbers and RESP2 numeric text read the same); a yes/no answer that Redis gives as 0/1 is a
// boolean (EXPIRE "was set", PERSIST, RENAMENX, MOVE, COPY, HEXISTS, SISMEMBER…); "OK" stays "OK".

/** What TYPE answers: a value's type name, or `none` when the key does not exist. */
export type KeyType = 'none' | 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream';

/** The condition of EXPIRE and its variants: at most one (set only if no TTL / has one / later / earlier). */
export type ExpireCondition = 'NX' | 'XX' | 'GT' | 'LT';

/** How FLUSHDB / FLUSHALL free memory (kvws frees synchronously either way). */
export type FlushMode = 'ASYNC' | 'SYNC';

/** SCAN's options: a glob for key names, a hint of how many keys to visit, a value type to keep. */
export interface ScanOptions {
  match?: string;
  count?: number;
  type?: Exclude<KeyType, 'none'>;
}

/** COPY's options: a destination database, and `replace` to overwrite an existing destination key. */
export interface CopyOptions {
  db?: number;
  replace?: boolean;
}

/** `[MATCH pattern] [COUNT count]` for SCAN, HSCAN, SSCAN (and ZSCAN) in Redis's order. */
export function scanArgs(o: { match?: string; count?: number } | undefined): Arg[] {
  const argv: Arg[] = [];
  if (o?.match !== undefined) argv.push('MATCH', o.match);
  if (o?.count !== undefined) argv.push('COUNT', o.count);
  return argv;
}

/** A SCAN-family reply `[cursor, items]` (the same in RESP2 and RESP3): the next cursor ("0" at the end) and the items. */
export function toScanPage(v: Value): { cursor: string; items: Value } {
  const a = Array.isArray(v) ? v : [];
  return { cursor: a[0] === undefined || a[0] === null ? '0' : String(a[0]), items: a[1] ?? [] };
}

/** EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT share this shape: true when the deadline was set. */
function expireGeneric(name: string, key: Key, time: number, condition?: ExpireCondition): Command<boolean> {
  return command(condition ? [name, key, time, condition] : [name, key, time], toBoolean);
}

/** Keyspace commands (Redis's db.c and expire.c). */
export const keyCommands = {
  /** DEL key [key …] → the number of keys removed. */
  del: (...keys: Key[]) => command(['DEL', ...keys], toNumber),
  /** UNLINK key [key …] → the number of keys removed (kvws frees at once, as DEL). */
  unlink: (...keys: Key[]) => command(['UNLINK', ...keys], toNumber),
  /** EXISTS key [key …] → how many of the keys exist (a key named twice counts twice). */
  exists: (...keys: Key[]) => command(['EXISTS', ...keys], toNumber),
  /** TYPE key → the value's type name, `none` when the key does not exist. */
  type: (key: Key) => command<KeyType>(['TYPE', key]),
  /** RENAME key newkey → "OK"; overwrites newkey; rejects (ERR no such key) when key does not exist. */
  rename: (key: Key, newkey: Key) => command<'OK'>(['RENAME', key, newkey]),
  /** RENAMENX key newkey → true if renamed, false when newkey already exists. */
  renamenx: (key: Key, newkey: Key) => command(['RENAMENX', key, newkey], toBoolean),
  /**
   * COPY source destination [DB destination-db] [REPLACE] → true if copied; false when the source does not
   * exist or the destination exists without `replace`.
   */
  copy: (source: Key, destination: Key, options?: CopyOptions) => {
    const argv: Arg[] = ['COPY', source, destination];
    if (options?.db !== undefined) argv.push('DB', options.db);
    if (options?.replace) argv.push('REPLACE');
    return command(argv, toBoolean);
  },
  /** MOVE key db → true if moved; false when the key is missing here or already exists in `db`. */
  move: (key: Key, db: number) => command(['MOVE', key, db], toBoolean),
  /** KEYS pattern → every key name matching the glob (prefer scan on large databases). */
  keys: (pattern: string) => command(['KEYS', pattern], toStrings),
  /**
   * SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] → one page: the next cursor ("0" when the
   * iteration is complete) and the key names found. Start with cursor 0.
   */
  scan: (cursor: string | number, options?: ScanOptions) => {
    const argv: Arg[] = ['SCAN', cursor, ...scanArgs(options)];
    if (options?.type !== undefined) argv.push('TYPE', options.type);
    return command(argv, (v): { cursor: string; keys: string[] } => {
      const page = toScanPage(v);
      return { cursor: page.cursor, keys: toStrings(page.items) };
    });
  },
  /** RANDOMKEY → a random key name, or null when the database is empty. */
  randomkey: () => command<string | null>(['RANDOMKEY']),
  /** DBSIZE → the number of keys in the selected database. */
  dbsize: () => command(['DBSIZE'], toNumber),
  /** FLUSHDB [ASYNC | SYNC] → "OK"; removes every key of the selected database. */
  flushdb: (mode?: FlushMode) => command<'OK'>(mode ? ['FLUSHDB', mode] : ['FLUSHDB']),
  /** FLUSHALL [ASYNC | SYNC] → "OK"; removes every key of every database. */
  flushall: (mode?: FlushMode) => command<'OK'>(mode ? ['FLUSHALL', mode] : ['FLUSHALL']),
  /** SWAPDB index1 index2 → "OK"; swaps the contents of two databases. */
  swapdb: (index1: number, index2: number) => command<'OK'>(['SWAPDB', index1, index2]),
  /**
   * SELECT index → "OK"; later commands of this session use database `index`. Over the WebSocket the
   * session is the connection; over HTTP each request (or pipeline / transaction) is its own session.
   */
  select: (index: number) => command<'OK'>(['SELECT', index]),
  /**
   * WAIT numreplicas timeout → how many replicas have acknowledged this session's writes, once that many
   * have or after `timeoutMs` (0 = no limit). On the embedded engine (no replicas) 0; in front of Redis,
   * the smallest count over the masters (docs/scaling.md).
   */
  wait: (numreplicas: number, timeoutMs: number) => command(['WAIT', numreplicas, timeoutMs], toNumber),
  /** TOUCH key [key …] → how many of the keys exist (their last access time is updated). */
  touch: (...keys: Key[]) => command(['TOUCH', ...keys], toNumber),
  /** OBJECT ENCODING key → the internal encoding name (`listpack`, `hashtable`, `int`…), or null when the key is missing. */
  objectEncoding: (key: Key) => command<string | null>(['OBJECT', 'ENCODING', key]),
  /**
   * OBJECT FREQ key → the key's logarithmic access frequency counter (0–255; a new key starts at 5), or null
   * when the key is missing. An error unless an LFU maxmemory-policy is selected.
   */
  objectFreq: (key: Key) => command(['OBJECT', 'FREQ', key], toNumberOrNull),
  /**
   * OBJECT IDLETIME key → seconds since the key was last read or written, or null when the key is missing. An
   * error under an LFU maxmemory-policy.
   */
  objectIdletime: (key: Key) => command(['OBJECT', 'IDLETIME', key], toNumberOrNull),
  /** OBJECT REFCOUNT key → the value's reference count, or null when the key is missing. */
  objectRefcount: (key: Key) => command(['OBJECT', 'REFCOUNT', key], toNumberOrNull),
  /** OBJECT HELP → the help text, one line per element. */
  objectHelp: () => command(['OBJECT', 'HELP'], toStrings),
  /** EXPIRE key seconds [NX | XX | GT | LT] → true if the timeout was set; false when the key is missing or the condition failed. */
  expire: (key: Key, seconds: number, condition?: ExpireCondition) => expireGeneric('EXPIRE', key, seconds, condition),
  /** PEXPIRE key milliseconds [NX | XX | GT | LT] → true if the timeout was set (see expire). */
  pexpire: (key: Key, ms: number, condition?: ExpireCondition) => expireGeneric('PEXPIRE', key, ms, condition),
  /** EXPIREAT key unix-time-seconds [NX | XX | GT | LT] → true if the deadline was set (see expire). */
  expireat: (key: Key, unixSeconds: number, condition?: ExpireCondition) =>
    expireGeneric('EXPIREAT', key, unixSeconds, condition),
  /** PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT] → true if the deadline was set (see expire). */
  pexpireat: (key: Key, unixMs: number, condition?: ExpireCondition) =>
    expireGeneric('PEXPIREAT', key, unixMs, condition),
  /** TTL key → seconds left; -1 when the key has no expiry, -2 when it does not exist. */
  ttl: (key: Key) => command(['TTL', key], toNumber),
  /** PTTL key → milliseconds left; -1 when the key has no expiry, -2 when it does not exist. */
  pttl: (key: Key) => command(['PTTL', key], toNumber),
  /** EXPIRETIME key → the deadline as Unix seconds; -1 when the key has no expiry, -2 when it does not exist. */
  expiretime: (key: Key) => command(['EXPIRETIME', key], toNumber),
  /** PEXPIRETIME key → the deadline as Unix milliseconds; -1 when the key has no expiry, -2 when it does not exist. */
  pexpiretime: (key: Key) => command(['PEXPIRETIME', key], toNumber),
  /** PERSIST key → true if an expiry was removed; false when the key is missing or had none. */
  persist: (key: Key) => command(['PERSIST', key], toBoolean),
};
