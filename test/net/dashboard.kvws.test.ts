import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, registerDashboard } from '../../server/src/net/dashboard.js';
import { HttpsServer } from '../../server/src/net/https-server.js';
import { freePort, makeTestCertificate, type RunningServer, startKvws } from '../helpers/server.js';

// The dashboard's static files over plain HTTP requests (server/src/net/dashboard.ts): the built bundle
// served by a real kvws at /dashboard with the right content types, the Content-Security-Policy and the
// other security headers, immutable caching for the hashed assets, ETags, gzip, 404 for unknown files,
// 405 for other methods, and no way out of the bundle directory (`..` raw or percent-encoded, symlinks).
// A second part serves a hand-made directory from an in-process HttpsServer (plain HTTP on loopback) for
// what the build never contains (a symlink, a dotfile, no index.html). Needs `npm run build` (the bundle in
// server/dist/dashboard). kvws-only.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUNDLE = path.join(ROOT, 'server/dist/dashboard');

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request with the path sent exactly as given (no normalisation of `..`); the body as bytes. */
function request(
  target: { port: number; agent?: https.Agent },
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const lib = target.agent ? https : http;
    const req = lib.request(
      { host: '127.0.0.1', port: target.port, method, path: urlPath, headers, agent: target.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${urlPath} within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

const SECURITY = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

describe('the built dashboard served by kvws', () => {
  let dir = '';
  let server: RunningServer;
  let agent: https.Agent;
  let target: { port: number; agent: https.Agent };

  beforeAll(async () => {
    if (!existsSync(path.join(BUNDLE, 'index.html'))) {
      throw new Error(`${BUNDLE}/index.html does not exist: run npm run build (scripts/build-dashboard.mjs)`);
    }
    dir = mkdtempSync(path.join(tmpdir(), 'kvws-dashboard-http-'));
    const { ca, cert, key } = makeTestCertificate(dir);
    server = await startKvws(['--port', String(await freePort()), '--tls-cert', cert, '--tls-key', key]);
    agent = new https.Agent({ ca: readFileSync(ca), keepAlive: false });
    target = { port: server.httpsPort as number, agent };
  });

  afterAll(async () => {
    agent?.destroy();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page at /dashboard and /dashboard/ with the CSP and security headers, revalidated', async () => {
    for (const p of ['/dashboard', '/dashboard/', '/dashboard/index.html', '/dashboard?x=1']) {
      const a = await request(target, 'GET', p);
      expect(a.status, p).toBe(200);
      expect(a.headers['content-type'], p).toBe('text/html; charset=utf-8');
      expect(a.headers, p).toMatchObject(SECURITY);
      expect(a.headers['cache-control'], p).toBe('no-cache');
      expect(a.body.toString(), p).toContain('<div id="app"></div>');
    }
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).toContain("default-src 'none'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-inline|unsafe-eval/);
  });

  it('serves the hashed assets the page names, with their content types, cached as immutable', async () => {
    const html = (await request(target, 'GET', '/dashboard')).body.toString();
    // No inline script or style: every script and stylesheet is a file of the bundle.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
    const js = /<script type="module" src="(\/dashboard\/assets\/main-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const css = /<link rel="stylesheet" href="(\/dashboard\/assets\/styles-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    const icon = /<link rel="icon" type="image\/svg\+xml" href="([^"]+)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    expect(css).toBeDefined();
    expect(icon).toBe('/dashboard/favicon.svg');
    const expected: [string, string, string][] = [
      [js as string, 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable'],
      [css as string, 'text/css; charset=utf-8', 'public, max-age=31536000, immutable'],
      [`${js}.map`, 'application/json; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['/dashboard/favicon.svg', 'image/svg+xml', 'no-cache'],
    ];
    for (const [p, type, cache] of expected) {
      const a = await request(target, 'GET', p);
      expect(a.status, p).toBe(200);
      expect(a.headers['content-type'], p).toBe(type);
      expect(a.headers['cache-control'], p).toBe(cache);
      expect(a.headers, p).toMatchObject(SECURITY);
      expect(a.body.equals(readFileSync(path.join(BUNDLE, p.slice('/dashboard/'.length)))), p).toBe(true);
    }
    // HEAD: the same headers, no body.
    const head = await request(target, 'HEAD', js as string);
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(Number(head.headers['content-length'])).toBe(
      readFileSync(path.join(BUNDLE, (js as string).slice(11))).length,
    );
    expect(head.body.length).toBe(0);
  });

  it('answers If-None-Match with 304 and sends gzip to clients that accept it', async () => {
    const first = await request(target, 'GET', '/dashboard');
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await request(target, 'GET', '/dashboard', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers['content-security-policy']).toBe(DASHBOARD_CSP);

    const html = first.body.toString();
    const js = /src="(\/dashboard\/assets\/main-[A-Z0-9]+\.js)"/.exec(html)?.[1] as string;
    const gz = await request(target, 'GET', js, { 'accept-encoding': 'gzip, br' });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toBe('Accept-Encoding');
    expect(gunzipSync(gz.body).equals(readFileSync(path.join(BUNDLE, js.slice(11))))).toBe(true);
    const plain = await request(target, 'GET', js);
    expect(plain.headers['content-encoding']).toBeUndefined();
  });

  it('answers 404 for unknown files and for every way out of the bundle directory', async () => {
    const secret = readFileSync(path.join(ROOT, 'package.json'));
    for (const p of [
      '/dashboard/nope.js',
      '/dashboard/assets/',
      '/dashboard/assets',
      '/dashboard/../package.json',
      '/dashboard/../../../package.json',
      '/dashboard/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/dashboard/..%2f..%2f..%2fpackage.json',
      '/dashboard/assets/..%2F..%2F..%2F..%2Fpackage.json',
      '/dashboard/%2Fetc%2Fpasswd',
      '/dashboard//etc/passwd',
      '/dashboard/..\\..\\..\\package.json',
      '/dashboard/index.html%00.js',
      '/dashboard/.%2e/net/dashboard.js',
      '/dashboardx',
    ]) {
      const a = await request(target, 'GET', p);
      expect(a.status, p).toBe(404);
      expect(a.body.includes(secret.subarray(0, 40)), p).toBe(false);
      expect(a.body.toString(), p).not.toContain('root:');
      if (p.startsWith('/dashboard/')) expect(a.headers['content-security-policy'], p).toBe(DASHBOARD_CSP);
    }
  });

  it('answers 400 for a malformed path and 405 for other methods', async () => {
    const bad = await request(target, 'GET', '/dashboard/%zz');
    expect(bad.status).toBe(400);
    for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const a = await request(target, m, '/dashboard');
      expect(a.status, m).toBe(405);
      expect(a.headers.allow, m).toBe('GET, HEAD');
    }
  });
});

describe('registerDashboard on a hand-made directory', () => {
  let dir = '';
  let outside = '';
  let server: HttpsServer;
  let port = 0;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kvws-dashboard-dir-'));
    outside = mkdtempSync(path.join(tmpdir(), 'kvws-dashboard-outside-'));
    writeFileSync(path.join(outside, 'secret.txt'), 'top secret');
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'assets', 'app-ABCDEFGH.js'), 'console.log(1);');
    writeFileSync(path.join(dir, '.env'), 'SECRET=1');
    writeFileSync(path.join(dir, 'notes.md'), '# not served: unknown extension');
    symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'linked.txt'));
    symlinkSync(outside, path.join(dir, 'linked-dir'));
    server = new HttpsServer({ host: '127.0.0.1', port: 0, tls: null });
    registerDashboard(server, { dir });
    ({ port } = await server.listen());
  });

  afterAll(async () => {
    await server?.close();
    for (const d of [dir, outside]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('says the dashboard is not built while the directory has no index.html', async () => {
    const a = await request({ port }, 'GET', '/dashboard');
    expect(a.status).toBe(404);
    expect(a.body.toString()).toContain('the dashboard is not built: run `npm run build`');
    expect(a.headers['content-security-policy']).toBe(DASHBOARD_CSP);
  });

  it('serves regular files with known extensions only: no symlinks, dotfiles or other types', async () => {
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
    expect((await request({ port }, 'GET', '/dashboard')).status).toBe(200);
    const asset = await request({ port }, 'GET', '/dashboard/assets/app-ABCDEFGH.js');
    expect(asset.status).toBe(200);
    expect(asset.body.toString()).toBe('console.log(1);');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    for (const p of [
      '/dashboard/.env',
      '/dashboard/notes.md',
      '/dashboard/linked.txt',
      '/dashboard/linked-dir/secret.txt',
    ]) {
      const a = await request({ port }, 'GET', p);
      expect(a.status, p).toBe(404);
      expect(a.body.toString(), p).not.toContain('SECRET');
      expect(a.body.toString(), p).not.toContain('top secret');
    }
  });

  it('picks up a new build when index.html changes', async () => {
    writeFileSync(path.join(dir, 'assets', 'app-NEWHASH1.js'), 'console.log(2);');
    // Not listed yet: the listing is refreshed when the page itself is requested and has changed.
    expect((await request({ port }, 'GET', '/dashboard/assets/app-NEWHASH1.js')).status).toBe(404);
    const later = new Date(Date.now() + 5000);
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t2</title>');
    utimesSync(path.join(dir, 'index.html'), later, later);
    expect((await request({ port }, 'GET', '/dashboard/')).body.toString()).toContain('t2');
    expect((await request({ port }, 'GET', '/dashboard/assets/app-NEWHASH1.js')).status).toBe(200);
  });
});
