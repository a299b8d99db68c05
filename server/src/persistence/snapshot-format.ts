import { crc32 } from 'node:zlib';
import { type Db, typeOf, type Value } from '../engine/db.js';
import { List } from '../engine/list.js';
import { SortedSet } from '../engine/sorted-set.js';
import { Consumer, type ConsumerGroup, type Int, Nack, norm, Stream, StreamNode, type U64 } from '../engine/stream.js';
import type { Latin1Buffer } from '../protocol/resp.js';
import { ReadWindow } from './read-window.js';

/**
 * kvws's snapshot format: the AOF's base file (as Redis's RDB preamble) and the SAVE/BGSAVE dump.
 *
 *   file   = MAGIC op* EOF crc32
 *   MAGIC  = "KVWSSNAP" u16le(version = 1)
 *   op     = SELECT varint(db)
 *          | DEADLINE f64le(unix ms)        applies to the next key record only
 *          | type key value                  type: STRING LIST SET HASH ZSET STREAM; sets the key (replacing it)
 *          | DELETE key                      removes the key (a key deleted while a snapshot was being taken)
 *          | MORE+type key value             adds elements to the key's value, of that type (a big collection is
 *                                            written in pieces, so a snapshot never stalls clients for long)
 *   EOF    = 0xff, then u32le CRC-32 of every byte before it (EOF included)
 *   key, string = varint(length) bytes
 *   value  = STRING: string | LIST, SET: varint(n) string*n | HASH: varint(n) (string string)*n
 *          | ZSET: varint(n) (string f64le)*n, in score order
 *          | STREAM: meta groups varint(n) entry*n        (MORE+STREAM: varint(n) entry*n)
 *   meta   = id(last) id(recorded first) id(max deleted) u64(entries added)
 *   groups = varint(n) (string(name) id(last delivered) i64(entries read, -1 unknown)
 *              varint(p) (id f64le(delivery time) u64(delivery count))*p
 *              varint(c) (string(name) f64le(seen time) varint(k) id*k)*c)*n      consumers own the listed NACKs
 *   entry  = flags(bit 0 deleted, bit 1 starts a node) id varint(2·fields) string*…, in stream order: the
 *            nodes as they are (tombstones included), so trimming and XINFO answer alike after loading
 *   id     = u64(ms) u64(seq);  u64, i64 = 8 bytes little-endian
 *   varint = unsigned LEB128, up to 2^53
 *
 * Records are applied in order, a later record for a key replacing an earlier one: that is what lets a
 * snapshot be taken in slices while clients keep writing (see snapshot-job.ts). Files without STREAM
 * records read as before the type existed (same version).
 */
export const SNAPSHOT_MAGIC = 'KVWSSNAP';
export const SNAPSHOT_VERSION = 1;
export enum Op {
  STRING = 0,
  LIST = 1,
  SET = 2,
  HASH = 3,
  ZSET = 4,
  STREAM = 5,
  /** MORE + LIST/SET/HASH/ZSET/STREAM: elements added to the key's existing value. */
  MORE = 0x10,
  DELETE = 0xfb,
  DEADLINE = 0xfc,
  SELECT = 0xfe,
  EOF = 0xff,
}

const CHUNK = 64 * 1024;

/**
 * Builds snapshot bytes in 64 KiB chunks. `take()` hands over the finished chunks (to be written while
 * encoding goes on); `finish()` appends EOF and the checksum over everything taken so far.
 */
export class SnapshotEncoder {
  private buf = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  private done: Buffer[] = [];
  private crc = 0;
  /** Bytes produced so far (taken or not). */
  size = 0;

  constructor() {
    this.buf.write(SNAPSHOT_MAGIC, 0, 'latin1');
    this.buf.writeUInt16LE(SNAPSHOT_VERSION, SNAPSHOT_MAGIC.length);
    this.pos = SNAPSHOT_MAGIC.length + 2;
    this.size = this.pos;
  }

