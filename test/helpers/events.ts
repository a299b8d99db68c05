import type Redis from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type RunningServer, redisClient } from './server.js';
import { sleep } from './wait.js';

export interface KeyspaceEventsOptions {
  /** Getters for the file's server and main client, read in hooks: call useKeyspaceEvents after useServer. */
  server: () => RunningServer;
  r: () => Redis;
  /** Common prefix of the file's keys: events on keys under it are recorded. */
  prefix: string;
  /** Database whose keyspace channels are listened to ('*': every database). */
  db: number | '*';
  /** Makes a key under `prefix` from a name; used for the two marker keys. */
  key: (name: string) => string;
  /** The name an event on `key` is reported under (default: the key without `prefix`). */
  name?: (key: string) => string;
  /** notify-keyspace-events for all the file's tests, restored after them. Leave out to set it per call. */
  flags?: string;
}

/**
 * Registers hooks that, for the calling file's tests, subscribe a connection of its own to the keyspace
 * channels of keys under `prefix` (and set notify-keyspace-events to `flags`, if given). Returns `events(fn)`:
 * it runs `fn` and resolves to the keyspace events `fn` caused on those keys, as "<name> <event>", in order.
 * SETs on two marker keys bracket `fn`, so events of earlier commands still in flight are not counted.
 */
export function useKeyspaceEvents(o: KeyspaceEventsOptions): (fn: () => Promise<unknown>) => Promise<string[]> {
  const name = o.name ?? ((key: string) => key.slice(o.prefix.length));
  let sub: Redis | undefined;
  let savedFlags: string | undefined;
  beforeAll(async () => {
    sub = redisClient(o.server());
    if (o.flags !== undefined) {
      savedFlags = ((await o.r().config('GET', 'notify-keyspace-events')) as string[])[1];
      await o.r().config('SET', 'notify-keyspace-events', o.flags);
    }
    await sub.psubscribe(`__keyspace@${o.db}__:${o.prefix}*`);
  });
  afterAll(async () => {
    if (savedFlags !== undefined) await o.r().config('SET', 'notify-keyspace-events', savedFlags);
    sub?.disconnect();
  });

  return async (fn) => {
    const r = o.r();
    const subscriber = sub as Redis;
    const got: string[] = [];
    const start = o.key('mark-start');
    const end = o.key('mark-end');
    let recording = false;
    let started!: () => void;
    let ended!: () => void;
    const startSeen = new Promise<void>((res) => {
      started = res;
    });
    const endSeen = new Promise<void>((res) => {
      ended = res;
    });
    // A marker counts at its `set` event (with class n, a new marker key first reports `new`).
    const onMessage = (_pattern: string, channel: string, message: string): void => {
      const key = channel.slice(channel.indexOf(':') + 1);
      if (key === start) {
        if (message === 'set') {
          recording = true;
          started();
        }
      } else if (key === end) {
        if (recording && message === 'set') ended();
      } else if (recording) {
        got.push(`${name(key)} ${message}`);
      }
    };
    subscriber.on('pmessage', onMessage);
    try {
      await r.set(start, '1');
      await bounded(startSeen, subscriber, 'the start marker');
      await fn();
      await r.set(end, '1');
      await bounded(endSeen, subscriber, 'the end marker');
    } finally {
      subscriber.off('pmessage', onMessage);
    }
    return got;
  };
}

/** Waits for `seen` at most 10 s; otherwise fails naming what was missed and the subscriber's state. */
async function bounded(seen: Promise<void>, sub: Redis, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`keyspace event for ${what} did not arrive within 10 s (subscriber ${sub.status})`)),
      10_000,
    );
  });
  try {
    await Promise.race([seen, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Records the keyevent notifications of db 0 on keys under `prefix` while `fn` runs: sets notify-keyspace-events
 * to KEA through `r` (restoring the old value at the end), then opens a subscriber with `connect` (the caller
 * closes it) and psubscribes it to `__keyevent@0__:*`. After `fn`, waits until `wait.count` events have arrived
 * (at most 2 s), then `wait.settleMs` more. Returns the events, in order, as "<event> <name>" (name = the key
 * without `prefix`).
 */
export async function keyevents(
  r: Redis,
  connect: () => Redis,
  prefix: string,
  wait: { count: number; settleMs?: number },
  fn: () => Promise<unknown>,
): Promise<string[]> {
  const original = ((await r.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';
  await r.config('SET', 'notify-keyspace-events', 'KEA');
  const sub = connect();
  const events: string[] = [];
  sub.on('pmessage', (_pattern: string, channel: string, key: string) => {
    if (key.startsWith(prefix)) events.push(`${channel.slice(channel.indexOf(':') + 1)} ${key.slice(prefix.length)}`);
  });
  try {
    await sub.psubscribe('__keyevent@0__:*');
    await fn();
    const deadline = Date.now() + 2000;
    while (events.length < wait.count && Date.now() < deadline) await sleep(10);
    if (wait.settleMs) await sleep(wait.settleMs);
    return events;
  } finally {
    await r.config('SET', 'notify-keyspace-events', original);
  }
}
