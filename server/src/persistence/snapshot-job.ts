import { type FileHandle, open } from 'node:fs/promises';
import type { Engine } from '../engine/engine.js';
import type { DbEvent, KeyEvent, KeyspaceListener } from '../engine/notify.js';
import { SnapshotEncoder } from './snapshot-format.js';

/** Tuning of a background snapshot (defaults suit real use; tests shrink them). */
export interface SnapshotJobOptions {
  /** Longest stretch of encoding before yielding to clients (ms). */
  sliceMs: number;
  /** Keys changed meanwhile that may be left for the final, synchronous step. */
  finalKeys: number;
  /** Re-dump rounds before the final step is taken whatever is left. */
  maxRounds: number;
  /** Encoded bytes that may wait for the disk before encoding pauses. */
  maxPendingBytes: number;
}

export const DEFAULT_SNAPSHOT_JOB: SnapshotJobOptions = {
  sliceMs: 2,
  finalKeys: 1000,
  maxRounds: 16,
  maxPendingBytes: 16 << 20,
};

/** What a finished job wrote. */
export interface SnapshotJobResult {
  bytes: number;
  keys: number;
  /** Longest synchronous stretch, in ms (the final step included): what a client may have waited. */
  longestSliceMs: number;
  rounds: number;
}

/** The job was abandoned (FLUSHALL/SWAPDB meanwhile, shutdown, or a write error). */
export class SnapshotAborted extends Error {}

/**
 * A point-in-time snapshot of every database, taken without stopping clients (there is no fork in Node).
 *
 * 1. Scan: each database's Map is walked with a live iterator in slices of `sliceMs`, encoding each key's
 *    current value; a big collection is itself encoded in pieces (a first record, then MORE records).
 * 2. Meanwhile every key change arrives through the notify path (the job is a KeyspaceListener) and the key
 *    is remembered. Re-dump rounds encode those keys again (or a DELETE), collecting the next changes.
 * 3. When few enough are left (`finalKeys`), the last ones are encoded synchronously, EOF is appended and
 *    `atCut` runs in the same tick: the file now equals the dataset at that instant. The caller switches its
 *    append-only file there (see aof.ts). Writing and fsync of the tail follow asynchronously.
 *
 * Since records are applied in order and a later one replaces an earlier one, the file is exact even
 * though keys were encoded at different times. FLUSHDB/FLUSHALL/SWAPDB during the job abort it (the caller
 * starts again). Contract: every change to a key goes through engine.notify (the engine's rule anyway).
 */
export class SnapshotJob implements KeyspaceListener {
  private readonly enc = new SnapshotEncoder();
  /** Keys changed since the job started, per database. */
  private changed: Set<string>[];
  private aborted: Error | null = null;
  private fh: FileHandle | null = null;
  private writing: Promise<void> = Promise.resolve();
  private pendingBytes = 0;
  private keys = 0;
  private longest = 0;
  private rounds = 0;

  constructor(
    private readonly engine: Engine,
    private readonly path: string,
    private readonly options: SnapshotJobOptions = DEFAULT_SNAPSHOT_JOB,
  ) {
    this.changed = engine.dbs.map(() => new Set());
  }

  onKeyEvent(e: KeyEvent): void {
    this.changed[e.db].add(e.key);
  }

  onDbEvent(e: DbEvent): void {
    this.abort(new SnapshotAborted(`${e.kind.toUpperCase()} while the snapshot was being taken`));
  }

  abort(why: Error): void {
    if (!this.aborted) this.aborted = why;
  }

