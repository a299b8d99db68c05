import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connections } from '../helpers/connections.js';
import { fails } from '../helpers/errors.js';
import { RawConnection, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { waitFor } from '../helpers/wait.js';

// kvws-only ACL behaviour (acl.test.ts holds what kvws shares with Redis): argon2id passwords, the users
// file (--acl-file) with ACL SAVE / ACL LOAD, sessions closed when their user is turned off, the Redis 7.2
// ACL LOG fields, and the failed-login lock-out. Runs in the kvws project only.

let server: RunningServer;
let r: Redis;
// raw() opens a RESP connection that is closed after the test.
const { raw, closeAll } = connections(() => server);

useServer((s, connect) => {
  server = s;
  r = connect();
});

afterEach(async () => {
  closeAll();
  const users = (await r.call('ACL', 'USERS')) as string[];
  const others = users.filter((u) => u !== 'default');
  if (others.length > 0) await r.call('ACL', 'DELUSER', ...others);
  await r.call('ACL', 'LOG', 'RESET');
});

const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.\r\n';
const NO_USERS_FILE =
  'ERR This kvws instance is not configured to use a users file: start it with --data-dir or --acl-file to use ACL SAVE and ACL LOAD';

/** A flat [name, value, …] reply as a record. */
function pairs(a: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < a.length; i += 2) out[a[i] as string] = a[i + 1];
  return out;
}

/** The stored password hashes of `user` on the server `c` is connected to. */
async function passwords(c: Redis, user: string): Promise<string[]> {
  return pairs((await c.call('ACL', 'GETUSER', user)) as unknown[]).passwords as string[];
}

/** Waits (up to 5 s) for the server to close `c`; returns whether it did. */
async function closedByServer(c: RawConnection): Promise<boolean> {
  await c.readUntil(() => false, 5000);
  return c.closed;
}

describe('argon2id passwords', () => {
  it('>password stores an argon2id hash, never the password; AUTH checks it', async () => {
    expect(await r.call('ACL', 'SETUSER', 'alice', 'on', '>s3cret-pw', '~*', '+@all')).toBe('OK');
    const [hash] = await passwords(r, 'alice');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,/);
    expect(hash).not.toContain('s3cret-pw');
    const list = (await r.call('ACL', 'LIST')) as string[];
    expect(list).toContain(`user alice on #${hash} ~* resetchannels +@all`);
    expect(list.join('\n')).not.toContain('s3cret-pw');
    // A random salt: the same password hashes differently for another user.
    await r.call('ACL', 'SETUSER', 'bob', 'on', '>s3cret-pw');
    expect((await passwords(r, 'bob'))[0]).not.toBe(hash);
    const c = await raw();
    expect(await c.command('AUTH', 'alice', 'wrong')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'alice', 's3cret-pw')).toBe('+OK\r\n');
    expect(await c.command('ACL', 'WHOAMI')).toBe('$5\r\nalice\r\n');
  });

  it('<password removes the hash it matches', async () => {
    await r.call('ACL', 'SETUSER', 'alice', 'on', '>one', '>two', '+@all');
    expect(await passwords(r, 'alice')).toHaveLength(2);
    expect(await r.call('ACL', 'SETUSER', 'alice', '<one')).toBe('OK');
    expect(await passwords(r, 'alice')).toHaveLength(1);
    const c = await raw();
    expect(await c.command('AUTH', 'alice', 'one')).toBe(WRONGPASS);
    expect(await c.command('AUTH', 'alice', 'two')).toBe('+OK\r\n');
  });

  it('#hash takes an argon2id hash; a SHA-256 hash is refused', async () => {
    await r.call('ACL', 'SETUSER', 'alice', 'on', '>shared-pw');
    const [hash] = await passwords(r, 'alice');
    expect(await r.call('ACL', 'SETUSER', 'carol', 'on', `#${hash}`, '+@all')).toBe('OK');
    expect(await passwords(r, 'carol')).toEqual([hash]);
    const c = await raw();
    expect(await c.command('AUTH', 'carol', 'shared-pw')).toBe('+OK\r\n');
    const sha = createHash('sha256').update('shared-pw').digest('hex');
    await fails(
      r.call('ACL', 'SETUSER', 'dave', 'on', `#${sha}`),
      `ERR Error in ACL SETUSER modifier '#${sha}': The password hash must be an argon2id hash in PHC form ($argon2id$v=19$m=19456,t=2,p=1$salt$hash): kvws does not store SHA-256 password hashes`,
    );
    expect(await r.call('ACL', 'GETUSER', 'dave')).toBeNull();
  });

  it('password rules cannot run inside MULTI (hashing is asynchronous)', async () => {
    if (server.engine === 'redis') {
      // ACL is kvws's own: the Redis engine cannot queue it in Redis's transaction at all (docs/scaling.md).
      const c = await raw();
      expect(await c.command('MULTI')).toBe('+OK\r\n');
      expect(await c.command('ACL', 'SETUSER', 'tx2', 'on')).toBe(
        '-ERR ACL|SETUSER cannot be queued in a transaction on the Redis engine\r\n',
      );
      expect(await c.command('EXEC')).toMatch(/^-EXECABORT /);
      expect(await r.call('ACL', 'USERS')).toEqual(['default']);
      return;
    }
    const res = await r.multi().call('ACL', 'SETUSER', 'tx', 'on', '>pw').call('ACL', 'SETUSER', 'tx2', 'on').exec();
    expect(res?.[0][0]?.message).toBe(
      "ERR ACL SETUSER with '>' or '<' password rules cannot run inside MULTI (argon2id hashing is asynchronous)",
    );
    expect(res?.[1]).toEqual([null, 'OK']);
    expect(await r.call('ACL', 'USERS')).toEqual(['default', 'tx2']);
  });
});

