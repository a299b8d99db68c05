import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpTarget, httpJson } from '../helpers/http.js';
import { freePort, makeTestCertificate, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { WsClient } from '../helpers/ws.js';

// The ACL check through the three front doors. One table of { rules, cmd, expect } cases runs, unchanged,
// through RESP (ioredis logged in as the case's user), the WebSocket gateway (an `auth` frame with username and
// password) and the HTTP API (a token from POST /auth/token, then POST / with the command; /multi-exec and
// /pipeline for the transaction and pipeline cases). Every door must give the same outcome, and a refusal the
// same NOPERM text; at the end ACL LOG must hold each refusal once per door.
// The expectations of the Redis-compatible rows were checked against redis-server 7.0; the rows marked kvws are
// kvws's own rules (FLUSHDB/FLUSHALL need write access to every key; PSUBSCRIBE is allowed when every channel
// the pattern can match is allowed). kvws-only (users, tokens, the gateway and the HTTP API).

type Outcome = 'ok' | 'command' | 'key' | 'channel';

interface Case {
  /** ACL rules of the case's user (after `on >password`). */
  rules: string;
  cmd: string[];
  expect: Outcome;
  /** For a refusal: the ACL LOG object (command full name, key or channel). Commands default to cmd[0]. */
  object?: string;
}

function c(rules: string, cmd: string[], expect: Outcome, object?: string): Case {
  return { rules, cmd, expect, object: object ?? (expect === 'command' ? cmd[0].toLowerCase() : undefined) };
}

const APP = '~app:* +@all';
const RW = '%R~r:* %W~w:* +@all';
const SEL = '~app:* +get (~w:* +set)';
const CHAT = '~* &chat:* +@all';

const CASES: Case[] = [
  // Commands by name; `-cmd` after `+@category`.
  c('~* +get', ['GET', 'app:1'], 'ok'),
  c('~* +get', ['SET', 'app:1', 'x'], 'command'),
  c('~* +get', ['DEL', 'app:1'], 'command'),
  c('~* +@all -del', ['DEL', 'app:1'], 'command'),
  c('~* +@all -del', ['UNLINK', 'app:1'], 'ok'),
  c('~* +@read -get', ['GET', 'app:1'], 'command'),
  c('~* +@read -get', ['MGET', 'app:1', 'app:2'], 'ok'),
  c('~* +@string -set', ['SET', 'app:1', 'x'], 'command'),
  c('~* +@string -set', ['SETNX', 'app:new', 'x'], 'ok'),
  // Commands flagged no_auth (AUTH, HELLO, RESET, QUIT) skip the command check, as in Redis.
  c('~* +get', ['HELLO'], 'ok'),
  // Subcommands.
  c('~* +config|get', ['CONFIG', 'GET', 'maxclients'], 'ok'),
  c('~* +config|get', ['CONFIG', 'SET', 'maxclients', '10000'], 'command', 'config|set'),
  c('~* +@all -config +config|get', ['CONFIG', 'GET', 'maxclients'], 'ok'),
  c('~* +@all -config +config|get', ['CONFIG', 'RESETSTAT'], 'command', 'config|resetstat'),
  c('~* +client|id', ['CLIENT', 'ID'], 'ok'),
  c('~* +client|id', ['CLIENT', 'LIST'], 'command', 'client|list'),
  c('~* +acl|whoami', ['ACL', 'USERS'], 'command', 'acl|users'),
  c('~* +object|encoding', ['OBJECT', 'ENCODING', 'app:1'], 'ok'),
  // Categories.
  c('~* +@read', ['GET', 'app:1'], 'ok'),
  c('~* +@read', ['HGET', 'app:h', 'f'], 'ok'),
  c('~* +@read', ['SET', 'app:1', 'x'], 'command'),
  c('~* +@write', ['SET', 'app:1', 'x'], 'ok'),
  c('~* +@write', ['GET', 'app:1'], 'command'),
  c('~* +@all -@dangerous', ['GET', 'app:1'], 'ok'),
  c('~* +@all -@dangerous', ['KEYS', '*'], 'command'),
  c('~* +@all -@dangerous', ['FLUSHDB'], 'command'),
  c('~* +@all -@dangerous', ['INFO'], 'command'),
  c('~* +@keyspace', ['DEL', 'app:2'], 'ok'),
  c('~* +@keyspace', ['TTL', 'app:1'], 'ok'),
  c('~* +@keyspace', ['GET', 'app:1'], 'command'),
  c('~* +@string', ['APPEND', 'app:1', 'x'], 'ok'),
  c('~* +@string', ['HSET', 'app:h', 'f', 'v'], 'command'),
  c('~* +@hash', ['HGETALL', 'app:h'], 'ok'),
  c('~* +@hash', ['LPUSH', 'app:list', 'x'], 'command'),
  c('~* +@list', ['LRANGE', 'app:list', '0', '-1'], 'ok'),
  c('~* +@list', ['SADD', 'app:s1', 'x'], 'command'),
  c('~* +@admin', ['CONFIG', 'GET', 'maxclients'], 'ok'),
  c('~* +@admin', ['GET', 'app:1'], 'command'),
  c('~* +@all -@admin', ['ACL', 'LIST'], 'command', 'acl|list'),
  c('~* +@all -@admin', ['ACL', 'WHOAMI'], 'ok'),
  // First argument.
  c('~* +select|0', ['SELECT', '0'], 'ok'),
  c('~* +select|0', ['SELECT', '1'], 'command'),
  // Keys by pattern; read or write as the command table's key specs say.
  c(APP, ['GET', 'app:1'], 'ok'),
  c(APP, ['GET', 'other'], 'key', 'other'),
  c(APP, ['SET', 'other', 'x'], 'key', 'other'),
  c(APP, ['DEL', 'app:1', 'other'], 'key', 'other'),
  c(APP, ['MSET', 'app:1', 'a', 'app:2', 'b'], 'ok'),
  c(APP, ['MSET', 'app:1', 'a', 'other', 'b'], 'key', 'other'),
  c(APP, ['MGET', 'app:1', 'other'], 'key', 'other'),
  c(APP, ['EXISTS', 'app:1', 'other'], 'key', 'other'),
  c(APP, ['RENAME', 'app:1', 'app:9'], 'ok'),
  c(APP, ['RENAME', 'app:1', 'other:9'], 'key', 'other:9'),
  c(APP, ['COPY', 'app:1', 'other:c'], 'key', 'other:c'),
  c(APP, ['SINTERSTORE', 'app:d', 'app:s1', 'app:s2'], 'ok'),
  c(APP, ['SINTERSTORE', 'other:d', 'app:s1', 'app:s2'], 'key', 'other:d'),
  c(APP, ['SINTERSTORE', 'app:d', 'app:s1', 'other:s'], 'key', 'other:s'),
  c(APP, ['LMOVE', 'app:list', 'app:list2', 'LEFT', 'RIGHT'], 'ok'),
  c(APP, ['LMOVE', 'app:list', 'other:list', 'LEFT', 'RIGHT'], 'key', 'other:list'),
  c(APP, ['ZUNIONSTORE', 'app:zd', '2', 'app:z1', 'app:z2'], 'ok'),
  c(APP, ['ZUNIONSTORE', 'app:zd', '2', 'app:z1', 'other:z'], 'key', 'other:z'),
  // kvws: FLUSHDB/FLUSHALL need write access to every key (Redis lets any key pattern flush).
  c(APP, ['FLUSHDB'], 'key', '*'),
  c(APP, ['FLUSHALL'], 'key', '*'),
  c('%W~* +flushdb +flushall', ['FLUSHDB'], 'ok'),
  c('%W~* +flushdb +flushall', ['FLUSHALL'], 'ok'),
  c('%R~* +flushdb', ['FLUSHDB'], 'key', '*'),
  // %R~ and %W~: each key needs one pattern granting all it needs.
  c(RW, ['GET', 'r:1'], 'ok'),
  c(RW, ['GET', 'w:1'], 'key', 'w:1'),
  c(RW, ['SET', 'r:1', 'x'], 'key', 'r:1'),
  c(RW, ['SET', 'w:1', 'x'], 'ok'), // SET without GET only writes (Redis's variable key-spec flags)
  c(RW, ['EXISTS', 'w:1'], 'ok'), // EXISTS neither reads nor writes the value: any pattern will do
  c(RW, ['COPY', 'r:1', 'w:2'], 'ok'),
  c(RW, ['COPY', 'w:1', 'r:2'], 'key', 'w:1'),
  c(RW, ['RENAME', 'w:1', 'w:2'], 'key', 'w:1'),
  c('%R~* %W~w:* +@all', ['SINTERSTORE', 'w:d', 'app:s1', 'app:s2'], 'ok'),
  c('%R~* %W~w:* +@all', ['SINTERSTORE', 'app:d', 'w:s'], 'key', 'app:d'),
  // Selectors: one selector must allow the whole command; the highest-ranked refusal is reported, and
  // among equal ones the one about the later argument (Redis's ACLCheckAllUserCommandPerm).
  c(SEL, ['GET', 'app:1'], 'ok'),
  c(SEL, ['SET', 'w:1', 'x'], 'ok'),
  c(SEL, ['SET', 'app:1', 'x'], 'key', 'app:1'),
  c(SEL, ['DEL', 'w:1'], 'command'),
  c('(~a:* +@all) (~b:* +@all)', ['MGET', 'a:1', 'a:2'], 'ok'),
  c('(~a:* +@all) (~b:* +@all)', ['MGET', 'b:1', 'b:2'], 'ok'),
  c('(~b:* +@all) (~a:* +@all)', ['MGET', 'a:1', 'b:1'], 'key', 'b:1'),
  // Channels.
  c(CHAT, ['PUBLISH', 'chat:1', 'hi'], 'ok'),
  c(CHAT, ['PUBLISH', 'news', 'hi'], 'channel', 'news'),
  c(CHAT, ['SUBSCRIBE', 'chat:1'], 'ok'),
  c(CHAT, ['SUBSCRIBE', 'chat:1', 'news'], 'channel', 'news'),
  c(CHAT, ['PSUBSCRIBE', 'chat:*'], 'ok'),
  c(CHAT, ['PSUBSCRIBE', 'chat:room?'], 'ok'), // kvws: every channel it matches is allowed
  c(CHAT, ['PSUBSCRIBE', 'chat:[ab]*'], 'ok'), // kvws
  c(CHAT, ['PSUBSCRIBE', 'chat*'], 'channel', 'chat*'),
  c(CHAT, ['PSUBSCRIBE', '*'], 'channel', '*'),
  c('~* resetchannels +@all', ['PUBLISH', 'chat:1', 'hi'], 'channel', 'chat:1'),
  c(`${CHAT} -publish`, ['PUBLISH', 'chat:1', 'hi'], 'command'),
];

/** The NOPERM text of a refusal, as Redis 7 words it. */
function noperm(k: Case): string {
  if (k.expect === 'command') return `NOPERM this user has no permissions to run the '${k.object}' command`;
  if (k.expect === 'key') return 'NOPERM this user has no permissions to access one of the keys used as arguments';
  return 'NOPERM this user has no permissions to access one of the channels used as arguments';
}

/** What a door answered: the result, or the error text. */
type Answer = { result: unknown } | { error: string };

interface Door {
  name: 'resp' | 'ws' | 'http';
  run(user: string, argv: string[]): Promise<Answer>;
  close(): void;
}

let certDir = '';
let ca: Buffer;
let server: RunningServer;
let admin: Redis;
let agent: https.Agent;
/** The server's HTTP API, over TLS with `agent`. */
let api: HttpTarget;
/** rules → user name; every user's password is `pw-<name>`. */
const users = new Map<string, string>();
const doors: Door[] = [];

/**
 * An ioredis connection logged in as `user` at connect. No ready check (INFO) and no CLIENT SETINFO, which
 * restricted users may not run: they would add refusals to ACL LOG.
 */
function userClient(user: string): Redis {
  const r = redisClient(server, {
    username: user,
    password: `pw-${user}`,
    enableReadyCheck: false,
    disableClientInfo: true,
  });
  r.on('error', () => {});
  return r;
}

/** RESP: one ioredis connection per user, logged in with username and password at connect. */
function respDoor(): Door {
  const conns = new Map<string, Redis>();
  const conn = (user: string) => {
    let r = conns.get(user);
    if (!r) {
      r = userClient(user);
      conns.set(user, r);
    }
    return r;
  };
  return {
    name: 'resp',
    async run(user, argv) {
      const r = conn(user);
      try {
        const name = argv[0].toUpperCase();
        // Through ioredis's own methods, which track subscriber mode; unsubscribed again after success.
        if (name === 'SUBSCRIBE') {
          const n = await r.subscribe(...argv.slice(1));
          await r.unsubscribe();
          return { result: n };
        }
        if (name === 'PSUBSCRIBE') {
          const n = await r.psubscribe(...argv.slice(1));
          await r.punsubscribe();
          return { result: n };
        }
        return { result: await r.call(argv[0], ...argv.slice(1)) };
      } catch (e) {
        return { error: (e as Error).message };
      }
    },
    close() {
      for (const r of conns.values()) r.disconnect();
    },
  };
}

/** WebSocket: one connection per user, logged in with an `auth` frame (username and password). */
function wsDoor(): Door {
  const conns = new Map<string, Promise<WsClient>>();
  const open = async (user: string) => {
    const ws = await WsClient.open(wsUrl(server), { ca });
    const auth = await ws.reply(ws.request({ auth: { username: user, password: `pw-${user}` } }));
    expect(auth.error, `WebSocket login of ${user}`).toBeUndefined();
    expect(auth.result).toEqual({ user, expiresAt: null });
    return ws;
  };
  return {
    name: 'ws',
    async run(user, argv) {
      let p = conns.get(user);
      if (!p) {
        p = open(user);
        conns.set(user, p);
      }
      const ws = await p;
      const f = await ws.call(...argv);
      if (f.error !== undefined) return { error: f.error };
      const name = argv[0].toUpperCase();
      if (name === 'SUBSCRIBE' || name === 'PSUBSCRIBE') {
        const undo = await ws.call(name === 'SUBSCRIBE' ? 'UNSUBSCRIBE' : 'PUNSUBSCRIBE');
        expect(undo.error).toBeUndefined();
      }
      return { result: f.result };
    },
    close() {
      for (const p of conns.values()) p.then((ws) => ws.close()).catch(() => {});
    },
  };
}

/**
 * Commands the HTTP API refuses whoever asks (each request is its own session, with no pushes): the answer
 * is `ERR <NAME> is not supported by the HTTP API: …` before any ACL check, so those rows expect that there.
 */
const NOT_OVER_HTTP = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'HELLO']);
const NOT_OVER_HTTP_ANSWER = 'not supported by the HTTP API';

