import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import net from 'node:net';
import { CloseCode } from '@kvws/shared/protocol';
import fc from 'fast-check';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Client } from '../../server/src/engine/client.js';
import type { Engine } from '../../server/src/engine/engine.js';
import { freePort, type RunningServer } from '../helpers/server.js';
import { WS_FRAMES, WS_NASTY } from './corpus/ws.js';
import {
  announce,
  Canary,
  checkAfterFuzz,
  ERROR_FORM,
  FUZZ_USERS,
  type FuzzServer,
  jsonMutated,
  memorySample,
  mutated,
  noJsError,
  params,
  RUNS,
  SOCKET_RUNS,
  startFuzzServer,
  Tally,
  timeLimit,
} from './harness.js';
import { expectKeptAndMemoryBack, fuzzHttpServer, resetFuzzDb, usedMemory, writeKept } from './in-process.js';

/**
 * Fuzzing the WebSocket front door (docs/fuzzing.md): JSON frames (random, mutated in structure and in bytes,
 * binary, invalid UTF-8, oversized) through the real WsGateway in this process (RUNS frames) and through a
 * running kvws (SOCKET_RUNS frames), plus mutated raw WebSocket frames (bad opcodes, lengths, masks, RSV bits,
 * fragments) on a raw socket.
 */

announce('ws');

/** Largest frame the servers accept (their --ws-max-frame); some inputs exceed it on purpose. */
const MAX_FRAME = 256 * 1024;
const DOCUMENTED_CLOSES = new Set<number>(Object.values(CloseCode));

/** One frame to send: its bytes, and whether it goes as a binary frame. */
interface Frame {
  data: Buffer;
  binary: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
function validUtf8(b: Buffer): boolean {
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

const TEXT = jsonMutated(WS_FRAMES, WS_NASTY);
const FRAME: fc.Arbitrary<Frame> = fc.oneof(
  // Text frames as a browser sends them (UTF-8: mutated bytes re-encoded), and now and then invalid UTF-8.
  {
    weight: 100,
    arbitrary: TEXT.map((data) => ({
      data: validUtf8(data) ? data : Buffer.from(data.toString('latin1'), 'utf8'),
      binary: false,
    })),
  },
  { weight: 1, arbitrary: TEXT.map((data) => ({ data, binary: false })) },
  { weight: 1, arbitrary: TEXT.map((data) => ({ data, binary: true })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: MAX_FRAME - 8, max: MAX_FRAME + 64 }).map((n) => ({
      data: Buffer.from(`{"id":1,"cmd":["ECHO","${'x'.repeat(Math.max(0, n - 24))}"]}`),
      binary: false,
    })),
  },
);

/** The id a reply to `f` must carry: the frame's own when it is a JSON object with a valid id, else null. */
function expectedId(f: Frame): unknown {
  if (f.binary) return null;
  let v: unknown;
  try {
    v = JSON.parse(f.data.toString('utf8'));
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, 'id')) return null;
  const id = (v as { id: unknown }).id;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  if (typeof id === 'string' && id.length <= 256) return id;
  return null;
}

/** Checks one frame from the server: JSON, a reply (id + result or error) or a push; errors in form. */
function checkServerFrame(text: string): { id: unknown; push: boolean; badFrame: boolean } {
  const f = JSON.parse(text) as Record<string, unknown>;
  if (f === null || typeof f !== 'object' || Array.isArray(f))
    throw new Error(`server frame is not an object: ${text}`);
  if ('push' in f) return { id: undefined, push: true, badFrame: false };
  if (!('id' in f)) throw new Error(`reply without id: ${text.slice(0, 300)}`);
  if ('result' in f === 'error' in f) throw new Error(`reply needs exactly one of result/error: ${text.slice(0, 300)}`);
  const errors: string[] = [];
  if (typeof f.error === 'string') errors.push(f.error);
  else if ('error' in f) throw new Error(`error is not a string: ${text.slice(0, 300)}`);
  // Errors inside results (pipeline, multi, EXEC).
  for (const m of text.matchAll(/"error":"((?:[^"\\]|\\.)*)"/g)) errors.push(JSON.parse(`"${m[1]}"`));
  for (const e of errors) {
    if (!ERROR_FORM.test(e)) throw new Error(`error not in Redis's form: ${e.slice(0, 300)}`);
    noJsError(e, 'an error frame');
  }
  return { id: f.id, push: false, badFrame: typeof f.error === 'string' && f.error.startsWith('BADFRAME') };
}

