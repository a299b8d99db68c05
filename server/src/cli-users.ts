import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Acl } from './auth/acl.js';
import { TokenError, TokenService } from './auth/jwt.js';
import { aclFilePath, ConfigError, jwtKeysPath, resolveOptions, type ServerOptions } from './config.js';
import { Engine } from './engine/engine.js';

/**
 * The operator's commands for users and tokens, run offline against the files a server reads:
 *
 *   kvws user add NAME [--rules RULES]   kvws user passwd NAME   kvws user del NAME   kvws user list
 *   kvws token issue --user NAME [--acl RULES] [--ttl 15m] [--sub S] [--claim k=v]...   kvws token rotate
 *
 * Every command also takes the server's flags (`--data-dir`, `--acl-file`, `--config`, `--jwt-*`, and their
 * KVWS_* environment variables) to find the users file and the JWT keys file. Exit codes: 0 done, 1 an
 * operational error (user exists / not found, bad password input), 2 bad flags, configuration or users file.
 * Messages go to stderr prefixed `kvws: `; no password is ever printed. `--help` (or `-h`) anywhere prints
 * the command's help (HELP) on stdout, exit 0.
 */

/** The Usage lines of `kvws --help` for these commands. */
export const USERS_USAGE = `  kvws user add NAME [--rules RULES]   add a user; asks for its password (or reads one line from stdin)
  kvws user passwd NAME                replace a user's passwords with a new one
  kvws user del NAME                   delete a user
  kvws user list                       print the users (password hashes hidden)
  kvws token issue --user NAME [--acl RULES] [--ttl 15m|3600|1h|2d] [--sub S] [--claim K=V]...
                                       print a signed token (JWT) for a user
  kvws token rotate                    add a new JWT signing key (a running server takes it on SIGHUP)
  (user and token commands read --data-dir, --acl-file, --config and --jwt-* as serve does)`;

/** What every user and token command also takes, and their exit codes (the end of each help text). */
const COMMON_HELP = `
Also takes serve's flags and KVWS_* environment variables to find its files: --data-dir DIR (DIR/users.acl,
DIR/jwt-keys.json), --acl-file FILE, --jwt-keys-file FILE, --config FILE, --jwt-*.

Exit codes: 0 done; 1 a failure (the user exists or does not, an empty or mismatched password, a file that
cannot be written); 2 usage or configuration (a missing or unknown flag, a bad value, no users or keys file
given, a users file with an invalid line: FILE:LINE). Messages go to stderr; no password is ever printed.
`;

/** `kvws user|token [SUB] --help`: the group's help, and each subcommand's. */
const HELP: Record<'user' | 'token', Record<string, string>> = {
  user: {
    '': `Usage: kvws user add|passwd|del|list …

Manages the users file that kvws serve reads (Redis ACL syntax, passwords as argon2id hashes, mode 0600).
A running server picks changes up on ACL LOAD (or a restart).

${USERS_USAGE.split('\n')
  .filter((l) => /^ {2}kvws user /.test(l))
  .join('\n')}

kvws user COMMAND --help shows a command's details.
${COMMON_HELP}`,
    add: `Usage: kvws user add NAME [--rules RULES] [--data-dir DIR | --acl-file FILE]

Adds user NAME. Its password is asked for twice without echo on a terminal, else read as one line from
stdin (printf '%s\\n' "$PW" | kvws user add alice …). The first user added creates the users file with
"user default off": clients must then log in.

  --rules RULES   permission rules in Redis ACL syntax (default "~* &* +@all": every command, key and
                  channel), e.g. "~app:* &app:* +@read +@write -@dangerous"; no password rules
${COMMON_HELP}`,
    passwd: `Usage: kvws user passwd NAME [--data-dir DIR | --acl-file FILE]

Replaces every password of user NAME with a new one, asked for as by kvws user add.
${COMMON_HELP}`,
    del: `Usage: kvws user del NAME [--data-dir DIR | --acl-file FILE]

Deletes user NAME (not the default user).
${COMMON_HELP}`,
    list: `Usage: kvws user list [--data-dir DIR | --acl-file FILE]

Prints the users, one ACL LIST line each, password hashes shown as #***.
${COMMON_HELP}`,
  },
  token: {
    '': `Usage: kvws token issue|rotate …

Issues and rotates kvws's own JWTs, signed with the Ed25519 keys file kvws serve uses.

${USERS_USAGE.split('\n')
  .filter((l, i, all) => /^ {2}kvws token /.test(l) || /^ {2}kvws token /.test(all[i - 1] ?? ''))
  .join('\n')}

kvws token COMMAND --help shows a command's details.
${COMMON_HELP}`,
    issue: `Usage: kvws token issue --user NAME [--acl RULES] [--ttl T] [--sub S] [--claim K=V]... [--data-dir DIR]

Prints a signed token (JWT) for user NAME on stdout, its key and expiry on stderr. The user must exist and
be on; a client logs in with it (AUTH NAME TOKEN, the WebSocket auth frame, or Authorization: Bearer).

  --user NAME     the kvws user the token logs in as (required)
  --acl RULES     narrow the user's rights further for this token (ACL rules, e.g. "~app:* +@read")
  --ttl T         lifetime: seconds, or a number with s, m, h or d (15m, 1h, 2d); default --jwt-default-ttl
                  (900), at most --jwt-max-ttl (86400)
  --sub S         the token's subject (default: the user name), for {sub} in key patterns
  --claim K=V     an extra claim (repeatable); reserved claims (exp, iat, user…) are refused
${COMMON_HELP}`,
    rotate: `Usage: kvws token rotate [--data-dir DIR | --jwt-keys-file FILE]

Adds a new signing key to the keys file and prints its id. Tokens signed with older keys stay valid until
they expire; a running server signs with the new key after SIGHUP and accepts its tokens at once.
${COMMON_HELP}`,
  },
};

