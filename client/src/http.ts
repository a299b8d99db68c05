/**
 * @kvws/client/http — the HTTP transport, for runtimes that have `fetch` and nothing else (Cloudflare
 * Workers, Vercel/Deno edge functions, service workers). Commands are POSTed to kvws's HTTP API (the shape
 * of Upstash's REST API); subscriptions read its server-sent event streams with `fetch` (not EventSource,
 * which cannot send an Authorization header). Web APIs only: fetch, AbortController, TextDecoder, timers.
 *
 *   const kv = connectHttp('https://kv.example.com', { token: () => getToken() });
 *   await kv.set('greeting', 'hello');
 */
import { KvwsClient } from './client.js';
import { AbortError, ConnectionError, KvwsError, TimeoutError } from './errors.js';
import { READONLY } from './generated/readonly.js';
import type { Arg, CallOptions, Message, Request, Transport, Value } from './types.js';

export interface HttpOptions {
  /**
   * The Bearer token (from POST /auth/token, `kvws token issue`, or an identity provider), or a function
   * called before every request and stream (connect and reconnect) that returns one: cache it there.
   * Without a token, requests run as the default user (only when it is open; from loopback by default).
   */
  token?: string | (() => string | Promise<string>);
  /** The fetch to use. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Per-call timeout in ms (0 = none), retries and their waits included; also how long `subscribe` waits
   * for the stream to confirm. Default 10000.
   */
  timeout?: number;
  /**
   * Send the commands issued in the same macrotask as one POST /pipeline (run in issue order, not
   * atomically) and hand each its own result. Pipelines and transactions are sent as they are. Default false.
   */
  autoPipeline?: boolean;
  /**
   * How many times a request that is safe to repeat is sent again after a network error or a 502/503/504
   * answer, with full-jitter exponential backoff: a command flagged `readonly`, or a pipeline of only such
   * commands. Writes and transactions are never sent twice. Default 2.
   */
  retries?: number;
}

/** First backoff step in ms (full jitter: a random wait up to step × 2^attempt, capped). */
const BACKOFF_BASE_MS = 100;
/** Longest wait between two request retries. */
const RETRY_MAX_MS = 2_000;
/** Longest wait between two attempts to reopen a dropped event stream. */
const RECONNECT_MAX_MS = 10_000;
/**
 * An event stream with no bytes for this long is taken as dead and reopened (the server writes a keepalive
 * comment every 15 s).
 */
const STREAM_IDLE_MS = 45_000;
/** Statuses of a gateway or an overloaded server, after which a safe request is sent again. */
const RETRY_STATUS = new Set([502, 503, 504]);

