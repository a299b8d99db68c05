/**
 * @kvws/client — the core: the typed client, pipelines, subscriptions and errors. Pick a transport:
 * `@kvws/client/ws` (browsers, Node: WebSocket, subscriptions, reconnects) or `@kvws/client/http`
 * (fetch-only edge runtimes). No `node:` imports: runs in browsers, Node 20+ and Workers alike.
 */

export {
  type ClientOptions,
  type CommandMethods,
  type KeyEvent,
  KvwsClient,
  Pipeline,
  type Settled,
} from './client.js';
export { BLOCKING, type Command, command } from './command.js';
export type * from './commands/connection.js';
export type * from './commands/hash.js';
export { type Builders, builders } from './commands/index.js';
export type * from './commands/keys.js';
export type * from './commands/list.js';
export type * from './commands/pubsub.js';
export type * from './commands/server.js';
export type * from './commands/set.js';
export type * from './commands/sorted-set.js';
export type * from './commands/stream.js';
export type * from './commands/string.js';
export { AbortError, ConnectionError, KvwsError, TimeoutError } from './errors.js';
export { ITERATOR_BUFFER, Subscription } from './subscription.js';
export { StreamTail, type TailEvent, type TailOptions } from './tail.js';
export type { Arg, CallOptions, Key, Message, Request, Transport, Value } from './types.js';
