import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * A value that components can watch: `set` replaces it and calls every listener (synchronously, in
 * subscription order). The dashboard's shared state (connection state, feed, notices, stats) lives in these,
 * held by the Session; components read them with `useStore`.
 */
export class Store<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(private current: T) {}

  get value(): T {
    return this.current;
  }

  set(value: T): void {
    if (Object.is(value, this.current)) return;
    this.current = value;
    for (const l of [...this.listeners]) l(value);
  }

  update(f: (value: T) => T): void {
    this.set(f(this.current));
  }

  /** Adds a listener; returns a function that removes it. */
  subscribe(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The store's value; the component re-renders whenever it changes. */
export function useStore<T>(store: Store<T>): T {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
  return store.value;
}

/** `Date.now()`, refreshed every `ms` while the component is mounted (for live countdowns). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Calls the latest `fn` every `ms` while mounted (and `ms` is not null). */
export function useInterval(fn: () => void, ms: number | null): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    if (ms === null) return;
    const t = setInterval(() => latest.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}
