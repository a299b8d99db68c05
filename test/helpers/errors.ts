import { expect } from 'vitest';

// Error replies several suites expect, as ioredis reports them (without the leading "-"), and two ways to
// check a failing command.

export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
export const SYNTAX = 'ERR syntax error';
export const NOT_INT = 'ERR value is not an integer or out of range';
export const NOT_FLOAT = 'ERR value is not a valid float';

/** Returns the error message `p` rejects with, or null when it resolves. */
export async function err(p: Promise<unknown>): Promise<string | null> {
  return p.then(
    () => null,
    (e: Error) => e.message,
  );
}

/** Asserts that `p` rejects with exactly `message`; resolves once it has, fails the test otherwise. */
export async function fails(p: Promise<unknown>, message: string): Promise<void> {
  await expect(p).rejects.toThrow(new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
}
