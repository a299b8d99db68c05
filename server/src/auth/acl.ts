import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { clientInfoLine } from '../commands/connection.js';
import type { RuntimeCommand } from '../commands/index.js';
import type { Client } from '../engine/client.js';
import type { Engine } from '../engine/engine.js';
import { AddressList } from '../net/admission.js';
import { ErrorReply, OK, type Reply } from '../protocol/reply.js';
import { AclRuleError, applySelectorRule, applyUserRule, mergeSelectorArgs, RULE_ERRORS, User } from './acl-user.js';
import type { TokenService } from './jwt.js';
import { LoginQueueFull, LoginThrottle, PasswordHasher } from './passwords.js';
import { type Denial, Permissions } from './permissions.js';

/**
 * Users, authentication and the ACL check (Redis's acl.c, with argon2id passwords, JWTs and kvws's
 * no-leak filters). One instance per engine, `engine.acl`.
 *
 * Contracts:
 * - `check` is called by the dispatcher for every command of every front door; handlers never check.
 * - A session (`Client`) holds a live reference to its `User`: ACL SETUSER applies to open sessions at
 *   once; deleting a user or turning it off closes its sessions.
 * - `authPassword` / `authToken` resolve to OK or a WRONGPASS error reply; every failure is throttled per
 *   user and per client address and recorded in ACL LOG.
 */

export const NOAUTH = 'NOAUTH Authentication required.';
export const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

export type AclContext = 'toplevel' | 'multi' | 'lua';

export interface AclLogEntry {
  count: number;
  reason: 'command' | 'key' | 'channel' | 'auth';
  context: AclContext;
  object: string;
  username: string;
  createdAt: number;
  updatedAt: number;
  clientInfo: string;
  entryId: number;
}

/** Entries this close in time with the same reason, context, object and user are merged (Redis: 60 s). */
const LOG_GROUPING_MS = 60_000;
const LOG_GROUPING_SCAN = 10;

export interface AclStats {
  authSuccesses: number;
  authFailures: number;
  authLockedOut: number;
  deniedCommands: number;
  deniedKeys: number;
  deniedChannels: number;
  tokenExpiries: number;
  /** Logins refused because the user may not log in from the client's address (userAllowFrom). */
  authDeniedAddress: number;
}

/** The error text of ACL SETUSER for a bad modifier. */
function modifierError(op: string, e: unknown): ErrorReply {
  const msg = e instanceof AclRuleError ? e.message : String(e);
  return new ErrorReply(`ERR Error in ACL SETUSER modifier '${op}': ${msg}`);
}

