import type { Client } from '../engine/client.js';
import { globMatch } from '../engine/glob.js';
import { CommandError, MultiReply, PushReply, type Reply } from '../protocol/reply.js';
import type { Handlers } from './types.js';

type Kind = 'subscribe' | 'unsubscribe' | 'psubscribe' | 'punsubscribe';

/** One confirmation per channel/pattern: [kind, name, subscription count] as a push (RESP2: array). */
function confirm(client: Client, kind: Kind, name: string | null): PushReply {
  return new PushReply([kind, name, client.subscriptionCount]);
}

/** (P)UNSUBSCRIBE: named ones, or all when none named; with nothing to drop, one reply with a nil name. */
function unsubscribeGeneric(client: Client, argv: string[], pattern: boolean): Reply {
  const ps = client.engine.pubsub;
  const kind: Kind = pattern ? 'punsubscribe' : 'unsubscribe';
  const names = argv.length > 1 ? argv.slice(1) : [...(pattern ? client.patterns : client.channels)];
  if (names.length === 0) return new MultiReply([confirm(client, kind, null)]);
  const out: Reply[] = [];
  for (const n of names) {
    if (pattern) ps.punsubscribe(client, n);
    else ps.unsubscribe(client, n);
    out.push(confirm(client, kind, n));
  }
  return new MultiReply(out);
}

const KEYSPACE_CHANNEL = /^__keyspace@\d+__:/;

/** Whether PUBSUB CHANNELS may show `ch` to a restricted session. */
function channelVisible(client: Client, ch: string): boolean {
  const acl = client.engine.acl;
  if (!acl.channelAllowed(client, ch, false)) return false;
  const m = KEYSPACE_CHANNEL.exec(ch);
  return m === null || acl.canReadKey(client, ch.slice(m[0].length));
}

/**
 * kvws's `maxSubscriptionsPerClient`: throws when subscribing to the names of argv[1..] that the client does
 * not hold yet would take its channels plus patterns beyond the limit (0 = none). The command is then refused
 * whole, before any change, so the subscriptions the client has are kept. Every front door's SUBSCRIBE and
 * PSUBSCRIBE ends here (RESP, WebSocket frames, the HTTP API's event streams).
 */
function checkSubscriptionLimit(client: Client, argv: string[], pattern: boolean): void {
  const max = client.engine.options.maxSubscriptionsPerClient;
  if (max === 0) return;
  const held = pattern ? client.patterns : client.channels;
  let total = client.subscriptionCount;
  if (total + argv.length - 1 <= max) return;
  const fresh = new Set<string>();
  for (let i = 1; i < argv.length; i++) if (!held.has(argv[i])) fresh.add(argv[i]);
  total += fresh.size;
  if (total > max) throw new CommandError(`ERR max subscriptions per client reached (${max})`);
}

export const handlers: Handlers = {
  // SUBSCRIBE channel [channel ...]
  SUBSCRIBE(client, argv) {
    checkSubscriptionLimit(client, argv, false);
    const out: Reply[] = [];
    for (let i = 1; i < argv.length; i++) {
      client.engine.pubsub.subscribe(client, argv[i]);
      out.push(confirm(client, 'subscribe', argv[i]));
    }
    return new MultiReply(out);
  },

  // PSUBSCRIBE pattern [pattern ...]
  PSUBSCRIBE(client, argv) {
    checkSubscriptionLimit(client, argv, true);
    const out: Reply[] = [];
    for (let i = 1; i < argv.length; i++) {
      client.engine.pubsub.psubscribe(client, argv[i]);
      out.push(confirm(client, 'psubscribe', argv[i]));
    }
    return new MultiReply(out);
  },

  // UNSUBSCRIBE [channel [channel ...]]
  UNSUBSCRIBE: (client, argv) => unsubscribeGeneric(client, argv, false),

  // PUNSUBSCRIBE [pattern [pattern ...]]
  PUNSUBSCRIBE: (client, argv) => unsubscribeGeneric(client, argv, true),

  // PUBLISH channel message
  PUBLISH(client, argv) {
    client.engine.stats.pubsubMessages++;
    return client.engine.publishEvent(argv[1], argv[2], null);
  },

  // PUBSUB CHANNELS [pattern]
  'PUBSUB|CHANNELS'(client, argv) {
    if (argv.length > 3) {
      throw new CommandError(
        `ERR unknown subcommand or wrong number of arguments for '${argv[1].slice(0, 128)}'. Try PUBSUB HELP.`,
      );
    }
    const out: string[] = [];
    const acl = client.engine.acl;
    const filtered = !acl.permissions(client).unrestricted || client.tokenRules !== null;
    for (const ch of client.engine.pubsub.channels.keys()) {
      if (argv.length >= 3 && !globMatch(argv[2], ch)) continue;
      // kvws: only channels the caller may use, and no keyspace channel naming a key it may not read.
      if (filtered && !channelVisible(client, ch)) continue;
      out.push(ch);
    }
    return out;
  },

  // PUBSUB NUMSUB [channel [channel ...]]
  'PUBSUB|NUMSUB'(client, argv) {
    const out: Reply[] = [];
    for (let i = 2; i < argv.length; i++) out.push(argv[i], client.engine.pubsub.channels.get(argv[i])?.size ?? 0);
    return out;
  },

  // PUBSUB NUMPAT
  'PUBSUB|NUMPAT'(client) {
    return client.engine.pubsub.patterns.size;
  },

  // PUBSUB HELP
  'PUBSUB|HELP'() {
    return [
      'PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'CHANNELS [<pattern>]',
      "    Return the currently active channels matching a <pattern> (default: '*').",
      'NUMPAT',
      '    Return number of subscriptions to patterns.',
      'NUMSUB [<channel> ...]',
      '    Return the number of subscribers for the specified channels, excluding',
      '    pattern subscriptions(default: no channels).',
      'HELP',
      '    Print this help.',
    ];
  },
};
