import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cmpId,
  idString,
  MAX_ID,
  MIN_ID,
  norm,
  Stream,
  type StreamID,
  type U64,
} from '../../server/src/engine/stream.js';

// Stream nodes sealed and opened again (server/src/engine/stream.ts): long runs of appends fill many nodes,
// each sealed when the next one opens (typed arrays, joined strings), then deletions, trims, copies and
// appends that land on a sealed node again, against a plain array of entries. Entries mix the master's
// field names and their own, short and long values (a long one closes a node by its size), and IDs on
// both sides of 2^53 (bigint parts keep a sealed node's IDs in plain arrays).

const id = (ms: bigint, seq: bigint): StreamID => ({ ms: norm(ms) as U64, seq: norm(seq) as U64 });

interface Entry {
  id: StreamID;
  fv: string[];
}

const value = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('', 'v', '42', '-7', 'é\u00ff', 'x'.repeat(20)) },
  { weight: 1, arbitrary: fc.constant('L'.repeat(1500)) },
);
const fields = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(value).map(([v]) => ['f', v]) },
  { weight: 2, arbitrary: fc.tuple(value, value).map(([a, b]) => ['f', a, 'g', b]) },
  { weight: 2, arbitrary: fc.tuple(value).map(([v]) => ['other', v]) },
);

type Op =
  | { op: 'add'; fv: string[]; n: number }
  | { op: 'delete'; at: number }
  | { op: 'dropTail'; k: number }
  | { op: 'trim'; maxlen: number; approx: boolean }
  | { op: 'clone' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ op: fc.constant('add' as const), fv: fields, n: fc.integer({ min: 1, max: 60 }) }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('dropTail' as const), k: fc.integer({ min: 1, max: 150 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('trim' as const), maxlen: fc.nat(400), approx: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clone' as const) }) },
);

function live(s: Stream): Entry[] {
  const out: Entry[] = [];
  s.scan(MIN_ID, MAX_ID, false, (ms, seq, fv) => {
    out.push({ id: { ms, seq }, fv });
  });
  return out;
}

function check(s: Stream, model: Entry[]): void {
  expect(live(s)).toEqual(model);
  expect(s.length).toBe(model.length);
  const rev: string[] = [];
  s.scan(MIN_ID, MAX_ID, true, (ms, seq) => {
    rev.push(`${ms}-${seq}`);
  });
  expect(rev).toEqual(model.map((e) => idString(e.id)).reverse());
  for (let i = 0; i < model.length; i += 7) expect(s.get(model[i].id)).toEqual(model[i].fv);
  expect(s.lastValidId()).toEqual(model.length ? model[model.length - 1].id : null);
  for (const n of s.nodes) {
    expect(n.live + n.deleted).toBe(n.size);
    for (let i = 0; i < n.size; i++) expect(typeof n.isDead(i)).toBe('boolean');
  }
}

describe('stream nodes, sealed and opened again', () => {
  for (const [label, base] of [
    ['IDs below 2^53', 1_700_000_000_000n],
    ['IDs above 2^53 (bigint parts)', 2n ** 60n],
  ] as const) {
    it(`appends, deletes, trims and copies alike: ${label}`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 20, maxLength: 60 }), (ops) => {
          const s = new Stream();
          let model: Entry[] = [];
          let next = 0n;
          const copies: [Stream, Entry[]][] = [];
          for (const o of ops) {
            switch (o.op) {
              case 'add':
                for (let j = 0; j < o.n; j++) {
                  // A few sequences per millisecond, as XADD * gives under load.
                  const e = id(base + next / 3n, next % 3n);
                  next++;
                  const fv = o.fv.slice();
                  s.add(e, fv);
                  model.push({ id: e, fv: o.fv });
                }
                break;
              case 'delete': {
                if (model.length === 0) break;
                const i = o.at % model.length;
                expect(s.delete(model[i].id)).toBe(true);
                model.splice(i, 1);
                break;
              }
              case 'dropTail': {
                // Empties the last nodes, so that a sealed node becomes the last one and takes appends again.
                for (const e of model.splice(Math.max(0, model.length - o.k))) expect(s.delete(e.id)).toBe(true);
                break;
              }
              case 'trim': {
                const before = model.length;
                const n = s.trim({ strategy: 'maxlen', maxlen: o.maxlen, minid: MIN_ID, approx: o.approx, limit: 0 });
                model = model.slice(before - s.length);
                expect(n).toBe(before - model.length);
                break;
              }
              case 'clone':
                copies.push([s.clone(), model.slice()]);
                break;
            }
            check(s, model);
          }
          for (const [c, m] of copies) check(c, m);
          // A copy goes its own way: appends to it leave the original (and the other copies) as they were.
          if (copies.length > 0) {
            const [c, m] = copies[0];
            for (let j = 0; j < 150; j++) {
              const e = id(base + next / 3n, next % 3n);
              next++;
              c.add(e, ['f', String(j)]);
              m.push({ id: e, fv: ['f', String(j)] });
            }
            check(c, m);
            check(s, model);
          }
          expect(model.every((e, i) => i === 0 || cmpId(model[i - 1].id, e.id) < 0)).toBe(true);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('a full node is sealed when the next one opens; the last stays open', () => {
    const s = new Stream();
    for (let i = 1; i <= 250; i++) s.add(id(1n, BigInt(i)), ['f', String(i), 'g', 'x']);
    s.add(id(2n, 0n), ['own', 'fields']);
    expect(s.nodes.map((n) => n.size)).toEqual([100, 100, 51]);
    expect(s.nodes[0].ms).toBeInstanceOf(Float64Array);
    expect(s.nodes[2].ms).toBeInstanceOf(Array);
    expect(s.get(id(1n, 150n))).toEqual(['f', '150', 'g', 'x']);
    expect(s.get(id(2n, 0n))).toEqual(['own', 'fields']);
    // XDEL inside a sealed node, then the stream's last entries deleted and a new one appended to it.
    expect(s.delete(id(1n, 120n))).toBe(true);
    for (let i = 201; i <= 250; i++) s.delete(id(1n, BigInt(i)));
    s.delete(id(2n, 0n));
    expect(s.nodes.map((n) => n.size)).toEqual([100, 100]);
    // A node closed by an entry too big for it (so sealed, with room by count and size), whose successor is
    // deleted: it is the last node again, and the next entry opens it.
    const big = new Stream();
    big.add(id(1n, 0n), ['f', 'small']);
    big.add(id(2n, 0n), ['f', 'L'.repeat(4090)]);
    expect(big.nodes.map((n) => n.size)).toEqual([1, 1]);
    expect(big.nodes[0].ms).toBeInstanceOf(Float64Array);
    expect(big.delete(id(2n, 0n))).toBe(true);
    big.add(id(3n, 0n), ['f', 'next']);
    expect(big.nodes.map((n) => n.size)).toEqual([2]);
    expect(big.nodes[0].ms).toBeInstanceOf(Array);
    expect(live(big).map((e) => e.fv)).toEqual([
      ['f', 'small'],
      ['f', 'next'],
    ]);
  });
});
