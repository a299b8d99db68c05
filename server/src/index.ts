export { KvwsServer, type Listening } from './server.js';
export { Engine } from './engine/engine.js';
export { Client } from './engine/client.js';
export { resolveOptions, ServerOptionsSchema, type ServerOptions } from './config.js';
export * from './protocol/reply.js';
