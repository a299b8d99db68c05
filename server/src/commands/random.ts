import { CommandError, Err } from '../protocol/reply.js';
import { INT64_MAX, INT64_MIN, kw, toBigInt } from './args.js';

// Random picks for SPOP, SRANDMEMBER, HRANDFIELD and ZRANDMEMBER.

/**
 * Largest reply a negative (repeating) random count may ask for. Redis would stream it until the client's
 * output buffer limit disconnects it; kvws builds replies in memory, so it refuses such counts up front.
 */
export const MAX_RANDOM_REPLY = 10_000_000;

/**
 * Parses the count of SRANDMEMBER / HRANDFIELD / ZRANDMEMBER: any 64-bit integer but INT64_MIN (Redis's range
 * -LONG_MAX..LONG_MAX). Throws the integer or range error Redis gives.
 */
export function parseRandomCount(s: string): bigint {
  const n = toBigInt(s);
  if (n === INT64_MIN) {
    throw new CommandError(`ERR value is out of range, value must between ${-INT64_MAX} and ${INT64_MAX}`);
  }
  return n;
}

/**
 * Parses `count [keyword]` at argv[2…] of HRANDFIELD (WITHVALUES) and ZRANDMEMBER (WITHSCORES), in Redis's
 * order: the count, then the syntax, then (with the keyword) the -LONG_MAX/2..LONG_MAX/2 range that keeps
 * count*2 reply entries from overflowing. Returns the count and whether the keyword was given.
 */
export function parseRandomCountWith(argv: string[], keyword: string): { count: number; withPairs: boolean } {
  const n = parseRandomCount(argv[2]);
  if (argv.length > 4 || (argv.length === 4 && kw(argv[3]) !== keyword)) throw new CommandError(Err.syntax);
  const withPairs = argv.length === 4;
  if (withPairs && (n > INT64_MAX / 2n || n < -INT64_MAX / 2n)) throw new CommandError('ERR value is out of range');
  return { count: Number(n), withPairs };
}

/** A uniformly random integer in [0, n). */
export function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

/** The element at position `i` of `items`' iteration order. O(i). `i` must be < the number of items. */
export function nth<T>(items: Iterable<T>, i: number): T {
  for (const x of items) {
    if (i-- === 0) return x;
  }
  throw new Error('nth: index out of range');
}

/**
 * `count` independent uniform picks (repeats allowed) from `items`, which holds `size` > 0 elements; `at`
 * reads an element by position where the collection can (sorted sets), else `items` is copied once.
 * Throws `ERR value is out of range` when `count` > MAX_RANDOM_REPLY.
 */
export function sampleRepeated<T>(items: Iterable<T>, size: number, count: number, at?: (i: number) => T): T[] {
  if (count > MAX_RANDOM_REPLY) throw new CommandError('ERR value is out of range');
  let get = at;
  if (get === undefined) {
    const all = Array.from(items);
    get = (i) => all[i];
  }
  const out: T[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = get(randomIndex(size));
  return out;
}

/**
 * `k` distinct elements of `items` (which holds `size` > `k` elements), chosen uniformly at random, in
 * random order. O(size); with `at` (positional access, as sorted sets have) O(k) reads when `k` is small.
 */
export function sampleDistinct<T>(items: Iterable<T>, size: number, k: number, at?: (i: number) => T): T[] {
  if (k * 3 > size) {
    // Partial Fisher–Yates over a copy.
    const all = Array.from(items);
    for (let i = 0; i < k; i++) {
      const j = i + randomIndex(size - i);
      const t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    all.length = k;
    return all;
  }
  if (at !== undefined) {
    // Few picks with positional access: draw distinct positions, in the order drawn.
    const seen = new Set<number>();
    const out: T[] = [];
    while (out.length < k) {
      const r = randomIndex(size);
      if (seen.has(r)) continue;
      seen.add(r);
      out.push(at(r));
    }
    return out;
  }
  // Few picks from a large collection: choose positions, then walk once.
  const picked = new Set<number>();
  while (picked.size < k) picked.add(randomIndex(size));
  const positions = [...picked].sort((a, b) => a - b);
  const out: T[] = [];
  let pos = 0;
  let next = 0;
  for (const x of items) {
    if (pos++ === positions[next]) {
      out.push(x);
      if (++next === k) break;
    }
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomIndex(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
