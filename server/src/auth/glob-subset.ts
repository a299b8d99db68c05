/**
 * Glob containment: is every subject a pattern matches also matched by one of a list of patterns? Used to let a
 * user PSUBSCRIBE to a pattern only when every channel it can match is allowed by the user's channel patterns.
 *
 * Each pattern is compiled into a small NFA over the bytes 0..255 by walking it exactly as `globMatch`
 * (server/src/engine/glob.ts, case-sensitive) does: one state per pattern token (a run of `*`, or a one-byte
 * test: a literal, `?` or a bracket set), plus an accepting state. Because globMatch walks the pattern the same
 * way whatever the subject, its tokens are fixed, and it matches a non-empty subject exactly when the token
 * sequence does as a regular expression (its skipLongerMatches guard only prunes work). The quirks that are not
 * regular are handled apart:
 *   - an empty subject matches only the empty pattern;
 *   - a pattern with more than 1000 nested `*` (that is, 1001 or more runs of `*` not at its end) matches nothing.
 * Containment is then decided by a breadth-first walk of the product of the pattern's determinised NFA with the
 * determinised union of the allowed NFAs, with the 256 bytes grouped into classes no token tells apart.
 */

const STAR = 0x2a;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const BACKSLASH = 0x5c;
const CARET = 0x5e;
const DASH = 0x2d;
const MAX_NESTING = 1000;
const DEFAULT_BUDGET = 20_000;

/** A pattern token: a run of `*` (null), or the set of bytes one subject byte must belong to. */
type Token = Uint8Array | null;

function signedChar(c: number): number {
  return c >= 0x80 ? c - 0x100 : c;
}

function byteSet(c: number): Uint8Array {
  const set = new Uint8Array(256);
  if (c < 256) set[c] = 1;
  return set;
}

/**
 * The tokens of `pat` as globMatch(pat, s, false) consumes them, or null if the pattern matches nothing because
 * of the nesting limit. Never throws.
 */
function tokenize(pat: string): Token[] | null {
  const tokens: Token[] = [];
  const pe = pat.length;
  let innerStars = 0;
  let p = 0;
  while (p < pe) {
    const pc = pat.charCodeAt(p);
    if (pc === STAR) {
      while (p + 1 < pe && pat.charCodeAt(p + 1) === STAR) p++;
      tokens.push(null);
      // globMatch returns true at a trailing `*` and recurses one level deeper at any other.
      if (p + 1 < pe && ++innerStars > MAX_NESTING) return null;
      p++;
      continue;
    }
    if (pc === QUESTION) {
      tokens.push(new Uint8Array(256).fill(1));
    } else if (pc === LBRACKET) {
      const set = new Uint8Array(256);
      p++;
      const not = p < pe && pat.charCodeAt(p) === CARET;
      if (not) p++;
      for (;;) {
        const q = p < pe ? pat.charCodeAt(p) : -1;
        if (q === BACKSLASH && pe - p >= 2) {
          p++;
          const e = pat.charCodeAt(p);
          if (e < 256) set[e] = 1;
        } else if (q === RBRACKET) {
          break;
        } else if (p >= pe) {
          p--;
          break;
        } else if (pe - p >= 3 && pat.charCodeAt(p + 1) === DASH) {
          let start = signedChar(q);
          let end = signedChar(pat.charCodeAt(p + 2));
          if (start > end) {
            const t = start;
            start = end;
            end = t;
          }
          for (let b = 0; b < 256; b++) {
            const sb = signedChar(b);
            if (sb >= start && sb <= end) set[b] = 1;
          }
          p += 2;
        } else if (q < 256) {
          set[q] = 1;
        }
        p++;
      }
      if (not) for (let b = 0; b < 256; b++) set[b] ^= 1;
      tokens.push(set);
    } else {
      if (pc === BACKSLASH && pe - p >= 2) p++;
      tokens.push(byteSet(pat.charCodeAt(p)));
    }
    p++;
  }
  return tokens;
}

/**
 * Several pattern NFAs side by side. State i of a pattern with n tokens is "before token i"; state n accepts.
 * A `*` state loops on every byte and has an empty move to the next state; a set state moves to the next state
 * on the bytes of its set; an accepting state has no moves.
 */
interface Nfa {
  /** Per state: its byte set, or null for a `*` state or an accepting state. */
  sets: (Uint8Array | null)[];
  star: Uint8Array;
  accept: Uint8Array;
  /** Per state: accepts every non-empty continuation (only `*` up to the end). */
  universal: Uint8Array;
  /** The start states, closed under empty moves. */
  start: number[];
  /** Scratch for set building: mark[s] === stamp when s is in the set being built. */
  mark: Uint32Array;
  stamp: number;
}

function buildNfa(patterns: Token[][]): Nfa {
  const size = patterns.reduce((n, t) => n + t.length + 1, 0);
  const nfa: Nfa = {
    sets: [],
    star: new Uint8Array(size),
    accept: new Uint8Array(size),
    universal: new Uint8Array(size),
    start: [],
    mark: new Uint32Array(size),
    stamp: 0,
  };
  const starts: number[] = [];
  for (const tokens of patterns) {
    starts.push(nfa.sets.length);
    for (const t of tokens) {
      if (t === null) nfa.star[nfa.sets.length] = 1;
      nfa.sets.push(t);
    }
    nfa.accept[nfa.sets.length] = 1;
    nfa.sets.push(null);
  }
  for (let s = size - 2; s >= 0; s--) {
    if (nfa.star[s] && (nfa.accept[s + 1] || nfa.universal[s + 1])) nfa.universal[s] = 1;
  }
  nfa.stamp++;
  for (const s of starts) add(nfa, nfa.start, s);
  nfa.start.sort((a, b) => a - b);
  return nfa;
}

