import { type AclLogEntry, type AclUser, builders } from '@kvws/client';
import { useEffect, useState } from 'preact/hooks';
import { ActionError, type Explained } from './explain.js';
import { formatClock, formatDuration } from './format.js';
import type { Session } from './session.js';
import { useInterval } from './store.js';

/**
 * Users and refusals, for administrators: ACL LIST (a user's details with ACL GETUSER) and ACL LOG (read
 * again every few seconds while shown; ACL LOG RESET empties it). A user who may not run these sees the
 * refusal explained instead.
 */

/** ACL LOG entries read. */
const LOG_COUNT = 100;
const LOG_REFRESH_MS = 4000;

/** One ACL LIST line, taken apart for the table. */
export interface UserLine {
  name: string;
  on: boolean;
  passwords: number;
  nopass: boolean;
  /** The rules besides the flags and password hashes. */
  rules: string;
}

/** Parses `user NAME on #hash … ~keys &channels +@all` (hashes counted, never shown). */
export function parseUserLine(line: string): UserLine {
  const tokens = line.split(' ');
  const rest = tokens.slice(2);
  return {
    name: tokens[1] ?? '',
    on: rest.includes('on'),
    passwords: rest.filter((t) => t.startsWith('#')).length,
    nopass: rest.includes('nopass'),
    rules: rest.filter((t) => !t.startsWith('#') && t !== 'on' && t !== 'off' && t !== 'nopass').join(' '),
  };
}

function failure(session: Session, e: unknown, argv: string[]): Explained {
  return e instanceof ActionError ? e.explained : session.explain(e, argv);
}

