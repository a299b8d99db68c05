import { builders } from '@kvws/client';
import { useMemo, useRef, useState } from 'preact/hooks';
import type { FeedEvent, FeedItem } from './feed-source.js';
import { formatClock, formatNumber } from './format.js';
import { globMatch } from './glob.js';
import type { Session } from './session.js';
import { useInterval, useStore } from './store.js';

/**
 * The live feed: keyspace and expiry events as they happen (EventFeed), newest first. The subscription's
 * database and key pattern are chosen here (applied on the server: a user may listen only where its channel
 * rules allow); event types are filtered on the page. Markers show the connection being lost, resumed, or
 * events lost.
 */

/** Rows rendered at most (the feed keeps FEED_LIMIT). */
const SHOWN = 500;
const COMMON_EVENTS = [
  'expired',
  'set',
  'del',
  'expire',
  'persist',
  'hset',
  'lpush',
  'rpush',
  'sadd',
  'zadd',
  'rename_to',
];
const DATABASES = 16;

/** The CSS class of an event's badge. */
export function eventClass(event: string): string {
  if (event === 'expired' || event === 'evicted') return 'ev ev-expired';
  if (event === 'del' || event === 'rename_from' || /rem$|pop$|^hdel$|trim$/.test(event)) return 'ev ev-del';
  if (event === 'expire' || event === 'persist') return 'ev ev-ttl';
  return 'ev ev-write';
}

