// Compile-time checks of the sorted-set builders' option types, run by
// `npx tsc -p test/client/tsconfig.json --noEmit` (never executed). Each `@ts-expect-error` line is an
// impossible combination that must not compile: if one ever compiles, tsc reports the unused directive.
import {
  builders,
  type Command,
  type KvwsClient,
  type Pipeline,
  type RankScore,
  type ScoredMember,
  type ZRangeOptions,
} from '@kvws/client';

/** Fails to compile unless `C` is exactly `Command<T>` (no wider, no narrower). */
function expectCommand<T>() {
  return <C extends Command<unknown>>(
    _c: C & ([C] extends [Command<T>] ? ([Command<T>] extends [C] ? unknown : 'too narrow') : 'too wide'),
  ) => {};
}
/** Fails to compile unless `P` is exactly `Promise<T>`: what a client method resolves with. */
function expectPromise<T>() {
  return <P extends Promise<unknown>>(
    _p: P & ([P] extends [Promise<T>] ? ([Promise<T>] extends [P] ? unknown : 'too narrow') : 'too wide'),
  ) => {};
}

// ZADD: NX and XX exclude each other; GT/LT exclude NX and each other; INCR takes one member.
builders.zadd('z', { score: 1, member: 'a' }, { nx: true });
builders.zadd('z', [{ score: 1, member: 'a' }], { xx: true, gt: true, ch: true });
builders.zadd('z', { score: 1, member: 'a' }, { lt: true });
// @ts-expect-error NX with XX
builders.zadd('z', { score: 1, member: 'a' }, { nx: true, xx: true });
// @ts-expect-error GT with NX
builders.zadd('z', { score: 1, member: 'a' }, { nx: true, gt: true });
// @ts-expect-error LT with NX
builders.zadd('z', { score: 1, member: 'a' }, { lt: true, nx: true });
// @ts-expect-error GT with LT
builders.zadd('z', { score: 1, member: 'a' }, { gt: true, lt: true });
// @ts-expect-error INCR with several members
builders.zadd('z', [{ score: 1, member: 'a' }], { incr: true });
// @ts-expect-error a score that is not a number or ±inf
builders.zadd('z', { score: 'lots', member: 'a' });
expectCommand<number>()(builders.zadd('z', [{ score: 1, member: 'a' }]));
expectCommand<number | null>()(builders.zadd('z', { score: 1, member: 'a' }, { incr: true, xx: true }));

// ZRANGE: BYSCORE excludes BYLEX; LIMIT only with one of them; WITHSCORES not with BYLEX.
builders.zrange('z', 0, -1, { rev: true });
builders.zrange('z', '(1', '+inf', { byScore: true, limit: { offset: 0, count: 10 }, withScores: true });
builders.zrange('z', '[a', '+', { byLex: true, rev: true, limit: { offset: 1, count: 2 } });
// @ts-expect-error BYSCORE with BYLEX
builders.zrange('z', 0, 1, { byScore: true, byLex: true });
// @ts-expect-error LIMIT without BYSCORE or BYLEX
builders.zrange('z', 0, -1, { limit: { offset: 0, count: 1 } });
// @ts-expect-error WITHSCORES with BYLEX
builders.zrange('z', '-', '+', { byLex: true, withScores: true });
// @ts-expect-error a lex bound must start with [ or ( (or be - or +)
builders.zrangebylex('z', 'a', '+');
// @ts-expect-error a score bound: a number, (number, -inf or +inf
builders.zcount('z', 'low', '+inf');
expectCommand<string[]>()(builders.zrange('z', 0, -1));
expectCommand<string[]>()(builders.zrange('z', 0, -1, { rev: true }));
expectCommand<ScoredMember[]>()(builders.zrange('z', 0, -1, { withScores: true }));
expectCommand<ScoredMember[]>()(builders.zrangebyscore('z', '-inf', 5, { withScores: true }));
expectCommand<ScoredMember[]>()(builders.zunion(['a', 'b'], { weights: [1, 2], aggregate: 'MAX', withScores: true }));
expectCommand<string[]>()(builders.zdiff(['a', 'b']));

// ZRANGESTORE has no WITHSCORES.
builders.zrangestore('dst', 'src', 0, 5, { byScore: true, limit: { offset: 0, count: 2 } });
// @ts-expect-error WITHSCORES on ZRANGESTORE
builders.zrangestore('dst', 'src', 0, 5, { withScores: true });