/**
 * Sends `frames` and a PING sentinel on one connection to `url`; waits for the sentinel's reply or the
 * close. Checks every frame was answered once, in order, with its id, or that the connection was closed with
 * a documented code that one of the frames explains.
 */
/** A connection kept from one batch to the next (a new one after a close). */
interface Link {
  ws: WebSocket | null;
}

async function wsBatch(url: string, batch: Frame[], tally: Tally, link: Link): Promise<void> {
  // Frames that may close the connection (invalid UTF-8, too large, QUIT) go last, so that the others are all
  // answered.
  const closes = (f: Frame) =>
    f.data.length > MAX_FRAME || (!f.binary && !validUtf8(f.data)) || /quit/i.test(f.data.toString('latin1'));
  const frames = [...batch.filter((f) => !closes(f)), ...batch.filter(closes)];
  if (link.ws === null || link.ws.readyState !== WebSocket.OPEN) {
    const fresh = new WebSocket(url, 'kvws.v1', { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    fresh.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      fresh.once('open', () => resolve());
      fresh.once('error', reject);
    });
    link.ws = fresh;
  }
  const ws = link.ws;
  const sentinel = `fz-sentinel-${cryptoRandomBytes(6).toString('hex')}`;
  const replies: { id: unknown; badFrame: boolean }[] = [];
  let closed: number | null = null;
  let problem: Error | null = null;
  let onMessage: (d: WebSocket.RawData, isBinary: boolean) => void = () => {};
  let onClose: (code: number) => void = () => {};
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      problem ??= new Error(`no sentinel reply or close within 20 s (${replies.length} replies)`);
      resolve();
    }, 20_000);
    onMessage = (d, isBinary) => {
      try {
        if (isBinary) throw new Error('binary frame from the server');
        const r = checkServerFrame(String(d));
        if (r.push) return;
        replies.push(r);
        if (r.id === sentinel) {
          clearTimeout(timer);
          resolve();
        }
      } catch (e) {
        problem ??= e as Error;
      }
    };
    onClose = (code) => {
      closed = code;
      clearTimeout(timer);
      resolve();
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
    for (const f of frames) ws.send(f.data, { binary: f.binary });
    ws.send(JSON.stringify({ id: sentinel, cmd: ['PING'] }));
  });
  ws.off('message', onMessage);
  ws.off('close', onClose);
  if (problem || closed !== null) {
    ws.terminate();
    link.ws = null;
  }
  if (problem) throw problem;
  // Frames answered, and the one that closed the connection (its answer is the close code).
  tally.add('frames', Math.min(frames.length, replies.length + (closed === null ? 0 : 1)));
  if (closed === null) {
    // Every frame answered, in order, each with its own id — malformed ones too, even behind a pending login.
    expect(replies.length).toBe(frames.length + 1);
    const all = [...frames.map(expectedId), sentinel];
    for (let i = 0; i < all.length; i++) {
      if (!Object.is(replies[i].id, all[i]) && replies[i].id !== all[i])
        throw new Error(
          `reply ${i} has id ${JSON.stringify(replies[i].id)}, expected ${JSON.stringify(all[i])} (frame ${JSON.stringify(frames[i]?.data.toString('utf8').slice(0, 200))})`,
        );
    }
    return;
  }
  // Closed: with a documented code, for a reason one of the frames gives.
  tally.add(`closed ${closed}`);
  const code = closed as number;
  const why: Record<number, (f: Frame) => boolean> = {
    // The server drops a connection whose frame is too large while the client is still sending it: the client
    // may see the reset (1006) before the close frame.
    1006: (f) => f.data.length > MAX_FRAME,
    [CloseCode.frameTooLarge]: (f) => f.data.length > MAX_FRAME,
    [CloseCode.invalidUtf8]: (f) => !f.binary && !validUtf8(f.data),
    [CloseCode.normal]: (f) => /quit/i.test(f.data.toString('latin1')),
  };
  expect(DOCUMENTED_CLOSES.has(code) || code === 1006, `close code ${code}`).toBe(true);
  const explained = why[code];
  expect(explained !== undefined && frames.some(explained), `close ${code} not explained by the frames`).toBe(true);
}

