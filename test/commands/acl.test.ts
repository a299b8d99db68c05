import type Redis from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { connections } from '../helpers/connections.js';
import { fails } from '../helpers/errors.js';
import { publishReceivers, type RawConnection, type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

// ACL (Redis's acl.c) end to end: the rule language of ACL SETUSER as ACL GETUSER and ACL LIST describe
// it, every error text, ACL DRYRUN, the small subcommands, enforcement on real user connections, AUTH and
// ACL LOG. The same file runs against redis-server 7.0.15 (the `redis` project), so only behaviour both
// share is asserted:
//  - passwords are compared by count only (kvws stores argon2id hashes, Redis SHA-256), and no user in an
//    ACL LIST comparison has one;
//  - Redis 7.0 rebuilds the command rules of a description from its command table, so several single
//    commands come out in its hash-table order (7.2 and kvws keep the order given): those are compared as
//    sets of rules.
// kvws-only behaviour (argon2id, the users file, lock-outs, 7.2 ACL LOG fields) is in acl.kvws.test.ts.

let server: RunningServer;
let r: Redis;
// raw() opens a RESP connection that is closed after the test.
const { raw, closeAll } = connections(() => server);
const userClients: Redis[] = [];

useServer((s, connect) => {
  server = s;
  r = connect();
});

afterEach(async () => {
  closeAll();
  for (const c of userClients.splice(0)) c.disconnect();
  // One server serves the whole file: put the ACL back as a fresh server has it.
  await r.call('ACL', 'SETUSER', 'default', 'on', 'nopass', '~*', '&*', '+@all');
  const users = (await r.call('ACL', 'USERS')) as string[];
  const others = users.filter((u) => u !== 'default');
  if (others.length > 0) await r.call('ACL', 'DELUSER', ...others);
  await r.call('ACL', 'LOG', 'RESET');
  await r.flushall();
});

const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';
const NOPERM_KEY = 'NOPERM this user has no permissions to access one of the keys used as arguments';
const NOPERM_CHANNEL = 'NOPERM this user has no permissions to access one of the channels used as arguments';
const noPermCommand = (name: string) => `NOPERM this user has no permissions to run the '${name}' command`;
const modifierError = (op: string, reason: string) => `ERR Error in ACL SETUSER modifier '${op}': ${reason}`;
const UNKNOWN = 'Unknown command or category name in ACL';
const KEYS_AFTER_ALL =
  "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
const CHANNELS_AFTER_ALL =
  "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";

/** ACL SETUSER name ...rules; resolves to "OK" or rejects with the error. */
function setuser(name: string, ...rules: string[]): Promise<unknown> {
  return r.call('ACL', 'SETUSER', name, ...rules);
}

/** A flat [name, value, …] reply as a record. */
function pairs(a: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < a.length; i += 2) out[a[i] as string] = a[i + 1];
  return out;
}

interface UserView {
  flags: string[];
  passwords: string[];
  commands: string;
  keys: string;
  channels: string;
  selectors: Record<string, unknown>[];
}

/** ACL GETUSER as a record (selectors as records too), or null for an unknown user. */
async function getuser(name: string): Promise<UserView | null> {
  const a = (await r.call('ACL', 'GETUSER', name)) as unknown[] | null;
  if (a === null) return null;
  const u = pairs(a);
  return { ...(u as unknown as UserView), selectors: (u.selectors as unknown[][]).map(pairs) };
}

/** The rules of a `commands` description, sorted (see the header: Redis 7.0 orders single commands by hash). */
const ruleSet = (commands: string) => commands.split(' ').sort();

/** ACL LOG entries, newest first, as records. */
async function aclLog(count?: number): Promise<Record<string, unknown>[]> {
  const a = (await (count === undefined ? r.call('ACL', 'LOG') : r.call('ACL', 'LOG', String(count)))) as unknown[][];
  return a.map(pairs);
}

/** An ioredis client logged in as `user` with AUTH (which any user may run: no ACL LOG entry). */
async function as(user: string, password = 'any-password'): Promise<Redis> {
  const c = redisClient(server, { enableReadyCheck: false });
  userClients.push(c);
  expect(await c.call('AUTH', user, password)).toBe('OK');
  return c;
}

/** A raw connection logged in as `user` with AUTH. */
async function rawAs(user: string, password = 'x'): Promise<RawConnection> {
  const c = await raw();
  expect(await c.command('AUTH', user, password)).toBe('+OK\r\n');
  return c;
}

/** Waits (up to 5 s) for the server to close `c`; returns whether it did. */
async function closedByServer(c: RawConnection): Promise<boolean> {
  await c.readUntil(() => false, 5000);
  return c.closed;
}

