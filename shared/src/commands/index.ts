import { connection } from './connection.js';
import { generic } from './generic.js';
import { hash } from './hash.js';
import { list } from './list.js';
import { pubsub } from './pubsub.js';
import { server } from './server.js';
import { set } from './set.js';
import { sortedSet } from './sorted-set.js';
import { stream } from './stream.js';
import { string } from './string.js';
import { transactions } from './transactions.js';
import type { CommandSpec } from './types.js';

export * from './define.js';
export * from './getkeys.js';
export * from './types.js';

/** The command table: every command kvws knows, grouped as in Redis's docs. */
export const COMMANDS: readonly CommandSpec[] = [
  ...generic,
  ...string,
  ...hash,
  ...list,
  ...set,
  ...sortedSet,
  ...stream,
  ...pubsub,
  ...transactions,
  ...connection,
  ...server,
];
