import type { Db } from './db.js';
import type { Engine } from './engine.js';

/**
 * Active expiry at the deadline (not Redis's random sampling). Each database keeps a binary min-heap of
 * (deadline, key) in two parallel arrays; one timer is armed for the earliest deadline of all heaps.
 * When it fires, every due key whose deadline still matches `db.expires` is expired through
 * `engine.expireKey` (which notifies). Entries made stale by a changed TTL, PERSIST or DEL are skipped
 * when they reach the top; the heap is rebuilt from `db.expires` when stale entries dominate.
 *
 * Work per timer run is bounded by `budgetMs` so a mass expiry never stalls clients: the rest continues
 * on the next turn of the event loop.
 */
export class ExpiryScheduler {
  private readonly heaps: { at: number[]; keys: string[] }[];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private immediate: NodeJS.Immediate | null = null;
  private stopped = false;
  /** Max milliseconds of expiry work per run before yielding to the event loop. */
  budgetMs = 5;
  /**
   * How late (ms after its deadline) the last key expired here was deleted (INFO `expire_last_lateness_ms`);
   * every one is also counted in `engine.stats.expiryLateness`, the histogram `/metrics` shows.
   */
  lastLatenessMs = 0;

  constructor(
    private readonly engine: Engine,
    dbCount: number,
  ) {
    this.heaps = Array.from({ length: dbCount }, () => ({ at: [], keys: [] }));
  }

  /** Records that `key` in `db` must expire at `at` (Unix ms). Idempotent; stale entries are skipped later. */
  schedule(db: Db, key: string, at: number): void {
    const h = this.heaps[db.index];
    push(h.at, h.keys, at, key);
    if (h.at.length > 4096 && h.at.length > 2 * db.expires.size) this.rebuild(db);
    if (at < this.timerAt && this.immediate === null) this.arm(at);
  }

  /** Drops every entry of `db` (FLUSHDB) or rebuilds it from `db.expires` (SWAPDB, load). */
  rebuild(db: Db): void {
    const h = this.heaps[db.index];
    h.at.length = 0;
    h.keys.length = 0;
    for (const [key, at] of db.expires) {
      h.at.push(at);
      h.keys.push(key);
    }
    heapify(h.at, h.keys);
    if (h.at.length > 0 && h.at[0] < this.timerAt && this.immediate === null) this.arm(h.at[0]);
  }

  /** Stops the timer (server shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  /**
   * The key of `db` with the nearest deadline (volatile-ttl eviction), or undefined when no key has one.
   * Stale entries met at the top are dropped.
   */
  nearest(db: Db): string | undefined {
    const h = this.heaps[db.index];
    while (h.at.length > 0) {
      if (db.expires.get(h.keys[0]) === h.at[0]) return h.keys[0];
      pop(h.at, h.keys);
    }
    return undefined;
  }

  /** Number of heap entries, live and stale (for INFO). */
  get pending(): number {
    let n = 0;
    for (const h of this.heaps) n += h.at.length;
    return n;
  }

  private arm(at: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.max(0, at - Date.now());
    // setTimeout clamps to 2^31-1 ms; longer deadlines simply re-arm when that timer fires.
    this.timer = setTimeout(this.run, Math.min(delay, 0x7fffffff));
    this.timer.unref();
  }

  private readonly run = (): void => {
    this.timer = null;
    this.immediate = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    const start = Date.now();
    const deadline = start + this.budgetMs;
    let more = false;
    const dbs = this.engine.dbs;
    const lateness = this.engine.stats.expiryLateness;
    for (let i = 0; i < this.heaps.length && !more; i++) {
      const h = this.heaps[i];
      const db = dbs[i];
      let n = 0;
      while (h.at.length > 0) {
        const at = h.at[0];
        const now = (++n & 63) === 0 ? Date.now() : start;
        if (at > now) break;
        if ((n & 63) === 0 && now >= deadline) {
          more = true;
          break;
        }
        const key = h.keys[0];
        pop(h.at, h.keys);
        if (db.expires.get(key) === at) {
          this.lastLatenessMs = now - at;
          lateness.observe(now - at);
          this.engine.expireKey(db, key);
        }
      }
    }
    this.engine.afterExternalChange();
    if (more) {
      this.immediate = setImmediate(this.run);
      return;
    }
    let next = Number.POSITIVE_INFINITY;
    for (const h of this.heaps) if (h.at.length > 0 && h.at[0] < next) next = h.at[0];
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  };
}

function push(at: number[], keys: string[], t: number, key: string): void {
  let i = at.length;
  at.push(t);
  keys.push(key);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (at[p] <= t) break;
    at[i] = at[p];
    keys[i] = keys[p];
    i = p;
  }
  at[i] = t;
  keys[i] = key;
}

function pop(at: number[], keys: string[]): void {
  const lastT = at.pop() as number;
  const lastK = keys.pop() as string;
  const n = at.length;
  if (n === 0) return;
  siftDown(at, keys, 0, lastT, lastK, n);
}

function siftDown(at: number[], keys: string[], i: number, t: number, k: string, n: number): void {
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && at[c + 1] < at[c]) c++;
    if (at[c] >= t) break;
    at[i] = at[c];
    keys[i] = keys[c];
    i = c;
  }
  at[i] = t;
  keys[i] = k;
}

function heapify(at: number[], keys: string[]): void {
  const n = at.length;
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(at, keys, i, at[i], keys[i], n);
}
