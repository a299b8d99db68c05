import { blockingMs, type Command, command } from './command.js';
import { type Builders, builders } from './commands/index.js';
import type { StreamEntry } from './commands/stream.js';
import { KvwsError } from './errors.js';
import { Subscription } from './subscription.js';
import { StreamTail, type TailOptions } from './tail.js';
import type { Arg, CallOptions, Message, Transport, Value } from './types.js';

type ResultOf<C> = C extends Command<infer T> ? Promise<T> : never;

/**
 * A builder's signatures (up to four overloads: HRANDFIELD, SPOP… have several forms) with each return
 * type mapped: `Command<T>` → `Promise<T>`. Functions with fewer overloads match too (TypeScript repeats
 * the signatures it has).
 */
type Promised<F> = F extends {
  (...a: infer A1): infer R1;
  (...a: infer A2): infer R2;
  (...a: infer A3): infer R3;
  (...a: infer A4): infer R4;
}
  ? ((...a: A1) => ResultOf<R1>) &
      ((...a: A2) => ResultOf<R2>) &
      ((...a: A3) => ResultOf<R3>) &
      ((...a: A4) => ResultOf<R4>)
  : never;

/** The same signatures returning `Self` (a pipeline, for chaining). */
type Chained<F, Self> = F extends {
  (...a: infer A1): unknown;
  (...a: infer A2): unknown;
  (...a: infer A3): unknown;
  (...a: infer A4): unknown;
}
  ? ((...a: A1) => Self) & ((...a: A2) => Self) & ((...a: A3) => Self) & ((...a: A4) => Self)
  : never;

/** Every command as a method returning a Promise of its decoded reply. */
export type CommandMethods = { [K in keyof Builders]: Promised<Builders[K]> };

/** Every command as a method that queues it and returns the pipeline (for chaining). */
export type PipelineMethods<Self> = { [K in keyof Builders]: Chained<Builders[K], Self> };

export interface ClientOptions {
  /** Default per-call timeout in ms (0 = none). Default 10000. */
  timeout?: number;
}

/** A keyspace event: which key, and what happened to it (`set`, `expired`, `del`, …). */
export interface KeyEvent {
  key: string;
  event: string;
  db: number;
  /** The event's offset in the server's event stream, when the message had one (see Message). */
  offset?: number;
}