/** Host part of a CLIENT LIST address (`1.2.3.4:5678`, `[::1]:5678`). */
export function addrHost(addr: string): string {
  const i = addr.lastIndexOf(':');
  const h = i < 0 ? addr : addr.slice(0, i);
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

export class Acl {
  readonly users = new Map<string, User>();
  readonly log: AclLogEntry[] = [];
  readonly hasher: PasswordHasher;
  readonly throttle: LoginThrottle;
  readonly stats: AclStats = {
    authSuccesses: 0,
    authFailures: 0,
    authLockedOut: 0,
    deniedCommands: 0,
    deniedKeys: 0,
    deniedChannels: 0,
    tokenExpiries: 0,
    authDeniedAddress: 0,
  };
  /** Per user name: the addresses it may log in from (the `userAllowFrom` option); absent = anywhere. */
  readonly allowFrom = new Map<string, AddressList>();
  /** Set by the server once the signing keys are loaded; null = token logins refused. */
  tokens: TokenService | null = null;
  private nextEntryId = 0;
  private commandCount = 0;

  constructor(readonly engine: Engine) {
    const o = engine.options;
    this.hasher = new PasswordHasher(o.authMaxConcurrentHashes, () => o.authMaxQueued, o.authHashNice);
    this.throttle = new LoginThrottle(() => ({
      maxFailures: o.authMaxFailures,
      windowMs: o.authFailureWindow * 1000,
      lockoutMs: o.authLockout * 1000,
    }));
    for (const cmd of new Set(engine.table.values())) this.commandCount += 1 + (cmd.subcommands?.size ?? 0);
    for (const [name, cidrs] of Object.entries(o.userAllowFrom ?? {})) this.allowFrom.set(name, new AddressList(cidrs));
    this.users.set('default', this.newDefaultUser());
  }

  get defaultUser(): User {
    return this.users.get('default') as User;
  }

  /** The default user as Redis creates it: `on nopass ~* &* +@all`. */
  private newDefaultUser(): User {
    const u = new User('default');
    for (const r of ['on', 'nopass', '~*', '&*', '+@all']) applyUserRule(u, r, this.engine.table);
    return u;
  }

  /**
   * True when a new connection must authenticate: the default user has a password or is off (Redis's
   * authRequired). Otherwise connections start authenticated as `default`.
   */
  get authRequired(): boolean {
    const d = this.defaultUser;
    return !d.nopass || !d.enabled;
  }

  /** The permissions of a session, recompiled when its user changed. */
  permissions(c: Client): Permissions {
    if (c.perms === null || c.permsVersion !== c.user.version) {
      c.perms = new Permissions(c.user, c.claims, this.commandCount);
      c.permsVersion = c.user.version;
    }
    return c.perms;
  }

  /** Token narrowing rules of a session, compiled once. */
  private tokenPermissions(c: Client): Permissions | null {
    if (c.tokenRules === null) return null;
    c.tokenPerms ??= new Permissions(c.tokenRules, c.claims, this.commandCount);
    return c.tokenPerms;
  }

  /**
   * Rights may have changed since a command was queued (Redis 7 checks them again at EXEC): Redis's error
   * for a queued command no longer allowed, or null. Used by EXEC on both engines.
   */
  deniedAtExec(client: Client, cmd: RuntimeCommand, argv: string[]): ErrorReply | null {
    const denied = this.check(client, cmd, argv, 'multi');
    if (!denied) return null;
    const why = denied.message.startsWith('NOPERM this user has no permissions to run')
      ? 'no permission to execute the command or subcommand'
      : denied.message.includes('keys')
        ? 'no permission to touch the specified keys'
        : 'no permission to access one of the channels used as arguments';
    return new ErrorReply(
      `NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: ${why}`,
    );
  }

  /**
   * The ACL check of the dispatcher: null when the session may run `cmd` with `argv`, else Redis's NOPERM
   * error (and an ACL LOG entry). Both the user's rules and the token's `acl` claim must allow it.
   */
  check(c: Client, cmd: RuntimeCommand, argv: string[], context: AclContext): ErrorReply | null {
    const p = this.permissions(c);
    const t = this.tokenPermissions(c);
    if (p.unrestricted && t === null) return null;
    const denial = (p.unrestricted ? null : p.check(cmd, argv)) ?? t?.check(cmd, argv) ?? null;
    if (denial === null) return null;
    this.logDenial(c, denial, context, c.user.name);
    return new ErrorReply(this.denialMessage(denial));
  }

  /** Checks a command for another user without running it (ACL DRYRUN): null or the denial. */
  dryRun(user: User, cmd: RuntimeCommand, argv: string[]): Denial | null {
    return new Permissions(user, null, this.commandCount).check(cmd, argv);
  }

  /** Redis 7.0's NOPERM texts. */
  denialMessage(d: Denial): string {
    if (d.reason === 'command') return `NOPERM this user has no permissions to run the '${d.object}' command`;
    if (d.reason === 'key') return 'NOPERM this user has no permissions to access one of the keys used as arguments';
    return 'NOPERM this user has no permissions to access one of the channels used as arguments';
  }

  /**
   * A filter for key names the session may see (KEYS, SCAN, RANDOMKEY, keyspace notifications), or null
   * when it may read every key.
   */
  keyFilter(c: Client): ((key: string) => boolean) | null {
    const p = this.permissions(c);
    const t = this.tokenPermissions(c);
    if (p.readsAllKeys && (t === null || t.readsAllKeys)) return null;
    return (key) => p.canReadKey(key) && (t === null || t.canReadKey(key));
  }

  /** True when the session may read `key` (the keyspace-notification filter). */
  canReadKey(c: Client, key: string): boolean {
    const p = this.permissions(c);
    if (!p.canReadKey(key)) return false;
    const t = this.tokenPermissions(c);
    return t === null || t.canReadKey(key);
  }

  /** True when the session may use `channel` (or, for a pattern, every channel it matches). */
  channelAllowed(c: Client, channel: string, isPattern: boolean): boolean {
    if (!this.permissions(c).channelAllowed(channel, isPattern)) return false;
    const t = this.tokenPermissions(c);
    return t === null || t.channelAllowed(channel, isPattern);
  }

  /** Adds an ACL LOG entry, or bumps a similar recent one. */
  logDenial(c: Client | null, d: Denial | { reason: 'auth'; object: string }, context: AclContext, username: string) {
    if (d.reason === 'command') this.stats.deniedCommands++;
    else if (d.reason === 'key') this.stats.deniedKeys++;
    else if (d.reason === 'channel') this.stats.deniedChannels++;
    const max = this.engine.options.aclLogMaxLen;
    if (max === 0) return;
    const now = Date.now();
    const info = c ? clientInfoLine(c, now) : '';
    // As Redis: only the 10 newest entries, updated within the last 60 s, are candidates for merging.
    for (const e of this.log.slice(0, LOG_GROUPING_SCAN)) {
      if (now - e.updatedAt > LOG_GROUPING_MS) continue;
      if (e.reason === d.reason && e.context === context && e.object === d.object && e.username === username) {
        e.count++;
        e.updatedAt = now;
        e.clientInfo = info;
        // The freshest entry comes first, as in Redis.
        this.log.splice(this.log.indexOf(e), 1);
        this.log.unshift(e);
        return;
      }
    }
    this.log.unshift({
      count: 1,
      reason: d.reason,
      context,
      object: d.object,
      username,
      createdAt: now,
      updatedAt: now,
      clientInfo: info,
      entryId: this.nextEntryId++,
    });
    if (this.log.length > max) this.log.length = max;
  }

  // ---- Authentication -------------------------------------------------------------------------------

  private throttleKeys(c: Client, username: string): string[] {
    return [`user:${username}`, `addr:${addrHost(c.addr)}`];
  }

  /** Refuses a locked-out user or address before any hashing; null when not locked. */
  private lockedOut(c: Client, username: string, keys: string[], object = 'auth'): ErrorReply | null {
    const wait = this.throttle.lockedFor(keys, Date.now());
    if (wait === 0) return null;
    this.stats.authLockedOut++;
    this.stats.authFailures++;
    this.logDenial(c, { reason: 'auth', object }, 'toplevel', username);
    return new ErrorReply(
      `WRONGPASS too many failed authentication attempts for this user or address: try again in ${Math.ceil(wait / 1000)} seconds`,
    );
  }

  private failed(c: Client, username: string, keys: string[], object: string, message = WRONGPASS): ErrorReply {
    this.stats.authFailures++;
    this.throttle.fail(keys, Date.now());
    this.logDenial(c, { reason: 'auth', object }, 'toplevel', username);
    return new ErrorReply(message);
  }

  /** AUTH / HELLO AUTH / the WebSocket `auth` frame with a password. Resolves to OK or a WRONGPASS error. */
  async authPassword(c: Client, username: string, password: string, command = 'auth'): Promise<Reply> {
    const keys = this.throttleKeys(c, username);
    const locked = this.lockedOut(c, username, keys, command);
    if (locked) return locked;
    const user = this.users.get(username);
    let ok: boolean;
    try {
      if (!user?.enabled) ok = await this.hasher.verifyAny([], password);
      else if (user.nopass) ok = true;
      else ok = await this.hasher.verifyAny(user.passwords, password);
    } catch (e) {
      // Too many logins waiting for a hashing slot: refused now, neither a failure nor a success.
      if (e instanceof LoginQueueFull) return new ErrorReply(e.message);
      throw e;
    }
    // The user may have been deleted or turned off while the hash ran.
    if (!ok || !user || user.deleted || !user.enabled) return this.failed(c, username, keys, command);
    const denied = this.login(c, user, null, null, 0, command);
    if (denied) return denied;
    this.throttle.succeed(keys);
    return OK;
  }

  /**
   * Logs in with a JWT (kvws's own or the external provider's). With `username`, the token must name that
   * user. Resolves to OK or a WRONGPASS error naming why (never echoing the token).
   */
  async authToken(c: Client, token: string, username: string | null): Promise<Reply> {
    const who = username ?? '(token)';
    const keys = [`addr:${addrHost(c.addr)}`];
    const locked = this.lockedOut(c, who, keys, 'token:locked');
    if (locked) return locked;
    if (!this.tokens) return this.failed(c, who, keys, 'token:disabled', 'WRONGPASS token logins are not enabled');
    let v: Awaited<ReturnType<TokenService['verify']>>;
    try {
      v = await this.tokens.verify(token);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'malformed';
      return this.failed(c, who, keys, `token:${code}`, `WRONGPASS invalid token: ${(e as Error).message}`);
    }
    if (username !== null && username !== v.user) {
      return this.failed(c, username, keys, 'token:user', 'WRONGPASS the token was issued for another user');
    }
    const user = this.users.get(v.user);
    if (!user?.enabled) {
      return this.failed(c, v.user, keys, 'token:user', `WRONGPASS the token's user is disabled or does not exist`);
    }
    let rules: User | null = null;
    if (v.acl !== null) {
      try {
        rules = this.parseTokenRules(v.acl);
      } catch (e) {
        return this.failed(c, v.user, keys, 'token:acl', `WRONGPASS invalid acl claim: ${(e as Error).message}`);
      }
    }
    return this.login(c, user, v.claims, rules, v.expiresAt, 'token') ?? OK;
  }

  /**
   * A session whose TLS client certificate names `username` (tlsAuthClients with tlsClientUserField):
   * logged in as that user when it exists and is enabled, and may log in from the client's address (see
   * login). Returns whether it was; otherwise the session stays as it was (it can still AUTH).
   */
  authCertificate(c: Client, username: string): boolean {
    const user = this.users.get(username);
    if (!user?.enabled || user.deleted) return false;
    return this.login(c, user, null, null, 0, 'certificate') === null;
  }

  /** Whether `user` may log in from the host of CLIENT LIST address `addr` (userAllowFrom; unlisted users: anywhere). */
  addressAllowed(user: User, addr: string): boolean {
    const list = this.allowFrom.get(user.name);
    return list === undefined || list.has(addrHost(addr));
  }

  /**
   * Rules of a token's `acl` claim as a rights set (selector rules and `(…)` selectors only; starts from
   * nothing). Throws AclRuleError naming the bad rule.
   */
  parseTokenRules(acl: string): User {
    const u = new User('(token)');
    u.enabled = true;
    const args = mergeSelectorArgs(acl.split(' ').filter((a) => a !== ''));
    for (const op of args) {
      try {
        if (op.startsWith('(') && op.endsWith(')')) applyUserRule(u, op, this.engine.table);
        else if (!applySelectorRule(u.root, op, this.engine.table)) throw new AclRuleError('Syntax error');
      } catch (e) {
        throw new AclRuleError(`'${op}': ${(e as Error).message}`);
      }
    }
    return u;
  }

  /**
   * Makes `c` a session of `user`; `expiresAt` (Unix ms, 0 = never) ends it (see onAuthExpired). Every login
   * ends here (passwords, kvws and external tokens, static API tokens, client certificates), so this is
   * where `userAllowFrom` is enforced: a user limited to other addresses gets the plain WRONGPASS of a
   * failed login (nothing tells it apart from a wrong password), an ACL LOG entry `<via>:address` (`via`:
   * auth, hello, token, apitoken, certificate), a failure counted and throttled; `c` is left unchanged.
   * Returns null when logged in.
   */
  login(
    c: Client,
    user: User,
    claims: Record<string, unknown> | null,
    rules: User | null,
    expiresAt: number,
    via = 'auth',
  ): ErrorReply | null {
    if (!this.addressAllowed(user, c.addr)) {
      this.stats.authDeniedAddress++;
      return this.failed(c, user.name, this.throttleKeys(c, user.name), `${via}:address`);
    }
    this.stats.authSuccesses++;
    c.user = user;
    c.authenticated = true;
    c.claims = claims;
    c.tokenRules = rules;
    c.perms = null;
    c.tokenPerms = null;
    c.authExpiresAt = expiresAt;
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = null;
    if (expiresAt > 0) {
      const session = ++c.authSession;
      const arm = () => {
        const left = c.authExpiresAt - Date.now();
        if (c.closed || c.authSession !== session) return;
        if (left > 0) {
          c.authTimer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
          c.authTimer.unref();
          return;
        }
        this.expire(c);
      };
      arm();
    } else {
      c.authSession++;
    }
    return null;
  }

  /** A token ran out: the session loses its rights, its subscriptions and MONITOR, and the front door is told. */
  private expire(c: Client): void {
    this.stats.tokenExpiries++;
    c.authTimer = null;
    this.engine.pubsub.removeClient(c);
    this.engine.removeMonitor(c);
    c.user = this.defaultUser;
    c.authenticated = false;
    c.claims = null;
    c.tokenRules = null;
    c.perms = null;
    c.tokenPerms = null;
    c.authExpiresAt = 0;
    c.onAuthExpired();
  }

  /** RESET: back to the default user, authenticated only if it needs no password (Redis's clientSetDefaultAuth). */
  logout(c: Client): void {
    this.forget(c);
    c.user = this.defaultUser;
    c.authenticated = !this.authRequired;
    c.claims = null;
    c.tokenRules = null;
    c.perms = null;
    c.tokenPerms = null;
    c.authExpiresAt = 0;
  }

  /** Stops a session's expiry timer (the client went away). */
  forget(c: Client): void {
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = null;
    c.authSession++;
  }

  // ---- Users ----------------------------------------------------------------------------------------

  /**
   * ACL SETUSER: applies `ops` to a copy of the user (created if missing) and commits only if every rule is
   * valid. `>pw` is hashed (argon2id) and `<pw` resolved to the matching hash first, which makes the call
   * asynchronous; without password rules it completes synchronously. Returns null or the error reply.
   */
  setUser(name: string, rawOps: string[]): ErrorReply | null | Promise<ErrorReply | null> {
    let ops: string[];
    try {
      ops = mergeSelectorArgs(rawOps);
    } catch (e) {
      return new ErrorReply(`ERR ${(e as Error).message}`);
    }
    if (ops.some((op) => op[0] === '>' || op[0] === '<')) return this.setUserHashing(name, ops);
    return this.applyOps(name, ops);
  }

  /** True when ACL SETUSER with these rules would have to hash (and so cannot run inside EXEC). */
  static needsHashing(ops: readonly string[]): boolean {
    return ops.some((op) => op[0] === '>' || op[0] === '<');
  }

  private async setUserHashing(name: string, ops: string[]): Promise<ErrorReply | null> {
    // Resolve password rules against a draft, then apply the resolved rules to the user as it is now.
    const existing = this.users.get(name);
    const draft = existing ? existing.clone() : new User(name);
    const resolved: string[] = [];
    for (const op of ops) {
      let rule = op;
      if (op[0] === '>') {
        // Salted hashes differ every time: a password the user already has is recognised by verifying.
        if ((await this.hasher.findHash(draft.passwords, op.slice(1))) !== null) continue;
        rule = `#${await this.hasher.hash(op.slice(1))}`;
      } else if (op[0] === '<') {
        const h = await this.hasher.findHash(draft.passwords, op.slice(1));
        if (h === null) return modifierError(op, new AclRuleError(RULE_ERRORS.noSuchPassword));
        rule = `!${h}`;
      }
      try {
        applyUserRule(draft, rule, this.engine.table);
      } catch (e) {
        return modifierError(op, e);
      }
      resolved.push(rule);
    }
    return this.applyOps(name, resolved);
  }

  private applyOps(name: string, ops: string[]): ErrorReply | null {
    const current = this.users.get(name);
    const draft = current ? current.clone() : new User(name);
    for (const op of ops) {
      try {
        applyUserRule(draft, op, this.engine.table);
      } catch (e) {
        return modifierError(op, e);
      }
    }
    if (current) {
      current.assign(draft);
      this.userChanged(current);
    } else {
      draft.version = 1;
      this.users.set(name, draft);
    }
    return null;
  }

  /** ACL DELUSER: deletes users (never `default`) and closes their sessions; returns how many existed. */
  deleteUsers(names: string[]): number {
    let n = 0;
    for (const name of names) {
      const u = this.users.get(name);
      if (!u) continue;
      this.users.delete(name);
      u.deleted = true;
      u.version++;
      n++;
      this.userChanged(u);
    }
    return n;
  }

  /**
   * After a user changed: sessions of a deleted or disabled user are closed; sessions subscribed to channels
   * the user may no longer use are closed (as Redis does); so are monitors whose user lost MONITOR.
   */
  userChanged(u: User): void {
    for (const c of this.engine.clients.byId.values()) {
      if (c.user !== u || !c.authenticated) continue;
      if (u.deleted || !u.enabled) {
        c.kill(u.deleted ? 'user deleted' : 'user disabled');
        continue;
      }
      let ok = true;
      for (const ch of c.channels) if (!this.channelAllowed(c, ch, false)) ok = false;
      for (const p of c.patterns) if (!this.channelAllowed(c, p, true)) ok = false;
      if (!ok) {
        c.kill('channel permissions revoked');
        continue;
      }
      // kvws: a monitor whose user may no longer run MONITOR stops seeing every client's commands.
      const monitor = this.engine.table.get('monitor');
      if (c.monitor && monitor && this.permissions(c).check(monitor, ['MONITOR']) !== null)
        c.kill('monitor permission revoked');
    }
  }

  // ---- The users file -------------------------------------------------------------------------------

  /**
   * Parses a users file (`text` read as latin1, so its bytes are the byte strings RESP clients send):
   * `user NAME rules…` per line, blank lines and `#` comments allowed. Every line is
   * checked; the first error throws `Error("FILE:LINE: reason")` and nothing is applied. `>pw` rules are
   * hashed. The default user, when not defined, is `on nopass ~* &* +@all`.
   */
  async parseUsersFile(text: string, origin: string): Promise<Map<string, User>> {
    const out = new Map<string, User>();
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      // Only C's isspace characters separate: `text` is a byte string (latin1), where \s would also match
      // 0xA0 — the second byte of UTF-8 characters such as `à`.
      const line = lines[i].replace(/^[ \t\r\v\f]+|[ \t\r\v\f]+$/g, '');
      if (line === '' || line.startsWith('#')) continue;
      const where = `${origin}:${i + 1}`;
      const parts = line.split(/[ \t\r\v\f]+/);
      if (parts[0] !== 'user' || parts.length < 2) throw new Error(`${where}: a line must start with 'user <name>'`);
      const name = parts[1];
      if (out.has(name))
        throw new Error(`${where}: Duplicate user '${name}' found. A user can only be defined once in config files`);
      const u = new User(name);
      let ops: string[];
      try {
        ops = mergeSelectorArgs(parts.slice(2));
      } catch (e) {
        throw new Error(`${where}: ${(e as Error).message}`);
      }
      for (const op of ops) {
        const rule = op[0] === '>' ? `#${await this.hasher.hash(op.slice(1))}` : op;
        if (op[0] === '<') throw new Error(`${where}: '<' (remove a password) has no meaning in a users file`);
        try {
          applyUserRule(u, rule, this.engine.table);
        } catch (e) {
          throw new Error(`${where}: Error in user declaration '${op}': ${(e as Error).message}`);
        }
      }
      u.version = 1;
      out.set(name, u);
    }
    if (!out.has('default')) out.set('default', this.newDefaultUser());
    return out;
  }

  /**
   * Replaces every user with the file's (ACL LOAD, start-up). Users that keep their name keep their
   * sessions (with the new rules); sessions of users no longer defined are closed. Throws on any error,
   * changing nothing.
   */
  async loadFile(path: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(path, 'latin1');
    } catch (e) {
      throw new Error(`cannot read users file ${path}: ${(e as Error).message}`);
    }
    const loaded = await this.parseUsersFile(text, path);
    for (const [name, old] of [...this.users]) {
      const next = loaded.get(name);
      if (next) {
        old.assign(next);
        loaded.set(name, old);
      }
    }
    const removed = [...this.users.values()].filter((u) => !loaded.has(u.name));
    this.users.clear();
    for (const [name, u] of loaded) this.users.set(name, u);
    for (const u of removed) {
      u.deleted = true;
      u.version++;
    }
    for (const u of [...removed, ...this.users.values()]) this.userChanged(u);
  }

  /** Users sorted by name, as Redis keeps them (ACL LIST, ACL SAVE). */
  sortedUsers(): User[] {
    return [...this.users.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The users file's text: one `ACL LIST` line per user, `default` first (it decides who gets in), then by name. */
  serialize(): string {
    const users = this.sortedUsers();
    const lines = [...users.filter((u) => u.name === 'default'), ...users.filter((u) => u.name !== 'default')];
    return `${lines.map((u) => u.describe()).join('\n')}\n`;
  }

  /** ACL SAVE: writes the users file atomically (temporary file, then rename), mode 0600. */
  async saveFile(path: string): Promise<void> {
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, this.serialize(), { mode: 0o600, encoding: 'latin1' });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  }
}
