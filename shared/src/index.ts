export * from './commands/index.js';
export * from './protocol.js';
