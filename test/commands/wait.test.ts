import type Redis from 'ioredis';
import { describe, expect, it } from 'vitest';
import { err, NOT_INT } from '../helpers/errors.js';
import { useServer } from '../helpers/use-server.js';

// WAIT on a server without replicas (kvws's embedded engine, a lone redis-server, or kvws in front of
// one): 0 at once when no replica is asked for, else 0 once the timeout has passed; CLIENT UNBLOCK ends
// it. What WAIT does with replicas behind the gateway is in test/gateway/.

let r: Redis;
let other: Redis;

useServer((_s, connect) => {
  r = connect();
  other = connect();
});

describe('WAIT', () => {
  it('answers 0 at once when no replica is asked for, and checks its arguments as Redis does', async () => {
    await r.set('wait:k', 'v');
    expect(await r.call('WAIT', '0', '0')).toBe(0);
    expect(await r.call('WAIT', '-1', '10')).toBe(0);
    expect(await err(r.call('WAIT', 'a', '0'))).toBe(NOT_INT);
    expect(await err(r.call('WAIT', '0', 'a'))).toBe('ERR timeout is not an integer or out of range');
    expect(await err(r.call('WAIT', '0', '-1'))).toBe('ERR timeout is negative');
    expect(await err(r.call('WAIT', '0'))).toBe("ERR wrong number of arguments for 'wait' command");
  });

  it('waits for the timeout when replicas are asked for and there are none', async () => {
    const t0 = Date.now();
    expect(await r.call('WAIT', '1', '150')).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('is ended by CLIENT UNBLOCK (TIMEOUT answers the count, ERROR an UNBLOCKED error)', async () => {
    const id = String(await r.client('ID'));
    const waiting = r.call('WAIT', '1', '0');
    for (let i = 0; i < 100 && (await other.client('UNBLOCK', id)) === 0; i++)
      await new Promise((x) => setTimeout(x, 20));
    expect(await waiting).toBe(0);
    const again = err(r.call('WAIT', '1', '0'));
    for (let i = 0; i < 100 && (await other.call('CLIENT', 'UNBLOCK', id, 'ERROR')) === 0; i++) {
      await new Promise((x) => setTimeout(x, 20));
    }
    expect(await again).toBe('UNBLOCKED client unblocked via CLIENT UNBLOCK');
  });
});
