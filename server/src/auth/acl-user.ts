import { ACL_CATEGORIES, type AclCategory } from '@kvws/shared/commands';
import type { CommandTable, RuntimeCommand } from '../commands/index.js';

/**
 * Redis 7 ACL users and selectors (Redis's acl.c): the rule language, applied synchronously to an in-memory
 * user. Passwords are argon2id hashes (`$argon2id$v=19$m=…`); turning `>password` into `#hash` and finding
 * the hash that `<password` names are asynchronous and done by the caller (see acl.ts) before these rules run.
 */

/** Key pattern permission bits (`%R~`, `%W~`, `~` = both). */
export const PERM_R = 1;
export const PERM_W = 2;
export const PERM_RW = PERM_R | PERM_W;

export interface KeyPattern {
  pattern: string;
  perm: number;
}

/** A rule error: Redis's reason text; the caller adds "Error in ACL SETUSER modifier '…': ". */
export class AclRuleError extends Error {}

export const RULE_ERRORS = {
  unknown: 'Unknown command or category name in ACL',
  syntax: 'Syntax error',
  keysAfterAll:
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
  channelsAfterAll:
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
  noSuchPassword: 'The password you are trying to remove from the user does not exist',
  badHash:
    'The password hash must be an argon2id hash in PHC form ($argon2id$v=19$m=19456,t=2,p=1$salt$hash): kvws does not store SHA-256 password hashes',
  firstArg: 'Allowing first-arg of a subcommand is not supported',
  selectorRule: 'Syntax error',
} as const;

/**
 * Redis's ACLStringHasSpaces: a C isspace character or NUL. Patterns and first arguments holding one are
 * refused (`Syntax error`), as Redis refuses such patterns: the users file (ACL SAVE, ACL LIST) separates
 * rules with blanks and lines with newlines, so they could not be read back.
 */
const SPACE_OR_NUL = /[ \t\n\v\f\r\0]/;

/** argon2id in PHC string form. Anything else is refused by `#`. */
const ARGON2ID_HASH =
  /^\$argon2id\$v=19\$[mtp]=\d{1,10},[mtp]=\d{1,10},[mtp]=\d{1,10}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/;

/**
 * One set of permissions: commands, key patterns, channel patterns. A user has a root selector and any
 * number of extra selectors `(...)`; a command is allowed when one selector allows all of it.
 */
export class Selector {
  /** Command rules as given, normalized (`+@all` clears what came before); describes `commands`. */
  commandRules: string[] = [];
  /** Allowed commands by full name (`get`, `config|get`). */
  allowed = new Set<string>();
  /** Non-container commands allowed only with these first arguments (`+select|0`), lower-case. */
  firstArgs = new Map<string, Set<string>>();
  allKeys = false;
  keys: KeyPattern[] = [];
  allChannels = false;
  channels: string[] = [];

  clone(): Selector {
    const s = new Selector();
    s.commandRules = [...this.commandRules];
    s.allowed = new Set(this.allowed);
    for (const [k, v] of this.firstArgs) s.firstArgs.set(k, new Set(v));
    s.allKeys = this.allKeys;
    s.keys = this.keys.map((k) => ({ ...k }));
    s.allChannels = this.allChannels;
    s.channels = [...this.channels];
    return s;
  }

  /** Redis's describe order: keys, channels, commands. */
  describe(): string {
    const parts: string[] = [];
    const keys = this.describeKeys();
    if (keys) parts.push(keys);
    parts.push(this.allChannels ? '&*' : ['resetchannels', ...this.channels.map((c) => `&${c}`)].join(' '));
    parts.push(this.describeCommands());
    return parts.join(' ');
  }

  describeKeys(): string {
    if (this.allKeys) return '~*';
    return this.keys
      .map((k) => (k.perm === PERM_RW ? `~${k.pattern}` : k.perm === PERM_R ? `%R~${k.pattern}` : `%W~${k.pattern}`))
      .join(' ');
  }

  describeChannels(): string {
    return this.allChannels ? '&*' : this.channels.map((c) => `&${c}`).join(' ');
  }

