import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpJson, RawBody } from '../helpers/http.js';
import { freePort, makeTestCertificate, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { waitBlocked, waitFor } from '../helpers/wait.js';

// The HTTP API end to end: real kvws processes, node:http over plain HTTP (--no-tls, loopback) and
// node:https over TLS (a throwaway CA made with openssl) through test/helpers/http.ts, Node's fetch for a
// streamed body, ioredis on the RESP port of the same server.
// kvws-only.

const servers: RunningServer[] = [];
const redisClients: Redis[] = [];
let dir = '';
/** --no-tls, default user open, 64 KiB body limit. */
let open: RunningServer;
/** --no-tls, users file with `default off` and alice (`~app:* +@all`). */
let secured: RunningServer;
/** TLS with a test certificate. */
let tlsServer: RunningServer;
let ca: Buffer;

const MAX_BODY = 65536;

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), ...args]);
  servers.push(s);
  return s;
}

function redis(server: RunningServer, opts: Parameters<typeof redisClient>[1] = {}): Redis {
  const c = redisClient(server, opts);
  c.on('error', () => {});
  redisClients.push(c);
  return c;
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * One request to the API of a --no-tls server. `body` is sent as JSON unless it is a string (sent as is);
 * `token` goes in `Authorization: Bearer`. `body` in the answer is the parsed JSON (`undefined` if none).
 */
async function call(
  server: RunningServer,
  pathname: string,
  body?: unknown,
  o: { method?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  const target = { port: server.httpsPort, tls: false };
  const sent = typeof body === 'string' ? new RawBody(body) : body;
  const a = await httpJson(target, o.method ?? 'POST', pathname, sent, headers);
  return { status: a.status, headers: a.headers, body: a.json };
}

/** POST / with one command: the answer's body. */
async function cmd(server: RunningServer, argv: (string | number)[], token?: string): Promise<unknown> {
  return (await call(server, '/', argv, { token })).body;
}

/** POST /auth/token: the answer (status and body). */
function tokenRequest(server: RunningServer, body: unknown, token?: string): Promise<Answer> {
  return call(server, '/auth/token', body, { token });
}

/** A token for `username` by password login; fails the test when refused. */
async function login(server: RunningServer, username: string, password: string, extra = {}): Promise<string> {
  const a = await tokenRequest(server, { username, password, ...extra });
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  return (a.body as { token: string }).token;
}

/** `INFO stats` field of the server, as a number. */
async function infoStat(c: Redis, field: string): Promise<number> {
  const info = await c.info('stats');
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  if (!m) throw new Error(`no ${field} in INFO stats`);
  return Number(m[1]);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-http-api-test-'));
  const cert = makeTestCertificate(dir);
  ca = readFileSync(cert.ca);
  const users = path.join(dir, 'users.acl');
  writeFileSync(users, 'user default off\nuser alice on >secret ~app:* +@all\n');
  [open, secured, tlsServer] = await Promise.all([
    start(['--no-tls', '--http-max-body', String(MAX_BODY)]),
    start(['--no-tls', '--acl-file', users]),
    start(['--tls-cert', cert.cert, '--tls-key', cert.key]),
  ]);
});

afterAll(async () => {
  for (const c of redisClients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('commands (default user open, loopback, no token)', () => {
  it('POST / runs one command: 200 {result}, JSON headers, UTF-8 strings, numbers as decimal text', async () => {
    const a = await call(open, '/', ['SET', 'greeting', 'hello', 'EX', 60]);
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ result: 'OK' });
    expect(a.headers.get('content-type')).toBe('application/json');
    expect(a.headers.get('cache-control')).toBe('no-store');
    expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await cmd(open, ['GET', 'greeting'])).toEqual({ result: 'hello' });
    expect(await cmd(open, ['TTL', 'greeting'])).toEqual({ result: 60 });
    expect(await cmd(open, ['INCRBY', 'counter', 41])).toEqual({ result: 41 });
    expect(await cmd(open, ['INCRBYFLOAT', 'counter', 1.5])).toEqual({ result: '42.5' });
    expect(await cmd(open, ['SET', 'ü', 'é€'])).toEqual({ result: 'OK' });
    expect(await cmd(open, ['GET', 'ü'])).toEqual({ result: 'é€' });
    expect(await cmd(open, ['STRLEN', 'ü'])).toEqual({ result: 5 });
    expect(await cmd(open, ['GET', 'no-such-key'])).toEqual({ result: null });
    expect(await redis(open).get('greeting')).toBe('hello');
  });

  it('sessions are RESP2, as Upstash answers: pairs come flat, doubles as their text', async () => {
    expect(await cmd(open, ['ZADD', 'z', 1.5, 'm', 2, 'n'])).toEqual({ result: 2 });
    expect(await cmd(open, ['ZRANGE', 'z', 0, -1, 'WITHSCORES'])).toEqual({ result: ['m', '1.5', 'n', '2'] });
    expect(await cmd(open, ['ZSCORE', 'z', 'm'])).toEqual({ result: '1.5' });
    expect(await cmd(open, ['HSET', 'hash', 'f', 'v'])).toEqual({ result: 1 });
    expect(await cmd(open, ['HGETALL', 'hash'])).toEqual({ result: ['f', 'v'] });
    expect(await cmd(open, ['CONFIG', 'GET', 'timeout'])).toEqual({ result: ['timeout', '0'] });
  });

  it('a command error is 400 {error}', async () => {
    const a = await call(open, '/', ['INCR', 'greeting']);
    expect(a.status).toBe(400);
    expect(a.body).toEqual({ error: 'ERR value is not an integer or out of range' });
    const b = await call(open, '/', ['NOSUCHCMD', 'x']);
    expect(b.status).toBe(400);
    expect((b.body as { error: string }).error).toMatch(/^ERR unknown command 'NOSUCHCMD'/);
    const c = await call(open, '/', ['GET']);
    expect(c.status).toBe(400);
    expect(c.body).toEqual({ error: "ERR wrong number of arguments for 'get' command" });
  });

  it('POST /pipeline runs every command in order and answers one envelope each', async () => {
    const a = await call(open, '/pipeline', [
      ['DEL', 'p'],
      ['RPUSH', 'p', 'a', 'b'],
      ['LRANGE', 'p', 0, -1],
      ['INCR', 'p'],
      ['SUBSCRIBE', 'ch'],
      ['LLEN', 'p'],
    ]);
    expect(a.status).toBe(200);
    expect(a.body).toEqual([
      { result: 0 },
      { result: 2 },
      { result: ['a', 'b'] },
      { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' },
      { error: expect.stringMatching(/^ERR SUBSCRIBE is not supported by the HTTP API: .*\/ws/) },
      { result: 2 },
    ]);
  });

  it('POST /multi-exec runs MULTI … EXEC: results, runtime errors in place, EXECABORT as 400', async () => {
    const ok = await call(open, '/multi-exec', [
      ['SET', 'm1', 'v'],
      ['INCR', 'm1'],
      ['INCRBY', 'm2', 2],
      ['GET', 'm1'],
    ]);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual([
      { result: 'OK' },
      { error: 'ERR value is not an integer or out of range' },
      { result: 2 },
      { result: 'v' },
    ]);
    const aborted = await call(open, '/multi-exec', [['SET', 'never', 'x'], ['NOSUCHCMD']]);
    expect(aborted.status).toBe(400);
    const err = (aborted.body as { error: string }).error;
    expect(err).toMatch(/^EXECABORT Transaction discarded because of previous errors\./);
    expect(err).toContain("[1]: ERR unknown command 'NOSUCHCMD'");
    expect(await cmd(open, ['EXISTS', 'never'])).toEqual({ result: 0 });
    const watch = await call(open, '/multi-exec', [
      ['WATCH', 'm1'],
      ['GET', 'm1'],
    ]);
    expect(watch.status).toBe(400);
    expect((watch.body as { error: string }).error).toMatch(/^ERR \[0\]: WATCH is not supported by the HTTP API/);
  });

  it('refuses commands that need a connection, saying why', async () => {
    for (const argv of [
      ['SUBSCRIBE', 'c'],
      ['PSUBSCRIBE', 'c*'],
      ['MONITOR'],
      ['MULTI'],
      ['EXEC'],
      ['WATCH', 'k'],
      ['QUIT'],
      ['RESET'],
      ['HELLO', '3'],
      ['AUTH', 'x'],
      ['unwatch'],
    ]) {
      const a = await call(open, '/', argv);
      expect(a.status, argv[0]).toBe(400);
      expect((a.body as { error: string }).error).toMatch(
        new RegExp(`^ERR ${argv[0].toUpperCase()} is not supported by the HTTP API: .+`),
      );
    }
    expect(await cmd(open, ['SELECT', 1])).toEqual({ result: 'OK' });
    expect(await cmd(open, ['PING'])).toEqual({ result: 'PONG' });
  });

  it('awaits a blocking command (BLPOP) until another client pushes', async () => {
    const r = redis(open);
    await r.del('q');
    const pending = call(open, '/', ['BLPOP', 'q', 10]);
    await waitBlocked(r, 1);
    await r.rpush('q', 'job');
    const a = await pending;
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ result: ['q', 'job'] });
  });

  it('each request is a session of the http front door, gone once answered', async () => {
    const a = await cmd(open, ['CLIENT', 'INFO']);
    expect((a as { result: string }).result).toMatch(/ addr=127\.0\.0\.1:\d+ .*door=http/);
    const r = redis(open);
    // Removed when the response is done: bounded wait for the server's 'close' event.
    expect(await waitFor(async () => !((await r.client('LIST')) as string).includes('door=http'), 3000)).toBe(true);
  });
});

