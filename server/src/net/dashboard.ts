import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type HttpsServer, pathOf } from './https-server.js';

/**
 * The dashboard's static files (spec: docs/dashboard.md) on the HTTPS port: `GET|HEAD /dashboard` (the page)
 * and `/dashboard/<file>`, from the bundle `scripts/build-dashboard.mjs` writes to `server/dist/dashboard`.
 * The page is an ordinary client of kvws: it logs in at `POST /auth/token` and talks to `/ws`; nothing here
 * knows about users or commands.
 *
 * Contract:
 * - Only files found in the bundle directory are served: the directory is listed once (and again when its
 *   index.html changes) into a map from URL path to file, and a request is looked up in that map, so no
 *   path (`..`, encoded or not, symlinks, absolute paths) can reach anything else. Anything not in it is 404.
 * - `/dashboard` and `/dashboard/` serve index.html (its asset URLs are absolute).
 * - Every answer carries DASHBOARD_CSP and SECURITY_HEADERS. Files under `assets/` are content-hashed by the
 *   build (a new build gives new names), so they are cached for a year as immutable; the others (index.html,
 *   favicon.svg) are revalidated each time (`no-cache`, with an ETag; `If-None-Match` gets 304).
 * - Text files are also kept gzipped and sent so to clients that accept gzip.
 * - Methods other than GET and HEAD get 405 (`Allow: GET, HEAD`); a path that is not valid percent-encoding
 *   gets 400. A missing bundle is 404 saying how to build it.
 */

/** Where the built dashboard lives: `server/dist/dashboard` (this file is `server/dist/net/dashboard.js`). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

/**
 * The page's Content-Security-Policy: scripts, styles and connections (fetch, the WebSocket) from the
 * page's own origin only; no inline scripts or styles, no eval, no plugins, no framing, no form posts;
 * images from the origin or `data:` URLs.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Sent with every dashboard answer besides the CSP; the port's own (nosniff, DENY framing, no Referer, HSTS:
 * https-server.ts BASE_SECURITY_HEADERS) are set by HttpsServer before the route runs.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/** Content types by file extension; a file with another extension is not served. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Cache-Control of content-hashed files (under `assets/`) and of the others. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';
/** The bundle's limits: a directory holding more is refused (it is not a dashboard build). */
const MAX_FILES = 500;
const MAX_BYTES = 32 * 1024 * 1024;

/** One servable file, read into memory. */
interface StaticFile {
  body: Buffer;
  /** The body gzipped, for text files where it is smaller. */
  gzip: Buffer | null;
  type: string;
  etag: string;
  cacheControl: string;
}

/** What a listing of the bundle directory found: URL path → file, and the index.html it was made with. */
interface Bundle {
  files: Map<string, StaticFile>;
  /** index.html's mtime when listed (-1: no index.html, not built). */
  indexMtime: number;
}

export interface DashboardOptions {
  /** The built bundle's directory. Default DASHBOARD_DIR. */
  dir?: string;
}

/**
 * Adds the dashboard's routes to `https`: `/dashboard` (exact) and `/dashboard/` (prefix). The bundle is
 * read at the first request, not here, so a server starts whether or not the dashboard was built.
 */
export function registerDashboard(https: HttpsServer, options: DashboardOptions = {}): void {
  const files = new DashboardFiles(options.dir ?? DASHBOARD_DIR);
  const request = (req: IncomingMessage, res: ServerResponse) => files.serve(req, res);
  https.route('/dashboard', { request });
  https.route('/dashboard/', { prefix: true, request });
}

/** The bundle directory as a map of servable files, re-listed when index.html changes (a new build). */
class DashboardFiles {
  private bundle: Bundle | null = null;

  constructor(private readonly dir: string) {}

  serve(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.text(res, 405, `${req.method} is not allowed here: use GET or HEAD\n`, { allow: 'GET, HEAD' });
      return;
    }
    let name: string;
    try {
      name = decodeURIComponent(pathOf(req));
    } catch {
      this.text(res, 400, 'bad request: the path is not valid percent-encoding\n');
      return;
    }
    if (name === '/dashboard' || name === '/dashboard/') name = '/dashboard/index.html';
    let bundle: Bundle;
    try {
      bundle = this.current(name === '/dashboard/index.html');
    } catch {
      this.bundle = null;
      this.text(res, 500, 'the dashboard bundle cannot be read: rebuild it (npm run build)\n');
      return;
    }
    if (bundle.indexMtime < 0) {
      const help = 'the dashboard is not built: run `npm run build` (or node scripts/build-dashboard.mjs) and reload\n';
      this.text(res, 404, help);
      return;
    }
    const file = bundle.files.get(name);
    if (!file) {
      this.text(res, 404, `not found: ${pathOf(req).slice(0, 200)}\n`);
      return;
    }
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'content-security-policy': DASHBOARD_CSP,
      'content-type': file.type,
      'cache-control': file.cacheControl,
      etag: file.etag,
    };
    if (file.gzip) headers.vary = 'Accept-Encoding';
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = file.gzip !== null && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? (file.gzip as Buffer) : file.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * The bundle as listed, listed again when `recheck` (a request for the page) finds index.html changed or
   * gone, or when it was never listed.
   */
  private current(recheck: boolean): Bundle {
    if (this.bundle && !recheck) return this.bundle;
    const mtime = mtimeOf(path.join(this.dir, 'index.html'));
    if (this.bundle && this.bundle.indexMtime === mtime) return this.bundle;
    this.bundle = mtime < 0 ? { files: new Map(), indexMtime: -1 } : { files: listBundle(this.dir), indexMtime: mtime };
    return this.bundle;
  }

  /** A short plain-text answer (errors), with the same security headers as the files. */
  private text(res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-security-policy': DASHBOARD_CSP,
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(message),
      ...extra,
    });
    res.end(message);
  }
}

/** The file's mtime in ms, or -1 when it does not exist (or is not a regular file). */
function mtimeOf(file: string): number {
  try {
    const st = statSync(file);
    return st.isFile() ? st.mtimeMs : -1;
  } catch {
    return -1;
  }
}

/**
 * Lists `dir` recursively into URL path (`/dashboard/<relative path>`) → file: regular files with a known
 * extension only (symbolic links and dotfiles are skipped). Throws when the directory holds more than
 * MAX_FILES files or MAX_BYTES bytes.
 */
function listBundle(dir: string): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>();
  let bytes = 0;
  const walk = (sub: string) => {
    for (const e of readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const rel = sub === '' ? e.name : `${sub}/${e.name}`;
      if (e.isDirectory()) {
        walk(rel);
        continue;
      }
      const type = CONTENT_TYPES[path.extname(e.name).toLowerCase()];
      if (!e.isFile() || type === undefined) continue;
      const body = readFileSync(path.join(dir, rel));
      bytes += body.length;
      if (out.size >= MAX_FILES || bytes > MAX_BYTES) {
        throw new Error(`${dir} holds more than ${MAX_FILES} files or ${MAX_BYTES} bytes: not a dashboard build`);
      }
      const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 512;
      const gz = compressible ? gzipSync(body, { level: 9 }) : null;
      out.set(`/dashboard/${rel}`, {
        body,
        gzip: gz && gz.length < body.length ? gz : null,
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        cacheControl: rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
      });
    }
  };
  walk('');
  return out;
}