/** `--help` or `-h` among `argv`: print the help of `group` `sub` (or the group's), return true. */
function printedHelp(group: 'user' | 'token', argv: string[]): boolean {
  if (!argv.includes('--help') && !argv.includes('-h')) return false;
  const sub = argv[0] !== undefined && Object.hasOwn(HELP[group], argv[0]) ? argv[0] : '';
  process.stdout.write(HELP[group][sub]);
  return true;
}

/** Rules a new user gets without --rules: everything. */
const DEFAULT_RULES = '~* &* +@all';

/** Longest password line read from a pipe (bytes). */
const MAX_PASSWORD_BYTES = 64 * 1024;

/** A refusal: `message` is printed as `kvws: message`, `code` is the exit code. */
class CliError extends Error {
  constructor(
    message: string,
    readonly code: 1 | 2,
  ) {
    super(message);
  }
}

/** `kvws user SUBCOMMAND …`. Resolves with the exit code; never throws for expected failures. */
export function userMain(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  if (printedHelp('user', argv)) return Promise.resolve(0);
  return report(async () => {
    const [sub, ...rest] = argv;
    if (sub === 'add') return userAdd(rest, env);
    if (sub === 'passwd') return userPasswd(rest, env);
    if (sub === 'del') return userDel(rest, env);
    if (sub === 'list') return userList(rest, env);
    throw usageError('user', sub);
  });
}

/** `kvws token SUBCOMMAND …`. Resolves with the exit code; never throws for expected failures. */
export function tokenMain(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  if (printedHelp('token', argv)) return Promise.resolve(0);
  return report(async () => {
    const [sub, ...rest] = argv;
    if (sub === 'issue') return tokenIssue(rest, env);
    if (sub === 'rotate') return tokenRotate(rest, env);
    throw usageError('token', sub);
  });
}

/** The refusal of `kvws user|token SUB` with a missing or unknown SUB (exit 2), with the usage lines. */
function usageError(group: string, sub: string | undefined): CliError {
  const what = sub === undefined ? `missing ${group} command` : `unknown ${group} command ${JSON.stringify(sub)}`;
  return new CliError(`${what}; usage:\n${USERS_USAGE}\n(kvws ${group} --help for more)`, 2);
}

/** Runs a command, turning CliError and ConfigError into a message and an exit code. */
async function report(fn: () => Promise<void>): Promise<number> {
  try {
    await fn();
    return 0;
  } catch (e) {
    if (e instanceof CliError) {
      say(e.message);
      return e.code;
    }
    if (e instanceof ConfigError) {
      say(e.message);
      return 2;
    }
    throw e;
  }
}

function say(s: string): void {
  process.stderr.write(`kvws: ${s}\n`);
}

// ---- arguments -------------------------------------------------------------------------------------------------

/**
 * Takes the subcommand's own flags (`--name value`, `--name=value`; `multi` ones may repeat) out of `argv`;
 * returns their values and the remaining arguments (for resolveOptions). Throws CliError(2) for a flag
 * without its value or a single-valued flag given twice.
 */