  select(db: number): void {
    this.byte(Op.SELECT);
    this.varint(db);
  }

  /** One key with its value and deadline (absolute Unix ms, or undefined). */
  key(key: string, value: Value, deadline: number | undefined): void {
    if (typeof value === 'string') {
      this.deadline(deadline);
      this.byte(Op.STRING);
      this.str(key);
      this.str(value);
      return;
    }
    const items = valueItems(value);
    this.part(key, value, deadline, items, sizeOf(value), false);
  }

  /**
   * `count` elements of a collection from `items` (see valueItems): as its first record (type, key,
   * deadline) or, with `more`, as a MORE record adding to it. Returns false when `items` ran out first (the
   * count written is then wrong: only possible if the value changed meanwhile, and the caller re-dumps it).
   */
  part(
    key: string,
    value: Exclude<Value, string>,
    deadline: number | undefined,
    items: Iterator<Item>,
    count: number,
    more: boolean,
  ): boolean {
    const type = TYPE_OP[typeOf(value)];
    if (!more) this.deadline(deadline);
    this.byte(more ? Op.MORE + type : type);
    this.str(key);
    if (type === Op.STREAM && !more) this.streamHead(value as unknown as Stream);
    this.varint(count);
    for (let i = 0; i < count; i++) {
      const r = items.next();
      if (r.done) {
        // Keep the file well-formed: pad with empty elements; the key is re-dumped whole later.
        for (; i < count; i++) this.element(type, PADDING[type]);
        return false;
      }
      this.element(type, r.value);
    }
    return true;
  }

  /** A stream's metadata and consumer groups (its first record). */
  private streamHead(s: Stream): void {
    this.id(s.lastId.ms, s.lastId.seq);
    this.id(s.firstId.ms, s.firstId.seq);
    this.id(s.maxDeletedId.ms, s.maxDeletedId.seq);
    this.u64(s.entriesAdded);
    const groups = s.sortedGroups();
    this.varint(groups.length);
    for (const g of groups) {
      this.str(g.name);
      this.id(g.lastId.ms, g.lastId.seq);
      this.i64(g.entriesRead);
      this.varint(g.pel.size);
      for (const n of g.pel) {
        this.id(n.id.ms, n.id.seq);
        this.f64(n.deliveryTime);
        this.u64(n.deliveryCount);
      }
      this.varint(g.consumers.size);
      for (const c of g.consumers.values()) {
        this.str(c.name);
        this.f64(c.seenTime);
        this.varint(c.pel.size);
        for (const n of c.pel) this.id(n.id.ms, n.id.seq);
      }
    }
  }

  private element(type: Op, e: Item): void {
    if (type === Op.STREAM) {
      const x = e as StreamItem;
      this.byte((x.dead ? 1 : 0) | (x.node ? 2 : 0));
      this.id(x.ms, x.seq);
      this.varint(x.fv.length);
      for (const f of x.fv) this.str(f);
    } else if (type === Op.LIST || type === Op.SET) this.str(e as string);
    else if (type === Op.HASH) {
      this.str((e as [string, string])[0]);
      this.str((e as [string, string])[1]);
    } else {
      this.str((e as [string, number])[0]);
      this.f64((e as [string, number])[1]);
    }
  }

  private deadline(at: number | undefined): void {
    if (at === undefined) return;
    this.byte(Op.DEADLINE);
    this.f64(at);
  }

  delete(key: string): void {
    this.byte(Op.DELETE);
    this.str(key);
  }

  /** Completed chunks so far; the caller writes them out in order. */
  take(): Buffer[] {
    if (this.pos > 0) this.seal();
    const out = this.done;
    this.done = [];
    return out;
  }

  /** EOF and checksum; returns the remaining chunks. The encoder must not be used afterwards. */
  finish(): Buffer[] {
    this.byte(Op.EOF);
    this.seal();
    const tail = Buffer.allocUnsafe(4);
    tail.writeUInt32LE(this.crc >>> 0, 0);
    this.done.push(tail);
    this.size += 4;
    return this.take();
  }