// ---- raw WebSocket frames ----------------------------------------------------------------------------------------

/** A client frame (masked, as RFC 6455 requires of clients): FIN + opcode, payload. */
function clientFrame(payload: Buffer, opcode = 1, fin = true): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len])
      : len < 65536
        ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 255])
        : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 127]), bigLength(len)]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

function bigLength(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Valid client frames to mutate: text requests, pings, a fragmented text, a close, a binary frame. */
const RAW_VALID = [
  clientFrame(Buffer.from('{"id":1,"cmd":["PING"]}')),
  clientFrame(Buffer.from('{"id":2,"cmd":["SET","fz:r","v"]}')),
  clientFrame(Buffer.from('{"id":3,"pipeline":[["GET","fz:r"]]}')),
  clientFrame(Buffer.from('ping'), 9),
  clientFrame(Buffer.from('pong'), 10),
  Buffer.concat([
    clientFrame(Buffer.from('{"id":4,"cmd":'), 1, false),
    clientFrame(Buffer.from('["ECHO","frag"]}'), 0, true),
  ]),
  clientFrame(Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]), 8),
  clientFrame(Buffer.from([1, 2, 3]), 2),
  clientFrame(Buffer.from(`{"id":5,"cmd":["ECHO","${'x'.repeat(300)}"]}`)),
];
const RAW_NASTY = [
  Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]), // unmasked
  Buffer.from([0x83, 0x80, 0, 0, 0, 0]), // reserved opcode 3
  Buffer.from([0xf1, 0x80, 0, 0, 0, 0]), // RSV1-3 set
  Buffer.concat([Buffer.from([0x81, 0xff]), bigLength(2 ** 53), Buffer.alloc(4)]), // 2^53 bytes announced
  Buffer.concat([Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(4)]), // 2^63: top bit set
  Buffer.from([0x89, 0xfe, 0x00, 0x80, 0, 0, 0, 0]), // a ping over 125 bytes
  Buffer.from([0x09, 0x80, 0, 0, 0, 0]), // a fragmented ping
  Buffer.from([0x80, 0x80, 0, 0, 0, 0]), // a continuation with nothing to continue
  clientFrame(Buffer.from([0x03]), 8), // a close with a 1-byte body
  clientFrame(Buffer.from([0x03, 0xed]), 8), // close code 1005 (reserved)
  clientFrame(Buffer.from([0xff, 0xfe]), 1), // invalid UTF-8 text
];

/** True when `b` is whole client frames (by their headers' lengths), none cut short. */
function wholeFrames(b: Buffer): boolean {
  let p = 0;
  while (p < b.length) {
    if (p + 2 > b.length) return false;
    let len = b[p + 1] & 0x7f;
    let q = p + 2;
    if (len === 126) {
      if (q + 2 > b.length) return false;
      len = b.readUInt16BE(q);
      q += 2;
    } else if (len === 127) {
      if (q + 8 > b.length) return false;
      len = Number(b.readBigUInt64BE(q));
      q += 8;
    }
    if (b[p + 1] & 0x80) q += 4;
    if (q + len > b.length) return false;
    p = q + len;
  }
  return true;
}

