import { execFile } from 'node:child_process';
import type Redis from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { fields } from '../helpers/client-info.js';
import { connections } from '../helpers/connections.js';
import { err } from '../helpers/errors.js';
import { completeReplies, type RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep } from '../helpers/wait.js';

// Connection and server commands (PING, HELLO, CLIENT, INFO, CONFIG, COMMAND, TIME, QUIT, RESET, error
// texts) end to end. Only what Redis 7.0 and kvws share is asserted here; kvws-only behaviour (Redis 7.2
// additions, kvws's own fields) is in server.kvws.test.ts.

let server: RunningServer;
let r: Redis;
// raw() and client() open connections that are closed after the test.
const { raw, client, closeAll } = connections(() => server);

/** CLIENT LIST as one record per client. */
async function clientList(...args: string[]): Promise<Record<string, string>[]> {
  const text = (await r.call('CLIENT', 'LIST', ...args)) as string;
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(fields);
}

useServer((s, connect) => {
  server = s;
  r = connect();
});

afterEach(() => {
  closeAll();
});

describe('PING / ECHO', () => {
  it('replies', async () => {
    const c = await raw();
    expect(await c.command('PING')).toBe('+PONG\r\n');
    expect(await c.command('ping', 'hello world')).toBe('$11\r\nhello world\r\n');
    expect(await c.command('PING', '')).toBe('$0\r\n\r\n');
    expect(await c.command('ECHO', 'a\r\nb')).toBe('$4\r\na\r\nb\r\n');
    expect(await c.command('PING', 'a', 'b')).toBe("-ERR wrong number of arguments for 'ping' command\r\n");
    expect(await c.command('ECHO')).toBe("-ERR wrong number of arguments for 'echo' command\r\n");
    expect(await c.command('ECHO', 'a', 'b')).toBe("-ERR wrong number of arguments for 'echo' command\r\n");
  });

  it('inline commands', async () => {
    const c = await raw();
    c.send('PING\r\nECHO hi\r\n');
    expect(await c.readUntil((t) => completeReplies(t) >= 2)).toBe('+PONG\r\n$2\r\nhi\r\n');
  });
});

describe('unknown commands and arity errors', () => {
  it('name the command and its first arguments as Redis does', async () => {
    const c = await raw();
    expect(await c.command('NOSUCH')).toBe("-ERR unknown command 'NOSUCH', with args beginning with: \r\n");
    expect(await c.command('nosuch', 'a', 'b c')).toBe(
      "-ERR unknown command 'nosuch', with args beginning with: 'a' 'b c' \r\n",
    );
    // About 128 characters of arguments are shown.
    const a = 'a'.repeat(100);
    const b = 'b'.repeat(100);
    expect(await c.command('FOO', a, b, 'c')).toBe(
      `-ERR unknown command 'FOO', with args beginning with: '${a}' '${'b'.repeat(25)}' \r\n`,
    );
    expect(await c.command('FOO', 'x'.repeat(300))).toBe(
      `-ERR unknown command 'FOO', with args beginning with: '${'x'.repeat(128)}' \r\n`,
    );
  });

  it('arity errors use the lower-case full name', async () => {
    const c = await raw();
    expect(await c.command('GET')).toBe("-ERR wrong number of arguments for 'get' command\r\n");
    expect(await c.command('Get', 'a', 'b')).toBe("-ERR wrong number of arguments for 'get' command\r\n");
    expect(await c.command('CONFIG')).toBe("-ERR wrong number of arguments for 'config' command\r\n");
    expect(await c.command('CONFIG', 'GET')).toBe("-ERR wrong number of arguments for 'config|get' command\r\n");
    expect(await c.command('client', 'id', 'x')).toBe("-ERR wrong number of arguments for 'client|id' command\r\n");
    expect(await c.command('CONFIG', 'NOPE')).toBe("-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n");
    expect(await c.command('client', 'nope')).toBe("-ERR unknown subcommand 'nope'. Try CLIENT HELP.\r\n");
  });

  it('an empty inline line is ignored', async () => {
    const c = await raw();
    c.send('\r\n\r\nPING\r\n');
    expect(await c.readUntil((t) => completeReplies(t) >= 1)).toBe('+PONG\r\n');
  });
});

