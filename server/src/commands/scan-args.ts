import type { Client } from '../engine/client.js';
import { compileGlob } from '../engine/glob.js';
import { CommandError, Err } from '../protocol/reply.js';
import { kw, toInt } from './args.js';

// What SCAN, HSCAN, SSCAN and ZSCAN share: the cursor, the options and the walk (Redis's scanGenericCommand).

/**
 * Parses a *SCAN cursor as Redis does (strtoul: optional sign, decimal digits, no leading space, at most
 * 2^64 - 1; "-1" wraps to 2^64 - 1, "" is 0) and returns it in canonical decimal form for ScanCursors.
 * Throws `ERR invalid cursor`.
 */
export function parseScanCursor(s: string): string {
  if (s === '') return '0';
  if (!/^[+-]?[0-9]+$/.test(s)) throw new CommandError('ERR invalid cursor');
  const n = BigInt(s);
  if (n >= 1n << 64n || n <= -(1n << 64n)) throw new CommandError('ERR invalid cursor');
  return BigInt.asUintN(64, n).toString();
}

export interface ScanOptions {
  /** Entries to visit per call (COUNT, default 10). */
  count: number;
  /** MATCH filter; null when there is none or the pattern is `*`. */
  match: ((s: string) => boolean) | null;
  /** SCAN's TYPE, lower-cased; null when absent. */
  type: string | null;
  /** HSCAN NOVALUES (Redis 7.4): reply with fields only. */
  noValues: boolean;
}

/**
 * Parses `[MATCH pattern] [COUNT count]` from argv[from…], plus TYPE (SCAN) or NOVALUES (HSCAN) when
 * `allow` names it, as Redis's scanGenericCommand does. Throws `ERR syntax error` for unknown options, a
 * missing option argument or COUNT < 1, and the integer error for a malformed COUNT.
 */
export function parseScanOptions(argv: string[], from: number, allow: 'TYPE' | 'NOVALUES' | null): ScanOptions {
  const opts: ScanOptions = { count: 10, match: null, type: null, noValues: false };
  for (let i = from; i < argv.length; i++) {
    const o = kw(argv[i]);
    const more = i + 1 < argv.length;
    if (o === 'COUNT' && more) {
      opts.count = toInt(argv[++i]);
      if (opts.count < 1) throw new CommandError(Err.syntax);
    } else if (o === 'MATCH' && more) {
      const p = argv[++i];
      opts.match = p === '*' ? null : compileGlob(p);
    } else if (o === 'TYPE' && allow === 'TYPE' && more) {
      opts.type = argv[++i].toLowerCase();
    } else if (o === 'NOVALUES' && allow === 'NOVALUES') {
      opts.noValues = true;
    } else {
      throw new CommandError(Err.syntax);
    }
  }
  return opts;
}

/** Collections at or below this size answer a fresh *SCAN (cursor 0) in one reply, as Redis's listpacks do. */
export const SCAN_SMALL = 128;

/** What one *SCAN call walks and how each entry enters the reply. */
export interface ScanWalk<T> {
  /** The collection the cursor walks; ScanCursors keeps its live iterator between calls. */
  items: Iterable<T> & object;
  /** The name MATCH tests (key, field or member). */
  name(entry: T): string;
  /** Appends the reply elements of an entry that passed MATCH; may filter further (SCAN's TYPE). */
  emit(entry: T, out: string[]): void;
  /**
   * When given, a fresh scan (cursor 0) of at most SCAN_SMALL entries lists these, in this order, in one
   * reply, as Redis does for its small encodings. SCAN's keyspace has none.
   */
  small?: Iterable<T> & { readonly size: number };
}

/**
 * Runs one *SCAN step from the canonical `cursor` (see parseScanCursor) with the parsed `opts`; returns
 * Redis's reply, [next cursor ("0" when done), elements].
 */
export function scanStep<T>(client: Client, cursor: string, opts: ScanOptions, walk: ScanWalk<T>): [string, string[]] {
  const { match } = opts;
  const out: string[] = [];
  const visit = (entry: T): void => {
    if (match === null || match(walk.name(entry))) walk.emit(entry, out);
  };
  if (cursor === '0' && walk.small !== undefined && walk.small.size <= SCAN_SMALL) {
    for (const e of walk.small) visit(e);
    return ['0', out];
  }
  return [client.engine.scans.step(walk.items, cursor, opts.count, visit), out];
}
