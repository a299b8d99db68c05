import { Buffer, constants } from 'node:buffer';
import { formatDouble } from '../commands/args.js';
import {
  BooleanReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  MultiReply,
  NullArray,
  PushReply,
  type Reply,
  SetReply,
  SimpleString,
  VerbatimReply,
} from './reply.js';

/**
 * RESP codec: the request parser (Redis's processMultibulkBuffer / processInlineBuffer, byte for byte in
 * what it accepts and the errors it gives) and the reply encoder (typed Reply → RESP2 or RESP3 bytes).
 *
 * All strings are binary strings: one char per byte (latin1). Nothing here decodes or encodes UTF-8.
 */

/** Node's undocumented but stable fast paths (no argument normalisation). */
/** Node's undocumented fast latin1 codecs (one char per byte), typed. */
export interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0) as Latin1Buffer;

/** Redis's PROTO_INLINE_MAX_SIZE: longest inline line, or unterminated `*`/`$` count line, kept waiting. */
export const PROTO_INLINE_MAX_SIZE = 64 * 1024;
/** Redis's PROTO_MBULK_BIG_ARG: bulk arguments at least this long are collected chunk by chunk. */
export const PROTO_MBULK_BIG_ARG = 32 * 1024;
/** Redis's default proto-max-bulk-len. */
export const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;
const INT_MAX = 2147483647;
/** Largest argument a JS string can hold (2^29 - 24 on 64-bit V8), just under the 512 MiB default. */
const MAX_STRING_LENGTH = constants.MAX_STRING_LENGTH;

// ---------------------------------------------------------------------------------------------------
// Request parser
// ---------------------------------------------------------------------------------------------------

/**
 * A protocol violation. `message` is the exact error reply Redis sends (`ERR Protocol error: …`);
 * `reason` is Redis's short log reason. After it the parser is dead and the connection must be closed
 * once the error reply is written.
 */
export class RespProtocolError {
  constructor(
    readonly message: string,
    readonly reason: string,
  ) {}
}

export interface RespParserOptions {
  /** proto-max-bulk-len: longest bulk argument accepted (bytes). Default 512 MiB, capped at MAX_STRING_LENGTH. */
  maxBulkLen?: number;
  /** Largest `*N` count accepted. Default 2147483647 (Redis rejects counts above INT_MAX). */
  maxMultibulkLen?: number;
  /** Longest line kept while waiting for its terminator (inline requests, `*`/`$` count lines). Default 64 KiB. */
  maxInlineLen?: number;
  /**
   * Apply Redis's limits for clients that still have to authenticate: `*N` with N > 10 and `$N` with
   * N > 16384 are protocol errors. Default false. Also settable per command through the public field.
   */
  unauthenticatedLimits?: boolean;
}

/** Marker returned by readInline for an empty line (nothing to run). */
const SKIP: string[] = [];
/** RespParser.argv between commands (never written: each `*N` with N > 0 gives it a new array). */
const NO_ARGV: string[] = [];

/**
 * Incremental RESP request parser.
 *
 * Contract: `feed(chunk)` appends bytes (the parser keeps a reference to `chunk` and never writes into it,
 * so the caller must not reuse it). `next()` returns the next complete command (argv of binary strings),
 * `null` when more bytes are needed, or a RespProtocolError once; after an error it returns `null` forever
 * and ignores fed bytes. Callers may stop calling `next()` (e.g. while a blocking command waits) and keep
 * feeding; nothing is parsed ahead. Memory grows only with bytes actually received, never with declared
 * lengths: `$536870912` allocates nothing until the data arrives.
 */
export class RespParser {
  /** proto-max-bulk-len in effect; may be changed between `next()` calls. */
  maxBulkLen: number;
  maxMultibulkLen: number;
  maxInlineLen: number;
  /** See RespParserOptions.unauthenticatedLimits; may be changed between `next()` calls. */
  unauthenticatedLimits: boolean;

