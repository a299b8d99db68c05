import type { AclCategory, CommandFlag, CommandGroup, CommandSpec, KeyAccess, KeyOp, KeySpec } from './types.js';

const GROUP_CATEGORY: Partial<Record<CommandGroup, AclCategory>> = {
  generic: 'keyspace',
  string: 'string',
  list: 'list',
  set: 'set',
  'sorted-set': 'sortedset',
  hash: 'hash',
  pubsub: 'pubsub',
  transactions: 'transaction',
  connection: 'connection',
  stream: 'stream',
};

export interface CommandInput {
  group: CommandGroup;
  arity: number;
  flags?: CommandFlag[];
  /** Categories beyond the implied ones (e.g. `dangerous` for KEYS). */
  acl?: AclCategory[];
  keys?: KeySpec[];
  syntax: string;
  summary: string;
  since?: string;
  tips?: string[];
  /** See CommandSpec.wholeKeyspace. */
  wholeKeyspace?: true;
  /** Leave out the group's implied category (WAIT is in Redis's generic group, but only @connection). */
  noGroupCategory?: true;
  subcommands?: Record<string, Omit<CommandInput, 'group'> & { group?: CommandGroup }>;
}

/**
 * Builds a CommandSpec, adding the categories Redis implies from flags and group
 * (setImplicitACLCategories in Redis): write → @write, readonly (and not @scripting) → @read,
 * admin → @admin @dangerous, pubsub → @pubsub, fast → @fast else @slow, blocking → @blocking.
 * Adds the `movablekeys` flag when a key spec begins at a keyword or reads a key count, as Redis's
 * populateCommandMovableKeys does.
 */
export function defineCommand(name: string, input: CommandInput): CommandSpec {
  const flags = [...(input.flags ?? [])];
  const keys = input.keys ?? [];
  if (keys.some((k) => !('index' in k.begin) || !('range' in k.find)) && !flags.includes('movablekeys')) {
    flags.push('movablekeys');
  }
  const acl = new Set<AclCategory>();
  const groupCat = GROUP_CATEGORY[input.group];
  if (groupCat && !input.subcommands && !input.noGroupCategory) acl.add(groupCat);
  for (const c of input.acl ?? []) acl.add(c);
  if (flags.includes('write')) acl.add('write');
  if (flags.includes('readonly') && !acl.has('scripting')) acl.add('read');
  if (flags.includes('admin')) {
    acl.add('admin');
    acl.add('dangerous');
  }
  if (flags.includes('pubsub')) acl.add('pubsub');
  if (flags.includes('blocking')) acl.add('blocking');
  if (flags.includes('fast')) acl.add('fast');
  else acl.add('slow');
  if (input.subcommands) {
    // Containers carry only @slow (as in Redis); the subcommands carry the real categories.
    acl.clear();
    acl.add('slow');
  }
  const spec: CommandSpec = {
    name: name.toUpperCase(),
    group: input.group,
    arity: input.arity,
    flags,
    acl: [...acl],
    keys,
    syntax: input.syntax,
    summary: input.summary,
    since: input.since ?? '1.0.0',
  };
  if (input.tips) spec.tips = input.tips;
  if (input.wholeKeyspace) spec.wholeKeyspace = true;
  if (input.subcommands) {
    spec.subcommands = Object.entries(input.subcommands).map(([sub, s]) =>
      defineCommand(sub, { ...s, group: s.group ?? input.group }),
    );
  }
  return spec;
}

/** Key spec: keys from argv[index] through `lastKey` (relative, see KeySpec) every `step` args. */
export function keyRange(index: number, lastKey: number, step: number, access: KeyAccess, ops: KeyOp[] = []): KeySpec {
  return { begin: { index }, find: { range: { lastKey, step, limit: 0 } }, access, ops };
}

/** Key spec: a count at argv[index + keyNumIdx], keys from argv[index + firstKey] every `step`. */
export function keyNum(
  index: number,
  keyNumIdx: number,
  firstKey: number,
  step: number,
  access: KeyAccess,
  ops: KeyOp[] = [],
): KeySpec {
  return { begin: { index }, find: { keynum: { keyNumIdx, firstKey, step } }, access, ops };
}

/** Key spec: keys after `keyword` (searched from `startFrom`), through `lastKey`, every `step`. */
export function keyAfter(
  keyword: string,
  startFrom: number,
  lastKey: number,
  step: number,
  access: KeyAccess,
  ops: KeyOp[] = [],
  limit = 0,
): KeySpec {
  return { begin: { keyword, startFrom }, find: { range: { lastKey, step, limit } }, access, ops };
}

/** Shorthand for the most common spec: one key at argv[1]. */
export const key1 = (access: KeyAccess, ops: KeyOp[] = []): KeySpec => keyRange(1, 0, 1, access, ops);
