import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findCounterexample, globSubsetOfAny } from '../../server/src/auth/glob-subset.js';
import { globMatch } from '../../server/src/engine/glob.js';

/** Asserts the verdict, and that a "no" comes with a real witness and a "yes" with none. */
function check(pattern: string, allowed: string[], subset: boolean): void {
  expect(globSubsetOfAny(pattern, allowed), `${pattern} ⊆ ${JSON.stringify(allowed)}`).toBe(subset);
  const w = findCounterexample(pattern, allowed);
  if (subset) {
    expect(w).toBeNull();
  } else {
    expect(w).not.toBeNull();
    expect(globMatch(pattern, w!), `pattern matches witness ${JSON.stringify(w)}`).toBe(true);
    for (const a of allowed) expect(globMatch(a, w!), `${a} misses witness ${JSON.stringify(w)}`).toBe(false);
  }
}

describe('globSubsetOfAny: hand-written cases', () => {
  it('plain prefixes and stars', () => {
    check('chat:*', ['chat:*'], true);
    check('chat:room1', ['chat:*'], true);
    check('chat:*', ['chat:room*'], false);
    check('*', ['*'], true);
    check('a?c', ['a*'], true);
    check('a*', ['a?c'], false);
    check('*', ['a*', 'b*'], false);
    check('news.*', ['news.*', 'x'], true);
    check('news.*', ['news.a*', 'x'], false);
    check('news.**', ['news.*'], true);
    check('*a*', ['*a', 'a*', '*a?*'], true);
    check('*a*', ['*a', 'a*'], false);
    check('a*b', ['a*', '*c'], true);
    check('x', [], false);
    check('chat:*', ['news:*', 'chat:*'], true);
  });

  it('sets, negated sets and ranges', () => {
    check('[ab]x', ['ax', 'bx'], true);
    check('[ab]x', ['ax'], false);
    check('[a-c]', ['[ab]'], false);
    check('[a-c]', ['[ab]', 'c'], true);
    check('[c-a]', ['[abc]'], true); // ends in either order
    check('[^a]', ['?'], true);
    check('?', ['[^a]'], false);
    check('?', ['[^a]', 'a'], true);
    check('[ab][ab]', ['a?', '?a', 'bb'], true);
    check('[ab][ab]', ['a?', '?a'], false);
  });

  it('range ends compare as signed chars', () => {
    // \xff is -1, so [\xff-a] is the bytes -1..0x61: \xff and \x00..a; \x80..\xfe are outside.
    check('[\xff-a]', ['[\x00-a]', '\xff'], true);
    check('[\xff-a]', ['[\x00-a]'], false);
    check('[\x00-\xff]', ['[\x00-\x7f]'], false);
    check('[\x80-\x7f]', ['?'], true);
    check('?', ['[\x80-\x7f]'], true);
  });

  it('escapes, also inside brackets, and a trailing backslash', () => {
    check('h\\*llo', ['h*'], true);
    check('h\\*llo', ['h\\*llo'], true);
    check('h*llo', ['h\\*llo'], false);
    check('h\\?', ['h\\?', 'hx'], true);
    check('h?', ['h\\?'], false);
    check('a\\', ['a\\\\'], true); // trailing backslash is a literal backslash
    check('a\\\\', ['a\\'], true);
    check('[\\]]', ['\\]'], true);
    check('[\\]]', [']'], true);
    check('[\\-a]', ['-', 'a'], true); // escaped `-` is no range
    check('[\\-a]', ['-'], false);
  });

  it('unclosed brackets and the [a-] quirk', () => {
    check('[', [], true); // matches nothing
    check('x[', [], true);
    check('[^', ['?'], true); // any byte
    check('?', ['[^'], true);
    check('[ab', ['[ba]'], true);
    check('[ba]', ['[ab'], true);
    // [a-]x is one byte test: the range a..] then x, bracket left open.
    check('[a-]x', ['?'], true);
    check('[a-]x', ['?x'], false);
    check('[a-]x', ['[\\]^_`a]', 'x'], true);
    check('[a-]x', ['[\\]^_`a]'], false);
  });

  it('the empty pattern and the empty subject', () => {
    check('', [''], true);
    check('', ['*'], false); // `*` does not match the empty subject
    check('', [], false);
    check('*', [''], false);
    check('a', ['', '*'], true);
    check('', ['x', ''], true);
  });

  it('more than 1000 nested stars match nothing', () => {
    const tooDeep = '*a'.repeat(1001);
    expect(globMatch(tooDeep, 'a'.repeat(1001))).toBe(false);
    check(tooDeep, [], true);
    check('a*', [tooDeep], false);
    // 1000 inner star runs and a trailing one still match.
    const deepest = `${'*a'.repeat(1000)}*`;
    expect(globMatch(deepest, 'a'.repeat(1000))).toBe(true);
    expect(globSubsetOfAny(deepest, [])).toBe(false);
    expect(globSubsetOfAny(deepest, ['*a*'])).toBe(true);
    expect(globSubsetOfAny('*a*', [deepest])).toBe(false);
  });

  it('is conservative when the budget runs out', () => {
    // `*a` followed by n `?`, against `*[ab]` and n `?`, explores 3^(n+1) product states.
    const small = `*a${'?'.repeat(6)}`;
    const smallAllowed = [`*[ab]${'?'.repeat(6)}`];
    expect(globSubsetOfAny(small, smallAllowed, 1000)).toBe(false);
    expect(() => findCounterexample(small, smallAllowed, 1000)).toThrow(RangeError);
    expect(globSubsetOfAny(small, smallAllowed, 3 ** 7)).toBe(true);
    expect(globSubsetOfAny(small, [`*b${'?'.repeat(6)}`], 3 ** 7)).toBe(false);
    // Past the default budget of 20000 states.
    const big = `*a${'?'.repeat(9)}`;
    expect(globSubsetOfAny(big, [`*[ab]${'?'.repeat(9)}`])).toBe(false);
    expect(globSubsetOfAny(big, [big])).toBe(true); // identical patterns need no search
  });
});