  /** Unconsumed bytes are buf[pos, end). When `owned`, buf is ours and buf[end..] is free space. */
  private buf: Latin1Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  private owned = false;
  /** Arguments still to read for the current multibulk command (Redis's multibulklen); 0 = between commands. */
  private multibulkLen = 0;
  /** Length of the bulk being read, -1 when its `$` line is still to come (Redis's bulklen). */
  private bulkLen = -1;
  private argv: string[] = NO_ARGV;
  /** Arguments of the current command read so far (argv[0, argc)). */
  private argc = 0;
  /**
   * This connection's recently seen short arguments (command names, options, hot keys), so that a repeated
   * one costs a hash and a compare instead of a new string. Per parser, never shared between connections:
   * a hit is faster than a miss, and a client must not be able to time what others send. Made on first use,
   * dropped by dropArgCache (idle connections). About 1.5 KiB, plus the strings it holds.
   */
  private interned: ArgCache | null = null;
  /** Big-argument mode: chunks holding the current bulk (and what follows it), and their total size. */
  private big: Buffer[] | null = null;
  private bigLen = 0;
  private failed = false;

  constructor(options: RespParserOptions = {}) {
    this.maxBulkLen = options.maxBulkLen ?? PROTO_MAX_BULK_LEN;
    this.maxMultibulkLen = options.maxMultibulkLen ?? INT_MAX;
    this.maxInlineLen = options.maxInlineLen ?? PROTO_INLINE_MAX_SIZE;
    this.unauthenticatedLimits = options.unauthenticatedLimits ?? false;
  }

  /** Bytes received but not yet returned as commands (Redis's query buffer length, `qbuf`). */
  get bufferedBytes(): number {
    return this.end - this.pos + this.bigLen;
  }

  /** Forgets the cache of recent arguments (an idle connection keeps no memory for it); it comes back on use. */
  dropArgCache(): void {
    this.interned = null;
  }

  /** Appends received bytes. Never parses; never throws. */
  feed(chunk: Buffer): void {
    const n = chunk.length;
    if (this.failed || n === 0) return;
    if (this.big !== null) {
      this.big.push(chunk);
      this.bigLen += n;
      return;
    }
    const rem = this.end - this.pos;
    if (rem === 0) {
      // Common case: everything before was consumed; parse straight from the caller's chunk.
      this.buf = chunk as Latin1Buffer;
      this.pos = 0;
      this.end = n;
      this.owned = false;
      return;
    }
    if (this.owned) {
      if (this.buf.length - this.end >= n) {
        chunk.copy(this.buf, this.end);
        this.end += n;
        return;
      }
      if (rem + n <= this.buf.length) {
        this.buf.copyWithin(0, this.pos, this.end);
        chunk.copy(this.buf, rem);
        this.pos = 0;
        this.end = rem + n;
        return;
      }
    }
    const need = rem + n;
    const store = Buffer.allocUnsafe(Math.max(16 * 1024, need + (need >>> 1))) as Latin1Buffer;
    this.buf.copy(store, 0, this.pos, this.end);
    chunk.copy(store, rem);
    this.buf = store;
    this.pos = 0;
    this.end = need;
    this.owned = true;
  }

