import type Redis from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { fields } from '../helpers/client-info.js';
import { connections } from '../helpers/connections.js';
import { completeReplies, type RawConnection, type RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// MONITOR end to end, as Redis 7 does it: the line format (time, db, client address, sdscatrepr quoting),
// which commands are shown (those that ran, admin commands never), redaction of passwords, transactions and
// blocking commands, and what a monitoring connection may still do. Runs against kvws and real Redis.
// Commands are sent from raw connections only: a client library's own start-up commands would show up.

let server: RunningServer;
let r: Redis;
const { raw, closeAll } = connections(() => server);

useServer(async (s, connect) => {
  server = s;
  r = connect();
  // ioredis's start-up commands are done before any monitor starts.
  await r.ping();
});

afterEach(async () => {
  closeAll();
  await r.flushall();
});

/** `+<seconds>.<microseconds> [<db> <addr>] <quoted args>`: one line a monitor receives. */
const LINE = /^\+(\d+)\.(\d{6}) \[(\d+) ([^\] ]+)\] (.*)$/;

interface Line {
  db: number;
  addr: string;
  /** The quoted arguments, as sent. */
  args: string;
}

/** The address a monitor line names for the client on `c` (its local end of the loopback socket). */
function addrOf(c: RawConnection): string {
  return `127.0.0.1:${c.socket.localPort}`;
}

/** A raw connection in MONITOR mode. */
async function monitor(): Promise<RawConnection> {
  const m = await raw();
  expect(await m.command('MONITOR')).toBe('+OK\r\n');
  return m;
}

/** Parses monitor output (only status lines) into lines; fails the test on anything else. */
function parse(text: string): Line[] {
  expect(text.endsWith('\r\n'), JSON.stringify(text)).toBe(true);
  return text
    .slice(0, -2)
    .split('\r\n')
    .map((l) => {
      const m = LINE.exec(l);
      expect(m, l).not.toBeNull();
      const [, secs, , db, addr, args] = m as RegExpExecArray;
      expect(Number(secs)).toBeGreaterThan(1_600_000_000);
      return { db: Number(db), addr, args };
    });
}

/** Reads `m`'s lines up to the one for `ECHO <mark>` (which some client sends last). */
async function linesUntil(m: RawConnection, mark: string): Promise<Line[]> {
  return parse(await m.readUntil((t) => t.endsWith(`"ECHO" "${mark}"\r\n`)));
}

