import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Redis from 'ioredis';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveOptions } from '../../server/src/config.js';
import { type RedisNode, startRedisServer } from '../helpers/redis-topology.js';
import { freePort, type RunningServer, redisClient, startKvws, wsUrl } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { WsClient } from '../helpers/ws.js';

// /metrics, /healthz and /readyz end to end (docs/observability.md): real kvws processes, commands through
// the three front doors (ioredis on RESP, the WebSocket gateway, the HTTP API), scrapes parsed with a
// Prometheus text-format parser and compared with INFO; the access rules; readiness in front of a Redis
// that is paused (SIGSTOP) and then killed. kvws-only.

/** The parser's shapes (parse-prometheus-text-format: values stay strings). */
interface Sample {
  labels?: Record<string, string>;
  value?: string;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Sample[];
}

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

const servers: RunningServer[] = [];
const clients: Redis[] = [];
const wsClients: WsClient[] = [];
let dir = '';
/** Default access (loopback), a data directory (AOF on), open default user. */
let main: RunningServer;
/** Users required; on the machine's external address when it has one (so the scraper is remote), else token mode. */
let strict: RunningServer;
let strictHost = '127.0.0.1';
/** --metrics-access off. */
let off: RunningServer;
/** The Redis engine, --metrics-access token. */
let gateway: RunningServer;
let backing: RedisNode;

/** The first external IPv4 address of this machine, or null. */
function externalIPv4(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

async function start(args: string[]): Promise<RunningServer> {
  const s = await startKvws(['--port', String(await freePort()), '--no-tls', ...args]);
  servers.push(s);
  return s;
}

function redis(server: RunningServer, opts: Parameters<typeof redisClient>[1] = {}): Redis {
  const c = redisClient(server, opts);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

interface Scrape {
  status: number;
  headers: Headers;
  text: string;
  families: Map<string, Family>;
  /**
   * The same text parsed with its histograms untyped: `<name>_bucket`, `_sum` and `_count` as families of
   * plain samples with all their labels. (parse-prometheus-text-format folds every series of a labeled
   * histogram into one, losing the labels; its line parsing is what is wanted here, so the grouping by
   * labels is done by `histogram` below.)
   */
  series: Map<string, Family>;
}

/** GET `pathname` on the server's HTTP port (at `host`), with `token` as a Bearer token. */
async function get(
  server: RunningServer,
  pathname: string,
  o: { host?: string; token?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  return fetch(`http://${o.host ?? '127.0.0.1'}:${server.httpsPort}${pathname}`, {
    headers,
    method: o.method ?? 'GET',
    signal: AbortSignal.timeout(10_000),
  });
}

/** Scrapes /metrics; on 200, checks the exposition's syntax (checkExposition) and parses it. */
async function scrape(server: RunningServer, o: { host?: string; token?: string } = {}): Promise<Scrape> {
  const res = await get(server, '/metrics', o);
  const text = await res.text();
  const families = new Map<string, Family>();
  const series = new Map<string, Family>();
  if (res.status === 200) {
    checkExposition(text);
    for (const f of parsePrometheusTextFormat(text) as Family[]) families.set(f.name, f);
    const untyped = text.replace(/^# TYPE \S+ histogram\n/gm, '');
    // (Untyped, the series of one family come as several families of the same name, in turn.)
    for (const f of parsePrometheusTextFormat(untyped) as Family[]) {
      const seen = series.get(f.name);
      if (seen) seen.metrics.push(...f.metrics);
      else series.set(f.name, f);
    }
  }
  return { status: res.status, headers: res.headers, text, families, series };
}

/**
 * What the text format requires beyond what the parser checks: every line a HELP, a TYPE or a sample; one
 * HELP and one TYPE per family, before its samples, which follow it without another family in between; metric
 * and label names of the allowed characters; no series twice.
 */
function checkExposition(text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  const declared = new Set<string>();
  const series = new Set<string>();
  let current = '';
  let currentType = '';
  let lastBucket = { key: '', le: Infinity, count: 0 };
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') {
        expect(declared.has(meta[2]), `family ${meta[2]} declared twice`).toBe(false);
        declared.add(meta[2]);
        current = meta[2];
        currentType = '';
      } else {
        expect(meta[2]).toBe(current);
        expect(['counter', 'gauge', 'histogram']).toContain(meta[3]);
        currentType = meta[3];
      }
      continue;
    }
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,|(?=\})))*\})? (\S+)$/.exec(
        line,
      );
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const [, name, labels = '', value] = m as RegExpExecArray;
    expect(currentType, `sample before TYPE: ${line}`).not.toBe('');
    const allowed =
      currentType === 'histogram' ? [`${current}_bucket`, `${current}_sum`, `${current}_count`] : [current];
    expect(allowed, `sample outside its family: ${line}`).toContain(name);
    if (currentType === 'counter') expect(name.endsWith('_total'), name).toBe(true);
    expect(Number.isNaN(Number(value)) && value !== 'NaN', `bad value: ${line}`).toBe(false);
    expect(series.has(name + labels), `series twice: ${line}`).toBe(false);
    series.add(name + labels);
    if (name.endsWith('_bucket')) {
      // Buckets of one series in increasing `le`, counts cumulative, ending with +Inf.
      const le = /(?:\{|,)le="([^"]+)"\}$/.exec(labels)?.[1];
      expect(le, line).toBeDefined();
      const seriesKey = name + labels.replace(/,?le="[^"]+"\}$/, '}');
      const bound = le === '+Inf' ? Infinity : Number(le);
      if (seriesKey === lastBucket.key) {
        expect(bound, line).toBeGreaterThan(lastBucket.le);
        expect(Number(value), line).toBeGreaterThanOrEqual(lastBucket.count);
      } else expect(lastBucket.le, `series before ${line} did not end with +Inf`).toBe(Infinity);
      lastBucket = { key: seriesKey, le: bound, count: Number(value) };
    }
  }
}