  /** Next complete command, `null` if more bytes are needed, or the protocol error (once). */
  next(): string[] | RespProtocolError | null {
    if (this.failed) return null;
    if (this.big !== null) {
      if (!this.finishBig()) return null;
      if (this.multibulkLen === 0) return this.complete();
    }
    for (;;) {
      if (this.multibulkLen === 0) {
        if (this.pos >= this.end) {
          this.release();
          return null;
        }
        if (this.buf[this.pos] !== 42 /* '*' */) {
          const r = this.readInline();
          if (r === SKIP) continue;
          return r;
        }
        const r = this.readMultibulkCount();
        if (r !== undefined) return r;
        if (this.multibulkLen === 0) continue; // `*0`, `*-1`: nothing to run
      }
      const buf = this.buf;
      while (this.multibulkLen > 0) {
        if (this.bulkLen < 0) {
          const start = this.pos;
          const end = this.end;
          if (start >= end) return null;
          // Fast path, the usual `$<1 to 5 digits, no leading zero>\r\n` with its LF there: what the general
          // path below would find (the CR after the digits is the first one), in one pass.
          let n = -1;
          let cr = -1;
          if (buf[start] === 36 /* '$' */ && start + 3 < end) {
            let c = buf[start + 1];
            if (c >= 49 && c <= 57) {
              n = c - 48;
              let i = start + 2;
              const stop = Math.min(start + 6, end);
              for (; i < stop; i++) {
                c = buf[i];
                if (c < 48 || c > 57) break;
                n = n * 10 + (c - 48);
              }
              if (c === CR && i + 1 < end) cr = i;
            }
          }
          if (cr < 0) {
            cr = findByte(buf, CR, start, end);
            if (cr < 0) {
              if (end - start > this.maxInlineLen)
                return this.fail('too big bulk count string', 'too big bulk count string');
              return null;
            }
            if (cr + 1 >= end) return null; // the LF must be there too
            if (buf[start] !== 36 /* '$' */) {
              const got = buf[start] === CR || buf[start] === LF ? ' ' : String.fromCharCode(buf[start]);
              return this.fail(`expected '$', got '${got}'`, 'expected $ but got something else');
            }
            n = parseLongLong(buf, start + 1, cr);
          }
          if (!(n >= 0) || n > this.maxBulkLen || n > MAX_STRING_LENGTH) {
            return this.fail('invalid bulk length', 'invalid bulk length');
          }
          if (n > 16384 && this.unauthenticatedLimits) {
            return this.fail('unauthenticated bulk length', 'unauth bulk length');
          }
          this.pos = cr + 2;
          this.bulkLen = n;
          if (n >= PROTO_MBULK_BIG_ARG && end - this.pos < n + 2) {
            this.enterBig();
            return null;
          }
        }
        const p = this.pos;
        const n = this.bulkLen;
        if (this.end - p < n + 2) return null;
        // Like Redis, the two bytes after the data are skipped without checking they are CRLF.
        this.argv[this.argc++] =
          n === 0 ? '' : n <= INTERN_MAX_LEN ? this.shortArg(buf, p, n) : buf.latin1Slice(p, p + n);
        this.pos = p + n + 2;
        this.bulkLen = -1;
        this.multibulkLen--;
      }
      return this.complete();
    }
  }

  /** Reads `*N\r\n`. Returns undefined when done (multibulkLen set, 0 for N ≤ 0), else null or an error. */
  private readMultibulkCount(): RespProtocolError | null | undefined {
    const buf = this.buf;
    const start = this.pos;
    const end = this.end;
    let n = -1;
    let cr = -1;
    // Fast path: `*<1 or 2 digits, no leading zero>\r\n` (buf[start] is '*'), as in next().
    if (start + 3 < end) {
      let c = buf[start + 1];
      if (c >= 49 && c <= 57) {
        n = c - 48;
        c = buf[start + 2];
        let i = start + 2;
        if (c >= 48 && c <= 57) {
          n = n * 10 + (c - 48);
          c = buf[++i];
        }
        if (c === CR && i + 1 < end) cr = i;
      }
    }
    if (cr < 0) {
      cr = findByte(buf, CR, start, end);
      if (cr < 0) {
        if (end - start > this.maxInlineLen)
          return this.fail('too big mbulk count string', 'too big mbulk count string');
        return null;
      }
      if (cr + 1 >= end) return null;
      n = parseLongLong(buf, start + 1, cr);
    }
    if (Number.isNaN(n) || n > INT_MAX || n > this.maxMultibulkLen) {
      return this.fail('invalid multibulk length', 'invalid mbulk count');
    }
    if (n > 10 && this.unauthenticatedLimits) {
      return this.fail('unauthenticated multibulk length', 'unauth mbulk count');
    }
    this.pos = cr + 2;
    this.multibulkLen = Math.max(n, 0);
    // Sized up front when small (no growing as arguments arrive); a big count allocates nothing until its
    // arguments do.
    if (n > 0) this.argv = n <= PREALLOCATED_ARGV ? new Array<string>(n) : [];
    return undefined;
  }

