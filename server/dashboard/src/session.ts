import type { Command, Settled } from '@kvws/client';
import { type ConnectionState, connectWs, type WsClient } from '@kvws/client/ws';
import { ActionError, type Attempt, type Explained, explain } from './explain.js';
import { EventFeed } from './feed-source.js';
import { StatsPoller } from './stats-poller.js';
import { Store } from './store.js';

/**
 * A signed-in dashboard: the user's token (in memory only: never localStorage, sessionStorage or a cookie),
 * the `@kvws/client` WebSocket connection it authenticates, and the state the views share (notices, the
 * event feed, the stats poller). One per sign-in; `close()` ends it.
 *
 * Tokens: the sign-in gets one from `POST /auth/token` (the server's default lifetime). The client asks the
 * token provider at every connect and again before the token expires; the provider returns the current token
 * while more than half its lifetime is left, else gets a fresh one with the password, which is kept in this
 * closure (memory) for that purpose only and dropped at `close()`. A renewal the server refuses (password
 * changed, user removed) ends the session with the reason.
 */

/** POST /auth/token refused the credentials, or the request failed. */
export class LoginError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'LoginError';
  }
}

interface TokenReply {
  token: string;
  /** Unix ms. */
  expiresAt: number;
  user: string;
}

/** POST /auth/token on this origin. Resolves with the token; rejects with LoginError (the server's message). */
export async function requestToken(username: string, password: string): Promise<TokenReply> {
  let res: Response;
  try {
    res = await fetch('/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new LoginError(`cannot reach the server (${(e as Error).message})`, 0);
  }
  const body = (await res.json().catch(() => ({}))) as Partial<TokenReply> & { error?: string };
  if (!res.ok || typeof body.token !== 'string') {
    throw new LoginError(body.error ?? `the server answered HTTP ${res.status}`, res.status);
  }
  return { token: body.token, expiresAt: Number(body.expiresAt), user: String(body.user ?? username) };
}

/** A message shown in the notices area (top right). Errors stay until dismissed; the others fade. */
export interface Notice {
  id: number;
  kind: 'error' | 'warning' | 'info';
  title: string;
  text: string;
  /** The server's own text, shown small under the explanation. */
  raw?: string;
}

/** The notices shown now, newest last (at most MAX_NOTICES). */
export class Notices {
  readonly list = new Store<Notice[]>([]);
  private nextId = 1;

  push(kind: Notice['kind'], title: string, text: string, raw?: string): void {
    const n: Notice = { id: this.nextId++, kind, title, text, raw };
    // The same notice twice in a row (a poller failing again) is shown once.
    const last = this.list.value.at(-1);
    if (last && last.kind === kind && last.title === title && last.text === text) return;
    this.list.update((l) => [...l.slice(-(MAX_NOTICES - 1)), n]);
    if (kind !== 'error') setTimeout(() => this.dismiss(n.id), kind === 'info' ? 6000 : 12000);
  }

  /** Shows a failed action's explanation. */
  error(e: Explained): void {
    this.push('error', e.title, e.text, e.raw !== e.text ? e.raw : undefined);
  }

  dismiss(id: number): void {
    this.list.update((l) => l.filter((n) => n.id !== id));
  }
}

const MAX_NOTICES = 5;

/** What a command is about, for explanations; `db` makes it run in that database (SELECT first). */
export interface RunContext {
  db?: number;
  key?: string;
  channel?: string;
}

export class Session {
  readonly kv: WsClient;
  readonly state: Store<ConnectionState>;
  readonly notices = new Notices();
  readonly feed: EventFeed;
  readonly stats: StatsPoller;
  /** Set (to the reason) when the session ended by itself: refused credentials, a refused renewal. */
  readonly ended = new Store<string | null>(null);
  private password: string | null;
  private closing = false;

  private constructor(
    readonly user: string,
    password: string,
    first: TokenReply,
  ) {
    this.password = password;
    let current = { ...first, issuedAt: Date.now() };
    const provider = async (): Promise<string> => {
      const now = Date.now();
      if (current.expiresAt - now > (current.expiresAt - current.issuedAt) / 2) return current.token;
      if (this.password === null) throw new Error('signed out');
      try {
        current = { ...(await requestToken(this.user, this.password)), issuedAt: Date.now() };
      } catch (e) {
        if (e instanceof LoginError && e.status === 401) {
          this.end(`Your session could not be renewed: ${e.message}. Sign in again.`);
        }
        throw e;
      }
      return current.token;
    };
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.kv = connectWs(`${scheme}//${location.host}/ws`, { token: provider });
    this.state = new Store<ConnectionState>(this.kv.transport.state);
    this.kv.transport.on('state', ({ newState }) => {
      this.state.set(newState);
      if (newState === 'closed' && !this.closing) this.end('The server closed the session. Sign in again.');
    });
    this.kv.transport.on('error', (err) => {
      if (!this.closing) this.notices.push('warning', 'Connection', err.message);
    });
    this.feed = new EventFeed(this);
    this.stats = new StatsPoller(this);
  }

  /** Signs in (POST /auth/token) and connects. Rejects with LoginError when the server refuses. */
  static async open(username: string, password: string): Promise<Session> {
    const first = await requestToken(username, password);
    return new Session(first.user, password, first);
  }

  /** The explanation of `err` raised by `argv`. */
  explain(err: unknown, argv: readonly (string | number)[], ctx: RunContext = {}): Explained {
    const a: Attempt = { argv, user: this.user, key: ctx.key, channel: ctx.channel };
    return explain(err, a);
  }

  /**
   * Runs one command, in database `ctx.db` when given. Resolves with its decoded reply; rejects with an
   * ActionError explaining the failure.
   */
  async run<T>(cmd: Command<T>, ctx: RunContext = {}): Promise<T> {
    if (!ctx.db) {
      try {
        return await this.kv.run(cmd);
      } catch (e) {
        throw new ActionError(this.explain(e, cmd.argv, ctx));
      }
    }
    const [out] = await this.runAll(ctx.db, [cmd as Command<unknown>], ctx);
    if ('error' in out) throw new ActionError(this.explain(out.error, cmd.argv, ctx));
    return out.result as T;
  }

  /**
   * Runs commands in database `db` as one pipeline. Resolves with each command's outcome; rejects with an
   * ActionError when the pipeline as a whole fails (or SELECT is refused).
   *
   * The connection stays in database 0 between requests: for another database the pipeline is `SELECT db`,
   * the commands, `SELECT 0`, and the server runs a pipeline's commands one after another with nothing of
   * this connection in between. So users without SELECT work in database 0, and a reconnect (a new session,
   * in database 0) changes nothing.
   */
  async runAll(db: number, cmds: Command<unknown>[], ctx: RunContext = {}): Promise<Settled[]> {
    const p = this.kv.pipeline();
    if (db !== 0) p.call('SELECT', db);
    for (const c of cmds) p.add(c);
    if (db !== 0) p.call('SELECT', 0);
    let out: Settled[];
    try {
      out = await p.exec({ keepErrors: true });
    } catch (e) {
      throw new ActionError(this.explain(e, cmds[0]?.argv ?? ['SELECT', db], ctx));
    }
    if (db === 0) return out;
    const select = out[0];
    if ('error' in select) throw new ActionError(this.explain(select.error, ['SELECT', db]));
    return out.slice(1, 1 + cmds.length);
  }

  /** Runs `fn`; a failure is shown as a notice (explained) instead of thrown. Resolves true on success. */
  async act(fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (e) {
      this.notices.error(e instanceof ActionError ? e.explained : this.explain(e, ['?']));
      return false;
    }
  }

  /** Ends the session by itself (the app returns to the sign-in form showing `reason`). */
  private end(reason: string): void {
    if (this.ended.value === null) this.ended.set(reason);
    void this.close();
  }

  /** Signs out: stops the pollers, closes the connection, forgets the password and token. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.password = null;
    this.stats.stop();
    await this.kv.close();
  }
}