/** docs/observability.md, which must name every metric a scrape shows. */
const DOC = readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/observability.md'),
  'utf8',
);

function expectDocumented(s: Scrape): void {
  for (const name of s.families.keys()) expect(DOC, `${name} in docs/observability.md`).toContain(`\`${name}\``);
}

/** The value of the sample of `name` whose labels are exactly `labels`, as a number; undefined if none. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = s.families.get(name)?.metrics.find((m) => sameLabels(m.labels ?? {}, labels));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** The histogram series of `name` with labels `labels`. */
function histogram(s: Scrape, name: string, labels: Record<string, string> = {}): Sample | undefined {
  expect(s.families.get(name)?.type).toBe('HISTOGRAM');
  const buckets: Record<string, string> = {};
  for (const m of s.series.get(`${name}_bucket`)?.metrics ?? []) {
    const { le, ...rest } = m.labels ?? {};
    if (le !== undefined && sameLabels(rest, labels)) buckets[le] = m.value as string;
  }
  const one = (suffix: string) =>
    s.series.get(`${name}_${suffix}`)?.metrics.find((m) => sameLabels(m.labels ?? {}, labels))?.value;
  const count = one('count');
  if (count === undefined) return undefined;
  return { labels, buckets, count, sum: one('sum') };
}

/** Checks a histogram series: buckets cumulative in increasing `le`, ending with +Inf = count; sum ≥ 0. */
function checkHistogram(h: Sample): { bounds: number[]; cumulative: number[]; count: number; sum: number } {
  // (The parser keeps buckets in an object, whose integer keys come first: sorted here, checked in order in
  // checkExposition.)
  const entries = Object.entries(h.buckets ?? {})
    .map(([le, c]) => [le === '+Inf' ? Infinity : Number(le), Number(c)])
    .sort((x, y) => x[0] - y[0]);
  expect(entries.length).toBeGreaterThan(2);
  const bounds = entries.map((e) => e[0]);
  const cumulative = entries.map((e) => e[1]);
  for (let i = 1; i < entries.length; i++) {
    expect(bounds[i]).toBeGreaterThan(bounds[i - 1]);
    expect(cumulative[i]).toBeGreaterThanOrEqual(cumulative[i - 1]);
  }
  expect(bounds.at(-1)).toBe(Infinity);
  const count = Number(h.count);
  const sum = Number(h.sum);
  expect(cumulative.at(-1)).toBe(count);
  expect(sum).toBeGreaterThanOrEqual(0);
  return { bounds, cumulative, count, sum };
}

