import { getKeyPositions, type KeyOp, keyOpsFor } from '@kvws/shared/commands';
import type { RuntimeCommand } from '../commands/index.js';
import { compileGlob } from '../engine/glob.js';
import { PERM_R, PERM_W, type Selector, type User } from './acl-user.js';
import { globSubsetOfAny } from './glob-subset.js';

/**
 * A user's permissions compiled for one session: selector patterns with JWT claims filled in, glob
 * matchers built once. `check` is Redis's ACLCheckAllUserCommandPerm; `canReadKey` and `channelAllowed`
 * serve kvws's filters (KEYS, SCAN, RANDOMKEY, keyspace notifications, PSUBSCRIBE).
 */

/** Why a command was refused; ordered as Redis ranks them (the highest across selectors is reported). */
export const DENIED_COMMAND = 1;
export const DENIED_KEY = 2;
export const DENIED_CHANNEL = 4;

export interface Denial {
  reason: 'command' | 'key' | 'channel';
  /** The command's full name, the key, or the channel. */
  object: string;
}

/** Channel arguments of the pub/sub commands (Redis's getChannelsFromCommand): first index, pattern or not. */
const CHANNEL_ARGS: Record<string, { first: number; all: boolean; pattern: boolean }> = {
  publish: { first: 1, all: false, pattern: false },
  spublish: { first: 1, all: false, pattern: false },
  subscribe: { first: 1, all: true, pattern: false },
  ssubscribe: { first: 1, all: true, pattern: false },
  psubscribe: { first: 1, all: true, pattern: true },
};

/** Permission bits a key spec's flags need (Redis's ACLSelectorCheckKey). */
function neededPerm(ops: readonly KeyOp[]): number {
  let p = 0;
  for (const op of ops) {
    if (op === 'ACCESS') p |= PERM_R;
    else if (op === 'INSERT' || op === 'DELETE' || op === 'UPDATE') p |= PERM_W;
  }
  return p;
}

/** States explored (about 10 µs each) and pattern length beyond which a PSUBSCRIBE pattern is refused. */
const SUBSET_BUDGET = 2000;
const SUBSET_MAX_PATTERN = 512;

/** Reused by Permissions.check (synchronous, so one is enough): no allocation per allowed command. */
const scratch = { object: '', index: 0 };

const plans = new WeakMap<RuntimeCommand, number[] | null>();

/**
 * For a command whose keys all sit at fixed argv positions (one key spec per key, no keyword search, no key
 * count): `[index, perm, index, perm, …]`, perm -1 when the spec has VARIABLE_FLAGS. Null otherwise
 * (the general getKeyPositions path). Cached per command.
 */
function keyPlan(cmd: RuntimeCommand): number[] | null {
  let plan = plans.get(cmd);
  if (plan !== undefined) return plan;
  plan = [];
  for (const k of cmd.spec.keys) {
    if (
      !('index' in k.begin) ||
      !('range' in k.find) ||
      k.find.range.lastKey !== 0 ||
      k.ops.includes('VARIABLE_FLAGS')
    ) {
      plan = null;
      break;
    }
    plan.push(k.begin.index, neededPerm(k.ops));
  }
  plans.set(cmd, plan);
  return plan;
}

interface CompiledKey {
  match: (key: string) => boolean;
  perm: number;
  pattern: string;
}

class CompiledSelector {
  readonly allowed: Set<string>;
  readonly firstArgs: Map<string, Set<string>>;
  readonly allKeys: boolean;
  readonly keys: CompiledKey[];
  readonly allChannels: boolean;
  readonly channels: string[];
  private readonly channelMatchers: ((s: string) => boolean)[];

  constructor(sel: Selector, claims: Record<string, unknown> | null) {
    this.allowed = sel.allowed;
    this.firstArgs = sel.firstArgs;
    this.allKeys = sel.allKeys;
    this.keys = [];
    for (const k of sel.keys) {
      const pattern = fillTemplate(k.pattern, claims);
      if (pattern !== null) this.keys.push({ match: compileGlob(pattern), perm: k.perm, pattern });
    }
    this.allChannels = sel.allChannels;
    this.channels = [];
    for (const c of sel.channels) {
      const pattern = fillTemplate(c, claims);
      if (pattern !== null) this.channels.push(pattern);
    }
    this.channelMatchers = this.channels.map((c) => compileGlob(c));
  }

