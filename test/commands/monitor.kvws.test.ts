import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerOptionsSchema } from '../../server/src/config.js';
import { Client } from '../../server/src/engine/client.js';
import { Engine, MonitorLine } from '../../server/src/engine/engine.js';
import type { Reply } from '../../server/src/protocol/reply.js';
import { freePort, RawConnection, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { WsClient } from '../helpers/ws.js';

// kvws-only MONITOR behaviour (monitor.test.ts holds what kvws shares with Redis): the WebSocket's
// `{"push":"monitor"}` frames, ACLs (a monitor sees every client's commands, whatever its key patterns),
// the idle timeout, and engine.addMonitor/removeMonitor for other front doors.

/** `<seconds>.<microseconds> [<db> <addr>] <quoted args>` without RESP's `+`. */
const TEXT = /^\d+\.\d{6} \[(\d+) (127\.0\.0\.1:\d+)\] (.*)$/;

let server: RunningServer;
let r: Redis;
const opened: { close(): void }[] = [];

beforeAll(async () => {
  server = await startKvws(['--port', String(await freePort()), '--no-tls']);
  r = redisClient(server);
  // ioredis's start-up commands are done before any monitor starts.
  await r.ping();
});

afterAll(async () => {
  for (const c of opened) c.close();
  r.disconnect();
  await server.stop();
});

async function raw(on: RunningServer = server): Promise<RawConnection> {
  const c = await RawConnection.open(on);
  opened.push(c);
  return c;
}

async function ws(query = ''): Promise<WsClient> {
  const c = await WsClient.open(wsUrl(server, query));
  opened.push(c);
  return c;
}

const addrOf = (c: RawConnection) => `127.0.0.1:${c.socket.localPort}`;

/** The quoted arguments of a monitor push frame's line (checking the line's shape). */
function argsOf(data: unknown): string {
  expect(typeof data).toBe('string');
  const m = TEXT.exec(data as string);
  expect(m, String(data)).not.toBeNull();
  return (m as RegExpExecArray)[3];
}

describe('MONITOR over the WebSocket', () => {
  it('answers OK, then sends each command as a {"push":"monitor","data":"<line>"} frame', async () => {
    const m = await ws();
    expect(await m.result('MONITOR')).toBe('OK');
    const c = await raw();
    await c.command('SET', 'k', 'v\n"');
    const f = await m.push((p) => p.push === 'monitor');
    expect(Object.keys(f).sort()).toEqual(['data', 'push']);
    const line = TEXT.exec(f.data as string);
    expect(line?.slice(1)).toEqual(['0', addrOf(c), '"SET" "k" "v\\n\\""']);
  });

  it('sends the line as text whatever the encoding; its own commands follow their reply', async () => {
    const m = await ws('?encoding=base64');
    expect(await m.result('MONITOR')).toBe('OK');
    const id = m.request({ cmd: ['PING'] });
    expect(await m.reply(id)).toEqual({ id, result: 'PONG' });
    expect(argsOf((await m.push((p) => p.push === 'monitor')).data)).toBe('"PING"');
    const c = await raw();
    await c.command('SET', Buffer.from([0xff]), 'x');
    expect(argsOf((await m.push((p) => p.push === 'monitor')).data)).toBe('"SET" "\\xff" "x"');
  });

  it('refuses keyspace commands, answers a second MONITOR with [] and MONITOR inside a multi frame with an error', async () => {
    const m = await ws();
    expect(await m.result('MONITOR')).toBe('OK');
    expect((await m.call('GET', 'k')).error).toBe("ERR Replica can't interact with the keyspace");
    expect(await m.result('MONITOR')).toEqual([]);
    const t = await ws();
    const id = t.request({ multi: [['MONITOR']] });
    expect(await t.reply(id)).toEqual({
      id,
      result: [{ error: "ERR MONITOR isn't allowed for DENY BLOCKING client" }],
    });
    expect(await t.result('GET', 'never-set')).toBeNull();
  });
});

describe('MONITOR and ACLs', () => {
  it('a user without +monitor gets NOPERM; one with only +monitor sees every client, keys it may not read included', async () => {
    await r.call('ACL', 'SETUSER', 'apps', 'on', 'nopass', '+@all', '-@admin', '~app:*');
    await r.call('ACL', 'SETUSER', 'watcher', 'on', 'nopass', '-@all', '+monitor');
    const denied = await raw();
    await denied.command('AUTH', 'apps', 'x');
    expect(await denied.command('MONITOR')).toBe(
      "-NOPERM this user has no permissions to run the 'monitor' command\r\n",
    );
    const m = await raw();
    expect(await m.command('AUTH', 'watcher', 'x')).toBe('+OK\r\n');
    expect(await m.command('MONITOR')).toBe('+OK\r\n');
    const c = await raw();
    await c.command('SET', 'secret:1', 'hidden-value');
    const text = await m.readUntil((t) => t.includes('secret:1'));
    expect(text).toMatch(/^\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "secret:1" "hidden-value"\r\n$/);
    await r.call('ACL', 'DELUSER', 'apps', 'watcher');
  });

  it('kvws: a monitor whose user loses +monitor is closed (Redis keeps it running)', async () => {
    await r.call('ACL', 'SETUSER', 'watcher2', 'on', 'nopass', '-@all', '+monitor');
    const m = await raw();
    expect(await m.command('AUTH', 'watcher2', 'x')).toBe('+OK\r\n');
    expect(await m.command('MONITOR')).toBe('+OK\r\n');
    await r.call('ACL', 'SETUSER', 'watcher2', '-monitor');
    await m.readUntil(() => false, 5000);
    expect(m.closed).toBe(true);
    await r.call('ACL', 'DELUSER', 'watcher2');
  });
});

describe('MONITOR redaction beyond Redis', () => {
  it('redacts the secrets of a malformed AUTH or HELLO too (Redis shows what its handler did not read)', async () => {
    const m = await raw();
    expect(await m.command('MONITOR')).toBe('+OK\r\n');
    const c = await raw();
    expect(await c.command('AUTH', 'u', 'p', 'extra')).toBe('-ERR syntax error\r\n');
    expect(await c.command('HELLO', '4', 'AUTH', 'u', 'p')).toBe('-NOPROTO unsupported protocol version\r\n');
    expect(await c.command('HELLO', 'AUTH', 'u', 'p')).toMatch(/^-ERR Protocol version is not an integer/);
    expect(await c.command('HELLO', '2', 'SETNAME', 'a b', 'AUTH', 'u', 'p')).toMatch(/^-ERR Client names cannot/);
    await c.command('ECHO', 'end');
    const text = await m.readUntil((t) => t.endsWith('"ECHO" "end"\r\n'));
    expect(text.split('\r\n').map((l) => l.replace(/^\+\d+\.\d{6} \[0 [^\]]+\] /, ''))).toEqual([
      '"AUTH" "(redacted)" "(redacted)" "(redacted)"',
      '"HELLO" "4" "AUTH" "(redacted)" "(redacted)"',
      '"HELLO" "AUTH" "(redacted)" "(redacted)"',
      '"HELLO" "2" "SETNAME" "a b" "AUTH" "(redacted)" "(redacted)"',
      '"ECHO" "end"',
      '',
    ]);
  });
});

