import { command, toNumber, toRecord, toStrings } from '../command.js';
import type { Arg, Key, Value } from '../types.js';

/** One COMMAND / COMMAND INFO entry (Redis 7's ten fields), decoded. */
export interface CommandInfo {
  /** Lower-case name; subcommands as `config|get`. */
  name: string;
  /** Argument count including the name; negative: at least that many. */
  arity: number;
  flags: string[];
  firstKey: number;
  lastKey: number;
  step: number;
  /** `@read`, `@fast`… */
  aclCategories: string[];
  tips: string[];
  /** Redis 7 key specifications, as the reply carried them. */
  keySpecs: Value[];
  subcommands: CommandInfo[];
}

/** One COMMAND DOCS entry: summary, since, group, kvws's syntax line, and subcommands' docs by full name. */
export interface CommandDoc {
  summary: string;
  since: string;
  group: string;
  syntax?: string;
  subcommands?: Record<string, CommandDoc>;
  [field: string]: Value | Record<string, CommandDoc> | undefined;
}

/** ACL GETUSER's rules of a selector (the user's root rules, or one `(…)` selector). */
export interface AclSelector {
  /** Command rules, e.g. `+@all -debug`. */
  commands: string;
  /** Key patterns, e.g. `~* %R~ro:*`. */
  keys: string;
  /** Channel patterns, e.g. `&*`. */
  channels: string;
}

/** ACL GETUSER's reply. */
export interface AclUser extends AclSelector {
  /** `on`/`off`, `nopass`, `sanitize-payload`… */
  flags: string[];
  /** Password hashes. */
  passwords: string[];
  selectors: AclSelector[];
}

/** One ACL LOG entry (Redis's field names). */
export interface AclLogEntry {
  count: number;
  /** `command`, `key`, `channel` or `auth`. */
  reason: string;
  /** `toplevel`, `multi`, `lua`… */
  context: string;
  /** The command, key or channel refused. */
  object: string;
  username: string;
  'age-seconds': number;
  /** The offending connection's CLIENT INFO line. */
  'client-info': string;
  'entry-id': number;
  'timestamp-created': number;
  'timestamp-last-updated': number;
}

/** One SLOWLOG GET entry. */
export interface SlowlogEntry {
  /** Unique, increasing id. */
  id: number;
  /** When it was logged, Unix seconds. */
  timestamp: number;
  /** How long the command ran, microseconds. */
  durationUs: number;
  /** Its arguments: at most 32 (the last then `... (N more arguments)`), each cut at 128 bytes (`... (N more bytes)`). */
  args: string[];
  /** The client's `ip:port`. */
  addr: string;
  /** The client's name (CLIENT SETNAME), or "". */
  name: string;
}

function toSlowlogEntry(v: Value): SlowlogEntry {
  const a = Array.isArray(v) ? v : [];
  return {
    id: toNumber(a[0]),
    timestamp: toNumber(a[1]),
    durationUs: toNumber(a[2]),
    args: toStrings(a[3] ?? []),
    addr: String(a[4] ?? ''),
    name: String(a[5] ?? ''),
  };
}

/** COMMAND LIST's filter: at most one of module, ACL category or glob pattern. */
export type CommandListFilter =
  | { module: string; aclcat?: never; pattern?: never }
  | { aclcat: string; module?: never; pattern?: never }
  | { pattern: string; module?: never; aclcat?: never };

function toCommandInfo(v: Value): CommandInfo | null {
  if (!Array.isArray(v)) return null;
  return {
    name: String(v[0]),
    arity: toNumber(v[1]),
    flags: toStrings(v[2]),
    firstKey: toNumber(v[3]),
    lastKey: toNumber(v[4]),
    step: toNumber(v[5]),
    aclCategories: toStrings(v[6]),
    tips: toStrings(v[7]),
    keySpecs: Array.isArray(v[8]) ? v[8] : [],
    subcommands: Array.isArray(v[9]) ? v[9].map(toCommandInfo).filter((c) => c !== null) : [],
  };
}

function toCommandDoc(v: Value): CommandDoc {
  const r = toRecord<Value>(v);
  const doc = r as unknown as CommandDoc;
  if (r.subcommands !== undefined) doc.subcommands = toRecord(r.subcommands, toCommandDoc);
  return doc;
}

function toSelector(r: Record<string, Value>): AclSelector {
  return { commands: String(r.commands ?? ''), keys: String(r.keys ?? ''), channels: String(r.channels ?? '') };
}

function toAclUser(v: Value): AclUser | null {
  if (v === null) return null;
  const r = toRecord<Value>(v);
  return {
    flags: toStrings(r.flags),
    passwords: toStrings(r.passwords),
    ...toSelector(r),
    selectors: Array.isArray(r.selectors) ? r.selectors.map((s) => toSelector(toRecord<Value>(s))) : [],
  };
}

