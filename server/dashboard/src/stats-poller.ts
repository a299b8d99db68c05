import { builders, type ClientInfo } from '@kvws/client';
import { ActionError, type Explained } from './explain.js';
import type { Session } from './session.js';
import { Store } from './store.js';

/**
 * Server statistics, polled through the client: INFO every POLL_MS (and, when the user may, CLIENT LIST
 * for the clients by front door). Each poll becomes a Sample; the last HISTORY samples are kept for the
 * charts. Started by the Stats view when it is first shown (so users who never look do not poll, and a user
 * without INFO gets one refusal, explained), then runs until sign-out. A refused INFO stops it.
 */

/** Fields of INFO, by name (`used_memory` → "1234567"), plus `db0` … of the keyspace section. */
export type Info = Record<string, string>;

export interface Sample {
  /** Unix ms. */
  t: number;
  /** Commands per second since the previous sample (null for the first). */
  ops: number | null;
  /** Connected clients by front door; `other` is what INFO alone cannot attribute (RESP and HTTP). */
  clients: { resp: number; ws: number; http: number; other: number };
  /** Bytes. */
  memory: { used: number; rss: number };
  /** Keys per database index (databases holding none are absent). */
  keys: Record<number, number>;
  info: Info;
}

export const POLL_MS = 2000;
/** Samples kept: 5 minutes at POLL_MS. */
export const HISTORY = 150;

/** Parses INFO's text (`# Section` headers, `name:value` lines). */
export function parseInfo(text: string): Info {
  const out: Info = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** `keys=12,expires=3,avg_ttl=0` → { keys: 12, expires: 3, avg_ttl: 0 }. */
export function parseFields(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of value.split(',')) {
    const [k, v] = part.split('=');
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

export class StatsPoller {
  readonly samples = new Store<Sample[]>([]);
  /** Why polling stopped (INFO refused), or null. */
  readonly error = new Store<Explained | null>(null);
  /** Whether the clients by front door come from CLIENT LIST (exact) or INFO (WebSocket and the rest). */
  readonly exactDoors = new Store<boolean>(true);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private stopped = false;

  constructor(private readonly session: Session) {}

  /** Starts polling unless it runs already (or was stopped for good). */
  ensureStarted(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.error.set(null);
    void this.poll();
  }

  /** Stops polling (sign-out). */
  stop(): void {
    this.stopped = true;
    this.running = false;
    clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    try {
      const info = parseInfo(await this.session.run(builders.info()));
      let list: ClientInfo[] | null = null;
      if (this.exactDoors.value) {
        try {
          list = await this.session.run(builders.clientList());
        } catch (e) {
          if (!(e instanceof ActionError && e.code === 'NOPERM')) throw e;
          this.exactDoors.set(false);
        }
      }
      this.add(info, list);
    } catch (e) {
      const ex = e instanceof ActionError ? e.explained : this.session.explain(e, ['INFO']);
      // A refusal is final; anything else (a reconnect) is retried at the next tick.
      if (ex.code === 'NOPERM') {
        this.error.set(ex);
        this.running = false;
        return;
      }
    }
    if (this.running) this.timer = setTimeout(() => void this.poll(), POLL_MS);
  }

  private add(info: Info, list: ClientInfo[] | null): void {
    const t = Date.now();
    const prev = this.samples.value.at(-1);
    const commands = Number(info.total_commands_processed ?? 0);
    const prevCommands = prev ? Number(prev.info.total_commands_processed ?? 0) : Number.NaN;
    const ops = prev && commands >= prevCommands ? ((commands - prevCommands) * 1000) / Math.max(1, t - prev.t) : null;
    const clients = { resp: 0, ws: 0, http: 0, other: 0 };
    if (list) {
      for (const c of list) {
        const door = c.door;
        if (door === 'resp' || door === 'ws' || door === 'http') clients[door]++;
        else clients.other++;
      }
    } else {
      clients.ws = Number(info.ws_connected_clients ?? 0);
      clients.other = Math.max(0, Number(info.connected_clients ?? 0) - clients.ws);
    }
    const keys: Record<number, number> = {};
    for (const [name, value] of Object.entries(info)) {
      const m = /^db(\d+)$/.exec(name);
      if (m) keys[Number(m[1])] = parseFields(value).keys ?? 0;
    }
    const sample: Sample = {
      t,
      ops,
      clients,
      memory: { used: Number(info.used_memory ?? 0), rss: Number(info.used_memory_rss ?? 0) },
      keys,
      info,
    };
    this.samples.update((s) => [...s.slice(-(HISTORY - 1)), sample]);
  }
}