describe('refusals', () => {
  it('405 with Allow for other methods', async () => {
    for (const p of ['/', '/pipeline', '/multi-exec', '/auth/token']) {
      const a = await call(open, p, undefined, { method: 'GET' });
      expect(a.status, p).toBe(405);
      expect(a.headers.get('allow')).toBe('POST');
      expect(a.headers.get('content-type')).toBe('application/json');
      expect((a.body as { error: string }).error).toMatch(/^ERR method GET not allowed/);
    }
    const j = await call(open, '/.well-known/jwks.json', '{}', { method: 'POST' });
    expect(j.status).toBe(405);
    expect(j.headers.get('allow')).toBe('GET, HEAD');
  });

  it('400 for a body that is not JSON or has the wrong shape, naming the problem', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/', '["SET", "k"', /^ERR the request body is not valid JSON/],
      ['/', '', /^ERR the request body is empty/],
      ['/', { cmd: ['GET', 'k'] }, /^ERR the command must be a JSON array/],
      ['/', [], /^ERR the command is empty/],
      ['/', ['SET', 'k', { v: 1 }], /^ERR \[2\]: expected a string or a finite number/],
      ['/', ['SET', 'k', null], /^ERR \[2\]: expected a string or a finite number/],
      ['/pipeline', ['GET', 'k'], /^ERR command \[0\] must be a JSON array/],
      ['/pipeline', [], /^ERR \/pipeline takes at least one command/],
      ['/pipeline', { pipeline: [] }, /^ERR \/pipeline takes a JSON array of commands/],
      ['/multi-exec', [['GET', 'k'], [true]], /^ERR \[1\]\[0\]: expected a string or a finite number/],
    ];
    for (const [p, body, re] of cases) {
      const a = await call(open, p, body);
      expect(a.status, JSON.stringify(body)).toBe(400);
      expect((a.body as { error: string }).error).toMatch(re);
    }
  });

  it('413 for a body over the limit (declared or streamed), and the server carries on', async () => {
    const r = redis(open);
    const before = await infoStat(r, 'http_rejected_body_too_large');
    const big = JSON.stringify(['SET', 'big', 'x'.repeat(MAX_BODY)]);
    const a = await call(open, '/', big);
    expect(a.status).toBe(413);
    expect(a.body).toEqual({ error: `ERR request body larger than ${MAX_BODY} bytes` });
    // Chunked, without Content-Length: refused once the bytes read pass the limit.
    const chunk = new TextEncoder().encode('x'.repeat(16384));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('["SET","big","'));
        if (sent >= 8) controller.close();
        else controller.enqueue(chunk);
        sent++;
      },
    });
    const res = await fetch(`http://127.0.0.1:${open.httpsPort}/`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
      signal: AbortSignal.timeout(10_000),
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: `ERR request body larger than ${MAX_BODY} bytes` });
    expect(await r.exists('big')).toBe(0);
    expect(await infoStat(r, 'http_rejected_body_too_large')).toBe(before + 2);
    // Just under the limit is fine.
    const fits = JSON.stringify(['SET', 'big', 'x'.repeat(MAX_BODY - 100)]);
    expect((await call(open, '/', fits)).status).toBe(200);
  });

  it('counts requests and responses in INFO stats', async () => {
    const r = redis(open);
    const before = await infoStat(r, 'http_requests');
    const ok2xx = await infoStat(r, 'http_responses_2xx');
    const bad4xx = await infoStat(r, 'http_responses_4xx');
    await cmd(open, ['PING']);
    await cmd(open, ['NOSUCHCMD']);
    expect(await infoStat(r, 'http_requests')).toBe(before + 2);
    expect(await infoStat(r, 'http_responses_2xx')).toBe(ok2xx + 1);
    expect(await infoStat(r, 'http_responses_4xx')).toBe(bad4xx + 1);
  });
});

