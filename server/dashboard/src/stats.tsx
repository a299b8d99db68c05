import { useEffect } from 'preact/hooks';
import { LineChart } from './chart.js';
import { formatBytes, formatDuration, formatNumber } from './format.js';
import type { Session } from './session.js';
import { HISTORY, POLL_MS, parseFields } from './stats-poller.js';
import { useStore } from './store.js';

/**
 * Server statistics: a row of figures and four live charts (commands per second, clients per front door,
 * memory, keys per database) from the StatsPoller's INFO samples, the last five minutes.
 */
export function StatsView({ session }: { session: Session }) {
  const stats = session.stats;
  useEffect(() => stats.ensureStarted(), [stats]);
  const samples = useStore(stats.samples);
  const error = useStore(stats.error);
  const exact = useStore(stats.exactDoors);
  if (error) {
    return (
      <div class="panel">
        <div class="callout callout-error" role="alert">
          <strong>{error.title}</strong>
          <p>{error.text}</p>
          <p class="muted">
            Server statistics come from INFO, which only users allowed @dangerous commands (administrators) may run.
          </p>
        </div>
      </div>
    );
  }
  const last = samples.at(-1);
  if (!last) return <div class="panel muted">Reading INFO…</div>;
  const info = last.info;
  const times = samples.map((s) => s.t);
  const windowMs = HISTORY * POLL_MS;
  const dbs = [...new Set(samples.flatMap((s) => Object.keys(s.keys).map(Number)))].sort((a, b) => a - b);
  const totalKeys = Object.values(last.keys).reduce((a, b) => a + b, 0);
  const expires = Object.entries(info)
    .filter(([k]) => /^db\d+$/.test(k))
    .reduce((n, [, v]) => n + (parseFields(v).expires ?? 0), 0);
  const hits = Number(info.keyspace_hits ?? 0);
  const misses = Number(info.keyspace_misses ?? 0);
  const doors = exact
    ? [
        { name: 'RESP', values: samples.map((s) => s.clients.resp) },
        { name: 'WebSocket', values: samples.map((s) => s.clients.ws) },
        { name: 'HTTP', values: samples.map((s) => s.clients.http) },
      ]
    : [
        { name: 'WebSocket', values: samples.map((s) => s.clients.ws) },
        { name: 'RESP and HTTP', values: samples.map((s) => s.clients.other) },
      ];
  return (
    <div class="stats">
      <div class="cards">
        <Card
          label="Version"
          value={`kvws ${info.kvws_version ?? '?'}`}
          sub={`Redis ${info.redis_version ?? '?'} compatible`}
        />
        <Card
          label="Uptime"
          value={formatDuration(Number(info.uptime_in_seconds ?? 0))}
          sub={`node ${info.node_version ?? ''}`}
        />
        <Card
          label="Operations"
          value={`${formatNumber(Math.round((last.ops ?? 0) * 10) / 10)}/s`}
          sub={`${formatNumber(Number(info.total_commands_processed ?? 0))} in total`}
        />
        <Card
          label="Clients"
          value={formatNumber(Number(info.connected_clients ?? 0))}
          sub={`${formatNumber(Number(info.pubsub_clients ?? 0))} subscribed`}
        />
        <Card label="Memory" value={formatBytes(last.memory.used)} sub={`RSS ${formatBytes(last.memory.rss)}`} />
        <Card label="Keys" value={formatNumber(totalKeys)} sub={`${formatNumber(expires)} with a TTL`} />
        <Card
          label="Expired"
          value={formatNumber(Number(info.expired_keys ?? 0))}
          sub={`lateness ${info.expire_last_lateness_ms ?? 0} ms`}
        />
        <Card
          label="Hit rate"
          value={hits + misses === 0 ? '—' : `${((100 * hits) / (hits + misses)).toFixed(1)} %`}
          sub={`${formatNumber(hits)} hits, ${formatNumber(misses)} misses`}
        />
        <Card
          label="Event log"
          value={formatNumber(Number(info.event_log_events ?? 0))}
          sub={formatBytes(Number(info.event_log_bytes ?? 0))}
        />
        <Card
          label="Persistence"
          value={info.aof_enabled === '1' ? 'AOF on' : 'AOF off'}
          sub={
            info.aof_enabled === '1'
              ? `fsync ${info.aof_fsync_policy ?? '?'}, last write ${info.aof_last_write_status ?? '?'}`
              : `${info.rdb_changes_since_last_save ?? 0} changes since save`
          }
        />
      </div>
      <div class="charts">
        <LineChart
          title="Commands per second"
          series={[{ name: 'ops/s', values: samples.map((s) => s.ops) }]}
          times={times}
          windowMs={windowMs}
          format={(v) => formatNumber(Math.round(v * 10) / 10)}
        />
        <LineChart
          title={exact ? 'Clients by front door' : 'Clients by front door (from INFO)'}
          series={doors}
          times={times}
          windowMs={windowMs}
          format={formatNumber}
          integer
        />
        <LineChart
          title="Memory"
          series={[
            { name: 'used', values: samples.map((s) => s.memory.used) },
            { name: 'RSS', values: samples.map((s) => s.memory.rss) },
          ]}
          times={times}
          windowMs={windowMs}
          format={formatBytes}
        />
        <LineChart
          title="Keys per database"
          series={(dbs.length ? dbs : [0]).map((d) => ({ name: `db${d}`, values: samples.map((s) => s.keys[d] ?? 0) }))}
          times={times}
          windowMs={windowMs}
          format={formatNumber}
          integer
        />
      </div>
      <p class="muted small">
        INFO is read every {POLL_MS / 1000} s while you are signed in; the charts show the last{' '}
        {Math.round(windowMs / 60_000)} minutes. Hover a chart for the values at a time.
      </p>
    </div>
  );
}

function Card({ label, value, sub }: { label: string; value: string; sub?: string }) {
  return (
    <div class="card">
      <div class="card-label">{label}</div>
      <div class="card-value">{value}</div>
      {sub && <div class="card-sub muted">{sub}</div>}
    </div>
  );
}