  /**
   * Takes the snapshot into `path` (created or truncated, fsynced, closed; the caller renames it).
   * `atCut` runs synchronously at the instant the snapshot represents. Rejects with SnapshotAborted or an
   * I/O error, after closing the file.
   */
  async run(atCut: () => void = () => {}): Promise<SnapshotJobResult> {
    const listeners = this.engine.listeners;
    listeners.push(this);
    try {
      this.fh = await open(this.path, 'w', 0o600);
      await this.scan();
      let last = 0;
      while (this.rounds < this.options.maxRounds) {
        const n = this.changedCount();
        if (n <= this.options.finalKeys) break;
        // A round that does not shrink the set much will not converge: stop trying after a few.
        if (this.rounds > 2 && n > last * 0.8) break;
        last = n;
        this.rounds++;
        await this.redumpChanged();
      }
      // The final step: synchronous, so nothing changes between it and atCut.
      this.check();
      const t0 = performance.now();
      this.drainChangedSync();
      this.queue(this.enc.finish());
      listeners.splice(listeners.indexOf(this), 1);
      atCut();
      this.longest = Math.max(this.longest, performance.now() - t0);
      await this.writing;
      await this.fh.sync();
      return { bytes: this.enc.size, keys: this.keys, longestSliceMs: this.longest, rounds: this.rounds };
    } finally {
      const i = listeners.indexOf(this);
      if (i >= 0) listeners.splice(i, 1);
      await this.writing.catch(() => {});
      await this.fh?.close().catch(() => {});
    }
  }

  private check(): void {
    if (this.aborted) throw this.aborted;
  }

  private changedCount(): number {
    let n = 0;
    for (const s of this.changed) n += s.size;
    return n;
  }

  /** Pass 1: every key of every database, in slices. */
  private async scan(): Promise<void> {
    const dbs = this.engine.dbs;
    for (let i = 0; i < dbs.length; i++) {
      const db = dbs[i];
      if (db.dict.size === 0) continue;
      this.enc.select(i);
      const it = db.dict.entries();
      let sliceStart = performance.now();
      for (;;) {
        const r = it.next();
        if (r.done) break;
        const [key, value] = r.value;
        this.enc.key(key, value, db.expires.get(key));
        this.keys++;
        if ((this.keys & 31) === 0) {
          const now = performance.now();
          if (now - sliceStart >= this.options.sliceMs) {
            this.longest = Math.max(this.longest, now - sliceStart);
            await this.yieldSlice();
            sliceStart = performance.now();
          }
        }
      }
      this.longest = Math.max(this.longest, performance.now() - sliceStart);
    }
    await this.yieldSlice();
  }

  /** One re-dump round over the keys changed so far (those changing meanwhile wait for the next). */
  private async redumpChanged(): Promise<void> {
    const dbs = this.engine.dbs;
    const round = this.changed;
    this.changed = dbs.map(() => new Set());
    for (let i = 0; i < dbs.length; i++) {
      if (round[i].size === 0) continue;
      this.enc.select(i);
      let sliceStart = performance.now();
      let n = 0;
      for (const key of round[i]) {
        this.dumpKey(i, key);
        if ((++n & 31) === 0 && performance.now() - sliceStart >= this.options.sliceMs) {
          this.longest = Math.max(this.longest, performance.now() - sliceStart);
          await this.yieldSlice();
          sliceStart = performance.now();
        }
      }
    }
    await this.yieldSlice();
  }

  private drainChangedSync(): void {
    for (let i = 0; i < this.changed.length; i++) {
      if (this.changed[i].size === 0) continue;
      this.enc.select(i);
      for (const key of this.changed[i]) this.dumpKey(i, key);
    }
  }

  private dumpKey(dbIndex: number, key: string): void {
    const db = this.engine.dbs[dbIndex];
    const v = db.dict.get(key);
    if (v === undefined) this.enc.delete(key);
    else this.enc.key(key, v, db.expires.get(key));
  }

  /** Hands finished chunks to the disk, then lets clients run; waits for the disk when too far behind. */
  private async yieldSlice(): Promise<void> {
    this.queue(this.enc.take());
    await new Promise<void>((r) => setImmediate(r));
    if (this.pendingBytes > this.options.maxPendingBytes) await this.writing;
    this.check();
  }

  private queue(chunks: Buffer[]): void {
    if (chunks.length === 0) return;
    const fh = this.fh as FileHandle;
    let n = 0;
    for (const c of chunks) n += c.length;
    this.pendingBytes += n;
    this.writing = this.writing.then(async () => {
      await fh.writev(chunks);
      this.pendingBytes -= n;
    });
    // A failed write aborts the job at its next check instead of going unnoticed.
    this.writing.catch((e: Error) => this.abort(e));
  }
}
