import {
  closeSync,
  existsSync,
  fdatasync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '../engine/client.js';
import { lookupCommand } from '../engine/dispatch.js';
import type { Engine } from '../engine/engine.js';
import type { EventLogFile } from '../events/event-log-file.js';
import { ErrorReply } from '../protocol/reply.js';
import { AofFormatError, AofScanner, checkAofFile, encodeRecord } from './aof-file.js';
import { syncDir, writeFileAtomicSync } from './files.js';
import { loadSnapshotFile, SnapshotEncoder, SnapshotFormatError } from './snapshot-format.js';
import { DEFAULT_SNAPSHOT_JOB, SnapshotAborted, SnapshotJob, type SnapshotJobOptions } from './snapshot-job.js';

export type FsyncPolicy = 'always' | 'everysec' | 'no';

export interface AofOptions {
  /** The AOF directory (`<dataDir>/<appenddirname>`). */
  dir: string;
  /** Base name of the files (`appendfilename`, default appendonly.aof). */
  fileName: string;
  fsync: FsyncPolicy;
  /** Rewrite when the AOF has grown by this percentage since the last rewrite (0 = never)… */
  autoRewritePercentage: number;
  /** …and is at least this big (bytes). */
  autoRewriteMinSize: number;
  /** Repair a truncated last record at load instead of refusing to start (Redis's aof-load-truncated). */
  loadTruncated: boolean;
  log: (line: string) => void;
  snapshotJob?: SnapshotJobOptions;
}

/** One line of the manifest: `file <name> seq <n> type <b|h|i>` (Redis 7's format). */
interface ManifestFile {
  name: string;
  seq: number;
  /** b: base (a kvws snapshot), i: incremental (RESP records), h: history (to delete). */
  type: 'b' | 'h' | 'i';
}

interface Manifest {
  base: ManifestFile | null;
  incrs: ManifestFile[];
}

/** Start-up refused: a file of the AOF cannot be read. The message names the file and the offset. */
export class AofLoadError extends Error {}

/** Statistics of one load (INFO, the start-up log). */
export interface AofLoadReport {
  keys: number;
  records: number;
  bytes: number;
  ms: number;
  /** Set when a truncated tail was cut off: where, and how many bytes went. */
  truncated: { file: string; offset: number; dropped: number } | null;
}

/**
 * The append-only file, in Redis 7's multi-part layout: a directory holding a base (a kvws snapshot, see
 * snapshot-format.ts), incremental files of RESP records, and a manifest naming them in order.
 *
 * Feeding: the dispatcher hands over the records of every write command that changed the dataset
 * (`feed`, see propagate.ts); expiries and evictions arrive as DEL through the notify path. Records collect
 * in memory during a turn of the event loop and are written before any reply leaves (`beforeReply`,
 * called by every front door), so a crash of the process never loses an acknowledged write; fsync follows
 * the policy: `always` (replies wait for fdatasync; writes of all clients share one), `everysec` (a
 * background fdatasync each second) or `no`.
 *
 * Disk trouble: a failed write or fsync keeps the unwritten records in memory, refuses write commands with
 * MISCONF (`misconf`), closes connections whose `always` replies were waiting, and retries every second;
 * when the disk recovers, writes are accepted again and nothing in memory is missing from the file.
 */
export class Aof {
  private manifest: Manifest = { base: null, incrs: [] };
  private seq = 0;
  private fd = -1;
  /** Bytes of the current incremental file already written. */
  private pos = 0;
  /** Records not yet written (binary string). */
  private pending = '';
  private lastDb = -1;
  private flushScheduled = false;
  /** Offset in the current file up to which fdatasync has completed. */
  private syncedPos = 0;
  private syncing = false;
  private syncWaiters: { pos: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  /** A manifest change is on its way to disk: `always` replies wait for it too. */
  private manifestWrite: Promise<void> | null = null;
  /** Transaction framing (EXEC): where the current transaction's records start in `pending`, and how many. */
  private txStart = -1;
  private txRecords = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  /** The error that stops writes (MISCONF), or null; `errorKind` says which operation failed. */
  writeError: Error | null = null;
  private errorKind: 'write' | 'fsync' | null = null;
  readonly stats = {
    rewrites: 0,
    lastRewriteStatus: 'ok' as 'ok' | 'err',
    lastRewriteMs: -1,
    currentRewriteStartedAt: 0,
    lastRewriteLongestSliceMs: 0,
    baseSize: 0,
    /** AOF size right after the last rewrite (or start): auto-rewrite's reference. */
    sizeAtRewrite: 0,
    delayedFsync: 0,
    writeErrors: 0,
    lastWriteStatus: 'ok' as 'ok' | 'err',
  };
  /** Sizes of incremental files other than the current one (for aof_current_size). */
  private closedIncrBytes = 0;
  private rewriting: Promise<void> | null = null;
  /** The event log's file (events/event-log-file.ts): written and fsynced along with the AOF. */
  eventFile: EventLogFile | null = null;
  private job: SnapshotJob | null = null;
  private closing = false;

  constructor(
    private readonly engine: Engine,
    readonly options: AofOptions,
  ) {}

  get manifestPath(): string {
    return join(this.options.dir, `${this.options.fileName}.manifest`);
  }

  /** Current size of the AOF: base plus every incremental file (written bytes). */
  get size(): number {
    return this.stats.baseSize + this.closedIncrBytes + this.pos;
  }

  get fsyncPolicy(): FsyncPolicy {
    return this.options.fsync;
  }

  set fsyncPolicy(p: FsyncPolicy) {
    this.options.fsync = p;
  }

  /** Bytes waiting in memory (INFO aof_buffer_length). */
  get bufferLength(): number {
    return this.pending.length;
  }

  // ---- start-up ----

  /**
   * Loads the AOF named by the manifest into the engine (with the clock stopped: nothing expires while
   * loading), repairs a truncated tail of the last incremental file when allowed, and opens that file for
   * appending. Without a manifest, creates an empty AOF (an `initial` snapshot, e.g. a dump file that was
   * loaded, becomes its base). Throws AofLoadError naming the file and offset of anything unreadable.
   */
  open(initialDataset: boolean): AofLoadReport {
    const t0 = Date.now();
    mkdirSync(this.options.dir, { recursive: true });
    // Left by a rewrite or a manifest update that a crash interrupted: never part of the AOF.
    for (const f of readdirSync(this.options.dir)) {
      if (f.startsWith('temp-')) unlinkSync(join(this.options.dir, f));
    }
    const report: AofLoadReport = { keys: 0, records: 0, bytes: 0, ms: 0, truncated: null };
    if (!existsSync(this.manifestPath)) {
      this.seq = 1;
      if (initialDataset) {
        const base = this.baseName(1);
        writeSnapshotSync(this.engine, join(this.options.dir, base));
        this.manifest.base = { name: base, seq: 1, type: 'b' };
        this.stats.baseSize = statSync(join(this.options.dir, base)).size;
      }
      this.manifest.incrs = [{ name: this.incrName(1), seq: 1, type: 'i' }];
      this.openIncr(this.manifest.incrs[0].name, true);
      this.writeManifestSync(this.manifest);
      this.stats.sizeAtRewrite = this.size;
      report.ms = Date.now() - t0;
      return report;
    }
    this.manifest = readManifest(this.options.dir, this.options.fileName, false);
    const m = this.manifest;
    this.seq = Math.max(m.base?.seq ?? 0, ...m.incrs.map((f) => f.seq));
    const engine = this.engine;
    engine.loading = true;
    try {
      if (m.base) {
        const path = join(this.options.dir, m.base.name);
        this.options.log(`loading AOF base ${m.base.name}`);
        try {
          const r = loadSnapshotFile(path, engine.dbs, (b) => this.options.log(`loading ${m.base?.name}: ${mb(b)} MB`));
          report.keys = r.keys;
          report.bytes += r.bytes;
          this.stats.baseSize = r.bytes;
        } catch (e) {
          if (e instanceof SnapshotFormatError)
            throw new AofLoadError(
              `AOF base ${path} is damaged: ${e.reason} at offset ${e.offset}. Check it with: kvws check-aof ${this.options.dir}`,
            );
          throw e;
        }
      }
      for (let i = 0; i < m.incrs.length; i++) {
        const f = m.incrs[i];
        const last = i === m.incrs.length - 1;
        const r = this.replay(join(this.options.dir, f.name), last);
        report.records += r.records;
        report.bytes += r.bytes;
        if (!last) this.closedIncrBytes += r.bytes;
        if (r.truncated) report.truncated = r.truncated;
      }
    } finally {
      engine.loading = false;
    }
    for (const db of engine.dbs) engine.expiry.rebuild(db);
    const cur = m.incrs[m.incrs.length - 1];
    if (cur) this.openIncr(cur.name, false);
    else {
      // A manifest with only a base: start an incremental file after it.
      this.seq++;
      const f: ManifestFile = { name: this.incrName(this.seq), seq: this.seq, type: 'i' };
      m.incrs.push(f);
      this.openIncr(f.name, true);
      this.writeManifestSync(m);
    }
    this.stats.sizeAtRewrite = this.size;
    report.keys = engine.dbs.reduce((n, db) => n + db.size, 0);
    report.ms = Date.now() - t0;
    return report;
  }

  /** Starts the once-a-second work: everysec fsync, retries after disk errors, automatic rewrites. */
  startCron(): void {
    this.timer = setInterval(() => this.cron(), 1000);
    this.timer.unref();
  }

  /**
   * Replays one incremental file through the command handlers (no ACL, no events to clients: loading).
   * A truncated tail of the last file is cut off when `loadTruncated` allows; any other damage throws.
   */
  private replay(
    path: string,
    last: boolean,
  ): { records: number; bytes: number; truncated: AofLoadReport['truncated'] } {
    const engine = this.engine;
    const client = engine.internalClient();
    client.inExec = true; // blocking commands never block here
    const s = new AofScanner(path);
    let records = 0;
    let okUpTo = 0;
    let multiAt = -1;
    /** Records of an open transaction: applied at its EXEC, dropped if the file ends first. */
    let tx: { argv: string[]; start: number }[] = [];
    let nextLog = 64 << 20;
    let err: AofFormatError | null = null;
    try {
      for (;;) {
        let r: ReturnType<AofScanner['next']>;
        try {
          r = s.next();
        } catch (e) {
          if (!(e instanceof AofFormatError)) throw e;
          err = e;
          break;
        }
        if (r === null) break;
        records++;
        if (r.end >= nextLog) {
          this.options.log(`loading ${path}: ${mb(r.end)} of ${mb(s.size)} MB`);
          nextLog = r.end + (64 << 20);
        }
        const name = r.argv[0].toUpperCase();
        if (name === 'MULTI') {
          if (multiAt >= 0)
            throw new AofLoadError(`cannot load the AOF: ${path}: MULTI inside a transaction at offset ${r.start}`);
          multiAt = r.start;
          continue;
        }
        if (name === 'EXEC') {
          if (multiAt < 0)
            throw new AofLoadError(`cannot load the AOF: ${path}: EXEC without MULTI at offset ${r.start}`);
          for (const q of tx) this.apply(client, q.argv, path, q.start);
          tx = [];
          multiAt = -1;
          okUpTo = r.end;
          continue;
        }
        if (multiAt >= 0) tx.push({ argv: r.argv, start: r.start });
        else {
          this.apply(client, r.argv, path, r.start);
          okUpTo = r.end;
        }
      }
    } finally {
      s.close();
    }
    if (err === null && multiAt >= 0) err = new AofFormatError(path, multiAt, 'transaction without EXEC', true);
    if (err === null) return { records, bytes: s.size, truncated: null };
    if (!err.truncated || !last) {
      throw new AofLoadError(
        `cannot load the AOF: ${path}: ${err.reason} at offset ${err.offset}` +
          (err.truncated ? ' (and it is not the last file, so it was not cut off)' : '') +
          `. Check it with: kvws check-aof ${this.options.dir} (add --fix to truncate it there)`,
      );
    }
    if (!this.options.loadTruncated) {
      throw new AofLoadError(
        `cannot load the AOF: ${path} ends with an incomplete record at offset ${err.offset} ` +
          `(aof-load-truncated is off). Repair it with: kvws check-aof --fix ${this.options.dir}`,
      );
    }
    // A transaction cut off at the end was never applied (all or nothing): the cut is before its MULTI.
    const dropped = s.size - okUpTo;
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, okUpTo);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.options.log(
      `AOF ${path} was truncated: the last record was incomplete; cut the file at offset ${okUpTo} ` +
        `(${dropped} bytes dropped), keeping every complete record`,
    );
    return { records, bytes: okUpTo, truncated: { file: path, offset: okUpTo, dropped } };
  }

  private apply(client: Client, argv: string[], path: string, offset: number): void {
    const cmd = lookupCommand(this.engine, argv);
    if (cmd instanceof ErrorReply)
      throw new AofLoadError(`cannot load the AOF: ${path} at offset ${offset}: ${cmd.message}`);
    const r = cmd.handler(client, argv);
    if (r instanceof Promise)
      throw new AofLoadError(`cannot load the AOF: ${path} at offset ${offset}: blocking command`);
  }

  // ---- feeding ----

  /** Sequence number of the last feed, and of the last feed written to the file. */
  private fedSeq = 0;
  private writtenSeq = 0;

  /**
   * Appends records of a command run against database `db` (SELECT is added when the database changes).
   * With `client`, the records are that client's: `beforeReply(client)` then refuses to let its reply go
   * out while they are not written.
   */
  feed(db: number, records: string[][], client: Client | null = null): void {
    if (this.closed || records.length === 0) return;
    this.fedSeq++;
    if (client !== null) client.aofSeq = this.fedSeq;
    let out = '';
    if (db !== this.lastDb) {
      out += encodeRecord(['SELECT', String(db)]);
      this.lastDb = db;
    }
    for (const r of records) out += encodeRecord(r);
    this.pending += out;
    this.txRecords += records.length;
    this.scheduleFlush();
  }

  /** EXEC begins: records until `endTransaction` are framed with MULTI/EXEC when there are two or more. */
  beginTransaction(): void {
    this.txStart = this.pending.length;
    this.txRecords = 0;
  }

  endTransaction(): void {
    if (this.txStart >= 0 && this.txRecords >= 2) {
      const p = this.pending;
      this.pending =
        p.slice(0, this.txStart) + encodeRecord(['MULTI']) + p.slice(this.txStart) + encodeRecord(['EXEC']);
    }
    this.txStart = -1;
  }

  /** Writes pending records at the end of this turn of the event loop (records fed outside a command). */
  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Writes pending records now (synchronously: a page-cache write). On failure keeps them, enters the
   * MISCONF state and returns false.
   */
  flush(): boolean {
    if (this.eventFile?.hasPending) {
      try {
        this.eventFile.flush();
      } catch (e) {
        this.failWrite(e as Error, 'write');
        return false;
      }
    }
    if (this.pending.length === 0 || this.fd < 0) return this.writeError === null;
    if (this.txStart >= 0) return true; // inside EXEC: the transaction is written whole
    const buf = Buffer.from(this.pending, 'latin1');
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off, this.pos + off);
    } catch (e) {
      // Written bytes past `pos` are overwritten on retry: nothing half-written stays in the middle.
      this.failWrite(e as Error, 'write');
      return false;
    }
    this.pos += buf.length;
    this.pending = '';
    this.writtenSeq = this.fedSeq;
    if (this.errorKind === 'write') this.recovered('write');
    return true;
  }

  /**
   * Called by every front door before it sends `client`'s replies (and pushes). Writes pending records;
   * with `always` returns a Promise that settles once they are on disk (rejecting when they cannot be),
   * else null. Replies must not be sent before it resolves; on rejection the connection is closed without
   * them. When the file cannot be written, a client whose own records (its writes, or a pop served to it)
   * are among the unwritten ones is refused; others (reads) go on. `client` null: refused whenever the
   * write fails.
   */
  beforeReply(client: Client | null): Promise<void> | null {
    if (this.pending.length !== 0 || this.eventFile?.hasPending) {
      if (!this.flush() && (client === null || client.aofSeq > this.writtenSeq))
        return Promise.reject(this.writeError as Error);
    }
    // After a rewrite's cut, records go to a new incremental file that only the manifest being written names:
    // until it is on disk, a crash would load the old manifest without them, so replies wait for it.
    if (this.options.fsync !== 'always') return this.manifestWrite;
    if (this.syncedPos >= this.pos && this.manifestWrite === null && !this.eventFile?.dirty) return null;
    const target = this.pos;
    const synced = new Promise<void>((resolve, reject) => this.syncWaiters.push({ pos: target, resolve, reject }));
    this.startSync();
    const m = this.manifestWrite;
    return m ? Promise.all([synced, m]).then(() => {}) : synced;
  }

  /** One fdatasync covering everything written so far; waiters up to that point are released. */
  private startSync(): void {
    if (this.syncing || this.fd < 0) return;
    const fd = this.fd;
    const upTo = this.pos;
    const events = this.eventFile;
    if (upTo <= this.syncedPos && !events?.dirty) {
      this.release(null);
      return;
    }
    this.syncing = true;
    const done = (err: Error | null): void => {
      this.syncing = false;
      if (fd !== this.fd) {
        // The file was switched (rewrite) meanwhile; its waiters were handed to the old file's last sync.
        if (this.syncWaiters.length !== 0) this.startSync();
        return;
      }
      if (err) {
        this.failWrite(err, 'fsync');
        this.release(err);
        return;
      }
      this.syncedPos = Math.max(this.syncedPos, upTo);
      if (this.errorKind === 'fsync' && this.pending.length === 0) this.recovered('fsync');
      this.release(null);
      if (this.syncWaiters.length !== 0) this.startSync();
    };
    const syncEvents = (aofErr: Error | null) =>
      events ? events.sync((evErr) => done(aofErr ?? evErr)) : done(aofErr);
    if (upTo > this.syncedPos) fdatasync(fd, syncEvents);
    else syncEvents(null);
  }

  private release(err: Error | null): void {
    const keep: typeof this.syncWaiters = [];
    for (const w of this.syncWaiters) {
      if (err) w.reject(err);
      else if (w.pos <= this.syncedPos || this.fd < 0) w.resolve();
      else keep.push(w);
    }
    this.syncWaiters = keep;
  }

  private failWrite(e: Error, kind: 'write' | 'fsync'): void {
    this.stats.writeErrors++;
    this.stats.lastWriteStatus = 'err';
    if (!this.writeError) {
      this.options.log(
        `AOF write error: ${e.message}. Refusing write commands (MISCONF) until the disk recovers; retrying every second`,
      );
    }
    this.writeError = e;
    this.errorKind = kind;
  }

  private recovered(what: string): void {
    this.options.log(`AOF ${what} error is over: accepting writes again`);
    this.writeError = null;
    this.errorKind = null;
    this.stats.lastWriteStatus = 'ok';
  }

  /** The MISCONF error for write commands while the disk fails, or null. */
  misconf(): string | null {
    return this.writeError ? `MISCONF Errors writing to the AOF file: ${this.writeError.message}` : null;
  }

  private cron(): void {
    if (this.closed) return;
    if (this.pending.length !== 0) this.flush();
    if (this.errorKind === 'fsync') this.startSync(); // a failed write is retried by flush above
    if (this.options.fsync === 'everysec' && (this.pos > this.syncedPos || this.eventFile?.dirty)) {
      if (this.syncing) this.stats.delayedFsync++;
      else this.startSync();
    }
    const o = this.options;
    if (
      o.autoRewritePercentage > 0 &&
      !this.rewriting &&
      !this.writeError &&
      this.size >= o.autoRewriteMinSize &&
      this.size >= this.stats.sizeAtRewrite * (1 + o.autoRewritePercentage / 100)
    ) {
      this.options.log(`AOF grew to ${mb(this.size)} MB: starting an automatic rewrite`);
      this.rewrite().catch(() => {});
    }
  }

  // ---- rewrite ----

  /** BGREWRITEAOF: false when one is already running. Resolves when done (rejects when it failed). */
  rewrite(): Promise<void> {
    if (this.rewriting) return this.rewriting;
    const p = this.runRewrite().finally(() => {
      this.rewriting = null;
    });
    this.rewriting = p;
    return p;
  }

  /** Resolves when no rewrite is running (whatever its outcome). */
  rewriteDone(): Promise<void> {
    return this.rewriting ? this.rewriting.catch(() => {}) : Promise.resolve();
  }

  /** Abandons a rewrite still taking its snapshot (shutdown); one past its cut finishes normally. */
  abortRewrite(): void {
    this.closing = true;
    this.job?.abort(new SnapshotAborted('the server is shutting down'));
  }

  get rewriteInProgress(): boolean {
    return this.rewriting !== null;
  }

  private async runRewrite(): Promise<void> {
    const o = this.options;
    const started = Date.now();
    this.stats.currentRewriteStartedAt = started;
    const baseSeq = (this.manifest.base?.seq ?? 0) + 1;
    const tmp = join(o.dir, `temp-rewriteaof-bg-${process.pid}.kvws`);
    let attempts = 0;
    for (;;) {
      const job = new SnapshotJob(this.engine, tmp, o.snapshotJob ?? DEFAULT_SNAPSHOT_JOB);
      this.job = job;
      if (this.closing) job.abort(new SnapshotAborted('the server is shutting down'));
      let newIncr: ManifestFile | null = null;
      let oldIncrs: ManifestFile[] = [];
      try {
        const result = await job.run(() => {
          // The instant the snapshot stands for: from now on records go to a new incremental file. Until
          // the new base is in place, the manifest lists old base + old incrementals + the new one.
          this.flush();
          oldIncrs = this.manifest.incrs;
          this.seq++;
          newIncr = { name: this.incrName(this.seq), seq: this.seq, type: 'i' };
          this.switchIncr(newIncr.name);
          this.manifest = { base: this.manifest.base, incrs: [...oldIncrs, newIncr] };
          this.persistManifest();
        });
        await this.manifestWrite;
        const baseName = this.baseName(baseSeq);
        await rename(tmp, join(o.dir, baseName));
        const oldBase = this.manifest.base;
        this.manifest = {
          base: { name: baseName, seq: baseSeq, type: 'b' },
          incrs: [newIncr as unknown as ManifestFile],
        };
        this.persistManifest();
        await this.manifestWrite;
        for (const f of [...(oldBase ? [oldBase] : []), ...oldIncrs]) await unlink(join(o.dir, f.name)).catch(() => {});
        this.stats.baseSize = result.bytes;
        this.closedIncrBytes = 0;
        this.stats.sizeAtRewrite = this.size;
        this.stats.rewrites++;
        this.stats.lastRewriteStatus = 'ok';
        this.stats.lastRewriteMs = Date.now() - started;
        this.stats.lastRewriteLongestSliceMs = result.longestSliceMs;
        o.log(
          `AOF rewrite done in ${this.stats.lastRewriteMs} ms: base ${baseName}, ${result.keys} keys, ` +
            `${mb(result.bytes)} MB; longest pause ${result.longestSliceMs.toFixed(1)} ms`,
        );
        return;
      } catch (e) {
        await unlink(tmp).catch(() => {});
        if (newIncr === null && e instanceof SnapshotAborted && ++attempts < 5 && !this.closing) {
          o.log(`AOF rewrite restarted: ${(e as Error).message}`);
          continue;
        }
        this.stats.lastRewriteStatus = 'err';
        o.log(`AOF rewrite failed: ${(e as Error).message}`);
        throw e;
      }
    }
  }

  /** Closes the current incremental file (synced) and makes `name` the file records go to. */
  private switchIncr(name: string): void {
    const oldFd = this.fd;
    if (oldFd >= 0) {
      // Off the event loop: the old file's last fdatasync releases the replies waiting for it.
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      fdatasync(oldFd, (err) => {
        closeSync(oldFd);
        if (err) this.failWrite(err, 'fsync');
        for (const w of waiters) err ? w.reject(err) : w.resolve();
      });
      this.closedIncrBytes += this.pos;
    }
    this.openIncr(name, true);
  }

  private openIncr(name: string, create: boolean): void {
    const path = join(this.options.dir, name);
    this.fd = openSync(path, create ? 'w' : 'r+', 0o600);
    this.pos = create ? 0 : statSync(path).size;
    this.syncedPos = this.pos;
    this.lastDb = -1;
  }

  // ---- manifest ----

  private manifestText(m: Manifest): string {
    let s = '';
    if (m.base) s += `file ${m.base.name} seq ${m.base.seq} type b\n`;
    for (const f of m.incrs) s += `file ${f.name} seq ${f.seq} type i\n`;
    return s;
  }

  /** Writes the manifest atomically: temp file, fsync, rename, fsync of the directory. */
  private writeManifestSync(m: Manifest): void {
    writeFileAtomicSync(
      this.manifestPath,
      this.manifestText(m),
      join(this.options.dir, `temp-${this.options.fileName}.manifest`),
    );
  }

  /** The same, off the event loop (during a rewrite); `manifestWrite` is pending meanwhile. */
  private persistManifest(): void {
    const text = this.manifestText(this.manifest);
    const prev = this.manifestWrite ?? Promise.resolve();
    const p = prev.then(async () => {
      const tmp = join(this.options.dir, `temp-${this.options.fileName}.manifest`);
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.manifestPath);
      syncDir(this.options.dir);
    });
    this.manifestWrite = p;
    p.then(
      () => {
        if (this.manifestWrite === p) this.manifestWrite = null;
      },
      (e: Error) => {
        if (this.manifestWrite === p) this.manifestWrite = null;
        this.failWrite(e, 'write');
      },
    );
  }

  private baseName(seq: number): string {
    return `${this.options.fileName}.${seq}.base.kvws`;
  }

  private incrName(seq: number): string {
    return `${this.options.fileName}.${seq}.incr.aof`;
  }

  // ---- shutdown ----

  /** Writes and fsyncs everything, waits for a rewrite's manifest, and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.txStart = -1;
    this.flush();
    await this.manifestWrite?.catch(() => {});
    this.closed = true;
    try {
      this.eventFile?.close();
    } catch (e) {
      this.options.log(`event log: closing failed: ${(e as Error).message}`);
    }
    if (this.fd >= 0) {
      try {
        fsyncSync(this.fd);
      } catch (e) {
        this.options.log(`AOF fsync at shutdown failed: ${(e as Error).message}`);
      }
      closeSync(this.fd);
      this.fd = -1;
    }
    this.release(null);
  }

  /** The base's name and a check of every incremental file of an AOF directory (for `kvws check-aof`). */
  static check(dir: string, fileName: string): { base: string | null; incrs: ReturnType<typeof checkAofFile>[] } {
    const m = readManifest(dir, fileName, true);
    return { base: m.base?.name ?? null, incrs: m.incrs.map((f) => checkAofFile(join(dir, f.name))) };
  }
}

