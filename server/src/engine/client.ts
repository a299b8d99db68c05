import type { User } from '../auth/acl-user.js';
import type { Permissions } from '../auth/permissions.js';
import type { Catchup } from '../events/event-log.js';
import type { Reply } from '../protocol/reply.js';
import type { Db } from './db.js';
import type { Engine } from './engine.js';

/** Which front door a client came through (CLIENT LIST `lib-name` aside, this is kvws's own field). */
export type FrontDoor = 'resp' | 'ws' | 'http' | 'internal';

/** A key a client WATCHes: its db, and whether it held a live value with a deadline when watched. */
export interface WatchedKey {
  db: number;
  key: string;
  expiresAt: number | undefined;
}

/** MULTI state: queued commands and whether EXEC must fail. */
export interface MultiState {
  queue: string[][];
  /** A queueing error happened: EXEC answers EXECABORT. */
  error: boolean;
}

/**
 * A session: what Redis calls a client. Every front door creates one per connection (the HTTP API one per
 * request, recycling a keep-alive connection's object with `reopen`) and passes it to `engine.execute`.
 * Handlers read `client.db` and `client.engine`.
 */
export class Client {
  /** Unique for the server's life; a new one at each `reopen`. */
  id: number;
  createdAt: number;
  name = '';
  libName = '';
  libVer = '';
  /** RESP protocol version negotiated with HELLO (2 or 3). The WebSocket keeps 3; the HTTP API uses 2 (Upstash's shapes). */
  resp: 2 | 3 = 2;
  db: Db;
  lastInteraction: number;
  lastCommand = 'NULL';
  /** The AOF's sequence number of this client's last records (persistence/aof.ts, beforeReply). */
  aofSeq = 0;
  /** Arguments of the command running now (set by the dispatcher; a blocking command keeps them). */
  argv: string[] = [];
  multi: MultiState | null = null;
  /** Keys this client WATCHes: "db\0key" → whether it held a live value with a deadline when watched. */
  readonly watched = new Map<string, WatchedKey>();
  /** Set when a watched key changed: EXEC returns a null array. */
  dirtyCas = false;
  /** True while EXEC runs the queue: blocking commands behave as if their timeout had passed. */
  inExec = false;
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  /** A resume in progress (events/event-log.ts): live pub/sub deliveries wait until the log is replayed. */
  catchup: Catchup | null = null;
  /** Pending blocking operation, if any (see blocking.ts). */
  blocked: { cancel(error: boolean): void; keys: string[]; db: number } | null = null;
  /** Set by a handler (QUIT) that wants the connection closed once its reply is written. */
  closeAfterReply = false;
  closed = false;
  /** For CLIENT LIST's `cmd`/`qbuf`-like fields and CLIENT KILL. */
  addr: string;
  laddr: string;
  /**
   * In MONITOR mode (`engine.addMonitor`): receives a `MonitorLine` for every command any client runs, and
   * may itself run only commands that do not touch the keyspace (Redis: a monitor is a replica).
   */
  monitor = false;
  /** Front-door hooks, set by whoever owns the connection. */
  push(_reply: Reply): void {}
  /**
   * Delivers `reply` after the reply to the command this client is running: a monitor's line about its own
   * command, which Redis writes after that command's reply. Called only while the client's command runs
   * (inside `engine.execute`). The RESP port writes it right after the reply; the default pushes it once
   * the current synchronous work is done (after the reply of a command that answers at once).
   */
  pushAfterReply(reply: Reply): void {
    queueMicrotask(() => this.push(reply));
  }
  /** Closes the connection (CLIENT KILL, QUIT after reply, output-buffer overflow). */
  kill(_reason: string): void {}
  /** Bytes waiting in the output buffer (CLIENT LIST omem). */
  outputBytes(): number {
    return 0;
  }
  /**
   * The session's token expired (auth/acl.ts has already dropped its rights and subscriptions). The front
   * door tells the peer; the default closes the connection.
   */
  onAuthExpired(): void {
    this.kill('token expired');
  }

  // Authentication state, owned by auth/acl.ts.
  /** The ACL user this session acts as (live: ACL SETUSER applies at once). */
  user: User;
  /** Logged in (or the default user needs no password, as in Redis). */
  authenticated: boolean;
  /** Claims of the token the session logged in with (for `{sub}` pattern templates), or null. */
  claims: Record<string, unknown> | null = null;
  /** The token's `acl` claim as a rights set that narrows the user's, or null. */
  tokenRules: User | null = null;
  /** When the token expires (Unix ms), 0 = never. */
  authExpiresAt = 0;
  authTimer: NodeJS.Timeout | null = null;
  /** Bumped at every login, so a stale expiry timer does nothing. */
  authSession = 0;
  /** Compiled permissions (cache; see Acl.permissions). */
  perms: Permissions | null = null;
  permsVersion = -1;
  tokenPerms: Permissions | null = null;

  constructor(
    readonly engine: Engine,
    readonly frontDoor: FrontDoor,
    addr = '',
    laddr = '',
  ) {
    this.id = engine.clients.nextId();
    this.createdAt = engine.now();
    this.lastInteraction = this.createdAt;
    this.db = engine.dbs[0];
    this.addr = addr;
    this.laddr = laddr;
    this.user = engine.acl.defaultUser;
    this.authenticated = !engine.acl.authRequired;
  }

  /**
   * Makes this session, once closed by `engine.clients.remove`, a new one on the same connection, as the
   * constructor makes it: a new id and creation time, the default user (authenticated unless it needs a
   * password), db 0, RESP2, no name, no MULTI, WATCH or command state. Not yet registered (the caller adds
   * it to `engine.clients`). The HTTP API recycles a keep-alive connection's session this way between
   * requests. The caller guarantees that nothing holds the old session any more and that the removal left
   * it with no subscriptions, watched keys, MONITOR, blocked command or catch-up (`reopenable`); its
   * front-door hooks (`push`, `kill`, …) and addresses stay as they are.
   */
  reopen(): void {
    const engine = this.engine;
    const acl = engine.acl;
    this.id = engine.clients.nextId();
    this.createdAt = engine.now();
    this.lastInteraction = this.createdAt;
    this.name = '';
    this.libName = '';
    this.libVer = '';
    this.resp = 2;
    this.db = engine.dbs[0];
    this.lastCommand = 'NULL';
    this.aofSeq = 0;
    this.argv = [];
    this.multi = null;
    this.dirtyCas = false;
    this.inExec = false;
    this.closeAfterReply = false;
    this.closed = false;
    const user = acl.defaultUser;
    // Compiled for the same user without claims, the permissions stay valid (Acl.permissions checks the version).
    if (this.user !== user || this.claims !== null) this.perms = null;
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
    this.user = user;
    this.authenticated = !acl.authRequired;
    this.claims = null;
    this.tokenRules = null;
    this.tokenPerms = null;
    this.authExpiresAt = 0;
  }

  /** Whether `reopen` may take this closed session: nothing left that a removal should have cleared. */
  get reopenable(): boolean {
    return (
      this.closed &&
      this.watched.size === 0 &&
      this.channels.size === 0 &&
      this.patterns.size === 0 &&
      !this.monitor &&
      this.blocked === null &&
      this.catchup === null &&
      this.multi === null
    );
  }

  get subscriptionCount(): number {
    return this.channels.size + this.patterns.size;
  }

  /** In RESP2, a client with subscriptions may only run (P)(UN)SUBSCRIBE, PING, QUIT and RESET. */
  get inPubSubMode(): boolean {
    return this.resp === 2 && this.subscriptionCount > 0;
  }
}
