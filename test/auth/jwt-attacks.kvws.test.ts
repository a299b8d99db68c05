import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import {
  base64url,
  type CryptoKey,
  decodeJwt,
  generateKeyPair,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpTarget, httpJson } from '../helpers/http.js';
import { writeTestKeysFile } from '../helpers/jwt-keys.js';
import { freePort, makeTestCertificate, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';
import { WsClient } from '../helpers/ws.js';

// Forged, stale and misused tokens through every door that takes one: RESP `AUTH <jwt>`, the WebSocket `auth`
// frame and the HTTP API's `Authorization: Bearer`. Each is refused with the same WRONGPASS text (never
// quoting the token), leaves the session unauthenticated, and adds one ACL LOG entry per door (reason `auth`,
// object `token:<why>`); an `acl` claim can only narrow. Then token lifetimes over WebSocket: an expiring
// session gets the `auth` push, is closed with 4401 and loses its subscriptions; a fresh token sent before
// expiry extends it; a connection that never authenticates gets NOAUTH, then 4401 after --auth-timeout.
// One server whose default user is off, so nothing is open without a login. kvws-only.

const now = () => Math.floor(Date.now() / 1000);
const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));
const NOAUTH = 'NOAUTH Authentication required.';
const USER_GONE = "WRONGPASS the token's user is disabled or does not exist";

let dir = '';
let ca: Buffer;
let server: RunningServer;
let admin: Redis;
let agent: https.Agent;
/** The server's HTTP API, over TLS with `agent`. */
let api: HttpTarget;
/** kvws's signing key (the keys file given to the server) and its public half's raw bytes. */
let signer: { kid: string; key: CryptoKey; publicBytes: Uint8Array };
const closers: (() => void)[] = [];

/** Claims of a valid kvws token for alice; `undefined` in `overrides` removes a claim. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const out: Record<string, unknown> = { user: 'alice', sub: 'alice', iss: 'kvws', aud: 'kvws', iat: now() };
  out.exp = now() + 300;
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out as JWTPayload;
}

function sign(payload: JWTPayload, header: Partial<JWTHeaderParameters> = {}, key?: CryptoKey | Uint8Array) {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT', ...header })
    .sign(key ?? signer.key);
}

/** An ioredis connection without credentials (no ready check, no CLIENT SETINFO: both would get NOAUTH). */
function anonymous(): Redis {
  const r = redisClient(server, { enableReadyCheck: false, disableClientInfo: true });
  r.on('error', () => {});
  closers.push(() => r.disconnect());
  return r;
}

async function openWs(): Promise<WsClient> {
  const ws = await WsClient.open(wsUrl(server), { ca });
  closers.push(() => ws.close());
  return ws;
}

/** The error text `p` rejects with ('' when it resolves). */
async function errorOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => '',
    (e: Error) => e.message,
  );
}

/** ACL LOG as `username|reason|object|context` → summed count. */
async function aclLog(): Promise<Record<string, number>> {
  const entries = (await admin.call('ACL', 'LOG', '100000')) as unknown[][];
  const out: Record<string, number> = {};
  for (const flat of entries) {
    const e: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) e[String(flat[i])] = String(flat[i + 1]);
    const k = `${e.username}|${e.reason}|${e.object}|${e.context}`;
    out[k] = (out[k] ?? 0) + Number(e.count);
  }
  return out;
}

/** What changed in ACL LOG between two snapshots. */
function logDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(after)) if (n !== (before[k] ?? 0)) out[k] = n - (before[k] ?? 0);
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-jwt-attacks-'));
  const cert = makeTestCertificate(dir);
  ca = readFileSync(cert.ca);
  agent = new https.Agent({ ca, keepAlive: true });
  const made = await writeTestKeysFile(dir, 'attacks-test-key');
  const keysFile = made.keysFile;
  signer = made;
  const usersFile = path.join(dir, 'users.acl');
  writeFileSync(
    usersFile,
    [
      'user default off',
      'user admin on >admin-pw ~* &* +@all',
      'user alice on >alice-pw ~a:* &a:* +@all',
      'user narrow on >narrow-pw ~a:* -@all +get',
      'user gone on ~g:* +@all',
      'user sleeper off ~* +@all',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  server = await startKvws([
    ...['--port', String(await freePort()), '--tls-cert', cert.cert, '--tls-key', cert.key],
    ...['--jwt-keys-file', keysFile, '--acl-file', usersFile],
    ...['--auth-timeout', '1', '--auth-max-failures', '0'],
  ]);
  api = { port: server.httpsPort, agent };
  admin = redisClient(server, { username: 'admin', password: 'admin-pw', enableReadyCheck: false });
  admin.on('error', () => {});
  await admin.mset('a:1', 'a', 'a:2', 'a', 'b:1', 'b', 'g:1', 'g');
});