// ZRANDMEMBER: WITHSCORES only with a count.
expectCommand<string | null>()(builders.zrandmember('z'));
expectCommand<string[]>()(builders.zrandmember('z', { count: 2 }));
expectCommand<ScoredMember[]>()(builders.zrandmember('z', { count: -2, withScores: true }));
// @ts-expect-error WITHSCORES without a count
builders.zrandmember('z', { withScores: true });

// Single answers.
expectCommand<number | null>()(builders.zscore('z', 'a'));
expectCommand<number | null>()(builders.zrank('z', 'a'));
expectCommand<{ rank: number; score: number } | null>()(builders.zrank('z', 'a', { withScore: true }));
expectCommand<{ key: string; member: string; score: number } | null>()(builders.bzpopmin(['a', 'b'], 1));
expectCommand<{ key: string; members: ScoredMember[] } | null>()(builders.bzmpop(1, 'a', 'MIN', { count: 2 }));
expectCommand<{ cursor: string; members: ScoredMember[] }>()(builders.zscan('z', 0, { match: 'a*' }));
// @ts-expect-error ZMPOP pops from MIN or MAX only
builders.zmpop('z', 'FIRST');
// @ts-expect-error AGGREGATE is SUM, MIN or MAX
builders.zunionstore('dst', ['a'], { aggregate: 'AVG' });

// Server commands with a precise shape.
expectCommand<[number, number]>()(builders.time());
expectCommand<Record<string, string>>()(builders.configGet('maxmemory*'));
expectCommand<'OK'>()(builders.aclLog('RESET'));
// @ts-expect-error COMMAND LIST takes one filter
builders.commandList({ pattern: 'z*', aclcat: 'read' });

// Through the client and pipelines: each method keeps the builder's overloads, so the result type follows
// the options exactly as it does on the builder, and impossible combinations fail the same way.
const c = null as unknown as KvwsClient;
const p = null as unknown as Pipeline;
const someBoolean = Math.random() > 0.5;

// ZRANGE and friends: WITHSCORES → {member, score}[], otherwise members.
const scored: Promise<ScoredMember[]> = c.zrange('k', 0, -1, { withScores: true });
const plain: Promise<string[]> = c.zrange('k', 0, -1);
void scored;
void plain;
// @ts-expect-error with WITHSCORES the reply is {member, score}[], not members
const notPlain: Promise<string[]> = c.zrange('k', 0, -1, { withScores: true });
// @ts-expect-error without WITHSCORES the reply is members
const notScored: Promise<ScoredMember[]> = c.zrange('k', 0, -1, { rev: true });
void notPlain;
void notScored;
expectPromise<ScoredMember[]>()(c.zrange('k', 0, -1, { withScores: true }));
expectPromise<ScoredMember[]>()(c.zrange('k', '(1', '+inf', { byScore: true, rev: true, withScores: true }));
expectPromise<string[]>()(c.zrange('k', 0, -1));
expectPromise<string[]>()(c.zrange('k', 0, -1, { withScores: false }));
expectPromise<string[]>()(c.zrange('k', '[a', '+', { byLex: true, limit: { offset: 0, count: 5 } }));
expectPromise<string[] | ScoredMember[]>()(c.zrange('k', 0, -1, { withScores: someBoolean }));
const rangeOptions: ZRangeOptions = { byScore: true, withScores: someBoolean };
expectPromise<string[] | ScoredMember[]>()(c.zrange('k', 0, 5, rangeOptions));
expectPromise<ScoredMember[]>()(c.zrevrange('k', 0, -1, { withScores: true }));
expectPromise<string[]>()(c.zrevrange('k', 0, -1));
expectPromise<ScoredMember[]>()(c.zrangebyscore('k', '-inf', 5, { withScores: true, limit: { offset: 0, count: 2 } }));
expectPromise<string[]>()(c.zrangebyscore('k', '-inf', '(5'));
expectPromise<ScoredMember[]>()(c.zrevrangebyscore('k', '+inf', 0, { withScores: true }));
expectPromise<string[]>()(c.zrevrangebyscore('k', '+inf', 0, { limit: { offset: 1, count: 1 } }));
expectPromise<ScoredMember[]>()(c.zunion(['a', 'b'], { weights: [1, 2], aggregate: 'MAX', withScores: true }));
expectPromise<string[]>()(c.zunion(['a', 'b']));
expectPromise<ScoredMember[]>()(c.zinter(['a', 'b'], { withScores: true }));
expectPromise<string[]>()(c.zinter(['a', 'b'], { aggregate: 'MIN' }));
expectPromise<ScoredMember[]>()(c.zdiff(['a', 'b'], { withScores: true }));
expectPromise<string[]>()(c.zdiff(['a', 'b']));
// The same impossible combinations as on the builders.
// @ts-expect-error BYSCORE with BYLEX
c.zrange('k', 0, 1, { byScore: true, byLex: true });
// @ts-expect-error LIMIT without BYSCORE or BYLEX
c.zrange('k', 0, -1, { limit: { offset: 0, count: 1 } });
// @ts-expect-error WITHSCORES with BYLEX
c.zrange('k', '-', '+', { byLex: true, withScores: true });
// @ts-expect-error a score bound: a number, (number, -inf or +inf
c.zrangebyscore('k', 'low', 5, { withScores: true });
// @ts-expect-error ZREVRANGE has no LIMIT
c.zrevrange('k', 0, -1, { withScores: true, limit: { offset: 0, count: 1 } });
// @ts-expect-error AGGREGATE is SUM, MIN or MAX
c.zinter(['a'], { aggregate: 'AVG', withScores: true });
// @ts-expect-error ZDIFF has no WEIGHTS
c.zdiff(['a', 'b'], { weights: [1, 2] });

