/**
 * The list value (Redis's quicklist/listpack, t_list.c): a growable ring buffer.
 *
 * Elements live in a circular array whose capacity is a power of two, so element i sits at
 * `(head + i) & mask`. Push and pop at either end are amortised O(1); index access and LSET are O(1);
 * insertion and removal in the middle shift the shorter side, O(min(i, n - i)). The buffer doubles when full
 * and halves (down to MIN_CAPACITY) when a quarter full, so a list that grew large and drained does not keep
 * its peak memory. Vacated slots are cleared so popped strings can be collected.
 *
 * Indices taken by the methods are plain 0-based positions (0 ≤ i < length); Redis's negative-index and
 * clamping rules belong to the commands (see `normalizeRange`).
 */

const MIN_CAPACITY = 8;

export class List implements Iterable<string> {
  readonly kind = 'list' as const;
  private buf: (string | undefined)[];
  private mask: number;
  private head = 0;
  private len = 0;

  constructor(capacity = MIN_CAPACITY) {
    const cap = capacityFor(capacity);
    this.buf = new Array(cap);
    this.mask = cap - 1;
  }

  /** A list holding `values` in order. */
  static from(values: Iterable<string>): List {
    const arr = Array.isArray(values) ? (values as string[]) : [...values];
    const l = new List(arr.length);
    for (let i = 0; i < arr.length; i++) l.buf[i] = arr[i];
    l.len = arr.length;
    return l;
  }

  get length(): number {
    return this.len;
  }

  /** Number of slots currently allocated (for tests and MEMORY-style introspection). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** Prepends `v` (LPUSH). */
  pushHead(v: string): void {
    if (this.len === this.mask + 1) this.resize((this.mask + 1) * 2);
    this.head = (this.head - 1) & this.mask;
    this.buf[this.head] = v;
    this.len++;
  }

  /** Appends `v` (RPUSH). */
  pushTail(v: string): void {
    if (this.len === this.mask + 1) this.resize((this.mask + 1) * 2);
    this.buf[(this.head + this.len) & this.mask] = v;
    this.len++;
  }

