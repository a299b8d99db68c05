/**
 * The sorted-set value (ZADD, ZRANGE, ZRANK, ZPOPMIN…): a member → score dictionary for O(1) ZSCORE plus an
 * ordered index for ranks and ranges.
 *
 * The index is a counted B+tree rather than Redis's zskiplist: leaves hold up to `fanout` elements in two
 * parallel arrays (members, scores) and are linked both ways for range walks; branches hold per-child
 * element counts, so rank ↔ position is a root-to-leaf descent. With fan-out 64 that is O(log n) per
 * operation and O(log n + m) for a walk or removal of m elements. The index costs two array slots per
 * element instead of a node object: measured on Node 20 with a million members, about 25–30 bytes per
 * element for the index and 50–60 including the Map (strings not counted).
 *
 * Order is (score, member) ascending; members are binary strings (one char per byte) compared with JS `<`,
 * which is byte order. -0 and 0 compare equal. Scores are never NaN.
 */

/** One end of a score range: ZRANGEBYSCORE's `1.5`, `(1.5`, `-inf`, `+inf`. */
export type ScoreBound = { value: number; exclusive: boolean };
/** One end of a lex range: `[a` (inclusive), `(a` (exclusive), `-` (below everything), `+` (above everything). */
export type LexBound = { value: string; exclusive: boolean } | '-' | '+';
/** LIMIT offset count and direction for range queries. A negative count means "all the rest". */
export interface RangeOptions {
  /** Walk from the high end: the first element returned is the highest in range. Default false. */
  reverse?: boolean;
  /** Elements of the range to skip first (in walk order). Default 0; negative gives an empty result, as Redis. */
  offset?: number;
  /** Most elements to return. Default -1 (no limit). */
  count?: number;
}

const DEFAULT_FANOUT = 64;

class Leaf {
  members: string[] = [];
  scores: number[] = [];
  prev: Leaf | null = null;
  next: Leaf | null = null;
}

/**
 * children[i] holds counts[i] elements. sepScores/sepMembers[i] (i ≥ 1) is a key with
 * every key of children[i-1] < separator ≤ every key of children[i]. Index 0 is a lower bound kept only so
 * that a split or merge can hand it to the parent; descents never read it.
 */
class Branch {
  children: Array<Leaf | Branch> = [];
  counts: number[] = [];
  sepScores: number[] = [];
  sepMembers: string[] = [];
}

type Node = Leaf | Branch;
/** A monotone test over the order: false for a prefix of the elements, true for the rest. */
type Pred = (score: number, member: string) => boolean;

function less(s1: number, m1: string, s2: number, m2: string): boolean {
  return s1 < s2 || (s1 === s2 && m1 < m2);
}

function sizeOf(n: Node): number {
  return n instanceof Leaf ? n.members.length : n.children.length;
}

function total(b: Branch): number {
  let t = 0;
  for (const c of b.counts) t += c;
  return t;
}

function minBoundPred(min: ScoreBound): Pred {
  const v = min.value;
  return min.exclusive ? (s) => s > v : (s) => s >= v;
}

function pastMaxPred(max: ScoreBound): Pred {
  const v = max.value;
  return max.exclusive ? (s) => s >= v : (s) => s > v;
}

export class SortedSet {
  readonly kind = 'zset' as const;
  /** member → score. Read it freely (ZSCORE, ZMSCORE, SCAN); mutate only through the methods. */
  readonly scores = new Map<string, number>();

  /**
   * Most elements per leaf and children per branch. Every node but the root and the rightmost of each level
   * keeps at least half (see split), so the height stays O(log n).
   */
  private readonly max: number;
  private root: Node = new Leaf();

  // Path of the last descent: pathNodes[d] is the branch at depth d, pathIdx[d] the child taken there.
  private pathNodes: Branch[] = [];
  private pathIdx: number[] = [];
  private depth = 0;
  private leaf: Leaf = this.root as Leaf;
  private idx = 0;

  /**
   * `fanout` is the node capacity of the index (an integer ≥ 4). The default suits real use; small values
   * exist so that tests reach deep trees with few elements. Throws RangeError for an invalid fanout.
   */
  constructor(fanout = DEFAULT_FANOUT) {
    if (!Number.isInteger(fanout) || fanout < 4) throw new RangeError('sorted set fanout must be an integer >= 4');
    this.max = fanout;
  }

