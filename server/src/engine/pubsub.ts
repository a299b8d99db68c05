import { PushReply } from '../protocol/reply.js';
import type { Client } from './client.js';
import { globMatch } from './glob.js';

/**
 * Channel and pattern subscriptions (Redis's pubsub.c). Delivery pushes a PushReply to each subscriber's
 * `client.push`; the front door encodes it (RESP3 `>` push, RESP2 array, JSON frame).
 */
export class PubSub {
  readonly channels = new Map<string, Set<Client>>();
  readonly patterns = new Map<string, Set<Client>>();

  /** Subscribes; returns true if the client was not already subscribed. */
  subscribe(client: Client, channel: string): boolean {
    if (client.channels.has(channel)) return false;
    client.channels.add(channel);
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(client);
    if (client.catchup !== null) client.engine.events.subscribed(client, channel, false);
    return true;
  }

  unsubscribe(client: Client, channel: string): boolean {
    if (!client.channels.delete(channel)) return false;
    const set = this.channels.get(channel);
    if (set) {
      set.delete(client);
      if (set.size === 0) this.channels.delete(channel);
    }
    return true;
  }

  psubscribe(client: Client, pattern: string): boolean {
    if (client.patterns.has(pattern)) return false;
    client.patterns.add(pattern);
    let set = this.patterns.get(pattern);
    if (!set) {
      set = new Set();
      this.patterns.set(pattern, set);
    }
    set.add(client);
    if (client.catchup !== null) client.engine.events.subscribed(client, pattern, true);
    return true;
  }

  punsubscribe(client: Client, pattern: string): boolean {
    if (!client.patterns.delete(pattern)) return false;
    const set = this.patterns.get(pattern);
    if (set) {
      set.delete(client);
      if (set.size === 0) this.patterns.delete(pattern);
    }
    return true;
  }

  /** Drops every subscription of a client that goes away. */
  removeClient(client: Client): void {
    // Most clients have no subscription (every HTTP request is a client): no copies for them.
    if (client.channels.size !== 0) for (const ch of [...client.channels]) this.unsubscribe(client, ch);
    if (client.patterns.size !== 0) for (const p of [...client.patterns]) this.punsubscribe(client, p);
  }

  /** True when nobody is subscribed to anything (fast path for keyspace notifications). */
  get idle(): boolean {
    return this.channels.size === 0 && this.patterns.size === 0;
  }

  /**
   * Delivers `message` on `channel` to channel subscribers, then to pattern subscribers whose pattern
   * matches. Returns the number of deliveries (PUBLISH's reply). With `key` (keyspace notifications),
   * only subscribers whose ACL lets them read that key receive it.
   */
  publish(channel: string, message: string, key: string | null = null, offset = 0): number {
    let n = 0;
    const set = this.channels.get(channel);
    if (set) {
      const msg = new PushReply(['message', channel, message], offset);
      for (const c of set) {
        // A client replaying the log (resume) gets this event from the log, in order.
        if (c.catchup !== null) {
          n++;
          continue;
        }
        if (key !== null && !c.engine.acl.canReadKey(c, key)) continue;
        c.push(msg);
        n++;
      }
    }
    if (this.patterns.size !== 0) {
      for (const [pattern, clients] of this.patterns) {
        if (!globMatch(pattern, channel)) continue;
        const msg = new PushReply(['pmessage', pattern, channel, message], offset);
        for (const c of clients) {
          if (c.catchup !== null) {
            n++;
            continue;
          }
          if (key !== null && !c.engine.acl.canReadKey(c, key)) continue;
          c.push(msg);
          n++;
        }
      }
    }
    return n;
  }
}
