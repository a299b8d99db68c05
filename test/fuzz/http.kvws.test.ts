import net from 'node:net';
import fc from 'fast-check';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../server/src/engine/client.js';
import type { Engine } from '../../server/src/engine/engine.js';
import { freePort, parseReplies, type RunningServer } from '../helpers/server.js';
import { HTTP_BODIES, HTTP_NASTY, HTTP_REQUESTS, type HttpRequest } from './corpus/http.js';
import { RESP_COMMANDS } from './corpus/resp.js';
import {
  announce,
  argvMutated,
  Canary,
  checkAfterFuzz,
  ERROR_FORM,
  FUZZ_USERS,
  type FuzzServer,
  type HttpResponse,
  jsonMutated,
  latin1,
  memorySample,
  mutated,
  NASTY_BYTES,
  NASTY_NUMBERS,
  noJsError,
  params,
  parseResponses,
  RUNS,
  SOCKET_RUNS,
  startFuzzServer,
  Tally,
  timeLimit,
} from './harness.js';
import { expectKeptAndMemoryBack, fuzzHttpServer, resetFuzzDb, usedMemory, writeKept } from './in-process.js';

/**
 * Fuzzing the HTTP front door (docs/fuzzing.md): requests with mutated methods, paths (the path form of every
 * command), query strings, headers and JSON bodies, pipelined on keep-alive connections to the real
 * HttpsServer + HttpApi in this process (RUNS requests) and to a running kvws (SOCKET_RUNS requests), plus
 * byte-mutated raw requests (framing, header and encoding attacks) each on its own connection.
 */

announce('http');

const STATIC_TOKEN = 'fuzz-static-token-0123456789';

/** Header names the mutator may set: kvws's own, CORS and fetch metadata, and an unknown one. */
const HEADER_NAMES = [
  'authorization',
  'upstash-encoding',
  'upstash-response-format',
  'upstash-sync-token',
  'origin',
  'sec-fetch-site',
  'x-request-id',
  'content-type',
  'last-event-id',
  'accept',
  'x-fuzz',
];
const HEADER_VALUES = [
  'Bearer {TOKEN}',
  `Bearer ${STATIC_TOKEN}`,
  'Bearer ',
  'bearer  {TOKEN}  ',
  'Basic eDp5',
  'base64',
  'BASE64',
  'resp2',
  'json',
  'null',
  'http://127.0.0.1',
  'http://evil.example',
  'https://[::1]:99999',
  'cross-site',
  'same-origin',
  'none',
  'text/plain',
  'x'.repeat(300),
  'e:1',
  'abc:99999999999999999',
];

/** Request-target bytes outside these are percent-encoded (so that the request line stays parseable). */
function targetSafe(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += /[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/.test(s[i]) ? s[i] : `%${c.toString(16).padStart(2, '0')}`;
  }
  // Node refuses request heads over 16 KiB (431, and the connection closes): raw requests test that.
  return (out.startsWith('/') ? out : `/${out}`).slice(0, 8192);
}

/** A header value as the request may carry it: visible ASCII and blanks only, at most 4 KiB. */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 4096);
}