describe('sessions', () => {
  it('turning a user off closes its connections', async () => {
    await r.call('ACL', 'SETUSER', 'offme', 'on', 'nopass', '+@all');
    const c = await raw();
    expect(await c.command('AUTH', 'offme', 'x')).toBe('+OK\r\n');
    const bystander = await raw();
    await r.call('ACL', 'SETUSER', 'offme', 'off');
    expect(await closedByServer(c)).toBe(true);
    expect(await bystander.command('PING')).toBe('+PONG\r\n');
    // And it can no longer log in.
    expect(await bystander.command('AUTH', 'offme', 'x')).toBe(WRONGPASS);
  });
});

describe('ACL LOG', () => {
  it('entries also have the Redis 7.2 fields entry-id, timestamp-created, timestamp-last-updated', async () => {
    await r.call('ACL', 'SETUSER', 'lg', 'on', 'nopass', '~k*', '+get');
    const c = await raw();
    expect(await c.command('AUTH', 'lg', 'x')).toBe('+OK\r\n');
    const before = Date.now();
    await c.command('GET', 'a');
    const [first] = (await r.call('ACL', 'LOG', '1')) as unknown[][];
    expect(first.filter((_, i) => i % 2 === 0)).toEqual([
      'count',
      'reason',
      'context',
      'object',
      'username',
      'age-seconds',
      'client-info',
      'entry-id',
      'timestamp-created',
      'timestamp-last-updated',
    ]);
    const e1 = pairs(first);
    expect(e1).toMatchObject({ count: 1, reason: 'key', object: 'a', username: 'lg' });
    expect(e1['timestamp-created']).toBeGreaterThanOrEqual(before - 1000);
    expect(e1['timestamp-last-updated']).toBe(e1['timestamp-created']);
    // The same denial again updates the entry (same id); another one gets a newer id.
    await c.command('GET', 'a');
    await c.command('GET', 'b');
    const log = ((await r.call('ACL', 'LOG')) as unknown[][]).map(pairs);
    const a = log.find((e) => e.object === 'a');
    const b = log.find((e) => e.object === 'b');
    expect(a).toMatchObject({ count: 2, 'entry-id': e1['entry-id'], 'timestamp-created': e1['timestamp-created'] });
    expect(a?.['timestamp-last-updated']).toBeGreaterThanOrEqual(e1['timestamp-created'] as number);
    expect(b?.['entry-id']).toBeGreaterThan(e1['entry-id'] as number);
  });
});

