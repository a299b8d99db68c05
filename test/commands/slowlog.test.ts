import type Redis from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fields } from '../helpers/client-info.js';
import { connections } from '../helpers/connections.js';
import { err } from '../helpers/errors.js';
import type { RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep, waitBlocked, waitFor } from '../helpers/wait.js';

// SLOWLOG end to end, as Redis 7 does it: what is logged (every command at or over
// slowlog-log-slower-than µs, not EXEC, blocked commands without their wait), the six fields of an entry,
// how arguments are cut (32 of them, 128 bytes each), secrets redacted, slowlog-max-len, GET's count, LEN,
// RESET, HELP and their errors. And KEYS, the expensive command, refused by ACL rules (`-keys`,
// `-@dangerous`). Runs against kvws, real Redis and the Redis engine. Entries are found by the client name
// each test's connection sets, since other connections (the test's admin client) are logged too.

let server: RunningServer;
let admin: Redis;
const { client, closeAll } = connections(() => server);

useServer(async (s, connect) => {
  server = s;
  admin = connect();
  await admin.ping();
});

beforeEach(async () => {
  await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0', 'slowlog-max-len', '128');
  await admin.call('SLOWLOG', 'RESET');
});

afterEach(async () => {
  closeAll();
  await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '10000', 'slowlog-max-len', '128');
  await admin.flushall();
});

interface Entry {
  id: number;
  time: number;
  duration: number;
  argv: string[];
  addr: string;
  name: string;
}

/** SLOWLOG GET -1 (every entry, newest first), decoded. */
async function slowlog(): Promise<Entry[]> {
  const raw = (await admin.call('SLOWLOG', 'GET', '-1')) as unknown[][];
  return raw.map((e) => {
    expect(e).toHaveLength(6);
    const [id, time, duration, argv, addr, name] = e;
    return {
      id: id as number,
      time: time as number,
      duration: duration as number,
      argv: argv as string[],
      addr: addr as string,
      name: name as string,
    };
  });
}

/** The entries of the connection named `name`, oldest first, but for its CLIENT SETNAME and CLIENT INFO. */
async function entriesOf(name: string): Promise<Entry[]> {
  return (await slowlog()).filter((e) => e.name === name && e.argv[0].toUpperCase() !== 'CLIENT').reverse();
}

/** A connection named `name` (CLIENT SETNAME), and its address as CLIENT INFO gives it. */
async function named(name: string): Promise<{ c: Redis; addr: string }> {
  const c = client();
  await c.call('CLIENT', 'SETNAME', name);
  const addr = fields((await c.call('CLIENT', 'INFO')) as string).addr;
  return { c, addr };
}