// ZADD: INCR → the new score or null (one member only), otherwise the number added.
expectPromise<number>()(
  c.zadd('k', [
    { score: 1, member: 'a' },
    { score: 2, member: 'b' },
  ]),
);
expectPromise<number>()(c.zadd('k', { score: 1, member: 'a' }, { xx: true, gt: true, ch: true }));
expectPromise<number | null>()(c.zadd('k', { score: 1, member: 'a' }, { incr: true, xx: true }));
expectPromise<number | null>()(c.zadd('k', { score: '+inf', member: 'a' }, { incr: someBoolean }));
// @ts-expect-error with INCR the reply may be null
const added: Promise<number> = c.zadd('k', { score: 1, member: 'a' }, { incr: true });
void added;
// @ts-expect-error NX with XX
c.zadd('k', { score: 1, member: 'a' }, { nx: true, xx: true });
// @ts-expect-error GT with NX
c.zadd('k', { score: 1, member: 'a' }, { nx: true, gt: true });
// @ts-expect-error GT with LT
c.zadd('k', [{ score: 1, member: 'a' }], { gt: true, lt: true });
// @ts-expect-error INCR with several members
c.zadd('k', [{ score: 1, member: 'a' }], { incr: true });
// @ts-expect-error a score that is not a number or ±inf
c.zadd('k', { score: 'lots', member: 'a' });

// ZRANK/ZREVRANK: WITHSCORE → {rank, score} or null.
expectPromise<number | null>()(c.zrank('k', 'a'));
expectPromise<RankScore | null>()(c.zrank('k', 'a', { withScore: true }));
expectPromise<number | null>()(c.zrevrank('k', 'a', { withScore: false }));
expectPromise<RankScore | null>()(c.zrevrank('k', 'a', { withScore: true }));
expectPromise<number | RankScore | null>()(c.zrank('k', 'a', { withScore: someBoolean }));
// @ts-expect-error WITHSCORE (singular) on ZRANK, not withScores
c.zrank('k', 'a', { withScores: true });

// ZRANDMEMBER: no count → one member or null; with a count, members or {member, score}[].
expectPromise<string | null>()(c.zrandmember('k'));
expectPromise<string[]>()(c.zrandmember('k', { count: 3 }));
expectPromise<ScoredMember[]>()(c.zrandmember('k', { count: -3, withScores: true }));
// @ts-expect-error with a count the reply is a list, not one member
const oneMember: Promise<string | null> = c.zrandmember('k', { count: 3 });
void oneMember;
// @ts-expect-error WITHSCORES without a count
c.zrandmember('k', { withScores: true });

// Pipelines take the same arguments (and chain), and refuse the same combinations.
const chained: Pipeline = p
  .zadd('k', { score: 1, member: 'a' }, { incr: true })
  .zrange('k', 0, -1, { withScores: true })
  .zrank('k', 'a', { withScore: true })
  .zrandmember('k', { count: 2, withScores: true })
  .zunion(['a', 'b'], { withScores: true });
void chained;
// @ts-expect-error WITHSCORES with BYLEX, in a pipeline
p.zrange('k', '-', '+', { byLex: true, withScores: true });
// @ts-expect-error INCR with several members, in a pipeline
p.zadd('k', [{ score: 1, member: 'a' }], { incr: true });
// @ts-expect-error WITHSCORES without a count, in a pipeline
p.zrandmember('k', { withScores: true });
// A `with({ timeout })` view has the same typed methods.
expectPromise<ScoredMember[]>()(c.with({ timeout: 1000 }).zrange('k', 0, -1, { withScores: true }));
