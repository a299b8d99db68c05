import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTestCertificate, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

// The HTTP port's fast lane (server/src/net/http-fast.ts) end to end, over raw TCP and TLS sockets so that
// the exact bytes on the wire are the test's: pipelined requests, requests split anywhere, the hand-over to
// node:http at the first request the lane does not take, smuggling attempts, timeouts, blocked commands,
// and answers the same as node:http's. Real kvws processes; ioredis on the RESP port to look inside.
// kvws-only.

const servers: RunningServer[] = [];
const clients: Redis[] = [];
const sockets: net.Socket[] = [];
let dir = '';
/** --no-tls, default user open, short timeouts. */
let plain: RunningServer;
/** TLS with a test certificate. */
let secure: RunningServer;
let ca: Buffer;

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), ...args]);
  servers.push(s);
  return s;
}

function redis(server: RunningServer): Redis {
  const c = redisClient(server);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

interface Answer {
  status: number;
  /** Lower-case names; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
  /** Header names in the order sent. */
  names: string[];
  body: string;
}

/** A raw connection to a server's HTTP port that collects what the server sends. */
class Conn {
  private data = Buffer.alloc(0);
  closed = false;
  constructor(readonly socket: net.Socket) {
    sockets.push(socket);
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The complete answers received so far (each taken out), parsed by their Content-Length. */
  private take(): Answer[] {
    const out: Answer[] = [];
    for (;;) {
      const end = this.data.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const lines = this.data.toString('latin1', 0, end).split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers: Record<string, string> = {};
      const names: string[] = [];
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        const name = l.slice(0, c).toLowerCase();
        names.push(name);
        const v = l.slice(c + 1).trim();
        headers[name] = headers[name] === undefined ? v : `${headers[name]}, ${v}`;
      }
      const length = Number(headers['content-length'] ?? 0);
      if (this.data.length < end + 4 + length) return out;
      out.push({ status, headers, names, body: this.data.toString('utf8', end + 4, end + 4 + length) });
      this.data = this.data.subarray(end + 4 + length);
    }
  }

  private got: Answer[] = [];

  /** Waits for `n` more answers (at most timeoutMs). */
  async answers(n: number, timeoutMs = 5000): Promise<Answer[]> {
    await waitFor(() => {
      this.got.push(...this.take());
      return this.got.length >= n;
    }, timeoutMs);
    return this.got.splice(0, n);
  }

  /** Resolves true once the server has closed the connection (within timeoutMs), else false. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    try {
      await waitFor(() => this.closed, timeoutMs);
      return true;
    } catch {
      return false;
    }
  }
}

/** A raw connection to the server's HTTP port: plain TCP, or TLS trusting the test CA. */
async function connect(server: RunningServer, secure = false): Promise<Conn> {
  const port = server.httpsPort as number;
  const s = secure
    ? tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
    : net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once(secure ? 'secureConnect' : 'connect', resolve);
    s.once('error', reject);
  });
  return new Conn(s);
}

/** A request of the form the lane takes: POST `target` with `body`, Host and Content-Length, then `extra` lines. */
function post(target: string, body: unknown, extra: string[] = []): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const head = [`POST ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${Buffer.byteLength(text)}`, ...extra];
  return `${head.join('\r\n')}\r\n\r\n${text}`;
}

