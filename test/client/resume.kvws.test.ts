import type { KeyEvent, Message } from '@kvws/client';
import { connectWs, type WsClient, type WsEvents } from '@kvws/client/ws';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Resume (issue 8) through the WebSocket transport (@kvws/client/ws) against real kvws processes: keys with
// short PX expire while a TCP proxy between the client and kvws is cut and restored several times (once in
// the middle of a replay); every `expired` event reaches the client's subscriptions exactly once, in the
// order a RESP subscriber that was never cut saw them, with increasing offsets. Then the cases the server
// cannot recover: its event log no longer reaches back (same epoch), and a restart without persistence (a
// new epoch): the `resume` event tells the application, and the subscriptions go on from the new position.
// kvws-only.

const clients: WsClient[] = [];
const servers: RunningServer[] = [];
const proxies: TcpProxy[] = [];
const redises: Redis[] = [];
/** Fast backoff for tests. */
const FAST = { baseDelay: 20, maxDelay: 100 };

function open(url: string): WsClient {
  const c = connectWs(url, { WebSocket, ...FAST });
  clients.push(c);
  return c;
}

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws(args);
  servers.push(s);
  return s;
}

async function proxyTo(s: RunningServer): Promise<TcpProxy> {
  const p = await TcpProxy.start(s.httpsPort as number);
  proxies.push(p);
  return p;
}

function resp(s: RunningServer): Redis {
  const r = redisClient(s);
  r.on('error', () => {});
  redises.push(r);
  return r;
}

/** Records a transport event. */
function record<E extends keyof WsEvents>(c: WsClient, event: E): WsEvents[E][] {
  const out: WsEvents[E][] = [];
  c.transport.on(event, (e) => out.push(e));
  return out;
}

/** Waits (bounded) for `check`, with `what` in the error when it does not hold in time. */
async function until(check: () => boolean, what: () => string, ms = 10_000): Promise<void> {
  if (!(await waitFor(check, ms))) throw new Error(`timed out: ${what()}`);
}

/** Cuts the proxy with new connections refused, and waits until the client noticed. */
async function takeDown(proxy: TcpProxy, c: WsClient): Promise<void> {
  proxy.refusing = true;
  proxy.cut();
  await until(
    () => c.transport.state !== 'connected',
    () => 'the client did not notice the cut',
  );
}

function increasing(offsets: (number | undefined)[]): boolean {
  return offsets.every((o, i) => typeof o === 'number' && (i === 0 || o > (offsets[i - 1] as number)));
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const r of redises) r.disconnect();
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