describe('globSubsetOfAny: against brute force', () => {
  const pat = fc.string({ unit: fc.constantFrom('a', 'b', '*', '*', '?', '[', ']', '^', '-', '\\'), maxLength: 6 });
  // Allowed lists made by editing the pattern, so that many answers are "yes" for a non-trivial reason.
  const edit = fc.tuple(fc.nat(), fc.nat(2), fc.constantFrom('*', '?', '[ab]', '[^a]', 'a', 'b', ''));
  const edited = (p: string) =>
    fc.array(edit, { minLength: 1, maxLength: 2 }).map((edits) => {
      for (const [i, del, ins] of edits) {
        const at = i % (p.length + 1);
        p = p.slice(0, at) + ins + p.slice(at + del);
      }
      return p;
    });
  // Every subject of length 0..5 over the alphabet, plus random longer ones with bytes the patterns lack.
  const alphabet = ['a', 'b', '[', ']', '*', '-', '^', '\\'];
  const subjects = [''];
  for (let i = 0, len = 0; len < 5; len++) {
    const end = subjects.length;
    for (; i < end; i++) for (const c of alphabet) subjects.push(subjects[i] + c);
  }
  const randomSubjects = fc.array(
    fc.string({
      unit: fc.constantFrom('a', 'b', 'c', '[', ']', '*', '-', '^', '\\', '?', '\x00', '\x80', '\xff'),
      minLength: 6,
      maxLength: 12,
    }),
    { maxLength: 20 },
  );

  /** A "no" must come with a real witness; a "yes" must hold on every sample subject. */
  function agrees(p: string, allowed: string[], extra: string[]): void {
    const subset = globSubsetOfAny(p, allowed);
    const w = findCounterexample(p, allowed);
    expect(subset).toBe(w === null);
    if (w !== null) {
      expect(globMatch(p, w)).toBe(true);
      expect(allowed.some((a) => globMatch(a, w))).toBe(false);
      return;
    }
    if (allowed.includes(p)) return;
    const uncovered = [...subjects, ...extra].find((s) => globMatch(p, s) && !allowed.some((a) => globMatch(a, s)));
    expect(uncovered).toBeUndefined();
  }

  it('random allowed lists', () => {
    fc.assert(fc.property(pat, fc.array(pat, { maxLength: 3 }), randomSubjects, agrees), {
      numRuns: 2000,
      seed: 20240611,
    });
  });

  it('allowed lists edited from the pattern', () => {
    fc.assert(
      fc.property(
        pat.chain((p) => fc.tuple(fc.constant(p), fc.array(edited(p), { minLength: 1, maxLength: 3 }))),
        randomSubjects,
        ([p, allowed], extra) => agrees(p, allowed, extra),
      ),
      { numRuns: 2000, seed: 20240611 },
    );
  });
});