/** The bearer token of each user, from POST /auth/token (one password login per user). */
const tokens = new Map<string, Promise<string>>();
function tokenOf(user: string): Promise<string> {
  let p = tokens.get(user);
  if (!p) {
    p = (async () => {
      const res = await httpJson(api, 'POST', '/auth/token', { username: user, password: `pw-${user}` });
      expect(res.status, `POST /auth/token for ${user}: ${res.text}`).toBe(200);
      const body = res.json as { token: string; user: string; tokenType: string; expiresAt: number };
      expect(body).toMatchObject({ user, tokenType: 'Bearer' });
      expect(body.expiresAt).toBeGreaterThan(Date.now());
      return body.token;
    })();
    tokens.set(user, p);
  }
  return p;
}

/** HTTP API: one token per user from POST /auth/token, then each command as POST / with the bearer token. */
function httpDoor(): Door {
  return {
    name: 'http',
    async run(user, argv) {
      const token = await tokenOf(user);
      const res = await httpJson(api, 'POST', '/', argv, { authorization: `Bearer ${token}` });
      const body = res.json as { result?: unknown; error?: string } | undefined;
      if (res.status === 200 && body && 'result' in body) return { result: body.result };
      if (res.status === 400 && typeof body?.error === 'string') return { error: body.error };
      return { error: `unexpected HTTP answer ${res.status}: ${res.text}` };
    },
    close() {},
  };
}

