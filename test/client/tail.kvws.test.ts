import { KvwsError, type StreamEntry, type TailEvent } from '@kvws/client';
import { connectWs, type WsClient } from '@kvws/client/ws';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { sleep, waitFor } from '../helpers/wait.js';

// `client.tail` over the WebSocket transport (@kvws/client/ws, with the `ws` package) against a real kvws:
// listeners and async iterators, resume after cut connections (a TCP proxy), flow control for a slow
// iterator, deleted and ended events, refusals. kvws-only.

let server: RunningServer;
let r: Redis;
const clients: WsClient[] = [];
const proxies: TcpProxy[] = [];
/** Fast backoff for tests. */
const FAST = { baseDelay: 20, maxDelay: 100 };

function open(url = wsUrl(server), options: object = {}): WsClient {
  const c = connectWs(url, { WebSocket, ...FAST, ...options });
  clients.push(c);
  return c;
}

async function until(check: () => boolean, what: () => string, ms = 15_000): Promise<void> {
  if (!(await waitFor(check, ms))) throw new Error(`timed out: ${what()}`);
}

beforeAll(async () => {
  server = await startKvws(['--port', String(await freePort()), '--no-tls']);
  r = redisClient(server);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(proxies.map((p) => p.close()));
  r.disconnect();
  await server.stop();
});

describe('client.tail', () => {
  it('delivers entries to the listener and to iterators, with fields as objects; last follows', async () => {
    const c = open();
    await r.xadd('ct:a', '1-0', 'old', '1');
    const got: StreamEntry[] = [];
    const tail = await c.tail('ct:a', {}, (e) => got.push(e));
    expect(tail.last).toBe('1-0');
    const it = tail[Symbol.asyncIterator]();
    await r.xadd('ct:a', '2-0', 'user', 'ada', 'n', '1');
    await r.xadd('ct:a', '3-0', 'user', 'bob');
    expect((await it.next()).value).toEqual({ id: '2-0', fields: { user: 'ada', n: '1' } });
    expect((await it.next()).value).toEqual({ id: '3-0', fields: { user: 'bob' } });
    expect(got.map((e) => e.id)).toEqual(['2-0', '3-0']);
    expect(tail.last).toBe('3-0');
    await tail.untail();
    expect(tail.active).toBe(false);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    await r.xadd('ct:a', '4-0', 'user', 'cy');
    await sleep(100);
    expect(got.length).toBe(2);
    // A new tail from a saved position (another page load): only what came after.
    const again: string[] = [];
    await c.tail('ct:a', { from: '2-0' }, (e) => again.push(e.id));
    await until(
      () => again.length === 2,
      () => JSON.stringify(again),
    );
    expect(again).toEqual(['3-0', '4-0']);
  });

  it('one tail per key on a client; refusals reject with the server error', async () => {
    const c = open();
    await c.tail('ct:one');
    await expect(c.tail('ct:one')).rejects.toThrow(/already tails "ct:one"/);
    await r.set('ct:str', 'x');
    const e = await c.tail('ct:str').catch((x: Error) => x);
    expect(e).toBeInstanceOf(KvwsError);
    expect((e as KvwsError).code).toBe('WRONGTYPE');
    // Refused, it is not kept: a later tail of the key may start.
    await r.del('ct:str');
    await c.tail('ct:str');
  });

  it('deleted and ended events; an iterator throws the error that ended the tail', async () => {
    const c = open();
    await r.call('ACL', 'SETUSER', 'ctail', 'on', '>pw', 'resetkeys', '~ct:acl:*', '+@all');
    const u = open(wsUrl(server), { username: 'ctail', password: 'pw' });
    await r.xadd('ct:acl:x', '1-0', 'a', '1');
    const events: TailEvent[] = [];
    const tail = await u.tail('ct:acl:x');
    tail.onEvent((e) => events.push(e));
    const it = tail[Symbol.asyncIterator]();
    await r.del('ct:acl:x');
    await until(
      () => events.length === 1,
      () => JSON.stringify(events),
    );
    expect(events[0]).toEqual({ event: 'deleted' });
    await r.xadd('ct:acl:x', '5-0', 'a', '5');
    expect((await it.next()).value).toEqual({ id: '5-0', fields: { a: '5' } });
    await r.call('ACL', 'SETUSER', 'ctail', 'resetkeys');
    await r.xadd('ct:acl:x', '6-0', 'a', '6');
    const err = await it.next().catch((x: Error) => x);
    expect(err).toBeInstanceOf(KvwsError);
    expect((err as KvwsError).code).toBe('NOPERM');
    expect(events[1]).toMatchObject({ event: 'ended' });
    expect(tail.active).toBe(false);
    expect(await c.ping()).toBe('PONG');
  });

  it('every entry exactly once, in order, while the connection is cut six times', async () => {
    const proxy = await TcpProxy.start(server.httpsPort as number);
    proxies.push(proxy);
    const c = open(`ws://127.0.0.1:${proxy.port}/ws`);
    const got: string[] = [];
    let drops = 0;
    c.transport.on('reconnect', () => drops++);
    await c.tail('ct:cut', { count: 7 }, (e) => got.push(e.id));
    let written = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const p = r.pipeline();
        for (let i = 0; i < 20; i++) p.xadd('ct:cut', '*', 'n', String(written++));
        await p.exec();
        await sleep(5);
      }
    })();
    for (let cut = 0; cut < 6; cut++) {
      const before = got.length;
      await until(
        () => got.length > before + 50 && c.transport.state === 'connected',
        () => `cut ${cut}: ${got.length} entries`,
      );
      proxy.refusing = cut % 2 === 0;
      proxy.cut();
      await until(
        () => drops > cut,
        () => 'the client did not notice the cut',
      );
      await sleep(50);
      proxy.refusing = false;
    }
    writing = false;
    await writer;
    const all = ((await r.xrange('ct:cut', '-', '+')) as [string, string[]][]).map((e) => e[0]);
    expect(all.length).toBe(written);
    await until(
      () => got.length >= all.length,
      () => `${got.length} of ${all.length}`,
    );
    expect(got).toEqual(all);
    expect(drops).toBeGreaterThanOrEqual(6);
  }, 60_000);

  it('an iterator that does not keep up pauses the tail on the server; nothing is lost', async () => {
    const c = open();
    let received = 0;
    const tail = await c.tail('ct:slow', { count: 1000 }, () => received++);
    const it = tail[Symbol.asyncIterator]();
    const total = 30_000;
    for (let i = 0; i < total; i += 1000) {
      const p = r.pipeline();
      for (let j = i; j < i + 1000; j++) p.xadd('ct:slow', `${j + 1}-0`, 'n', String(j + 1));
      await p.exec();
    }
    await sleep(300);
    // Paused at 10,000 queued (plus what was already on its way): the server stopped sending.
    expect(received).toBeGreaterThanOrEqual(10_000);
    expect(received).toBeLessThan(total);
    for (let n = 1; n <= total; n++) {
      const { value } = await it.next();
      if ((value as StreamEntry).id !== `${n}-0`) throw new Error(`entry ${n}: got ${(value as StreamEntry).id}`);
    }
    expect(received).toBe(total);
  }, 60_000);
});