describe('Upstash compatibility (default user open, loopback)', () => {
  it('runs the path form without a token, as POST / does', async () => {
    expect((await call(open, '/set/path-form/v%C3%A9/EX/60', undefined, { method: 'GET' })).body).toEqual({
      result: 'OK',
    });
    expect(await cmd(open, ['GET', 'path-form'])).toEqual({ result: 'vé' });
    expect((await call(open, '/ttl/path-form', undefined, { method: 'GET' })).body).toEqual({ result: 60 });
    const nothing = await call(open, '/nothing-here', undefined, { method: 'GET' });
    expect(nothing.status).toBe(404);
    expect(nothing.body).toEqual({ error: 'ERR no such endpoint: GET /nothing-here' });
  });

  it('answers every command request with an upstash-sync-token that grows with writes', async () => {
    const token = async (argv: (string | number)[]) => {
      const a = await call(open, '/', argv);
      expect(a.headers.get('upstash-sync-token'), argv.join(' ')).toMatch(/^\d+$/);
      return Number(a.headers.get('upstash-sync-token'));
    };
    const t1 = await token(['SET', 'sync', 1]);
    const t2 = await token(['GET', 'sync']);
    expect(t2).toBeGreaterThanOrEqual(t1);
    const t3 = await token(['INCR', 'sync']);
    expect(t3).toBeGreaterThan(t2);
    const p = await call(open, '/pipeline', [['INCR', 'sync']]);
    expect(Number(p.headers.get('upstash-sync-token'))).toBeGreaterThan(t3);
    // Not on the token endpoints.
    const j = await call(open, '/.well-known/jwks.json', undefined, { method: 'GET' });
    expect(j.headers.get('upstash-sync-token')).toBe(null);
    expect(j.headers.get('vary')).toBe('Origin');
  });

  it('no web page can make a browser run a command on the open default user (403)', async () => {
    expect(await cmd(open, ['SET', 'csrf', 'kept'])).toEqual({ result: 'OK' });
    const attempts: [string, string, unknown, Record<string, string>][] = [
      ['GET', '/flushall', undefined, { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' }],
      ['GET', '/del/csrf', undefined, { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' }],
      ['POST', '/', '["DEL", "csrf"]', { origin: 'https://evil.example', 'content-type': 'text/plain' }],
      ['POST', '/pipeline', '[["DEL", "csrf"]]', { origin: 'null', 'content-type': 'text/plain' }],
    ];
    for (const [method, p, body, headers] of attempts) {
      const a = await call(open, p, body, { method, headers });
      expect(a.status, `${method} ${p}`).toBe(403);
      expect(a.headers.get('access-control-allow-origin')).toBe(null);
    }
    expect(await cmd(open, ['GET', 'csrf'])).toEqual({ result: 'kept' });
    // kvws's own pages may (their Origin is the server's own).
    const own = `http://127.0.0.1:${open.httpsPort}`;
    const a = await call(open, '/', ['GET', 'csrf'], { headers: { origin: own, 'sec-fetch-site': 'same-origin' } });
    expect(a.body).toEqual({ result: 'kept' });
    expect(a.headers.get('access-control-allow-origin')).toBe(own);
  });
});

describe('over TLS', () => {
  it('POST / over https:// with the test CA', async () => {
    // The certificate is checked for the name localhost, against the test CA only.
    const agent = new https.Agent({ ca, servername: 'localhost' });
    try {
      const a = await httpJson({ port: tlsServer.httpsPort, agent }, 'POST', '/', ['SET', 'tls-key', 'over tls']);
      expect({ status: a.status, text: a.text }).toEqual({ status: 200, text: '{"result":"OK"}' });
    } finally {
      agent.destroy();
    }
    expect(await redis(tlsServer).get('tls-key')).toBe('over tls');
  });
});

describe('authentication and tokens (default user off)', () => {
  let alice: string;

  beforeAll(async () => {
    alice = await login(secured, 'alice', 'secret');
  });

  it('401 NOAUTH with WWW-Authenticate: Bearer without a token', async () => {
    for (const p of ['/', '/pipeline', '/multi-exec']) {
      const a = await call(secured, p, p === '/' ? ['PING'] : [['PING']]);
      expect(a.status, p).toBe(401);
      expect(a.headers.get('www-authenticate')).toBe('Bearer');
      expect((a.body as { error: string }).error).toMatch(/^NOAUTH Authentication required\./);
    }
  });

  it('requests on one keep-alive connection share nothing: identity, name, id and rights are per request', async () => {
    // One socket for every request (the server recycles a connection's session object between requests).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (argv: unknown[], token?: string) =>
      new Promise<{ status: number; body: { result?: unknown; error?: string } }>((resolve, reject) => {
        const data = JSON.stringify(argv);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (token) headers.authorization = `Bearer ${token}`;
        const req = http.request(
          { host: '127.0.0.1', port: secured.httpsPort, path: '/', method: 'POST', agent, headers },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => {
              text += d;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          },
        );
        req.on('error', reject);
        req.end(data);
      });
    try {
      const first = await post(['CLIENT', 'INFO'], alice);
      expect(first.status).toBe(200);
      const port = /\baddr=\S+:(\d+)\b/.exec(String(first.body.result))?.[1];
      expect(await post(['CLIENT', 'SETNAME', 'mine'], alice)).toEqual({ status: 200, body: { result: 'OK' } });
      const ids = new Set<unknown>();
      for (let i = 0; i < 3; i++) {
        const info = String((await post(['CLIENT', 'INFO'], alice)).body.result);
        // Same socket, new session: a new id, no name, alice's rights only because the token came again.
        expect(/\baddr=\S+:(\d+)\b/.exec(info)?.[1]).toBe(port);
        expect(info).toMatch(/ fd=-1 name= age=/);
        expect(info).toMatch(/\buser=alice\b/);
        ids.add((await post(['CLIENT', 'ID'], alice)).body.result);
      }
      expect(ids.size).toBe(3);
      // Without the token, on the same socket, the request is not alice's.
      const anonymous = await post(['GET', 'app:x']);
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error).toMatch(/^NOAUTH/);
      expect((await post(['SET', 'other:x', '1'], alice)).body.error).toMatch(/^NOPERM/);
    } finally {
      agent.destroy();
    }
  });

  it('401 WRONGPASS for a refused token, and for another Authorization scheme', async () => {
    const a = await call(secured, '/', ['PING'], { token: 'eyJhbGciOiJFZERTQSJ9.eyJ1c2VyIjoiYWxpY2UifQ.AAAA' });
    expect(a.status).toBe(401);
    expect((a.body as { error: string }).error).toMatch(/^WRONGPASS invalid token: /);
    expect(a.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    const b = await call(secured, '/', ['PING'], { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } });
    expect(b.status).toBe(401);
    expect((b.body as { error: string }).error).toMatch(/Bearer <token>/);
  });

  it('/auth/token: a wrong password is 401 WRONGPASS; a good one issues a Bearer token', async () => {
    const bad = await tokenRequest(secured, { username: 'alice', password: 'nope' });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error: 'WRONGPASS invalid username-password pair or user is disabled.' });
    const ghost = await tokenRequest(secured, { username: 'nobody', password: 'secret' });
    expect(ghost.status).toBe(401);
    const before = Date.now();
    const good = await tokenRequest(secured, { username: 'alice', password: 'secret', ttl: 120 });
    expect(good.status).toBe(200);
    expect(good.headers.get('cache-control')).toBe('no-store');
    const t = good.body as { token: string; expiresAt: number; tokenType: string; user: string };
    expect(t.tokenType).toBe('Bearer');
    expect(t.user).toBe('alice');
    expect(t.token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(t.expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 120_000);
    expect(t.expiresAt).toBeLessThanOrEqual(Date.now() + 121_000);
  });

  it("a token runs commands with its user's rights: NOPERM is an ordinary 400", async () => {
    expect(await call(secured, '/', ['SET', 'app:1', 'x'], { token: alice })).toMatchObject({
      status: 200,
      body: { result: 'OK' },
    });
    const denied = await call(secured, '/', ['SET', 'other', 'y'], { token: alice });
    expect(denied.status).toBe(400);
    expect(denied.body).toEqual({
      error: 'NOPERM this user has no permissions to access one of the keys used as arguments',
    });
    const p = await call(
      secured,
      '/pipeline',
      [
        ['SET', 'app:public:1', 'hello'],
        ['GET', 'other'],
      ],
      { token: alice },
    );
    expect(p.body).toEqual([{ result: 'OK' }, { error: expect.stringMatching(/^NOPERM /) }]);
    const m = await call(
      secured,
      '/multi-exec',
      [
        ['INCR', 'app:n'],
        ['INCR', 'app:n'],
      ],
      { token: alice },
    );
    expect(m.body).toEqual([{ result: 1 }, { result: 2 }]);
    const who = await cmd(secured, ['ACL', 'WHOAMI'], alice);
    expect(who).toEqual({ result: 'alice' });
  });

  it('narrows a token: same user, the requested acl, no longer life', async () => {
    const n = await tokenRequest(secured, { acl: '~app:public:* +get', ttl: 60 }, alice);
    expect(n.status, JSON.stringify(n.body)).toBe(200);
    const narrowed = n.body as { token: string; expiresAt: number; user: string };
    expect(narrowed.user).toBe('alice');
    expect(await cmd(secured, ['GET', 'app:public:1'], narrowed.token)).toEqual({ result: 'hello' });
    const set = await call(secured, '/', ['SET', 'app:public:1', 'changed'], { token: narrowed.token });
    expect(set.status).toBe(400);
    expect((set.body as { error: string }).error).toBe("NOPERM this user has no permissions to run the 'set' command");
    const outside = await call(secured, '/', ['GET', 'app:1'], { token: narrowed.token });
    expect((outside.body as { error: string }).error).toMatch(/^NOPERM /);

    // Narrowing the narrowed token again: its acl is kept, its expiry caps the new one.
    const again = await tokenRequest(secured, { ttl: 3600 }, narrowed.token);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    const t2 = again.body as { token: string; expiresAt: number };
    expect(t2.expiresAt).toBeLessThanOrEqual(narrowed.expiresAt);
    expect(await cmd(secured, ['GET', 'app:public:1'], t2.token)).toEqual({ result: 'hello' });
    expect((await call(secured, '/', ['SET', 'app:public:1', 'x'], { token: t2.token })).status).toBe(400);

    // A second acl on top of one is refused (the simple rule: one acl string per token).
    const twice = await tokenRequest(secured, { acl: '~app:public:a* +get' }, narrowed.token);
    expect(twice.status).toBe(400);
    expect((twice.body as { error: string }).error).toMatch(/already has an "acl"/);
    // Claims cannot be changed while narrowing.
    const claims = await tokenRequest(secured, { claims: { tenant: 'other' } }, alice);
    expect(claims.status).toBe(400);
    // Password and token at once is ambiguous.
    const both = await tokenRequest(secured, { username: 'alice', password: 'secret' }, alice);
    expect(both.status).toBe(400);
    // Neither: 401.
    const none = await tokenRequest(secured, {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('validates ttl, acl and claims with 400s naming the problem', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ttl: 86401 }, /^ERR "ttl" must be an integer from 1 to 86400/],
      [{ ttl: 0 }, /^ERR "ttl" must be an integer from 1 to 86400/],
      [{ ttl: 1.5 }, /^ERR "ttl" must be an integer/],
      [{ acl: '~app:* +nosuchcommand' }, /^ERR invalid "acl": '\+nosuchcommand'/],
      [{ acl: 42 }, /^ERR "acl" must be a string/],
      [{ claims: { sub: 'bob' } }, /^ERR claim "sub" is reserved/],
      [{ claims: { user: 'bob' } }, /^ERR claim "user" is reserved/],
      [{ claims: { exp: 1 } }, /^ERR claim "exp" is reserved/],
      [{ claims: { tenant: { nested: true } } }, /^ERR claim "tenant" must be a string or a finite number/],
      [{ claims: ['a'] }, /^ERR "claims" must be a JSON object/],
      [{ role: 'admin' }, /^ERR unknown field "role"/],
    ];
    for (const [extra, re] of cases) {
      const a = await tokenRequest(secured, { username: 'alice', password: 'secret', ...extra });
      expect(a.status, JSON.stringify(extra)).toBe(400);
      expect((a.body as { error: string }).error).toMatch(re);
    }
    const notJson = await call(secured, '/auth/token', '{"username": "alice", "password": "secret"');
    expect(notJson.status).toBe(400);
    // The message names the position but never repeats the body (it holds a password).
    expect((notJson.body as { error: string }).error).toMatch(/^ERR the request body is not valid JSON/);
    expect((notJson.body as { error: string }).error).not.toContain('secret');
    // Well-formed claims are refused too: a client choosing them could widen {claim:NAME} patterns.
    const withClaims = await tokenRequest(secured, {
      username: 'alice',
      password: 'secret',
      claims: { tenant: 't1', level: 3 },
    });
    expect(withClaims.status).toBe(400);
    expect((withClaims.body as { error: string }).error).toMatch(/^ERR "claims" cannot be chosen at login/);
    const plain = await login(secured, 'alice', 'secret');
    const payload = JSON.parse(Buffer.from(plain.split('.')[1], 'base64url').toString());
    expect(payload).toMatchObject({ user: 'alice', sub: 'alice', iss: 'kvws' });
    expect(payload).not.toHaveProperty('tenant');
  });

  it('GET /.well-known/jwks.json lists the Ed25519 signing key, cacheable', async () => {
    const a = await call(secured, '/.well-known/jwks.json', undefined, { method: 'GET' });
    expect(a.status).toBe(200);
    expect(a.headers.get('cache-control')).toBe('public, max-age=300');
    expect(a.headers.get('content-type')).toBe('application/json');
    const keys = (a.body as { keys: Record<string, unknown>[] }).keys;
    expect(keys.length).toBeGreaterThanOrEqual(1);
    expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.any(String) });
    expect(keys[0]).not.toHaveProperty('d');
    const header = JSON.parse(Buffer.from(alice.split('.')[0], 'base64url').toString());
    expect(keys.map((k) => k.kid)).toContain(header.kid);
  });

  it('refuses (401) the token of a user deleted with ACL DELUSER', async () => {
    // ACL commands as alice (+@all) over the API itself. (Over the RESP port, AUTH is refused with NOPERM
    // while the default user is off; Redis answers OK there.)
    const admin = async (...argv: string[]) => cmd(secured, argv, alice);
    expect(await admin('ACL', 'SETUSER', 'bob', 'on', '>pw', '~*', '+@all')).toEqual({ result: 'OK' });
    const bob = await login(secured, 'bob', 'pw');
    expect(await cmd(secured, ['ACL', 'WHOAMI'], bob)).toEqual({ result: 'bob' });
    expect(await admin('ACL', 'DELUSER', 'bob')).toEqual({ result: 1 });
    const a = await call(secured, '/', ['PING'], { token: bob });
    expect(a.status).toBe(401);
    expect(a.body).toEqual({ error: "WRONGPASS the token's user is disabled or does not exist" });
    const info = ((await admin('INFO', 'stats')) as { result: string }).result;
    const stat = (field: string) => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1]);
    expect(stat('http_auth_failures')).toBeGreaterThanOrEqual(5);
    expect(stat('http_tokens_issued')).toBeGreaterThanOrEqual(4);
  });
});