  /** buf[p, p+n) (1 ≤ n ≤ INTERN_MAX_LEN) as a string: the cached one when this connection sent it lately. */
  private shortArg(buf: Latin1Buffer, p: number, n: number): string {
    let h = n;
    for (let i = p, e = p + n; i < e; i++) h = Math.imul(h ^ buf[i], 0x01000193);
    h ^= h >>> 15;
    let cache = this.interned;
    if (cache === null) {
      cache = { hashes: new Int32Array(INTERN_SLOTS), strings: new Array<string>(INTERN_SLOTS).fill('') };
      this.interned = cache;
    }
    const slot = h & (INTERN_SLOTS - 1);
    if (cache.hashes[slot] === h) {
      const s = cache.strings[slot];
      if (s.length === n) {
        let i = 0;
        while (i < n && s.charCodeAt(i) === buf[p + i]) i++;
        if (i === n) return s;
      }
    }
    const s = latin1Short(buf, p, n);
    cache.hashes[slot] = h;
    cache.strings[slot] = s;
    return s;
  }

  /**
   * Reads one inline command line (terminated by LF, optional CR before it), split like sdssplitargs.
   * Returns SKIP for a blank line.
   */
  private readInline(): string[] | RespProtocolError | null {
    const buf = this.buf;
    const start = this.pos;
    const end = this.end;
    const lf = findByte(buf, LF, start, end);
    if (lf < 0) {
      if (end - start > this.maxInlineLen) return this.fail('too big inline request', 'too big inline request');
      return null;
    }
    const lineEnd = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
    const args = splitArgs(buf, start, lineEnd);
    if (args === null) return this.fail('unbalanced quotes in request', 'unbalanced quotes in inline request');
    this.pos = lf + 1;
    return args.length === 0 ? SKIP : args;
  }

  private complete(): string[] {
    const argv = this.argv;
    this.argv = NO_ARGV;
    this.argc = 0;
    if (this.pos >= this.end) this.release();
    return argv;
  }

  /** Switches to chunk collection for a big bulk whose data has not all arrived. */
  private enterBig(): void {
    this.big = this.pos < this.end ? [this.buf.subarray(this.pos, this.end)] : [];
    this.bigLen = this.end - this.pos;
    this.buf = EMPTY;
    this.pos = this.end = 0;
    this.owned = false;
  }

  /** Completes the big bulk if all of it (and its CRLF) has arrived; the rest becomes the buffer again. */
  private finishBig(): boolean {
    const big = this.big as Buffer[];
    const n = this.bulkLen;
    if (this.bigLen < n + 2) return false;
    const all = (big.length === 1 ? big[0] : Buffer.concat(big, this.bigLen)) as Latin1Buffer;
    this.argv[this.argc++] = all.latin1Slice(0, n);
    this.big = null;
    this.bigLen = 0;
    this.buf = all;
    this.pos = n + 2;
    this.end = all.length;
    this.owned = false;
    this.bulkLen = -1;
    this.multibulkLen--;
    return true;
  }

  private release(): void {
    this.buf = EMPTY;
    this.pos = this.end = 0;
    this.owned = false;
  }

  private fail(what: string, reason: string): RespProtocolError {
    this.failed = true;
    this.release();
    this.big = null;
    this.bigLen = 0;
    this.argv = NO_ARGV;
    this.argc = 0;
    return new RespProtocolError(`ERR Protocol error: ${what}`, reason);
  }
}

