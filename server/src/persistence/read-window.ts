import { closeSync, openSync, readSync } from 'node:fs';

const READ = 4 << 20;

/**
 * Reading a file front to back through one growable buffer, for the AOF's loaders: `buf[pos, end)` holds
 * bytes read from the file and not yet consumed, and `base` is the file offset of `buf[0]`. `fill(n)`
 * makes `n` bytes available from `pos` (moving the unconsumed rest to the front, growing the buffer when
 * one item is bigger than it, and reading on), or returns false at the end of the file. `discarded`, when
 * given, sees every consumed byte once, in order, before it is dropped from the buffer (a running checksum).
 */
export class ReadWindow {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;
  base = 0;
  private readonly fd: number;

  constructor(
    readonly file: string,
    private readonly discarded?: (consumed: Buffer) => void,
  ) {
    this.fd = openSync(file, 'r');
  }

  /** File offset of the next unconsumed byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  fill(n: number): boolean {
    if (this.end - this.pos >= n) return true;
    this.discarded?.(this.buf.subarray(0, this.pos));
    const rest = this.end - this.pos;
    const size = Math.max(READ, n + READ);
    const next = size > this.buf.length ? Buffer.allocUnsafe(size) : this.buf;
    this.buf.copy(next, 0, this.pos, this.end);
    this.base += this.pos;
    this.buf = next;
    this.pos = 0;
    this.end = rest;
    while (this.end < n) {
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.base + this.end);
      if (got === 0) return false;
      this.end += got;
    }
    return true;
  }

  close(): void {
    closeSync(this.fd);
  }
}
