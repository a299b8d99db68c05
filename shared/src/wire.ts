/**
 * The kvws wire protocol's constants and types, without zod: what the client imports (it must stay small
 * and run in browsers and edge runtimes). The validating schemas live in protocol.ts, which re-exports this.
 * Specified in docs/protocol.md.
 */

export const SUBPROTOCOL = 'kvws.v1';

/** How bulk strings travel: `utf8` text (default) or `base64` (binary-safe). See protocol.ts. */
export type Encoding = 'utf8' | 'base64';

/** Request ids are chosen by the client and echoed in the reply; any JSON number or string (≤ 256 chars). */
export type Id = number | string;

/** The result of an `auth` request. */
export interface AuthResult {
  user: string;
  /** Unix ms when the token expires (the session then loses its rights), or null. */
  expiresAt: number | null;
}

/**
 * A reply value: RESP3 mapped to JSON. Bulk/simple/verbatim strings → string (base64 when asked);
 * integers → number, or a decimal string beyond ±2^53; doubles → number, or "inf" / "-inf" / "nan";
 * null → null; arrays, sets and pushes → arrays; maps → objects; booleans → booleans; an error inside an
 * array (EXEC, pipelines) → `{"error": "…"}`.
 */
export type Value = string | number | boolean | null | Value[] | { [k: string]: Value } | { error: string };

/** `{"result": …}` or `{"error": "…"}`: the envelope shared with the HTTP API. */
export type Envelope = { result: Value } | { error: string };

/** The reply to a request. `id` is null only for a frame whose id could not be read. */
export type ReplyFrame = { id: Id | null } & Envelope;

/**
 * A subscriber's place in the server's event stream, in the reply to SUBSCRIBE/PSUBSCRIBE: `offset` of the
 * newest event so far in stream `epoch`; after a resume (`since`), whether every missed event follows.
 */
export interface StreamPosition {
  epoch: string;
  offset: number;
  recovered?: boolean;
}

/**
 * Messages pushed without a request: pub/sub deliveries (keyspace events included), each with its `offset`
 * in the event stream (absent when the server's event log is off).
 */
export type PushFrame =
  | { push: 'message'; channel: string; data: string; offset?: number }
  | { push: 'pmessage'; pattern: string; channel: string; data: string; offset?: number }
  /**
   * The stream position: with `recovered: false`, a resume could not be completed (the log lost events the
   * client still needed: refetch state); without it, a heartbeat (each ping interval, when the stream moved
   * on and nothing was delivered): this connection's subscriptions have every event up to `offset`.
   */
  | { push: 'stream'; recovered?: false; epoch: string; offset: number }
  /** The session's token expired: its rights and subscriptions are gone; the server then closes with 4401. */
  | { push: 'auth'; event: 'expired' }
  /** After MONITOR: one line per command run by any client, in Redis's MONITOR format. */
  | { push: 'monitor'; data: string }
  /** New entries of a tailed stream (see TailRequest), in ID order, each delivered once. */
  | { push: 'entries'; key: string; entries: TailEntry[] }
  /**
   * A tail's stream was deleted (DEL, expiry, eviction, RENAME away, FLUSHDB…): the tail stays, and delivers
   * the entries of a stream created again at the key whose IDs are above the last one delivered.
   */
  | { push: 'tail'; key: string; event: 'deleted' }
  /** A tail ended: a read was refused (`NOPERM` after an ACL change, `WRONGTYPE`…). Nothing more comes for it. */
  | { push: 'tail'; key: string; event: 'ended'; error: string };

export type ServerFrame = ReplyFrame | PushFrame;

/**
 * A stream entry as a tail delivers it: its ID (`ms-seq`, always plain text) and its fields and values in
 * order, `[field, value, field, value, …]` (in the request's encoding), as XRANGE answers.
 */
export type TailEntry = [id: string, fields: string[]];

/**
 * `{"id": 1, "tail": {"key": "feed", "from": "$", "count": 100}}`: follow a stream (docs/protocol.md#tailing-a-stream).
 * `from`: `$` (default: entries added from now on), `0` (the whole stream) or an entry ID (the entries after
 * it: pass the last ID received to resume). `count`: most entries per `entries` push (TAIL_MAX_COUNT).
 */
export interface TailRequest {
  key: string;
  from?: string;
  count?: number;
}

/** The result of a `tail` request: entries with IDs above `after` follow (for `$`, the stream's last ID then). */
export interface TailResult {
  after: string;
}

/** Entries per `entries` push when a tail request names no `count`, and the most it may name. */
export const TAIL_DEFAULT_COUNT = 100;
export const TAIL_MAX_COUNT = 10_000;

/**
 * WebSocket close codes kvws uses (docs/protocol.md). 1000–1015 are the standard ones; 4000–4999 are ours.
 * Handshakes refused before the connection opens get an HTTP status instead: 400 (no `kvws.v1`
 * subprotocol, bad `encoding` query), 403 (Origin not allowed), 404 (path), 503 (max clients).
 */
export const CloseCode = {
  /** Normal closure (QUIT, CLIENT KILL). */
  normal: 1000,
  /** The server is shutting down. */
  shuttingDown: 1001,
  /** Not a valid WebSocket frame (sent by the ws library). */
  protocolError: 1002,
  /** A text frame that is not valid UTF-8 (sent by the ws library). */
  invalidUtf8: 1007,
  /** Refused by policy: an unauthenticated client from a non-loopback address while in protected mode. */
  policyViolation: 1008,
  /** A frame larger than the max frame size. */
  frameTooLarge: 1009,
  /** Internal error. */
  internalError: 1011,
  /**
   * Authentication: no `auth` frame within the auth timeout, the session's token expired, or its user was
   * deleted or turned off. Reconnect and authenticate again.
   */
  unauthorized: 4401,
  /** The client did not read: its send buffer went over the limit. */
  tooSlow: 4408,
  /** No pong within the keepalive window: dead peer. */
  deadPeer: 4410,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Error frames for malformed input start with these codes (`BADFRAME …`, `BUSY …`), as Redis errors start
 * with theirs (`ERR`, `WRONGTYPE`); the rest of the message names the problem.
 */
export const FrameError = {
  notJson: 'BADFRAME the frame is not valid JSON',
  binary: 'BADFRAME binary frames are not accepted: send JSON text',
  shape: 'BADFRAME',
  tooManyInFlight: 'BUSY too many requests in flight on this connection',
} as const;