function takeFlags(
  argv: string[],
  spec: Record<string, 'one' | 'multi'>,
): { values: Record<string, string[]>; rest: string[] } {
  const values: Record<string, string[]> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq > 0 ? eq : undefined) : '';
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) {
      rest.push(a);
      continue;
    }
    let v: string;
    if (eq > 0) v = a.slice(eq + 1);
    else if (i + 1 < argv.length) v = argv[++i];
    else throw new CliError(`flag --${name} needs a value`, 2);
    values[name] ??= [];
    if (kind === 'one' && values[name].length > 0) throw new CliError(`flag --${name} given twice`, 2);
    values[name].push(v);
  }
  return { values, rest };
}

/** The user name that must come first (`kvws user add NAME …`). Throws CliError(2) when missing or unusable. */
function takeName(argv: string[], usage: string): { name: string; rest: string[] } {
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith('-')) throw new CliError(`usage: ${usage}`, 2);
  // The users file separates rules with blanks, so a name cannot hold one.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\x00-\x1f\x7f]/.test(name))
    throw new CliError(`invalid user name ${JSON.stringify(name)}: no blanks or control characters`, 2);
  // As a byte string (the users file is read and written as latin1; RESP clients send UTF-8 bytes).
  return { name: Buffer.from(name, 'utf8').toString('latin1'), rest };
}

/** `1h`, `30m`, `2d`, `45s` or plain seconds → seconds. Throws CliError(2). */
function parseTtl(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s);
  const n = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] : 0;
  if (!m || !Number.isSafeInteger(n) || n <= 0)
    throw new CliError(
      `invalid --ttl ${JSON.stringify(s)} (seconds, or a number with s, m, h or d: 900, 15m, 1h, 2d)`,
      2,
    );
  return n;
}

// ---- the users file --------------------------------------------------------------------------------------------

/** An engine for its Acl (command table, hasher), stopped after `fn`. */
async function withAcl<T>(o: ServerOptions, fn: (acl: Acl) => Promise<T>): Promise<T> {
  const engine = new Engine(o);
  try {
    return await fn(engine.acl);
  } finally {
    engine.shutdown();
  }
}

/** The users file path of `o`. Throws CliError(2) when there is none. */
function usersFilePath(o: ServerOptions): string {
  const file = aclFilePath(o);
  if (!file) throw new CliError('no users file: give --data-dir DIR (for DIR/users.acl) or --acl-file FILE', 2);
  return file;
}

/**
 * Loads `file` into `acl` (replacing its users). Returns the file's text, or null when the file does not exist
 * (the ACL keeps its open default user). Throws CliError: 1 when the file cannot be read, 2 when a line is
 * invalid (`FILE:LINE: reason`).
 */
async function loadUsers(acl: Acl, file: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(file, 'latin1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`cannot read users file ${file}: ${(e as Error).message}`, 1);
  }
  let users: Awaited<ReturnType<Acl['parseUsersFile']>>;
  try {
    users = await acl.parseUsersFile(text, file);
  } catch (e) {
    throw new CliError(`${(e as Error).message} (the users file was left unchanged)`, 2);
  }
  acl.users.clear();
  for (const [name, u] of users) acl.users.set(name, u);
  return text;
}

/** Notes what a rewrite of `text` loses or changes: comments, and plaintext `>password` rules (now hashed). */
function rewriteNotes(text: string, file: string): string[] {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const notes: string[] = [];
  if (lines.some((l) => l.startsWith('#'))) notes.push(`comments in ${file} are not kept when it is rewritten`);
  if (lines.some((l) => !l.startsWith('#') && /\s>\S/.test(l)))
    notes.push(`plaintext passwords (>…) in ${file} are now stored as argon2id hashes`);
  return notes;
}

/** Writes the users file atomically (temporary file, rename), mode 0600, creating its directory (0700). */
async function saveUsers(acl: Acl, file: string): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await acl.saveFile(file);
  } catch (e) {
    throw new CliError(`cannot write users file ${file}: ${(e as Error).message}`, 1);
  }
}

/** Loads the users file for a change; returns whether it existed and the notes about rewriting it. */
async function loadForChange(acl: Acl, file: string): Promise<{ existed: boolean; notes: string[] }> {
  const text = await loadUsers(acl, file);
  return { existed: text !== null, notes: text === null ? [] : rewriteNotes(text, file) };
}