/** INFO `section` as field → value. */
async function info(c: Redis, section: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await c.info(section)).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** INFO commandstats / latencystats values (`calls=1,usec=2,…` or `p50=1.000,…`) as a map of numbers. */
function fields(s: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kv of (s ?? '').split(',')) {
    const [k, v] = kv.split('=');
    if (v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** A kvws token for `username` from POST /auth/token. */
async function login(server: RunningServer, host: string, username: string, password: string): Promise<string> {
  const res = await fetch(`http://${host}:${server.httpsPort}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json()) as { token?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.token as string;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-metrics-test-'));
  const users = path.join(dir, 'users.acl');
  writeFileSync(users, 'user default off\nuser admin on >adminpw ~* +@all\nuser reader on >readerpw ~* +@read\n');
  const external = externalIPv4();
  strictHost = external ?? '127.0.0.1';
  const strictArgs = external ? ['--host', external, '--allow-insecure-remote'] : ['--metrics-access', 'token'];
  backing = await startRedisServer();
  [main, strict, off, gateway] = await Promise.all([
    start(['--data-dir', path.join(dir, 'main')]),
    start(['--acl-file', users, '--metrics-token', METRICS_TOKEN, ...strictArgs]),
    start(['--metrics-access', 'off']),
    start([
      '--engine',
      `redis://127.0.0.1:${backing.port}`,
      '--metrics-access',
      'token',
      '--metrics-token',
      METRICS_TOKEN,
      '--engine-timeout',
      '20000',
    ]),
  ]);
});