  get size(): number {
    return this.scores.size;
  }

  /** Score of `member`, or undefined if absent. */
  score(member: string): number | undefined {
    return this.scores.get(member);
  }

  /**
   * Sets `member`'s score, moving it if the score changed. Returns true if the member is new.
   * Throws RangeError if `score` is NaN (callers reject NaN before this, as Redis does).
   */
  add(member: string, score: number): boolean {
    if (Number.isNaN(score)) throw new RangeError('sorted set score is NaN');
    const old = this.scores.get(member);
    if (old === undefined) {
      this.scores.set(member, score);
      this.seek((s, m) => less(score, member, s, m));
      this.insertHere(score, member);
      return true;
    }
    if (old === score) return false;
    this.scores.set(member, score);
    this.seekKey(old, member);
    const { members, scores } = this.leaf;
    const i = this.idx;
    const last = members.length - 1;
    // Same slot still in order: update in place. At a leaf edge the separators above must stay valid, which
    // holds when the key moves away from that edge (or when the leaf is the root and has no separators).
    const lowOk = i > 0 ? less(scores[i - 1], members[i - 1], score, member) : this.depth === 0 || score > old;
    const highOk = i < last ? less(score, member, scores[i + 1], members[i + 1]) : this.depth === 0 || score < old;
    if (lowOk && highOk) {
      scores[i] = score;
      return false;
    }
    this.removeHere(1);
    this.seek((s, m) => less(score, member, s, m));
    this.insertHere(score, member);
    return false;
  }

  /** Removes `member`. Returns true if it was present. */
  remove(member: string): boolean {
    const old = this.scores.get(member);
    if (old === undefined) return false;
    this.scores.delete(member);
    this.seekKey(old, member);
    this.removeHere(1);
    return true;
  }

  /** 0-based rank of `member` (from the highest if `reverse`), or undefined if absent. */
  rank(member: string, reverse = false): number | undefined {
    const s = this.scores.get(member);
    if (s === undefined) return undefined;
    const r = this.seek((ts, tm) => less(s, member, ts, tm)) - 1;
    return reverse ? this.size - 1 - r : r;
  }

  /** The element at 0-based ascending `rank`, or undefined if out of range. */
  at(rank: number): [string, number] | undefined {
    if (!(rank >= 0 && rank < this.size)) return undefined;
    this.seekRank(rank);
    return [this.leaf.members[this.idx], this.leaf.scores[this.idx]];
  }

  /**
   * Elements with ranks start..stop inclusive (ZRANGE by index, already normalised: negatives resolved).
   * With `reverse`, ranks count from the highest and the result is highest first. Out-of-range parts are
   * clipped; start > stop gives [].
   */
  byRank(start: number, stop: number, reverse = false): Array<[string, number]> {
    const n = this.size;
    if (start < 0) start = 0;
    if (stop >= n) stop = n - 1;
    if (start > stop) return [];
    const count = stop - start + 1;
    return reverse ? this.collect(n - 1 - start, count, true) : this.collect(start, count, false);
  }

  /**
   * Yields [member, score] from rank `from` (counted from the highest if `reverse`) to the end, in walk
   * order. The set must not be modified while the generator is live.
   */
  *iterate(from = 0, reverse = false): Generator<[string, number], void, undefined> {
    const n = this.size;
    if (from < 0) from = 0;
    if (from >= n) return;
    this.seekRank(reverse ? n - 1 - from : from);
    let leaf: Leaf | null = this.leaf;
    let i = this.idx;
    if (!reverse) {
      while (leaf) {
        for (; i < leaf.members.length; i++) yield [leaf.members[i], leaf.scores[i]];
        leaf = leaf.next;
        i = 0;
      }
    } else {
      while (leaf) {
        for (; i >= 0; i--) yield [leaf.members[i], leaf.scores[i]];
        leaf = leaf.prev;
        if (leaf) i = leaf.members.length - 1;
      }
    }
  }

