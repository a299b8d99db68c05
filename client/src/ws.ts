/**
 * @kvws/client/ws — the WebSocket transport (`kvws.v1`, docs/protocol.md): one connection carrying
 * requests, pipelines, transactions and pub/sub, with authentication (password or JWT, refreshed before it
 * expires), automatic reconnects with full-jitter exponential backoff, re-subscription and an offline queue.
 * Modelled on centrifuge-js: one state setter emits every change; the WebSocket constructor is injected.
 *
 * Delivery policy:
 * - A call made while the transport is not connected (connecting, authenticating, waiting to reconnect)
 *   waits in a FIFO offline queue of at most `maxQueue` calls and is sent, in order, once the connection is
 *   up again (after re-authentication and re-subscription). Beyond `maxQueue` it rejects at once with
 *   ConnectionError("offline queue full").
 * - A call already sent when the connection drops rejects with ConnectionError: it may or may not have run
 *   on the server, so it is not retried automatically. A first SUBSCRIBE in flight rejects the same way;
 *   subscriptions the server confirmed are re-subscribed after every reconnect, before the queue is sent.
 * - Resume (issue 8): each subscription keeps its place in the server's event stream (the SUBSCRIBE reply's
 *   `stream`, then each delivered message's `offset`) and re-subscribes with `since` it: the server replays
 *   the events it missed, in order, then goes live, so every message is delivered once (a message at or
 *   before the subscription's place is dropped). When the server cannot replay them (it restarted without
 *   persistence, or its log no longer reaches back), the `resume` event says so and the subscription goes on
 *   from the server's current position.
 * - Stream tails (`tail` requests) are re-opened after every reconnect, before the queue is sent, from the
 *   last entry ID received: entries arrive in order and once (one at or before that ID is dropped).
 * - Calls made after `close()` (or after the server refused authentication) reject with ConnectionError.
 */
import { type AuthResult, CloseCode, type StreamPosition, SUBPROTOCOL, type TailResult } from '@kvws/shared/wire';
import { KvwsClient } from './client.js';
import { toRecord } from './command.js';
import type { StreamEntry } from './commands/stream.js';
import { AbortError, ConnectionError, KvwsError, TimeoutError } from './errors.js';
import { canonicalId, compareIds, type TailControl, type TailOptions, type TailSink } from './tail.js';
import type { CallOptions, Message, Request, Transport, Value } from './types.js';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/**
 * What the transport needs from a WebSocket: the browser's `WebSocket` and the `ws` package's both fit.
 * Handlers take `never` so that any event type is accepted.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: never) => unknown) | null;
  onmessage: ((ev: never) => unknown) | null;
  onclose: ((ev: never) => unknown) | null;
  onerror: ((ev: never) => unknown) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `ws`'s in Node (which takes options third). */
export type WebSocketConstructor = new (url: string, protocols: string, options?: never) => WebSocketLike;

/** Credentials: a JWT (or a function returning one, called at every connect and before expiry), or a password. */
export type WsAuth =
  | { token: string | (() => Promise<string> | string); username?: string; password?: never }
  | { username: string; password: string; token?: never }
  | { token?: never; username?: never; password?: never };

export type WsOptions = WsAuth & {
  /** The WebSocket constructor. Default `globalThis.WebSocket` (Node 20 needs the `ws` package's). */
  WebSocket?: WebSocketConstructor | typeof globalThis.WebSocket;
  /** Third constructor argument, passed only when defined (Node `ws`: `{ ca }` for a private CA). */
  wsOptions?: unknown;
  /** Default per-call timeout in ms (0 = none), for the client and the transport's own SUBSCRIBEs. Default 10000. */
  timeout?: number;
  /** Time to open and authenticate a connection before it is dropped and retried, in ms (0 = none). Default 10000. */
  connectTimeout?: number;
  /** Reconnect backoff: delay = random(0, min(maxDelay, baseDelay · 2^attempt)) ms. Default 250. */
  baseDelay?: number;
  /** Largest reconnect delay in ms. Default 10000. */
  maxDelay?: number;
  /** Calls kept while not connected; more reject at once with ConnectionError. Default 1000. */
  maxQueue?: number;
  /** Random source in [0, 1) for the backoff jitter. Default Math.random. */
  random?: () => number;
};

