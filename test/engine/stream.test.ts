import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cmpId,
  idDecr,
  idIncr,
  idString,
  MAX_ID,
  MIN_ID,
  Nack,
  norm,
  PendingList,
  parseId,
  parseU64,
  Stream,
  type StreamID,
  type U64,
} from '../../server/src/engine/stream.js';

// The stream structure (server/src/engine/stream.ts) against a plain sorted array of entries, with IDs
// across the whole unsigned 64-bit range (numbers below 2^53, bigints above), and its pending entries list
// against a sorted array.

const U64_MAX = 2n ** 64n - 1n;
const big = (x: U64) => BigInt(x);
const id = (ms: bigint, seq: bigint): StreamID => ({ ms: norm(ms) as U64, seq: norm(seq) as U64 });

/** Interesting 64-bit values: small ones, the 2^53 boundary, the top. */
const part = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: 6n }) },
  { weight: 1, arbitrary: fc.constantFrom(2n ** 53n - 2n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n) },
  { weight: 1, arbitrary: fc.constantFrom(2n ** 63n, U64_MAX - 1n, U64_MAX) },
);
const anyId = fc.tuple(part, part).map(([ms, seq]) => id(ms, seq));
const fv = fc
  .array(fc.constantFrom('a', 'b', 'f', '1', '-7', 'x'.repeat(70)), { minLength: 1, maxLength: 3 })
  .map((fs) => fs.flatMap((f, i) => [f, `v${i}`]));

type Op =
  | { op: 'add'; id: StreamID; fv: string[] }
  | { op: 'addSeq'; ms: bigint; fv: string[] }
  | { op: 'delete'; id: StreamID }
  | { op: 'trimLen'; maxlen: number; approx: boolean }
  | { op: 'trimId'; minid: StreamID; approx: boolean }
  | { op: 'range'; start: StreamID; end: StreamID; rev: boolean; count: number }
  | { op: 'clone' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('add' as const), id: anyId, fv }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('addSeq' as const), ms: part, fv }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), id: anyId }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('trimLen' as const), maxlen: fc.nat(20), approx: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('trimId' as const), minid: anyId, approx: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('range' as const),
      start: anyId,
      end: anyId,
      rev: fc.boolean(),
      count: fc.nat(5),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clone' as const) }) },
);

interface Entry {
  id: StreamID;
  fv: string[];
}

function live(s: Stream): Entry[] {
  const out: Entry[] = [];
  s.scan(MIN_ID, MAX_ID, false, (ms, seq, f) => {
    out.push({ id: { ms, seq }, fv: f });
  });
  return out;
}

describe('Stream against a sorted array', () => {
  it('adds, deletes, trims and ranges alike', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        let s = new Stream();
        let model: Entry[] = [];
        let last: StreamID = MIN_ID;
        const others: [Stream, Entry[]][] = [];
        for (const o of ops) {
          switch (o.op) {
            case 'add':
            case 'addSeq': {
              const given = o.op === 'add' ? o.id : id(o.ms, 0n);
              const next = s.nextId(given, o.op === 'add', 0);
              // The model's rule: above the last ID; ms-* takes the next sequence of the same ms.
              let want: StreamID | string;
              if (o.op === 'add') want = cmpId(given, last) > 0 ? given : 'edom';
              else if (big(last.ms) === o.ms)
                want = big(last.seq) === U64_MAX ? 'erange' : id(o.ms, big(last.seq) + 1n);
              else want = cmpId(given, last) > 0 ? given : 'edom';
              expect(next).toEqual(want);
              if (typeof next === 'string') break;
              s.add(next, o.fv);
              model.push({ id: next, fv: o.fv });
              last = next;
              break;
            }
            case 'delete': {
              const i = model.findIndex((e) => cmpId(e.id, o.id) === 0);
              expect(s.delete(o.id)).toBe(i >= 0);
              if (i >= 0) model.splice(i, 1);
              break;
            }
            case 'trimLen': {
              const before = model.length;
              const n = s.trim({ strategy: 'maxlen', maxlen: o.maxlen, minid: MIN_ID, approx: o.approx, limit: 0 });
              if (o.approx) expect(s.length).toBeGreaterThanOrEqual(Math.min(o.maxlen, before));
              else expect(s.length).toBe(Math.min(o.maxlen, before));
              model = model.slice(before - s.length);
              expect(n).toBe(before - model.length);
              break;
            }
            case 'trimId': {
              const before = model.length;
              const n = s.trim({ strategy: 'minid', maxlen: 0, minid: o.minid, approx: o.approx, limit: 0 });
              const keep = model.filter((e) => cmpId(e.id, o.minid) >= 0).length;
              if (o.approx) expect(s.length).toBeGreaterThanOrEqual(keep);
              else expect(s.length).toBe(keep);
              model = model.slice(before - s.length);
              expect(n).toBe(before - model.length);
              break;
            }
            case 'range': {
              const got: string[] = [];
              s.scan(o.start, o.end, o.rev, (ms, seq) => {
                got.push(`${ms}-${seq}`);
                return o.count === 0 || got.length < o.count;
              });
              let want = model.filter((e) => cmpId(e.id, o.start) >= 0 && cmpId(e.id, o.end) <= 0);
              if (o.rev) want = want.reverse();
              if (o.count) want = want.slice(0, o.count);
              expect(got).toEqual(want.map((e) => idString(e.id)));
              break;
            }
            case 'clone': {
              // The copy must not change with the original (nodes are shared copy-on-write).
              others.push([s.clone(), model.slice()]);
              break;
            }
          }
          expect(live(s)).toEqual(model);
          expect(s.length).toBe(model.length);
          expect(s.lastValidId()).toEqual(model.length ? model[model.length - 1].id : null);
          for (const n of s.nodes) {
            expect(n.live + n.deleted).toBe(n.size);
            expect(n.size).toBeLessThanOrEqual(100);
          }
        }
        for (const [c, m] of others) expect(live(c)).toEqual(m);
        // A clone is independent both ways.
        if (others.length > 0) {
          const [c, m] = others[0];
          s = c;
          model = m;
          const l = s.lastId;
          const n = idIncr(l);
          if (n !== null) {
            s.add(n, ['z', 'z']);
            model.push({ id: n, fv: ['z', 'z'] });
          }
          expect(live(s)).toEqual(model);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a node holds at most 100 entries and stays under the listpack size Redis would give it', () => {
    const s = new Stream();
    for (let i = 1; i <= 250; i++) s.add(id(BigInt(i), 1n), ['f', String(i)]);
    expect(s.nodes.map((n) => n.size)).toEqual([100, 100, 50]);
    expect(s.radixTreeNodes()).toBe(8);
    const wide = new Stream();
    for (let i = 1; i <= 20; i++) wide.add(id(BigInt(i), 0n), ['field', 'x'.repeat(1000)]);
    // 1000-byte values: a node is closed once it reaches 4096 bytes.
    expect(wide.nodes.map((n) => n.size)).toEqual([4, 4, 4, 4, 4]);
  });
});

