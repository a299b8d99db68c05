import { z } from 'zod';

/**
 * The kvws WebSocket frame protocol, version 1 (subprotocol `kvws.v1`). Every frame is one JSON text
 * message. Specified in docs/protocol.md; these schemas are what the server validates against and what
 * the client builds. Pure data and zod: no node: imports.
 */

export const SUBPROTOCOL = 'kvws.v1';

/**
 * How bulk strings travel: `utf8` text (default; invalid UTF-8 becomes U+FFFD) or `base64` (binary-safe).
 * With `base64`, every string argument but the command name is base64, and so is every bulk string in the
 * reply; simple strings (`OK`), numbers and errors are unchanged.
 */
export const EncodingSchema = z.enum(['utf8', 'base64']);
export type Encoding = z.infer<typeof EncodingSchema>;

/** One argument: a string, or a finite number (sent to the command as its decimal text). */
export const ArgSchema = z.union([z.string(), z.number().finite()], { error: 'expected a string or a finite number' });

/** A command: name and arguments; numbers are sent as their decimal text. */
export const CommandSchema = z
  .array(ArgSchema, { error: 'expected an array: [name, ...arguments]' })
  .min(1, { error: 'a command needs at least its name' })
  .max(1_000_000);
export type Command = z.infer<typeof CommandSchema>;

/** Request ids are chosen by the client and echoed in the reply; any JSON number or string. */
export const IdSchema = z.union([z.number().finite(), z.string().max(256)], {
  error: 'expected a number or a string of at most 256 characters',
});
export type Id = z.infer<typeof IdSchema>;

const base = { id: IdSchema, encoding: EncodingSchema.optional() };

/** `{"id": 1, "cmd": ["SET", "k", "v", "EX", 60]}` → `{"id": 1, "result": "OK"}` or `{"id": 1, "error": "…"}`. */
export const CommandRequestSchema = z.object({ ...base, cmd: CommandSchema }).strict();
/** `{"id": 2, "pipeline": [[…], […]]}` → `{"id": 2, "result": [{"result": …}, {"error": …}]}` (not atomic). */
export const PipelineRequestSchema = z
  .object({
    ...base,
    pipeline: z.array(CommandSchema, { error: 'expected an array of commands' }).min(1).max(100_000),
  })
  .strict();
/**
 * `{"id": 3, "multi": [[…], […]]}` → `{"id": 3, "result": [{"result": …}, …]}`, run atomically as
 * MULTI … EXEC; `{"id": 3, "error": "EXECABORT …"}` when the transaction is discarded.
 */
export const MultiRequestSchema = z
  .object({ ...base, multi: z.array(CommandSchema, { error: 'expected an array of commands' }).min(1).max(100_000) })
  .strict();

/**
 * `{"id": 4, "auth": {"token": "eyJ…"}}` or `{"id": 4, "auth": {"username": "alice", "password": "…"}}` →
 * `{"id": 4, "result": {"user": "alice", "expiresAt": 1767225600000}}` (expiresAt null for a password
 * login) or `{"id": 4, "error": "WRONGPASS …"}`. The first frame of a connection that must authenticate;
 * sent again later (a fresh token), it replaces the session's rights without reconnecting. Credentials
 * never go in the URL.
 */
export const AuthRequestSchema = z
  .object({
    id: IdSchema,
    auth: z.union(
      [
        z.object({ token: z.string().min(1).max(65_536), username: z.string().min(1).max(1024).optional() }).strict(),
        z.object({ username: z.string().min(1).max(1024), password: z.string().max(65_536) }).strict(),
      ],
      { error: 'expected {"token": "…"} or {"username": "…", "password": "…"}' },
    ),
  })
  .strict();
export type AuthRequest = z.infer<typeof AuthRequestSchema>;
/** The result of an `auth` request. */
export interface AuthResult {
  user: string;
  /** Unix ms when the token expires (the session then loses its rights), or null. */
  expiresAt: number | null;
}

export const RequestSchema = z.union([
  CommandRequestSchema,
  PipelineRequestSchema,
  MultiRequestSchema,
  AuthRequestSchema,
]);
export type CommandRequest = z.infer<typeof CommandRequestSchema>;
export type PipelineRequest = z.infer<typeof PipelineRequestSchema>;
export type MultiRequest = z.infer<typeof MultiRequestSchema>;
export type Request = z.infer<typeof RequestSchema>;

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

/** Messages pushed without a request: pub/sub deliveries (keyspace events included). */
export type PushFrame =
  | { push: 'message'; channel: string; data: string }
  | { push: 'pmessage'; pattern: string; channel: string; data: string }
  /** The session's token expired: its rights and subscriptions are gone; the server then closes with 4401. */
  | { push: 'auth'; event: 'expired' };

export type ServerFrame = ReplyFrame | PushFrame;

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