describe('HELLO', () => {
  it('HELLO 3 answers a map and switches to RESP3', async () => {
    const c = await raw();
    const id = Number((await c.command('CLIENT', 'ID')).slice(1, -2));
    const reply = await c.command('HELLO', '3');
    expect(reply).toMatch(
      new RegExp(
        `^%7\\r\\n\\$6\\r\\nserver\\r\\n\\$5\\r\\nredis\\r\\n\\$7\\r\\nversion\\r\\n\\$\\d+\\r\\n7\\.[0-9.]+\\r\\n` +
          `\\$5\\r\\nproto\\r\\n:3\\r\\n\\$2\\r\\nid\\r\\n:${id}\\r\\n\\$4\\r\\nmode\\r\\n\\$10\\r\\nstandalone\\r\\n` +
          '\\$4\\r\\nrole\\r\\n\\$6\\r\\nmaster\\r\\n\\$7\\r\\nmodules\\r\\n\\*0\\r\\n$',
      ),
    );
    // RESP3 encodings from now on.
    expect(await c.command('GET', 'missing')).toBe('_\r\n');
    expect(await c.command('CONFIG', 'GET', 'maxmemory')).toBe('%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n');
    expect(await c.command('CLIENT', 'INFO')).toMatch(/^=\d+\r\ntxt:id=/);
    expect(await c.command('INFO', 'keyspace')).toMatch(/^=\d+\r\ntxt:# Keyspace\r\n/);
    expect(await c.command('PING')).toBe('+PONG\r\n');
    // HELLO without a version reports the current protocol.
    expect(await c.command('HELLO')).toMatch(/^%7\r\n.*\$5\r\nproto\r\n:3\r\n/s);
    // HELLO 2 switches back: the map becomes a flat array.
    expect(await c.command('HELLO', '2')).toMatch(/^\*14\r\n\$6\r\nserver\r\n/);
    expect(await c.command('GET', 'missing')).toBe('$-1\r\n');
  });

  it('RESP3 null array and maps', async () => {
    const c = await raw();
    await c.command('HELLO', '3');
    await c.command('WATCH', 'w');
    await r.set('w', '1');
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('_\r\n');
    const docs = await c.command('COMMAND', 'DOCS', 'get');
    expect(docs).toMatch(/^%1\r\n\$3\r\nget\r\n%\d+\r\n/);
    expect(docs).toContain('$7\r\nsummary\r\n');
    expect(docs).toContain('$5\r\ngroup\r\n$6\r\nstring\r\n');
    const info = await c.command('COMMAND', 'INFO', 'get');
    expect(info).toContain('~2\r\n+readonly\r\n+fast\r\n');
    expect(info).toContain('%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n');
  });

  it('SETNAME and AUTH options; errors', async () => {
    const c = await raw();
    expect(await c.command('HELLO', '2', 'SETNAME', 'helloname')).toMatch(/^\*14\r\n/);
    expect(await c.command('CLIENT', 'GETNAME')).toBe('$9\r\nhelloname\r\n');
    // The default user has no password: AUTH default <anything> is accepted.
    expect(await c.command('HELLO', '2', 'AUTH', 'default', 'whatever')).toMatch(/^\*14\r\n/);
    expect(await c.command('HELLO', '2', 'AUTH', 'nosuchuser', 'pw')).toBe(
      '-WRONGPASS invalid username-password pair or user is disabled.\r\n',
    );
    expect(await c.command('HELLO', '4')).toBe('-NOPROTO unsupported protocol version\r\n');
    expect(await c.command('HELLO', '1')).toBe('-NOPROTO unsupported protocol version\r\n');
    expect(await c.command('HELLO', 'x')).toBe('-ERR Protocol version is not an integer or out of range\r\n');
    expect(await c.command('HELLO', '3', 'FOO')).toBe("-ERR Syntax error in HELLO option 'FOO'\r\n");
    expect(await c.command('HELLO', '3', 'SETNAME')).toBe("-ERR Syntax error in HELLO option 'SETNAME'\r\n");
    expect(await c.command('HELLO', '3', 'SETNAME', 'a b')).toBe(
      '-ERR Client names cannot contain spaces, newlines or special characters.\r\n',
    );
    // A failed HELLO changes nothing: still RESP2 and the old name.
    expect(await c.command('GET', 'missing')).toBe('$-1\r\n');
    expect(await c.command('CLIENT', 'GETNAME')).toBe('$9\r\nhelloname\r\n');
  });
});

describe('CLIENT', () => {
  it('ID is stable per connection and distinct between connections', async () => {
    const a = client();
    const b = client();
    const ida = (await a.client('ID')) as number;
    const idb = (await b.client('ID')) as number;
    expect(ida).toBeGreaterThan(0);
    expect(idb).not.toBe(ida);
    expect(await a.client('ID')).toBe(ida);
  });

  it('SETNAME / GETNAME', async () => {
    const c = client();
    expect(await c.client('GETNAME')).toBeNull();
    expect(await c.client('SETNAME', 'worker-1')).toBe('OK');
    expect(await c.client('GETNAME')).toBe('worker-1');
    for (const bad of ['a b', 'x\ny', 'tab\there', 'ü']) {
      expect(await err(c.client('SETNAME', bad))).toBe(
        'ERR Client names cannot contain spaces, newlines or special characters.',
      );
    }
    expect(await c.client('GETNAME')).toBe('worker-1');
    expect(await c.client('SETNAME', '')).toBe('OK');
    expect(await c.client('GETNAME')).toBeNull();
  });

  it('LIST and INFO describe connections', async () => {
    const c = client();
    await c.client('SETNAME', 'listed');
    await c.select(3);
    const id = (await c.client('ID')) as number;
    const mine = (await clientList()).find((f) => f.id === String(id));
    expect(mine).toBeDefined();
    expect(mine?.name).toBe('listed');
    expect(mine?.db).toBe('3');
    expect(mine?.flags).toBe('N');
    expect(mine?.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(mine?.laddr).toBe(`127.0.0.1:${server.port}`);
    for (const f of ['fd', 'age', 'idle', 'sub', 'psub', 'multi', 'qbuf', 'omem', 'events', 'cmd', 'user', 'resp'])
      expect(mine).toHaveProperty(f);
    expect(mine?.user).toBe('default');
    expect(mine?.resp).toBe('2');
    expect(mine?.multi).toBe('-1');
    const info = fields((await c.client('INFO')) as string);
    expect(info.id).toBe(String(id));
    expect(info.cmd).toBe('client|info');
    expect(((await c.client('INFO')) as string).endsWith('\n')).toBe(true);
  });

  it('LIST filters by TYPE and ID', async () => {
    const s = client();
    const sid = String(await s.client('ID'));
    await s.subscribe('some-channel');
    const pubsub = await clientList('TYPE', 'pubsub');
    expect(pubsub.map((f) => f.id)).toEqual([sid]);
    expect(pubsub[0].sub).toBe('1');
    expect(pubsub[0].flags).toContain('P');
    expect((await clientList('TYPE', 'normal')).every((f) => f.id !== sid)).toBe(true);
    expect(await clientList('TYPE', 'master')).toEqual([]);
    const myId = String(await r.client('ID'));
    const byId = await clientList('ID', myId, '999999', '0');
    expect(byId.map((f) => f.id)).toEqual([myId]);
    expect(await err(r.call('CLIENT', 'LIST', 'TYPE', 'foo'))).toBe("ERR Unknown client type 'foo'");
    expect(await err(r.call('CLIENT', 'LIST', 'ID', 'abc'))).toBe('ERR Invalid client ID');
    expect(await err(r.call('CLIENT', 'LIST', 'FOO'))).toBe('ERR syntax error');
  });

  it('KILL by ID, by address, and with SKIPME', async () => {
    const victim = await raw();
    const vid = (await victim.command('CLIENT', 'ID')).slice(1, -2);
    expect(await r.client('KILL', 'ID', vid)).toBe(1);
    await victim.readUntil(() => false, 2000);
    expect(victim.closed).toBe(true);
    expect(await r.client('KILL', 'ID', vid)).toBe(0);

    const v2 = await raw();
    const v2id = (await v2.command('CLIENT', 'ID')).slice(1, -2);
    const addr = (await clientList('ID', v2id))[0].addr;
    expect(await r.client('KILL', addr)).toBe('OK');
    await v2.readUntil(() => false, 2000);
    expect(v2.closed).toBe(true);
    expect(await err(r.client('KILL', addr))).toBe('ERR No such client');

    // SKIPME yes (the default) protects the caller; SKIPME no kills it after the reply.
    const self = await raw();
    const selfId = (await self.command('CLIENT', 'ID')).slice(1, -2);
    expect(await self.command('CLIENT', 'KILL', 'ID', selfId)).toBe(':0\r\n');
    expect(await self.command('CLIENT', 'KILL', 'ID', selfId, 'SKIPME', 'no')).toBe(':1\r\n');
    await self.readUntil(() => false, 2000);
    expect(self.closed).toBe(true);
  });

  it('KILL errors', async () => {
    expect(await err(r.call('CLIENT', 'KILL', 'ID', 'abc'))).toBe('ERR client-id should be greater than 0');
    expect(await err(r.call('CLIENT', 'KILL', 'ID', '0'))).toBe('ERR client-id should be greater than 0');
    expect(await err(r.call('CLIENT', 'KILL', 'TYPE', 'foo'))).toBe("ERR Unknown client type 'foo'");
    expect(await err(r.call('CLIENT', 'KILL', 'USER', 'nobody'))).toBe("ERR No such user 'nobody'");
    expect(await err(r.call('CLIENT', 'KILL', 'FOO', 'bar'))).toBe('ERR syntax error');
    expect(await err(r.call('CLIENT', 'KILL', 'ID', '1', 'TYPE'))).toBe('ERR syntax error');
    expect(await err(r.call('CLIENT', 'KILL', 'ID'))).toBe('ERR No such client');
    expect(await err(r.call('CLIENT', 'KILL', 'SKIPME', 'maybe'))).toBe('ERR syntax error');
    expect(await err(r.call('CLIENT', 'KILL', '1.2.3.4:5'))).toBe('ERR No such client');
    expect(await r.call('CLIENT', 'KILL', 'USER', 'default', 'ID', '999999')).toBe(0);
  });

  it('UNBLOCK a blocked client with TIMEOUT or ERROR', async () => {
    const b = await raw();
    const bid = (await b.command('CLIENT', 'ID')).slice(1, -2);
    const waitBlocked = async () => {
      for (let i = 0; i < 300; i++) {
        const me = (await clientList('ID', bid))[0];
        if (me?.flags.includes('b')) return;
        await sleep(10);
      }
      throw new Error('client never blocked');
    };
    b.send('*3\r\n$5\r\nBLPOP\r\n$6\r\nnolist\r\n$1\r\n0\r\n');
    await waitBlocked();
    expect(await r.call('CLIENT', 'UNBLOCK', bid)).toBe(1);
    expect(await b.readUntil((t) => completeReplies(t) >= 1)).toBe('*-1\r\n');
    b.send('*3\r\n$5\r\nBLPOP\r\n$6\r\nnolist\r\n$1\r\n0\r\n');
    await waitBlocked();
    expect(await r.call('CLIENT', 'UNBLOCK', bid, 'ERROR')).toBe(1);
    expect(await b.readUntil((t) => completeReplies(t) >= 1)).toBe(
      '-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n',
    );
    // Not blocked (any more): 0.
    expect(await r.call('CLIENT', 'UNBLOCK', bid)).toBe(0);
    expect(await r.call('CLIENT', 'UNBLOCK', '999999', 'TIMEOUT')).toBe(0);
    expect(await err(r.call('CLIENT', 'UNBLOCK', bid, 'FOO'))).toBe(
      'ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR',
    );
    expect(await err(r.call('CLIENT', 'UNBLOCK', 'abc'))).toBe('ERR value is not an integer or out of range');
    expect(await err(r.call('CLIENT', 'UNBLOCK', bid, 'ERROR', 'x'))).toBe(
      "ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.",
    );
  });

  it('HELP', async () => {
    const help = (await r.call('CLIENT', 'HELP')) as string[];
    expect(help[0]).toMatch(/^CLIENT <subcommand>/);
    expect(help.join('\n')).toContain('SETNAME');
  });
});

describe('INFO', () => {
  it('default sections', async () => {
    const info = await r.info();
    for (const s of ['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'CPU', 'Keyspace'])
      expect(info).toContain(`# ${s}\r\n`);
    expect(info).toMatch(/\r\nredis_version:7\.\d+\.\d+\r\n/);
    expect(info).toContain(`\r\ntcp_port:${server.port}\r\n`);
    expect(info).toMatch(/\r\nconnected_clients:\d+\r\n/);
    expect(info).toMatch(/\r\nused_memory:\d+\r\n/);
    expect(info).toMatch(/\r\nrole:master\r\n/);
    expect(info).toMatch(/\r\ncluster_enabled:0\r\n/);
  });

  it('single sections, keyspace counts and commandstats', async () => {
    await r.flushall();
    await r.set('k1', 'v');
    await r.set('k2', 'v', 'EX', 100);
    const ks = await r.info('keyspace');
    expect(ks).toMatch(/^# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=\d+\r\n$/);
    const server1 = await r.info('server');
    expect(server1.startsWith('# Server\r\n')).toBe(true);
    expect(server1).not.toContain('# Clients');
    const two = await r.call('INFO', 'server', 'clients');
    expect(two).toContain('# Server');
    expect(two).toContain('# Clients');
    expect(two).not.toContain('# Memory');
    await r.get('k1');
    const all = await r.info('all');
    expect(all).toContain('# Commandstats\r\n');
    expect(all).toMatch(/\r\ncmdstat_get:calls=\d+,/);
    expect(await r.info('commandstats')).toMatch(/cmdstat_set:calls=\d+/);
    expect(await r.info('nosuchsection')).toBe('');
    // Names of a JavaScript object's prototype are not sections either.
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) expect(await r.info(name)).toBe('');
  });

  it('stats counters move', async () => {
    const before = Number(/total_commands_processed:(\d+)/.exec(await r.info('stats'))?.[1]);
    await r.ping();
    await r.ping();
    const after = Number(/total_commands_processed:(\d+)/.exec(await r.info('stats'))?.[1]);
    expect(after).toBeGreaterThanOrEqual(before + 2);
    expect(await r.config('RESETSTAT')).toBe('OK');
  });
});

describe('CONFIG', () => {
  it('GET with names and glob patterns', async () => {
    expect(await r.config('GET', 'maxmemory')).toEqual(['maxmemory', '0']);
    const mm = (await r.config('GET', 'maxmemory*')) as string[];
    const map = Object.fromEntries(mm.flatMap((v, i) => (i % 2 === 0 ? [[v, mm[i + 1]]] : [])));
    expect(map.maxmemory).toBe('0');
    expect(map['maxmemory-policy']).toBe('noeviction');
    const several = (await r.call('CONFIG', 'GET', 'timeout', 'databases', 'nosuch')) as string[];
    expect(
      Object.fromEntries([
        [several[0], several[1]],
        [several[2], several[3]],
      ]),
    ).toEqual({ timeout: '0', databases: '16' });
    expect(several).toHaveLength(4);
    expect(await r.config('GET', 'nosuch*')).toEqual([]);
    // Case-insensitive; a plain name is echoed as given, a duplicate answered once.
    expect(await r.call('CONFIG', 'GET', 'TIMEOUT')).toEqual(['TIMEOUT', '0']);
    expect(await r.call('CONFIG', 'GET', 'timeout', 'timeout', 'time*')).toEqual(['timeout', '0']);
    expect(await r.call('CONFIG', 'GET', 'DATA[a-c]ASES')).toEqual(['databases', '16']);
  });

  it('SET applies values, case-insensitively', async () => {
    expect(await r.config('SET', 'timeout', '300')).toBe('OK');
    expect(await r.config('GET', 'timeout')).toEqual(['timeout', '300']);
    expect(await r.call('CONFIG', 'SET', 'TIMEOUT', '0', 'maxclients', '5000')).toBe('OK');
    expect(await r.config('GET', 'timeout')).toEqual(['timeout', '0']);
    expect(await r.config('GET', 'maxclients')).toEqual(['maxclients', '5000']);
    await r.config('SET', 'maxclients', '10000');
  });

  it('SET of several parameters is all or nothing', async () => {
    await r.config('SET', 'timeout', '0');
    expect(await err(r.call('CONFIG', 'SET', 'timeout', '100', 'maxclients', 'abc'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer",
    );
    expect(await r.config('GET', 'timeout')).toEqual(['timeout', '0']);
    expect(await err(r.call('CONFIG', 'SET', 'timeout', '100', 'nosuch', '1'))).toBe(
      "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'",
    );
    expect(await r.config('GET', 'timeout')).toEqual(['timeout', '0']);
  });

  it('SET errors', async () => {
    expect(await err(r.call('CONFIG', 'SET', 'timeout'))).toBe(
      "ERR wrong number of arguments for 'config|set' command",
    );
    expect(await err(r.call('CONFIG', 'SET', 'timeout', '5', 'maxclients'))).toBe('ERR syntax error');
    expect(await err(r.config('SET', 'nosuch', '1'))).toBe(
      "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'",
    );
    expect(await err(r.config('SET', 'timeout', 'abc'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer",
    );
    expect(await err(r.config('SET', 'timeout', '-1'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive",
    );
    expect(await err(r.config('SET', 'maxclients', '0'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive",
    );
    expect(await err(r.call('CONFIG', 'SET', 'timeout', '10', 'timeout', '20'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter",
    );
    expect(await err(r.config('SET', 'databases', '5'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config",
    );
    expect(await err(r.config('SET', 'protected-mode', 'maybe'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'",
    );
    expect(await r.config('GET', 'timeout')).toEqual(['timeout', '0']);
  });

  it('HELP', async () => {
    const help = (await r.call('CONFIG', 'HELP')) as string[];
    expect(help[0]).toMatch(/^CONFIG <subcommand>/);
  });
});

describe('COMMAND', () => {
  it('COUNT and the full list agree', async () => {
    const count = (await r.command('COUNT')) as number;
    expect(count).toBeGreaterThan(100);
    expect(((await r.call('COMMAND')) as unknown[]).length).toBe(count);
    expect(((await r.call('COMMAND', 'INFO')) as unknown[]).length).toBe(count);
  });

  it("INFO entries have Redis 7's ten fields", async () => {
    const [get, nope, cfg] = (await r.call('COMMAND', 'INFO', 'get', 'nosuch', 'CONFIG|GET')) as unknown[][];
    expect(get.slice(0, 8)).toEqual(['get', 2, ['readonly', 'fast'], 1, 1, 1, ['@read', '@string', '@fast'], []]);
    expect(get[8]).toEqual([
      [
        'flags',
        ['RO', 'access'],
        'begin_search',
        ['type', 'index', 'spec', ['index', 1]],
        'find_keys',
        ['type', 'range', 'spec', ['lastkey', 0, 'keystep', 1, 'limit', 0]],
      ],
    ]);
    expect(get[9]).toEqual([]);
    expect(nope).toBeNull();
    expect(cfg.slice(0, 7)).toEqual([
      'config|get',
      -3,
      ['admin', 'noscript', 'loading', 'stale'],
      0,
      0,
      0,
      ['@admin', '@slow', '@dangerous'],
    ]);
    const [mset] = (await r.call('COMMAND', 'INFO', 'mset')) as unknown[][];
    expect(mset.slice(0, 6)).toEqual(['mset', -3, ['write', 'denyoom'], 1, -1, 2]);
    const [config] = (await r.call('COMMAND', 'INFO', 'config')) as unknown[][];
    expect((config[9] as unknown[][]).map((s) => s[0])).toEqual(expect.arrayContaining(['config|get', 'config|set']));
  });

  it('DOCS', async () => {
    const docs = (await r.call('COMMAND', 'DOCS', 'get', 'nosuch')) as unknown[];
    expect(docs[0]).toBe('get');
    expect(docs).toHaveLength(2);
    const fieldsOf = docs[1] as unknown[];
    const m = Object.fromEntries(fieldsOf.flatMap((v, i) => (i % 2 === 0 ? [[v, fieldsOf[i + 1]]] : [])));
    expect(m.since).toBe('1.0.0');
    expect(m.group).toBe('string');
    expect(typeof m.summary).toBe('string');
  });

  it('GETKEYS and GETKEYSANDFLAGS', async () => {
    expect(await r.call('COMMAND', 'GETKEYS', 'mset', 'a', '1', 'b', '2')).toEqual(['a', 'b']);
    expect(await r.call('COMMAND', 'GETKEYS', 'get', 'k')).toEqual(['k']);
    expect(await r.call('COMMAND', 'GETKEYS', 'rename', 'a', 'b')).toEqual(['a', 'b']);
    expect(await r.call('COMMAND', 'GETKEYS', 'OBJECT', 'ENCODING', 'k')).toEqual(['k']);
    expect(await r.call('COMMAND', 'GETKEYSANDFLAGS', 'set', 'k', 'v')).toEqual([['k', ['OW', 'update']]]);
    expect(await r.call('COMMAND', 'GETKEYSANDFLAGS', 'set', 'k', 'v', 'get')).toEqual([
      ['k', ['RW', 'access', 'update']],
    ]);
    expect(await r.call('COMMAND', 'GETKEYSANDFLAGS', 'rename', 'a', 'b')).toEqual([
      ['a', ['RW', 'access', 'delete']],
      ['b', ['OW', 'update']],
    ]);
    expect(await err(r.call('COMMAND', 'GETKEYS', 'nosuch', 'a'))).toBe('ERR Invalid command specified');
    expect(await err(r.call('COMMAND', 'GETKEYS', 'get', 'a', 'b'))).toBe(
      'ERR Invalid number of arguments specified for command',
    );
    expect(await err(r.call('COMMAND', 'GETKEYS', 'ping', 'x'))).toBe('ERR The command has no key arguments');
  });

  it('LIST with FILTERBY', async () => {
    const all = (await r.call('COMMAND', 'LIST')) as string[];
    expect(all).toEqual(expect.arrayContaining(['get', 'set', 'config|get', 'client|list']));
    expect(((await r.call('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'get*')) as string[]).sort()).toEqual(
      expect.arrayContaining(['get', 'getdel', 'getex', 'getrange', 'getset']),
    );
    for (const n of (await r.call('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'get*')) as string[])
      expect(n.startsWith('get')).toBe(true);
    expect(await r.call('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'nosuch*')).toEqual([]);
    const strings = (await r.call('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'string')) as string[];
    expect(strings).toEqual(expect.arrayContaining(['get', 'set', 'incrbyfloat', 'append']));
    expect(strings).not.toContain('hset');
    expect(strings).not.toContain('del');
    expect(await r.call('COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'nosuch')).toEqual([]);
    expect(await err(r.call('COMMAND', 'LIST', 'FILTERBY', 'FOO', 'x'))).toBe('ERR syntax error');
    expect(await err(r.call('COMMAND', 'LIST', 'FOO'))).toBe('ERR syntax error');
  });
});

describe('TIME / SELECT / DBSIZE', () => {
  it('TIME answers seconds and microseconds as bulk strings', async () => {
    const [s, us] = (await r.call('TIME')) as [string, string];
    expect(s).toMatch(/^\d+$/);
    expect(us).toMatch(/^\d+$/);
    expect(Math.abs(Number(s) - Date.now() / 1000)).toBeLessThan(5);
    expect(Number(us)).toBeLessThan(1_000_000);
    expect(await err(r.call('TIME', 'x'))).toBe("ERR wrong number of arguments for 'time' command");
  });

  it('SELECT errors', async () => {
    const c = await raw();
    expect(await c.command('SELECT', '16')).toBe('-ERR DB index is out of range\r\n');
    expect(await c.command('SELECT', 'x')).toBe('-ERR value is not an integer or out of range\r\n');
    expect(await c.command('SELECT', '15')).toBe('+OK\r\n');
  });
});

describe('QUIT / RESET', () => {
  it('QUIT answers OK and closes; later pipelined commands are not run', async () => {
    const c = await raw();
    c.send('*1\r\n$4\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$9\r\nafterquit\r\n$1\r\n1\r\n');
    const got = await c.readUntil(() => false, 3000);
    expect(got).toBe('+OK\r\n');
    expect(c.closed).toBe(true);
    expect(await r.exists('afterquit')).toBe(0);
  });

  it('RESET restores a fresh connection state', async () => {
    const c = await raw();
    await c.command('HELLO', '3');
    await c.command('SELECT', '4');
    await c.command('CLIENT', 'SETNAME', 'before-reset');
    await c.command('WATCH', 'rw');
    await c.command('MULTI');
    await c.command('SET', 'rw', 'queued');
    expect(await c.command('RESET')).toBe('+RESET\r\n');
    // RESP2 again, db 0, no name, no transaction, no watch.
    expect(await c.command('GET', 'missing')).toBe('$-1\r\n');
    expect(await c.command('CLIENT', 'GETNAME')).toBe('$-1\r\n');
    const info = fields((await c.command('CLIENT', 'INFO')).split('\r\n')[1]);
    expect(info.db).toBe('0');
    expect(info.resp).toBe('2');
    expect(await c.command('EXEC')).toBe('-ERR EXEC without MULTI\r\n');
    await r.set('rw', 'other');
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*1\r\n+PONG\r\n');
    expect(await c.command('RESET', 'x')).toBe("-ERR wrong number of arguments for 'reset' command\r\n");
  });
});

describe('redis-cli', () => {
  it('talks to the server, with -3 for RESP3', async () => {
    const run = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(
          'redis-cli',
          ['-h', server.host, '-p', String(server.port), ...args],
          { timeout: 10_000 },
          (e, stdout) => (e ? reject(e) : resolve(stdout)),
        ),
      );
    expect(await run(['PING'])).toBe('PONG\n');
    expect(await run(['--no-raw', 'CONFIG', 'GET', 'databases'])).toBe('1) "databases"\n2) "16"\n');
    expect(await run(['-3', '--no-raw', 'CONFIG', 'GET', 'databases'])).toBe('1# "databases" => "16"\n');
    expect(await run(['--no-raw', 'NOSUCH'])).toBe(
      "(error) ERR unknown command 'NOSUCH', with args beginning with: \n",
    );
    expect(await run(['INFO', 'keyspace'])).toMatch(/^# Keyspace\r?\n/);
  });
});
