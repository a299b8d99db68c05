import { command, toBoolean, toNumber, toStrings } from '../command.js';
import type { Arg, Value } from '../types.js';

/** CLIENT KILL's filters: the connections matching all the given ones are closed. */
export interface ClientKillFilter {
  id?: number;
  type?: 'NORMAL' | 'MASTER' | 'SLAVE' | 'REPLICA' | 'PUBSUB';
  user?: string;
  /** The connection's `ip:port` (as CLIENT LIST's `addr`). */
  addr?: string;
  /** The server's local `ip:port` of the connection (CLIENT LIST's `laddr`). */
  laddr?: string;
  /** Whether to spare the calling connection (default true). */
  skipme?: boolean;
}

/**
 * One CLIENT LIST / CLIENT INFO line as `{field: value}`: `id`, `addr`, `laddr`, `name`, `age`, `idle`,
 * `flags`, `db`, `sub`, `psub`, `multi`, `cmd`, `user`, `resp`, `lib-name`, `lib-ver`, kvws's `door`…
 * (all values as text, as Redis prints them).
 */
export type ClientInfo = Record<string, string>;

/** Parses `k=v k=v …` lines (values have no spaces: names cannot contain any). */
function toClientInfos(v: Value): ClientInfo[] {
  const out: ClientInfo[] = [];
  for (const line of String(v ?? '').split('\n')) {
    if (line.trim() === '') continue;
    const info: ClientInfo = {};
    for (const field of line.trim().split(' ')) {
      const eq = field.indexOf('=');
      if (eq > 0) info[field.slice(0, eq)] = field.slice(eq + 1);
    }
    out.push(info);
  }
  return out;
}

/**
 * Connection commands (Redis's networking.c). AUTH, HELLO, QUIT and RESET are not here: the transports
 * own authentication (a token or password in their options) and the connection's life (`client.close()`).
 * The CLIENT settings below belong to the connection: over the WebSocket they last for its session, over
 * the HTTP API each request is a fresh session.
 */
export const connectionCommands = {
  /** PING [message] → "PONG", or the message. */
  ping: (message?: Arg) => command<string>(message === undefined ? ['PING'] : ['PING', message]),
  /** ECHO message → the message. */
  echo: (message: Arg) => command<string>(['ECHO', message]),
  /** CLIENT ID → this connection's id. */
  clientId: () => command(['CLIENT', 'ID'], toNumber),
  /** CLIENT SETNAME connection-name → "OK" (names cannot contain spaces; "" clears it). */
  clientSetname: (name: string) => command<'OK'>(['CLIENT', 'SETNAME', name]),
  /** CLIENT GETNAME → the connection's name, or null. */
  clientGetname: () => command<string | null>(['CLIENT', 'GETNAME']),
  /** CLIENT SETINFO LIB-NAME libname | LIB-VER libver → "OK" (shown in CLIENT LIST as lib-name/lib-ver). */
  clientSetinfo: (attribute: 'LIB-NAME' | 'LIB-VER', value: string) =>
    command<'OK'>(['CLIENT', 'SETINFO', attribute, value]),
  /**
   * CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id …] → one ClientInfo per connection
   * (admin: needs the `client|list` permission).
   */
  clientList: (options?: { type?: 'NORMAL' | 'MASTER' | 'REPLICA' | 'PUBSUB'; id?: number[] }) => {
    const argv: Arg[] = ['CLIENT', 'LIST'];
    if (options?.type) argv.push('TYPE', options.type);
    if (options?.id) argv.push('ID', ...options.id);
    return command(argv, toClientInfos);
  },
  /** CLIENT INFO → this connection's ClientInfo. */
  clientInfo: () => command(['CLIENT', 'INFO'], (v) => toClientInfos(v)[0] ?? {}),
  /**
   * CLIENT KILL [ID id] [TYPE t] [USER u] [ADDR ip:port] [LADDR ip:port] [SKIPME yes|no] → the number of
   * connections closed (the filter form; give at least one filter). Admin.
   */
  clientKill: (filter: ClientKillFilter) => {
    const argv: Arg[] = ['CLIENT', 'KILL'];
    if (filter.id !== undefined) argv.push('ID', filter.id);
    if (filter.type !== undefined) argv.push('TYPE', filter.type);
    if (filter.user !== undefined) argv.push('USER', filter.user);
    if (filter.addr !== undefined) argv.push('ADDR', filter.addr);
    if (filter.laddr !== undefined) argv.push('LADDR', filter.laddr);
    if (filter.skipme !== undefined) argv.push('SKIPME', filter.skipme ? 'YES' : 'NO');
    return command(argv, toNumber);
  },
  /**
   * CLIENT UNBLOCK client-id [TIMEOUT|ERROR] → true if that connection was blocked (BLPOP, BZPOPMIN…) and
   * is now unblocked, as at its timeout or (`ERROR`) with an UNBLOCKED error. Admin.
   */
  clientUnblock: (id: number, mode?: 'TIMEOUT' | 'ERROR') =>
    command(mode === undefined ? ['CLIENT', 'UNBLOCK', id] : ['CLIENT', 'UNBLOCK', id, mode], toBoolean),
  /** CLIENT HELP → the subcommands' help text, one line per entry. */
  clientHelp: () => command(['CLIENT', 'HELP'], toStrings),
};
