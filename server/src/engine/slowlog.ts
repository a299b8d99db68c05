/**
 * The slow log (Redis's slowlog.c): the most recent commands whose execution took at least
 * `slowlog-log-slower-than` microseconds, at most `slowlog-max-len` of them, newest first. The dispatcher
 * (engine/dispatch.ts `runCommand`) measures and offers every command it runs; SLOWLOG GET/LEN/RESET
 * (commands/server.ts) read and clear it. Memory is bounded: an entry keeps at most SLOWLOG_ENTRY_MAX_ARGC
 * arguments of at most SLOWLOG_ENTRY_MAX_STRING bytes each (plus a short note of what was cut).
 */

/** Arguments kept per entry, the last one standing for the rest (Redis's SLOWLOG_ENTRY_MAX_ARGC). */
export const SLOWLOG_ENTRY_MAX_ARGC = 32;
/** Bytes kept per argument (Redis's SLOWLOG_ENTRY_MAX_STRING). */
export const SLOWLOG_ENTRY_MAX_STRING = 128;

/** One entry, with SLOWLOG GET's six fields. */
export interface SlowlogEntry {
  /** Unique, increasing from 0 for the life of the process (SLOWLOG RESET does not restart it). */
  id: number;
  /** When it was logged, Unix seconds. */
  time: number;
  /** Execution time, µs. */
  duration: number;
  /** The arguments, trimmed (see `trimArgv`) and with secrets redacted by the caller. */
  argv: string[];
  /** The client's address (`ip:port`), as CLIENT LIST's `addr`. */
  addr: string;
  /** The client's name (CLIENT SETNAME) when the entry was logged. */
  name: string;
}

export class SlowLog {
  /** Oldest first (SLOWLOG GET reads it backwards). */
  private readonly entries: SlowlogEntry[] = [];
  private nextId = 0;

  get length(): number {
    return this.entries.length;
  }

  /**
   * Adds an entry for a command that ran `duration` µs (the caller has compared it with the threshold),
   * then drops the oldest entries beyond `maxLen`.
   */
  push(argv: readonly string[], duration: number, addr: string, name: string, maxLen: number): void {
    this.entries.push({
      id: this.nextId++,
      time: Math.floor(Date.now() / 1000),
      duration: Math.floor(duration),
      argv: trimArgv(argv),
      addr,
      name,
    });
    this.trim(maxLen);
  }

  /** Keeps the newest `maxLen` entries (CONFIG SET slowlog-max-len applies at once). */
  trim(maxLen: number): void {
    const extra = this.entries.length - maxLen;
    if (extra > 0) this.entries.splice(0, extra);
  }

  /** The newest `count` entries, newest first (all of them for count < 0). */
  newest(count: number): SlowlogEntry[] {
    const n = count < 0 ? this.entries.length : Math.min(count, this.entries.length);
    const out: SlowlogEntry[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.entries[this.entries.length - 1 - i];
    return out;
  }

  reset(): void {
    this.entries.length = 0;
  }
}

/**
 * The arguments as Redis's slowlogCreateEntry keeps them: at most SLOWLOG_ENTRY_MAX_ARGC, the last of
 * which then reads `... (N more arguments)`; each longer than SLOWLOG_ENTRY_MAX_STRING bytes cut there and
 * followed by `... (N more bytes)`. Cut arguments are copied, so the entry never holds on to a big one.
 */
export function trimArgv(argv: readonly string[]): string[] {
  const argc = argv.length;
  const kept = Math.min(argc, SLOWLOG_ENTRY_MAX_ARGC);
  const out: string[] = new Array(kept);
  for (let j = 0; j < kept; j++) {
    const a = argv[j];
    if (kept !== argc && j === kept - 1) out[j] = `... (${argc - kept + 1} more arguments)`;
    else if (a.length > SLOWLOG_ENTRY_MAX_STRING) {
      // A flat copy: a slice of a big string can keep the whole string alive in V8.
      const head = Buffer.from(a.slice(0, SLOWLOG_ENTRY_MAX_STRING), 'latin1').toString('latin1');
      out[j] = `${head}... (${a.length - SLOWLOG_ENTRY_MAX_STRING} more bytes)`;
    } else out[j] = a;
  }
  return out;
}
