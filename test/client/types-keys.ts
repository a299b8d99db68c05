// Compile-time checks of the keyspace, hash, list and set builders (commands/{keys,hash,list,set}.ts):
// impossible combinations must not compile, and replies have the documented types. Not run: checked by
// `npx tsc -p test/client/tsconfig.json --noEmit` (after `npx tsc -b`, as it reads @kvws/client's .d.ts).
import { builders, type Command, type KvwsClient } from '@kvws/client';

/** True only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when T is true. */
type Assert<T extends true> = T;
/** What a builder's command decodes to. */
type ResultOf<F extends (...a: never[]) => unknown> = ReturnType<F> extends Command<infer T> ? T : never;

declare const client: KvwsClient;
const b = builders;

// Keyspace: EXPIRE's condition is one of NX | XX | GT | LT, no more.
export type ExpireIsBoolean = Assert<Equal<ResultOf<typeof b.expire>, boolean>>;
b.expire('k', 10, 'NX');
b.pexpireat('k', 1_700_000_000_000, 'GT');
// @ts-expect-error two conditions at once
b.expire('k', 10, 'NX', 'XX');
// @ts-expect-error lower-case / unknown condition
b.expire('k', 10, 'nx');
// @ts-expect-error the time is a number
b.expire('k', '10');
// @ts-expect-error through the client too
client.pexpire('k', 10, 'GT', 'LT');

// SCAN: typed options and page.
const scanPage: Promise<{ cursor: string; keys: string[] }> = client.scan(0, { match: 'a*', count: 10, type: 'hash' });
void scanPage;
// @ts-expect-error `none` is not a type SCAN can filter on
b.scan(0, { type: 'none' });
// @ts-expect-error unknown option
b.scan('0', { pattern: 'a*' });
export type TypeIsName = Assert<
  Equal<ResultOf<typeof b.type>, 'none' | 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream'>
>;
export type DelIsNumber = Assert<Equal<ResultOf<typeof b.del>, number>>;
export type PersistIsBoolean = Assert<Equal<ResultOf<typeof b.persist>, boolean>>;
export type ScanPage = Assert<Equal<ResultOf<typeof b.scan>, { cursor: string; keys: string[] }>>;
const existing: Promise<number> = client.exists('a', 'b');
const copied: Promise<boolean> = client.copy('a', 'b', { db: 1, replace: true });
void existing;
void copied;
// @ts-expect-error FLUSHDB takes ASYNC or SYNC only
b.flushdb('LAZY');
// @ts-expect-error the db is a number
b.copy('a', 'b', { db: '1' });

// Hashes.
const all: Promise<Record<string, string>> = client.hgetall('h');
const float: Promise<number> = client.hincrbyfloat('h', 'f', 0.5);
const has: Promise<boolean> = client.hexists('h', 'f');
void all;
void float;
void has;
export type HgetallIsRecord = Assert<Equal<ResultOf<typeof b.hgetall>, Record<string, string>>>;
export type HincrbyfloatIsNumber = Assert<Equal<ResultOf<typeof b.hincrbyfloat>, number>>;
const one: Command<string | null> = b.hrandfield('h');
const some: Command<string[]> = b.hrandfield('h', 3);
const pairs: Command<{ field: string; value: string }[]> = b.hrandfield('h', -3, true);
void one;
void some;
void pairs;
// @ts-expect-error WITHVALUES needs a count
b.hrandfield('h', undefined, true);
// @ts-expect-error WITHVALUES needs a count, through the client too
client.hrandfield('h', undefined, true);
// @ts-expect-error with a count, the reply is a list, not one field
const notOne: Command<string | null> = b.hrandfield('h', 3);
void notOne;
const withValues: Command<{ cursor: string; fields: Record<string, string> }> = b.hscan('h', 0, { match: 'f*' });
const namesOnly: Command<{ cursor: string; fields: string[] }> = b.hscan('h', 0, { noValues: true });
void withValues;
void namesOnly;
// @ts-expect-error NOVALUES gives names, not a record
const wrongShape: Command<{ cursor: string; fields: Record<string, string> }> = b.hscan('h', 0, { noValues: true });
void wrongShape;

// Lists: directions, LPOS with and without COUNT, blocking pops.
const moved: Promise<string | null> = client.lmove('a', 'b', 'LEFT', 'RIGHT');
void moved;
// @ts-expect-error directions are LEFT or RIGHT
b.lmove('a', 'b', 'left', 'RIGHT');
// @ts-expect-error directions are LEFT or RIGHT, through the client too
client.blmove('a', 'b', 'LEFT', 'UP', 1);
const at: Command<number | null> = b.lpos('l', 'x', { rank: -1, maxlen: 100 });
const ats: Command<number[]> = b.lpos('l', 'x', { rank: 2, count: 0 });
void at;
void ats;
// @ts-expect-error with COUNT the reply is a list of indexes
const atCount: Command<number | null> = b.lpos('l', 'x', { count: 2 });
void atCount;
// @ts-expect-error LPOS has no LIMIT option
b.lpos('l', 'x', { limit: 2 });
const popped: Promise<{ key: string; element: string } | null> = client.blpop(['a', 'b'], 0.5);
const mpopped: Promise<{ key: string; elements: string[] } | null> = client.blmpop(1, ['a', 'b'], 'LEFT', 2);
void popped;
void mpopped;
// @ts-expect-error the timeout is a number of seconds
b.brpop('a', '1');
// @ts-expect-error LINSERT goes BEFORE or AFTER
b.linsert('l', 'BETWEEN', 'p', 'x');
const lpopOne: Command<string | null> = b.lpop('l');
const lpopMany: Command<string[] | null> = b.lpop('l', 2);
void lpopOne;
void lpopMany;

// Sets.
const member: Promise<boolean> = client.sismember('s', 'm');
const members: Promise<boolean[]> = client.smismember('s', 'a', 'b');
const sscanPage: Promise<{ cursor: string; members: string[] }> = client.sscan('s', '0', { count: 5 });
void member;
void members;
void sscanPage;
const randomOne: Command<string | null> = b.srandmember('s');
const randomMany: Command<string[]> = b.srandmember('s', -5);
const poppedMany: Command<string[]> = b.spop('s', 2);
void randomOne;
void randomMany;
void poppedMany;
// @ts-expect-error SRANDMEMBER has no WITHVALUES
b.srandmember('s', 2, true);
// @ts-expect-error SSCAN has no TYPE option
b.sscan('s', 0, { type: 'set' });
