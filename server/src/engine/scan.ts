/**
 * Cursors for SCAN, HSCAN, SSCAN and ZSCAN. JS Map and Set iterators are live: they keep their place
 * through insertions, deletions and internal rehashing, and visit every entry present for the whole
 * iteration exactly once. A cursor number names one such iterator, kept in a bounded LRU registry
 * (`scan-cursor-cache`). A cursor the registry no longer holds (evicted, or from before a restart)
 * starts a fresh pass: that may repeat elements, which SCAN's contract allows, but never skips one.
 */
export class ScanCursors {
  private readonly live = new Map<number, { target: object; iter: Iterator<unknown> }>();
  private next = 1 + Math.floor(Math.random() * 1_000_000);

  constructor(public capacity: number) {}

  /**
   * Visits up to `count` entries of `target` starting at `cursor` ("0" = from the start), calling
   * `visit` for each, and returns the cursor to continue with ("0" when the pass is complete).
   */
  step<T>(target: Iterable<T> & object, cursor: string, count: number, visit: (entry: T) => void): string {
    let iter: Iterator<T> | undefined;
    if (cursor !== '0') {
      const id = Number(cursor);
      const e = this.live.get(id);
      if (e && e.target === target) {
        this.live.delete(id);
        iter = e.iter as Iterator<T>;
      }
    }
    iter ??= target[Symbol.iterator]();
    for (let i = 0; i < count; i++) {
      const r = iter.next();
      if (r.done) return '0';
      visit(r.value);
    }
    const id = this.next++;
    if (this.next > Number.MAX_SAFE_INTEGER - 1) this.next = 1;
    this.live.set(id, { target, iter });
    if (this.live.size > this.capacity) {
      const oldest = this.live.keys().next().value as number;
      this.live.delete(oldest);
    }
    return String(id);
  }

  get size(): number {
    return this.live.size;
  }
}