describe('ACL SAVE and ACL LOAD', () => {
  it('without a users file they answer an error', async () => {
    await fails(r.call('ACL', 'SAVE'), NO_USERS_FILE);
    await fails(r.call('ACL', 'LOAD'), NO_USERS_FILE);
  });

  describe('with --acl-file', () => {
    let dir: string;
    let file: string;
    let fileServer: RunningServer;
    let admin: Redis;
    const open: RawConnection[] = [];
    const DEFAULT_LINE = 'user default on nopass ~* &* +@all';

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'kvws-acl-test-'));
      file = path.join(dir, 'users.acl');
      writeFileSync(file, `${DEFAULT_LINE}\n# a comment\n\nuser alice on >alice-pw ~app:* -@all +get\n`);
      fileServer = await startKvws(['--acl-file', file]);
      admin = redisClient(fileServer);
    });

    afterAll(async () => {
      admin?.disconnect();
      await fileServer?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    afterEach(() => {
      for (const c of open.splice(0)) c.close();
    });

    async function rawAs(user: string, password: string): Promise<RawConnection> {
      const c = await RawConnection.open(fileServer);
      open.push(c);
      expect(await c.command('AUTH', user, password)).toBe('+OK\r\n');
      return c;
    }

    it('the file is read at start, its passwords hashed', async () => {
      expect(await admin.call('ACL', 'USERS')).toEqual(['alice', 'default']);
      const alice = pairs((await admin.call('ACL', 'GETUSER', 'alice')) as unknown[]);
      expect(alice).toMatchObject({ flags: ['on'], commands: '-@all +get', keys: '~app:*' });
      expect((alice.passwords as string[])[0]).toMatch(/^\$argon2id\$/);
      await rawAs('alice', 'alice-pw');
    });

    it('ACL SAVE writes every user (hashes, never passwords; mode 0600); ACL LOAD reads them back', async () => {
      expect(await admin.call('ACL', 'SETUSER', 'bob', 'on', 'nopass', '%R~r*', '&ch', '+@all', '(~b* +set)')).toBe(
        'OK',
      );
      expect(await admin.call('ACL', 'SAVE')).toBe('OK');
      const [aliceHash] = await passwords(admin, 'alice');
      const text = readFileSync(file, 'utf8');
      expect(text).toBe(
        [
          DEFAULT_LINE,
          `user alice on #${aliceHash} ~app:* resetchannels -@all +get`,
          'user bob on nopass %R~r* resetchannels &ch +@all (~b* resetchannels -@all +set)',
          '',
        ].join('\n'),
      );
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // Change the users, then load the file: it wins.
      await admin.call('ACL', 'DELUSER', 'bob');
      await admin.call('ACL', 'SETUSER', 'temp', 'on', 'nopass');
      await admin.call('ACL', 'SETUSER', 'alice', 'off');
      expect(await admin.call('ACL', 'LOAD')).toBe('OK');
      expect(await admin.call('ACL', 'USERS')).toEqual(['alice', 'bob', 'default']);
      // ACL LIST is sorted by name (as Redis); the file puts `default` first.
      expect(await admin.call('ACL', 'LIST')).toEqual(text.trim().split('\n').sort());
      await rawAs('alice', 'alice-pw');
    });

    it('ACL LOAD closes the sessions of users the file no longer has', async () => {
      writeFileSync(file, `${DEFAULT_LINE}\nuser alice on >alice-pw ~app:* -@all +get\nuser bob on nopass +@all\n`);
      expect(await admin.call('ACL', 'LOAD')).toBe('OK');
      const alice = await rawAs('alice', 'alice-pw');
      const bob = await rawAs('bob', 'x');
      writeFileSync(file, `${DEFAULT_LINE}\nuser alice on >alice-pw ~app:* -@all +get +set\n`);
      expect(await admin.call('ACL', 'LOAD')).toBe('OK');
      expect(await closedByServer(bob)).toBe(true);
      // alice keeps her session, with the new rules.
      expect(await alice.command('SET', 'app:1', 'v')).toBe('+OK\r\n');
    });

    it('a broken file: ACL LOAD answers FILE:LINE: reason and changes nothing', async () => {
      writeFileSync(file, `${DEFAULT_LINE}\nuser alice on >alice-pw +get\n`);
      expect(await admin.call('ACL', 'LOAD')).toBe('OK');
      const before = await admin.call('ACL', 'LIST');
      writeFileSync(file, `${DEFAULT_LINE}\nuser carol on nopass +@all\nuser dave on +nosuch\n`);
      await fails(
        admin.call('ACL', 'LOAD'),
        `ERR ${file}:3: Error in user declaration '+nosuch': Unknown command or category name in ACL`,
      );
      writeFileSync(file, `${DEFAULT_LINE}\n\nuser carol on\nuser carol off\n`);
      await fails(
        admin.call('ACL', 'LOAD'),
        `ERR ${file}:4: Duplicate user 'carol' found. A user can only be defined once in config files`,
      );
      writeFileSync(file, 'user carol on (~a +get\n');
      await fails(admin.call('ACL', 'LOAD'), `ERR ${file}:1: Unmatched parenthesis in acl selector starting at '(~a'.`);
      writeFileSync(file, 'not a user line\n');
      await fails(admin.call('ACL', 'LOAD'), `ERR ${file}:1: a line must start with 'user <name>'`);
      expect(await admin.call('ACL', 'LIST')).toEqual(before);
      await rawAs('alice', 'alice-pw');
    });
  });
});