afterAll(async () => {
  for (const w of wsClients) w.close();
  for (const c of clients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  if (backing?.paused) backing.kill('SIGCONT');
  await backing?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('/metrics', () => {
  it('counts commands from every front door as INFO does, with consistent latency histograms', async () => {
    const r = redis(main);
    const sub = redis(main);
    await r.config('SET', 'notify-keyspace-events', 'KEA');
    await sub.psubscribe('__keyevent@0__:*');
    await r.set('k', '1');
    await r.get('k');
    await r.get('missing');
    await expect(r.hset('k', 'f', 'v')).rejects.toThrow(/WRONGTYPE/);
    await expect(r.call('NOSUCHCOMMAND')).rejects.toThrow(/unknown command/);
    expect(await r.blpop('nolist', 0.2)).toBeNull();
    await r.set('short', 'v', 'PX', 30);
    // Through the WebSocket gateway and the HTTP API too.
    const ws = await WsClient.open(wsUrl(main));
    wsClients.push(ws);
    expect(await ws.result('SET', 'w', '1')).toBe('OK');
    expect(await ws.result('GET', 'w')).toBe('1');
    const api = await fetch(`http://127.0.0.1:${main.httpsPort}/`, {
      method: 'POST',
      body: JSON.stringify(['INCR', 'h']),
    });
    expect(await api.json()).toEqual({ result: 1 });
    // Active expiry deletes `short` (and publishes `expired`).
    // (Polled through INFO, which reads no key: an EXISTS could expire it lazily first.)
    expect(await waitFor(async () => (await info(r, 'stats')).get('expired_keys') === '1', 5000)).toBe(true);
    // Quiet now: the scrape runs no command, and one INFO reads every section after it.
    const s = await scrape(main);
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(s.headers.get('cache-control')).toBe('no-store');
    const all = await info(r, 'everything');

    // Per command: calls, failed and rejected as INFO commandstats, latency sum as its usec.
    const counted = s.families.get('kvws_commands_total')?.metrics ?? [];
    expect(counted.length).toBeGreaterThan(5);
    for (const m of counted) {
      const cmd = m.labels?.cmd as string;
      // INFO does not count the INFO call it is answering, as in Redis.
      const st = fields(all.get(`cmdstat_${cmd}`));
      expect(Number(m.value), cmd).toBe(st.calls);
      expect(value(s, 'kvws_commands_failed_total', { cmd }), cmd).toBe(st.failed_calls);
      expect(value(s, 'kvws_commands_rejected_total', { cmd }), cmd).toBe(st.rejected_calls);
      if (st.calls === 0) {
        expect(histogram(s, 'kvws_command_duration_seconds', { cmd }), cmd).toBeUndefined();
        continue;
      }
      const h = checkHistogram(histogram(s, 'kvws_command_duration_seconds', { cmd }) as Sample);
      expect(h.count, cmd).toBe(st.calls);
      expect(Math.abs(Math.round(h.sum * 1e6) - st.usec), cmd).toBeLessThanOrEqual(1);
    }
    expect(value(s, 'kvws_commands_total', { cmd: 'get' })).toBe(3); // RESP 2, WebSocket 1
    expect(value(s, 'kvws_commands_total', { cmd: 'set' })).toBe(3);
    expect(value(s, 'kvws_commands_total', { cmd: 'incr' })).toBe(1); // HTTP API
    expect(value(s, 'kvws_commands_failed_total', { cmd: 'hset' })).toBe(1);
    // BLPOP answered when its 0.2 s timeout passed: measured until then.
    const blpop = checkHistogram(histogram(s, 'kvws_command_duration_seconds', { cmd: 'blpop' }) as Sample);
    expect(blpop.count).toBe(1);
    expect(blpop.sum).toBeGreaterThanOrEqual(0.19);
    expect(blpop.cumulative[blpop.bounds.indexOf(0.1)]).toBe(0);
    // INFO latencystats: percentiles from the same histogram, inside the bucket holding that rank.
    const get = checkHistogram(histogram(s, 'kvws_command_duration_seconds', { cmd: 'get' }) as Sample);
    const p = fields(all.get('latency_percentiles_usec_get'));
    expect(p.p50).toBeLessThanOrEqual(p.p99);
    expect(p.p99).toBeLessThanOrEqual(p['p99.9']);
    const medianBucket = get.cumulative.findIndex((c) => c >= get.count * 0.5);
    expect(p.p50 / 1e6).toBeLessThanOrEqual(get.bounds[medianBucket] + 1e-12);
    expect(p.p50 / 1e6).toBeGreaterThanOrEqual(medianBucket === 0 ? 0 : get.bounds[medianBucket - 1] - 1e-12);

    // Totals as INFO stats.
    const same: [string, string, number][] = [
      ['kvws_commands_processed_total', 'total_commands_processed', 1], // counted as it arrives: the INFO too
      ['kvws_error_replies_total', 'total_error_replies', 0],
      ['kvws_rejected_calls_total', 'rejected_calls', 0],
      ['kvws_keyspace_hits_total', 'keyspace_hits', 0],
      ['kvws_keyspace_misses_total', 'keyspace_misses', 0],
      ['kvws_expired_keys_total', 'expired_keys', 0],
      ['kvws_events_published_total', 'events_published', 0],
      ['kvws_events_delivered_total', 'events_delivered', 0],
      ['kvws_connections_received_total', 'total_connections_received', 0],
      ['kvws_http_requests_total', 'http_requests', 0],
      ['kvws_http_fast_lane_requests_total', 'http_fast_lane_requests', 0],
      ['kvws_event_log_last_offset', 'event_log_last_offset', 0],
      ['kvws_event_log_bytes', 'event_log_bytes', 0],
    ];
    for (const [metric, field, extra] of same) expect(value(s, metric), metric).toBe(Number(all.get(field)) - extra);
    expect(value(s, 'kvws_error_replies_total')).toBe(2); // WRONGTYPE, unknown command
    expect(value(s, 'kvws_http_fast_lane_requests_total')).toBe(1); // fetch's POST / (INCR h)
    expect(value(s, 'kvws_rejected_calls_total')).toBe(1); // unknown command
    expect(value(s, 'kvws_expired_keys_total')).toBe(1);
    // Events: set k, set short, expire short, set w, incr h (keyspace + keyevent each), ≥ 1 delivery each to `sub`.
    expect(value(s, 'kvws_events_published_total')).toBeGreaterThanOrEqual(10);
    expect(value(s, 'kvws_events_delivered_total')).toBeGreaterThanOrEqual(5);
    expect(value(s, 'kvws_ws_frames_total', { direction: 'in' })).toBe(Number(all.get('ws_frames_in')));
    expect(value(s, 'kvws_slow_consumer_disconnections_total', { front_door: 'ws' })).toBe(0);

    // Connections by front door: two RESP clients, one WebSocket, no HTTP request in progress.
    expect(value(s, 'kvws_connected_clients', { front_door: 'resp' })).toBe(2);
    expect(value(s, 'kvws_connected_clients', { front_door: 'ws' })).toBe(1);
    expect(value(s, 'kvws_connected_clients', { front_door: 'http' })).toBe(0);
    expect(Number(all.get('connected_clients'))).toBe(3);
    for (const door of ['resp', 'ws', 'http']) {
      expect(value(s, 'kvws_connected_clients', { front_door: door })).toBe(
        Number(all.get(`connected_clients_${door}`)),
      );
    }

    // Expiry lateness: the one active expiry, in the histogram.
    const lateness = checkHistogram(histogram(s, 'kvws_expiry_lateness_seconds') as Sample);
    expect(lateness.count).toBe(1);
    expect(value(s, 'kvws_expiry_last_lateness_seconds')).toBe(Number(all.get('expire_last_lateness_ms')) / 1000);

    // AOF: on, everysec, written, sizes as INFO persistence.
    expect(value(s, 'kvws_aof_enabled')).toBe(1);
    expect(value(s, 'kvws_aof_last_write_ok')).toBe(1);
    expect(value(s, 'kvws_aof_rewrite_in_progress')).toBe(0);
    expect(value(s, 'kvws_aof_fsync_policy', { policy: 'everysec' })).toBe(1);
    expect(value(s, 'kvws_aof_current_size_bytes')).toBe(Number(all.get('aof_current_size')));
    expect(value(s, 'kvws_aof_current_size_bytes')).toBeGreaterThan(0);

    // Keys per database, memory, process.
    expect(value(s, 'kvws_db_keys', { db: '0' })).toBe(await r.dbsize());
    expect(value(s, 'kvws_db_keys', { db: '15' })).toBe(0);
    expect(value(s, 'kvws_db_keys_expiring', { db: '0' })).toBe(0);
    // Without maxmemory or a policy, used_memory is the process heap (docs/eviction.md): it moves between
    // the INFO and the scrape, so the two agree to within a few percent, not to the byte.
    const used = value(s, 'kvws_memory_used_bytes');
    expect(Math.abs(used - Number(all.get('used_memory')))).toBeLessThan(0.1 * used);
    expect(value(s, 'kvws_memory_heap_used_bytes')).toBeGreaterThan(1e6);
    expect(value(s, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(value(s, 'process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
    expectDocumented(s);
    // No key name appears anywhere.
    for (const key of ['"k"', 'short', 'nolist', 'missing']) expect(s.text).not.toContain(key);
    ws.close();
  });

  it('sends gzip when asked, and answers HEAD without a body', async () => {
    const res = await fetch(`http://127.0.0.1:${main.httpsPort}/metrics`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const text = await res.text(); // fetch inflates it
    checkExposition(text);
    expect(text).toContain('# TYPE kvws_commands_total counter');
    const head = await get(main, '/metrics', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await get(main, '/metrics', { method: 'POST' })).status).toBe(405);
  });

  it('CONFIG RESETSTAT zeroes the counters INFO and /metrics show', async () => {
    const r = redis(main);
    await r.get('x');
    await r.config('RESETSTAT');
    const s = await scrape(main);
    // Only CONFIG RESETSTAT itself ran since (its call was counted before the reset: Redis counts it after).
    expect(value(s, 'kvws_commands_total', { cmd: 'get' })).toBeUndefined();
    expect(value(s, 'kvws_commands_processed_total')).toBe(0);
    expect(checkHistogram(histogram(s, 'kvws_expiry_lateness_seconds') as Sample).count).toBe(0);
  });
});

describe('who may read /metrics', () => {
  it('loopback peers without a token by default', async () => {
    expect((await scrape(main)).status).toBe(200);
    // A token, once given, must be good.
    const bad = await get(main, '/metrics', { token: 'not-a-token' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^WRONGPASS/);
  });

  it('others (or everyone under token mode) only with the metrics token or a token of a user allowed INFO', async () => {
    const refused = await get(strict, '/metrics', { host: strictHost });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await refused.json()) as { error: string }).error).toMatch(/^NOAUTH/);
    expect((await get(strict, '/metrics', { host: strictHost, headers: { authorization: 'Basic eDp5' } })).status).toBe(
      401,
    );
    expect((await scrape(strict, { host: strictHost, token: METRICS_TOKEN })).status).toBe(200);
    expect((await get(strict, '/metrics', { host: strictHost, token: `${METRICS_TOKEN}x` })).status).toBe(401);
    const admin = await login(strict, strictHost, 'admin', 'adminpw');
    const s = await scrape(strict, { host: strictHost, token: admin });
    expect(s.status).toBe(200);
    expect(value(s, 'kvws_http_tokens_issued_total')).toBe(1);
    const reader = await login(strict, strictHost, 'reader', 'readerpw');
    const denied = await get(strict, '/metrics', { host: strictHost, token: reader });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: string }).error).toMatch(/^NOPERM .*'info'/);
    // The wrong token counted as a failed login, the reader's as a NOPERM denial.
    const again = await scrape(strict, { host: strictHost, token: METRICS_TOKEN });
    expect(value(again, 'kvws_auth_failures_total')).toBe(1);
    expect(value(again, 'kvws_acl_denied_total', { reason: 'command' })).toBe(1);
  });

  it('nobody with --metrics-access off (404); health endpoints stay open', async () => {
    const res = await get(off, '/metrics');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toMatch(/metricsAccess off/);
    expect((await get(off, '/healthz')).status).toBe(200);
    expect((await get(strict, '/readyz', { host: strictHost })).status).toBe(200);
  });

  it('the options are validated, and the token is never echoed', () => {
    expect(resolveOptions([], {}).metricsAccess).toBe('loopback');
    expect(() => resolveOptions(['--metrics-access', 'public'], {})).toThrow(/metricsAccess \(--metrics-access\)/);
    expect(() => resolveOptions(['--metrics-token', 'short-secret'], {})).toThrow(/\(not shown\): must be at least 16/);
    expect(() => resolveOptions([], { KVWS_METRICS_TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
    expect(resolveOptions([], { KVWS_METRICS_TOKEN: METRICS_TOKEN }).metricsToken).toBe(METRICS_TOKEN);
  });
});

describe('/healthz and /readyz', () => {
  it('200 ok and 200 ready on a running server; GET and HEAD only', async () => {
    const h = await get(main, '/healthz');
    expect(h.status).toBe(200);
    expect(await h.text()).toBe('ok\n');
    const r = await get(main, '/readyz');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ready' });
    const post = await get(main, '/readyz', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('on the Redis engine: metrics of the engine, and /readyz 503 while Redis is paused or gone', async () => {
    const r = redis(gateway);
    await r.set('g', '1');
    expect(await r.get('g')).toBe('1');
    await expect(r.hset('g', 'f', 'v')).rejects.toThrow(/WRONGTYPE/);
    expect((await get(gateway, '/metrics')).status).toBe(401); // token mode, even from loopback
    const s = await scrape(gateway, { token: METRICS_TOKEN });
    expect(s.status).toBe(200);
    const cmdstats = await info(r, 'commandstats');
    const engineInfo = await info(r, 'engine');
    expect(value(s, 'kvws_engine_info', { engine: 'redis' })).toBe(1);
    expect(value(s, 'kvws_engine_connected')).toBe(1);
    expect(value(s, 'kvws_engine_requests_total')).toBeGreaterThanOrEqual(3);
    expect(value(s, 'kvws_engine_requests_total')).toBeLessThanOrEqual(Number(engineInfo.get('engine_requests')));
    // Forwarded commands answer later (a Promise): timed until then, and an error reply from Redis is a failure.
    expect(value(s, 'kvws_commands_total', { cmd: 'get' })).toBe(1);
    expect(checkHistogram(histogram(s, 'kvws_command_duration_seconds', { cmd: 'get' }) as Sample).count).toBe(1);
    expect(value(s, 'kvws_commands_failed_total', { cmd: 'hset' })).toBe(1);
    expect(fields(cmdstats.get('cmdstat_hset')).failed_calls).toBe(1);
    expectDocumented(s);
    // The keys live in Redis: no per-database metrics here.
    expect(s.families.has('kvws_db_keys')).toBe(false);
    expect((await get(gateway, '/readyz')).status).toBe(200);

    backing.kill('SIGSTOP');
    const paused = await get(gateway, '/readyz');
    expect(paused.status).toBe(503);
    expect(await paused.json()).toEqual({
      status: 'unavailable',
      reasons: ['the Redis engine did not answer PING within 500 ms'],
    });
    expect((await get(gateway, '/healthz')).status).toBe(200);
    backing.kill('SIGCONT');
    expect(await waitFor(async () => (await get(gateway, '/readyz')).status === 200, 15_000)).toBe(true);

    backing.kill('SIGKILL');
    await backing.exited();
    let last = '';
    expect(
      await waitFor(async () => {
        const res = await get(gateway, '/readyz');
        last = await res.text();
        return res.status === 503;
      }, 15_000),
    ).toBe(true);
    expect(JSON.parse(last).reasons[0]).toMatch(/^the Redis engine (is not connected|did not answer PING)/);
  });
});
