import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson } from '../../server/src/protocol/json.js';
import { BooleanReply, MapReply, NULL_ARRAY, SetReply, VerbatimReply } from '../../server/src/protocol/reply.js';
import {
  freePort,
  makeTestCertificate,
  publishReceivers,
  type RunningServer,
  redisClient,
  startKvws,
  wsUrl,
} from '../helpers/server.js';
import { rss, sleep, waitFor } from '../helpers/wait.js';
import { type Frame, handshakeStatus, WsClient, type WsOpenOptions } from '../helpers/ws.js';

// The WebSocket gateway end to end: real kvws processes, the real `ws` client over wss:// (a throwaway CA
// made with openssl) and over ws:// (--no-tls), ioredis on the RESP port of the same server. kvws-only.

const servers: RunningServer[] = [];
const redisClients: Redis[] = [];
const wsClients: WsClient[] = [];
let certDir = '';
let ca: Buffer;
/** wss:// with an extra allowed origin. */
let tlsServer: RunningServer;
/** ws:// (--no-tls). */
let plainServer: RunningServer;
/** ws:// with small limits: 64 KiB frames, 1 MiB send buffer, 4 in flight. */
let limitServer: RunningServer;

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), ...args]);
  servers.push(s);
  return s;
}

function redis(server: RunningServer): Redis {
  const c = redisClient(server);
  c.on('error', () => {});
  redisClients.push(c);
  return c;
}

function tlsOpts(server: RunningServer, o: WsOpenOptions = {}): WsOpenOptions {
  return server.wsScheme === 'wss' ? { ca, ...o } : o;
}

async function open(server: RunningServer, query = '', o: WsOpenOptions = {}): Promise<WsClient> {
  const c = await WsClient.open(wsUrl(server, query), tlsOpts(server, o));
  wsClients.push(c);
  return c;
}

