import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type Redis from 'ioredis';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningServer, redisClient, startKvws } from '../helpers/server.js';

// @kvws/client/http in a real edge runtime: a small Worker importing the built client is bundled with
// esbuild (ESM, browser platform, the `worker`/`browser` export conditions) and run by Miniflare in workerd,
// Cloudflare's Workers runtime. The Worker talks to a real kvws over plain HTTP on loopback (--no-tls) with
// a token from POST /auth/token; ioredis on the RESP port checks what it did.
// kvws-only.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const WORKER = `
import { connectHttp } from '@kvws/client/http';
import { KvwsError as CoreError } from '@kvws/client';

export default {
  async fetch(request, env) {
    const kv = connectHttp(env.KVWS_URL, { token: env.KVWS_TOKEN, autoPipeline: true });
    const run = new URL(request.url).searchParams.get('run') ?? 'x';
    const key = 'app:worker:' + run;
    const out = {};
    out.set = await kv.set(key, 'from workerd', { ex: 300 });
    out.get = await kv.get(key);
    out.batch = await Promise.all([kv.incr(key + ':n'), kv.incr(key + ':n'), kv.hset(key + ':h', { a: 1 })]);
    out.pipeline = await kv.pipeline().get(key).hgetall(key + ':h').exec();
    out.multi = await kv.multi().incr(key + ':n').get(key + ':n').exec();
    try {
      await kv.get('other:key');
      out.denied = null;
    } catch (e) {
      out.denied = { name: e.name, code: e.code, sameClass: e instanceof CoreError };
    }
    await kv.close();
    return Response.json(out);
  },
};
`;

let dir = '';
let server: RunningServer;
let r: Redis;
let mf: Miniflare | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-workerd-test-'));
  const users = path.join(dir, 'users.acl');
  writeFileSync(users, 'user default off\nuser admin on >adminpw ~* &* +@all\nuser app on >apppw ~app:* +@all\n');
  server = await startKvws(['--port', String(await freePort()), '--no-tls', '--acl-file', users]);
  r = redisClient(server, { username: 'admin', password: 'adminpw' });
  r.on('error', () => {});
  const res = await fetch(`http://127.0.0.1:${server.httpsPort}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'app', password: 'apppw' }),
  });
  expect(res.status).toBe(200);
  const { token } = (await res.json()) as { token: string };
  const bundle = await build({
    stdin: { contents: WORKER, resolveDir: ROOT, sourcefile: 'worker.js', loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['worker', 'browser'],
    write: false,
    logLevel: 'silent',
  });
  mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0].text,
    compatibilityDate: '2024-09-23',
    bindings: { KVWS_URL: `http://127.0.0.1:${server.httpsPort}`, KVWS_TOKEN: token },
  });
  await mf.ready;
});

afterAll(async () => {
  await mf?.dispose();
  r?.disconnect();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('@kvws/client/http in workerd (Miniflare)', () => {
  it('runs commands, batches, pipelines and transactions from a Worker; ACL errors arrive as KvwsError', async () => {
    const run = String(Date.now());
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 20_000);
    let body: unknown;
    try {
      const res = await (mf as Miniflare).dispatchFetch(`http://worker.test/?run=${run}`, { signal: ac.signal });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      body = JSON.parse(text);
    } finally {
      clearTimeout(timer);
    }
    expect(body).toEqual({
      set: 'OK',
      get: 'from workerd',
      batch: [1, 2, 1],
      pipeline: ['from workerd', { a: '1' }],
      multi: [3, '3'],
      denied: { name: 'KvwsError', code: 'NOPERM', sameClass: true },
    });
    const key = `app:worker:${run}`;
    expect(await r.get(key)).toBe('from workerd');
    expect(await r.ttl(key)).toBeGreaterThan(0);
    expect(await r.get(`${key}:n`)).toBe('3');
  });
});
