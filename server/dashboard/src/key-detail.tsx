import { builders, type Command, type KeyType } from '@kvws/client';
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ActionError, type Explained } from './explain.js';
import { formatClock, formatNumber, formatTtl } from './format.js';
import type { Session } from './session.js';
import { useNow } from './store.js';

/**
 * One key: its type, its TTL counting down, and its value with an editor for each type (string, hash,
 * list, set, sorted set), plus set/remove TTL, rename and delete. Every change is one command (or one
 * pipeline) through the client; a refusal is shown as a notice that explains it. Keyspace events about the
 * key (from the feed) reload it, so changes made elsewhere show at once, and an expiry or deletion is shown.
 */

const TYPE_LABEL: Record<string, string> = {
  string: 'string',
  hash: 'hash',
  list: 'list',
  set: 'set',
  zset: 'sorted set',
  stream: 'stream',
  none: 'none',
  '?': '?',
};

export function TypeBadge({ type }: { type: string }) {
  return <span class={`type type-${type === '?' ? 'unknown' : type}`}>{TYPE_LABEL[type] ?? type}</span>;
}

/** Items read per page in the editors (HSCAN/SSCAN until this many, LRANGE/ZRANGE by this many). */
const PAGE = 200;
/** SCAN-family calls per page at most. */
const MAX_CALLS = 50;

interface EditorProps {
  session: Session;
  db: number;
  name: string;
  /** Changes whenever the key changed (an event, or an edit here): the editor reads it again. */
  version: number;
  /** Call after a successful edit (the detail re-reads the TTL). */
  changed: () => void;
}

interface Meta {
  type: KeyType | '?';
  pttl: number;
  at: number;
}