  private seal(): void {
    const b = this.buf.subarray(0, this.pos);
    this.crc = crc32(b, this.crc);
    this.done.push(b);
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.pos = 0;
  }

  private room(n: number): void {
    if (this.pos + n > this.buf.length) {
      this.seal();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    }
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
    this.size++;
  }

  private varint(n: number): void {
    this.room(8);
    const start = this.pos;
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
    this.size += this.pos - start;
  }

  private f64(x: number): void {
    this.room(8);
    this.buf.writeDoubleLE(x, this.pos);
    this.pos += 8;
    this.size += 8;
  }

  private u64(x: Int): void {
    this.room(8);
    if (typeof x === 'number' && x >= 0) {
      this.buf.writeUInt32LE(x % 0x100000000, this.pos);
      this.buf.writeUInt32LE(Math.floor(x / 0x100000000), this.pos + 4);
    } else this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(x)), this.pos);
    this.pos += 8;
    this.size += 8;
  }

  private i64(x: Int): void {
    this.room(8);
    this.buf.writeBigInt64LE(BigInt.asIntN(64, BigInt(x)), this.pos);
    this.pos += 8;
    this.size += 8;
  }

  private id(ms: U64, seq: U64): void {
    this.u64(ms);
    this.u64(seq);
  }

  private str(s: string): void {
    this.varint(s.length);
    if (s.length > CHUNK) {
      // A big value goes out as its own buffer rather than through a chunk.
      this.seal();
      const b = Buffer.from(s, 'latin1');
      this.crc = crc32(b, this.crc);
      this.done.push(b);
      this.size += b.length;
      return;
    }
    this.room(s.length);
    this.pos += (this.buf as Latin1Buffer).latin1Write(s, this.pos, s.length);
    this.size += s.length;
  }
}

const TYPE_OP = {
  list: Op.LIST,
  set: Op.SET,
  hash: Op.HASH,
  zset: Op.ZSET,
  string: Op.STRING,
  stream: Op.STREAM,
} as const;

/** One stored stream entry as the snapshot lists them (tombstones too); `node`: it starts a node. */
export interface StreamItem {
  node: boolean;
  ms: U64;
  seq: U64;
  dead: boolean;
  fv: string[];
}
/** One element of a collection: a list or set member, a hash pair, a sorted-set pair, a stream entry. */
export type Item = string | [string, string] | [string, number] | StreamItem;

const PADDING: Record<number, Item> = {
  [Op.LIST]: '',
  [Op.SET]: '',
  [Op.HASH]: ['', ''],
  [Op.ZSET]: ['', 0],
  [Op.STREAM]: { node: false, ms: 0, seq: 0, dead: true, fv: [] },
};

/** Number of elements of a collection (a stream's: its stored entries, tombstones included). */
export function sizeOf(v: Exclude<Value, string>): number {
  if (v instanceof Map || v instanceof Set) return v.size;
  if (v.kind === 'stream') return (v as unknown as Stream).stored;
  return v.kind === 'list' ? v.length : v.size;
}

/**
 * The elements of a collection as an iterator that stays safe while the value changes between pieces
 * (Map and Set iterators are live; lists and sorted sets are read by position, a page at a time). After a
 * change the elements read may be stale or skipped: the snapshot job re-dumps a changed key whole.
 */
export function valueItems(v: Exclude<Value, string>): Iterator<Item> {
  if (v instanceof Map) return v.entries();
  if (v instanceof Set) return v.values();
  if (v.kind === 'stream') return streamItems(v as unknown as Stream);
  const PAGE = 256;
  let next = 0;
  let page: (string | [string, number])[] = [];
  let i = 0;
  return {
    next(): IteratorResult<string | [string, number]> {
      if (i === page.length) {
        page =
          v.kind === 'list' ? (v as List).range(next, next + PAGE - 1) : (v as SortedSet).byRank(next, next + PAGE - 1);
        next += page.length;
        i = 0;
        if (page.length === 0) return { done: true, value: undefined };
      }
      return { done: false, value: page[i++] };
    },
  };
}

