import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type HttpTarget, httpJson } from '../helpers/http.js';
import {
  freePort,
  makeClientCertificate,
  makeTestCertificate,
  type RunningServer,
  redisClient,
  startKvws,
  wsUrl,
} from '../helpers/server.js';
import { WsClient } from '../helpers/ws.js';

// TLS on both listeners (the RESP port with --resp-tls, the HTTPS port): TLS 1.2+ only, the strong default
// cipher list, --tls-min-version and --tls-ciphers; mutual TLS (--tls-client-ca, --tls-auth-clients
// no|optional|yes, --tls-client-user-field cn|san) with ioredis, a WebSocket and HTTPS requests; and the
// security headers (HSTS, nosniff, no-referrer, DENY) on every HTTPS answer. Real kvws processes; kvws-only.

const servers: RunningServer[] = [];
const closers: (() => void)[] = [];
let dir = '';
/** The server certificate's CA (also the CA of the client certificates below). */
let main: { ca: string; cert: string; key: string };
let caPem: Buffer;
/** Client certificates, by name: signed by `main`'s CA, except `foreign` (another CA). */
const certs: Record<string, { cert: Buffer; key: Buffer }> = {};

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws([
    ...['--port', String(await freePort()), '--resp-tls', '--tls-cert', main.cert, '--tls-key', main.key],
    ...args,
  ]);
  servers.push(s);
  return s;
}

/** A TLS handshake with `port`: 'ok <protocol> <cipher>' once secure, else the error code. */
function handshake(port: number, extra: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca: caPem, servername: 'localhost', ...extra });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 5000);
    s.on('secureConnect', () => {
      clearTimeout(timer);
      resolve(`ok ${s.getProtocol()} ${s.getCipher().name}`);
      s.destroy();
    });
    s.on('error', (e: Error & { code?: string }) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
}

/** ioredis over TLS to `server`, with client certificate `who` (or none). */
function tlsClient(server: RunningServer, who: string | null, opts: Parameters<typeof redisClient>[1] = {}): Redis {
  const c = redisClient(server, {
    tls: { ca: caPem, servername: 'localhost', ...(who ? certs[who] : {}) },
    enableReadyCheck: false,
    disableClientInfo: true,
    ...opts,
  });
  c.on('error', () => {});
  closers.push(() => c.disconnect());
  return c;
}

/** The error `p` rejects with, as text ('' when it resolves). */
async function errorOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => '',
    (e: Error & { code?: string }) => `${e.code ?? ''} ${e.message}`,
  );
}

