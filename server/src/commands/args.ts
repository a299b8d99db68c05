import { CommandError, Err } from '../protocol/reply.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Redis's string2ll shape: optional '-', no '+', no leading zeros, no spaces, at most 20 chars. */
const INT_RE = /^(?:0|-?[1-9][0-9]{0,19})$/;

/**
 * Parses a Redis integer argument (64-bit signed) and returns it as a number (exact up to 2^53).
 * Throws CommandError(err) for anything Redis's string2ll would reject.
 */
export function toInt(s: string, err: string = Err.notInteger): number {
  if (s.length < 16) {
    if (!INT_RE.test(s)) throw new CommandError(err);
    return Number(s);
  }
  return Number(toBigInt(s, err));
}

/** Parses a 64-bit signed integer exactly. Throws CommandError(err) when malformed or out of range. */
export function toBigInt(s: string, err: string = Err.notInteger): bigint {
  if (!INT_RE.test(s)) throw new CommandError(err);
  const n = BigInt(s);
  if (n > INT64_MAX || n < INT64_MIN) throw new CommandError(err);
  return n;
}

/** Like toInt but additionally requires min <= n <= max; `rangeErr` for out-of-range values. */
export function toIntInRange(
  s: string,
  min: number,
  max: number,
  err: string = Err.notInteger,
  rangeErr: string = err,
): number {
  const n = toInt(s, err);
  if (n < min || n > max) throw new CommandError(rangeErr);
  return n;
}

/** Parses an integer ≥ 0 (Redis's getPositiveLongFromObjectOrReply): `err` when malformed or negative. */
export function toPositive(s: string, err: string = Err.notNumber): number {
  const n = toInt(s, err);
  if (n < 0) throw new CommandError(err);
  return n;
}

/** Parses an integer ≥ 1 (Redis's getRangeLongFromObjectOrReply(1, LONG_MAX, msg)): `err` otherwise. */
export function toAtLeastOne(s: string, err: string): number {
  const n = toInt(s, err);
  if (n < 1) throw new CommandError(err);
  return n;
}

/** Returns true if `s` is an integer Redis would accept, and its value; used to classify string values. */
export function parseIntStrict(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 20 || !INT_RE.test(s)) return undefined;
  const n = BigInt(s);
  if (n > INT64_MAX || n < INT64_MIN) return undefined;
  return n;
}

export { INT64_MAX, INT64_MIN };

const FLOAT_RE = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$/;
const INF_RE = /^([+-]?)inf(?:inity)?$/i;

/**
 * Parses a Redis double argument (strtod semantics: decimal, exponent, `inf`, `+inf`, `-inf`,
 * `infinity`; no surrounding spaces; NaN rejected). Throws CommandError(err) otherwise.
 */
export function toFloat(s: string, err: string = Err.notFloat): number {
  if (FLOAT_RE.test(s)) return Number(s);
  const m = INF_RE.exec(s);
  if (m) return m[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  throw new CommandError(err);
}

/**
 * Parses a blocking timeout as Redis's getTimeoutFromObjectOrReply does: seconds as a double, rounded up to
 * whole milliseconds. Returns milliseconds; 0 means block forever. Throws Redis's timeout errors.
 */
export function parseTimeout(s: string): number {
  const ms = Math.ceil(toFloat(s, Err.timeoutNotFloat) * 1000);
  if (ms > Number(INT64_MAX)) throw new CommandError('ERR timeout is out of range');
  if (ms < 0) throw new CommandError(Err.timeoutNegative);
  if (ms > 0 && ms > Number(INT64_MAX) - Date.now()) throw new CommandError('ERR timeout is out of range');
  return ms === 0 ? 0 : ms; // -0 (from e.g. -0.0001) is "forever", as in Redis
}

/**
 * Formats a double the way Redis 7.2 prints it in replies (ZSCORE in RESP2, …): `inf` / `-inf` / `nan`,
 * integers without a decimal point, otherwise the shortest round-trip digits laid out as Redis's fpconv
 * does (plain decimal for moderate exponents, else `d.ddde±x` with no zero-padded exponent).
 * Redis's digit generator picks a longer digit string for a small fraction of doubles; this keeps JS's
 * shortest round-trip digits, which parse back to the same double.
 */
export function formatDouble(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Number.POSITIVE_INFINITY) return 'inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  if (Number.isInteger(n) && Math.abs(n) <= 2 ** 62) return BigInt(n).toString();
  const t = Math.abs(n).toExponential();
  const ePos = t.indexOf('e');
  const digits = t.slice(0, ePos).replace('.', '');
  const x = Number(t.slice(ePos + 1));
  const nd = digits.length;
  const k = x - (nd - 1);
  const ax = Math.abs(x);
  let s: string;
  if (k >= 0 && ax < nd + 7) s = digits + '0'.repeat(k);
  else if (k < 0 && (k > -7 || ax < 4)) {
    const offset = nd + k;
    s = offset <= 0 ? `0.${'0'.repeat(-offset)}${digits}` : `${digits.slice(0, offset)}.${digits.slice(offset)}`;
  } else s = `${digits[0]}${nd > 1 ? `.${digits.slice(1)}` : ''}e${x < 0 ? '-' : '+'}${ax}`;
  return n < 0 ? `-${s}` : s;
}

/** Upper-cases an option keyword for comparison (ASCII only; arguments are binary strings). */
export function kw(s: string): string {
  return s.length <= 12 ? s.toUpperCase() : '';
}

/** Converts a UTF-8 JS string to the engine's binary-string form. */
export function fromUtf8(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** Converts an engine binary string to UTF-8 text (invalid sequences become U+FFFD). */
export function toUtf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}