/** A stream's stored entries, node by node, read by position (stale after a change, never failing). */
function streamItems(s: Stream): Iterator<Item> {
  let ni = 0;
  let i = 0;
  return {
    next(): IteratorResult<Item> {
      for (;;) {
        const n = s.nodes[ni];
        if (n === undefined) return { done: true, value: undefined };
        if (i < n.size) {
          const item: StreamItem = { node: i === 0, ms: n.ms[i], seq: n.seq[i], dead: n.isDead(i), fv: n.fvAt(i) };
          i++;
          return { done: false, value: item };
        }
        ni++;
        i = 0;
      }
    },
  };
}

/** Adds stored entries read from a snapshot to `s` (see the format above). */
function readStreamEntries(r: FileReader, s: Stream, n: number): void {
  for (let k = 0; k < n; k++) {
    const flags = r.byte();
    const ms = r.u64();
    const seq = r.u64();
    const nfv = r.count();
    const fv = new Array<string>(nfv);
    for (let j = 0; j < nfv; j++) fv[j] = r.str();
    const dead = (flags & 1) !== 0;
    let node = s.nodes[s.nodes.length - 1];
    if (node === undefined || (flags & 2) !== 0) {
      const fields: string[] = [];
      for (let j = 0; j + 1 < nfv; j += 2) fields.push(fv[j]);
      // The previous node is complete: sealed, as the stream seals a node when it opens the next.
      node?.seal();
      node = new StreamNode({ ms, seq }, fields);
      s.nodes.push(node);
    }
    node.append(ms, seq, fv, dead);
    if (!dead) s.length++;
  }
}

/** A stream's first record: metadata, groups, then its first entries. */
function readStream(r: FileReader): Stream {
  const s = new Stream();
  s.lastId = r.id();
  s.firstId = r.id();
  s.maxDeletedId = r.id();
  s.entriesAdded = r.u64();
  const ngroups = r.count();
  for (let k = 0; k < ngroups; k++) {
    const name = r.str();
    const g = s.createGroup(name, r.id(), r.i64()) as ConsumerGroup;
    const npel = r.count();
    const byKey = new Map<string, Nack>();
    for (let j = 0; j < npel; j++) {
      const id = r.id();
      const key = `${id.ms}-${id.seq}`;
      const nack = new Nack(id, r.f64(), r.u64(), null);
      byKey.set(key, nack);
      g.pel.insert(nack);
    }
    const nconsumers = r.count();
    for (let j = 0; j < nconsumers; j++) {
      const c = new Consumer(r.str(), r.f64());
      g.consumers.set(c.name, c);
      const owned = r.count();
      for (let o = 0; o < owned; o++) {
        const id = r.id();
        const nack = byKey.get(`${id.ms}-${id.seq}`);
        if (nack === undefined) throw r.error('stream consumer owns an entry its group does not have', r.offset);
        nack.consumer = c;
        c.pel.insert(nack);
      }
    }
  }
  readStreamEntries(r, s, r.count());
  return s;
}