describe('IDs', () => {
  it('parse as Redis parses them', () => {
    expect(parseId('1-2', 0, true)).toEqual({ id: { ms: 1, seq: 2 }, seqGiven: true });
    expect(parseId('5', 18446744073709551615n, false)?.id).toEqual({ ms: 5, seq: 18446744073709551615n });
    expect(parseId('5-*', 0, true, true)).toEqual({ id: { ms: 5, seq: 0 }, seqGiven: false });
    expect(parseId('5-*', 0, true)).toBeNull();
    expect(parseId('-', 0, false)?.id).toEqual(MIN_ID);
    expect(parseId('+', 0, false)?.id).toEqual(MAX_ID);
    expect(parseId('+', 0, true)).toBeNull();
    expect(parseId('18446744073709551615-9007199254740992', 0, true)?.id).toEqual({
      ms: 18446744073709551615n,
      seq: 9007199254740992n,
    });
    expect(parseId('9007199254740991-0', 0, true)?.id).toEqual({ ms: 9007199254740991, seq: 0 });
    expect(parseId(`1-${'1'.repeat(130)}`, 0, true)).toBeNull();
    // strtoull: spaces, a sign, leading zeros; a minus negates modulo 2^64.
    expect(parseU64(' +007')).toBe(7);
    expect(parseU64('-1')).toBeNull();
    expect(parseU64('-01')).toBe(18446744073709551615n);
    expect(parseU64('18446744073709551616')).toBeNull();
    expect(parseU64('')).toBeNull();
    expect(parseU64('12\0junk')).toBe(12);
  });

  it('increment and decrement across the 64-bit range', () => {
    expect(idIncr({ ms: 1, seq: 18446744073709551615n })).toEqual({ ms: 2, seq: 0 });
    expect(idIncr({ ms: 1, seq: 9007199254740991 })).toEqual({ ms: 1, seq: 9007199254740992n });
    expect(idIncr(MAX_ID)).toBeNull();
    expect(idDecr({ ms: 2, seq: 0 })).toEqual({ ms: 1, seq: 18446744073709551615n });
    expect(idDecr({ ms: 1, seq: 9007199254740992n })).toEqual({ ms: 1, seq: 9007199254740991 });
    expect(idDecr(MIN_ID)).toBeNull();
    expect(cmpId({ ms: 9007199254740991, seq: 0 }, { ms: 9007199254740992n, seq: 0 })).toBe(-1);
  });
});

describe('PendingList against a sorted array', () => {
  it('inserts, removes, seeks and iterates in ID order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ insert: fc.boolean(), ms: fc.nat(400), seek: fc.nat(400) }), { maxLength: 600 }),
        (ops) => {
          const pel = new PendingList();
          const model = new Map<number, Nack>();
          for (const o of ops) {
            const i = id(BigInt(o.ms), 0n);
            if (o.insert) {
              const n = new Nack(i, 0, 1, null);
              expect(pel.insert(n)).toBe(!model.has(o.ms));
              if (!model.has(o.ms)) model.set(o.ms, n);
            } else {
              const n = model.get(o.ms) ?? new Nack(i, 0, 1, null);
              expect(pel.remove(n)).toBe(model.has(o.ms));
              model.delete(o.ms);
            }
            const sorted = [...model.keys()].sort((a, b) => a - b);
            expect(pel.size).toBe(sorted.length);
            expect(pel.first()?.id.ms).toBe(sorted[0]);
            expect(pel.last()?.id.ms).toBe(sorted[sorted.length - 1]);
            expect(pel.ceiling(id(BigInt(o.seek), 0n))?.id.ms).toBe(sorted.find((x) => x >= o.seek));
          }
          expect([...pel].map((n) => n.id.ms)).toEqual([...model.keys()].sort((a, b) => a - b));
          const from: number[] = [];
          pel.forEachFrom(id(150n, 0n), (n) => {
            from.push(n.id.ms as number);
            return from.length < 10;
          });
          expect(from).toEqual(
            [...model.keys()]
              .sort((a, b) => a - b)
              .filter((x) => x >= 150)
              .slice(0, 10),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