/** A binary string percent-encoded as a path segment. */
function segment(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 255;
    out += /[A-Za-z0-9\-._~]/.test(s[i]) ? s[i] : `%${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}

type RequestMutation = (r: HttpRequest) => HttpRequest;

const BODY = jsonMutated(HTTP_BODIES, ['', ' ', 'null', '[', '{"username":', '[[[[[[[[[[', '["\\ud800"]']);

const REQUEST_MUTATION: fc.Arbitrary<RequestMutation> = fc.oneof(
  fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'OPTIONS', 'DELETE', 'PATCH').map(
    (method): RequestMutation =>
      (r) => ({ ...r, method }),
  ),
  // The path form of a mutated command: every command's argument parser, reached through the URL.
  argvMutated(RESP_COMMANDS).map(
    (argv): RequestMutation =>
      (r) => ({ ...r, path: `/${argv.map(segment).join('/')}`.slice(0, 8192) }),
  ),
  // The target's bytes mutated.
  fc.tuple(fc.nat(), fc.nat(), fc.array(fc.constantFrom(...NASTY_BYTES, ...NASTY_NUMBERS), { maxLength: 3 })).map(
    ([p, q, xs]): RequestMutation =>
      (r) => {
        const t = r.path;
        const at = p % (t.length + 1);
        const cut = Math.min(t.length, at + (q % 4));
        return { ...r, path: targetSafe(t.slice(0, at) + xs.join('') + t.slice(cut)) };
      },
  ),
  // A query parameter added.
  fc
    .tuple(
      fc.constantFrom('_token', 'lastEventId', 'EX', 'x', '', '%zz', '_token%00'),
      fc.oneof(fc.constantFrom(...NASTY_NUMBERS, '{TOKEN}', '', 'a+b', '%', '%2'), fc.string({ maxLength: 8 })),
    )
    .map(
      ([k, v]): RequestMutation =>
        (r) => ({
          ...r,
          path: targetSafe(`${r.path}${r.path.includes('?') ? '&' : '?'}${k}=${v}`),
        }),
    ),
  // A header set.
  fc
    .tuple(fc.constantFrom(...HEADER_NAMES), fc.oneof(fc.constantFrom(...HEADER_VALUES), fc.string({ maxLength: 40 })))
    .map(
      ([name, value]): RequestMutation =>
        (r) => ({
          ...r,
          headers: [...r.headers.filter(([n]) => n !== name), [name, headerSafe(value)]],
        }),
    ),
  // A header removed.
  fc.nat().map(
    (i): RequestMutation =>
      (r) => ({ ...r, headers: r.headers.filter((_, j) => j !== i % (r.headers.length + 1)) }),
  ),
  // The body replaced (mutated JSON, or none).
  fc.option(BODY, { freq: 8 }).map(
    (b): RequestMutation =>
      (r) => ({ ...r, body: b === null ? null : b.toString('latin1') }),
  ),
);

const REQUEST: fc.Arbitrary<HttpRequest> = fc
  .tuple(fc.nat(HTTP_REQUESTS.length - 1), fc.array(REQUEST_MUTATION, { minLength: 1, maxLength: 4 }))
  .map(([i, ms]) => ms.reduce((r, m) => m(r), HTTP_REQUESTS[i]));

/** Headers the HTTP port's fast lane takes (docs/http-api.md#the-fast-lane): a request with only these stays on it. */
const LANE_HEADER_NAMES = HEADER_NAMES.filter(
  (n) => !['origin', 'sec-fetch-site', 'last-event-id', 'x-fuzz'].includes(n),
);

/**
 * A request of the form the fast lane takes: POST /, /pipeline or /multi-exec with a mutated JSON body and up
 * to three of its headers with mutated values. Pipelined, they keep a connection on the lane (until one
 * holds something it leaves to node:http, a value with a blank at an end, say).
 */
const LANE_REQUEST: fc.Arbitrary<HttpRequest> = fc
  .tuple(
    fc.constantFrom('/', '/pipeline', '/multi-exec'),
    fc.array(
      fc.tuple(
        fc.constantFrom(...LANE_HEADER_NAMES),
        fc.oneof(fc.constantFrom(...HEADER_VALUES), fc.string({ maxLength: 40 })),
      ),
      { maxLength: 3 },
    ),
    BODY,
  )
  .map(([path, hs, body]) => {
    const headers = new Map(hs.map(([n, v]) => [n, headerSafe(v)] as const));
    return { method: 'POST', path, headers: [...headers], body: body.toString('latin1') };
  });

/** A request in a failure message: method, target and headers, without the body. */
function showRequest(r: HttpRequest): string {
  return `${r.method} ${r.path} ${JSON.stringify(r.headers)}`;
}

/** The request's bytes, with `{TOKEN}` filled in and a Content-Length for a body. */
function serialize(r: HttpRequest, token: string): Buffer {
  const fill = (s: string) => s.replaceAll('{TOKEN}', token);
  const body = r.body === null ? null : latin1(r.body);
  const head = [`${r.method} ${fill(r.path)} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [n, v] of r.headers) head.push(`${n}: ${fill(v)}`);
  if (body !== null) head.push(`Content-Length: ${body.length}`);
  return Buffer.concat([latin1(`${head.join('\r\n')}\r\n\r\n`), body ?? Buffer.alloc(0)]);
}