describe('ACL SETUSER, described by ACL GETUSER', () => {
  it('a new user is off, with no password, command, key, channel or selector', async () => {
    expect(await setuser('fresh')).toBe('OK');
    expect(await getuser('fresh')).toEqual({
      flags: ['off'],
      passwords: [],
      commands: '-@all',
      keys: '',
      channels: '',
      selectors: [],
    });
    expect(await getuser('nosuch')).toBeNull();
  });

  it('on/off and nopass/resetpass set the flags; keywords are case-insensitive', async () => {
    await setuser('u', 'on', 'nopass');
    expect((await getuser('u'))?.flags).toEqual(['on', 'nopass']);
    await setuser('u', 'resetpass');
    expect((await getuser('u'))?.flags).toEqual(['on']);
    await setuser('u', 'OFF', 'NOPASS');
    expect((await getuser('u'))?.flags).toEqual(['off', 'nopass']);
    await setuser('u', 'skip-sanitize-payload');
    expect((await getuser('u'))?.flags).toEqual(['off', 'nopass', 'skip-sanitize-payload']);
    await setuser('u', 'sanitize-payload');
    expect((await getuser('u'))?.flags).toEqual(['off', 'nopass', 'sanitize-payload']);
  });

  it('passwords: > adds (once per password), < removes, nopass and resetpass clear them', async () => {
    await setuser('p', 'on', '>one', '>two');
    expect((await getuser('p'))?.passwords).toHaveLength(2);
    // The same password again is not a second password.
    await setuser('p', '>one');
    expect((await getuser('p'))?.passwords).toHaveLength(2);
    await setuser('p', '<one');
    expect((await getuser('p'))?.passwords).toHaveLength(1);
    await fails(
      setuser('p', '<one'),
      modifierError('<one', 'The password you are trying to remove from the user does not exist'),
    );
    await setuser('p', 'nopass');
    expect(await getuser('p')).toMatchObject({ flags: ['on', 'nopass'], passwords: [] });
    // A password turns nopass off.
    await setuser('p', '>three');
    expect(await getuser('p')).toMatchObject({ flags: ['on'], passwords: [expect.any(String)] });
    await setuser('p', 'resetpass');
    expect(await getuser('p')).toMatchObject({ flags: ['on'], passwords: [] });
  });

  it('key patterns: ~, %R~, %W~, %RW~ (merged per pattern), allkeys, resetkeys', async () => {
    await setuser('k', '~k*', '%R~r*', '%W~w*', '%RW~rw*');
    expect((await getuser('k'))?.keys).toBe('~k* %R~r* %W~w* ~rw*');
    await setuser('k2', '%r~x', '%w~y', '%wr~z', '~a', '~a', '%R~b', '%W~b');
    expect((await getuser('k2'))?.keys).toBe('%R~x %W~y ~z ~a ~b');
    await setuser('k', 'allkeys');
    expect((await getuser('k'))?.keys).toBe('~*');
    await setuser('k', 'resetkeys', '~one');
    expect((await getuser('k'))?.keys).toBe('~one');
    // ~* is allkeys: it replaces the patterns before it.
    await setuser('k', '~*');
    expect((await getuser('k'))?.keys).toBe('~*');
    await setuser('k', 'resetkeys');
    expect((await getuser('k'))?.keys).toBe('');
  });

  it('channel patterns: &, allchannels, resetchannels', async () => {
    await setuser('c', '&ch*', '&x', '&x');
    expect((await getuser('c'))?.channels).toBe('&ch* &x');
    await setuser('c', 'allchannels');
    expect((await getuser('c'))?.channels).toBe('&*');
    await setuser('c', 'resetchannels', '&news');
    expect((await getuser('c'))?.channels).toBe('&news');
    await setuser('c', '&*');
    expect((await getuser('c'))?.channels).toBe('&*');
    await setuser('c', 'resetchannels');
    expect((await getuser('c'))?.channels).toBe('');
  });

  it('command rules: +cmd, -cmd, +@cat, -@cat, +cmd|sub, +select|0, allcommands, nocommands', async () => {
    const commands = async (...rules: string[]) => {
      await setuser('cmd', 'reset', ...rules);
      return (await getuser('cmd'))?.commands;
    };
    expect(await commands('+get')).toBe('-@all +get');
    expect(await commands('+GET')).toBe('-@all +get');
    expect(await commands('+@all', '-flushall')).toBe('+@all -flushall');
    expect(await commands('+@all', '-@dangerous')).toBe('+@all -@dangerous');
    expect(await commands('-@ALL', '+@String')).toBe('-@all +@string');
    expect(await commands('+@string', '-incr')).toBe('-@all +@string -incr');
    expect(await commands('+config|get')).toBe('-@all +config|get');
    expect(await commands('+config', '-config|set')).toBe('-@all +config -config|set');
    expect(await commands('+@all', '-client|kill')).toBe('+@all -client|kill');
    expect(await commands('+select|0')).toBe('-@all +select|0');
    expect(await commands('+select|0', '+select|1')).toBe('-@all +select|0 +select|1');
    // Allowing the whole command drops its first-argument rules.
    expect(await commands('+select|0', '+select')).toBe('-@all +select');
    expect(await commands('allcommands')).toBe('+@all');
    expect(await commands('+get', '+@all')).toBe('+@all');
    expect(await commands('+@all', 'nocommands')).toBe('-@all');
    expect(await commands('+get', '-@all')).toBe('-@all');
    expect(ruleSet((await commands('+get', '+set', '+del')) as string)).toEqual(ruleSet('-@all +get +set +del'));
  });

  it('selectors: one argument, split across arguments, several; clearselectors', async () => {
    await setuser('s', 'on', '~root*', '+ping', '(~a* +get)', '(', '~b*', '+set', ')', '(~c*', '&ch', '+del)');
    const u = await getuser('s');
    expect(u).toMatchObject({ commands: '-@all +ping', keys: '~root*', channels: '' });
    expect(u?.selectors).toEqual([
      { commands: '-@all +get', keys: '~a*', channels: '' },
      { commands: '-@all +set', keys: '~b*', channels: '' },
      { commands: '-@all +del', keys: '~c*', channels: '&ch' },
    ]);
    // More selectors are added after the existing ones.
    await setuser('s', '(%R~r* +@read)', '(~e  +get)');
    expect((await getuser('s'))?.selectors.slice(3)).toEqual([
      { commands: '-@all +@read', keys: '%R~r*', channels: '' },
      { commands: '-@all +get', keys: '~e', channels: '' },
    ]);
    await setuser('s', 'clearselectors');
    expect(await getuser('s')).toMatchObject({ commands: '-@all +ping', keys: '~root*', selectors: [] });
  });

  it('reset: back to a new user, with sanitize-payload', async () => {
    await setuser('z', 'on', 'nopass', 'skip-sanitize-payload', '~a', '&b', '+@all', '(~c +get)');
    await setuser('z', 'reset');
    expect(await getuser('z')).toEqual({
      flags: ['off', 'sanitize-payload'],
      passwords: [],
      commands: '-@all',
      keys: '',
      channels: '',
      selectors: [],
    });
  });

  it('an empty rule is ignored', async () => {
    expect(await setuser('empty', '')).toBe('OK');
    expect(await setuser('empty', 'on', '', '~a')).toBe('OK');
    expect(await getuser('empty')).toMatchObject({ flags: ['on'], keys: '~a' });
  });

  it('a bad rule changes nothing: an existing user keeps its rules, a new one is not created', async () => {
    await setuser('atomic', 'on', '~a', '+get');
    await fails(setuser('atomic', 'off', '~b', '+nosuch'), modifierError('+nosuch', UNKNOWN));
    expect(await getuser('atomic')).toMatchObject({ flags: ['on'], keys: '~a', commands: '-@all +get' });
    await fails(setuser('never', 'on', '+nosuch'), modifierError('+nosuch', UNKNOWN));
    expect(await getuser('never')).toBeNull();
  });
});