const LOG_NUMBERS = ['count', 'age-seconds', 'entry-id', 'timestamp-created', 'timestamp-last-updated'];

function toAclLogEntry(v: Value): AclLogEntry {
  const r = toRecord<Value>(v);
  const out: Record<string, string | number> = {};
  for (const [k, x] of Object.entries(r)) out[k] = LOG_NUMBERS.includes(k) ? toNumber(x) : String(x);
  return out as unknown as AclLogEntry;
}

/**
 * Server commands (Redis's server.c, config.c, acl.c) and WATCH/UNWATCH (multi.c). Most CONFIG, ACL and
 * CLIENT subcommands are admin commands: the user needs the permission (`+@admin`, or the subcommand).
 */
export const serverCommands = {
  /**
   * INFO [section …] → the report as Redis prints it: `# Section` headers, then `field:value` lines, CRLF
   * line ends (`INFO server` has `redis_version`, `uptime_in_seconds`…). No section: the default ones;
   * `all`/`everything`: all of them.
   */
  info: (...sections: string[]) => command<string>(['INFO', ...sections]),
  /** BGREWRITEAOF → the status text; rewrites the append-only file in the background (admin). */
  bgrewriteaof: () => command<string>(['BGREWRITEAOF']),
  /** BGSAVE [SCHEDULE] → the status text; writes a dump in the background (admin). */
  bgsave: (opts?: { schedule?: boolean }) => command<string>(opts?.schedule ? ['BGSAVE', 'SCHEDULE'] : ['BGSAVE']),
  /** SAVE → `OK` once the dump is on disk; the server waits meanwhile (admin). */
  save: () => command<string>(['SAVE']),
  /** LASTSAVE → Unix time (seconds) of the last successful dump (the start time before any). */
  lastsave: () => command(['LASTSAVE'], toNumber),
  /** TIME → `[seconds, microseconds]` of the server's clock (Unix time). */
  time: () =>
    command(['TIME'], (v): [number, number] => (Array.isArray(v) ? [toNumber(v[0]), toNumber(v[1])] : [0, 0])),
  /** COMMAND → every command's CommandInfo. */
  command: () => command(['COMMAND'], (v) => (Array.isArray(v) ? v.map(toCommandInfo) : []) as CommandInfo[]),
  /** COMMAND COUNT → the number of commands. */
  commandCount: () => command(['COMMAND', 'COUNT'], toNumber),
  /** COMMAND INFO [command-name …] → each command's CommandInfo in order, null for unknown names. */
  commandInfo: (...names: string[]) =>
    command(['COMMAND', 'INFO', ...names], (v) => (Array.isArray(v) ? v.map(toCommandInfo) : [])),
  /** COMMAND DOCS [command-name …] → `{name: CommandDoc}` (unknown names are left out; none: every command). */
  commandDocs: (...names: string[]) => command(['COMMAND', 'DOCS', ...names], (v) => toRecord(v, toCommandDoc)),
  /** COMMAND GETKEYS command [arg …] → the key names that command would touch. */
  commandGetkeys: (...argv: Arg[]) => command(['COMMAND', 'GETKEYS', ...argv], toStrings),
  /** COMMAND GETKEYSANDFLAGS command [arg …] → the keys with their access flags (`RW`, `access`, …). */
  commandGetkeysandflags: (...argv: Arg[]) =>
    command(['COMMAND', 'GETKEYSANDFLAGS', ...argv], (v) =>
      (Array.isArray(v) ? v : []).map((p) => {
        const [key, flags] = Array.isArray(p) ? p : [];
        return { key: String(key), flags: toStrings(flags ?? []) };
      }),
    ),
  /** COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p] → command names (`config|get` for subcommands). */
  commandList: (filter?: CommandListFilter) => {
    const argv: Arg[] = ['COMMAND', 'LIST'];
    if (filter?.module !== undefined) argv.push('FILTERBY', 'MODULE', filter.module);
    if (filter?.aclcat !== undefined) argv.push('FILTERBY', 'ACLCAT', filter.aclcat);
    if (filter?.pattern !== undefined) argv.push('FILTERBY', 'PATTERN', filter.pattern);
    return command(argv, toStrings);
  },
  /** COMMAND HELP → the subcommands' help text, one line per entry. */
  commandHelp: () => command(['COMMAND', 'HELP'], toStrings),
  /** CONFIG GET parameter [parameter …] → `{name: value}` of the matching parameters (globs allowed). */
  configGet: (...parameters: string[]) => command(['CONFIG', 'GET', ...parameters], (v) => toRecord(v, String)),
  /** CONFIG SET parameter value [parameter value …] → "OK" (all or none are applied). */
  configSet: (parameters: Record<string, Arg>) =>
    command<'OK'>(['CONFIG', 'SET', ...Object.entries(parameters).flat()]),
  /** CONFIG RESETSTAT → "OK" (INFO's statistics reset). */
  configResetstat: () => command<'OK'>(['CONFIG', 'RESETSTAT']),
  /** CONFIG HELP → the subcommands' help text, one line per entry. */
  configHelp: () => command(['CONFIG', 'HELP'], toStrings),
  /**
   * SLOWLOG GET [count] → the newest `count` slow log entries (default 10; -1: all), newest first (admin).
   * Commands that ran at least `slowlog-log-slower-than` µs (CONFIG SET) are logged.
   */
  slowlogGet: (count?: number) =>
    command(count === undefined ? ['SLOWLOG', 'GET'] : ['SLOWLOG', 'GET', count], (v) =>
      (Array.isArray(v) ? v : []).map(toSlowlogEntry),
    ),
  /** SLOWLOG LEN → the number of entries in the slow log (admin). */
  slowlogLen: () => command(['SLOWLOG', 'LEN'], toNumber),
  /** SLOWLOG RESET → "OK" once the slow log is empty (admin). */
  slowlogReset: () => command<'OK'>(['SLOWLOG', 'RESET']),
  /** SLOWLOG HELP → the subcommands' help text, one line per entry. */
  slowlogHelp: () => command(['SLOWLOG', 'HELP'], toStrings),
  /** ACL CAT [category] → the ACL categories, or the commands in `category`. */
  aclCat: (category?: string) => command(category === undefined ? ['ACL', 'CAT'] : ['ACL', 'CAT', category], toStrings),
  /** ACL DELUSER username [username …] → the number of users deleted (their connections are closed). */
  aclDeluser: (...usernames: string[]) => command(['ACL', 'DELUSER', ...usernames], toNumber),
  /**
   * ACL DRYRUN username command [arg …] → "OK" if that user may run the command, otherwise the reason
   * ("This user has no permissions to …"). Nothing runs.
   */
  aclDryrun: (username: string, ...argv: Arg[]) => command<string>(['ACL', 'DRYRUN', username, ...argv]),
  /** ACL GENPASS [bits] → a random password in hex (default 256 bits). */
  aclGenpass: (bits?: number) => command<string>(bits === undefined ? ['ACL', 'GENPASS'] : ['ACL', 'GENPASS', bits]),
  /** ACL GETUSER username → the user's flags, password hashes and rules, or null if no such user. */
  aclGetuser: (username: string) => command(['ACL', 'GETUSER', username], toAclUser),
  /** ACL LIST → every user as an ACL file line (`user alice on #… ~* +@all`). */
  aclList: () => command(['ACL', 'LIST'], toStrings),
  /** ACL LOAD → "OK" once the users file is reloaded (error if none is configured or it is invalid). */
  aclLoad: () => command<'OK'>(['ACL', 'LOAD']),
  /** ACL LOG [count] → the newest `count` (default 10) refusals, newest first; ACL LOG RESET → "OK". */
  aclLog: <A extends number | 'RESET' | undefined = undefined>(countOrReset?: A) =>
    command(
      countOrReset === undefined ? ['ACL', 'LOG'] : ['ACL', 'LOG', countOrReset],
      (v) => (Array.isArray(v) ? v.map(toAclLogEntry) : v) as A extends 'RESET' ? 'OK' : AclLogEntry[],
    ),
  /** ACL SAVE → "OK" once the users are written to the users file. */
  aclSave: () => command<'OK'>(['ACL', 'SAVE']),
  /** ACL SETUSER username [rule …] → "OK" (creates the user if needed; rules as in Redis: `on`, `>pw`, `~k*`…). */
  aclSetuser: (username: string, ...rules: string[]) => command<'OK'>(['ACL', 'SETUSER', username, ...rules]),
  /** ACL USERS → the user names, sorted. */
  aclUsers: () => command(['ACL', 'USERS'], toStrings),
  /** ACL WHOAMI → the connection's user name. */
  aclWhoami: () => command<string>(['ACL', 'WHOAMI']),
  /** ACL HELP → the subcommands' help text, one line per entry. */
  aclHelp: () => command(['ACL', 'HELP'], toStrings),
  /**
   * WATCH key [key …] → "OK". The next `multi()` of this connection resolves to null if a watched key
   * changed meanwhile. WebSocket only: the HTTP API refuses WATCH (each request is its own session).
   */
  watch: (...keys: Key[]) => command<'OK'>(['WATCH', ...keys]),
  /** UNWATCH → "OK" (forgets the connection's watched keys). WebSocket only, as WATCH. */
  unwatch: () => command<'OK'>(['UNWATCH']),
};