/** The ACL LIST line of a user with each password hash shown as `#***`. */
function maskedLine(u: { describe(): string; passwords: string[] }): string {
  let line = u.describe();
  for (const p of u.passwords) line = line.replace(` #${p}`, ' #***');
  return line;
}

const RELOAD_HINT = 'a running server picks the change up on ACL LOAD (or a restart)';

// ---- user commands ---------------------------------------------------------------------------------------------

// kvws user add NAME [--rules RULES] [server flags]
async function userAdd(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const { name, rest: afterName } = takeName(
    argv,
    'kvws user add NAME [--rules RULES] [--data-dir DIR | --acl-file FILE]',
  );
  const { values, rest } = takeFlags(afterName, { rules: 'one' });
  const o = resolveOptions(rest, env);
  const file = usersFilePath(o);
  const rulesGiven = values.rules !== undefined;
  const rules = (values.rules?.[0] ?? DEFAULT_RULES).split(/\s+/).filter((r) => r !== '');
  const passwordRule = rules.find((r) => /^[><#!]/.test(r) || /^(nopass|resetpass|reset)$/i.test(r));
  if (passwordRule !== undefined)
    throw new CliError(
      `--rules takes permission rules only, not ${JSON.stringify(passwordRule.slice(0, 1))}…: the password is asked for`,
      2,
    );
  await withAcl(o, async (acl) => {
    const { existed, notes } = await loadForChange(acl, file);
    if (acl.users.has(name))
      throw new CliError(
        `user ${name} already exists in ${file} (change its password with: kvws user passwd ${name})`,
        1,
      );
    // Check the rules before asking for a password; the user is committed only if every rule is valid.
    const bad = await acl.setUser(name, ['on', ...rules]);
    if (bad) throw new CliError(`invalid --rules: ${bad.message.replace(/^ERR /, '')}`, 2);
    const password = await askPassword(name);
    const hash = await acl.hasher.hash(password);
    await acl.setUser(name, [`#${hash}`]);
    // Closes the open door: new connections must log in. `reset` leaves the default user off, without
    // password, keys, channels or commands, so turning it back on later does not silently reopen it.
    if (!existed) await acl.setUser('default', ['reset']);
    await saveUsers(acl, file);
    for (const n of notes) say(`note: ${n}`);
    if (!existed) say(`created ${file} with "user default off": clients must now log in (AUTH ${name} <password>)`);
    say(`added user ${name} to ${file}`);
    if (!rulesGiven)
      say(
        `${name} may run every command on every key and channel (${DEFAULT_RULES}); narrow it with --rules, e.g. --rules "~app:* &app:* +@read +@write -@dangerous"`,
      );
    const d = acl.defaultUser;
    if (d.enabled && d.nopass)
      say('warning: the default user is on and has no password: clients can still connect without logging in');
    if (existed) say(RELOAD_HINT);
  });
}

// kvws user passwd NAME [server flags]
async function userPasswd(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const { name, rest } = takeName(argv, 'kvws user passwd NAME [--data-dir DIR | --acl-file FILE]');
  const o = resolveOptions(rest, env);
  const file = usersFilePath(o);
  await withAcl(o, async (acl) => {
    const { existed, notes } = await loadForChange(acl, file);
    if (!existed) throw new CliError(`users file ${file} does not exist (add a user with: kvws user add ${name})`, 1);
    const user = acl.users.get(name);
    if (!user) throw new CliError(`no user ${name} in ${file} (add it with: kvws user add ${name})`, 1);
    const password = await askPassword(name);
    const hash = await acl.hasher.hash(password);
    await acl.setUser(name, ['resetpass', `#${hash}`]);
    await saveUsers(acl, file);
    for (const n of notes) say(`note: ${n}`);
    say(`changed the password of ${name} in ${file}`);
    if (!user.enabled) say(`note: user ${name} is off and cannot log in`);
    say(RELOAD_HINT);
  });
}

// kvws user del NAME [server flags]
async function userDel(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const { name, rest } = takeName(argv, 'kvws user del NAME [--data-dir DIR | --acl-file FILE]');
  const o = resolveOptions(rest, env);
  const file = usersFilePath(o);
  if (name === 'default')
    throw new CliError('the default user cannot be deleted (it is what clients are before they log in)', 1);
  await withAcl(o, async (acl) => {
    const { existed, notes } = await loadForChange(acl, file);
    if (!existed) throw new CliError(`users file ${file} does not exist`, 1);
    if (acl.deleteUsers([name]) === 0) throw new CliError(`no user ${name} in ${file}`, 1);
    await saveUsers(acl, file);
    for (const n of notes) say(`note: ${n}`);
    say(`deleted user ${name} from ${file}`);
    say(RELOAD_HINT);
  });
}

// kvws user list [server flags]
async function userList(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const o = resolveOptions(argv, env);
  const file = usersFilePath(o);
  await withAcl(o, async (acl) => {
    if ((await loadUsers(acl, file)) === null)
      say(`users file ${file} does not exist: a server uses the open default user only`);
    const users = [...acl.users.values()].sort((a, b) =>
      a.name === 'default' ? -1 : b.name === 'default' ? 1 : a.name < b.name ? -1 : 1,
    );
    process.stdout.write(users.map((u) => `${maskedLine(u)}\n`).join(''));
  });
}

// ---- passwords -------------------------------------------------------------------------------------------------

/**
 * The new password of `name` as a binary string (one char per byte of its UTF-8 form): asked twice without
 * echo on a terminal, else the first line of stdin (without its line end). Throws CliError(1) when it is
 * empty, the two entries differ, or the entry was cancelled (Ctrl-C).
 */
async function askPassword(name: string): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    const first = await readHidden(`Password for ${name}: `);
    if (first === null) throw new CliError('cancelled', 1);
    if (first === '') throw new CliError('empty password refused', 1);
    const second = await readHidden('Repeat the password: ');
    if (second === null) throw new CliError('cancelled', 1);
    if (second !== first) throw new CliError('the passwords do not match', 1);
    password = Buffer.from(first, 'utf8').toString('latin1');
  } else {
    password = await readLine(process.stdin);
    if (password === '') throw new CliError('empty password refused (give it as one line on stdin)', 1);
  }
  return password;
}