/** An open event stream read raw through node:http: status, headers and the text received so far. */
interface RawStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Waits (at most 5 s) until the text received satisfies `done`; returns the text. */
  until(done: (text: string) => boolean): Promise<string>;
  /** Resolves when the server ended the stream (at most 5 s; rejects after). */
  ended(): Promise<void>;
  close(): void;
}

/** Opens `pathname` on a --no-tls server with `method` and the token; resolves once the head arrived. */
function openStream(server: RunningServer, pathname: string, o: { method?: string; token?: string } = {}) {
  return new Promise<RawStream>((resolve, reject) => {
    const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
    const req = http.request(
      { host: '127.0.0.1', port: server.httpsPort, path: pathname, method: o.method ?? 'POST', headers },
      (res) => {
        let text = '';
        let over = false;
        const waiters = new Set<() => void>();
        const wake = () => {
          for (const w of waiters) w();
        };
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
          wake();
        });
        res.on('close', () => {
          over = true;
          wake();
        });
        res.on('error', () => {});
        const wait = (ok: () => boolean, what: string) =>
          new Promise<void>((done, fail) => {
            const check = () => {
              if (!ok()) return;
              clearTimeout(t);
              waiters.delete(check);
              done();
            };
            const t = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`${what} within 5 s; received: ${JSON.stringify(text)}`));
            }, 5000);
            waiters.add(check);
            check();
          });
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          until: async (done) => {
            await wait(() => done(text) || over, 'no expected text');
            if (!done(text)) throw new Error(`the stream ended; received: ${JSON.stringify(text)}`);
            return text;
          },
          ended: () => wait(() => over, 'the stream did not end'),
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * The stream position in the first event's `id: <epoch>:<offset>` line (the subscribe confirmation's: the
 * position the subscription starts from), and `id(n)`: the id line of the n-th event after it.
 */
