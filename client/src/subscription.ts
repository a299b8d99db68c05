import type { Message } from './types.js';

/** Messages a subscription's async iterator keeps for a slow reader before dropping the oldest. */
export const ITERATOR_BUFFER = 10_000;

/**
 * A live subscription: listen with `on(listener)` and/or iterate with `for await (const m of sub)`.
 * `unsubscribe()` ends it (and every iteration). A reader that falls more than ITERATOR_BUFFER messages
 * behind loses the oldest ones; `dropped` counts them.
 */
export class Subscription<T = Message> implements AsyncIterable<T> {
  private readonly listeners = new Set<(m: T) => void>();
  private readonly readers = new Set<{ queue: T[]; wake: (() => void) | null }>();
  private ended = false;
  /** Messages dropped because an iterator's buffer was full. */
  dropped = 0;

  constructor(private readonly stop: () => Promise<void>) {}

  /** Delivers one message to every listener and iterator (called by the client). */
  deliver(m: T): void {
    if (this.ended) return;
    for (const l of this.listeners) l(m);
    for (const r of this.readers) {
      if (r.queue.length >= ITERATOR_BUFFER) {
        r.queue.shift();
        this.dropped++;
      }
      r.queue.push(m);
      r.wake?.();
    }
  }

  /** Adds a listener; returns a function that removes it. */
  on(listener: (m: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ends the subscription on the server and every iteration over it. */
  async unsubscribe(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    for (const r of this.readers) r.wake?.();
    this.listeners.clear();
    await this.stop();
  }

  get active(): boolean {
    return !this.ended;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    const reader: { queue: T[]; wake: (() => void) | null } = { queue: [], wake: null };
    this.readers.add(reader);
    const done = (): IteratorResult<T> => {
      this.readers.delete(reader);
      return { done: true, value: undefined };
    };
    return {
      next: async () => {
        while (reader.queue.length === 0) {
          if (this.ended) return done();
          await new Promise<void>((r) => {
            reader.wake = r;
          });
          reader.wake = null;
        }
        return { done: false, value: reader.queue.shift() as T };
      },
      return: async () => done(),
    };
  }
}
