import { builders, type KeyType } from '@kvws/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ActionError, type Explained } from './explain.js';
import { formatNumber, formatTtl } from './format.js';
import { globMatch } from './glob.js';
import { KeyDetail, NewKeyForm, TypeBadge } from './key-detail.js';
import type { Session } from './session.js';
import { useNow } from './store.js';

/**
 * The key browser's list: SCAN with a glob and a type filter, a page at a time ("Load more" continues the
 * cursor), each key with its type and its TTL counting down. Keyspace events from the feed keep the rows
 * current: an expired or deleted key is struck through, a changed one has its type and TTL read again, and
 * new matching keys are counted so a rescan can pick them up. The selected key opens in KeyDetail.
 */

export interface KeyRow {
  key: string;
  type: KeyType | '?';
  /** PTTL when read: ms left, -1 no expiry, -2 gone. */
  pttl: number;
  /** When `pttl` was read (Unix ms). */
  at: number;
  /** Set when the key went away meanwhile: the event's name (`expired`, `del`, …). */
  gone?: string;
}

/** Keys wanted per page, SCAN's COUNT hint, and SCAN calls per page at most. */
const PAGE = 100;
const SCAN_COUNT = 250;
const MAX_CALLS = 40;
/** A SCAN TYPE filter ('' = any type). */
type TypeFilter = Exclude<KeyType, 'none'> | '';
const TYPES: TypeFilter[] = ['', 'string', 'hash', 'list', 'set', 'zset'];
const GONE_EVENTS = new Set(['expired', 'del', 'evicted', 'rename_from']);

/** The rows for `keys`: TYPE and PTTL of each, read in one pipeline in database `db`. */
export async function describeKeys(session: Session, db: number, keys: string[]): Promise<KeyRow[]> {
  if (keys.length === 0) return [];
  const out = await session.runAll(
    db,
    keys.flatMap((k) => [builders.type(k), builders.pttl(k)]),
  );
  const at = Date.now();
  return keys.map((key, i) => {
    const t = out[2 * i];
    const p = out[2 * i + 1];
    return {
      key,
      type: 'result' in t ? (t.result as KeyType) : '?',
      pttl: 'result' in p ? (p.result as number) : -1,
      at,
    };
  });
}

/** The time left of a row as text (or "—" without expiry). */
export function ttlText(row: { pttl: number; at: number }, now: number): string {
  if (row.pttl === -2) return 'gone';
  if (row.pttl < 0) return '—';
  return formatTtl(row.at + row.pttl - now);
}