/** Events of a WsTransport (`transport.on(event, listener)`). */
export interface WsEvents {
  /** Every state change. */
  state: { oldState: ConnectionState; newState: ConnectionState };
  /**
   * Something went wrong that no call can report: a refused authentication (then state `closed`), a token
   * provider that threw, a refused token refresh or re-subscription, the token expiry push, a bad frame.
   */
  error: Error;
  /** A reconnect was scheduled: `attempt` counts from 1 since the last successful connect. */
  reconnect: { attempt: number; delay: number };
  /**
   * Messages of these subscriptions may have been lost, and will not be replayed: the server could not
   * resume them (it restarted without persistence or its event log no longer reaches back, or it has no
   * event log). Refetch the state they describe; they go on from the server's position `{epoch, offset}`.
   * A resume that recovered everything emits nothing: the missed messages simply arrive, in order.
   */
  resume: { recovered: false; channels: string[]; patterns: string[]; epoch: string; offset: number };
}

/** A call waiting for its reply: `id` once it has been sent. */
interface Call {
  body: object;
  id?: number;
  /** For a SUBSCRIBE/PSUBSCRIBE the transport tracks: its reply's `stream` places them. */
  subs?: Sub[];
  /** For a `tail` request: its reply places the tail's cursor. */
  tail?: TailWire;
  resolve(v: Value): void;
  reject(e: Error): void;
}

/** One subscription on the wire, shared by every listener of the same channel or pattern. */
interface Sub {
  kind: 'channel' | 'pattern';
  name: string;
  listeners: Set<(m: Message) => void>;
  /** Settles with the first SUBSCRIBE's result. */
  ready: Promise<void>;
  /** The server confirmed it once: it is re-subscribed after every reconnect. */
  confirmed: boolean;
  /**
   * Its place in the event stream: the offset of the last event delivered to it (at first, the SUBSCRIBE
   * reply's `stream`). Sent as `since` when re-subscribing. Absent when the server gives no position.
   */
  pos?: { epoch: string; offset: number };
  /** The socket on which the server last confirmed it: a `stream` push there concerns it. */
  on?: WebSocketLike;
}

const subKey = (kind: Sub['kind'], name: string) => (kind === 'channel' ? 'c:' : 'p:') + name;

/** One stream tail on the wire (one per key). */
interface TailWire {
  key: string;
  count?: number;
  /** The ID of the last entry received (later ones only are delivered); null until the server placed `$`. */
  cursor: string | null;
  sink: TailSink;
  /** The server started it once: it is re-opened after every reconnect (unless paused). */
  confirmed: boolean;
  /** Stopped by flow control (TailControl.pause): not re-opened until resumed. */
  paused: boolean;
}

const CLOSED = 3;

/**
 * The WebSocket transport. It connects at construction; `state` tells where it is and `on('state', …)`
 * reports changes. See the module comment for what happens to calls across disconnects.
 */
export class WsTransport implements Transport {
  private st: ConnectionState = 'disconnected';
  private ws: WebSocketLike | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Call>();
  private readonly queue: Call[] = [];
  private readonly subs = new Map<string, Sub>();
  private readonly tails = new Map<string, TailWire>();
  private readonly handlers = new Map<keyof WsEvents, Set<(e: never) => void>>();
  private attempt = 0;
  /** The reconnect delay, or the connect timeout of the socket being opened. */
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private closedBy: ConnectionError | null = null;

  constructor(
    readonly url: string,
    private readonly options: WsOptions = {},
  ) {
    this.open();
  }

