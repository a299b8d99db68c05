import type { Engine } from './engine.js';

/** A list value (see list.ts). Marked by `kind` so TYPE needs no instanceof chain. */
export interface ListLike {
  readonly kind: 'list';
  readonly length: number;
  /** Deep copy (COPY). */
  clone(): ListLike;
}
/** A sorted-set value (see sorted-set.ts). */
export interface ZSetLike {
  readonly kind: 'zset';
  readonly size: number;
  /** Deep copy (COPY). */
  clone(): ZSetLike;
}
/** A stream value (see stream.ts). `size` is its number of entries. */
export interface StreamLike {
  readonly kind: 'stream';
  readonly size: number;
  /** Copy (COPY, snapshots): shares its entry nodes copy-on-write, copies its consumer groups. */
  clone(): StreamLike;
}

/**
 * What a key holds. Strings are binary strings (one char per byte); hashes are Map<field, value>;
 * sets are Set<member>; lists, sorted sets and streams are the engine's own classes.
 */
export type Value = string | Map<string, string> | Set<string> | ListLike | ZSetLike | StreamLike;
export type TypeName = 'string' | 'hash' | 'list' | 'set' | 'zset' | 'stream';

export function typeOf(v: Value): TypeName {
  if (typeof v === 'string') return 'string';
  if (v instanceof Map) return 'hash';
  if (v instanceof Set) return 'set';
  return v.kind;
}

/** Deep copy of a value (COPY): strings are immutable and shared. */
export function cloneValue(v: Value): Value {
  if (typeof v === 'string') return v;
  if (v instanceof Map) return new Map(v);
  if (v instanceof Set) return new Set(v);
  return v.clone();
}

/**
 * One of the numbered databases: the key → value dictionary and, like Redis, a separate dictionary of
 * deadlines (absolute Unix ms) for keys that have one.
 *
 * Contract: like Redis's dbAdd, `add` and `set` emit the `new` event when they create a key; every other
 * event is the caller's: commands mutate through this class and then call `engine.notify(...)`, the one
 * key-change path. Lookups expire lazily (through `engine.expireKey`, which notifies `expired`).
 */
export class Db {
  /** Key → value. Replaced wholesale only by SWAPDB. */
  dict = new Map<string, Value>();
  /** Key → absolute deadline (Unix ms), for keys that have one. */
  expires = new Map<string, number>();

  constructor(
    readonly engine: Engine,
    public index: number,
  ) {}

  get size(): number {
    return this.dict.size;
  }

  /**
   * Returns the live value of `key`, or undefined. A key whose deadline has passed is deleted here
   * (lazy expiry, with its `expired` event) and reported as missing.
   */
  lookup(key: string): Value | undefined {
    const v = this.dict.get(key);
    if (v === undefined) return undefined;
    if (this.expires.size !== 0) {
      const at = this.expires.get(key);
      if (at !== undefined && at <= this.engine.now()) {
        this.engine.expireKey(this, key);
        return undefined;
      }
    }
    return v;
  }

  /** True when `key` holds a live value (expiring it lazily if due). */
  has(key: string): boolean {
    return this.lookup(key) !== undefined;
  }

  /**
   * Stores `value` under `key`. Clears any deadline unless `keepTtl`. Returns true when the key was new
   * (and then emits `new`). The caller notifies the command's own event.
   */
  set(key: string, value: Value, keepTtl = false): boolean {
    const dict = this.dict;
    const before = dict.size;
    dict.set(key, value);
    const isNew = dict.size !== before;
    if (isNew) this.engine.notify(this, key, 'new', 'n');
    else if (!keepTtl && this.expires.size !== 0) this.expires.delete(key);
    return isNew;
  }

  /** Inserts a key known to be absent (after lookup returned undefined) and emits `new`. */
  add(key: string, value: Value): void {
    this.dict.set(key, value);
    this.engine.notify(this, key, 'new', 'n');
  }

  /** Removes `key` and its deadline. Returns true if it existed. The caller notifies. */
  delete(key: string): boolean {
    if (!this.dict.delete(key)) return false;
    if (this.expires.size !== 0) this.expires.delete(key);
    return true;
  }

  /** Absolute deadline in Unix ms, or undefined when the key has none. Does not check liveness. */
  getExpire(key: string): number | undefined {
    return this.expires.get(key);
  }

  /** Sets an absolute deadline (Unix ms) on an existing key and schedules active expiry. */
  setExpire(key: string, at: number): void {
    this.expires.set(key, at);
    this.engine.expiry.schedule(this, key, at);
  }

  /** Removes the deadline. Returns true if there was one. */
  persist(key: string): boolean {
    return this.expires.delete(key);
  }

  /** Removes every key. The caller notifies (flush path). */
  clear(): void {
    this.dict.clear();
    this.expires.clear();
  }
}