/** Commands of up to this many arguments get their argv array allocated at its final size. */
const PREALLOCATED_ARGV = 64;
/** Bulk arguments up to this long go through the parser's cache of recent arguments (RespParser.shortArg). */
const INTERN_MAX_LEN = 32;
/** Slots of that cache (a power of two): one string each, the last one hashed there. */
const INTERN_SLOTS = 128;

interface ArgCache {
  hashes: Int32Array;
  strings: string[];
}

/** Scratch arrays for latin1Short, one per length. */
const CHAR_CODES: number[][] = [];
for (let n = 0; n <= 12; n++) CHAR_CODES.push(new Array<number>(n).fill(0));

/** buf[p, p+n) as a binary string: built in JS when short (cheaper than a call into Node), else latin1Slice. */
function latin1Short(buf: Latin1Buffer, p: number, n: number): string {
  if (n > 12) return buf.latin1Slice(p, p + n);
  const codes = CHAR_CODES[n];
  for (let i = 0; i < n; i++) codes[i] = buf[p + i];
  return String.fromCharCode.apply(null, codes);
}

/** Index of byte `b` in buf[start, end), or -1. Scans short ranges in JS, long ones with memchr. */
function findByte(buf: Buffer, b: number, start: number, end: number): number {
  const stop = end - start > 24 ? start + 24 : end;
  let i = start;
  for (; i < stop; i++) if (buf[i] === b) return i;
  if (i >= end) return -1;
  const r = buf.indexOf(b, i);
  return r >= 0 && r < end ? r : -1;
}

/**
 * Redis's string2ll over buf[s, e): optional '-', no '+', no leading zeros, no spaces, fewer than 21
 * chars, within int64. Returns NaN when Redis would reject it (values beyond 2^53 are approximate).
 */
function parseLongLong(buf: Buffer, s: number, e: number): number {
  const len = e - s;
  if (len <= 0 || len >= 21) return Number.NaN;
  let i = s;
  let neg = false;
  if (buf[i] === 45 /* '-' */) {
    if (len === 1) return Number.NaN;
    neg = true;
    i++;
  }
  const first = buf[i];
  if (first === 48 /* '0' */) return len === 1 ? 0 : Number.NaN;
  if (first < 49 || first > 57) return Number.NaN;
  let v = first - 48;
  for (i++; i < e; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) return Number.NaN;
    v = v * 10 + (c - 48);
  }
  if (len >= 19) {
    const big = BigInt(buf.toString('latin1', s, e));
    if (big > 9223372036854775807n || big < -9223372036854775808n) return Number.NaN;
  }
  return neg ? -v : v;
}

/** C isspace in the C locale. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Redis's sdssplitargs over buf[s, e): blank-separated tokens; "double quotes" with \xHH, \n, \r, \t,
 * \b, \a and \<any> escapes; 'single quotes' with \' only; a closing quote must be followed by a blank or
 * the end. Like the C original, the line ends at its first NUL byte. Returns null on unbalanced quotes.
 */
export function splitArgs(buf: Buffer, s: number, e: number): string[] | null {
  const nul = buf.indexOf(0, s);
  const lim = nul >= 0 && nul < e ? nul : e;
  const at = (i: number): number => (i < lim ? buf[i] : 0);
  const out: string[] = [];
  let p = s;
  for (;;) {
    while (p < lim && isSpace(buf[p])) p++;
    if (p >= lim) return out;
    let inq = false;
    let insq = false;
    let done = false;
    let cur = '';
    while (!done) {
      const c = at(p);
      if (inq) {
        if (c === 92 && at(p + 1) === 120 && hexVal(at(p + 2)) >= 0 && hexVal(at(p + 3)) >= 0) {
          cur += String.fromCharCode(hexVal(at(p + 2)) * 16 + hexVal(at(p + 3)));
          p += 3;
        } else if (c === 92 && at(p + 1) !== 0) {
          p++;
          const d = at(p);
          cur +=
            d === 110
              ? '\n'
              : d === 114
                ? '\r'
                : d === 116
                  ? '\t'
                  : d === 98
                    ? '\b'
                    : d === 97
                      ? '\x07'
                      : String.fromCharCode(d);
        } else if (c === 34) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          cur += String.fromCharCode(c);
        }
      } else if (insq) {
        if (c === 92 && at(p + 1) === 39) {
          p++;
          cur += "'";
        } else if (c === 39) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          cur += String.fromCharCode(c);
        }
      } else if (c === 32 || c === 10 || c === 13 || c === 9 || c === 0) {
        done = true;
      } else if (c === 34) {
        inq = true;
      } else if (c === 39) {
        insq = true;
      } else {
        cur += String.fromCharCode(c);
      }
      if (p < lim) p++;
    }
    out.push(cur);
  }
}