  /** All elements in ascending order (same contract as `iterate()`). */
  [Symbol.iterator](): Generator<[string, number], void, undefined> {
    return this.iterate(0, false);
  }

  /** Elements with min ≤ score ≤ max (per the bounds' exclusivity), after LIMIT `offset`/`count`. */
  rangeByScore(min: ScoreBound, max: ScoreBound, opts: RangeOptions = {}): Array<[string, number]> {
    const [a, b] = this.scoreSpan(min, max);
    return this.limited(a, b, opts);
  }

  /** Number of elements with min ≤ score ≤ max (ZCOUNT). */
  countByScore(min: ScoreBound, max: ScoreBound): number {
    const [a, b] = this.scoreSpan(min, max);
    return Math.max(0, b - a);
  }

  /**
   * Elements whose member lies between the lex bounds (ZRANGEBYLEX), after LIMIT. Meaningful when all
   * scores are equal, as in Redis; otherwise the result is some contiguous run of the order.
   */
  rangeByLex(min: LexBound, max: LexBound, opts: RangeOptions = {}): Array<[string, number]> {
    const [a, b] = this.lexSpan(min, max);
    return this.limited(a, b, opts);
  }

  /** Number of elements between the lex bounds (ZLEXCOUNT). */
  countByLex(min: LexBound, max: LexBound): number {
    const [a, b] = this.lexSpan(min, max);
    return Math.max(0, b - a);
  }

  /** Removes the elements in the score range; returns their members in ascending order. */
  removeRangeByScore(min: ScoreBound, max: ScoreBound): string[] {
    const [a, b] = this.scoreSpan(min, max);
    return this.removeSpan(a, b, null);
  }

  /** Removes the elements in the lex range; returns their members in ascending order. */
  removeRangeByLex(min: LexBound, max: LexBound): string[] {
    const [a, b] = this.lexSpan(min, max);
    return this.removeSpan(a, b, null);
  }

  /** Removes ranks start..stop inclusive (normalised, clipped like byRank); returns members ascending. */
  removeRangeByRank(start: number, stop: number): string[] {
    if (start < 0) start = 0;
    if (stop >= this.size) stop = this.size - 1;
    return this.removeSpan(start, stop + 1, null);
  }

