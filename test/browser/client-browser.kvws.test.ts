import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChromiumPage, launchChromium } from '../helpers/browser.js';
import {
  freePort,
  wsUrl as gatewayUrl,
  makeTestCertificate,
  type RunningServer,
  startKvws,
} from '../helpers/server.js';

// @kvws/client in a real browser: the built WebSocket entry (client/dist, via the workspace package) is
// bundled with esbuild for the browser as an IIFE exposing `window.kvws = { connectWs }` and injected into a
// page of kvws's own HTTPS origin in headless Chromium (test/helpers/browser.ts). The page logs in with a
// password at POST /auth/token, connects with a token provider, and waits for a key it set with a 300 ms
// TTL to expire (onExpired: keyspace notifications, `--notify-keyspace-events Kx`). The server's default
// user is off, so everything goes through the token. Needs `npx tsc -b` first. kvws-only.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let dir = '';
let server: RunningServer;
let origin = '';
let wsUrl = '';
let chromium: ChromiumPage | undefined;
let page: Page;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-client-browser-'));
  const { cert, key } = makeTestCertificate(dir);
  const users = path.join(dir, 'users.acl');
  writeFileSync(
    users,
    'user default off\nuser web on >web-pw ~session:* &__keyspace@0__:session:* +@all -@dangerous\n',
    { mode: 0o600 },
  );
  server = await startKvws([
    ...['--port', String(await freePort()), '--tls-cert', cert, '--tls-key', key],
    ...['--acl-file', users, '--notify-keyspace-events', 'Kx'],
  ]);
  wsUrl = gatewayUrl(server);
  expect(wsUrl).toMatch(/^wss:/);
  origin = `https://${new URL(wsUrl).host}`;

  // The client as a page would ship it: bundled for the browser from the built package.
  const bundle = await build({
    stdin: {
      contents: "import { connectWs } from '@kvws/client/ws';\nglobalThis.kvws = { connectWs };\n",
      resolveDir: ROOT,
      sourcefile: 'client-browser-entry.js',
      loader: 'js',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  chromium = await launchChromium();
  page = chromium.page;
  // Any URL of the origin will do: the page only needs kvws's origin for fetch and the WebSocket.
  await page.goto(`${origin}/.well-known/jwks.json`);
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
});

afterAll(async () => {
  // Bounded, and never throws: kvws is stopped whatever failed before.
  await chromium?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('@kvws/client in Chromium', () => {
  it('logs in with a token provider, sets a key with a TTL and hears it expire', async () => {
    expect(new URL(page.url()).origin).toBe(origin);
    expect(await page.evaluate(() => typeof (globalThis as { kvws?: { connectWs?: unknown } }).kvws?.connectWs)).toBe(
      'function',
    );

    const out = await page.evaluate(async (url) => {
      type Client = {
        set(k: string, v: string, o?: { px?: number }): Promise<string | null>;
        get(k: string): Promise<string | null>;
        call(...argv: (string | number)[]): Promise<unknown>;
        onExpired(pattern: string, listener: (key: string) => void): Promise<{ unsubscribe(): Promise<void> }>;
        close(): Promise<void>;
      };
      const kvws = (
        globalThis as unknown as {
          kvws: { connectWs(url: string, o: { token: () => Promise<string> }): Client | Promise<Client> };
        }
      ).kvws;
      const res = await fetch('/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'web', password: 'web-pw' }),
      });
      const { token } = (await res.json()) as { token?: string };
      if (!token) return { status: res.status };
      let tokenCalls = 0;
      const c = await kvws.connectWs(url, {
        token: async () => {
          tokenCalls++;
          return token;
        },
      });
      try {
        let timer: ReturnType<typeof setTimeout> | undefined;
        let heard: (key: string) => void = () => {};
        const expired = new Promise<string>((resolve, reject) => {
          heard = resolve;
          timer = setTimeout(() => reject(new Error('no expiry event within 5 s')), 5000);
        });
        const sub = await c.onExpired('session:*', (key) => heard(key));
        const set = await c.set('session:1', 'x', { px: 300 });
        const pttl = await c.call('PTTL', 'session:1');
        // Outside the user's keys: the server's error reply, as the client's KvwsError.
        const denied = await c.set('other:1', 'x').then(
          (v) => ({ value: v }),
          (e: { name?: string; code?: string }) => ({ name: e.name, code: e.code }),
        );
        const key = await expired.finally(() => clearTimeout(timer));
        const after = await c.get('session:1');
        await sub.unsubscribe();
        return { status: res.status, set, pttl, denied, key, after, tokenCalls };
      } finally {
        await c.close();
      }
    }, wsUrl);

    expect(out.status).toBe(200);
    expect(out.set).toBe('OK');
    expect(out.pttl).toBeGreaterThan(0);
    expect(out.pttl).toBeLessThanOrEqual(300);
    expect(out.denied).toEqual({ name: 'KvwsError', code: 'NOPERM' });
    expect(out.key).toBe('session:1');
    expect(out.after).toBeNull();
    expect(out.tokenCalls).toBeGreaterThanOrEqual(1);
  });
});