describe('SLOWLOG', () => {
  it('logs every command at slowlog-log-slower-than 0, newest first, with the six fields', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { c, addr } = await named('six');
    await c.set('k', 'v');
    await c.get('k');
    await c.call('PING');
    const all = await slowlog();
    // Newest first, ids strictly decreasing.
    for (let i = 1; i < all.length; i++) expect(all[i - 1].id).toBeGreaterThan(all[i].id);
    const mine = await entriesOf('six');
    expect(mine.map((e) => e.argv)).toEqual([['set', 'k', 'v'], ['get', 'k'], ['PING']]);
    for (const e of mine) {
      expect(Number.isInteger(e.id) && e.id >= 0).toBe(true);
      expect(e.time).toBeGreaterThanOrEqual(before - 1);
      expect(e.time).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
      expect(Number.isInteger(e.duration) && e.duration >= 0).toBe(true);
      expect(e.addr).toBe(addr);
    }
    // CLIENT SETNAME itself: logged once it has run, so with the new name.
    const setname = (await slowlog()).find((e) => e.argv[0] === 'CLIENT' && e.argv[1] === 'SETNAME');
    expect(setname?.argv[2]).toBe('six');
    expect(setname?.name).toBe('six');
  });

  it('keeps at most 32 arguments and 128 bytes of each, saying how much was left out', async () => {
    const { c } = await named('trim');
    await c.call('RPUSH', 'l', ...Array.from({ length: 40 }, (_, i) => String(i + 1)));
    await c.set('s', 'a'.repeat(200));
    await c.set('t', 'b'.repeat(128));
    const [rpush, setLong, setExact] = await entriesOf('trim');
    expect(rpush.argv).toHaveLength(32);
    expect(rpush.argv.slice(0, 3)).toEqual(['RPUSH', 'l', '1']);
    expect(rpush.argv[30]).toBe('29');
    // 42 arguments: 31 kept, the 32nd stands for the 11 others.
    expect(rpush.argv[31]).toBe('... (11 more arguments)');
    expect(setLong.argv).toEqual(['set', 's', `${'a'.repeat(128)}... (72 more bytes)`]);
    expect(setExact.argv).toEqual(['set', 't', 'b'.repeat(128)]);
  });

  it('redacts the secrets of AUTH, HELLO AUTH and ACL SETUSER', async () => {
    const { c } = await named('secrets');
    await c.call('ACL', 'SETUSER', 'slowuser', 'on', '>s3cret-pw', '~*', '+@all');
    await c.call('AUTH', 'slowuser', 's3cret-pw');
    await c.call('HELLO', '2', 'AUTH', 'slowuser', 's3cret-pw');
    await c.call('AUTH', 'default', 'anything');
    const mine = (await entriesOf('secrets')).map((e) => e.argv);
    expect(mine).toEqual([
      ['ACL', 'SETUSER', '(redacted)', '(redacted)', '(redacted)', '(redacted)', '(redacted)'],
      ['AUTH', '(redacted)', '(redacted)'],
      ['HELLO', '2', 'AUTH', '(redacted)', '(redacted)'],
      ['AUTH', '(redacted)', '(redacted)'],
    ]);
    expect(JSON.stringify(await slowlog())).not.toContain('s3cret');
    await admin.call('ACL', 'DELUSER', 'slowuser');
  });

  it('does not log EXEC (skip_slowlog), but does log the commands it runs', async () => {
    const { c } = await named('tx');
    await c.multi().set('a', '1').incr('a').exec();
    const names = (await entriesOf('tx')).map((e) => e.argv[0].toLowerCase());
    expect(names).not.toContain('exec');
    expect(names[0]).toBe('multi');
    // The Redis engine queues the transaction itself and hands it to Redis whole at EXEC.
    if (server.engine !== 'redis') expect(names).toEqual(['multi', 'set', 'incr']);
  });

  it('logs a blocked command once it is served, without the time it waited', async () => {
    const { c } = await named('blocked');
    const waiting = c.blpop('bl', 10);
    // Let it block, wait a while, then serve it from another connection.
    await waitBlocked(admin, 1);
    await sleep(300);
    await admin.rpush('bl', 'x');
    expect(await waiting).toEqual(['bl', 'x']);
    let blpop: Entry | undefined;
    await waitFor(async () => {
      blpop = (await entriesOf('blocked')).find((e) => e.argv[0].toLowerCase() === 'blpop');
      return blpop !== undefined;
    }, 5000);
    expect(blpop?.argv.slice(1)).toEqual(['bl', '10']);
    // It waited at least 300 ms between blocking and being served; the entry leaves that out.
    expect(blpop?.duration).toBeLessThan(150_000);
  });

  it('logs nothing at -1 and only slower commands above 0; CONFIG GET reads both parameters back', async () => {
    const { c } = await named('threshold');
    await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1');
    await c.set('x', '1');
    expect(await entriesOf('threshold')).toEqual([]);
    await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '60000000');
    await c.set('x', '2');
    expect(await entriesOf('threshold')).toEqual([]);
    expect(await admin.call('CONFIG', 'GET', 'slowlog*')).toEqual(
      expect.arrayContaining(['slowlog-log-slower-than', '60000000', 'slowlog-max-len', '128']),
    );
    expect(await err(admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-2'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive",
    );
    expect(await err(admin.call('CONFIG', 'SET', 'slowlog-max-len', '-1'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument must be between 0 and 9223372036854775807 inclusive",
    );
    expect(await err(admin.call('CONFIG', 'SET', 'slowlog-max-len', 'abc'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument couldn't be parsed into an integer",
    );
  });

  it('keeps slowlog-max-len entries, dropping the oldest', async () => {
    const { c } = await named('maxlen');
    await admin.call('CONFIG', 'SET', 'slowlog-max-len', '3');
    for (let i = 0; i < 10; i++) await c.set(`m${i}`, String(i));
    const all = await slowlog();
    expect(all).toHaveLength(3);
    expect(all.map((e) => e.argv[1])).toEqual(['m9', 'm8', 'm7']);
    expect(await admin.call('SLOWLOG', 'LEN')).toBe(3);
  });

  it('GET count, LEN, RESET and HELP, with Redis’s errors', async () => {
    const { c } = await named('sub');
    for (let i = 0; i < 15; i++) await c.call('PING');
    expect(((await admin.call('SLOWLOG', 'GET')) as unknown[]).length).toBe(10);
    expect(((await admin.call('SLOWLOG', 'GET', '2')) as unknown[]).length).toBe(2);
    expect(await admin.call('SLOWLOG', 'GET', '0')).toEqual([]);
    expect(((await admin.call('SLOWLOG', 'GET', '-1')) as unknown[]).length).toBeGreaterThan(15);
    expect(await admin.call('SLOWLOG', 'LEN')).toBeGreaterThan(15);
    for (const bad of ['-2', 'abc']) {
      expect(await err(admin.call('SLOWLOG', 'GET', bad))).toBe('ERR count should be greater than or equal to -1');
    }
    expect(await err(admin.call('SLOWLOG', 'GET', '1', '2'))).toBe(
      "ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.",
    );
    expect(await err(admin.call('SLOWLOG', 'LEN', 'x'))).toBe(
      "ERR wrong number of arguments for 'slowlog|len' command",
    );
    expect(await err(admin.call('SLOWLOG', 'NOPE'))).toBe("ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP.");
    expect(await admin.call('SLOWLOG', 'RESET')).toBe('OK');
    // The RESET itself ran at or over 0 µs: it is the one entry left.
    const after = await slowlog();
    expect(after.map((e) => e.argv)).toEqual([['SLOWLOG', 'RESET']]);
    const help = (await admin.call('SLOWLOG', 'HELP')) as string[];
    expect(help[0]).toBe('SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:');
    expect(help).toContain('GET [<count>]');
    expect(help).toContain('    Return top <count> entries from the slowlog (default: 10, -1 mean all).');
    expect(help.slice(-2)).toEqual(['HELP', '    Prints this help.']);
  });

  it('is an admin command: a user without @admin gets NOPERM', async () => {
    await admin.call('ACL', 'SETUSER', 'slowreader', 'on', 'nopass', '~*', '+@all', '-@admin');
    const c = client();
    await c.call('AUTH', 'slowreader', 'x');
    expect(await err(c.call('SLOWLOG', 'GET'))).toBe(
      "NOPERM this user has no permissions to run the 'slowlog|get' command",
    );
    expect(await c.call('SLOWLOG', 'HELP')).toEqual(expect.arrayContaining(['LEN']));
    await admin.call('ACL', 'DELUSER', 'slowreader');
  });
});

describe('KEYS is ACL-controllable (@keyspace @read @slow @dangerous)', () => {
  it('`-keys` and `-@dangerous` refuse it with NOPERM; SCAN stays allowed', async () => {
    await admin.set('present', '1');
    await admin.call('ACL', 'SETUSER', 'nokeys', 'on', 'nopass', '~*', '+@all', '-keys');
    await admin.call('ACL', 'SETUSER', 'nodanger', 'on', 'nopass', '~*', '+@all', '-@dangerous');
    const [info] = (await admin.call('COMMAND', 'INFO', 'keys')) as unknown[][];
    expect((info[6] as string[]).sort()).toEqual(['@dangerous', '@keyspace', '@read', '@slow']);
    for (const user of ['nokeys', 'nodanger']) {
      const c = client();
      await c.call('AUTH', user, 'x');
      expect(await err(c.keys('*'))).toBe("NOPERM this user has no permissions to run the 'keys' command");
      expect(await c.scan('0')).toEqual(['0', ['present']]);
    }
    await admin.call('ACL', 'DELUSER', 'nokeys', 'nodanger');
  });
});