afterAll(async () => {
  for (const close of closers) close();
  admin?.disconnect();
  agent?.destroy();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Attack {
  name: string;
  token: () => Promise<string>;
  /** The WRONGPASS text every door answers. */
  error: string;
  /** The ACL LOG entry it adds: username and object. */
  logUser: string;
  object: string;
  /** Runs before the attack (to delete the token's user…). */
  before?: () => Promise<void>;
}

const ATTACKS: Attack[] = [
  {
    name: 'alg: none, no signature',
    token: async () => `${b64json({ alg: 'none', typ: 'JWT' })}.${b64json(claims({ user: 'admin' }))}.`,
    error: 'WRONGPASS invalid token: the token signature algorithm is not allowed',
    logUser: '(token)',
    object: 'token:alg-not-allowed',
  },
  {
    name: "HS256 keyed with the server's public key bytes",
    token: () => sign(claims({ user: 'admin' }), { alg: 'HS256' }, signer.publicBytes),
    error: 'WRONGPASS invalid token: the token signature algorithm is not allowed',
    logUser: '(token)',
    object: 'token:alg-not-allowed',
  },
  {
    name: 'expired (exp two minutes ago, beyond the clock skew)',
    token: () => sign(claims({ iat: now() - 600, exp: now() - 120 })),
    error: 'WRONGPASS invalid token: the token has expired',
    logUser: '(token)',
    object: 'token:expired',
  },
  {
    name: 'not yet valid (nbf in two minutes)',
    token: () => sign(claims({ nbf: now() + 120 })),
    error: 'WRONGPASS invalid token: the token is not valid yet',
    logUser: '(token)',
    object: 'token:not-yet-valid',
  },
  {
    name: 'wrong audience',
    token: () => sign(claims({ aud: 'another-service' })),
    error: 'WRONGPASS invalid token: the token audience is not accepted',
    logUser: '(token)',
    object: 'token:bad-audience',
  },
  {
    name: 'wrong issuer',
    token: () => sign(claims({ iss: 'https://evil.example.com' })),
    error: 'WRONGPASS invalid token: the token issuer is not accepted',
    logUser: '(token)',
    object: 'token:bad-issuer',
  },
  {
    name: 'tampered payload: user changed to admin, signature kept',
    token: async () => {
      const [h, , s] = (await sign(claims())).split('.');
      return `${h}.${b64json(claims({ user: 'admin', sub: 'admin' }))}.${s}`;
    },
    error: 'WRONGPASS invalid token: the token signature is invalid',
    logUser: '(token)',
    object: 'token:bad-signature',
  },
  {
    name: 'tampered payload: user changed to default, signature kept',
    token: async () => {
      const t = await sign(claims());
      const [h, , s] = t.split('.');
      return `${h}.${b64json({ ...decodeJwt(t), user: 'default', sub: 'default' })}.${s}`;
    },
    error: 'WRONGPASS invalid token: the token signature is invalid',
    logUser: '(token)',
    object: 'token:bad-signature',
  },
  {
    name: 'unknown kid (signed with a key the server does not have)',
    token: async () => {
      const { privateKey } = await generateKeyPair('Ed25519');
      return sign(claims({ user: 'admin' }), { kid: 'not-a-kvws-key' }, privateKey);
    },
    error: 'WRONGPASS invalid token: the token was signed with an unknown key',
    logUser: '(token)',
    object: 'token:unknown-kid',
  },
  {
    name: 'oversized (more than 8192 bytes), validly signed',
    token: () => sign(claims({ pad: 'x'.repeat(9000) })),
    error: 'WRONGPASS invalid token: the token is too large',
    logUser: '(token)',
    object: 'token:too-large',
  },
  {
    name: 'for a deleted user',
    before: async () => {
      expect(await admin.call('ACL', 'DELUSER', 'gone')).toBe(1);
    },
    token: () => sign(claims({ user: 'gone', sub: 'gone' })),
    error: USER_GONE,
    logUser: 'gone',
    object: 'token:user',
  },
  {
    name: 'for a disabled user',
    token: () => sign(claims({ user: 'sleeper', sub: 'sleeper' })),
    error: USER_GONE,
    logUser: 'sleeper',
    object: 'token:user',
  },
  {
    name: 'an acl claim that is not a string',
    token: () => sign(claims({ acl: ['~*', '+@all'] })),
    error: 'WRONGPASS invalid token: the token\'s "acl" claim is not a string',
    logUser: '(token)',
    object: 'token:malformed',
  },
];

describe('refused tokens, through RESP AUTH, the WebSocket auth frame and HTTP Bearer', () => {
  let resp: Redis;
  beforeAll(async () => {
    resp = anonymous();
    expect(await errorOf(resp.call('GET', 'a:1'))).toBe(NOAUTH);
    // A valid token works everywhere (so the refusals below are about the tokens).
    const good = await sign(claims());
    const ok = anonymous();
    expect(await ok.call('AUTH', good)).toBe('OK');
    expect(await ok.call('ACL', 'WHOAMI')).toBe('alice');
    const ws = await openWs();
    expect((await ws.reply(ws.request({ auth: { token: good } }))).result).toEqual({
      user: 'alice',
      expiresAt: (decodeJwt(good).exp as number) * 1000,
    });
    const res = await httpJson(api, 'POST', '/', ['GET', 'a:1'], { authorization: `Bearer ${good}` });
    expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: { result: 'a' } });
  });

  it.each(ATTACKS.map((a) => [a.name, a] as const))('%s', async (_name, a) => {
    await a.before?.();
    const token = await a.token();
    const before = await aclLog();
    // RESP: AUTH <jwt> is refused; the connection is still not logged in.
    const respError = await errorOf(resp.call('AUTH', token));
    expect(await errorOf(resp.call('GET', 'a:1'))).toBe(NOAUTH);
    // WebSocket: the auth frame is refused; commands still get NOAUTH.
    const ws = await openWs();
    const frame = await ws.reply(ws.request({ auth: { token } }));
    expect((await ws.call('GET', 'a:1')).error).toBe(NOAUTH);
    ws.close();
    // HTTP: 401 with the same text.
    const res = await httpJson(api, 'POST', '/', ['GET', 'a:1'], { authorization: `Bearer ${token}` });
    expect({ resp: respError, ws: frame.error, http: { status: res.status, body: res.json } }).toEqual({
      resp: a.error,
      ws: a.error,
      http: { status: 401, body: { error: a.error } },
    });
    for (const text of [respError, frame.error, res.text]) expect(text).not.toContain(token);
    expect(logDelta(before, await aclLog())).toEqual({ [`${a.logUser}|auth|${a.object}|toplevel`]: 3 });
  });

  it('a token for one user presented as another (AUTH user <jwt>, auth frame with username)', async () => {
    const token = await sign(claims());
    const before = await aclLog();
    expect(await errorOf(resp.call('AUTH', 'admin', token))).toBe('WRONGPASS the token was issued for another user');
    expect(await errorOf(resp.call('GET', 'a:1'))).toBe(NOAUTH);
    const ws = await openWs();
    expect((await ws.reply(ws.request({ auth: { username: 'admin', token } }))).error).toBe(
      'WRONGPASS the token was issued for another user',
    );
    expect((await ws.call('GET', 'a:1')).error).toBe(NOAUTH);
    ws.close();
    expect(logDelta(before, await aclLog())).toEqual({ 'admin|auth|token:user|toplevel': 2 });
  });

  it("an acl claim cannot widen the user's rights: user ~a:*, token acl ~* &* +@all", async () => {
    const token = await sign(claims({ acl: '~* &* +@all' }));
    const r = anonymous();
    expect(await r.call('AUTH', token)).toBe('OK');
    const ws = await openWs();
    expect((await ws.reply(ws.request({ auth: { token } }))).result).toMatchObject({ user: 'alice' });
    const before = await aclLog();
    const keyRefused = 'NOPERM this user has no permissions to access one of the keys used as arguments';
    const channelRefused = 'NOPERM this user has no permissions to access one of the channels used as arguments';
    const bearer = { authorization: `Bearer ${token}` };
    const viaHttp = async (...argv: string[]) => {
      const res = await httpJson(api, 'POST', '/', argv, bearer);
      return res.status === 200 ? (res.json as { result: unknown }).result : (res.json as { error: string }).error;
    };
    for (const [door, call] of [
      ['resp', (...argv: string[]) => r.call(argv[0], ...argv.slice(1)).catch((e: Error) => e.message)],
      ['ws', async (...argv: string[]) => ((f) => f.error ?? f.result)(await ws.call(...argv))],
      ['http', viaHttp],
    ] as const) {
      expect(await call('GET', 'a:1'), door).toBe('a');
      expect(await call('GET', 'b:1'), door).toBe(keyRefused);
      expect(await call('SET', 'b:1', 'mine'), door).toBe(keyRefused);
      expect(await call('PUBLISH', 'b:news', 'x'), door).toBe(channelRefused);
      expect(((await call('KEYS', '*')) as string[]).sort(), door).toEqual(['a:1', 'a:2']);
    }
    expect(await admin.get('b:1')).toBe('b');
    expect(logDelta(before, await aclLog())).toEqual({
      'alice|key|b:1|toplevel': 6,
      'alice|channel|b:news|toplevel': 3,
    });
  });
});

