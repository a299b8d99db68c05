import {
  closeSync,
  existsSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../persistence/files.js';
import type { Latin1Buffer } from '../protocol/resp.js';
import type { EventLog, EventSink, StreamEvent } from './event-log.js';

/**
 * The event log on disk, next to the append-only file (so a resume survives a restart):
 *
 * - `events.meta`: `{"epoch", "bootId", "clean"}`, replaced atomically; `clean` is true only after a
 *   graceful shutdown.
 * - `events.<first offset>.log` segments of records `u32le length | f64le offset | f64le time |
 *   u8 hasKey | str channel | str message | [str key]` (str = u32le length + bytes).
 *
 * Records are written before any reply or push leaves (the AOF's `beforeReply` calls `flush`), so an offset
 * a client has seen is on disk unless the machine itself went down; with `appendfsync always` it is also
 * fsynced. At start the epoch is kept — and the log reloaded, a truncated last record cut off — when the
 * last run shut down cleanly, or only the process died (same boot id), or every event was fsynced
 * (`always`). Otherwise (the machine rebooted and the last events may be lost) a new epoch starts, so no
 * client is told an offset means something it does not.
 */
export class EventLogFile implements EventSink {
  private fd = -1;
  private segmentFirst = 0;
  private segmentBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Written but not yet fsynced. */
  dirty = false;

  constructor(
    private readonly dir: string,
    private readonly log: EventLog,
    private readonly options: {
      alwaysFsync: () => boolean;
      segmentMax: number;
      notice: (line: string) => void;
      /** Called when a record is appended, so the owner schedules a flush. */
      appended: () => void;
    },
  ) {}

  private get metaPath(): string {
    return join(this.dir, 'events.meta');
  }

  /** Reads the log back (or starts a new epoch, see the class comment) and opens a segment for appending. */
  open(): { events: number; epochKept: boolean } {
    const bootId = readBootId();
    let epochKept = false;
    let events = 0;
    if (existsSync(this.metaPath)) {
      let meta: { epoch?: unknown; bootId?: unknown; clean?: unknown; always?: unknown } = {};
      try {
        meta = JSON.parse(readFileSync(this.metaPath, 'utf8'));
      } catch {
        this.options.notice(`${this.metaPath} is unreadable: starting a new event stream epoch`);
      }
      const keep =
        typeof meta.epoch === 'string' && (meta.clean === true || meta.bootId === bootId || meta.always === true);
      if (keep) {
        this.log.reset(meta.epoch as string);
        events = this.readSegments();
        epochKept = true;
      } else if (typeof meta.epoch === 'string') {
        this.options.notice(
          'the machine restarted after an unclean shutdown: the last events may be lost, so a new event stream epoch starts (resumes answer recovered: false)',
        );
      }
    }
    if (!epochKept) for (const f of this.segments()) unlinkSync(join(this.dir, f.name));
    this.writeMeta({ epoch: this.log.epoch, bootId, clean: false, always: this.options.alwaysFsync() });
    this.roll();
    return { events, epochKept };
  }

  private segments(): { name: string; first: number }[] {
    return readdirSync(this.dir)
      .map((name) => ({ name, m: /^events\.(\d+)\.log$/.exec(name) }))
      .filter((x) => x.m !== null)
      .map((x) => ({ name: x.name, first: Number((x.m as RegExpExecArray)[1]) }))
      .sort((a, b) => a.first - b.first);
  }

  /** Loads every segment's records into the log (trimmed to its bounds); cuts a truncated tail. */
  private readSegments(): number {
    let n = 0;
    for (const seg of this.segments()) {
      const path = join(this.dir, seg.name);
      const fd = openSync(path, 'r+');
      try {
        const size = fstatSync(fd).size;
        const buf = Buffer.allocUnsafe(size) as Latin1Buffer;
        let got = 0;
        while (got < size) {
          const r = readSync(fd, buf, got, size - got, got);
          if (r === 0) break;
          got += r;
        }
        let p = 0;
        while (p + 4 <= got) {
          const len = buf.readUInt32LE(p);
          if (len < 21 || p + 4 + len > got) break;
          const e = decodeEvent(buf, p + 4, p + 4 + len);
          if (e === null) break;
          this.log.restore(e);
          n++;
          p += 4 + len;
        }
        if (p < got) {
          ftruncateSync(fd, p);
          this.options.notice(`event log ${path}: cut an incomplete last record at offset ${p}`);
        }
      } finally {
        closeSync(fd);
      }
    }
    this.log.trim();
    return n;
  }

  append(e: StreamEvent): void {
    const b = encodeEvent(e);
    this.pending.push(b);
    this.pendingBytes += b.length;
    this.options.appended();
  }

  get hasPending(): boolean {
    return this.pendingBytes !== 0;
  }

  /** Writes pending records (synchronously, to the page cache). Throws on I/O errors. */
  flush(): void {
    if (this.pendingBytes === 0 || this.fd < 0) return;
    const out = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < out.length) off += writeSync(this.fd, out, off, out.length - off);
    this.segmentBytes += out.length;
    this.dirty = true;
    if (this.segmentBytes >= this.options.segmentMax) this.roll();
  }

  /** fdatasync of the current segment (callback style, for the AOF's fsync step). */
  sync(cb: (err: Error | null) => void): void {
    if (!this.dirty || this.fd < 0) {
      cb(null);
      return;
    }
    this.dirty = false;
    fdatasync(this.fd, (err) => cb(err));
  }

  /** Starts a new segment at the next offset and deletes segments the log no longer holds. */
  private roll(): void {
    if (this.fd >= 0) {
      fsyncSync(this.fd);
      closeSync(this.fd);
    }
    this.segmentFirst = this.log.lastOffset + 1;
    this.fd = openSync(join(this.dir, `events.${this.segmentFirst}.log`), 'a', 0o600);
    this.segmentBytes = fstatSync(this.fd).size;
    const first = this.log.firstOffset;
    const segs = this.segments();
    // A segment can go when the next one starts at or before the oldest offset still held.
    for (let i = 0; i + 1 < segs.length; i++) {
      if (segs[i + 1].first <= first) unlinkSync(join(this.dir, segs[i].name));
    }
  }

  /** Graceful shutdown: everything written and fsynced, the meta marked clean. */
  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
    this.writeMeta({ epoch: this.log.epoch, bootId: readBootId(), clean: true, always: this.options.alwaysFsync() });
  }

  private writeMeta(meta: object): void {
    writeFileAtomicSync(this.metaPath, JSON.stringify(meta));
  }
}

