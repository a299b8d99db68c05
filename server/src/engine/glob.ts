/**
 * Glob-style matching with exactly the semantics of Redis's stringmatchlen (util.c), used by KEYS, SCAN
 * MATCH, PSUBSCRIBE, ACL key/channel patterns and CONFIG GET:
 *
 *   `*` any run of bytes; `?` any one byte; `[abc]` one of a set; `[^abc]` not in the set; `[a-z]` a range
 *   (ends in either order); `\x` the byte x literally, also inside brackets.
 *
 * Redis's quirks are kept on purpose, so that kvws answers as Redis does:
 *   - an empty subject matches only the empty pattern (`*` does not match ""; KEYS/SCAN special-case `*`);
 *   - a trailing `\` matches a literal backslash;
 *   - an unclosed `[` takes the rest of the pattern as its set (`[` alone matches nothing, `[^` any byte);
 *   - `[a-]` is the range a..`]` and leaves the bracket open (the `-` range takes the next char, even `]`);
 *   - range ends compare as signed chars, as Redis built for x86-64 does (bytes ≥ 0x80 sort below 0);
 *   - with `nocase`, only A–Z fold (the C locale's tolower), and an escaped char inside brackets is compared
 *     case-sensitively;
 *   - more than 1000 nested `*` never match.
 * Matching is O(pattern × subject): after a `*` has tried every position and failed, no earlier `*` retries
 * (Redis's skipLongerMatches guard), so patterns such as `*a*a*a*b` cannot backtrack exponentially.
 *
 * Patterns and subjects are binary strings (one char per byte).
 */

const STAR = 0x2a;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const BACKSLASH = 0x5c;
const CARET = 0x5e;
const DASH = 0x2d;
const MAX_NESTING = 1000;

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

function signedChar(c: number): number {
  return c >= 0x80 ? c - 0x100 : c;
}

/** Mutable flag shared by one top-level match: set once a `*` has failed from every position. */
interface MatchState {
  skipLonger: boolean;
}

function matchAt(
  pat: string,
  p: number,
  str: string,
  s: number,
  nocase: boolean,
  state: MatchState,
  nesting: number,
): boolean {
  if (nesting > MAX_NESTING) return false;
  const pe = pat.length;
  const se = str.length;
  while (p < pe && s < se) {
    const pc = pat.charCodeAt(p);
    if (pc === STAR) {
      while (p + 1 < pe && pat.charCodeAt(p + 1) === STAR) p++;
      if (p + 1 === pe) return true;
      for (; s < se; s++) {
        if (matchAt(pat, p + 1, str, s, nocase, state, nesting + 1)) return true;
        if (state.skipLonger) return false;
      }
      // The rest of the pattern matches from no position of the rest of the subject, so a longer match for
      // any earlier `*` cannot help either.
      state.skipLonger = true;
      return false;
    }
    if (pc === QUESTION) {
      s++;
    } else if (pc === LBRACKET) {
      const c = str.charCodeAt(s);
      p++;
      const not = p < pe && pat.charCodeAt(p) === CARET;
      if (not) p++;
      let match = false;
      for (;;) {
        const q = p < pe ? pat.charCodeAt(p) : -1;
        if (q === BACKSLASH && pe - p >= 2) {
          p++;
          if (pat.charCodeAt(p) === c) match = true;
        } else if (q === RBRACKET) {
          break;
        } else if (p >= pe) {
          // Unclosed: stand on the last pattern char so the step below ends the pattern.
          p--;
          break;
        } else if (pe - p >= 3 && pat.charCodeAt(p + 1) === DASH) {
          let start = signedChar(q);
          let end = signedChar(pat.charCodeAt(p + 2));
          let cc = signedChar(c);
          if (start > end) {
            const t = start;
            start = end;
            end = t;
          }
          if (nocase) {
            start = lower(start);
            end = lower(end);
            cc = lower(cc);
          }
          p += 2;
          if (cc >= start && cc <= end) match = true;
        } else if (nocase ? lower(q) === lower(c) : q === c) {
          match = true;
        }
        p++;
      }
      if (not) match = !match;
      if (!match) return false;
      s++;
    } else {
      if (pc === BACKSLASH && pe - p >= 2) p++;
      const q = pat.charCodeAt(p);
      const c = str.charCodeAt(s);
      if (nocase ? lower(q) !== lower(c) : q !== c) return false;
      s++;
    }
    p++;
    if (s === se) {
      while (p < pe && pat.charCodeAt(p) === STAR) p++;
      break;
    }
  }
  return p === pe && s === se;
}

/** True if `subject` matches the glob `pattern` (Redis stringmatchlen semantics, see above). Never throws. */
export function globMatch(pattern: string, subject: string, nocase = false): boolean {
  return matchAt(pattern, 0, subject, 0, nocase, { skipLonger: false }, 0);
}

/**
 * The string a pattern with no wildcards matches (escapes removed, a trailing `\` kept), or null if the
 * pattern has an unescaped `*`, `?` or `[`.
 */
export function globLiteral(pattern: string): string | null {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === STAR || c === QUESTION || c === LBRACKET) return null;
    if (c === BACKSLASH && i + 1 < pattern.length) i++;
    out += pattern[i];
  }
  return out;
}

/** True if the pattern has no unescaped `*`, `?` or `[`: it matches exactly one string (see globLiteral). */
export function isLiteralPattern(pattern: string): boolean {
  return globLiteral(pattern) !== null;
}

function foldAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * Returns a matcher equivalent to `(s) => globMatch(pattern, s, nocase)`, specialised for the common shapes
 * (`lit`, `lit*`, `*lit`, `*lit*`, `*`) so repeated use (pub/sub patterns, SCAN MATCH) avoids the general
 * matcher. Never throws.
 */
export function compileGlob(pattern: string, nocase = false): (subject: string) => boolean {
  // Split into literal segments around runs of `*`; give up on `?` and `[`.
  const segments: string[] = [];
  let cur = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === QUESTION || c === LBRACKET) return (s) => globMatch(pattern, s, nocase);
    if (c === STAR) {
      if (cur !== '' || segments.length === 0) segments.push(cur);
      cur = '';
      continue;
    }
    if (c === BACKSLASH && i + 1 < pattern.length) i++;
    cur += pattern[i];
  }
  segments.push(cur);

  const fold = nocase ? foldAscii : (s: string) => s;
  if (segments.length === 1) {
    const lit = fold(segments[0]);
    return (s) => fold(s) === lit;
  }
  // segments: [prefix, …, suffix]; empty prefix/suffix mean the pattern starts/ends with `*`.
  if (segments.length === 2) {
    const prefix = fold(segments[0]);
    const suffix = fold(segments[1]);
    if (prefix === '' && suffix === '') return (s) => s.length > 0;
    if (suffix === '') return (s) => fold(s).startsWith(prefix);
    if (prefix === '') return (s) => fold(s).endsWith(suffix);
  }
  if (segments.length === 3 && segments[0] === '' && segments[2] === '') {
    const mid = fold(segments[1]);
    return (s) => fold(s).includes(mid);
  }
  return (s) => globMatch(pattern, s, nocase);
}
