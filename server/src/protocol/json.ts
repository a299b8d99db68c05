import type { Encoding, Value } from '@kvws/shared/protocol';
import { formatDouble } from '../commands/args.js';
import {
  BooleanReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  MultiReply,
  NullArray,
  PushReply,
  type Reply,
  SetReply,
  SimpleString,
  VerbatimReply,
} from './reply.js';

/**
 * The JSON encoders: typed replies → JSON values. `toJson` (RESP3 shapes, docs/protocol.md) for the
 * WebSocket gateway; `resp2Json` (RESP2 shapes, as Upstash answers) for the HTTP API. Binary strings become UTF-8 text (invalid sequences → U+FFFD) or base64.
 */
export function toJson(reply: Reply, encoding: Encoding): Value {
  if (typeof reply === 'string') return text(reply, encoding);
  if (typeof reply === 'number') return Number.isSafeInteger(reply) || !Number.isInteger(reply) ? reply : String(reply);
  if (typeof reply === 'bigint') {
    return reply <= BigInt(Number.MAX_SAFE_INTEGER) && reply >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(reply)
      : reply.toString();
  }
  if (reply === null) return null;
  if (Array.isArray(reply)) return reply.map((r) => toJson(r, encoding));
  if (reply instanceof SimpleString) return reply.value;
  if (reply instanceof ErrorReply) return { error: reply.message };
  if (reply instanceof DoubleReply) {
    const v = reply.value;
    if (Number.isFinite(v)) return v;
    return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  }
  if (reply instanceof MapReply) {
    const o: { [k: string]: Value } = {};
    for (const [k, v] of reply.entries) {
      const key = toJson(k, encoding);
      o[typeof key === 'string' ? key : JSON.stringify(key)] = toJson(v, encoding);
    }
    return o;
  }
  if (reply instanceof SetReply) return reply.items.map((r) => toJson(r, encoding));
  if (reply instanceof PushReply) return reply.items.map((r) => toJson(r, encoding));
  if (reply instanceof BooleanReply) return reply.value;
  if (reply instanceof VerbatimReply) return text(reply.text, encoding);
  if (reply instanceof NullArray) return null;
  if (reply instanceof MultiReply) return reply.replies.map((r) => toJson(r, encoding));
  throw new Error('unknown reply type');
}

/** A top-level reply as an envelope: errors become `{error}`, everything else `{result}`. */
export function toEnvelope(reply: Reply, encoding: Encoding): { result: Value } | { error: string } {
  return reply instanceof ErrorReply ? { error: reply.message } : { result: toJson(reply, encoding) };
}

/** Engine binary string → JSON text in the requested encoding. */
export function text(s: string, encoding: Encoding): string {
  if (encoding === 'base64') return Buffer.from(s, 'latin1').toString('base64');
  // Fast path: pure ASCII is the same in latin1 and UTF-8.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the class is the full ASCII range.
  if (/^[\x00-\x7f]*$/.test(s)) return s;
  return Buffer.from(s, 'latin1').toString('utf8');
}

/**
 * A JSON argument → engine binary string. Numbers become their decimal text; strings are UTF-8 text, or
 * base64 when the request's encoding says so. Throws Error('…') for base64 that does not decode.
 */
export function fromJsonArg(a: string | number, encoding: Encoding): string {
  if (typeof a === 'number') return Number.isInteger(a) && !Number.isSafeInteger(a) ? BigInt(a).toString() : String(a);
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(a) || a.length % 4 === 1)
      throw new Error(`argument is not valid base64: ${a.slice(0, 32)}`);
    return Buffer.from(a, 'base64').toString('latin1');
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the class is the full ASCII range.
  if (/^[\x00-\x7f]*$/.test(a)) return a;
  return Buffer.from(a, 'utf8').toString('latin1');
}

const toUtf8Text = (s: string): string => text(s, 'utf8');
/** An engine binary string as base64 (see `text`). */
const toBase64Text = (s: string): string => text(s, 'base64');

/**
 * A reply as JSON in RESP2's shapes, as Upstash's REST API answers: maps are flat `[k1, v1, …]` arrays,
 * sets and pushes arrays, doubles their decimal text (`"1.5"`, `"inf"`), booleans 1 or 0, verbatim strings
 * their text, null bulk strings and arrays null; integers beyond ±2^53 become their decimal text. Strings
 * are UTF-8 text (invalid sequences → U+FFFD) or, with `base64`, their bytes in base64 — every string
 * except the status reply `OK` at the top (`top`), as Upstash does and @upstash/redis expects. A nested
 * error (there is none outside EXEC, whose entries are envelopes) becomes `{error}`.
 */
export function resp2Json(reply: Reply, base64: boolean, top = true): Value {
  const str = base64 ? toBase64Text : toUtf8Text;
  if (typeof reply === 'string') return str(reply);
  if (typeof reply === 'number') {
    return Number.isSafeInteger(reply) || !Number.isInteger(reply) ? reply : str(String(reply));
  }
  if (typeof reply === 'bigint') {
    return reply <= BigInt(Number.MAX_SAFE_INTEGER) && reply >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(reply)
      : str(reply.toString());
  }
  if (reply === null || reply instanceof NullArray) return null;
  if (Array.isArray(reply)) return reply.map((r) => resp2Json(r, base64, false));
  if (reply instanceof SimpleString) return top && reply.value === 'OK' ? 'OK' : str(reply.value);
  if (reply instanceof ErrorReply) return { error: reply.message };
  if (reply instanceof DoubleReply) return str(formatDouble(reply.value));
  if (reply instanceof MapReply) {
    const out: Value[] = [];
    for (const [k, v] of reply.entries) out.push(resp2Json(k, base64, false), resp2Json(v, base64, false));
    return out;
  }
  if (reply instanceof SetReply || reply instanceof PushReply)
    return reply.items.map((r) => resp2Json(r, base64, false));
  if (reply instanceof MultiReply) return reply.replies.map((r) => resp2Json(r, base64, false));
  if (reply instanceof BooleanReply) return reply.value ? 1 : 0;
  if (reply instanceof VerbatimReply) return str(reply.text);
  throw new Error('unknown reply type');
}
