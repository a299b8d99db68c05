import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type Redis from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpTarget, httpJson } from '../helpers/http.js';
import { type TestSigner, writeTestKeysFile } from '../helpers/jwt-keys.js';
import {
  freePort,
  makeTestCertificate,
  RawConnection,
  type RunningServer,
  redisClient,
  startKvws,
  wsUrl,
} from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { WsClient } from '../helpers/ws.js';

// Connection admission (server/src/net/admission.ts) through the real front doors: per-listener address
// allow-lists (IPv4, IPv6, IPv4-mapped), the per-address connection limit shared by both ports, refusal
// counters in INFO and /metrics; per-user address allow-lists on every login path; and slow clients (TLS
// handshakes, HTTP headers and bodies, idle keep-alive) closed within their bounds. kvws-only.

const servers: RunningServer[] = [];
const closers: (() => void)[] = [];
let dir = '';
let cert: { ca: string; cert: string; key: string };
let ca: Buffer;

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws([
    '--port',
    String(await freePort()),
    '--tls-cert',
    cert.cert,
    '--tls-key',
    cert.key,
    ...args,
  ]);
  servers.push(s);
  return s;
}

function client(server: RunningServer, opts: Parameters<typeof redisClient>[1] = {}): Redis {
  const c = redisClient(server, opts);
  c.on('error', () => {});
  closers.push(() => c.disconnect());
  return c;
}

async function raw(port: number): Promise<RawConnection> {
  const c = await RawConnection.open(port);
  closers.push(() => c.close());
  return c;
}

/** INFO stats of `c` as field → number. */
async function stats(c: Redis): Promise<Record<string, number>> {
  const text = await c.info('stats');
  const out: Record<string, number> = {};
  for (const line of text.split('\r\n')) {
    const m = /^([a-z_0-9]+):(-?\d+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * Connects over TCP to `host:port`, writes `data` (if any), and resolves once the peer closed (or after
 * `timeoutMs`): what was received, whether it closed, and after how long.
 */
function tcpOutcome(
  port: number,
  host: string,
  data?: string,
  timeoutMs = 5000,
): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, host);
    let text = '';
    s.on('error', () => {});
    s.on('connect', () => {
      if (data !== undefined) s.write(data);
    });
    s.on('data', (d) => {
      text += d.toString('latin1');
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false, ms: Date.now() - t0 });
    }, timeoutMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, ms: Date.now() - t0 });
    });
  });
}

/** A TLS connection attempt to the HTTPS port: 'ok' once secure, else the error's code or message. */
function tlsAttempt(port: number, host = '127.0.0.1', extra: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host, ca, servername: 'localhost', ...extra });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 5000);
    s.on('secureConnect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('ok');
    });
    s.on('error', (e: Error & { code?: string }) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-admission-test-'));
  cert = makeTestCertificate(dir);
  ca = readFileSync(cert.ca);
});

