import { z } from 'zod';
import {
  TAIL_MAX_COUNT,
  type Encoding as WireEncoding,
  type Id as WireId,
  type TailRequest as WireTail,
} from './wire.js';

export * from './wire.js';

/**
 * The kvws WebSocket frame protocol, version 1 (subprotocol `kvws.v1`). Every frame is one JSON text
 * message. Specified in docs/protocol.md; these schemas are what the server validates against and what
 * the client builds. Pure data and zod: no node: imports.
 */

/**
 * How bulk strings travel: `utf8` text (default; invalid UTF-8 becomes U+FFFD) or `base64` (binary-safe).
 * With `base64`, every string argument but the command name is base64, and so is every bulk string in the
 * reply; simple strings (`OK`), numbers and errors are unchanged.
 */
export const EncodingSchema = z.enum(['utf8', 'base64']);
export type Encoding = z.infer<typeof EncodingSchema>;
/** Compile-time check that the zod schema and the wire type agree. */
export const encodingAgrees: WireEncoding extends Encoding ? (Encoding extends WireEncoding ? true : never) : never =
  true;

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
export const idAgrees: WireId extends Id ? (Id extends WireId ? true : never) : never = true;

const base = { id: IdSchema, encoding: EncodingSchema.optional() };

/**
 * Where a resumed subscription picks up: the `offset` of the last event the client received (or the
 * `stream.offset` of its subscribe reply) and the stream's `epoch`. Only with SUBSCRIBE and PSUBSCRIBE.
 */
export const SinceSchema = z
  .object({ offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), epoch: z.string().min(1).max(64) })
  .strict();

/**
 * `{"id": 1, "cmd": ["SET", "k", "v", "EX", 60]}` → `{"id": 1, "result": "OK"}` or `{"id": 1, "error": "…"}`.
 * SUBSCRIBE and PSUBSCRIBE may carry `since` (resume); their reply carries `stream` (StreamPosition).
 */
export const CommandRequestSchema = z.object({ ...base, cmd: CommandSchema, since: SinceSchema.optional() }).strict();
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

/**
 * `{"id": 5, "tail": {"key": "feed", "from": "$", "count": 100}}` → `{"id": 5, "result": {"after": "1700000000000-3"}}`,
 * then `entries` pushes (TailRequest in wire.ts; docs/protocol.md#tailing-a-stream). The key is in the
 * request's encoding, and so are the pushes' key, fields and values; IDs are plain text. A second tail of
 * the same key on the connection replaces the first.
 */
export const TailRequestSchema = z
  .object({
    ...base,
    tail: z
      .object({
        key: z.string(),
        from: z.string().min(1).max(128).optional(),
        count: z.number().int().min(1).max(TAIL_MAX_COUNT).optional(),
      })
      .strict(),
  })
  .strict();
/** `{"id": 6, "untail": "feed"}` → `{"id": 6, "result": 1}` (0 when the key was not tailed): the tail ends. */
export const UntailRequestSchema = z.object({ ...base, untail: z.string() }).strict();
export type TailRequestFrame = z.infer<typeof TailRequestSchema>;
export type UntailRequest = z.infer<typeof UntailRequestSchema>;
/** Compile-time check that the zod schema and the wire type agree. */
export const tailAgrees: WireTail extends TailRequestFrame['tail']
  ? TailRequestFrame['tail'] extends WireTail
    ? true
    : never
  : never = true;

export const RequestSchema = z.union([
  CommandRequestSchema,
  PipelineRequestSchema,
  MultiRequestSchema,
  AuthRequestSchema,
  TailRequestSchema,
  UntailRequestSchema,
]);
export type CommandRequest = z.infer<typeof CommandRequestSchema>;
export type PipelineRequest = z.infer<typeof PipelineRequestSchema>;
export type MultiRequest = z.infer<typeof MultiRequestSchema>;
export type Request = z.infer<typeof RequestSchema>;
