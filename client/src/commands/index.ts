import { connectionCommands } from './connection.js';
import { hashCommands } from './hash.js';
import { keyCommands } from './keys.js';
import { listCommands } from './list.js';
import { pubsubCommands } from './pubsub.js';
import { serverCommands } from './server.js';
import { setCommands } from './set.js';
import { sortedSetCommands } from './sorted-set.js';
import { streamCommands } from './stream.js';
import { stringCommands } from './string.js';

/**
 * Every command builder, by method name: lower-case command names (`get`, `hgetall`), and container
 * subcommands in camelCase (`configGet`, `aclSetuser`, `clientList`). The client and pipelines get one
 * method per entry; test/client/commands.test.ts checks this table against the server's command table.
 */
export const builders = {
  ...stringCommands,
  ...keyCommands,
  ...hashCommands,
  ...listCommands,
  ...setCommands,
  ...sortedSetCommands,
  ...streamCommands,
  ...pubsubCommands,
  ...connectionCommands,
  ...serverCommands,
};

export type Builders = typeof builders;
