import type { StreamEntry } from './commands/stream.js';
import { ITERATOR_BUFFER } from './subscription.js';

/**
 * What happened to a tail besides entries: its stream was deleted (the tail goes on with a stream created
 * again at the key), or it ended — the server refused a read (a KvwsError: `NOPERM` after an ACL change,
 * `WRONGTYPE`), or the client was closed (a ConnectionError).
 */
export type TailEvent = { event: 'deleted' } | { event: 'ended'; error: Error };

/** `client.tail`'s options: where to start (`$`: new entries only, the default; `0`: the whole stream; an
 * ID: the entries after it) and the most entries per push from the server. */
export interface TailOptions {
  from?: string;
  count?: number;
}

/** What a transport hands a tail's consumer: entries (already in order, each once) and events. */
export interface TailSink {
  entries(entries: StreamEntry[]): void;
  event(e: TailEvent): void;
}

/** The transport's side of a tail: where it started, stop and restart its deliveries (flow control), end it. */
export interface TailControl {
  /** The ID the entries come after (for `$`, the stream's last ID when the tail started). */
  after: string;
  pause(): void;
  resume(): void;
  untail(): Promise<void>;
}

/**
 * A live stream tail (`client.tail`): listen with `on(listener)` and/or iterate with `for await (const e of
 * tail)`. Entries arrive in ID order, each once, across reconnects (the transport resumes from `last`).
 * An iterator that falls ITERATOR_BUFFER entries behind pauses the tail on the server, and resumes it
 * from `last` once it has caught up halfway: nothing is dropped. `untail()` ends it; so does the server
 * when a read is refused (an `ended` event; iterators then throw its error).
 */
export class StreamTail implements AsyncIterable<StreamEntry> {
  private readonly listeners = new Set<(e: StreamEntry) => void>();
  private readonly watchers = new Set<(e: TailEvent) => void>();
  private readonly readers = new Set<{ queue: StreamEntry[]; wake: (() => void) | null }>();
  private ended = false;
  private error: Error | null = null;
  private paused = false;
  /**
   * The ID of the last entry delivered (at first, where the tail started): pass it as `from` to pick up
   * there later, in another page load for instance.
   */
  last = '';
  /** @internal Set by the client once the transport opened the tail. */
  control: TailControl | null = null;

  constructor(readonly key: string) {}

  /** @internal The sink the transport delivers to. */
  readonly sink: TailSink = {
    entries: (entries) => {
      if (this.ended) return;
      let full = false;
      for (const e of entries) {
        this.last = e.id;
        for (const l of this.listeners) call(l, e);
        for (const r of this.readers) {
          r.queue.push(e);
          r.wake?.();
          if (r.queue.length >= ITERATOR_BUFFER) full = true;
        }
      }
      if (full && !this.paused) {
        this.paused = true;
        this.control?.pause();
      }
    },
    event: (e) => {
      if (this.ended) return;
      if (e.event === 'ended') this.finish(e.error);
      for (const w of this.watchers) call(w, e);
    },
  };

  /** Adds an entry listener; returns a function that removes it. */
  on(listener: (e: StreamEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adds a listener for `deleted` and `ended` events; returns a function that removes it. */
  onEvent(listener: (e: TailEvent) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** Ends the tail on the server and every iteration over it (entries already queued are still read). */
  async untail(): Promise<void> {
    if (this.ended) return;
    this.finish(null);
    await this.control?.untail();
  }

  get active(): boolean {
    return !this.ended;
  }

  private finish(error: Error | null): void {
    this.ended = true;
    this.error = error;
    this.listeners.clear();
    for (const r of this.readers) r.wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEntry> {
    const reader: { queue: StreamEntry[]; wake: (() => void) | null } = { queue: [], wake: null };
    this.readers.add(reader);
    const done = (): IteratorResult<StreamEntry> => {
      this.readers.delete(reader);
      this.flow();
      return { done: true, value: undefined };
    };
    return {
      next: async () => {
        while (reader.queue.length === 0) {
          if (this.ended) {
            done();
            if (this.error) throw this.error;
            return { done: true, value: undefined };
          }
          await new Promise<void>((r) => {
            reader.wake = r;
          });
          reader.wake = null;
        }
        const value = reader.queue.shift() as StreamEntry;
        this.flow();
        return { done: false, value };
      },
      return: async () => done(),
    };
  }

  /** Resumes a paused tail once every reader is below half its buffer. */
  private flow(): void {
    if (!this.paused || this.ended) return;
    for (const r of this.readers) if (r.queue.length > ITERATOR_BUFFER / 2) return;
    this.paused = false;
    this.control?.resume();
  }
}

/** Calls a listener; what it throws is reported as uncaught, later, and does not stop the deliveries. */
function call<T>(listener: (x: T) => void, x: T): void {
  try {
    listener(x);
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}

/** Compares two stream IDs (`ms-seq`, canonical decimal as the server sends them): negative, 0 or positive. */
export function compareIds(a: string, b: string): number {
  const i = a.indexOf('-');
  const j = b.indexOf('-');
  return cmpDec(a.slice(0, i), b.slice(0, j)) || cmpDec(a.slice(i + 1), b.slice(j + 1));
}

function cmpDec(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** An ID as the client may write it (`5`, `0005-1`) in canonical `ms-seq` form (`5-0`, `5-1`). */
export function canonicalId(id: string): string {
  const [ms, seq = '0'] = id.split('-');
  const strip = (x: string) => x.replace(/^0+(?=\d)/, '');
  return `${strip(ms)}-${strip(seq)}`;
}