afterAll(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('allow-lists per listener', () => {
  let server: RunningServer;
  beforeAll(async () => {
    // Bound to :: so that 127.0.0.1 arrives as ::ffff:127.0.0.1 (IPv4-mapped) and ::1 as IPv6. The lists
    // keep everything but loopback out.
    server = await start([
      ...['--host', '::', '--no-protected-mode'],
      ...['--resp-allow-from', '127.0.0.0/8', '--https-allow-from', '::1/128'],
    ]);
  });

  it('RESP: an IPv4-mapped peer matches an IPv4 block; an IPv6 peer outside is closed before anything is read', async () => {
    const allowed = await tcpOutcome(server.port, '127.0.0.1', 'PING\r\n', 1000);
    expect(allowed.text).toBe('+PONG\r\n');
    const before = await stats(client(server));
    const denied = await tcpOutcome(server.port, '::1', 'PING\r\n');
    expect(denied).toMatchObject({ text: '', closed: true });
    const after = await stats(client(server));
    expect(after.resp_rejected_allowlist - before.resp_rejected_allowlist).toBe(1);
    expect(after.rejected_connections - before.rejected_connections).toBe(1);
    // No session was made for it: only the second INFO client's own connection is new.
    expect(after.total_connections_received - before.total_connections_received).toBe(1);
  });

  it('HTTPS: closed before the TLS handshake from outside the list; counted in INFO and /metrics', async () => {
    const port = server.httpsPort as number;
    expect(await tlsAttempt(port, '::1', { checkServerIdentity: () => undefined })).toBe('ok');
    const denied = await tlsAttempt(port, '127.0.0.1');
    expect(denied).toMatch(/ECONNRESET|socket disconnected|socket hang up|EPIPE/);
    // Before any handshake: the raw socket gets no byte (no ServerHello) for what it sends.
    const rawDenied = await tcpOutcome(port, '127.0.0.1', '\x16\x03\x01\x00\x05hello');
    expect(rawDenied).toMatchObject({ text: '', closed: true });
    const s = await stats(client(server));
    expect(s.https_rejected_allowlist).toBe(2);
    const metrics = await new Promise<string>((resolve, reject) => {
      https
        .get(
          { host: '::1', port, path: '/metrics', ca, servername: 'localhost', checkServerIdentity: () => undefined },
          (res) => {
            let body = '';
            res.on('data', (d) => {
              body += d;
            });
            res.on('end', () => resolve(body));
          },
        )
        .on('error', reject);
    });
    expect(metrics).toContain('kvws_connections_rejected_total{listener="https",reason="allowlist"} 2');
    expect(metrics).toContain('kvws_connections_rejected_total{listener="resp",reason="allowlist"} 1');
  });

  it('a bad entry stops start-up naming it', async () => {
    await expect(startKvws(['--resp-allow-from', '10.0.0.0/33'])).rejects.toThrow(
      /respAllowFrom.*"10\.0\.0\.0\/33": the prefix length must be 0-32/,
    );
    await expect(startKvws(['--https-allow-from', 'example.com'])).rejects.toThrow(/not an IP address or CIDR block/);
  });
});

describe('per-address connection limit', () => {
  let server: RunningServer;
  beforeAll(async () => {
    // Loopback is exempt by default; an empty exemption list makes the limit apply to the tests' address.
    server = await start(['--max-clients-per-address', '3', '--client-limit-exempt', '']);
  });

  it('counts both ports together; RESP reads an error, TLS is closed before the handshake; a freed slot is reused', async () => {
    const a = await raw(server.port);
    const b = await raw(server.port);
    const c = await raw(server.port);
    for (const conn of [a, b, c]) expect(await conn.command('PING')).toBe('+PONG\r\n');
    const fourth = await tcpOutcome(server.port, '127.0.0.1', 'PING\r\n');
    expect(fourth).toMatchObject({ text: '-ERR max number of clients per address reached\r\n', closed: true });
    expect(await tlsAttempt(server.httpsPort as number)).toMatch(/ECONNRESET|socket disconnected|socket hang up|EPIPE/);
    const info = await a.command('INFO', 'stats');
    expect(info).toContain('resp_rejected_per_address:1\r\n');
    expect(info).toContain('https_rejected_per_address:1\r\n');
    // A closed connection frees its slot (once the server saw the close).
    c.close();
    expect(
      await waitFor(
        async () => (await tcpOutcome(server.port, '127.0.0.1', 'PING\r\n', 1000)).text === '+PONG\r\n',
        5000,
      ),
    ).toBe(true);
    b.close();
    expect(await waitFor(async () => (await tlsAttempt(server.httpsPort as number)) === 'ok', 5000)).toBe(true);
  });

  it('exempt addresses are not limited; max clients refusals are counted too', async () => {
    const exempt = await start(['--max-clients-per-address', '1', '--max-clients', '3']);
    const conns = [await raw(exempt.port), await raw(exempt.port), await raw(exempt.port)];
    for (const conn of conns) expect(await conn.command('PING')).toBe('+PONG\r\n');
    expect(await tcpOutcome(exempt.port, '127.0.0.1', 'PING\r\n')).toMatchObject({
      text: '-ERR max number of clients reached\r\n',
      closed: true,
    });
    const info = await conns[0].command('INFO', 'stats');
    expect(info).toContain('resp_rejected_max_clients:1\r\n');
    expect(info).toContain('resp_rejected_per_address:0\r\n');
  });
});

describe('per-user address allow-lists', () => {
  let server: RunningServer;
  let admin: Redis;
  let api: HttpTarget;
  let agent: https.Agent;
  let signer: TestSigner;
  const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

  const jwtFor = (user: string) =>
    new SignJWT({ user, sub: user, iss: 'kvws', aud: 'kvws', iat: Math.floor(Date.now() / 1000) })
      .setExpirationTime('5m')
      .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' })
      .sign(signer.key);

  beforeAll(async () => {
    const usersFile = path.join(dir, 'users.acl');
    writeFileSync(
      usersFile,
      [
        'user default off',
        'user admin on >admin-pw ~* &* +@all',
        'user alice on >alice-pw ~* &* +@all',
        'user bob on >bob-pw ~* &* +@all',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    signer = await writeTestKeysFile(dir, 'admission-test-key');
    const apiTokens = [
      { user: 'alice', token: 'alice-static-token-0123456789' },
      { user: 'bob', token: 'bob-static-token-0123456789' },
    ];
    server = await start([
      ...['--acl-file', usersFile, '--jwt-keys-file', signer.keysFile, '--auth-max-failures', '0'],
      ...['--user-allow-from', JSON.stringify({ alice: ['10.0.0.0/8', 'fd00::/8'], bob: ['127.0.0.0/8'] })],
      ...['--api-tokens', JSON.stringify(apiTokens)],
    ]);
    admin = client(server, { username: 'admin', password: 'admin-pw', enableReadyCheck: false });
    agent = new https.Agent({ ca });
    closers.push(() => agent.destroy());
    api = { port: server.httpsPort, agent };
  });

  /** ACL LOG entries as `username|object` → count. */
  async function aclLog(): Promise<Record<string, number>> {
    const entries = (await admin.call('ACL', 'LOG', '1000')) as unknown[][];
    const out: Record<string, number> = {};
    for (const flat of entries) {
      const e: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) e[String(flat[i])] = String(flat[i + 1]);
      out[`${e.username}|${e.reason}|${e.object}`] =
        (out[`${e.username}|${e.reason}|${e.object}`] ?? 0) + Number(e.count);
    }
    return out;
  }

  it('RESP AUTH and HELLO AUTH: refused from elsewhere exactly as a wrong password is', async () => {
    const r = await raw(server.port);
    // ACL LOG names the command as typed (as Redis does): lower case here.
    expect(await r.command('auth', 'alice', 'alice-pw')).toBe(`-${WRONGPASS}\r\n`);
    expect(await r.command('auth', 'alice', 'not-her-password')).toBe(`-${WRONGPASS}\r\n`);
    expect(await r.command('hello', '3', 'AUTH', 'alice', 'alice-pw')).toBe(`-${WRONGPASS}\r\n`);
    expect(await r.command('GET', 'k')).toMatch(/^-NOAUTH/);
    expect(await r.command('AUTH', 'bob', 'bob-pw')).toBe('+OK\r\n');
    expect(await r.command('ACL', 'WHOAMI')).toBe('$3\r\nbob\r\n');
    const log = await aclLog();
    expect(log['alice|auth|auth:address']).toBe(1);
    expect(log['alice|auth|hello:address']).toBe(1);
    expect(log['alice|auth|auth']).toBe(1);
    expect((await stats(admin)).acl_access_denied_address).toBe(2);
  });

  it('the WebSocket auth frame, with a password or a JWT', async () => {
    const ws = await WsClient.open(wsUrl(server), { ca });
    closers.push(() => ws.close());
    expect((await ws.reply(ws.request({ auth: { username: 'alice', password: 'alice-pw' } }))).error).toBe(WRONGPASS);
    expect((await ws.reply(ws.request({ auth: { token: await jwtFor('alice') } }))).error).toBe(WRONGPASS);
    expect((await ws.reply(ws.request({ auth: { token: await jwtFor('bob') } }))).result).toMatchObject({
      user: 'bob',
    });
    expect(await ws.result('ACL', 'WHOAMI')).toBe('bob');
    const log = await aclLog();
    // The gateway runs the frame as an `AUTH` command.
    expect(log['alice|auth|AUTH:address']).toBe(1);
    expect(log['alice|auth|token:address']).toBe(1);
  });

  it('HTTP: Bearer JWTs, static API tokens and /auth/token', async () => {
    const get = (token: string) => httpJson(api, 'POST', '/', ['ACL', 'WHOAMI'], { authorization: `Bearer ${token}` });
    const jwt = await get(await jwtFor('alice'));
    expect(jwt.status).toBe(401);
    expect(jwt.json).toEqual({ error: WRONGPASS });
    const fixed = await get('alice-static-token-0123456789');
    expect(fixed.status).toBe(401);
    expect(fixed.json).toEqual({ error: WRONGPASS });
    const login = await httpJson(api, 'POST', '/auth/token', { username: 'alice', password: 'alice-pw' });
    expect(login.status).toBe(401);
    expect(login.json).toEqual({ error: WRONGPASS });
    expect((await get('bob-static-token-0123456789')).json).toEqual({ result: 'bob' });
    expect((await get(await jwtFor('bob'))).json).toEqual({ result: 'bob' });
    const log = await aclLog();
    expect(log['alice|auth|token:address']).toBe(2);
    expect(log['alice|auth|apitoken:address']).toBe(1);
    // /auth/token's password login (after the RESP `auth` of the first test).
    expect(log['alice|auth|auth:address']).toBe(2);
  });
});

describe('slow clients', () => {
  let server: RunningServer;
  /** The first flight of a real TLS client (its ClientHello), captured once. */
  let clientHello: Buffer;

  beforeAll(async () => {
    server = await start([
      ...['--resp-tls', '--tls-handshake-timeout', '1'],
      ...['--http-headers-timeout', '1', '--http-request-timeout', '2', '--http-keep-alive-timeout', '1'],
    ]);
    const sink = net.createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d) => {
        chunks.push(d);
        clientHello = Buffer.concat(chunks);
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const probe = tls.connect({
      port: (sink.address() as net.AddressInfo).port,
      host: '127.0.0.1',
      servername: 'localhost',
    });
    probe.on('error', () => {});
    await waitFor(() => clientHello !== undefined && clientHello.length > 100, 5000);
    probe.destroy();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  });

  /**
   * Sends `first`, then `drip` every `everyMs` (at most `max` times) until the peer closes; resolves with
   * what it answered and when it closed (ms after connecting; -1 if it never did).
   */
  function trickle(
    socket: net.Socket | tls.TLSSocket,
    first: Buffer | string,
    drip: (i: number) => Buffer | string | null,
    everyMs: number,
    max: number,
  ): Promise<{ text: string; closedAt: number }> {
    return new Promise((resolve) => {
      const t0 = Date.now();
      let text = '';
      let i = 0;
      socket.on('data', (d) => {
        text += d.toString('latin1');
      });
      socket.on('error', () => {});
      const timer = setInterval(() => {
        const next = i < max ? drip(i++) : null;
        if (next === null || socket.destroyed) {
          clearInterval(timer);
          if (!socket.destroyed) {
            socket.destroy();
            resolve({ text, closedAt: -1 });
          }
          return;
        }
        socket.write(next);
      }, everyMs);
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ text, closedAt: Date.now() - t0 });
      });
      socket.write(first);
    });
  }

  async function openTls(port: number): Promise<tls.TLSSocket> {
    const s = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', resolve);
      s.once('error', reject);
    });
    return s;
  }

  async function openTcp(port: number): Promise<net.Socket> {
    const s = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return s;
  }

  it('a TLS handshake not done in time is closed on both ports, even when bytes keep trickling in', async () => {
    const silent = await tcpOutcome(server.httpsPort as number, '127.0.0.1', undefined, 8000);
    expect(silent.closed).toBe(true);
    expect(silent.ms).toBeGreaterThanOrEqual(900);
    expect(silent.ms).toBeLessThan(5000);
    // One byte of a real ClientHello every 100 ms: it would take over 20 s to finish.
    for (const port of [server.port, server.httpsPort as number]) {
      const sock = await openTcp(port);
      const out = await trickle(sock, clientHello.subarray(0, 1), (i) => clientHello.subarray(i + 1, i + 2), 100, 100);
      expect(out.closedAt).toBeGreaterThan(0);
      expect(out.closedAt).toBeLessThan(5000);
    }
    const c = client(server, { tls: { ca, servername: 'localhost' } });
    const s = await stats(c);
    expect(s.https_rejected_handshake_timeout).toBe(2);
    expect(s.resp_rejected_handshake_timeout).toBe(1);
  });

  it('HTTP headers that trickle in are answered 408 and closed at the headers timeout', async () => {
    const sock = await openTls(server.httpsPort as number);
    const out = await trickle(
      sock,
      'GET /healthz HTTP/1.1\r\nHost: localhost\r\n',
      (i) => `X-Slow-${i}: y\r\n`,
      200,
      50,
    );
    expect(out.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(out.closedAt).toBeGreaterThan(0);
    expect(out.closedAt).toBeLessThan(4000);
  });

  it('a slow WebSocket upgrade request is bound by the same timeout', async () => {
    const sock = await openTls(server.httpsPort as number);
    const head =
      'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: kvws.v1\r\n';
    const out = await trickle(sock, head, (i) => `X-Slow-${i}: y\r\n`, 200, 50);
    expect(out.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(out.closedAt).toBeGreaterThan(0);
    expect(out.closedAt).toBeLessThan(4000);
  });

  it('a request body that trickles in is cut at the request timeout; an idle keep-alive connection at its timeout', async () => {
    const sock = await openTls(server.httpsPort as number);
    const head =
      'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[';
    const out = await trickle(sock, head, () => ' ', 200, 50);
    expect(out.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(out.closedAt).toBeGreaterThan(1500);
    expect(out.closedAt).toBeLessThan(5000);

    const idle = await openTls(server.httpsPort as number);
    const t0 = Date.now();
    let text = '';
    idle.on('data', (d) => {
      text += d;
    });
    idle.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const closed = await waitFor(() => idle.destroyed || idle.readableEnded, 6000);
    expect(closed).toBe(true);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(Date.now() - t0).toBeLessThan(5000);
    idle.destroy();
    const c = client(server, { tls: { ca, servername: 'localhost' } });
    expect((await stats(c)).https_rejected_request_timeout).toBe(3);
  });

  it('connections that finished their handshake and send requests in time are not affected', async () => {
    const c = client(server, { tls: { ca, servername: 'localhost' } });
    expect(await c.ping()).toBe('PONG');
    await sleep(1500);
    expect(await c.ping()).toBe('PONG');
  });
});
