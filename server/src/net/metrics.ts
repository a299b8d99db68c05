import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { ReplyError } from 'ioredis';
import { KVWS_VERSION, REDIS_COMPAT_VERSION } from '../commands/connection.js';
import type { RuntimeCommand } from '../commands/index.js';
import { infoSection, usedCommands } from '../commands/server.js';
import { Client } from '../engine/client.js';
import type { Engine, Histogram } from '../engine/engine.js';
import { ErrorReply } from '../protocol/reply.js';
import type { KvwsServer } from '../server.js';
import { LISTENER_REASONS } from './admission.js';
import { type HttpsServer, sendJsonError } from './https-server.js';
import { formatAddr, isLoopback } from './resp-server.js';

/**
 * The operator's endpoints on the HTTPS port (spec: docs/observability.md):
 *
 *   GET /metrics   Prometheus text format 0.0.4; who may read it: the `metricsAccess` option
 *   GET /healthz   200 `ok` while the process runs
 *   GET /readyz    200 `{"status":"ready"}` while kvws serves; 503 `{"status":"unavailable","reasons":[…]}`
 *
 * Every number of `/metrics` that INFO also shows is read from INFO's own fields (`infoSection`), and the
 * command counters and histograms are the ones INFO commandstats and latencystats print, so the two agree.
 * Nothing here names a key: command names, counts, sizes and states only.
 */

/** The content type of Prometheus's text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** How long `/readyz` waits for the Redis engine's PING before answering 503 (probes often time out at 1 s). */
export const READY_PING_MS = 500;

type MetricType = 'counter' | 'gauge';

/**
 * One metric family read from INFO: `fields` maps each INFO field of `section` to the labels of its
 * sample. A field INFO does not show (a front door that is off) gives no sample; a family with none is
 * left out. `value` turns INFO's text into the metric's number (default: Number, divided by `perUnit`).
 */
interface FromInfo {
  name: string;
  type: MetricType;
  help: string;
  section: string;
  fields: Record<string, Record<string, string>>;
  /** INFO's value is in units of 1/perUnit of the metric's (1000: ms → s). */
  perUnit?: number;
  value?: (v: string | number) => number | null;
}

const ok = (v: string | number) => (v === 'ok' ? 1 : 0);
const nonNegative = (v: string | number) => (Number(v) < 0 ? null : Number(v));
const one = (field: string) => ({ [field]: {} });