/**
 * The kvws client: one typed method per command (`get`, `set`, `hgetall`, `configGet`, …), `call` for
 * anything, pipelines and transactions, pub/sub and keyspace helpers. It runs over a Transport: the
 * WebSocket one (`@kvws/client/ws`) or the HTTP one (`@kvws/client/http`).
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface declares the command methods installed below.
export class KvwsClient {
  readonly timeout: number;

  constructor(
    readonly transport: Transport,
    options: ClientOptions = {},
  ) {
    this.timeout = options.timeout ?? 10_000;
  }

  /**
   * Runs a built command. A blocking command (BLPOP…) gets its own blocking time on top of the call
   * timeout, and no timeout when it blocks forever (timeout 0).
   */
  run<T>(cmd: Command<T>, opts?: CallOptions): Promise<T> {
    const o = this.callOptions(opts);
    const block = blockingMs(cmd.argv);
    if (block !== null && o.timeout) o.timeout = block === 0 ? 0 : o.timeout + block;
    return this.transport.request({ kind: 'cmd', argv: cmd.argv }, o).then((v) => cmd.decode(v));
  }

  /** Runs any command by name and arguments; resolves with the reply's JSON value. */
  call(...argv: Arg[]): Promise<Value> {
    return this.run(command(argv));
  }

  /** The same methods with per-call options (timeout, AbortSignal) for the calls made through it. */
  with(opts: CallOptions): CommandMethods & { call(...argv: Arg[]): Promise<Value> } {
    const view = Object.create(this) as KvwsClient;
    const merged = this.callOptions(opts);
    view.run = <T>(cmd: Command<T>, o?: CallOptions) =>
      KvwsClient.prototype.run.call(this, cmd, { ...merged, ...o }) as Promise<T>;
    return view;
  }

  /** A pipeline: commands sent together, run one after another (not atomically). */
  pipeline(): Pipeline {
    return new Pipeline(this, 'pipeline');
  }

  /** A transaction: commands run atomically as MULTI … EXEC. */
  multi(): Pipeline {
    return new Pipeline(this, 'multi');
  }

  /**
   * Subscribes to channels. With a listener, it is called for each message; either way the returned
   * Subscription is also an async iterable. Resolves once the server confirmed every channel.
   */
  subscribe(channels: string | string[], listener?: (m: Message) => void): Promise<Subscription> {
    return this.subscribeAll('channel', typeof channels === 'string' ? [channels] : channels, listener);
  }

  /** Subscribes to glob patterns (`news.*`); messages carry the matching `pattern`. */
  psubscribe(patterns: string | string[], listener?: (m: Message) => void): Promise<Subscription> {
    return this.subscribeAll('pattern', typeof patterns === 'string' ? [patterns] : patterns, listener);
  }

  /**
   * Keyspace events for keys matching `pattern` (glob) in database `db`: every change, or only the given
   * event names. Needs the server to publish keyspace notifications (`--notify-keyspace-events KA`, or
   * `Kx` for expiries only) and the user to have channel rights on `__keyspace@<db>__:<pattern>`.
   */
  async onKeyspace(
    pattern: string,
    listener: (e: KeyEvent) => void,
    options: { db?: number; events?: string[] } = {},
  ): Promise<Subscription<KeyEvent>> {
    const db = options.db ?? 0;
    const prefix = `__keyspace@${db}__:`;
    const only = options.events ? new Set(options.events) : null;
    const out: Subscription<KeyEvent> = new Subscription(() => inner.unsubscribe());
    const inner = await this.psubscribe(`${prefix}${pattern}`, (m) => {
      if (!m.channel.startsWith(prefix) || (only && !only.has(m.data))) return;
      const e: KeyEvent = { key: m.channel.slice(prefix.length), event: m.data, db };
      if (m.offset !== undefined) e.offset = m.offset;
      out.deliver(e);
    });
    out.on(listener);
    return out;
  }

  /** Calls `listener(key)` when a key matching `pattern` expires (see onKeyspace for server settings). */
  onExpired(
    pattern: string,
    listener: (key: string) => void,
    options: { db?: number } = {},
  ): Promise<Subscription<KeyEvent>> {
    return this.onKeyspace(pattern, (e) => listener(e.key), { db: options.db, events: ['expired'] });
  }

  /**
   * Follows the stream at `key` (WebSocket transport): each entry added from `options.from` on (`$`, the
   * default: from now; `0`: the whole stream; an ID: after it) is delivered once, in ID order, to `listener`
   * and to every `for await` loop over the returned StreamTail — across reconnects, which resume after the
   * last entry received. Needs read access to the key. Resolves once the server started the tail; rejects
   * with KvwsError when it refused (NOPERM, WRONGTYPE, a bad ID). One tail per key on a client.
   */
  async tail(key: string, options: TailOptions = {}, listener?: (e: StreamEntry) => void): Promise<StreamTail> {
    if (!this.transport.tail) throw new KvwsError('ERR stream tails need the WebSocket transport');
    const t = new StreamTail(key);
    if (listener) t.on(listener);
    const control = await this.transport.tail(key, options, t.sink);
    t.control = control;
    if (t.last === '') t.last = control.after;
    return t;
  }

  /** Closes the transport; calls still waiting reject with ConnectionError. */
  close(): Promise<void> {
    return this.transport.close();
  }

  /** @internal The client's default timeout applied under `opts`. */
  callOptions(opts?: CallOptions): CallOptions {
    return { timeout: opts?.timeout ?? this.timeout, signal: opts?.signal };
  }

  private async subscribeAll(
    kind: 'channel' | 'pattern',
    names: string[],
    listener?: (m: Message) => void,
  ): Promise<Subscription> {
    const stops: (() => Promise<void>)[] = [];
    const sub: Subscription = new Subscription(async () => {
      await Promise.all(stops.map((s) => s()));
    });
    if (listener) sub.on(listener);
    try {
      for (const n of names) stops.push(await this.transport.subscribe(kind, n, (m) => sub.deliver(m)));
    } catch (e) {
      await sub.unsubscribe();
      throw e;
    }
    return sub;
  }
}

