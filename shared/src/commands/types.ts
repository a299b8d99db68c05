/**
 * The shape of the command table: the single source of truth for every command kvws knows.
 * The dispatcher (arity, flags), COMMAND INFO/DOCS/GETKEYS, the ACL checks, keyspace routing,
 * the docs and the client's types all read it. Pure data: no handlers, no node: imports.
 */

/** Redis 7 command flags (COMMAND INFO's third field), lower-case as Redis prints them. */
export type CommandFlag =
  | 'write'
  | 'readonly'
  | 'denyoom'
  | 'module'
  | 'admin'
  | 'pubsub'
  | 'noscript'
  | 'blocking'
  | 'loading'
  | 'stale'
  | 'skip_monitor'
  | 'skip_slowlog'
  | 'asking'
  | 'fast'
  | 'no_auth'
  | 'may_replicate'
  | 'sentinel'
  | 'only_sentinel'
  | 'no_mandatory_keys'
  | 'protected'
  | 'no_async_loading'
  | 'no_multi'
  | 'movablekeys'
  | 'allow_busy';

/** Redis ACL categories, without the leading `@`. */
export type AclCategory =
  | 'keyspace'
  | 'read'
  | 'write'
  | 'set'
  | 'sortedset'
  | 'list'
  | 'hash'
  | 'string'
  | 'bitmap'
  | 'hyperloglog'
  | 'geo'
  | 'stream'
  | 'pubsub'
  | 'admin'
  | 'fast'
  | 'slow'
  | 'blocking'
  | 'dangerous'
  | 'connection'
  | 'transaction'
  | 'scripting';

export const ACL_CATEGORIES: readonly AclCategory[] = [
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
];

/** Command groups as in Redis's COMMAND DOCS `group` field. */
export type CommandGroup =
  | 'generic'
  | 'string'
  | 'list'
  | 'set'
  | 'sorted-set'
  | 'hash'
  | 'pubsub'
  | 'transactions'
  | 'connection'
  | 'server'
  | 'stream';

/**
 * How a key is accessed (Redis 7 key-spec flags). Exactly one of RO/RW/OW/RM, plus any of the rest.
 * RO read-only, RW read-write, OW overwrite (value not read), RM remove.
 */
export type KeyAccess = 'RO' | 'RW' | 'OW' | 'RM';
export type KeyOp = 'ACCESS' | 'UPDATE' | 'INSERT' | 'DELETE' | 'NOT_KEY' | 'INCOMPLETE' | 'VARIABLE_FLAGS';

/**
 * One Redis 7 key specification. `begin` finds the first key: a fixed argv index, or the argument after a
 * keyword searched from `startFrom` (negative: from the end, searching backwards). `find` then takes either a
 * range (lastKey relative to the first key: 0 = one key, -1 = up to the last argument, -2 = one before…;
 * `step` between keys; `limit` > 1 takes 1/limit of the remaining args) or a key count read at argv
 * index (begin + keyNumIdx), keys starting at begin + firstKey.
 */
export interface KeySpec {
  begin: { index: number } | { keyword: string; startFrom: number };
  find:
    | { range: { lastKey: number; step: number; limit: number } }
    | { keynum: { keyNumIdx: number; firstKey: number; step: number } };
  access: KeyAccess;
  ops: KeyOp[];
  /** Redis's key-spec `notes` (COMMAND INFO shows them first), e.g. XADD's. */
  notes?: string;
}

export interface CommandSpec {
  /** Upper-case name; subcommands are listed under their container with their own name (e.g. `GET` under CONFIG). */
  name: string;
  group: CommandGroup;
  /** Redis arity: positive = exact argc (including the name), negative = at least |arity|. */
  arity: number;
  flags: CommandFlag[];
  /** Every ACL category, explicit and implied by the flags (computed by `defineCommand`). */
  acl: AclCategory[];
  keys: KeySpec[];
  /** Syntax line as in Redis's docs, e.g. `SET key value [NX | XX] [GET] [EX seconds | …]`. */
  syntax: string;
  summary: string;
  since: string;
  /** Redis's command tips (COMMAND INFO's 8th field), e.g. `nondeterministic_output`. */
  tips?: string[];
  /**
   * kvws: the command changes every key of one or more databases without naming them (FLUSHDB, FLUSHALL,
   * SWAPDB), so the ACL check requires write access to all keys (`allkeys` or `%W~*`).
   */
  wholeKeyspace?: true;
  subcommands?: CommandSpec[];
}