/** Whether the request opens an event stream (it then goes on a connection of its own). */
function streams(r: HttpRequest): boolean {
  const p = r.path.split('?')[0];
  return (
    (r.method === 'GET' || r.method === 'POST') &&
    (p.startsWith('/subscribe/') || p.startsWith('/psubscribe/') || p === '/monitor')
  );
}

/** Checks one response: never a 5xx; JSON `{error}` in Redis's form for errors; valid JSON or RESP bodies. */
function checkResponse(res: HttpResponse, head: boolean, tally: Tally, req: string): void {
  tally.add(`status ${res.status}`);
  try {
    checkResponseBody(res, head, !OTHER_ROUTES.test(req.split(' ')[1] ?? ''));
  } catch (e) {
    throw new Error(`${(e as Error).message} (request: ${JSON.stringify(req.slice(0, 300))})`);
  }
}

/**
 * Routes of the HTTPS port that are not the HTTP API (the dashboard's pages, Prometheus text, probes): their
 * errors may be plain text.
 */
const OTHER_ROUTES = /^\/(dashboard|metrics|healthz|readyz)([/?]|$)/;

function checkResponseBody(res: HttpResponse, head: boolean, api: boolean): void {
  if (res.status >= 500) throw new Error(`HTTP ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
  if (head || res.status === 204) return;
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('application/json')) {
    const v = JSON.parse(res.body.toString('utf8')) as unknown;
    const text = res.body.toString('utf8');
    if (res.status >= 400) {
      const e = (v as { error?: unknown }).error;
      if (typeof e !== 'string') throw new Error(`HTTP ${res.status} without {error}: ${text.slice(0, 300)}`);
    }
    for (const m of text.matchAll(/"error":"((?:[^"\\]|\\.)*)"/g)) {
      const e = JSON.parse(`"${m[1]}"`) as string;
      if (!ERROR_FORM.test(e)) throw new Error(`error not in Redis's form: ${e.slice(0, 300)}`);
      noJsError(e, `an HTTP ${res.status} answer`);
    }
  } else if (type.startsWith('application/octet-stream')) {
    const r = parseReplies(res.body.toString('latin1'));
    if (r.rest !== '') throw new Error('a resp2 answer that is not whole RESP replies');
    for (const e of r.errors) noJsError(e, 'a resp2 answer');
  } else if (res.status >= 400 && api) {
    throw new Error(`HTTP ${res.status} answered with ${type || 'no content type'}`);
  }
}

/** Sends `data` on a new connection; resolves with what came back once `enough` says so, or on close. */
function exchange(
  port: number,
  data: Buffer,
  enough: (got: Buffer) => boolean,
  opts: { half?: boolean; timeoutMs?: number } = {},
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data: got, closed });
    };
    const timer = setTimeout(() => {
      settled = true;
      s.destroy();
      reject(
        new Error(`no complete answer within ${opts.timeoutMs ?? 20_000} ms: ${got.toString('latin1').slice(-300)}`),
      );
    }, opts.timeoutMs ?? 20_000);
    s.on('error', () => {});
    s.on('close', () => finish(true));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (enough(got)) finish(false);
    });
    s.on('connect', () => {
      if (opts.half) s.end(data);
      else s.write(data);
    });
  });
}

/**
 * Pipelines `reqs` on PARALLEL keep-alive connections at once (event streams on their own connections) and
 * checks every request got exactly one well-formed response, in order.
 */
async function httpBatch(port: number, reqs: HttpRequest[], token: string, tally: Tally): Promise<void> {
  const n = Math.ceil(reqs.length / PARALLEL);
  await Promise.all(
    Array.from({ length: PARALLEL }, (_, i) => pipelined(port, reqs.slice(i * n, (i + 1) * n), token, tally)),
  );
}

