import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// SCAN's guarantee, checked against a model: every key present for the whole iteration is returned at
// least once, whatever is added or deleted meanwhile (Redis's own contract; also run against redis-server).
let server: RunningServer;
useServer((s) => {
  server = s;
});

type Op = { kind: 'add'; n: number } | { kind: 'del'; n: number } | { kind: 'scan'; count: number };

describe('SCAN against a model', () => {
  it('returns every key that was present for the whole scan, under growth and deletion', async () => {
    const r = redisClient(server);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: 300 }),
          fc.array(
            fc.oneof(
              fc.record({ kind: fc.constant('add' as const), n: fc.integer({ min: 1, max: 200 }) }),
              fc.record({ kind: fc.constant('del' as const), n: fc.integer({ min: 1, max: 50 }) }),
              fc.record({ kind: fc.constant('scan' as const), count: fc.integer({ min: 1, max: 50 }) }),
            ),
            { minLength: 1, maxLength: 40 },
          ),
          async (initial, ops) => {
            await r.flushdb();
            let next = 0;
            const present = new Set<string>();
            const add = async (n: number) => {
              const pipe = r.pipeline();
              for (let i = 0; i < n; i++) {
                const k = `k:${next++}`;
                present.add(k);
                pipe.set(k, '1');
              }
              await pipe.exec();
            };
            await add(initial);
            // Keys present at the start and never deleted must all be seen.
            const stable = new Set(present);
            const seen = new Set<string>();
            let cursor = '0';
            let started = false;
            for (const op of [...ops, { kind: 'scan', count: 10 } as Op]) {
              if (op.kind === 'add') await add(op.n);
              else if (op.kind === 'del') {
                const victims = [...present].slice(0, op.n);
                if (victims.length) await r.del(...victims);
                for (const v of victims) {
                  present.delete(v);
                  stable.delete(v);
                }
              } else if (!started || cursor !== '0') {
                started = true;
                const [c, keys] = await r.scan(cursor, 'COUNT', op.count);
                cursor = c;
                for (const k of keys) seen.add(k);
              }
            }
            // Finish the iteration (bounded: a live cursor always advances).
            for (let i = 0; cursor !== '0' && i < 10_000; i++) {
              const [c, keys] = await r.scan(cursor, 'COUNT', 100);
              cursor = c;
              for (const k of keys) seen.add(k);
            }
            expect(cursor).toBe('0');
            for (const k of stable) expect(seen.has(k), `key ${k} present throughout but not returned`).toBe(true);
            // Nothing that never existed is returned.
            for (const k of seen) expect(Number(k.slice(2))).toBeLessThan(next);
          },
        ),
        { numRuns: 25, seed: 20261125 },
      );
    } finally {
      r.disconnect();
    }
  });
});