/** A full-jitter exponential backoff wait for `attempt` (0-based), at most `max` ms. */
function backoff(attempt: number, max: number): number {
  return Math.random() * Math.min(max, BACKOFF_BASE_MS * 2 ** attempt);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** An argument as the HTTP API takes it: strings as they are, finite numbers as JSON numbers. */
function jsonArg(a: Arg): string | number {
  if (typeof a === 'string' || Number.isFinite(a)) return a;
  return Number.isNaN(a) ? 'nan' : a > 0 ? '+inf' : '-inf';
}

/** Whether sending `argv` twice cannot change anything: its command is flagged readonly. */
function isReadonly(argv: Arg[]): boolean {
  const name = String(argv[0]).toLowerCase();
  return READONLY.has(name) || (argv.length > 1 && READONLY.has(`${name}|${String(argv[1]).toLowerCase()}`));
}

/** Whether a request may be sent again: one readonly command, or a pipeline of them; never a transaction. */
function isRetryable(req: Request): boolean {
  if (req.kind === 'cmd') return isReadonly(req.argv);
  return req.kind === 'pipeline' && req.argvs.every(isReadonly);
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

/** The `{error}` text of an answer's body, if it is one. */
function errorText(body: unknown): string | null {
  if (body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string') {
    return (body as { error: string }).error;
  }
  return null;
}

/**
 * The error for a non-2xx answer: 401/403 and 5xx → ConnectionError with the status (and the server's
 * message when it sent one); other `{error}` answers → KvwsError (a command's error reply, a refused body);
 * anything else → ConnectionError.
 */
function answerError(status: number, body: unknown): Error {
  const text = errorText(body);
  if (text !== null && status !== 401 && status !== 403 && status < 500) return new KvwsError(text);
  return new ConnectionError(text ?? `HTTP ${status} from the server`, status);
}

/** A command waiting for the auto-pipeline flush. */
interface Queued {
  argv: Arg[];
  timeout: number;
  resolve: (v: Value) => void;
  reject: (e: unknown) => void;
}

/** One SSE event as the stream reader hands it over: its data, the last `id:` seen, and its `event:` name. */
type OnEvent = (data: string, id: string, event: string) => void;

/** What the HTTP transport tells the application about its subscriptions (`transport.on`). */
export interface HttpEvents {
  /**
   * A reopened event stream could not be resumed (the server restarted without persistence, or its event
   * log no longer reaches back): messages may have been lost; refetch the state they describe. A resume
   * that recovered everything emits nothing: the missed messages simply arrive, in order.
   */
  resume: { recovered: false; channels: string[]; patterns: string[]; epoch: string; offset: number };
}

/**
 * Transport over kvws's HTTP API. Contract (see Transport): `request` resolves with the result (`cmd`), the
 * envelope array (`pipeline`, `multi`) or null (`multi` whose WATCHed key changed); rejects with KvwsError
 * for an error reply, ConnectionError for a network error, a refused token (401/403 with its status) or a
 * server error (5xx), TimeoutError or AbortError. `subscribe` resolves once the stream confirmed the
 * subscription and reopens it after a drop, resuming with Last-Event-ID (messages published meanwhile are
 * replayed in order, once; when the server cannot, the `resume` event says so). After
 * `close()`, every call rejects with ConnectionError.
 */
export class HttpTransport implements Transport {
  readonly url: string;
  readonly timeout: number;
  readonly retries: number;
  readonly autoPipeline: boolean;
  private readonly doFetch: typeof fetch;
  private readonly token: HttpOptions['token'];
  /** Calls and streams in progress, aborted by close(). */
  private readonly active = new Set<AbortController>();
  private queue: Queued[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly listeners = new Set<(e: HttpEvents['resume']) => void>();

  /** Listens to `resume` (see HttpEvents); returns a function that stops listening. */
  on(_event: 'resume', listener: (e: HttpEvents['resume']) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** `url`: the server's base URL (`https://host:8443`, or a path under which a proxy serves the API). */
  constructor(url: string, options: HttpOptions = {}) {
    this.url = url.replace(/\/+$/, '');
    this.timeout = options.timeout ?? 10_000;
    this.retries = options.retries ?? 2;
    this.autoPipeline = options.autoPipeline ?? false;
    this.token = options.token;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch in this runtime: pass options.fetch');
    // Called unbound: browsers and Workers refuse a fetch called as another object's method.
    this.doFetch = (input, init) => f(input, init);
  }

  request(req: Request, opts: CallOptions = {}): Promise<Value> {
    const timeout = opts.timeout ?? this.timeout;
    if (req.kind === 'cmd' && this.autoPipeline) {
      return this.guard(opts, () => this.enqueue(req.argv, timeout));
    }
    return this.guard(opts, (signal) => this.send(req, isRetryable(req), signal));
  }

  /**
   * Opens the event stream of `/subscribe/<name>` (channel) or `/psubscribe/<name>` (pattern); resolves once
   * the server confirmed it, with the function that ends it. Rejects when the first connection fails (after
   * the retries a readonly command gets) or is refused (KvwsError for NOPERM, ConnectionError for 401).
   * Once confirmed, a stream that ends or goes silent is reopened (full-jitter backoff up to
   * RECONNECT_MAX_MS, whatever the answer — a refused token too, since the provider may have a new one)
   * until the returned function or close() is called.
   */
  subscribe(kind: 'channel' | 'pattern', name: string, onMessage: (m: Message) => void): Promise<() => Promise<void>> {
    if (this.closed) return Promise.reject(new ConnectionError('the client is closed'));
    const path = `/${kind === 'channel' ? 'subscribe' : 'psubscribe'}/${encodeURIComponent(name)}`;
    /**
     * The stream position (`<epoch>:<offset>` from the events' ids): sent as Last-Event-ID when the stream is
     * reopened, so the server replays what was missed (issue 8). Messages at or before it are not delivered again.
     */
    let lastId = '';
    let lastOffset = -1;
    const onEvent: OnEvent = (data, id, event) => {
      if (event === 'kvws-stream') {
        let info: { recovered?: boolean; epoch?: string; offset?: number } = {};
        try {
          info = JSON.parse(data);
        } catch {}
        if (info.recovered === false && typeof info.epoch === 'string' && typeof info.offset === 'number') {
          lastId = `${info.epoch}:${info.offset}`;
          lastOffset = info.offset;
          const e = {
            recovered: false as const,
            channels: [] as string[],
            patterns: [] as string[],
            epoch: info.epoch,
            offset: info.offset,
          };
          (kind === 'channel' ? e.channels : e.patterns).push(name);
          for (const l of this.listeners) l(e);
        }
        return;
      }
      const m = parseMessage(kind, name, data);
      if (!m) return;
      const offset = offsetOf(id);
      if (offset !== null) {
        if (offset <= lastOffset && id.split(':')[0] === lastId.split(':')[0]) return;
        lastId = id;
        lastOffset = offset;
        m.offset = offset;
      }
      onMessage(m);
    };
    let stopped = false;
    let current: AbortController | null = null;
    const stop = async () => {
      stopped = true;
      current?.abort(new ConnectionError('unsubscribed'));
    };
    /** One connection: resolves when it ends (dropped or aborted), after `confirmed` if it got that far. */
    const connect = async (confirmed: () => void): Promise<boolean> => {
      const ac = new AbortController();
      current = ac;
      this.active.add(ac);
      try {
        const res = await this.post(path, undefined, ac.signal, 'text/event-stream', lastId);
        if (!res.ok || !res.body) throw answerError(res.status, await readJson(res));
        let ok = false;
        await readEvents(res.body, ac, (data, id, event) => {
          if (!ok && data.startsWith(kind === 'channel' ? 'subscribe,' : 'psubscribe,')) {
            ok = true;
            // A first stream starts at the confirmation's position; a resumed one keeps its own.
            if (lastId === '' && offsetOf(id) !== null) {
              lastId = id;
              lastOffset = offsetOf(id) as number;
            }
            confirmed();
          } else if (ok) onEvent(data, id, event);
        });
        return ok;
      } finally {
        this.active.delete(ac);
      }
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer =
        this.timeout > 0
          ? setTimeout(() => {
              settled = true;
              void stop();
              reject(new TimeoutError(this.timeout));
            }, this.timeout)
          : null;
      const confirmed = () => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        resolve(stop);
      };
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        stopped = true;
        reject(e);
      };
      void (async () => {
        // Until confirmed: the retries a readonly request gets. Afterwards: reopen after every drop, forever.
        let attempt = 0;
        while (!stopped && !this.closed) {
          let error: unknown = null;
          try {
            if (await connect(confirmed)) attempt = 0;
          } catch (e) {
            error = e;
          }
          if (stopped || this.closed) break;
          if (!settled) {
            const retry = !(error instanceof KvwsError || error instanceof ConnectionError) || retryStatus(error);
            if (!retry || attempt >= this.retries) {
              fail(error instanceof ConnectionError || error instanceof KvwsError ? error : connectionError(error));
              return;
            }
          }
          const ac = new AbortController();
          current = ac;
          this.active.add(ac);
          try {
            await sleep(backoff(attempt++, settled ? RECONNECT_MAX_MS : RETRY_MAX_MS), ac.signal);
          } catch {
            break;
          } finally {
            this.active.delete(ac);
          }
        }
        fail(new ConnectionError(this.closed ? 'the client is closed' : 'unsubscribed'));
      })();
    });
  }

  /** Aborts every request and stream; calls in progress and later ones reject with ConnectionError. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const queued = this.queue;
    this.queue = [];
    for (const q of queued) q.reject(new ConnectionError('the client is closed'));
    for (const ac of this.active) ac.abort(new ConnectionError('the client is closed'));
    this.active.clear();
  }

  /**
   * Runs `run` under the call's limits: it rejects with AbortError when `opts.signal` aborts, TimeoutError
   * after the timeout, ConnectionError at close(); `run`'s signal aborts then too.
   */
  private guard<T>(opts: CallOptions, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ConnectionError('the client is closed'));
    if (opts.signal?.aborted) return Promise.reject(new AbortError(opts.signal.reason));
    const ac = new AbortController();
    const timeout = opts.timeout ?? this.timeout;
    const timer = timeout > 0 ? setTimeout(() => ac.abort(new TimeoutError(timeout)), timeout) : null;
    const onAbort = () => ac.abort(new AbortError(opts.signal?.reason));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    this.active.add(ac);
    return new Promise<T>((resolve, reject) => {
      ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true });
      run(ac.signal).then(resolve, (e) => reject(ac.signal.aborted ? ac.signal.reason : e));
    }).finally(() => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      this.active.delete(ac);
    });
  }

  /**
   * Sends one request to its endpoint, again (up to `retries` times, after a backoff) on a network error
   * or 502/503/504 when `retry`. Resolves with the result; rejects as `request` does.
   */
  private async send(req: Request, retry: boolean, signal: AbortSignal): Promise<Value> {
    const path = req.kind === 'cmd' ? '/' : req.kind === 'pipeline' ? '/pipeline' : '/multi-exec';
    const body = JSON.stringify(req.kind === 'cmd' ? req.argv.map(jsonArg) : req.argvs.map((a) => a.map(jsonArg)));
    for (let attempt = 0; ; attempt++) {
      const again = retry && attempt < this.retries;
      let status: number;
      let answer: unknown;
      try {
        const res = await this.post(path, body, signal, 'application/json');
        status = res.status;
        if (again && RETRY_STATUS.has(status)) {
          await res.body?.cancel().catch(() => {});
          await sleep(backoff(attempt, RETRY_MAX_MS), signal);
          continue;
        }
        answer = await readJson(res);
      } catch (e) {
        if (signal.aborted || e instanceof ConnectionError) throw e;
        // fetch (or reading the body) failed: a network error.
        if (!again) throw connectionError(e);
        await sleep(backoff(attempt, RETRY_MAX_MS), signal);
        continue;
      }
      if (status < 200 || status > 299) throw answerError(status, answer);
      if (req.kind === 'cmd') {
        if (answer !== null && typeof answer === 'object' && 'result' in answer) return answer.result as Value;
      } else if (Array.isArray(answer)) {
        return answer as Value;
      } else if (answer !== null && typeof answer === 'object' && 'result' in answer && answer.result === null) {
        return null; // a transaction whose WATCHed key changed
      }
      throw new ConnectionError(`unexpected answer from ${path} (HTTP ${status})`, status);
    }
  }

  /**
   * POSTs `body` (JSON text) to `path` with the token; resolves with the response whatever its status.
   * Rejects with ConnectionError when the token provider fails, with what fetch throws otherwise.
   */
  private async post(
    path: string,
    body: string | undefined,
    signal: AbortSignal,
    accept: string,
    lastEventId = '',
  ): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (lastEventId !== '') headers['last-event-id'] = lastEventId;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let token: string | undefined;
    try {
      token = typeof this.token === 'function' ? await this.token() : this.token;
    } catch (e) {
      throw new ConnectionError(`the token provider failed: ${describe(e)}`);
    }
    if (token) headers.authorization = `Bearer ${token}`;
    return this.doFetch(this.url + path, { method: 'POST', headers, body, signal });
  }

  /** Queues a command for the auto-pipeline; the flush runs after the current macrotask. */
  private enqueue(argv: Arg[], timeout: number): Promise<Value> {
    return new Promise((resolve, reject) => {
      this.queue.push({ argv, timeout, resolve, reject });
      this.flushTimer ??= setTimeout(() => this.flush(), 0);
    });
  }

  /** Sends the queued commands: one alone as POST /, more as one POST /pipeline, results handed out in order. */
  private flush(): void {
    this.flushTimer = null;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    // The request lives as long as its longest-waiting caller (each caller's own limits reject it earlier).
    const timeout = batch.some((q) => q.timeout <= 0) ? 0 : Math.max(...batch.map((q) => q.timeout));
    if (batch.length === 1) {
      const [q] = batch;
      const req: Request = { kind: 'cmd', argv: q.argv };
      this.guard({ timeout }, (signal) => this.send(req, isRetryable(req), signal)).then(q.resolve, q.reject);
      return;
    }
    const req: Request = { kind: 'pipeline', argvs: batch.map((q) => q.argv) };
    this.guard({ timeout }, (signal) => this.send(req, isRetryable(req), signal)).then(
      (v) => {
        const envs = v as ({ result: Value } | { error: string })[];
        batch.forEach((q, i) => {
          const e = envs[i];
          if (e === undefined) q.reject(new ConnectionError('the pipeline answer is missing a result'));
          else if ('error' in e) q.reject(new KvwsError(e.error));
          else q.resolve(e.result);
        });
      },
      (e) => {
        for (const q of batch) q.reject(e);
      },
    );
  }
}

