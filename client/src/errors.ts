/**
 * Errors the client throws. `KvwsError` carries a server error reply (`WRONGTYPE …`, `NOPERM …`) with its
 * code; the others describe the call or the connection. All extend `Error`, so `instanceof` works across
 * transports.
 */

/** A command answered with an error reply. `code` is its first word (`ERR`, `WRONGTYPE`, `NOPERM`, …). */
export class KvwsError extends Error {
  readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = 'KvwsError';
    const i = message.indexOf(' ');
    this.code = i < 0 ? message : message.slice(0, i);
  }
}

/** The call did not get an answer within its timeout. The command may still have run on the server. */
export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** The call was aborted through its AbortSignal before an answer came. It may still run on the server. */
export class AbortError extends Error {
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : reason !== undefined ? String(reason) : 'aborted');
    this.name = 'AbortError';
  }
}

/**
 * The transport could not deliver the call: the connection is closed for good (`client.close()`, or the
 * server refused authentication), the offline queue is full, or an HTTP request failed.
 */
export class ConnectionError extends Error {
  constructor(
    message: string,
    /** WebSocket close code or HTTP status, when there is one. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}
