import { describe, expect, it } from 'vitest';
import { measure, measureEntry, problems, WS_BUDGET } from '../../scripts/bundle-size.mjs';

// The client's bundle budget, enforced in CI: scripts/bundle-size.mjs bundles each @kvws/client entry point
// (from the built client/dist) with esbuild for the browser, minified and tree-shaken, and gzips it. The
// WebSocket entry, with everything it imports, must stay within 12 KiB gzipped, and no entry may pull in
// zod or a `node:` module (the client runs in browsers and edge runtimes). Needs `npx tsc -b` first.

interface BundleResult {
  entry: string;
  minified: number;
  gzipped: number;
  budget: number | null;
  withinBudget: boolean;
  inputs: string[];
  forbidden: string[];
}

describe('client bundle size', () => {
  it('keeps every entry point free of zod and node: imports, and the WebSocket entry within 12 KiB gzipped', async () => {
    const results = (await measure()) as BundleResult[];
    expect(results.map((r) => r.entry)).toEqual(['@kvws/client', '@kvws/client/ws', '@kvws/client/http']);
    expect(WS_BUDGET).toBe(12 * 1024);
    for (const r of results) {
      // Something was really bundled: the client's own files, from the built package.
      expect(r.inputs, r.entry).toContain('client/dist/client.js');
      expect(r.minified, r.entry).toBeGreaterThan(1000);
      expect(r.gzipped, r.entry).toBeGreaterThan(0);
      expect(r.gzipped, r.entry).toBeLessThan(r.minified);
      expect(r.forbidden, r.entry).toEqual([]);
      expect(
        r.inputs.filter((f) => /(^|\/)zod\//.test(f) || f.startsWith('shared/dist/protocol')),
        r.entry,
      ).toEqual([]);
    }
    const ws = results.find((r) => r.entry === '@kvws/client/ws') as BundleResult;
    expect(ws.inputs).toContain('client/dist/ws.js');
    expect(ws.budget).toBe(12 * 1024);
    expect(ws.gzipped).toBeLessThanOrEqual(12 * 1024);
    expect(ws.withinBudget).toBe(true);
    const http = results.find((r) => r.entry === '@kvws/client/http') as BundleResult;
    expect(http.inputs).toContain('client/dist/http.js');
    expect(problems(results)).toEqual([]);
  });

  it('reports an entry over its budget or pulling in zod as a problem', async () => {
    // The same check pointed at the zod-validated protocol module, which the client must never import.
    const r = (await measureEntry({ entry: '@kvws/shared/protocol', use: 'SUBPROTOCOL', budget: 1 })) as BundleResult;
    expect(r.withinBudget).toBe(false);
    expect(r.forbidden).toContain('zod (imported by shared/dist/protocol.js)');
    expect(problems([r])).toEqual([
      `@kvws/shared/protocol: ${r.gzipped} bytes gzipped, over its budget of 1`,
      '@kvws/shared/protocol: bundles zod (imported by shared/dist/protocol.js)',
    ]);
  });
});
