import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerOptions } from '../config.js';
import type { Engine } from '../engine/engine.js';
import { EventLogFile } from '../events/event-log-file.js';
import { Aof, type AofLoadReport, type FsyncPolicy, writeSnapshotSync } from './aof.js';
import { loadSnapshotFile, SnapshotFormatError } from './snapshot-format.js';
import { DEFAULT_SNAPSHOT_JOB, SnapshotAborted, SnapshotJob } from './snapshot-job.js';

/** Parses Redis's `save` syntax ("3600 1 300 100", or "" for none) into [seconds, changes] rules. */
export function parseSaveRules(v: string): [number, number][] {
  const parts = v.trim() === '' ? [] : v.trim().split(/\s+/);
  if (parts.length % 2 !== 0) throw new Error('Invalid save parameters');
  const rules: [number, number][] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const secs = Number(parts[i]);
    const changes = Number(parts[i + 1]);
    if (!/^\d+$/.test(parts[i]) || !/^\d+$/.test(parts[i + 1]) || secs < 1) throw new Error('Invalid save parameters');
    rules.push([secs, changes]);
  }
  return rules;
}

/** Thrown at start-up when the data on disk cannot be loaded: the message names the file and offset. */
export class LoadError extends Error {}

/**
 * Everything kvws keeps on disk for the embedded engine: the append-only file (aof.ts) and snapshot dumps
 * (SAVE, BGSAVE and the `save` rules, into `<dataDir>/<dbfilename>`). Without a data directory it is off
 * and the commands answer an error.
 *
 * Start-up (`load`): with the AOF on, its manifest decides what is loaded; with no AOF yet, a dump file
 * is loaded and becomes the AOF's first base. With the AOF off, the dump file is loaded if present.
 */
export class Persistence {
  /** Unix seconds of the last successful dump (LASTSAVE); start time until then, as in Redis. */
  lastSave = Math.floor(Date.now() / 1000);
  lastBgsaveStatus: 'ok' | 'err' = 'ok';
  lastBgsaveSeconds = -1;
  private bgsave: Promise<void> | null = null;
  private bgsaveStartedAt = 0;
  private dirtyAtSave = 0;
  private timer: NodeJS.Timeout | null = null;
  saveRules: [number, number][];
  loadReport: AofLoadReport | null = null;
  /** Dumps written since start (INFO rdb_saves). */
  private saves = 0;
  /** Loading finished: only then may shutdown write a dump (never a half-loaded dataset). */
  private loaded = false;

  constructor(
    private readonly engine: Engine,
    private readonly options: ServerOptions,
    private readonly log: (line: string) => void,
  ) {
    this.saveRules = parseSaveRules(options.save);
  }

  get dumpPath(): string {
    return join(this.options.dataDir ?? '.', this.options.dbfilename);
  }

  /** Loads the dataset and opens the AOF (when on). Throws LoadError for unreadable files. */
  load(): void {
    const o = this.options;
    if (!o.dataDir) return;
    const t0 = Date.now();
    let fromDump = false;
    // A BGSAVE interrupted by a crash leaves its temporary file behind.
    for (const f of readdirSync(o.dataDir)) if (/^temp-\d+\.kvws$/.test(f)) unlinkSync(join(o.dataDir, f));
    const aofDir = join(o.dataDir, o.appenddirname);
    const hasAof = existsSync(join(aofDir, `${o.appendfilename}.manifest`));
    if (!(o.appendonly && hasAof) && existsSync(this.dumpPath)) {
      this.log(`loading ${this.dumpPath}`);
      this.engine.loading = true;
      try {
        const r = loadSnapshotFile(this.dumpPath, this.engine.dbs);
        this.log(`loaded ${r.keys} keys from ${this.dumpPath} in ${Date.now() - t0} ms`);
      } catch (e) {
        if (e instanceof SnapshotFormatError)
          throw new LoadError(`cannot load ${e.file}: ${e.reason} at offset ${e.offset}`);
        throw e;
      } finally {
        this.engine.loading = false;
      }
      for (const db of this.engine.dbs) this.engine.expiry.rebuild(db);
      fromDump = true;
    }
    if (o.appendonly) {
      const aof = this.makeAof(aofDir);
      try {
        this.loadReport = aof.open(fromDump);
      } catch (e) {
        throw new LoadError((e as Error).message);
      }
      const r = this.loadReport;
      if (hasAof)
        this.log(
          `AOF loaded: ${r.keys} keys from ${r.records} records (${(r.bytes / (1 << 20)).toFixed(1)} MB) in ${r.ms} ms` +
            ` (appendfsync ${o.appendfsync})`,
        );
      else this.log(`AOF created in ${aofDir} (appendfsync ${o.appendfsync})`);
      this.engine.aof = aof;
      this.openEventLog(aof);
      aof.startCron();
    } else if (this.engine.events.enabled) {
      this.log(
        `event stream epoch ${this.engine.events.epoch} (kept in memory only: resumes do not survive a restart)`,
      );
    }
    // Loading bypassed the memory accounting (engine/memory.ts): measure what was loaded.
    this.engine.memory.rebuild();
    this.dirtyAtSave = this.engine.dirty;
    this.loaded = true;
    this.timer = setInterval(() => this.cron(), 1000);
    this.timer.unref();
  }