/** The first line of `stream` as a binary string, without `\n` / `\r\n`; '' at once on an empty stream. */
async function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : (chunk as Buffer);
    const nl = b.indexOf(10);
    chunks.push(nl < 0 ? b : b.subarray(0, nl));
    size += b.length;
    if (nl >= 0) break; // leaving the loop destroys the stream, so stdin does not keep the process alive
    if (size > MAX_PASSWORD_BYTES)
      throw new CliError(`the password line is longer than ${MAX_PASSWORD_BYTES} bytes`, 1);
  }
  return Buffer.concat(chunks).toString('latin1').replace(/\r$/, '');
}

/**
 * Reads one line from the terminal in raw mode, echoing nothing. Resolves with the text, or null when the
 * user pressed Ctrl-C. The terminal is back in its normal mode when it resolves.
 */
function readHidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    const chars: string[] = [];
    const onData = (chunk: string) => {
      const r = editLine(chars, chunk);
      if (r === 'more') return;
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(r === 'enter' ? chars.join('') : null);
    };
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    process.stderr.write(prompt);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * Applies terminal keystrokes to a hidden line being typed: characters are appended, Backspace (DEL or ^H)
 * removes the last one, ^U clears the line, escape sequences (arrow keys…) and other control characters are
 * ignored. Returns 'enter' at Return or ^D, 'cancel' at ^C, else 'more'.
 */
function editLine(chars: string[], chunk: string): 'more' | 'enter' | 'cancel' {
  const cps = [...chunk];
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i];
    if (c === '\r' || c === '\n' || c === '\x04') return 'enter';
    if (c === '\x03') return 'cancel';
    if (c === '\x7f' || c === '\b') chars.pop();
    else if (c === '\x15') chars.length = 0;
    else if (c === '\x1b') {
      // CSI (ESC [ … final) or SS3 (ESC O x): skip to the final byte.
      if (cps[i + 1] === '[') {
        i += 2;
        while (i < cps.length && !/[\x40-\x7e]/.test(cps[i])) i++;
      } else if (cps[i + 1] === 'O') i += 2;
    } else if (c >= ' ') chars.push(c);
  }
  return 'more';
}

// ---- token commands --------------------------------------------------------------------------------------------

