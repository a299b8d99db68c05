import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { type CryptoKey, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpTarget, httpJson } from '../helpers/http.js';
import { writeTestKeysFile } from '../helpers/jwt-keys.js';
import { freePort, makeTestCertificate, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { type Frame, WsClient } from '../helpers/ws.js';

// No key-name leaks (issue 4): a user restricted to some keys sees no other key's name, through any door.
// Two users on disjoint prefixes (a:*, b:*) and keys under a third (c:*): KEYS, SCAN (every page, MATCH,
// TYPE), RANDOMKEY, DBSIZE and PUBSUB CHANNELS over RESP, WebSocket and HTTP show only the caller's keys;
// keyspace notifications reach a subscriber only for keys it may read, over RESP and WebSocket, expiries
// included. Then JWT claim templates: one user `browser` whose patterns hold `{sub}`, and tokens for two
// subjects (signed here with jose, with the key of the keys file the server is given) that each see only
// their own session keys; a subject of `*` widens nothing. kvws-only.

const PREFIXES = ['a', 'b', 'c'] as const;
/** The user of each restricted prefix (c has none: only the default user writes there). */
const USERS = { a: 'ua', b: 'ub' } as const;
type Owner = keyof typeof USERS;
const RULES = (p: string) => `~${p}:* &${p}:* &__key*@0__:* +@all -@dangerous +keys`;
const STRINGS = 25;
const HASHES = 5;
const LISTS = 5;

/** The fixture keys of a prefix: strings, hashes and lists. */
function keysOf(p: string): { all: string[]; strings: string[]; hashes: string[] } {
  const strings = Array.from({ length: STRINGS }, (_, i) => `${p}:str:${i}`);
  const hashes = Array.from({ length: HASHES }, (_, i) => `${p}:hash:${i}`);
  const lists = Array.from({ length: LISTS }, (_, i) => `${p}:list:${i}`);
  return { all: [...strings, ...hashes, ...lists].sort(), strings, hashes };
}

let certDir = '';
let ca: Buffer;
let server: RunningServer;
let admin: Redis;
let agent: https.Agent;
/** The server's HTTP API, over TLS with `agent`. */
let api: HttpTarget;
let signer: { kid: string; key: CryptoKey };
const closers: (() => void)[] = [];

/** Credentials: a password login or a token. */
type Login = { username: string; password: string } | { token: string };

/** One logged-in session through one door: `call` resolves with the result or throws the error text. */
interface Session {
  door: 'resp' | 'ws' | 'http';
  call(...argv: string[]): Promise<unknown>;
}

/** An ioredis connection logged in at connect (no ready check, no CLIENT SETINFO: restricted users may not). */
function respClient(login: Login): Redis {
  const r = redisClient(server, {
    ...('token' in login ? { password: login.token } : login),
    enableReadyCheck: false,
    disableClientInfo: true,
  });
  r.on('error', () => {});
  closers.push(() => r.disconnect());
  return r;
}

async function wsClient(login: Login): Promise<WsClient> {
  const ws = await WsClient.open(wsUrl(server), { ca });
  closers.push(() => ws.close());
  const f = await ws.reply(ws.request({ auth: login }));
  expect(f.error, 'WebSocket auth frame').toBeUndefined();
  return ws;
}

/** The same login through RESP, WebSocket and HTTP (a password login gets its token from POST /auth/token). */
async function sessions(login: Login): Promise<Session[]> {
  const r = respClient(login);
  const ws = await wsClient(login);
  let token: string;
  if ('token' in login) {
    token = login.token;
  } else {
    const res = await httpJson(api, 'POST', '/auth/token', login);
    expect(res.status, res.text).toBe(200);
    token = (res.json as { token: string }).token;
  }
  return [
    { door: 'resp', call: (...argv) => r.call(argv[0], ...argv.slice(1)) },
    {
      door: 'ws',
      call: async (...argv) => {
        const f = await ws.call(...argv);
        if (f.error !== undefined) throw new Error(f.error);
        return f.result;
      },
    },
    {
      door: 'http',
      call: async (...argv) => {
        const res = await httpJson(api, 'POST', '/', argv, { authorization: `Bearer ${token}` });
        const body = res.json as { result?: unknown; error?: string };
        if (res.status === 200 && body && 'result' in body) return body.result;
        throw new Error(body?.error ?? `HTTP ${res.status}: ${res.text}`);
      },
    },
  ];
}

/** Every key SCAN returns, following the cursor to the end (COUNT 7, so there are many pages). */
async function scanAll(s: Session, ...opts: string[]): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  let pages = 0;
  do {
    const [next, keys] = (await s.call('SCAN', cursor, 'COUNT', '7', ...opts)) as [string | number, string[]];
    out.push(...keys);
    cursor = String(next);
    pages++;
    expect(pages, 'SCAN did not finish within 1000 pages').toBeLessThan(1000);
  } while (cursor !== '0');
  return [...new Set(out)].sort();
}