describe('ACL LIST', () => {
  it('one line per user in the config-file form, sorted by name', async () => {
    await setuser('zed', 'on', 'nopass', '~k*', '%R~r*', '%W~w*', '&ch*', '-@all', '+get', '(~b* +set)');
    await setuser('abc', 'off', 'allkeys', 'allchannels', '+@all', '-flushall');
    await setuser('mid', 'on', 'skip-sanitize-payload', '+select|0', '(&c +publish)', '(%R~r* +@read)');
    expect(await r.call('ACL', 'LIST')).toEqual([
      'user abc off ~* &* +@all -flushall',
      'user default on nopass ~* &* +@all',
      'user mid on skip-sanitize-payload resetchannels -@all +select|0 (resetchannels &c -@all +publish) (%R~r* resetchannels -@all +@read)',
      'user zed on nopass ~k* %R~r* %W~w* resetchannels &ch* -@all +get (~b* resetchannels -@all +set)',
    ]);
    await fails(r.call('ACL', 'LIST', 'x'), "ERR wrong number of arguments for 'acl|list' command");
  });
});

describe('ACL SETUSER errors', () => {
  it.each([
    [['+nosuch'], '+nosuch', UNKNOWN],
    [['-nosuch'], '-nosuch', UNKNOWN],
    [['+@nosuch'], '+@nosuch', UNKNOWN],
    [['-@nosuch'], '-@nosuch', UNKNOWN],
    [['+'], '+', UNKNOWN],
    [['+@'], '+@', UNKNOWN],
    [['+config|nosuch'], '+config|nosuch', UNKNOWN],
    [['-client|nosuch'], '-client|nosuch', UNKNOWN],
    [['+get|x|y'], '+get|x|y', UNKNOWN],
    // A first-argument rule can only add.
    [['-select|0'], '-select|0', UNKNOWN],
    [['+get|'], '+get|', 'Syntax error'],
    [['+client|id|x'], '+client|id|x', 'Allowing first-arg of a subcommand is not supported'],
    [['%X~a'], '%X~a', 'Syntax error'],
    [['%~a'], '%~a', 'Syntax error'],
    [['bogus'], 'bogus', 'Syntax error'],
    [['(bogus)'], '(bogus)', 'Syntax error'],
    [['(on)'], '(on)', 'Syntax error'],
    [['~a*', ')'], ')', 'Syntax error'],
    [['allkeys', '~a'], '~a', KEYS_AFTER_ALL],
    [['~*', '%R~a'], '%R~a', KEYS_AFTER_ALL],
    [['allchannels', '&a'], '&a', CHANNELS_AFTER_ALL],
    [['<nosuchpassword'], '<nosuchpassword', 'The password you are trying to remove from the user does not exist'],
    // Blanks and NUL would break the users file, which separates rules with blanks.
    [['~a b'], '~a b', 'Syntax error'],
    [['&a b'], '&a b', 'Syntax error'],
  ])('%j: %s', async (rules, op, reason) => {
    await fails(setuser('bad', ...rules), modifierError(op, reason));
    expect(await getuser('bad')).toBeNull();
  });

  it('an unmatched parenthesis names the selector it starts', async () => {
    await fails(setuser('bad', '(~a', '+get'), "ERR Unmatched parenthesis in acl selector starting at '(~a'.");
    await fails(
      setuser('bad', '~a', '(~b', '+get)', '(~c'),
      "ERR Unmatched parenthesis in acl selector starting at '(~c'.",
    );
    await fails(setuser('bad', '(~a)x'), "ERR Unmatched parenthesis in acl selector starting at '(~a)x'.");
    expect(await getuser('bad')).toBeNull();
  });

  it('patterns with a newline or NUL are refused too', async () => {
    // (Error lines cannot hold a newline, and Redis cuts its message at the NUL: only the refusal is compared.)
    for (const rule of ['&a\nb', '%R~a\0b', '~a\tb']) {
      await expect(setuser('bad', rule)).rejects.toThrow(/^ERR Error in ACL SETUSER modifier '.*': Syntax error$/s);
    }
    expect(await getuser('bad')).toBeNull();
  });

  it('a user name with a blank or NUL is refused', async () => {
    for (const name of ['a b', 'a\tb', 'a\nb', 'a\0b']) {
      await fails(setuser(name, 'on'), "ERR Usernames can't contain spaces or null characters");
    }
    expect(await r.call('ACL', 'USERS')).toEqual(['default']);
  });

  it('arity', async () => {
    await fails(r.call('ACL', 'SETUSER'), "ERR wrong number of arguments for 'acl|setuser' command");
    await fails(r.call('ACL', 'GETUSER'), "ERR wrong number of arguments for 'acl|getuser' command");
  });
});