/** The command methods, installed on the prototype at the end of this module. */
export interface KvwsClient extends CommandMethods {}

/** A result of `exec({ keepErrors: true })`: each command's decoded result or its error. */
export type Settled<T = unknown> = { result: T } | { error: KvwsError };

/**
 * Commands queued and sent together with `exec()`: a pipeline (not atomic) or a transaction (MULTI … EXEC).
 * Methods are the client's, returning the pipeline for chaining.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface declares the command methods installed below.
export class Pipeline {
  private readonly commands: Command<unknown>[] = [];

  constructor(
    private readonly client: KvwsClient,
    readonly kind: 'pipeline' | 'multi',
  ) {}

  /** Queues a built command. */
  add(cmd: Command<unknown>): this {
    this.commands.push(cmd);
    return this;
  }

  /** Queues any command by name and arguments. */
  call(...argv: Arg[]): this {
    return this.add(command(argv));
  }

  get length(): number {
    return this.commands.length;
  }

  /**
   * Sends the queued commands. Resolves with their decoded results in order; rejects with the first
   * command's KvwsError (its message prefixed with its index) unless `keepErrors`. A transaction whose
   * WATCHed key changed resolves to null.
   */
  exec<T extends unknown[] = unknown[]>(opts?: CallOptions & { keepErrors?: false }): Promise<T>;
  exec(opts: CallOptions & { keepErrors: true }): Promise<Settled[]>;
  async exec(opts: CallOptions & { keepErrors?: boolean } = {}): Promise<unknown> {
    if (this.commands.length === 0) return [];
    const o = this.client.callOptions(opts);
    // In a pipeline (not in MULTI, where nothing blocks) blocking commands wait one after another.
    if (this.kind === 'pipeline' && o.timeout) {
      for (const c of this.commands) {
        const block = blockingMs(c.argv);
        if (block === null) continue;
        if (block === 0) {
          o.timeout = 0;
          break;
        }
        o.timeout += block;
      }
    }
    const v = await this.client.transport.request({ kind: this.kind, argvs: this.commands.map((c) => c.argv) }, o);
    if (v === null) return null;
    const envs = v as ({ result: Value } | { error: string })[];
    const settled: Settled[] = envs.map((e, i) =>
      'error' in e ? { error: new KvwsError(e.error) } : { result: this.commands[i].decode(e.result) },
    );
    if (opts.keepErrors) return settled;
    return settled.map((s, i) => {
      if ('error' in s) throw new KvwsError(`${s.error.message} (command ${i} of the ${this.kind})`);
      return s.result;
    });
  }
}

/** The command methods, installed on the prototype at the end of this module. */
export interface Pipeline extends PipelineMethods<Pipeline> {}

// One method per command builder, on both classes.
for (const name of Object.keys(builders) as (keyof Builders)[]) {
  const build = builders[name] as (...a: unknown[]) => Command<unknown>;
  Object.defineProperty(KvwsClient.prototype, name, {
    value(this: KvwsClient, ...args: unknown[]) {
      return this.run(build(...args));
    },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(Pipeline.prototype, name, {
    value(this: Pipeline, ...args: unknown[]) {
      return this.add(build(...args));
    },
    writable: true,
    configurable: true,
  });
}
