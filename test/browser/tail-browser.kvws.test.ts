import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type Redis from 'ioredis';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChromiumPage, launchChromium } from '../helpers/browser.js';
import { freePort, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { sleep, waitFor } from '../helpers/wait.js';

// A browser tails a stream while a worker appends to it: headless Chromium runs @kvws/client (the built
// WebSocket entry, bundled with esbuild as an IIFE) in a page served through a TCP proxy in front of kvws
// (--no-tls, so the page's origin is the proxy's and the WebSocket goes through it), and `client.tail`s a
// stream; a worker (ioredis on the RESP port) XADDs in pipelines all along. The browser's connection is cut
// eight times: by the proxy (sometimes refusing reconnects for a while) and by CLIENT KILL from the worker.
// Every entry arrives exactly once, in order. Needs `npx tsc -b` first. kvws-only.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let server: RunningServer;
let proxy: TcpProxy;
let worker: Redis;
let chromium: ChromiumPage | undefined;
let page: Page;

/** The page's state: entry IDs received, connection states seen, errors. */
interface PageState {
  got: string[];
  states: string[];
  errors: string[];
}

const state = (): Promise<PageState> =>
  page.evaluate(() => (globalThis as unknown as { tailState: PageState }).tailState);

async function until(check: () => Promise<boolean>, what: () => Promise<string>, ms = 20_000): Promise<void> {
  if (!(await waitFor(check, ms))) throw new Error(`timed out: ${await what()}`);
}

beforeAll(async () => {
  server = await startKvws(['--port', String(await freePort()), '--no-tls']);
  proxy = await TcpProxy.start(server.httpsPort as number);
  worker = redisClient(server);
  const bundle = await build({
    stdin: {
      contents: "import { connectWs } from '@kvws/client/ws';\nglobalThis.kvws = { connectWs };\n",
      resolveDir: ROOT,
      sourcefile: 'tail-browser-entry.js',
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
  // Any URL of the proxy's origin will do (a 404 page): the page only needs it for its WebSocket.
  await page.goto(`http://127.0.0.1:${proxy.port}/blank`);
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
});

afterAll(async () => {
  await chromium?.close();
  worker?.disconnect();
  await proxy?.close();
  await server?.stop();
});

describe('a browser tails a stream across cut connections', () => {
  it('every entry exactly once, in order', async () => {
    const after = await page.evaluate(async (url) => {
      type Tail = { last: string };
      type Client = {
        tail(key: string, o: { count: number }, l: (e: { id: string }) => void): Promise<Tail>;
        transport: {
          on(event: 'state', l: (e: { newState: string }) => void): void;
          on(event: 'error', l: (e: Error) => void): void;
        };
      };
      const kvws = (globalThis as unknown as { kvws: { connectWs(url: string, o: object): Client } }).kvws;
      const s: PageState = { got: [], states: [], errors: [] };
      (globalThis as unknown as { tailState: PageState }).tailState = s;
      const c = kvws.connectWs(url, { baseDelay: 20, maxDelay: 200 });
      c.transport.on('state', (e) => s.states.push(e.newState));
      c.transport.on('error', (e) => s.errors.push(e.message));
      const tail = await c.tail('feed', { count: 10 }, (e) => s.got.push(e.id));
      return tail.last;
    }, `ws://127.0.0.1:${proxy.port}/ws`);
    expect(after).toBe('0-0');

    let written = 0;
    let writing = true;
    const writes = (async () => {
      while (writing) {
        const p = worker.pipeline();
        for (let i = 0; i < 10; i++) p.xadd('feed', '*', 'n', String(written++), 'by', 'worker');
        await p.exec();
        await sleep(10);
      }
    })();

    const disconnections = async () => (await state()).states.filter((x) => x === 'disconnected').length;
    for (let cut = 0; cut < 8; cut++) {
      const before = (await state()).got.length;
      await until(
        async () => {
          const st = await state();
          return st.got.length > before + 30 && st.states[st.states.length - 1] === 'connected';
        },
        async () => `cut ${cut}: ${JSON.stringify((await state()).states.slice(-4))}, ${written} written`,
      );
      const drops = await disconnections();
      if (cut % 3 === 2) {
        // CLIENT KILL of the browser's session (the only WebSocket client).
        const list = (await worker.call('CLIENT', 'LIST')) as string;
        const id = /id=(\d+) [^\n]*door=ws/.exec(list)?.[1];
        expect(id).toBeDefined();
        expect(await worker.call('CLIENT', 'KILL', 'ID', id as string)).toBe(1);
      } else {
        // The network: cut, and for every other cut the server looks down for a while.
        proxy.refusing = cut % 2 === 0;
        proxy.cut();
      }
      await until(
        async () => (await disconnections()) > drops,
        async () => `cut ${cut} not noticed`,
      );
      await sleep(100);
      proxy.refusing = false;
    }
    writing = false;
    await writes;

    const ids = ((await worker.xrange('feed', '-', '+')) as [string, string[]][]).map((e) => e[0]);
    expect(ids.length).toBe(written);
    await until(
      async () => (await state()).got.length >= ids.length,
      async () => `${(await state()).got.length} of ${ids.length}`,
    );
    const st = await state();
    expect(st.got).toEqual(ids);
    expect(st.errors).toEqual([]);
    expect(st.states.filter((x) => x === 'disconnected').length).toBeGreaterThanOrEqual(8);
  }, 120_000);
});