/** Connections a batch is spread over. */
const PARALLEL = 4;

async function pipelined(port: number, reqs: HttpRequest[], token: string, tally: Tally): Promise<void> {
  const piped = reqs.filter((r) => !streams(r));
  for (const r of reqs.filter(streams)) {
    // An event stream: its head (200 text/event-stream, or a JSON error), then the connection is dropped.
    const got = await exchange(port, serialize(r, token), (b) => b.includes('\r\n\r\n'));
    const end = got.data.indexOf('\r\n\r\n');
    if (end < 0) throw new Error('an event stream request got no response head');
    const head = got.data.subarray(0, end).toString('latin1');
    tally.add('requests');
    if (/^HTTP\/1\.1 200 /.test(head)) {
      expect(head.toLowerCase()).toContain('content-type: text/event-stream');
      tally.add('streams');
    } else {
      const full = await exchange(port, serialize(r, token), (b) => parseResponses(b, [false]).responses.length > 0);
      checkResponse(parseResponses(full.data, [false]).responses[0], false, tally, showRequest(r));
    }
  }
  if (piped.length === 0) return;
  const heads = piped.map((r) => r.method === 'HEAD');
  // Parsed as they arrive (each response once).
  const responses: HttpResponse[] = [];
  let used = 0;
  await exchange(port, Buffer.concat(piped.map((r) => serialize(r, token))), (b) => {
    used = parseResponses(b, heads, used, responses).used;
    return responses.length >= piped.length;
  });
  responses.forEach((res, i) => {
    checkResponse(res, heads[i], tally, showRequest(piped[i]));
  });
  tally.add('requests', responses.length);
  if (responses.length < piped.length) {
    // Only a body too large (413) ends a pipelined connection early.
    const last = responses.at(-1);
    if (last?.status !== 413)
      throw new Error(
        `connection closed after ${responses.length} of ${piped.length} responses (last: ${last?.status})`,
      );
  }
}

const RAW = fc.oneof(
  { weight: 4, arbitrary: mutated(HTTP_REQUESTS.map((r) => serialize(r, 'x.y.z'))) },
  { weight: 1, arbitrary: fc.constantFrom(...HTTP_NASTY.map(latin1)) },
);

/** A raw request on its own connection, half-closed: whatever comes back is HTTP/1.1 and well formed. */
async function rawRequest(port: number, bytes: Buffer, tally: Tally): Promise<void> {
  const got = await exchange(port, bytes, () => false, { half: true });
  tally.add('raw requests');
  if (got.data.length === 0) return;
  const { responses } = parseResponses(got.data, []);
  for (const r of responses) {
    if (r.status === 400 && (r.headers.get('content-length') ?? '0') === '0') continue; // the parser's own 400
    checkResponse(r, false, tally, bytes.toString('latin1'));
  }
}

// ---- in process --------------------------------------------------------------------------------------------------

describe('HTTP in process: the real HttpsServer and HttpApi', () => {
  let srv: Awaited<ReturnType<typeof fuzzHttpServer>>;
  let engine: Engine;
  let admin: Client;
  let token: string;

  beforeAll(async () => {
    srv = await fuzzHttpServer(FUZZ_USERS, { apiTokens: [{ user: 'default', token: STATIC_TOKEN, readonly: false }] });
    ({ engine, admin } = srv);
    token = (await engine.acl.tokens?.issue({ user: 'default', ttl: 3600 }))?.token as string;
    engine.execute(admin, ['SELECT', '1']);
    writeKept(engine, admin);
  });
  afterAll(async () => {
    await srv?.close();
  });

  it(
    `answers ${RUNS} requests once each, in order, with a status and JSON {error}`,
    async () => {
      const tally = new Tally('http in-process');
      const base = engine.clients.size;
      const memBefore = usedMemory(engine, admin);
      const BATCH = 100;
      let batches = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(REQUEST, { minLength: BATCH, maxLength: BATCH }), async (reqs) => {
          if (++batches % 20 === 0) resetFuzzDb(engine, admin);
          await httpBatch(srv.port, reqs, token, tally);
        }),
        params(Math.ceil(RUNS / BATCH)),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(LANE_REQUEST, { minLength: BATCH, maxLength: BATCH }), async (reqs) => {
          if (++batches % 20 === 0) resetFuzzDb(engine, admin);
          await httpBatch(srv.port, reqs, token, tally);
        }),
        params(Math.ceil(RUNS / BATCH / 5)),
      );
      await fc.assert(
        fc.asyncProperty(RAW, (bytes) => rawRequest(srv.port, bytes, tally)),
        params(Math.max(500, Math.round(RUNS / 100))),
      );
      tally.print('requests');
      expect(tally.get('requests')).toBeGreaterThanOrEqual(RUNS);
      for (let t = 0; t < 100 && engine.clients.size > base; t++) await new Promise((r) => setTimeout(r, 50));
      expect(engine.clients.size).toBe(base);
      expectKeptAndMemoryBack(engine, admin, memBefore, 'http');
    },
    timeLimit(100_000),
  );
});