describe('ACL DRYRUN', () => {
  it('answers OK or why the user may not run the command', async () => {
    await setuser('d', 'on', 'nopass', '~k*', '&ch*', '-@all', '+get', '+set', '+publish', '+subscribe', '+select|0');
    const dry = (...argv: string[]) => r.call('ACL', 'DRYRUN', 'd', ...argv);
    expect(await dry('get', 'k1')).toBe('OK');
    expect(await dry('GET', 'k1')).toBe('OK');
    expect(await dry('get', 'x1')).toBe("This user has no permissions to access the 'x1' key");
    expect(await dry('set', 'x1', 'v')).toBe("This user has no permissions to access the 'x1' key");
    expect(await dry('incr', 'k1')).toBe("This user has no permissions to run the 'incr' command");
    expect(await dry('mset', 'k1', 'v', 'x1', 'v')).toBe("This user has no permissions to run the 'mset' command");
    expect(await dry('client', 'id')).toBe("This user has no permissions to run the 'client|id' command");
    expect(await dry('publish', 'ch1', 'm')).toBe('OK');
    expect(await dry('publish', 'other', 'm')).toBe("This user has no permissions to access the 'other' channel");
    expect(await dry('subscribe', 'ch1', 'other')).toBe("This user has no permissions to access the 'other' channel");
    expect(await dry('select', '0')).toBe('OK');
    expect(await dry('select', '1')).toBe("This user has no permissions to run the 'select' command");
    expect(await r.call('ACL', 'DRYRUN', 'default', 'flushall')).toBe('OK');
  });

  it('%R~ and %W~ patterns: reading and writing are checked apart', async () => {
    await setuser('rw', 'on', 'nopass', '%R~r*', '%W~w*', '+@all');
    const dry = (...argv: string[]) => r.call('ACL', 'DRYRUN', 'rw', ...argv);
    expect(await dry('get', 'r1')).toBe('OK');
    expect(await dry('set', 'r1', 'v')).toBe("This user has no permissions to access the 'r1' key");
    // SET without GET only writes its key.
    expect(await dry('set', 'w1', 'v')).toBe('OK');
    expect(await dry('set', 'w1', 'v', 'GET')).toBe("This user has no permissions to access the 'w1' key");
    expect(await dry('get', 'w1')).toBe("This user has no permissions to access the 'w1' key");
    expect(await dry('copy', 'r1', 'w1')).toBe('OK');
    expect(await dry('copy', 'w1', 'r1')).toBe("This user has no permissions to access the 'w1' key");
    expect(await dry('rename', 'r1', 'w1')).toBe("This user has no permissions to access the 'r1' key");
  });

  it('selectors: a command is allowed when one selector allows all of it', async () => {
    await setuser('sel', 'on', 'nopass', '~a*', '+get', '(~b* +set)');
    const dry = (...argv: string[]) => r.call('ACL', 'DRYRUN', 'sel', ...argv);
    expect(await dry('get', 'a1')).toBe('OK');
    expect(await dry('set', 'b1', 'v')).toBe('OK');
    expect(await dry('set', 'a1', 'v')).toBe("This user has no permissions to access the 'a1' key");
    expect(await dry('get', 'b1')).toBe("This user has no permissions to access the 'b1' key");
    expect(await dry('del', 'b1')).toBe("This user has no permissions to run the 'del' command");
  });

  it('AUTH and HELLO need no permission', async () => {
    await setuser('none', 'on', 'nopass', '-@all');
    expect(await r.call('ACL', 'DRYRUN', 'none', 'auth', 'pw')).toBe('OK');
    expect(await r.call('ACL', 'DRYRUN', 'none', 'hello', '3')).toBe('OK');
    expect(await r.call('ACL', 'DRYRUN', 'none', 'ping')).toBe(
      "This user has no permissions to run the 'ping' command",
    );
  });

  it('errors: unknown user, unknown command, arity', async () => {
    await setuser('d', 'on', 'nopass', '+@all');
    await fails(r.call('ACL', 'DRYRUN', 'nosuch', 'get', 'k'), "ERR User 'nosuch' not found");
    await fails(r.call('ACL', 'DRYRUN', 'd', 'nosuchcmd', 'k'), "ERR Command 'nosuchcmd' not found");
    await fails(r.call('ACL', 'DRYRUN', 'd', 'client', 'nosuch'), "ERR Command 'client' not found");
    await fails(r.call('ACL', 'DRYRUN', 'd', 'get'), "ERR wrong number of arguments for 'get' command");
    await fails(r.call('ACL', 'DRYRUN', 'd', 'get', 'a', 'b'), "ERR wrong number of arguments for 'get' command");
    await fails(r.call('ACL', 'DRYRUN', 'd', 'client'), "ERR wrong number of arguments for 'client' command");
    await fails(r.call('ACL', 'DRYRUN', 'd'), "ERR wrong number of arguments for 'acl|dryrun' command");
  });
});

