import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpJson, RawBody } from '../helpers/http.js';
import { Resp3Connection } from '../helpers/resp3.js';
import { freePort, RawConnection, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { WsClient } from '../helpers/ws.js';

// Abuse limits at the front doors, each through the real door: subscriptions per connection
// (--max-subscriptions-per-client) on RESP and the WebSocket, and JSON nested 100,000 deep sent to the
// WebSocket gateway and the HTTP API (answered with an error in the protocol's form: no stack overflow,
// the server carries on). kvws-only.

const MAX_SUBS = 5;
const DEPTH = 100_000;

let server: RunningServer;
let r: Redis;
const ws: WsClient[] = [];
const raws: RawConnection[] = [];

beforeAll(async () => {
  server = await startKvws([
    '--port',
    String(await freePort()),
    '--no-tls',
    '--max-subscriptions-per-client',
    String(MAX_SUBS),
  ]);
  r = redisClient(server);
});

afterAll(async () => {
  for (const c of ws) c.close();
  for (const c of raws) c.close();
  r.disconnect();
  await server.stop();
});

async function open(): Promise<WsClient> {
  const c = await WsClient.open(wsUrl(server));
  ws.push(c);
  return c;
}

async function raw(): Promise<RawConnection> {
  const c = await RawConnection.open(server);
  raws.push(c);
  return c;
}

describe('--max-subscriptions-per-client', () => {
  const LIMIT = `ERR max subscriptions per client reached (${MAX_SUBS})`;

  it('RESP: channels and patterns count together; beyond the limit SUBSCRIBE is refused, earlier ones kept', async () => {
    const c = await raw();
    c.send('*4\r\n$9\r\nSUBSCRIBE\r\n$2\r\nc1\r\n$2\r\nc2\r\n$2\r\nc3\r\n');
    let text = await c.readUntil((t) => (t.match(/\*3\r\n/g) ?? []).length >= 3);
    expect(text).toContain('$2\r\nc3\r\n:3\r\n');
    expect(await c.command('PSUBSCRIBE', 'p1*', 'p2*')).toContain(':5\r\n');
    // Already held: no new subscription, so allowed at the limit.
    expect(await c.command('SUBSCRIBE', 'c1')).toBe('*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:5\r\n');
    expect(await c.command('SUBSCRIBE', 'c6')).toBe(`-${LIMIT}\r\n`);
    expect(await c.command('PSUBSCRIBE', 'p6*')).toBe(`-${LIMIT}\r\n`);
    // A command that would cross the limit is refused whole: c1 is held, c7 is not.
    expect(await c.command('SUBSCRIBE', 'c1', 'c7')).toBe(`-${LIMIT}\r\n`);
    expect(c.closed).toBe(false);
    // The subscriptions made before are kept and still deliver.
    expect(await r.publish('c2', 'still here')).toBe(1);
    text = await c.readUntil((t) => t.includes('still here'));
    expect(text).toBe('*3\r\n$7\r\nmessage\r\n$2\r\nc2\r\n$10\r\nstill here\r\n');
    // Dropping one makes room for one.
    c.send('*2\r\n$11\r\nUNSUBSCRIBE\r\n$2\r\nc3\r\n');
    await c.readUntil((t) => t.includes(':4\r\n'));
    expect(await c.command('SUBSCRIBE', 'c8')).toBe('*3\r\n$9\r\nsubscribe\r\n$2\r\nc8\r\n:5\r\n');
    expect(await r.call('PUBSUB', 'NUMSUB', 'c6', 'c7', 'c8')).toEqual(['c6', 0, 'c7', 0, 'c8', 1]);
  });

  it('RESP3: the same limit, the refusal an error reply', async () => {
    const c = await Resp3Connection.open(server);
    try {
      for (const ch of ['a', 'b', 'c', 'd', 'e'])
        expect(await c.call('SUBSCRIBE', ch)).toEqual(['subscribe', ch, expect.any(Number)]);
      expect(await c.call('SUBSCRIBE', 'f')).toEqual({ error: LIMIT });
      // RESP3 clients may run other commands while subscribed.
      expect(await c.call('PING')).toBe('PONG');
    } finally {
      c.close();
    }
  });

  it('WebSocket: the refusal is an error frame with the request id; earlier subscriptions keep delivering', async () => {
    const c = await open();
    expect((await c.call('SUBSCRIBE', 'w1', 'w2', 'w3', 'w4')).error).toBeUndefined();
    expect((await c.call('PSUBSCRIBE', 'wp*')).error).toBeUndefined();
    const id = c.request({ cmd: ['SUBSCRIBE', 'w6'] });
    expect(await c.reply(id)).toEqual({ id, error: LIMIT });
    expect(await r.publish('w1', 'hello')).toBe(1);
    expect(await c.push((f) => f.push === 'message')).toMatchObject({ channel: 'w1', data: 'hello' });
    expect(c.closeInfo).toBeNull();
    // Other connections have limits of their own.
    const other = await open();
    expect((await other.call('SUBSCRIBE', 'w6')).error).toBeUndefined();
  });

  it('the HTTP API subscribes only through event streams, one subscription each: POST / refuses SUBSCRIBE', async () => {
    const target = { port: server.httpsPort, tls: false };
    // POST / cannot subscribe at all: subscriptions need a stream.
    const a = await httpJson(target, 'POST', '/', ['SUBSCRIBE', 'x']);
    expect(a.status).toBe(400);
    expect(JSON.stringify(a.json)).toMatch(/subscriptions need a stream/);
  });
});

describe('JSON nested 100,000 deep', () => {
  const deepArray = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`;
  const deepObject = `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`;

  it('WebSocket: each shape gets an error frame and the connection carries on', async () => {
    const c = await open();
    c.send(deepArray);
    expect(await c.reply(null)).toEqual({
      id: null,
      error: expect.stringMatching(/^BADFRAME a frame must be a JSON object/),
    });
    c.send(deepObject);
    expect(await c.reply(null)).toEqual({ id: null, error: expect.stringMatching(/^BADFRAME missing "id"/) });
    const inside = [
      `{"id":1,"cmd":${deepArray}}`,
      `{"id":2,"cmd":["SET","k",${deepObject}]}`,
      `{"id":3,"pipeline":[${deepArray}]}`,
      `{"id":4,"multi":[["SET","k",${deepArray}]]}`,
      `{"id":${deepArray},"cmd":["PING"]}`,
    ];
    for (const [i, frame] of inside.entries()) {
      c.send(frame);
      const id = i === 4 ? null : i + 1;
      const f = await c.reply(id, 15_000);
      expect(f.error, frame.slice(0, 40)).toMatch(/^BADFRAME /);
      expect(f.error?.length).toBeLessThan(1000);
    }
    expect(await c.result('PING')).toBe('PONG');
    expect(c.closeInfo).toBeNull();
  });

  it('HTTP API: a deep body is answered 400 with a JSON error; the server carries on', async () => {
    const target = { port: server.httpsPort, tls: false, timeoutMs: 30_000 };
    for (const [path, body] of [
      ['/', deepArray],
      ['/', deepObject],
      ['/', `["SET","k",${deepArray}]`],
      ['/pipeline', `[${deepArray}]`],
      ['/multi-exec', `[["SET","k",${deepObject}]]`],
    ]) {
      const a = await httpJson(target, 'POST', path, new RawBody(body));
      expect(a.status, `${path} ${body.slice(0, 30)}`).toBe(400);
      expect(typeof (a.json as { error?: unknown }).error).toBe('string');
      expect(a.text.length).toBeLessThan(1000);
    }
    expect((await httpJson(target, 'POST', '/', ['PING'])).json).toEqual({ result: 'PONG' });
    expect(await r.ping()).toBe('PONG');
  });
});