async function numsub(c: Redis, channel: string): Promise<number> {
  const reply = (await c.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** `INFO stats` field of the server, as a number. */
async function infoStat(c: Redis, field: string): Promise<number> {
  const info = await c.info('stats');
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  if (!m) throw new Error(`no ${field} in INFO stats`);
  return Number(m[1]);
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

/** The `stream` field of a SUBSCRIBE/PSUBSCRIBE reply: the epoch and the newest offset so far. */
const STREAM = { epoch: expect.stringMatching(/^[0-9a-f]{16}$/), offset: expect.any(Number) };

/** Runs SUBSCRIBE/PSUBSCRIBE, checks the reply (`result` and `stream`), returns the stream offset. */
async function subscribeAt(c: WsClient, cmd: string[], result: unknown): Promise<number> {
  const id = c.request({ cmd });
  const f = await c.reply(id);
  expect(f).toEqual({ id, result, stream: STREAM });
  return (f as Frame & { stream: { offset: number } }).stream.offset;
}
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

beforeAll(async () => {
  certDir = mkdtempSync(path.join(tmpdir(), 'kvws-ws-test-'));
  const cert = makeTestCertificate(certDir);
  ca = readFileSync(cert.ca);
  [tlsServer, plainServer, limitServer] = await Promise.all([
    start(['--tls-cert', cert.cert, '--tls-key', cert.key, '--allowed-origins', 'https://app.example.com']),
    start(['--no-tls']),
    start([
      '--no-tls',
      '--ws-max-frame',
      '65536',
      '--ws-max-buffer',
      '1048576',
      '--ws-max-in-flight',
      '4',
      '--ws-ping-interval',
      '0',
    ]),
  ]);
});

afterAll(async () => {
  for (const c of wsClients) c.close();
  for (const c of redisClients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('start-up', () => {
  it('prints the gateway address: wss:// with TLS, ws:// with --no-tls', () => {
    expect(tlsServer.output()).toContain(
      `kvws: WebSocket gateway listening on wss://127.0.0.1:${tlsServer.httpsPort}/ws\n`,
    );
    expect(plainServer.output()).toContain(
      `kvws: WebSocket gateway listening on ws://127.0.0.1:${plainServer.httpsPort}/ws\n`,
    );
    expect(tlsServer.output()).toMatch(/kvws: TLS certificate .*: CN=localhost, valid until \d{4}-\d\d-\d\d\n/);
  });
});

describe.each([
  ['wss://', () => tlsServer],
  ['ws:// (--no-tls)', () => plainServer],
])('commands over %s', (_name, server) => {
  let c: WsClient;
  let r: Redis;
  beforeAll(async () => {
    c = await open(server());
    r = redis(server());
  });

  it('negotiates kvws.v1 and runs SET/GET with numbers as arguments', async () => {
    expect(c.ws.protocol).toBe('kvws.v1');
    expect(await c.call('SET', 'greeting', 'hello', 'EX', 60)).toEqual({ id: expect.any(Number), result: 'OK' });
    expect(await c.result('GET', 'greeting')).toBe('hello');
    expect(await c.result('TTL', 'greeting')).toBe(60);
    expect(await c.result('INCRBY', 'counter', 5)).toBe(5);
    expect(await c.result('INCRBYFLOAT', 'fcounter', 2.5)).toBe('2.5');
    expect(await r.get('greeting')).toBe('hello');
  });

  it('maps RESP3 replies to JSON: nil, integers (as strings beyond 2^53), maps, doubles, nested arrays', async () => {
    expect(await c.result('GET', 'no-such-key')).toBeNull();
    expect(await c.result('SET', 'big', '9007199254740993')).toBe('OK');
    expect(await c.result('INCR', 'big')).toBe('9007199254740994');
    expect(await c.result('INCRBY', 'negbig', '-9007199254740993')).toBe('-9007199254740993');
    expect(await c.result('INCRBY', 'safe', '9007199254740991')).toBe(9007199254740991);
    expect(await c.result('HSET', 'h', 'a', 1, 'b', 'two')).toBe(2);
    expect(await c.result('HGETALL', 'h')).toEqual({ a: '1', b: 'two' });
    expect(await c.result('CONFIG', 'GET', 'maxclients')).toEqual({ maxclients: '10000' });
    expect(await c.result('ZADD', 'z', 1.5, 'm', 'inf', 'top', '-inf', 'bottom')).toBe(3);
    expect(await c.result('ZSCORE', 'z', 'm')).toBe(1.5);
    expect(await c.result('ZSCORE', 'z', 'top')).toBe('inf');
    expect(await c.result('ZSCORE', 'z', 'bottom')).toBe('-inf');
    expect(await c.result('ZRANGE', 'z', 0, -1, 'WITHSCORES')).toEqual([
      ['bottom', '-inf'],
      ['m', 1.5],
      ['top', 'inf'],
    ]);
    expect(await c.result('RPUSH', 'l', 'x', 'y')).toBe(2);
    expect(await c.result('LRANGE', 'l', 0, -1)).toEqual(['x', 'y']);
    expect(await c.result('BLPOP', 'empty-list', 0.01)).toBeNull();
    const hello = (await c.result('HELLO', 3)) as Record<string, unknown>;
    expect(hello.proto).toBe(3);
    expect(hello.server).toBe('redis');
    const info = await c.result('INFO', 'server');
    expect(typeof info).toBe('string');
    expect(info).toContain('# Server');
  });

  it('answers errors in the envelope: WRONGTYPE, unknown command, wrong arity', async () => {
    expect(await c.call('GET', 'h')).toEqual({
      id: expect.any(Number),
      error: 'WRONGTYPE Operation against a key holding the wrong kind of value',
    });
    expect((await c.call('NOPE', 'a')).error).toBe("ERR unknown command 'NOPE', with args beginning with: 'a' ");
    expect((await c.call('GET')).error).toBe("ERR wrong number of arguments for 'get' command");
    expect(await c.result('PING')).toBe('PONG');
  });

  it('UTF-8 text by default; invalid UTF-8 in a value reads as U+FFFD', async () => {
    expect(await c.result('SET', 'utf', 'héllo 🚀')).toBe('OK');
    expect(await c.result('GET', 'utf')).toBe('héllo 🚀');
    expect(await c.result('STRLEN', 'utf')).toBe(11);
    expect(await r.getBuffer('utf')).toEqual(Buffer.from('héllo 🚀'));
    await r.set('bad-utf8', Buffer.from([0x61, 0xff, 0x62]));
    expect(await c.result('GET', 'bad-utf8')).toBe('a\ufffdb');
  });

  it('base64 per request: every byte value round-trips, the command name stays text', async () => {
    const id = c.request({ encoding: 'base64', cmd: ['SET', b64('bin\x00key'), ALL_BYTES.toString('base64')] });
    expect(await c.reply(id)).toEqual({ id, result: 'OK' });
    expect(await r.getBuffer(Buffer.from('bin\x00key'))).toEqual(ALL_BYTES);
    const get = c.request({ encoding: 'base64', cmd: ['GET', b64('bin\x00key')] });
    expect((await c.reply(get)).result).toBe(ALL_BYTES.toString('base64'));
    // Integers stay numbers; the same request without encoding gets text.
    const len = c.request({ encoding: 'base64', cmd: ['STRLEN', b64('bin\x00key')] });
    expect((await c.reply(len)).result).toBe(256);
    const bad = c.request({ encoding: 'base64', cmd: ['GET', 'not base64!'] });
    expect((await c.reply(bad)).error).toMatch(/^BADFRAME cmd\[1\]: argument is not valid base64/);
  });

  it('base64 per connection (?encoding=base64), pushes included; a request can ask for utf8', async () => {
    const bin = await open(server(), '?encoding=base64');
    await r.set(Buffer.from('conn-bin'), ALL_BYTES);
    expect(await bin.result('GET', b64('conn-bin'))).toBe(ALL_BYTES.toString('base64'));
    expect(await bin.result('SET', b64('conn-bin2'), ALL_BYTES.toString('base64'))).toBe('OK');
    expect(await r.getBuffer('conn-bin2')).toEqual(ALL_BYTES);
    const text = bin.request({ encoding: 'utf8', cmd: ['GET', 'greeting'] });
    expect((await bin.reply(text)).result).toBe('hello');
    const at = await subscribeAt(bin, ['SUBSCRIBE', b64('bin-ch')], [[b64('subscribe'), b64('bin-ch'), 1]]);
    await r.publish('bin-ch', ALL_BYTES);
    expect(await bin.push()).toEqual({
      push: 'message',
      channel: b64('bin-ch'),
      data: ALL_BYTES.toString('base64'),
      offset: at + 1,
    });
  });

  it('pipeline: each command in order, one array of envelopes', async () => {
    const id = c.request({
      pipeline: [['SET', 'p', 1], ['INCR', 'p'], ['HGET', 'p', 'f'], ['NOPE'], ['GET', 'p']],
    });
    expect(await c.reply(id)).toEqual({
      id,
      result: [
        { result: 'OK' },
        { result: 2 },
        { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' },
        { error: "ERR unknown command 'NOPE', with args beginning with: " },
        { result: '2' },
      ],
    });
  });

  it('multi: MULTI … EXEC as one unit; errors at EXEC in their envelope, queueing errors abort it all', async () => {
    const ok = c.request({
      multi: [
        ['SET', 'm', 1],
        ['INCR', 'm'],
        ['LPUSH', 'm', 'x'],
        ['GET', 'm'],
      ],
    });
    expect(await c.reply(ok)).toEqual({
      id: ok,
      result: [
        { result: 'OK' },
        { result: 2 },
        { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' },
        { result: '2' },
      ],
    });
    const abort = c.request({ multi: [['SET', 'm', 100], ['GET'], ['INCR', 'm']] });
    const f = await c.reply(abort);
    expect(f.error).toMatch(/^EXECABORT Transaction discarded because of previous errors/);
    expect(f.error).toContain("multi[1]: ERR wrong number of arguments for 'get' command");
    expect(await c.result('GET', 'm')).toBe('2');
    const nested = c.request({ multi: [['SET', 'm', 1], ['EXEC']] });
    expect((await c.reply(nested)).error).toBe('ERR multi[1]: EXEC cannot be used inside a multi frame');
    // A MULTI opened with a cmd frame: a multi frame is refused, the open transaction is untouched.
    expect(await c.result('MULTI')).toBe('OK');
    expect(await c.result('INCR', 'm')).toBe('QUEUED');
    const inside = c.request({ multi: [['INCR', 'm']] });
    expect((await c.reply(inside)).error).toMatch(/^ERR MULTI calls can not be nested/);
    expect(await c.result('EXEC')).toEqual([3]);
  });

  it('multi with WATCH: a watched key changed by another client makes the result null', async () => {
    expect(await c.result('WATCH', 'watched')).toBe('OK');
    await r.set('watched', 'changed');
    const id = c.request({ multi: [['SET', 'watched', 'mine']] });
    expect(await c.reply(id)).toEqual({ id, result: null });
    expect(await r.get('watched')).toBe('changed');
  });

  it('SUBSCRIBE: the confirmation is the result; PUBLISH from a RESP client arrives as a push', async () => {
    const s = await open(server());
    const at = await subscribeAt(
      s,
      ['SUBSCRIBE', 'news', 'sport'],
      [
        ['subscribe', 'news', 1],
        ['subscribe', 'sport', 2],
      ],
    );
    expect(await r.publish('news', 'hello subscribers')).toBe(1);
    expect(await s.push()).toEqual({ push: 'message', channel: 'news', data: 'hello subscribers', offset: at + 1 });
    // Still a normal client: commands run between pushes (RESP3 rules, no subscribed mode).
    expect(await s.result('SET', 'sub-key', 'v')).toBe('OK');
    expect(await s.result('GET', 'sub-key')).toBe('v');
    expect(await s.result('PING')).toBe('PONG');
    expect(await s.result('UNSUBSCRIBE', 'news')).toEqual([['unsubscribe', 'news', 1]]);
    expect(await r.publish('news', 'nobody')).toBe(publishReceivers(server(), 0));
    expect(await r.publish('sport', 'goal')).toBe(1);
    // Every PUBLISH takes an offset, delivered or not.
    expect(await s.push()).toEqual({ push: 'message', channel: 'sport', data: 'goal', offset: at + 3 });
  });

  it('PSUBSCRIBE while running commands on the same socket', async () => {
    const s = await open(server());
    const at = await subscribeAt(s, ['PSUBSCRIBE', 'ticker.*'], [['psubscribe', 'ticker.*', 1]]);
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push(s.request({ cmd: ['INCR', 'psub-counter'] }));
      if (i % 5 === 0) await r.publish(`ticker.${i}`, `price ${i}`);
    }
    for (let i = 0; i < ids.length; i++) expect((await s.reply(ids[i])).result).toBe(i + 1);
    for (const [n, i] of [0, 5, 10, 15].entries()) {
      expect(await s.push()).toEqual({
        push: 'pmessage',
        pattern: 'ticker.*',
        channel: `ticker.${i}`,
        data: `price ${i}`,
        offset: at + 1 + n,
      });
    }
    // A PUBLISH from the subscriber itself: the push and the reply both arrive.
    const pub = s.request({ cmd: ['PUBLISH', 'ticker.self', 'me'] });
    expect((await s.reply(pub)).result).toBe(1);
    expect(await s.push()).toEqual({
      push: 'pmessage',
      pattern: 'ticker.*',
      channel: 'ticker.self',
      data: 'me',
      offset: at + 5,
    });
  });

  it('keyspace events: SET … PX 300 delivers the expired event at the deadline', async () => {
    const s = await open(server());
    expect(await s.result('CONFIG', 'SET', 'notify-keyspace-events', 'Ex')).toBe('OK');
    const at = await subscribeAt(
      s,
      ['SUBSCRIBE', '__keyevent@0__:expired'],
      [['subscribe', '__keyevent@0__:expired', 1]],
    );
    const key = `session:${Math.random().toString(36).slice(2)}`;
    const t0 = Date.now();
    expect(await s.result('SET', key, 'token', 'PX', 300)).toBe('OK');
    const push = await s.push((f) => f.data === key, 3000);
    const elapsed = Date.now() - t0;
    // Only `expired` is notified ("Ex"): the SET takes no offset.
    expect(push).toEqual({ push: 'message', channel: '__keyevent@0__:expired', data: key, offset: at + 1 });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
    expect(await s.result('CONFIG', 'SET', 'notify-keyspace-events', '')).toBe('OK');
  });

  it('a pending BLPOP does not hold up later requests; a second blocking request waits its turn', async () => {
    const s = await open(server());
    await s.result('CLIENT', 'SETNAME', 'blocker');
    const blpop = s.request({ cmd: ['BLPOP', 'queue:a', 0] });
    expect(await s.result('GET', 'greeting')).toBe('hello');
    expect(await s.result('SET', 'while-blocked', 1)).toBe('OK');
    const list = (await r.call('CLIENT', 'LIST')) as string;
    expect(list).toMatch(/name=blocker .*flags=b .*door=ws/);
    // Another blocking request queues behind the first (one blocked command per client).
    const second = s.request({ cmd: ['BRPOP', 'queue:b', 0] });
    await r.rpush('queue:b', 'b1');
    await sleep(100);
    expect(s.take((f) => f.id === second)).toBeUndefined();
    expect(await r.llen('queue:b')).toBe(1);
    expect(s.take((f) => f.id === blpop)).toBeUndefined();
    await r.rpush('queue:a', 'a1');
    expect(await s.reply(blpop)).toEqual({ id: blpop, result: ['queue:a', 'a1'] });
    expect(await s.reply(second)).toEqual({ id: second, result: ['queue:b', 'b1'] });
    // CLIENT UNBLOCK from another client answers the pending one with the timeout reply (null).
    const third = s.request({ cmd: ['BLPOP', 'queue:c', 0] });
    const id = Number(/id=(\d+) [^\n]*name=blocker /.exec((await r.call('CLIENT', 'LIST')) as string)?.[1]);
    await waitFor(async () => (await r.call('CLIENT', 'UNBLOCK', id)) === 1, 2000);
    expect(await s.reply(third)).toEqual({ id: third, result: null });
  });

  it('many requests in flight: every reply carries its id', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => s200(i));
    function s200(i: number): number {
      return c.request({ cmd: ['ECHO', `m${i}`] });
    }
    for (let i = 0; i < ids.length; i++) expect(await c.reply(ids[i])).toEqual({ id: ids[i], result: `m${i}` });
    // String ids work too.
    c.send({ id: 'req-α', cmd: ['PING'] });
    expect(await c.reply('req-α')).toEqual({ id: 'req-α', result: 'PONG' });
  });

  it('HELLO 2 and RESET do not change the frame format or forbid commands while subscribed', async () => {
    const s = await open(server());
    await s.result('HELLO', 2);
    await s.result('SUBSCRIBE', 'resp2-ch');
    expect(await s.result('GET', 'greeting')).toBe('hello');
    expect(await s.result('HGETALL', 'h')).toEqual({ a: '1', b: 'two' });
    expect(await s.result('RESET')).toBe('RESET');
    expect(await numsub(r, 'resp2-ch')).toBe(0);
    expect(await r.publish('resp2-ch', 'x')).toBe(publishReceivers(server(), 0));
    expect(await s.result('HGETALL', 'h')).toEqual({ a: '1', b: 'two' });
  });

  it('CLIENT LIST shows door=ws; QUIT replies then closes with 1000', async () => {
    const s = await open(server());
    await s.result('CLIENT', 'SETNAME', 'quitter');
    const line = (await s.result('CLIENT', 'INFO')) as string;
    expect(line).toMatch(/name=quitter .*resp=3 .*door=ws/);
    expect(await s.call('QUIT')).toEqual({ id: expect.any(Number), result: 'OK' });
    expect(await s.closed()).toEqual({ code: 1000, reason: 'QUIT' });
    expect(
      await waitFor(async () => !((await r.call('CLIENT', 'LIST')) as string).includes('name=quitter'), 2000),
    ).toBe(true);
  });

  it('CLIENT KILL from another client closes the WebSocket with 1000', async () => {
    const s = await open(server());
    await s.result('CLIENT', 'SETNAME', 'victim');
    await s.result('SUBSCRIBE', 'victim-ch');
    const id = Number(/id=(\d+) [^\n]*name=victim /.exec((await r.call('CLIENT', 'LIST')) as string)?.[1]);
    expect(await r.call('CLIENT', 'KILL', 'ID', id)).toBe(1);
    expect((await s.closed()).code).toBe(1000);
    expect(await numsub(r, 'victim-ch')).toBe(0);
    expect(await c.result('PING')).toBe('PONG');
  });
});

describe('bad input', () => {
  let c: WsClient;
  let other: WsClient;
  beforeAll(async () => {
    c = await open(tlsServer);
    other = await open(tlsServer);
  });

  /** Sends `frame` and returns the error frame it gets. */
  async function bad(frame: string | object | Buffer): Promise<Frame> {
    c.send(frame);
    return c.waitFor(
      () => c.take((f) => typeof f.error === 'string' && f.error.startsWith('BADFRAME')),
      3000,
      'an error frame',
    );
  }

  it('a malformed frame behind a request that answers later is answered in its turn', async () => {
    c.frames.length = 0;
    // ACL SETUSER with a password hashes it (asynchronous): later requests wait behind it.
    c.send({ id: 'hash', cmd: ['ACL', 'SETUSER', 'order-test', '>a-password'] });
    c.send({ id: 'bad' });
    c.send('not json');
    c.send({ id: 'ping', cmd: ['PING'] });
    const got = await c.waitFor(() => (c.frames.length >= 4 ? c.frames.splice(0) : undefined), 10_000, '4 replies');
    expect(got.map((f) => f.id)).toEqual(['hash', 'bad', null, 'ping']);
    expect(got[0].result).toBe('OK');
    expect(got[1].error).toMatch(/^BADFRAME /);
    expect(got[2].error).toMatch(/^BADFRAME the frame is not valid JSON/);
    await redis(tlsServer).call('ACL', 'DELUSER', 'order-test');
  });

  it('answers each malformed frame with an error frame naming the problem, and keeps the connection', async () => {
    const r = redis(tlsServer);
    const before = await infoStat(r, 'ws_bad_frames');
    expect((await bad('not json')).error).toMatch(/^BADFRAME the frame is not valid JSON: /);
    expect(await bad('[1,2]')).toEqual({
      id: null,
      error: expect.stringContaining('BADFRAME a frame must be a JSON object'),
    });
    expect(await bad('42')).toEqual({ id: null, error: expect.stringContaining('must be a JSON object') });
    expect(await bad({ cmd: ['GET', 'k'] })).toEqual({ id: null, error: 'BADFRAME missing "id"' });
    expect(await bad({ id: 1 })).toEqual({
      id: 1,
      error: 'BADFRAME a request has exactly one of "cmd", "pipeline", "multi", "auth", "tail" or "untail"',
    });
    expect(await bad({ id: 2, cmd: ['GET'], multi: [['GET']] })).toEqual({
      id: 2,
      error:
        'BADFRAME a request has exactly one of "cmd", "pipeline", "multi", "auth", "tail" or "untail" (got "cmd", "multi")',
    });
    expect(await bad({ id: 3, cmd: ['GET', 'k'], extra: true })).toEqual({
      id: 3,
      error:
        'BADFRAME unknown field "extra" (allowed: "id", "encoding" and one of "cmd", "pipeline", "multi", "auth", "tail", "untail")',
    });
    expect(await bad({ id: 4, cmd: 'GET k' })).toEqual({
      id: 4,
      error: 'BADFRAME cmd: expected an array: [name, ...arguments]',
    });
    expect(await bad({ id: 5, cmd: [] })).toEqual({ id: 5, error: 'BADFRAME cmd: a command needs at least its name' });
    expect(await bad({ id: 6, cmd: ['GET', { k: 1 }] })).toEqual({
      id: 6,
      error: 'BADFRAME cmd[1]: expected a string or a finite number',
    });
    expect(await bad({ id: 7, cmd: ['GET', null] })).toEqual({
      id: 7,
      error: 'BADFRAME cmd[1]: expected a string or a finite number',
    });
    expect(await bad({ id: 8, pipeline: [['PING'], 'PING'] })).toEqual({
      id: 8,
      error: 'BADFRAME pipeline[1]: expected an array: [name, ...arguments]',
    });
    expect(await bad({ id: 9, cmd: ['GET', 'k'], encoding: 'hex' })).toEqual({
      id: 9,
      error: expect.stringMatching(/^BADFRAME encoding: /),
    });
    expect(await bad({ id: { nested: true }, cmd: ['PING'] })).toEqual({
      id: null,
      error: 'BADFRAME id: expected a number or a string of at most 256 characters',
    });
    expect(await bad(Buffer.from([1, 2, 3]))).toEqual({
      id: null,
      error: 'BADFRAME binary frames are not accepted: send JSON text',
    });
    expect(await c.result('PING')).toBe('PONG');
    expect(await other.result('PING')).toBe('PONG');
    expect(c.closeInfo).toBeNull();
    expect(await infoStat(r, 'ws_bad_frames')).toBe(before + 15);
  });

  it('a frame over the max frame size closes that connection with 1009; others carry on', async () => {
    const big = await open(limitServer);
    const ok = await open(limitServer);
    big.send({ id: 1, cmd: ['SET', 'big', 'x'.repeat(70_000)] });
    expect((await big.closed()).code).toBe(1009);
    expect(await ok.result('PING')).toBe('PONG');
    // Just under the limit is fine.
    expect(await ok.result('SET', 'fits', 'x'.repeat(60_000))).toBe('OK');
    expect(await infoStat(redis(limitServer), 'ws_frame_too_large_disconnections')).toBe(1);
  });

  it('a client closing mid-subscription while messages flow does not disturb the server', async () => {
    const r = redis(tlsServer);
    const subs = await Promise.all(Array.from({ length: 20 }, () => open(tlsServer)));
    await Promise.all(subs.map((s) => s.result('SUBSCRIBE', 'mid')));
    expect(await numsub(r, 'mid')).toBe(20);
    let publishing = true;
    const publisher = (async () => {
      let n = 0;
      while (publishing) {
        await r.publish('mid', `message ${n++} ${'p'.repeat(1000)}`);
      }
      return n;
    })();
    try {
      for (let i = 0; i < subs.length; i++) {
        await sleep(10);
        const s = subs[i];
        // Abrupt (no close frame), polite, and terminated by the client library.
        if (i % 3 === 0) s.socket.destroy();
        else if (i % 3 === 1) s.ws.close(1000);
        else s.ws.terminate();
      }
      expect(await waitFor(async () => (await numsub(r, 'mid')) === 0, 5000)).toBe(true);
    } finally {
      publishing = false;
    }
    expect(await publisher).toBeGreaterThan(0);
    expect(await other.result('PING')).toBe('PONG');
    expect(await r.ping()).toBe('PONG');
  });

  it('2000 open/close cycles while another client keeps working', async () => {
    const r = redis(tlsServer);
    const worker = await open(tlsServer);
    const baseline = await infoStat(r, 'ws_connected_clients');
    let working = true;
    let done = 0;
    const work = (async () => {
      while (working) {
        expect(await worker.result('INCR', 'cycles-worker')).toBe(++done);
      }
    })();
    const CYCLES = 2000;
    const PARALLEL = 8;
    let next = 0;
    const t0 = Date.now();
    const cycles = Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < CYCLES && Date.now() - t0 < 60_000) {
          const i = next++;
          const s = await WsClient.open(wsUrl(tlsServer), { ca });
          if (i % 4 === 0) await s.result('SUBSCRIBE', 'cycle');
          if (i % 4 === 1) await s.result('PING');
          if (i % 2 === 0) {
            s.ws.close(1000);
            await s.closed();
          } else {
            s.socket.destroy();
          }
        }
      }),
    );
    try {
      await cycles;
    } finally {
      working = false;
      await work;
    }
    expect(next).toBeGreaterThanOrEqual(CYCLES);
    expect(done).toBeGreaterThan(0);
    expect(await waitFor(async () => (await infoStat(r, 'ws_connected_clients')) === baseline, 5000)).toBe(true);
    expect(await numsub(r, 'cycle')).toBe(0);
    expect(await worker.result('GET', 'cycles-worker')).toBe(String(done));
  }, 90_000);
});

describe('handshake', () => {
  it('refuses a missing or wrong subprotocol with 400', async () => {
    const url = wsUrl(tlsServer);
    expect(await handshakeStatus(url, { ca, protocol: 'chat' })).toBe(400);
    expect(await handshakeStatus(url, { ca, protocol: [] })).toBe(400);
    expect(await handshakeStatus(url, { ca, protocol: ['chat', 'kvws.v1'] })).toBe(101);
    const r = redis(tlsServer);
    expect(await infoStat(r, 'ws_rejected_subprotocol')).toBeGreaterThanOrEqual(2);
  });

  it('Origin: same origin, configured ones and none are allowed; others get 403', async () => {
    const url = wsUrl(tlsServer);
    const port = tlsServer.httpsPort;
    expect(await handshakeStatus(url, { ca })).toBe(101);
    expect(await handshakeStatus(url, { ca, origin: `https://127.0.0.1:${port}` })).toBe(101);
    expect(await handshakeStatus(url, { ca, origin: 'https://app.example.com' })).toBe(101);
    expect(await handshakeStatus(url, { ca, origin: 'https://APP.example.com:443' })).toBe(101);
    expect(await handshakeStatus(url, { ca, origin: 'https://evil.example' })).toBe(403);
    expect(await handshakeStatus(url, { ca, origin: `http://127.0.0.1:${port}` })).toBe(403);
    expect(await handshakeStatus(url, { ca, origin: `https://localhost:${port}` })).toBe(403);
    expect(await handshakeStatus(url, { ca, origin: 'null' })).toBe(403);
    expect(await handshakeStatus(url, { ca, origin: 'http://app.example.com' })).toBe(403);
    expect(await infoStat(redis(tlsServer), 'ws_rejected_origin')).toBe(5);
  });

  it('other paths get 404 and a bad ?encoding= gets 400', async () => {
    expect(await handshakeStatus(`wss://127.0.0.1:${tlsServer.httpsPort}/nope`, { ca })).toBe(404);
    expect(await handshakeStatus(wsUrl(tlsServer, '?encoding=hex'), { ca })).toBe(400);
    expect(await handshakeStatus(wsUrl(tlsServer, '?encoding=utf8'), { ca })).toBe(101);
  });

  it('max clients (shared with the RESP port) refuses with 503', async () => {
    const r = redis(limitServer);
    await r.ping();
    const connected = Number(/connected_clients:(\d+)/.exec(await r.info('clients'))?.[1]);
    await r.config('SET', 'maxclients', String(connected));
    try {
      expect(await handshakeStatus(wsUrl(limitServer))).toBe(503);
    } finally {
      await r.config('SET', 'maxclients', '10000');
    }
    expect(await handshakeStatus(wsUrl(limitServer))).toBe(101);
  });
});

describe('limits', () => {
  it('max in flight: requests beyond it get BUSY until earlier ones are answered', async () => {
    const c = await open(limitServer);
    const r = redis(limitServer);
    const blocked = [0, 1, 2, 3].map((i) => c.request({ cmd: ['BLPOP', `busy:${i}`, 0] }));
    const over = c.request({ cmd: ['BLPOP', 'busy:4', 0] });
    expect(await c.reply(over)).toEqual({
      id: over,
      error: 'BUSY too many requests in flight on this connection (max 4)',
    });
    expect((await c.call('GET', 'x')).error).toMatch(/^BUSY /);
    for (let i = 0; i < 4; i++) await r.rpush(`busy:${i}`, `v${i}`);
    for (let i = 0; i < 4; i++) expect((await c.reply(blocked[i])).result).toEqual([`busy:${i}`, `v${i}`]);
    expect(await c.result('PING')).toBe('PONG');
    expect(await infoStat(r, 'ws_busy_replies')).toBe(2);
  });

  it('a client that stops reading is closed with 4408 at the send-buffer limit; memory stays bounded', async () => {
    const r = redis(limitServer);
    const slow = await open(limitServer);
    expect(await slow.result('SUBSCRIBE', 'flood')).toEqual([['subscribe', 'flood', 1]]);
    slow.ws.pause();
    const pid = limitServer.pid as number;
    const before = rss(pid);
    const message = Buffer.alloc(64 * 1024, 'm');
    let sent = 0;
    while (sent < 64 * 1024 * 1024) {
      const receivers = await r.publish('flood', message);
      sent += message.length;
      // On the Redis engine PUBLISH counts Redis's receivers (publishReceivers): ask for kvws's subscribers.
      if (limitServer.engine === 'redis' ? (await numsub(r, 'flood')) === 0 : receivers === 0) break;
    }
    // Loopback socket buffers take a few MiB before kvws's own queue grows; 1 MiB more ends it.
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    expect(await numsub(r, 'flood')).toBe(0);
    expect(rss(pid) - before).toBeLessThan(100 * 1024 * 1024);
    slow.ws.resume();
    expect(await slow.closed(5000)).toEqual({ code: 4408, reason: 'too slow: more than 1048576 bytes unsent' });
    expect(await infoStat(r, 'ws_slow_disconnections')).toBe(1);
    expect(await r.ping()).toBe('PONG');
  });

  it('a client that asks faster than it reads is paused (backpressure), not dropped', async () => {
    // Default 8 MiB send-buffer limit; 24 MiB of replies asked for while the client does not read.
    const c = await open(plainServer);
    const r = redis(plainServer);
    const slowBefore = await infoStat(r, 'ws_slow_disconnections');
    await c.result('SET', 'chunk', 'c'.repeat(60_000));
    c.ws.pause();
    const ids: number[] = [];
    for (let batch = 0; batch < 40; batch++) {
      for (let i = 0; i < 10; i++) ids.push(c.request({ cmd: ['GET', 'chunk'] }));
      await sleep(10);
    }
    c.ws.resume();
    for (const id of ids) expect(((await c.reply(id, 10_000)).result as string).length).toBe(60_000);
    expect(c.closeInfo).toBeNull();
    expect(await infoStat(r, 'ws_slow_disconnections')).toBe(slowBefore);
  });
});

describe('keepalive and shutdown', () => {
  it('a peer that does not answer pings is closed with 4410', async () => {
    const server = await start(['--no-tls', '--ws-ping-interval', '1']);
    const r = redis(server);
    const live = await open(server);
    const dead = await open(server);
    await dead.result('CLIENT', 'SETNAME', 'deadpeer');
    dead.ws.pause();
    expect(
      await waitFor(async () => !((await r.call('CLIENT', 'LIST')) as string).includes('name=deadpeer'), 6000),
    ).toBe(true);
    dead.ws.resume();
    expect((await dead.closed(3000)).code).toBe(4410);
    // The other client answered its pings (the ws library does it) and stays.
    await sleep(1500);
    expect(await live.result('PING')).toBe('PONG');
    expect(await infoStat(r, 'ws_dead_peer_disconnections')).toBe(1);
  });

  it('server shutdown closes WebSockets with 1001', async () => {
    const server = await start(['--no-tls']);
    const a = await open(server);
    const b = await open(server);
    await b.result('SUBSCRIBE', 'bye');
    const pending = a.request({ cmd: ['BLPOP', 'never', 0] });
    await server.stop();
    expect(await a.closed()).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await b.closed()).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(a.take((f) => f.id === pending)).toBeUndefined();
    expect(server.output()).toContain('SIGTERM received, shutting down');
  });
});

describe('JSON mapping of reply types no command above returns', () => {
  it('booleans, sets, verbatim strings, null arrays, maps with non-string keys', () => {
    expect(toJson(new BooleanReply(true), 'utf8')).toBe(true);
    expect(toJson(new SetReply(['a', 'b']), 'utf8')).toEqual(['a', 'b']);
    expect(toJson(new VerbatimReply('text'), 'utf8')).toBe('text');
    expect(toJson(NULL_ARRAY, 'utf8')).toBeNull();
    expect(toJson(new MapReply([[1, 'one']]), 'utf8')).toEqual({ '1': 'one' });
    expect(toJson(2n ** 64n, 'utf8')).toBe('18446744073709551616');
    expect(toJson(-(2n ** 53n), 'utf8')).toBe('-9007199254740992');
  });
});
