import type { Arg, Value } from './types.js';

/**
 * One command: its argv and how to turn the reply's JSON value into the method's return type. Command
 * builders (commands/*.ts) make these; the client runs them, a pipeline queues them.
 */
export interface Command<T> {
  readonly argv: Arg[];
  readonly decode: (v: Value) => T;
}

/** The identity decoder, typed: the reply's JSON value as the caller expects it. */
const asIs = <T>(v: Value): T => v as T;

/** Builds a Command; without `decode`, the reply's JSON value is returned as it came. */
export function command<T = Value>(argv: Arg[], decode: (v: Value) => T = asIs): Command<T> {
  return { argv, decode };
}

/**
 * Blocking commands and where their timeout (seconds) is: -1 = the last argument, else the argv index; 0 =
 * a `BLOCK milliseconds` option before STREAMS (XREAD, XREADGROUP block only with it).
 * test/client/commands.test.ts checks the names against the table's `blocking` flag.
 */
export const BLOCKING: Readonly<Record<string, number>> = {
  BLPOP: -1,
  BRPOP: -1,
  BRPOPLPUSH: -1,
  BLMOVE: -1,
  BZPOPMIN: -1,
  BZPOPMAX: -1,
  BLMPOP: 1,
  BZMPOP: 1,
  XREAD: 0,
  XREADGROUP: 0,
};

/**
 * For a blocking command, how long the server may hold it (ms; 0 = forever), so the client's call timeout
 * can wait that long on top; null for other commands.
 */
export function blockingMs(argv: readonly Arg[]): number | null {
  const at = BLOCKING[String(argv[0]).toUpperCase()];
  if (at === undefined) return null;
  if (at === 0) {
    for (let i = 1; i + 1 < argv.length; i++) {
      const o = String(argv[i]).toUpperCase();
      if (o === 'STREAMS') break;
      if (o === 'BLOCK') {
        const ms = Number(argv[i + 1]);
        return Number.isFinite(ms) && ms > 0 ? ms : 0;
      }
      if (o === 'GROUP') i += 2;
      else if (o === 'COUNT') i++;
    }
    return null;
  }
  const t = Number(argv[at < 0 ? argv.length - 1 : at]);
  return Number.isFinite(t) && t > 0 ? t * 1000 : 0;
}

// Decoders shared by the builders. Each accepts both shapes the server may use (the WebSocket answers in
// RESP3 shapes, the HTTP API in RESP2 shapes, like Upstash).

/** A number from a number, or from its decimal text (RESP2 doubles, "inf", big integers as text). */
export function toNumber(v: Value): number {
  if (typeof v === 'number') return v;
  if (v === 'inf' || v === '+inf') return Number.POSITIVE_INFINITY;
  if (v === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(v);
}

export function toNumberOrNull(v: Value): number | null {
  return v === null ? null : toNumber(v);
}

/** `OK`-style and boolean-ish replies: 1/true → true. */
export function toBoolean(v: Value): boolean {
  return v === 1 || v === true || v === '1';
}

/** A map: a JSON object (RESP3) or a flat array `[k1, v1, k2, v2]` (RESP2). */
export function toRecord<V = string>(v: Value, value: (x: Value) => V = (x) => x as V): Record<string, V> {
  // A null-prototype object: a field named `__proto__` is data like any other.
  const out = Object.create(null) as Record<string, V>;
  if (Array.isArray(v)) {
    for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = value(v[i + 1]);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out[k] = value(x as Value);
  }
  return out;
}

/** Member/score pairs: `[[m, s], …]` (RESP3) or `[m, s, m, s]` (RESP2). */
export function toScoredMembers(v: Value): { member: string; score: number }[] {
  const out: { member: string; score: number }[] = [];
  if (!Array.isArray(v)) return out;
  if (v.length > 0 && Array.isArray(v[0])) {
    for (const p of v as Value[][]) out.push({ member: String(p[0]), score: toNumber(p[1]) });
  } else {
    for (let i = 0; i + 1 < v.length; i += 2) out.push({ member: String(v[i]), score: toNumber(v[i + 1]) });
  }
  return out;
}

export function toStrings(v: Value): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

export function toNullableStrings(v: Value): (string | null)[] {
  return Array.isArray(v) ? (v as (string | null)[]) : [];
}