// ---- a running kvws ----------------------------------------------------------------------------------------------

describe('HTTP over a socket: a running kvws', () => {
  let server: RunningServer;
  let adminClient: Redis;
  let canaryClient: Redis;
  let fz: FuzzServer;
  let token: string;

  beforeAll(async () => {
    fz = await startFuzzServer('http', [
      '--port',
      String(await freePort()),
      '--no-tls',
      '--api-tokens',
      JSON.stringify([{ user: 'default', token: STATIC_TOKEN }]),
    ]);
    ({ server, admin: adminClient, canary: canaryClient } = fz);
    const login = await exchange(
      server.httpsPort as number,
      serialize({ method: 'POST', path: '/auth/token', headers: [], body: '{"username":"default","password":""}' }, ''),
      (b) => parseResponses(b, [false]).responses.length > 0,
    );
    token = JSON.parse(parseResponses(login.data, [false]).responses[0].body.toString()).token;
  });
  afterAll(async () => {
    await fz?.stop();
  });

  it(
    `answers ${SOCKET_RUNS} requests and raw requests in protocol form, and disturbs nobody`,
    async () => {
      const tally = new Tally('http socket');
      const port = server.httpsPort as number;
      const before = await memorySample(server, adminClient);
      const canary = new Canary(canaryClient, 'canary');
      const BATCH = 100;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(REQUEST, { minLength: BATCH, maxLength: BATCH }), (reqs) =>
            httpBatch(port, reqs, token, tally),
          ),
          params(Math.ceil(SOCKET_RUNS / BATCH), { endOnFailure: true }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(LANE_REQUEST, { minLength: BATCH, maxLength: BATCH }), (reqs) =>
            httpBatch(port, reqs, token, tally),
          ),
          params(Math.ceil(SOCKET_RUNS / BATCH), { endOnFailure: true }),
        );
        await fc.assert(
          fc.asyncProperty(RAW, (bytes) => rawRequest(port, bytes, tally)),
          params(Math.max(300, Math.round(SOCKET_RUNS / 10)), { endOnFailure: true }),
        );
      } finally {
        const seen = await canary.stop();
        tally.add('canary round trips', seen.ops);
        tally.print('requests');
        expect(seen.problems).toEqual([]);
      }
      expect(tally.get('requests')).toBeGreaterThanOrEqual(2 * SOCKET_RUNS);
      // Both HTTP parsers were fuzzed: the fast lane took requests, and handed connections to node:http.
      const stats = String(await adminClient.info('stats'));
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
      console.log(
        `[fuzz http socket] fast lane: ${field('http_fast_lane_requests')} requests, ` +
          `${field('http_fast_lane_handovers')} connections handed to node:http`,
      );
      expect(field('http_fast_lane_requests')).toBeGreaterThan(SOCKET_RUNS / 2);
      expect(field('http_fast_lane_handovers')).toBeGreaterThan(0);
      await checkAfterFuzz('http socket', server, adminClient, canaryClient, before);
    },
    timeLimit(100_000),
  );
});
