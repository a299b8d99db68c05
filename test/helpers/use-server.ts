import type Redis from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type RunningServer, redisClient, startKvws } from './server.js';

/**
 * Gives the calling test file (or describe block) one server. Registers a beforeAll that starts it with
 * startKvws (a private redis-server in the `redis` project) and then calls `ready` with it and `connect`,
 * which opens an ioredis client on it; and an afterAll that disconnects those clients and stops the server.
 * Returns nothing: `ready` keeps what the tests need, e.g. `(s, connect) => { server = s; r = connect(); }`.
 */
export function useServer(
  ready: (server: RunningServer, connect: () => Redis) => void | Promise<void> = () => {},
): void {
  let server: RunningServer | undefined;
  const clients: Redis[] = [];
  beforeAll(async () => {
    const s = await startKvws();
    server = s;
    await ready(s, () => {
      const c = redisClient(s);
      clients.push(c);
      return c;
    });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop();
  });
}
