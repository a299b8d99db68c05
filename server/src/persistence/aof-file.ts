import { statSync } from 'node:fs';
import type { Latin1Buffer } from '../protocol/resp.js';
import { ReadWindow } from './read-window.js';

/**
 * Reading the append-only file's incremental files: RESP arrays of bulk strings, one per record, exactly
 * as Redis writes them (`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`), with MULTI … EXEC around the
 * records of a transaction. Shared by loading (aof.ts) and `kvws check-aof`.
 */

/** A record that cannot be read. `truncated`: the file ends inside it (everything before it is sound). */
export class AofFormatError extends Error {
  constructor(
    readonly file: string,
    /** Offset of the record that could not be read. */
    readonly offset: number,
    readonly reason: string,
    readonly truncated: boolean,
  ) {
    super(`${file}: ${reason} at offset ${offset}`);
  }
}

const MAX_ARGS = 1 << 20;
const MAX_BULK = 2 ** 31 - 1;

/** One record: its arguments (binary strings) and its byte range in the file. */
export interface AofRecord {
  argv: string[];
  start: number;
  end: number;
}

/**
 * Reads records one by one through a window buffer. `next()` returns a record, null at a clean end of
 * file, or throws AofFormatError (truncated or malformed) naming the record's offset.
 */
export class AofScanner {
  readonly size: number;
  private readonly w: ReadWindow;

  constructor(readonly file: string) {
    this.w = new ReadWindow(file);
    this.size = statSync(file).size;
  }

  close(): void {
    this.w.close();
  }

  /** Offset of the next unread byte. */
  get offset(): number {
    return this.w.offset;
  }

  next(): AofRecord | null {
    const w = this.w;
    const start = w.offset;
    if (start >= this.size) return null;
    // `p` walks ahead of w.pos; w.pos moves only when the whole record has been read.
    let p = w.pos;
    const fail = (reason: string): never => {
      throw new AofFormatError(this.file, start, reason, false);
    };
    const ensure = (n: number): void => {
      if (p + n <= w.end) return;
      const rel = p - w.pos;
      if (!w.fill(rel + n)) throw new AofFormatError(this.file, start, 'unexpected end of file inside a record', true);
      p = w.pos + rel;
    };
    // Reads "<int>\r\n" after a type byte; returns the integer.
    const line = (): number => {
      let n = 0;
      let digits = 0;
      for (;;) {
        ensure(1);
        const c = w.buf[p++];
        if (c === 13) break;
        if (c < 48 || c > 57 || digits > 12) fail('bad length in record header');
        n = n * 10 + (c - 48);
        digits++;
      }
      ensure(1);
      if (w.buf[p++] !== 10 || digits === 0) fail('bad line ending in record header');
      return n;
    };
    ensure(1);
    if (w.buf[p++] !== 42) fail("expected '*' (start of a record)");
    const argc = line();
    if (argc < 1 || argc > MAX_ARGS) fail(`bad argument count ${argc}`);
    const argv = new Array<string>(argc);
    for (let i = 0; i < argc; i++) {
      ensure(1);
      if (w.buf[p++] !== 36) fail("expected '$' (start of an argument)");
      const len = line();
      if (len > MAX_BULK) fail(`argument too long (${len} bytes)`);
      ensure(len + 2);
      argv[i] = (w.buf as Latin1Buffer).latin1Slice(p, p + len);
      p += len;
      if (w.buf[p] !== 13 || w.buf[p + 1] !== 10) fail('argument not followed by CRLF');
      p += 2;
    }
    w.pos = p;
    return { argv, start, end: w.offset };
  }
}

/** What `checkAofFile` found. */
export interface AofCheck {
  file: string;
  size: number;
  records: number;
  /** Every byte up to here is whole records outside an open transaction. */
  okUpTo: number;
  error: AofFormatError | null;
  /** The file ends inside a record or inside MULTI without EXEC: repairable by truncating at okUpTo. */
  truncatedTail: boolean;
}

/**
 * Walks a whole incremental file, as loading does, without applying it: how far it is sound, and whether
 * what follows is a truncated tail (repairable) or corruption. A transaction left open at the end counts as
 * a truncated tail that starts at its MULTI.
 */
export function checkAofFile(file: string): AofCheck {
  const s = new AofScanner(file);
  let records = 0;
  let okUpTo = 0;
  let multiAt = -1;
  try {
    for (;;) {
      const r = s.next();
      if (r === null) break;
      records++;
      const name = r.argv[0].toUpperCase();
      if (name === 'MULTI') {
        if (multiAt >= 0) return done(new AofFormatError(file, r.start, 'MULTI inside a transaction', false), false);
        multiAt = r.start;
      } else if (name === 'EXEC') {
        if (multiAt < 0) return done(new AofFormatError(file, r.start, 'EXEC without MULTI', false), false);
        multiAt = -1;
      }
      if (multiAt < 0) okUpTo = r.end;
    }
    if (multiAt >= 0)
      return done(new AofFormatError(file, multiAt, 'transaction without EXEC at the end of the file', true), true);
    return done(null, false);
  } catch (e) {
    if (!(e instanceof AofFormatError)) throw e;
    return done(e, e.truncated);
  } finally {
    s.close();
  }

  function done(error: AofFormatError | null, truncatedTail: boolean): AofCheck {
    return { file, size: s.size, records, okUpTo, error, truncatedTail };
  }
}

/** Encodes one record as RESP (a binary string, one char per byte). */
export function encodeRecord(argv: readonly string[]): string {
  let out = `*${argv.length}\r\n`;
  for (const a of argv) out += `$${a.length}\r\n${a}\r\n`;
  return out;
}