/** The error text `p` rejects with ('' when it resolves). */
async function errorOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => '',
    (e: Error) => e.message,
  );
}

const NOPERM_KEY = 'NOPERM this user has no permissions to access one of the keys used as arguments';
const NOPERM_CHANNEL = 'NOPERM this user has no permissions to access one of the channels used as arguments';

async function seed(): Promise<void> {
  // FLUSHALL on its own: the Redis engine cannot queue it in a transaction (docs/scaling.md).
  await admin.flushall();
  const m = admin.multi();
  for (const p of PREFIXES) {
    const k = keysOf(p);
    for (const s of k.strings) m.set(s, 'v');
    for (const h of k.hashes) m.hset(h, 'f', 'v');
    for (let i = 0; i < LISTS; i++) m.rpush(`${p}:list:${i}`, 'x');
  }
  for (const [err] of (await m.exec()) ?? []) expect(err).toBeNull();
}

beforeAll(async () => {
  certDir = mkdtempSync(path.join(tmpdir(), 'kvws-leaks-'));
  const cert = makeTestCertificate(certDir);
  ca = readFileSync(cert.ca);
  agent = new https.Agent({ ca, keepAlive: true });
  // kvws's keys file, made here so the test can sign tokens as kvws does (`kvws token issue`).
  const made = await writeTestKeysFile(certDir, 'leaks-test-key');
  const keysFile = made.keysFile;
  signer = made;
  server = await startKvws([
    ...['--port', String(await freePort()), '--tls-cert', cert.cert, '--tls-key', cert.key],
    ...['--jwt-keys-file', keysFile],
  ]);
  api = { port: server.httpsPort, agent };
  admin = redisClient(server);
  admin.on('error', () => {});
  for (const [p, user] of Object.entries(USERS)) {
    expect(await admin.call('ACL', 'SETUSER', user, 'on', `>pw-${user}`, ...RULES(p).split(' '))).toBe('OK');
  }
  await seed();
});