describe('ACL CAT, USERS, WHOAMI, DELUSER, GENPASS, LOG arguments', () => {
  it('CAT lists the categories, or the commands of one', async () => {
    expect(await r.call('ACL', 'CAT')).toEqual([
      'keyspace',
      'read',
      'write',
      'set',
      'sortedset',
      'list',
      'hash',
      'string',
      'bitmap',
      'hyperloglog',
      'geo',
      'stream',
      'pubsub',
      'admin',
      'fast',
      'slow',
      'blocking',
      'dangerous',
      'connection',
      'transaction',
      'scripting',
    ]);
    const read = (await r.call('ACL', 'CAT', 'read')) as string[];
    expect(read).toEqual(expect.arrayContaining(['get', 'hget', 'object|encoding', 'zscore']));
    expect(read).not.toContain('set');
    expect(read).not.toContain('object');
    expect(new Set((await r.call('ACL', 'CAT', 'READ')) as string[])).toEqual(new Set(read));
    await fails(r.call('ACL', 'CAT', 'nosuch'), "ERR Unknown category 'nosuch'");
    await fails(
      r.call('ACL', 'CAT', 'read', 'write'),
      "ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.",
    );
  });

  it('USERS lists the user names sorted; WHOAMI names the session user', async () => {
    await setuser('zed');
    await setuser('Abc');
    await setuser('abc');
    expect(await r.call('ACL', 'USERS')).toEqual(['Abc', 'abc', 'default', 'zed']);
    expect(await r.call('ACL', 'WHOAMI')).toBe('default');
    await setuser('zed', 'on', 'nopass', '+acl|whoami');
    expect(await (await as('zed')).call('ACL', 'WHOAMI')).toBe('zed');
    await fails(r.call('ACL', 'WHOAMI', 'x'), "ERR wrong number of arguments for 'acl|whoami' command");
    await fails(r.call('ACL', 'USERS', 'x'), "ERR wrong number of arguments for 'acl|users' command");
  });

  it('DELUSER answers how many users it deleted; default cannot be removed', async () => {
    await setuser('u1');
    await setuser('u2');
    await setuser('u3');
    expect(await r.call('ACL', 'DELUSER', 'nosuch', 'u1', 'u2')).toBe(2);
    expect(await r.call('ACL', 'DELUSER', 'u1')).toBe(0);
    await fails(r.call('ACL', 'DELUSER', 'default'), "ERR The 'default' user cannot be removed");
    // Nothing is deleted when default is named.
    await fails(r.call('ACL', 'DELUSER', 'u3', 'default'), "ERR The 'default' user cannot be removed");
    expect(await r.call('ACL', 'USERS')).toEqual(['default', 'u3']);
    await fails(r.call('ACL', 'DELUSER'), "ERR wrong number of arguments for 'acl|deluser' command");
  });

  it('CLIENT KILL USER closes the sessions of that user only; an unknown user is an error', async () => {
    await setuser('killme', 'on', 'nopass', '+@all', '~*');
    const victim = await rawAs('killme');
    const bystander = await raw();
    expect(await r.call('CLIENT', 'KILL', 'USER', 'killme')).toBe(1);
    expect(await closedByServer(victim)).toBe(true);
    expect(await bystander.command('PING')).toBe('+PONG\r\n');
    bystander.close();
    await fails(r.call('CLIENT', 'KILL', 'USER', 'nosuchuser'), "ERR No such user 'nosuchuser'");
  });

  it('GENPASS: 256 bits as 64 hex characters by default, bits/4 rounded up otherwise', async () => {
    const a = (await r.call('ACL', 'GENPASS')) as string;
    const b = (await r.call('ACL', 'GENPASS')) as string;
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).not.toBe(a);
    expect(await r.call('ACL', 'GENPASS', '32')).toMatch(/^[0-9a-f]{8}$/);
    expect(await r.call('ACL', 'GENPASS', '1')).toMatch(/^[0-9a-f]$/);
    expect(await r.call('ACL', 'GENPASS', '5')).toMatch(/^[0-9a-f]{2}$/);
    expect(await r.call('ACL', 'GENPASS', '4096')).toMatch(/^[0-9a-f]{1024}$/);
  });

  it('GENPASS errors', async () => {
    const range =
      'ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096';
    for (const bad of ['0', '-1', '4097']) await fails(r.call('ACL', 'GENPASS', bad), range);
    await fails(r.call('ACL', 'GENPASS', 'abc'), 'ERR value is not an integer or out of range');
    await fails(
      r.call('ACL', 'GENPASS', '1', '2'),
      "ERR unknown subcommand or wrong number of arguments for 'GENPASS'. Try ACL HELP.",
    );
  });

  it('LOG count and RESET arguments; unknown subcommands', async () => {
    expect(await r.call('ACL', 'LOG', '0')).toEqual([]);
    expect(await r.call('ACL', 'LOG', '-1')).toEqual([]);
    await fails(r.call('ACL', 'LOG', 'x'), 'ERR value is not an integer or out of range');
    await fails(
      r.call('ACL', 'LOG', 'RESET', 'x'),
      "ERR unknown subcommand or wrong number of arguments for 'LOG'. Try ACL HELP.",
    );
    await fails(r.call('ACL', 'NOSUCH'), "ERR unknown subcommand 'NOSUCH'. Try ACL HELP.");
    await fails(r.call('ACL'), "ERR wrong number of arguments for 'acl' command");
  });
});