export function FeedView({ session, onOpenKey }: { session: Session; onOpenKey: (e: FeedEvent) => void }) {
  const feed = session.feed;
  const status = useStore(feed.status);
  const items = useStore(feed.items);
  const conn = useStore(session.state);
  const [db, setDb] = useState<string>(String(status.db));
  const [pattern, setPattern] = useState(status.pattern);
  const [only, setOnly] = useState<Set<string>>(new Set());
  const [paused, setPaused] = useState<FeedItem[] | null>(null);
  const [rate, setRate] = useState(0);
  const last = useRef({ n: feed.received, t: Date.now() });
  useInterval(() => {
    const now = Date.now();
    setRate(((feed.received - last.current.n) * 1000) / Math.max(1, now - last.current.t));
    last.current = { n: feed.received, t: now };
  }, 1000);

  const source = paused ?? items;
  const seenEvents = useMemo(() => {
    const s = new Set(COMMON_EVENTS);
    for (const i of items) if (i.kind === 'event') s.add(i.event);
    return [...s];
  }, [items]);
  const rows = useMemo(() => {
    const out: FeedItem[] = [];
    for (let i = source.length - 1; i >= 0 && out.length < SHOWN; i--) {
      const it = source[i];
      if (it.kind === 'event') {
        if (only.size > 0 && !only.has(it.event)) continue;
        if (status.db !== '*' && it.db !== status.db) continue;
        if (!globMatch(status.pattern, it.key)) continue;
      }
      out.push(it);
    }
    return out;
  }, [source, only, status.db, status.pattern]);
  const eventCount = items.reduce((n, i) => n + (i.kind === 'event' ? 1 : 0), 0);

  const apply = (e: Event) => {
    e.preventDefault();
    void feed.start(db === '*' ? '*' : Number(db), pattern.trim() === '' ? '*' : pattern.trim());
  };
  const toggle = (ev: string) =>
    setOnly((s) => {
      const n = new Set(s);
      if (n.has(ev)) n.delete(ev);
      else n.add(ev);
      return n;
    });
  const enableNotifications = () =>
    session.act(async () => {
      const flags = 'KEA';
      await session.run(builders.configSet({ 'notify-keyspace-events': flags }));
      session.notices.push('info', 'Keyspace notifications on', `notify-keyspace-events is now ${flags}.`);
    });

  return (
    <div class="panel feed">
      <form class="toolbar" onSubmit={apply} aria-label="Feed subscription">
        <label>
          Database
          <select value={db} onChange={(e) => setDb(e.currentTarget.value)} aria-label="Feed database">
            <option value="*">all</option>
            {Array.from({ length: DATABASES }, (_, i) => (
              <option key={i} value={String(i)}>
                db{i}
              </option>
            ))}
          </select>
        </label>
        <label class="grow">
          Key pattern
          <input
            value={pattern}
            onInput={(e) => setPattern(e.currentTarget.value)}
            placeholder="* (glob: session:*, user:?, cart:[0-9]*)"
            aria-label="Feed key pattern"
            spellcheck={false}
          />
        </label>
        <button type="submit">Apply</button>
        <FeedState
          state={conn === 'connected' || status.state !== 'live' ? status.state : 'reconnecting'}
          keyevent={status.keyevent}
          gaps={status.gaps}
        />
      </form>
      {status.error && (
        <div class={status.state === 'denied' ? 'callout callout-error' : 'callout callout-warning'} role="alert">
          <strong>{status.error.title}</strong>
          <p>{status.error.text}</p>
          {status.state === 'denied' && (
            <p class="muted">
              Choose a database and key pattern within your channel rules (for example one of your key prefixes) and
              apply again.
            </p>
          )}
        </div>
      )}
      <div class="toolbar toolbar-secondary">
        <fieldset class="chips" aria-label="Event types">
          <button type="button" class={only.size === 0 ? 'chip on' : 'chip'} onClick={() => setOnly(new Set())}>
            all events
          </button>
          {seenEvents.map((ev) => (
            <button
              type="button"
              key={ev}
              class={only.has(ev) ? 'chip on' : 'chip'}
              aria-pressed={only.has(ev)}
              onClick={() => toggle(ev)}
            >
              {ev}
            </button>
          ))}
        </fieldset>
        <div class="toolbar-right">
          <span class="muted small">
            {formatNumber(eventCount)} events · {formatNumber(Math.round(rate * 10) / 10)}/s
          </span>
          <button type="button" onClick={() => setPaused(paused ? null : items)}>
            {paused ? `Resume (${Math.max(0, items.length - paused.length)} new)` : 'Pause'}
          </button>
          <button type="button" onClick={() => feed.clear()}>
            Clear
          </button>
        </div>
      </div>
      <div class="table-wrap">
        <table class="table feed-table" aria-label="Events">
          <thead>
            <tr>
              <th class="col-time">Time</th>
              <th class="col-db">DB</th>
              <th class="col-event">Event</th>
              <th>Key</th>
              <th class="col-offset">Offset</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((it) =>
              it.kind === 'marker' ? (
                <tr key={it.id} class={`marker marker-${it.level}`}>
                  <td class="mono">{formatClock(it.at)}</td>
                  <td colSpan={4}>{it.text}</td>
                </tr>
              ) : (
                <tr key={it.id} class="event-row" data-event={it.event}>
                  <td class="mono muted">{formatClock(it.at)}</td>
                  <td class="mono">{it.db}</td>
                  <td>
                    <span class={eventClass(it.event)}>{it.event}</span>
                  </td>
                  <td class="mono key-cell">
                    <button type="button" class="link" title="Open in the key browser" onClick={() => onOpenKey(it)}>
                      {it.key}
                    </button>
                  </td>
                  <td class="mono muted">{it.offset ?? ''}</td>
                </tr>
              ),
            )}
          </tbody>
        </table>
        {eventCount === 0 && status.state === 'live' && (
          <div class="empty">
            <p>No events yet. They appear here as keys change and expire.</p>
            <p class="muted">
              The server publishes them only when keyspace notifications are on (the notify-keyspace-events setting,
              e.g. KEA). Administrators can turn them on:
            </p>
            <button type="button" onClick={enableNotifications}>
              Turn on keyspace notifications
            </button>
          </div>
        )}
      </div>
    </div>
  );
}

function FeedState({ state, keyevent, gaps }: { state: string; keyevent: boolean; gaps: number }) {
  const label: Record<string, string> = {
    idle: 'Not subscribed',
    subscribing: 'Subscribing…',
    live: keyevent ? 'Live' : 'Live (keyspace channels)',
    reconnecting: 'Reconnecting… (will resume)',
    denied: 'Not permitted',
    failed: 'Failed',
  };
  return (
    <output class={`pill pill-${state}`} aria-label="Feed state">
      {label[state] ?? state}
      {gaps > 0 ? ` · ${gaps} gap${gaps > 1 ? 's' : ''}` : ''}
    </output>
  );
}
