import { type FileHandle, open } from 'node:fs/promises';
import { cloneValue, type Db, type Value } from '../engine/db.js';
import type { Engine } from '../engine/engine.js';
import type { DbEvent, KeyEvent, KeyspaceListener } from '../engine/notify.js';
import { SnapshotEncoder, sizeOf, valueItems } from './snapshot-format.js';

/** Elements of a big collection encoded between two chances for clients to run. */
const PIECE = 1024;

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
  private sliceStart = 0;
  /** Values frozen at the cut (see run). */
  private readonly frozen = new Set<object>();

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
    const what = e.kind === 'swapdb' ? 'SWAPDB' : e.db === -1 ? 'FLUSHALL' : 'FLUSHDB';
    this.abort(new SnapshotAborted(`${what} while the snapshot was being taken`));
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
      // The final step: synchronous, so nothing changes between it and atCut. Big collections changed
      // meanwhile are not encoded here (that could take long): they are frozen and encoded after the cut,
      // and a write to one of them first gives the key a copy (engine.writeGuard).
      this.check();
      const t0 = performance.now();
      const tail = this.drainChangedSync();
      listeners.splice(listeners.indexOf(this), 1);
      if (tail.length !== 0) this.engine.writeGuard = this.guard;
      atCut();
      this.longest = Math.max(this.longest, performance.now() - t0);
      try {
        this.sliceStart = performance.now();
        for (const t of tail) {
          this.enc.select(t.db);
          await this.dump(t.key, t.value, t.deadline, true);
        }
      } finally {
        if (this.engine.writeGuard === this.guard) this.engine.writeGuard = null;
        this.frozen.clear();
      }
      this.queue(this.enc.finish());
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
    this.sliceStart = performance.now();
    for (let i = 0; i < dbs.length; i++) {
      const db = dbs[i];
      if (db.dict.size === 0) continue;
      this.enc.select(i);
      for (const [key, value] of db.dict) {
        this.keys++;
        await this.dump(key, value, db.expires.get(key));
        if ((this.keys & 31) === 0) await this.maybeYield();
      }
    }
    await this.maybeYield(true);
  }

  /** One re-dump round over the keys changed so far (those changing meanwhile wait for the next). */
  private async redumpChanged(): Promise<void> {
    const dbs = this.engine.dbs;
    const round = this.changed;
    this.changed = dbs.map(() => new Set());
    this.sliceStart = performance.now();
    for (let i = 0; i < dbs.length; i++) {
      if (round[i].size === 0) continue;
      const db = dbs[i];
      this.enc.select(i);
      let n = 0;
      for (const key of round[i]) {
        await this.dump(key, db.dict.get(key), db.expires.get(key));
        if ((++n & 31) === 0) await this.maybeYield();
      }
    }
    await this.maybeYield(true);
  }

  /**
   * Encodes what changed since the last round, except big collections, which are frozen and returned (the
   * tail, encoded after the cut).
   */
  private drainChangedSync(): { db: number; key: string; value: Value; deadline: number | undefined }[] {
    const tail: { db: number; key: string; value: Value; deadline: number | undefined }[] = [];
    for (let i = 0; i < this.changed.length; i++) {
      if (this.changed[i].size === 0) continue;
      const db = this.engine.dbs[i];
      this.enc.select(i);
      for (const key of this.changed[i]) {
        const v = db.dict.get(key);
        if (v === undefined) this.enc.delete(key);
        else if (typeof v !== 'string' && sizeOf(v) > PIECE) {
          this.frozen.add(v);
          tail.push({ db: i, key, value: v, deadline: db.expires.get(key) });
        } else this.enc.key(key, v, db.expires.get(key));
      }
    }
    return tail;
  }

  /** engine.writeGuard while frozen values are encoded: a key about to be written gets its own copy. */
  private readonly guard = (db: Db, keys: string[]): void => {
    for (const key of keys) {
      const v = db.dict.get(key);
      if (v !== undefined && typeof v !== 'string' && this.frozen.has(v)) db.dict.set(key, cloneValue(v));
    }
  };

  /**
   * Encodes one key (or its deletion). A collection of more than PIECE elements goes out in pieces with a
   * chance for clients to run between them; if it changes meanwhile, it is in `changed` and is encoded
   * again whole later, replacing what the pieces built.
   */
  private async dump(
    key: string,
    value: Value | undefined,
    deadline: number | undefined,
    frozen = false,
  ): Promise<void> {
    if (value === undefined) {
      this.enc.delete(key);
      return;
    }
    if (typeof value === 'string' || sizeOf(value) <= PIECE) {
      this.enc.key(key, value, deadline);
      return;
    }
    const items = valueItems(value);
    let left = sizeOf(value);
    let more = false;
    while (left > 0) {
      const n = Math.min(PIECE, left);
      if (!this.enc.part(key, value, deadline, items, n, more)) return;
      more = true;
      left -= n;
      // A frozen value cannot change, so the job need not notice changes (and must not abort) here.
      if (frozen) await this.maybeYield(false, false);
      else await this.maybeYield();
    }
  }

  /** Yields to clients when the current slice has used its time (or always, with `force`). */
  private async maybeYield(force = false, check = true): Promise<void> {
    const now = performance.now();
    if (!force && now - this.sliceStart < this.options.sliceMs) return;
    this.longest = Math.max(this.longest, now - this.sliceStart);
    await this.yieldSlice(check);
    this.sliceStart = performance.now();
  }

  /** Hands finished chunks to the disk, then lets clients run; waits for the disk when too far behind. */
  private async yieldSlice(check = true): Promise<void> {
    this.queue(this.enc.take());
    await new Promise<void>((r) => setImmediate(r));
    if (this.pendingBytes > this.options.maxPendingBytes) await this.writing;
    if (check) this.check();
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