// ---------------------------------------------------------------------------------------------------
// Reply encoder
// ---------------------------------------------------------------------------------------------------

/**
 * Output memory. Writers carve their bytes out of one shared slab (like Node's Buffer pool), so an idle
 * connection holds no output memory and a batch of replies is one contiguous slice. A writer may keep
 * appending in place only while its pending bytes end exactly at the slab's high-water mark (slabUsed);
 * otherwise it moves them there. Bytes below slabUsed are never written again (taken slices stay valid).
 * Pending data larger than SLAB_SIZE / 4 moves to a private, geometrically grown buffer.
 */
const SLAB_SIZE = 128 * 1024;
const SLAB_MAX_PENDING = SLAB_SIZE / 4;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE) as Latin1Buffer;
/** Bytes of `slab` handed to writers (pending or taken). */
let slabUsed = 0;

const SIMPLE_OK = Buffer.from('+OK\r\n');
const NULL_BULK = Buffer.from('$-1\r\n');
const NULL_ARRAY2 = Buffer.from('*-1\r\n');
const NULL3 = Buffer.from('_\r\n');

/**
 * Encodes typed replies as RESP2 or RESP3 into a growable output buffer.
 *
 * Contract: `write` appends one reply; `length` is the number of pending bytes; `take()` returns them as a
 * Buffer the caller may hand to socket.write (the writer never touches those bytes again) and leaves the
 * writer empty. Never throws for well-typed replies. A `number` reply must be an integer; a fractional one is
 * truncated toward zero and a non-finite one is written as 0.
 */
export class RespWriter {
  private buf: Latin1Buffer = EMPTY;
  private start = 0;
  private len = 0;
  /** buf is a private buffer (pending data too big for the slab), not the shared slab. */
  private priv = false;

  /** Pending bytes (written, not yet taken). */
  get length(): number {
    return this.len - this.start;
  }

  /** Appends `reply` encoded for protocol `proto`. */
  write(reply: Reply, proto: 2 | 3): void {
    this.claim();
    this.enc(reply, proto);
    if (this.buf === slab) slabUsed = this.len;
  }

  /** Appends `items` as an out-of-band push: RESP3 `>`, RESP2 array (pub/sub messages). */
  writePush(items: Reply[], proto: 2 | 3): void {
    this.claim();
    this.aggregate(proto === 3 ? 62 : 42, items, proto);
    if (this.buf === slab) slabUsed = this.len;
  }

  /** Returns the pending bytes and empties the writer. */
  take(): Buffer {
    if (this.len === this.start) return EMPTY;
    const out = this.buf.subarray(this.start, this.len);
    if (this.priv) {
      // Private buffers are only for big batches; don't keep one around on an idle connection.
      this.priv = false;
      this.buf = EMPTY;
      this.start = this.len = 0;
    } else {
      this.start = this.len;
    }
    return out;
  }