/** A ConnectionError for a failed fetch. */
function connectionError(e: unknown): ConnectionError {
  return new ConnectionError(`request failed: ${describe(e)}`);
}

/** Whether an error is an answer after which a safe request may be sent again (502/503/504). */
function retryStatus(e: unknown): boolean {
  return e instanceof ConnectionError && e.status !== undefined && RETRY_STATUS.has(e.status);
}

/** The body as JSON; undefined when it is empty or not JSON. Rejects (TypeError) when the body is cut off. */
async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads a server-sent event stream to its end and hands each event's data (its `data:` lines joined with
 * "\n") to `onEvent`; comments and other fields are skipped. Resolves when the stream ends, the signal
 * aborts, or nothing arrived for STREAM_IDLE_MS (it then aborts `ac`); rejects (TypeError) on a network error.
 */
async function readEvents(body: ReadableStream<Uint8Array>, ac: AbortController, onEvent: OnEvent): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let idle: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => ac.abort(new ConnectionError('the event stream went silent')), STREAM_IDLE_MS);
  };
  const cancel = () => void reader.cancel().catch(() => {});
  ac.signal.addEventListener('abort', cancel, { once: true });
  let buf = '';
  let data: string[] = [];
  let id = '';
  let event = '';
  try {
    arm();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (ac.signal.aborted) return;
        throw e;
      }
      if (chunk.done) return;
      arm();
      buf += decoder.decode(chunk.value, { stream: true });
      // Lines end with CRLF, LF or CR; a CR at the end of the buffer may be the first half of a CRLF.
      let start = 0;
      for (;;) {
        const m = /\r\n|\r|\n/g;
        m.lastIndex = start;
        const eol = m.exec(buf);
        if (eol === null || (eol[0] === '\r' && eol.index === buf.length - 1)) break;
        const line = buf.slice(start, eol.index);
        start = eol.index + eol[0].length;
        if (line === '') {
          if (data.length > 0) onEvent(data.join('\n'), id, event);
          data = [];
          event = '';
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        } else if (line.startsWith('id:')) {
          // The last event id persists across events, as in EventSource.
          id = line.slice(line.startsWith('id: ') ? 4 : 3);
        } else if (line.startsWith('event:')) {
          event = line.slice(line.startsWith('event: ') ? 7 : 6);
        }
      }
      buf = buf.slice(start);
    }
  } finally {
    clearTimeout(idle);
    ac.signal.removeEventListener('abort', cancel);
  }
}

