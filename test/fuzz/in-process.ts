import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { Acl } from '../../server/src/auth/acl.js';
import { JWT_DEFAULTS, TokenService } from '../../server/src/auth/jwt.js';
import { type ServerOptions, ServerOptionsSchema } from '../../server/src/config.js';
import { Client } from '../../server/src/engine/client.js';
import { Engine } from '../../server/src/engine/engine.js';
import { HttpApi } from '../../server/src/net/http-api.js';
import { HttpsServer } from '../../server/src/net/https-server.js';
import { WsGateway } from '../../server/src/net/ws-gateway.js';
import { ADMIN_PASSWORD } from './harness.js';

/**
 * The server's own code in the test process, for the properties that need 100,000 inputs: an Engine (and,
 * for the WebSocket and HTTP front doors, the real HttpsServer with the WsGateway and HttpApi routes on a
 * loopback port), with the users of a users file.
 *
 * One substitution: password hashing. argon2id costs tens of milliseconds on purpose; here `hash`, `verifyAny`
 * and `findHash` are a SHA-256 in argon2id's PHC form, so logins answer at once (the rule parser still sees
 * well-formed hashes). The real-socket suites run real argon2id.
 */

const b64 = (s: string) => createHash('sha256').update(s, 'latin1').digest('base64').replace(/=+$/, '');

/** A fake argon2id PHC string for `password` (deterministic, accepted by the `#hash` rule). */
export function fakeHash(password: string): string {
  return `$argon2id$v=19$m=19456,t=2,p=1$${b64(`salt${password}`).slice(0, 22)}$${b64(password)}`;
}

/** Replaces `acl`'s argon2id hasher with fakeHash. */
export function fakeHasher(acl: Acl): void {
  Object.assign(acl.hasher, {
    hash: async (pw: string) => fakeHash(pw),
    verifyAny: async (hashes: readonly string[], pw: string) => hashes.includes(fakeHash(pw)),
    findHash: async (hashes: readonly string[], pw: string) => hashes.find((h) => h === fakeHash(pw)) ?? null,
  });
}

/**
 * Options of the in-process engines: memory only, 1 MiB bulk strings (so random lengths stay small), and a
 * maxmemory policy without a limit, so that INFO used_memory is the dataset's accounting (not the heap).
 */
export function fuzzOptions(extra: Partial<ServerOptions> = {}): ServerOptions {
  return ServerOptionsSchema.parse({
    appendonly: false,
    save: '',
    protoMaxBulkLen: 1024 * 1024,
    maxmemoryPolicy: 'allkeys-lru',
    ...extra,
  });
}

/** INFO used_memory as `client` reads it through the dispatcher. */
/** The 200 `keep:<i>` keys `admin` writes in its database (1) before a run: the data of others. */
export function writeKept(engine: Engine, admin: Client): void {
  for (let i = 0; i < 200; i++) engine.execute(admin, ['SET', `keep:${i}`, `value-${i}`]);
}

/**
 * After a run: the data of others (writeKept, database 1) is intact and, once the fuzzer's keys (database 0)
 * are gone, the dataset's accounting is back within 64 KiB of `memBefore`.
 */
export function expectKeptAndMemoryBack(engine: Engine, admin: Client, memBefore: number, label: string): void {
  for (let i = 0; i < 200; i++) expect(engine.execute(admin, ['GET', `keep:${i}`])).toBe(`value-${i}`);
  engine.execute(admin, ['SELECT', '0']);
  engine.execute(admin, ['FLUSHDB']);
  engine.execute(admin, ['SELECT', '1']);
  const memAfter = usedMemory(engine, admin);
  console.log(`fuzz ${label} in-process memory: used_memory ${memBefore} → ${memAfter}`);
  expect(memAfter).toBeLessThanOrEqual(memBefore + 64 * 1024);
}

export function usedMemory(engine: Engine, client: Client): number {
  const r = engine.execute(client, ['INFO', 'memory']);
  const text = typeof r === 'string' ? r : String((r as { text?: string }).text);
  return Number(/used_memory:(\d+)/.exec(text)?.[1]);
}

/**
 * An Engine with `users` (a users file's text) loaded, the fake hasher, kvws's own token service (keys in
 * memory), and an admin session (`admin`, logged in as the users file's `admin`) for setting up and checking.
 */
export async function fuzzEngine(users: string, extra: Partial<ServerOptions> = {}) {
  const engine = new Engine(fuzzOptions(extra));
  fakeHasher(engine.acl);
  const dir = mkdtempSync(path.join(tmpdir(), 'kvws-fuzz-'));
  try {
    const file = path.join(dir, 'users.acl');
    writeFileSync(file, users);
    await engine.acl.loadFile(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  engine.acl.tokens = await TokenService.create({ ...JWT_DEFAULTS });
  const admin = new Client(engine, 'internal', '127.0.0.1:1');
  const r = await engine.execute(admin, ['AUTH', 'admin', ADMIN_PASSWORD]);
  if (typeof r !== 'object' || r === null || !('value' in r) || r.value !== 'OK')
    throw new Error(`admin login failed: ${JSON.stringify(r)}`);
  return { engine, admin };
}

/**
 * fuzzEngine plus the HTTPS server's routes in plain HTTP on a loopback port: `/ws` (the WsGateway) and the
 * HTTP API. `close()` stops them all.
 */
export async function fuzzHttpServer(users: string, extra: Partial<ServerOptions> = {}) {
  const { engine, admin } = await fuzzEngine(users, extra);
  const https = new HttpsServer({ host: '127.0.0.1', port: 0, tls: null });
  const o = engine.options;
  const ws = new WsGateway(engine, {
    maxFrame: o.wsMaxFrame,
    maxInFlight: o.wsMaxInFlight,
    pingInterval: 0,
    maxBuffer: o.wsMaxBuffer,
    authConfigured: () => engine.acl.authRequired,
  });
  https.route('/ws', { upgrade: (req, socket, head) => ws.handleUpgrade(req, socket, head) });
  const api = new HttpApi(engine, { maxBody: o.httpMaxBody });
  api.register(https);
  const { port } = await https.listen();
  return {
    engine,
    admin,
    port,
    ws,
    api,
    close: async () => {
      await ws.close();
      api.close();
      await https.close();
      engine.shutdown();
    },
  };
}

/**
 * Empties the fuzzer's database (0) through `admin` (whose own database is 1, kept): run between batches so
 * that lists and strings the fuzzer appends to do not grow without end (LRANGE 0 -1 of a list grown by
 * 100,000 RPUSHes makes each run slower than the last).
 */
export function resetFuzzDb(engine: Engine, admin: Client): void {
  engine.execute(admin, ['SELECT', '0']);
  engine.execute(admin, ['FLUSHDB']);
  engine.execute(admin, ['SELECT', '1']);
}
