import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCertificate, HttpsServer } from '../../server/src/net/https-server.js';
import { freePort, KVWS_BIN, makeTestCertificate, type RunningServer, startKvws, wsUrl } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { WsClient } from '../helpers/ws.js';

// The HTTPS port itself: TLS versions, routing, certificate reload (file change and SIGHUP), the --no-tls
// loopback rule and certificate errors at start-up. Real kvws processes; kvws-only.

const servers: RunningServer[] = [];
const wsClients: WsClient[] = [];
let dir = '';
/** Two unrelated CAs, each with a localhost leaf. */
let one: { ca: string; cert: string; key: string };
let two: { ca: string; cert: string; key: string };

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), ...args]);
  servers.push(s);
  return s;
}

/** Runs `kvws serve …` to completion (bounded): exit code and output. */
async function runKvws(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [KVWS_BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, output });
    });
  });
}

/** TLS-connects to the port trusting only `caFile`; resolves with the protocol and the peer's issuer CN. */
function tlsProbe(
  port: number,
  caFile: string,
  extra: tls.ConnectionOptions = {},
): Promise<{ protocol: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(caFile),
      servername: 'localhost',
      ...extra,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('TLS probe timed out'));
    }, 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const issuer = socket.getPeerCertificate().issuer.CN;
      const protocol = socket.getProtocol() ?? '';
      socket.destroy();
      resolve({ protocol, issuer: String(issuer) });
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function httpsGet(
  port: number,
  pathname: string,
  caFile: string,
): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: pathname, ca: readFileSync(caFile), servername: 'localhost', timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-https-test-'));
  one = makeTestCertificate(dir, 'one');
  two = makeTestCertificate(dir, 'two');
});