/** Adds state s and its empty-move closure to `out` unless already marked with the current stamp. */
function add(nfa: Nfa, out: number[], s: number): void {
  while (nfa.mark[s] !== nfa.stamp) {
    nfa.mark[s] = nfa.stamp;
    out.push(s);
    if (!nfa.star[s]) return;
    s++;
  }
}

/** The sorted, closed set of states reached from `states` on byte b. */
function step(nfa: Nfa, states: readonly number[], b: number): number[] {
  const out: number[] = [];
  nfa.stamp++;
  for (const s of states) {
    if (nfa.star[s]) add(nfa, out, s);
    else {
      const set = nfa.sets[s];
      if (set?.[b]) add(nfa, out, s + 1);
    }
  }
  return out.sort((x, y) => x - y);
}

/**
 * One representative byte per class of bytes that every token treats alike (printable ASCII preferred, so
 * witnesses read well).
 */
function byteClasses(tokenLists: Token[][]): number[] {
  const cls = new Uint16Array(256);
  const seen = new Set<string>();
  for (const tokens of tokenLists) {
    for (const t of tokens) {
      if (t === null) continue;
      const key = String.fromCharCode(...t);
      if (seen.has(key)) continue;
      seen.add(key);
      const renumber = new Map<number, number>();
      for (let b = 0; b < 256; b++) {
        const k = cls[b] * 2 + t[b];
        let id = renumber.get(k);
        if (id === undefined) {
          id = renumber.size;
          renumber.set(k, id);
        }
        cls[b] = id;
      }
    }
  }
  const rep = new Map<number, number>();
  const printable = (b: number) => b > 0x20 && b < 0x7f;
  for (let b = 0; b < 256; b++) {
    const r = rep.get(cls[b]);
    if (r === undefined || (!printable(r) && printable(b))) rep.set(cls[b], b);
  }
  return [...rep.values()].sort((x, y) => x - y);
}

const BUDGET_EXCEEDED = Symbol('budget exceeded');

/**
 * A shortest subject matched by `pattern` and by none of `allowed`, null if there is none, or BUDGET_EXCEEDED
 * if more than `budget` product states would have to be explored.
 */
function search(pattern: string, allowed: readonly string[], budget: number): string | null | typeof BUDGET_EXCEEDED {
  // The empty subject, which only the empty pattern matches.
  if (pattern === '' && !allowed.includes('')) return '';
  const p = tokenize(pattern);
  if (p === null) return null;
  const a: Token[][] = [];
  for (const pat of allowed) {
    const t = tokenize(pat);
    if (t !== null) a.push(t);
  }
  const pn = buildNfa([p]);
  const an = buildNfa(a);
  const bytes = byteClasses([p, ...a]);

  // Product states reached by at least one byte; the start pair (the empty subject) is handled above.
  const seen = new Set<string>();
  const nodes: { ps: number[]; as: number[]; parent: number; byte: number }[] = [];
  const witness = (parent: number, byte: number): string => {
    const out = [String.fromCharCode(byte)];
    for (let i = parent; i >= 0; i = nodes[i].parent) out.push(String.fromCharCode(nodes[i].byte));
    return out.reverse().join('');
  };
  let ps = pn.start;
  let as = an.start;
  let parent = -1;
  for (let head = 0; ; head++) {
    for (const b of bytes) {
      const ps2 = step(pn, ps, b);
      if (ps2.length === 0) continue;
      const as2 = step(an, as, b);
      if (as2.some((s) => an.universal[s])) continue;
      if (ps2.some((s) => pn.accept[s]) && !as2.some((s) => an.accept[s])) return witness(parent, b);
      const key = `${ps2.join(',')}|${as2.join(',')}`;
      if (seen.has(key)) continue;
      if (seen.size >= budget) return BUDGET_EXCEEDED;
      seen.add(key);
      nodes.push({ ps: ps2, as: as2, parent, byte: b });
    }
    if (head >= nodes.length) return null;
    ({ ps, as } = nodes[head]);
    parent = head;
  }
}

/**
 * True when every subject that `pattern` matches is matched by at least one of `allowed` (glob semantics of
 * server/src/engine/glob.ts `globMatch`, case-sensitive, subjects are binary strings of bytes 0..255).
 * Conservative: returns false if deciding would take more than `budget` explored states (default 20000).
 * Never throws.
 */
export function globSubsetOfAny(pattern: string, allowed: readonly string[], budget = DEFAULT_BUDGET): boolean {
  if (allowed.includes(pattern)) return true;
  return search(pattern, allowed, budget) === null;
}

/**
 * A shortest subject that `pattern` matches and none of `allowed` matches (globMatch semantics, as above), or
 * null if there is none. Meant for tests and diagnostics: unbounded unless `budget` is given.
 * Throws RangeError if deciding would take more than `budget` explored states.
 */
export function findCounterexample(pattern: string, allowed: readonly string[], budget = Infinity): string | null {
  const r = search(pattern, allowed, budget);
  if (r === BUDGET_EXCEEDED) throw new RangeError(`glob containment needs more than ${budget} states`);
  return r;
}