describe('enforcement on a user connection', () => {
  it('EXEC checks the rights again: a command no longer allowed answers NOPERM in its place', async () => {
    await setuser('tx', 'on', 'nopass', '~*', '+@all');
    const c = await rawAs('tx');
    expect(await c.command('MULTI')).toBe('+OK\r\n');
    expect(await c.command('SET', 'k', 'v')).toBe('+QUEUED\r\n');
    expect(await c.command('GET', 'k')).toBe('+QUEUED\r\n');
    expect(await c.command('INCR', 'n')).toBe('+QUEUED\r\n');
    await setuser('tx', '-set', 'resetkeys', '~k');
    expect(await c.command('EXEC')).toBe(
      '*3\r\n' +
        '-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n' +
        '$-1\r\n' +
        '-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to touch the specified keys\r\n',
    );
    expect(await r.exists('k', 'n')).toBe(0);
  });

  it('a denied command, key or channel answers NOPERM', async () => {
    await setuser('en', 'on', 'nopass', '~k*', '&ch*', '-@all', '+get', '+set', '+publish', '+client|id');
    const c = await as('en');
    expect(await c.set('k1', 'v')).toBe('OK');
    expect(await c.get('k1')).toBe('v');
    await fails(c.incr('k1'), noPermCommand('incr'));
    await fails(c.call('CLIENT', 'GETNAME'), noPermCommand('client|getname'));
    expect(await c.call('CLIENT', 'ID')).toEqual(expect.any(Number));
    await fails(c.get('x1'), NOPERM_KEY);
    await fails(c.set('x1', 'v'), NOPERM_KEY);
    expect(await c.publish('ch1', 'm')).toBe(publishReceivers(server, 0));
    await fails(c.publish('other', 'm'), NOPERM_CHANNEL);
    expect(await r.exists('x1')).toBe(0);
  });

  it('%R~ keys can be read, not written; %W~ keys written, not read', async () => {
    await setuser('rw', 'on', 'nopass', '%R~r*', '%W~w*', '+@all');
    await r.set('r1', 'readable');
    const c = await as('rw');
    expect(await c.get('r1')).toBe('readable');
    await fails(c.set('r1', 'v'), NOPERM_KEY);
    expect(await c.set('w1', 'written')).toBe('OK');
    await fails(c.get('w1'), NOPERM_KEY);
    await fails(c.set('w1', 'v', 'GET'), NOPERM_KEY);
    expect(await r.get('w1')).toBe('written');
    expect(await c.copy('r1', 'w2')).toBe(1);
    expect(await r.get('w2')).toBe('readable');
  });

  it('SUBSCRIBE is checked against the channel patterns', async () => {
    await setuser('sub', 'on', 'nopass', '&news*', '+subscribe', '+psubscribe', '+ping');
    const c = await rawAs('sub');
    expect(await c.command('SUBSCRIBE', 'news1', 'other')).toBe(`-${NOPERM_CHANNEL}\r\n`);
    expect(await c.command('SUBSCRIBE', 'news1')).toBe('*3\r\n$9\r\nsubscribe\r\n$5\r\nnews1\r\n:1\r\n');
    // A pattern must be one of the user's patterns, not merely match them.
    expect(await c.command('PSUBSCRIBE', 'news*')).toBe('*3\r\n$10\r\npsubscribe\r\n$5\r\nnews*\r\n:2\r\n');
    expect(await c.command('PSUBSCRIBE', 'n*')).toBe(`-${NOPERM_CHANNEL}\r\n`);
  });

  it('+select|0 allows SELECT 0 only', async () => {
    await setuser('sel', 'on', 'nopass', '-@all', '+select|0', '+select|2');
    const c = await rawAs('sel');
    expect(await c.command('SELECT', '0')).toBe('+OK\r\n');
    expect(await c.command('SELECT', '1')).toBe(`-${noPermCommand('select')}\r\n`);
    expect(await c.command('SELECT', '2')).toBe('+OK\r\n');
  });

  it('a selector grants a second key space', async () => {
    await setuser('two', 'on', 'nopass', '~a*', '+get', '(~b* +set +get)');
    await r.set('a1', 'A');
    const c = await as('two');
    expect(await c.get('a1')).toBe('A');
    expect(await c.set('b1', 'B')).toBe('OK');
    expect(await c.get('b1')).toBe('B');
    await fails(c.set('a1', 'x'), NOPERM_KEY);
    await fails(c.get('c1'), NOPERM_KEY);
  });

  it('inside MULTI a denied command is refused and the transaction aborted', async () => {
    await setuser('tx', 'on', 'nopass', '~k*', '-@all', '+multi', '+exec', '+set', '+get');
    const c = await rawAs('tx');
    expect(await c.command('MULTI')).toBe('+OK\r\n');
    expect(await c.command('SET', 'k1', 'v')).toBe('+QUEUED\r\n');
    expect(await c.command('INCR', 'k1')).toBe(`-${noPermCommand('incr')}\r\n`);
    expect(await c.command('GET', 'x1')).toBe(`-${NOPERM_KEY}\r\n`);
    expect(await c.command('EXEC')).toBe('-EXECABORT Transaction discarded because of previous errors.\r\n');
    expect(await r.exists('k1')).toBe(0);
  });

  it('ACL SETUSER applies to open sessions at once', async () => {
    await setuser('live', 'on', 'nopass', '~*', '+get');
    const c = await as('live');
    expect(await c.get('k')).toBeNull();
    await setuser('live', 'nocommands', '+set');
    await fails(c.get('k'), noPermCommand('get'));
    expect(await c.set('k', 'v')).toBe('OK');
    await setuser('live', 'resetkeys', '~other');
    await fails(c.set('k', 'v'), NOPERM_KEY);
  });

  it('deleting a user closes its connections', async () => {
    await setuser('gone', 'on', 'nopass', '+@all');
    const c = await rawAs('gone');
    const other = await raw();
    expect(await r.call('ACL', 'DELUSER', 'gone')).toBe(1);
    expect(await closedByServer(c)).toBe(true);
    expect(await other.command('PING')).toBe('+PONG\r\n');
  });

  it("revoking a subscriber's channel closes its connection", async () => {
    await setuser('ps', 'on', 'nopass', '&news*', '+subscribe', '+ping');
    const c = await rawAs('ps');
    expect(await c.command('SUBSCRIBE', 'news1')).toBe('*3\r\n$9\r\nsubscribe\r\n$5\r\nnews1\r\n:1\r\n');
    // Adding a channel keeps it.
    await setuser('ps', '&other');
    expect(await c.command('PING')).toBe('*2\r\n$4\r\npong\r\n$0\r\n\r\n');
    await setuser('ps', 'resetchannels', '&other');
    expect(await closedByServer(c)).toBe(true);
  });

  it('RESET logs out: back to the default user', async () => {
    await setuser('rs', 'on', 'nopass', '+@all');
    const c = await rawAs('rs');
    expect(await c.command('ACL', 'WHOAMI')).toBe('$2\r\nrs\r\n');
    expect(await c.command('RESET')).toBe('+RESET\r\n');
    expect(await c.command('ACL', 'WHOAMI')).toBe('$7\r\ndefault\r\n');
  });

  it('a user without any command can still AUTH (as another user) and HELLO', async () => {
    await setuser('none', 'on', 'nopass', '-@all');
    const c = await rawAs('none');
    expect(await c.command('PING')).toBe(`-${noPermCommand('ping')}\r\n`);
    expect(await c.command('HELLO', '2')).toMatch(/^\*14\r\n/);
    expect(await c.command('AUTH', 'none', 'x')).toBe('+OK\r\n');
    expect(await c.command('AUTH', 'default', 'x')).toBe('+OK\r\n');
    expect(await c.command('ACL', 'WHOAMI')).toBe('$7\r\ndefault\r\n');
  });
});