  describeCommands(): string {
    if (this.commandRules[0] === '+@all') return this.commandRules.join(' ');
    return ['-@all', ...this.commandRules].join(' ');
  }
}

export class User {
  enabled = false;
  nopass = false;
  /** `sanitize-payload` / `skip-sanitize-payload` are accepted and kept for compatibility (no RESTORE yet). */
  sanitize: 'sanitize-payload' | 'skip-sanitize-payload' | null = null;
  /** argon2id hashes in PHC form. */
  passwords: string[] = [];
  root = new Selector();
  selectors: Selector[] = [];
  /** Bumped on every change: sessions recompile their permissions when it moves. */
  version = 0;
  /** Set when the user is deleted: sessions of a deleted user are closed. */
  deleted = false;

  constructor(readonly name: string) {}

  clone(): User {
    const u = new User(this.name);
    u.enabled = this.enabled;
    u.nopass = this.nopass;
    u.sanitize = this.sanitize;
    u.passwords = [...this.passwords];
    u.root = this.root.clone();
    u.selectors = this.selectors.map((s) => s.clone());
    u.version = this.version;
    return u;
  }

  /** Copies another user's rules into this one (ACL SETUSER applies to a clone, then commits). */
  assign(from: User): void {
    this.enabled = from.enabled;
    this.nopass = from.nopass;
    this.sanitize = from.sanitize;
    this.passwords = [...from.passwords];
    this.root = from.root.clone();
    this.selectors = from.selectors.map((s) => s.clone());
    this.version++;
  }

  /** `ACL LIST` line: `user alice on #$argon2id$… ~app:* resetchannels -@all +get (…)`. */
  describe(): string {
    const parts = [`user ${this.name}`, this.enabled ? 'on' : 'off'];
    if (this.nopass) parts.push('nopass');
    if (this.sanitize) parts.push(this.sanitize);
    for (const p of this.passwords) parts.push(`#${p}`);
    parts.push(this.root.describe());
    for (const s of this.selectors) parts.push(`(${s.describe()})`);
    return parts.join(' ');
  }
}

/**
 * Joins selector arguments split on spaces back together: `(`, `~a`, `+get)` → `(~a +get)`, as Redis's
 * ACLMergeSelectorArguments. Throws AclRuleError for an unmatched parenthesis.
 */
export function mergeSelectorArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  let open: string[] | null = null;
  for (const a of args) {
    if (open) {
      open.push(a);
      if (a.endsWith(')')) {
        out.push(open.join(' '));
        open = null;
      }
    } else if (a.startsWith('(') && !a.endsWith(')')) {
      open = [a];
    } else {
      out.push(a);
    }
  }
  if (open) throw new AclRuleError(`Unmatched parenthesis in acl selector starting at '${open[0]}'.`);
  return out;
}

/** Every runtime command once (top level and subcommands), for category rules. */
function allCommands(table: CommandTable): RuntimeCommand[] {
  const out: RuntimeCommand[] = [];
  const seen = new Set<RuntimeCommand>();
  for (const cmd of table.values()) {
    if (seen.has(cmd)) continue;
    seen.add(cmd);
    out.push(cmd);
    if (cmd.subcommands) for (const s of cmd.subcommands.values()) out.push(s);
  }
  return out;
}

const categorySet = new Set<string>(ACL_CATEGORIES);

/** True when `name` (without `@`) is a known category or `all`. */
export function isCategory(name: string): boolean {
  return name === 'all' || categorySet.has(name);
}