  /** Removes and returns the first element, or undefined when empty. */
  popHead(): string | undefined {
    if (this.len === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.len--;
    this.maybeShrink();
    return v;
  }

  /** Removes and returns the last element, or undefined when empty. */
  popTail(): string | undefined {
    if (this.len === 0) return undefined;
    const p = (this.head + this.len - 1) & this.mask;
    const v = this.buf[p];
    this.buf[p] = undefined;
    this.len--;
    this.maybeShrink();
    return v;
  }

  /** Element at position `i` (0 ≤ i < length), or undefined when out of range. */
  at(i: number): string | undefined {
    if (i < 0 || i >= this.len) return undefined;
    return this.buf[(this.head + i) & this.mask];
  }

  /** Replaces the element at `i`. Returns false (and changes nothing) when `i` is out of range. */
  set(i: number, v: string): boolean {
    if (i < 0 || i >= this.len) return false;
    this.buf[(this.head + i) & this.mask] = v;
    return true;
  }

  /**
   * Inserts `v` so that it ends up at position `i` (0 ≤ i ≤ length; `length` appends). Shifts whichever
   * side is shorter. Throws RangeError for an out-of-range position.
   */
  insert(i: number, v: string): void {
    if (i < 0 || i > this.len) throw new RangeError(`list insert position ${i} out of range`);
    if (i === 0) {
      this.pushHead(v);
      return;
    }
    if (i === this.len) {
      this.pushTail(v);
      return;
    }
    if (this.len === this.mask + 1) this.resize((this.mask + 1) * 2);
    const { buf, mask } = this;
    if (i < this.len - i) {
      // Move [0, i) one slot to the left.
      this.head = (this.head - 1) & mask;
      for (let k = 0; k < i; k++) buf[(this.head + k) & mask] = buf[(this.head + k + 1) & mask];
    } else {
      // Move [i, len) one slot to the right.
      for (let k = this.len; k > i; k--) buf[(this.head + k) & mask] = buf[(this.head + k - 1) & mask];
    }
    buf[(this.head + i) & mask] = v;
    this.len++;
  }

  /**
   * Elements from `start` to `end` inclusive (already normalised: 0 ≤ start ≤ end < length), head to tail,
   * or tail to head when `reverse`. Out-of-range bounds are clamped; an empty range gives [].
   */
  range(start: number, end: number, reverse = false): string[] {
    if (start < 0) start = 0;
    if (end >= this.len) end = this.len - 1;
    if (start > end) return [];
    const out = new Array<string>(end - start + 1);
    const { buf, mask, head } = this;
    if (reverse) for (let i = end, j = 0; i >= start; i--, j++) out[j] = buf[(head + i) & mask] as string;
    else for (let i = start, j = 0; i <= end; i++, j++) out[j] = buf[(head + i) & mask] as string;
    return out;
  }

  /** Position of the first element equal to `v` from the head, or -1. */
  indexOf(v: string): number {
    const { buf, mask, head } = this;
    for (let i = 0; i < this.len; i++) if (buf[(head + i) & mask] === v) return i;
    return -1;
  }

  /**
   * LREM semantics: removes elements equal to `v` — at most `count` of them scanning from the head when
   * count > 0, at most -count scanning from the tail when count < 0, all of them when count = 0.
   * Keeps the order of the rest. Returns how many were removed. One pass, O(n).
   */
  remove(v: string, count = 0): number {
    const { buf, mask, head, len } = this;
    let removed = 0;
    if (count >= 0) {
      const limit = count === 0 ? Number.POSITIVE_INFINITY : count;
      let w = 0;
      for (let r = 0; r < len; r++) {
        const x = buf[(head + r) & mask];
        if (x === v && removed < limit) {
          removed++;
          continue;
        }
        if (w !== r) buf[(head + w) & mask] = x;
        w++;
      }
      for (let k = w; k < len; k++) buf[(head + k) & mask] = undefined;
    } else {
      const limit = -count;
      let w = len - 1;
      for (let r = len - 1; r >= 0; r--) {
        const x = buf[(head + r) & mask];
        if (x === v && removed < limit) {
          removed++;
          continue;
        }
        if (w !== r) buf[(head + w) & mask] = x;
        w--;
      }
      for (let k = 0; k <= w; k++) buf[(head + k) & mask] = undefined;
      this.head = (head + w + 1) & mask;
    }
    this.len = len - removed;
    if (removed) this.maybeShrink();
    return removed;
  }

  /**
   * Keeps only positions `start`..`end` inclusive (clamped to the list; start > end empties the list).
   * Returns the number of elements removed.
   */
  trim(start: number, end: number): number {
    if (start < 0) start = 0;
    if (end >= this.len) end = this.len - 1;
    const before = this.len;
    if (start > end) {
      this.clear();
      return before;
    }
    this.dropHead(start);
    this.dropTail(this.len - (end - start + 1));
    this.maybeShrink();
    return before - this.len;
  }

  /** Removes the first `n` elements (clamped to the length) and returns them head first. */
  popHeadMany(n: number): string[] {
    const out = this.range(0, Math.min(n, this.len) - 1);
    this.dropHead(out.length);
    this.maybeShrink();
    return out;
  }

  /** Removes the last `n` elements (clamped to the length) and returns them tail first (as RPOP with count). */
  popTailMany(n: number): string[] {
    const k = Math.min(n, this.len);
    const out = this.range(this.len - k, this.len - 1, true);
    this.dropTail(k);
    this.maybeShrink();
    return out;
  }

  /** Removes every element and releases the buffer down to the minimum capacity. */
  clear(): void {
    this.buf = new Array(MIN_CAPACITY);
    this.mask = MIN_CAPACITY - 1;
    this.head = 0;
    this.len = 0;
  }

  /** An independent copy (COPY, DUMP-style snapshots). */
  clone(): List {
    return List.from(this.range(0, this.len - 1));
  }

  /** All elements head to tail. */
  toArray(): string[] {
    return this.range(0, this.len - 1);
  }

  *[Symbol.iterator](): Iterator<string> {
    for (let i = 0; i < this.len; i++) yield this.buf[(this.head + i) & this.mask] as string;
  }

  private dropHead(n: number): void {
    const { buf, mask } = this;
    for (let k = 0; k < n; k++) buf[(this.head + k) & mask] = undefined;
    this.head = (this.head + n) & mask;
    this.len -= n;
  }

  private dropTail(n: number): void {
    const { buf, mask } = this;
    for (let k = this.len - n; k < this.len; k++) buf[(this.head + k) & mask] = undefined;
    this.len -= n;
  }

  /** Halves the buffer while it is at most a quarter full (never below MIN_CAPACITY). */
  private maybeShrink(): void {
    const cap = this.mask + 1;
    if (cap > MIN_CAPACITY && this.len <= cap >>> 2) this.resize(capacityFor(this.len * 2));
  }

  /** Moves the elements into a fresh buffer of `cap` slots (a power of two ≥ length), head at 0. */
  private resize(cap: number): void {
    const next = new Array<string | undefined>(cap);
    const { buf, mask, head } = this;
    for (let i = 0; i < this.len; i++) next[i] = buf[(head + i) & mask];
    this.buf = next;
    this.mask = cap - 1;
    this.head = 0;
  }
}

/** Smallest power of two ≥ max(n, MIN_CAPACITY). */
function capacityFor(n: number): number {
  let cap = MIN_CAPACITY;
  while (cap < n) cap *= 2;
  return cap;
}