/**
 * Opens a raw connection to `port`, does the kvws.v1 handshake, then sends `bytes`: when they are whole
 * frames, followed by a PING request carrying `sentinel`, and waits for its reply or the close; otherwise
 * half-closes and waits for the close. Returns what came back after the handshake.
 */
function rawExchange(port: number, bytes: Buffer): Promise<{ data: Buffer; closed: boolean }> {
  const sentinel = `fz-raw-${cryptoRandomBytes(6).toString('hex')}`;
  const whole = wholeFrames(bytes);
  const tail = whole ? clientFrame(Buffer.from(JSON.stringify({ id: sentinel, cmd: ['PING'] }))) : null;
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let upgraded = false;
    const done = (closed: boolean) => {
      clearTimeout(limit);
      s.destroy();
      resolve({ data, closed });
    };
    const limit = setTimeout(() => {
      s.destroy();
      reject(new Error(`raw WebSocket exchange did not end within 20 s (${whole ? 'no sentinel reply' : 'no close'})`));
    }, 20_000);
    s.on('error', () => {});
    s.on('close', () => done(true));
    s.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (!upgraded) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = data.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(head)) {
          clearTimeout(limit);
          s.destroy();
          reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
          return;
        }
        upgraded = true;
        data = data.subarray(end + 4);
        if (tail) s.write(Buffer.concat([bytes, tail]));
        else s.end(bytes);
      }
      if (tail && data.includes(sentinel)) done(false);
    });
    s.on('connect', () => {
      s.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${cryptoRandomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          'Sec-WebSocket-Protocol: kvws.v1\r\n\r\n',
      );
    });
  });
}

/** Splits server frames (unmasked); returns text payloads and the close code, if a close frame came. */
function serverFrames(b: Buffer): { texts: string[]; close: number | null } {
  const texts: string[] = [];
  let close: number | null = null;
  let p = 0;
  while (p + 2 <= b.length) {
    const op = b[p] & 0x0f;
    let len = b[p + 1] & 0x7f;
    let q = p + 2;
    if (b[p + 1] & 0x80) throw new Error('server frame is masked');
    if (len === 126) {
      if (q + 2 > b.length) break;
      len = b.readUInt16BE(q);
      q += 2;
    } else if (len === 127) {
      if (q + 8 > b.length) break;
      len = Number(b.readBigUInt64BE(q));
      q += 8;
    }
    if (q + len > b.length) break;
    const payload = b.subarray(q, q + len);
    if (op === 1) texts.push(payload.toString('utf8'));
    else if (op === 8) close = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    else if (op !== 9 && op !== 10) throw new Error(`server sent opcode ${op}`);
    p = q + len;
  }
  return { texts, close };
}

const RAW_INPUT = fc.oneof(
  { weight: 6, arbitrary: mutated(RAW_VALID) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom(...RAW_VALID, ...RAW_NASTY), { minLength: 1, maxLength: 6 })
      .map((a) => Buffer.concat(a)),
  },
  { weight: 1, arbitrary: fc.constantFrom(...RAW_NASTY) },
);

/** Sends raw frame bytes; the server answers with text frames and/or closes with a documented code. */
async function rawBatch(port: number, bytes: Buffer, tally: Tally): Promise<void> {
  const r = await rawExchange(port, bytes);
  const { texts, close } = serverFrames(r.data);
  for (const t of texts) checkServerFrame(t);
  tally.add('raw frames');
  if (close !== null) {
    tally.add(`raw close ${close}`);
    expect(DOCUMENTED_CLOSES.has(close) || close === 1005, `close code ${close}`).toBe(true);
  }
}

// ---- in process --------------------------------------------------------------------------------------------------