/** The offset of an event id `<epoch>:<offset>`, or null. */
function offsetOf(id: string): number | null {
  const m = /^[0-9A-Za-z_-]+:(\d+)$/.exec(id);
  return m ? Number(m[1]) : null;
}

/**
 * A pub/sub message from an event's data, or null for other events. Upstash's format does not escape the
 * commas between fields, so the known name splits it: after `message,<channel>,` everything is the message.
 * For `pmessage,<pattern>,<channel>,<message>`, the channel and the message are told apart at the first comma
 * — except for keyspace patterns (`__keyspace@…`), whose messages are event names without commas, so there
 * at the last one (key names may hold commas).
 */
function parseMessage(kind: 'channel' | 'pattern', name: string, data: string): Message | null {
  if (kind === 'channel') {
    const head = `message,${name},`;
    return data.startsWith(head) ? { channel: name, data: data.slice(head.length) } : null;
  }
  const head = `pmessage,${name},`;
  if (!data.startsWith(head)) return null;
  const rest = data.slice(head.length);
  const i = name.startsWith('__keyspace@') ? rest.lastIndexOf(',') : rest.indexOf(',');
  if (i < 0) return null;
  return { pattern: name, channel: rest.slice(0, i), data: rest.slice(i + 1) };
}

/**
 * A client over kvws's HTTP API at `url` (`https://host:8443`): typed commands, pipelines and transactions
 * as POSTs, subscriptions as server-sent event streams. Needs only `fetch`.
 */
export function connectHttp(url: string, options: HttpOptions = {}): KvwsClient {
  return new KvwsClient(new HttpTransport(url, options), { timeout: options.timeout });
}