function ssePosition(text: string): { epoch: string; offset: number; id: (n: number) => string } {
  const m = /^id: ([0-9a-f]{16}):(\d+)\n/.exec(text);
  if (!m) throw new Error(`no id line first; received: ${JSON.stringify(text)}`);
  const [epoch, offset] = [m[1], Number(m[2])];
  return { epoch, offset, id: (n) => `id: ${epoch}:${offset + n}\n` };
}

describe('server-sent events: /subscribe/<channel>, /psubscribe/<pattern>', () => {
  it('streams Upstash-format events: subscribe line, then messages (commas as they are, lines split)', async () => {
    const r = redis(open);
    const s = await openStream(open, `/subscribe/${encodeURIComponent('news,eu ü')}`);
    try {
      expect(s.status).toBe(200);
      expect(s.headers['content-type']).toBe('text/event-stream');
      expect(s.headers['cache-control']).toBe('no-store');
      const at = ssePosition(await s.until((t) => t.includes('\n\n')));
      expect(await r.publish('news,eu ü', 'hello, world')).toBe(1);
      await r.publish('news,eu ü', 'two\nlines');
      const text = await s.until((t) => t.includes('lines'));
      // Consecutive publications: consecutive offsets after the confirmation's.
      expect(text).toBe(
        `${at.id(0)}data: subscribe,news,eu ü,1\n\n` +
          `${at.id(1)}data: message,news,eu ü,hello, world\n\n` +
          `${at.id(2)}data: message,news,eu ü,two\ndata: lines\n\n`,
      );
    } finally {
      s.close();
    }
    // The session ends with the request.
    expect(await waitFor(async () => ((await r.pubsub('NUMSUB', 'news,eu ü')) as unknown[])[1] === 0, 5000)).toBe(true);
  });

  it('GET works too (EventSource); psubscribe streams pmessage events', async () => {
    const r = redis(open);
    const s = await openStream(open, '/psubscribe/sse.*', { method: 'GET' });
    try {
      expect(s.status).toBe(200);
      const at = ssePosition(await s.until((t) => t.includes('\n\n')));
      await r.publish('sse.a', 'x,y');
      expect(await s.until((t) => t.includes('x,y'))).toBe(
        `${at.id(0)}data: psubscribe,sse.*,1\n\n${at.id(1)}data: pmessage,sse.*,sse.a,x,y\n\n`,
      );
    } finally {
      s.close();
    }
  });

  it('refuses a missing or malformed name (400), other methods (405), no token (401), NOPERM (400)', async () => {
    expect((await call(open, '/subscribe/')).status).toBe(400);
    const bad = await call(open, '/subscribe/%E0%A4%A');
    expect(bad.status).toBe(400);
    expect((bad.body as { error: string }).error).toMatch(/^ERR the channel in the path is not valid/);
    expect((await call(open, '/psubscribe/x', undefined, { method: 'PUT' })).status).toBe(405);
    const none = await call(secured, '/subscribe/news');
    expect(none.status).toBe(401);
    expect((none.body as { error: string }).error).toMatch(/^NOAUTH/);
    // alice has no channel rights (~app:* +@all): SUBSCRIBE through engine.execute is refused.
    const alice = await login(secured, 'alice', 'secret');
    const denied = await call(secured, '/subscribe/news', undefined, { token: alice });
    expect(denied.status).toBe(400);
    expect((denied.body as { error: string }).error).toMatch(
      /^NOPERM this user has no permissions to access one of the channels/,
    );
  });

  it('/monitor streams MONITOR lines (OK first), refuses other methods', async () => {
    const r = redis(open);
    const s = await openStream(open, '/monitor');
    try {
      expect(s.status).toBe(200);
      await s.until((t) => t.startsWith('data: OK\n\n'));
      await r.set('monitored:key', 'v1');
      const text = await s.until((t) => t.includes('monitored:key'));
      expect(text).toMatch(/data: \d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "set" "monitored:key" "v1"\n\n/);
    } finally {
      s.close();
    }
    expect((await call(open, '/monitor', undefined, { method: 'PUT' })).status).toBe(405);
  });

  it('CLIENT KILL ends the stream, saying why', async () => {
    const r = redis(open);
    const s = await openStream(open, '/subscribe/killme');
    await s.until((t) => t.includes('\n\n'));
    expect(await r.client('KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(1);
    await s.ended();
    expect(await s.until(() => true)).toMatch(/: closed \(client kill\)\n\n$/);
  });

  it('closes a stream whose reader falls more than --ws-max-buffer bytes behind', async () => {
    const slow = await start(['--no-tls', '--ws-max-buffer', '65536']);
    const r = redis(slow);
    // A reader that stops reading once the stream started: the socket buffers fill, then the server's.
    const paused = await pauseStream(slow, '/subscribe/firehose');
    const big = 'x'.repeat(64 * 1024);
    const n = 512; // 32 MiB: more than loopback socket buffers hold
    const pipeline = r.pipeline();
    for (let i = 0; i < n; i++) pipeline.publish('firehose', big);
    await pipeline.exec();
    expect(await waitFor(async () => ((await r.pubsub('NUMSUB', 'firehose')) as unknown[])[1] === 0, 10_000)).toBe(
      true,
    );
    // Reading again, it gets what was in flight, then the end of the stream.
    expect(await paused.drain()).toBeLessThan(n * big.length);
  });
});

/**
 * Opens an event stream on a raw socket and stops reading once the head is in: for the slow-reader limit.
 * `drain()` then reads what is left until the server closes and returns the bytes received in all.
 */
async function pauseStream(server: RunningServer, pathname: string) {
  const net = await import('node:net');
  const sock = net.connect(server.httpsPort as number, '127.0.0.1');
  sock.on('error', () => {});
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.write(`POST ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`);
    const onData = (d: Buffer) => {
      received += d.length;
      if (d.toString('latin1').includes('subscribe,')) {
        sock.off('data', onData);
        sock.pause();
        resolve();
      }
    };
    sock.on('data', onData);
  });
  return {
    drain: () =>
      new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the server did not close the slow stream within 10 s')), 10_000);
        sock.on('data', (d: Buffer) => {
          received += d.length;
        });
        sock.once('close', () => {
          clearTimeout(t);
          resolve(received);
        });
        sock.resume();
      }),
  };
}
