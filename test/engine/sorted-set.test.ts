import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type LexBound,
  parseLexBound,
  parseScoreBound,
  type RangeOptions,
  type ScoreBound,
  SortedSet,
} from '../../server/src/engine/sorted-set.js';

// ---- the model: a plain sorted array of [member, score] ---------------------------------------------------

type Pair = [string, number];

function cmp(a: Pair, b: Pair): number {
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  if (a[0] === b[0]) return 0;
  return a[0] < b[0] ? -1 : 1;
}

class Model {
  items: Pair[] = [];

  add(m: string, s: number): boolean {
    const i = this.items.findIndex((p) => p[0] === m);
    if (i >= 0) {
      if (this.items[i][1] === s) return false;
      this.items.splice(i, 1);
    }
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(this.items[mid], [m, s]) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, [m, s]);
    return i < 0;
  }

  remove(m: string): boolean {
    const i = this.items.findIndex((p) => p[0] === m);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /** Indexes (ascending) of the elements a predicate selects. */
  select(f: (p: Pair) => boolean): number[] {
    const out: number[] = [];
    this.items.forEach((p, i) => {
      if (f(p)) out.push(i);
    });
    return out;
  }

  removeIndexes(idx: number[]): string[] {
    const set = new Set(idx);
    const removed = this.items.filter((_, i) => set.has(i)).map((p) => p[0]);
    this.items = this.items.filter((_, i) => !set.has(i));
    return removed;
  }
}

const inScore = (min: ScoreBound, max: ScoreBound) => (p: Pair) =>
  (min.exclusive ? p[1] > min.value : p[1] >= min.value) && (max.exclusive ? p[1] < max.value : p[1] <= max.value);

const inLex = (min: LexBound, max: LexBound) => (p: Pair) => {
  const m = p[0];
  const aboveMin = min === '-' ? true : min === '+' ? false : min.exclusive ? m > min.value : m >= min.value;
  const belowMax = max === '+' ? true : max === '-' ? false : max.exclusive ? m < max.value : m <= max.value;
  return aboveMin && belowMax;
};

function applyLimit(pairs: Pair[], opts: RangeOptions): Pair[] {
  const ordered = opts.reverse ? [...pairs].reverse() : pairs;
  const offset = opts.offset ?? 0;
  const count = opts.count ?? -1;
  if (offset < 0) return [];
  return ordered.slice(offset, count < 0 ? undefined : offset + count);
}

function modelByRank(items: Pair[], start: number, stop: number, reverse: boolean): Pair[] {
  const ordered = reverse ? [...items].reverse() : items;
  start = Math.max(start, 0);
  stop = Math.min(stop, items.length - 1);
  return start > stop ? [] : ordered.slice(start, stop + 1);
}

// ---- generators ---------------------------------------------------------------------------------------------

// Few distinct members and scores so that updates, ties and equal-score ordering happen often.
const memberArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '\x00', '\x7f', '\x80', '\xff'), maxLength: 3 });
const scoreArb = fc.constantFrom(-Infinity, -3, -1.5, -0, 0, 0.25, 1, 2, 1e300, Infinity);
const scoreBoundArb: fc.Arbitrary<ScoreBound> = fc.record({ value: scoreArb, exclusive: fc.boolean() });
const lexBoundArb: fc.Arbitrary<LexBound> = fc.oneof(
  fc.constantFrom<LexBound>('-', '+'),
  fc.record({ value: memberArb, exclusive: fc.boolean() }),
);
const limitArb: fc.Arbitrary<RangeOptions> = fc.record(
  {
    reverse: fc.boolean(),
    offset: fc.integer({ min: -1, max: 12 }),
    count: fc.integer({ min: -2, max: 12 }),
  },
  { requiredKeys: [] },
);
const rankArb = fc.integer({ min: -2, max: 40 });

