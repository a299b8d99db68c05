/**
 * The stream value (XADD, XRANGE, XREADGROUP…; Redis's t_stream.c and stream.h).
 *
 * Entries live in nodes laid out exactly as Redis lays out its listpacks: a node is opened by the entry that
 * becomes its master (its ID is the node's key, its field names the master fields) and takes entries until
 * it holds `NODE_MAX_ENTRIES` (live and deleted) or its simulated listpack size reaches `NODE_MAX_BYTES`
 * (Redis's stream-node-max-entries / stream-node-max-bytes defaults). Deleted entries stay in their node as
 * tombstones until the node has no live entry left. Keeping Redis's layout is what makes approximate
 * trimming (`MAXLEN ~`, `MINID ~`, whole nodes only), XINFO STREAM's `radix-tree-keys`/`radix-tree-nodes`
 * and the placement of later entries answer as Redis answers.
 *
 * The nodes are a sorted array (entries only ever arrive at the tail), so a seek is two binary searches:
 * O(log n). A node keeps its entries in parallel arrays and their strings in one (an entry with the master's
 * field names, its values only), so that it holds no object per entry: the garbage collector, not the
 * layout, is what an append costs most in JavaScript. Reads build each entry's [field, value, …] afresh.
 *
 * IDs are two unsigned 64-bit parts, each a `U64`: a number when it is at most 2^53 − 1 and a bigint above,
 * never both for one value, so `===` and `<` compare them exactly whatever the mix.
 *
 * Consumer groups keep Redis's structures: a group's pending entries list (PEL) and each consumer's, both
 * ordered by ID and sharing the same NACK objects.
 */

/** An unsigned 64-bit integer: a number up to Number.MAX_SAFE_INTEGER, a bigint above (never otherwise). */
export type U64 = number | bigint;
/** A signed integer in the same normalised form (counters that may go negative: lag). */
export type Int = number | bigint;

export const U64_MAX = 18446744073709551615n;
const SAFE_BIG = 9007199254740991n;
const TWO64 = 18446744073709551616n;
const INT64_MAX = 9223372036854775807n;

/** A bigint in normalised form: a number when it is a safe integer. */
export function norm(b: bigint): Int {
  return b <= SAFE_BIG && b >= -SAFE_BIG ? Number(b) : b;
}

/** a + b, exactly. */
export function intAdd(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  return norm(BigInt(a) + BigInt(b));
}

/** a − b, exactly. */
export function intSub(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (Number.isSafeInteger(r)) return r;
  }
  return norm(BigInt(a) - BigInt(b));
}

/** A stream entry ID: milliseconds and sequence, both unsigned 64-bit. */
export interface StreamID {
  readonly ms: U64;
  readonly seq: U64;
}

export const MIN_ID: StreamID = { ms: 0, seq: 0 };
export const MAX_ID: StreamID = { ms: U64_MAX, seq: U64_MAX };

/** Compares two IDs: negative, zero or positive. */
export function cmpId(a: StreamID, b: StreamID): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

