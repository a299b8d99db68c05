import { defineConfig } from 'vitest/config';

// Tests start real servers and real clients (redis-server, redis-cli, ioredis, Chromium), so they run in
// forked processes, two files at a time (the reference machine has 2 cores), with generous timeouts.
//
// Two projects:
//  - kvws: every test, against kvws processes started by test/helpers/server.ts.
//  - redis: the Redis-compatible suites (test/commands, test/resp) re-pointed at a real redis-server
//    (one private server per file), to show kvws answers as Redis does. Files named *.kvws.test.ts hold
//    kvws-only behaviour (features newer than the Debian redis-server, or kvws's own additions) and run
//    in the kvws and gateway projects only.
//  - gateway: the same suites, and the front doors' (WebSocket, HTTP API, event resume, no-leak ACLs),
//    against kvws on the Redis engine (`--engine redis://` in front of a private redis-server per file), to
//    show the gateway answers as the embedded engine does. `exclude` lists, with reasons, the files whose
//    subject is the embedded engine itself; where the Redis engine differs by design, tests branch on
//    `server.engine` (docs/scaling.md lists the differences).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'kvws', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'redis',
          include: ['test/commands/**/*.test.ts', 'test/resp/**/*.test.ts'],
          exclude: ['**/*.kvws.test.ts', '**/node_modules/**'],
          env: { KVWS_TEST_TARGET: 'redis' },
        },
      },
      {
        extends: true,
        test: {
          name: 'gateway',
          include: [
            'test/commands/**/*.test.ts',
            'test/resp/**/*.test.ts',
            'test/net/ws-gateway.kvws.test.ts',
            'test/net/ws-streams.kvws.test.ts',
            'test/net/http-api.kvws.test.ts',
            'test/net/upstash.kvws.test.ts',
            'test/events/resume.kvws.test.ts',
            'test/auth/leaks.kvws.test.ts',
          ],
          exclude: [
            '**/node_modules/**',
            // Redis 7.2 behaviour (ZRANK WITHSCORE, shortest round-trip scores) that Redis 7.0 answers otherwise.
            'test/commands/zset.kvws.test.ts',
          ],
          env: { KVWS_TEST_TARGET: 'gateway' },
        },
      },
    ],
  },
});
