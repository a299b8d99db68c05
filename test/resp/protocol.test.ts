import { describe, expect, it } from 'vitest';
import { completeReplies, RawConnection, type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// Byte-level behaviour of the RESP front door. Runs against kvws and, in the "redis" project, against a
// real redis-server, so every expectation here is Redis's own.
let server: RunningServer;
useServer((s) => {
  server = s;
});

async function exchange(bytes: string, replies = 1): Promise<{ text: string; closed: boolean }> {
  const c = await RawConnection.open(server);
  try {
    c.send(bytes);
    const text = await c.readUntil((t) => completeReplies(t) >= replies, 3000);
    // Give the server a moment to close after a protocol error.
    await c.readUntil(() => c.closed, 300);
    return { text, closed: c.closed };
  } finally {
    c.close();
  }
}

describe('RESP errors in Redis form', () => {
  it('unknown command', async () => {
    const { text } = await exchange('*2\r\n$7\r\nNOSUCHC\r\n$1\r\nx\r\n');
    expect(text).toBe("-ERR unknown command 'NOSUCHC', with args beginning with: 'x' \r\n");
  });

  it('wrong arity', async () => {
    const { text } = await exchange('*1\r\n$3\r\nGET\r\n');
    expect(text).toBe("-ERR wrong number of arguments for 'get' command\r\n");
  });

  it('wrong type and non-integer values', async () => {
    const c = await RawConnection.open(server);
    try {
      await c.command('DEL', 'l');
      await c.command('LPUSH', 'l', 'x');
      expect(await c.command('GET', 'l')).toBe(
        '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n',
      );
      expect(await c.command('INCRBY', 'n', 'abc')).toBe('-ERR value is not an integer or out of range\r\n');
      expect(await c.command('INCRBY', 'n', '99999999999999999999')).toBe(
        '-ERR value is not an integer or out of range\r\n',
      );
      expect(await c.command('EXPIRE', 'l', '1.5')).toBe('-ERR value is not an integer or out of range\r\n');
      expect(await c.command('SELECT', '99')).toBe('-ERR DB index is out of range\r\n');
    } finally {
      c.close();
    }
  });

  it.each([
    ['*abc\r\n', '-ERR Protocol error: invalid multibulk length\r\n'],
    ['*1\r\n!foo\r\n', "-ERR Protocol error: expected '$', got '!'\r\n"],
    ['*1\r\n$abc\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
    ['*1\r\n$-5\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
    ['*1\r\n$2147483648\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
    ['*3000000000\r\n', '-ERR Protocol error: invalid multibulk length\r\n'],
    ['SET "a b\r\n', '-ERR Protocol error: unbalanced quotes in request\r\n'],
  ])('malformed frame %j gets an error and the connection is closed', async (bytes, expected) => {
    const { text, closed } = await exchange(bytes);
    expect(text).toBe(expected);
    expect(closed).toBe(true);
  });

  it('an inline request longer than 64 KiB without a newline is refused', async () => {
    const { text, closed } = await exchange('x'.repeat(70 * 1024));
    expect(text).toBe('-ERR Protocol error: too big inline request\r\n');
    expect(closed).toBe(true);
  });

  it('a huge declared bulk length does not stop other clients', async () => {
    const bad = await RawConnection.open(server);
    const good = redisClient(server);
    try {
      bad.send('*2\r\n$3\r\nGET\r\n$536870000\r\nabc');
      await good.set('still', 'fine');
      expect(await good.get('still')).toBe('fine');
    } finally {
      bad.close();
      good.disconnect();
    }
  });
});

describe('RESP framing', () => {
  it('inline commands work, as with nc', async () => {
    const { text } = await exchange('SET inl "hello world"\r\nGET inl\nPING\r\n', 3);
    expect(text).toBe('+OK\r\n$11\r\nhello world\r\n+PONG\r\n');
  });

  it('a command split at every byte is parsed once complete', async () => {
    const c = await RawConnection.open(server);
    try {
      const cmd = '*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$5\r\nsplit\r\n';
      for (const ch of cmd) {
        c.send(ch);
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(await c.readUntil((t) => completeReplies(t) >= 2)).toBe('+OK\r\n$5\r\nvalue\r\n');
    } finally {
      c.close();
    }
  });

  it('pipelines thousands of commands in one write and answers in order', async () => {
    const c = await RawConnection.open(server);
    try {
      let req = '';
      for (let i = 0; i < 2000; i++) req += `*3\r\n$6\r\nINCRBY\r\n$4\r\npipe\r\n$1\r\n1\r\n`;
      await c.command('DEL', 'pipe');
      c.send(req);
      const text = await c.readUntil((t) => completeReplies(t) >= 2000, 10_000);
      const nums = text.split('\r\n').filter(Boolean);
      expect(nums.length).toBe(2000);
      expect(nums[0]).toBe(':1');
      expect(nums[1999]).toBe(':2000');
    } finally {
      c.close();
    }
  });

  it('keys and values are binary safe: all 256 byte values', async () => {
    const r = redisClient(server);
    try {
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      for (let i = 0; i < 256; i++) {
        const k = Buffer.from([i, 0, 255 - i]);
        await r.set(k, all);
        expect((await r.getBuffer(k))?.equals(all)).toBe(true);
      }
      await r.set(all, 'whole');
      expect(await r.get(all)).toBe('whole');
      expect((await r.keysBuffer('*')).some((k) => k.equals(all))).toBe(true);
    } finally {
      r.disconnect();
    }
  });

  it('RESP3 after HELLO 3: maps, nulls, doubles', async () => {
    const c = await RawConnection.open(server);
    try {
      const hello = await c.command('HELLO', '3');
      expect(hello.startsWith('%7\r\n')).toBe(true);
      expect(hello).toContain('$5\r\nproto\r\n:3\r\n');
      expect(await c.command('GET', 'no-such-key-resp3')).toBe('_\r\n');
      await c.command('DEL', 'h3');
      await c.command('HSET', 'h3', 'f', 'v');
      expect(await c.command('HGETALL', 'h3')).toBe('%1\r\n$1\r\nf\r\n$1\r\nv\r\n');
      await c.command('DEL', 'z3');
      await c.command('ZADD', 'z3', '1.5', 'm');
      expect(await c.command('ZSCORE', 'z3', 'm')).toBe(',1.5\r\n');
    } finally {
      c.close();
    }
  });
});