describe('token lifetimes over WebSocket', () => {
  it('a session whose token expires gets the auth push, then close 4401, and loses its subscriptions', async () => {
    const exp = now() + 2;
    const token = await sign(claims({ exp }));
    const ws = await openWs();
    expect((await ws.reply(ws.request({ auth: { token } }))).result).toEqual({ user: 'alice', expiresAt: exp * 1000 });
    expect(await ws.result('SUBSCRIBE', 'a:expiring')).toEqual([['subscribe', 'a:expiring', 1]]);
    expect(await ws.result('PSUBSCRIBE', 'a:expiring:*')).toEqual([['psubscribe', 'a:expiring:*', 2]]);
    expect(await admin.call('PUBSUB', 'NUMSUB', 'a:expiring')).toEqual(['a:expiring', 1]);
    expect(await admin.call('PUBSUB', 'NUMPAT')).toBe(1);
    expect(await ws.push((f) => f.push === 'auth', 6000)).toEqual({ push: 'auth', event: 'expired' });
    const closed = await ws.closed(5000);
    expect(closed.code).toBe(4401);
    expect(await admin.call('PUBSUB', 'NUMSUB', 'a:expiring')).toEqual(['a:expiring', 0]);
    expect(await admin.call('PUBSUB', 'NUMPAT')).toBe(0);
    expect(await admin.publish('a:expiring', 'anyone?')).toBe(0);
  });

  it('a fresh token sent before expiry extends the session without reconnecting', async () => {
    const firstExp = now() + 2;
    const ws = await openWs();
    const first = await ws.reply(ws.request({ auth: { token: await sign(claims({ exp: firstExp })) } }));
    expect(first.result).toEqual({ user: 'alice', expiresAt: firstExp * 1000 });
    const sub = ws.request({ cmd: ['SUBSCRIBE', 'a:kept'] });
    const subscribed = await ws.reply(sub);
    expect(subscribed).toEqual({
      id: sub,
      result: [['subscribe', 'a:kept', 1]],
      stream: { epoch: expect.stringMatching(/^[0-9a-f]{16}$/), offset: expect.any(Number) },
    });
    const at = (subscribed as { stream: { offset: number } }).stream.offset;
    const laterExp = now() + 300;
    const second = await ws.reply(ws.request({ auth: { token: await sign(claims({ exp: laterExp })) } }));
    expect(second.result).toEqual({ user: 'alice', expiresAt: laterExp * 1000 });
    // Past the first token's expiry (bounded wait): still open, still subscribed, no expiry push.
    await sleep(firstExp * 1000 - Date.now() + 1500);
    expect(ws.closeInfo).toBeNull();
    expect(ws.frames.filter((f) => f.push === 'auth')).toEqual([]);
    expect(await ws.result('GET', 'a:1')).toBe('a');
    expect(await admin.publish('a:kept', 'still here')).toBe(1);
    expect(await ws.push()).toEqual({ push: 'message', channel: 'a:kept', data: 'still here', offset: at + 1 });
  });

  it('a user without +auth can still refresh its token (AUTH skips the command check, as in Redis)', async () => {
    const ws = await openWs();
    const t1 = await sign(claims({ user: 'narrow', sub: 'narrow', exp: now() + 60 }));
    expect((await ws.reply(ws.request({ auth: { token: t1 } }))).result).toMatchObject({ user: 'narrow' });
    expect(await ws.result('GET', 'a:1')).toBe('a');
    const exp2 = now() + 120;
    const t2 = await sign(claims({ user: 'narrow', sub: 'narrow', exp: exp2 }));
    expect(await ws.reply(ws.request({ auth: { token: t2 } }))).toMatchObject({
      result: { user: 'narrow', expiresAt: exp2 * 1000 },
    });
  });

  it('a connection that never authenticates gets NOAUTH, then close 4401 after --auth-timeout', async () => {
    const ws = await openWs();
    expect((await ws.call('PING')).error).toBe(NOAUTH);
    expect((await ws.call('GET', 'a:1')).error).toBe(NOAUTH);
    const closed = await ws.closed(5000);
    expect(closed).toEqual({ code: 4401, reason: 'not authenticated within 1 seconds' });
  });
});
