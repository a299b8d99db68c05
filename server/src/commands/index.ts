import type { CommandSpec } from '@kvws/shared/commands';
import { COMMANDS } from '@kvws/shared/commands';
import type { CommandStats } from '../engine/engine.js';
import { handlers as aclHandlers } from './acl.js';
import { handlers as configHandlers } from './config.js';
import { handlers as connectionHandlers } from './connection.js';
import { handlers as expireHandlers } from './expire.js';
import { handlers as hashHandlers } from './hash.js';
import { handlers as keysHandlers } from './keys.js';
import { handlers as listHandlers } from './list.js';
import { handlers as multiHandlers } from './multi.js';
import { handlers as pubsubHandlers } from './pubsub.js';
import { handlers as serverHandlers } from './server.js';
import { handlers as setHandlers } from './set.js';
import { handlers as streamHandlers } from './stream.js';
import { handlers as stringHandlers } from './string.js';
import type { Handler, Handlers } from './types.js';
import { handlers as zsetHandlers } from './zset.js';

/** Every handler module, by the file a Redis reader would look in (t_string.c → string.ts, db.c → keys.ts, …). */
export const HANDLER_MODULES: Record<string, Handlers> = {
  keys: keysHandlers,
  expire: expireHandlers,
  string: stringHandlers,
  hash: hashHandlers,
  list: listHandlers,
  set: setHandlers,
  zset: zsetHandlers,
  stream: streamHandlers,
  pubsub: pubsubHandlers,
  multi: multiHandlers,
  connection: connectionHandlers,
  server: serverHandlers,
  config: configHandlers,
  acl: aclHandlers,
};

/** A table entry joined with its handler. */
export interface RuntimeCommand {
  spec: CommandSpec;
  /** Redis's lower-case full name: "get", "config|get". Used in error messages and INFO commandstats. */
  fullName: string;
  /** Upper-case top-level name ("CONFIG" for CONFIG GET). */
  root: string;
  handler: Handler;
  /** For containers: true when the bare name (COMMAND with no subcommand) has a handler of its own. */
  bareHandler: boolean;
  subcommands?: Map<string, RuntimeCommand>;
  stats: CommandStats;
  /** The table's `write` flag: the command may change the dataset (AOF propagation, MISCONF). */
  write: boolean;
}

/** Lookup map: lower-case and upper-case names → entry. */
export type CommandTable = Map<string, RuntimeCommand>;

const containerHandler: Handler = () => {
  throw new Error('container command dispatched without a subcommand');
};

/**
 * Joins the shared command table with the handlers. Throws if a table entry has no handler or a handler
 * has no table entry, so the two can never drift.
 */
export function buildCommandTable(): CommandTable {
  const all: Handlers = {};
  for (const [mod, hs] of Object.entries(HANDLER_MODULES)) {
    for (const [name, h] of Object.entries(hs)) {
      if (all[name]) throw new Error(`handler ${name} defined twice (second in ${mod}.ts)`);
      all[name] = h;
    }
  }
  const used = new Set<string>();
  const table: CommandTable = new Map();
  for (const spec of COMMANDS) {
    const entry = makeEntry(spec, spec.name, undefined, all, used);
    table.set(spec.name, entry);
    table.set(spec.name.toLowerCase(), entry);
  }
  const unused = Object.keys(all).filter((n) => !used.has(n));
  if (unused.length) throw new Error(`handlers without a command table entry: ${unused.join(', ')}`);
  return table;
}

function makeEntry(
  spec: CommandSpec,
  key: string,
  parent: CommandSpec | undefined,
  all: Handlers,
  used: Set<string>,
): RuntimeCommand {
  const entry: RuntimeCommand = {
    spec,
    fullName: key.toLowerCase(),
    root: parent ? parent.name : spec.name,
    handler: containerHandler,
    bareHandler: false,
    stats: { calls: 0, failed: 0, rejected: 0, latency: null },
    write: spec.flags.includes('write'),
  };
  if (spec.subcommands) {
    const own = all[key];
    if (own) {
      used.add(key);
      entry.handler = own;
      entry.bareHandler = true;
    }
    entry.subcommands = new Map();
    for (const sub of spec.subcommands) {
      entry.subcommands.set(sub.name.toLowerCase(), makeEntry(sub, `${spec.name}|${sub.name}`, spec, all, used));
    }
  } else {
    const h = all[key];
    if (!h) throw new Error(`command ${key} has no handler`);
    used.add(key);
    entry.handler = h;
  }
  return entry;
}
