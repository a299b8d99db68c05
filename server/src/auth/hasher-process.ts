/**
 * The password-hashing process (started by PasswordHasher in passwords.ts, `--auth-hash-nice`): argon2id
 * hashes and verifications at a lower CPU priority than the server, so that a storm of logins takes only the
 * CPU the server's clients leave over. Argument: the nice value (1–19). Messages in, over the IPC channel
 * (advanced serialization): `{id, op: 'hash', password}` or `{id, op: 'verify', hash, password}` (password a
 * Buffer); out: `{id, result}` (the PHC string, or whether it matched) or `{id, error}`. Exits when the
 * server goes away (the channel closes).
 */
import { readdirSync } from 'node:fs';
import os from 'node:os';
import argon2 from 'argon2';
import { ARGON2_PARAMS } from './passwords.js';

type Request =
  | { id: number; op: 'hash'; password: Buffer }
  | { id: number; op: 'verify'; hash: string; password: Buffer };

const nice = Number(process.argv[2]);

/**
 * Lowers the priority of every thread of this process (Linux schedules threads one by one; threads created
 * later, such as libuv's pool where argon2 runs, inherit it from the main thread), or of the process where
 * threads cannot be named. Failures leave the normal priority: hashing still works.
 */
function lowerPriority(): void {
  try {
    for (const tid of readdirSync('/proc/self/task')) os.setPriority(Number(tid), nice);
    return;
  } catch {}
  try {
    os.setPriority(nice);
  } catch {}
}

lowerPriority();

process.on('message', (m: Request) => {
  const work =
    m.op === 'hash'
      ? argon2.hash(Buffer.from(m.password), ARGON2_PARAMS)
      : argon2.verify(m.hash, Buffer.from(m.password)).catch(() => false);
  work.then(
    (result) => process.send?.({ id: m.id, result }),
    (e: Error) => process.send?.({ id: m.id, error: e.message }),
  );
});
process.on('disconnect', () => process.exit(0));