describe('AUTH', () => {
  it('a password user: the right password logs in, a wrong one answers WRONGPASS', async () => {
    await setuser('pw', 'on', '>secret', '+@all', '~*');
    const c = await raw();
    expect(await c.command('AUTH', 'pw', 'wrong')).toBe(`-${WRONGPASS}\r\n`);
    expect(await c.command('ACL', 'WHOAMI')).toBe('$7\r\ndefault\r\n');
    expect(await c.command('AUTH', 'pw', 'secret')).toBe('+OK\r\n');
    expect(await c.command('ACL', 'WHOAMI')).toBe('$2\r\npw\r\n');
    // ioredis's username/password options log in at connect.
    const viaOptions = redisClient(server, { username: 'pw', password: 'secret' });
    userClients.push(viaOptions);
    expect(await viaOptions.call('ACL', 'WHOAMI')).toBe('pw');
  });

  it('unknown and disabled users answer WRONGPASS, even with nopass', async () => {
    await setuser('offuser', 'off', 'nopass', '+@all');
    const c = await raw();
    expect(await c.command('AUTH', 'nosuch', 'pw')).toBe(`-${WRONGPASS}\r\n`);
    expect(await c.command('AUTH', 'offuser', 'pw')).toBe(`-${WRONGPASS}\r\n`);
  });

  it('AUTH <password> while the default user has no password; syntax', async () => {
    const c = await raw();
    expect(await c.command('AUTH', 'onlypassword')).toBe(
      '-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n',
    );
    expect(await c.command('AUTH', 'default', 'anything')).toBe('+OK\r\n');
    expect(await c.command('AUTH', 'a', 'b', 'c')).toBe('-ERR syntax error\r\n');
    expect(await c.command('AUTH')).toBe("-ERR wrong number of arguments for 'auth' command\r\n");
  });

  it('once the default user needs a password, new connections must authenticate (NOAUTH)', async () => {
    await setuser('admin', 'on', 'nopass', '+@all', '~*');
    try {
      await setuser('default', 'resetpass');
      const c = await raw();
      expect(await c.command('PING')).toBe('-NOAUTH Authentication required.\r\n');
      expect(await c.command('GET', 'k')).toBe('-NOAUTH Authentication required.\r\n');
      expect(await c.command('AUTH', 'default', 'x')).toBe(`-${WRONGPASS}\r\n`);
      expect(await c.command('AUTH', 'admin', 'x')).toBe('+OK\r\n');
      expect(await c.command('PING')).toBe('+PONG\r\n');
      // RESET returns to the default user, which now needs a password.
      expect(await c.command('RESET')).toBe('+RESET\r\n');
      expect(await c.command('PING')).toBe('-NOAUTH Authentication required.\r\n');
      // Connections authenticated before the change keep working.
      expect(await r.ping()).toBe('PONG');
    } finally {
      await setuser('default', 'on', 'nopass', '~*', '&*', '+@all');
    }
    const after = await raw();
    expect(await after.command('PING')).toBe('+PONG\r\n');
  });
});