/** Puts the fixture keys back (the default user, which may do anything): each door run starts from them. */
async function seed(): Promise<void> {
  const m = admin.multi();
  m.flushall();
  m.mset('app:1', 'v1', 'app:2', 'v2', 'other', 'o', 'r:1', 'r', 'w:1', 'w', 'a:1', 'a', 'a:2', 'a', 'b:1', 'b');
  m.mset('b:2', 'b');
  m.hset('app:h', 'f', 'v');
  m.rpush('app:list', 'a', 'b');
  m.rpush('other:list', 'o');
  m.sadd('app:s1', 'a', 'b');
  m.sadd('app:s2', 'b', 'c');
  m.sadd('other:s', 'x');
  m.sadd('w:s', 'q');
  m.zadd('app:z1', 1, 'a');
  m.zadd('app:z2', 2, 'b');
  m.zadd('other:z', 3, 'c');
  const replies = (await m.exec()) ?? [];
  for (const [err] of replies) expect(err).toBeNull();
}

/** ACL LOG as `user|reason|object|context` → summed count, for the table's users. */
async function aclLog(): Promise<Record<string, number>> {
  const entries = (await admin.call('ACL', 'LOG', '100000')) as string[][];
  const names = new Set(users.values());
  const out: Record<string, number> = {};
  for (const flat of entries) {
    const e: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) e[flat[i]] = String(flat[i + 1]);
    if (!names.has(e.username)) continue;
    const k = `${e.username}|${e.reason}|${e.object}|${e.context}`;
    out[k] = (out[k] ?? 0) + Number(e.count);
  }
  return out;
}

