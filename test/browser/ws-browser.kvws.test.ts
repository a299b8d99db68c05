import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChromiumPage, launchChromium } from '../helpers/browser.js';
import {
  freePort,
  wsUrl as gatewayUrl,
  makeTestCertificate,
  type RunningServer,
  redisClient,
  startKvws,
} from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

// The WebSocket gateway from a real browser: headless Chromium (playwright-core, the Debian chromium
// package) loads a page from kvws's own HTTPS port, so the page's origin is the gateway's, and opens
// wss://…/ws with the kvws.v1 subprotocol. kvws serves a throwaway certificate (makeTestCertificate, a
// private CA made with openssl in a temporary directory); the browser context ignores certificate errors.
// kvws-only (the gateway), so the file runs in the kvws project only.

let certDir = '';
let server: RunningServer;
let origin = '';
let wsUrl = '';
let chromium: ChromiumPage | undefined;
let page: Page;
const clients: Redis[] = [];

function client(): Redis {
  const c = redisClient(server);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

beforeAll(async () => {
  certDir = mkdtempSync(path.join(tmpdir(), 'kvws-browser-test-'));
  const { cert, key } = makeTestCertificate(certDir);
  server = await startKvws(['--port', String(await freePort()), '--tls-cert', cert, '--tls-key', key]);
  wsUrl = gatewayUrl(server);
  expect(wsUrl).toMatch(/^wss:/);
  origin = `https://${new URL(wsUrl).host}`;
  chromium = await launchChromium();
  page = chromium.page;
  // A path that is not /ws: the gateway answers 404, which still gives the page the gateway's origin.
  await page.goto(`${origin}/`);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  // Bounded, and never throws: kvws is stopped whatever failed before.
  await chromium?.close();
  await server?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('WebSocket gateway in Chromium', () => {
  it('delivers the expired keyspace event of a PX 300 key to a browser page', async () => {
    expect(new URL(page.url()).origin).toBe(origin);
    const r = await page.evaluate(async (url) => {
      type Frame = { id?: number; result?: unknown; error?: string; push?: string; [k: string]: unknown };
      return await new Promise<{
        protocol: string;
        replies: Record<number, Frame>;
        push: Frame;
        elapsedMs: number;
      }>((resolve, reject) => {
        const ws = new WebSocket(url, 'kvws.v1');
        const replies: Record<number, Frame> = {};
        let setAt = 0;
        const timer = setTimeout(() => {
          ws.close();
          reject(new Error(`no expired event within 5 s; replies so far: ${JSON.stringify(replies)}`));
        }, 5000);
        ws.onerror = () => reject(new Error('WebSocket error'));
        ws.onclose = (e) => reject(new Error(`WebSocket closed: ${e.code} ${e.reason}`));
        ws.onopen = () => {
          ws.send(JSON.stringify({ id: 1, cmd: ['CONFIG', 'SET', 'notify-keyspace-events', 'Ex'] }));
          ws.send(JSON.stringify({ id: 2, cmd: ['PSUBSCRIBE', '__keyevent@0__:expired'] }));
        };
        ws.onmessage = (ev) => {
          const msg = JSON.parse(String(ev.data)) as Frame;
          if (typeof msg.id === 'number') {
            replies[msg.id] = msg;
            // SET only once the subscription is acknowledged, and time the TTL from here.
            if (msg.id === 2) {
              setAt = performance.now();
              ws.send(JSON.stringify({ id: 3, cmd: ['SET', 'session:1', 'v', 'PX', 300] }));
            }
            return;
          }
          if (msg.push === 'pmessage') {
            const elapsedMs = performance.now() - setAt;
            clearTimeout(timer);
            ws.onclose = null;
            ws.close();
            resolve({ protocol: ws.protocol, replies, push: msg, elapsedMs });
          }
        };
      });
    }, wsUrl);
    expect(r.protocol).toBe('kvws.v1');
    expect(r.replies[1]).toEqual({ id: 1, result: 'OK' });
    expect(r.replies[2].error).toBeUndefined();
    expect(r.replies[2].stream).toEqual({ epoch: expect.stringMatching(/^[0-9a-f]{16}$/), offset: expect.any(Number) });
    expect(r.replies[3]).toEqual({ id: 3, result: 'OK' });
    // Only `expired` is notified ("Ex"): the event right after the subscription's position.
    expect(r.push).toEqual({
      push: 'pmessage',
      pattern: '__keyevent@0__:expired',
      channel: '__keyevent@0__:expired',
      data: 'session:1',
      offset: (r.replies[2].stream as { offset: number }).offset + 1,
    });
    // Not before the deadline (1 ms of slack for the browser's coarsened clock), and not long after it.
    expect(r.elapsedMs).toBeGreaterThanOrEqual(299);
    expect(r.elapsedMs).toBeLessThan(2000);
  });

  it('keeps serving while pages close their sockets mid-subscription and reload, 20 times', async () => {
    const redis = client();
    const publisher = client();
    await redis.ping();
    // Messages stream to the subscribed pages the whole time, so sockets close with pushes in flight
    // (the case that crashes Webdis).
    let publishing = true;
    let published = 0;
    const pump = (async () => {
      const payload = 'x'.repeat(512);
      while (publishing) {
        await publisher.publish('news.browser', payload);
        published++;
      }
    })();
    try {
      for (let i = 0; i < 20; i++) {
        await page.goto(`${origin}/`);
        const got = await page.evaluate(
          async ({ url, closeExplicitly }) => {
            return await new Promise<number>((resolve, reject) => {
              const ws = new WebSocket(url, 'kvws.v1');
              let messages = 0;
              const timer = setTimeout(() => reject(new Error(`no message within 5 s (got ${messages})`)), 5000);
              ws.onerror = () => reject(new Error('WebSocket error'));
              ws.onopen = () => {
                ws.send(JSON.stringify({ id: 1, cmd: ['PSUBSCRIBE', 'news.*'] }));
                ws.send(JSON.stringify({ id: 2, cmd: ['SUBSCRIBE', 'news.browser'] }));
              };
              ws.onmessage = (ev) => {
                const msg = JSON.parse(String(ev.data));
                if (msg.error) reject(new Error(`error frame: ${msg.error}`));
                if (msg.push && ++messages === 5) {
                  clearTimeout(timer);
                  // Half the time close the socket ourselves; otherwise leave it open and let the reload
                  // tear it down.
                  if (closeExplicitly) ws.close();
                  resolve(messages);
                }
              };
            });
          },
          { url: wsUrl, closeExplicitly: i % 2 === 0 },
        );
        expect(got).toBe(5);
        if (i % 2 === 1) await page.reload();
      }
    } finally {
      publishing = false;
      await pump.catch(() => {});
    }
    expect(published).toBeGreaterThan(0);
    // The server is still up and serving: RESP clients, and a fresh WebSocket from the page.
    expect(await redis.ping()).toBe('PONG');
    await page.goto(`${origin}/`);
    const pong = await page.evaluate(async (url) => {
      return await new Promise<unknown>((resolve, reject) => {
        const ws = new WebSocket(url, 'kvws.v1');
        const timer = setTimeout(() => reject(new Error('no PING reply within 5 s')), 5000);
        ws.onerror = () => reject(new Error('WebSocket error'));
        ws.onopen = () => ws.send(JSON.stringify({ id: 7, cmd: ['PING'] }));
        ws.onmessage = (ev) => {
          clearTimeout(timer);
          ws.close();
          resolve(JSON.parse(String(ev.data)));
        };
      });
    }, wsUrl);
    expect(pong).toEqual({ id: 7, result: 'PONG' });
    // Every closed page's subscriptions are gone.
    const cleaned = await waitFor(async () => Number(await redis.pubsub('NUMPAT')) === 0, 5000);
    expect(cleaned, `PUBSUB NUMPAT is ${await redis.pubsub('NUMPAT')}`).toBe(true);
    expect(Number(await redis.publish('news.browser', 'anyone?'))).toBe(0);
  });
});