  /** The event log's file next to the AOF: resumes then survive restarts (events/event-log-file.ts). */
  private openEventLog(aof: Aof): void {
    const events = this.engine.events;
    if (!events.enabled) return;
    const file = new EventLogFile(aof.options.dir, events, {
      alwaysFsync: () => this.options.appendfsync === 'always',
      segmentMax: Math.max(1 << 20, Math.floor(events.maxBytes / 8)),
      notice: this.log,
      appended: () => aof.scheduleFlush(),
    });
    const r = file.open();
    events.sink = file;
    aof.eventFile = file;
    this.log(
      `event stream epoch ${events.epoch}${r.epochKept ? `, ${events.size} events kept (offsets ${events.firstOffset}..${events.lastOffset})` : ' (new)'}`,
    );
  }

  private makeAof(dir: string): Aof {
    const o = this.options;
    return new Aof(this.engine, {
      dir,
      fileName: o.appendfilename,
      fsync: o.appendfsync,
      autoRewritePercentage: o.autoAofRewritePercentage,
      autoRewriteMinSize: o.autoAofRewriteMinSize,
      loadTruncated: o.aofLoadTruncated,
      log: this.log,
      snapshotJob: DEFAULT_SNAPSHOT_JOB,
    });
  }

  /** The `save` rules: a background dump when enough changes are old enough (Redis's serverCron). */
  private cron(): void {
    if (this.bgsave || this.saveRules.length === 0) return;
    const changes = this.engine.dirty - this.dirtyAtSave;
    const elapsed = Date.now() / 1000 - this.lastSave;
    for (const [secs, n] of this.saveRules) {
      if (changes >= n && elapsed >= secs && changes > 0) {
        this.log(`${n} changes in ${secs} seconds: saving`);
        this.startBgsave().catch(() => {});
        return;
      }
    }
  }

  private requireDir(): void {
    if (!this.options.dataDir)
      throw new Error('ERR kvws has no data directory: start it with --data-dir to save the dataset');
  }

  /** SAVE: a synchronous dump (clients wait, as with Redis's SAVE). */
  save(): void {
    this.requireDir();
    if (this.bgsave) throw new Error('ERR Background save already in progress');
    const dirty = this.engine.dirty;
    writeSnapshotSync(this.engine, this.dumpPath);
    this.dirtyAtSave = dirty;
    this.lastSave = Math.floor(Date.now() / 1000);
    this.lastBgsaveStatus = 'ok';
    this.saves++;
  }

  get bgsaveInProgress(): boolean {
    return this.bgsave !== null;
  }

  /** BGSAVE: a dump taken in slices while clients go on (snapshot-job.ts). */
  startBgsave(): Promise<void> {
    this.requireDir();
    if (this.bgsave) throw new Error('ERR Background save already in progress');
    const tmp = join(this.options.dataDir as string, `temp-${process.pid}.kvws`);
    const started = Date.now();
    this.bgsaveStartedAt = started;
    const p = (async () => {
      let dirty = 0;
      for (let attempt = 0; ; attempt++) {
        const job = new SnapshotJob(this.engine, tmp);
        try {
          await job.run(() => {
            dirty = this.engine.dirty;
          });
          break;
        } catch (e) {
          await unlink(tmp).catch(() => {});
          if (e instanceof SnapshotAborted && attempt < 4) continue;
          throw e;
        }
      }
      await rename(tmp, this.dumpPath);
      this.dirtyAtSave = dirty;
      this.lastSave = Math.floor(Date.now() / 1000);
      this.saves++;
    })().then(
      () => {
        this.lastBgsaveStatus = 'ok';
        this.lastBgsaveSeconds = Math.round((Date.now() - started) / 1000);
        this.log(`background save done: ${this.dumpPath}`);
      },
      (e: Error) => {
        this.lastBgsaveStatus = 'err';
        this.log(`background save failed: ${e.message}`);
        throw e;
      },
    );
    this.bgsave = p.finally(() => {
      this.bgsave = null;
    });
    this.bgsave.catch(() => {});
    return this.bgsave;
  }