/** ACL LOG entries the tests expect, built up as they run (same key format as aclLog). */
const expectedLog: Record<string, number> = {};
function expectLogged(user: string, reason: string, object: string, context: string): void {
  const k = `${user}|${reason}|${object}|${context}`;
  expectedLog[k] = (expectedLog[k] ?? 0) + 1;
}

async function createUser(rules: string): Promise<string> {
  let name = users.get(rules);
  if (name) return name;
  name = `u${users.size + 1}`;
  users.set(rules, name);
  const r = await admin.call('ACL', 'SETUSER', name, 'reset', 'on', `>pw-${name}`, ...rules.split(' '));
  expect(r).toBe('OK');
  return name;
}

beforeAll(async () => {
  certDir = mkdtempSync(path.join(tmpdir(), 'kvws-acl-table-'));
  const cert = makeTestCertificate(certDir);
  ca = readFileSync(cert.ca);
  agent = new https.Agent({ ca, keepAlive: true });
  server = await startKvws(['--port', String(await freePort()), '--tls-cert', cert.cert, '--tls-key', cert.key]);
  api = { port: server.httpsPort, agent };
  admin = redisClient(server);
  admin.on('error', () => {});
  for (const k of CASES) await createUser(k.rules);
  await createUser(APP); // MULTI and pipeline below
  await admin.call('ACL', 'LOG', 'RESET');
  doors.push(respDoor(), wsDoor(), httpDoor());
});

