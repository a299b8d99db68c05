import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import argon2 from 'argon2';

/**
 * Password hashing and login throttling.
 *
 * Hashes are argon2id with OWASP's recommended minimum (Password Storage Cheat Sheet, 2025): m = 19 MiB,
 * t = 2 iterations, p = 1 lane, 16-byte random salt, 32-byte tag, stored in PHC string form
 * (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). Hashing and verification run on libuv's thread pool (the
 * argon2 addon), never on the event loop; at most `maxConcurrent` run at once (each needs 19 MiB), the
 * rest wait in FIFO order, logins at most `maxQueued` of them (`auth-max-queued`: beyond it a login is
 * refused at once, so a login storm costs neither unbounded memory nor unbounded waits). Verification
 * compares tags in constant time (argon2's own timingSafeEqual).
 */
export const ARGON2_PARAMS = {
  type: argon2.argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  hashLength: 32,
} as const;

/**
 * Thrown (as a rejection) by PasswordHasher.verifyAny when `maxQueued` logins already wait for a hashing slot:
 * the login is refused at once, without hashing. Its message is the error reply the client gets.
 */
export class LoginQueueFull extends Error {
  constructor(maxQueued: number) {
    super(`TRYAGAIN too many logins are waiting for password hashing (auth-max-queued ${maxQueued}): try again later`);
  }
}

/** The hashing process's script, next to this module once built (absent when running from the sources). */
const HASHER_SCRIPT = fileURLToPath(new URL('./hasher-process.js', import.meta.url));

/**
 * argon2id in a child process at a lower CPU priority (auth/hasher-process.ts), started at the first hash and
 * again after it exits. It keeps the server running only while a hash is pending (unreferenced otherwise), and
 * exits with the server. A hash pending when it dies rejects.
 */
class HashProcess {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;

  constructor(private readonly nice: number) {}

  run(msg: { op: 'hash'; password: Buffer } | { op: 'verify'; hash: string; password: Buffer }): Promise<unknown> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.hold(child, true);
      child.send({ id, ...msg });
    });
  }

  private start(): ChildProcess {
    const child = fork(HASHER_SCRIPT, [String(this.nice)], {
      execArgv: [],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.child = child;
    child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`password hashing failed: ${m.error}`));
      else p.resolve(m.result);
      if (this.pending.size === 0) this.hold(child, false);
    });
    const gone = () => {
      if (this.child !== child) return;
      this.child = null;
      for (const p of this.pending.values()) p.reject(new Error('the password hashing process exited'));
      this.pending.clear();
    };
    child.on('exit', gone);
    child.on('error', gone);
    this.hold(child, false);
    return child;
  }

  /** Whether `child` keeps this process running: only while one of its hashes is pending. */
  private hold(child: ChildProcess, busy: boolean): void {
    const channel = child.channel as { ref(): void; unref(): void } | null | undefined;
    if (busy) {
      child.ref();
      channel?.ref();
    } else {
      child.unref();
      channel?.unref();
    }
  }
}