function encodeEvent(e: StreamEvent): Buffer {
  const hasKey = e.key !== null;
  const len = 8 + 8 + 1 + 4 + e.channel.length + 4 + e.message.length + (hasKey ? 4 + (e.key as string).length : 0);
  const b = Buffer.allocUnsafe(4 + len) as Latin1Buffer;
  let p = 0;
  b.writeUInt32LE(len, p);
  p += 4;
  b.writeDoubleLE(e.offset, p);
  p += 8;
  b.writeDoubleLE(e.time, p);
  p += 8;
  b[p++] = hasKey ? 1 : 0;
  for (const s of hasKey ? [e.channel, e.message, e.key as string] : [e.channel, e.message]) {
    b.writeUInt32LE(s.length, p);
    p += 4;
    p += b.latin1Write(s, p, s.length);
  }
  return b;
}

function decodeEvent(b: Latin1Buffer, p: number, end: number): StreamEvent | null {
  const offset = b.readDoubleLE(p);
  const time = b.readDoubleLE(p + 8);
  const hasKey = b[p + 16] === 1;
  p += 17;
  const strs: string[] = [];
  for (let i = 0; i < (hasKey ? 3 : 2); i++) {
    if (p + 4 > end) return null;
    const n = b.readUInt32LE(p);
    p += 4;
    if (p + n > end) return null;
    strs.push(b.latin1Slice(p, p + n));
    p += n;
  }
  if (!Number.isSafeInteger(offset) || offset < 1) return null;
  return { offset, time, channel: strs[0], message: strs[1], key: hasKey ? strs[2] : null };
}

/** The kernel's boot id (changes at every reboot), or '' where there is none. */
function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}
