import type Redis from 'ioredis';
import { RawConnection, type RunningServer, redisClient } from './server.js';

/**
 * Tracks the connections tests open to the server `server()` returns, so that they can be closed together.
 * Returns `raw()`, which opens a RawConnection; `client()`, which opens an ioredis client; and `closeAll()`,
 * which closes every connection opened since it last ran (call it in afterEach).
 */
export function connections(server: () => RunningServer): {
  raw(): Promise<RawConnection>;
  client(): Redis;
  closeAll(): void;
} {
  const open: { close(): void }[] = [];
  return {
    async raw() {
      const c = await RawConnection.open(server());
      open.push(c);
      return c;
    },
    client() {
      const c = redisClient(server());
      open.push({ close: () => c.disconnect() });
      return c;
    },
    closeAll() {
      for (const c of open.splice(0)) c.close();
    },
  };
}
