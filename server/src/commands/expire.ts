import type { Client } from '../engine/client.js';
import { CommandError } from '../protocol/reply.js';
import { INT64_MAX, INT64_MIN, kw, toBigInt } from './args.js';
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
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  // Options are checked before the time argument, as Redis does.
  for (let i = 3; i < argv.length; i++) {
    const o = kw(argv[i]);
    if (o === 'NX') nx = true;
    else if (o === 'XX') xx = true;
    else if (o === 'GT') gt = true;
    else if (o === 'LT') lt = true;
    else throw new CommandError(`ERR Unsupported option ${argv[i]}`);
  }
  if (nx && (xx || gt || lt))
    throw new CommandError('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) throw new CommandError('ERR GT and LT options at the same time are not compatible');
  let when = toBigInt(argv[2]);
  const invalid = `ERR invalid expire time in '${name}' command`;
  // Redis's overflow checks: the deadline in ms must fit a signed 64-bit integer.
  if (unitMs === 1000) {
    if (when > INT64_MAX / 1000n || when < INT64_MIN / 1000n) throw new CommandError(invalid);
    when *= 1000n;
  }
  const now = client.engine.now();
  if (relative) {
    if (when > INT64_MAX - BigInt(now)) throw new CommandError(invalid);
    when += BigInt(now);
  }
  // Deadlines beyond 2^53 ms (far past year 200000) are kept as the nearest double.
  const n = Number(when);
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

/** An integer reply for a ms/s count that may exceed 2^53 (far-future deadlines), capped at INT64_MAX. */
function bigReply(n: number): number | bigint {
  if (Number.isSafeInteger(n)) return n;
  const b = BigInt(Math.trunc(n));
  return b > INT64_MAX ? INT64_MAX : b;
}

/**
 * TTL family (Redis's ttlGenericCommand): remaining time or absolute deadline, in ms or in seconds
 * rounded to nearest ((ms + 500) / 1000); -2 for a missing key, -1 for a key without a deadline.
 */
function ttlGeneric(client: Client, key: string, ms: boolean, absolute: boolean): number | bigint {
  const db = client.db;
  if (db.lookup(key) === undefined) return -2;
  const at = db.getExpire(key);
  if (at === undefined) return -1;
  const t = absolute ? at : Math.max(0, at - client.engine.now());
  if (ms) return bigReply(t);
  return Number.isSafeInteger(t) ? Math.floor((t + 500) / 1000) : bigReply(Math.floor(t / 1000));
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