/** The families read from INFO, in the order of INFO's sections. */
const FROM_INFO: FromInfo[] = [
  // Clients
  {
    name: 'kvws_connected_clients',
    type: 'gauge',
    help: 'Open sessions by front door (INFO connected_clients_resp, _ws, _http; HTTP API sessions last a request or an event stream).',
    section: 'clients',
    fields: {
      connected_clients_resp: { front_door: 'resp' },
      connected_clients_ws: { front_door: 'ws' },
      connected_clients_http: { front_door: 'http' },
    },
  },
  {
    name: 'kvws_max_clients',
    type: 'gauge',
    help: 'Most simultaneous clients allowed (maxclients).',
    section: 'clients',
    fields: one('maxclients'),
  },
  {
    name: 'kvws_blocked_clients',
    type: 'gauge',
    help: 'Clients waiting in a blocking command (INFO blocked_clients).',
    section: 'clients',
    fields: one('blocked_clients'),
  },
  {
    name: 'kvws_pubsub_clients',
    type: 'gauge',
    help: 'Clients with at least one subscription (INFO pubsub_clients).',
    section: 'clients',
    fields: one('pubsub_clients'),
  },
  {
    name: 'kvws_watching_clients',
    type: 'gauge',
    help: 'Clients WATCHing keys (INFO watching_clients).',
    section: 'clients',
    fields: one('watching_clients'),
  },
  {
    name: 'kvws_watched_keys',
    type: 'gauge',
    help: 'Keys WATCHed by at least one client (INFO total_watched_keys).',
    section: 'clients',
    fields: one('total_watched_keys'),
  },
  // Memory
  {
    name: 'kvws_memory_used_bytes',
    type: 'gauge',
    help: 'Memory of the dataset as kvws accounts it, what maxmemory bounds (INFO used_memory).',
    section: 'memory',
    fields: one('used_memory'),
  },
  {
    name: 'kvws_memory_peak_bytes',
    type: 'gauge',
    help: 'Highest kvws_memory_used_bytes since start (INFO used_memory_peak).',
    section: 'memory',
    fields: one('used_memory_peak'),
  },
  {
    name: 'kvws_memory_max_bytes',
    type: 'gauge',
    help: 'maxmemory; 0 = no limit (INFO maxmemory).',
    section: 'memory',
    fields: one('maxmemory'),
  },
  {
    name: 'kvws_memory_heap_used_bytes',
    type: 'gauge',
    help: 'V8 heap used plus memory held outside it by the process (INFO used_memory_heap).',
    section: 'memory',
    fields: one('used_memory_heap'),
  },
  {
    name: 'kvws_memory_heap_total_bytes',
    type: 'gauge',
    help: 'V8 heap reserved (INFO used_memory_heap_total).',
    section: 'memory',
    fields: one('used_memory_heap_total'),
  },
  {
    name: 'process_resident_memory_bytes',
    type: 'gauge',
    help: 'Resident set size (INFO used_memory_rss).',
    section: 'memory',
    fields: one('used_memory_rss'),
  },
  // CPU
  {
    name: 'kvws_cpu_seconds_total',
    type: 'counter',
    help: 'CPU time of the process by mode (INFO used_cpu_user, used_cpu_sys).',
    section: 'cpu',
    fields: { used_cpu_user: { mode: 'user' }, used_cpu_sys: { mode: 'system' } },
  },
  // Persistence
  {
    name: 'kvws_loading',
    type: 'gauge',
    help: '1 while the dataset is being loaded (INFO loading).',
    section: 'persistence',
    fields: one('loading'),
  },
  {
    name: 'kvws_rdb_changes_since_last_save',
    type: 'gauge',
    help: 'Key changes since the last dump (INFO rdb_changes_since_last_save).',
    section: 'persistence',
    fields: one('rdb_changes_since_last_save'),
  },
  {
    name: 'kvws_rdb_bgsave_in_progress',
    type: 'gauge',
    help: '1 while a BGSAVE runs (INFO rdb_bgsave_in_progress).',
    section: 'persistence',
    fields: one('rdb_bgsave_in_progress'),
  },
  {
    name: 'kvws_rdb_last_save_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time of the last successful dump (INFO rdb_last_save_time).',
    section: 'persistence',
    fields: one('rdb_last_save_time'),
  },
  {
    name: 'kvws_rdb_last_bgsave_ok',
    type: 'gauge',
    help: '1 when the last BGSAVE succeeded (INFO rdb_last_bgsave_status:ok).',
    section: 'persistence',
    fields: one('rdb_last_bgsave_status'),
    value: ok,
  },
  {
    name: 'kvws_rdb_saves_total',
    type: 'counter',
    help: 'Dumps written (INFO rdb_saves).',
    section: 'persistence',
    fields: one('rdb_saves'),
  },
  {
    name: 'kvws_aof_enabled',
    type: 'gauge',
    help: '1 when the append-only file is on (INFO aof_enabled).',
    section: 'persistence',
    fields: one('aof_enabled'),
  },
  {
    name: 'kvws_aof_rewrite_in_progress',
    type: 'gauge',
    help: '1 while the AOF is being rewritten (INFO aof_rewrite_in_progress).',
    section: 'persistence',
    fields: one('aof_rewrite_in_progress'),
  },
  {
    name: 'kvws_aof_rewrites_total',
    type: 'counter',
    help: 'AOF rewrites done (INFO aof_rewrites).',
    section: 'persistence',
    fields: one('aof_rewrites'),
  },
  {
    name: 'kvws_aof_last_rewrite_ok',
    type: 'gauge',
    help: '1 when the last AOF rewrite succeeded (INFO aof_last_bgrewrite_status:ok).',
    section: 'persistence',
    fields: one('aof_last_bgrewrite_status'),
    value: ok,
  },
  {
    name: 'kvws_aof_last_rewrite_duration_seconds',
    type: 'gauge',
    help: 'How long the last AOF rewrite took (INFO aof_last_rewrite_time_sec; absent before the first).',
    section: 'persistence',
    fields: one('aof_last_rewrite_time_sec'),
    value: nonNegative,
  },
  {
    name: 'kvws_aof_last_rewrite_longest_pause_seconds',
    type: 'gauge',
    help: 'Longest slice of the last AOF rewrite during which clients waited (INFO aof_last_rewrite_longest_pause_ms).',
    section: 'persistence',
    fields: one('aof_last_rewrite_longest_pause_ms'),
    perUnit: 1000,
  },
  {
    name: 'kvws_aof_last_write_ok',
    type: 'gauge',
    help: '1 when the last AOF write succeeded; 0 while writes fail and write commands get MISCONF (INFO aof_last_write_status).',
    section: 'persistence',
    fields: one('aof_last_write_status'),
    value: ok,
  },
  {
    name: 'kvws_aof_write_errors_total',
    type: 'counter',
    help: 'Failed AOF writes and fsyncs (INFO aof_write_errors).',
    section: 'persistence',
    fields: one('aof_write_errors'),
  },
  {
    name: 'kvws_aof_current_size_bytes',
    type: 'gauge',
    help: 'Size of the AOF, base and increments (INFO aof_current_size).',
    section: 'persistence',
    fields: one('aof_current_size'),
  },
  {
    name: 'kvws_aof_base_size_bytes',
    type: 'gauge',
    help: 'Size of the AOF base at the last rewrite (INFO aof_base_size).',
    section: 'persistence',
    fields: one('aof_base_size'),
  },
  {
    name: 'kvws_aof_buffer_bytes',
    type: 'gauge',
    help: 'Records waiting to be written to the AOF (INFO aof_buffer_length).',
    section: 'persistence',
    fields: one('aof_buffer_length'),
  },
  {
    name: 'kvws_aof_delayed_fsyncs_total',
    type: 'counter',
    help: 'everysec fsyncs that started late because the previous one was still running (INFO aof_delayed_fsync).',
    section: 'persistence',
    fields: one('aof_delayed_fsync'),
  },
  // Stats
  {
    name: 'kvws_connections_received_total',
    type: 'counter',
    help: 'Sessions opened by every front door: RESP and WebSocket connections, HTTP API requests (INFO total_connections_received).',
    section: 'stats',
    fields: one('total_connections_received'),
  },
  {
    name: 'kvws_rejected_connections_total',
    type: 'counter',
    help: 'RESP connections refused: allow-list, per-address limit, maxclients or protected mode (INFO rejected_connections).',
    section: 'stats',
    fields: one('rejected_connections'),
  },
  {
    name: 'kvws_connections_rejected_total',
    type: 'counter',
    help:
      'Connections refused or dropped early, by listener and reason: allowlist, per_address (both before any ' +
      'parsing or TLS handshake), max_clients, handshake_timeout, client_certificate, request_timeout ' +
      '(INFO <listener>_rejected_<reason>; https max_clients: INFO ws_rejected_maxclients).',
    section: 'stats',
    fields: {
      ...Object.fromEntries(
        (['resp', 'https'] as const).flatMap((listener) =>
          LISTENER_REASONS[listener].map((reason) => [`${listener}_rejected_${reason}`, { listener, reason }]),
        ),
      ),
      ws_rejected_maxclients: { listener: 'https', reason: 'max_clients' },
    },
  },
  {
    name: 'kvws_commands_processed_total',
    type: 'counter',
    help: 'Commands received, refused ones included (INFO total_commands_processed).',
    section: 'stats',
    fields: one('total_commands_processed'),
  },
  {
    name: 'kvws_error_replies_total',
    type: 'counter',
    help: 'Error replies sent (INFO total_error_replies).',
    section: 'stats',
    fields: one('total_error_replies'),
  },
  {
    name: 'kvws_rejected_calls_total',
    type: 'counter',
    help: 'Commands refused before running: unknown, arity, NOAUTH, NOPERM, MISCONF, context (INFO rejected_calls).',
    section: 'stats',
    fields: one('rejected_calls'),
  },
  {
    name: 'kvws_auth_failures_total',
    type: 'counter',
    help: 'Failed logins: passwords, tokens, lockouts (INFO acl_access_denied_auth).',
    section: 'stats',
    fields: one('acl_access_denied_auth'),
  },
  {
    name: 'kvws_auth_hashes_total',
    type: 'counter',
    help: 'argon2id hashes and verifications started (INFO auth_hashes_total).',
    section: 'stats',
    fields: one('auth_hashes_total'),
  },
  {
    name: 'kvws_auth_hashes_running',
    type: 'gauge',
    help: 'argon2id computations running now (INFO auth_hashes_running; at most --auth-max-concurrent-hashes).',
    section: 'stats',
    fields: one('auth_hashes_running'),
  },
  {
    name: 'kvws_auth_hashes_queued',
    type: 'gauge',
    help: 'Logins waiting for a hashing slot (INFO auth_hashes_queued; at most --auth-max-queued).',
    section: 'stats',
    fields: one('auth_hashes_queued'),
  },
  {
    name: 'kvws_auth_queue_full_total',
    type: 'counter',
    help: 'Logins refused at once because the hashing queue was full (INFO auth_queue_full_rejections).',
    section: 'stats',
    fields: one('auth_queue_full_rejections'),
  },
  {
    name: 'kvws_acl_denied_total',
    type: 'counter',
    help: 'Commands refused NOPERM by the ACL, by what was denied (INFO acl_access_denied_cmd, _key, _channel).',
    section: 'stats',
    fields: {
      acl_access_denied_cmd: { reason: 'command' },
      acl_access_denied_key: { reason: 'key' },
      acl_access_denied_channel: { reason: 'channel' },
    },
  },
  {
    name: 'kvws_http_auth_failures_total',
    type: 'counter',
    help: 'HTTP API requests answered 401: no token where one is needed, a refused token (INFO http_auth_failures).',
    section: 'stats',
    fields: one('http_auth_failures'),
  },
  {
    name: 'kvws_expired_keys_total',
    type: 'counter',
    help: 'Keys deleted because their TTL passed, lazily or by active expiry (INFO expired_keys).',
    section: 'stats',
    fields: one('expired_keys'),
  },
  {
    name: 'kvws_expiry_pending_entries',
    type: 'gauge',
    help: "Entries in active expiry's deadline heaps, stale ones included (INFO expired_pending).",
    section: 'stats',
    fields: one('expired_pending'),
  },
  {
    name: 'kvws_expiry_last_lateness_seconds',
    type: 'gauge',
    help: 'How late after its deadline active expiry deleted the last key (INFO expire_last_lateness_ms).',
    section: 'stats',
    fields: one('expire_last_lateness_ms'),
    perUnit: 1000,
  },
  {
    name: 'kvws_evicted_keys_total',
    type: 'counter',
    help: 'Keys evicted to stay under maxmemory (INFO evicted_keys).',
    section: 'stats',
    fields: one('evicted_keys'),
  },
  {
    name: 'kvws_keyspace_hits_total',
    type: 'counter',
    help: 'Key lookups that found the key (INFO keyspace_hits).',
    section: 'stats',
    fields: one('keyspace_hits'),
  },
  {
    name: 'kvws_keyspace_misses_total',
    type: 'counter',
    help: 'Key lookups that did not (INFO keyspace_misses).',
    section: 'stats',
    fields: one('keyspace_misses'),
  },
  {
    name: 'kvws_pubsub_channels',
    type: 'gauge',
    help: 'Channels with subscribers (INFO pubsub_channels).',
    section: 'stats',
    fields: one('pubsub_channels'),
  },
  {
    name: 'kvws_pubsub_patterns',
    type: 'gauge',
    help: 'Patterns with subscribers (INFO pubsub_patterns).',
    section: 'stats',
    fields: one('pubsub_patterns'),
  },
  {
    name: 'kvws_scan_cursors',
    type: 'gauge',
    help: 'Live SCAN cursors (INFO scan_cursors_live).',
    section: 'stats',
    fields: one('scan_cursors_live'),
  },
  {
    name: 'kvws_events_published_total',
    type: 'counter',
    help: 'Events sent out on the event stream: keyspace notifications and PUBLISH messages (INFO events_published).',
    section: 'stats',
    fields: one('events_published'),
  },
  {
    name: 'kvws_events_delivered_total',
    type: 'counter',
    help: 'Deliveries of those events to subscribers, one per subscriber (INFO events_delivered).',
    section: 'stats',
    fields: one('events_delivered'),
  },
  {
    name: 'kvws_slow_consumer_disconnections_total',
    type: 'counter',
    help: 'Subscribers closed because they read too slowly, losing what was queued for them, by front door (INFO client_output_buffer_limit_disconnections, ws_slow_disconnections, http_streams_too_slow).',
    section: 'stats',
    fields: {
      client_output_buffer_limit_disconnections: { front_door: 'resp' },
      ws_slow_disconnections: { front_door: 'ws' },
      http_streams_too_slow: { front_door: 'http' },
    },
  },
  {
    name: 'kvws_event_log_events',
    type: 'gauge',
    help: 'Events kept in the event log for resumes (INFO event_log_events).',
    section: 'stats',
    fields: one('event_log_events'),
  },
  {
    name: 'kvws_event_log_bytes',
    type: 'gauge',
    help: 'Bytes the event log counts against eventLogMaxBytes (INFO event_log_bytes).',
    section: 'stats',
    fields: one('event_log_bytes'),
  },
  {
    name: 'kvws_event_log_first_offset',
    type: 'gauge',
    help: 'Offset of the oldest event kept (INFO event_log_first_offset).',
    section: 'stats',
    fields: one('event_log_first_offset'),
  },
  {
    name: 'kvws_event_log_last_offset',
    type: 'gauge',
    help: 'Offset of the newest event (INFO event_log_last_offset).',
    section: 'stats',
    fields: one('event_log_last_offset'),
  },
  {
    name: 'kvws_event_log_resumes_total',
    type: 'counter',
    help: 'Subscriptions resumed from an offset, by whether everything missed could be replayed (INFO event_log_resumes_recovered, _unrecovered).',
    section: 'stats',
    fields: {
      event_log_resumes_recovered: { result: 'recovered' },
      event_log_resumes_unrecovered: { result: 'unrecovered' },
    },
  },
  {
    name: 'kvws_event_log_replayed_events_total',
    type: 'counter',
    help: 'Events replayed to resuming subscribers (INFO event_log_replayed).',
    section: 'stats',
    fields: one('event_log_replayed'),
  },
  {
    name: 'kvws_resp_disconnections_total',
    type: 'counter',
    help: 'RESP connections closed by the server, by reason (INFO client_query_buffer_limit_disconnections, idle_timeout_disconnections, protocol_errors).',
    section: 'stats',
    fields: {
      client_query_buffer_limit_disconnections: { reason: 'query_buffer' },
      idle_timeout_disconnections: { reason: 'idle_timeout' },
      protocol_errors: { reason: 'protocol_error' },
    },
  },
  {
    name: 'kvws_ws_connections_received_total',
    type: 'counter',
    help: 'WebSocket handshakes accepted (INFO ws_connections_received).',
    section: 'stats',
    fields: one('ws_connections_received'),
  },
  {
    name: 'kvws_ws_handshakes_rejected_total',
    type: 'counter',
    help: 'WebSocket handshakes refused (or, protected_mode, closed at once), by reason (INFO ws_rejected_*).',
    section: 'stats',
    fields: {
      ws_rejected_subprotocol: { reason: 'subprotocol' },
      ws_rejected_bad_request: { reason: 'bad_request' },
      ws_rejected_origin: { reason: 'origin' },
      ws_rejected_maxclients: { reason: 'maxclients' },
      ws_rejected_protected_mode: { reason: 'protected_mode' },
    },
  },
  {
    name: 'kvws_ws_frames_total',
    type: 'counter',
    help: 'WebSocket frames, by direction (INFO ws_frames_in, ws_frames_out).',
    section: 'stats',
    fields: { ws_frames_in: { direction: 'in' }, ws_frames_out: { direction: 'out' } },
  },
  {
    name: 'kvws_ws_bad_frames_total',
    type: 'counter',
    help: 'WebSocket frames answered BADFRAME (INFO ws_bad_frames).',
    section: 'stats',
    fields: one('ws_bad_frames'),
  },
  {
    name: 'kvws_ws_busy_replies_total',
    type: 'counter',
    help: 'WebSocket requests answered BUSY: too many in flight (INFO ws_busy_replies).',
    section: 'stats',
    fields: one('ws_busy_replies'),
  },
  {
    name: 'kvws_ws_disconnections_total',
    type: 'counter',
    help: 'WebSocket connections closed by the server, by reason (INFO ws_frame_too_large_disconnections, ws_dead_peer_disconnections, ws_protocol_errors; too slow: kvws_slow_consumer_disconnections_total).',
    section: 'stats',
    fields: {
      ws_frame_too_large_disconnections: { reason: 'frame_too_large' },
      ws_dead_peer_disconnections: { reason: 'dead_peer' },
      ws_protocol_errors: { reason: 'protocol_error' },
    },
  },
  {
    name: 'kvws_http_requests_total',
    type: 'counter',
    help: 'HTTP API requests (INFO http_requests).',
    section: 'stats',
    fields: one('http_requests'),
  },
  {
    name: 'kvws_http_fast_lane_requests_total',
    type: 'counter',
    help: 'HTTP API requests taken by the fast lane, counted in kvws_http_requests_total too (INFO http_fast_lane_requests).',
    section: 'stats',
    fields: one('http_fast_lane_requests'),
  },
  {
    name: 'kvws_http_fast_lane_handovers_total',
    type: 'counter',
    help: 'Connections the HTTP fast lane handed over to node:http (INFO http_fast_lane_handovers).',
    section: 'stats',
    fields: one('http_fast_lane_handovers'),
  },
  {
    name: 'kvws_http_responses_total',
    type: 'counter',
    help: 'HTTP API responses by status class (INFO http_responses_2xx, _4xx, _5xx).',
    section: 'stats',
    fields: {
      http_responses_2xx: { code: '2xx' },
      http_responses_4xx: { code: '4xx' },
      http_responses_5xx: { code: '5xx' },
    },
  },
  {
    name: 'kvws_http_rejected_total',
    type: 'counter',
    help: 'HTTP API requests refused before running, by reason (INFO http_rejected_body_too_large, http_rejected_origin).',
    section: 'stats',
    fields: { http_rejected_body_too_large: { reason: 'body_too_large' }, http_rejected_origin: { reason: 'origin' } },
  },
  {
    name: 'kvws_http_tokens_issued_total',
    type: 'counter',
    help: 'Tokens issued by POST /auth/token (INFO http_tokens_issued).',
    section: 'stats',
    fields: one('http_tokens_issued'),
  },
  {
    name: 'kvws_http_streams_opened_total',
    type: 'counter',
    help: 'Server-sent event streams opened (INFO http_streams).',
    section: 'stats',
    fields: one('http_streams'),
  },
  {
    name: 'kvws_https_socket_errors_total',
    type: 'counter',
    help: 'TLS handshake failures, HTTP parse errors and socket errors on the HTTPS port (INFO https_socket_errors).',
    section: 'stats',
    fields: one('https_socket_errors'),
  },
  {
    name: 'kvws_tls_certificate_reloads_total',
    type: 'counter',
    help: 'Successful reloads of the HTTPS certificate (INFO tls_certificate_reloads).',
    section: 'stats',
    fields: one('tls_certificate_reloads'),
  },
];

