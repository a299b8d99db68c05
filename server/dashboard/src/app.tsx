import type { ConnectionState } from '@kvws/client/ws';
import { useEffect, useState } from 'preact/hooks';
import { AclView } from './acl.js';
import { FeedView } from './feed.js';
import { KeysView } from './keys.js';
import { LoginError, Session } from './session.js';
import { StatsView } from './stats.js';
import { useStore } from './store.js';

/**
 * The page: the sign-in form until a Session exists, then the shell (header, tabs, notices). A session that
 * ends by itself (refused renewal, server closed it) brings the form back with the reason.
 */
export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    if (!session) return;
    return session.ended.subscribe((reason) => {
      if (reason === null) return;
      setMessage(reason);
      setSession(null);
    });
  }, [session]);
  if (!session) {
    return (
      <Login
        message={message}
        onSignedIn={(s) => {
          setMessage(null);
          setSession(s);
        }}
      />
    );
  }
  return (
    <Shell
      session={session}
      onSignOut={() => {
        void session.close();
        setSession(null);
        setMessage('Signed out.');
      }}
    />
  );
}

function Login({ message, onSignedIn }: { message: string | null; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await Session.open(username.trim(), password));
    } catch (err) {
      const m = err instanceof LoginError ? err.message : String(err);
      setError(err instanceof LoginError && err.status === 401 ? `Sign-in refused: ${m}` : `Cannot sign in: ${m}`);
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="login-card" onSubmit={submit} aria-label="Sign in">
        <div class="brand brand-large">
          <Logo /> kvws
        </div>
        <p class="muted">Sign in with your kvws user to browse keys, watch events and see the server's state.</p>
        {message && <p class="login-message">{message}</p>}
        <label>
          Username
          <input
            name="username"
            autocomplete="username"
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">
          Your token stays in this page's memory only: reloading or closing the page signs you out.
        </p>
      </form>
    </main>
  );
}

export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" class="logo-bg" />
      <path d="M8 9v14M8 16l7-7M8 16l7 7M18 9l3 14 3-14" class="logo-mark" />
    </svg>
  );
}

type Tab = 'keys' | 'feed' | 'stats' | 'acl';
const TABS: { id: Tab; label: string }[] = [
  { id: 'keys', label: 'Keys' },
  { id: 'feed', label: 'Live feed' },
  { id: 'stats', label: 'Server' },
  { id: 'acl', label: 'Users & ACL log' },
];

const STATE_LABEL: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  disconnected: 'Reconnecting…',
  closed: 'Closed',
};

/** The number of databases offered in the database menu (the server's default `databases`). */
const DATABASES = 16;

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [tab, setTab] = useState<Tab>('keys');
  const [seen, setSeen] = useState<Set<Tab>>(new Set(['keys']));
  const [db, setDb] = useState(0);
  /** A key to open in the key browser (from the feed), with a counter so the same key opens again. */
  const [open, setOpen] = useState<{ key: string; n: number } | null>(null);
  const state = useStore(session.state);
  const show = (t: Tab) => {
    setTab(t);
    setSeen((s) => (s.has(t) ? s : new Set([...s, t])));
  };
  useEffect(() => {
    void session.feed.start('*', '*');
  }, [session]);
  return (
    <div class="shell">
      <header class="topbar">
        <div class="brand">
          <Logo /> kvws
        </div>
        <nav class="tabs" aria-label="Sections">
          {TABS.map((t) => (
            <button
              type="button"
              key={t.id}
              class={tab === t.id ? 'tab active' : 'tab'}
              aria-current={tab === t.id ? 'page' : undefined}
              onClick={() => show(t.id)}
            >
              {t.label}
            </button>
          ))}
        </nav>
        <div class="topbar-right">
          <label class="db-select">
            Database
            <select value={db} onChange={(e) => setDb(Number(e.currentTarget.value))} aria-label="Database">
              {Array.from({ length: DATABASES }, (_, i) => (
                <option key={i} value={i}>
                  db{i}
                </option>
              ))}
            </select>
          </label>
          <output class={`conn conn-${state}`} aria-label="Connection">
            <span class="dot" />
            {STATE_LABEL[state]}
          </output>
          <span class="user" title="Signed in as">
            {session.user}
          </span>
          <button type="button" class="ghost" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main class="content">
        <section hidden={tab !== 'keys'} class="view">
          <KeysView session={session} db={db} open={open} />
        </section>
        <section hidden={tab !== 'feed'} class="view">
          {seen.has('feed') && (
            <FeedView
              session={session}
              onOpenKey={(e) => {
                setDb(e.db);
                setOpen((o) => ({ key: e.key, n: (o?.n ?? 0) + 1 }));
                show('keys');
              }}
            />
          )}
        </section>
        <section hidden={tab !== 'stats'} class="view">
          {seen.has('stats') && <StatsView session={session} />}
        </section>
        <section hidden={tab !== 'acl'} class="view">
          {seen.has('acl') && <AclView session={session} visible={tab === 'acl'} />}
        </section>
      </main>
      <NoticesView session={session} />
    </div>
  );
}

function NoticesView({ session }: { session: Session }) {
  const notices = useStore(session.notices.list);
  if (notices.length === 0) return null;
  return (
    <div class="notices" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} class={`notice notice-${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
          <div class="notice-body">
            <strong>{n.title}</strong>
            <p>{n.text}</p>
            {n.raw && <p class="raw">Server: {n.raw}</p>}
          </div>
          <button
            type="button"
            class="icon"
            aria-label="Dismiss"
            title="Dismiss"
            onClick={() => session.notices.dismiss(n.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