type Op =
  | { op: 'add'; m: string; s: number }
  | { op: 'addMany'; seed: number; n: number }
  | { op: 'append'; n: number }
  | { op: 'remove'; m: string }
  | { op: 'rank'; m: string; reverse: boolean }
  | { op: 'byRank'; start: number; stop: number; reverse: boolean }
  | { op: 'iterate'; from: number; reverse: boolean }
  | { op: 'rangeByScore'; min: ScoreBound; max: ScoreBound; opts: RangeOptions }
  | { op: 'removeRangeByScore'; min: ScoreBound; max: ScoreBound }
  | { op: 'removeRangeByRank'; start: number; stop: number }
  | { op: 'popMin'; count: number }
  | { op: 'popMax'; count: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('add' as const), m: memberArb, s: scoreArb }), weight: 8 },
  {
    arbitrary: fc.record({
      op: fc.constant('addMany' as const),
      seed: fc.integer(),
      n: fc.integer({ min: 1, max: 400 }),
    }),
    weight: 1,
  },
  // Ascending scores past the current maximum: the path that splits nodes off at the right edge.
  { arbitrary: fc.record({ op: fc.constant('append' as const), n: fc.integer({ min: 1, max: 300 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('remove' as const), m: memberArb }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('rank' as const), m: memberArb, reverse: fc.boolean() }), weight: 2 },
  {
    arbitrary: fc.record({ op: fc.constant('byRank' as const), start: rankArb, stop: rankArb, reverse: fc.boolean() }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ op: fc.constant('iterate' as const), from: rankArb, reverse: fc.boolean() }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('rangeByScore' as const),
      min: scoreBoundArb,
      max: scoreBoundArb,
      opts: limitArb,
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ op: fc.constant('removeRangeByScore' as const), min: scoreBoundArb, max: scoreBoundArb }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constant('removeRangeByRank' as const), start: rankArb, stop: rankArb }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('popMin' as const), count: fc.integer({ min: -1, max: 6 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('popMax' as const), count: fc.integer({ min: -1, max: 6 }) }), weight: 1 },
);

