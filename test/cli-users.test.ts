import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KVWS_BIN, type RunningServer, redisClient, startKvws } from './helpers/server.js';

// `kvws user …` and `kvws token …`: the users file they write (argon2id hashes, mode 0600, the default user
// closed), the tokens they print, and a real server accepting both over RESP.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let tmp: string;
/** The data directory shared by the tests below (created by the first `user add`). */
let dir: string;
let usersFile: string;
let server: RunningServer | null = null;
const clients: Redis[] = [];

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'kvws-cli-users-'));
  dir = path.join(tmp, 'data');
  usersFile = path.join(dir, 'users.acl');
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The test process's environment without KVWS_* variables, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KVWS_')) env[k] = v;
  return { ...env, ...extra };
}

interface Result {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs `node cmd args` with `input` on stdin (then closed) and `env` added; SIGKILL after 20 s. */
function runProcess(cmd: string, args: string[], input: string, env: Record<string, string> = {}): Promise<Result> {
  const child = spawn(cmd, args, { cwd: ROOT, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdin.on('error', () => {}); // the command may exit before reading everything
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

/** `kvws ...args` with `input` on stdin (a pipe, not a terminal) and `env` added to a clean environment. */
function kvws(args: string[], input = '', env: Record<string, string> = {}): Promise<Result> {
  return runProcess(process.execPath, [KVWS_BIN, ...args], input, env);
}

/**
 * `kvws ...args` on a pseudo-terminal (util-linux `script`): waits for each prompt in `prompts` and types the
 * matching keystrokes. Returns everything the terminal showed and the exit code.
 */
function kvwsOnTty(args: string[], steps: { prompt: string; keys: string }[]): Promise<Result> {
  const command = [process.execPath, KVWS_BIN, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: ROOT,
    env: cleanEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let step = 0;
  let seen = 0;
  const advance = () => {
    while (step < steps.length) {
      const at = out.indexOf(steps[step].prompt, seen);
      if (at < 0) return;
      seen = at + steps[step].prompt.length;
      child.stdin.write(steps[step].keys);
      step++;
    }
  };
  child.stdout.on('data', (d) => {
    out += d;
    advance();
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  child.stdin.on('error', () => {});
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? signal ?? -1, stdout: out, stderr: '' });
    });
  });
}

/** The argon2id hash stored for `name` in `text`, or null. */
function hashOf(text: string, name: string): string | null {
  const line = text.split('\n').find((l) => l.startsWith(`user ${name} `));
  return line ? (/ #(\$argon2id\$\S+)/.exec(line)?.[1] ?? null) : null;
}

/** Header and payload of a JWT, base64url-decoded. */
function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

/** A fresh RESP connection to the shared server, not yet authenticated. */
function connect(): Redis {
  if (!server) throw new Error('the server is not running');
  const c = redisClient(server, { enableReadyCheck: false });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** AUTH user secret on a new connection: resolves with the reply text or the error message. */
async function auth(user: string, secret: string): Promise<{ c: Redis; reply: string }> {
  const c = connect();
  const reply = await c.call('AUTH', user, secret).then(
    (r) => String(r),
    (e: Error) => e.message,
  );
  return { c, reply };
}

describe('kvws user', () => {
  it('user add creates the users file: default off, an argon2id hash, mode 0600', async () => {
    const r = await kvws(['user', 'add', 'alice', '--data-dir', dir], 'first-secret\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('user default off');
    expect(r.stderr).toContain('--rules'); // the hint to narrow ~* &* +@all
    const text = readFileSync(usersFile, 'utf8');
    expect(text.split('\n')[0]).toMatch(/^user default off\b/);
    expect(text.split('\n')[0]).not.toContain('nopass'); // turning it back on would not reopen the door
    expect(text).toMatch(/^user alice on #\$argon2id\$v=19\$\S+ ~\* &\* \+@all$/m);
    expect(text).not.toContain('first-secret');
    expect(statSync(usersFile).mode & 0o777).toBe(0o600);
  });

  it('user add refuses an existing user, an empty password and bad rules, leaving the file as it was', async () => {
    const before = readFileSync(usersFile, 'utf8');
    const dup = await kvws(['user', 'add', 'alice', '--data-dir', dir], 'other\n');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^kvws: .*already exists.*kvws user passwd alice/);
    const empty = await kvws(['user', 'add', 'carol', '--data-dir', dir], '\n');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('empty password');
    const rules = await kvws(['user', 'add', 'carol', '--data-dir', dir, '--rules', '~app:* +nosuchcommand'], 'pw\n');
    expect(rules.code).toBe(2);
    expect(rules.stderr).toContain('+nosuchcommand');
    const pwRule = await kvws(['user', 'add', 'carol', '--data-dir', dir, '--rules', '>plain'], 'pw\n');
    expect(pwRule.code).toBe(2);
    expect(pwRule.stderr).not.toContain('plain');
    const noName = await kvws(['user', 'add', '--data-dir', dir], 'pw\n');
    expect(noName.code).toBe(2);
    const noFile = await kvws(['user', 'add', 'carol'], 'pw\n');
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('--acl-file');
    expect(readFileSync(usersFile, 'utf8')).toBe(before);
  });

  it('user add with --rules, and user list with the hashes hidden', async () => {
    const r = await kvws(['user', 'add', 'bob', '--data-dir', dir, '--rules', '~app:* +@read'], 'bob-secret\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('user default off'); // the file already existed
    const list = await kvws(['user', 'list', '--data-dir', dir]);
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^user default off\b/);
    expect(lines[1]).toBe('user alice on #*** ~* &* +@all');
    expect(lines[2]).toMatch(/^user bob on #\*\*\* ~app:\* resetchannels -@all \+@read$/);
    expect(list.stdout).not.toContain('argon2');
  });

  it('user passwd replaces the hash', async () => {
    const before = hashOf(readFileSync(usersFile, 'utf8'), 'alice');
    expect(before).not.toBeNull();
    const r = await kvws(['user', 'passwd', 'alice', '--data-dir', dir], 'second-secret\r\n');
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(usersFile, 'utf8');
    const after = hashOf(text, 'alice');
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
    expect(text.match(/#\$argon2id/g)).toHaveLength(2); // alice's one password (the old one is gone) and bob's
    const missing = await kvws(['user', 'passwd', 'nobody', '--data-dir', dir], 'pw\n');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nobody');
  });

  it('user del removes a user; not default, not twice', async () => {
    const r = await kvws(['user', 'del', 'bob', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(usersFile, 'utf8')).not.toMatch(/^user bob /m);
    const again = await kvws(['user', 'del', 'bob', '--data-dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no user bob');
    const def = await kvws(['user', 'del', 'default', '--data-dir', dir]);
    expect(def.code).toBe(1);
    expect(readFileSync(usersFile, 'utf8')).toMatch(/^user default off\b/);
  });

  it('on a terminal: asks twice without echo, with backspace; Ctrl-C cancels', async () => {
    // "sécreX", Backspace, "t", a left-arrow escape sequence (ignored), Return; then the same again.
    const r = await kvwsOnTty(
      ['user', 'add', 'tty', '--data-dir', dir],
      [
        { prompt: 'Password for tty: ', keys: 'sécreX\x7ft\x1b[D\r' },
        { prompt: 'Repeat the password: ', keys: 'sécret\r' },
      ],
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('added user tty');
    expect(r.stdout).not.toMatch(/s.?cre/); // nothing typed was echoed
    expect(hashOf(readFileSync(usersFile, 'utf8'), 'tty')).not.toBeNull();

    const before = readFileSync(usersFile, 'utf8');
    const cancelled = await kvwsOnTty(
      ['user', 'add', 'nope', '--data-dir', dir],
      [{ prompt: 'Password for nope: ', keys: 'ab\x03' }],
    );
    expect(cancelled.code).toBe(1);
    expect(cancelled.stdout).toContain('kvws: cancelled');
    const mismatch = await kvwsOnTty(
      ['user', 'add', 'nope', '--data-dir', dir],
      [
        { prompt: 'Password for nope: ', keys: 'one\r' },
        { prompt: 'Repeat the password: ', keys: 'two\r' },
      ],
    );
    expect(mismatch.code).toBe(1);
    expect(mismatch.stdout).toContain('do not match');
    expect(readFileSync(usersFile, 'utf8')).toBe(before);
  });

  it('a broken users file is reported with FILE:LINE and left unchanged', async () => {
    const brokenDir = path.join(tmp, 'broken');
    mkdirSync(brokenDir);
    const file = path.join(brokenDir, 'users.acl');
    const text = 'user default off\n# a comment\nuser eve on +@nosuchcategory\n';
    writeFileSync(file, text);
    for (const args of [
      ['user', 'add', 'mallory', '--data-dir', brokenDir],
      ['user', 'del', 'eve', '--acl-file', file],
      ['user', 'list', '--data-dir', brokenDir],
      ['token', 'issue', '--user', 'eve', '--data-dir', brokenDir],
    ]) {
      const r = await kvws(args, 'pw\n');
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(`${file}:3:`);
    }
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});

describe('kvws token', () => {
  it('token issue prints a JWT with user, acl, claims and exp = now + ttl', async () => {
    const r = await kvws([
      'token',
      'issue',
      '--user',
      'alice',
      '--data-dir',
      dir,
      '--ttl',
      '1h',
      '--acl',
      '~app:* +@read',
      '--claim',
      'tenant=t1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(r.stderr).toContain('expires');
    const { header, payload } = decodeJwt(r.stdout.trim());
    expect(header.alg).toBe('EdDSA');
    expect(payload.user).toBe('alice');
    expect(payload.sub).toBe('alice');
    expect(payload.acl).toBe('~app:* +@read');
    expect(payload.tenant).toBe('t1');
    expect(payload.exp).toBe((payload.iat as number) + 3600);
    expect(Math.abs((payload.exp as number) - (Date.now() / 1000 + 3600))).toBeLessThan(120);
    expect(statSync(path.join(dir, 'jwt-keys.json')).mode & 0o777).toBe(0o600);
  });

  it('token issue: --ttl forms, and refusals', async () => {
    const ttlOf = async (args: string[]) => {
      const r = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir, ...args]);
      expect(r.code, r.stderr).toBe(0);
      const { payload } = decodeJwt(r.stdout.trim());
      return (payload.exp as number) - (payload.iat as number);
    };
    expect(await ttlOf(['--ttl', '30m'])).toBe(1800);
    expect(await ttlOf(['--ttl', '3600'])).toBe(3600);
    expect(await ttlOf(['--ttl=2d', '--jwt-max-ttl', '172800'])).toBe(172800);
    expect(await ttlOf([])).toBe(900);

    const tooLong = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir, '--ttl', '2d']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('--jwt-max-ttl');
    const badTtl = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir, '--ttl', '1w']);
    expect(badTtl.code).toBe(2);
    const noKeys = await kvws(['token', 'issue', '--user', 'alice', '--acl-file', usersFile]);
    expect(noKeys.code).toBe(2);
    expect(noKeys.stderr).toContain('--jwt-keys-file');
    const noUser = await kvws(['token', 'issue', '--user', 'nobody', '--data-dir', dir]);
    expect(noUser.code).toBe(1);
    const badAcl = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir, '--acl', '+nosuchcommand']);
    expect(badAcl.code).toBe(2);
    expect(badAcl.stderr).toContain('--acl');
    const reserved = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir, '--claim', 'exp=1']);
    expect(reserved.code).toBe(2);
    for (const r of [tooLong, badTtl, noKeys, noUser, badAcl, reserved]) expect(r.stdout).toBe('');
  });
});

describe('every subcommand: refusals and exit codes, files found through a config file', () => {
  it('user passwd, user del, user list and token rotate refuse what they cannot do, with the right exit code', async () => {
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    const cases: [string[], number, string][] = [
      [['user', 'passwd', 'alice', '--data-dir', empty], 1, 'does not exist'],
      [['user', 'passwd', '--data-dir', dir], 2, 'usage: kvws user passwd NAME'],
      [['user', 'passwd', 'alice'], 2, '--acl-file'],
      [['user', 'del', '--data-dir', dir], 2, 'usage: kvws user del NAME'],
      [['user', 'del', 'alice', '--data-dir', empty], 1, 'does not exist'],
      [['user', 'del', 'alice', '--data-dir', dir, '--bogus'], 2, 'unknown flag --bogus'],
      [['user', 'list'], 2, '--acl-file'],
      [['user', 'list', '--data-dir', dir, '--resp-port', 'x'], 2, '--resp-port'],
      [['user', 'add', 'bad name', '--data-dir', empty], 2, 'no blanks'],
      [['token', 'rotate'], 2, '--jwt-keys-file'],
      [['token', 'issue'], 2, 'usage: kvws token issue --user NAME'],
      [['token', 'issue', '--user'], 2, '--user needs a value'],
      [['token', 'issue', '--user', 'alice', '--user', 'bob', '--data-dir', dir], 2, 'given twice'],
      [['token', 'issue', '--user', 'alice', '--data-dir', dir, '--claim', 'novalue'], 2, 'NAME=VALUE'],
    ];
    const runs = await Promise.all(cases.map(([args]) => kvws(args, 'pw\n')));
    runs.forEach((r, i) => {
      const what = `${cases[i][0].join(' ')}: ${r.stderr}`;
      expect(r.code, what).toBe(cases[i][1]);
      expect(r.stderr, what).toContain(cases[i][2]);
      expect(r.stdout, what).toBe('');
    });
    // user list on a directory without a users file: only the open default user, and a note saying so.
    const list = await kvws(['user', 'list', '--data-dir', empty]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^user default on nopass\b/);
    expect(list.stderr).toContain('does not exist');
  });

  it('user add, user list and token issue find their files through --config (YAML) or KVWS_CONFIG (JSON)', async () => {
    const cfgDir = path.join(tmp, 'from-config');
    const yaml = path.join(tmp, 'kvws.yaml');
    writeFileSync(yaml, `# the server's settings\ndataDir: ${cfgDir}\njwtMaxTtl: 7200\n`);
    const add = await kvws(['user', 'add', 'carol', '--config', yaml, '--rules', '~c:* +@read'], 'carol-pw\n');
    expect(add.code, add.stderr).toBe(0);
    expect(readFileSync(path.join(cfgDir, 'users.acl'), 'utf8')).toMatch(/^user carol on #\$argon2id\$/m);
    const json = path.join(tmp, 'kvws.json');
    writeFileSync(json, JSON.stringify({ dataDir: cfgDir, jwtMaxTtl: 7200 }));
    const list = await kvws(['user', 'list'], '', { KVWS_CONFIG: json });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('user carol on #*** ~c:*');
    // The config file's jwtMaxTtl applies: 2h is allowed, 3h is not.
    const ok = await kvws(['token', 'issue', '--user', 'carol', '--ttl', '2h', '--config', yaml]);
    expect(ok.code, ok.stderr).toBe(0);
    const { payload } = decodeJwt(ok.stdout.trim());
    expect((payload.exp as number) - (payload.iat as number)).toBe(7200);
    const tooLong = await kvws(['token', 'issue', '--user', 'carol', '--ttl', '3h', '--config', yaml]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('7200');
    // A flag beats the file; the environment beats the file too.
    const flag = await kvws([
      'token',
      'issue',
      '--user',
      'carol',
      '--ttl',
      '3h',
      '--config',
      yaml,
      '--jwt-max-ttl',
      '86400',
    ]);
    expect(flag.code, flag.stderr).toBe(0);
    const env = await kvws(['token', 'issue', '--user', 'carol', '--ttl', '3h', '--config', yaml], '', {
      KVWS_JWT_MAX_TTL: '86400',
    });
    expect(env.code, env.stderr).toBe(0);
    // A bad config file stops every subcommand the same way (exit 2, FILE:LINE).
    const bad = path.join(tmp, 'bad.yaml');
    writeFileSync(bad, `dataDir: ${cfgDir}\njwtMaxTtl: soon\n`);
    for (const args of [
      ['user', 'list'],
      ['user', 'del', 'carol'],
      ['token', 'rotate'],
    ]) {
      const r = await kvws([...args, '--config', bad]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(
        `config file ${bad}:2: invalid option jwtMaxTtl (--jwt-max-ttl) = "soon":`,
      );
    }
    expect(readFileSync(path.join(cfgDir, 'users.acl'), 'utf8')).toMatch(/^user carol /m);
  });
});

describe('a server with these users and tokens', () => {
  it('accepts the passwords and tokens over RESP, and refuses a wrong password', async () => {
    server = await startKvws(['--data-dir', dir]);
    expect((await auth('alice', 'second-secret')).reply).toBe('OK');
    expect((await auth('alice', 'first-secret')).reply).toMatch(/^WRONGPASS/);
    expect((await auth('tty', 'sécret')).reply).toBe('OK');
    const anonymous = connect();
    await expect(anonymous.get('k')).rejects.toThrow(/NOAUTH/);

    const issued = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir, '--acl', '~app:* +@read']);
    expect(issued.code, issued.stderr).toBe(0);
    const { c, reply } = await auth('alice', issued.stdout.trim());
    expect(reply).toBe('OK');
    expect(await c.get('app:x')).toBeNull();
    await expect(c.set('app:x', '1')).rejects.toThrow(/NOPERM/); // the token's acl narrows alice's rights
  });

  it('token rotate: new tokens carry the new kid and work without a restart; old ones still work', async () => {
    const old = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir]);
    expect(old.code, old.stderr).toBe(0);
    const oldKid = decodeJwt(old.stdout.trim()).header.kid;

    const rotated = await kvws(['token', 'rotate', '--data-dir', dir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const kid = rotated.stdout.trim();
    expect(kid).toMatch(/^[\w-]+$/);
    expect(kid).not.toBe(oldKid);
    expect(rotated.stderr).toContain('SIGHUP');

    const fresh = await kvws(['token', 'issue', '--user', 'alice', '--data-dir', dir]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(decodeJwt(fresh.stdout.trim()).header.kid).toBe(kid);
    const { c, reply } = await auth('alice', fresh.stdout.trim());
    expect(reply).toBe('OK');
    expect(await c.set('any', '1')).toBe('OK');
    expect((await auth('alice', old.stdout.trim())).reply).toBe('OK');
  });

  it('a user added while the server runs can log in after ACL LOAD', async () => {
    const r = await kvws(['user', 'add', 'late', '--data-dir', dir, '--rules', '~late:* +@all'], 'late-secret\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('ACL LOAD');
    expect((await auth('late', 'late-secret')).reply).toMatch(/^WRONGPASS/);
    const { c } = await auth('alice', 'second-secret');
    expect(await c.call('ACL', 'LOAD')).toBe('OK');
    expect((await auth('late', 'late-secret')).reply).toBe('OK');
  });
});