describe('resume across cut connections', () => {
  let server: RunningServer;
  let proxy: TcpProxy;

  beforeAll(async () => {
    server = await start(['--port', String(await freePort()), '--no-tls', '--notify-keyspace-events', 'KEx']);
    proxy = await proxyTo(server);
  });

  it('every expired event arrives exactly once and in order, across seven cuts (one mid-replay)', async () => {
    const admin = resp(server);
    const c = open(`ws://127.0.0.1:${proxy.port}/ws`);
    const resumes = record(c, 'resume');
    const errors = record(c, 'error');
    // The reference: a RESP subscriber that is never cut, and whether the client was connected meanwhile.
    const observer = resp(server);
    const seen: string[] = [];
    let missedLive = 0;
    observer.on('message', (_channel: string, key: string) => {
      seen.push(key);
      if (c.transport.state !== 'connected') missedLive++;
    });
    await observer.subscribe('__keyevent@0__:expired');

    // Three subscriptions, each with its own place in the stream: a channel (keyevent), a pattern (keyspace),
    // and two quiet channels that share their place (re-subscribed together).
    const keyevents: Message[] = [];
    let cutMidReplay: (() => void) | null = null;
    await c.subscribe('__keyevent@0__:expired', (m) => {
      keyevents.push(m);
      cutMidReplay?.();
    });
    const keyspace: KeyEvent[] = [];
    await c.onKeyspace('rs:*', (e) => keyspace.push(e), { events: ['expired'] });
    const quiet: Message[] = [];
    await c.subscribe(['rs:quiet1', 'rs:quiet2'], (m) => quiet.push(m));

    let total = 0;
    for (let round = 0; round < 6; round++) {
      const big = round === 2;
      const n = big ? 3000 : 40;
      const batch = admin.pipeline();
      // Big round: all expire while the client is away (a long replay). Others: before, around and after
      // the reconnect.
      for (let i = 0; i < n; i++) batch.set(`rs:${round}:${i}`, 'v', 'PX', big ? 20 + (i % 100) : 20 + i * 10);
      // The big round's keys are set once the client is away, so all of them expire while it is.
      if (big) await takeDown(proxy, c);
      await batch.exec();
      total += n;
      if (!big) await takeDown(proxy, c);
      await sleep(big ? 300 : 200);
      if (big) {
        // Cut again as soon as part of the backlog arrived: the next connection resumes from there.
        const at = keyevents.length + 500;
        cutMidReplay = () => {
          if (keyevents.length < at) return;
          cutMidReplay = null;
          proxy.cut();
        };
      }
      proxy.refusing = false;
      await until(
        () => seen.length === total && keyevents.length >= total && cutMidReplay === null,
        () => `round ${round}: ${seen.length}/${total} expired, ${keyevents.length} delivered`,
      );
    }

    await until(
      () => keyevents.length >= total && keyspace.length >= total,
      () => `${keyevents.length} keyevent and ${keyspace.length} keyspace messages of ${total}`,
    );
    expect(await admin.publish('rs:quiet1', 'q1')).toBe(1);
    expect(await admin.publish('rs:quiet2', 'q2')).toBe(1);
    await until(
      () => quiet.length >= 2,
      () => `${quiet.length} quiet messages`,
    );
    await sleep(300); // room for a duplicate to show up

    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    // Events the live stream could not have delivered (they happened while the client was away) did arrive.
    expect(missedLive).toBeGreaterThanOrEqual(3000);
    expect(keyevents.map((m) => m.data)).toEqual(seen);
    expect(keyspace.map((e) => e.key)).toEqual(seen);
    expect(increasing(keyevents.map((m) => m.offset))).toBe(true);
    expect(increasing(keyspace.map((e) => e.offset))).toBe(true);
    // One expiry is two consecutive events of the stream: keyspace, then keyevent.
    expect(keyevents.every((m, i) => m.offset === (keyspace[i].offset as number) + 1)).toBe(true);
    const last = keyevents[total - 1].offset as number;
    expect(quiet).toEqual([
      { channel: 'rs:quiet1', data: 'q1', offset: last + 1 },
      { channel: 'rs:quiet2', data: 'q2', offset: last + 2 },
    ]);
    expect(resumes).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe('quiet subscriptions keep up with the stream', () => {
  it('a subscription that hears nothing still resumes after the log moved past it (other pushes, heartbeats)', async () => {
    // A 4 KiB log: 200 events on other channels push the quiet channel's subscribe position out of it.
    const server = await start([
      '--port',
      String(await freePort()),
      '--no-tls',
      '--event-log-max-bytes',
      '4096',
      '--ws-ping-interval',
      '1',
    ]);
    const proxy = await proxyTo(server);
    const admin = resp(server);
    const c = open(`ws://127.0.0.1:${proxy.port}/ws`);
    const resumes = record(c, 'resume');
    const quiet: Message[] = [];
    const busy: Message[] = [];
    await c.subscribe('q:quiet', (m) => quiet.push(m));
    // Case 1: another subscription of the same connection gets events: the quiet one moves along.
    await c.subscribe('q:busy', (m) => busy.push(m));
    for (let i = 0; i < 200; i++) await admin.publish('q:busy', `b${i}`);
    await until(
      () => busy.length === 200,
      () => `${busy.length} busy messages`,
    );
    await takeDown(proxy, c);
    proxy.refusing = false;
    await until(
      () => c.transport.state === 'connected',
      () => 'no reconnect',
    );
    await sleep(100);
    expect(resumes).toEqual([]);
    // Case 2: events the connection does not subscribe to: the server's heartbeat (every ping interval) moves
    // both subscriptions along.
    for (let i = 0; i < 200; i++) await admin.publish('q:elsewhere', `e${i}`);
    await sleep(2500);
    await takeDown(proxy, c);
    proxy.refusing = false;
    await until(
      () => c.transport.state === 'connected',
      () => 'no reconnect',
    );
    expect(await admin.publish('q:quiet', 'finally')).toBe(1);
    await until(
      () => quiet.length === 1,
      () => 'no message on the quiet channel',
    );
    expect(resumes).toEqual([]);
    expect(quiet[0].data).toBe('finally');
  });
});

describe('resumes the server cannot recover', () => {
  it('the log no longer reaches back: resume reports recovered false, same stream, later messages arrive', async () => {
    const server = await start(['--port', String(await freePort()), '--no-tls', '--event-log-max-bytes', '4096']);
    const proxy = await proxyTo(server);
    const admin = resp(server);
    const c = open(`ws://127.0.0.1:${proxy.port}/ws`);
    const resumes = record(c, 'resume');
    const got: Message[] = [];
    await c.subscribe('rs:news', (m) => got.push(m));
    expect(await admin.publish('rs:news', 'before')).toBe(1);
    await until(
      () => got.length === 1,
      () => 'no message before the cut',
    );
    await takeDown(proxy, c);
    // 200 events of ~100 bytes each: the 4 KiB log drops the ones the client missed.
    for (let i = 0; i < 200; i++) await admin.publish('rs:news', `missed ${i}`);
    proxy.refusing = false;
    await until(
      () => resumes.length > 0,
      () => 'no resume event',
    );
    expect(resumes).toEqual([
      { recovered: false, channels: ['rs:news'], patterns: [], epoch: expect.any(String), offset: 201 },
    ]);
    expect(await admin.publish('rs:news', 'after')).toBe(1);
    await until(
      () => got.length === 2,
      () => `${got.length} messages`,
    );
    await sleep(200);
    expect(got).toEqual([
      { channel: 'rs:news', data: 'before', offset: 1 },
      { channel: 'rs:news', data: 'after', offset: 202 },
    ]);
  });

  it('a restart without persistence (a new epoch): resume reports recovered false, offsets start over', async () => {
    const args = ['--port', String(await freePort()), '--no-tls'];
    let server = await start(args);
    const c = open(wsUrl(server));
    const resumes = record(c, 'resume');
    const news: Message[] = [];
    const feed: Message[] = [];
    await c.subscribe('rs:news', (m) => news.push(m));
    await c.psubscribe('rs:feed.*', (m) => feed.push(m));
    for (let i = 1; i <= 5; i++) expect(await c.publish('rs:news', `old ${i}`)).toBe(1);
    await until(
      () => news.length === 5,
      () => `${news.length} messages before the restart`,
    );
    expect(news.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
    await server.stop();
    await until(
      () => c.transport.state !== 'connected',
      () => 'the client did not notice the stop',
    );
    server = await start(args);
    await until(
      () => resumes.length === 2,
      () => `${resumes.length} resume events`,
    );
    // One per re-subscription frame: the channel and the pattern.
    const byKind = [...resumes].sort((a, b) => a.channels.length - b.channels.length);
    expect(byKind).toEqual([
      { recovered: false, channels: [], patterns: ['rs:feed.*'], epoch: expect.any(String), offset: 0 },
      { recovered: false, channels: ['rs:news'], patterns: [], epoch: expect.any(String), offset: 0 },
    ]);
    expect(resumes[0].epoch).toBe(resumes[1].epoch);
    // The new stream's offsets are below the old position: still delivered (the position moved to the new epoch).
    expect(await c.publish('rs:news', 'new 1')).toBe(1);
    expect(await c.publish('rs:feed.a', 'new 2')).toBe(1);
    await until(
      () => news.length === 6 && feed.length === 1,
      () => `${news.length} news, ${feed.length} feed messages`,
    );
    expect(news[5]).toEqual({ channel: 'rs:news', data: 'new 1', offset: 1 });
    expect(feed).toEqual([{ channel: 'rs:feed.a', pattern: 'rs:feed.*', data: 'new 2', offset: 2 }]);
  });
});