afterAll(async () => {
  for (const d of doors) d.close();
  admin?.disconnect();
  agent?.destroy();
  await server?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('the ACL table through RESP, WebSocket and HTTP', () => {
  it('has at least 60 cases, allowed and refused of every kind', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    for (const kind of ['ok', 'command', 'key', 'channel'] as const) {
      expect(CASES.filter((k) => k.expect === kind).length).toBeGreaterThanOrEqual(5);
    }
  });

  it.each(CASES.map((k) => [`${k.rules} | ${k.cmd.join(' ')} → ${k.expect}`, k] as const))('%s', async (_n, k) => {
    const user = users.get(k.rules) as string;
    const got: Record<string, string> = {};
    for (const door of doors) {
      await seed();
      const a = await door.run(user, k.cmd);
      got[door.name] = 'error' in a ? a.error : 'ok';
    }
    const want = k.expect === 'ok' ? 'ok' : noperm(k);
    const name = k.cmd[0].toUpperCase();
    const byDesign = NOT_OVER_HTTP.has(name);
    if (byDesign && got.http.startsWith(`ERR ${name} is ${NOT_OVER_HTTP_ANSWER}: `)) got.http = NOT_OVER_HTTP_ANSWER;
    if (k.expect !== 'ok') {
      for (let i = byDesign ? 1 : 0; i < 3; i++) expectLogged(user, k.expect, k.object as string, 'toplevel');
    }
    expect(got).toEqual({ resp: want, ws: want, http: byDesign ? NOT_OVER_HTTP_ANSWER : want });
  });

  it('MULTI with a refused command: the command is refused when queued and EXEC aborts', async () => {
    const user = users.get(APP) as string;
    const refused = noperm(c(APP, ['GET', 'other'], 'key'));
    const abort = 'EXECABORT Transaction discarded because of previous errors.';
    // RESP: MULTI, a queued SET, the refused GET, EXEC.
    await seed();
    const resp = doors[0];
    expect(await resp.run(user, ['MULTI'])).toEqual({ result: 'OK' });
    expect(await resp.run(user, ['SET', 'app:1', 'changed'])).toEqual({ result: 'QUEUED' });
    expect(await resp.run(user, ['GET', 'other'])).toEqual({ error: refused });
    expect(await resp.run(user, ['EXEC'])).toEqual({ error: abort });
    expect(await admin.get('app:1')).toBe('v1');
    expectLogged(user, 'key', 'other', 'multi');
    // WebSocket: a multi frame.
    await seed();
    const ws = await WsClient.open(wsUrl(server), { ca });
    try {
      const auth = await ws.reply(ws.request({ auth: { username: user, password: `pw-${user}` } }));
      expect(auth.result).toEqual({ user, expiresAt: null });
      const id = ws.request({
        multi: [
          ['SET', 'app:1', 'changed'],
          ['GET', 'other'],
        ],
      });
      expect(await ws.reply(id)).toEqual({ id, error: `${abort} (multi[1]: ${refused})` });
    } finally {
      ws.close();
    }
    expect(await admin.get('app:1')).toBe('v1');
    expectLogged(user, 'key', 'other', 'multi');
    // HTTP: POST /multi-exec.
    await seed();
    const res = await httpJson(
      api,
      'POST',
      '/multi-exec',
      [
        ['SET', 'app:1', 'changed'],
        ['GET', 'other'],
      ],
      {
        authorization: `Bearer ${await tokenOf(user)}`,
      },
    );
    expect({ status: res.status, body: res.json }).toEqual({
      status: 400,
      body: { error: `${abort} ([1]: ${refused})` },
    });
    expect(await admin.get('app:1')).toBe('v1');
    expectLogged(user, 'key', 'other', 'multi');
  });

  it('a refused command inside a pipeline: only that entry errors', async () => {
    const user = users.get(APP) as string;
    const refused = noperm(c(APP, ['SET', 'other', 'x'], 'key'));
    const cmds = [
      ['SET', 'app:1', 'p'],
      ['SET', 'other', 'p'],
      ['GET', 'app:1'],
    ];
    const want = [{ result: 'OK' }, { error: refused }, { result: 'p' }];
    // RESP: one ioredis pipeline (one write).
    await seed();
    const r = userClient(user);
    try {
      const p = r.pipeline();
      for (const argv of cmds) p.call(argv[0], ...argv.slice(1));
      const replies = (await p.exec()) ?? [];
      expect(replies.map(([e, v]) => (e ? { error: e.message } : { result: v }))).toEqual(want);
    } finally {
      r.disconnect();
    }
    expect(await admin.get('other')).toBe('o');
    // WebSocket: a pipeline frame.
    await seed();
    const ws = await WsClient.open(wsUrl(server), { ca });
    try {
      const auth = await ws.reply(ws.request({ auth: { username: user, password: `pw-${user}` } }));
      expect(auth.result).toEqual({ user, expiresAt: null });
      const id = ws.request({ pipeline: cmds });
      expect(await ws.reply(id)).toEqual({ id, result: want });
    } finally {
      ws.close();
    }
    expect(await admin.get('other')).toBe('o');
    // HTTP: POST /pipeline.
    await seed();
    const res = await httpJson(api, 'POST', '/pipeline', cmds, { authorization: `Bearer ${await tokenOf(user)}` });
    expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: want });
    expect(await admin.get('other')).toBe('o');
    for (let i = 0; i < 3; i++) expectLogged(user, 'key', 'other', 'toplevel');
  });

  it('ACL LOG holds every refusal once per door, with its reason, object and context', async () => {
    expect(Object.keys(expectedLog).length).toBeGreaterThan(20);
    expect(await aclLog()).toEqual(expectedLog);
  });
});
