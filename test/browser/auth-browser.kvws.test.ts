import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChromiumPage, launchChromium } from '../helpers/browser.js';
import { freePort, makeTestCertificate, type RunningServer, redisClient, startKvws } from '../helpers/server.js';

// Logging in from a real browser: headless Chromium (playwright-core, the Debian chromium package) on a page of
// kvws's own HTTPS origin POSTs /auth/token with a password, opens wss://…/ws with the kvws.v1 subprotocol,
// sends the `auth` frame with the token, then runs KEYS * and PSUBSCRIBE __keyspace@0__:* while the test
// writes keys of two users over RESP: the page sees only its user's keys and events. Chromium is started by
// test/helpers/browser.ts. kvws-only.

let certDir = '';
let server: RunningServer;
let origin = '';
let chromium: ChromiumPage | undefined;
let page: Page;
const clients: Redis[] = [];

function client(opts: { username?: string; password?: string } = {}): Redis {
  const c = redisClient(server, { ...opts, enableReadyCheck: false, disableClientInfo: true });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

beforeAll(async () => {
  certDir = mkdtempSync(path.join(tmpdir(), 'kvws-auth-browser-'));
  const { cert, key } = makeTestCertificate(certDir);
  server = await startKvws(['--port', String(await freePort()), '--tls-cert', cert, '--tls-key', key]);
  origin = `https://127.0.0.1:${server.httpsPort}`;
  const admin = client();
  for (const [user, prefix] of [
    ['web', 'web'],
    ['other', 'other'],
  ]) {
    const rules = [`~${prefix}:*`, '&__keyspace@0__:*', '+@all', '-@dangerous', '+keys'];
    expect(await admin.call('ACL', 'SETUSER', user, 'on', `>${user}-pw`, ...rules)).toBe('OK');
  }
  await admin.mset('web:1', 'w', 'web:2', 'w', 'other:1', 'o', 'other:2', 'o', 'nobody:1', 'n');
  expect(await admin.config('SET', 'notify-keyspace-events', 'KA')).toBe('OK');
  chromium = await launchChromium();
  page = chromium.page;
  // Any URL of the origin will do: the page only needs kvws's origin for fetch and the WebSocket.
  await page.goto(`${origin}/.well-known/jwks.json`);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await chromium?.close();
  await server?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('password → token → WebSocket in Chromium', () => {
  it('sees only its own keys and keyspace events', async () => {
    expect(new URL(page.url()).origin).toBe(origin);
    // In the page: get a token, open the WebSocket, authenticate, KEYS *, PSUBSCRIBE. The socket and the
    // events it receives stay in the page (globalThis.kvwsTest) for the second step.
    const setup = await page.evaluate(async () => {
      type Frame = { id?: number; result?: unknown; error?: string; push?: string; [k: string]: unknown };
      const res = await fetch('/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'web', password: 'web-pw' }),
      });
      const tokenReply = (await res.json()) as { token?: string; user?: string; tokenType?: string };
      if (!tokenReply.token) return { status: res.status, tokenReply, replies: {} as Record<number, Frame> };
      const ws = new WebSocket(`wss://${location.host}/ws`, 'kvws.v1');
      const state = { ws, events: [] as Frame[], replies: {} as Record<number, Frame>, closed: '' };
      (globalThis as unknown as { kvwsTest: typeof state }).kvwsTest = state;
      const waiters: (() => void)[] = [];
      ws.onmessage = (ev) => {
        const f = JSON.parse(String(ev.data)) as Frame;
        if (typeof f.id === 'number') state.replies[f.id] = f;
        else state.events.push(f);
        for (const w of waiters.splice(0)) w();
      };
      ws.onclose = (e) => {
        state.closed = `${e.code} ${e.reason}`;
      };
      const reply = (id: number) =>
        new Promise<Frame>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no reply to ${id} within 5 s`)), 5000);
          const check = () => {
            if (state.replies[id]) {
              clearTimeout(timer);
              resolve(state.replies[id]);
            } else waiters.push(check);
          };
          check();
        });
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error('WebSocket error'));
      });
      ws.send(JSON.stringify({ id: 1, auth: { token: tokenReply.token } }));
      await reply(1);
      ws.send(JSON.stringify({ id: 2, cmd: ['KEYS', '*'] }));
      ws.send(JSON.stringify({ id: 3, cmd: ['PSUBSCRIBE', '__keyspace@0__:*'] }));
      await reply(3);
      return {
        status: res.status,
        tokenReply: { user: tokenReply.user, tokenType: tokenReply.tokenType },
        protocol: ws.protocol,
        replies: state.replies,
      };
    });
    expect(setup.status).toBe(200);
    expect(setup.tokenReply).toEqual({ user: 'web', tokenType: 'Bearer' });
    expect(setup.protocol).toBe('kvws.v1');
    expect(setup.replies[1]).toEqual({ id: 1, result: { user: 'web', expiresAt: expect.any(Number) } });
    expect(setup.replies[2].error).toBeUndefined();
    expect((setup.replies[2].result as string[]).sort()).toEqual(['web:1', 'web:2']);
    expect(setup.replies[3]).toEqual({
      id: 3,
      result: [['psubscribe', '__keyspace@0__:*', 1]],
      stream: { epoch: expect.stringMatching(/^[0-9a-f]{16}$/), offset: expect.any(Number) },
    });
    // Each write below is one keyspace event ("KA"), so one offset, whether the page may see it or not.
    const at = (setup.replies[3].stream as { offset: number }).offset;

    // Both users write over RESP; the other user's writes (and a third prefix's) come first, so a leaked
    // event would reach the page before the web user's last one.
    const web = client({ username: 'web', password: 'web-pw' });
    const other = client({ username: 'other', password: 'other-pw' });
    const admin = client();
    await other.set('other:new', 'o');
    await admin.set('nobody:new', 'n');
    await web.set('web:new', 'w');
    await other.del('other:1');
    await web.del('web:1');
    await other.set('other:last', 'o');
    await web.set('web:last', 'w');

    const seen = await page.evaluate(async () => {
      type Frame = { push?: string; channel?: string; data?: string; offset?: number };
      const state = (globalThis as unknown as { kvwsTest: { events: Frame[]; closed: string; ws: WebSocket } })
        .kvwsTest;
      const deadline = Date.now() + 5000;
      while (!state.events.some((f) => f.channel === '__keyspace@0__:web:last') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const keys = await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no KEYS reply within 5 s')), 5000);
        const prev = state.ws.onmessage;
        state.ws.onmessage = (ev) => {
          const f = JSON.parse(String(ev.data));
          if (f.id === 4) {
            clearTimeout(timer);
            state.ws.onmessage = prev;
            resolve(f);
          } else prev?.call(state.ws, ev);
        };
        state.ws.send(JSON.stringify({ id: 4, cmd: ['KEYS', '*'] }));
      });
      state.ws.close();
      return { events: state.events, closed: state.closed, keys };
    });
    expect(seen.closed).toBe('');
    expect(seen.events.map((f) => `${f.push} ${f.channel} ${f.data} ${f.offset}`)).toEqual([
      `pmessage __keyspace@0__:web:new set ${at + 3}`,
      `pmessage __keyspace@0__:web:1 del ${at + 5}`,
      `pmessage __keyspace@0__:web:last set ${at + 7}`,
    ]);
    expect(((seen.keys as { result: string[] }).result ?? []).sort()).toEqual(['web:2', 'web:last', 'web:new']);
  });
});