/** The `engine` section of INFO with `--engine redis…` (backends/redis/gateway.ts engineInfo). */
const FROM_ENGINE_INFO: Omit<FromInfo, 'section'>[] = [
  {
    name: 'kvws_engine_masters',
    type: 'gauge',
    help: 'Redis masters the gateway sends to (INFO engine_masters).',
    fields: one('engine_masters'),
  },
  {
    name: 'kvws_engine_connected',
    type: 'gauge',
    help: '1 while the shared connection to Redis is ready (INFO engine_status:ready; /readyz also PINGs).',
    fields: one('engine_status'),
    value: (v) => (v === 'ready' ? 1 : 0),
  },
  {
    name: 'kvws_engine_requests_total',
    type: 'counter',
    help: 'Commands sent to Redis (INFO engine_requests).',
    fields: one('engine_requests'),
  },
  {
    name: 'kvws_engine_retries_total',
    type: 'counter',
    help: 'Commands resent to Redis after a connection loss or failover error (INFO engine_retries).',
    fields: one('engine_retries'),
  },
  {
    name: 'kvws_engine_timeouts_total',
    type: 'counter',
    help: 'Commands Redis did not answer within --engine-timeout (INFO engine_timeouts).',
    fields: one('engine_timeouts'),
  },
  {
    name: 'kvws_engine_dedicated_connections',
    type: 'gauge',
    help: 'Dedicated connections to Redis held by sessions (INFO engine_dedicated_in_use).',
    fields: one('engine_dedicated_in_use'),
  },
  {
    name: 'kvws_engine_dedicated_connections_opened_total',
    type: 'counter',
    help: 'Dedicated connections opened (INFO engine_dedicated_opened).',
    fields: one('engine_dedicated_opened'),
  },
  {
    name: 'kvws_engine_blocked_clients',
    type: 'gauge',
    help: 'Clients waiting on Redis in a blocking command or WAIT (INFO engine_blocked_clients).',
    fields: one('engine_blocked_clients'),
  },
  {
    name: 'kvws_engine_watch_sessions',
    type: 'gauge',
    help: 'Sessions in WATCH/MULTI on a dedicated connection (INFO engine_watch_sessions).',
    fields: one('engine_watch_sessions'),
  },
  {
    name: 'kvws_engine_event_subscribers',
    type: 'gauge',
    help: 'Subscriber connections to Redis masters feeding the event stream (INFO engine_event_subscribers).',
    fields: one('engine_event_subscribers'),
  },
  {
    name: 'kvws_engine_events_received_total',
    type: 'counter',
    help: 'Keyspace notifications and messages received from Redis (INFO engine_events_received).',
    fields: one('engine_events_received'),
  },
  {
    name: 'kvws_engine_events_dropped_total',
    type: 'counter',
    help: 'Events from Redis dropped: held from a node that turned out not to be a master, or past the hold limit (INFO engine_events_filtered).',
    fields: one('engine_events_filtered'),
  },
  {
    name: 'kvws_engine_event_resubscriptions_total',
    type: 'counter',
    help: 'Re-subscriptions of the event feed after topology changes (INFO engine_event_resubscriptions).',
    fields: one('engine_event_resubscriptions'),
  },
];

