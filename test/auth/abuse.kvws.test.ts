import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpJson } from '../helpers/http.js';
import {
  completeReplies,
  freePort,
  RawConnection,
  type RunningServer,
  redisClient,
  startKvws,
  wsUrl,
} from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { WsClient } from '../helpers/ws.js';

// Password guessing and login storms, through the real front doors (RESP, the WebSocket's auth frame, the
// HTTP API's POST /auth/token):
//  - after --auth-max-failures failed logins within the window, the user name and the client address are
//    locked out for --auth-lockout seconds: every attempt naming them is refused at once, without hashing
//    (INFO auth_hashes_total does not move), even with the right password, on every door; then it ends;
//  - each failure is an ACL LOG entry with reason `auth`;
//  - a successful login clears the user's and the address's failures;
//  - logins beyond --auth-max-queued waiting for a hashing slot are refused at once with TRYAGAIN (HTTP:
//    503 with Retry-After), are not failures, and the others log in.
// Each scenario has its own server, since a lock-out covers every client of the address (all are 127.0.0.1).

const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.\r\n';
const LOCKED =
  /^-WRONGPASS too many failed authentication attempts for this user or address: try again in \d+ seconds\r\n$/;

const servers: RunningServer[] = [];
const closers: (() => void)[] = [];

async function start(args: string[]): Promise<{ server: RunningServer; admin: Redis }> {
  const server = await startKvws(['--port', String(await freePort()), '--no-tls', ...args]);
  servers.push(server);
  const admin = redisClient(server);
  closers.push(() => admin.disconnect());
  return { server, admin };
}

afterAll(async () => {
  for (const c of closers) c();
  await Promise.all(servers.map((s) => s.stop()));
});

/** A raw RESP connection to `server`, closed after the tests. */
async function raw(server: RunningServer): Promise<RawConnection> {
  const c = await RawConnection.open(server);
  closers.push(() => c.close());
  return c;
}

/**
 * `AUTH user password` on a new connection from `localAddress` (another loopback address: Linux routes all
 * of 127.0.0.0/8 to this machine); the reply line.
 */