  /**
   * Makes buf[len..] appendable by this writer. Afterwards either `priv` (buf is ours alone) or buf is the
   * current slab and the pending bytes end at slabUsed (we own the slab's tail until write() returns).
   */
  private claim(): void {
    if (this.priv) return;
    if (this.buf === slab && this.len === slabUsed) return;
    if (this.len === this.start) {
      this.buf = slab;
      this.start = this.len = slabUsed;
      return;
    }
    this.move(0, false); // another writer appended after us, or the slab was replaced
  }

  /** Guarantees n free bytes at `len`. */
  private ensure(n: number): void {
    if (this.buf.length - this.len < n) this.move(n, true);
  }

  /**
   * Moves pending bytes somewhere with at least n free bytes after them. `ownsTail`: the pending bytes
   * are at the tail of the current slab (so the slab itself is too small and a fresh one is needed).
   */
  private move(n: number, ownsTail: boolean): void {
    const pending = this.len - this.start;
    const need = pending + n;
    let dest: Latin1Buffer;
    let at = 0;
    if (need > SLAB_MAX_PENDING) {
      dest = Buffer.allocUnsafeSlow(pending === 0 ? need + 64 : Math.max(need, pending * 2)) as Latin1Buffer;
      this.priv = true;
    } else {
      if ((ownsTail && this.buf === slab) || SLAB_SIZE - slabUsed < need) {
        slab = Buffer.allocUnsafeSlow(SLAB_SIZE) as Latin1Buffer;
        slabUsed = 0;
      }
      dest = slab;
      at = slabUsed;
      this.priv = false;
    }
    if (pending > 0) this.buf.copy(dest, at, this.start, this.len);
    this.buf = dest;
    this.start = at;
    this.len = at + pending;
  }

  /** Appends b's bytes (the short constant replies: copied in JS, cheaper than Buffer#copy for a few bytes). */
  private bytes(b: Buffer): void {
    const n = b.length;
    this.ensure(n);
    const dst = this.buf;
    const p = this.len;
    for (let i = 0; i < n; i++) dst[p + i] = b[i];
    this.len = p + n;
  }

  /** Writes `<type><n>\r\n` for a non-negative safe integer n. */
  private header(type: number, n: number): void {
    this.ensure(24);
    const b = this.buf;
    b[this.len] = type;
    let p = writeUint(b, this.len + 1, n);
    b[p++] = CR;
    b[p++] = LF;
    this.len = p;
  }

  private bulk(s: string): void {
    const n = s.length;
    this.ensure(n + 24);
    const b = this.buf;
    b[this.len] = 36; // '$'
    let p = writeUint(b, this.len + 1, n);
    b[p++] = CR;
    b[p++] = LF;
    if (n < 24) {
      for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
    } else {
      b.latin1Write(s, p, n);
    }
    p += n;
    b[p++] = CR;
    b[p++] = LF;
    this.len = p;
  }

