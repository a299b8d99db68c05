import type { Client } from '../engine/client.js';
import { CommandError } from '../protocol/reply.js';
import { kw, toInt } from './args.js';
import type { Handlers } from './types.js';

/**
 * The generic EXPIRE (Redis's expireGenericCommand), serving EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT.
 * `unitMs` is 1000 for seconds; `relative` adds the current time. Returns 1 when the timeout was set
 * (or the key deleted because the deadline is already past), 0 otherwise.
 */
function expireGeneric(client: Client, argv: string[], unitMs: number, relative: boolean): number {
  const db = client.db;
  const key = argv[1];
  const name = argv[0].toLowerCase();
  let n = toInt(argv[2]);
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  for (let i = 3; i < argv.length; i++) {
    const o = kw(argv[i]);
    if (o === 'NX') nx = true;
    else if (o === 'XX') xx = true;
    else if (o === 'GT') gt = true;
    else if (o === 'LT') lt = true;
    else throw new CommandError(`ERR Unsupported option ${argv[i]}`);
  }
  if (nx && (xx || gt || lt)) throw new CommandError('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) throw new CommandError('ERR GT and LT options at the same time are not compatible');
  const now = client.engine.now();
  n *= unitMs;
  if (relative) n += now;
  if (!Number.isSafeInteger(n)) throw new CommandError(`ERR invalid expire time in '${name}' command`);
  if (db.lookup(key) === undefined) return 0;
  const current = db.getExpire(key);
  if (nx && current !== undefined) return 0;
  if (xx && current === undefined) return 0;
  // A key without a deadline counts as an infinite TTL for GT and LT.
  if (gt && (current === undefined || n <= current)) return 0;
  if (lt && current !== undefined && n >= current) return 0;
  if (n <= now) {
    db.delete(key);
    client.engine.notify(db, key, 'del', 'g');
    return 1;
  }
  db.setExpire(key, n);
  client.engine.notify(db, key, 'expire', 'g');
  return 1;
}

/** TTL family: remaining time (or absolute deadline) in seconds or ms; -2 missing key, -1 no deadline. */
function ttlGeneric(client: Client, key: string, ms: boolean, absolute: boolean): number {
  const db = client.db;
  if (db.lookup(key) === undefined) return -2;
  const at = db.getExpire(key);
  if (at === undefined) return -1;
  if (absolute) return ms ? at : Math.floor(at / 1000);
  const ttl = Math.max(0, at - client.engine.now());
  return ms ? ttl : Math.floor((ttl + 500) / 1000);
}

export const handlers: Handlers = {
  // EXPIRE key seconds [NX | XX | GT | LT]
  EXPIRE: (c, argv) => expireGeneric(c, argv, 1000, true),
  // PEXPIRE key milliseconds [NX | XX | GT | LT]
  PEXPIRE: (c, argv) => expireGeneric(c, argv, 1, true),
  // EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
  EXPIREAT: (c, argv) => expireGeneric(c, argv, 1000, false),
  // PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
  PEXPIREAT: (c, argv) => expireGeneric(c, argv, 1, false),
  // TTL key
  TTL: (c, argv) => ttlGeneric(c, argv[1], false, false),
  // PTTL key
  PTTL: (c, argv) => ttlGeneric(c, argv[1], true, false),
  // EXPIRETIME key
  EXPIRETIME: (c, argv) => ttlGeneric(c, argv[1], false, true),
  // PEXPIRETIME key
  PEXPIRETIME: (c, argv) => ttlGeneric(c, argv[1], true, true),
  // PERSIST key
  PERSIST(c, argv) {
    const db = c.db;
    if (db.lookup(argv[1]) === undefined || !db.persist(argv[1])) return 0;
    c.engine.notify(db, argv[1], 'persist', 'g');
    return 1;
  },
};