export class PasswordHasher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** A real hash of a random password: verified against when a user does not exist, so timing does not tell. */
  private dummy: Promise<string> | null = null;
  /** Logins refused because the queue was full (INFO stats `auth_queue_full_rejections`). */
  queueFullRejections = 0;
  /** argon2id computations started, hashes and verifications (INFO stats `auth_hashes_total`). */
  total = 0;

  /** The child process hashing at a lower priority; null: hashing in this process (libuv's thread pool). */
  private readonly process: HashProcess | null;

  /**
   * `maxConcurrent` hashes run at once. `maxQueued` (read at each login; 0 = no limit) bounds the logins
   * waiting for a slot: past it `verifyAny` rejects with LoginQueueFull. Hashing new passwords (ACL SETUSER,
   * `kvws user`) is an administrator's act and always waits its turn. With `nice` 1–19, hashes run in a child
   * process at that Unix nice value (`--auth-hash-nice`); with 0, or when the child's script is not there
   * (running from the TypeScript sources), on this process's thread pool.
   */
  constructor(
    readonly maxConcurrent: number,
    private readonly maxQueued: () => number = () => 0,
    nice = 0,
  ) {
    this.process = nice > 0 && existsSync(HASHER_SCRIPT) ? new HashProcess(nice) : null;
  }

  /** argon2id of `pw`, in the hashing process when there is one. */
  private argon2Hash(pw: Buffer): Promise<string> {
    if (this.process === null) return argon2.hash(pw, ARGON2_PARAMS);
    return this.process.run({ op: 'hash', password: pw }) as Promise<string>;
  }

  /** Whether `pw` matches the PHC string `hash` (false for a malformed one). */
  private argon2Verify(hash: string, pw: Buffer): Promise<boolean> {
    if (this.process === null) return argon2.verify(hash, pw).catch(() => false);
    return this.process.run({ op: 'verify', hash, password: pw }) as Promise<boolean>;
  }

  /** Hashes running now. */
  get active(): number {
    return this.running;
  }

  /** Hashes waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** argon2id hash of `password` (a binary string: one char per byte) in PHC form. */
  hash(password: string): Promise<string> {
    return this.limit(() => this.argon2Hash(Buffer.from(password, 'latin1')));
  }

  /**
   * True when `password` matches one of `hashes`. Every hash is tried (no early exit), and with no hashes a
   * dummy hash is verified instead, so the time taken does not reveal whether the user exists or how many
   * passwords it has. Malformed stored hashes count as no match. Rejects with LoginQueueFull, having hashed
   * nothing more, when the queue of logins is full (see the constructor).
   */
  async verifyAny(hashes: readonly string[], password: string): Promise<boolean> {
    const pw = Buffer.from(password, 'latin1');
    if (hashes.length === 0) {
      this.admit();
      this.dummy ??= this.hash(randomBytes(16).toString('latin1'));
      const d = await this.dummy;
      await this.limit(() => this.argon2Verify(d, pw), true);
      return false;
    }
    let ok = false;
    for (const h of hashes) {
      const r = await this.limit(() => this.argon2Verify(h, pw), true);
      ok ||= r;
    }
    return ok;
  }

  /** Throws LoginQueueFull when a login would have to wait and `maxQueued` logins already do. */
  private admit(): void {
    const max = this.maxQueued();
    if (max > 0 && this.running >= this.maxConcurrent && this.waiting.length >= max) {
      this.queueFullRejections++;
      throw new LoginQueueFull(max);
    }
  }

  /** The first of `hashes` that `password` matches, or null (for `<password` in ACL SETUSER). */
  async findHash(hashes: readonly string[], password: string): Promise<string | null> {
    const pw = Buffer.from(password, 'latin1');
    for (const h of hashes) {
      if (await this.limit(() => this.argon2Verify(h, pw))) return h;
    }
    return null;
  }

  /** Runs `fn` once fewer than `maxConcurrent` run, in FIFO order; a `login` may be refused (see admit). */
  private async limit<T>(fn: () => Promise<T>, login = false): Promise<T> {
    if (login) this.admit();
    if (this.running >= this.maxConcurrent) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    this.total++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Failed-login throttling. Each key (`user:NAME`, `addr:IP`) keeps the times of its recent failures; once
 * `maxFailures` happened within `windowMs`, the key is locked for `lockoutMs` and every login attempt that
 * names it is refused without checking the password. A success clears the user's and the address's record.
 * Memory is bounded: at most `maxKeys` keys are tracked (the oldest are forgotten first).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { times: number[]; lockedUntil: number }>();

  constructor(
    private readonly limits: () => { maxFailures: number; windowMs: number; lockoutMs: number },
    private readonly maxKeys = 100_000,
  ) {}

  /** Milliseconds until the first locked key unlocks, or 0 when none of `keys` is locked. */
  lockedFor(keys: readonly string[], now: number): number {
    let wait = 0;
    for (const k of keys) {
      const f = this.failures.get(k);
      if (f && f.lockedUntil > now) wait = Math.max(wait, f.lockedUntil - now);
    }
    return wait;
  }

  fail(keys: readonly string[], now: number): void {
    const { maxFailures, windowMs, lockoutMs } = this.limits();
    if (maxFailures <= 0) return;
    for (const k of keys) {
      let f = this.failures.get(k);
      if (f) this.failures.delete(k);
      else f = { times: [], lockedUntil: 0 };
      this.failures.set(k, f); // re-insert: Map order is least recently failed first
      f.times = f.times.filter((t) => now - t < windowMs);
      f.times.push(now);
      if (f.times.length >= maxFailures) {
        f.lockedUntil = now + lockoutMs;
        f.times = [];
      }
    }
    while (this.failures.size > this.maxKeys) {
      const oldest = this.failures.keys().next().value as string;
      this.failures.delete(oldest);
    }
  }

  succeed(keys: readonly string[]): void {
    for (const k of keys) this.failures.delete(k);
  }
}