  /** CONFIG SET appendonly: turning it on writes a first base in the background, like Redis. */
  async setAppendonly(on: boolean): Promise<void> {
    const o = this.options;
    if (on === o.appendonly) return;
    if (!o.dataDir) throw new Error('kvws has no data directory (--data-dir)');
    o.appendonly = on;
    if (!on) {
      const aof = this.engine.aof;
      this.engine.aof = null;
      await aof?.close();
      return;
    }
    const aofDir = join(o.dataDir, o.appenddirname);
    const aof = this.makeAof(aofDir);
    // A fresh AOF whose first base is the current dataset: written synchronously (bounded by dataset size,
    // as Redis's fork would be), then records follow.
    if (existsSync(join(aofDir, `${o.appendfilename}.manifest`))) {
      await rm(aofDir, { recursive: true, force: true });
    }
    aof.open(true);
    this.engine.aof = aof;
    aof.startCron();
  }

  setFsync(p: FsyncPolicy): void {
    this.options.appendfsync = p;
    if (this.engine.aof) this.engine.aof.fsyncPolicy = p;
  }

  /** Graceful shutdown: the AOF written and fsynced; with the AOF off and save rules set, a final dump. */
  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const aof = this.engine.aof;
    if (aof) {
      aof.abortRewrite();
      await aof.rewriteDone();
      await aof.close();
    } else if (this.loaded && this.saveRules.length > 0 && this.engine.dirty !== this.dirtyAtSave) {
      await this.bgsave?.catch(() => {});
      this.save();
      this.log(`saved ${this.dumpPath} before exiting`);
    }
  }

  /** INFO persistence, with Redis's field names. */
  info(): [string, string | number][] {
    const aof = this.engine.aof;
    const now = Date.now();
    const fields: [string, string | number][] = [
      ['loading', this.engine.loading ? 1 : 0],
      ['async_loading', 0],
      ['rdb_changes_since_last_save', this.engine.dirty - this.dirtyAtSave],
      ['rdb_bgsave_in_progress', this.bgsave ? 1 : 0],
      ['rdb_last_save_time', this.lastSave],
      ['rdb_last_bgsave_status', this.lastBgsaveStatus],
      ['rdb_last_bgsave_time_sec', this.lastBgsaveSeconds],
      ['rdb_current_bgsave_time_sec', this.bgsave ? Math.round((now - this.bgsaveStartedAt) / 1000) : -1],
      ['rdb_saves', this.saves],
      ['aof_enabled', aof ? 1 : 0],
      ['aof_rewrite_in_progress', aof?.rewriteInProgress ? 1 : 0],
      ['aof_rewrite_scheduled', 0],
      [
        'aof_last_rewrite_time_sec',
        aof && aof.stats.lastRewriteMs >= 0 ? Math.round(aof.stats.lastRewriteMs / 1000) : -1,
      ],
      [
        'aof_current_rewrite_time_sec',
        aof?.rewriteInProgress ? Math.round((now - aof.stats.currentRewriteStartedAt) / 1000) : -1,
      ],
      ['aof_last_bgrewrite_status', aof?.stats.lastRewriteStatus ?? 'ok'],
      ['aof_rewrites', aof?.stats.rewrites ?? 0],
      ['aof_last_write_status', aof?.stats.lastWriteStatus ?? 'ok'],
    ];
    if (aof) {
      fields.push(
        ['aof_current_size', aof.size],
        ['aof_base_size', aof.stats.baseSize],
        ['aof_pending_rewrite', 0],
        ['aof_buffer_length', aof.bufferLength],
        ['aof_pending_bio_fsync', 0],
        ['aof_delayed_fsync', aof.stats.delayedFsync],
        ['aof_fsync_policy', aof.fsyncPolicy],
        ['aof_write_errors', aof.stats.writeErrors],
        ['aof_last_rewrite_longest_pause_ms', Number(aof.stats.lastRewriteLongestSliceMs.toFixed(2))],
      );
    }
    if (this.loadReport) {
      fields.push(
        ['aof_last_load_keys', this.loadReport.keys],
        ['aof_last_load_ms', this.loadReport.ms],
        ['aof_last_load_truncated', this.loadReport.truncated ? 1 : 0],
      );
    }
    return fields;
  }
}