  /** `<type>text\r\n` (simple strings, errors, RESP3 doubles). CR/LF in text become spaces. */
  private line(type: number, text: string): void {
    const n = text.length;
    this.ensure(n + 3);
    const b = this.buf;
    let p = this.len;
    b[p++] = type;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      b[p++] = c === CR || c === LF ? 32 : c;
    }
    b[p++] = CR;
    b[p++] = LF;
    this.len = p;
  }

  private integer(n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.bigInteger(Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n);
      return;
    }
    this.ensure(24);
    const b = this.buf;
    let p = this.len;
    b[p++] = 58; // ':'
    if (n < 0) {
      b[p++] = 45;
      n = -n;
    }
    p = writeUint(b, p, n);
    b[p++] = CR;
    b[p++] = LF;
    this.len = p;
  }

  private bigInteger(n: bigint): void {
    this.line(58, n.toString());
  }

  private aggregate(type: number, items: Reply[], proto: 2 | 3): void {
    const n = items.length;
    this.header(type, n);
    for (let i = 0; i < n; i++) this.enc(items[i], proto);
  }

  private enc(r: Reply, proto: 2 | 3): void {
    if (typeof r === 'string') this.bulk(r);
    else if (typeof r === 'number') this.integer(r);
    else if (r === null) this.bytes(proto === 3 ? NULL3 : NULL_BULK);
    else if (Array.isArray(r)) this.aggregate(42, r, proto);
    else if (typeof r === 'bigint') this.bigInteger(r);
    else if (r instanceof SimpleString) {
      if (r.value === 'OK') this.bytes(SIMPLE_OK);
      else this.line(43, r.value);
    } else if (r instanceof ErrorReply) this.line(45, r.message);
    else if (r instanceof MapReply) {
      const entries = r.entries;
      this.header(proto === 3 ? 37 : 42, proto === 3 ? entries.length : entries.length * 2);
      for (const [k, v] of entries) {
        this.enc(k, proto);
        this.enc(v, proto);
      }
    } else if (r instanceof SetReply) this.aggregate(proto === 3 ? 126 : 42, r.items, proto);
    else if (r instanceof PushReply) this.aggregate(proto === 3 ? 62 : 42, r.items, proto);
    else if (r instanceof DoubleReply) {
      const text = Number.isNaN(r.value) ? 'nan' : formatDouble(r.value);
      if (proto === 3) this.line(44, text);
      else this.bulk(text);
    } else if (r instanceof BooleanReply) {
      if (proto === 3) this.line(35, r.value ? 't' : 'f');
      else this.integer(r.value ? 1 : 0);
    } else if (r instanceof VerbatimReply) {
      if (proto === 2) this.bulk(r.text);
      else this.verbatim(r.format, r.text);
    } else if (r instanceof NullArray) this.bytes(proto === 3 ? NULL3 : NULL_ARRAY2);
    else if (r instanceof MultiReply) {
      // Several top-level replies (SUBSCRIBE's confirmations): written back to back.
      for (const item of r.replies) this.enc(item, proto);
    } else {
      // Unreachable for well-typed replies; never emit invalid protocol.
      this.line(45, 'ERR internal error: unknown reply type');
    }
  }

  /** RESP3 `=len\r\nfmt:text\r\n`. */
  private verbatim(format: string, text: string): void {
    const body = `${format}:${text}`;
    const n = body.length;
    this.header(61, n);
    this.ensure(n + 2);
    const b = this.buf;
    b.latin1Write(body, this.len, n);
    b[this.len + n] = CR;
    b[this.len + n + 1] = LF;
    this.len += n + 2;
  }
}

/** Writes the decimal digits of a non-negative safe integer at b[p]; returns the position after them. */
function writeUint(b: Buffer, p: number, n: number): number {
  if (n < 10) {
    b[p] = 48 + n;
    return p + 1;
  }
  if (n < 100) {
    b[p] = 48 + ((n / 10) | 0);
    b[p + 1] = 48 + (n % 10);
    return p + 2;
  }
  let digits = 3;
  for (let t = 1000; t <= n && digits < 16; t *= 10) digits++;
  let q = p + digits;
  const endPos = q;
  while (n >= 1) {
    const d = n % 10;
    b[--q] = 48 + d;
    n = (n - d) / 10;
  }
  return endPos;
}

/** Encodes argv as a RESP array of bulk strings (how clients send commands). Arguments are binary strings. */
export function encodeCommand(argv: string[]): Buffer {
  let size = 1 + decimalLength(argv.length) + 2;
  for (const a of argv) size += 1 + decimalLength(a.length) + 2 + a.length + 2;
  const b = Buffer.allocUnsafe(size) as Latin1Buffer;
  b[0] = 42;
  let p = writeUint(b, 1, argv.length);
  b[p++] = CR;
  b[p++] = LF;
  for (const a of argv) {
    b[p++] = 36;
    p = writeUint(b, p, a.length);
    b[p++] = CR;
    b[p++] = LF;
    p += b.latin1Write(a, p, a.length);
    b[p++] = CR;
    b[p++] = LF;
  }
  return b;
}

function decimalLength(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}
