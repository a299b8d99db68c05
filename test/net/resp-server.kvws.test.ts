import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopback } from '../../server/src/net/resp-server.js';
import {
  completeReplies,
  makeTestCertificate,
  RawConnection,
  type RunningServer,
  redisClient,
  startKvws,
} from '../helpers/server.js';
import { rss, sleep, waitFor } from '../helpers/wait.js';

// The RESP front door's limits, end to end: real kvws processes, real clients over loopback. kvws-only
// (TLS flags, start-up output, process memory), so this file runs in the kvws project only.

const servers: RunningServer[] = [];
const clients: Redis[] = [];
const raws: RawConnection[] = [];

async function start(args: string[] = []): Promise<RunningServer> {
  const s = await startKvws(args);
  servers.push(s);
  return s;
}

function client(server: RunningServer, opts: Parameters<typeof redisClient>[1] = {}): Redis {
  const c = redisClient(server, opts);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

async function raw(server: RunningServer | number): Promise<RawConnection> {
  const c = await RawConnection.open(server);
  raws.push(c);
  return c;
}

afterAll(async () => {
  for (const c of raws) c.close();
  for (const c of clients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
});

/** A raw RESP2 connection named `name`, subscribed to `channel`, that then stops reading its socket. */
async function stalledSubscriber(server: RunningServer, name: string, channel: string): Promise<RawConnection> {
  const sub = await raw(server);
  expect(await sub.command('CLIENT', 'SETNAME', name)).toBe('+OK\r\n');
  expect(await sub.command('SUBSCRIBE', channel)).toBe(
    `*3\r\n$9\r\nsubscribe\r\n$${channel.length}\r\n${channel}\r\n:1\r\n`,
  );
  sub.socket.pause();
  return sub;
}

async function numsub(c: Redis, channel: string): Promise<number> {
  const reply = (await c.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

const MESSAGE = Buffer.alloc(64 * 1024, 'm');

/**
 * Publishes up to `maxBytes` of 64 KiB messages, one at a time, until the stalled subscriber is gone.
 * Returns the bytes published.
 */
async function floodUntilGone(pub: Redis, channel: string, maxBytes: number): Promise<number> {
  let sent = 0;
  while (sent < maxBytes) {
    const receivers = await pub.publish(channel, MESSAGE);
    sent += MESSAGE.length;
    if (receivers === 0) break;
  }
  return sent;
}

describe('TLS (--resp-tls)', () => {
  let dir: string;
  let server: RunningServer;
  let ca: Buffer;

  beforeAll(async () => {
    // A throwaway CA and a leaf for localhost/127.0.0.1, as certs-dev/make-dev-certs.sh makes them.
    dir = mkdtempSync(path.join(tmpdir(), 'kvws-tls-test-'));
    const cert = makeTestCertificate(dir);
    ca = readFileSync(cert.ca);
    server = await start(['--resp-tls', '--tls-cert', cert.cert, '--tls-key', cert.key]);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('start-up names the TLS listener', () => {
    expect(server.output()).toContain(`kvws: RESP over TLS listening on 127.0.0.1:${server.port}\n`);
  });

  it('a client that trusts the CA runs SET and GET', async () => {
    const c = client(server, { tls: { ca } });
    expect(await c.set('tls:key', 'over tls')).toBe('OK');
    expect(await c.get('tls:key')).toBe('over tls');
  });

  it('a client that does not trust the certificate is refused', async () => {
    const c = client(server, { tls: {}, maxRetriesPerRequest: 0 });
    await expect(c.ping()).rejects.toThrow();
  });

  it('plain RESP on the TLS port is dropped without harming other clients', async () => {
    const good = client(server, { tls: { ca } });
    expect(await good.ping()).toBe('PONG');
    const plain = await raw(server);
    plain.send('*1\r\n$4\r\nPING\r\n');
    const text = await plain.readUntil(() => plain.closed, 5000);
    expect(plain.closed).toBe(true);
    expect(text).not.toContain('PONG');
    // A plain client that connects and says nothing does not block anyone either.
    const silent = await raw(server);
    expect(await good.set('tls:after', '1')).toBe('OK');
    expect(await good.get('tls:after')).toBe('1');
    const another = client(server, { tls: { ca } });
    expect(await another.get('tls:key')).toBe('over tls');
    silent.close();
  });

  it('shutdown does not wait for a TLS handshake that never finishes', async () => {
    const silent = await raw(server);
    const t0 = Date.now();
    await server.stop();
    // stop() sends SIGTERM and would SIGKILL after 5 s.
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(server.output()).toContain('kvws: SIGTERM received, shutting down');
    expect(await silent.readUntil(() => silent.closed, 2000)).toBe('');
    expect(silent.closed).toBe(true);
  });
});

describe('pub/sub output buffer limits', () => {
  it('a subscriber that stops reading is dropped at the hard limit; the publisher and memory are fine', async () => {
    const server = await start(['--pubsub-hard-limit', '1048576', '--pubsub-soft-limit', '0']);
    const pub = client(server);
    await stalledSubscriber(server, 'stalled', 'flood');
    expect(await numsub(pub, 'flood')).toBe(1);
    const before = rss(server.pid as number);
    const sent = await floodUntilGone(pub, 'flood', 20 * 1024 * 1024);
    // Loopback socket buffers take a few MiB before kvws's own queue grows; 1 MiB more ends it.
    expect(sent).toBeLessThan(20 * 1024 * 1024);
    expect(await waitFor(async () => (await numsub(pub, 'flood')) === 0, 5000)).toBe(true);
    expect(await pub.call('CLIENT', 'LIST')).not.toContain('name=stalled ');
    expect(await pub.ping()).toBe('PONG');
    expect(await pub.set('after', 'flood')).toBe('OK');
    expect(await pub.get('after')).toBe('flood');
    expect(rss(server.pid as number) - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('soft limit: dropped once over it for pubsub-soft-seconds, not at once', async () => {
    const server = await start([
      '--pubsub-hard-limit',
      '0',
      '--pubsub-soft-limit',
      '262144',
      '--pubsub-soft-seconds',
      '1',
    ]);
    const pub = client(server);
    await stalledSubscriber(server, 'slow', 'soft');
    // 6 MiB in one pipeline: far over the soft limit, but the soft limit only acts after a second.
    const started = Date.now();
    const burst = pub.pipeline();
    for (let i = 0; i < 96; i++) burst.publish('soft', MESSAGE);
    const results = (await burst.exec()) ?? [];
    expect(results.every(([err, n]) => err === null && n === 1)).toBe(true);
    expect(await numsub(pub, 'soft')).toBe(1);
    // Keep publishing small messages: the limit is checked as output is added (as in Redis).
    let goneAt = 0;
    while (Date.now() - started < 8000) {
      if ((await pub.publish('soft', 'tick')) === 0) {
        goneAt = Date.now();
        break;
      }
      await sleep(100);
    }
    expect(goneAt).toBeGreaterThan(0);
    expect(goneAt - started).toBeGreaterThanOrEqual(900);
    expect(await numsub(pub, 'soft')).toBe(0);
    expect(await pub.ping()).toBe('PONG');
  });

  it('CONFIG SET client-output-buffer-limit applies to a running server', async () => {
    const server = await start();
    const pub = client(server);
    const get = async () => ((await pub.config('GET', 'client-output-buffer-limit')) as string[])[1];
    expect(await get()).toContain('pubsub 33554432 8388608 60');
    expect(await pub.config('SET', 'client-output-buffer-limit', 'pubsub 1mb 0 0')).toBe('OK');
    expect(await get()).toContain('pubsub 1048576 0 0');
    await stalledSubscriber(server, 'stalled2', 'live');
    const sent = await floodUntilGone(pub, 'live', 20 * 1024 * 1024);
    expect(sent).toBeLessThan(20 * 1024 * 1024);
    expect(await waitFor(async () => (await numsub(pub, 'live')) === 0, 5000)).toBe(true);
    expect(await pub.call('CLIENT', 'LIST')).not.toContain('name=stalled2 ');
    expect(await pub.ping()).toBe('PONG');
  });
});

describe('idle timeout', () => {
  it('--timeout 1 closes an idle client after about a second; subscribed and blocked clients stay', async () => {
    const server = await start(['--timeout', '1']);
    const idle = await raw(server);
    const sub = await raw(server);
    const blocked = await raw(server);
    expect(await sub.command('SUBSCRIBE', 'news')).toBe('*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n');
    blocked.send('*3\r\n$5\r\nBLPOP\r\n$4\r\nidle\r\n$1\r\n0\r\n');
    const t0 = Date.now();
    expect(await idle.command('PING')).toBe('+PONG\r\n');
    await idle.readUntil(() => idle.closed, 6000);
    const idleFor = Date.now() - t0;
    expect(idle.closed).toBe(true);
    expect(idleFor).toBeGreaterThanOrEqual(950);
    expect(idleFor).toBeLessThan(5000);
    // Well past the timeout, the other two are still there and working.
    await sleep(Math.max(0, 3500 - idleFor));
    expect(sub.closed).toBe(false);
    expect(blocked.closed).toBe(false);
    const c = client(server);
    expect(await c.publish('news', 'hi')).toBe(1);
    expect(await sub.readUntil((t) => completeReplies(t) >= 1)).toBe(
      '*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n',
    );
    expect(await c.lpush('idle', 'v')).toBe(1);
    expect(await blocked.readUntil((t) => completeReplies(t) >= 1)).toBe('*2\r\n$4\r\nidle\r\n$1\r\nv\r\n');
    c.disconnect();
  });

  it('CONFIG SET timeout applies at once', async () => {
    const server = await start();
    const idle = await raw(server);
    expect(await idle.command('PING')).toBe('+PONG\r\n');
    await sleep(2200);
    expect(idle.closed).toBe(false);
    const admin = await raw(server);
    expect(await admin.command('CONFIG', 'SET', 'timeout', '1')).toBe('+OK\r\n');
    admin.close();
    const t0 = Date.now();
    await idle.readUntil(() => idle.closed, 6000);
    expect(idle.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
    const c = await raw(server);
    expect(await c.command('CONFIG', 'GET', 'timeout')).toBe('*2\r\n$7\r\ntimeout\r\n$1\r\n1\r\n');
    expect(await c.command('CONFIG', 'SET', 'timeout', '0')).toBe('+OK\r\n');
    c.close();
  });
});

describe('--max-clients', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await start(['--max-clients', '3', '--no-protected-mode']);
  });

  it('refuses the connection beyond the limit and accepts again after one leaves', async () => {
    const open: RawConnection[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await raw(server);
      expect(await c.command('PING')).toBe('+PONG\r\n');
      open.push(c);
    }
    const extra = await raw(server);
    const text = await extra.readUntil(() => extra.closed, 5000);
    expect(text).toBe('-ERR max number of clients reached\r\n');
    expect(extra.closed).toBe(true);
    for (const c of open) expect(await c.command('PING')).toBe('+PONG\r\n');
    expect(await open[0].command('INFO', 'stats')).toMatch(/rejected_connections:[1-9]/);

    open[0].close();
    let accepted: RawConnection | null = null;
    const deadline = Date.now() + 5000;
    while (!accepted && Date.now() < deadline) {
      const c = await raw(server);
      const reply = await c.command('PING');
      if (reply === '+PONG\r\n') accepted = c;
      else {
        expect(reply).toBe('-ERR max number of clients reached\r\n');
        await sleep(100);
      }
    }
    expect(accepted).not.toBeNull();
    accepted?.close();
    for (const c of open) c.close();
  });

  it('--no-protected-mode leaves out the protected-mode line', async () => {
    expect(server.output()).toContain('kvws: ready');
    expect(server.output()).not.toContain('protected mode');
    // The previous test's clients may take a moment to be forgotten: retry while the server is full.
    let reply = '';
    await waitFor(async () => {
      const c = await raw(server);
      reply = await c.command('CONFIG', 'GET', 'protected-mode');
      c.close();
      return !reply.startsWith('-ERR max number of clients reached');
    }, 5000);
    expect(reply).toBe('*2\r\n$14\r\nprotected-mode\r\n$2\r\nno\r\n');
  });
});

describe('protected mode', () => {
  it('start-up says so by default', async () => {
    const server = await start();
    expect(server.output()).toContain(
      'kvws: no authentication configured (the default user is open): only loopback clients are accepted (protected mode)\n',
    );
    const c = await raw(server);
    expect(await c.command('CONFIG', 'GET', 'protected-mode')).toBe('*2\r\n$14\r\nprotected-mode\r\n$3\r\nyes\r\n');
    c.close();
  });

  it('isLoopback: 127.0.0.0/8, ::1 and IPv4-mapped 127.* only', () => {
    for (const ip of ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '::ffff:127.0.0.1', '::ffff:127.9.9.9'])
      expect(isLoopback(ip), ip).toBe(true);
    for (const ip of [
      '10.0.0.1',
      '192.168.1.10',
      '0.0.0.0',
      '::',
      '::ffff:10.0.0.1',
      'fe80::1',
      '128.0.0.1',
      '',
      undefined,
    ])
      expect(isLoopback(ip), String(ip)).toBe(false);
  });
});

describe('pipelining after a blocking command', () => {
  it('commands behind BLPOP wait for it and are answered in order', async () => {
    const server = await start();
    const c = await raw(server);
    c.send('*3\r\n$5\r\nBLPOP\r\n$5\r\nqueue\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n');
    expect(await c.readUntil((t) => t.length > 0, 500)).toBe('');
    const pusher = client(server);
    expect(await pusher.lpush('queue', 'job')).toBe(1);
    expect(await c.readUntil((t) => completeReplies(t) >= 2)).toBe('*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n+PONG\r\n');
    expect(await c.command('PING')).toBe('+PONG\r\n');
  });
});
