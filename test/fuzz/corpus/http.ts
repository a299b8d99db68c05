/**
 * The HTTP corpus: valid requests to every route of the HTTPS port (the HTTP API's JSON and path forms,
 * /pipeline, /multi-exec, /auth/token, the JWKS, event streams, CORS preflights, /ws without an upgrade,
 * /metrics, /healthz, the dashboard) and fixed nasty raw requests (each sent as it is on its own connection).
 * `{TOKEN}` in a header is replaced by a valid token of the default user at run time.
 */

export interface HttpRequest {
  method: string;
  /** Request target: path and query, as sent (already percent-encoded where it must be). */
  path: string;
  headers: [string, string][];
  body: string | null;
}

const json = (method: string, path: string, body: unknown, headers: [string, string][] = []): HttpRequest => ({
  method,
  path,
  headers: [['content-type', 'application/json'], ...headers],
  body: JSON.stringify(body),
});
const get = (path: string, headers: [string, string][] = []): HttpRequest => ({
  method: 'GET',
  path,
  headers,
  body: null,
});

export const HTTP_REQUESTS: HttpRequest[] = [
  json('POST', '/', ['SET', 'fz:k', 'v', 'EX', 100]),
  json('POST', '/', ['GET', 'fz:k']),
  json('POST', '/', ['HSET', 'fz:h', 'f', 'é']),
  json('POST', '/', ['HGETALL', 'fz:h'], [['upstash-encoding', 'base64']]),
  json('POST', '/', ['ZRANGE', 'fz:z', 0, -1, 'WITHSCORES'], [['upstash-response-format', 'resp2']]),
  json('POST', '/', ['INCRBY', 'fz:n', 5], [['authorization', 'Bearer {TOKEN}']]),
  json('POST', '/', ['PING'], [['authorization', 'Bearer fuzz-static-token-0123456789']]),
  json('POST', '/', ['PING'], [['upstash-sync-token', '42']]),
  json('POST', '/', ['PING'], [['x-request-id', 'fuzz-req-1']]),
  json('POST', '/', ['PING'], [['origin', 'http://127.0.0.1']]),
  json('POST', '/', ['SUBSCRIBE', 'c']),
  json('POST', '/', ['MULTI']),
  json('POST', '/pipeline', [
    ['SET', 'fz:a', 1],
    ['INCR', 'fz:a'],
    ['GET', 'fz:a'],
  ]),
  json('POST', '/pipeline', [['PING'], ['NOPE']], [['upstash-encoding', 'base64']]),
  json('POST', '/multi-exec', [
    ['SET', 'fz:m', 1],
    ['INCR', 'fz:m'],
  ]),
  json('POST', '/multi-exec', [['INCR', 'fz:m'], ['NOPE']]),
  json('POST', '/auth/token', { username: 'default', password: '', ttl: 60 }),
  json('POST', '/auth/token', { username: 'default', password: 'x', acl: '~fz:* +@read' }),
  json('POST', '/auth/token', { ttl: 30, acl: '%R~fz:* +get' }, [['authorization', 'Bearer {TOKEN}']]),
  json('POST', '/auth/token', { username: 'default', password: '', claims: { a: 1 } }),
  get('/get/fz:k'),
  get('/set/fz:k/hello%20world?EX=100'),
  get('/hgetall/fz:h', [['upstash-encoding', 'base64']]),
  get('/lrange/fz:l/0/-1'),
  get('/zadd/fz:z/1/a/2.5/b'),
  get('/echo/%00%ff%e2%82%ac'),
  get('/mget/fz:a/fz:b?_token={TOKEN}'),
  { method: 'HEAD', path: '/get/fz:k', headers: [], body: null },
  { method: 'PUT', path: '/set/fz:body', headers: [], body: 'the body is the value' },
  { method: 'POST', path: '/append/fz:k', headers: [], body: '\u00e9\u0000\u00ff' },
  { method: 'OPTIONS', path: '/', headers: [['origin', 'http://127.0.0.1']], body: null },
  { method: 'OPTIONS', path: '/pipeline', headers: [], body: null },
  { method: 'DELETE', path: '/', headers: [], body: null },
  get('/.well-known/jwks.json'),
  get('/subscribe/fz:c'),
  get('/psubscribe/fz:*', [['last-event-id', 'abc:1']]),
  get('/subscribe/fz:c?lastEventId=x:3&_token={TOKEN}'),
  get('/monitor'),
  get('/ws'),
  get('/metrics'),
  get('/healthz'),
  get('/readyz'),
  get('/dashboard'),
  get('/dashboard/index.html'),
  get('/nope'),
];

/** JSON bodies (for the structural mutator): commands, pipelines, token requests. */
export const HTTP_BODIES: unknown[] = [
  ['SET', 'fz:k', 'v'],
  ['GET', 'fz:k'],
  ['ZADD', 'fz:z', 1, 'a'],
  [
    ['SET', 'fz:a', 1],
    ['GET', 'fz:a'],
  ],
  { username: 'default', password: '', ttl: 60, acl: '~fz:* +@read' },
  { ttl: 30, claims: { tenant: 'x', n: 1 } },
];

/** Nasty raw requests: each is written as it is on its own connection (framing and header attacks). */
export const HTTP_NASTY: string[] = [
  '',
  '\r\n\r\n',
  'GET\r\n\r\n',
  'GET / HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'GET / HTTP/2.0\r\nHost: x\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n["PING"]\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 8\r\n\r\n8\r\n["PING"]\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n["PING"]',
  `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(100_000)}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`,
  'GET / HTTP/1.1\r\nHost: x\r\nX-Bad\0: v\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\n X-Folded: v\r\n\r\n',
  'GET / HTTP/1.1\nHost: x\n\n',
  'GET /get/%zz HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /get/k?%zz=1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /get/k?_token=a&_token=b HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /subscribe/%ff HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /subscribe/ HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET http://evil/get/k HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
  'CONNECT 127.0.0.1:6379 HTTP/1.1\r\nHost: x\r\n\r\n',
  'FOO / HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
  'GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a b\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nAuthorization: Bearer y\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nOrigin: null\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nOrigin: http://[::1\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST / HTTP/1.1\r\nHost: x\r\nUpstash-Encoding: base64\r\nUpstash-Response-Format: resp2\r\nContent-Length: 8\r\n\r\n["PING"]',
  'POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull',
  'POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]',
  `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${20_002}\r\n\r\n${'['.repeat(10_001)}${']'.repeat(10_001)}`,
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\xff\xfe\xfd\xfc',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n["\\ud800"]',
  'POST /pipeline HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
  'POST /multi-exec HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n[["MULTI"]]',
  'GET /get/k HTTP/1.1\r\nHost: x\r\n\r\nGET /get/k HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /get/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /get/k HTTP/1.1\r\nHost: x\r\n\r\n',
];
