import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { List } from '../../server/src/engine/list.js';

/** One operation on the list, applied to both the List and a plain array model. */
type Op =
  | { op: 'pushHead' | 'pushTail'; v: string }
  | { op: 'popHead' | 'popTail' | 'clear' | 'clone' }
  | { op: 'popHeadMany' | 'popTailMany'; n: number }
  | { op: 'at'; i: number }
  | { op: 'set'; i: number; v: string }
  | { op: 'insert'; i: number; v: string }
  | { op: 'remove'; v: string; count: number }
  | { op: 'trim' | 'range' | 'rangeReverse'; start: number; end: number }
  | { op: 'indexOf'; v: string };

// A tiny alphabet so that remove/indexOf find duplicates.
const value = fc.constantFrom('a', 'b', 'c', '', '\x00\xff');
const index = fc.integer({ min: -3, max: 40 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constantFrom('pushHead' as const, 'pushTail' as const), v: value }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('popHead' as const, 'popTail' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('clear' as const, 'clone' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constantFrom('popHeadMany' as const, 'popTailMany' as const), n: fc.nat(12) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('at' as const), i: index }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), i: index, v: value }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('insert' as const), i: index, v: value }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('remove' as const), v: value, count: fc.integer({ min: -4, max: 4 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom('trim' as const, 'range' as const, 'rangeReverse' as const),
      start: index,
      end: index,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('indexOf' as const), v: value }) },
);

/** Applies `o` to the model, returning what the List method must return. */
function applyModel(m: string[], o: Op): { model: string[]; result: unknown } {
  switch (o.op) {
    case 'pushHead':
      return { model: [o.v, ...m], result: undefined };
    case 'pushTail':
      return { model: [...m, o.v], result: undefined };
    case 'popHead':
      return { model: m.slice(1), result: m[0] };
    case 'popTail':
      return { model: m.slice(0, -1), result: m[m.length - 1] };
    case 'clear':
      return { model: [], result: undefined };
    case 'clone':
      return { model: m, result: undefined };
    case 'popHeadMany':
      return { model: m.slice(Math.min(o.n, m.length)), result: m.slice(0, o.n) };
    case 'popTailMany': {
      const k = Math.min(o.n, m.length);
      return { model: m.slice(0, m.length - k), result: m.slice(m.length - k).reverse() };
    }
    case 'at':
      return { model: m, result: o.i >= 0 && o.i < m.length ? m[o.i] : undefined };
    case 'set': {
      if (o.i < 0 || o.i >= m.length) return { model: m, result: false };
      const c = [...m];
      c[o.i] = o.v;
      return { model: c, result: true };
    }
    case 'insert': {
      if (o.i < 0 || o.i > m.length) return { model: m, result: 'throws' };
      return { model: [...m.slice(0, o.i), o.v, ...m.slice(o.i)], result: undefined };
    }
    case 'remove': {
      const limit = o.count === 0 ? Number.POSITIVE_INFINITY : Math.abs(o.count);
      let removed = 0;
      const src = o.count >= 0 ? m : [...m].reverse();
      const kept: string[] = [];
      for (const x of src) {
        if (x === o.v && removed < limit) removed++;
        else kept.push(x);
      }
      return { model: o.count >= 0 ? kept : kept.reverse(), result: removed };
    }
    case 'trim': {
      const start = Math.max(0, o.start);
      const end = Math.min(m.length - 1, o.end);
      const kept = start > end ? [] : m.slice(start, end + 1);
      return { model: kept, result: m.length - kept.length };
    }
    case 'range':
    case 'rangeReverse': {
      const start = Math.max(0, o.start);
      const end = Math.min(m.length - 1, o.end);
      const r = start > end ? [] : m.slice(start, end + 1);
      return { model: m, result: o.op === 'range' ? r : r.reverse() };
    }
    case 'indexOf':
      return { model: m, result: m.indexOf(o.v) };
  }
}

function applyList(l: List, o: Op): { list: List; result: unknown } {
  switch (o.op) {
    case 'pushHead':
      return { list: l, result: l.pushHead(o.v) };
    case 'pushTail':
      return { list: l, result: l.pushTail(o.v) };
    case 'popHead':
      return { list: l, result: l.popHead() };
    case 'popTail':
      return { list: l, result: l.popTail() };
    case 'clear':
      return { list: l, result: l.clear() };
    case 'clone':
      return { list: l.clone(), result: undefined };
    case 'popHeadMany':
      return { list: l, result: l.popHeadMany(o.n) };
    case 'popTailMany':
      return { list: l, result: l.popTailMany(o.n) };
    case 'at':
      return { list: l, result: l.at(o.i) };
    case 'set':
      return { list: l, result: l.set(o.i, o.v) };
    case 'insert':
      try {
        return { list: l, result: l.insert(o.i, o.v) };
      } catch (e) {
        if (e instanceof RangeError) return { list: l, result: 'throws' };
        throw e;
      }
    case 'remove':
      return { list: l, result: l.remove(o.v, o.count) };
    case 'trim':
      return { list: l, result: l.trim(o.start, o.end) };
    case 'range':
      return { list: l, result: l.range(o.start, o.end) };
    case 'rangeReverse':
      return { list: l, result: l.range(o.start, o.end, true) };
    case 'indexOf':
      return { list: l, result: l.indexOf(o.v) };
  }
}

describe('List (ring buffer) against an array model', () => {
  it('behaves like an array under any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 20 }), fc.array(opArb, { maxLength: 120 }), (initial, ops) => {
        let list = List.from(initial);
        let model = [...initial];
        for (const o of ops) {
          const want = applyModel(model, o);
          const got = applyList(list, o);
          expect(got.result).toEqual(want.result);
          model = want.model;
          list = got.list;
          expect(list.length).toBe(model.length);
          expect(list.toArray()).toEqual(model);
          expect([...list]).toEqual(model);
          // Memory: capacity is a power of two, holds the elements, and shrinks back as the list drains.
          const cap = list.capacity;
          expect(cap & (cap - 1)).toBe(0);
          expect(cap).toBeGreaterThanOrEqual(list.length);
          expect(cap).toBeLessThanOrEqual(Math.max(8, 4 * list.length));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('wraps around the ring many times without losing order', () => {
    const l = new List();
    const model: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      l.pushTail(String(i));
      model.push(String(i));
      if (i % 3 === 0) expect(l.popHead()).toBe(model.shift());
    }
    expect(l.toArray()).toEqual(model);
    expect(l.at(0)).toBe(model[0]);
    expect(l.at(model.length - 1)).toBe(model[model.length - 1]);
  });

  it('shrinks after a large list drains', () => {
    const l = new List();
    for (let i = 0; i < 100_000; i++) l.pushHead('x');
    expect(l.capacity).toBe(131072);
    while (l.length > 1) l.popTail();
    expect(l.capacity).toBe(8);
    expect(l.kind).toBe('list');
  });
});