afterAll(async () => {
  for (const c of wsClients) c.close();
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS and routing', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await start(['--tls-cert', one.cert, '--tls-key', one.key]);
  });

  it('serves TLS 1.3 by default and 1.2 when asked; refuses older versions', async () => {
    const port = server.httpsPort as number;
    expect(await tlsProbe(port, one.ca)).toEqual({ protocol: 'TLSv1.3', issuer: 'kvws test CA one' });
    expect((await tlsProbe(port, one.ca, { maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
    await expect(tlsProbe(port, one.ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
    await expect(tlsProbe(port, two.ca)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
  });

  it('routes by path: 404 JSON elsewhere, 426 for a plain GET of /ws', async () => {
    const port = server.httpsPort as number;
    expect(await httpsGet(port, '/nothing-here', one.ca)).toEqual({
      status: 404,
      body: '{"error":"ERR no such endpoint: GET /nothing-here"}',
      type: 'application/json',
    });
    expect((await httpsGet(port, '/nope?x=1', one.ca)).body).toBe('{"error":"ERR no such endpoint: GET /nope"}');
    const ws = await httpsGet(port, '/ws', one.ca);
    expect(ws.status).toBe(426);
    expect(JSON.parse(ws.body).error).toMatch(/kvws\.v1/);
  });
});

describe('certificate reload', () => {
  let server: RunningServer;
  let live: { cert: string; key: string };
  beforeAll(async () => {
    const liveDir = path.join(dir, 'live');
    mkdirSync(liveDir);
    live = { cert: path.join(liveDir, 'cert.pem'), key: path.join(liveDir, 'key.pem') };
    copyFileSync(one.cert, live.cert);
    copyFileSync(one.key, live.key);
    server = await start(['--tls-cert', live.cert, '--tls-key', live.key]);
  });

  const reloads = (why: string) => server.output().split(`TLS certificate reloaded (${why})`).length - 1;

  it('serves a new certificate when the files are replaced (rename), without dropping connections', async () => {
    const port = server.httpsPort as number;
    const before = await WsClient.open(wsUrl(server), { ca: readFileSync(one.ca) });
    wsClients.push(before);
    expect((await tlsProbe(port, one.ca)).issuer).toBe('kvws test CA one');
    // Atomic replacement, as cert managers do: new files renamed over the old ones, key first.
    copyFileSync(two.key, `${live.key}.new`);
    copyFileSync(two.cert, `${live.cert}.new`);
    renameSync(`${live.key}.new`, live.key);
    renameSync(`${live.cert}.new`, live.cert);
    expect(await waitFor(() => reloads('file change') === 1, 5000)).toBe(true);
    expect(server.output()).toContain(`kvws: TLS certificate reloaded (file change) from ${live.cert}: CN=localhost`);
    expect((await tlsProbe(port, two.ca)).issuer).toBe('kvws test CA two');
    await expect(tlsProbe(port, one.ca)).rejects.toThrow();
    const after = await WsClient.open(wsUrl(server), { ca: readFileSync(two.ca) });
    wsClients.push(after);
    expect(await after.result('PING')).toBe('PONG');
    // The connection made with the old certificate carries on.
    expect(await before.result('PING')).toBe('PONG');
  });

  it('files rewritten in place are picked up too; a key that does not match keeps the old certificate', async () => {
    const port = server.httpsPort as number;
    // Mismatched pair: certificate one with key two.
    writeFileSync(live.cert, readFileSync(one.cert));
    expect(await waitFor(() => server.output().includes('TLS certificate reload (file change) failed'), 5000)).toBe(
      true,
    );
    expect((await tlsProbe(port, two.ca)).issuer).toBe('kvws test CA two');
    writeFileSync(live.key, readFileSync(one.key));
    expect(await waitFor(() => reloads('file change') === 2, 5000)).toBe(true);
    expect((await tlsProbe(port, one.ca)).issuer).toBe('kvws test CA one');
  });

  it('SIGHUP reloads the certificate and keeps the server running', async () => {
    process.kill(server.pid as number, 'SIGHUP');
    expect(await waitFor(() => reloads('SIGHUP') === 1, 5000)).toBe(true);
    expect((await tlsProbe(server.httpsPort as number, one.ca)).issuer).toBe('kvws test CA one');
    const c = await WsClient.open(wsUrl(server), { ca: readFileSync(one.ca) });
    wsClients.push(c);
    expect(await c.result('PING')).toBe('PONG');
  });

  it('reloadCertificate (what SIGHUP calls) reads the files even with file watching off', async () => {
    const files = { cert: path.join(dir, 'inproc-cert.pem'), key: path.join(dir, 'inproc-key.pem') };
    copyFileSync(one.cert, files.cert);
    copyFileSync(one.key, files.key);
    const lines: string[] = [];
    const s = new HttpsServer({
      host: '127.0.0.1',
      port: 0,
      tls: files,
      watchCertificate: false,
      log: (l) => lines.push(l),
    });
    const { port } = await s.listen();
    try {
      expect((await tlsProbe(port, one.ca)).issuer).toBe('kvws test CA one');
      copyFileSync(two.cert, files.cert);
      copyFileSync(two.key, files.key);
      await sleep(300);
      expect((await tlsProbe(port, one.ca)).issuer).toBe('kvws test CA one');
      expect(await s.reloadCertificate('SIGHUP')).toBe(true);
      expect((await tlsProbe(port, two.ca)).issuer).toBe('kvws test CA two');
      expect(lines).toEqual([
        expect.stringMatching(/^TLS certificate reloaded \(SIGHUP\) from .*: CN=localhost, valid until /),
      ]);
    } finally {
      await s.close();
    }
  });
});

describe('--no-tls', () => {
  it('serves plain ws:// on loopback', async () => {
    const server = await start(['--no-tls']);
    expect(server.wsScheme).toBe('ws');
    const c = await WsClient.open(wsUrl(server));
    wsClients.push(c);
    expect(await c.result('PING')).toBe('PONG');
    process.kill(server.pid as number, 'SIGHUP');
    expect(await waitFor(() => server.output().includes('SIGHUP: no TLS certificate to reload'), 5000)).toBe(true);
    expect(await c.result('PING')).toBe('PONG');
  });

  it('refuses a non-loopback host at start-up (exit 2) unless --allow-insecure-remote', async () => {
    const port = String(await freePort());
    const refused = await runKvws(['--no-tls', '--host', '0.0.0.0', '--port', port, '--resp-port', '0']);
    expect(refused.code).toBe(2);
    expect(refused.output).toContain('refusing to serve plain HTTP/ws:// (--no-tls) on non-loopback host 0.0.0.0');
    expect(refused.output).toContain('--allow-insecure-remote');
    // Forced: it starts (only loopback traffic is sent here) and says so.
    const forced = await start([
      '--no-tls',
      '--allow-insecure-remote',
      '--no-protected-mode',
      '--host',
      '0.0.0.0',
      '--resp-port',
      '0',
    ]);
    expect(forced.output()).toContain(`kvws: WebSocket gateway listening on ws://0.0.0.0:${forced.httpsPort}/ws`);
    const c = await WsClient.open(wsUrl(forced));
    wsClients.push(c);
    expect(await c.result('PING')).toBe('PONG');
  });
});

describe('certificate errors at start-up', () => {
  it('an unreadable certificate stops start-up with exit 1, naming the file', async () => {
    const missing = path.join(dir, 'missing.pem');
    const r = await runKvws([
      '--port',
      String(await freePort()),
      '--resp-port',
      String(await freePort()),
      '--tls-cert',
      missing,
      '--tls-key',
      missing,
    ]);
    expect(r.code).toBe(1);
    expect(r.output).toContain(`cannot use TLS certificate ${missing}`);
  });

  it('--tls-cert without --tls-key is a configuration error (exit 2)', async () => {
    const r = await runKvws(['--port', String(await freePort()), '--resp-port', '0', '--tls-cert', one.cert]);
    expect(r.code).toBe(2);
    expect(r.output).toContain('give both --tls-cert and --tls-key');
  });

  it('without --tls-cert, certs-dev/server.pem is used when present, else the error says how to make one', () => {
    const empty = path.join(dir, 'no-certs');
    mkdirSync(empty);
    expect(() => findCertificate({}, empty)).toThrow(/make-dev-certs\.sh .*--no-tls/);
    copyFileSync(one.cert, path.join(empty, 'server.pem'));
    copyFileSync(one.key, path.join(empty, 'server.key'));
    expect(findCertificate({}, empty)).toEqual({
      cert: path.join(empty, 'server.pem'),
      key: path.join(empty, 'server.key'),
    });
    expect(findCertificate({ cert: one.cert, key: one.key }, empty)).toEqual({ cert: one.cert, key: one.key });
    expect(existsSync(path.join(empty, 'server.pem'))).toBe(true);
  });
});
