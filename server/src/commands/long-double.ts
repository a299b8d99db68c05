// INCRBYFLOAT and HINCRBYFLOAT arithmetic: Redis computes in C `long double` (x87 80-bit extended on x86-64).

/**
 * A finite x87 extended-precision value: (-1)^neg × m × 2^e with m < 2^64 (m = 0n for zero), or ±infinity.
 * Redis parses INCRBYFLOAT operands with strtold, adds in long double and prints with "%.17Lf", so kvws
 * emulates that format exactly (BigInt arithmetic) to store the same text Redis would.
 */
export type LongDouble = { neg: boolean; m: bigint; e: number } | { neg: boolean; inf: true };

/** +0. */
export const LD_ZERO: LongDouble = { neg: false, m: 0n, e: 0 };

/** Exponent of the least subnormal bit (2^-16445) and the exclusive magnitude bound 2^16384. */
const LD_MIN_EXP = -16445;
const LD_MAX_BITS = 16384;
/** Redis's MAX_LONG_DOUBLE_CHARS: longer inputs are rejected. */
const MAX_LONG_DOUBLE_CHARS = 5 * 1024;
const TEN17 = 10n ** 17n;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Rounds n × 2^e (plus a positive remainder below the last bit when `sticky`) to nearest-even 64 bits. */
function roundLongDouble(neg: boolean, n: bigint, e: number, sticky: boolean): LongDouble {
  const len = bitLength(n);
  const shift = Math.max(len - 64, LD_MIN_EXP - e);
  if (shift > 0) {
    const sb = BigInt(shift);
    const q = n >> sb;
    const r = n - (q << sb);
    const half = 1n << (sb - 1n);
    n = r > half || (r === half && (sticky || (q & 1n) === 1n)) ? q + 1n : q;
    e += shift;
    if (bitLength(n) > 64) {
      n >>= 1n;
      e += 1;
    }
  }
  if (n !== 0n && bitLength(n) + e > LD_MAX_BITS) return { neg, inf: true };
  return { neg, m: n, e };
}

const DEC_RE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/;
const HEX_RE = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?$/;
const INF_NAN_RE = /^([+-]?)(inf|infinity|nan(?:\([0-9A-Za-z_]*\))?)$/i;

/**
 * Parses like Redis's string2ld (strtold, whole string, no leading space): decimal or hex, `inf`,
 * `infinity`. Returns null where Redis rejects: malformed, NaN, overflow to ±HUGE_VAL or underflow to 0.
 */
export function parseLongDouble(s: string): LongDouble | null {
  if (s.length === 0 || s.length >= MAX_LONG_DOUBLE_CHARS) return null;
  const special = INF_NAN_RE.exec(s);
  if (special) return special[2][0].toLowerCase() === 'n' ? null : { neg: special[1] === '-', inf: true };
  let neg: boolean;
  let mant: bigint;
  let exp2 = 0;
  let exp10 = 0;
  const hex = HEX_RE.exec(s);
  if (hex) {
    const int = hex[2];
    const frac = hex[3] ?? '';
    if (int.length + frac.length === 0) return null;
    neg = hex[1] === '-';
    mant = BigInt(`0x${int}${frac}`);
    exp2 = Number(hex[4] ?? '0') - 4 * frac.length;
  } else {
    const dec = DEC_RE.exec(s);
    if (!dec) return null;
    const int = dec[2];
    const frac = dec[3] ?? '';
    if (int.length + frac.length === 0) return null;
    neg = dec[1] === '-';
    mant = BigInt(`${int}${frac}`);
    exp10 = Number(dec[4] ?? '0') - frac.length;
  }
  if (mant === 0n) return { neg, m: 0n, e: 0 };
  let r: LongDouble;
  if (hex) {
    const bits = bitLength(mant);
    if (bits + exp2 > LD_MAX_BITS + 1) return null;
    if (bits + exp2 < LD_MIN_EXP - 1) return null;
    r = roundLongDouble(neg, mant, exp2, false);
  } else {
    // Decimal magnitude: value lies in [10^(mag-1), 10^mag).
    const mag = mant.toString().length + exp10;
    if (mag > 4934) return null;
    if (mag < -4952) return null;
    if (exp10 >= 0) {
      r = roundLongDouble(neg, mant * 10n ** BigInt(exp10), 0, false);
    } else {
      const p = 10n ** BigInt(-exp10);
      const shift = Math.max(0, 68 + bitLength(p) - bitLength(mant));
      const num = mant << BigInt(shift);
      const q = num / p;
      r = roundLongDouble(neg, q, -shift, q * p !== num);
    }
  }
  if ('inf' in r || r.m === 0n) return null; // ERANGE: overflow or underflow to zero
  return r;
}

/** a + b in long double (round to nearest even); x + (-x) is +0, as in C. */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble {
  if ('inf' in a || 'inf' in b) {
    if ('inf' in a && 'inf' in b && a.neg !== b.neg) return { neg: false, inf: true }; // NaN: callers reject both
    return 'inf' in a ? a : b;
  }
  if (a.m === 0n) return b.m === 0n ? { neg: a.neg && b.neg, m: 0n, e: 0 } : b;
  if (b.m === 0n) return a;
  const e = Math.min(a.e, b.e);
  const va = (a.m << BigInt(a.e - e)) * (a.neg ? -1n : 1n);
  const vb = (b.m << BigInt(b.e - e)) * (b.neg ? -1n : 1n);
  const sum = va + vb;
  if (sum === 0n) return { neg: false, m: 0n, e: 0 };
  return roundLongDouble(sum < 0n, sum < 0n ? -sum : sum, e, false);
}

/** Redis's ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros (and a bare '.') removed, "-0" as "0". */
export function formatLongDouble(x: LongDouble): string {
  if ('inf' in x) return x.neg ? '-inf' : 'inf';
  if (x.m === 0n) return '0';
  let scaled: bigint;
  if (x.e >= 0) scaled = (x.m << BigInt(x.e)) * TEN17;
  else {
    const num = x.m * TEN17;
    const sh = BigInt(-x.e);
    const q = num >> sh;
    const r = num - (q << sh);
    const half = 1n << (sh - 1n);
    scaled = r > half || (r === half && (q & 1n) === 1n) ? q + 1n : q;
  }
  if (scaled === 0n) return '0';
  const digits = scaled.toString().padStart(18, '0');
  const frac = digits.slice(-17).replace(/0+$/, '');
  const int = digits.slice(0, -17);
  return `${x.neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}