/**
 * Reads the manifest `<dir>/<fileName>.manifest`: the base and incremental files in order. History files
 * (type h) are deleted unless `readOnly`. Throws AofLoadError for a malformed line or a missing file.
 */
function readManifest(dir: string, fileName: string, readOnly: boolean): Manifest {
  const path = join(dir, `${fileName}.manifest`);
  const text = readFileSync(path, 'latin1');
  const m: Manifest = { base: null, incrs: [] };
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (line.trim() === '' || line.startsWith('#')) continue;
    const parts = line.trim().split(/\s+/);
    const f: Partial<ManifestFile> = {};
    for (let i = 0; i + 1 < parts.length; i += 2) {
      if (parts[i] === 'file') f.name = parts[i + 1];
      else if (parts[i] === 'seq') f.seq = Number(parts[i + 1]);
      else if (parts[i] === 'type') f.type = parts[i + 1] as ManifestFile['type'];
    }
    if (
      parts.length % 2 !== 0 ||
      !f.name ||
      f.name.includes('/') ||
      !Number.isInteger(f.seq) ||
      !['b', 'h', 'i'].includes(f.type ?? '')
    )
      throw new AofLoadError(
        `cannot load the AOF: manifest ${path} line ${lineNo} is malformed: ${JSON.stringify(line)}`,
      );
    const file = f as ManifestFile;
    if (!existsSync(join(dir, file.name)) && file.type !== 'h')
      throw new AofLoadError(`cannot load the AOF: ${file.name}, named by ${path} line ${lineNo}, does not exist`);
    if (file.type === 'b') {
      if (m.base) throw new AofLoadError(`cannot load the AOF: manifest ${path} names two base files`);
      m.base = file;
    } else if (file.type === 'i') m.incrs.push(file);
    else if (!readOnly && existsSync(join(dir, file.name))) unlinkSync(join(dir, file.name));
  }
  if (!m.base && m.incrs.length === 0) throw new AofLoadError(`cannot load the AOF: manifest ${path} names no files`);
  return m;
}

/** Encodes every database into `path` synchronously (SAVE, and a first base at start-up). */
export function writeSnapshotSync(engine: Engine, path: string): number {
  const enc = new SnapshotEncoder();
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const write = (chunks: Buffer[]) => {
      for (const c of chunks) {
        let off = 0;
        while (off < c.length) off += writeSync(fd, c, off, c.length - off);
      }
    };
    let taken = 0;
    engine.dbs.forEach((db, i) => {
      if (db.dict.size === 0) return;
      enc.select(i);
      for (const [k, v] of db.dict) {
        enc.key(k, v, db.expires.get(k));
        if (enc.size - taken > 1 << 20) {
          taken = enc.size;
          write(enc.take());
        }
      }
    });
    write(enc.finish());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDir(path.slice(0, Math.max(0, path.lastIndexOf('/'))) || '.');
  return enc.size;
}

function mb(bytes: number): string {
  return (bytes / (1 << 20)).toFixed(1);
}
