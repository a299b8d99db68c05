import type Redis from 'ioredis';
import { describe, expect, it } from 'vitest';
import { fields } from '../helpers/client-info.js';
import { RawConnection, type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// kvws-only behaviour of the connection and server commands: what kvws answers as Redis 7.2 (newer than
// the Debian redis-server the fidelity project runs) and kvws's own additions. Runs in the kvws project only.

let server: RunningServer;
let r: Redis;

useServer((s, connect) => {
  server = s;
  r = connect();
});

describe('kvws answers as Redis 7.2', () => {
  it("HELLO and INFO report the Redis version kvws implements, and kvws's own", async () => {
    const c = await RawConnection.open(server);
    try {
      expect(await c.command('HELLO', '3')).toContain('$7\r\nversion\r\n$5\r\n7.2.4\r\n');
    } finally {
      c.close();
    }
    const info = await r.info('server');
    expect(info).toContain('\r\nredis_version:7.2.4\r\n');
    expect(info).toMatch(/\r\nkvws_version:\d+\.\d+\.\d+\r\n/);
  });

  it('CLIENT SETINFO (7.2) sets lib-name and lib-ver, shown by CLIENT INFO / LIST', async () => {
    const c = redisClient(server);
    try {
      expect(await c.call('CLIENT', 'SETINFO', 'LIB-NAME', 'my-lib')).toBe('OK');
      expect(await c.call('CLIENT', 'SETINFO', 'lib-ver', '1.2.3')).toBe('OK');
      const info = fields((await c.call('CLIENT', 'INFO')) as string);
      expect(info['lib-name']).toBe('my-lib');
      expect(info['lib-ver']).toBe('1.2.3');
      await expect(c.call('CLIENT', 'SETINFO', 'lib-name', 'has space')).rejects.toThrow(
        'ERR lib-name cannot contain spaces, newlines or special characters.',
      );
      await expect(c.call('CLIENT', 'SETINFO', 'foo', 'x')).rejects.toThrow("ERR Unrecognized option 'foo'");
      // The attribute is checked before the value.
      await expect(c.call('CLIENT', 'SETINFO', '', 'a b')).rejects.toThrow("ERR Unrecognized option ''");
    } finally {
      c.disconnect();
    }
  });

  it('COMMAND GETKEYS accepts commands with no arguments (arity -3 in 7.2)', async () => {
    await expect(r.call('COMMAND', 'GETKEYS', 'ping')).rejects.toThrow('ERR The command has no key arguments');
    const [info] = (await r.call('COMMAND', 'INFO', 'command|getkeys')) as unknown[][];
    expect(info[1]).toBe(-3);
  });
});

describe('kvws additions', () => {
  it('CLIENT LIST and CLIENT INFO name the front door', async () => {
    const line = (await r.call('CLIENT', 'INFO')) as string;
    expect(fields(line).door).toBe('resp');
    const list = (await r.call('CLIENT', 'LIST')) as string;
    for (const l of list.split('\n').filter(Boolean)) expect(fields(l).door).toBe('resp');
  });

  it('INFO stats include the expiry and SCAN-cursor gauges', async () => {
    const stats = await r.info('stats');
    expect(stats).toMatch(/\r\nexpired_pending:\d+\r\n/);
    expect(stats).toMatch(/\r\nscan_cursors_live:\d+\r\n/);
  });
});