/** Applies one selector rule. Returns false if `op` is not a selector rule (the caller tries user rules). */
export function applySelectorRule(sel: Selector, op: string, table: CommandTable): boolean {
  const lower = op.toLowerCase();
  if (lower === 'allkeys' || op === '~*') {
    sel.allKeys = true;
    sel.keys = [];
    return true;
  }
  if (lower === 'resetkeys') {
    sel.allKeys = false;
    sel.keys = [];
    return true;
  }
  if (lower === 'allchannels' || op === '&*') {
    sel.allChannels = true;
    sel.channels = [];
    return true;
  }
  if (lower === 'resetchannels') {
    sel.allChannels = false;
    sel.channels = [];
    return true;
  }
  if (lower === 'allcommands' || lower === '+@all') {
    setAllCommands(sel, table, true);
    return true;
  }
  if (lower === 'nocommands' || lower === '-@all') {
    setAllCommands(sel, table, false);
    return true;
  }
  if (op[0] === '~' || op[0] === '%') {
    let perm = PERM_RW;
    let pattern: string;
    if (op[0] === '%') {
      const tilde = op.indexOf('~');
      if (tilde < 2) throw new AclRuleError(RULE_ERRORS.syntax);
      perm = 0;
      for (const ch of op.slice(1, tilde)) {
        if (ch === 'R' || ch === 'r') perm |= PERM_R;
        else if (ch === 'W' || ch === 'w') perm |= PERM_W;
        else throw new AclRuleError(RULE_ERRORS.syntax);
      }
      pattern = op.slice(tilde + 1);
    } else {
      pattern = op.slice(1);
    }
    if (sel.allKeys) throw new AclRuleError(RULE_ERRORS.keysAfterAll);
    if (SPACE_OR_NUL.test(pattern)) throw new AclRuleError(RULE_ERRORS.syntax);
    if (pattern === '*' && perm === PERM_RW) {
      sel.allKeys = true;
      sel.keys = [];
      return true;
    }
    const existing = sel.keys.find((k) => k.pattern === pattern);
    if (existing) existing.perm |= perm;
    else sel.keys.push({ pattern, perm });
    return true;
  }
  if (op[0] === '&') {
    if (sel.allChannels) throw new AclRuleError(RULE_ERRORS.channelsAfterAll);
    const pattern = op.slice(1);
    if (SPACE_OR_NUL.test(pattern)) throw new AclRuleError(RULE_ERRORS.syntax);
    if (!sel.channels.includes(pattern)) sel.channels.push(pattern);
    return true;
  }
  if (op[0] === '+' || op[0] === '-') {
    applyCommandRule(sel, op[0] === '+', lower.slice(1), table);
    return true;
  }
  return false;
}

function setAllCommands(sel: Selector, table: CommandTable, allow: boolean): void {
  sel.allowed.clear();
  sel.firstArgs.clear();
  if (allow) for (const c of allCommands(table)) sel.allowed.add(c.fullName);
  sel.commandRules = allow ? ['+@all'] : [];
}

function applyCommandRule(sel: Selector, add: boolean, name: string, table: CommandTable): void {
  const sign = add ? '+' : '-';
  if (name.startsWith('@')) {
    const cat = name.slice(1);
    if (!isCategory(cat)) throw new AclRuleError(RULE_ERRORS.unknown);
    if (cat === 'all') {
      setAllCommands(sel, table, add);
      return;
    }
    for (const c of allCommands(table)) {
      if (!c.spec.acl.includes(cat as AclCategory)) continue;
      if (add) sel.allowed.add(c.fullName);
      else sel.allowed.delete(c.fullName);
      sel.firstArgs.delete(c.fullName);
    }
    sel.commandRules.push(`${sign}@${cat}`);
    return;
  }
  const bar = name.indexOf('|');
  if (bar < 0) {
    const cmd = table.get(name);
    if (!cmd) throw new AclRuleError(RULE_ERRORS.unknown);
    const targets = [cmd, ...(cmd.subcommands ? cmd.subcommands.values() : [])];
    for (const c of targets) {
      if (add) sel.allowed.add(c.fullName);
      else sel.allowed.delete(c.fullName);
      sel.firstArgs.delete(c.fullName);
    }
    dropRulesFor(sel, name, true);
    sel.commandRules.push(`${sign}${name}`);
    return;
  }
  // Split at the last `|`, as Redis does: `client|id|x` names a first argument of a subcommand.
  const last = name.lastIndexOf('|');
  const parent = name.slice(0, last);
  const arg = name.slice(last + 1);
  if (arg === '' || SPACE_OR_NUL.test(arg)) throw new AclRuleError(RULE_ERRORS.syntax);
  if (parent.includes('|')) {
    const [top, sub] = parent.split('|', 2);
    if (table.get(top)?.subcommands?.get(sub) && !parent.slice(top.length + 1).includes('|'))
      throw new AclRuleError(RULE_ERRORS.firstArg);
    throw new AclRuleError(RULE_ERRORS.unknown);
  }
  const cmd = table.get(parent);
  if (!cmd) throw new AclRuleError(RULE_ERRORS.unknown);
  if (cmd.subcommands) {
    const sub = cmd.subcommands.get(arg);
    if (!sub) throw new AclRuleError(RULE_ERRORS.unknown);
    if (add) sel.allowed.add(sub.fullName);
    else sel.allowed.delete(sub.fullName);
    dropRulesFor(sel, sub.fullName, false);
    sel.commandRules.push(`${sign}${sub.fullName}`);
    return;
  }
  // A first-argument rule on a plain command (`+select|0`): only adding is supported, as in Redis.
  if (!add) throw new AclRuleError(RULE_ERRORS.unknown);
  if (sel.allowed.has(cmd.fullName)) return;
  let set = sel.firstArgs.get(cmd.fullName);
  if (!set) {
    set = new Set();
    sel.firstArgs.set(cmd.fullName, set);
  }
  set.add(arg);
  sel.commandRules.push(`+${cmd.fullName}|${arg}`);
}