  get state(): ConnectionState {
    return this.st;
  }

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof WsEvents>(event: E, listener: (e: WsEvents[E]) => void): () => void {
    const set = this.handlers.get(event) ?? new Set();
    this.handlers.set(event, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Sends a request (queued while not connected). Resolves with the reply's result; rejects with
   * KvwsError (error reply), TimeoutError, AbortError or ConnectionError (see the module comment).
   */
  request(req: Request, opts: CallOptions = {}): Promise<Value> {
    return this.enqueue(
      req.kind === 'cmd' ? { cmd: req.argv } : req.kind === 'pipeline' ? { pipeline: req.argvs } : { multi: req.argvs },
      opts,
    );
  }

  /**
   * `request` for a frame body; `subs` are placed by the reply's stream position (see `subscribed`), a
   * `tail` by its reply's `after`.
   */
  private enqueue(body: object, opts: CallOptions, subs?: Sub[], tail?: TailWire): Promise<Value> {
    return new Promise<Value>((resolve, reject) => {
      if (this.closedBy) return reject(this.closedBy);
      const { signal } = opts;
      if (signal?.aborted) return reject(new AbortError(signal.reason));
      const timeout = opts.timeout ?? this.options.timeout ?? 10_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        this.forget(call);
        call.reject(new AbortError(signal?.reason));
      };
      const settled = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const call: Call = {
        body,
        subs,
        tail,
        resolve: (v) => {
          settled();
          resolve(v);
        },
        reject: (e) => {
          settled();
          reject(e);
        },
      };
      if (timeout > 0) {
        timer = setTimeout(() => {
          this.forget(call);
          call.reject(new TimeoutError(timeout));
        }, timeout);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.st === 'connected' && this.ws) this.transmit(this.ws, call);
      else if (this.queue.length >= (this.options.maxQueue ?? 1000))
        call.reject(new ConnectionError('offline queue full'));
      else this.queue.push(call);
    });
  }

  /**
   * Subscribes `onMessage` to a channel or pattern. The first listener sends SUBSCRIBE/PSUBSCRIBE (later ones
   * share it); resolves once the server confirmed, rejects like `request`. The returned function removes the
   * listener, sending UNSUBSCRIBE/PUNSUBSCRIBE when it was the last one.
   */
  async subscribe(
    kind: 'channel' | 'pattern',
    name: string,
    onMessage: (m: Message) => void,
  ): Promise<() => Promise<void>> {
    const key = subKey(kind, name);
    let sub = this.subs.get(key);
    if (!sub) {
      const s: Sub = { kind, name, listeners: new Set(), confirmed: false, ready: Promise.resolve() };
      s.ready = this.enqueue({ cmd: [kind === 'channel' ? 'SUBSCRIBE' : 'PSUBSCRIBE', name] }, {}, [s]).then(
        () => {
          s.confirmed = true;
        },
        (e) => {
          if (this.subs.get(key) === s) this.subs.delete(key);
          throw e;
        },
      );
      this.subs.set(key, s);
      sub = s;
    }
    const s = sub;
    const listener = (m: Message) => onMessage(m);
    s.listeners.add(listener);
    try {
      await s.ready;
    } catch (e) {
      s.listeners.delete(listener);
      throw e;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      s.listeners.delete(listener);
      if (s.listeners.size > 0 || this.subs.get(key) !== s) return;
      this.subs.delete(key);
      // Not connected: the server session is gone, and the next one will not re-subscribe it.
      if (this.st !== 'connected') return;
      const argv = [kind === 'channel' ? 'UNSUBSCRIBE' : 'PUNSUBSCRIBE', name];
      await this.request({ kind: 'cmd', argv }).catch((e) => {
        if (!(e instanceof ConnectionError)) throw e;
      });
    };
  }

  /**
   * Follows the stream at `key` (see Transport.tail): one tail per key on a transport. Resolves once the
   * server started it; rejects like `request` (a KvwsError when the server refused it: NOPERM, WRONGTYPE…).
   */
  async tail(key: string, options: TailOptions, sink: TailSink): Promise<TailControl> {
    if (this.tails.has(key)) throw new KvwsError(`ERR this client already tails ${JSON.stringify(key)}`);
    const from = options.from ?? '$';
    const t: TailWire = {
      key,
      count: options.count,
      cursor: from === '$' ? null : canonicalId(from),
      sink,
      confirmed: false,
      paused: false,
    };
    this.tails.set(key, t);
    let after: string;
    try {
      after = ((await this.enqueue({ tail: { key, from, count: t.count } }, {}, undefined, t)) as unknown as TailResult)
        .after;
    } catch (e) {
      if (this.tails.get(key) === t) this.tails.delete(key);
      throw e;
    }
    const live = () => this.tails.get(key) === t && this.st === 'connected' && this.ws !== null;
    return {
      after,
      pause: () => {
        t.paused = true;
        if (live()) this.send(this.ws as WebSocketLike, { untail: key }).catch(() => {});
      },
      resume: () => {
        t.paused = false;
        if (live()) this.retail(this.ws as WebSocketLike, t);
      },
      untail: async () => {
        if (this.tails.get(key) !== t) return;
        this.tails.delete(key);
        if (this.st === 'connected' && this.ws) await this.send(this.ws, { untail: key }).catch(() => {});
      },
    };
  }

  /**
   * Opens tail `t` again on `ws` from its cursor. Refused (an ACL change), it ends and the application is
   * told (its `ended` event, and the transport's `error`).
   */
  private retail(ws: WebSocketLike, t: TailWire): void {
    this.send(ws, { tail: { key: t.key, from: t.cursor, count: t.count } }).catch((e: Error) => {
      if (this.ws !== ws || !(e instanceof KvwsError) || this.tails.get(t.key) !== t) return;
      this.tails.delete(t.key);
      t.sink.event({ event: 'ended', error: e });
      this.emit('error', e);
    });
  }

  /**
   * Closes for good: state `closed`, no more reconnects, the socket closed with 1000, waiting and queued
   * calls rejected with ConnectionError. Resolves once the socket closed (at most 1 s).
   */
  async close(): Promise<void> {
    const ws = this.ws;
    this.fail(new ConnectionError('the client was closed'));
    if (!ws || ws.readyState === CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1000);
      ws.onclose = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private emit<E extends keyof WsEvents>(event: E, value: WsEvents[E]): void {
    for (const l of this.handlers.get(event) ?? []) {
      try {
        (l as (e: WsEvents[E]) => void)(value);
      } catch (e) {
        // A throwing listener must not break the transport: report it as uncaught, asynchronously.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  /** The one state setter: every change is emitted as `{oldState, newState}`. */
  private setState(s: ConnectionState): void {
    const old = this.st;
    if (old === s) return;
    this.st = s;
    this.emit('state', { oldState: old, newState: s });
  }

  /** Opens a socket; authentication, re-subscription and the queue follow once it is open. */
  private open(): void {
    this.setState('connecting');
    const o = this.options;
    const Ctor = (o.WebSocket ?? globalThis.WebSocket) as WebSocketConstructor | undefined;
    let ws: WebSocketLike;
    try {
      if (!Ctor) throw new Error('no WebSocket: pass options.WebSocket');
      ws =
        o.wsOptions === undefined
          ? new Ctor(this.url, SUBPROTOCOL)
          : new Ctor(this.url, SUBPROTOCOL, o.wsOptions as never);
    } catch (e) {
      const err = new ConnectionError(`cannot open ${this.url}: ${(e as Error).message}`);
      this.emit('error', err);
      this.fail(err);
      return;
    }
    this.ws = ws;
    const limit = o.connectTimeout ?? 10_000;
    if (limit > 0) this.timer = setTimeout(() => this.drop(ws, 'connect timeout'), limit);
    ws.onopen = () => {
      if (this.ws === ws) void this.login(ws, true);
    };
    ws.onmessage = (e: { data: unknown }) => {
      if (this.ws === ws) this.receive(e.data);
    };
    ws.onclose = (e: { code: number; reason: string }) => this.lost(ws, e.code, e.reason);
    ws.onerror = () => {}; // a close event follows
  }

  /**
   * Sends the `auth` frame (a fresh token from the provider), if there are credentials. The first login of
   * a connection then re-subscribes and flushes the queue; a refused one closes the transport for good.
   * A refresh (first = false) refused is reported as an error: the session then expires and reconnects.
   */
  private async login(ws: WebSocketLike, first: boolean): Promise<void> {
    const o = this.options;
    let auth: object;
    if (o.token !== undefined) {
      let token: string;
      try {
        token = typeof o.token === 'function' ? await o.token() : o.token;
      } catch (e) {
        if (this.ws !== ws) return;
        this.emit('error', new ConnectionError(`the token provider failed: ${(e as Error).message}`));
        if (first) this.drop(ws, 'no token');
        return;
      }
      auth = o.username === undefined ? { token } : { token, username: o.username };
    } else if (o.password !== undefined) auth = { username: o.username, password: o.password };
    else return this.connected(ws);
    if (this.ws !== ws) return;
    let res: AuthResult;
    try {
      res = (await this.send(ws, { auth })) as unknown as AuthResult;
    } catch (e) {
      if (this.ws !== ws) return; // the connection dropped: lost() reconnects
      if (!first) return this.emit('error', e as Error);
      const err = new ConnectionError(`authentication refused: ${(e as Error).message}`, CloseCode.unauthorized);
      this.emit('error', err);
      return this.fail(err);
    }
    if (this.ws !== ws) return;
    this.planRefresh(ws, res.expiresAt);
    if (first) this.connected(ws);
  }

  /**
   * Schedules the next token refresh: at 80 % of the remaining lifetime or 30 s before expiry, whichever
   * is earlier, but not before half the lifetime (nor within 1 s), so short-lived tokens do not loop.
   */
  private planRefresh(ws: WebSocketLike, expiresAt: number | null): void {
    clearTimeout(this.refreshTimer);
    if (expiresAt === null || typeof this.options.token !== 'function') return;
    const left = expiresAt - Date.now();
    const delay = Math.max(1000, left / 2, Math.min(left * 0.8, left - 30_000));
    this.refreshTimer = setTimeout(() => {
      if (this.ws === ws) void this.login(ws, false);
    }, delay);
  }

  /**
   * Authenticated: re-subscribe (one frame per kind and stream position, resuming from it), flush the
   * offline queue in order, then state `connected`.
   */
  private connected(ws: WebSocketLike): void {
    clearTimeout(this.timer);
    this.attempt = 0;
    const groups = new Map<string, Sub[]>();
    for (const s of this.subs.values()) {
      if (!s.confirmed) continue; // its first SUBSCRIBE is still in the queue
      const k = `${s.kind} ${s.pos ? `${s.pos.offset} ${s.pos.epoch}` : ''}`;
      const g = groups.get(k);
      if (g) g.push(s);
      else groups.set(k, [s]);
    }
    for (const g of groups.values()) this.resubscribe(ws, g);
    for (const t of this.tails.values()) if (t.confirmed && !t.paused) this.retail(ws, t);
    for (const call of this.queue.splice(0)) this.transmit(ws, call);
    this.setState('connected');
  }

  /**
   * SUBSCRIBE/PSUBSCRIBE `subs` (same kind and position) again, with `since` their position. Refused (an ACL
   * change), a group is tried one by one; a single one refused is dropped and reported as an error.
   */
  private resubscribe(ws: WebSocketLike, subs: Sub[]): void {
    const { kind, pos } = subs[0];
    const cmd = [kind === 'channel' ? 'SUBSCRIBE' : 'PSUBSCRIBE', ...subs.map((s) => s.name)];
    this.send(ws, pos ? { cmd, since: { offset: pos.offset, epoch: pos.epoch } } : { cmd }, subs).catch((e: Error) => {
      if (this.ws !== ws) return;
      if (subs.length > 1) {
        for (const s of subs) this.resubscribe(ws, [s]);
        return;
      }
      const key = subKey(kind, subs[0].name);
      if (this.subs.get(key) === subs[0]) this.subs.delete(key);
      this.emit('error', e);
    });
  }

  /**
   * The reply to a SUBSCRIBE/PSUBSCRIBE of `subs` arrived, with the server's stream position: a new
   * subscription starts there; a resumed one keeps its place (the missed events follow) unless the server
   * could not recover them: then it starts there too, and `resume` tells the application.
   */
  private subscribed(subs: Sub[], stream: StreamPosition | undefined): void {
    for (const s of subs) s.on = this.ws ?? undefined;
    if (!stream || stream.recovered) return;
    for (const s of subs) s.pos = { epoch: stream.epoch, offset: stream.offset };
    if (stream.recovered === false) this.unrecovered(subs, stream.epoch, stream.offset);
  }

  /** Moves every subscription confirmed on this connection, in `epoch`, up to `offset` (never back). */
  private advance(epoch: string | undefined, offset: number): void {
    if (epoch === undefined) return;
    for (const s of this.subs.values()) {
      if (s.on === this.ws && s.pos?.epoch === epoch && s.pos.offset < offset) s.pos.offset = offset;
    }
  }

  /** Emits `resume` (not recovered) for those of `subs` still subscribed. */
  private unrecovered(subs: Sub[], epoch: string, offset: number): void {
    const live = subs.filter((s) => this.subs.get(subKey(s.kind, s.name)) === s);
    if (live.length === 0) return;
    const names = (kind: Sub['kind']) => live.filter((s) => s.kind === kind).map((s) => s.name);
    this.emit('resume', { recovered: false, channels: names('channel'), patterns: names('pattern'), epoch, offset });
  }

  /** Sends a transport-internal request (auth, re-subscribe) on `ws` now, bypassing the queue. */
  private send(ws: WebSocketLike, body: object, subs?: Sub[]): Promise<Value> {
    return new Promise((resolve, reject) => this.transmit(ws, { body, subs, resolve, reject }));
  }

  private transmit(ws: WebSocketLike, call: Call): void {
    const id = this.nextId++;
    call.id = id;
    this.pending.set(id, call);
    try {
      ws.send(JSON.stringify({ id, ...call.body }));
    } catch (e) {
      this.pending.delete(id);
      call.reject(new ConnectionError(`send failed: ${(e as Error).message}`));
    }
  }

  /** Removes a call that timed out or was aborted: a late reply is then ignored. */
  private forget(call: Call): void {
    if (call.id !== undefined) this.pending.delete(call.id);
    else {
      const i = this.queue.indexOf(call);
      if (i >= 0) this.queue.splice(i, 1);
    }
  }

  private receive(data: unknown): void {
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(data as string);
    } catch {
      this.emit('error', new ConnectionError('a frame from the server is not JSON text'));
      return;
    }
    if (typeof f.push === 'string') {
      this.push(f);
      return;
    }
    const call = typeof f.id === 'number' ? this.pending.get(f.id) : undefined;
    if (!call) {
      if (f.id === null) this.emit('error', new KvwsError(String(f.error)));
      return; // a late reply to a call that timed out or was aborted
    }
    this.pending.delete(f.id as number);
    if ('error' in f) {
      call.reject(new KvwsError(String(f.error)));
      return;
    }
    // Before any later frame: the pushes that follow this reply are measured against the position.
    if (call.subs) this.subscribed(call.subs, f.stream as StreamPosition | undefined);
    if (call.tail) {
      call.tail.cursor ??= (f.result as unknown as TailResult).after;
      call.tail.confirmed = true;
    }
    call.resolve(f.result as Value);
  }

  private push(f: Record<string, unknown>): void {
    if (f.push === 'message' || f.push === 'pmessage') {
      const channel = f.channel as string;
      const pattern = f.pattern as string | undefined;
      const s = this.subs.get(f.push === 'message' ? `c:${channel}` : `p:${pattern}`);
      if (!s) return;
      const offset = f.offset;
      const m: Message =
        pattern === undefined ? { channel, data: f.data as string } : { channel, pattern, data: f.data as string };
      if (typeof offset === 'number') {
        // Exactly once: a message at or before the subscription's place was delivered already.
        if (s.pos) {
          if (offset <= s.pos.offset) return;
          s.pos.offset = offset;
        }
        m.offset = offset;
        // Events reach a connection in stream order: its other subscriptions have everything up to here too.
        this.advance(s.pos?.epoch, offset);
      }
      for (const l of s.listeners) {
        try {
          l(m);
        } catch (e) {
          this.emit('error', e as Error);
        }
      }
    } else if (f.push === 'stream' && f.recovered !== false) {
      // A heartbeat: the subscriptions of this connection have every event up to `offset`.
      this.advance(f.epoch as string, f.offset as number);
    } else if (f.push === 'stream' && f.recovered === false) {
      // A replay was cut short (the log lost events it still needed): every subscription of this session
      // may have missed some; they are live again from the server's position.
      const { epoch, offset } = f as { epoch: string; offset: number };
      const subs = [...this.subs.values()].filter((s) => s.on === this.ws);
      for (const s of subs) s.pos = { epoch, offset };
      this.unrecovered(subs, epoch, offset);
    } else if (f.push === 'entries' || f.push === 'tail') {
      this.tailPush(f);
    } else if (f.push === 'auth' && f.event === 'expired') {
      // The server closes with 4401 next; the reconnect asks the provider for a fresh token.
      this.emit('error', new ConnectionError('the session token expired', CloseCode.unauthorized));
    }
  }

  /** An `entries` push (delivered after the tail's cursor only, which it moves) or a tail event. */
  private tailPush(f: Record<string, unknown>): void {
    const t = this.tails.get(f.key as string);
    if (!t) return;
    if (f.push === 'tail') {
      if (f.event === 'ended') this.tails.delete(t.key);
      t.sink.event(
        f.event === 'ended' ? { event: 'ended', error: new KvwsError(String(f.error)) } : { event: 'deleted' },
      );
      return;
    }
    const fresh: StreamEntry[] = [];
    for (const [id, fields] of f.entries as [string, string[]][]) {
      if (t.cursor !== null && compareIds(id, t.cursor) <= 0) continue;
      t.cursor = id;
      fresh.push({ id, fields: toRecord(fields) });
    }
    if (fresh.length > 0) t.sink.entries(fresh);
  }

  /** Closes `ws` on our side and handles it as lost at once (a stuck handshake may take long to close). */
  private drop(ws: WebSocketLike, reason: string): void {
    try {
      ws.close(CloseCode.normal, reason);
    } catch {}
    this.lost(ws, CloseCode.normal, reason);
  }

  /**
   * The socket closed: reject the calls in flight, then reconnect — unless closed, refused by policy (1008),
   * or closed with 4401 while there are no credentials to log in with (the server requires them).
   */
  private lost(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = null;
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    const err = new ConnectionError(`connection lost (${code}${reason ? ` ${reason}` : ''})`, code);
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const c of calls) c.reject(err);
    if (this.closedBy) return;
    // Refused by policy (protected mode), or closed for not authenticating when we have nothing to send.
    const noCredentials = this.options.token === undefined && this.options.password === undefined;
    if (code === CloseCode.policyViolation || (code === CloseCode.unauthorized && noCredentials)) {
      const refused = new ConnectionError(`refused by the server: ${reason || code}`, code);
      this.emit('error', refused);
      this.fail(refused);
      return;
    }
    this.setState('disconnected');
    const cap = Math.min(this.options.maxDelay ?? 10_000, (this.options.baseDelay ?? 250) * 2 ** this.attempt);
    const delay = Math.floor((this.options.random ?? Math.random)() * cap);
    this.attempt++;
    this.emit('reconnect', { attempt: this.attempt, delay });
    this.timer = setTimeout(() => {
      if (!this.closedBy) this.open();
    }, delay);
  }

  /** Closed for good with `err`: every waiting and queued call rejects with it, and so do later ones. */
  private fail(err: ConnectionError): void {
    if (this.closedBy) return;
    this.closedBy = err;
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState !== CLOSED) {
      try {
        ws.close(CloseCode.normal);
      } catch {}
    }
    this.subs.clear();
    const tails = [...this.tails.values()];
    this.tails.clear();
    for (const t of tails) t.sink.event({ event: 'ended', error: err });
    this.setState('closed');
    const calls = [...this.pending.values(), ...this.queue.splice(0)];
    this.pending.clear();
    for (const c of calls) c.reject(err);
  }
}

/** A KvwsClient whose transport is a WsTransport (for `client.transport.state` and `.on`). */
export type WsClient = KvwsClient & { readonly transport: WsTransport };

/**
 * Connects to a kvws WebSocket endpoint (`wss://host:8443/ws`) and returns a client over it. Calls made
 * before the connection is up wait in the offline queue; see WsOptions for credentials and reconnects.
 */
export function connectWs(url: string, options: WsOptions = {}): WsClient {
  return new KvwsClient(new WsTransport(url, options), { timeout: options.timeout }) as WsClient;
}