/** The JWT keys file of `o`. Throws CliError(2) when there is none. */
function keysFilePath(o: ServerOptions): string {
  const keysFile = jwtKeysPath(o);
  if (!keysFile)
    throw new CliError(
      'no JWT keys file: give --data-dir DIR (for DIR/jwt-keys.json) or --jwt-keys-file FILE, the one the server uses ' +
        '(a key kept only in this process would sign tokens no server accepts)',
      2,
    );
  return keysFile;
}

/** kvws's token service on the options' keys file. Throws CliError(2) without a keys file or when it is unusable. */
async function tokenService(o: ServerOptions): Promise<{ tokens: TokenService; keysFile: string }> {
  const keysFile = keysFilePath(o);
  try {
    const tokens = await TokenService.create({
      issuer: o.jwtIssuer,
      audience: o.jwtAudience,
      keysFile,
      defaultTtl: o.jwtDefaultTtl,
      maxTtl: o.jwtMaxTtl,
      clockSkew: o.jwtClockSkew,
      maxTokenBytes: o.jwtMaxTokenBytes,
    });
    return { tokens, keysFile };
  } catch (e) {
    throw new CliError(`JWT keys file ${keysFile}: ${(e as Error).message}`, 2);
  }
}

// kvws token issue --user NAME [--acl RULES] [--ttl T] [--sub S] [--claim K=V]... [server flags]
async function tokenIssue(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const { values, rest } = takeFlags(argv, { user: 'one', acl: 'one', ttl: 'one', sub: 'one', claim: 'multi' });
  const user = values.user?.[0];
  if (!user)
    throw new CliError('usage: kvws token issue --user NAME [--acl RULES] [--ttl 15m] [--sub S] [--claim K=V]...', 2);
  const o = resolveOptions(rest, env);
  const ttl = values.ttl ? parseTtl(values.ttl[0]) : o.jwtDefaultTtl;
  if (ttl > o.jwtMaxTtl)
    throw new CliError(`--ttl ${values.ttl?.[0]} is longer than --jwt-max-ttl (${o.jwtMaxTtl} s)`, 2);
  const claims: Record<string, string> = {};
  for (const kv of values.claim ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CliError(`invalid --claim ${JSON.stringify(kv)} (expected NAME=VALUE)`, 2);
    claims[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const aclRules = values.acl?.[0];
  const file = aclFilePath(o);
  keysFilePath(o); // refuse before loading anything when there is no keys file
  await withAcl(o, async (acl) => {
    const loaded = file !== undefined && (await loadUsers(acl, file)) !== null;
    const where = loaded ? file : 'the users (no users file: only the open default user)';
    const u = acl.users.get(user);
    if (!u) throw new CliError(`no user ${user} in ${where}`, 1);
    if (!u.enabled) throw new CliError(`user ${user} is off: a token for it would be refused`, 1);
    if (aclRules !== undefined) {
      try {
        acl.parseTokenRules(aclRules);
      } catch (e) {
        throw new CliError(`invalid --acl: ${(e as Error).message}`, 2);
      }
    }
    const { tokens } = await tokenService(o);
    let issued: Awaited<ReturnType<TokenService['issue']>>;
    try {
      issued = await tokens.issue({ user, sub: values.sub?.[0], acl: aclRules, ttl, claims });
    } catch (e) {
      if (e instanceof TokenError || e instanceof RangeError) throw new CliError(e.message, 2);
      throw e;
    }
    if (Buffer.byteLength(issued.token) > o.jwtMaxTokenBytes)
      throw new CliError(
        `the token is ${Buffer.byteLength(issued.token)} bytes, more than --jwt-max-token-bytes (${o.jwtMaxTokenBytes}): a server would refuse it`,
        1,
      );
    process.stdout.write(`${issued.token}\n`);
    say(`token for ${user} (key ${issued.kid}), expires ${new Date(issued.expiresAt).toISOString()} (in ${ttl} s)`);
  });
}

// kvws token rotate [server flags]
async function tokenRotate(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const o = resolveOptions(argv, env);
  const { tokens, keysFile } = await tokenService(o);
  let kid: string;
  try {
    kid = await tokens.rotate();
  } catch (e) {
    throw new CliError(`cannot rotate the keys in ${keysFile}: ${(e as Error).message}`, 1);
  }
  process.stdout.write(`${kid}\n`);
  say(`new signing key ${kid} in ${keysFile}; tokens signed by older keys stay valid until they expire`);
  say(
    'a running server signs with it after SIGHUP (kill -HUP <pid>); it accepts tokens signed with it at once (it re-reads the keys file on an unknown key)',
  );
}