export function KeysView({
  session,
  db,
  open,
}: {
  session: Session;
  db: number;
  open: { key: string; n: number } | null;
}) {
  const [pattern, setPattern] = useState('*');
  const [type, setType] = useState<TypeFilter>('');
  const [filter, setFilter] = useState<{ pattern: string; type: TypeFilter }>({ pattern: '*', type: '' });
  const [rows, setRows] = useState<KeyRow[]>([]);
  const [cursor, setCursor] = useState('0');
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Explained | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const generation = useRef(0);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const now = useNow(1000);

  const scan = async (reset: boolean) => {
    const g = reset ? ++generation.current : generation.current;
    let cur = reset ? '0' : cursor;
    setBusy(true);
    if (reset) {
      setRows([]);
      setDone(false);
      setError(null);
      setFresh(new Set());
    }
    try {
      const keys: string[] = [];
      for (let i = 0; i < MAX_CALLS && keys.length < PAGE; i++) {
        const opts =
          filter.type === ''
            ? { match: filter.pattern, count: SCAN_COUNT }
            : { match: filter.pattern, count: SCAN_COUNT, type: filter.type };
        const page = await session.run(builders.scan(cur, opts), { db });
        if (g !== generation.current) return;
        keys.push(...page.keys);
        cur = page.cursor;
        if (cur === '0') break;
      }
      const described = await describeKeys(session, db, [...new Set(keys)]);
      if (g !== generation.current) return;
      setRows((r) => {
        const have = new Set(r.map((x) => x.key));
        return [...r, ...described.filter((x) => !have.has(x.key))];
      });
      setCursor(cur);
      setDone(cur === '0');
    } catch (e) {
      if (g === generation.current)
        setError(e instanceof ActionError ? e.explained : session.explain(e, ['SCAN', cur]));
    } finally {
      if (g === generation.current) setBusy(false);
    }
  };

  useEffect(() => {
    void scan(true);
  }, [db, filter]);

  // Another database: the open key was in the previous one. (Before the effect below, which opens a key from
  // the feed and may change the database in the same render.)
  useEffect(() => {
    setSelected(null);
    setCreating(false);
  }, [db]);

  useEffect(() => {
    if (open) {
      setCreating(false);
      setSelected(open.key);
    }
  }, [open]);

  // Live rows: events of this database update the rows they concern (TYPE/PTTL re-read in batches).
  useEffect(() => {
    const pending = new Set<string>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refresh = () => {
      timer = undefined;
      const keys = [...pending];
      pending.clear();
      describeKeys(session, db, keys).then(
        (described) =>
          setRows((r) =>
            r.map((row) => {
              const d = described.find((x) => x.key === row.key);
              if (!d) return row;
              return d.type === 'none' ? { ...row, pttl: -2, gone: row.gone ?? 'del' } : d;
            }),
          ),
        () => {},
      );
    };
    const off = session.feed.on((e) => {
      if (e.db !== db) return;
      const row = rowsRef.current.find((r) => r.key === e.key);
      if (!row) {
        if (!GONE_EVENTS.has(e.event) && globMatch(filter.pattern, e.key))
          setFresh((s) => (s.has(e.key) ? s : new Set([...s, e.key])));
        return;
      }
      if (GONE_EVENTS.has(e.event)) {
        setRows((r) => r.map((x) => (x.key === e.key ? { ...x, pttl: -2, gone: e.event } : x)));
        return;
      }
      pending.add(e.key);
      timer ??= setTimeout(refresh, 200);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [session, db, filter]);

  const apply = (e: Event) => {
    e.preventDefault();
    setFilter({ pattern: pattern.trim() === '' ? '*' : pattern.trim(), type });
  };

  return (
    <div class="keys-layout">
      <div class="panel key-list">
        <form class="toolbar" onSubmit={apply} aria-label="Key filter">
          <input
            class="grow"
            value={pattern}
            onInput={(e) => setPattern(e.currentTarget.value)}
            placeholder="Key pattern (glob), e.g. user:*"
            aria-label="Key pattern"
            spellcheck={false}
          />
          <select value={type} onChange={(e) => setType(e.currentTarget.value as TypeFilter)} aria-label="Key type">
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t === '' ? 'all types' : t}
              </option>
            ))}
          </select>
          <button type="submit" class="primary">
            Scan
          </button>
          <button
            type="button"
            onClick={() => {
              setCreating(true);
              setSelected(null);
            }}
          >
            + Key
          </button>
        </form>
        {error && (
          <div class="callout callout-error" role="alert">
            <strong>{error.title}</strong>
            <p>{error.text}</p>
          </div>
        )}
        {fresh.size > 0 && (
          <button type="button" class="banner" onClick={() => void scan(true)}>
            {fresh.size} new or changed key{fresh.size > 1 ? 's' : ''} match — rescan
          </button>
        )}
        <div class="table-wrap">
          <table class="table key-table" aria-label="Keys">
            <thead>
              <tr>
                <th class="col-type">Type</th>
                <th>Key</th>
                <th class="col-ttl">TTL</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr
                  key={r.key}
                  class={`${selected === r.key ? 'selected' : ''} ${r.gone ? 'gone' : ''}`}
                  onClick={() => {
                    setCreating(false);
                    setSelected(r.key);
                  }}
                >
                  <td>
                    <TypeBadge type={r.type} />
                  </td>
                  <td class="mono key-cell">
                    <button type="button" class="link" aria-label={`Open key ${r.key}`}>
                      {r.key}
                    </button>
                  </td>
                  <td class="mono ttl" title={r.gone ? `${r.gone}` : undefined}>
                    {r.gone ? r.gone : ttlText(r, now)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {rows.length === 0 && !busy && !error && (
            <p class="empty">
              No keys match {filter.pattern} in db{db}.
            </p>
          )}
        </div>
        <footer class="list-footer">
          <span class="muted small">
            {formatNumber(rows.length)} key{rows.length === 1 ? '' : 's'}
            {done ? ' · scan complete' : ''}
          </span>
          {!done && !error && (
            <button type="button" disabled={busy} onClick={() => void scan(false)}>
              {busy ? 'Scanning…' : 'Load more'}
            </button>
          )}
          {(done || error) && (
            <button type="button" disabled={busy} onClick={() => void scan(true)}>
              Rescan
            </button>
          )}
        </footer>
      </div>
      <div class="panel key-detail">
        {creating ? (
          <NewKeyForm
            session={session}
            db={db}
            onCancel={() => setCreating(false)}
            onCreated={async (key) => {
              setCreating(false);
              setSelected(key);
              const described = await describeKeys(session, db, [key]).catch(() => []);
              setRows((r) => [...described, ...r.filter((x) => x.key !== key)]);
            }}
          />
        ) : selected !== null ? (
          <KeyDetail
            key={`${db}:${selected}`}
            session={session}
            db={db}
            name={selected}
            onRenamed={(to) => {
              setRows((r) => r.map((x) => (x.key === selected ? { ...x, key: to, gone: undefined } : x)));
              setSelected(to);
            }}
            onDeleted={() => setRows((r) => r.map((x) => (x.key === selected ? { ...x, pttl: -2, gone: 'del' } : x)))}
          />
        ) : (
          <div class="empty">
            <p>Select a key to see and edit its value.</p>
            <p class="muted small">
              Patterns are Redis globs: <code>*</code> any run, <code>?</code> one character, <code>[a-z]</code> a set.
            </p>
          </div>
        )}
      </div>
    </div>
  );
}