afterAll(async () => {
  for (const close of closers) close();
  admin?.disconnect();
  agent?.destroy();
  await server?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('key names a user may not read never show', () => {
  const doors: Record<Owner, Session[]> = { a: [], b: [] };
  beforeAll(async () => {
    for (const p of ['a', 'b'] as const) {
      doors[p] = await sessions({ username: USERS[p], password: `pw-${USERS[p]}` });
    }
  });

  it.each(['a', 'b'] as const)('KEYS * and KEYS with a pattern show only %s:* (every door)', async (p) => {
    const other = p === 'a' ? 'b' : 'a';
    for (const s of doors[p]) {
      expect(((await s.call('KEYS', '*')) as string[]).sort(), s.door).toEqual(keysOf(p).all);
      expect(((await s.call('KEYS', '*:hash:*')) as string[]).sort(), s.door).toEqual(keysOf(p).hashes.sort());
      expect(await s.call('KEYS', `${other}:*`), s.door).toEqual([]);
      expect(await s.call('KEYS', 'c:*'), s.door).toEqual([]);
    }
    // The default user sees all three prefixes.
    expect(((await admin.keys('*')) as string[]).length).toBe(3 * (STRINGS + HASHES + LISTS));
  });

  it.each(['a', 'b'] as const)('SCAN, every page, with MATCH and TYPE, shows only %s:* (every door)', async (p) => {
    const other = p === 'a' ? 'b' : 'a';
    for (const s of doors[p]) {
      expect(await scanAll(s), s.door).toEqual(keysOf(p).all);
      expect(await scanAll(s, 'MATCH', '*:str:*'), s.door).toEqual(keysOf(p).strings.sort());
      expect(await scanAll(s, 'TYPE', 'hash'), s.door).toEqual(keysOf(p).hashes.sort());
      expect(await scanAll(s, 'MATCH', `${other}:*`), s.door).toEqual([]);
      expect(await scanAll(s, 'MATCH', 'c:*', 'TYPE', 'string'), s.door).toEqual([]);
    }
  });

  it.each(['a', 'b'] as const)('RANDOMKEY, 100 times per door, picks only %s:* keys', async (p) => {
    const own = new Set(keysOf(p).all);
    for (const s of doors[p]) {
      const picked = new Set<string>();
      for (let i = 0; i < 100; i++) picked.add((await s.call('RANDOMKEY')) as string);
      expect(
        [...picked].filter((k) => !own.has(k)),
        s.door,
      ).toEqual([]);
    }
  });

  it.each(['a', 'b'] as const)('DBSIZE counts only %s:* keys (every door)', async (p) => {
    for (const s of doors[p]) expect(await s.call('DBSIZE'), s.door).toBe(keysOf(p).all.length);
    expect(await admin.dbsize()).toBe(3 * keysOf(p).all.length);
  });

  it('PUBSUB CHANNELS shows only channels the caller may use, and no keyspace channel of a key it may not read', async () => {
    const sub = redisClient(server);
    sub.on('error', () => {});
    try {
      const channels = PREFIXES.flatMap((p) => [`${p}:news`, `__keyspace@0__:${p}:str:0`]);
      await sub.subscribe(...channels, '__keyevent@0__:set');
      for (const p of ['a', 'b'] as const) {
        for (const s of doors[p]) {
          expect(((await s.call('PUBSUB', 'CHANNELS')) as string[]).sort(), s.door).toEqual(
            [`${p}:news`, `__keyspace@0__:${p}:str:0`, '__keyevent@0__:set'].sort(),
          );
          expect(await s.call('PUBSUB', 'CHANNELS', '__keyspace*'), s.door).toEqual([`__keyspace@0__:${p}:str:0`]);
        }
      }
      expect(((await admin.pubsub('CHANNELS')) as string[]).length).toBe(7);
    } finally {
      sub.disconnect();
    }
  });
});

describe('keyspace notifications reach only subscribers that may read the key', () => {
  /** A subscriber's deliveries as `<channel> <data>` (keyspace: data is the event; keyevent: the key). */
  interface Listener {
    name: string;
    events: string[];
  }

  it('over RESP and WebSocket, for writes and expiries', async () => {
    await seed();
    expect(await admin.config('SET', 'notify-keyspace-events', 'KEA')).toBe('OK');
    const listeners: Record<Owner, Listener[]> = { a: [], b: [] };
    try {
      for (const p of ['a', 'b'] as const) {
        const login = { username: USERS[p], password: `pw-${USERS[p]}` };
        // RESP: an ioredis subscriber.
        const r = respClient(login);
        const viaResp: Listener = { name: `${p} over RESP`, events: [] };
        r.on('pmessage', (_pattern: string, channel: string, data: string) =>
          viaResp.events.push(`${channel} ${data}`),
        );
        r.on('message', (channel: string, data: string) => viaResp.events.push(`${channel} ${data}`));
        expect(await r.psubscribe('__keyspace@0__:*')).toBe(1);
        expect(await r.subscribe('__keyevent@0__:set', '__keyevent@0__:expired')).toBe(3);
        // WebSocket: the same subscriptions; deliveries are push frames.
        const ws = await wsClient(login);
        const viaWs: Listener = { name: `${p} over WebSocket`, events: [] };
        ws.ws.on('message', (d) => {
          const f = JSON.parse(String(d)) as Frame;
          if (f.push === 'pmessage' || f.push === 'message') viaWs.events.push(`${f.channel} ${f.data}`);
        });
        expect(await ws.result('PSUBSCRIBE', '__keyspace@0__:*')).toEqual([['psubscribe', '__keyspace@0__:*', 1]]);
        expect(await ws.result('SUBSCRIBE', '__keyevent@0__:set', '__keyevent@0__:expired')).toEqual([
          ['subscribe', '__keyevent@0__:set', 2],
          ['subscribe', '__keyevent@0__:expired', 3],
        ]);
        listeners[p].push(viaResp, viaWs);
      }
      // The third prefix first, and its key expires first: a leak would arrive before the awaited events.
      await admin.set('c:n:1', 'v');
      await admin.set('c:e', 'v', 'PX', 200);
      await admin.set('b:n:1', 'v');
      await admin.set('a:n:1', 'v');
      await admin.set('b:e', 'v', 'PX', 300);
      await admin.set('a:e', 'v', 'PX', 300);
      for (const p of ['a', 'b'] as const) {
        for (const l of listeners[p]) {
          const done = await waitFor(() => l.events.includes(`__keyevent@0__:expired ${p}:e`), 5000);
          expect(done, `${l.name}: no expired event for ${p}:e within 5 s; got ${JSON.stringify(l.events)}`).toBe(true);
          expect([...l.events].sort(), l.name).toEqual(
            [
              `__keyspace@0__:${p}:n:1 set`,
              `__keyevent@0__:set ${p}:n:1`,
              `__keyspace@0__:${p}:e set`,
              `__keyevent@0__:set ${p}:e`,
              `__keyspace@0__:${p}:e expire`,
              `__keyspace@0__:${p}:e expired`,
              `__keyevent@0__:expired ${p}:e`,
            ].sort(),
          );
        }
      }
    } finally {
      await admin.config('SET', 'notify-keyspace-events', '');
    }
  });
});

describe('token claim templates: ~session:{sub}:*', () => {
  const BROWSER_RULES = '~session:{sub}:* &__keyspace@0__:session:{sub}:* +@all -@dangerous';

  /** A kvws token for `browser` with subject `sub`, signed with the server's key (as `kvws token issue`). */
  function mint(sub: string): Promise<string> {
    return new SignJWT({ user: 'browser', sub })
      .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' })
      .setIssuer('kvws')
      .setAudience('kvws')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(signer.key);
  }

  beforeAll(async () => {
    expect(await admin.call('ACL', 'SETUSER', 'browser', 'on', ...BROWSER_RULES.split(' '))).toBe('OK');
    await admin.flushall();
    await admin.mset('session:u1:a', '1', 'session:u1:b', '1', 'session:u2:a', '2', 'session:*:k', 's', 'other', 'o');
  });

  it.each([
    ['u1', ['session:u1:a', 'session:u1:b'], 'session:u2:a'],
    ['u2', ['session:u2:a'], 'session:u1:a'],
    ['*', ['session:*:k'], 'session:u1:a'],
  ] as const)('sub %s sees only its own session keys (every door)', async (sub, own, foreign) => {
    for (const s of await sessions({ token: await mint(sub) })) {
      expect(await scanAll(s), s.door).toEqual([...own]);
      expect(await s.call('DBSIZE'), s.door).toBe(own.length);
      expect(await s.call('GET', own[0]), s.door).not.toBeNull();
      expect(await errorOf(s.call('GET', foreign)), s.door).toBe(NOPERM_KEY);
      expect(await errorOf(s.call('SET', 'session:u3:x', 'v')), s.door).toBe(NOPERM_KEY);
      expect(await errorOf(s.call('ACL', 'WHOAMI')), s.door).toBe('');
    }
  });

  it('keyspace events of the token subject only; a sub of * may not subscribe to every session', async () => {
    await admin.config('SET', 'notify-keyspace-events', 'KA');
    try {
      const stream = { epoch: expect.stringMatching(/^[0-9a-f]{16}$/), offset: expect.any(Number) };
      const u1 = await wsClient({ token: await mint('u1') });
      expect((await u1.call('PSUBSCRIBE', '__keyspace@0__:session:*')).error).toBe(NOPERM_CHANNEL);
      expect(await u1.call('PSUBSCRIBE', '__keyspace@0__:session:u1:*')).toEqual({
        id: expect.any(Number),
        result: [['psubscribe', '__keyspace@0__:session:u1:*', 1]],
        stream,
      });
      const star = await wsClient({ token: await mint('*') });
      expect((await star.call('PSUBSCRIBE', '__keyspace@0__:session:*:*')).error).toBe(NOPERM_CHANNEL);
      expect((await star.call('SUBSCRIBE', '__keyspace@0__:session:u1:a')).error).toBe(NOPERM_CHANNEL);
      // The escaped pattern is the one the template produced: it matches only the literal `*` subject.
      const starSub = await star.call('PSUBSCRIBE', '__keyspace@0__:session:\\*:*');
      expect(starSub).toEqual({
        id: expect.any(Number),
        result: [['psubscribe', '__keyspace@0__:session:\\*:*', 1]],
        stream,
      });
      // "KA": one keyspace event (one offset) per SET below, whoever may read it.
      const at = (starSub as Frame & { stream: { offset: number } }).stream.offset;
      await admin.set('session:u2:x', 'v');
      await admin.set('session:u1:x', 'v');
      await admin.set('session:*:x', 'v');
      expect(await u1.push()).toEqual({
        push: 'pmessage',
        pattern: '__keyspace@0__:session:u1:*',
        channel: '__keyspace@0__:session:u1:x',
        data: 'set',
        offset: at + 2,
      });
      expect(await star.push()).toEqual({
        push: 'pmessage',
        pattern: '__keyspace@0__:session:\\*:*',
        channel: '__keyspace@0__:session:*:x',
        data: 'set',
        offset: at + 3,
      });
      // Nothing else arrived first or since (a marker on each subject's own key closes the window).
      await admin.set('session:u1:end', 'v');
      await admin.set('session:*:end', 'v');
      expect((await u1.push()).channel).toBe('__keyspace@0__:session:u1:end');
      expect((await star.push()).channel).toBe('__keyspace@0__:session:*:end');
      expect(u1.frames.filter((f) => f.push)).toEqual([]);
      expect(star.frames.filter((f) => f.push)).toEqual([]);
    } finally {
      await admin.config('SET', 'notify-keyspace-events', '');
    }
  });
});