describe('ACL LOG', () => {
  const FIELDS = ['count', 'reason', 'context', 'object', 'username', 'age-seconds', 'client-info'];

  it('records a denied command, key and channel, newest first', async () => {
    await setuser('lg', 'on', 'nopass', '~k*', '&ch*', '-@all', '+get', '+publish');
    const c = await as('lg');
    await fails(c.incr('k1'), noPermCommand('incr'));
    let [e] = await aclLog();
    expect(e).toMatchObject({ count: 1, reason: 'command', context: 'toplevel', object: 'incr', username: 'lg' });
    expect(e['client-info']).toEqual(expect.stringContaining(' user=lg '));
    expect(e['client-info']).toEqual(expect.stringContaining(' cmd=incr '));
    await fails(c.get('x1'), NOPERM_KEY);
    [e] = await aclLog();
    expect(e).toMatchObject({ count: 1, reason: 'key', context: 'toplevel', object: 'x1', username: 'lg' });
    await fails(c.publish('other', 'm'), NOPERM_CHANNEL);
    const log = await aclLog();
    expect(log[0]).toMatchObject({ count: 1, reason: 'channel', context: 'toplevel', object: 'other', username: 'lg' });
    expect(log.map((x) => x.object)).toEqual(['other', 'x1', 'incr']);
    expect(await aclLog(1)).toHaveLength(1);
  });

  it('entries have the Redis 7.0 fields, in order', async () => {
    await setuser('lg', 'on', 'nopass', '-@all');
    await fails((await as('lg')).ping(), noPermCommand('ping'));
    const [raw0] = (await r.call('ACL', 'LOG', '1')) as unknown[][];
    expect(raw0.filter((_, i) => i % 2 === 0).slice(0, FIELDS.length)).toEqual(FIELDS);
    const [e] = await aclLog(1);
    expect(Number(e['age-seconds'])).toBeGreaterThanOrEqual(0);
  });

  it('denials inside MULTI have the multi context', async () => {
    await setuser('lg', 'on', 'nopass', '~k*', '-@all', '+multi', '+get');
    const c = await rawAs('lg');
    await c.command('MULTI');
    await c.command('GET', 'x1');
    const [e] = await aclLog();
    expect(e).toMatchObject({ count: 1, reason: 'key', context: 'multi', object: 'x1', username: 'lg' });
  });

  it('a repeated denial bumps its entry, which becomes the newest', async () => {
    await setuser('lg', 'on', 'nopass', '~k*', '-@all', '+get');
    const c = await as('lg');
    await fails(c.get('a'), NOPERM_KEY);
    await fails(c.get('b'), NOPERM_KEY);
    await fails(c.get('a'), NOPERM_KEY);
    const log = await aclLog();
    expect(log).toHaveLength(2);
    expect(log[0]).toMatchObject({ count: 2, reason: 'key', object: 'a' });
    expect(log[1]).toMatchObject({ count: 1, reason: 'key', object: 'b' });
  });

  it('failed logins are logged with reason auth', async () => {
    const c = await raw();
    expect(await c.command('auth', 'nosuchuser', 'pw')).toBe(`-${WRONGPASS}\r\n`);
    const [e] = await aclLog();
    expect(e).toMatchObject({ count: 1, reason: 'auth', context: 'toplevel', object: 'auth', username: 'nosuchuser' });
  });

  it('RESET empties it', async () => {
    await setuser('lg', 'on', 'nopass', '-@all');
    await fails((await as('lg')).ping(), noPermCommand('ping'));
    expect(await aclLog()).toHaveLength(1);
    expect(await r.call('ACL', 'LOG', 'RESET')).toBe('OK');
    expect(await aclLog()).toEqual([]);
  });
});