/** Removes earlier `+name`/`-name` rules (and, for a whole command, its `name|…` rules) superseded by a new one. */
function dropRulesFor(sel: Selector, name: string, withSubs: boolean): void {
  sel.commandRules = sel.commandRules.filter((r) => {
    const n = r.slice(1);
    return !(n === name || (withSubs && n.startsWith(`${name}|`)));
  });
}

/**
 * Applies one rule to `user` (Redis's ACLSetUser). Passwords must already be hashed: `>pw` and `<pw` are
 * refused here (the async layer turns them into `#hash` / `!hash`). Throws AclRuleError.
 */
export function applyUserRule(user: User, op: string, table: CommandTable): void {
  if (op === '') return; // Redis ignores empty rules
  const lower = op.toLowerCase();
  switch (lower) {
    case 'on':
      user.enabled = true;
      return;
    case 'off':
      user.enabled = false;
      return;
    case 'nopass':
      user.nopass = true;
      user.passwords = [];
      return;
    case 'resetpass':
      user.nopass = false;
      user.passwords = [];
      return;
    case 'sanitize-payload':
    case 'skip-sanitize-payload':
      user.sanitize = lower;
      return;
    case 'clearselectors':
      user.selectors = [];
      return;
    case 'reset':
      user.nopass = false;
      user.passwords = [];
      user.enabled = false;
      user.sanitize = 'sanitize-payload';
      user.selectors = [];
      user.root = new Selector();
      return;
  }
  if (op[0] === '#') {
    const hash = op.slice(1);
    if (!ARGON2ID_HASH.test(hash)) throw new AclRuleError(RULE_ERRORS.badHash);
    if (!user.passwords.includes(hash)) user.passwords.push(hash);
    user.nopass = false;
    return;
  }
  if (op[0] === '!') {
    const hash = op.slice(1);
    if (!ARGON2ID_HASH.test(hash)) throw new AclRuleError(RULE_ERRORS.badHash);
    const i = user.passwords.indexOf(hash);
    if (i < 0) throw new AclRuleError(RULE_ERRORS.noSuchPassword);
    user.passwords.splice(i, 1);
    return;
  }
  if (op[0] === '>' || op[0] === '<') throw new AclRuleError('passwords must be hashed before rules are applied');
  if (op[0] === '(' && op.endsWith(')')) {
    const sel = new Selector();
    for (const r of op
      .slice(1, -1)
      .split(' ')
      .filter((s) => s !== '')) {
      if (!applySelectorRule(sel, r, table)) throw new AclRuleError(RULE_ERRORS.selectorRule);
    }
    user.selectors.push(sel);
    return;
  }
  if (!applySelectorRule(user.root, op, table)) throw new AclRuleError(RULE_ERRORS.syntax);
}