export function KeyDetail({
  session,
  db,
  name,
  onRenamed,
  onDeleted,
}: {
  session: Session;
  db: number;
  name: string;
  onRenamed: (to: string) => void;
  onDeleted: () => void;
}) {
  const [meta, setMeta] = useState<Meta | null>(null);
  const [error, setError] = useState<Explained | null>(null);
  const [gone, setGone] = useState<{ event: string; at: number } | null>(null);
  const [version, setVersion] = useState(0);
  const [mode, setMode] = useState<'none' | 'ttl' | 'rename' | 'delete'>('none');
  const ctx = { db, key: name };

  const loadMeta = useCallback(async () => {
    try {
      const [t, p] = await session.runAll(db, [builders.type(name), builders.pttl(name)]);
      if ('error' in t) throw new ActionError(session.explain(t.error, ['TYPE', name], { key: name }));
      const type = t.result as KeyType;
      setError(null);
      setMeta({ type, pttl: 'result' in p ? (p.result as number) : -1, at: Date.now() });
      if (type !== 'none') setGone(null);
    } catch (e) {
      setError(e instanceof ActionError ? e.explained : session.explain(e, ['TYPE', name], { key: name }));
    }
  }, [session, db, name]);

  useEffect(() => {
    void loadMeta();
  }, [loadMeta]);

  // Events about this key: gone (expired, deleted, renamed away) or changed (read again, debounced).
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = session.feed.on((e) => {
      if (e.db !== db || e.key !== name) return;
      if (e.event === 'expired' || e.event === 'del' || e.event === 'evicted' || e.event === 'rename_from') {
        setGone({ event: e.event, at: e.at });
        setMeta((m) => (m ? { ...m, pttl: -2 } : m));
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(() => {
        void loadMeta();
        setVersion((v) => v + 1);
      }, 150);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [session, db, name, loadMeta]);

  const changed = () => {
    void loadMeta();
    setVersion((v) => v + 1);
  };

  if (error && !meta) {
    return (
      <div class="detail">
        <DetailHeader name={name} db={db} />
        <div class="callout callout-error" role="alert">
          <strong>{error.title}</strong>
          <p>{error.text}</p>
        </div>
      </div>
    );
  }
  if (!meta) return <div class="detail muted">Loading {name}…</div>;
  const missing = meta.type === 'none' || gone !== null;

  return (
    <div class="detail">
      <DetailHeader name={name} db={db} type={missing ? undefined : meta.type}>
        {!missing && <Ttl meta={meta} />}
      </DetailHeader>
      {missing ? (
        <div class="callout callout-warning">
          {gone ? (
            <p>
              This key{' '}
              {gone.event === 'expired' ? 'expired' : gone.event === 'rename_from' ? 'was renamed' : 'was deleted'} at{' '}
              {formatClock(gone.at)}.
            </p>
          ) : (
            <p>This key does not exist (any more) in db{db}.</p>
          )}
        </div>
      ) : (
        <>
          <div class="actions">
            <button type="button" onClick={() => setMode(mode === 'ttl' ? 'none' : 'ttl')}>
              Set TTL
            </button>
            <button
              type="button"
              disabled={meta.pttl < 0}
              onClick={() =>
                session.act(async () => {
                  await session.run(builders.persist(name), ctx);
                  changed();
                })
              }
            >
              Remove TTL
            </button>
            <button type="button" onClick={() => setMode(mode === 'rename' ? 'none' : 'rename')}>
              Rename
            </button>
            <button type="button" class="danger" onClick={() => setMode(mode === 'delete' ? 'none' : 'delete')}>
              Delete
            </button>
          </div>
          {mode === 'ttl' && (
            <TtlForm
              onCancel={() => setMode('none')}
              onApply={(ms) =>
                session.act(async () => {
                  await session.run(builders.pexpire(name, ms), ctx);
                  setMode('none');
                  changed();
                })
              }
            />
          )}
          {mode === 'rename' && (
            <RenameForm
              name={name}
              onCancel={() => setMode('none')}
              onApply={(to) =>
                session.act(async () => {
                  const ok = await session.run(builders.renamenx(name, to), ctx);
                  if (!ok)
                    throw new ActionError({
                      title: 'Not renamed',
                      text: `A key named ${to} already exists.`,
                      raw: '',
                      code: 'EXISTS',
                    });
                  setMode('none');
                  onRenamed(to);
                })
              }
            />
          )}
          {mode === 'delete' && (
            <fieldset class="confirm" aria-label="Confirm delete">
              <span>Delete {name}? This cannot be undone.</span>
              <button
                type="button"
                class="danger"
                onClick={() =>
                  session.act(async () => {
                    await session.run(builders.del(name), ctx);
                    setMode('none');
                    setGone({ event: 'del', at: Date.now() });
                    onDeleted();
                  })
                }
              >
                Delete key
              </button>
              <button type="button" onClick={() => setMode('none')}>
                Cancel
              </button>
            </fieldset>
          )}
          <Editor type={meta.type} session={session} db={db} name={name} version={version} changed={changed} />
        </>
      )}
    </div>
  );
}

function DetailHeader({
  name,
  db,
  type,
  children,
}: {
  name: string;
  db: number;
  type?: string;
  children?: ComponentChildren;
}) {
  return (
    <div class="detail-header">
      <div>
        <h2 class="mono key-name">{name}</h2>
        <div class="muted small">
          db{db} {type && <TypeBadge type={type} />}
        </div>
      </div>
      {children}
    </div>
  );
}

/** The TTL counting down (every 100 ms in the last 10 s, else every second). */
function Ttl({ meta }: { meta: Meta }) {
  const left = meta.pttl >= 0 ? meta.at + meta.pttl - Date.now() : -1;
  const now = useNow(left >= 0 && left < 10_000 ? 100 : 1000);
  if (meta.pttl < 0) {
    return (
      <div class="ttl-box" role="timer" aria-label="TTL">
        <span class="muted small">TTL</span>
        <span class="mono">no expiry</span>
      </div>
    );
  }
  const ms = meta.at + meta.pttl - now;
  return (
    <div class={`ttl-box ${ms < 10_000 ? 'ttl-soon' : ''}`} role="timer" aria-label="TTL">
      <span class="muted small">expires in</span>
      <span class="mono">{formatTtl(ms)}</span>
    </div>
  );
}

function TtlForm({ onApply, onCancel }: { onApply: (ms: number) => void; onCancel: () => void }) {
  const [value, setValue] = useState('60');
  const [unit, setUnit] = useState('1000');
  const n = Number(value);
  const valid = value.trim() !== '' && Number.isFinite(n) && n > 0;
  return (
    <form
      class="inline-form"
      aria-label="Set TTL"
      onSubmit={(e) => {
        e.preventDefault();
        if (valid) onApply(Math.max(1, Math.round(n * Number(unit))));
      }}
    >
      <label>
        Expire in
        <input
          type="number"
          min="0"
          step="any"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
          aria-label="TTL value"
        />
      </label>
      <select value={unit} onChange={(e) => setUnit(e.currentTarget.value)} aria-label="TTL unit">
        <option value="1">ms</option>
        <option value="1000">seconds</option>
        <option value="60000">minutes</option>
        <option value="3600000">hours</option>
        <option value="86400000">days</option>
      </select>
      <button type="submit" class="primary" disabled={!valid}>
        Apply
      </button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

function RenameForm({
  name,
  onApply,
  onCancel,
}: {
  name: string;
  onApply: (to: string) => void;
  onCancel: () => void;
}) {
  const [to, setTo] = useState(name);
  return (
    <form
      class="inline-form"
      aria-label="Rename key"
      onSubmit={(e) => {
        e.preventDefault();
        if (to !== '' && to !== name) onApply(to);
      }}
    >
      <label class="grow">
        New name
        <input value={to} onInput={(e) => setTo(e.currentTarget.value)} aria-label="New name" spellcheck={false} />
      </label>
      <button type="submit" class="primary" disabled={to === '' || to === name}>
        Rename
      </button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

function Editor(props: EditorProps & { type: KeyType | '?' }) {
  switch (props.type) {
    case 'string':
      return <StringEditor {...props} />;
    case 'hash':
      return <HashEditor {...props} />;
    case 'list':
      return <ListEditor {...props} />;
    case 'set':
      return <SetEditor {...props} />;
    case 'zset':
      return <ZsetEditor {...props} />;
    default:
      return <p class="muted">Values of type {props.type} cannot be shown here.</p>;
  }
}

/**
 * Reads with `load` when the key's version changes; `error` holds a refused read (explained). `load`
 * receives whether it is a reload of the same key (keep what is shown until the new data arrives).
 */
function useLoad<T>(
  load: () => Promise<T>,
  deps: unknown[],
): { data: T | null; error: Explained | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Explained | null>(null);
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const n = ++latest.current;
    load().then(
      (d) => {
        if (n !== latest.current) return;
        setData(d);
        setError(null);
      },
      (e) => {
        if (n === latest.current)
          setError(
            e instanceof ActionError ? e.explained : { title: 'Error', text: String(e), raw: String(e), code: 'ERROR' },
          );
      },
    );
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

function LoadError({ error }: { error: Explained | null }) {
  if (!error) return null;
  return (
    <div class="callout callout-error" role="alert">
      <strong>{error.title}</strong>
      <p>{error.text}</p>
    </div>
  );
}

/**
 * The actions cell of an editable row (a hash field, a list element, a set member, a sorted-set member):
 * Save and Cancel while the row is being edited, else Edit and a confirmed Remove.
 */
function RowActions({
  editing,
  onSave,
  onCancel,
  onEdit,
  editLabel = 'Edit',
  editAria,
  removeLabel = 'Remove',
  onRemove,
}: {
  editing: boolean;
  onSave: () => void;
  onCancel: () => void;
  onEdit: () => void;
  editLabel?: string;
  editAria?: string;
  removeLabel?: string;
  onRemove: () => void;
}) {
  if (editing) {
    return (
      <>
        <button type="button" class="small primary" onClick={onSave}>
          Save
        </button>
        <button type="button" class="small" onClick={onCancel}>
          Cancel
        </button>
      </>
    );
  }
  return (
    <>
      <button type="button" class="small" aria-label={editAria} onClick={onEdit}>
        {editLabel}
      </button>
      <ConfirmButton label={removeLabel} onConfirm={onRemove} />
    </>
  );
}

/** A button that asks once more ("Sure?") before `onConfirm`. */
function ConfirmButton({ label, onConfirm }: { label: string; onConfirm: () => void }) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const t = setTimeout(() => setArmed(false), 3000);
    return () => clearTimeout(t);
  }, [armed]);
  return (
    <button
      type="button"
      class={armed ? 'small danger' : 'small'}
      onClick={(e) => {
        e.stopPropagation();
        if (armed) {
          setArmed(false);
          onConfirm();
        } else setArmed(true);
      }}
    >
      {armed ? 'Sure?' : label}
    </button>
  );
}

function StringEditor({ session, db, name, version, changed }: EditorProps) {
  const { data, error } = useLoad(() => session.run(builders.get(name), { db, key: name }), [name, version]);
  const [draft, setDraft] = useState<string | null>(null);
  /** The value the draft started from: when the server's value moves on meanwhile, the draft is kept and flagged. */
  const [base, setBase] = useState<string | null>(null);
  if (error) return <LoadError error={error} />;
  if (data === null) return <p class="muted">Loading…</p>;
  const value = draft ?? data ?? '';
  const dirty = draft !== null && draft !== data;
  const stale = dirty && base !== data;
  const json = looksJson(value);
  const edit = (v: string) => {
    if (draft === null) setBase(data);
    setDraft(v);
  };
  const revert = () => {
    setDraft(null);
    setBase(null);
  };
  return (
    <div class="editor">
      <div class="editor-meta muted small">
        {formatNumber(new TextEncoder().encode(data ?? '').length)} bytes{json ? ' · JSON' : ''}
      </div>
      {stale && (
        <div class="callout callout-warning">
          The value changed on the server while you were editing. Save to overwrite it, or revert to see the new value.
        </div>
      )}
      <textarea
        class="value-area mono"
        value={value}
        rows={Math.min(20, Math.max(4, value.split('\n').length + 1))}
        onInput={(e) => edit(e.currentTarget.value)}
        aria-label="Value"
        spellcheck={false}
      />
      <div class="actions">
        <button
          type="button"
          class="primary"
          disabled={!dirty}
          onClick={() =>
            session.act(async () => {
              await session.run(builders.set(name, value, { keepTtl: true }), { db, key: name });
              revert();
              changed();
            })
          }
        >
          Save
        </button>
        <button type="button" disabled={!dirty} onClick={revert}>
          Revert
        </button>
        {json && (
          <button type="button" onClick={() => edit(JSON.stringify(JSON.parse(value), null, 2))}>
            Format JSON
          </button>
        )}
      </div>
    </div>
  );
}

function looksJson(s: string): boolean {
  const t = s.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return false;
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
}

/** Pages through a SCAN-family command until PAGE items or the end: the items and the next cursor. */
async function scanAll<T>(
  session: Session,
  db: number,
  name: string,
  build: (cursor: string) => Command<{ cursor: string; items: T[] }>,
  from = '0',
): Promise<{ items: T[]; cursor: string }> {
  const items: T[] = [];
  let cursor = from;
  for (let i = 0; i < MAX_CALLS && items.length < PAGE; i++) {
    const page = await session.run(build(cursor), { db, key: name });
    items.push(...page.items);
    cursor = page.cursor;
    if (cursor === '0') break;
  }
  return { items, cursor };
}

function mapCommand<A, B>(c: Command<A>, f: (a: A) => B): Command<B> {
  return { argv: c.argv, decode: (v) => f(c.decode(v)) };
}

function HashEditor({ session, db, name, version, changed }: EditorProps) {
  const [more, setMore] = useState<{ items: [string, string][]; cursor: string } | null>(null);
  const { data, error } = useLoad(async () => {
    const [len, page] = await Promise.all([
      session.run(builders.hlen(name), { db, key: name }),
      scanAll(session, db, name, (c) =>
        mapCommand(builders.hscan(name, c, { count: 100 }), (p) => ({
          cursor: p.cursor,
          items: Object.entries(p.fields),
        })),
      ),
    ]);
    setMore(null);
    return { len, ...page };
  }, [name, version]);
  const [editing, setEditing] = useState<{ field: string; value: string } | null>(null);
  const [field, setField] = useState('');
  const [value, setValue] = useState('');
  if (error) return <LoadError error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  const items = [...data.items, ...(more?.items ?? [])];
  // HSCAN may return a field twice (a page boundary moved): one row per field, sorted by name.
  const rows = [...new Map(items).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const cursor = more?.cursor ?? data.cursor;
  const hset = (f: string, v: string) =>
    session.act(async () => {
      await session.run(builders.hset(name, { [f]: v }), { db, key: name });
      setEditing(null);
      changed();
    });
  return (
    <div class="editor">
      <div class="editor-meta muted small">
        {formatNumber(data.len)} field{data.len === 1 ? '' : 's'}
      </div>
      <table class="table value-table" aria-label="Hash fields">
        <thead>
          <tr>
            <th class="col-field">Field</th>
            <th>Value</th>
            <th class="col-actions" />
          </tr>
        </thead>
        <tbody>
          {rows.map(([f, v]) => (
            <tr key={f} data-field={f}>
              <td class="mono">{f}</td>
              <td>
                {editing?.field === f ? (
                  <textarea
                    class="mono cell-edit"
                    value={editing.value}
                    rows={Math.min(8, editing.value.split('\n').length + 1)}
                    onInput={(e) => setEditing({ field: f, value: e.currentTarget.value })}
                    aria-label={`New value of ${f}`}
                    spellcheck={false}
                  />
                ) : (
                  <pre class="value mono">{v}</pre>
                )}
              </td>
              <td class="row-actions">
                <RowActions
                  editing={editing?.field === f}
                  onSave={() => editing && hset(f, editing.value)}
                  onCancel={() => setEditing(null)}
                  onEdit={() => setEditing({ field: f, value: v })}
                  editAria={`Edit field ${f}`}
                  removeLabel="Delete"
                  onRemove={() =>
                    session.act(async () => {
                      await session.run(builders.hdel(name, f), { db, key: name });
                      changed();
                    })
                  }
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor !== '0' && (
        <button
          type="button"
          onClick={() =>
            session.act(async () => {
              const page = await scanAll(
                session,
                db,
                name,
                (c) =>
                  mapCommand(builders.hscan(name, c, { count: 100 }), (p) => ({
                    cursor: p.cursor,
                    items: Object.entries(p.fields),
                  })),
                cursor,
              );
              setMore({ items: [...(more?.items ?? []), ...page.items], cursor: page.cursor });
            })
          }
        >
          Load more fields
        </button>
      )}
      <form
        class="inline-form add-form"
        aria-label="Add field"
        onSubmit={(e) => {
          e.preventDefault();
          if (field === '') return;
          void hset(field, value).then((ok) => {
            if (ok) {
              setField('');
              setValue('');
            }
          });
        }}
      >
        <input
          value={field}
          onInput={(e) => setField(e.currentTarget.value)}
          placeholder="field"
          aria-label="New field"
          spellcheck={false}
        />
        <input
          class="grow"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
          placeholder="value"
          aria-label="New field value"
          spellcheck={false}
        />
        <button type="submit" disabled={field === ''}>
          Add field
        </button>
      </form>
    </div>
  );
}

function ListEditor({ session, db, name, version, changed }: EditorProps) {
  const [count, setCount] = useState(PAGE);
  const { data, error } = useLoad(async () => {
    const [len, items] = await Promise.all([
      session.run(builders.llen(name), { db, key: name }),
      session.run(builders.lrange(name, 0, count - 1), { db, key: name }),
    ]);
    return { len, items };
  }, [name, version, count]);
  const [editing, setEditing] = useState<{ index: number; value: string } | null>(null);
  const [element, setElement] = useState('');
  if (error) return <LoadError error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  const push = (head: boolean) =>
    session.act(async () => {
      await session.run(head ? builders.lpush(name, element) : builders.rpush(name, element), { db, key: name });
      setElement('');
      changed();
    });
  return (
    <div class="editor">
      <div class="editor-meta muted small">
        {formatNumber(data.len)} element{data.len === 1 ? '' : 's'}
      </div>
      <table class="table value-table" aria-label="List elements">
        <thead>
          <tr>
            <th class="col-index">Index</th>
            <th>Element</th>
            <th class="col-actions" />
          </tr>
        </thead>
        <tbody>
          {data.items.map((v, i) => (
            <tr key={i}>
              <td class="mono muted">{i}</td>
              <td>
                {editing?.index === i ? (
                  <textarea
                    class="mono cell-edit"
                    value={editing.value}
                    rows={Math.min(8, editing.value.split('\n').length + 1)}
                    onInput={(e) => setEditing({ index: i, value: e.currentTarget.value })}
                    aria-label={`New value of element ${i}`}
                  />
                ) : (
                  <pre class="value mono">{v}</pre>
                )}
              </td>
              <td class="row-actions">
                <RowActions
                  editing={editing?.index === i}
                  onSave={() =>
                    editing &&
                    session.act(async () => {
                      await session.run(builders.lset(name, i, editing.value), { db, key: name });
                      setEditing(null);
                      changed();
                    })
                  }
                  onCancel={() => setEditing(null)}
                  onEdit={() => setEditing({ index: i, value: v })}
                  onRemove={() =>
                    session.act(async () => {
                      // LSET the element to a unique marker, then LREM the marker: removes this element,
                      // not an equal one elsewhere in the list.
                      const marker = `__kvws_dashboard_removed_${crypto.randomUUID()}`;
                      const out = await session.runAll(
                        db,
                        [builders.lset(name, i, marker), builders.lrem(name, 1, marker)],
                        { key: name },
                      );
                      const failed = out.find((o) => 'error' in o);
                      if (failed && 'error' in failed)
                        throw new ActionError(session.explain(failed.error, ['LSET', name, i], { key: name }));
                      changed();
                    })
                  }
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data.items.length < data.len && (
        <button type="button" onClick={() => setCount((c) => c + PAGE)}>
          Load more elements
        </button>
      )}
      <form class="inline-form add-form" aria-label="Add element" onSubmit={(e) => e.preventDefault()}>
        <input
          class="grow"
          value={element}
          onInput={(e) => setElement(e.currentTarget.value)}
          placeholder="element"
          aria-label="New element"
        />
        <button type="button" onClick={() => push(true)}>
          Add to head
        </button>
        <button type="button" onClick={() => push(false)}>
          Add to tail
        </button>
      </form>
    </div>
  );
}

function SetEditor({ session, db, name, version, changed }: EditorProps) {
  const { data, error } = useLoad(async () => {
    const [card, page] = await Promise.all([
      session.run(builders.scard(name), { db, key: name }),
      scanAll(session, db, name, (c) =>
        mapCommand(builders.sscan(name, c, { count: 100 }), (p) => ({ cursor: p.cursor, items: p.members })),
      ),
    ]);
    return { card, ...page };
  }, [name, version]);
  const [member, setMember] = useState('');
  const [editing, setEditing] = useState<{ member: string; value: string } | null>(null);
  if (error) return <LoadError error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  const members = [...new Set(data.items)].sort();
  return (
    <div class="editor">
      <div class="editor-meta muted small">
        {formatNumber(data.card)} member{data.card === 1 ? '' : 's'}
        {data.cursor !== '0' ? ` · showing ${members.length}` : ''}
      </div>
      <table class="table value-table" aria-label="Set members">
        <thead>
          <tr>
            <th>Member</th>
            <th class="col-actions" />
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr key={m}>
              <td>
                {editing?.member === m ? (
                  <input
                    class="mono cell-edit"
                    value={editing.value}
                    onInput={(e) => setEditing({ member: m, value: e.currentTarget.value })}
                    aria-label={`New value of member ${m}`}
                  />
                ) : (
                  <pre class="value mono">{m}</pre>
                )}
              </td>
              <td class="row-actions">
                <RowActions
                  editing={editing?.member === m}
                  onSave={() =>
                    editing &&
                    session.act(async () => {
                      const out = await session.runAll(
                        db,
                        [builders.srem(name, m), builders.sadd(name, editing.value)],
                        { key: name },
                      );
                      const failed = out.find((o) => 'error' in o);
                      if (failed && 'error' in failed)
                        throw new ActionError(session.explain(failed.error, ['SADD', name], { key: name }));
                      setEditing(null);
                      changed();
                    })
                  }
                  onCancel={() => setEditing(null)}
                  onEdit={() => setEditing({ member: m, value: m })}
                  onRemove={() =>
                    session.act(async () => {
                      await session.run(builders.srem(name, m), { db, key: name });
                      changed();
                    })
                  }
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="inline-form add-form"
        aria-label="Add member"
        onSubmit={(e) => {
          e.preventDefault();
          void session
            .act(async () => {
              await session.run(builders.sadd(name, member), { db, key: name });
              changed();
            })
            .then((ok) => ok && setMember(''));
        }}
      >
        <input
          class="grow"
          value={member}
          onInput={(e) => setMember(e.currentTarget.value)}
          placeholder="member"
          aria-label="New member"
        />
        <button type="submit">Add member</button>
      </form>
    </div>
  );
}

function ZsetEditor({ session, db, name, version, changed }: EditorProps) {
  const [count, setCount] = useState(PAGE);
  const { data, error } = useLoad(async () => {
    const [card, items] = await Promise.all([
      session.run(builders.zcard(name), { db, key: name }),
      session.run(builders.zrange(name, 0, count - 1, { withScores: true }), { db, key: name }),
    ]);
    return { card, items };
  }, [name, version, count]);
  const [editing, setEditing] = useState<{ member: string; score: string } | null>(null);
  const [member, setMember] = useState('');
  const [score, setScore] = useState('0');
  if (error) return <LoadError error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  const zadd = (m: string, s: string) =>
    session.act(async () => {
      const n = Number(s);
      if (s.trim() === '' || Number.isNaN(n))
        throw new ActionError({ title: 'Not a score', text: `${s} is not a number.`, raw: '', code: 'INPUT' });
      await session.run(builders.zadd(name, { score: n, member: m }), { db, key: name });
      setEditing(null);
      changed();
    });
  return (
    <div class="editor">
      <div class="editor-meta muted small">
        {formatNumber(data.card)} member{data.card === 1 ? '' : 's'}, by score
      </div>
      <table class="table value-table" aria-label="Sorted set members">
        <thead>
          <tr>
            <th class="col-index">Rank</th>
            <th>Member</th>
            <th class="col-score">Score</th>
            <th class="col-actions" />
          </tr>
        </thead>
        <tbody>
          {data.items.map((it, i) => (
            <tr key={it.member}>
              <td class="mono muted">{i}</td>
              <td>
                <pre class="value mono">{it.member}</pre>
              </td>
              <td class="mono">
                {editing?.member === it.member ? (
                  <input
                    class="mono score-edit"
                    value={editing.score}
                    onInput={(e) => setEditing({ member: it.member, score: e.currentTarget.value })}
                    aria-label={`New score of ${it.member}`}
                  />
                ) : (
                  String(it.score)
                )}
              </td>
              <td class="row-actions">
                <RowActions
                  editing={editing?.member === it.member}
                  onSave={() => editing && zadd(it.member, editing.score)}
                  onCancel={() => setEditing(null)}
                  onEdit={() => setEditing({ member: it.member, score: String(it.score) })}
                  editLabel="Edit score"
                  onRemove={() =>
                    session.act(async () => {
                      await session.run(builders.zrem(name, it.member), { db, key: name });
                      changed();
                    })
                  }
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data.items.length < data.card && (
        <button type="button" onClick={() => setCount((c) => c + PAGE)}>
          Load more members
        </button>
      )}
      <form
        class="inline-form add-form"
        aria-label="Add member"
        onSubmit={(e) => {
          e.preventDefault();
          void zadd(member, score).then((ok) => ok && setMember(''));
        }}
      >
        <input
          class="grow"
          value={member}
          onInput={(e) => setMember(e.currentTarget.value)}
          placeholder="member"
          aria-label="New member"
        />
        <input
          class="score-edit"
          value={score}
          onInput={(e) => setScore(e.currentTarget.value)}
          placeholder="score"
          aria-label="New member score"
        />
        <button type="submit">Add member</button>
      </form>
    </div>
  );
}

const NEW_TYPES: KeyType[] = ['string', 'hash', 'list', 'set', 'zset'];

/** Creating a key: its name, type, first content, and an optional TTL. Refuses a name already in use. */
export function NewKeyForm({
  session,
  db,
  onCreated,
  onCancel,
}: {
  session: Session;
  db: number;
  onCreated: (key: string) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [type, setType] = useState<KeyType>('string');
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  const [ttl, setTtl] = useState('');
  const first: Record<string, [string, string | null]> = {
    string: ['Value', null],
    hash: ['Field', 'Value'],
    list: ['Element', null],
    set: ['Member', null],
    zset: ['Member', 'Score'],
  };
  const [labelA, labelB] = first[type] ?? ['Value', null];
  const create = () =>
    session.act(async () => {
      const ctx = { db, key: name };
      const exists = await session.run(builders.exists(name), ctx);
      if (exists > 0)
        throw new ActionError({
          title: 'Not created',
          text: `A key named ${name} already exists in db${db}.`,
          raw: '',
          code: 'EXISTS',
        });
      const cmd: Command<unknown> =
        type === 'string'
          ? builders.set(name, a)
          : type === 'hash'
            ? builders.hset(name, { [a]: b })
            : type === 'list'
              ? builders.rpush(name, a)
              : type === 'set'
                ? builders.sadd(name, a)
                : builders.zadd(name, { score: Number(b || 0), member: a });
      const cmds: Command<unknown>[] = [cmd];
      const seconds = Number(ttl);
      if (ttl.trim() !== '' && seconds > 0) cmds.push(builders.pexpire(name, Math.round(seconds * 1000)));
      const out = await session.runAll(db, cmds, ctx);
      out.forEach((o, i) => {
        if ('error' in o) throw new ActionError(session.explain(o.error, cmds[i].argv, ctx));
      });
      onCreated(name);
    });
  return (
    <form
      class="detail new-key"
      aria-label="New key"
      onSubmit={(e) => {
        e.preventDefault();
        if (name !== '') void create();
      }}
    >
      <h2>New key in db{db}</h2>
      <label>
        Name
        <input
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          required
          aria-label="Key name"
          spellcheck={false}
        />
      </label>
      <label>
        Type
        <select value={type} onChange={(e) => setType(e.currentTarget.value as KeyType)} aria-label="New key type">
          {NEW_TYPES.map((t) => (
            <option key={t} value={t}>
              {TYPE_LABEL[t]}
            </option>
          ))}
        </select>
      </label>
      {type === 'string' ? (
        <label>
          {labelA}
          <textarea class="mono" rows={4} value={a} onInput={(e) => setA(e.currentTarget.value)} />
        </label>
      ) : (
        <label>
          {labelA}
          <input value={a} onInput={(e) => setA(e.currentTarget.value)} />
        </label>
      )}
      {labelB && (
        <label>
          {labelB}
          <input value={b} onInput={(e) => setB(e.currentTarget.value)} />
        </label>
      )}
      <label>
        TTL in seconds (empty: no expiry)
        <input
          type="number"
          min="0"
          step="any"
          value={ttl}
          onInput={(e) => setTtl(e.currentTarget.value)}
          aria-label="TTL in seconds"
        />
      </label>
      <div class="actions">
        <button type="submit" class="primary" disabled={name === ''}>
          Create
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
