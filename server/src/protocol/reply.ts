/**
 * Typed replies. Handlers return these; only encoders (RESP2/RESP3 in resp.ts, JSON frames and HTTP bodies
 * in later front doors) turn them into bytes.
 *
 * Plain JS values cover the hot paths without allocation:
 *   string          → bulk string. Strings are *binary strings*: every char code is one byte (0–255),
 *                     i.e. Buffer#toString('latin1'). Keys and values are stored the same way.
 *   number | bigint → integer reply (number must be an integer; bigint for values beyond 2^53).
 *   null            → null bulk string (RESP2 `$-1`, RESP3 `_`).
 *   Reply[]         → array.
 * Everything else is one of the classes below.
 */
export type Reply =
  | string
  | number
  | bigint
  | null
  | Reply[]
  | SimpleString
  | ErrorReply
  | DoubleReply
  | MapReply
  | SetReply
  | PushReply
  | BooleanReply
  | VerbatimReply
  | NullArray
  | MultiReply;

/** Status reply (`+OK`). Text must not contain CR or LF. */
export class SimpleString {
  constructor(readonly value: string) {}
}

/**
 * Error reply. `message` starts with the Redis error code (`ERR`, `WRONGTYPE`, `NOPERM`, `EXECABORT`, …)
 * followed by a space; `code` returns that prefix. Message must not contain CR or LF.
 */
export class ErrorReply {
  constructor(readonly message: string) {}
  get code(): string {
    const i = this.message.indexOf(' ');
    return i < 0 ? this.message : this.message.slice(0, i);
  }
}

/** Double: RESP3 `,`; RESP2 bulk string formatted as Redis does (`inf`, `-inf`, shortest round-trip). */
export class DoubleReply {
  constructor(readonly value: number) {}
}

/** Map: RESP3 `%`; RESP2 flat array k1 v1 k2 v2. */
export class MapReply {
  constructor(readonly entries: [Reply, Reply][]) {}
}

/** Set: RESP3 `~`; RESP2 array. */
export class SetReply {
  constructor(readonly items: Reply[]) {}
}

/** Out-of-band push (pub/sub messages, invalidations): RESP3 `>`; RESP2 array. */
export class PushReply {
  /**
   * `offset`: the event's offset in the stream (events/event-log.ts), 0 for pushes that are not stream
   * events. RESP leaves it out; the WebSocket and SSE carry it. `encoded` caches a front door's encoding of
   * this push, so an event fanned out to many subscribers is serialized once per encoding.
   */
  constructor(
    readonly items: Reply[],
    readonly offset = 0,
  ) {}
  encoded: Map<string, Buffer> | null = null;
}

/** Boolean: RESP3 `#t`/`#f`; RESP2 integer 1/0. */
export class BooleanReply {
  constructor(readonly value: boolean) {}
}

/** Verbatim string (INFO, CLIENT INFO): RESP3 `=len\r\ntxt:…`; RESP2 bulk string. */
export class VerbatimReply {
  constructor(
    readonly text: string,
    readonly format = 'txt',
  ) {}
}

/** Null array: RESP2 `*-1` (BLPOP timeout, EXEC aborted by WATCH); RESP3 `_`. */
export class NullArray {
  static readonly instance = new NullArray();
  private constructor() {}
}

/**
 * Several top-level replies produced by one command, written in order: SUBSCRIBE and friends answer one
 * confirmation per channel (RESP2 arrays, RESP3 pushes). Only valid as a handler's top-level return value.
 */
export class MultiReply {
  constructor(readonly replies: Reply[]) {}
}

export const OK = new SimpleString('OK');
export const QUEUED = new SimpleString('QUEUED');
export const PONG = new SimpleString('PONG');
export const NULL_ARRAY = NullArray.instance;

/** Thrown by handlers and argument parsers; the dispatcher turns it into an ErrorReply. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
  }
}

/** Redis's shared error strings, verbatim. */
export const Err = {
  syntax: 'ERR syntax error',
  wrongType: 'WRONGTYPE Operation against a key holding the wrong kind of value',
  notInteger: 'ERR value is not an integer or out of range',
  notFloat: 'ERR value is not a valid float',
  noSuchKey: 'ERR no such key',
  outOfRange: 'ERR index out of range',
  overflow: 'ERR increment or decrement would overflow',
  dbIndex: 'ERR DB index is out of range',
  minMaxFloat: 'ERR min or max is not a float',
  minMaxLex: 'ERR min or max not valid string range item',
  timeoutNotFloat: 'ERR timeout is not a float or out of range',
  timeoutNegative: 'ERR timeout is negative',
  execAbort: 'EXECABORT Transaction discarded because of previous errors.',
  notNumber: 'ERR value is out of range, must be positive',
  nanOrInf: 'ERR increment would produce NaN or Infinity',
  hashNotInteger: 'ERR hash value is not an integer',
  hashNotFloat: 'ERR hash value is not a float',
  stringTooLong: 'ERR string exceeds maximum allowed size (proto-max-bulk-len)',
} as const;

export function wrongArity(fullName: string): string {
  return `ERR wrong number of arguments for '${fullName.toLowerCase()}' command`;
}

const PIPELINED = Symbol('kvws.pipelined');

/**
 * Marks a Promise reply whose command is already under way in order (sent to the Redis engine on the
 * connection that serves it): a front door may run the client's next commands before it settles, as long
 * as it writes the replies in command order. Unmarked Promises (blocking commands, AUTH) hold the
 * connection's later commands until they settle.
 */
export function pipelined(p: Promise<Reply>): Promise<Reply> {
  (p as Promise<Reply> & { [PIPELINED]?: true })[PIPELINED] = true;
  return p;
}

/** Whether `p` was marked with `pipelined`. */
export function isPipelined(p: Promise<Reply>): boolean {
  return (p as Promise<Reply> & { [PIPELINED]?: true })[PIPELINED] === true;
}
