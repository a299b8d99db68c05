import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';

/**
 * Password hashing and login throttling.
 *
 * Hashes are argon2id with OWASP's recommended minimum (Password Storage Cheat Sheet, 2025): m = 19 MiB,
 * t = 2 iterations, p = 1 lane, 16-byte random salt, 32-byte tag, stored in PHC string form
 * (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). Hashing and verification run on libuv's thread pool (the
 * argon2 addon), never on the event loop; at most `maxConcurrent` run at once (each needs 19 MiB), the
 * rest wait in FIFO order. Verification compares tags in constant time (argon2's own timingSafeEqual).
 */
export const ARGON2_PARAMS = {
  type: argon2.argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  hashLength: 32,
} as const;

export class PasswordHasher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** A real hash of a random password: verified against when a user does not exist, so timing does not tell. */
  private dummy: Promise<string> | null = null;

  constructor(readonly maxConcurrent: number) {}

  /** argon2id hash of `password` (a binary string: one char per byte) in PHC form. */
  hash(password: string): Promise<string> {
    return this.limit(() => argon2.hash(Buffer.from(password, 'latin1'), ARGON2_PARAMS));
  }

  /**
   * True when `password` matches one of `hashes`. Every hash is tried (no early exit), and with no hashes a
   * dummy hash is verified instead, so the time taken does not reveal whether the user exists or how many
   * passwords it has. Malformed stored hashes count as no match.
   */
  async verifyAny(hashes: readonly string[], password: string): Promise<boolean> {
    const pw = Buffer.from(password, 'latin1');
    if (hashes.length === 0) {
      this.dummy ??= this.hash(randomBytes(16).toString('latin1'));
      const d = await this.dummy;
      await this.limit(() => argon2.verify(d, pw).catch(() => false));
      return false;
    }
    let ok = false;
    for (const h of hashes) {
      const r = await this.limit(() => argon2.verify(h, pw).catch(() => false));
      ok ||= r;
    }
    return ok;
  }

  /** The first of `hashes` that `password` matches, or null (for `<password` in ACL SETUSER). */
  async findHash(hashes: readonly string[], password: string): Promise<string | null> {
    const pw = Buffer.from(password, 'latin1');
    for (const h of hashes) {
      if (await this.limit(() => argon2.verify(h, pw).catch(() => false))) return h;
    }
    return null;
  }

  private async limit<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxConcurrent) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
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