/** Opens a kvws.v1 WebSocket with client certificate `who` (or none). */
async function openWs(server: RunningServer, who: string | null): Promise<WsClient> {
  const ws = new WebSocket(wsUrl(server), 'kvws.v1', {
    ca: caPem,
    ...(who ? certs[who] : {}),
    handshakeTimeout: 5000,
  });
  const c = new WsClient(ws);
  closers.push(() => c.close());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed before open: ${code}`)));
  });
  return c;
}

/** The HTTP API of `server` over TLS with client certificate `who` (or none). */
function api(server: RunningServer, who: string | null): HttpTarget {
  const agent = new https.Agent({ ca: caPem, servername: 'localhost', ...(who ? certs[who] : {}) });
  closers.push(() => agent.destroy());
  return { port: server.httpsPort, agent };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-tls-test-'));
  main = makeTestCertificate(dir, 'main');
  caPem = readFileSync(main.ca);
  makeTestCertificate(dir, 'other');
  const issue = (name: string, ca: string, subject: { cn: string; san?: string }) => {
    const c = makeClientCertificate(dir, ca, name, subject);
    certs[name] = { cert: readFileSync(c.cert), key: readFileSync(c.key) };
  };
  issue('alice', 'main', { cn: 'alice' });
  issue('nobody', 'main', { cn: 'nobody' });
  issue('carol', 'main', { cn: 'carol' });
  issue('dave', 'main', { cn: 'dave' });
  issue('bobsan', 'main', { cn: 'not-a-user', san: 'DNS:bob, email:alice@example.com' });
  issue('foreign', 'other', { cn: 'alice' });
  writeFileSync(
    path.join(dir, 'users.acl'),
    [
      'user default off',
      'user admin on >admin-pw ~* &* +@all',
      'user alice on >alice-pw ~* &* +@all',
      'user bob on >bob-pw ~* &* +@all',
      'user carol off >carol-pw ~* &* +@all',
      'user dave on >dave-pw ~* &* +@all',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
});

afterAll(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('versions and ciphers', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await start([]);
  });

  it('both ports speak TLS 1.3 and 1.2 with ECDHE and AEAD suites only', async () => {
    for (const port of [server.port, server.httpsPort as number]) {
      expect(await handshake(port)).toMatch(/^ok TLSv1\.3 TLS_/);
      expect(await handshake(port, { maxVersion: 'TLSv1.2' })).toMatch(
        /^ok TLSv1\.2 ECDHE-ECDSA-(AES\d+-GCM|CHACHA20)/,
      );
    }
  });

  it('refuse TLS 1.1 and 1.0 clients with a protocol-version alert', async () => {
    // The client allows the old versions at OpenSSL's security level 0, so the refusal is the server's.
    const old: tls.ConnectionOptions = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
    for (const port of [server.port, server.httpsPort as number]) {
      expect(await handshake(port, old)).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    }
  });

  it('refuse weak TLS 1.2 suites: CBC with SHA-1, and no forward secrecy', async () => {
    for (const port of [server.port, server.httpsPort as number]) {
      for (const ciphers of [
        'ECDHE-ECDSA-AES128-SHA',
        'ECDHE-ECDSA-AES256-SHA384',
        'AES128-SHA',
        'AES128-GCM-SHA256',
      ]) {
        expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers })).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
      }
    }
  });

  it('--tls-ciphers widens the list (Node would accept CBC suites) and --tls-min-version TLSv1.3 drops 1.2', async () => {
    const wide = await start(['--tls-ciphers', 'HIGH:!aNULL']);
    for (const port of [wide.port, wide.httpsPort as number]) {
      expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' })).toBe(
        'ok TLSv1.2 ECDHE-ECDSA-AES128-SHA',
      );
    }
    const only13 = await start(['--tls-min-version', 'TLSv1.3']);
    for (const port of [only13.port, only13.httpsPort as number]) {
      expect(await handshake(port)).toMatch(/^ok TLSv1\.3/);
      expect(await handshake(port, { maxVersion: 'TLSv1.2' })).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    }
  });

  it('an unusable cipher list stops start-up', async () => {
    await expect(startKvws(['--tls-ciphers', 'NOT-A-CIPHER'])).rejects.toThrow(
      /tlsCiphers \(--tls-ciphers\) = "NOT-A-CIPHER": OpenSSL accepts no cipher/,
    );
    await expect(startKvws(['--tls-auth-clients', 'yes'])).rejects.toThrow(/need --tls-client-ca/);
  });
});

describe('mutual TLS: required client certificates mapped to users by CN', () => {
  let server: RunningServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await start([
      ...['--tls-client-ca', main.ca, '--tls-auth-clients', 'yes', '--tls-client-user-field', 'cn'],
      ...['--acl-file', path.join(dir, 'users.acl'), '--auth-max-failures', '0'],
      ...['--user-allow-from', JSON.stringify({ dave: ['10.0.0.0/8'] })],
    ]);
    admin = tlsClient(server, 'nobody', { username: 'admin', password: 'admin-pw' });
  });

  it('RESP (ioredis): a certificate naming a user logs in as it, no password needed', async () => {
    const alice = tlsClient(server, 'alice');
    expect(await alice.call('ACL', 'WHOAMI')).toBe('alice');
    expect(await alice.set('k', 'v')).toBe('OK');
    expect(await alice.get('k')).toBe('v');
  });

  it('RESP: no certificate, or one from another CA, is refused before anything is read', async () => {
    for (const who of [null, 'foreign']) {
      const c = tlsClient(server, who, { lazyConnect: true });
      expect(await errorOf(c.connect().then(() => c.ping()))).toMatch(
        /CERTIFICATE_REQUIRED|certificate|ECONNRESET|Connection is closed|socket/i,
      );
    }
    const s = await admin.info('stats');
    expect(Number(/resp_rejected_client_certificate:(\d+)/.exec(s)?.[1])).toBeGreaterThanOrEqual(2);
  });

  it('RESP: a certificate naming no user, a disabled one or one not allowed from here gets an ordinary session', async () => {
    for (const who of ['nobody', 'carol', 'dave']) {
      const c = tlsClient(server, who);
      expect(await errorOf(c.get('k'))).toMatch(/NOAUTH/);
    }
    const log = (await admin.call('ACL', 'LOG')) as unknown[][];
    const entries = log.map((flat) => {
      const e: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) e[String(flat[i])] = String(flat[i + 1]);
      return `${e.username}|${e.reason}|${e.object}`;
    });
    expect(entries).toContain('dave|auth|certificate:address');
    const fine = tlsClient(server, 'nobody');
    expect(await fine.call('AUTH', 'bob', 'bob-pw')).toBe('OK');
    expect(await fine.call('ACL', 'WHOAMI')).toBe('bob');
  });

  it('WebSocket: the certificate user is logged in from the start; without a certificate no connection', async () => {
    const ws = await openWs(server, 'alice');
    expect(await ws.result('ACL', 'WHOAMI')).toBe('alice');
    expect(await ws.result('GET', 'k')).toBe('v');
    await expect(openWs(server, null)).rejects.toThrow();
  });

  it('HTTP API: requests without a token run as the certificate user; without a certificate no connection', async () => {
    const res = await httpJson(api(server, 'alice'), 'POST', '/', ['ACL', 'WHOAMI']);
    expect(res.json).toEqual({ result: 'alice' });
    const nobody = await httpJson(api(server, 'nobody'), 'POST', '/', ['ACL', 'WHOAMI']);
    expect(nobody.status).toBe(401);
    await expect(httpJson(api(server, null), 'POST', '/', ['PING'])).rejects.toThrow();
    const s = await admin.info('stats');
    expect(Number(/https_rejected_client_certificate:(\d+)/.exec(s)?.[1])).toBeGreaterThanOrEqual(1);
  });
});

describe('mutual TLS: optional client certificates mapped by subjectAltName', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await start([
      ...['--tls-client-ca', main.ca, '--tls-auth-clients', 'optional', '--tls-client-user-field', 'san'],
      ...['--acl-file', path.join(dir, 'users.acl')],
    ]);
  });

  it('the first DNS/email/URI entry names the user; no certificate is fine; an invalid one is refused', async () => {
    const bob = tlsClient(server, 'bobsan');
    expect(await bob.call('ACL', 'WHOAMI')).toBe('bob');
    const none = tlsClient(server, null);
    expect(await errorOf(none.get('k'))).toMatch(/NOAUTH/);
    expect(await none.call('AUTH', 'alice', 'alice-pw')).toBe('OK');
    // CN is not looked at under `san`.
    expect(await errorOf(tlsClient(server, 'alice').get('k'))).toMatch(/NOAUTH/);
    const foreign = tlsClient(server, 'foreign', { lazyConnect: true });
    expect(await errorOf(foreign.connect().then(() => foreign.ping()))).not.toBe('');
    const ws = await openWs(server, 'bobsan');
    expect(await ws.result('ACL', 'WHOAMI')).toBe('bob');
    expect((await httpJson(api(server, 'bobsan'), 'POST', '/', ['ACL', 'WHOAMI'])).json).toEqual({ result: 'bob' });
    await expect(httpJson(api(server, 'foreign'), 'POST', '/', ['PING'])).rejects.toThrow();
  });
});

describe('security headers on every HTTPS answer', () => {
  let server: RunningServer;
  let noHsts: RunningServer;
  beforeAll(async () => {
    [server, noHsts] = await Promise.all([start([]), start(['--hsts-max-age', '0'])]);
  });

  const EXPECTED = {
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };

  /** Answers of every kind of route: the API (JSON, errors, preflight, a stream), /auth/token, the dashboard, metrics, probes, 404s, /ws. */
  async function answers(s: RunningServer): Promise<[string, Headers][]> {
    const target = api(s, null);
    const out: [string, Headers][] = [];
    const add = async (what: string, method: string, p: string, body?: unknown, headers?: Record<string, string>) => {
      const res = await httpJson(target, method, p, body, headers);
      out.push([`${what} (${res.status})`, res.headers]);
    };
    await add('API command', 'POST', '/', ['PING']);
    await add('API path form', 'GET', '/get/k');
    await add('API error', 'POST', '/', 'not an array');
    await add('API preflight', 'OPTIONS', '/', undefined, {
      origin: `https://127.0.0.1:${s.httpsPort}`,
      'access-control-request-method': 'POST',
    });
    await add('/auth/token error', 'POST', '/auth/token', { username: 'x', password: 'y' });
    await add('JWKS', 'GET', '/.well-known/jwks.json');
    await add('dashboard', 'GET', '/dashboard/');
    await add('dashboard 404', 'GET', '/dashboard/nope.js');
    await add('metrics', 'GET', '/metrics');
    await add('healthz', 'GET', '/healthz');
    await add('readyz', 'GET', '/readyz');
    await add('/ws without an upgrade', 'GET', '/ws');
    await add('unknown path', 'GET', '/no/such/thing');
    // An event stream (SSE): the headers arrive first; the stream is cut once they are read.
    const sse = await new Promise<Headers>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: s.httpsPort, path: '/subscribe/ch', ca: caPem, servername: 'localhost' },
        (res) => {
          const h = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          req.destroy();
          resolve(h);
        },
      );
      req.on('error', reject);
      req.end();
    });
    out.push(['SSE stream', sse]);
    // A refused WebSocket upgrade (no kvws.v1 subprotocol): written on the raw socket.
    const refused = await new Promise<Headers>((resolve, reject) => {
      const ws = new WebSocket(wsUrl(s), 'not-kvws', { ca: caPem });
      ws.on('error', () => {});
      ws.once('unexpected-response', (_req, res) => {
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        res.resume();
        ws.terminate();
        resolve(h);
      });
      ws.once('open', () => reject(new Error('opened')));
    });
    out.push(['WebSocket upgrade refused', refused]);
    return out;
  }

  it('HSTS, nosniff, no-referrer and DENY on API, dashboard, metrics, probes, 404s and refused upgrades', async () => {
    const all = await answers(server);
    expect(all.length).toBe(15);
    for (const [what, h] of all) {
      const got = Object.fromEntries(Object.keys(EXPECTED).map((k) => [k, h.get(k)]));
      expect(got, what).toEqual(EXPECTED);
    }
  });

  it('--hsts-max-age 0 leaves HSTS out, and only it', async () => {
    for (const [what, h] of await answers(noHsts)) {
      expect(h.get('strict-transport-security'), what).toBeNull();
      expect(h.get('x-content-type-options'), what).toBe('nosniff');
      expect(h.get('x-frame-options'), what).toBe('DENY');
      expect(h.get('referrer-policy'), what).toBe('no-referrer');
    }
  });
});