describe('failed logins are rate-limited (--auth-max-failures 3 --auth-lockout 2)', () => {
  let lockServer: RunningServer;
  let admin: Redis;
  const open: RawConnection[] = [];
  const LOCKED =
    /^-WRONGPASS too many failed authentication attempts for this user or address: try again in [12] seconds\r\n$/;

  beforeAll(async () => {
    lockServer = await startKvws(['--auth-max-failures', '3', '--auth-lockout', '2']);
    admin = redisClient(lockServer);
  });

  afterAll(async () => {
    for (const c of open.splice(0)) c.close();
    admin?.disconnect();
    await lockServer?.stop();
  });

  it('3 wrong passwords lock the user and the address out until the lock-out ends', async () => {
    await admin.call('ACL', 'SETUSER', 'al', 'on', '>right-pw', '+@all');
    await admin.call('ACL', 'SETUSER', 'bo', 'on', '>bo-pw', '+@all');
    const c = await RawConnection.open(lockServer);
    open.push(c);
    for (let i = 0; i < 3; i++) expect(await c.command('AUTH', 'al', 'wrong')).toBe(WRONGPASS);
    // Even the right password is refused now, and so is another user from the same address.
    expect(await c.command('AUTH', 'al', 'right-pw')).toMatch(LOCKED);
    expect(await c.command('AUTH', 'bo', 'bo-pw')).toMatch(LOCKED);
    const [entry] = ((await admin.call('ACL', 'LOG', '1')) as unknown[][]).map(pairs);
    expect(entry).toMatchObject({ reason: 'auth', username: 'bo' });
    expect(await c.command('ACL', 'WHOAMI')).toBe('$7\r\ndefault\r\n');
    // Attempts during the lock-out do not extend it: the right password works once it ends.
    const unlocked = await waitFor(async () => (await c.command('AUTH', 'al', 'right-pw')) === '+OK\r\n', 8000);
    expect(unlocked).toBe(true);
    expect(await c.command('AUTH', 'bo', 'bo-pw')).toBe('+OK\r\n');
    expect(await c.command('ACL', 'WHOAMI')).toBe('$2\r\nbo\r\n');
  });
});