  /** Removes and returns up to `count` lowest elements, lowest first. count ≤ 0 gives []. */
  popMin(count = 1): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    this.removeSpan(0, Math.min(Math.max(count, 0), this.size), out);
    return out;
  }

  /** Removes and returns up to `count` highest elements, highest first. count ≤ 0 gives []. */
  popMax(count = 1): Array<[string, number]> {
    const n = this.size;
    const out: Array<[string, number]> = [];
    this.removeSpan(n - Math.min(Math.max(count, 0), n), n, out);
    return out.reverse();
  }

  /** Deep copy (COPY, the ZSetLike contract): an independent set with the same members, scores and fanout. */
  clone(): SortedSet {
    const copy = new SortedSet(this.max);
    for (const [member, score] of this) copy.add(member, score);
    return copy;
  }

  // ---- ranges --------------------------------------------------------------------------------------------

  /** [first rank in range, first rank past it). */
  private scoreSpan(min: ScoreBound, max: ScoreBound): [number, number] {
    return [this.seek(minBoundPred(min)), this.seek(pastMaxPred(max))];
  }

  private lexSpan(min: LexBound, max: LexBound): [number, number] {
    const n = this.size;
    let a: number;
    if (min === '-') a = 0;
    else if (min === '+') a = n;
    else {
      const v = min.value;
      a = this.seek(min.exclusive ? (_s, m) => m > v : (_s, m) => m >= v);
    }
    let b: number;
    if (max === '-') b = 0;
    else if (max === '+') b = n;
    else {
      const v = max.value;
      b = this.seek(max.exclusive ? (_s, m) => m >= v : (_s, m) => m > v);
    }
    return [a, b];
  }

  /** Applies LIMIT and direction to ranks [a, b). */
  private limited(a: number, b: number, opts: RangeOptions): Array<[string, number]> {
    const offset = opts.offset ?? 0;
    const avail = b - a - offset;
    if (offset < 0 || avail <= 0) return [];
    const count = opts.count ?? -1;
    const take = count < 0 ? avail : Math.min(count, avail);
    if (take <= 0) return [];
    return opts.reverse ? this.collect(b - 1 - offset, take, true) : this.collect(a + offset, take, false);
  }

  /** `count` elements walking from ascending rank `rank` (which must exist) up, or down if `reverse`. */
  private collect(rank: number, count: number, reverse: boolean): Array<[string, number]> {
    const out: Array<[string, number]> = new Array(count);
    this.seekRank(rank);
    let leaf: Leaf | null = this.leaf;
    let i = this.idx;
    let k = 0;
    if (!reverse) {
      while (leaf && k < count) {
        const { members, scores } = leaf;
        for (; i < members.length && k < count; i++) out[k++] = [members[i], scores[i]];
        leaf = leaf.next;
        i = 0;
      }
    } else {
      while (leaf && k < count) {
        const { members, scores } = leaf;
        for (; i >= 0 && k < count; i--) out[k++] = [members[i], scores[i]];
        leaf = leaf.prev;
        if (leaf) i = leaf.members.length - 1;
      }
    }
    out.length = k;
    return out;
  }

  /**
   * Removes ranks [a, b) leaf by leaf (O(log n) per leaf touched), deleting them from `scores`. Returns the
   * removed members ascending; if `pairs` is given, also appends [member, score] pairs to it.
   */
  private removeSpan(a: number, b: number, pairs: Array<[string, number]> | null): string[] {
    const removed: string[] = [];
    let left = b - a;
    while (left > 0) {
      this.seekRank(a);
      const leaf = this.leaf;
      const i = this.idx;
      const k = Math.min(left, leaf.members.length - i);
      for (let j = i; j < i + k; j++) {
        const m = leaf.members[j];
        removed.push(m);
        if (pairs) pairs.push([m, leaf.scores[j]]);
        this.scores.delete(m);
      }
      this.removeHere(k);
      left -= k;
    }
    return removed;
  }

  // ---- tree descent --------------------------------------------------------------------------------------

  /**
   * Descends to the first element for which `pred` holds (pred must be monotone over the order). Records the
   * path, leaves this.leaf/this.idx at that element's slot (idx may equal the leaf's length: the element is
   * then the first of the next leaf, or there is none), and returns its rank (size if none).
   */
  private seek(pred: Pred): number {
    let node = this.root;
    let rank = 0;
    let d = 0;
    while (node instanceof Branch) {
      const { sepScores, sepMembers, counts } = node;
      // Child to enter: the last whose separator fails pred (the answer is in it or starts the next one).
      let lo = 1;
      let hi = node.children.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pred(sepScores[mid], sepMembers[mid])) hi = mid;
        else lo = mid + 1;
      }
      const c = lo - 1;
      for (let i = 0; i < c; i++) rank += counts[i];
      this.pathNodes[d] = node;
      this.pathIdx[d] = c;
      d++;
      node = node.children[c];
    }
    const { members, scores } = node;
    let lo = 0;
    let hi = members.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pred(scores[mid], members[mid])) hi = mid;
      else lo = mid + 1;
    }
    this.depth = d;
    this.leaf = node;
    this.idx = lo;
    return rank + lo;
  }

  /** Descends to the existing element (score, member): this.leaf/this.idx point at it. */
  private seekKey(score: number, member: string): void {
    this.seek((s, m) => less(score, member, s, m));
    this.idx--;
  }

  /** Descends to the element of ascending rank `rank` (0 ≤ rank < size). */
  private seekRank(rank: number): void {
    let node = this.root;
    let d = 0;
    while (node instanceof Branch) {
      const { counts } = node;
      let c = 0;
      while (rank >= counts[c]) rank -= counts[c++];
      this.pathNodes[d] = node;
      this.pathIdx[d] = c;
      d++;
      node = node.children[c];
    }
    this.depth = d;
    this.leaf = node;
    this.idx = rank;
  }

  // ---- tree mutation (at the position of the last descent) ------------------------------------------------

  private insertHere(score: number, member: string): void {
    const leaf = this.leaf;
    leaf.members.splice(this.idx, 0, member);
    leaf.scores.splice(this.idx, 0, score);
    for (let d = 0; d < this.depth; d++) this.pathNodes[d].counts[this.pathIdx[d]]++;
    if (leaf.members.length > this.max) {
      this.split(leaf, this.depth, leaf.next === null && this.idx === leaf.members.length - 1);
    }
  }

  /**
   * Splits an overfull node at `depth` (on the recorded path), propagating upwards. `append` means the new
   * element went to the very end of the set: the node is then split off one slot only, so ascending inserts
   * (time-like scores) leave full nodes behind instead of half-full ones. Only the rightmost node of a level
   * can be left below half full this way.
   */
  private split(node: Node, depth: number, append: boolean): void {
    let right: Node;
    let sepScore: number;
    let sepMember: string;
    let rightCount: number;
    if (node instanceof Leaf) {
      const len = node.members.length;
      const half = append ? len - 1 : len >> 1;
      const r = new Leaf();
      r.members = node.members.splice(half);
      r.scores = node.scores.splice(half);
      r.prev = node;
      r.next = node.next;
      if (node.next) node.next.prev = r;
      node.next = r;
      right = r;
      sepScore = r.scores[0];
      sepMember = r.members[0];
      rightCount = r.members.length;
    } else {
      const len = node.children.length;
      const half = append ? len - 1 : len >> 1;
      const r = new Branch();
      r.children = node.children.splice(half);
      r.counts = node.counts.splice(half);
      r.sepScores = node.sepScores.splice(half);
      r.sepMembers = node.sepMembers.splice(half);
      right = r;
      sepScore = r.sepScores[0];
      sepMember = r.sepMembers[0];
      rightCount = total(r);
    }
    if (depth === 0) {
      const root = new Branch();
      root.children = [node, right];
      root.counts = [node instanceof Leaf ? node.members.length : total(node), rightCount];
      root.sepScores = [-Infinity, sepScore];
      root.sepMembers = ['', sepMember];
      this.root = root;
      return;
    }
    const parent = this.pathNodes[depth - 1];
    const c = this.pathIdx[depth - 1];
    parent.counts[c] -= rightCount;
    parent.children.splice(c + 1, 0, right);
    parent.counts.splice(c + 1, 0, rightCount);
    parent.sepScores.splice(c + 1, 0, sepScore);
    parent.sepMembers.splice(c + 1, 0, sepMember);
    if (parent.children.length > this.max) {
      this.split(parent, depth - 1, append && c + 1 === parent.children.length - 1);
    }
  }

  /** Removes k elements of the current leaf starting at this.idx (not from `scores`), then rebalances. */
  private removeHere(k: number): void {
    const leaf = this.leaf;
    leaf.members.splice(this.idx, k);
    leaf.scores.splice(this.idx, k);
    for (let d = 0; d < this.depth; d++) this.pathNodes[d].counts[this.pathIdx[d]] -= k;
    let node: Node = leaf;
    for (let d = this.depth; d > 0; d--) {
      if (sizeOf(node) >= this.max >> 1) return;
      const parent = this.pathNodes[d - 1];
      this.rebalance(parent, this.pathIdx[d - 1]);
      node = parent;
    }
    // At the root: a branch left with one child hands the root to it.
    while (this.root instanceof Branch && this.root.children.length === 1) this.root = this.root.children[0];
  }

  /** Fixes the underfull child `c` of `parent` by merging with, or borrowing from, a sibling. */
  private rebalance(parent: Branch, c: number): void {
    // An append split can leave the rightmost branch with a single child: it has no sibling to use, and the
    // parent itself is rebalanced one level up.
    if (parent.children.length < 2) return;
    const li = c > 0 ? c - 1 : 0;
    const left = parent.children[li];
    const right = parent.children[li + 1];
    if (left instanceof Leaf) {
      const r = right as Leaf;
      const n = left.members.length + r.members.length;
      if (n <= this.max) {
        for (let i = 0; i < r.members.length; i++) {
          left.members.push(r.members[i]);
          left.scores.push(r.scores[i]);
        }
        left.next = r.next;
        if (r.next) r.next.prev = left;
        this.dropChild(parent, li);
        return;
      }
      const want = n >> 1;
      if (left.members.length > want) {
        const mm = left.members.splice(want);
        const ss = left.scores.splice(want);
        r.members = mm.concat(r.members);
        r.scores = ss.concat(r.scores);
      } else {
        const k = want - left.members.length;
        for (let i = 0; i < k; i++) {
          left.members.push(r.members[i]);
          left.scores.push(r.scores[i]);
        }
        r.members.splice(0, k);
        r.scores.splice(0, k);
      }
      parent.counts[li] = left.members.length;
      parent.counts[li + 1] = r.members.length;
      parent.sepScores[li + 1] = r.scores[0];
      parent.sepMembers[li + 1] = r.members[0];
      return;
    }
    const r = right as Branch;
    // The parent's separator bounds r's first child from below; make it r's own index-0 separator.
    r.sepScores[0] = parent.sepScores[li + 1];
    r.sepMembers[0] = parent.sepMembers[li + 1];
    const n = left.children.length + r.children.length;
    if (n <= this.max) {
      left.children.push(...r.children);
      left.counts.push(...r.counts);
      left.sepScores.push(...r.sepScores);
      left.sepMembers.push(...r.sepMembers);
      this.dropChild(parent, li);
      return;
    }
    const want = n >> 1;
    if (left.children.length > want) {
      r.children = left.children.splice(want).concat(r.children);
      r.counts = left.counts.splice(want).concat(r.counts);
      r.sepScores = left.sepScores.splice(want).concat(r.sepScores);
      r.sepMembers = left.sepMembers.splice(want).concat(r.sepMembers);
    } else {
      const k = want - left.children.length;
      left.children.push(...r.children.splice(0, k));
      left.counts.push(...r.counts.splice(0, k));
      left.sepScores.push(...r.sepScores.splice(0, k));
      left.sepMembers.push(...r.sepMembers.splice(0, k));
    }
    const lc = total(left);
    parent.counts[li + 1] += parent.counts[li] - lc;
    parent.counts[li] = lc;
    parent.sepScores[li + 1] = r.sepScores[0];
    parent.sepMembers[li + 1] = r.sepMembers[0];
  }

  /** Removes parent's child li+1 after its contents were moved into child li. */
  private dropChild(parent: Branch, li: number): void {
    parent.counts[li] += parent.counts[li + 1];
    parent.children.splice(li + 1, 1);
    parent.counts.splice(li + 1, 1);
    parent.sepScores.splice(li + 1, 1);
    parent.sepMembers.splice(li + 1, 1);
  }
}