/** A snapshot file that cannot be read: names the file and the byte offset where reading stopped. */
export class SnapshotFormatError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file}: ${reason} at offset ${offset}`);
  }
}

/** What loading a snapshot did. */
export interface SnapshotLoadResult {
  keys: number;
  bytes: number;
}

/**
 * Reads a snapshot file into `dbs` (replacing keys it names, applying DELETE records), without events or
 * deadlines in the past being acted on: expiry of keys whose deadline has passed happens after loading.
 * `progress(bytesRead)` is called every few MB. Throws SnapshotFormatError on anything malformed,
 * including a missing EOF or a checksum mismatch: a snapshot is written whole and renamed into place, so a
 * damaged one is never "just truncated".
 */
export function loadSnapshotFile(
  file: string,
  dbs: Db[],
  progress: (bytes: number) => void = () => {},
): SnapshotLoadResult {
  const r = new FileReader(file);
  try {
    const magic = r.bytes(SNAPSHOT_MAGIC.length + 2);
    if ((magic as Latin1Buffer).latin1Slice(0, SNAPSHOT_MAGIC.length) !== SNAPSHOT_MAGIC)
      throw r.error('not a kvws snapshot (bad magic)', 0);
    const version = magic.readUInt16LE(SNAPSHOT_MAGIC.length);
    if (version !== SNAPSHOT_VERSION) throw r.error(`unsupported snapshot version ${version}`, SNAPSHOT_MAGIC.length);
    let db = dbs[0];
    let deadline: number | undefined;
    let keys = 0;
    let nextProgress = 8 << 20;
    for (;;) {
      const at = r.offset;
      if (at >= nextProgress) {
        progress(at);
        nextProgress = at + (8 << 20);
      }
      const op = r.byte();
      if (op === Op.EOF) {
        const expected = r.crcSoFar();
        const stored = r.bytes(4).readUInt32LE(0);
        if (stored !== expected) throw r.error('checksum mismatch', at + 1);
        if (!r.atEnd()) throw r.error('data after the end marker', r.offset);
        return { keys, bytes: r.offset };
      }
      if (op === Op.SELECT) {
        const i = r.varint();
        if (i >= dbs.length) throw r.error(`database ${i} does not exist (databases is ${dbs.length})`, at);
        db = dbs[i];
        continue;
      }
      if (op === Op.DEADLINE) {
        deadline = r.f64();
        if (!Number.isFinite(deadline)) throw r.error('bad deadline', at);
        continue;
      }
      if (op > Op.MORE && op <= Op.MORE + Op.STREAM) {
        const key = r.str();
        const v = db.dict.get(key);
        const type = op - Op.MORE;
        if (v === undefined || typeof v === 'string' || TYPE_OP[typeOf(v)] !== type)
          throw r.error(`continuation record for ${JSON.stringify(key.slice(0, 64))} without its value`, at);
        const n = r.count();
        if (type === Op.STREAM) readStreamEntries(r, v as unknown as Stream, n);
        else if (type === Op.LIST) for (let i = 0; i < n; i++) (v as List).pushTail(r.str());
        else if (type === Op.SET) for (let i = 0; i < n; i++) (v as Set<string>).add(r.str());
        else if (type === Op.HASH) for (let i = 0; i < n; i++) (v as Map<string, string>).set(r.str(), r.str());
        else
          for (let i = 0; i < n; i++) {
            const m = r.str();
            const s = r.f64();
            if (Number.isNaN(s)) throw r.error('NaN score', r.offset - 8);
            (v as SortedSet).add(m, s);
          }
        continue;
      }
      if (op === Op.DELETE) {
        const key = r.str();
        db.dict.delete(key);
        db.expires.delete(key);
        deadline = undefined;
        continue;
      }
      const key = r.str();
      let value: Value;
      switch (op) {
        case Op.STRING:
          value = r.str();
          break;
        case Op.LIST: {
          const n = r.count();
          const items = new Array<string>(n);
          for (let i = 0; i < n; i++) items[i] = r.str();
          value = List.from(items);
          break;
        }
        case Op.SET: {
          const n = r.count();
          const s = new Set<string>();
          for (let i = 0; i < n; i++) s.add(r.str());
          value = s;
          break;
        }
        case Op.HASH: {
          const n = r.count();
          const h = new Map<string, string>();
          for (let i = 0; i < n; i++) h.set(r.str(), r.str());
          value = h;
          break;
        }
        case Op.ZSET: {
          const n = r.count();
          const z = new SortedSet();
          for (let i = 0; i < n; i++) {
            const m = r.str();
            const s = r.f64();
            if (Number.isNaN(s)) throw r.error('NaN score', r.offset - 8);
            z.add(m, s);
          }
          value = z;
          break;
        }
        case Op.STREAM:
          value = readStream(r);
          break;
        default:
          throw r.error(`unknown record type 0x${op.toString(16)}`, at);
      }
      const before = db.dict.size;
      db.dict.set(key, value);
      if (db.dict.size !== before) keys++;
      if (deadline !== undefined) {
        db.expires.set(key, deadline);
        deadline = undefined;
      } else if (db.expires.size !== 0) db.expires.delete(key);
    }
  } finally {
    r.close();
  }
}

/** Sequential reads over a file through a window buffer, with the absolute offset and a running CRC-32. */
class FileReader {
  private readonly w: ReadWindow;
  /** CRC-32 of the bytes consumed and already dropped from the window. */
  private crc = 0;

  constructor(readonly file: string) {
    this.w = new ReadWindow(file, (consumed) => {
      this.crc = crc32(consumed, this.crc);
    });
  }

  get offset(): number {
    return this.w.offset;
  }

  error(reason: string, offset: number): SnapshotFormatError {
    return new SnapshotFormatError(this.file, offset, reason);
  }

  /** Makes n bytes available, or throws (truncated file). */
  private need(n: number): void {
    const w = this.w;
    if (!w.fill(n)) throw this.error('unexpected end of file (truncated snapshot)', w.base + w.end);
  }

  atEnd(): boolean {
    return !this.w.fill(1);
  }

  /** CRC of every byte read so far. */
  crcSoFar(): number {
    return crc32(this.w.buf.subarray(0, this.w.pos), this.crc) >>> 0;
  }

  byte(): number {
    const w = this.w;
    if (w.pos >= w.end) this.need(1);
    return w.buf[w.pos++];
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.w.buf.subarray(this.w.pos, this.w.pos + n);
    this.w.pos += n;
    return b;
  }

  varint(): number {
    const at = this.offset;
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
    throw this.error('bad length', at);
  }

  /** A collection size: at most what could possibly follow in a sane file (guards against huge allocations). */
  count(): number {
    const at = this.offset;
    const n = this.varint();
    if (n > 2 ** 32) throw this.error(`implausible element count ${n}`, at);
    return n;
  }

  f64(): number {
    this.need(8);
    const x = this.w.buf.readDoubleLE(this.w.pos);
    this.w.pos += 8;
    return x;
  }

  u64(): U64 {
    this.need(8);
    const b = this.w.buf;
    const lo = b.readUInt32LE(this.w.pos);
    const hi = b.readUInt32LE(this.w.pos + 4);
    this.w.pos += 8;
    return hi < 0x200000 ? hi * 0x100000000 + lo : (norm((BigInt(hi) << 32n) | BigInt(lo)) as U64);
  }

  i64(): Int {
    this.need(8);
    const x = this.w.buf.readBigInt64LE(this.w.pos);
    this.w.pos += 8;
    return norm(x);
  }

  id(): { ms: U64; seq: U64 } {
    const ms = this.u64();
    return { ms, seq: this.u64() };
  }

  str(): string {
    const w = this.w;
    let n: number;
    // Fast path: a one-byte length and the whole string already in the window (most keys and values).
    if (w.pos < w.end && w.buf[w.pos] < 0x80) {
      n = w.buf[w.pos];
      if (w.end - w.pos > n) {
        const s = (w.buf as Latin1Buffer).latin1Slice(w.pos + 1, w.pos + 1 + n);
        w.pos += 1 + n;
        return s;
      }
      w.pos++;
    } else n = this.varint();
    if (n > 2 ** 31) throw this.error(`implausible string length ${n}`, this.offset);
    if (w.end - w.pos < n) this.need(n);
    const s = (w.buf as Latin1Buffer).latin1Slice(w.pos, w.pos + n);
    w.pos += n;
    return s;
  }

  close(): void {
    this.w.close();
  }
}