/** Sends a command without waiting for its reply. */
function send(c: RawConnection, ...argv: (string | Buffer)[]): void {
  const parts: Buffer[] = [Buffer.from(`*${argv.length}\r\n`)];
  for (const a of argv) {
    const b = typeof a === 'string' ? Buffer.from(a, 'latin1') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  c.send(Buffer.concat(parts));
}

describe('MONITOR', () => {
  it('answers OK, then gets each command as a status line: time, db, client address, quoted arguments', async () => {
    const m = await monitor();
    const c = await raw();
    expect(await c.command('set', 'k', 'v')).toBe('+OK\r\n');
    expect(await c.command('GET', 'k')).toBe('$1\r\nv\r\n');
    await c.command('ECHO', 'end');
    const lines = await linesUntil(m, 'end');
    expect(lines).toEqual([
      { db: 0, addr: addrOf(c), args: '"set" "k" "v"' },
      { db: 0, addr: addrOf(c), args: '"GET" "k"' },
      { db: 0, addr: addrOf(c), args: '"ECHO" "end"' },
    ]);
  });

  it("quotes arguments as Redis's sdscatrepr: escapes for quote, backslash and controls, \\xNN for other bytes", async () => {
    const m = await monitor();
    const c = await raw();
    const bytes = Buffer.from([0, 1, 7, 8, 9, 10, 13, 0x1f, 0x20, 0x41, 0x7e, 0x7f, 0x80, 0xc3, 0xa9, 0xff]);
    await c.command('SET', 'a"b\\c', bytes);
    await c.command('ECHO', '');
    await c.command('ECHO', 'end');
    expect((await linesUntil(m, 'end')).map((l) => l.args)).toEqual([
      '"SET" "a\\"b\\\\c" "\\x00\\x01\\a\\b\\t\\n\\r\\x1f A~\\x7f\\x80\\xc3\\xa9\\xff"',
      '"ECHO" ""',
      '"ECHO" "end"',
    ]);
  });

  it('names the database the client is in once the command ran (SELECT shows the new one)', async () => {
    const m = await monitor();
    const c = await raw();
    await c.command('SELECT', '1');
    await c.command('SET', 'k', 'v');
    await c.command('SELECT', '0');
    await c.command('ECHO', 'end');
    expect((await linesUntil(m, 'end')).map((l) => [l.db, l.args])).toEqual([
      [1, '"SELECT" "1"'],
      [1, '"SET" "k" "v"'],
      [0, '"SELECT" "0"'],
      [0, '"ECHO" "end"'],
    ]);
  });

  it('shows commands that ran, errors included; not those refused before running, nor admin commands', async () => {
    const m = await monitor();
    const c = await raw();
    await c.command('SET', 's', 'v');
    expect(await c.command('LPUSH', 's', 'x')).toMatch(/^-WRONGTYPE /);
    expect(await c.command('NOSUCH', 'a')).toMatch(/^-ERR unknown command/);
    expect(await c.command('GET')).toMatch(/^-ERR wrong number of arguments/);
    expect(await c.command('CONFIG', 'GET', 'maxmemory')).toMatch(/^\*2\r\n/);
    expect(await c.command('CLIENT', 'LIST')).toMatch(/^\$/);
    expect(await c.command('CLIENT', 'KILL', '1.2.3.4:5')).toBe('-ERR No such client\r\n');
    expect(await c.command('ACL', 'LIST')).toMatch(/^\*/);
    expect(await c.command('CLIENT', 'ID')).toMatch(/^:\d+\r\n$/);
    expect(await c.command('ACL', 'WHOAMI')).toBe('$7\r\ndefault\r\n');
    await c.command('ECHO', 'end');
    expect((await linesUntil(m, 'end')).map((l) => l.args)).toEqual([
      '"SET" "s" "v"',
      '"LPUSH" "s" "x"',
      '"CLIENT" "ID"',
      '"ACL" "WHOAMI"',
      '"ECHO" "end"',
    ]);
  });

  it('shows MULTI, the queued commands when EXEC runs them (not when queued), then EXEC', async () => {
    const m = await monitor();
    const c = await raw();
    const d = await raw();
    await c.command('MULTI');
    expect(await c.command('SET', 'q', '1')).toBe('+QUEUED\r\n');
    await d.command('ECHO', 'queued');
    await c.command('GET', 'q');
    expect(await c.command('EXEC')).toBe('*2\r\n+OK\r\n$1\r\n1\r\n');
    await d.command('ECHO', 'end');
    expect((await linesUntil(m, 'end')).map((l) => [l.addr, l.args])).toEqual([
      [addrOf(c), '"MULTI"'],
      [addrOf(d), '"ECHO" "queued"'],
      [addrOf(c), '"SET" "q" "1"'],
      [addrOf(c), '"GET" "q"'],
      [addrOf(c), '"EXEC"'],
      [addrOf(d), '"ECHO" "end"'],
    ]);
  });

  it('redacts the passwords of AUTH and HELLO … AUTH, whether the login worked or not', async () => {
    const m = await monitor();
    const c = await raw();
    expect(await c.command('auth', 'pw')).toMatch(/^-ERR AUTH <password> called without any password/);
    expect(await c.command('AUTH', 'nosuch', 'pw')).toMatch(/^-WRONGPASS /);
    expect(await c.command('HELLO', '2', 'AUTH', 'nosuch', 'pw')).toMatch(/^-WRONGPASS /);
    expect(await c.command('AUTH', 'default', 'anything')).toBe('+OK\r\n');
    await c.command('ECHO', 'end');
    expect((await linesUntil(m, 'end')).map((l) => l.args)).toEqual([
      '"auth" "(redacted)"',
      '"AUTH" "(redacted)" "(redacted)"',
      '"HELLO" "2" "AUTH" "(redacted)" "(redacted)"',
      '"AUTH" "(redacted)" "(redacted)"',
      '"ECHO" "end"',
    ]);
  });

  it('shows a blocking command once, when it blocks, not again when it is served', async () => {
    const m = await monitor();
    const c = await raw();
    const d = await raw();
    send(c, 'BLPOP', 'list', '0');
    expect(parse(await m.readUntil((t) => t.includes('"BLPOP"')))).toEqual([
      { db: 0, addr: addrOf(c), args: '"BLPOP" "list" "0"' },
    ]);
    await d.command('RPUSH', 'list', 'a');
    expect(await c.readUntil((t) => completeReplies(t) >= 1)).toBe('*2\r\n$4\r\nlist\r\n$1\r\na\r\n');
    await d.command('ECHO', 'end');
    expect((await linesUntil(m, 'end')).map((l) => l.args)).toEqual(['"RPUSH" "list" "a"', '"ECHO" "end"']);
  });

  it('sends the same line to every monitor', async () => {
    const m1 = await monitor();
    const m2 = await monitor();
    const c = await raw();
    await c.command('SET', 'k', 'v');
    await c.command('ECHO', 'end');
    const t1 = await m1.readUntil((t) => t.endsWith('"ECHO" "end"\r\n'));
    const t2 = await m2.readUntil((t) => t.endsWith('"ECHO" "end"\r\n'));
    expect(parse(t1).map((l) => l.args)).toEqual(['"SET" "k" "v"', '"ECHO" "end"']);
    expect(t2).toBe(t1);
  });

  it('a monitor gets its own commands after their replies; commands touching the keyspace are refused', async () => {
    const m = await monitor();
    const pingLine = (text: string) => {
      const [pong, ...rest] = text.split(/(?<=\r\n)/);
      expect(pong).toBe('+PONG\r\n');
      expect(parse(rest.join(''))).toEqual([{ db: 0, addr: addrOf(m), args: '"PING"' }]);
    };
    send(m, 'PING');
    pingLine(await m.readUntil((t) => completeReplies(t) >= 2));
    const replica = "-ERR Replica can't interact with the keyspace\r\n";
    expect(await m.command('GET', 'k')).toBe(replica);
    expect(await m.command('SET', 'k', 'v')).toBe(replica);
    expect(await m.command('PUBLISH', 'ch', 'x')).toBe(replica);
    // A second MONITOR gets no reply at all: the next reply is PING's.
    send(m, 'MONITOR');
    send(m, 'PING');
    pingLine(await m.readUntil((t) => completeReplies(t) >= 2));
    expect(await r.exists('k')).toBe(0);
  });

  it('RESP3 monitors get the same status lines', async () => {
    const m = await raw();
    expect(await m.command('HELLO', '3')).toMatch(/^%7\r\n/);
    expect(await m.command('MONITOR')).toBe('+OK\r\n');
    const c = await raw();
    await c.command('SET', 'k', 'v');
    await c.command('ECHO', 'end');
    expect((await linesUntil(m, 'end')).map((l) => l.args)).toEqual(['"SET" "k" "v"', '"ECHO" "end"']);
  });

  it('is refused inside EXEC and in RESP2 subscribed mode', async () => {
    const c = await raw();
    await c.command('MULTI');
    expect(await c.command('MONITOR')).toBe('+QUEUED\r\n');
    expect(await c.command('EXEC')).toBe("*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n");
    expect(await c.command('GET', 'k')).toBe('$-1\r\n');
    await c.command('SUBSCRIBE', 'ch');
    expect(await c.command('MONITOR')).toBe(
      "-ERR Can't execute 'monitor': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
  });

  it('RESET ends monitor mode; QUIT gets its OK and no line of its own', async () => {
    const watcher = await monitor();
    const m = await monitor();
    expect(await m.command('RESET')).toBe('+RESET\r\n');
    expect(await m.command('GET', 'k')).toBe('$-1\r\n');
    const q = await monitor();
    const qAddr = addrOf(q);
    send(q, 'QUIT');
    expect(await q.readUntil(() => false, 5000)).toBe('+OK\r\n');
    expect(q.closed).toBe(true);
    const c = await raw();
    await c.command('ECHO', 'end');
    expect((await linesUntil(watcher, 'end')).map((l) => [l.addr, l.args])).toEqual([
      [addrOf(m), '"RESET"'],
      [addrOf(m), '"GET" "k"'],
      [qAddr, '"QUIT"'],
      [addrOf(c), '"ECHO" "end"'],
    ]);
  });

  it('CLIENT LIST flags monitors with O', async () => {
    const m = await monitor();
    const c = await raw();
    const line = ((await r.call('CLIENT', 'LIST')) as string)
      .split('\n')
      .map(fields)
      .find((f) => f.addr === addrOf(m));
    expect(line?.flags).toBe('O');
    expect(await c.command('CLIENT', 'INFO')).toMatch(/ flags=N /);
  });

  it('needs the monitor command permission (@admin)', async () => {
    await r.call('ACL', 'SETUSER', 'mon-lim', 'on', 'nopass', '+@all', '-@admin', '~*', '&*');
    try {
      const c = await raw();
      expect(await c.command('AUTH', 'mon-lim', 'x')).toBe('+OK\r\n');
      expect(await c.command('MONITOR')).toBe("-NOPERM this user has no permissions to run the 'monitor' command\r\n");
      expect(await c.command('GET', 'k')).toBe('$-1\r\n');
    } finally {
      await r.call('ACL', 'DELUSER', 'mon-lim');
    }
  });

  it("COMMAND INFO is Redis 7's", async () => {
    expect(await r.call('COMMAND', 'INFO', 'monitor')).toEqual([
      ['monitor', 1, ['admin', 'noscript', 'loading', 'stale'], 0, 0, 0, ['@admin', '@slow', '@dangerous'], [], [], []],
    ]);
  });
});