// ---- Text exposition ------------------------------------------------------------------------------------

/** Builds a text exposition: one HELP and TYPE per family, its samples right after. */
class Exposition {
  text = '';

  family(name: string, type: MetricType | 'histogram', help: string): void {
    this.text += `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
  }

  sample(name: string, labels: string, value: number): void {
    this.text += `${name}${labels} ${formatValue(value)}\n`;
  }

  /**
   * The `_bucket` (cumulative, `le` in seconds: bounds divided by `perSecond`, 1e6 for µs, so that 1e5 µs
   * prints as 0.1), `_sum` and `_count` samples of one histogram; `labels` is the inside of the braces
   * (`cmd="get"`) or ''.
   */
  histogram(name: string, labels: string, h: Histogram, perSecond: number): void {
    const sep = labels === '' ? '' : ',';
    let cumulative = 0;
    for (let i = 0; i < h.bounds.length; i++) {
      cumulative += h.counts[i];
      this.text += `${name}_bucket{${labels}${sep}le="${formatValue(h.bounds[i] / perSecond)}"} ${cumulative}\n`;
    }
    cumulative += h.counts[h.bounds.length];
    this.text += `${name}_bucket{${labels}${sep}le="+Inf"} ${cumulative}\n`;
    this.sample(`${name}_sum`, labels === '' ? '' : `{${labels}}`, h.sum / perSecond);
    this.sample(`${name}_count`, labels === '' ? '' : `{${labels}}`, cumulative);
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/** `{a="x",b="y"}` with Prometheus's escapes, or '' without labels. */
function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Adds the families of `defs` whose fields `info` has. */
function addFromInfo(out: Exposition, defs: readonly Omit<FromInfo, 'section'>[], info: Map<string, string | number>) {
  for (const d of defs) {
    const samples: [string, number][] = [];
    for (const [field, labels] of Object.entries(d.fields)) {
      const raw = info.get(field);
      if (raw === undefined) continue;
      const v = d.value ? d.value(raw) : Number(raw) / (d.perUnit ?? 1);
      if (v !== null && !Number.isNaN(v)) samples.push([labelText(labels), v]);
    }
    if (samples.length === 0) continue;
    out.family(d.name, d.type, d.help);
    for (const [labels, v] of samples) out.sample(d.name, labels, v);
  }
}

/**
 * The whole exposition for one scrape: process and build, the families read from INFO, keys per database
 * (the embedded engine only: with `--engine redis…` the keys live in Redis), the command counters and
 * latency histograms, expiry lateness, and the Redis engine's state when there is one.
 */
export function renderMetrics(server: KvwsServer): string {
  const engine = server.engine;
  const out = new Exposition();
  out.family('kvws_build_info', 'gauge', 'Always 1; the labels name the versions.');
  out.sample(
    'kvws_build_info',
    labelText({ version: KVWS_VERSION, redis_version: REDIS_COMPAT_VERSION, node_version: process.version }),
    1,
  );
  out.family(
    'process_start_time_seconds',
    'gauge',
    'Unix time the process started (INFO uptime_in_seconds counts from it).',
  );
  out.sample('process_start_time_seconds', '', engine.stats.startedAt / 1000);
  // Each INFO section is computed once per scrape.
  const sections = new Map<string, Map<string, string | number>>();
  const section = (name: string) => {
    let info = sections.get(name);
    if (!info) {
      info = new Map(infoSection(engine, name));
      sections.set(name, info);
    }
    return info;
  };
  const cpu = section('cpu');
  out.family('process_cpu_seconds_total', 'counter', 'User and system CPU time (INFO used_cpu_user + used_cpu_sys).');
  out.sample('process_cpu_seconds_total', '', Number(cpu.get('used_cpu_user')) + Number(cpu.get('used_cpu_sys')));
  for (const d of FROM_INFO) addFromInfo(out, [d], section(d.section));
  const aofPolicy = section('persistence').get('aof_fsync_policy');
  if (aofPolicy !== undefined) {
    out.family('kvws_aof_fsync_policy', 'gauge', 'Always 1; the label names appendfsync (INFO aof_fsync_policy).');
    out.sample('kvws_aof_fsync_policy', labelText({ policy: String(aofPolicy) }), 1);
  }

  if (server.gateway === null) addKeyspace(out, engine);
  addCommands(out, engine);

  out.family(
    'kvws_expiry_lateness_seconds',
    'histogram',
    'How late after their deadline active expiry deleted keys (lazy expiry, on access, is not counted).',
  );
  out.histogram('kvws_expiry_lateness_seconds', '', engine.stats.expiryLateness, 1e3);

  if (server.gateway !== null) {
    const info = new Map(server.gateway.engineInfo());
    out.family('kvws_engine_info', 'gauge', 'Always 1; the label names the kind of Redis deployment (INFO engine).');
    out.sample('kvws_engine_info', labelText({ engine: String(info.get('engine')) }), 1);
    addFromInfo(out, FROM_ENGINE_INFO, info);
  }
  return out.text;
}

/** Keys and keys with a TTL per database, what INFO keyspace prints (every database, empty ones too). */
function addKeyspace(out: Exposition, engine: Engine): void {
  out.family('kvws_db_keys', 'gauge', 'Keys per database (INFO keyspace keys=).');
  for (const db of engine.dbs) out.sample('kvws_db_keys', `{db="${db.index}"}`, db.size);
  out.family('kvws_db_keys_expiring', 'gauge', 'Keys with a TTL per database (INFO keyspace expires=).');
  for (const db of engine.dbs) out.sample('kvws_db_keys_expiring', `{db="${db.index}"}`, db.expires.size);
}

/** Per command: what INFO commandstats and latencystats print, for every command that ran or was refused. */
function addCommands(out: Exposition, engine: Engine): void {
  const used = usedCommands(engine);
  const labels = used.map((c) => `cmd="${escapeLabel(c.fullName)}"`);
  const counter = (name: string, help: string, value: (c: RuntimeCommand) => number) => {
    out.family(name, 'counter', help);
    for (let i = 0; i < used.length; i++) out.sample(name, `{${labels[i]}}`, value(used[i]));
  };
  counter(
    'kvws_commands_total',
    'Calls per command, subcommands apart (INFO commandstats calls).',
    (c) => c.stats.calls,
  );
  counter(
    'kvws_commands_failed_total',
    'Calls that answered an error (INFO commandstats failed_calls).',
    (c) => c.stats.failed,
  );
  counter(
    'kvws_commands_rejected_total',
    'Calls refused before running: NOAUTH, NOPERM, MISCONF, context (INFO commandstats rejected_calls).',
    (c) => c.stats.rejected,
  );
  out.family(
    'kvws_command_duration_seconds',
    'histogram',
    'Time from a command handler starting to its reply (a blocking or forwarded command: until it is answered); the sum is INFO commandstats usec.',
  );
  for (let i = 0; i < used.length; i++) {
    const h = used[i].stats.latency;
    if (h !== null) out.histogram('kvws_command_duration_seconds', labels[i], h, 1e6);
  }
}

// ---- Access ------------------------------------------------------------------------------------------------

/** Why a scrape was refused: status, JSON error text, extra headers. */
interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

const BEARER_CHALLENGE = { 'www-authenticate': 'Bearer realm="kvws metrics"' };

/**
 * Whether the request may read `/metrics` under `metricsAccess` (see config.ts): null when it may, else
 * the refusal. A request that presents a token is judged by its token, wherever it comes from: the
 * `metricsToken` (compared in constant time), else a kvws or external JWT whose user may run INFO (a
 * failed one counts as a failed login, with the usual lockout of the address).
 */
async function checkAccess(server: KvwsServer, req: IncomingMessage): Promise<Refusal | null> {
  const engine = server.engine;
  const mode = engine.options.metricsAccess;
  const header = req.headers.authorization;
  if (header === undefined) {
    if (mode === 'open' || (mode === 'loopback' && isLoopback(req.socket.remoteAddress))) return null;
    return {
      status: 401,
      message: `NOAUTH /metrics needs Authorization: Bearer <token> from this address (metricsAccess ${mode})`,
      headers: BEARER_CHALLENGE,
    };
  }
  const m = /^Bearer +([^\s]+) *$/i.exec(header);
  if (!m) {
    return { status: 401, message: 'ERR the Authorization header must be "Bearer <token>"', headers: BEARER_CHALLENGE };
  }
  const token = m[1];
  const fixed = engine.options.metricsToken;
  if (fixed !== undefined && sameSecret(token, fixed)) return null;
  const client = new Client(
    engine,
    'http',
    formatAddr(req.socket.remoteAddress, req.socket.remotePort),
    formatAddr(req.socket.localAddress, req.socket.localPort),
  );
  try {
    const r = await engine.acl.authToken(client, token, null);
    if (r instanceof ErrorReply) {
      return { status: 401, message: r.message, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } };
    }
    const info = engine.table.get('INFO');
    const denied = info ? engine.acl.check(client, info, ['INFO'], 'toplevel') : null;
    if (denied) return { status: 403, message: `${denied.message} (/metrics shows what INFO shows)` };
    return null;
  } finally {
    client.closed = true;
    engine.acl.forget(client);
  }
}

/** Constant-time comparison of two secrets (their SHA-256 digests, so lengths do not leak). */
function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b));
}

// ---- Readiness ---------------------------------------------------------------------------------------------

/**
 * Why kvws is not ready to serve, or [] when it is: the dataset is loading, a listener is not up, the
 * append-only file cannot be written (write commands get MISCONF), or the Redis engine is not connected or
 * did not answer PING within READY_PING_MS.
 */
async function notReady(server: KvwsServer, probe: EngineProbe | null): Promise<string[]> {
  const engine = server.engine;
  const reasons: string[] = [];
  if (engine.loading) reasons.push('loading the dataset');
  if (server.options.respPort !== 0 && server.resp === null) reasons.push('the RESP listener is not up');
  if (engine.aof?.writeError) {
    reasons.push('the append-only file cannot be written: write commands get MISCONF (see INFO persistence)');
  }
  if (probe !== null) {
    const why = await probe.check();
    if (why !== null) reasons.push(why);
  }
  return reasons;
}

/**
 * PINGs the Redis engine for /readyz, one PING at a time: while one is unanswered (a paused or partitioned
 * Redis), later probes wait on it too, each for READY_PING_MS at most.
 */
class EngineProbe {
  private pending: Promise<string | null> | null = null;

  constructor(private readonly server: KvwsServer) {}

  /** null when Redis answered PING in time, else why not. */
  async check(): Promise<string | null> {
    const gateway = this.server.gateway;
    if (gateway === null) return null;
    const main = gateway.backend.main;
    if (main.status !== 'ready') return `the Redis engine is not connected (${main.status})`;
    if (this.pending === null) {
      const p = main.ping().then(
        () => null,
        (e: Error) =>
          e instanceof ReplyError
            ? `the Redis engine answered PING with an error: ${e.message.replace(/[\r\n]+/g, ' ')}`
            : `the Redis engine is not connected (${e.message.replace(/[\r\n]+/g, ' ')})`,
      );
      this.pending = p;
      void p.finally(() => {
        if (this.pending === p) this.pending = null;
      });
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`the Redis engine did not answer PING within ${READY_PING_MS} ms`),
        READY_PING_MS,
      );
    });
    try {
      return await Promise.race([this.pending, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

// ---- Routes ------------------------------------------------------------------------------------------------

function sendText(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'content-type': type,
    'content-length': bytes.length,
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** GET and HEAD only: false (after answering 405) for another method. */
function readOnlyMethod(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.setHeader('allow', 'GET, HEAD');
  sendJsonError(res, 405, `ERR method ${req.method} not allowed: use GET`);
  return false;
}

/**
 * Adds `/metrics`, `/healthz` and `/readyz` to the HTTPS port of `server` (after the HTTP API, whose
 * path-form `/` route they take precedence over). Every answer carries `Cache-Control: no-store`.
 */
export function registerObservability(server: KvwsServer, https: HttpsServer): void {
  const probe = server.gateway !== null ? new EngineProbe(server) : null;
  https.route('/healthz', {
    request: (req, res) => {
      if (readOnlyMethod(req, res)) sendText(req, res, 200, 'text/plain; charset=utf-8', 'ok\n');
    },
  });
  https.route('/readyz', {
    request: (req, res) => {
      if (!readOnlyMethod(req, res)) return;
      notReady(server, probe).then(
        (reasons) => {
          const ready = reasons.length === 0;
          const body = JSON.stringify(ready ? { status: 'ready' } : { status: 'unavailable', reasons });
          sendText(req, res, ready ? 200 : 503, 'application/json', body);
        },
        (e: Error) => sendJsonError(res, 500, `ERR ${e.message}`),
      );
    },
  });
  https.route('/metrics', {
    request: (req, res) => {
      if (server.engine.options.metricsAccess === 'off') {
        sendJsonError(res, 404, 'ERR /metrics is turned off on this server (metricsAccess off)');
        return;
      }
      if (!readOnlyMethod(req, res)) return;
      checkAccess(server, req).then(
        (refused) => {
          if (refused) {
            for (const [k, v] of Object.entries(refused.headers ?? {})) res.setHeader(k, v);
            sendJsonError(res, refused.status, refused.message);
            return;
          }
          const text = renderMetrics(server);
          if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
            sendText(req, res, 200, METRICS_CONTENT_TYPE, gzipSync(text), {
              'content-encoding': 'gzip',
              vary: 'Accept-Encoding',
            });
          } else sendText(req, res, 200, METRICS_CONTENT_TYPE, text, { vary: 'Accept-Encoding' });
        },
        (e: Error) => sendJsonError(res, 500, `ERR ${e.message}`),
      );
    },
  });
}