export function AclView({ session, visible }: { session: Session; visible: boolean }) {
  const [users, setUsers] = useState<UserLine[] | null>(null);
  const [usersError, setUsersError] = useState<Explained | null>(null);
  const [log, setLog] = useState<AclLogEntry[] | null>(null);
  const [logError, setLogError] = useState<Explained | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [detail, setDetail] = useState<AclUser | null>(null);
  const [confirmReset, setConfirmReset] = useState(false);

  const loadUsers = async () => {
    try {
      setUsers((await session.run(builders.aclList())).map(parseUserLine));
      setUsersError(null);
    } catch (e) {
      setUsersError(failure(session, e, ['ACL', 'LIST']));
    }
  };
  const loadLog = async () => {
    try {
      setLog(await session.run(builders.aclLog(LOG_COUNT)));
      setLogError(null);
    } catch (e) {
      setLogError(failure(session, e, ['ACL', 'LOG']));
    }
  };
  useEffect(() => {
    void loadUsers();
    void loadLog();
  }, []);
  useInterval(() => void loadLog(), visible && logError === null ? LOG_REFRESH_MS : null);
  useEffect(() => {
    if (selected === null) return;
    setDetail(null);
    session
      .run(builders.aclGetuser(selected))
      .then(setDetail, (e) => session.notices.error(failure(session, e, ['ACL', 'GETUSER', selected])));
  }, [session, selected]);

  return (
    <div class="acl">
      <div class="panel">
        <div class="panel-head">
          <h2>Users</h2>
          <button type="button" onClick={() => void loadUsers()}>
            Refresh
          </button>
        </div>
        {usersError ? (
          <Refused error={usersError} />
        ) : users === null ? (
          <p class="muted">Reading ACL LIST…</p>
        ) : (
          <div class="table-wrap">
            <table class="table" aria-label="Users">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Status</th>
                  <th>Passwords</th>
                  <th>Rules</th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.name} class={selected === u.name ? 'selected' : ''} onClick={() => setSelected(u.name)}>
                    <td class="mono">
                      <button type="button" class="link">
                        {u.name}
                      </button>
                    </td>
                    <td>
                      <span class={u.on ? 'pill pill-live' : 'pill pill-idle'}>{u.on ? 'on' : 'off'}</span>
                    </td>
                    <td>{u.nopass ? 'none needed (nopass)' : u.passwords}</td>
                    <td class="mono rules">{u.rules}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {selected !== null && (
          <div class="user-detail">
            <h3>
              ACL GETUSER <span class="mono">{selected}</span>
            </h3>
            {detail === null ? (
              <p class="muted">Reading…</p>
            ) : (
              <dl class="props">
                <dt>Flags</dt>
                <dd class="mono">{detail.flags.join(' ') || '—'}</dd>
                <dt>Commands</dt>
                <dd class="mono">{detail.commands || '—'}</dd>
                <dt>Keys</dt>
                <dd class="mono">{detail.keys || '—'}</dd>
                <dt>Channels</dt>
                <dd class="mono">{detail.channels || '—'}</dd>
                <dt>Passwords</dt>
                <dd>{detail.passwords.length}</dd>
                {detail.selectors.length > 0 && (
                  <>
                    <dt>Selectors</dt>
                    <dd class="mono">
                      {detail.selectors.map((s, i) => (
                        <div key={i}>
                          ({s.commands} {s.keys} {s.channels})
                        </div>
                      ))}
                    </dd>
                  </>
                )}
              </dl>
            )}
          </div>
        )}
      </div>
      <div class="panel">
        <div class="panel-head">
          <h2>ACL log</h2>
          <span class="muted small">commands, keys and channels refused, and failed sign-ins · newest first</span>
          <div class="toolbar-right">
            <button type="button" onClick={() => void loadLog()}>
              Refresh
            </button>
            {confirmReset ? (
              <>
                <button
                  type="button"
                  class="danger"
                  onClick={() =>
                    session.act(async () => {
                      setConfirmReset(false);
                      await session.run(builders.aclLog('RESET'));
                      await loadLog();
                    })
                  }
                >
                  Empty the log
                </button>
                <button type="button" onClick={() => setConfirmReset(false)}>
                  Cancel
                </button>
              </>
            ) : (
              <button type="button" onClick={() => setConfirmReset(true)}>
                Reset…
              </button>
            )}
          </div>
        </div>
        {logError ? (
          <Refused error={logError} />
        ) : log === null ? (
          <p class="muted">Reading ACL LOG…</p>
        ) : log.length === 0 ? (
          <p class="empty">Nothing refused so far.</p>
        ) : (
          <div class="table-wrap">
            <table class="table" aria-label="ACL log">
              <thead>
                <tr>
                  <th>Last</th>
                  <th>User</th>
                  <th>Reason</th>
                  <th>Object</th>
                  <th>Context</th>
                  <th>Count</th>
                  <th>Client</th>
                </tr>
              </thead>
              <tbody>
                {log.map((e) => {
                  const client = clientFields(e['client-info']);
                  return (
                    <tr key={e['entry-id']}>
                      <td class="mono" title={`${formatDuration(e['age-seconds'])} ago`}>
                        {formatClock(e['timestamp-last-updated'])}
                      </td>
                      <td class="mono">{e.username}</td>
                      <td>
                        <span class={`pill reason-${e.reason}`}>{e.reason}</span>
                      </td>
                      <td class="mono">{e.object}</td>
                      <td>{e.context}</td>
                      <td>{e.count}</td>
                      <td class="mono small">
                        {client.addr ?? ''} {client.door ? `(${client.door})` : ''}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </div>
  );
}

function Refused({ error }: { error: Explained }) {
  return (
    <div class="callout callout-error" role="alert">
      <strong>{error.title}</strong>
      <p>{error.text}</p>
      {error.code === 'NOPERM' && (
        <p class="muted">Users and the ACL log are for administrators (users allowed ACL LIST and ACL LOG).</p>
      )}
    </div>
  );
}

/** `id=3 addr=127.0.0.1:5000 …` → its fields. */
function clientFields(info: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of info.split(' ')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}
