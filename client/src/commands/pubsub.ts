import { command, toNumber, toRecord, toStrings } from '../command.js';
import type { Arg } from '../types.js';

/**
 * Pub/sub commands that are plain calls (Redis's pubsub.c). Subscribing is not here: use
 * `client.subscribe()` / `client.psubscribe()` and `Subscription.unsubscribe()`, which keep the
 * subscription across reconnects.
 */
export const pubsubCommands = {
  /** PUBLISH channel message → the number of subscribers (channel and pattern) that received it. */
  publish: (channel: string, message: Arg) => command(['PUBLISH', channel, message], toNumber),
  /** PUBSUB CHANNELS [pattern] → the channels with at least one subscriber (matching the glob `pattern`). */
  pubsubChannels: (pattern?: string) =>
    command(pattern === undefined ? ['PUBSUB', 'CHANNELS'] : ['PUBSUB', 'CHANNELS', pattern], toStrings),
  /** PUBSUB NUMSUB [channel …] → `{channel: subscriber count}` for each channel asked about. */
  pubsubNumsub: (...channels: string[]) => command(['PUBSUB', 'NUMSUB', ...channels], (v) => toRecord(v, toNumber)),
  /** PUBSUB NUMPAT → the number of distinct patterns subscribed to (by all clients). */
  pubsubNumpat: () => command(['PUBSUB', 'NUMPAT'], toNumber),
  /** PUBSUB HELP → the subcommands' help text, one line per entry. */
  pubsubHelp: () => command(['PUBSUB', 'HELP'], toStrings),
};
