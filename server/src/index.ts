export { resolveOptions, type ServerOptions, ServerOptionsSchema } from './config.js';
export { Client } from './engine/client.js';
export { Engine } from './engine/engine.js';
export * from './protocol/reply.js';
export { KvwsServer, type Listening } from './server.js';