describe('MONITOR and the idle timeout', () => {
  let timeoutServer: RunningServer;
  beforeAll(async () => {
    timeoutServer = await startKvws(['--timeout', '1']);
  });
  afterAll(async () => {
    await timeoutServer.stop();
  });

  it('a monitor is not closed for idling (--timeout 1), as in Redis', async () => {
    const m = await raw(timeoutServer);
    expect(await m.command('MONITOR')).toBe('+OK\r\n');
    const idle = await raw(timeoutServer);
    expect(await idle.command('PING')).toBe('+PONG\r\n');
    expect(await m.readUntil((t) => t.endsWith('"PING"\r\n'))).toMatch(/^\+\d+\.\d{6} \[0 [^\]]+\] "PING"\r\n$/);
    // Bounded wait for the timeout to close the idle client (cron once a second, 1 s timeout).
    await idle.readUntil(() => false, 10_000);
    expect(idle.closed).toBe(true);
    expect(m.closed).toBe(false);
    expect(await m.command('ECHO', 'alive')).toMatch(/^\$5\r\nalive\r\n/);
  });
});

describe('engine.addMonitor / removeMonitor (for other front doors)', () => {
  it('registers a session: it gets MonitorLine pushes until removed', async () => {
    const engine = new Engine(ServerOptionsSchema.parse({}));
    try {
      const got: Reply[] = [];
      const session = new Client(engine, 'http', '10.0.0.1:5000');
      session.push = (reply) => got.push(reply);
      const other = new Client(engine, 'internal', '127.0.0.1:6000');
      expect(engine.addMonitor(session)).toBe(true);
      expect(engine.addMonitor(session)).toBe(false);
      expect(session.monitor).toBe(true);
      engine.execute(other, ['SET', 'k', 'v']);
      engine.execute(other, ['CONFIG', 'GET', 'port']);
      expect(got).toHaveLength(1);
      expect(got[0]).toBeInstanceOf(MonitorLine);
      expect((got[0] as MonitorLine).value).toMatch(/^\d+\.\d{6} \[0 127\.0\.0\.1:6000\] "SET" "k" "v"$/);
      // Refused before running (a monitor may not touch the keyspace): no line.
      expect(engine.execute(session, ['GET', 'k'])).toEqual(
        expect.objectContaining({ message: "ERR Replica can't interact with the keyspace" }),
      );
      expect(got).toHaveLength(1);
      expect(engine.removeMonitor(session)).toBe(true);
      expect(engine.removeMonitor(session)).toBe(false);
      engine.execute(other, ['SET', 'k', 'w']);
      expect(got).toHaveLength(1);
      expect(engine.monitors.size).toBe(0);
      // A session that goes away stops being a monitor.
      engine.clients.add(session);
      engine.addMonitor(session);
      engine.clients.remove(session);
      expect(engine.monitors.size).toBe(0);
      expect(session.monitor).toBe(false);
    } finally {
      engine.shutdown();
    }
  });
});
