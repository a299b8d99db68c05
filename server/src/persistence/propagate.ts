import type { Db } from '../engine/db.js';
import { type Reply, SetReply } from '../protocol/reply.js';

/**
 * What the append-only file records for a write command that changed something: by default its argv, as
 * Redis does; for the commands below, records that replay to the same state whenever they are loaded
 * (Redis's rewriteClientCommandVector/alsoPropagate, kept in one table instead of inside each handler):
 *
 * - relative or clock-dependent deadlines (EXPIRE, SET EX, SETEX, GETEX…) become absolute (PEXPIREAT,
 *   SET … PXAT), or DEL when the command deleted the key;
 * - random or float results (SPOP, INCRBYFLOAT, HINCRBYFLOAT) become what actually happened (SREM of the
 *   popped members, SET/HSET of the result);
 * - blocking pops become the non-blocking pop that served them (BLPOP → LPOP of the key that answered);
 * - stream commands give their own records through `alsoPropagate` (Redis's alsoPropagate): XADD with the
 *   ID it generated and approximate trimming made exact, XREADGROUP/XCLAIM/XAUTOCLAIM as the XCLAIM … FORCE
 *   JUSTID LASTID and XGROUP SETID … ENTRIESREAD Redis propagates, plus kvws's record of the consumer's
 *   seen-time (SEEN_TIME_OPTION), so a group replays to exactly the state it had; reads record nothing.
 *
 * A rewriter sees the command's argv, its reply and the database after the command ran. Loading replays
 * records with the clock stopped (nothing expires while loading), then expires what is due.
 */
export type Rewriter = (argv: string[], reply: Reply, db: Db) => string[][];

/** The key's string value and absolute deadline as a SET, or DEL when it is gone. */
function stringState(db: Db, key: string): string[][] {
  const v = db.dict.get(key);
  if (typeof v !== 'string') return [['DEL', key]];
  const at = db.expires.get(key);
  return [at === undefined ? ['SET', key, v] : ['SET', key, v, 'PXAT', String(at)]];
}

/** The key's deadline: PEXPIREAT, PERSIST, or DEL when the command deleted the key. */
function deadlineState(db: Db, key: string): string[][] {
  if (!db.dict.has(key)) return [['DEL', key]];
  const at = db.expires.get(key);
  return [at === undefined ? ['PERSIST', key] : ['PEXPIREAT', key, String(at)]];
}

const hasRelativeSetOption = (argv: string[]) =>
  argv.slice(3).some((a) => {
    const o = a.toUpperCase();
    return o === 'EX' || o === 'PX' || o === 'EXAT';
  });

/** The key named first in a blocking pop's reply ([key, …]), or null (timeout). */
const servedKey = (reply: Reply): string | null =>
  Array.isArray(reply) && typeof reply[0] === 'string' ? reply[0] : null;

const expire: Rewriter = (argv, _r, db) => deadlineState(db, argv[1]);

const blockingPop =
  (nonBlocking: string): Rewriter =>
  (_argv, reply) => {
    const key = servedKey(reply);
    return key === null ? [] : [[nonBlocking, key]];
  };

const blockingMpop =
  (nonBlocking: 'LMPOP' | 'ZMPOP'): Rewriter =>
  (argv, reply) => {
    const key = servedKey(reply);
    if (key === null || !Array.isArray(reply) || !Array.isArray(reply[1])) return [];
    // BLMPOP timeout numkeys key… LEFT|RIGHT [COUNT n]: the direction follows the keys.
    const numkeys = Number(argv[2]);
    const where = argv[3 + numkeys];
    return [[nonBlocking, '1', key, where, 'COUNT', String(reply[1].length)]];
  };

/** Records a handler gave for the command whose argv this is (see alsoPropagate). */
const propagated = new WeakMap<string[], string[][]>();

/**
 * Redis's alsoPropagate, for stream commands: the records that replay the command run with `argv` (the very
 * array the dispatcher passes) exactly, instead of `argv` itself. `append` adds to records given earlier for
 * the same argv (XREADGROUP over several streams).
 */
export function alsoPropagate(argv: string[], records: string[][], append = false): void {
  const had = append ? propagated.get(argv) : undefined;
  if (had !== undefined) had.push(...records);
  else propagated.set(argv, records);
}

/**
 * kvws's XCLAIM option that exists only while the AOF is loaded: `XCLAIM key group consumer 0 0-0 KVWS-SEEN
 * <unix ms>` sets the consumer's seen-time (creating it when missing), which Redis's records leave at the
 * time of loading. A client sending it gets Redis's `Unrecognized XCLAIM option`.
 */
export const SEEN_TIME_OPTION = 'KVWS-SEEN';

/** The records a stream handler gave, or the command itself when it gave none. */
const streamRecords: Rewriter = (argv) => propagated.get(argv) ?? [argv];

export const REWRITERS: ReadonlyMap<string, Rewriter> = new Map<string, Rewriter>([
  ['SET', (argv, _r, db) => (hasRelativeSetOption(argv) ? stringState(db, argv[1]) : [argv])],
  ['SETEX', (argv, _r, db) => stringState(db, argv[1])],
  ['PSETEX', (argv, _r, db) => stringState(db, argv[1])],
  ['INCRBYFLOAT', (argv, _r, db) => stringState(db, argv[1])],
  ['GETEX', expire],
  ['EXPIRE', expire],
  ['PEXPIRE', expire],
  ['EXPIREAT', expire],
  ['PEXPIREAT', expire],
  [
    'HINCRBYFLOAT',
    (argv, _r, db) => {
      const h = db.dict.get(argv[1]);
      const v = h instanceof Map ? h.get(argv[2]) : undefined;
      return v === undefined ? [] : [['HSET', argv[1], argv[2], v]];
    },
  ],
  [
    'SPOP',
    (argv, reply) => {
      const members =
        reply instanceof SetReply ? reply.items : Array.isArray(reply) ? reply : reply === null ? [] : [reply];
      return members.length === 0 ? [] : [['SREM', argv[1], ...(members as string[])]];
    },
  ],
  ['BLPOP', blockingPop('LPOP')],
  ['BRPOP', blockingPop('RPOP')],
  ['BZPOPMIN', blockingPop('ZPOPMIN')],
  ['BZPOPMAX', blockingPop('ZPOPMAX')],
  ['BLMOVE', (argv, reply) => (reply === null ? [] : [['LMOVE', argv[1], argv[2], argv[3], argv[4]]])],
  ['BRPOPLPUSH', (argv, reply) => (reply === null ? [] : [['RPOPLPUSH', argv[1], argv[2]]])],
  ['BLMPOP', blockingMpop('LMPOP')],
  ['BZMPOP', blockingMpop('ZMPOP')],
  ['XADD', streamRecords],
  ['XTRIM', streamRecords],
  ['XREADGROUP', streamRecords],
  ['XCLAIM', streamRecords],
  ['XAUTOCLAIM', streamRecords],
  ['XGROUP', streamRecords],
  // A blocked XREAD served later reaches Blocking.onServed like a blocked write: it records nothing.
  ['XREAD', () => []],
]);

/** The records for a write command that changed the dataset (see REWRITERS). */
export function recordsFor(fullName: string, argv: string[], reply: Reply, db: Db): string[][] {
  const r = REWRITERS.get(fullName);
  return r ? r(argv, reply, db) : [argv];
}