/** A request the lane leaves to node:http: POST / with `argv` as a chunked body (one chunk). */
function chunkedPost(argv: string[]): string {
  const body = JSON.stringify(argv);
  return `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
}

/** INFO's http_fast_lane_* fields. */
async function lane(server: RunningServer): Promise<{ requests: number; handovers: number; connections: number }> {
  const info = await redis(server).info('stats');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return {
    requests: field('http_fast_lane_requests'),
    handovers: field('http_fast_lane_handovers'),
    connections: field('http_fast_lane_connections'),
  };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-http-fast-'));
  const cert = makeTestCertificate(dir);
  ca = readFileSync(cert.ca);
  [plain, secure] = await Promise.all([
    start([
      '--no-tls',
      ...['--http-headers-timeout', '1', '--http-request-timeout', '2', '--http-keep-alive-timeout', '1'],
    ]),
    start(['--tls-cert', cert.cert, '--tls-key', cert.key]),
  ]);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const c of clients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the fast lane', () => {
  it('answers pipelined commands in order, with the headers node:http gives the same request', async () => {
    const before = await lane(plain);
    const c = await connect(plain);
    c.send(
      post('/', ['SET', 'fast:a', 'v1']) +
        post('/', ['GET', 'fast:a'], ['Connection: keep-alive']) +
        post('/pipeline', [
          ['INCR', 'fast:n'],
          ['INCR', 'fast:n'],
        ]) +
        post('/multi-exec', [
          ['INCR', 'fast:n'],
          ['GET', 'fast:a'],
        ]) +
        post('/', ['NOSUCH']),
    );
    const [set, get, pipe, multi, bad] = await c.answers(5);
    expect([set.status, set.body]).toEqual([200, '{"result":"OK"}']);
    expect([get.status, get.body]).toEqual([200, '{"result":"v1"}']);
    expect(JSON.parse(pipe.body)).toEqual([{ result: 1 }, { result: 2 }]);
    expect(JSON.parse(multi.body)).toEqual([{ result: 3 }, { result: 'v1' }]);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/unknown command/);
    const after = await lane(plain);
    expect(after.requests - before.requests).toBe(5);
    expect(after.handovers).toBe(before.handovers);

    // The same GET with a header the lane does not take (so node:http answers it), on a new connection.
    const n = await connect(plain);
    n.send(post('/', ['GET', 'fast:a'], ['X-Something: 1']));
    const [viaNode] = await n.answers(1);
    expect((await lane(plain)).handovers).toBe(after.handovers + 1);
    expect(viaNode.body).toBe(get.body);
    expect(get.names.filter((x) => x !== 'date')).toEqual(viaNode.names.filter((x) => x !== 'date'));
    for (const name of get.names) {
      if (name === 'date' || name === 'x-request-id' || name === 'upstash-sync-token') continue;
      expect([name, get.headers[name]]).toEqual([name, viaNode.headers[name]]);
    }
    expect(get.headers.connection).toBe('keep-alive');
    expect(get.headers['keep-alive']).toBe('timeout=1');
    expect(get.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(Number(get.headers['upstash-sync-token'])).toBeGreaterThan(0);
  });

  it('takes requests split anywhere, a byte at a time', async () => {
    const c = await connect(plain);
    const bytes = Buffer.from(post('/', ['SET', 'fast:split', 'é ü']) + post('/', ['GET', 'fast:split']));
    for (let i = 0; i < bytes.length; i += 7) {
      c.send(bytes.subarray(i, i + 7));
      await new Promise((r) => setTimeout(r, 2));
    }
    const [set, get] = await c.answers(2);
    expect(set.body).toBe('{"result":"OK"}');
    expect(JSON.parse(get.body)).toEqual({ result: 'é ü' });
  });

  it('hands the connection over at the first request it does not take; node:http answers that one and the rest', async () => {
    const before = await lane(plain);
    const c = await connect(plain);
    const chunked = chunkedPost(['SET', 'fast:chunked', 'c']);
    // The GET after the chunked SET runs after it, though node:http has its whole body first.
    c.send(post('/', ['SET', 'fast:h1', 'a']) + chunked + post('/', ['GET', 'fast:chunked']));
    const [first, second, third] = await c.answers(3);
    expect(first.body).toBe('{"result":"OK"}');
    expect(second.body).toBe('{"result":"OK"}');
    expect(third.body).toBe('{"result":"c"}');
    const after = await lane(plain);
    expect(after.requests - before.requests).toBe(1);
    expect(after.handovers - before.handovers).toBe(1);
    // Still served (by node:http) after the hand-over.
    c.send(post('/', ['GET', 'fast:h1']));
    expect((await c.answers(1))[0].body).toBe('{"result":"a"}');
  });

  it('leaves every other request to node:http: other methods and paths, query strings, Origin, Expect, big bodies', async () => {
    const r = redis(plain);
    await r.set('fast:k', 'v');
    const cases: { request: string; status: number; body?: unknown }[] = [
      { request: 'GET /get/fast:k HTTP/1.1\r\nHost: x\r\n\r\n', status: 200, body: { result: 'v' } },
      { request: post('/?x=1', ['GET', 'fast:k']), status: 200, body: { result: 'v' } },
      { request: post('/get/fast:k', ''), status: 200, body: { result: 'v' } },
      {
        request: post('/', ['GET', 'fast:k'], ['Origin: https://evil.example']),
        status: 403,
      },
      { request: post('/', ['GET', 'fast:k'], ['Sec-Fetch-Site: cross-site']), status: 403 },
      { request: 'OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n', status: 204 },
      { request: post('/', ['GET', 'fast:k'], ['Connection: close']), status: 200, body: { result: 'v' } },
      { request: post('/', ['SET', 'fast:big', 'x'.repeat(100_000)]), status: 200, body: { result: 'OK' } },
    ];
    for (const k of cases) {
      const c = await connect(plain);
      c.send(k.request);
      const [a] = await c.answers(1);
      expect([k.request.split('\r\n')[0], a.status]).toEqual([k.request.split('\r\n')[0], k.status]);
      if (k.body !== undefined) expect(JSON.parse(a.body)).toEqual(k.body);
    }
    expect(await r.strlen('fast:big')).toBe(100_000);
    // Expect: 100-continue: node:http sends the interim answer, then the final one.
    const e = await connect(plain);
    e.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\nExpect: 100-continue\r\n\r\n["GET","fast:k"]');
    const [cont] = await e.answers(1);
    expect(cont.status).toBe(100);
    expect(JSON.parse((await e.answers(1))[0].body)).toEqual({ result: 'v' });
  });

  it('never runs a command hidden in a request whose framing is ambiguous or malformed', async () => {
    const r = redis(plain);
    const hidden = post('/', ['SET', 'fast:smuggled', '1']);
    const cases = [
      // Content-Length and Transfer-Encoding together (CL.TE / TE.CL).
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n${hidden}`,
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: ${hidden.length + 5}\r\n\r\n0\r\n\r\n${hidden}`,
      // Two Content-Lengths.
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
      // A signed length, a length with junk, a space before the colon.
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n${hidden}`,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x0\r\n\r\n${hidden}`,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n${hidden}`,
      // Bare LF line ends, a folded header, a NUL in a value.
      `POST / HTTP/1.1\nHost: x\nContent-Length: 0\n\n${hidden}`,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n Transfer-Encoding: chunked\r\n\r\n${hidden}`,
      `POST / HTTP/1.1\r\nHost: x\0y\r\nContent-Length: 0\r\n\r\n${hidden}`,
    ];
    for (const request of cases) {
      const c = await connect(plain);
      c.send(request);
      // node:http refuses each (400, connection closed) before anything after it is read as a request.
      const [a] = await c.answers(1);
      expect([request, a.status]).toEqual([request, 400]);
      expect(await c.closedWithin(3000)).toBe(true);
    }
    expect(await r.exists('fast:smuggled')).toBe(0);
  });

  it('holds a pipelined request back until a blocked command before it is answered', async () => {
    const r = redis(plain);
    await r.del('fast:q');
    const c = await connect(plain);
    c.send(post('/', ['BLPOP', 'fast:q', '5']) + post('/', ['SET', 'fast:after', 'x']));
    await waitFor(async () => Number(/blocked_clients:(\d+)/.exec(await r.info('clients'))?.[1]) === 1, 5000);
    expect(await r.exists('fast:after')).toBe(0);
    await r.rpush('fast:q', 'item');
    const [pop, set] = await c.answers(2);
    expect(JSON.parse(pop.body)).toEqual({ result: ['fast:q', 'item'] });
    expect(set.body).toBe('{"result":"OK"}');
    expect(await r.get('fast:after')).toBe('x');
  });

  it('ends the session of a request whose connection closes while it runs', async () => {
    const r = redis(plain);
    const c = await connect(plain);
    c.send(post('/', ['BLPOP', 'fast:never', '0']));
    await waitFor(async () => Number(/blocked_clients:(\d+)/.exec(await r.info('clients'))?.[1]) === 1, 5000);
    c.socket.destroy();
    await waitFor(async () => Number(/blocked_clients:(\d+)/.exec(await r.info('clients'))?.[1]) === 0, 5000);
    expect(String(await r.client('LIST'))).not.toMatch(/cmd=blpop/);
  });

  it('applies the port timeouts: 408 for a head or body still arriving, close for an idle connection', async () => {
    const head = await connect(plain);
    head.send('POST / HTTP/1.1\r\nHost: x\r\n');
    const [late] = await head.answers(1, 4000);
    expect(late.status).toBe(408);
    expect(await head.closedWithin(3000)).toBe(true);

    const body = await connect(plain);
    body.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n["GET"');
    const [slow] = await body.answers(1, 5000);
    expect(slow.status).toBe(408);

    const idle = await connect(plain);
    idle.send(post('/', ['PING']));
    expect((await idle.answers(1))[0].body).toBe('{"result":"PONG"}');
    const t0 = Date.now();
    expect(await idle.closedWithin(4000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('serves TLS connections the same way, hand-over included', async () => {
    const before = await lane(secure);
    const c = await connect(secure, true);
    c.send(
      post('/', ['SET', 'fast:tls', 'yes']) +
        post('/', ['GET', 'fast:tls'], ['X-Other: 1']) +
        post('/', ['GET', 'fast:tls']),
    );
    const [set, get1, get2] = await c.answers(3);
    expect(set.body).toBe('{"result":"OK"}');
    expect(get1.body).toBe('{"result":"yes"}');
    expect(get2.body).toBe('{"result":"yes"}');
    expect(set.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
    const after = await lane(secure);
    expect(after.requests - before.requests).toBe(1);
    expect(after.handovers - before.handovers).toBe(1);
  });
});

describe('--no-http-fast-lane', () => {
  it('leaves every request to node:http, with the same answers', async () => {
    const off = await start(['--no-tls', '--no-http-fast-lane']);
    const c = await connect(off);
    c.send(post('/', ['SET', 'fast:off', '1']) + post('/', ['GET', 'fast:off']));
    const [set, get] = await c.answers(2);
    expect(set.body).toBe('{"result":"OK"}');
    expect(get.body).toBe('{"result":"1"}');
    expect(await lane(off)).toEqual({ requests: 0, handovers: 0, connections: 0 });
  });

  it('runs pipelined requests in order there too, each after the one before is answered', async () => {
    const off = servers.at(-1) as RunningServer;
    const r = redis(off);
    await r.del('fast:order', 'fast:q2');
    const c = await connect(off);
    const chunked = chunkedPost(['SET', 'fast:order', 'chunked']);
    c.send(
      `${chunked}${post('/', ['GET', 'fast:order'])}${post('/', ['BLPOP', 'fast:q2', '5'])}${post('/', ['SET', 'fast:order', 'last'])}`,
    );
    const [set, get] = await c.answers(2);
    expect(set.body).toBe('{"result":"OK"}');
    expect(get.body).toBe('{"result":"chunked"}');
    // The SET behind the blocked BLPOP waits for it.
    await waitFor(async () => Number(/blocked_clients:(\d+)/.exec(await r.info('clients'))?.[1]) === 1, 5000);
    expect(await r.get('fast:order')).toBe('chunked');
    await r.rpush('fast:q2', 'x');
    const [pop, last] = await c.answers(2);
    expect(JSON.parse(pop.body)).toEqual({ result: ['fast:q2', 'x'] });
    expect(last.body).toBe('{"result":"OK"}');
    expect(await r.get('fast:order')).toBe('last');
  });
});