  /** 0 when this selector allows the whole command, else the DENIED_* rank; `out` gets the object and its argv index. */
  check(cmd: RuntimeCommand, argv: string[], out: { object: string; index: number }): number {
    // Commands flagged no_auth (AUTH, HELLO, QUIT, RESET) are never refused by command rules, as in Redis.
    if (!this.allowed.has(cmd.fullName) && !cmd.spec.flags.includes('no_auth')) {
      const args = this.firstArgs.get(cmd.fullName);
      if (!args || argv.length < 2 || !args.has(argv[1].toLowerCase())) {
        out.object = cmd.fullName;
        out.index = 0;
        return DENIED_COMMAND;
      }
    }
    const spec = cmd.spec;
    if (!this.allKeys) {
      if (spec.wholeKeyspace && !this.keys.some((k) => k.pattern === '*' && (k.perm & PERM_W) !== 0)) {
        out.object = '*';
        out.index = 0;
        return DENIED_KEY;
      }
      if (spec.keys.length !== 0) {
        const plan = keyPlan(cmd);
        if (plan !== null) {
          // Fast path: keys at fixed positions with fixed access (GET, SET…, most commands).
          for (let i = 0; i < plan.length; i += 2) {
            const at = plan[i];
            if (at >= argv.length) continue;
            const perm = plan[i + 1];
            const need = perm >= 0 ? perm : neededPerm(keyOpsFor(spec.name, spec.keys[i >> 1], argv));
            if (!this.keyAllowed(argv[at], need)) {
              out.object = argv[at];
              out.index = at;
              return DENIED_KEY;
            }
          }
        } else {
          for (const ref of getKeyPositions(spec.keys, argv)) {
            const need = neededPerm(keyOpsFor(spec.name, spec.keys[ref.spec], argv));
            const key = argv[ref.index];
            if (!this.keyAllowed(key, need)) {
              out.object = key;
              out.index = ref.index;
              return DENIED_KEY;
            }
          }
        }
      }
    }
    if (!this.allChannels) {
      const ch = CHANNEL_ARGS[cmd.fullName];
      if (ch) {
        const last = ch.all ? argv.length - 1 : ch.first;
        for (let i = ch.first; i <= last && i < argv.length; i++) {
          if (!this.channelAllowed(argv[i], ch.pattern)) {
            out.object = argv[i];
            out.index = i;
            return DENIED_CHANNEL;
          }
        }
      }
    }
    return 0;
  }

  keyAllowed(key: string, need: number): boolean {
    if (this.allKeys) return true;
    for (const k of this.keys) if ((k.perm & need) === need && k.match(key)) return true;
    return false;
  }

  /**
   * A channel is allowed when a pattern matches it. A PSUBSCRIBE pattern is allowed when every channel it
   * can match is allowed (Redis only accepts a literal copy of an allowed pattern).
   */
  channelAllowed(channel: string, isPattern: boolean): boolean {
    if (this.allChannels) return true;
    if (!isPattern) {
      for (const m of this.channelMatchers) if (m(channel)) return true;
      return false;
    }
    if (this.channels.includes(channel)) return true;
    // Bounded so that a hostile pattern costs at most a few milliseconds: beyond the budget (or the
    // length cap) the answer is "not allowed".
    return channel.length <= SUBSET_MAX_PATTERN && globSubsetOfAny(channel, this.channels, SUBSET_BUDGET);
  }
}

/**
 * Fills `{sub}` and `{claim:NAME}` placeholders with the token's claims, glob-escaped so a claim can never
 * widen a pattern (`sub = "*"` matches only a literal star). `\{` stays a literal brace. Returns null
 * (the pattern matches nothing) when the session has no claims or the claim is missing or not a string or
 * number.
 */
export function fillTemplate(pattern: string, claims: Record<string, unknown> | null): string | null {
  if (!pattern.includes('{')) return pattern;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\' && i + 1 < pattern.length) {
      out += ch + pattern[++i];
      continue;
    }
    if (ch !== '{') {
      out += ch;
      continue;
    }
    const end = pattern.indexOf('}', i);
    const name = end < 0 ? '' : pattern.slice(i + 1, end);
    let claim: string | null = null;
    if (name === 'sub') claim = 'sub';
    else if (name.startsWith('claim:') && name.length > 6) claim = name.slice(6);
    if (claim === null) {
      out += ch;
      continue;
    }
    const v = claims?.[claim];
    if (typeof v !== 'string' && typeof v !== 'number') return null;
    const s = String(v);
    if (s === '') return null;
    out += globEscape(s);
    i = end;
  }
  return out;
}

/** Escapes glob metacharacters so `s` matches only itself. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export class Permissions {
  private readonly selectors: CompiledSelector[];
  /** Every command, key and channel: the ACL check can be skipped. */
  readonly unrestricted: boolean;
  /** Every key readable: KEYS/SCAN/RANDOMKEY and notifications need no filter. */
  readonly readsAllKeys: boolean;

  constructor(user: User, claims: Record<string, unknown> | null, commandCount: number) {
    this.selectors = [user.root, ...user.selectors].map((s) => new CompiledSelector(s, claims));
    this.unrestricted = this.selectors.some(
      (s) => s.allowed.size >= commandCount && s.firstArgs.size === 0 && s.allKeys && s.allChannels,
    );
    this.readsAllKeys = this.selectors.some(
      (s) => s.allKeys || s.keys.some((k) => k.pattern === '*' && k.perm & PERM_R),
    );
  }

  /**
   * Null when some selector allows the command with these arguments; else the highest-ranked denial (among
   * equals, the one at the later argument, as Redis reports it).
   */
  check(cmd: RuntimeCommand, argv: string[]): Denial | null {
    let worst = 0;
    let object = '';
    let index = -1;
    const out = scratch;
    for (const s of this.selectors) {
      const r = s.check(cmd, argv, out);
      if (r === 0) return null;
      if (r > worst || (r === worst && out.index > index)) {
        worst = r;
        object = out.object;
        index = out.index;
      }
    }
    return { reason: worst === DENIED_CHANNEL ? 'channel' : worst === DENIED_KEY ? 'key' : 'command', object };
  }

  /** True when some selector may read `key` (allkeys, or a `~`/`%R~` pattern that matches it). */
  canReadKey(key: string): boolean {
    if (this.readsAllKeys) return true;
    for (const s of this.selectors) if (s.keyAllowed(key, PERM_R)) return true;
    return false;
  }

  /** True when some selector allows the channel (or, for a pattern, every channel it can match). */
  channelAllowed(channel: string, isPattern: boolean): boolean {
    for (const s of this.selectors) if (s.channelAllowed(channel, isPattern)) return true;
    return false;
  }
}