async function authFrom(server: RunningServer, localAddress: string, user: string, password: string): Promise<string> {
  const socket = net.connect({ port: server.port, host: server.host, localAddress });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(`*3\r\n$4\r\nAUTH\r\n$${user.length}\r\n${user}\r\n$${password.length}\r\n${password}\r\n`);
    let text = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to AUTH ${user}: ${JSON.stringify(text)}`)), 15_000);
      socket.on('data', (d) => {
        text += d.toString('latin1');
        if (text.endsWith('\r\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return text;
  } finally {
    socket.destroy();
  }
}

async function info(admin: Redis, field: string): Promise<number> {
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(await admin.info('stats'));
  if (!m) throw new Error(`no ${field} in INFO stats`);
  return Number(m[1]);
}

/** ACL LOG entries as objects. */
async function aclLog(admin: Redis): Promise<Record<string, string | number>[]> {
  const entries = (await admin.call('ACL', 'LOG', '1000')) as unknown[][];
  return entries.map((flat) => {
    const e: Record<string, string | number> = {};
    for (let i = 0; i < flat.length; i += 2) e[String(flat[i])] = flat[i + 1] as string | number;
    return e;
  });
}

describe('lock-out after too many failed logins', () => {
  let server: RunningServer;
  let admin: Redis;

  beforeAll(async () => {
    ({ server, admin } = await start([
      '--auth-max-failures',
      '3',
      '--auth-failure-window',
      '60',
      '--auth-lockout',
      '3',
    ]));
    await admin.call('ACL', 'SETUSER', 'alice', 'on', '>alice-right', '~*', '+@all');
    await admin.call('ACL', 'SETUSER', 'carol', 'on', '>carol-right', '~*', '+@all');
    await admin.call('ACL', 'LOG', 'RESET');
  });

  it('refuses every attempt at once (no hashing) on every door, logs each in ACL LOG, and ends', async () => {
    const c = await raw(server);
    for (let i = 0; i < 3; i++) expect(await c.command('AUTH', 'alice', `guess-${i}`)).toBe(WRONGPASS);
    const hashes = await info(admin, 'auth_hashes_total');
    // Locked: the right password is refused too, without being checked.
    expect(await c.command('AUTH', 'alice', 'alice-right')).toMatch(LOCKED);
    // The address is locked as well: another user from 127.0.0.1…
    expect(await c.command('AUTH', 'carol', 'carol-right')).toMatch(LOCKED);
    // …but from another address, only the user name is.
    expect(await authFrom(server, '127.0.0.2', 'alice', 'alice-right')).toMatch(LOCKED);
    expect(await authFrom(server, '127.0.0.2', 'carol', 'carol-right')).toBe('+OK\r\n');
    // The WebSocket's auth frame and POST /auth/token are refused the same way.
    const ws = await WsClient.open(wsUrl(server));
    closers.push(() => ws.close());
    const id = ws.request({ auth: { username: 'alice', password: 'alice-right' } });
    expect((await ws.reply(id)).error).toMatch(/^WRONGPASS too many failed authentication attempts/);
    const http = await httpJson({ port: server.httpsPort, tls: false }, 'POST', '/auth/token', {
      username: 'alice',
      password: 'alice-right',
    });
    expect(http.status).toBe(401);
    expect((http.json as { error: string }).error).toMatch(/^WRONGPASS too many failed authentication attempts/);
    // Only carol's login from 127.0.0.2 hashed anything.
    expect(await info(admin, 'auth_hashes_total')).toBe(hashes + 1);

    // ACL LOG: one entry per kind of failure, reason auth, context toplevel, counted.
    const log = await aclLog(admin);
    const alice = log.filter((e) => e.username === 'alice');
    expect(alice.every((e) => e.reason === 'auth' && e.context === 'toplevel')).toBe(true);
    const total = alice.reduce((n, e) => n + Number(e.count), 0);
    // 3 wrong passwords, then 4 refusals while locked (RESP twice, WebSocket, HTTP).
    expect(total).toBe(7);
    expect(alice.find((e) => e.object === 'AUTH')?.count).toBeGreaterThanOrEqual(3);
    expect(log.filter((e) => e.username === 'carol').map((e) => e.reason)).toEqual(['auth']);

    // The lock-out ends after --auth-lockout seconds.
    const unlocked = await waitFor(async () => (await c.command('AUTH', 'alice', 'alice-right')) === '+OK\r\n', 15_000);
    expect(unlocked).toBe(true);
  });
});

describe('a successful login clears the failures', () => {
  let server: RunningServer;
  let admin: Redis;

  beforeAll(async () => {
    ({ server, admin } = await start([
      '--auth-max-failures',
      '3',
      '--auth-failure-window',
      '60',
      '--auth-lockout',
      '60',
    ]));
    await admin.call('ACL', 'SETUSER', 'bob', 'on', '>bob-right', '~*', '+@all');
  });

  it('two failures, a success, two failures: not locked (five failures without the success would be)', async () => {
    const c = await raw(server);
    expect(await c.command('AUTH', 'bob', 'x1')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'bob', 'x2')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'bob', 'bob-right')).toBe('+OK\r\n');
    expect(await c.command('AUTH', 'bob', 'x3')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'bob', 'x4')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'bob', 'bob-right')).toBe('+OK\r\n');
    // Without a success in between, the third failure locks.
    expect(await c.command('AUTH', 'bob', 'x5')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'bob', 'x6')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'bob', 'x7')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'bob', 'bob-right')).toMatch(LOCKED);
  });
});

describe('--auth-max-queued: a login storm is bounded', () => {
  const STORM = 40;
  const TRYAGAIN = 'TRYAGAIN too many logins are waiting for password hashing (auth-max-queued 2): try again later';
  let server: RunningServer;
  let admin: Redis;

  beforeAll(async () => {
    ({ server, admin } = await start(['--auth-max-concurrent-hashes', '1', '--auth-max-queued', '2']));
    await admin.call('ACL', 'SETUSER', 'dave', 'on', '>dave-right', '~*', '+@all');
    await admin.call('ACL', 'LOG', 'RESET');
  });

  it(`RESP: of ${STORM} logins at once, those beyond 1 hashing + 2 waiting are refused at once with TRYAGAIN`, async () => {
    const conns = await Promise.all(Array.from({ length: STORM }, () => raw(server)));
    // Every AUTH written before any reply is read: they all arrive while the first one hashes.
    for (const c of conns) c.send('*3\r\n$4\r\nAUTH\r\n$4\r\ndave\r\n$10\r\ndave-right\r\n');
    const replies = await Promise.all(conns.map((c) => c.readUntil((t) => completeReplies(t) >= 1, 60_000)));
    const ok = replies.filter((r) => r === '+OK\r\n').length;
    const refused = replies.filter((r) => r === `-${TRYAGAIN}\r\n`).length;
    expect(ok + refused).toBe(STORM);
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(refused).toBeGreaterThan(0);
    expect(await info(admin, 'auth_queue_full_rejections')).toBe(refused);
    // Refusals are not failed logins: no ACL LOG entry, no lock-out; a refused connection may try again.
    expect((await aclLog(admin)).filter((e) => e.username === 'dave')).toEqual([]);
    const again = conns[replies.findIndex((r) => r.startsWith('-TRYAGAIN'))];
    expect(await again.command('AUTH', 'dave', 'dave-right')).toBe('+OK\r\n');
    expect(await info(admin, 'auth_hashes_queued')).toBe(0);
  });

  it('HTTP POST /auth/token: the refusal is 503 with Retry-After', async () => {
    const target = { port: server.httpsPort, tls: false, timeoutMs: 60_000 };
    const answers = await Promise.all(
      Array.from({ length: STORM }, () =>
        httpJson(target, 'POST', '/auth/token', { username: 'dave', password: 'dave-right' }),
      ),
    );
    const busy = answers.filter((a) => a.status === 503);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(3);
    expect(busy.length + answers.filter((a) => a.status === 200).length).toBe(STORM);
    expect(busy.length).toBeGreaterThan(0);
    for (const a of busy) {
      expect(a.headers.get('retry-after')).toBe('1');
      expect(a.json).toEqual({ error: TRYAGAIN });
    }
  });
});

describe('--auth-hash-nice: argon2id in a child process at a lower CPU priority', () => {
  /** The pids of the server's child processes. */
  const children = (pid: number): number[] =>
    readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  /** The nice value of every thread of `pid` (/proc/PID/task/TID/stat, field 19). */
  const niceOfThreads = (pid: number): number[] =>
    readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });

  it('hashes in a child whose every thread runs at that nice value; restarted if it dies', async () => {
    const { server, admin } = await start(['--auth-hash-nice', '15']);
    await admin.call('ACL', 'SETUSER', 'erin', 'on', '>erin-right', '~*', '+@all');
    const c = await raw(server);
    expect(await c.command('AUTH', 'erin', 'erin-right')).toBe('+OK\r\n');
    const [hasher] = children(server.pid as number);
    expect(readFileSync(`/proc/${hasher}/cmdline`, 'utf8')).toContain('hasher-process.js');
    expect(new Set(niceOfThreads(hasher))).toEqual(new Set([15]));
    // The server itself keeps its priority.
    expect(niceOfThreads(server.pid as number)).not.toContain(15);
    process.kill(hasher, 'SIGKILL');
    await waitFor(() => !children(server.pid as number).includes(hasher), 5000);
    expect(await c.command('AUTH', 'erin', 'wrong')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'erin', 'erin-right')).toBe('+OK\r\n');
    expect(children(server.pid as number)).toHaveLength(1);
  });

  it('0 hashes inside the server process: no child', async () => {
    const { server, admin } = await start(['--auth-hash-nice', '0']);
    await admin.call('ACL', 'SETUSER', 'fred', 'on', '>fred-right', '~*', '+@all');
    const c = await raw(server);
    expect(await c.command('AUTH', 'fred', 'fred-right')).toBe('+OK\r\n');
    expect(children(server.pid as number)).toEqual([]);
  });
});
