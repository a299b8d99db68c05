import { KeyObject, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type Redis from 'ioredis';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { looksLikeJwt, TokenError, type TokenErrorCode, TokenService } from '../../server/src/auth/jwt.js';
import { Client } from '../../server/src/engine/client.js';
import type { Engine } from '../../server/src/engine/engine.js';
import { ErrorReply, type Reply, SimpleString } from '../../server/src/protocol/reply.js';
import { writeTestKeysFile } from '../helpers/jwt-keys.js';
import { freePort, parseReplies, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { JWT_CLAIMS, JWT_HEADERS, JWT_NASTY } from './corpus/jwt.js';
import { multibulk } from './corpus/resp.js';
import {
  ADMIN_PASSWORD,
  announce,
  Canary,
  crashLines,
  ERROR_FORM,
  FUZZ_USERS,
  fuzzServerArgs,
  type HttpResponse,
  jsonValueMutated,
  latin1,
  mutated,
  noJsError,
  params,
  parseResponses,
  RUNS,
  randomBytes,
  SOCKET_RUNS,
  Tally,
  timeLimit,
} from './harness.js';
import { fuzzEngine } from './in-process.js';

/**
 * Fuzzing JWT verification (docs/fuzzing.md): tokens whose header and claims were mutated and then signed
 * with the server's own key (so every check after the signature runs), valid tokens with byte mutations,
 * tokens signed with another key, known attacks (alg none, HS256 with the public key, kid tricks, sizes) and
 * random text. In this process through TokenService.verify and AUTH (RUNS tokens); against a running kvws
 * through RESP AUTH, the WebSocket `auth` frame and the HTTP API's Bearer header (SOCKET_RUNS tokens), whose
 * answers must be exactly those of the same code in this process.
 */

announce('jwt');

const USERS = `${FUZZ_USERS}user tok on nopass ~tok:* &* +@all\n`;
const KID = 'fuzz-kid';
const CODES = new Set<TokenErrorCode>([
  'malformed',
  'too-large',
  'alg-not-allowed',
  'bad-signature',
  'unknown-kid',
  'expired',
  'not-yet-valid',
  'bad-issuer',
  'bad-audience',
  'no-user',
  'no-exp',
  'ttl-too-long',
]);

/** A token to try and how it was made (what it may do depends on it). */
interface Token {
  token: string;
  /** signed: by the server's key; mutated: bytes of a valid token changed; other: never valid. */
  kind: 'signed' | 'mutated' | 'other';
  /** For `mutated`: the valid token it came from. */
  original?: string;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** `{NOW}`, `{NOW+600}`, `{KID}`… in a value, filled in (a whole placeholder string becomes a number). */
function fill(v: unknown, now: number): unknown {
  if (typeof v === 'string') {
    if (v === '{KID}') return KID;
    const m = /^\{NOW([+-]\d+)?\}$/.exec(v);
    return m ? now + Number(m[1] ?? 0) : v;
  }
  if (Array.isArray(v)) return v.map((x) => fill(x, now));
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      Object.defineProperty(o, k, { value: fill(x, now), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return v;
}

/** Signs `header.payload` (any JSON, even not objects) with an Ed25519 key, as a JWS compact token. */
function signRaw(header: unknown, payload: unknown, key: KeyObject): string {
  const input = `${b64(JSON.stringify(header) ?? 'null')}.${b64(JSON.stringify(payload) ?? 'null')}`;
  return `${input}.${b64(sign(null, Buffer.from(input), key))}`;
}

/** The decoded bytes of each segment (to tell a re-encoding of a token from a different token). */
function segments(t: string): string {
  return t
    .split('.')
    .map((s) => Buffer.from(s, 'base64url').toString('hex'))
    .join('.');
}

/** segments() of every valid token the mutator starts from. */
const validSegments = new Set<string>();

/** Builds the token arbitraries once the keys are known. */
function tokens(serverKey: KeyObject, otherKey: KeyObject, valid: string[]): fc.Arbitrary<Token> {
  const headers = jsonValueMutated(JWT_HEADERS);
  const claims = jsonValueMutated(JWT_CLAIMS);
  const now = () => Math.floor(Date.now() / 1000);
  const signedBy = (key: KeyObject, kind: Token['kind']) =>
    fc
      .tuple(fc.oneof(fc.constantFrom(...JWT_HEADERS), headers), fc.oneof(fc.constantFrom(...JWT_CLAIMS), claims))
      .map(([h, c]): Token => {
        const t = now();
        return { token: signRaw(fill(h, t), fill(c, t), key), kind };
      });
  return fc.oneof(
    { weight: 5, arbitrary: signedBy(serverKey, 'signed') },
    { weight: 1, arbitrary: signedBy(otherKey, 'other') },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.nat(valid.length - 1), mutated(valid.map((v) => latin1(v))))
        .map(([i, b]): Token => ({ token: b.toString('latin1'), kind: 'mutated', original: valid[i] })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...JWT_NASTY).map((token): Token => ({ token, kind: 'other' })),
    },
    {
      weight: 1,
      arbitrary: randomBytes(['eyJ', '.', '-', '_', 'A', 'e30', 'IjoiIn0']).map(
        (b): Token => ({
          token: b.toString('latin1'),
          kind: 'other',
        }),
      ),
    },
  );
}

/**
 * Checks one verification: a TokenError with a known code and a clean message that does not repeat the
 * token, or a success the token's making allows (signed by the server's key, or a re-encoding of a valid
 * token) whose claims pass kvws's rules.
 */
function checkVerify(
  t: Token,
  outcome: { ok: true; v: Awaited<ReturnType<TokenService['verify']>> } | { ok: false; e: unknown },
) {
  if (!outcome.ok) {
    const e = outcome.e;
    if (!(e instanceof TokenError)) throw new Error(`verify threw ${String(e)} instead of a TokenError`);
    if (!CODES.has(e.code)) throw new Error(`unknown TokenError code ${e.code}`);
    if (e.message === '') throw new Error('empty TokenError message');
    noJsError(e.message, 'a TokenError');
    if (t.token.length >= 8 && e.message.includes(t.token)) throw new Error('a TokenError repeats the token');
    return;
  }
  if (t.kind === 'other') throw new Error(`accepted a token not signed by the server: ${t.token.slice(0, 200)}`);
  // A mutated token may only be accepted as a re-encoding of a valid one (or, spliced, as another whole one).
  if (t.kind === 'mutated' && !validSegments.has(segments(t.token)))
    throw new Error(`accepted a changed token: ${t.token.slice(0, 200)}`);
  const { v } = outcome;
  const c = v.claims;
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  if (c.iss !== 'kvws' || !aud.includes('kvws')) throw new Error(`accepted iss ${c.iss} aud ${c.aud}`);
  if (typeof c.exp !== 'number' || c.exp * 1000 < Date.now() - 31_000) throw new Error(`accepted exp ${c.exp}`);
  if (typeof v.user !== 'string' || v.user === '') throw new Error('accepted a token naming no user');
  if (v.acl !== null && typeof v.acl !== 'string') throw new Error('accepted a non-string acl');
}

/** A reply as text: `OK` or the error message. */
function replyText(r: Reply): string {
  if (r instanceof SimpleString) return r.value;
  if (r instanceof ErrorReply) return r.message;
  return JSON.stringify(r);
}

describe('JWT in process: TokenService.verify and AUTH', () => {
  let dir: string;
  let engine: Engine;
  let svc: TokenService;
  let serverKey: KeyObject;
  let otherKey: KeyObject;
  const valid: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kvws-fuzz-jwt-'));
    const signer = await writeTestKeysFile(dir, KID);
    serverKey = KeyObject.from(signer.key);
    otherKey = KeyObject.from((await generateKeyPair('Ed25519', { extractable: true })).privateKey);
    ({ engine } = await fuzzEngine(USERS, { authMaxFailures: 0 }));
    svc = await TokenService.create({
      issuer: 'kvws',
      audience: 'kvws',
      keysFile: signer.keysFile,
      defaultTtl: 900,
      maxTtl: 86400,
      clockSkew: 30,
      maxTokenBytes: 8192,
    });
    engine.acl.tokens = svc;
    for (const user of ['default', 'tok']) {
      valid.push((await svc.issue({ user, ttl: 3600 })).token);
      valid.push((await svc.issue({ user, ttl: 3600, acl: '~tok:* +@read' })).token);
      valid.push((await svc.issue({ user, ttl: 3600, claims: { tenant: 'x', n: 1 } })).token);
    }
    for (const v of valid) validSegments.add(segments(v));
  });
  afterAll(() => {
    engine?.shutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    `refuses ${RUNS} mutated, forged and random tokens cleanly and accepts only authentic ones`,
    async () => {
      const tally = new Tally('jwt in-process');
      await fc.assert(
        fc.asyncProperty(tokens(serverKey, otherKey, valid), fc.nat(7), async (t, viaAuth) => {
          tally.add('tokens');
          let outcome: Parameters<typeof checkVerify>[1];
          try {
            outcome = { ok: true, v: await svc.verify(t.token) };
            tally.add('accepted');
          } catch (e) {
            outcome = { ok: false, e };
            if (e instanceof TokenError) tally.add(e.code);
          }
          checkVerify(t, outcome);
          if (viaAuth !== 0) return;
          // One in eight also through AUTH <token>, as RESP, the WebSocket and the HTTP API log in.
          const c = new Client(engine, 'resp', '127.0.0.1:40001');
          engine.clients.add(c);
          try {
            const r = await engine.execute(c, ['AUTH', t.token]);
            const text = replyText(r);
            if (r instanceof ErrorReply) {
              if (!ERROR_FORM.test(text)) throw new Error(`AUTH error not in Redis's form: ${text}`);
              noJsError(text, 'an AUTH error');
              if (t.token.length >= 8 && text.includes(t.token)) throw new Error('an AUTH error repeats the token');
              if (looksLikeJwt(t.token) && !outcome.ok && !text.startsWith('WRONGPASS invalid token: '))
                throw new Error(`AUTH of a refused token answered ${text}`);
            } else if (looksLikeJwt(t.token) && !outcome.ok) {
              throw new Error(`AUTH accepted a token verify refused: ${text}`);
            }
          } finally {
            engine.clients.remove(c);
          }
        }),
        params(RUNS),
      );
      tally.print('tokens');
      expect(tally.get('tokens')).toBeGreaterThanOrEqual(RUNS);
      expect(tally.get('accepted')).toBeGreaterThan(0);
    },
    timeLimit(100_000),
  );

  // ---- a running kvws --------------------------------------------------------------------------------------------

  describe('over sockets: RESP AUTH, the WebSocket auth frame, the HTTP Bearer header', () => {
    let server: RunningServer;
    let canaryClient: Redis;
    let sdir: string;

    beforeAll(async () => {
      sdir = mkdtempSync(path.join(tmpdir(), 'kvws-fuzz-jwt-srv-'));
      writeFileSync(path.join(sdir, 'users.acl'), USERS);
      server = await startKvws([
        ...fuzzServerArgs(path.join(sdir, 'users.acl')),
        '--jwt-keys-file',
        path.join(dir, 'jwt-keys.json'),
        '--port',
        String(await freePort()),
        '--no-tls',
      ]);
      canaryClient = redisClient(server, { username: 'admin', password: ADMIN_PASSWORD, db: 1 });
    });
    afterAll(async () => {
      canaryClient?.disconnect();
      await server?.stop();
      if (sdir) rmSync(sdir, { recursive: true, force: true });
    });

    /**
     * What this process's engine answers to `AUTH token`, to a Bearer login with `token`, and then to PING in
     * that session (a token's `acl` claim may narrow it).
     */
    async function expected(token: string): Promise<{ auth: string; bearer: string; ping: string }> {
      const c = new Client(engine, 'resp', '127.0.0.1:40002');
      engine.clients.add(c);
      try {
        const auth = replyText(await engine.execute(c, ['AUTH', token]));
        const d = new Client(engine, 'http', '127.0.0.1:40003');
        engine.clients.add(d);
        const bearer = replyText(await engine.acl.authToken(d, token, null));
        const ping = replyText(await engine.execute(d, ['PING']));
        engine.clients.remove(d);
        return { auth, bearer, ping };
      } finally {
        engine.clients.remove(c);
      }
    }

    /** RESP: AUTH <token> for each, pipelined on one connection; each reply must be this process's. */
    async function viaResp(batch: Token[], tally: Tally): Promise<void> {
      const want = await Promise.all(batch.map((t) => expected(t.token)));
      const s = net.connect(server.port, '127.0.0.1');
      let text = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`RESP AUTH batch: ${parseReplies(text).replies.length} of ${batch.length} replies in 20 s`),
            ),
          20_000,
        );
        s.on('close', () => reject(new Error(`RESP AUTH batch: connection closed: ${text.slice(-300)}`)));
        s.on('data', (d) => {
          text += d.toString('latin1');
          if (parseReplies(text).replies.length >= batch.length) {
            clearTimeout(timer);
            resolve();
          }
        });
        s.on('error', reject);
        s.on('connect', () => {
          s.write(batch.map((t) => multibulk(['AUTH', t.token])).join(''), 'latin1');
        });
      });
      s.destroy();
      const { replies } = parseReplies(text);
      expect(replies.length).toBe(batch.length);
      batch.forEach((t, i) => {
        const got =
          replies[i].type === '+' ? replies[i].head : replies[i].type === '-' ? replies[i].head : replies[i].raw;
        // RESP carries bytes: an error naming text from a token's claims (UTF-16) arrives one byte per char.
        if (got !== Buffer.from(want[i].auth, 'latin1').toString('latin1'))
          throw new Error(`AUTH ${JSON.stringify(t.token.slice(0, 120))}: ${got}, expected ${want[i].auth}`);
      });
      tally.add('resp', batch.length);
    }

    /** WebSocket: an `auth` frame for each on one connection; each answer must match this process's AUTH. */
    async function viaWs(batch: Token[], tally: Tally): Promise<void> {
      const want = await Promise.all(batch.map((t) => expected(t.token)));
      const ws = new WebSocket(`ws://127.0.0.1:${server.httpsPort}/ws`, 'kvws.v1', { perMessageDeflate: false });
      ws.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const answers = new Map<number, { result?: { user: string }; error?: string }>();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('WebSocket auth batch: not all answered in 20 s')), 20_000);
        ws.on('message', (d) => {
          const f = JSON.parse(String(d));
          if (typeof f.id === 'number') answers.set(f.id, f);
          if (answers.size === batch.length) {
            clearTimeout(timer);
            resolve();
          }
        });
        ws.on('close', (code) => reject(new Error(`WebSocket closed with ${code} during the auth batch`)));
        batch.forEach((t, i) => {
          ws.send(JSON.stringify({ id: i, auth: { token: t.token } }));
        });
      });
      ws.terminate();
      batch.forEach((t, i) => {
        const a = answers.get(i);
        const text = t.token.length === 0 || t.token.length > 65536 || !looksLikeJwt(t.token) ? null : want[i].auth;
        if (text === null) {
          // Refused by the frame check before any login.
          if (!a?.error?.startsWith('BADFRAME'))
            throw new Error(`auth frame with ${JSON.stringify(t.token.slice(0, 80))}: ${JSON.stringify(a)}`);
        } else if (text === 'OK') {
          if (!a?.result) throw new Error(`auth frame refused a token AUTH accepts: ${JSON.stringify(a)}`);
        } else if (a?.error !== text) {
          throw new Error(`auth frame: ${JSON.stringify(a)}, expected the error ${text}`);
        }
      });
      tally.add('ws', batch.length);
    }

    /** HTTP: POST / ["PING"] with each token as Bearer, pipelined; 200 or 401 with this process's reason. */
    async function viaHttp(batch: Token[], tally: Tally): Promise<void> {
      const usable = batch.filter((t) => /^[\x21-\x7e]+$/.test(t.token) && t.token.length < 8000);
      if (usable.length === 0) return;
      const want = await Promise.all(usable.map((t) => expected(t.token)));
      const body = '["PING"]';
      const req = usable
        .map(
          (t) =>
            `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.token}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        )
        .join('');
      const s = net.connect(server.httpsPort as number, '127.0.0.1');
      const responses: HttpResponse[] = [];
      let used = 0;
      let got = Buffer.alloc(0);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('HTTP Bearer batch: not all answered in 20 s')), 20_000);
        s.on('data', (d) => {
          got = Buffer.concat([got, d]);
          used = parseResponses(got, [], used, responses).used;
          if (responses.length >= usable.length) {
            clearTimeout(timer);
            resolve();
          }
        });
        s.on('error', reject);
        s.on('connect', () => s.write(req, 'latin1'));
      });
      s.destroy();
      usable.forEach((t, i) => {
        const { status, body: raw } = responses[i];
        const json = raw.toString('utf8');
        const text = want[i].bearer;
        const answer = JSON.parse(json) as { result?: string; error?: string };
        if (text === 'OK') {
          // Logged in: PING answers as it does in this process (a token's acl claim may forbid it).
          const ping = want[i].ping;
          const ok =
            ping === 'PONG' ? status === 200 && answer.result === 'PONG' : status === 400 && answer.error === ping;
          if (!ok)
            throw new Error(`Bearer ${t.token.slice(0, 80)}: ${status} ${json}, expected PING to answer ${ping}`);
        } else if (status !== 401 || answer.error !== text) {
          throw new Error(`Bearer ${t.token.slice(0, 80)}: ${status} ${json}, expected 401 ${text}`);
        }
      });
      tally.add('http', usable.length);
    }

    it(
      `answers ${SOCKET_RUNS / 2} tokens on each front door exactly as the in-process code does`,
      async () => {
        const tally = new Tally('jwt socket');
        const canary = new Canary(canaryClient, 'canary');
        const BATCH = 50;
        try {
          await fc.assert(
            fc.asyncProperty(
              fc.array(tokens(serverKey, otherKey, valid), { minLength: BATCH, maxLength: BATCH }),
              async (batch) => {
                tally.add('tokens', batch.length);
                await Promise.all([viaResp(batch, tally), viaWs(batch, tally), viaHttp(batch, tally)]);
              },
            ),
            // Half of SOCKET_RUNS tokens, each sent through all three front doors.
            params(Math.ceil(SOCKET_RUNS / 2 / BATCH), { endOnFailure: true }),
          );
        } finally {
          const seen = await canary.stop();
          tally.add('canary round trips', seen.ops);
          tally.print('tokens');
          expect(seen.problems).toEqual([]);
        }
        expect(tally.get('resp')).toBeGreaterThanOrEqual(SOCKET_RUNS / 2);
        expect(crashLines(server.output())).toEqual([]);
      },
      timeLimit(100_000),
    );
  });
});