function cmp4(am: U64, as: U64, bm: U64, bs: U64): number {
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

/** `ms-seq`, as Redis prints IDs. */
export function idString(id: StreamID): string {
  const ms = id.ms;
  // XADDs in the same millisecond share their `ms-` prefix: converting a 13-digit number is a runtime call.
  if (ms !== lastIdMs) {
    lastIdMs = ms;
    lastIdPrefix = `${ms}-`;
  }
  return lastIdPrefix + id.seq;
}

/** idString's cache: the last `ms` it printed and its `ms-` prefix. */
let lastIdMs: U64 = -1;
let lastIdPrefix = '-1-';

export function isZeroId(id: StreamID): boolean {
  return id.ms === 0 && id.seq === 0;
}

/** x + 1, or null when x is 2^64 − 1. */
function u64Incr(x: U64): U64 | null {
  if (typeof x === 'number') return x < Number.MAX_SAFE_INTEGER ? x + 1 : SAFE_BIG + 1n;
  return x === U64_MAX ? null : x + 1n;
}

/** x − 1 (x > 0). */
function u64Decr(x: U64): U64 {
  if (typeof x === 'number') return x - 1;
  return norm(x - 1n);
}

/** The next ID (Redis's streamIncrID), or null for the last possible ID. */
export function idIncr(id: StreamID): StreamID | null {
  const seq = u64Incr(id.seq);
  if (seq !== null) return { ms: id.ms, seq };
  const ms = u64Incr(id.ms);
  return ms === null ? null : { ms, seq: 0 };
}

/** The previous ID (Redis's streamDecrID), or null for 0-0. */
export function idDecr(id: StreamID): StreamID | null {
  if (id.seq !== 0) return { ms: id.ms, seq: u64Decr(id.seq) };
  if (id.ms === 0) return null;
  return { ms: u64Decr(id.ms), seq: U64_MAX };
}

const STRICT_INT = /^(?:0|-?[1-9][0-9]*)$/;
const C_SPACE = /^[ \t\n\v\f\r]*/;

/**
 * Redis's string2ull: string2ll's strict form first (a negative value is refused), then strtoull's
 * (leading spaces, a sign, leading zeros; a `-` negates modulo 2^64). The string ends at a NUL, as in C.
 * Returns the value, or null when Redis refuses it.
 */
export function parseU64(arg: string): U64 | null {
  const nul = arg.indexOf('\0');
  const s = nul < 0 ? arg : arg.slice(0, nul);
  if (s.length === 0) return null;
  if (s.length < 21 && STRICT_INT.test(s)) {
    if (s.charCodeAt(0) === 45) {
      // Negative: refused unless it overflows int64, when strtoull has its turn.
      if (s.length < 20 || BigInt(s) >= -INT64_MAX - 1n) return null;
    } else if (s.length < 16) return Number(s);
    else {
      const v = BigInt(s);
      if (v <= INT64_MAX) return norm(v) as U64;
    }
  }
  const rest = s.slice(C_SPACE.exec(s)?.[0].length ?? 0);
  let neg = false;
  let digits = rest;
  if (rest[0] === '+' || rest[0] === '-') {
    neg = rest[0] === '-';
    digits = rest.slice(1);
  }
  if (!/^[0-9]+$/.test(digits)) return null;
  let v = BigInt(digits);
  if (v > U64_MAX) return null;
  if (neg && v !== 0n) v = TWO64 - v;
  return norm(v) as U64;
}

/** A parsed ID argument; `seqGiven` is false for XADD's `ms-*` form. */
export interface ParsedId {
  id: StreamID;
  seqGiven: boolean;
}

/**
 * Redis's streamGenericParseIDOrReply: `ms-seq`, `ms` (sequence `missingSeq`), `-` and `+` (the smallest
 * and largest IDs, refused when `strict`), and with `allowSeqStar` the `ms-*` form. Returns null for
 * anything else (the caller answers "Invalid stream ID…").
 */
export function parseId(arg: string, missingSeq: U64, strict: boolean, allowSeqStar = false): ParsedId | null {
  if (arg.length > 127) return null;
  const nul = arg.indexOf('\0');
  const s = nul < 0 ? arg : arg.slice(0, nul);
  if (s === '-' || s === '+') {
    if (strict) return null;
    return { id: s === '-' ? MIN_ID : MAX_ID, seqGiven: true };
  }
  const dash = s.indexOf('-');
  const ms = parseU64(dash < 0 ? s : s.slice(0, dash));
  if (ms === null) return null;
  if (dash < 0) return { id: { ms, seq: missingSeq }, seqGiven: true };
  const tail = s.slice(dash + 1);
  if (allowSeqStar && tail === '*') return { id: { ms, seq: 0 }, seqGiven: false };
  const seq = parseU64(tail);
  if (seq === null) return null;
  return { id: { ms, seq }, seqGiven: true };
}

// ---------------------------------------------------------------------------------------------------------
// Node layout (Redis's listpacks, simulated for their size only).

/** Redis's stream-node-max-bytes and stream-node-max-entries defaults. */
export const NODE_MAX_BYTES = 4096;
export const NODE_MAX_ENTRIES = 100;
/** Redis's STREAM_LISTPACK_MAX_SIZE: an entry whose fields and values add up to more is refused. */
export const LISTPACK_MAX_SIZE = 1 << 30;

/** Bytes of a listpack integer element (encoding + backlen). */
function lpIntSize(v: number): number {
  if (v >= 0 && v <= 127) return 2;
  if (v >= -4096 && v <= 4095) return 3;
  if (v >= -32768 && v <= 32767) return 4;
  if (v >= -8388608 && v <= 8388607) return 5;
  if (v >= -2147483648 && v <= 2147483647) return 6;
  return 10;
}

/** Bytes of a listpack element holding `s`: as an integer when listpack would store it as one. */
function lpStrSize(s: string): number {
  const len = s.length;
  if (len > 0 && len < 21) {
    const c = s.charCodeAt(0);
    if (((c >= 48 && c <= 57) || c === 45) && STRICT_INT.test(s)) {
      if (len < 16) return lpIntSize(Number(s));
      const b = BigInt(s);
      if (b <= INT64_MAX && b >= -INT64_MAX - 1n) return lpIntSize(Number(b));
    }
  }
  const enc = len < 64 ? 1 + len : len < 4096 ? 2 + len : 5 + len;
  return enc + (enc <= 127 ? 1 : enc < 16383 ? 2 : enc < 2097151 ? 3 : enc < 268435455 ? 4 : 5);
}

/** Bytes of the listpack integer a − b (unsigned 64-bit difference read as signed, as Redis stores it). */
function lpDiffSize(a: U64, b: U64): number {
  if (typeof a === 'number' && typeof b === 'number') return lpIntSize(a - b);
  return lpIntSize(Number(BigInt.asIntN(64, BigInt(a) - BigInt(b))));
}

const FLAG_SIZE = 2; // flags 0..3 are one-byte integers

/** A node's entry IDs (ms or seq parts): a plain array while open, 64-bit floats once sealed (all safe integers). */
type IdParts = U64[] | Float64Array;

/**
 * One node (one Redis listpack): the entries from its master on, tombstones included. Each entry is its ID,
 * whether it is deleted, and its strings: as in a listpack, an entry whose field names are the master's
 * (in order) keeps its values only. No object per entry: while the node is open (the stream's last one)
 * its parallel arrays grow; when the stream opens the next node it is sealed — IDs, offsets and flags
 * into typed arrays over one buffer outside the JavaScript heap, the strings joined into one — so what
 * the garbage collector traces and copies for a full node is a handful of objects, not its entries.
 * Appending to a sealed node (its successors were all deleted) opens it again.
 */
export class StreamNode {
  ms: IdParts = [];
  seq: IdParts = [];
  /** Entry i's start among the node's strings, times 2, plus 1 when it keeps its own field names. */
  off: number[] | Int32Array = [];
  /** Entry i is a tombstone (truthy). */
  dead: boolean[] | Uint8Array = [];
  /**
   * Open: the entries' strings, one entry after another (an entry with the master's field names, its
   * values; another, its [field, value, …]). Null once sealed.
   */
  private vals: string[] | null = [];
  /** Sealed: the strings joined, and where each starts (one bound more, at the end). */
  private data = '';
  private bounds: Int32Array | null = null;
  /** Live and deleted entry counts (the master entry's `count` and `deleted`). */
  live = 0;
  deleted = 0;
  /** The simulated listpack size. */
  bytes = 0;
  /** Referenced by a clone too (COPY, a snapshot's frozen copy): copied before any change. */
  shared = false;

  constructor(
    /** The node's key: the ID of the first entry added to it. */
    readonly master: StreamID,
    readonly masterFields: string[],
  ) {
    let b = 7 + lpIntSize(1) + lpIntSize(0) + lpIntSize(masterFields.length) + lpIntSize(0);
    for (const f of masterFields) b += lpStrSize(f);
    this.bytes = b;
  }

  /** Entries stored (live and deleted). */
  get size(): number {
    return this.ms.length;
  }

  /** Whether entry i is a tombstone. */
  isDead(i: number): boolean {
    return !!this.dead[i];
  }

  /** Strings stored (values, and the field names of entries that keep theirs). */
  get stringCount(): number {
    return this.vals !== null ? this.vals.length : (this.bounds as Int32Array).length - 1;
  }

  /** String k. */
  private str(k: number): string {
    if (this.vals !== null) return this.vals[k];
    const b = this.bounds as Int32Array;
    return this.data.slice(b[k], b[k + 1]);
  }

  /**
   * For memory accounting: the node's strings as `stringBytes` counts a string of a given length, and the
   * slots that hold them (8 bytes each while open; sealed, one string and a 4-byte bound each).
   */
  stringsBytes(stringBytes: (length: number) => number): number {
    if (this.vals === null) return stringBytes(this.data.length) + 4 * this.stringCount;
    let b = 8 * this.vals.length;
    for (const v of this.vals) b += stringBytes(v.length);
    return b;
  }

  copy(): StreamNode {
    const n = new StreamNode(this.master, this.masterFields);
    n.ms = this.ms.slice();
    n.seq = this.seq.slice();
    n.off = this.off.slice();
    n.dead = this.dead.slice();
    // Sealed: the joined string and its bounds never change, so they are shared.
    n.vals = this.vals === null ? null : this.vals.slice();
    n.data = this.data;
    n.bounds = this.bounds;
    n.live = this.live;
    n.deleted = this.deleted;
    n.bytes = this.bytes;
    return n;
  }

  /** Entry i's [field, value, field, value, …]: a new array, the caller's to keep. */
  fvAt(i: number): string[] {
    const o = this.off[i];
    const from = o >> 1;
    const to = i + 1 < this.off.length ? this.off[i + 1] >> 1 : this.stringCount;
    if (o & 1) {
      if (this.vals !== null) return this.vals.slice(from, to);
      const out = new Array<string>(to - from);
      for (let j = from; j < to; j++) out[j - from] = this.str(j);
      return out;
    }
    const mf = this.masterFields;
    const out = new Array<string>(2 * (to - from));
    for (let k = 0, j = from; j < to; k += 2, j++) {
      out[k] = mf[k >> 1];
      out[k + 1] = this.str(j);
    }
    return out;
  }

  /** Appends an entry (live or, when loading a snapshot, a tombstone), keeping the simulated size. */
  append(ms: U64, seq: U64, fv: string[], dead: boolean): void {
    this.appendFrom(ms, seq, fv, 0, dead);
  }

  /** `append` for the entry whose [field, value, …] are `src` from index `from` on (XADD's argv). */
  appendFrom(ms: U64, seq: U64, src: string[], from: number, dead: boolean): void {
    if (this.vals === null) this.unseal();
    const nf = (src.length - from) >> 1;
    const mf = this.masterFields;
    let same = nf === mf.length;
    for (let i = 0; same && i < nf; i++) same = src[from + 2 * i] === mf[i];
    let b = FLAG_SIZE + lpDiffSize(ms, this.master.ms) + lpDiffSize(seq, this.master.seq);
    if (!same) b += lpIntSize(nf);
    for (let i = from; i < src.length; i += 2) {
      if (!same) b += lpStrSize(src[i]);
      b += lpStrSize(src[i + 1]);
    }
    b += lpIntSize(nf + 3 + (same ? 0 : nf + 1));
    this.bytes += b;
    const vals = this.vals as string[];
    (this.off as number[]).push(vals.length * 2 + (same ? 0 : 1));
    if (same) for (let i = from + 1; i < src.length; i += 2) vals.push(src[i]);
    else for (let i = from; i < src.length; i++) vals.push(src[i]);
    (this.ms as U64[]).push(ms);
    (this.seq as U64[]).push(seq);
    (this.dead as boolean[]).push(dead);
    if (dead) this.setCounts(this.live, this.deleted + 1);
    else this.setCounts(this.live + 1, this.deleted);
  }

  /** Marks entry i deleted (it must be live). */
  kill(i: number): void {
    if (this.dead instanceof Uint8Array) this.dead[i] = 1;
    else this.dead[i] = true;
    this.setCounts(this.live - 1, this.deleted + 1);
  }

  /**
   * Seals the node (see the class comment): it takes no more entries without being opened again. IDs with
   * a part above 2^53 − 1 (bigints) stay in plain arrays.
   */
  seal(): void {
    const vals = this.vals;
    if (vals === null) return;
    const n = this.ms.length;
    const bounds = new Int32Array(vals.length + 1);
    let at = 0;
    for (let k = 0; k < vals.length; k++) {
      bounds[k] = at;
      at += vals[k].length;
    }
    bounds[vals.length] = at;
    this.data = vals.join('');
    this.bounds = bounds;
    this.vals = null;
    // One buffer for the four arrays: ms and seq (8 bytes each), offsets (4) and flags (1) per entry.
    const buf = new ArrayBuffer(21 * n);
    const ms = this.ms as U64[];
    const seq = this.seq as U64[];
    let numbers = true;
    for (let i = 0; numbers && i < n; i++) numbers = typeof ms[i] === 'number' && typeof seq[i] === 'number';
    if (numbers) {
      this.ms = new Float64Array(buf, 0, n);
      this.ms.set(ms as number[]);
      this.seq = new Float64Array(buf, 8 * n, n);
      this.seq.set(seq as number[]);
    }
    const off = new Int32Array(buf, 16 * n, n);
    off.set(this.off);
    this.off = off;
    const dead = new Uint8Array(buf, 20 * n, n);
    for (let i = 0; i < n; i++) if (this.dead[i]) dead[i] = 1;
    this.dead = dead;
  }

  /** Opens a sealed node again: plain arrays, to append to. */
  private unseal(): void {
    const n = this.ms.length;
    const vals: string[] = new Array(this.stringCount);
    for (let k = 0; k < vals.length; k++) vals[k] = this.str(k);
    this.ms = Array.from(this.ms);
    this.seq = Array.from(this.seq);
    this.off = Array.from(this.off);
    const dead: boolean[] = new Array(n);
    for (let i = 0; i < n; i++) dead[i] = !!this.dead[i];
    this.dead = dead;
    this.vals = vals;
    this.data = '';
    this.bounds = null;
  }

  /** Updates the master entry's counters, and the size when their encodings change. */
  setCounts(live: number, deleted: number): void {
    this.bytes += lpIntSize(live) - lpIntSize(this.live) + lpIntSize(deleted) - lpIntSize(this.deleted);
    this.live = live;
    this.deleted = deleted;
  }

  /** Index of the first entry with ID ≥ (ms, seq); size when none. */
  lowerBound(ms: U64, seq: U64): number {
    let lo = 0;
    let hi = this.ms.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp4(this.ms[mid], this.seq[mid], ms, seq) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  idAt(i: number): StreamID {
    return { ms: this.ms[i], seq: this.seq[i] };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Consumer groups.

/**
 * A pending entry (Redis's streamNACK): delivered to `consumer`, not yet acknowledged. It is its own entry
 * ID (`ms`, `seq`; `id` is itself), so that a PEL holds one object per entry.
 */
export class Nack implements StreamID {
  readonly ms: U64;
  readonly seq: U64;

  constructor(
    id: StreamID,
    public deliveryTime: number,
    public deliveryCount: Int,
    public consumer: Consumer | null,
  ) {
    this.ms = id.ms;
    this.seq = id.seq;
  }

  /** The entry's ID. */
  get id(): StreamID {
    return this;
  }

  /** The ID as `ms-seq`. */
  get key(): string {
    return `${this.ms}-${this.seq}`;
  }
}

const PEL_CHUNK = 128;

/**
 * A pending entries list: NACKs by ID, ordered (Redis's PEL rax), as sorted chunks of at most PEL_CHUNK.
 * Point lookups are two binary searches, O(log n); appends at the high end (the usual XREADGROUP case) are
 * O(1), other inserts and removals O(log n + chunk). No dictionary: a big one costs more to grow and to
 * collect than the searches it saves.
 */
export class PendingList {
  private chunks: Nack[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The NACK of the entry `key` (`ms-seq`, as idString writes it). */
  get(key: string): Nack | undefined {
    const p = parseId(key, 0, true);
    return p === null ? undefined : this.find(p.id);
  }

  /** The NACK of the entry `id`. */
  find(id: StreamID): Nack | undefined {
    const ci = this.chunkFor(id);
    if (ci === this.chunks.length) return undefined;
    const c = this.chunks[ci];
    const n = c[lowerNack(c, id)];
    return n !== undefined && cmpId(n.id, id) === 0 ? n : undefined;
  }

  /** Adds `n`; false (nothing done) when its ID is already there. */
  insert(n: Nack): boolean {
    const chunks = this.chunks;
    const tail = chunks.length === 0 ? undefined : chunks[chunks.length - 1];
    if (tail === undefined || cmpId(tail[tail.length - 1].id, n.id) < 0) {
      // Above every ID here (XREADGROUP's usual case): an append. A full last chunk starts a new one.
      if (tail === undefined || tail.length >= PEL_CHUNK) chunks.push([n]);
      else tail.push(n);
      this.count++;
      return true;
    }
    const ci = this.chunkFor(n.id);
    const c = chunks[ci];
    const at = lowerNack(c, n.id);
    if (at < c.length && cmpId(c[at].id, n.id) === 0) return false;
    c.splice(at, 0, n);
    this.count++;
    if (c.length > PEL_CHUNK) chunks.splice(ci + 1, 0, c.splice(c.length >> 1));
    return true;
  }

  /** Removes the NACK with `n`'s ID; false when there was none. */
  remove(n: Nack): boolean {
    const ci = this.chunkFor(n.id);
    if (ci === this.chunks.length) return false;
    const c = this.chunks[ci];
    const at = lowerNack(c, n.id);
    if (at === c.length || cmpId(c[at].id, n.id) !== 0) return false;
    c.splice(at, 1);
    if (c.length === 0) this.chunks.splice(ci, 1);
    this.count--;
    return true;
  }

  first(): Nack | undefined {
    return this.chunks[0]?.[0];
  }

  last(): Nack | undefined {
    const c = this.chunks[this.chunks.length - 1];
    return c?.[c.length - 1];
  }

  /** The NACK with the smallest ID ≥ `id`, if any. */
  ceiling(id: StreamID): Nack | undefined {
    const ci = this.chunkFor(id);
    if (ci === this.chunks.length) return undefined;
    const c = this.chunks[ci];
    return c[lowerNack(c, id)];
  }

  /** Calls `fn` for each NACK with ID ≥ `from`, in order, until it returns false. No changes meanwhile. */
  forEachFrom(from: StreamID, fn: (n: Nack) => boolean): void {
    let ci = this.chunkFor(from);
    if (ci === this.chunks.length) return;
    let i = lowerNack(this.chunks[ci], from);
    for (; ci < this.chunks.length; ci++, i = 0) {
      const c = this.chunks[ci];
      for (; i < c.length; i++) if (!fn(c[i])) return;
    }
  }

  *[Symbol.iterator](): IterableIterator<Nack> {
    for (const c of this.chunks) yield* c;
  }

  /** Index of the first chunk whose last ID ≥ id (chunks.length when none). */
  private chunkFor(id: StreamID): number {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = chunks[mid];
      if (cmpId(c[c.length - 1].id, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function lowerNack(c: Nack[], id: StreamID): number {
  let lo = 0;
  let hi = c.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmpId(c[mid].id, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A consumer of a group (Redis's streamConsumer). */
export class Consumer {
  readonly pel = new PendingList();
  constructor(
    readonly name: string,
    /** Unix ms of its last interaction (XINFO's seen-time / idle). */
    public seenTime: number,
  ) {}
}

/** Redis's SCG_INVALID_ENTRIES_READ: the group's read counter is unknown. */
export const ENTRIES_READ_INVALID = -1;

/** A consumer group (Redis's streamCG). */
export class ConsumerGroup {
  readonly pel = new PendingList();
  readonly consumers = new Map<string, Consumer>();
  constructor(
    readonly name: string,
    public lastId: StreamID,
    /** Logical reads counter, or ENTRIES_READ_INVALID. */
    public entriesRead: Int,
  ) {}

  /** The consumer `name`, its seen-time set to `now` unless `now` is null (Redis's streamLookupConsumer). */
  lookupConsumer(name: string, now: number | null): Consumer | undefined {
    const c = this.consumers.get(name);
    if (c !== undefined && now !== null) c.seenTime = now;
    return c;
  }

  /** Creates consumer `name`; undefined when it exists (Redis's streamCreateConsumer). */
  createConsumer(name: string, now: number): Consumer | undefined {
    if (this.consumers.has(name)) return undefined;
    const c = new Consumer(name, now);
    this.consumers.set(name, c);
    return c;
  }

  /** Deletes a consumer and its pending entries from the group's PEL (Redis's streamDelConsumer). */
  deleteConsumer(c: Consumer): void {
    for (const n of c.pel) this.pel.remove(n);
    this.consumers.delete(c.name);
  }

  /** Names in Redis's order (its rax: byte order). */
  sortedConsumers(): Consumer[] {
    return [...this.consumers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

// ---------------------------------------------------------------------------------------------------------
// The stream.

/** XADD/XTRIM trimming (Redis's streamAddTrimArgs, the trimming part). */
export interface TrimArgs {
  strategy: 'maxlen' | 'minid';
  maxlen: number;
  minid: StreamID;
  /** Only whole nodes (`~`). */
  approx: boolean;
  /** Most entries to delete; 0 = no limit. */
  limit: number;
}

export class Stream {
  readonly kind = 'stream' as const;
  /** Nodes in ID order; the last one takes new entries. */
  nodes: StreamNode[] = [];
  /** Live entries. */
  length = 0;
  /** The last ID ever added (or set by XSETID). */
  lastId: StreamID = MIN_ID;
  /** The first live entry's ID when the stream last changed at its head (XINFO's recorded-first-entry-id). */
  firstId: StreamID = MIN_ID;
  /** The highest ID ever deleted by XDEL. */
  maxDeletedId: StreamID = MIN_ID;
  /** Entries ever added (or set by XSETID). */
  entriesAdded: Int = 0;
  /** Consumer groups by name; null until the first is created. */
  groups: Map<string, ConsumerGroup> | null = null;
  /**
   * Bumped where Redis signals the key to its blocked readers (XADD, XGROUP DESTROY): a blocked XREAD looks
   * at the stream again only then (see commands/stream.ts).
   */
  readySeq = 0;

  /** Live entries (alias of length, for the generic collection code). */
  get size(): number {
    return this.length;
  }

  /** Entries stored: live ones and tombstones. */
  get stored(): number {
    let n = 0;
    for (const node of this.nodes) n += node.size;
    return n;
  }

  /**
   * A copy sharing the nodes (each side copies a node before changing it) and deep-copying the groups:
   * O(nodes + pending entries).
   */
  clone(): Stream {
    const s = new Stream();
    for (const n of this.nodes) n.shared = true;
    s.nodes = this.nodes.slice();
    s.length = this.length;
    s.lastId = this.lastId;
    s.firstId = this.firstId;
    s.maxDeletedId = this.maxDeletedId;
    s.entriesAdded = this.entriesAdded;
    if (this.groups !== null) {
      s.groups = new Map();
      for (const g of this.groups.values()) {
        const copy = new ConsumerGroup(g.name, g.lastId, g.entriesRead);
        const consumers = new Map<Consumer, Consumer>();
        for (const c of g.consumers.values()) {
          const cc = new Consumer(c.name, c.seenTime);
          consumers.set(c, cc);
          copy.consumers.set(c.name, cc);
        }
        for (const n of g.pel) {
          const owner = n.consumer === null ? null : (consumers.get(n.consumer) ?? null);
          const nn = new Nack(n.id, n.deliveryTime, n.deliveryCount, owner);
          copy.pel.insert(nn);
          owner?.pel.insert(nn);
        }
        s.groups.set(g.name, copy);
      }
    }
    return s;
  }

  /** Node `i`, copied first when shared with a clone. */
  private writable(i: number): StreamNode {
    const n = this.nodes[i];
    if (!n.shared) return n;
    const c = n.copy();
    this.nodes[i] = c;
    return c;
  }

  /**
   * The ID XADD would give an entry (Redis's streamAppendItem, its ID part): `given` with `seqGiven`, or
   * `given.ms` with the next sequence (`ms-*`), or from the clock `nowMs` (`*`). Returns 'edom' when it is
   * not above the last ID and 'erange' for `ms-*` when the sequence is exhausted (Redis then answers
   * "Elements are too large", errno left over).
   */
  nextId(given: StreamID | null, seqGiven: boolean, nowMs: number): StreamID | 'edom' | 'erange' {
    const last = this.lastId;
    let id: StreamID;
    if (given !== null) {
      if (seqGiven) id = given;
      else if (last.ms === given.ms) {
        if (last.seq === U64_MAX) return 'erange';
        id = { ms: last.ms, seq: u64Incr(last.seq) as U64 };
      } else id = given;
    } else if (nowMs > last.ms) id = { ms: nowMs, seq: 0 };
    else id = idIncr(last) ?? MIN_ID;
    return cmpId(id, last) <= 0 ? 'edom' : id;
  }

  /**
   * Appends an entry, its [field, value, …] being `src` from index `from` on (default: all of it); `id`
   * must be above lastId (see nextId).
   */
  add(id: StreamID, src: string[], from = 0): void {
    const nodes = this.nodes;
    let tail = nodes.length === 0 ? -1 : nodes.length - 1;
    if (tail >= 0) {
      const t = nodes[tail];
      let totelelen = 0;
      for (let i = from; i < src.length; i++) totelelen += src[i].length;
      if (t.bytes + totelelen >= NODE_MAX_BYTES || t.live + t.deleted >= NODE_MAX_ENTRIES) tail = -1;
    }
    let node: StreamNode;
    if (tail < 0) {
      const fields = new Array<string>((src.length - from) >> 1);
      for (let i = 0; i < fields.length; i++) fields[i] = src[from + 2 * i];
      // The last node takes no more entries: sealed (a shared one is left as it is).
      const last = nodes.length === 0 ? undefined : nodes[nodes.length - 1];
      if (last !== undefined && !last.shared) last.seal();
      node = new StreamNode(id, fields);
      nodes.push(node);
    } else node = this.writable(tail);
    node.appendFrom(id.ms, id.seq, src, from, false);
    this.length++;
    this.entriesAdded = intAdd(this.entriesAdded, 1);
    this.lastId = id;
    if (this.length === 1) this.firstId = id;
  }

  /** Index of the last node whose master ≤ (ms, seq); -1 when none. */
  private nodeFor(ms: U64, seq: U64): number {
    const nodes = this.nodes;
    let lo = 0;
    let hi = nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = nodes[mid].master;
      if (cmp4(m.ms, m.seq, ms, seq) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Where a live entry with exactly `id` is: [node index, entry index], or null. */
  private locate(id: StreamID): [number, number] | null {
    const ni = this.nodeFor(id.ms, id.seq);
    if (ni < 0) return null;
    const n = this.nodes[ni];
    const i = n.lowerBound(id.ms, id.seq);
    if (i === n.size || n.dead[i] || n.ms[i] !== id.ms || n.seq[i] !== id.seq) return null;
    return [ni, i];
  }

  /** The fields and values of the live entry `id`, or undefined. */
  get(id: StreamID): string[] | undefined {
    const at = this.locate(id);
    return at === null ? undefined : this.nodes[at[0]].fvAt(at[1]);
  }

  /** Deletes the live entry `id` (Redis's streamDeleteItem). Returns whether there was one. */
  delete(id: StreamID): boolean {
    const at = this.locate(id);
    if (at === null) return false;
    const [ni, i] = at;
    if (this.nodes[ni].live === 1) this.nodes.splice(ni, 1);
    else this.writable(ni).kill(i);
    this.length--;
    return true;
  }

  /**
   * Calls `visit` with each live entry whose ID is in [start, end] (its fields and values in a new array),
   * ascending (descending with `rev`), until it returns false. The stream must not change meanwhile.
   */
  scan(
    start: StreamID,
    end: StreamID,
    rev: boolean,
    visit: (ms: U64, seq: U64, fv: string[]) => boolean | undefined,
  ): void {
    if (cmpId(start, end) > 0) return;
    const nodes = this.nodes;
    if (!rev) {
      let ni = this.nodeFor(start.ms, start.seq);
      let i = 0;
      if (ni < 0) ni = 0;
      else i = nodes[ni].lowerBound(start.ms, start.seq);
      for (; ni < nodes.length; ni++, i = 0) {
        const n = nodes[ni];
        if (n.live === 0) continue;
        const { ms, seq, dead } = n;
        for (; i < ms.length; i++) {
          if (dead[i]) continue;
          if (cmp4(ms[i], seq[i], end.ms, end.seq) > 0) return;
          if (visit(ms[i], seq[i], n.fvAt(i)) === false) return;
        }
      }
    } else {
      let ni = this.nodeFor(end.ms, end.seq);
      if (ni < 0) return;
      let i = nodes[ni].lowerBound(end.ms, end.seq);
      const first = nodes[ni];
      if (i === first.size || cmp4(first.ms[i], first.seq[i], end.ms, end.seq) > 0) i--;
      for (; ni >= 0; ni--, i = ni >= 0 ? nodes[ni].size - 1 : 0) {
        const n = nodes[ni];
        if (n.live === 0) continue;
        const { ms, seq, dead } = n;
        for (; i >= 0; i--) {
          if (dead[i]) continue;
          if (cmp4(ms[i], seq[i], start.ms, start.seq) < 0) return;
          if (visit(ms[i], seq[i], n.fvAt(i)) === false) return;
        }
      }
    }
  }

  /** The first (or last) entry's ID: live only with `skipTombstones`; null when there is none. */
  edgeId(first: boolean, skipTombstones: boolean): StreamID | null {
    const nodes = this.nodes;
    if (first) {
      for (const n of nodes) {
        for (let i = 0; i < n.size; i++) if (!skipTombstones || !n.dead[i]) return n.idAt(i);
      }
    } else {
      for (let ni = nodes.length - 1; ni >= 0; ni--) {
        const n = nodes[ni];
        for (let i = n.size - 1; i >= 0; i--) if (!skipTombstones || !n.dead[i]) return n.idAt(i);
      }
    }
    return null;
  }

  /** The last live entry's ID (Redis's streamLastValidID), or null when empty. */
  lastValidId(): StreamID | null {
    return this.length === 0 ? null : this.edgeId(false, true);
  }

  /**
   * Trims from the head (Redis's streamTrim): whole nodes while they can go, then (unless approximate)
   * tombstones inside the next node. Returns the number of entries deleted.
   */
  trim(args: TrimArgs): number {
    const { strategy, maxlen, minid, approx, limit } = args;
    let deleted = 0;
    while (this.nodes.length !== 0) {
      if (strategy === 'maxlen' && this.length <= maxlen) break;
      const node = this.nodes[0];
      const entries = node.live;
      if (limit && deleted + entries > limit) break;
      const removeNode =
        strategy === 'maxlen'
          ? this.length - entries >= maxlen
          : cmp4(node.ms[node.size - 1], node.seq[node.size - 1], minid.ms, minid.seq) < 0;
      if (removeNode) {
        this.nodes.shift();
        this.length -= entries;
        deleted += entries;
        continue;
      }
      if (approx) break;
      const n = this.writable(0);
      for (let i = 0; i < n.size; i++) {
        const stop = strategy === 'maxlen' ? this.length <= maxlen : cmp4(n.ms[i], n.seq[i], minid.ms, minid.seq) >= 0;
        if (stop) break;
        if (!n.dead[i]) {
          n.kill(i);
          this.length--;
          deleted++;
        }
      }
      break;
    }
    if (this.length === 0) this.firstId = MIN_ID;
    else if (deleted) this.firstId = this.edgeId(true, true) ?? MIN_ID;
    return deleted;
  }

  /** Redis's streamRangeHasTombstones: whether a deleted ID may lie in [start, end] (null = open). */
  rangeHasTombstones(start: StreamID | null, end: StreamID | null): boolean {
    if (this.length === 0 || isZeroId(this.maxDeletedId)) return false;
    if (cmpId(this.firstId, this.maxDeletedId) > 0) return false;
    const s = start ?? MIN_ID;
    const e = end ?? MAX_ID;
    return cmpId(s, this.maxDeletedId) <= 0 && cmpId(this.maxDeletedId, e) <= 0;
  }

  /**
   * Redis's streamEstimateDistanceFromFirstEverEntry: the logical read counter of `id`, or
   * ENTRIES_READ_INVALID when it cannot be known.
   */
  estimateDistance(id: StreamID): Int {
    if (this.entriesAdded === 0) return 0;
    if (this.length === 0 && cmpId(id, this.lastId) < 1) return this.entriesAdded;
    const cmpLast = cmpId(id, this.lastId);
    if (cmpLast === 0) return this.entriesAdded;
    if (cmpLast > 0) return ENTRIES_READ_INVALID;
    const cmpFirst = cmpId(id, this.firstId);
    if (isZeroId(this.maxDeletedId) || cmpId(this.maxDeletedId, this.firstId) < 0) {
      if (cmpFirst < 0) return intSub(this.entriesAdded, this.length);
      if (cmpFirst === 0) return intAdd(intSub(this.entriesAdded, this.length), 1);
    }
    return ENTRIES_READ_INVALID;
  }

  /** A group's lag (Redis's streamReplyWithCGLag): entries not yet delivered, or null when unknown. */
  lag(g: ConsumerGroup): Int | null {
    if (this.entriesAdded === 0) return 0;
    if (g.entriesRead !== ENTRIES_READ_INVALID && !this.rangeHasTombstones(g.lastId, null)) {
      return intSub(this.entriesAdded, g.entriesRead);
    }
    const read = this.estimateDistance(g.lastId);
    return read === ENTRIES_READ_INVALID ? null : intSub(this.entriesAdded, read);
  }

  /** Advances a group past the delivered entry `id` (the read-counter bookkeeping of streamReplyWithRange). */
  advanceGroup(g: ConsumerGroup, id: StreamID): void {
    if (g.entriesRead !== ENTRIES_READ_INVALID && !this.rangeHasTombstones(id, null)) {
      g.entriesRead = intAdd(g.entriesRead, 1);
    } else if (this.entriesAdded !== 0) {
      g.entriesRead = this.estimateDistance(id);
    }
    g.lastId = id;
  }

  /** Creates a group; undefined when the name is taken (Redis's streamCreateCG). */
  createGroup(name: string, lastId: StreamID, entriesRead: Int): ConsumerGroup | undefined {
    if (this.groups === null) this.groups = new Map();
    if (this.groups.has(name)) return undefined;
    const g = new ConsumerGroup(name, lastId, entriesRead);
    this.groups.set(name, g);
    return g;
  }

  /** Groups in Redis's order (byte order of their names). */
  sortedGroups(): ConsumerGroup[] {
    if (this.groups === null) return [];
    return [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Redis's rax->numnodes for the node keys (XINFO STREAM radix-tree-nodes): the nodes of a compressed
   * radix tree over the 16-byte big-endian master IDs. O(nodes).
   */
  radixTreeNodes(): number {
    const keys = this.nodes.map((n) => n.master);
    interface V {
      depth: number;
      children: V[];
    }
    const root: V = { depth: 0, children: [] };
    const stack: V[] = [root];
    for (let i = 0; i < keys.length; i++) {
      const l = i === 0 ? 0 : commonPrefixBytes(keys[i - 1], keys[i]);
      let last: V | null = null;
      while (stack[stack.length - 1].depth > l) last = stack.pop() as V;
      const top = stack[stack.length - 1];
      if (top.depth < l && last !== null) {
        const mid: V = { depth: l, children: [last] };
        top.children[top.children.indexOf(last)] = mid;
        stack.push(mid);
      }
      const leaf: V = { depth: 16, children: [] };
      stack[stack.length - 1].children.push(leaf);
      stack.push(leaf);
    }
    let count = 1;
    const walk = (v: V): void => {
      for (const c of v.children) {
        count++;
        if (v.children.length > 1 && c.depth - v.depth >= 2) count++;
        walk(c);
      }
    };
    walk(root);
    return count;
  }
}

/** Leading bytes two IDs share as 16-byte big-endian keys. */
function commonPrefixBytes(a: StreamID, b: StreamID): number {
  if (a.ms !== b.ms) return 8 - byteLength(BigInt(a.ms) ^ BigInt(b.ms));
  if (a.seq !== b.seq) return 16 - byteLength(BigInt(a.seq) ^ BigInt(b.seq));
  return 16;
}

function byteLength(x: bigint): number {
  return Math.ceil(x.toString(2).length / 8);
}