/** Deterministic PRNG for bulk steps (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkWhole(z: SortedSet, model: Model): void {
  expect(z.size).toBe(model.items.length);
  expect([...z]).toEqual(model.items);
  expect(z.scores.size).toBe(model.items.length);
  for (const [m, s] of model.items) expect(z.score(m)).toBe(s);
}

function run(z: SortedSet, model: Model, o: Op, step: number): void {
  switch (o.op) {
    case 'add':
      expect(z.add(o.m, o.s)).toBe(model.add(o.m, o.s));
      break;
    case 'addMany': {
      const rnd = prng(o.seed);
      for (let i = 0; i < o.n; i++) {
        const m = `k${Math.floor(rnd() * 600)}`;
        const s = Math.floor(rnd() * 50) - 25;
        expect(z.add(m, s)).toBe(model.add(m, s));
      }
      break;
    }
    case 'append':
      for (let i = 0; i < o.n; i++) {
        const m = `s${step}-${i}`;
        expect(z.add(m, 1000 + step + i / 1000)).toBe(model.add(m, 1000 + step + i / 1000));
      }
      break;
    case 'remove':
      expect(z.remove(o.m)).toBe(model.remove(o.m));
      break;
    case 'rank': {
      const i = model.items.findIndex((p) => p[0] === o.m);
      const want = i < 0 ? undefined : o.reverse ? model.items.length - 1 - i : i;
      expect(z.rank(o.m, o.reverse)).toBe(want);
      break;
    }
    case 'byRank':
      expect(z.byRank(o.start, o.stop, o.reverse)).toEqual(modelByRank(model.items, o.start, o.stop, o.reverse));
      break;
    case 'iterate': {
      const ordered = o.reverse ? [...model.items].reverse() : model.items;
      expect([...z.iterate(o.from, o.reverse)]).toEqual(ordered.slice(Math.max(o.from, 0)));
      break;
    }
    case 'rangeByScore': {
      const sel = model.items.filter(inScore(o.min, o.max));
      expect(z.rangeByScore(o.min, o.max, o.opts)).toEqual(applyLimit(sel, o.opts));
      expect(z.countByScore(o.min, o.max)).toBe(sel.length);
      break;
    }
    case 'removeRangeByScore':
      expect(z.removeRangeByScore(o.min, o.max)).toEqual(model.removeIndexes(model.select(inScore(o.min, o.max))));
      break;
    case 'removeRangeByRank': {
      const n = model.items.length;
      const idx = model.items.map((_, i) => i).filter((i) => i >= Math.max(o.start, 0) && i <= Math.min(o.stop, n - 1));
      expect(z.removeRangeByRank(o.start, o.stop)).toEqual(model.removeIndexes(idx));
      break;
    }
    case 'popMin': {
      const want = model.items.slice(0, Math.max(o.count, 0));
      model.items = model.items.slice(want.length);
      expect(z.popMin(o.count)).toEqual(want);
      break;
    }
    case 'popMax': {
      const k = Math.min(Math.max(o.count, 0), model.items.length);
      const want = model.items.slice(model.items.length - k).reverse();
      model.items = model.items.slice(0, model.items.length - k);
      expect(z.popMax(o.count)).toEqual(want);
      break;
    }
  }
}

describe('SortedSet against a sorted-array model', () => {
  // Small fanouts give deep trees with few elements, so every split/merge/borrow path runs.
  const fanoutArb = fc.constantFrom(4, 5, 7, 64);

  it('random interleavings of updates and queries agree with the model', () => {
    fc.assert(
      fc.property(fanoutArb, fc.array(opArb, { maxLength: 60 }), (fanout, ops) => {
        const z = new SortedSet(fanout);
        const model = new Model();
        for (const [step, o] of ops.entries()) {
          run(z, model, o, step);
          expect(z.size).toBe(model.items.length);
        }
        checkWhole(z, model);
      }),
      { numRuns: 400 },
    );
  });

  it('lex ranges, counts and removals agree with the model when all scores are equal', () => {
    const lexOp = fc.oneof(
      fc.record({ op: fc.constant('add' as const), m: memberArb }),
      fc.record({ op: fc.constant('remove' as const), m: memberArb }),
      fc.record({ op: fc.constant('range' as const), min: lexBoundArb, max: lexBoundArb, opts: limitArb }),
      fc.record({ op: fc.constant('removeRange' as const), min: lexBoundArb, max: lexBoundArb }),
    );
    fc.assert(
      fc.property(
        fanoutArb,
        fc.constantFrom(0, -0, 7.5, -Infinity),
        fc.array(lexOp, { maxLength: 50 }),
        (f, score, ops) => {
          const z = new SortedSet(f);
          const model = new Model();
          for (const o of ops) {
            if (o.op === 'add') expect(z.add(o.m, score)).toBe(model.add(o.m, score));
            else if (o.op === 'remove') expect(z.remove(o.m)).toBe(model.remove(o.m));
            else if (o.op === 'range') {
              const sel = model.items.filter(inLex(o.min, o.max));
              expect(z.rangeByLex(o.min, o.max, o.opts)).toEqual(applyLimit(sel, o.opts));
              expect(z.countByLex(o.min, o.max)).toBe(sel.length);
            } else {
              expect(z.removeRangeByLex(o.min, o.max)).toEqual(model.removeIndexes(model.select(inLex(o.min, o.max))));
            }
          }
          checkWhole(z, model);
        },
      ),
      { numRuns: 400 },
    );
  });

  it.each([4, 9, 64])(
    'stays consistent through deep trees (fanout %d): bulk inserts, updates, range removals, drain',
    (fanout) => {
      const rnd = prng(12345 + fanout);
      const z = new SortedSet(fanout);
      const model = new Model();
      const N = 12_000;
      // Insert enough for a three-level tree, with many score ties.
      for (let i = 0; i < N; i++) {
        const m = `m${Math.floor(rnd() * N * 2)}`;
        const s = Math.floor(rnd() * 1000);
        expect(z.add(m, s)).toBe(model.add(m, s));
      }
      checkWhole(z, model);

      const spot = () => {
        const n = model.items.length;
        for (let k = 0; k < 20 && n > 0; k++) {
          const i = Math.floor(rnd() * n);
          const [m, s] = model.items[i];
          expect(z.rank(m)).toBe(i);
          expect(z.rank(m, true)).toBe(n - 1 - i);
          expect(z.at(i)).toEqual([m, s]);
          const j = Math.min(n - 1, i + Math.floor(rnd() * 200));
          expect(z.byRank(i, j)).toEqual(model.items.slice(i, j + 1));
          const min = { value: Math.floor(rnd() * 1000), exclusive: rnd() < 0.5 };
          const max = { value: min.value + Math.floor(rnd() * 30), exclusive: rnd() < 0.5 };
          const sel = model.items.filter(inScore(min, max));
          expect(z.countByScore(min, max)).toBe(sel.length);
          expect(z.rangeByScore(min, max, { reverse: true, offset: 1, count: 5 })).toEqual(
            applyLimit(sel, { reverse: true, offset: 1, count: 5 }),
          );
        }
      };
      spot();

      // Score updates, some small (in-place path) and some large (move).
      for (let i = 0; i < 4000; i++) {
        const [m, s] = model.items[Math.floor(rnd() * model.items.length)];
        const ns = rnd() < 0.5 ? s + (rnd() < 0.5 ? 0.5 : -0.5) : Math.floor(rnd() * 1000);
        expect(z.add(m, ns)).toBe(false);
        model.add(m, ns);
      }
      checkWhole(z, model);
      spot();

      // Range removals in the middle, then random single removals, then pops until empty.
      for (let i = 0; i < 10; i++) {
        const n = model.items.length;
        const a = Math.floor(rnd() * n);
        const b = Math.min(n - 1, a + Math.floor(rnd() * 700));
        const idx = Array.from({ length: b - a + 1 }, (_, k) => a + k);
        expect(z.removeRangeByRank(a, b)).toEqual(model.removeIndexes(idx));
        const min = { value: Math.floor(rnd() * 1000), exclusive: false };
        const max = { value: min.value + 15, exclusive: true };
        expect(z.removeRangeByScore(min, max)).toEqual(model.removeIndexes(model.select(inScore(min, max))));
        spot();
      }
      checkWhole(z, model);
      while (model.items.length > 2000) {
        const [m] = model.items[Math.floor(rnd() * model.items.length)];
        expect(z.remove(m)).toBe(true);
        model.remove(m);
        if (model.items.length % 1000 === 0) spot();
      }
      checkWhole(z, model);
      while (model.items.length > 0) {
        const k = 1 + Math.floor(rnd() * 150);
        if (rnd() < 0.5) {
          const want = model.items.slice(0, k);
          model.items = model.items.slice(want.length);
          expect(z.popMin(k)).toEqual(want);
        } else {
          const want = model.items.slice(Math.max(0, model.items.length - k)).reverse();
          model.items = model.items.slice(0, model.items.length - want.length);
          expect(z.popMax(k)).toEqual(want);
        }
        spot();
      }
      expect(z.size).toBe(0);
      expect([...z]).toEqual([]);
      expect(z.add('again', 1)).toBe(true);
      expect(z.byRank(0, 0)).toEqual([['again', 1]]);
    },
  );
});

describe('SortedSet details', () => {
  it('orders ties by member bytes and treats -0 as 0', () => {
    const z = new SortedSet();
    z.add('b', 0);
    z.add('\xff', -0);
    z.add('a', 0);
    z.add('\x00', 0);
    expect(z.byRank(0, z.size - 1)).toEqual([
      ['\x00', 0],
      ['a', 0],
      ['b', 0],
      ['\xff', -0],
    ]);
    // Same score (0 === -0): not a change, the stored score stays.
    expect(z.add('a', -0)).toBe(false);
    expect(Object.is(z.score('a'), 0)).toBe(true);
    expect(z.countByScore({ value: -0, exclusive: false }, { value: 0, exclusive: false })).toBe(4);
    expect(z.countByScore({ value: 0, exclusive: true }, { value: Infinity, exclusive: false })).toBe(0);
  });

  it('handles infinite scores and bounds', () => {
    const z = new SortedSet();
    z.add('lo', -Infinity);
    z.add('mid', 1);
    z.add('hi', Infinity);
    const all = { value: -Infinity, exclusive: false };
    const top = { value: Infinity, exclusive: false };
    expect(z.rangeByScore(all, top).map((p) => p[0])).toEqual(['lo', 'mid', 'hi']);
    expect(z.rangeByScore({ value: -Infinity, exclusive: true }, { value: Infinity, exclusive: true })).toEqual([
      ['mid', 1],
    ]);
    expect(z.rangeByScore(all, top, { reverse: true, count: 2 }).map((p) => p[0])).toEqual(['hi', 'mid']);
    expect(z.rangeByScore(top, all)).toEqual([]);
  });

  it('rejects NaN scores and bad fanouts', () => {
    expect(() => new SortedSet().add('x', Number.NaN)).toThrow(RangeError);
    expect(() => new SortedSet(3)).toThrow(RangeError);
    expect(() => new SortedSet(4.5)).toThrow(RangeError);
  });

  it('clone() is an independent copy', () => {
    const z = new SortedSet(4);
    for (let i = 0; i < 100; i++) z.add(`m${i}`, i % 7);
    const c = z.clone();
    expect([...c]).toEqual([...z]);
    c.add('m1', 99);
    c.remove('m2');
    expect(z.score('m1')).toBe(1);
    expect(z.score('m2')).toBe(2);
    expect(z.size).toBe(100);
    expect(c.size).toBe(99);
    expect(c.rank('m1')).toBe(98);
  });

  it('at() returns undefined out of range', () => {
    const z = new SortedSet();
    z.add('a', 1);
    expect(z.at(0)).toEqual(['a', 1]);
    expect(z.at(1)).toBeUndefined();
    expect(z.at(-1)).toBeUndefined();
  });
});

describe('parseScoreBound', () => {
  it.each([
    ['1.5', 1.5, false],
    ['(1.5', 1.5, true],
    ['-inf', -Infinity, false],
    ['+inf', Infinity, false],
    ['inf', Infinity, false],
    ['(-inf', -Infinity, true],
    ['INFINITY', Infinity, false],
    ['-Infinity', -Infinity, false],
    ['+1e3', 1000, false],
    ['.5', 0.5, false],
    ['5.', 5, false],
    ['-0', -0, false],
    ['1e400', Infinity, false],
    ['', 0, false],
    ['(', 0, true],
  ])('%j → %d (exclusive %s)', (s, value, exclusive) => {
    const b = parseScoreBound(s);
    expect(b).not.toBeNull();
    expect(Object.is(b?.value, value)).toBe(true);
    expect(b?.exclusive).toBe(exclusive);
  });

  it.each(['nan', '(nan', 'abc', '1x', ' 1', '1 ', '((1', '[1', '1e', '.', '-', '+', '++1', 'infinit', '0x10', '1,5'])(
    '%j is invalid',
    (s) => {
      expect(parseScoreBound(s)).toBeNull();
    },
  );

  it('round-trips any double written by JS', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.boolean(), (v, ex) => {
        // String(-0) is "0", so compare with what the text denotes.
        const b = parseScoreBound((ex ? '(' : '') + String(v));
        expect(b).toEqual({ value: Object.is(v, -0) ? 0 : v, exclusive: ex });
      }),
    );
  });
});

describe('parseLexBound', () => {
  it('parses the four forms and rejects the rest', () => {
    expect(parseLexBound('-')).toBe('-');
    expect(parseLexBound('+')).toBe('+');
    expect(parseLexBound('[a')).toEqual({ value: 'a', exclusive: false });
    expect(parseLexBound('(a')).toEqual({ value: 'a', exclusive: true });
    expect(parseLexBound('[')).toEqual({ value: '', exclusive: false });
    expect(parseLexBound('(\xff\x00')).toEqual({ value: '\xff\x00', exclusive: true });
    for (const bad of ['', 'a', '--', '+a', ' [a', ']a']) expect(parseLexBound(bad)).toBeNull();
  });
});
