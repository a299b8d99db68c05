import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeReplies, RawConnection, type RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// Huge requests at the RESP front door, as Redis 7 refuses them: before a client has authenticated (while
// the default user has a password), a multibulk of more than 10 arguments or a bulk of more than 16384
// bytes is a protocol error that closes the connection, so an attacker without the password cannot make
// the server buffer big requests; after AUTH the ordinary limits apply. And the ordinary limits:
// proto-max-bulk-len (CONFIG SET), and count lines that never end. Runs against kvws, real Redis and the
// Redis engine, so every expectation is Redis's own.

let server: RunningServer;
let admin: Redis;
useServer(async (s, connect) => {
  server = s;
  admin = connect();
  await admin.ping();
});

/** Sends `bytes` on a new connection; the reply text and whether the server then closed the connection. */
async function exchange(bytes: string | Buffer, before: string[][] = []): Promise<{ text: string; closed: boolean }> {
  const c = await RawConnection.open(server);
  try {
    for (const argv of before) await c.command(...argv);
    c.send(bytes);
    const text = await c.readUntil((t) => completeReplies(t) >= 1, 5000);
    await c.readUntil(() => c.closed, 1000);
    return { text, closed: c.closed };
  } finally {
    c.close();
  }
}

/** DEL with n - 1 one-byte keys: a multibulk of n arguments. */
function multibulk(n: number): string {
  return `*${n}\r\n$3\r\nDEL\r\n${'$1\r\nx\r\n'.repeat(n - 1)}`;
}

describe('before authentication (the default user has a password)', () => {
  beforeAll(async () => {
    await admin.call('ACL', 'SETUSER', 'default', 'on', '>limits-pw');
  });
  afterAll(async () => {
    await admin.call('ACL', 'SETUSER', 'default', 'on', 'nopass');
  });

  it('more than 10 arguments: "unauthenticated multibulk length", then the connection is closed', async () => {
    const { text, closed } = await exchange('*11\r\n');
    expect(text).toBe('-ERR Protocol error: unauthenticated multibulk length\r\n');
    expect(closed).toBe(true);
  });

  it('a bulk of more than 16384 bytes: "unauthenticated bulk length", then the connection is closed', async () => {
    const { text, closed } = await exchange('*2\r\n$3\r\nGET\r\n$16385\r\n');
    expect(text).toBe('-ERR Protocol error: unauthenticated bulk length\r\n');
    expect(closed).toBe(true);
  });

  it('up to the limits, the command is parsed and refused with NOAUTH; the connection stays', async () => {
    const ten = await exchange(multibulk(10));
    expect(ten.text).toMatch(/^-NOAUTH /);
    expect(ten.closed).toBe(false);
    const big = await exchange(`*2\r\n$3\r\nGET\r\n$16384\r\n${'k'.repeat(16384)}\r\n`);
    expect(big.text).toMatch(/^-NOAUTH /);
    expect(big.closed).toBe(false);
  });

  it('after AUTH the ordinary limits apply', async () => {
    const auth = [['AUTH', 'limits-pw']];
    const many = await exchange(`*12\r\n$4\r\nMSET\r\n${'$1\r\nx\r\n'.repeat(11)}`, auth);
    expect(many.text).toBe("-ERR wrong number of arguments for 'mset' command\r\n");
    expect(many.closed).toBe(false);
    const value = 'v'.repeat(100_000);
    const big = await exchange(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${value.length}\r\n${value}\r\n`, auth);
    expect(big.text).toBe('+OK\r\n');
  });
});

describe('ordinary limits', () => {
  it('a bulk longer than proto-max-bulk-len (CONFIG SET) is refused before its data, and the connection closed', async () => {
    await admin.call('CONFIG', 'SET', 'proto-max-bulk-len', String(1024 * 1024));
    try {
      const { text, closed } = await exchange(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${1024 * 1024 + 1}\r\n`);
      expect(text).toBe('-ERR Protocol error: invalid bulk length\r\n');
      expect(closed).toBe(true);
    } finally {
      await admin.call('CONFIG', 'SET', 'proto-max-bulk-len', String(512 * 1024 * 1024));
    }
  });

  it('a multibulk count line or a bulk count line that never ends (over 64 KiB) is refused', async () => {
    const mbulk = await exchange(`*${'1'.repeat(70 * 1024)}`);
    expect(mbulk.text).toBe('-ERR Protocol error: too big mbulk count string\r\n');
    expect(mbulk.closed).toBe(true);
    const bulk = await exchange(`*1\r\n$${'1'.repeat(70 * 1024)}`);
    expect(bulk.text).toBe('-ERR Protocol error: too big bulk count string\r\n');
    expect(bulk.closed).toBe(true);
  });
});
