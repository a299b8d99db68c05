import type { Value } from '@kvws/shared/wire';
import type { TailControl, TailOptions, TailSink } from './tail.js';

export type { Value };

/** A command argument: strings are sent as UTF-8 text; numbers as their decimal text. */
export type Arg = string | number;

/** A key: any string. */
export type Key = string;

/** Per-call options. */
export interface CallOptions {
  /** Reject with TimeoutError when no answer comes within this many milliseconds. Default: the client's. */
  timeout?: number;
  /** Reject with AbortError when this signal aborts (the command may still run on the server). */
  signal?: AbortSignal;
}

/** A request as a transport carries it. */
export type Request =
  | { kind: 'cmd'; argv: Arg[] }
  | { kind: 'pipeline'; argvs: Arg[][] }
  | { kind: 'multi'; argvs: Arg[][] };

/** One pub/sub delivery (keyspace notifications included). */
export interface Message {
  /** The channel the message was published on. */
  channel: string;
  /** For pattern subscriptions: the pattern that matched. */
  pattern?: string;
  /** The payload (for keyspace notifications: the event name or the key). */
  data: string;
  /**
   * Its offset in the server's event stream (WebSocket transport; absent when the server keeps no event
   * log): increasing, so it orders the messages of all subscriptions of a connection.
   */
  offset?: number;
}

/**
 * What a client needs from a transport (WebSocket: `@kvws/client/ws`; HTTP: `@kvws/client/http`).
 * Contract: `request` resolves with the reply's JSON value — for `cmd` the result, for `pipeline` an array
 * of `{result}`/`{error}` envelopes, for `multi` that array or null (a WATCHed key changed) — and rejects
 * with KvwsError for an error reply, TimeoutError, AbortError or ConnectionError.
 * `subscribe` starts delivering to `onMessage` and resolves once the server confirmed; the returned
 * function ends the subscription. A transport re-subscribes by itself after reconnecting.
 */
export interface Transport {
  request(req: Request, opts?: CallOptions): Promise<Value>;
  subscribe(kind: 'channel' | 'pattern', name: string, onMessage: (m: Message) => void): Promise<() => Promise<void>>;
  /**
   * Follows a stream (WebSocket transport only): entries go to `sink` in ID order, each once, resumed after
   * the last one on every reconnect. Resolves once the server started it; rejects like `request`.
   */
  tail?(key: string, options: TailOptions, sink: TailSink): Promise<TailControl>;
  close(): Promise<void>;
}