describe('WebSocket in process: the real WsGateway', () => {
  let srv: Awaited<ReturnType<typeof fuzzHttpServer>>;
  let engine: Engine;
  let admin: Client;

  beforeAll(async () => {
    srv = await fuzzHttpServer(FUZZ_USERS, { wsMaxFrame: MAX_FRAME });
    ({ engine, admin } = srv);
    engine.execute(admin, ['SELECT', '1']);
    writeKept(engine, admin);
  });
  afterAll(async () => {
    await srv?.close();
  });

  it(
    `answers ${RUNS} frames once each, in order, in protocol form`,
    async () => {
      const tally = new Tally('ws in-process');
      const base = engine.clients.size;
      const memBefore = usedMemory(engine, admin);
      const url = `ws://127.0.0.1:${srv.port}/ws`;
      const BATCH = 50;
      let batches = 0;
      const link: Link = { ws: null };
      await fc.assert(
        fc.asyncProperty(fc.array(FRAME, { minLength: BATCH, maxLength: BATCH }), async (frames) => {
          if (++batches % 20 === 0) resetFuzzDb(engine, admin);
          await wsBatch(url, frames, tally, link);
        }),
        // A little over RUNS frames: the second frame that closes a connection in a batch is never answered.
        params(Math.ceil((RUNS * 1.05) / BATCH)),
      );
      link.ws?.terminate();
      const RAW = Math.max(500, Math.round(RUNS / 100));
      await fc.assert(
        fc.asyncProperty(RAW_INPUT, (bytes) => rawBatch(srv.port, bytes, tally)),
        params(RAW),
      );
      tally.print('frames');
      expect(tally.get('frames')).toBeGreaterThanOrEqual(RUNS);
      // No session left behind once the connections are gone; others' data intact; the dataset back to its size.
      for (let t = 0; t < 100 && engine.clients.size > base; t++) await new Promise((r) => setTimeout(r, 50));
      expect(engine.clients.size).toBe(base);
      expect(engine.pubsub.channels.size + engine.pubsub.patterns.size).toBe(0);
      expectKeptAndMemoryBack(engine, admin, memBefore, 'ws');
    },
    timeLimit(100_000),
  );
});

// ---- a running kvws ----------------------------------------------------------------------------------------------

describe('WebSocket over a socket: a running kvws', () => {
  let server: RunningServer;
  let adminClient: Redis;
  let canaryClient: Redis;
  let fz: FuzzServer;

  beforeAll(async () => {
    fz = await startFuzzServer('ws', [
      '--port',
      String(await freePort()),
      '--no-tls',
      '--ws-max-frame',
      String(MAX_FRAME),
    ]);
    ({ server, admin: adminClient, canary: canaryClient } = fz);
  });
  afterAll(async () => {
    await fz?.stop();
  });

  it(
    `answers ${SOCKET_RUNS} frames and raw frames in protocol form, and disturbs nobody`,
    async () => {
      const tally = new Tally('ws socket');
      const before = await memorySample(server, adminClient);
      const canary = new Canary(canaryClient, 'canary');
      const url = `ws://127.0.0.1:${server.httpsPort}/ws`;
      const BATCH = 50;
      const link: Link = { ws: null };
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(FRAME, { minLength: BATCH, maxLength: BATCH }), (frames) =>
            wsBatch(url, frames, tally, link),
          ),
          params(Math.ceil((SOCKET_RUNS * 1.1) / BATCH), { endOnFailure: true }),
        );
        await fc.assert(
          fc.asyncProperty(RAW_INPUT, (bytes) => rawBatch(server.httpsPort as number, bytes, tally)),
          params(Math.max(300, Math.round(SOCKET_RUNS / 10)), { endOnFailure: true }),
        );
      } finally {
        link.ws?.terminate();
        const seen = await canary.stop();
        tally.add('canary round trips', seen.ops);
        tally.print('frames');
        expect(seen.problems).toEqual([]);
      }
      expect(tally.get('frames')).toBeGreaterThanOrEqual(SOCKET_RUNS);
      await checkAfterFuzz('ws socket', server, adminClient, canaryClient, before);
    },
    timeLimit(100_000),
  );
});
