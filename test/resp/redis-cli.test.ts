import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

const run = promisify(execFile);
let server: RunningServer;
useServer((s) => {
  server = s;
});

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(server.port), ...args], { timeout: 10_000 });
  return stdout;
}

describe("the README's session-timeout example with the stock redis-cli", () => {
  it('SET EX, TTL, SET XX on a missing key', async () => {
    expect(await cli('SET', 'logged_in_user:1234', '123456789', 'EX', '3600')).toBe('OK\n');
    expect(await cli('TTL', 'logged_in_user:1234')).toBe('3600\n');
    expect(await cli('SET', 'logged_in_user:9999', '123456789', 'EX', '3600', 'XX')).toBe('\n');
    expect(await cli('CONFIG', 'SET', 'notify-keyspace-events', 'Ex')).toBe('OK\n');
  });

  it('psubscribe --csv prints the expired event at the deadline, without anyone touching the key', async () => {
    await cli('CONFIG', 'SET', 'notify-keyspace-events', 'Ex');
    const sub = spawn('redis-cli', ['-p', String(server.port), '--csv', 'psubscribe', '__key*__:expired']);
    let out = '';
    sub.stdout.on('data', (d) => {
      out += d;
    });
    try {
      const deadline = Date.now() + 5_000;
      while (!out.includes('psubscribe') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const expiresAt = Date.now() + 800;
      await cli('SET', 'logged_in_user:1234', '123456789', 'PXAT', String(expiresAt));
      const line = '"pmessage","__key*__:expired","__keyevent@0__:expired","logged_in_user:1234"';
      while (!out.includes(line) && Date.now() < expiresAt + 5_000) await new Promise((r) => setTimeout(r, 5));
      const seenAt = Date.now();
      expect(out).toContain(line);
      // Never before the deadline.
      expect(seenAt).toBeGreaterThanOrEqual(expiresAt);
      expect(await cli('EXISTS', 'logged_in_user:1234')).toBe('0\n');
    } finally {
      sub.kill();
    }
  });
});