/**
 * Parses a ZRANGEBYSCORE/ZCOUNT bound the way Redis 8 does (its fast_float strtod): an optional `(` makes
 * it exclusive; the rest is a decimal number with optional sign and exponent, or inf/infinity (any case,
 * optional sign), parsing stopping at a NUL byte. No whitespace, no hex. An empty rest is 0, as in Redis.
 * Returns null for anything else or NaN (callers reply 'ERR min or max is not a float').
 */
export function parseScoreBound(s: string): ScoreBound | null {
  const nul = s.indexOf('\0');
  if (nul >= 0) s = s.slice(0, nul);
  const exclusive = s.charCodeAt(0) === 0x28; /* ( */
  const text = exclusive ? s.slice(1) : s;
  if (text === '') return { value: 0, exclusive };
  if (DECIMAL.test(text)) return { value: Number(text), exclusive };
  // fast_float's inf path: an optional '-', then an optional '+'.
  if (INFINITY.test(text)) return { value: text.charCodeAt(0) === 0x2d ? -Infinity : Infinity, exclusive };
  return null;
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY = /^-?\+?(?:inf|infinity)$/i;

/**
 * Parses a ZRANGEBYLEX/ZLEXCOUNT bound: exactly `-` or `+`, or `(` / `[` followed by the member (possibly
 * empty). Returns null otherwise (callers reply 'ERR min or max not valid string range item').
 */
export function parseLexBound(s: string): LexBound | null {
  if (s === '-' || s === '+') return s;
  const c = s.charCodeAt(0);
  if (c === 0x28 /* ( */) return { value: s.slice(1), exclusive: true };
  if (c === 0x5b /* [ */) return { value: s.slice(1), exclusive: false };
  return null;
}
