#!/usr/bin/env node
// Benchmark harness: kvws against a real redis-server, on this machine, in the same run.
//
//   node bench/run.mjs [--quick] [--write] [--only NAME[,NAME]]   (npm run bench -- [--quick] [--write] …)
//
//   --quick  smoke run: redis-benchmark -n 20000 (not 200000), 100,000 keys for memory (not 1,000,000),
//            20,000 keys for expiry (not 200,000), 20,000 WebSocket requests (not 200,000), 2 s HTTP runs
//            after a 1 s warm-up (not 5 s after 2 s). Figures are noisier; never --write them.
//            persistence: 10,000 requests (not 50,000) per run, 100,000 keys for load time (not 1,000,000).
//            fanout: 200 and 1,000 subscribers (not 1,000 and 10,000), 10 messages (not 20).
//            gateway: 2 s runs after a 1 s warm-up (not 5 s after 2 s), redis-benchmark -n 20000 (not 100000).
//            streams: 20,000 requests per run (not 200,000).
//   --write  also replace the figures in BENCHMARKS.md between <!-- bench:start --> and <!-- bench:end -->
//            (creating the file if missing). Refused if any section failed, and with --quick or --only.
//   --only   run only the named sections (comma-separated, e.g. --only persistence,acl), for development.
//
// Sections (each runs against freshly started servers; a failing section is reported and the others still run).
// Outside the persistence section both servers run without persistence: redis-server --appendonly no --save '',
// kvws --no-appendonly --save ''.
//   throughput  redis-benchmark -t set,get,incr,lpush,rpop,sadd,hset,zadd -c 50, pipeline 1 and 16, runs
//               interleaved redis P1, kvws P1, redis P16, kvws P16; ratio = kvws rps / redis rps.
//   acl         the cost of the ACL check: on fresh servers, both get the same restricted user
//               `ACL SETUSER bench on nopass ~key:* ~counter:* ~my* &* +@all -@dangerous`, then
//               redis-benchmark -t set,get,incr,hset -c 50, pipeline 1 and 16, runs as that user
//               (`--user bench -a x`) and as the default (unrestricted) user, interleaved over both servers,
//               after a warm-up pass; median of 3 rounds. nopass, so that no password hashing is measured
//               (redis-benchmark authenticates each of its clients; kvws hashes with argon2id, Redis with
//               SHA-256). Ratios: kvws/Redis as the restricted user, and restricted/default per server (on
//               kvws, the default user skips the check, so that ratio is the check's own cost).
//               Preflight: the restricted user must be able to run each test's command on both servers.
//   memory      RSS growth (/proc/<pid>/status VmRSS) of each server process while loading N keys
//               `key:%010d` with 16-byte values through ioredis pipelines of 1000 SETs, without and with a
//               TTL (SET k v EX 3600). INFO memory used_memory growth is shown for reference only: the two
//               servers count it differently, RSS is what the machine pays. Each variant uses new processes,
//               because RSS rarely shrinks after FLUSHALL (allocators and V8 keep freed pages).
//   expiry      how late keyspace `expired` events arrive: N keys with PEXPIREAT deadlines spread evenly over
//               5 s starting 1 s from now (loaded from a worker thread so the subscriber's clock is not held
//               up), lateness = arrival time at the subscriber - deadline; waits for all or 30 s.
//   websocket   WebSocket JSON throughput and p50/p99 round trip: bench/ws-load.mjs (a separate Node process,
//               `ws` client, WS_CLIENT_THREADS worker threads) sends {"id":n,"cmd":["SET","key:<n%10000>","xxx"]}
//               (and GET) over 50 connections keeping 1, then 16, requests in flight on each, against
//               (a) bench/ws-echo-server.mjs, a bare `ws` server echoing every frame (the Node ceiling),
//               (b) kvws --no-tls, (c) the echo server over TLS and (d) kvws over TLS (a throwaway self-signed
//               P-256 certificate made with openssl in a temporary directory); and, as the engine anchor,
//               redis-benchmark -t set,get -r 10000 -c 50 -P 1 / -P 16 against redis-server. One warm-up pass,
//               then 3 interleaved rounds, median rps reported with that run's p50/p99. Ratios: kvws/echo
//               (target >= 0.6x, TLS off) and kvws-TLS/echo. Client and servers share the machine's CPUs.
//               Skipped (not failed) when KVWS_BENCH_CMD is set: the gateway is kvws's own.
//   http        HTTP API commands/s and p99: autocannon (node_modules, run as its own process) with 50 keep-alive
//               connections, HTTP_DURATION_S-second runs (--quick: shorter), against (a) bench/http-ceiling-server.mjs,
//               a bare node:http server answering {"result":"OK"} to every request (the Node ceiling; it gets the
//               same POSTs as kvws), (b) kvws's HTTP API (`serve --port P --no-tls --resp-port 0`, default user
//               open on loopback, no token; its fast lane takes these requests): POST / with ["SET","key","xxx"]
//               and ["GET","key"], and (c) Webdis (`webdis`, 2 threads) in front of a redis-server:
//               GET /SET/key/xxx and GET /GET/key. One fixed key, `key`, everywhere. Each target's first reply
//               is checked (and every run must get only 2xx), one unrecorded warm-up run per target and test,
//               then 3 interleaved rounds, median rps with that run's p50/p99. Ratios kvws/ceiling (target
//               >= 0.8x) and kvws/Webdis (target >= 0.75x). webdis is installed with apt-get when missing
//               (scripts/test-deps.mjs); without it, the Webdis column is empty and the section fails. Skipped
//               (not failed) when KVWS_BENCH_CMD is set.
//   persistence the append-only file (issue 7). For each appendfsync policy (always, everysec, no), fresh
//               servers with their AOF on in new temporary directories (redis-server --appendonly yes
//               --appendfsync P --save '' --dir D, Redis 7's multi-part AOF; kvws --data-dir D --appendfsync P
//               --save ''), default automatic rewrites on both: redis-benchmark -t set,incr,lpush -c 50,
//               pipeline 1 and 16, one warm-up pass, then 3 interleaved rounds, median rps, ratio kvws/Redis.
//               Then load time: new servers (appendfsync everysec, automatic rewrites off, new directories)
//               are stopped gracefully (Redis: SHUTDOWN; kvws: SIGTERM; exit code 0 required) and started again
//               on the same directory, timed from spawn to the first +PONG (a raw PING every 5 ms; Redis answers
//               -LOADING meanwhile, kvws listens after loading), then DBSIZE must be right. 3 interleaved
//               restarts, median: (0) with an empty AOF (process start-up alone), then after loading N keys
//               `key:%010d` with 16-byte values through ioredis pipelines of 1000 SETs, (a) with the AOF as
//               incremental records only, (b) after BGREWRITEAOF (waited for until aof_rewrite_in_progress and
//               aof_rewrite_scheduled are 0 and aof_rewrites has grown, on both). The servers' own load times
//               (Redis: "DB loaded from append only file: X seconds"; kvws: "AOF loaded: … in N ms") are
//               shown for reference. Targets: everysec >= 0.7x Redis rps; load time <= 2x Redis.
//               Skipped (not failed) when KVWS_BENCH_CMD is set: the persistence flags are kvws's own.
//   fanout      pub/sub fan-out (issue 8): for N in 1,000 and 10,000 (--quick: 200 and 1,000), on a fresh server per
//               row (redis-server --maxclients 20000; kvws --max-clients 20000), N subscribers of one channel opened
//               from FANOUT_CLIENT_THREADS worker threads of this process (100 handshakes at a time per thread):
//               (a) Redis, raw TCP sockets sending SUBSCRIBE; (b) kvws WebSocket --no-tls and (c) over TLS (the
//               websocket section's throwaway certificate), `ws` clients with subprotocol kvws.v1 sending
//               {"id":1,"cmd":["SUBSCRIBE","fanout"]}; (d) and (e) the Node floor, bench/ws-fanout-floor.mjs (a
//               bare `ws` pub/sub server speaking those frames, writing one prebuilt frame to each subscriber's
//               socket; published to over the WebSocket; no INFO or PUBSUB), plain and over TLS. Every
//               confirmation is checked, then PUBSUB NUMSUB. Memory per
//               idle connection: server RSS (and INFO used_memory) growth from before connecting to 1 s after the
//               last SUBSCRIBE, / N. Then 2 warm-up and 20 (--quick: 10) recorded `PUBLISH fanout "<seq> <ns>"`
//               from an ioredis client, <ns> = process.hrtime just before sending (the monotonic clock every
//               thread shares); each is published 200 ms after the previous one reached every subscriber (or after
//               10 s without), so each measures one fan-out alone. Latency = arrival at a subscriber - <ns>; p50,
//               p99 and max over every delivery. Every subscriber must get every message once and in order, every
//               PUBLISH must count N receivers; refused or lost connections are reported with their reasons.
//               Needs an open files limit of N + 256 (checked). Targets: p99 <= 100 ms at 10,000 subscribers,
//               <= 30 KB (30,000 bytes) RSS per idle connection. Skipped (not failed) when KVWS_BENCH_CMD is set.
//   gateway     the Redis engine: kvws `serve --engine redis-cluster://…` in front of a Redis Cluster of 3 masters
//               without replicas (redis-server --cluster-enabled yes in temporary directories, created with
//               `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, waited for until every node says
//               cluster_state:ok). 10,000 keys `key:%010d` with 16-byte values are loaded; then 50 connections in
//               this process, each with one request in flight (no pipelining): GET or SET (even odds) of a random
//               key, every reply checked, each request timed with process.hrtime. Targets: (a) direct, an ioredis
//               Cluster per connection; (b) direct, one shared ioredis Cluster (auto-pipelining off for both);
//               (c) through kvws's RESP port, an ioredis Redis per connection. Closed loop (each connection sends
//               when answered), then paced (each connection on its own schedule, 2,000 requests/s in all, so the
//               p50s compare the same load). One warm-up run per target, then
//               3 rounds in alternating order (a, b, c, c, b, a, …), median rps with that run's p50/p99 (paced: the
//               run with the median p50) and the CPU used by this process, kvws and the Redis nodes. Ratios kvws/direct; target: kvws p50 <= 1.3x
//               direct (a) at 50 connections. Then redis-benchmark -t set,get -c 50 -P 1 -r 10000 -d 16 against
//               kvws and, with --cluster, against the cluster, 3 interleaved runs after a warm-up, median rps.
//               Skipped (not failed) when KVWS_BENCH_CMD is set: the Redis engine is kvws's own.
//   eviction    kvws as a cache (issue 12). Hit ratio: a cache-aside workload (GET key; on a miss, SET key with a
//               100-byte value) over EVICTION_KEYS keys `ev:%08d` whose popularity follows a Zipf law (exponent
//               EVICTION_ZIPF), the same seeded sequence of EVICTION_REQUESTS requests (--quick: a fifth) for
//               both servers, sent in pipelines of EVICTION_BATCH GETs followed by the SETs of their misses; the
//               first fifth warms the cache and is not counted. Policies allkeys-lru and allkeys-lfu (both
//               servers' defaults otherwise: maxmemory-samples 5, lfu-log-factor 10, lfu-decay-time 1). Fairness:
//               the two servers account memory differently (kvws counts its JS structures, Redis its
//               allocator), so maxmemory is set per server to what holds EVICTION_CAPACITY of the keys: first
//               each server's used_memory with that many keys loaded; each run starts from an empty cache and
//               samples DBSIZE over the counted part; while the mean is off by more than 1%, the limit is scaled
//               and the run repeated (at most 3 times). The last run and the keys it held are reported. Then throughput while evicting: redis-benchmark -t set,get -r 1000000 -d 100
//               -c 50, pipeline 1 and 16, against kvws without a limit and kvws with maxmemory
//               EVICTION_THROUGHPUT_MAXMEMORY under allkeys-lru and allkeys-lfu (after a warm-up pass that fills
//               it, so that nearly every SET of a new key evicts one), Redis without a limit and under
//               allkeys-lru for reference; 3 interleaved rounds, median rps. Targets: kvws hit ratio >= Redis's
//               for both policies; kvws evicting >= 0.7x kvws without a limit.
//               Skipped (not failed) when KVWS_BENCH_CMD is set: maxmemory on the command line is kvws's own.
//   login-storm argon2 logins against everyone else's latency (issue 11). Two kvws with the default login
//               limits (--auth-max-concurrent-hashes 2, --auth-max-queued 256): the default, hashing in a child
//               process at nice 10 (--auth-hash-nice 10), and one hashing on its own thread pool
//               (--auth-hash-nice 0), for reference; each with a user with an argon2id password (ACL SETUSER
//               storm on >… ~* +@all) and STORM_KEYS keys `key:%010d` with 16-byte values. 50 ordinary ioredis
//               connections in this process each keep one GET of a random key in flight (closed loop, every
//               reply checked, each timed with process.hrtime), STORM_DURATION_S-second runs (--quick: shorter):
//               (a) alone (default server), (b) while STORM_LOGINS logins are in flight on the default server,
//               (c) the same on the other; each login worker a loop of new TCP connection → AUTH storm
//               <password> → +OK → close (raw sockets, so the client side costs little), started
//               STORM_RAMP_MS before the run and stopped after it. One warm-up run of each, then 3 rounds in
//               alternating order (a b c, c b a, a b c), the run with the median p99 of each. Reported: GET
//               requests/s, p50, p99; logins/s and login p50/p99; CPU of kvws, of its hashing process and of
//               this process; auth_queue_full_rejections. Ratio p99 (b) / p99 (a); target ≤ 2×. Skipped (not
//               failed) when KVWS_BENCH_CMD is set: argon2 logins are kvws's own.
//   streams     Redis Streams as a broker (issue 13): redis-benchmark -c 50, pipeline 1 and 16, with the command
//               given on its command line, against redis-server and kvws: (a) `XADD bench:xadd * field xxx`
//               (the stream is deleted before each run), (b) `XREADGROUP GROUP <g> consumer COUNT 1 STREAMS
//               bench:xread >` after the stream was filled with as many entries as the run has requests
//               (ioredis pipelines of 1000 XADD `<i>-1 field xxx`) and a new group <g> created at 0, so every
//               request takes one new entry; afterwards the group must have delivered every entry (XINFO
//               GROUPS entries-read and pending = requests), or the run counts as failed; and, as an anchor,
//               `SET bench:set xxx` in the same rounds. One warm-up pass, then 3 interleaved rounds, median rps;
//               ratio kvws/Redis, target >= 0.6x (XADD and XREADGROUP).
// Output: a Markdown report on stdout and bench/results/latest.json.
// Exit code: 0 if every section succeeded, 1 otherwise, 2 on bad arguments, 130/143 on SIGINT/SIGTERM.
//
// Environment:
//   KVWS_BENCH_CMD  replaces the kvws command line, so the bench can be pointed at any RESP server. It runs
//                   through /bin/sh as `exec <cmd>` (so its pid is the server's, for RSS), after replacing
//                   {port} with the RESP port to listen on and {dataDir} with an empty temporary directory.
//                   Example (two Redis servers, to test the harness itself):
//                   KVWS_BENCH_CMD="redis-server --port {port} --save '' --appendonly no --dir {dataDir}"
//   Default kvws command: node server/bin/kvws.js serve --resp-port {port} --port 0 --host 127.0.0.1
//                         --data-dir {dataDir} --no-appendonly --save ''   (--port 0: no HTTPS/WebSocket
//                         listener; the persistence section replaces the last two flags with its own)
//
// Requires redis-server, redis-cli and redis-benchmark on PATH (node scripts/test-deps.mjs installs them),
// webdis for the HTTP section (installed on demand, see above), and ioredis and autocannon from node_modules.
// Every wait is bounded; every child process is killed on exit.

import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection as connectTcp, createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Redis, { Cluster } from 'ioredis';
import WebSocket from 'ws';
import { BENCH_NEEDS, ensureInstalled, locate } from '../scripts/test-deps.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = join(ROOT, 'bench', 'results', 'latest.json');
const BENCHMARKS_MD = join(ROOT, 'BENCHMARKS.md');
const MARK_START = '<!-- bench:start -->';
const MARK_END = '<!-- bench:end -->';

const BENCH_TESTS = ['set', 'get', 'incr', 'lpush', 'rpop', 'sadd', 'hset', 'zadd'];
const BENCH_CLIENTS = 50;
const PIPELINES = [1, 16];
// ACL section: the tests, and the restricted user every server gets (nopass: AUTH accepts any password).
const ACL_TESTS = ['set', 'get', 'incr', 'hset'];
const ACL_USER = 'bench';
const ACL_RULES = ['on', 'nopass', '~key:*', '~counter:*', '~my*', '&*', '+@all', '-@dangerous'];
const ACL_PASSWORD = 'x';
const BATCH = 1000; // commands (memory) or keys (expiry) per ioredis pipeline
const VALUE_BYTES = 16;
const TTL_SECONDS = 3600;
// First deadline, from when loading starts: late enough that all keys are loaded before any expires, so
// the figure measures expiry itself (loading 200k keys takes ~2 s here).
const EXPIRY_START_MS = 6000;
const EXPIRY_SPREAD_MS = 5000; // deadlines spread evenly over this window
const EXPIRY_WAIT_MS = 30_000; // after the last deadline, stop waiting for events
const PING_TIMEOUT_MS = 15_000;
const LOAD_TIMEOUT_MS = 600_000;
const COMMAND_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_LINES = 40;
// WebSocket section.
const WS_TESTS = ['set', 'get'];
const WS_INFLIGHT = [1, 16]; // requests in flight per connection
const WS_KEYS = 10_000; // key:<n % WS_KEYS>; redis-benchmark gets -r WS_KEYS
// Worker threads in the load generator. It shares the machine with the server under test; see bench/ws-load.mjs.
const WS_CLIENT_THREADS = 1;
const WS_LOAD = join(ROOT, 'bench', 'ws-load.mjs');
const WS_ECHO = join(ROOT, 'bench', 'ws-echo-server.mjs');
const WS_FANOUT_FLOOR = join(ROOT, 'bench', 'ws-fanout-floor.mjs');
const LISTEN_TIMEOUT_MS = 15_000;
// HTTP section.
const HTTP_TESTS = ['set', 'get'];
const HTTP_DURATION_S = 5; // per recorded run (--quick: HTTP_QUICK_DURATION_S)
const HTTP_WARMUP_S = 2; // the unrecorded run per target and test (--quick: HTTP_QUICK_WARMUP_S)
const HTTP_QUICK_DURATION_S = 2;
const HTTP_QUICK_WARMUP_S = 1;
const HTTP_KEY = 'key';
const HTTP_VALUE = 'xxx';
const HTTP_CEILING = join(ROOT, 'bench', 'http-ceiling-server.mjs');
const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
// Persistence section.
const AOF_POLICIES = ['always', 'everysec', 'no'];
const AOF_TESTS = ['set', 'incr', 'lpush'];
const AOF_TARGET_EVERYSEC = 0.7; // kvws/Redis rps with appendfsync everysec, at least
const AOF_TARGET_LOAD = 2; // kvws/Redis load time, at most
const AOF_START_TIMEOUT_MS = 180_000; // a restart that loads the AOF
const AOF_STOP_TIMEOUT_MS = 60_000; // a graceful stop (it writes and fsyncs the AOF)
const AOF_REWRITE_TIMEOUT_MS = 300_000;
const PROBE_INTERVAL_MS = 5;
// Fan-out section.
const FANOUT_CHANNEL = 'fanout';
const FANOUT_MAX_CLIENTS = 20_000; // both servers' client limit (Redis lowers it to what the open files limit allows)
const FANOUT_WARMUP = 2; // unrecorded PUBLISHes before the recorded ones
const FANOUT_INTERVAL_MS = 200; // from one message reaching every subscriber to the next PUBLISH
const FANOUT_CLIENT_THREADS = 2; // subscriber worker threads, sharing the machine's CPUs with the server
const FANOUT_CONNECT_CONCURRENCY = 100; // connections being opened (and subscribed) at once, per thread
const FANOUT_STEP_TIMEOUT_MS = 30_000; // one subscriber's handshake, or its SUBSCRIBE reply
const FANOUT_CONNECT_TIMEOUT_MS = 300_000; // every subscriber connected and subscribed
const FANOUT_DRAIN_MS = 10_000; // after a PUBLISH, stop waiting for its deliveries
const FANOUT_SETTLE_MS = 1_000; // before each memory reading
const FANOUT_TARGET_P99_MS = 100; // at 10,000 subscribers
const FANOUT_TARGET_BYTES = 30_000; // RSS per idle connection
const CLOCK_TICKS = 100; // USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux)
// Gateway section (the Redis engine).
const GATEWAY_MASTERS = 3; // masters of the Redis Cluster, no replicas
const GATEWAY_KEYS = 10_000; // key:%010d, loaded before the runs
const GATEWAY_DURATION_S = 5; // per recorded run (--quick: GATEWAY_QUICK_DURATION_S)
const GATEWAY_WARMUP_S = 2; // the unrecorded run per target (--quick: GATEWAY_QUICK_WARMUP_S)
const GATEWAY_QUICK_DURATION_S = 2;
const GATEWAY_QUICK_WARMUP_S = 1;
const GATEWAY_BENCH_TESTS = ['set', 'get'];
const GATEWAY_TARGET_P50 = 1.3; // gateway p50 / direct p50, at most
const GATEWAY_PACED_RATE = 2_000; // paced runs: requests/s over all connections (40/s on each)
const CLUSTER_NODE_TIMEOUT_MS = 5_000; // cluster-node-timeout
const CLUSTER_READY_TIMEOUT_MS = 60_000; // from `redis-cli --cluster create` to cluster_state:ok everywhere
// Eviction section.
const EVICTION_KEYS = 100_000; // the key universe, ev:%08d
const EVICTION_CAPACITY = 0.1; // fraction of the keys the cache holds
const EVICTION_ZIPF = 0.99; // exponent of the popularity law (YCSB's)
const EVICTION_REQUESTS = 1_000_000; // --quick: a fifth
const EVICTION_WARMUP = 0.2; // fraction of the sequence not counted
const EVICTION_BATCH = 100; // GETs per pipeline
const EVICTION_VALUE = 'x'.repeat(100);
const EVICTION_SEED = 12;
const EVICTION_POLICIES = ['allkeys-lru', 'allkeys-lfu'];
const EVICTION_CALIBRATION_TOLERANCE = 0.01; // keys held (mean over the counted part) within 1% of the capacity
const EVICTION_SAMPLE_BATCHES = 50; // DBSIZE every this many pipelines of the counted part
const EVICTION_THROUGHPUT_MAXMEMORY = 16 * 1024 * 1024;
const EVICTION_THROUGHPUT_KEYSPACE = 1_000_000; // redis-benchmark -r
const EVICTION_TARGET_THROUGHPUT = 0.7; // evicting / no limit, at least
// Login storm section.
const STORM_KEYS = 10_000; // key:%010d, loaded before the runs
const STORM_LOGINS = 100; // logins in flight during the storm runs
const STORM_DURATION_S = 5; // per recorded run (--quick: STORM_QUICK_DURATION_S)
const STORM_WARMUP_S = 2; // the unrecorded run of each kind (--quick: STORM_QUICK_WARMUP_S)
const STORM_QUICK_DURATION_S = 2;
const STORM_QUICK_WARMUP_S = 1;
const STORM_RAMP_MS = 500; // logins running before a storm run's GETs start
const STORM_USER = 'storm';
const STORM_PASSWORD = 'storm-password-0123456789';
const STORM_TARGET = 2; // GET p99 during the storm / without, at most
// Streams section.
const STREAMS_TARGET = 0.6; // kvws/Redis rps, at least
const STREAMS_XADD_KEY = 'bench:xadd';
const STREAMS_READ_KEY = 'bench:xread';
const STREAMS_TESTS = ['XADD', 'XREADGROUP'];
// Run in the same rounds as an anchor: what the machine gives kvws against Redis for a plain command then.
const STREAMS_ANCHOR = 'SET';
// Every section, in the order they run (--only picks among them).
const SECTIONS = [
  'throughput',
  'acl',
  'memory',
  'expiry',
  'websocket',
  'http',
  'persistence',
  'fanout',
  'gateway',
  'eviction',
  'login-storm',
  'streams',
];

// ---------------------------------------------------------------------------------------------------------
// Shared by the main thread and the expiry loader worker.

/** Returns the benchmark key name for index i: `key:%010d`. */
function keyName(i) {
  return `key:${String(i).padStart(10, '0')}`;
}

/** Returns a 16-byte value for index i; not integer-shaped, so Redis stores it as a string, not an int. */
function valueFor(i) {
  return `val:${String(i).padStart(VALUE_BYTES - 4, '0')}`;
}

/** Returns the PEXPIREAT deadline (ms since epoch) of expiry key i of n, loading having started at base. */
function expiryDeadline(base, i, n) {
  return base + EXPIRY_START_MS + Math.floor((i * EXPIRY_SPREAD_MS) / n);
}

/** Returns an ioredis client for 127.0.0.1:port that never reconnects and never waits forever. */
function connect(port) {
  return new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 10_000,
    commandTimeout: COMMAND_TIMEOUT_MS,
  });
}

/** Throws the first error in an ioredis pipeline result. */
function checkPipeline(results, what) {
  if (results === null) throw new Error(`${what}: pipeline was discarded`);
  for (const [err] of results) if (err) throw new Error(`${what}: ${err.message}`);
}

// Expiry loader (worker thread): SET + PEXPIREAT for every key, in deadline order.
// Posts { loadMs, atRisk } where atRisk counts keys whose deadline had passed when their batch was
// acknowledged: their PEXPIREAT may have arrived late, and a deadline already in the past deletes the key
// with a `del` event instead of `expired`.
async function expiryLoader({ port, base, keys }) {
  const client = connect(port);
  await client.connect();
  const started = Date.now();
  let atRisk = 0;
  for (let i = 0; i < keys; i += BATCH) {
    if (Date.now() - started > LOAD_TIMEOUT_MS) throw new Error(`loading took over ${LOAD_TIMEOUT_MS} ms`);
    const end = Math.min(keys, i + BATCH);
    const p = client.pipeline();
    for (let j = i; j < end; j++) {
      p.set(keyName(j), 'x');
      p.pexpireat(keyName(j), expiryDeadline(base, j, keys));
    }
    checkPipeline(await p.exec(), 'SET/PEXPIREAT');
    const now = Date.now();
    for (let j = i; j < end; j++) if (expiryDeadline(base, j, keys) <= now) atRisk++;
  }
  const loadMs = Date.now() - started;
  client.disconnect();
  parentPort.postMessage({ loadMs, atRisk });
}

// ---------------------------------------------------------------------------------------------------------
// Main thread.

async function mainThread() {
  const usage = () => {
    console.error(`usage: node bench/run.mjs [--quick] [--write] [--only NAME[,NAME]]  (NAME: ${SECTIONS.join(', ')})`);
    process.exit(2);
  };
  let quick = false;
  let write = false;
  let only = null;
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--quick') quick = true;
    else if (a === '--write') write = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a === '--only' ? args[++i] : a.slice('--only='.length);
      only = (v ?? '').split(',').filter(Boolean);
      if (only.length === 0 || only.some((n) => !SECTIONS.includes(n))) usage();
    } else usage();
  }
  const params = {
    mode: quick ? 'quick' : 'full',
    requests: quick ? 20_000 : 200_000,
    clients: BENCH_CLIENTS,
    pipelines: PIPELINES,
    tests: BENCH_TESTS,
    aclTests: ACL_TESTS,
    aclUser: `${ACL_USER} ${ACL_RULES.join(' ')}`,
    memoryKeys: quick ? 100_000 : 1_000_000,
    valueBytes: VALUE_BYTES,
    ttlSeconds: TTL_SECONDS,
    expiryKeys: quick ? 20_000 : 200_000,
    expiryStartMs: EXPIRY_START_MS,
    expirySpreadMs: EXPIRY_SPREAD_MS,
    wsRequests: quick ? 20_000 : 200_000,
    wsConnections: BENCH_CLIENTS,
    wsInflight: WS_INFLIGHT,
    wsClientThreads: WS_CLIENT_THREADS,
    httpTests: HTTP_TESTS,
    httpConnections: BENCH_CLIENTS,
    httpDurationS: quick ? HTTP_QUICK_DURATION_S : HTTP_DURATION_S,
    httpWarmupS: quick ? HTTP_QUICK_WARMUP_S : HTTP_WARMUP_S,
    httpKey: HTTP_KEY,
    aofPolicies: AOF_POLICIES,
    aofTests: AOF_TESTS,
    aofRequests: quick ? 10_000 : 50_000,
    aofLoadKeys: quick ? 100_000 : 1_000_000,
    fanoutSubscribers: quick ? [200, 1_000] : [1_000, 10_000],
    fanoutMessages: quick ? 10 : 20,
    fanoutWarmup: FANOUT_WARMUP,
    fanoutIntervalMs: FANOUT_INTERVAL_MS,
    fanoutClientThreads: FANOUT_CLIENT_THREADS,
    gatewayMasters: GATEWAY_MASTERS,
    gatewayConnections: BENCH_CLIENTS,
    gatewayKeys: GATEWAY_KEYS,
    gatewayDurationS: quick ? GATEWAY_QUICK_DURATION_S : GATEWAY_DURATION_S,
    gatewayWarmupS: quick ? GATEWAY_QUICK_WARMUP_S : GATEWAY_WARMUP_S,
    gatewayRequests: quick ? 20_000 : 100_000,
    evictionKeys: EVICTION_KEYS,
    evictionCapacity: EVICTION_CAPACITY,
    evictionZipf: EVICTION_ZIPF,
    evictionRequests: quick ? EVICTION_REQUESTS / 5 : EVICTION_REQUESTS,
    evictionWarmup: EVICTION_WARMUP,
    evictionPolicies: EVICTION_POLICIES,
    evictionThroughputMaxmemory: EVICTION_THROUGHPUT_MAXMEMORY,
    stormConnections: BENCH_CLIENTS,
    stormLogins: STORM_LOGINS,
    stormKeys: STORM_KEYS,
    stormDurationS: quick ? STORM_QUICK_DURATION_S : STORM_DURATION_S,
    stormWarmupS: quick ? STORM_QUICK_WARMUP_S : STORM_WARMUP_S,
    streamsRequests: quick ? 20_000 : 200_000,
    only,
  };

  installExitHandlers();
  const kvwsCmd = kvwsCommandTemplate();
  const machine = await machineInfo(kvwsCmd);
  const results = { version: 1, date: new Date().toISOString(), params, machine, errors: [] };

  const section = async (name, fn) => {
    console.error(`[bench] ${name}...`);
    try {
      results[name] = await fn();
      for (const problem of results[name].problems ?? []) {
        console.error(`[bench] ${name}: ${problem}`);
        results.errors.push(`${name}: ${problem}`);
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      console.error(`[bench] ${name} failed: ${msg}`);
      results[name] = { error: msg };
      results.errors.push(`${name}: ${msg}`);
    } finally {
      await stopAll();
    }
  };
  const run = {
    throughput: () => throughputSection(params),
    acl: () => aclSection(params),
    memory: () => memorySection(params),
    expiry: () => expirySection(params),
    websocket: () => websocketSection(params, kvwsCmd),
    http: () => httpSection(params, kvwsCmd),
    persistence: () => persistenceSection(params, kvwsCmd),
    fanout: () => fanoutSection(params, kvwsCmd),
    gateway: () => gatewaySection(params, kvwsCmd),
    eviction: () => evictionSection(params, kvwsCmd),
    'login-storm': () => loginStormSection(params, kvwsCmd),
    streams: () => streamsSection(params),
  };
  for (const name of SECTIONS) if (!only || only.includes(name)) await section(name, run[name]);

  const markdown = renderMarkdown(results);
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(markdown);
  console.error(`[bench] wrote ${RESULTS_FILE}`);
  if (write) {
    if (results.errors.length > 0) console.error('[bench] not updating BENCHMARKS.md: some sections failed');
    else if (quick) console.error('[bench] not updating BENCHMARKS.md from a --quick run');
    else if (only) console.error('[bench] not updating BENCHMARKS.md from a run with --only');
    else {
      updateBenchmarksMd(markdown);
      console.error(`[bench] updated ${BENCHMARKS_MD}`);
    }
  }
  process.exitCode = results.errors.length > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------
// Child processes.

/** Every child process and worker still running; all are killed on exit. */
const live = new Set();
/** Every server started and not yet stopped. */
const servers = new Set();
/** Temporary directories (TLS material) to remove on exit. */
const tempDirs = new Set();

function installExitHandlers() {
  process.on('exit', () => {
    for (const c of live) {
      try {
        if (typeof c.terminate === 'function') c.terminate();
        else c.kill('SIGKILL');
      } catch {}
    }
    for (const s of servers) if (!s.keepDir) rmSync(s.dataDir, { recursive: true, force: true });
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ]) {
    process.once(sig, () => {
      console.error(`[bench] ${sig}: stopping servers`);
      // A second signal exits at once (the exit handler still kills the children).
      process.once(sig, () => process.exit(code));
      stopAll().finally(() => process.exit(code));
    });
  }
}

/** Resolves when the child has exited, or after ms; returns true if it exited. */
function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Runs a program to completion (killing it after timeoutMs).
 * Returns { code, signal, stdout, stderr, timedOut }; never rejects (a spawn failure has code null).
 */
function runProcess(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const done = (code, signal, extra = '') => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr: stderr + extra, timedOut });
    };
    child.on('error', (err) => done(null, null, err.message));
    child.on('close', (code, signal) => done(code, signal));
  });
}

/** Returns a loopback TCP port that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Returns the kvws command template (with {port} and {dataDir}) and whether it was overridden. */
function kvwsCommandTemplate() {
  const override = process.env.KVWS_BENCH_CMD?.trim();
  if (override) return { template: override, overridden: true };
  return {
    template:
      "node server/bin/kvws.js serve --resp-port {port} --port 0 --host 127.0.0.1 --data-dir {dataDir} --no-appendonly --save '' --log-format pretty",
    overridden: false,
  };
}

/**
 * Returns [cmd, args] to start the given server kind listening on port. gatewayArgs (kvws only) replaces
 * `--port 0` with the WebSocket gateway's flags. Without aof, neither server persists anything; with
 * aof = { fsync, autoRewrite } both keep an append-only file in dataDir with appendfsync `fsync` and no
 * `save` rules, and autoRewrite false turns automatic AOF rewrites off (auto-aof-rewrite-percentage 0).
 * extraArgs (e.g. a higher client limit) are appended to either server's flags. KVWS_BENCH_CMD ignores aof and
 * extraArgs (the sections that pass them do not run with it).
 */
function serverCommand(kind, port, dataDir, gatewayArgs = null, aof = null, extraArgs = []) {
  const aofArgs = aof
    ? ['--appendfsync', aof.fsync, ...(aof.autoRewrite ? [] : ['--auto-aof-rewrite-percentage', '0'])]
    : [];
  if (kind === 'redis') {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--daemonize', 'no'];
    if (aof) args.push('--appendonly', 'yes', '--dir', dataDir, ...aofArgs);
    else args.push('--appendonly', 'no');
    return ['redis-server', [...args, ...extraArgs]];
  }
  const { template, overridden } = kvwsCommandTemplate();
  if (overridden) {
    const line = template.replaceAll('{port}', String(port)).replaceAll('{dataDir}', dataDir);
    return ['/bin/sh', ['-c', `exec ${line}`]];
  }
  const bin = join(ROOT, 'server', 'bin', 'kvws.js');
  if (!existsSync(bin)) throw new Error(`${bin} not found (build kvws, or set KVWS_BENCH_CMD)`);
  const flags = [
    '--resp-port',
    String(port),
    ...(gatewayArgs ?? ['--port', '0']),
    '--host',
    '127.0.0.1',
    '--log-format',
    'pretty',
  ];
  flags.push('--data-dir', dataDir, '--save', '');
  if (aof) flags.push('--appendonly', ...aofArgs);
  else flags.push('--no-appendonly');
  return [process.execPath, [bin, 'serve', ...flags, ...extraArgs]];
}

/**
 * Starts a server ('redis' or 'kvws') on a free loopback port and waits until it answers PING.
 * Returns { kind, label, port, pid, child, dataDir, keepDir, log, readyMs }. Throws (with the server's last output)
 * if it does not. gatewayArgs: see serverCommand; label: the name used in messages (default kind).
 * aof (persistence section): { fsync, autoRewrite, dataDir? }, see serverCommand. With aof.dataDir the server
 * runs in that existing directory, which stopServer keeps (the caller removes it), and the start is timed:
 * readyMs is the time from spawn to the first +PONG (waitForPong, up to AOF_START_TIMEOUT_MS). extraArgs: see
 * serverCommand.
 */
async function startServer(kind, gatewayArgs = null, label = kind, aof = null, extraArgs = []) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const keepDir = Boolean(aof?.dataDir);
    const dataDir = aof?.dataDir ?? mkdtempSync(join(tmpdir(), `kvws-bench-${kind}-`));
    const [cmd, args] = serverCommand(kind, port, dataDir, gatewayArgs, aof, extraArgs);
    const spawnedAt = performance.now();
    const child = spawn(cmd, args, { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const srv = { kind, label, port, pid: child.pid, child, dataDir, keepDir, log: [], readyMs: null };
    live.add(child);
    servers.add(srv);
    const onData = (d) => {
      srv.log.push(...String(d).split('\n').filter(Boolean));
      if (srv.log.length > LOG_TAIL_LINES) srv.log.splice(0, srv.log.length - LOG_TAIL_LINES);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => onData(`spawn failed: ${err.message}`));
    child.on('exit', () => live.delete(child));
    try {
      if (keepDir) {
        await waitForPong(srv, AOF_START_TIMEOUT_MS);
        srv.readyMs = performance.now() - spawnedAt;
      } else await waitForPing(srv);
      return srv;
    } catch (err) {
      await stopServer(srv);
      const inUse = srv.log.some((l) => /address already in use/i.test(l));
      if (!inUse || attempt >= 3) throw err;
    }
  }
}

/** Waits (at most PING_TIMEOUT_MS) until redis-cli gets PONG from the server; throws otherwise. */
async function waitForPing(srv) {
  const deadline = Date.now() + PING_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (srv.child.exitCode !== null || srv.child.signalCode !== null) break;
    const r = await runProcess('redis-cli', ['-h', '127.0.0.1', '-p', String(srv.port), 'ping'], 2_000);
    if (r.code === 0 && r.stdout.trim() === 'PONG') return;
    last = (r.stdout + r.stderr).trim();
    await sleep(100);
  }
  const exited = srv.child.exitCode !== null || srv.child.signalCode !== null;
  const why = exited
    ? `exited (${srv.child.signalCode ?? `code ${srv.child.exitCode}`})`
    : `did not answer PING within ${PING_TIMEOUT_MS} ms (last reply: ${last || 'none'})`;
  throw new Error(`${srv.label} on port ${srv.port} ${why}\n--- ${srv.label} output ---\n${srv.log.join('\n')}`);
}

/**
 * Sends one RESP PING over a new loopback connection and returns the first line of the reply (`+PONG`,
 * `-LOADING …`), or why there was none (`ECONNREFUSED`, `closed`, `timeout`). Never rejects.
 */
function pingOnce(port, timeoutMs) {
  return new Promise((resolve) => {
    const sock = connectTcp({ host: '127.0.0.1', port });
    let buf = '';
    let settled = false;
    const done = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (d) => {
      buf += d;
      const eol = buf.indexOf('\r\n');
      if (eol >= 0) done(buf.slice(0, eol));
    });
    sock.on('error', (err) => done(err.code ?? err.message));
    sock.on('close', () => done('closed'));
  });
}

/**
 * Waits (at most timeoutMs) until the server answers PING with +PONG, probing every PROBE_INTERVAL_MS with a
 * raw socket (finer than waitForPing's redis-cli, for timing restarts); throws if it exits or never does.
 */
async function waitForPong(srv, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'none';
  while (Date.now() < deadline) {
    if (srv.child.exitCode !== null || srv.child.signalCode !== null) break;
    const reply = await pingOnce(srv.port, 2_000);
    if (reply === '+PONG') return;
    last = reply;
    await sleep(PROBE_INTERVAL_MS);
  }
  const exited = srv.child.exitCode !== null || srv.child.signalCode !== null;
  const why = exited
    ? `exited (${srv.child.signalCode ?? `code ${srv.child.exitCode}`})`
    : `did not answer PING within ${timeoutMs} ms (last reply: ${last})`;
  throw new Error(`${srv.label} on port ${srv.port} ${why}\n--- ${srv.label} output ---\n${srv.log.join('\n')}`);
}

/** Stops a server: SIGTERM, then SIGKILL after STOP_GRACE_MS; removes its data directory unless srv.keepDir. */
async function stopServer(srv) {
  if (!(await waitExit(srv.child, 0))) {
    srv.child.kill('SIGTERM');
    if (!(await waitExit(srv.child, STOP_GRACE_MS))) {
      srv.child.kill('SIGKILL');
      await waitExit(srv.child, STOP_GRACE_MS);
    }
  }
  live.delete(srv.child);
  servers.delete(srv);
  if (!srv.keepDir) rmSync(srv.dataDir, { recursive: true, force: true });
}

async function stopAll() {
  await Promise.all([...servers].map(stopServer));
}

/** Throws (with its output) if the server has exited. */
function assertAlive(srv) {
  if (srv.child.exitCode !== null || srv.child.signalCode !== null) {
    const how = srv.child.signalCode ?? `code ${srv.child.exitCode}`;
    throw new Error(`${srv.label} exited (${how})\n--- ${srv.label} output ---\n${srv.log.join('\n')}`);
  }
}

/** Returns the resident set size of a process in bytes (VmRSS from /proc/<pid>/status). */
function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Returns INFO memory used_memory in bytes, or null when the server does not report it. */
async function usedMemory(client) {
  try {
    const m = /^used_memory:(\d+)/m.exec(await client.info('memory'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sections.

/** Parses `redis-benchmark --csv` output into { TEST: { rps, p50, p99 } }. */
function parseBenchmarkCsv(text) {
  const rows = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('"'))
    .map((l) => l.replace(/^"|"$/g, '').split('","'));
  const out = {};
  let cols = null;
  for (const row of rows) {
    if (row[0] === 'test') {
      cols = row;
      continue;
    }
    const at = (name, fallback) => {
      const i = cols ? cols.indexOf(name) : fallback;
      return i >= 0 && row[i] !== undefined ? Number(row[i]) : null;
    };
    out[row[0].split(' ')[0].toUpperCase()] = {
      rps: at('rps', 1),
      p50Ms: at('p50_latency_ms', -1),
      p99Ms: at('p99_latency_ms', -1),
    };
  }
  return out;
}

/**
 * Runs one redis-benchmark over the given tests (extraArgs appended, e.g. `-r 10000`). Returns { rows, problem }:
 * the parsed rows (tests it did not finish are absent) and, if it timed out or failed, why. Throws only if the
 * server died.
 */
async function redisBenchmark(srv, pipeline, requests, tests, extraArgs = []) {
  if (tests.length === 0) return { rows: {}, problem: null };
  const timeoutMs = 60_000 + Math.ceil((requests * tests.length) / 2_000) * 1_000;
  const args = ['-h', '127.0.0.1', '-p', String(srv.port), '-t', tests.join(','), '-n', String(requests)];
  args.push('-c', String(BENCH_CLIENTS), '-P', String(pipeline), '--csv', '-q', ...extraArgs);
  console.error(`[bench]   redis-benchmark ${srv.label} -P ${pipeline}`);
  const r = await runProcess('redis-benchmark', args, timeoutMs);
  assertAlive(srv);
  let problem = null;
  if (r.timedOut) problem = `timed out after ${timeoutMs} ms`;
  else if (r.code !== 0) problem = `failed (${r.signal ?? `exit ${r.code}`}): ${r.stderr.trim().split('\n')[0]}`;
  if (problem) problem = `redis-benchmark -P ${pipeline} against ${srv.label} ${problem}`;
  return { rows: parseBenchmarkCsv(r.stdout), problem };
}

/** The command each redis-benchmark test sends (redis-benchmark 7, default -d 3, no -r). */
const BENCH_COMMANDS = {
  SET: ['SET', 'key:__rand_int__', 'xxx'],
  GET: ['GET', 'key:__rand_int__'],
  INCR: ['INCR', 'counter:__rand_int__'],
  LPUSH: ['LPUSH', 'mylist', 'xxx'],
  RPOP: ['RPOP', 'mylist'],
  SADD: ['SADD', 'myset', 'element:__rand_int__'],
  HSET: ['HSET', 'myhash', 'element:__rand_int__', 'xxx'],
  ZADD: ['ZADD', 'myzset', '0', 'element:__rand_int__'],
};

/**
 * Sends the command of each given test once, as the default user or, with `user`, after `AUTH user x`
 * (the ACL section's nopass user). redis-benchmark counts error replies as answers, so a test whose command
 * fails would otherwise report a rate for errors. Returns { TEST: error message } for the failing ones, then
 * empties the server (FLUSHALL as the default user). Throws if the server cannot be reached or AUTH fails.
 */
async function preflight(srv, tests = BENCH_TESTS, user = null) {
  const client = connect(srv.port);
  const admin = user ? connect(srv.port) : client;
  const failures = {};
  try {
    await client.connect();
    if (user) {
      await admin.connect();
      await client.call('AUTH', user, ACL_PASSWORD);
    }
    for (const test of tests.map((t) => t.toUpperCase())) {
      try {
        await client.call(...BENCH_COMMANDS[test]);
      } catch (err) {
        failures[test] = (err instanceof Error ? err.message : String(err)).trim();
      }
    }
    await admin.flushall();
  } finally {
    client.disconnect();
    admin.disconnect();
  }
  return failures;
}

const ROUNDS = 3;

/** The row with the median rps among `rows`, or null when there is none. */
function medianRow(rows) {
  const sorted = rows.filter((row) => row?.rps != null).sort((a, b) => a.rps - b.rps);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
}

/** a.rps / b.rps, or null when either figure is missing. */
function rpsRatio(a, b) {
  return a?.rps != null && b?.rps ? a.rps / b.rps : null;
}

/** Per test, the row with the median rps over several redisBenchmark results. */
function medianRows(results) {
  const out = {};
  const names = new Set(results.flatMap((r) => Object.keys(r.rows)));
  for (const name of names) {
    const row = medianRow(results.map((r) => r.rows[name]));
    if (row) out[name] = row;
  }
  return out;
}

async function throughputSection(params) {
  const redis = await startServer('redis');
  const kvws = await startServer('kvws');
  const failing = { redis: await preflight(redis), kvws: await preflight(kvws) };
  const problems = [];
  for (const [label, f] of Object.entries(failing)) {
    for (const [t, msg] of Object.entries(f)) problems.push(`${label} rejects the ${t} test's command: ${msg}`);
  }
  const testsFor = (label) => BENCH_TESTS.filter((t) => !failing[label][t.toUpperCase()]);
  // Warm-up pass, not recorded: kvws runs on a JIT, and a 200k-request pipelined test lasts ~0.2 s, so its
  // first run would mostly measure compilation. Redis gets the same pass, for symmetry.
  for (const srv of [redis, kvws])
    await redisBenchmark(srv, 16, params.requests, testsFor(srv === redis ? 'redis' : 'kvws'));
  const out = {};
  for (const p of PIPELINES) {
    // ROUNDS interleaved runs per server; the median rate per test is reported (the machine is shared).
    const runs = { redis: [], kvws: [] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.redis.push(await redisBenchmark(redis, p, params.requests, testsFor('redis')));
      runs.kvws.push(await redisBenchmark(kvws, p, params.requests, testsFor('kvws')));
    }
    for (const x of [...runs.redis, ...runs.kvws]) if (x.problem) problems.push(x.problem);
    const r = medianRows(runs.redis);
    const k = medianRows(runs.kvws);
    out[`P${p}`] = Object.fromEntries(
      BENCH_TESTS.map((t) => {
        const name = t.toUpperCase();
        const rr = r[name] ?? null;
        const kr = k[name] ?? null;
        const ratio = rpsRatio(kr, rr);
        return [name, { redis: rr, kvws: kr, ratio }];
      }),
    );
  }
  // Missing figures make the section fail, but the figures that exist are kept and reported.
  for (const [p, tests] of Object.entries(out)) {
    for (const [t, v] of Object.entries(tests)) {
      if (v.ratio === null && !failing.redis[t] && !failing.kvws[t]) problems.push(`no result for ${t} ${p}`);
    }
  }
  return { ...out, problems };
}

/** Creates the ACL section's restricted user on a server (ACL SETUSER as the default user). Throws on error. */
async function createAclUser(srv) {
  const client = connect(srv.port);
  try {
    await client.connect();
    await client.call('ACL', 'SETUSER', ACL_USER, ...ACL_RULES);
  } finally {
    client.disconnect();
  }
}

/** Result keys of the ACL section's runs: server and user, with the redis-benchmark arguments of each user. */
const ACL_USERS = [
  { key: 'Restricted', args: ['--user', ACL_USER, '-a', ACL_PASSWORD] },
  { key: 'Default', args: [] },
];

async function aclSection(params) {
  const srvs = { redis: await startServer('redis'), kvws: await startServer('kvws') };
  const problems = [];
  // A test is dropped on a server where its command fails as either user (a NOPERM would be counted as an
  // answer by redis-benchmark).
  const failing = {};
  for (const [label, srv] of Object.entries(srvs)) {
    await createAclUser(srv);
    failing[label] = {};
    for (const user of ['default', ACL_USER]) {
      const f = await preflight(srv, ACL_TESTS, user === 'default' ? null : user);
      for (const [t, msg] of Object.entries(f)) {
        problems.push(`${label} rejects the ${t} test's command as ${user}: ${msg}`);
        failing[label][t] = msg;
      }
    }
  }
  const testsFor = (label) => ACL_TESTS.filter((t) => !failing[label][t.toUpperCase()]);
  const run = (label, user, p) => redisBenchmark(srvs[label], p, params.requests, testsFor(label), user.args);
  // Warm-up pass, not recorded (as in the throughput section).
  for (const label of Object.keys(srvs)) for (const user of ACL_USERS) await run(label, user, 16);
  const out = {};
  for (const p of PIPELINES) {
    // ROUNDS rounds over both servers and both users; the users swap order every round, so that the
    // restricted/default ratio (a small difference) does not always favour whichever runs first.
    const runs = {};
    for (const label of Object.keys(srvs)) for (const user of ACL_USERS) runs[label + user.key] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const users = round % 2 === 0 ? ACL_USERS : [...ACL_USERS].reverse();
      for (const user of users) {
        for (const label of Object.keys(srvs)) runs[label + user.key].push(await run(label, user, p));
      }
    }
    for (const x of Object.values(runs).flat()) if (x.problem) problems.push(x.problem);
    const med = Object.fromEntries(Object.entries(runs).map(([key, rs]) => [key, medianRows(rs)]));
    out[`P${p}`] = Object.fromEntries(
      ACL_TESTS.map((t) => {
        const name = t.toUpperCase();
        const v = Object.fromEntries(Object.entries(med).map(([key, m]) => [key, m[name] ?? null]));
        return [
          name,
          {
            ...v,
            ratio: rpsRatio(v.kvwsRestricted, v.redisRestricted),
            redisCost: rpsRatio(v.redisRestricted, v.redisDefault),
            kvwsCost: rpsRatio(v.kvwsRestricted, v.kvwsDefault),
          },
        ];
      }),
    );
    // Missing figures make the section fail, but the figures that exist are kept and reported.
    for (const [name, v] of Object.entries(out[`P${p}`])) {
      for (const key of Object.keys(runs)) {
        const label = key.startsWith('redis') ? 'redis' : 'kvws';
        if (v[key] === null && !failing[label][name]) problems.push(`no ${key} result for ${name} P${p}`);
      }
    }
  }
  return { ...out, problems };
}

/** Loads n keys into one server and returns its memory growth. */
async function measureLoad(srv, n, withTtl) {
  const client = connect(srv.port);
  try {
    await client.connect();
    await client.flushall();
    await sleep(500);
    const rss0 = rssBytes(srv.pid);
    const used0 = await usedMemory(client);
    const started = Date.now();
    for (let i = 0; i < n; i += BATCH) {
      if (Date.now() - started > LOAD_TIMEOUT_MS) throw new Error(`loading took over ${LOAD_TIMEOUT_MS} ms`);
      const p = client.pipeline();
      const end = Math.min(n, i + BATCH);
      for (let j = i; j < end; j++) {
        if (withTtl) p.set(keyName(j), valueFor(j), 'EX', TTL_SECONDS);
        else p.set(keyName(j), valueFor(j));
      }
      checkPipeline(await p.exec(), withTtl ? 'SET EX' : 'SET');
    }
    const loadMs = Date.now() - started;
    const dbsize = await client.dbsize();
    if (dbsize !== n) throw new Error(`${srv.label}: DBSIZE is ${dbsize} after loading ${n} keys`);
    await sleep(1_000); // let a garbage-collected server settle
    const rss1 = rssBytes(srv.pid);
    const used1 = await usedMemory(client);
    assertAlive(srv);
    const usedDelta = used0 !== null && used1 !== null ? used1 - used0 : null;
    return {
      loadMs,
      rssBefore: rss0,
      rssAfter: rss1,
      rssBytesPerKey: (rss1 - rss0) / n,
      usedMemoryBefore: used0,
      usedMemoryAfter: used1,
      usedMemoryBytesPerKey: usedDelta === null ? null : usedDelta / n,
    };
  } finally {
    client.disconnect();
  }
}

async function memorySection(params) {
  const out = {};
  for (const [variant, withTtl] of [
    ['plain', false],
    ['ttl', true],
  ]) {
    const redis = await startServer('redis');
    const kvws = await startServer('kvws');
    console.error(`[bench]   ${variant}: ${params.memoryKeys} keys`);
    const r = await measureLoad(redis, params.memoryKeys, withTtl);
    const k = await measureLoad(kvws, params.memoryKeys, withTtl);
    out[variant] = { keys: params.memoryKeys, redis: r, kvws: k, ratioRss: k.rssBytesPerKey / r.rssBytesPerKey };
    await stopAll();
  }
  return out;
}

/** Returns the value at percentile p (nearest rank) of an ascending array, or null if empty. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Measures expired-event lateness on one server. */
async function measureExpiry(srv, n) {
  const cmd = connect(srv.port);
  const sub = connect(srv.port);
  let worker = null;
  try {
    await cmd.connect();
    await sub.connect();
    await cmd.config('SET', 'notify-keyspace-events', 'Ex');
    await cmd.flushall();
    const base = Date.now();
    const pending = new Map();
    for (let i = 0; i < n; i++) pending.set(keyName(i), expiryDeadline(base, i, n));
    const lateness = [];
    let unexpected = 0;
    sub.on('pmessage', (_pattern, _channel, key) => {
      const now = Date.now();
      const deadline = pending.get(key);
      if (deadline === undefined) {
        unexpected++;
        return;
      }
      pending.delete(key);
      lateness.push(now - deadline);
    });
    await sub.psubscribe('__keyevent@0__:expired');

    worker = new Worker(new URL(import.meta.url), { workerData: { port: srv.port, base, keys: n } });
    live.add(worker);
    const loaded = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('expiry loader timed out')), LOAD_TIMEOUT_MS + 10_000);
      worker.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`expiry loader exited with code ${code}`));
      });
    });

    const lastDeadline = expiryDeadline(base, n - 1, n);
    const giveUpAt = lastDeadline + EXPIRY_WAIT_MS;
    while (pending.size > 0 && Date.now() < giveUpAt) {
      assertAlive(srv);
      await sleep(50);
    }
    lateness.sort((a, b) => a - b);
    return {
      keys: n,
      received: lateness.length,
      missing: pending.size,
      unexpected,
      loadMs: loaded.loadMs,
      atRisk: loaded.atRisk,
      p50Ms: percentile(lateness, 50),
      p99Ms: percentile(lateness, 99),
      maxMs: lateness.length > 0 ? lateness[lateness.length - 1] : null,
      minMs: lateness.length > 0 ? lateness[0] : null,
    };
  } finally {
    if (worker) {
      await worker.terminate();
      live.delete(worker);
    }
    sub.disconnect();
    cmd.disconnect();
  }
}

async function expirySection(params) {
  const redis = await startServer('redis');
  const kvws = await startServer('kvws');
  console.error(`[bench]   ${params.expiryKeys} keys, redis`);
  const r = await measureExpiry(redis, params.expiryKeys);
  console.error(`[bench]   ${params.expiryKeys} keys, kvws`);
  const k = await measureExpiry(kvws, params.expiryKeys);
  return { redis: r, kvws: k };
}

// WebSocket section.

/**
 * Makes a throwaway self-signed P-256 certificate for 127.0.0.1 and localhost in a new temporary directory.
 * Returns { dir, cert, key } (PEM file paths); the caller removes dir. Throws if openssl fails.
 */
async function makeTlsFiles() {
  const dir = mkdtempSync(join(tmpdir(), 'kvws-bench-tls-'));
  tempDirs.add(dir);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  args.push('-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1');
  args.push('-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  const r = await runProcess('openssl', args, 30_000);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr.trim().split('\n').pop()}`);
  return { dir, cert, key };
}

/**
 * Waits (at most LISTEN_TIMEOUT_MS) for a line of the server's output matching re and returns its first
 * group. Throws (with the output) if the server exits or the line does not come.
 */
async function waitForLine(srv, re) {
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    for (const line of srv.log) {
      const m = re.exec(line);
      if (m) return m[1];
    }
    const exited = srv.child.exitCode !== null || srv.child.signalCode !== null;
    if (exited || Date.now() > deadline) {
      const why = exited ? 'exited' : `printed no line matching ${re} within ${LISTEN_TIMEOUT_MS} ms`;
      throw new Error(`${srv.label} ${why}\n--- ${srv.label} output ---\n${srv.log.join('\n')}`);
    }
    await sleep(50);
  }
}

/**
 * Spawns a server process in dataDir (a temporary directory, removed when the server is stopped) and tracks
 * it like startServer's (killed on exit, last LOG_TAIL_LINES lines of output kept). Returns
 * { label, port: null, pid, child, dataDir, log } without waiting for anything.
 */
function spawnTracked(label, cmd, args, dataDir) {
  const child = spawn(cmd, args, { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { label, port: null, pid: child.pid, child, dataDir, log: [] };
  live.add(child);
  servers.add(srv);
  const onData = (d) => {
    srv.log.push(...String(d).split('\n').filter(Boolean));
    if (srv.log.length > LOG_TAIL_LINES) srv.log.splice(0, srv.log.length - LOG_TAIL_LINES);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('error', (err) => onData(`spawn failed: ${err.message}`));
  child.on('exit', () => live.delete(child));
  return srv;
}

/** Starts bench/ws-fanout-floor.mjs (over TLS when tlsFiles is given); returns the server with its url. */
async function startFanoutFloor(label, tlsFiles) {
  const dataDir = mkdtempSync(join(tmpdir(), 'kvws-bench-floor-'));
  const args = [WS_FANOUT_FLOOR, '--port', '0', '--host', '127.0.0.1'];
  if (tlsFiles) args.push('--tls-cert', tlsFiles.cert, '--tls-key', tlsFiles.key);
  const srv = spawnTracked(label, process.execPath, args, dataDir);
  srv.url = await waitForLine(srv, /ws-fanout-floor: listening on (wss?:\/\/\S+)/);
  return srv;
}

/**
 * A publisher for the fan-out floor over the WebSocket: `publish(channel, message)` resolves with the
 * subscriber count the server answered; `disconnect()` closes it. Rejects if it cannot connect.
 */
function wsPublisher(url, ca) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'kvws.v1', { perMessageDeflate: false, ...(ca ? { ca } : {}) });
    const waiting = new Map();
    let nextId = 1;
    ws.on('message', (data) => {
      const f = JSON.parse(data);
      const w = waiting.get(f.id);
      if (!w) return;
      waiting.delete(f.id);
      if ('error' in f) w.reject(new Error(f.error));
      else w.resolve(f.result);
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        publish: (channel, message) =>
          new Promise((res, rej) => {
            const id = nextId++;
            const timer = setTimeout(() => rej(new Error('PUBLISH: no reply')), COMMAND_TIMEOUT_MS);
            const settle = (fn, v) => {
              clearTimeout(timer);
              fn(v);
            };
            waiting.set(id, { resolve: (v) => settle(res, v), reject: (e) => settle(rej, e) });
            ws.send(JSON.stringify({ id, cmd: ['PUBLISH', channel, message] }));
          }),
        disconnect: () => ws.terminate(),
      }),
    );
  });
}

/** Starts bench/ws-echo-server.mjs (over TLS when tlsFiles is given); returns the server with its url. */
async function startEcho(label, tlsFiles) {
  const dataDir = mkdtempSync(join(tmpdir(), 'kvws-bench-echo-'));
  const args = [WS_ECHO, '--port', '0', '--host', '127.0.0.1'];
  if (tlsFiles) args.push('--tls-cert', tlsFiles.cert, '--tls-key', tlsFiles.key);
  const srv = spawnTracked(label, process.execPath, args, dataDir);
  srv.url = await waitForLine(srv, /ws-echo: listening on (wss?:\/\/\S+)/);
  return srv;
}

/**
 * Starts kvws with its WebSocket gateway on a free port: `--no-tls`, or TLS with tlsFiles. Returns the server
 * with the url from its start-up line (`kvws: WebSocket gateway listening on wss://HOST:PORT/ws`). extraArgs
 * are appended to kvws's flags.
 */
async function startGateway(label, tlsFiles, extraArgs = []) {
  for (let attempt = 1; ; attempt++) {
    const wsPort = await freePort();
    const tlsArgs = tlsFiles ? ['--tls-cert', tlsFiles.cert, '--tls-key', tlsFiles.key] : ['--no-tls'];
    let srv = null;
    try {
      srv = await startServer('kvws', ['--port', String(wsPort), ...tlsArgs], label, null, extraArgs);
      srv.url = await waitForLine(srv, /WebSocket gateway listening on (wss?:\/\/\S+)/);
      return srv;
    } catch (err) {
      if (srv) await stopServer(srv);
      if (!/address already in use|EADDRINUSE/i.test(String(err?.message)) || attempt >= 3) throw err;
    }
  }
}

/**
 * Runs bench/ws-load.mjs once against srv. Returns { row: { rps, p50Ms, p99Ms } | null, problem }. Throws only
 * if the server died.
 */
async function wsLoad(srv, test, inflight, requests, ca) {
  const timeoutMs = 60_000 + Math.ceil(requests / 1_000) * 1_000;
  const args = [WS_LOAD, '--url', srv.url, '--command', test, '--connections', String(BENCH_CLIENTS)];
  args.push('--inflight', String(inflight), '--requests', String(requests), '--keys', String(WS_KEYS));
  args.push('--threads', String(WS_CLIENT_THREADS), '--timeout-ms', String(timeoutMs));
  if (srv.url.startsWith('wss:')) args.push('--ca', ca);
  console.error(`[bench]   ws-load ${srv.label} ${test.toUpperCase()} x${inflight}`);
  const r = await runProcess(process.execPath, args, timeoutMs + 10_000);
  assertAlive(srv);
  let res = null;
  try {
    res = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {}
  let problem = null;
  if (r.timedOut) problem = `timed out after ${timeoutMs} ms`;
  else if (!res) problem = `failed (${r.signal ?? `exit ${r.code}`}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`;
  else if (res.error) problem = res.error;
  else if (res.errors > 0) problem = `${res.errors} error replies, the first: ${res.firstError}`;
  else if (res.completed !== requests) problem = `${res.completed} of ${requests} replies`;
  if (problem)
    return { row: null, problem: `ws-load ${test.toUpperCase()} x${inflight} against ${srv.label}: ${problem}` };
  return { row: { rps: res.rps, p50Ms: res.p50Ms, p99Ms: res.p99Ms }, problem: null };
}

/** Result keys of the WebSocket targets, in the order they run, with their labels. */
const WS_TARGETS = [
  { key: 'echo', label: 'echo', kind: 'echo', tls: false },
  { key: 'kvws', label: 'kvws', kind: 'kvws', tls: false },
  { key: 'echoTls', label: 'echo-tls', kind: 'echo', tls: true },
  { key: 'kvwsTls', label: 'kvws-tls', kind: 'kvws', tls: true },
];

async function websocketSection(params, kvwsCmd) {
  if (kvwsCmd.overridden) return { skipped: 'KVWS_BENCH_CMD is set, and the WebSocket gateway is kvws’s own' };
  const tlsFiles = await makeTlsFiles();
  try {
    const targets = [];
    for (const t of WS_TARGETS) {
      const tls = t.tls ? tlsFiles : null;
      const srv = t.kind === 'echo' ? await startEcho(t.label, tls) : await startGateway(t.label, tls);
      targets.push({ ...t, srv });
    }
    const redis = await startServer('redis');
    const problems = new Set();
    const requests = params.wsRequests;
    const rbArgs = ['-r', String(WS_KEYS)];
    // Warm-up pass, not recorded (as in the throughput section): the servers and the client run on a JIT.
    // SET runs first everywhere, so GET finds its keys.
    for (const t of targets) {
      for (const test of WS_TESTS) {
        const w = await wsLoad(t.srv, test, 16, requests, tlsFiles.cert);
        if (w.problem) problems.add(`warm-up: ${w.problem}`);
      }
    }
    await redisBenchmark(redis, 16, requests, WS_TESTS, rbArgs);
    const out = {};
    for (const k of WS_INFLIGHT) {
      // ROUNDS rounds; in each, the targets run one after the other per test, so compared figures are close
      // in time on a shared machine. The median rps per target and test is reported.
      const runs = Object.fromEntries([...WS_TARGETS.map((t) => t.key), 'redis'].map((key) => [key, []]));
      for (let round = 0; round < ROUNDS; round++) {
        const rb = await redisBenchmark(redis, k, requests, WS_TESTS, rbArgs);
        if (rb.problem) problems.add(rb.problem);
        runs.redis.push(rb);
        const rows = Object.fromEntries(WS_TARGETS.map((t) => [t.key, {}]));
        for (const test of WS_TESTS) {
          for (const t of targets) {
            const w = await wsLoad(t.srv, test, k, requests, tlsFiles.cert);
            if (w.problem) problems.add(w.problem);
            else rows[t.key][test.toUpperCase()] = w.row;
          }
        }
        for (const t of WS_TARGETS) runs[t.key].push({ rows: rows[t.key] });
      }
      const med = Object.fromEntries(Object.entries(runs).map(([key, rs]) => [key, medianRows(rs)]));
      out[`P${k}`] = Object.fromEntries(
        WS_TESTS.map((test) => {
          const name = test.toUpperCase();
          const v = Object.fromEntries(Object.entries(med).map(([key, m]) => [key, m[name] ?? null]));
          return [
            name,
            {
              ...v,
              ratio: rpsRatio(v.kvws, v.echo),
              ratioTls: rpsRatio(v.kvwsTls, v.echo),
              ratioTlsToEchoTls: rpsRatio(v.kvwsTls, v.echoTls),
            },
          ];
        }),
      );
      for (const [name, v] of Object.entries(out[`P${k}`])) {
        for (const key of Object.keys(runs)) if (v[key] === null) problems.add(`no ${key} result for ${name} x${k}`);
      }
    }
    return { ...out, problems: [...problems] };
  } finally {
    await stopAll();
    rmSync(tlsFiles.dir, { recursive: true, force: true });
    tempDirs.delete(tlsFiles.dir);
  }
}

// HTTP section.

/** The HTTP targets, in the order they run in each round: result key and label. */
const HTTP_TARGETS = [
  { key: 'ceiling', label: 'node-http' },
  { key: 'kvws', label: 'kvws-http' },
  { key: 'webdis', label: 'webdis' },
];

/**
 * The request target ('ceiling', 'kvws' or 'webdis') gets for test ('set' or 'get'), and the JSON its reply
 * must hold: { method, path, body (a string, or null), expect }. The ceiling gets kvws's request.
 */
function httpRequest(target, test) {
  const argv = test === 'set' ? ['SET', HTTP_KEY, HTTP_VALUE] : ['GET', HTTP_KEY];
  if (target === 'webdis') {
    const expect = test === 'set' ? { SET: [true, 'OK'] } : { GET: HTTP_VALUE };
    return { method: 'GET', path: `/${argv.join('/')}`, body: null, expect };
  }
  const expect = { result: target === 'kvws' && test === 'get' ? HTTP_VALUE : 'OK' };
  return { method: 'POST', path: '/', body: JSON.stringify(argv), expect };
}

/**
 * Sends target's request for test once (bounded by 5 s). Returns null when the reply is 200 with the expected
 * JSON, else what was wrong.
 */
async function httpPreflight(srv, target, test) {
  const req = httpRequest(target, test);
  try {
    const res = await fetch(new URL(req.path, srv.url), {
      method: req.method,
      headers: req.body === null ? {} : { 'content-type': 'application/json' },
      body: req.body ?? undefined,
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    let same = false;
    try {
      same = JSON.stringify(JSON.parse(text)) === JSON.stringify(req.expect);
    } catch {}
    if (res.status === 200 && same) return null;
    return `${req.method} ${req.path} answered ${res.status} ${text.slice(0, 200)} (expected 200 ${JSON.stringify(req.expect)})`;
  } catch (err) {
    return `${req.method} ${req.path} failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Starts bench/http-ceiling-server.mjs; returns the server with its url. */
async function startHttpCeiling() {
  const dataDir = mkdtempSync(join(tmpdir(), 'kvws-bench-http-ceiling-'));
  const srv = spawnTracked(
    'node-http',
    process.execPath,
    [HTTP_CEILING, '--port', '0', '--host', '127.0.0.1'],
    dataDir,
  );
  srv.url = await waitForLine(srv, /http-ceiling: listening on (http:\/\/\S+)/);
  return srv;
}

/**
 * Starts kvws with only its HTTP port, plain HTTP (`--no-tls --resp-port 0`, the default user open on loopback).
 * Returns the server with the url from its start-up line (`kvws: HTTP API … on http://HOST:PORT/ …`).
 */
async function startHttpKvws() {
  const bin = join(ROOT, 'server', 'bin', 'kvws.js');
  if (!existsSync(bin)) throw new Error(`${bin} not found (build kvws)`);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'kvws-bench-kvws-http-'));
    const args = [
      bin,
      'serve',
      '--port',
      String(port),
      '--no-tls',
      '--resp-port',
      '0',
      '--host',
      '127.0.0.1',
      '--log-format',
      'pretty',
    ];
    args.push('--data-dir', dataDir, '--no-appendonly', '--save', '');
    const srv = spawnTracked('kvws-http', process.execPath, args, dataDir);
    try {
      srv.url = await waitForLine(srv, /HTTP API\b.*? on (http:\/\/\S+)/);
      return srv;
    } catch (err) {
      await stopServer(srv);
      if (!/address already in use|EADDRINUSE/i.test(String(err?.message)) || attempt >= 3) throw err;
    }
  }
}

/**
 * Starts Webdis (the program at path) in front of the redis-server `redis`, from a configuration file in a new
 * temporary directory (foreground, 2 threads, log there at the lowest verbosity), on a free loopback port.
 * Waits (at most LISTEN_TIMEOUT_MS per attempt) until GET /PING answers PONG; returns the server with its url.
 * Throws, with the end of Webdis's log, if it does not after 3 attempts.
 */
async function startWebdis(path, redis) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'kvws-bench-webdis-'));
    const logfile = join(dir, 'webdis.log');
    const config = {
      redis_host: '127.0.0.1',
      redis_port: redis.port,
      redis_auth: null,
      http_host: '127.0.0.1',
      http_port: port,
      threads: 2,
      daemonize: false,
      database: 0,
      verbosity: 0,
      logfile,
    };
    writeFileSync(join(dir, 'webdis.json'), `${JSON.stringify(config, null, 2)}\n`);
    const srv = spawnTracked('webdis', path, [join(dir, 'webdis.json')], dir);
    srv.port = port;
    srv.url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + LISTEN_TIMEOUT_MS;
    let last = '';
    for (;;) {
      const exited = srv.child.exitCode !== null || srv.child.signalCode !== null;
      if (!exited) {
        try {
          const res = await fetch(`${srv.url}PING`, { signal: AbortSignal.timeout(2_000) });
          last = `${res.status} ${await res.text()}`;
          if (res.status === 200 && /PONG/.test(last)) return srv;
        } catch (err) {
          last = err instanceof Error ? (err.cause?.message ?? err.message) : String(err);
        }
      }
      if (exited || Date.now() > deadline) {
        let log = '';
        try {
          log = readFileSync(logfile, 'utf8').split('\n').slice(-LOG_TAIL_LINES).join('\n');
        } catch {}
        await stopServer(srv);
        if (attempt >= 3) {
          const why = exited ? 'exited' : `did not answer GET /PING within ${LISTEN_TIMEOUT_MS} ms (last: ${last})`;
          throw new Error(`webdis on port ${port} ${why}\n--- webdis output ---\n${[...srv.log, log].join('\n')}`);
        }
        break;
      }
      await sleep(100);
    }
  }
}

/**
 * Runs autocannon (its own process) for durationS seconds with BENCH_CLIENTS keep-alive connections, sending
 * target's request for test. Returns { row: { rps, p50Ms, p99Ms, requests } | null, problem }: a run with
 * connection errors, timeouts or a non-2xx reply is a problem, not a figure. Throws only if a server died.
 */
async function autocannonRun(t, test, durationS) {
  const req = httpRequest(t.key, test);
  const args = [AUTOCANNON, '-c', String(BENCH_CLIENTS), '-d', String(durationS), '-j', '-n', '-m', req.method];
  if (req.body !== null) args.push('-H', 'content-type=application/json', '-b', req.body);
  args.push(new URL(req.path, t.srv.url).href);
  const timeoutMs = durationS * 1000 + 30_000;
  console.error(`[bench]   autocannon ${t.srv.label} ${test.toUpperCase()} ${durationS} s`);
  const r = await runProcess(process.execPath, args, timeoutMs);
  assertAlive(t.srv);
  if (t.redis) assertAlive(t.redis);
  let res = null;
  try {
    res = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {}
  let problem = null;
  if (r.timedOut) problem = `timed out after ${timeoutMs} ms`;
  else if (!res?.requests)
    problem = `failed (${r.signal ?? `exit ${r.code}`}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`;
  else if (res.errors > 0 || res.timeouts > 0) problem = `${res.errors} errors, ${res.timeouts} timeouts`;
  else if (res.non2xx > 0) problem = `${res.non2xx} non-2xx replies`;
  else if (!(res['2xx'] > 0)) problem = 'no replies';
  if (problem) return { row: null, problem: `autocannon ${test.toUpperCase()} against ${t.srv.label}: ${problem}` };
  const row = {
    rps: res.requests.total / res.duration,
    p50Ms: res.latency.p50,
    p99Ms: res.latency.p99,
    requests: res.requests.total,
  };
  return { row, problem: null };
}

async function httpSection(params, kvwsCmd) {
  if (kvwsCmd.overridden) return { skipped: 'KVWS_BENCH_CMD is set, and the HTTP API is kvws’s own' };
  if (!existsSync(AUTOCANNON)) throw new Error(`${AUTOCANNON} not found (npm install)`);
  const problems = new Set();
  const stillMissing = ensureInstalled(
    BENCH_NEEDS.filter((n) => n.name === 'webdis'),
    { log: (line) => console.error(line), stdio: ['ignore', 2, 2] },
  );
  const webdisPath = stillMissing.length === 0 ? locate('webdis') : null;
  try {
    const targets = [
      { key: 'ceiling', srv: await startHttpCeiling() },
      { key: 'kvws', srv: await startHttpKvws() },
    ];
    let webdisVersion = null;
    if (webdisPath === null) {
      problems.add('webdis is missing and could not be installed (apt-get install webdis): no Webdis figures');
    } else {
      const redis = await startServer('redis');
      targets.push({ key: 'webdis', srv: await startWebdis(webdisPath, redis), redis });
      // `dpkg-query -W webdis` prints "webdis<TAB>version" (nothing useful where webdis did not come from dpkg).
      const v = await runProcess('dpkg-query', ['-W', 'webdis'], 10_000);
      webdisVersion = v.code === 0 ? (v.stdout.trim().split('\t')[1] ?? null) : null;
    }
    // Each target's replies are checked once (SET first, so GET finds the key); a failing test is not run there.
    const failing = new Set();
    for (const t of targets) {
      for (const test of HTTP_TESTS) {
        const p = await httpPreflight(t.srv, t.key, test);
        if (p) {
          problems.add(`${t.srv.label} ${test.toUpperCase()}: ${p}`);
          failing.add(`${t.key}:${test}`);
        }
      }
    }
    const runnable = (t, test) => !failing.has(`${t.key}:${test}`);
    // Warm-up run per target and test, not recorded (the Node servers run on a JIT).
    for (const test of HTTP_TESTS) {
      for (const t of targets) {
        if (!runnable(t, test)) continue;
        const w = await autocannonRun(t, test, params.httpWarmupS);
        if (w.problem) problems.add(`warm-up: ${w.problem}`);
      }
    }
    // ROUNDS rounds; in each, the targets run one after the other per test, so compared figures are close in
    // time on a shared machine. The run with the median rps per target and test is reported.
    const runs = Object.fromEntries(
      HTTP_TARGETS.map((t) => [t.key, Object.fromEntries(HTTP_TESTS.map((x) => [x, []]))]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const test of HTTP_TESTS) {
        for (const t of targets) {
          if (!runnable(t, test)) continue;
          const r = await autocannonRun(t, test, params.httpDurationS);
          if (r.problem) problems.add(r.problem);
          else runs[t.key][test].push(r.row);
        }
      }
    }
    const out = {};
    for (const test of HTTP_TESTS) {
      const name = test.toUpperCase();
      const v = Object.fromEntries(HTTP_TARGETS.map((t) => [t.key, medianRow(runs[t.key][test])]));
      out[name] = { ...v, ratioCeiling: rpsRatio(v.kvws, v.ceiling), ratioWebdis: rpsRatio(v.kvws, v.webdis) };
      for (const t of targets) if (v[t.key] === null) problems.add(`no ${t.key} result for ${name}`);
    }
    return { ...out, webdisVersion, problems: [...problems] };
  } finally {
    await stopAll();
  }
}

// Persistence section.

/** Returns INFO persistence as { field: value } (strings). */
async function infoPersistence(srv) {
  const client = connect(srv.port);
  try {
    await client.connect();
    const text = await client.info('persistence');
    return Object.fromEntries(
      text
        .split(/\r?\n/)
        .filter((l) => l.includes(':') && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
    );
  } finally {
    client.disconnect();
  }
}

/** Throws unless the server's CONFIG GET appendfsync is `policy` and INFO says its AOF is on. */
async function checkAofConfig(srv, policy) {
  const client = connect(srv.port);
  try {
    await client.connect();
    const [, value] = await client.config('GET', 'appendfsync');
    if (value !== policy) throw new Error(`${srv.label}: CONFIG GET appendfsync is ${value}, expected ${policy}`);
  } finally {
    client.disconnect();
  }
  const info = await infoPersistence(srv);
  if (info.aof_enabled !== '1') throw new Error(`${srv.label}: INFO persistence says aof_enabled:${info.aof_enabled}`);
}

/** Total size in bytes of the files in <dataDir>/appendonlydir (both servers' AOF directory), or null. */
function aofBytes(dataDir) {
  const dir = join(dataDir, 'appendonlydir');
  try {
    return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  } catch {
    return null;
  }
}

/** The file system type of dir (`df --output=fstype`), or null. */
async function fsType(dir) {
  const r = await runProcess('df', ['--output=fstype', dir], 10_000);
  return r.code === 0 ? (r.stdout.trim().split('\n').pop()?.trim() ?? null) : null;
}

/** Loads n keys `key:%010d` (values valueFor) with ioredis pipelines of BATCH SETs; returns the time in ms. */
async function fillKeys(srv, n) {
  const client = connect(srv.port);
  try {
    await client.connect();
    const started = Date.now();
    for (let i = 0; i < n; i += BATCH) {
      if (Date.now() - started > LOAD_TIMEOUT_MS) throw new Error(`loading took over ${LOAD_TIMEOUT_MS} ms`);
      const p = client.pipeline();
      const end = Math.min(n, i + BATCH);
      for (let j = i; j < end; j++) p.set(keyName(j), valueFor(j));
      checkPipeline(await p.exec(), 'SET');
    }
    return Date.now() - started;
  } finally {
    client.disconnect();
  }
}

/** Throws unless the server holds exactly n keys and the first and last have their values. */
async function checkKeys(srv, n) {
  const client = connect(srv.port);
  try {
    await client.connect();
    const dbsize = await client.dbsize();
    if (dbsize !== n) throw new Error(`${srv.label}: DBSIZE is ${dbsize} after loading its AOF, expected ${n}`);
    for (const i of n > 0 ? [0, n - 1] : []) {
      const v = await client.get(keyName(i));
      if (v !== valueFor(i)) throw new Error(`${srv.label}: ${keyName(i)} is ${JSON.stringify(v)} after loading`);
    }
  } finally {
    client.disconnect();
  }
}

/**
 * Stops a server the way its user would, keeping its files: Redis with SHUTDOWN (no `save` rules, so it
 * only flushes and fsyncs the AOF), kvws with SIGTERM. Returns the time until the process exited, in ms;
 * throws unless it exited with code 0 within AOF_STOP_TIMEOUT_MS (then it is killed).
 */
async function gracefulStop(srv) {
  const started = performance.now();
  if (srv.kind === 'redis') {
    // redis-cli's own status is not looked at: the server closes the connection without a reply.
    await runProcess('redis-cli', ['-h', '127.0.0.1', '-p', String(srv.port), 'SHUTDOWN'], AOF_STOP_TIMEOUT_MS);
  } else srv.child.kill('SIGTERM');
  const exited = await waitExit(srv.child, AOF_STOP_TIMEOUT_MS);
  const ms = performance.now() - started;
  const code = srv.child.exitCode;
  await stopServer(srv); // kills it if still running; keeps the directory
  if (!exited) throw new Error(`${srv.label} did not exit within ${AOF_STOP_TIMEOUT_MS} ms of being stopped`);
  if (code !== 0) {
    const how = srv.child.signalCode ?? `code ${code}`;
    throw new Error(`${srv.label} exited (${how}) when stopped\n--- ${srv.label} output ---\n${srv.log.join('\n')}`);
  }
  return ms;
}

/**
 * Runs BGREWRITEAOF and waits (at most AOF_REWRITE_TIMEOUT_MS) until INFO persistence shows no rewrite in
 * progress or scheduled and aof_rewrites has grown. Returns the time in ms; throws if the rewrite failed.
 */
async function rewriteAof(srv) {
  const before = Number((await infoPersistence(srv)).aof_rewrites ?? 0);
  const started = performance.now();
  const client = connect(srv.port);
  try {
    await client.connect();
    await client.call('BGREWRITEAOF');
  } finally {
    client.disconnect();
  }
  const deadline = Date.now() + AOF_REWRITE_TIMEOUT_MS;
  for (;;) {
    assertAlive(srv);
    const info = await infoPersistence(srv);
    const idle = info.aof_rewrite_in_progress === '0' && info.aof_rewrite_scheduled === '0';
    if (idle && Number(info.aof_rewrites ?? before + 1) > before) {
      if (info.aof_last_bgrewrite_status !== 'ok')
        throw new Error(
          `${srv.label}: BGREWRITEAOF failed (aof_last_bgrewrite_status:${info.aof_last_bgrewrite_status})`,
        );
      return performance.now() - started;
    }
    if (Date.now() > deadline)
      throw new Error(`${srv.label}: BGREWRITEAOF not done after ${AOF_REWRITE_TIMEOUT_MS} ms`);
    await sleep(20);
  }
}

/**
 * The load time the server itself logged at start-up, in ms, or null: Redis's "DB loaded from append only
 * file: X seconds", kvws's "AOF loaded: … in N ms".
 */
function loggedLoadMs(srv) {
  for (const line of srv.log) {
    const r = /DB loaded from append only file: ([\d.]+) seconds/.exec(line);
    if (r) return Number(r[1]) * 1000;
    const k = /AOF loaded: .* in (\d+) ms/.exec(line);
    if (k) return Number(k[1]);
  }
  return null;
}

/** Throughput of redis-benchmark AOF_TESTS with appendfsync `policy` on fresh servers; problems are appended. */
async function aofThroughput(params, policy, problems) {
  const aof = { fsync: policy, autoRewrite: true };
  const srvs = {
    redis: await startServer('redis', null, `redis-${policy}`, aof),
    kvws: await startServer('kvws', null, `kvws-${policy}`, aof),
  };
  const failing = {};
  for (const [label, srv] of Object.entries(srvs)) {
    await checkAofConfig(srv, policy);
    failing[label] = await preflight(srv, AOF_TESTS);
    for (const [t, msg] of Object.entries(failing[label]))
      problems.push(`${policy}: ${label} rejects the ${t} test's command: ${msg}`);
  }
  const testsFor = (label) => AOF_TESTS.filter((t) => !failing[label][t.toUpperCase()]);
  const run = (label, p) => redisBenchmark(srvs[label], p, params.aofRequests, testsFor(label));
  // Warm-up pass, not recorded (as in the throughput section).
  for (const label of Object.keys(srvs)) await run(label, 16);
  const out = {};
  for (const p of PIPELINES) {
    const runs = { redis: [], kvws: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const label of Object.keys(srvs)) runs[label].push(await run(label, p));
    }
    for (const x of [...runs.redis, ...runs.kvws]) if (x.problem) problems.push(`${policy}: ${x.problem}`);
    const r = medianRows(runs.redis);
    const k = medianRows(runs.kvws);
    out[`P${p}`] = Object.fromEntries(
      AOF_TESTS.map((t) => {
        const name = t.toUpperCase();
        const v = { redis: r[name] ?? null, kvws: k[name] ?? null };
        if (v.redis === null || v.kvws === null) {
          if (!failing.redis[name] && !failing.kvws[name]) problems.push(`${policy}: no result for ${name} P${p}`);
        }
        return [name, { ...v, ratio: rpsRatio(v.kvws, v.redis) }];
      }),
    );
  }
  // The AOF after the runs: automatic rewrites are on (Redis's defaults on both), and writes must have worked.
  for (const [label, srv] of Object.entries(srvs)) {
    const info = await infoPersistence(srv);
    if (info.aof_last_write_status !== 'ok')
      problems.push(`${policy}: ${label} aof_last_write_status:${info.aof_last_write_status}`);
    out[label] = { aofRewrites: Number(info.aof_rewrites ?? 0), aofBytes: aofBytes(srv.dataDir) };
  }
  return out;
}

/** Median of rows by `key`, or null when there are none. */
function medianBy(rows, key) {
  const sorted = rows.filter((r) => r?.[key] != null).sort((a, b) => a[key] - b[key]);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
}

/**
 * Load time of an AOF of n keys (see the persistence section in the header): fill, then ROUNDS timed
 * restarts on the incremental AOF, BGREWRITEAOF, ROUNDS timed restarts on the rewritten one.
 */
async function aofLoadTime(params, problems) {
  const n = params.aofLoadKeys;
  const kinds = ['redis', 'kvws'];
  const dirs = {};
  for (const kind of kinds) {
    dirs[kind] = mkdtempSync(join(tmpdir(), `kvws-bench-aof-${kind}-`));
    tempDirs.add(dirs[kind]);
  }
  const aof = (kind) => ({ fsync: 'everysec', autoRewrite: false, dataDir: dirs[kind] });
  try {
    const srvs = {};
    for (const kind of kinds) srvs[kind] = await startServer(kind, null, kind, aof(kind));
    const out = { keys: n, fillMs: {} };
    // `empty`: the same restarts with an empty AOF, the cost of starting the process alone.
    for (const phase of ['empty', 'incremental', 'rewritten']) {
      const rewriteMs = {};
      if (phase === 'incremental') {
        for (const kind of kinds) {
          console.error(`[bench]   filling ${kind} with ${n} keys`);
          out.fillMs[kind] = await fillKeys(srvs[kind], n);
          await checkKeys(srvs[kind], n);
        }
      }
      if (phase === 'rewritten') {
        for (const kind of kinds) {
          console.error(`[bench]   BGREWRITEAOF ${kind}`);
          rewriteMs[kind] = await rewriteAof(srvs[kind]);
        }
      }
      const starts = { redis: [], kvws: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of kinds) {
          console.error(`[bench]   restart ${kind} (${phase} AOF)`);
          const stopMs = await gracefulStop(srvs[kind]);
          const bytes = aofBytes(dirs[kind]);
          srvs[kind] = await startServer(kind, null, kind, aof(kind));
          await checkKeys(srvs[kind], phase === 'empty' ? 0 : n);
          starts[kind].push({
            readyMs: srvs[kind].readyMs,
            loggedMs: loggedLoadMs(srvs[kind]),
            stopMs,
            aofBytes: bytes,
          });
        }
      }
      const r = medianBy(starts.redis, 'readyMs');
      const k = medianBy(starts.kvws, 'readyMs');
      out[phase] = {
        redis: { ...r, rewriteMs: rewriteMs.redis ?? null, runs: starts.redis.map((x) => x.readyMs) },
        kvws: { ...k, rewriteMs: rewriteMs.kvws ?? null, runs: starts.kvws.map((x) => x.readyMs) },
        ratio: r?.readyMs && k?.readyMs ? k.readyMs / r.readyMs : null,
      };
      if (out[phase].ratio === null) problems.push(`no load time for the ${phase} AOF`);
    }
    return out;
  } finally {
    await stopAll();
    for (const dir of Object.values(dirs)) {
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    }
  }
}

async function persistenceSection(params, kvwsCmd) {
  if (kvwsCmd.overridden) return { skipped: 'KVWS_BENCH_CMD is set, and the persistence flags are kvws’s own' };
  const problems = [];
  const filesystem = await fsType(tmpdir());
  // A failing part is reported as { error } and as a problem (the section fails), and the others still run.
  const attempt = async (what, fn) => {
    try {
      return await fn();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      problems.push(`${what}: ${msg}`);
      return { error: msg };
    } finally {
      await stopAll();
    }
  };
  const policies = {};
  for (const policy of AOF_POLICIES) {
    console.error(`[bench]   appendfsync ${policy}`);
    policies[policy] = await attempt(policy, () => aofThroughput(params, policy, problems));
  }
  const load = await attempt('load time', () => aofLoadTime(params, problems));
  return { filesystem, tmpdir: tmpdir(), policies, load, problems };
}

// Fan-out section.

/** The fan-out targets, in the order they run for each subscriber count: result key, label, server, TLS. */
const FANOUT_TARGETS = [
  { key: 'redis', label: 'redis', kind: 'redis', tls: false },
  { key: 'kvws', label: 'kvws', kind: 'kvws', tls: false },
  { key: 'kvwsTls', label: 'kvws-tls', kind: 'kvws', tls: true },
  // The floor: a bare `ws` pub/sub server (bench/ws-fanout-floor.mjs), what Node itself costs per delivery.
  { key: 'floor', label: 'ws-floor', kind: 'floor', tls: false },
  { key: 'floorTls', label: 'ws-floor-tls', kind: 'floor', tls: true },
];

/** The soft limit on open files of this process (/proc/self/limits), or null when it cannot be read. */
function openFilesLimit() {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? (m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])) : null;
  } catch {
    return null;
  }
}

/**
 * Returns the first RESP value in buf (a latin1 string) at pos and the position after it, or null when buf
 * ends before the value does. Errors become { error }.
 */
function parseResp(buf, pos) {
  if (pos >= buf.length) return null;
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const type = buf[pos];
  const line = buf.slice(pos + 1, eol);
  if (type === '+') return [line, eol + 2];
  if (type === '-') return [{ error: line }, eol + 2];
  if (type === ':') return [Number(line), eol + 2];
  if (type === '$') {
    const n = Number(line);
    if (n < 0) return [null, eol + 2];
    if (buf.length < eol + 4 + n) return null;
    return [buf.slice(eol + 2, eol + 2 + n), eol + 4 + n];
  }
  if (type === '*') {
    const n = Number(line);
    const out = [];
    let at = eol + 2;
    for (let i = 0; i < n; i++) {
      const r = parseResp(buf, at);
      if (r === null) return null;
      out.push(r[0]);
      at = r[1];
    }
    return [out, at];
  }
  throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
}

// Fan-out subscribers (worker thread): opens `connections` subscribers to `channel`, `concurrency` at a time,
// each SUBSCRIBEd and confirmed (kind 'ws': kvws's gateway at url, subprotocol kvws.v1, trusting ca for wss://;
// kind 'resp': a raw TCP socket to port). Posts { type: 'ready', opened, failed, connectMs, failures } (failures:
// the distinct reasons, with counts), then records every message: its payload is `<seq> <hrtime ns at publish>`,
// seq 0 … warmup + messages - 1, the first `warmup` not recorded, and latency = process.hrtime at arrival - that
// time (the machine's monotonic clock, shared by every thread and process). Posts { type: 'seq', seq } once
// every opened subscriber has message seq; on the main thread's 'finish', posts { type: 'result', latencies (ms,
// Float64Array), lastPerSeq (the latest arrival of each recorded message, ms), received, complete (subscribers with
// every message exactly once, in order), disorder, stray, warmups, closed, closeReasons } and closes every socket.
async function fanoutSubscriberThread({ kind, url, port, ca, connections, channel, warmup, messages, concurrency }) {
  const latencies = new Float64Array(connections * messages);
  const perSeq = new Int32Array(warmup + messages);
  const lastPerSeq = new Float64Array(messages); // the latest arrival of each recorded message, in ms
  const subs = [];
  let opened = 0;
  let received = 0;
  let warmups = 0;
  let disorder = 0;
  let stray = 0;
  let closed = 0;
  const failures = new Map();
  const closeReasons = new Map();
  const bump = (map, why) => map.set(why, (map.get(why) ?? 0) + 1);

  /** Records one message's payload for subscriber s, arrived at `now` (hrtime ns). */
  const deliver = (s, payload, now) => {
    const space = payload.indexOf(' ');
    const seq = Number(payload.slice(0, space));
    if (!(space > 0 && Number.isInteger(seq) && seq >= 0 && seq < perSeq.length)) {
      stray++;
      return;
    }
    if (seq !== s.next) disorder++;
    s.next = seq + 1;
    if (++perSeq[seq] === opened) parentPort.postMessage({ type: 'seq', seq });
    if (seq < warmup) {
      warmups++;
      return;
    }
    s.count++;
    const ms = Number(now - BigInt(payload.slice(space + 1))) / 1e6;
    if (ms > lastPerSeq[seq - warmup]) lastPerSeq[seq - warmup] = ms;
    if (received < latencies.length) latencies[received] = ms;
    received++;
  };
  /** Counts a subscriber's connection lost after it was subscribed. */
  const lost = (s, why) => {
    if (!s.subscribed || s.lost || s.finishing) return;
    s.lost = true;
    closed++;
    bump(closeReasons, why);
  };

  const openWs = (s) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'kvws.v1', {
        perMessageDeflate: false,
        handshakeTimeout: FANOUT_STEP_TIMEOUT_MS,
        ...(ca ? { ca } : {}),
      });
      s.close = () => ws.terminate();
      const timer = setTimeout(() => reject(new Error('no SUBSCRIBE reply')), FANOUT_STEP_TIMEOUT_MS);
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, cmd: ['SUBSCRIBE', channel] })));
      ws.on('message', (data) => {
        const now = process.hrtime.bigint();
        let frame;
        try {
          frame = JSON.parse(data);
        } catch {
          stray++;
          return;
        }
        if (frame.push === 'message' && frame.channel === channel) deliver(s, frame.data, now);
        else if (!s.subscribed && frame.id === 1) {
          clearTimeout(timer);
          const r = frame.result?.[0];
          if (r?.[0] === 'subscribe' && r[1] === channel && r[2] === 1) {
            s.subscribed = true;
            resolve();
          } else reject(new Error(`SUBSCRIBE answered ${JSON.stringify(frame).slice(0, 200)}`));
        } else stray++;
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
        lost(s, `error: ${err.message}`);
      });
      ws.on('close', (code, reason) => {
        clearTimeout(timer);
        reject(new Error(`closed before subscribing: ${code} ${reason}`));
        lost(s, `close ${code}${reason.length ? ` ${reason}` : ''}`);
      });
    });

  const openResp = (s) =>
    new Promise((resolve, reject) => {
      const sock = connectTcp({ host: '127.0.0.1', port });
      s.close = () => sock.destroy();
      const timer = setTimeout(() => {
        reject(new Error('no SUBSCRIBE reply'));
        sock.destroy();
      }, FANOUT_STEP_TIMEOUT_MS);
      let buf = '';
      sock.setEncoding('latin1');
      sock.on('connect', () => sock.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${channel.length}\r\n${channel}\r\n`));
      sock.on('data', (chunk) => {
        const now = process.hrtime.bigint();
        buf += chunk;
        let at = 0;
        for (;;) {
          const r = parseResp(buf, at);
          if (r === null) break;
          at = r[1];
          const [v] = r;
          if (Array.isArray(v) && v[0] === 'message' && v[1] === channel) deliver(s, v[2], now);
          else if (!s.subscribed && Array.isArray(v) && v[0] === 'subscribe') {
            clearTimeout(timer);
            if (v[1] === channel && v[2] === 1) {
              s.subscribed = true;
              resolve();
            } else reject(new Error(`SUBSCRIBE answered ${JSON.stringify(v)}`));
          } else if (!s.subscribed) {
            clearTimeout(timer);
            reject(new Error(`SUBSCRIBE answered ${JSON.stringify(v).slice(0, 200)}`));
          } else stray++;
        }
        buf = buf.slice(at);
      });
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
        lost(s, `error: ${err.message}`);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        reject(new Error('closed before subscribing'));
        lost(s, 'closed by the server');
      });
    });

  const started = performance.now();
  let nextIndex = 0;
  const runner = async () => {
    while (nextIndex < connections) {
      nextIndex++;
      const s = { next: 0, count: 0, subscribed: false, lost: false, finishing: false, close: () => {} };
      subs.push(s);
      try {
        await (kind === 'ws' ? openWs(s) : openResp(s));
      } catch (err) {
        bump(failures, err instanceof Error ? err.message : String(err));
        s.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, connections) }, runner));
  opened = subs.filter((s) => s.subscribed).length;
  parentPort.postMessage({
    type: 'ready',
    opened,
    failed: connections - opened,
    connectMs: performance.now() - started,
    failures: [...failures],
  });
  await new Promise((resolve) => parentPort.once('message', resolve));
  const complete = subs.filter((s) => s.subscribed && s.count === messages && s.next === perSeq.length).length;
  for (const s of subs) s.finishing = true;
  const out = latencies.slice(0, Math.min(received, latencies.length));
  parentPort.postMessage(
    {
      type: 'result',
      latencies: out,
      lastPerSeq: [...lastPerSeq],
      received,
      complete,
      disorder,
      stray,
      warmups,
      closed,
      closeReasons: [...closeReasons],
    },
    [out.buffer],
  );
  for (const s of subs) s.close();
}

/** The CPU time (user + system) process pid has used so far, in ms (/proc/<pid>/stat, clock-tick resolution). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}

/** Waits (at most ms) for a message of `type` from each worker; throws if one fails, exits, or times out. */
function fromWorkers(workers, type, ms, what) {
  return Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => done(reject, new Error(`${what}: no answer within ${ms} ms`)), ms);
          const onMessage = (m) => {
            if (m.type === type) done(resolve, m);
          };
          const onError = (err) => done(reject, err);
          const onExit = (code) => done(reject, new Error(`${what}: subscriber thread exited with code ${code}`));
          const done = (settle, v) => {
            clearTimeout(timer);
            w.off('message', onMessage);
            w.off('error', onError);
            w.off('exit', onExit);
            settle(v);
          };
          w.on('message', onMessage);
          w.once('error', onError);
          w.once('exit', onExit);
        }),
    ),
  );
}

/** Returns the server's `field` from INFO `part` as a string, or null. */
async function infoField(client, part, field) {
  try {
    const m = new RegExp(`^${field}:(.*)$`, 'm').exec(await client.info(part));
    return m ? m[1].trim() : null;
  } catch {
    return null;
  }
}

/**
 * One fan-out run (see the fan-out section in the header): n subscribers of target on a fresh server, idle
 * memory, then FANOUT_WARMUP + params.fanoutMessages PUBLISHes FANOUT_INTERVAL_MS apart. Problems (refused or
 * lost connections, missing deliveries) are appended to `problems` and the figures are still returned.
 */
async function fanoutRun(params, t, n, tlsFiles, problems) {
  const floor = t.kind === 'floor';
  const srv =
    t.kind === 'redis'
      ? await startServer('redis', null, t.label, null, ['--maxclients', String(FANOUT_MAX_CLIENTS)])
      : floor
        ? await startFanoutFloor(t.label, t.tls ? tlsFiles : null)
        : await startGateway(t.label, t.tls ? tlsFiles : null, ['--max-clients', String(FANOUT_MAX_CLIENTS)]);
  const what = `${t.label}, ${n} subscribers`;
  // The floor has no RESP port: its publisher is a WebSocket client, and it has no INFO or PUBSUB.
  const admin = floor
    ? await wsPublisher(srv.url, t.tls ? readFileSync(tlsFiles.cert, 'utf8') : null)
    : connect(srv.port);
  const workers = [];
  try {
    let maxClients = null;
    if (!floor) {
      await admin.connect();
      maxClients = Number((await admin.config('GET', 'maxclients'))[1]);
      if (!(maxClients > n)) throw new Error(`${what}: maxclients is ${maxClients} (asked for ${FANOUT_MAX_CLIENTS})`);
    }
    await sleep(FANOUT_SETTLE_MS);
    const rss0 = rssBytes(srv.pid);
    const used0 = floor ? null : await usedMemory(admin);

    console.error(`[bench]   ${what}: connecting`);
    const threads = Math.min(FANOUT_CLIENT_THREADS, n);
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL(import.meta.url), {
        workerData: {
          role: 'fanout',
          kind: t.kind === 'redis' ? 'resp' : 'ws',
          url: srv.url ?? null,
          port: srv.port,
          ca: t.tls ? readFileSync(tlsFiles.cert, 'utf8') : null,
          connections: Math.floor(n / threads) + (i < n % threads ? 1 : 0),
          channel: FANOUT_CHANNEL,
          warmup: FANOUT_WARMUP,
          messages: params.fanoutMessages,
          concurrency: FANOUT_CONNECT_CONCURRENCY,
        },
      });
      live.add(w);
      w.once('exit', () => live.delete(w));
      // A message's 'seq' can come before its PUBLISH's reply: remembered from the start.
      w.delivered = new Set();
      w.on('message', (m) => {
        if (m.type === 'seq') w.delivered.add(m.seq);
      });
      workers.push(w);
    }
    const readies = await fromWorkers(workers, 'ready', FANOUT_CONNECT_TIMEOUT_MS, `${what}: connecting`);
    assertAlive(srv);
    const opened = readies.reduce((a, r) => a + r.opened, 0);
    const connectMs = Math.max(...readies.map((r) => r.connectMs));
    const failures = new Map();
    for (const r of readies) for (const [why, k] of r.failures) failures.set(why, (failures.get(why) ?? 0) + k);
    if (opened < n) {
      const whys = [...failures].map(([why, k]) => `${k} × ${why}`).join('; ');
      problems.push(`${what}: only ${opened} subscribed (${whys})`);
    }
    const numsub = floor ? opened : Number((await admin.call('PUBSUB', 'NUMSUB', FANOUT_CHANNEL))[1]);
    if (numsub !== opened) problems.push(`${what}: PUBSUB NUMSUB says ${numsub}, ${opened} subscribed`);
    const connectedClients = floor ? null : Number(await infoField(admin, 'clients', 'connected_clients'));
    await sleep(FANOUT_SETTLE_MS);
    const rss1 = rssBytes(srv.pid);
    const used1 = floor ? null : await usedMemory(admin);

    console.error(`[bench]   ${what}: publishing`);
    // One message at a time: the next is published FANOUT_INTERVAL_MS after every subscriber has the previous
    // one (or after FANOUT_DRAIN_MS without; then no longer waited for), so each measures one fan-out alone.
    const receivers = [];
    const publishMs = [];
    let allDelivered = true;
    let cpu0 = null;
    for (let seq = 0; seq < FANOUT_WARMUP + params.fanoutMessages; seq++) {
      await sleep(FANOUT_INTERVAL_MS);
      if (seq === FANOUT_WARMUP) cpu0 = { server: cpuMs(srv.pid), clients: process.cpuUsage() };
      const sentAt = performance.now();
      const k = await admin.publish(FANOUT_CHANNEL, `${seq} ${process.hrtime.bigint()}`);
      const repliedAt = performance.now();
      const until = Date.now() + (allDelivered ? FANOUT_DRAIN_MS : 0);
      const pending = () => workers.some((w, i) => readies[i].opened > 0 && !w.delivered.has(seq));
      while (pending() && Date.now() < until) {
        assertAlive(srv);
        await sleep(2);
      }
      allDelivered &&= !pending();
      if (seq >= FANOUT_WARMUP) {
        publishMs.push(repliedAt - sentAt);
        receivers.push(k);
      }
    }
    const serverCpuMs = cpuMs(srv.pid) - cpu0.server;
    const clientsCpu = process.cpuUsage(cpu0.clients);
    assertAlive(srv);
    for (const w of workers) w.postMessage('finish');
    const results = await fromWorkers(workers, 'result', 30_000, `${what}: results`);
    const rss2 = rssBytes(srv.pid);

    const count = results.reduce((a, r) => a + r.latencies.length, 0);
    const all = new Float64Array(count);
    let at = 0;
    for (const r of results) {
      all.set(r.latencies, at);
      at += r.latencies.length;
    }
    all.sort();
    const sum = (key) => results.reduce((a, r) => a + r[key], 0);
    const closeReasons = new Map();
    for (const r of results)
      for (const [why, k] of r.closeReasons) closeReasons.set(why, (closeReasons.get(why) ?? 0) + k);
    const expected = opened * params.fanoutMessages;
    const received = sum('received');
    if (!allDelivered || received !== expected)
      problems.push(`${what}: ${received} of ${expected} deliveries (waiting up to ${FANOUT_DRAIN_MS} ms per message)`);
    if (sum('closed') > 0) {
      const whys = [...closeReasons].map(([why, k]) => `${k} × ${why}`).join('; ');
      problems.push(`${what}: ${sum('closed')} subscribers lost their connection (${whys})`);
    }
    if (sum('disorder') > 0) problems.push(`${what}: ${sum('disorder')} messages out of order or repeated`);
    if (sum('stray') > 0) problems.push(`${what}: ${sum('stray')} unexpected frames`);
    const badReceivers = receivers.filter((k) => k !== opened);
    if (badReceivers.length > 0) problems.push(`${what}: PUBLISH answered ${badReceivers[0]} receivers, not ${opened}`);
    const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
    publishMs.sort((a, b) => a - b);
    return {
      subscribers: n,
      subscribed: opened,
      connectFailures: [...failures],
      connectMs: Math.round(connectMs),
      maxClients,
      connectedClients,
      numsub,
      rssBefore: rss0,
      rssIdle: rss1,
      rssAfterDeliveries: rss2,
      rssBytesPerConnection: (rss1 - rss0) / n,
      usedMemoryBefore: used0,
      usedMemoryIdle: used1,
      usedMemoryBytesPerConnection: used0 !== null && used1 !== null ? (used1 - used0) / n : null,
      expected,
      received,
      complete: sum('complete'),
      closed: sum('closed'),
      closeReasons: [...closeReasons],
      p50Ms: round(percentile(all, 50)),
      p99Ms: round(percentile(all, 99)),
      maxMs: round(all.length ? all[all.length - 1] : null),
      publishP50Ms: round(percentile(publishMs, 50)),
      serverCpuMsPerMessage: round(serverCpuMs / params.fanoutMessages),
      clientsCpuMsPerMessage: round((clientsCpu.user + clientsCpu.system) / 1000 / params.fanoutMessages),
      publishMaxMs: round(publishMs.at(-1) ?? null),
      // Per recorded message, when its last subscriber had it (ms after the PUBLISH was sent).
      lastDeliveryMs: Array.from({ length: params.fanoutMessages }, (_, i) =>
        round(Math.max(...results.map((r) => r.lastPerSeq[i]))),
      ),
    };
  } finally {
    admin.disconnect();
    await Promise.all(
      workers.map(async (w) => {
        if (!(await waitWorkerExit(w, 10_000))) await w.terminate();
        live.delete(w);
      }),
    );
    await stopServer(srv);
  }
}

/** Resolves true when the worker has exited, or false after ms. */
function waitWorkerExit(w, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    w.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
    if (w.threadId === -1) {
      clearTimeout(timer);
      resolve(true);
    }
  });
}

async function fanoutSection(params, kvwsCmd) {
  if (kvwsCmd.overridden) return { skipped: 'KVWS_BENCH_CMD is set, and the WebSocket gateway is kvws’s own' };
  const need = Math.max(...params.fanoutSubscribers) + 256;
  const limit = openFilesLimit();
  if (limit !== null && limit < need)
    throw new Error(`the open files limit is ${limit}, the subscribers need ${need} (raise it: ulimit -n ${need})`);
  // Other work on the machine moves these latencies a lot: the load average before the section is kept with them.
  const loadAverage = loadavg()[0];
  const tlsFiles = await makeTlsFiles();
  const problems = [];
  const out = {};
  try {
    for (const n of params.fanoutSubscribers) {
      out[n] = {};
      for (const t of FANOUT_TARGETS) {
        try {
          out[n][t.key] = await fanoutRun(params, t, n, tlsFiles, problems);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          problems.push(`${t.label}, ${n} subscribers: ${msg}`);
          out[n][t.key] = { error: msg };
        } finally {
          await stopAll();
        }
      }
    }
    return { ...out, openFilesLimit: limit, loadAverage, problems };
  } finally {
    rmSync(tlsFiles.dir, { recursive: true, force: true });
    tempDirs.delete(tlsFiles.dir);
  }
}

// Gateway section.

/** The gateway section's load targets, in the order they run in a round (reversed every other round). */
const GATEWAY_TARGETS = [
  { key: 'direct', label: 'direct, an ioredis Cluster per connection' },
  { key: 'directShared', label: 'direct, one shared ioredis Cluster' },
  { key: 'gateway', label: 'through kvws, an ioredis Redis per connection' },
];

/**
 * Starts one Redis Cluster node (a redis-server with cluster-enabled in a new temporary directory, which holds
 * its nodes.conf) on free loopback ports; returns it as startServer does, once it answers PING.
 */
async function startClusterNode(label) {
  for (let attempt = 1; ; attempt++) {
    // The cluster bus port is chosen too: Redis's default, port + 10000, may be taken or out of range.
    const busPort = await freePort();
    const args = ['--cluster-enabled', 'yes', '--cluster-port', String(busPort)];
    args.push('--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS));
    try {
      return await startServer('redis', null, label, null, args);
    } catch (err) {
      if (!/address already in use/i.test(String(err?.message)) || attempt >= 3) throw err;
    }
  }
}

/**
 * Starts a Redis Cluster of `masters` masters without replicas (redis-cli --cluster create) and waits until every
 * node says cluster_state:ok, knows every node and sees all 16384 slots assigned. Returns the nodes (startServer's
 * objects, stopped by stopAll). Throws, with redis-cli's or the nodes' output, if the cluster does not form
 * within CLUSTER_READY_TIMEOUT_MS.
 */
async function startRedisCluster(masters) {
  const nodes = [];
  for (let i = 1; i <= masters; i++) nodes.push(await startClusterNode(`redis-cluster-${i}`));
  const create = ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`)];
  create.push('--cluster-replicas', '0', '--cluster-yes');
  const r = await runProcess('redis-cli', create, CLUSTER_READY_TIMEOUT_MS);
  if (r.code !== 0) {
    const out = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-LOG_TAIL_LINES).join('\n');
    throw new Error(`redis-cli --cluster create failed (${r.signal ?? `exit ${r.code}`})\n${out}`);
  }
  const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
  const clients = nodes.map((n) => connect(n.port));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    for (;;) {
      const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO')));
      const ok = (info) =>
        /^cluster_state:ok\r?$/m.test(info) &&
        new RegExp(`^cluster_known_nodes:${masters}\\r?$`, 'm').test(info) &&
        /^cluster_slots_assigned:16384\r?$/m.test(info);
      if (infos.every(ok)) return nodes;
      for (const n of nodes) assertAlive(n);
      if (Date.now() > deadline) {
        const states = infos.map((info, i) => `${nodes[i].label}: ${/^cluster_state:(\S+)/m.exec(info)?.[1]}`);
        throw new Error(`the cluster was not ready within ${CLUSTER_READY_TIMEOUT_MS} ms (${states.join(', ')})`);
      }
      await sleep(100);
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** Returns an ioredis Cluster client of the given nodes that sends each command as it comes (no auto-pipelining). */
function connectCluster(nodes) {
  return new Cluster(
    nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    {
      lazyConnect: true,
      enableAutoPipelining: false,
      scaleReads: 'master',
      clusterRetryStrategy: () => null,
      redisOptions: {
        enableReadyCheck: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 10_000,
        commandTimeout: COMMAND_TIMEOUT_MS,
      },
    },
  );
}

/**
 * Runs the gateway section's load for durationMs: each of `callers` (ioredis clients; the same client may appear
 * several times) has at most one command in flight, a GET or a SET (even odds) of a random key among GATEWAY_KEYS
 * (`key:%010d`, the value of key i always valueFor(i), so every GET reply is checked). Without `rate`, each sends
 * its next command as soon as the last one is answered (a closed loop); with `rate` (requests/s over all
 * callers), each sends on its own schedule, one command every callers.length / rate seconds from a random phase,
 * or at once when it is behind. Each request is timed with process.hrtime from just before the call to its
 * reply. `procs` are the server processes whose CPU time is read before and after. Returns { ops, errors,
 * firstError, elapsedMs, rps, p50Ms, p99Ms, benchCpuPct, cpuPct: { label: % } } (CPU as a percentage of one CPU
 * over the run).
 */
async function gatewayLoad(callers, durationMs, procs, rate = null) {
  const latencies = [];
  let errors = 0;
  let firstError = null;
  const cpu0 = procs.map((p) => cpuMs(p.pid));
  const bench0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(durationMs) * 1_000_000n;
  const intervalNs = rate ? (callers.length / rate) * 1e9 : 0;
  const worker = async (c) => {
    let next = start + BigInt(Math.floor(Math.random() * intervalNs));
    while (process.hrtime.bigint() < end) {
      if (rate) {
        const waitNs = next - process.hrtime.bigint();
        if (waitNs > 0n) await sleep(Number(waitNs) / 1e6);
        if (process.hrtime.bigint() >= end) break;
        next += BigInt(Math.round(intervalNs));
      }
      const i = Math.floor(Math.random() * GATEWAY_KEYS);
      const set = Math.random() < 0.5;
      const t0 = process.hrtime.bigint();
      try {
        const reply = set ? await c.set(keyName(i), valueFor(i)) : await c.get(keyName(i));
        latencies.push(Number(process.hrtime.bigint() - t0));
        if (reply !== (set ? 'OK' : valueFor(i))) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
      } catch (err) {
        errors++;
        firstError ??= `${set ? 'SET' : 'GET'} ${keyName(i)}: ${err instanceof Error ? err.message : err}`;
        // A dead connection fails at once; do not spin on it.
        if (errors > 1000) return;
      }
    }
  };
  await Promise.all(callers.map(worker));
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  const bench = process.cpuUsage(bench0);
  const cpuPct = Object.fromEntries(
    procs.map((p, i) => [p.label, Math.round(((cpuMs(p.pid) - cpu0[i]) * 100) / elapsedMs)]),
  );
  const sorted = Float64Array.from(latencies).sort();
  const ms = (ns) => (ns === null ? null : Math.round(ns / 1e3) / 1e3);
  return {
    ops: latencies.length,
    errors,
    firstError,
    elapsedMs: Math.round(elapsedMs),
    rps: (latencies.length * 1000) / elapsedMs,
    p50Ms: ms(percentile(sorted, 50)),
    p99Ms: ms(percentile(sorted, 99)),
    benchCpuPct: Math.round(((bench.user + bench.system) / 1e3 / elapsedMs) * 100),
    cpuPct,
  };
}

async function gatewaySection(params, kvwsCmd) {
  if (kvwsCmd.overridden) return { skipped: 'KVWS_BENCH_CMD is set, and the Redis engine is kvws’s own' };
  const loadAverage = loadavg()[0];
  const nodes = await startRedisCluster(GATEWAY_MASTERS);
  const engine = `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  const kvws = await startServer('kvws', null, 'kvws-gateway', null, ['--engine', engine]);
  const problems = [];
  const clients = [];
  const track = (c) => {
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  try {
    // With its default notify-keyspace-events (empty), kvws turns no notifications on in the cluster: the
    // direct runs share the cluster with an idle gateway. Checked, since notifications would cost both.
    const admin = track(connect(nodes[0].port));
    await admin.connect();
    const notify = (await admin.call('CONFIG', 'GET', 'notify-keyspace-events'))[1];
    if (notify !== '') problems.push(`notify-keyspace-events is "${notify}" on the cluster, not empty`);
    // Every key exists before the runs, so each GET has a value to check.
    const loader = track(connectCluster(nodes));
    await loader.connect();
    const t0 = Date.now();
    for (let i = 0; i < GATEWAY_KEYS; i += BATCH) {
      const sets = [];
      for (let j = i; j < Math.min(GATEWAY_KEYS, i + BATCH); j++) sets.push(loader.set(keyName(j), valueFor(j)));
      await Promise.all(sets);
    }
    console.error(`[bench]   ${GATEWAY_KEYS} keys loaded in ${Date.now() - t0} ms`);

    const n = params.gatewayConnections;
    const callers = {
      direct: Array.from({ length: n }, () => track(connectCluster(nodes))),
      directShared: Array(n).fill(track(connectCluster(nodes))),
      gateway: Array.from({ length: n }, () => track(connect(kvws.port))),
    };
    await Promise.all([...new Set(Object.values(callers).flat())].map((c) => c.connect()));
    const procs = [kvws, ...nodes];
    const run = async (t, ms, what, rate = null) => {
      console.error(`[bench]   ${what}: ${t.label}${rate ? ` at ${rate} requests/s` : ''}`);
      const r = await gatewayLoad(callers[t.key], ms, procs, rate);
      for (const srv of procs) assertAlive(srv);
      if (r.errors > 0) {
        problems.push(`${what}, ${t.label}: ${r.errors} errors, the first: ${r.firstError}`);
        return null;
      }
      return r;
    };
    // Warm-up, not recorded: kvws, ioredis and the load loop run on a JIT.
    for (const t of GATEWAY_TARGETS) await run(t, params.gatewayWarmupS * 1000, 'warm-up');
    // ROUNDS rounds over the targets, in reverse order every other round (direct, gateway, gateway, direct…), so
    // that drift on the shared machine does not always favour one. Reported per target: the run with the median
    // rps (closed loop), or with the median p50 (paced: every run has about the same rps).
    const rounds = async (what, rate) => {
      const runs = Object.fromEntries(GATEWAY_TARGETS.map((t) => [t.key, []]));
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? GATEWAY_TARGETS : [...GATEWAY_TARGETS].reverse();
        for (const t of order) {
          runs[t.key].push(await run(t, params.gatewayDurationS * 1000, `${what} round ${round + 1}`, rate));
        }
      }
      const rows = Object.fromEntries(
        Object.entries(runs).map(([key, rs]) => [key, rate ? medianBy(rs, 'p50Ms') : medianRow(rs)]),
      );
      for (const [key, row] of Object.entries(rows)) if (!row) problems.push(`${what}: no ${key} result`);
      const p50Ratio = (a, b) => (a?.p50Ms != null && b?.p50Ms ? a.p50Ms / b.p50Ms : null);
      const ratios = {
        rps: rpsRatio(rows.gateway, rows.direct),
        p50: p50Ratio(rows.gateway, rows.direct),
        rpsShared: rpsRatio(rows.gateway, rows.directShared),
        p50Shared: p50Ratio(rows.gateway, rows.directShared),
      };
      return { rate, rows, ratios, runs };
    };
    // Closed loop: each connection sends as soon as it is answered, so the machine is saturated and p50 follows
    // from the rate (Little's law: p50 ≈ connections / rps).
    const load = await rounds('closed loop', null);
    // Paced: the same connections at a fixed total rate, well within every target's capacity, so the p50s compare
    // the time a request takes at the same load (a fixed figure, so that runs can be compared with each other).
    const paced = await rounds('paced', GATEWAY_PACED_RATE);

    // Secondary: redis-benchmark -c 50 through kvws, and in cluster mode against the cluster itself.
    const cluster = { ...nodes[0], label: 'redis-cluster' };
    const rbArgs = ['-r', String(GATEWAY_KEYS), '-d', String(VALUE_BYTES)];
    const bench = (srv) => {
      const args = srv === cluster ? ['--cluster', ...rbArgs] : rbArgs;
      return redisBenchmark(srv, 1, params.gatewayRequests, GATEWAY_BENCH_TESTS, args);
    };
    for (const srv of [cluster, kvws]) await bench(srv);
    const rb = { cluster: [], kvws: [] };
    const rbTargets = Object.entries({ cluster, kvws });
    for (let round = 0; round < ROUNDS; round++) {
      for (const [key, srv] of round % 2 === 0 ? rbTargets : [...rbTargets].reverse()) {
        const x = await bench(srv);
        if (x.problem) problems.push(x.problem);
        rb[key].push(x);
      }
    }
    const rbMed = { cluster: medianRows(rb.cluster), kvws: medianRows(rb.kvws) };
    const redisBenchmarkRows = Object.fromEntries(
      GATEWAY_BENCH_TESTS.map((t) => {
        const name = t.toUpperCase();
        const c = rbMed.cluster[name] ?? null;
        const k = rbMed.kvws[name] ?? null;
        if (!c || !k) problems.push(`no redis-benchmark result for ${name}`);
        return [name, { cluster: c, kvws: k, ratio: rpsRatio(k, c) }];
      }),
    );
    return { load, paced, redisBenchmark: redisBenchmarkRows, loadAverage, problems };
  } finally {
    for (const c of clients) c.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Eviction section.

/** mulberry32: a small seeded PRNG, so that both servers get the same request sequence. */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` requests over `keys` keys with Zipf(`s`) popularity: rank r (1-based) has weight 1/r^s. Ranks are
 * spread over the key ids (rank r → id (r × 7919) mod keys) so that popularity is unrelated to names.
 */
function zipfSequence(keys, s, n, seed) {
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let r = 1; r <= keys; r++) {
    sum += 1 / r ** s;
    cdf[r - 1] = sum;
  }
  const rand = seededRandom(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const x = rand() * sum;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    out[i] = ((lo + 1) * 7919) % keys;
  }
  return out;
}

function evictionKey(id) {
  return `ev:${String(id).padStart(8, '0')}`;
}

/**
 * Cache-aside over seq[from..to): pipelines of EVICTION_BATCH GETs, then the SETs of their misses. With
 * `held`, DBSIZE is pushed onto it every EVICTION_SAMPLE_BATCHES pipelines. Returns the GETs that hit.
 */
async function cacheAside(client, seq, from, to, held = null) {
  let hits = 0;
  let batches = 0;
  for (let i = from; i < to; i += EVICTION_BATCH) {
    const end = Math.min(to, i + EVICTION_BATCH);
    const gets = client.pipeline();
    for (let j = i; j < end; j++) gets.get(evictionKey(seq[j]));
    const res = await gets.exec();
    checkPipeline(res, 'GET');
    const sets = client.pipeline();
    let misses = 0;
    for (let j = i; j < end; j++) {
      if (res[j - i][1] === null) {
        sets.set(evictionKey(seq[j]), EVICTION_VALUE);
        misses++;
      } else hits++;
    }
    if (misses > 0) checkPipeline(await sets.exec(), 'SET');
    if (held !== null && ++batches % EVICTION_SAMPLE_BATCHES === 0) held.push(await client.dbsize());
  }
  return hits;
}

/** INFO `section`'s fields, by name. */
async function infoFields(client, section) {
  const out = {};
  for (const line of (await client.info(section)).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * The hit ratio of the sequence on `srv` under `policy`, with the maxmemory that makes it hold
 * `evictionCapacity` of the keys: first the used_memory it reports with that many keys loaded; then each run
 * (from an empty cache: the whole sequence, the warm-up not counted) measures the keys it held (DBSIZE,
 * averaged over the counted part), and while that is off by more than EVICTION_CALIBRATION_TOLERANCE the
 * limit is scaled (its part above the empty server's used_memory) and the run repeated, at most 3 times.
 * Returns the last run, with the steps taken.
 */
async function hitRatioRun(srv, policy, seq, params) {
  const client = connect(srv.port);
  try {
    await client.connect();
    const warmup = Math.floor(seq.length * params.evictionWarmup);
    const capacity = Math.round(params.evictionKeys * params.evictionCapacity);
    await client.config('SET', 'maxmemory', '0');
    await client.config('SET', 'maxmemory-policy', policy);
    await client.flushall();
    const baseline = Number((await infoFields(client, 'memory')).used_memory);
    for (let i = 0; i < capacity; i += BATCH) {
      const p = client.pipeline();
      for (let id = i; id < Math.min(capacity, i + BATCH); id++) p.set(evictionKey(id), EVICTION_VALUE);
      checkPipeline(await p.exec(), 'SET');
    }
    let maxmemory = Number((await infoFields(client, 'memory')).used_memory);
    const steps = [];
    let run = null;
    for (let step = 0; step <= 3; step++) {
      await client.flushall();
      await client.config('SET', 'maxmemory', String(maxmemory));
      await client.config('RESETSTAT');
      console.error(`[bench]   ${srv.label} ${policy}: ${seq.length} requests, maxmemory ${maxmemory}`);
      const started = performance.now();
      await cacheAside(client, seq, 0, warmup);
      const held = [];
      const hits = await cacheAside(client, seq, warmup, seq.length, held);
      const seconds = (performance.now() - started) / 1000;
      const keysHeld = held.length > 0 ? held.reduce((a, b) => a + b, 0) / held.length : await client.dbsize();
      const stats = await infoFields(client, 'stats');
      assertAlive(srv);
      run = {
        maxmemory,
        requests: seq.length - warmup,
        hits,
        hitRatio: hits / (seq.length - warmup),
        keysHeld,
        keysHeldMin: Math.min(...held),
        keysHeldMax: Math.max(...held),
        evictedKeys: Number(stats.evicted_keys),
        seconds,
      };
      steps.push({ maxmemory, keysHeld, hitRatio: run.hitRatio });
      if (Math.abs(keysHeld - capacity) <= capacity * EVICTION_CALIBRATION_TOLERANCE) break;
      maxmemory = Math.round(baseline + ((maxmemory - baseline) * capacity) / keysHeld);
    }
    await client.config('SET', 'maxmemory', '0');
    await client.flushall();
    return { ...run, baseline, calibration: steps };
  } finally {
    client.disconnect();
  }
}

async function evictionSection(params, kvwsCmd) {
  if (kvwsCmd.overridden) return { skipped: 'KVWS_BENCH_CMD is set (the maxmemory flags are kvws’s own)' };
  const problems = [];
  const seq = zipfSequence(params.evictionKeys, params.evictionZipf, params.evictionRequests, EVICTION_SEED);
  const hitRatio = {};
  const redis = await startServer('redis');
  const kvws = await startServer('kvws');
  for (const policy of params.evictionPolicies) {
    const r = await hitRatioRun(redis, policy, seq, params);
    const k = await hitRatioRun(kvws, policy, seq, params);
    hitRatio[policy] = { redis: r, kvws: k, difference: k.hitRatio - r.hitRatio };
  }
  await stopAll();

  // Throughput while evicting: every server gets the same redis-benchmark passes, interleaved.
  const extra = ['-r', String(EVICTION_THROUGHPUT_KEYSPACE), '-d', '100'];
  const limit = ['--maxmemory', String(params.evictionThroughputMaxmemory)];
  const targets = [
    { key: 'kvws', kind: 'kvws', args: [] },
    { key: 'kvwsLru', kind: 'kvws', args: [...limit, '--maxmemory-policy', 'allkeys-lru'] },
    { key: 'kvwsLfu', kind: 'kvws', args: [...limit, '--maxmemory-policy', 'allkeys-lfu'] },
    { key: 'redis', kind: 'redis', args: [] },
    { key: 'redisLru', kind: 'redis', args: [...limit, '--maxmemory-policy', 'allkeys-lru'] },
  ];
  const servers = {};
  for (const t of targets) servers[t.key] = await startServer(t.kind, null, `${t.kind} (${t.key})`, null, t.args);
  // Warm-up pass, not recorded: it also fills the limited servers, so that the recorded runs evict.
  for (const t of targets) await redisBenchmark(servers[t.key], 16, params.requests, ['set', 'get'], extra);
  const throughput = {};
  for (const p of PIPELINES) {
    const runs = Object.fromEntries(targets.map((t) => [t.key, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets) {
        runs[t.key].push(await redisBenchmark(servers[t.key], p, params.requests, ['set', 'get'], extra));
      }
    }
    for (const list of Object.values(runs)) for (const x of list) if (x.problem) problems.push(x.problem);
    const med = Object.fromEntries(targets.map((t) => [t.key, medianRows(runs[t.key])]));
    throughput[`P${p}`] = Object.fromEntries(
      ['SET', 'GET'].map((test) => {
        const v = Object.fromEntries(targets.map((t) => [t.key, med[t.key][test] ?? null]));
        return [
          test,
          {
            ...v,
            ratioLru: rpsRatio(v.kvwsLru, v.kvws),
            ratioLfu: rpsRatio(v.kvwsLfu, v.kvws),
            ratioRedis: rpsRatio(v.redisLru, v.redis),
          },
        ];
      }),
    );
  }
  const evicted = {};
  for (const t of targets) {
    const c = connect(servers[t.key].port);
    try {
      await c.connect();
      const st = await infoFields(c, 'stats');
      evicted[t.key] = { evictedKeys: Number(st.evicted_keys), keys: await c.dbsize() };
    } finally {
      c.disconnect();
    }
    if (t.args.length > 0 && !(evicted[t.key].evictedKeys > 0)) problems.push(`${t.key} evicted nothing`);
  }
  for (const [p, tests] of Object.entries(throughput)) {
    for (const [test, v] of Object.entries(tests)) {
      if (v.ratioLru === null || v.ratioLfu === null) problems.push(`no throughput figure for ${test} ${p}`);
    }
  }
  return {
    hitRatio,
    throughput,
    evicted,
    capacityKeys: Math.round(params.evictionKeys * params.evictionCapacity),
    problems,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Login storm section.

/**
 * `callers` (ioredis clients) each keep one GET of a random key of STORM_KEYS in flight for durationMs, every
 * reply checked, each timed with process.hrtime. Returns { ops, errors, firstError, rps, p50Ms, p99Ms, cpuPct:
 * { kvws, bench } } (CPU as a percentage of one CPU over the run; kvws's includes its thread pool).
 */
async function getLoad(callers, durationMs, srv) {
  const latencies = [];
  let errors = 0;
  let firstError = null;
  const cpu0 = cpuMs(srv.pid);
  const bench0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(durationMs) * 1_000_000n;
  const worker = async (c) => {
    while (process.hrtime.bigint() < end) {
      const i = Math.floor(Math.random() * STORM_KEYS);
      const t0 = process.hrtime.bigint();
      try {
        const reply = await c.get(keyName(i));
        latencies.push(Number(process.hrtime.bigint() - t0));
        if (reply !== valueFor(i)) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
      } catch (err) {
        errors++;
        firstError ??= `GET ${keyName(i)}: ${err instanceof Error ? err.message : err}`;
        if (errors > 1000) return;
      }
    }
  };
  await Promise.all(callers.map(worker));
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  const bench = process.cpuUsage(bench0);
  const sorted = Float64Array.from(latencies).sort();
  const ms = (ns) => (ns === null ? null : Math.round(ns / 1e3) / 1e3);
  return {
    ops: latencies.length,
    errors,
    firstError,
    rps: (latencies.length * 1000) / elapsedMs,
    p50Ms: ms(percentile(sorted, 50)),
    p99Ms: ms(percentile(sorted, 99)),
    cpuPct: {
      kvws: Math.round(((cpuMs(srv.pid) - cpu0) * 100) / elapsedMs),
      bench: Math.round(((bench.user + bench.system) / 1e3 / elapsedMs) * 100),
    },
  };
}

/** One login on a new TCP connection to port: AUTH user password, the reply line, close. Resolves with the line. */
function loginOnce(port) {
  const cmd = `*3\r\n$4\r\nAUTH\r\n$${STORM_USER.length}\r\n${STORM_USER}\r\n$${STORM_PASSWORD.length}\r\n${STORM_PASSWORD}\r\n`;
  return new Promise((resolve, reject) => {
    const sock = connectTcp({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no reply to AUTH within 60 s'));
    }, 60_000);
    sock.on('connect', () => sock.write(cmd));
    sock.on('data', (d) => {
      text += d.toString('latin1');
      if (!text.endsWith('\r\n')) return;
      clearTimeout(timer);
      sock.destroy();
      resolve(text.slice(0, -2));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Starts n login workers against port, each a loop of loginOnce. Returns { stop }: stop() ends the loops, waits for
 * the logins in flight and resolves with { logins, errors, firstError, elapsedMs, perSecond, p50Ms, p99Ms }.
 */
function startLogins(port, n) {
  let running = true;
  const latencies = [];
  let errors = 0;
  let firstError = null;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (running) {
      const t0 = process.hrtime.bigint();
      try {
        const line = await loginOnce(port);
        if (line !== '+OK') throw new Error(line);
        latencies.push(Number(process.hrtime.bigint() - t0));
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        if (errors > 1000) return;
      }
    }
  };
  const workers = Array.from({ length: n }, worker);
  return {
    async stop() {
      const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
      running = false;
      await Promise.all(workers);
      const sorted = Float64Array.from(latencies).sort();
      const ms = (ns) => (ns === null ? null : Math.round(ns / 1e3) / 1e3);
      return {
        logins: latencies.length,
        errors,
        firstError,
        elapsedMs: Math.round(elapsedMs),
        perSecond: (latencies.length * 1000) / elapsedMs,
        p50Ms: ms(percentile(sorted, 50)),
        p99Ms: ms(percentile(sorted, 99)),
      };
    },
  };
}

/** Sum of the CPU time (ms) of pid's child processes (the hashing process of kvws), 0 when none. */
function childrenCpuMs(pid) {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.reduce((n, k) => n + cpuMs(Number(k)), 0);
  } catch {
    return 0;
  }
}

async function loginStormSection(params, kvwsCmd) {
  if (kvwsCmd.overridden) return { skipped: 'KVWS_BENCH_CMD is set, and argon2 logins are kvws’s own' };
  const loadAverage = loadavg()[0];
  // The default (hashing in a child process at nice 10), and hashing inside the server as before, for reference.
  const targets = [
    { key: 'storm', label: 'kvws', args: [] },
    { key: 'stormInProcess', label: 'kvws --auth-hash-nice 0', args: ['--auth-hash-nice', '0'] },
  ];
  const problems = [];
  const clients = [];
  const track = (c) => {
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  try {
    for (const t of targets) {
      t.srv = await startServer('kvws', null, t.label, null, t.args);
      t.admin = track(connect(t.srv.port));
      await t.admin.connect();
      await t.admin.call('ACL', 'SETUSER', STORM_USER, 'on', `>${STORM_PASSWORD}`, '~*', '+@all');
      for (let i = 0; i < STORM_KEYS; i += BATCH) {
        const p = t.admin.pipeline();
        for (let j = i; j < Math.min(STORM_KEYS, i + BATCH); j++) p.set(keyName(j), valueFor(j));
        checkPipeline(await p.exec(), 'SET');
      }
      const probe = await loginOnce(t.srv.port);
      if (probe !== '+OK') throw new Error(`${t.label}: AUTH ${STORM_USER}: ${probe}`);
      t.callers = Array.from({ length: params.stormConnections }, () => track(connect(t.srv.port)));
      await Promise.all(t.callers.map((c) => c.connect()));
    }
    const stats = async (t) => {
      const info = await t.admin.info('stats');
      const field = (f) => Number(new RegExp(`^${f}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
      return { hashes: field('auth_hashes_total'), rejected: field('auth_queue_full_rejections') };
    };
    const before = await Promise.all(targets.map(stats));
    // kind: 'quiet' (GET alone, on the default server) or a target key (GET during the storm on that server).
    const run = async (kind, ms, what) => {
      const t = kind === 'quiet' ? targets[0] : targets.find((x) => x.key === kind);
      console.error(
        `[bench]   ${what}: GET${kind === 'quiet' ? ' alone' : ` during ${params.stormLogins} logins in flight, ${t.label}`}`,
      );
      let logins = null;
      if (kind !== 'quiet') {
        logins = startLogins(t.srv.port, params.stormLogins);
        await sleep(STORM_RAMP_MS);
      }
      const hasher0 = childrenCpuMs(t.srv.pid);
      const t0 = performance.now();
      const r = await getLoad(t.callers, ms, t.srv);
      r.cpuPct.hasher = Math.round(((childrenCpuMs(t.srv.pid) - hasher0) * 100) / (performance.now() - t0));
      const l = logins ? await logins.stop() : null;
      assertAlive(t.srv);
      if (r.errors > 0) problems.push(`${what}: ${r.errors} GET errors, the first: ${r.firstError}`);
      if (l?.errors) problems.push(`${what}: ${l.errors} login errors, the first: ${l.firstError}`);
      return { ...r, logins: l };
    };
    const kinds = ['quiet', ...targets.map((t) => t.key)];
    for (const k of kinds) await run(k, params.stormWarmupS * 1000, 'warm-up');
    const runs = Object.fromEntries(kinds.map((k) => [k, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const k of round % 2 === 0 ? kinds : [...kinds].reverse()) {
        runs[k].push(await run(k, params.stormDurationS * 1000, `round ${round + 1}`));
      }
    }
    const after = await Promise.all(targets.map(stats));
    const rows = Object.fromEntries(kinds.map((k) => [k, medianBy(runs[k], 'p99Ms')]));
    for (const k of kinds) if (!rows[k]) problems.push(`no median run for ${k}`);
    const ratio = (a, b, f) => (a?.[f] != null && b?.[f] ? a[f] / b[f] : null);
    return {
      quiet: rows.quiet,
      storm: rows.storm,
      stormInProcess: rows.stormInProcess,
      runs,
      ratio: ratio(rows.storm, rows.quiet, 'p99Ms'),
      p50Ratio: ratio(rows.storm, rows.quiet, 'p50Ms'),
      ratioInProcess: ratio(rows.stormInProcess, rows.quiet, 'p99Ms'),
      hashes: after[0].hashes - before[0].hashes + after[1].hashes - before[1].hashes,
      queueFullRejections: after[0].rejected - before[0].rejected + after[1].rejected - before[1].rejected,
      loadAverage,
      problems,
    };
  } finally {
    for (const c of clients) c.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Streams: XADD and XREADGROUP throughput.

/**
 * One redis-benchmark run of the command `argv` (given on its command line: -t does not apply). Returns
 * { row, problem }: the parsed row (null when it did not finish) and, if it timed out or failed, why.
 */
async function redisBenchmarkCommand(srv, pipeline, requests, argv) {
  const timeoutMs = 60_000 + Math.ceil(requests / 2_000) * 1_000;
  const args = ['-h', '127.0.0.1', '-p', String(srv.port), '-n', String(requests), '-c', String(BENCH_CLIENTS)];
  args.push('-P', String(pipeline), '--csv', '-q', ...argv);
  console.error(`[bench]   redis-benchmark ${srv.label} -P ${pipeline} ${argv[0]}`);
  const r = await runProcess('redis-benchmark', args, timeoutMs);
  assertAlive(srv);
  let problem = null;
  if (r.timedOut) problem = `timed out after ${timeoutMs} ms`;
  else if (r.code !== 0) problem = `failed (${r.signal ?? `exit ${r.code}`}): ${r.stderr.trim().split('\n')[0]}`;
  if (problem) problem = `redis-benchmark -P ${pipeline} ${argv[0]} against ${srv.label} ${problem}`;
  const rows = Object.values(parseBenchmarkCsv(r.stdout));
  return { row: rows[0] ?? null, problem };
}

/** Empties the stream of the XADD runs. */
async function resetXadd(srv) {
  const c = connect(srv.port);
  try {
    await c.connect();
    await c.del(STREAMS_XADD_KEY);
  } finally {
    c.disconnect();
  }
}

/**
 * Fills the XREADGROUP runs' stream with `n` entries (IDs 1-1 … n-1, so the same on both servers) and
 * creates group `group` at 0; returns nothing. Throws on an error reply.
 */
async function fillReadStream(srv, n, group) {
  const c = connect(srv.port);
  try {
    await c.connect();
    await c.del(STREAMS_READ_KEY);
    for (let i = 0; i < n; i += BATCH) {
      const p = c.pipeline();
      for (let j = i; j < Math.min(n, i + BATCH); j++) p.xadd(STREAMS_READ_KEY, `${j + 1}-1`, 'field', 'xxx');
      checkPipeline(await p.exec(), `filling ${STREAMS_READ_KEY} on ${srv.label}`);
    }
    await c.xgroup('CREATE', STREAMS_READ_KEY, group, '0');
  } finally {
    c.disconnect();
  }
}

/** A problem when group `group` did not deliver exactly `n` entries (XINFO GROUPS), else null. */
async function checkGroupDelivered(srv, n, group) {
  const c = connect(srv.port);
  try {
    await c.connect();
    const groups = await c.call('XINFO', 'GROUPS', STREAMS_READ_KEY);
    for (const g of groups) {
      const f = {};
      for (let i = 0; i + 1 < g.length; i += 2) f[String(g[i])] = g[i + 1];
      if (String(f.name) !== group) continue;
      const read = Number(f['entries-read']);
      const pending = Number(f.pending);
      if (read === n && pending === n) return null;
      return `XREADGROUP on ${srv.label}: group ${group} read ${read} and has ${pending} pending, expected ${n}`;
    }
    return `XREADGROUP on ${srv.label}: no group ${group}`;
  } finally {
    c.disconnect();
  }
}

/** One run of `test` (XADD or XREADGROUP) against srv, with its set-up and check. Returns { row, problem }. */
async function streamsRun(srv, test, pipeline, n, runId) {
  if (test === STREAMS_ANCHOR) return redisBenchmarkCommand(srv, pipeline, n, ['SET', 'bench:set', 'xxx']);
  if (test === 'XADD') {
    await resetXadd(srv);
    return redisBenchmarkCommand(srv, pipeline, n, ['XADD', STREAMS_XADD_KEY, '*', 'field', 'xxx']);
  }
  const group = `g${runId}`;
  await fillReadStream(srv, n, group);
  const argv = ['XREADGROUP', 'GROUP', group, 'consumer', 'COUNT', '1', 'STREAMS', STREAMS_READ_KEY, '>'];
  const r = await redisBenchmarkCommand(srv, pipeline, n, argv);
  const wrong = r.problem ? null : await checkGroupDelivered(srv, n, group);
  return wrong ? { row: null, problem: wrong } : r;
}

async function streamsSection(params) {
  const redis = await startServer('redis');
  const kvws = await startServer('kvws');
  const n = params.streamsRequests;
  const problems = [];
  let runId = 0;
  // Warm-up pass (the JIT), not recorded; Redis gets the same, for symmetry.
  for (const srv of [redis, kvws]) {
    for (const t of STREAMS_TESTS) {
      const r = await streamsRun(srv, t, 16, n, runId++);
      if (r.problem) problems.push(`warm-up: ${r.problem}`);
    }
  }
  const out = {};
  for (const p of PIPELINES) {
    out[`P${p}`] = {};
    for (const t of [...STREAMS_TESTS, STREAMS_ANCHOR]) {
      const runs = { redis: [], kvws: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const [label, srv] of [
          ['redis', redis],
          ['kvws', kvws],
        ]) {
          const r = await streamsRun(srv, t, p, n, runId++);
          if (r.problem) problems.push(r.problem);
          runs[label].push(r.row);
        }
      }
      const rr = medianRow(runs.redis);
      const kr = medianRow(runs.kvws);
      const ratio = rpsRatio(kr, rr);
      if (ratio === null) problems.push(`no result for ${t} -P ${p}`);
      out[`P${p}`][t] = { redis: rr, kvws: kr, ratio };
    }
  }
  return { ...out, requests: n, problems };
}

/** Appends the streams section's table to lines. */
function renderStreams(res, lines) {
  const p = res.params;
  const st = res.streams;
  lines.push(
    `#### Streams: XADD and XREADGROUP (redis-benchmark, requests/s, ${p.streamsRequests?.toLocaleString('en-US')} requests, ${p.clients} clients, median of 3 interleaved runs after a warm-up run)`,
    '',
  );
  if (st.error) {
    lines.push(`Failed: ${st.error.split('\n')[0]}`, '');
    return;
  }
  lines.push(
    '| Test | Pipeline | Redis | kvws | kvws/Redis | Target (≥ 0.6×) |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  );
  for (const pl of p.pipelines) {
    for (const t of [...STREAMS_TESTS, STREAMS_ANCHOR]) {
      const v = st[`P${pl}`]?.[t];
      const met =
        t === STREAMS_ANCHOR ? '(anchor)' : v?.ratio == null ? '—' : v.ratio >= STREAMS_TARGET ? 'met' : 'not met';
      lines.push(
        `| ${t} | ${pl} | ${fmtInt(v?.redis?.rps)} | ${fmtInt(v?.kvws?.rps)} | ${fmtRatio(v?.ratio)} | ${met} |`,
      );
    }
  }
  lines.push(
    '',
    `XADD: \`XADD ${STREAMS_XADD_KEY} * field xxx\`, the stream deleted before each run. XREADGROUP: \`XREADGROUP GROUP <g> consumer COUNT 1 STREAMS ${STREAMS_READ_KEY} >\` over a stream filled beforehand with one entry per request and a new group per run, so each request delivers one entry and adds it to the pending entries list; every run is checked to have delivered every entry once (XINFO GROUPS). SET (\`SET bench:set xxx\`) runs in the same rounds as an anchor: what kvws gives against Redis for a plain command on the machine at that moment.`,
  );
  if (st.problems?.length) lines.push('', ...st.problems.map((x) => `- ${x.split('\n')[0]}`));
  lines.push('');
}

// ---------------------------------------------------------------------------------------------------------
// Report.

async function machineInfo(kvwsCmd) {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {}
  const rv = await runProcess('redis-server', ['--version'], 10_000);
  const redisVersion = /v=(\S+)/.exec(rv.stdout)?.[1] ?? 'unknown';
  const git = await runProcess('git', ['rev-parse', '--short', 'HEAD'], 10_000);
  let kvwsVersion = 'unknown';
  try {
    kvwsVersion = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  } catch {}
  return {
    cpus: availableParallelism(),
    cpuModel: cpu,
    totalMemoryBytes: totalmem(),
    node: process.version,
    redisServer: redisVersion,
    kvws: kvwsVersion,
    gitCommit: git.code === 0 ? git.stdout.trim() : null,
    kvwsCommand: kvwsCmd.overridden ? kvwsCmd.template : null,
  };
}

const fmtInt = (x) => (x === null || x === undefined ? '—' : Math.round(x).toLocaleString('en-US'));
const fmtRatio = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}×`);
const fmtMs = (x) => (x === null || x === undefined ? '—' : `${x}`);
const fmtSec = (ms) => (ms === null || ms === undefined ? '—' : (ms / 1000).toFixed(2));
const fmtMb = (b) => (b === null || b === undefined ? '—' : (b / 2 ** 20).toFixed(1));

function renderMarkdown(res) {
  const m = res.machine;
  const p = res.params;
  const lines = [];
  lines.push(`### Run of ${res.date.slice(0, 10)} (${p.mode})`, '');
  lines.push('| Machine | |', '| --- | --- |');
  lines.push(`| CPU | ${m.cpuModel}, ${m.cpus} logical CPUs |`);
  lines.push(`| Memory | ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB |`);
  lines.push(`| Node | ${m.node} |`);
  lines.push(`| redis-server | ${m.redisServer} |`);
  lines.push(`| kvws | ${m.kvws}${m.gitCommit ? ` (${m.gitCommit})` : ''} |`);
  if (m.kvwsCommand) lines.push(`| kvws command | \`${m.kvwsCommand.replaceAll('|', '\\|')}\` (KVWS_BENCH_CMD) |`);
  lines.push('');

  if (res.throughput !== undefined) {
    lines.push(
      `#### Throughput (redis-benchmark, requests/s, ${p.requests.toLocaleString('en-US')} requests, ${p.clients} clients, median of 3 runs after a warm-up run)`,
      '',
    );
    if (res.throughput?.error) lines.push(`Failed: ${res.throughput.error.split('\n')[0]}`);
    else if (res.throughput) {
      const head = ['Test'];
      for (const pl of p.pipelines) head.push(`Redis -P ${pl}`, `kvws -P ${pl}`, `kvws/Redis -P ${pl}`);
      lines.push(`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
      for (const t of p.tests.map((x) => x.toUpperCase())) {
        const cells = [t];
        for (const pl of p.pipelines) {
          const v = res.throughput[`P${pl}`]?.[t];
          cells.push(fmtInt(v?.redis?.rps), fmtInt(v?.kvws?.rps), fmtRatio(v?.ratio));
        }
        lines.push(`| ${cells.join(' | ')} |`);
      }
      if (res.throughput.problems?.length) lines.push('', ...res.throughput.problems.map((x) => `- ${x}`));
    }
    lines.push('');
  }

  if (res.acl !== undefined) {
    lines.push(
      `#### ACL check cost (redis-benchmark, requests/s, ${p.requests.toLocaleString('en-US')} requests, ${p.clients} clients, median of 3 runs after a warm-up run)`,
      '',
    );
    const acl = res.acl;
    if (acl?.error) lines.push(`Failed: ${acl.error.split('\n')[0]}`);
    else if (acl) {
      lines.push(
        '| Test | Pipeline | Redis default | Redis restricted | Redis restricted/default | kvws default | kvws restricted | kvws restricted/default | kvws/Redis restricted |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const pl of p.pipelines) {
        for (const t of (p.aclTests ?? []).map((x) => x.toUpperCase())) {
          const v = acl[`P${pl}`]?.[t];
          lines.push(
            `| ${t} | ${pl} | ${fmtInt(v?.redisDefault?.rps)} | ${fmtInt(v?.redisRestricted?.rps)} | ${fmtRatio(v?.redisCost)} | ${fmtInt(v?.kvwsDefault?.rps)} | ${fmtInt(v?.kvwsRestricted?.rps)} | ${fmtRatio(v?.kvwsCost)} | ${fmtRatio(v?.ratio)} |`,
          );
        }
      }
      lines.push(
        '',
        `Restricted: redis-benchmark \`--user ${ACL_USER} -a ${ACL_PASSWORD}\` as \`ACL SETUSER ${p.aclUser}\`, the same on both servers; default: the unrestricted default user, in the same interleaved rounds. ` +
          'kvws skips the check for a user allowed every command, key and channel, so kvws restricted/default is the cost of the check itself. ' +
          'The user is nopass, so no password hashing is measured: redis-benchmark authenticates each of its clients, and kvws hashes passwords with argon2id where Redis uses SHA-256.',
      );
      if (acl.problems?.length) lines.push('', ...acl.problems.map((x) => `- ${x}`));
    }
    lines.push('');
  }

  if (res.memory !== undefined) {
    lines.push(
      `#### Memory per key (${p.memoryKeys.toLocaleString('en-US')} keys \`key:%010d\`, ${p.valueBytes}-byte values)`,
      '',
    );
    if (res.memory?.error) lines.push(`Failed: ${res.memory.error.split('\n')[0]}`);
    else if (res.memory) {
      lines.push(
        '| Keys | Redis RSS B/key | kvws RSS B/key | kvws/Redis (RSS) | Redis used_memory B/key | kvws used_memory B/key |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const [variant, label] of [
        ['plain', 'SET k v'],
        ['ttl', `SET k v EX ${p.ttlSeconds}`],
      ]) {
        const v = res.memory[variant];
        if (!v) continue;
        lines.push(
          `| ${label} | ${fmtInt(v.redis.rssBytesPerKey)} | ${fmtInt(v.kvws.rssBytesPerKey)} | ${fmtRatio(v.ratioRss)} | ${fmtInt(v.redis.usedMemoryBytesPerKey)} | ${fmtInt(v.kvws.usedMemoryBytesPerKey)} |`,
        );
      }
      lines.push('', 'RSS growth of the server process is the comparison; used_memory is each server’s own count.');
    }
    lines.push('');
  }

  if (res.expiry !== undefined) {
    lines.push(
      `#### Expiry lateness (${p.expiryKeys.toLocaleString('en-US')} keys, PEXPIREAT deadlines spread over ${p.expirySpreadMs / 1000} s, \`expired\` keyspace events)`,
      '',
    );
    if (res.expiry?.error) lines.push(`Failed: ${res.expiry.error.split('\n')[0]}`);
    else if (res.expiry) {
      lines.push(
        '| Server | Events received | p50 ms late | p99 ms late | max ms late |',
        '| --- | ---: | ---: | ---: | ---: |',
      );
      for (const [name, v] of [
        ['Redis', res.expiry.redis],
        ['kvws', res.expiry.kvws],
      ]) {
        lines.push(
          `| ${name} | ${fmtInt(v.received)} / ${fmtInt(v.keys)} | ${fmtMs(v.p50Ms)} | ${fmtMs(v.p99Ms)} | ${fmtMs(v.maxMs)} |`,
        );
      }
      const risky = [res.expiry.redis, res.expiry.kvws].some((v) => v.atRisk > 0);
      if (risky) {
        lines.push(
          '',
          `Loading was slower than the deadlines for some keys (Redis ${res.expiry.redis.atRisk}, kvws ${res.expiry.kvws.atRisk}); their events may be missing.`,
        );
      }
    }
    lines.push('');
  }
  if (res.websocket !== undefined) {
    lines.push(
      `#### WebSocket JSON round trips (bench/ws-load.mjs, requests/s, ${p.wsRequests?.toLocaleString('en-US')} requests, ${p.wsConnections} connections, median of 3 runs after a warm-up run)`,
      '',
    );
    const ws = res.websocket;
    if (ws?.error) lines.push(`Failed: ${ws.error.split('\n')[0]}`);
    else if (ws?.skipped) lines.push(`Skipped: ${ws.skipped}.`);
    else if (ws) {
      const fmtLat = (v) => (v?.p50Ms == null ? '—' : `${v.p50Ms.toFixed(2)} / ${v.p99Ms.toFixed(2)}`);
      const rows = [];
      for (const k of p.wsInflight) for (const t of ['SET', 'GET']) rows.push([t, k, ws[`P${k}`]?.[t]]);
      lines.push(
        '| Test | In flight | echo | kvws | kvws/echo | echo TLS | kvws TLS | kvws TLS/echo | kvws TLS/echo TLS | Redis (redis-benchmark -P) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const [t, k, v] of rows) {
        lines.push(
          `| ${t} | ${k} | ${fmtInt(v?.echo?.rps)} | ${fmtInt(v?.kvws?.rps)} | ${fmtRatio(v?.ratio)} | ${fmtInt(v?.echoTls?.rps)} | ${fmtInt(v?.kvwsTls?.rps)} | ${fmtRatio(v?.ratioTls)} | ${fmtRatio(v?.ratioTlsToEchoTls)} | ${fmtInt(v?.redis?.rps)} |`,
        );
      }
      lines.push('', 'Round trip p50 / p99 (ms):', '');
      lines.push(
        '| Test | In flight | echo | kvws | echo TLS | kvws TLS | Redis (redis-benchmark -P) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const [t, k, v] of rows) {
        lines.push(
          `| ${t} | ${k} | ${fmtLat(v?.echo)} | ${fmtLat(v?.kvws)} | ${fmtLat(v?.echoTls)} | ${fmtLat(v?.kvwsTls)} | ${fmtLat(v?.redis)} |`,
        );
      }
      const ratios = rows.map(([, , v]) => v?.ratio).filter((x) => x != null);
      const met = ratios.filter((x) => x >= 0.6).length;
      lines.push(
        '',
        `echo is a bare \`ws\` server sending each frame back (the Node ceiling); kvws parses, runs and answers each request. Target kvws/echo ≥ 0.60× with TLS off: met in ${met} of ${ratios.length}. ` +
          `The load generator (Node, \`ws\`, ${p.wsClientThreads} thread${p.wsClientThreads === 1 ? '' : 's'}) shares the machine's ${m.cpus} CPUs with the server under test. ` +
          'redis-benchmark (-r 10000) is the engine anchor over RESP; its -P 16 sends batches of 16, while ws-load keeps 16 requests in flight on each connection.',
      );
      if (ws.problems?.length) lines.push('', ...ws.problems.map((x) => `- ${x}`));
    }
    lines.push('');
  }
  if (res.http !== undefined) {
    lines.push(
      `#### HTTP API (autocannon, requests/s, ${p.httpConnections} keep-alive connections, ${p.httpDurationS} s runs, median of 3 runs after a ${p.httpWarmupS} s warm-up run)`,
      '',
    );
    const http = res.http;
    if (http?.error) lines.push(`Failed: ${http.error.split('\n')[0]}`);
    else if (http?.skipped) lines.push(`Skipped: ${http.skipped}.`);
    else if (http) {
      const fmtLat = (v) => (v?.p99Ms == null ? '—' : `${v.p50Ms} / ${v.p99Ms}`);
      const tests = (p.httpTests ?? []).map((x) => x.toUpperCase());
      lines.push(
        '| Test | node:http ceiling | kvws | Webdis | kvws/ceiling | kvws/Webdis |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const t of tests) {
        const v = http[t];
        lines.push(
          `| ${t} | ${fmtInt(v?.ceiling?.rps)} | ${fmtInt(v?.kvws?.rps)} | ${fmtInt(v?.webdis?.rps)} | ${fmtRatio(v?.ratioCeiling)} | ${fmtRatio(v?.ratioWebdis)} |`,
        );
      }
      lines.push('', 'Latency p50 / p99 (ms, autocannon’s whole-millisecond resolution):', '');
      lines.push('| Test | node:http ceiling | kvws | Webdis |', '| --- | ---: | ---: | ---: |');
      for (const t of tests) {
        const v = http[t];
        lines.push(`| ${t} | ${fmtLat(v?.ceiling)} | ${fmtLat(v?.kvws)} | ${fmtLat(v?.webdis)} |`);
      }
      const met = (key, target) => {
        const xs = tests.map((t) => http[t]?.[key]).filter((x) => x != null);
        return `met in ${xs.filter((x) => x >= target).length} of ${xs.length}`;
      };
      lines.push(
        '',
        `The ceiling is bench/http-ceiling-server.mjs, a bare \`node:http\` server that reads each request's body and answers \`{"result":"OK"}\` with kvws's content headers; it gets kvws's requests. ` +
          `kvws: \`POST /\` with \`["SET","${p.httpKey}","xxx"]\` or \`["GET","${p.httpKey}"]\`, plain HTTP (--no-tls), as the open default user on loopback (no token); these requests are taken by kvws's fast lane (docs/http-api.md). ` +
          `Webdis${http.webdisVersion ? ` ${http.webdisVersion}` : ''} (2 threads) in front of redis-server: \`GET /SET/${p.httpKey}/xxx\` and \`GET /GET/${p.httpKey}\`. One fixed key everywhere. ` +
          `Targets: kvws/ceiling ≥ 0.80×, ${met('ratioCeiling', 0.8)}; kvws/Webdis ≥ 0.75×, ${met('ratioWebdis', 0.75)}. ` +
          `autocannon (one Node process, one thread) shares the machine's ${m.cpus} CPUs with the server under test (and Webdis with redis-server).`,
      );
      if (http.problems?.length) lines.push('', ...http.problems.map((x) => `- ${x}`));
    }
    lines.push('');
  }
  if (res.persistence !== undefined) renderPersistence(res, lines);
  if (res.fanout !== undefined) renderFanout(res, lines);
  if (res.gateway !== undefined) renderGateway(res, lines);
  if (res.eviction !== undefined) renderEviction(res, lines);
  if (res['login-storm'] !== undefined) renderLoginStorm(res, lines);
  if (res.streams !== undefined) renderStreams(res, lines);
  while (lines.at(-1) === '') lines.pop();
  return lines.join('\n');
}

/** Appends the persistence section's tables to lines. */
function renderPersistence(res, lines) {
  const p = res.params;
  const per = res.persistence;
  lines.push(
    `#### Persistence: append-only file (redis-benchmark, requests/s, ${p.aofRequests?.toLocaleString('en-US')} requests, ${p.clients} clients, median of 3 runs after a warm-up run)`,
    '',
  );
  if (per.error) {
    lines.push(`Failed: ${per.error.split('\n')[0]}`, '');
    return;
  }
  if (per.skipped) {
    lines.push(`Skipped: ${per.skipped}.`, '');
    return;
  }
  const tests = (p.aofTests ?? []).map((x) => x.toUpperCase());
  const everysec = [];
  for (const policy of p.aofPolicies ?? []) {
    const v = per.policies?.[policy];
    lines.push(`\`appendfsync ${policy}\`:`, '');
    if (!v || v.error) {
      lines.push(`Failed: ${(v?.error ?? 'no result').split('\n')[0]}`, '');
      continue;
    }
    const head = ['Test'];
    for (const pl of p.pipelines) head.push(`Redis -P ${pl}`, `kvws -P ${pl}`, `kvws/Redis -P ${pl}`);
    lines.push(`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
    for (const t of tests) {
      const cells = [t];
      for (const pl of p.pipelines) {
        const x = v[`P${pl}`]?.[t];
        cells.push(fmtInt(x?.redis?.rps), fmtInt(x?.kvws?.rps), fmtRatio(x?.ratio));
        if (policy === 'everysec' && x?.ratio != null) everysec.push(x.ratio);
      }
      lines.push(`| ${cells.join(' | ')} |`);
    }
    lines.push(
      '',
      `AOF after the runs: Redis ${fmtMb(v.redis?.aofBytes)} MB, ${v.redis?.aofRewrites ?? '—'} automatic rewrites; kvws ${fmtMb(v.kvws?.aofBytes)} MB, ${v.kvws?.aofRewrites ?? '—'} automatic rewrites.`,
      '',
    );
  }
  const load = per.load;
  lines.push(
    `Load time of ${p.aofLoadKeys?.toLocaleString('en-US')} keys \`key:%010d\` (${p.valueBytes}-byte values, written with \`appendfsync everysec\`), from spawn to the first PONG, median of 3 restarts:`,
    '',
  );
  const loadRatios = [];
  if (!load || load.error) lines.push(`Failed: ${(load?.error ?? 'no result').split('\n')[0]}`);
  else {
    lines.push(
      '| AOF | Redis AOF MB | kvws AOF MB | Redis s | kvws s | kvws/Redis | Redis log s | kvws log s |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [phase, label] of [
      ['empty', 'empty (process start-up alone)'],
      ['incremental', 'incremental records only'],
      ['rewritten', 'after BGREWRITEAOF'],
    ]) {
      const v = load[phase];
      if (!v) continue;
      if (v.ratio != null && phase !== 'empty') loadRatios.push(v.ratio);
      lines.push(
        `| ${label} | ${fmtMb(v.redis?.aofBytes)} | ${fmtMb(v.kvws?.aofBytes)} | ${fmtSec(v.redis?.readyMs)} | ${fmtSec(v.kvws?.readyMs)} | ${fmtRatio(v.ratio)} | ${fmtSec(v.redis?.loggedMs)} | ${fmtSec(v.kvws?.loggedMs)} |`,
      );
    }
    const rw = load.rewritten;
    lines.push(
      '',
      `Spawn to PONG includes starting the process (the empty row: for kvws, Node and its modules); "log s" is each server's own load time from its start-up log. ` +
        `Redis's rewritten AOF has an RDB base (aof-use-rdb-preamble), kvws's a kvws snapshot base. ` +
        `BGREWRITEAOF took ${fmtSec(rw?.redis?.rewriteMs)} s on Redis (forked child) and ${fmtSec(rw?.kvws?.rewriteMs)} s on kvws (in slices on its event loop); ` +
        `filling took ${fmtSec(load.fillMs?.redis)} s and ${fmtSec(load.fillMs?.kvws)} s.`,
    );
  }
  const met = (xs, ok) => `met in ${xs.filter(ok).length} of ${xs.length}`;
  lines.push(
    '',
    `Targets (issue 7): kvws ≥ ${AOF_TARGET_EVERYSEC.toFixed(2)}× Redis's requests/s with \`appendfsync everysec\`, ${met(everysec, (x) => x >= AOF_TARGET_EVERYSEC)}; ` +
      `load time ≤ ${AOF_TARGET_LOAD}× Redis's (incremental and rewritten AOF), ${met(loadRatios, (x) => x <= AOF_TARGET_LOAD)}. ` +
      `Data directories on ${per.filesystem ?? 'an unknown file system'} (${per.tmpdir ?? 'the temporary directory'}); both servers share the machine with redis-benchmark.`,
  );
  if (per.problems?.length) lines.push('', ...per.problems.map((x) => `- ${x.split('\n')[0]}`));
  lines.push('');
}

/** Appends the fan-out section's table to lines. */
function renderFanout(res, lines) {
  const p = res.params;
  const fo = res.fanout;
  lines.push(
    `#### Pub/sub fan-out: one PUBLISH to many subscribers (${p.fanoutMessages} messages after ${p.fanoutWarmup} warm-up messages, each published ${p.fanoutIntervalMs} ms after the previous one reached every subscriber; latency over every delivery)`,
    '',
  );
  if (fo.error) {
    lines.push(`Failed: ${fo.error.split('\n')[0]}`, '');
    return;
  }
  if (fo.skipped) {
    lines.push(`Skipped: ${fo.skipped}.`, '');
    return;
  }
  const names = {
    redis: 'Redis, RESP',
    kvws: 'kvws, WebSocket',
    kvwsTls: 'kvws, WebSocket over TLS',
    floor: 'Node floor, WebSocket',
    floorTls: 'Node floor, WebSocket over TLS',
  };
  const fmtKb = (b) => (b === null || b === undefined ? '—' : (b / 1000).toFixed(1));
  const fmtLat = (x) => (x === null || x === undefined ? '—' : x.toFixed(1));
  lines.push(
    '| Subscribers | Server | Connect + SUBSCRIBE s | Delivered | p50 ms | p99 ms | max ms | Server CPU ms / message | Subscribers’ CPU ms / message | RSS KB / connection | used_memory KB / connection |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const n of p.fanoutSubscribers ?? []) {
    for (const key of ['redis', 'kvws', 'kvwsTls', 'floor', 'floorTls']) {
      const v = fo[n]?.[key];
      if (!v) continue;
      const who = `| ${fmtInt(n)} | ${names[key]} |`;
      if (v.error) {
        lines.push(`${who} failed: ${v.error.split('\n')[0].replaceAll('|', '\\|')} | | | | | | | | |`);
        continue;
      }
      lines.push(
        `${who} ${fmtSec(v.connectMs)} | ${fmtInt(v.received)} / ${fmtInt(v.expected)} | ${fmtLat(v.p50Ms)} | ${fmtLat(v.p99Ms)} | ${fmtLat(v.maxMs)} | ${fmtLat(v.serverCpuMsPerMessage)} | ${fmtLat(v.clientsCpuMsPerMessage)} | ${fmtKb(v.rssBytesPerConnection)} | ${fmtKb(v.usedMemoryBytesPerConnection)} |`,
      );
    }
  }
  const largest = Math.max(...(p.fanoutSubscribers ?? [0]));
  const at = fo[largest] ?? {};
  const verdict = (x, ok, fmt) =>
    x === null || x === undefined ? 'no figure' : `${fmt(x)}, ${ok(x) ? 'met' : 'not met'}`;
  const target = (key) => {
    const v = at[key];
    const lat = verdict(
      v?.p99Ms,
      (x) => x <= FANOUT_TARGET_P99_MS,
      (x) => `p99 ${fmtLat(x)} ms`,
    );
    const mem = verdict(
      v?.rssBytesPerConnection,
      (x) => x <= FANOUT_TARGET_BYTES,
      (x) => `${fmtKb(x)} KB RSS`,
    );
    return `${names[key]}: ${lat}; ${mem}`;
  };
  // The machine's own bound: a delivery costs the server's and the subscribers' CPU, and the last one cannot
  // come before all of it has run on the machine's CPUs (the pauses between messages make this a bound).
  const bound = (key) => {
    const v = at[key];
    if (!v || v.serverCpuMsPerMessage == null || v.clientsCpuMsPerMessage == null) return null;
    return (v.serverCpuMsPerMessage + v.clientsCpuMsPerMessage) / res.machine.cpus;
  };
  const boundText = ['redis', 'floor', 'kvws', 'floorTls', 'kvwsTls']
    .filter((k) => bound(k) !== null)
    .map((k) => `${names[k]} ${fmtLat(bound(k))} ms`)
    .join(', ');
  const targetText =
    largest >= 10_000
      ? `At ${fmtInt(largest)} subscribers, ${target('kvwsTls')}; ${target('kvws')}. For comparison, ${target('floorTls')}; ${target('floor')}; ${target('redis')}.` +
        (boundText
          ? ` Server and subscribers' CPU per message divided by the ${res.machine.cpus} CPUs (a lower bound for the last delivery on this machine): ${boundText}.`
          : '')
      : `Not measured: this run's largest count is ${fmtInt(largest)} subscribers (--quick).`;
  lines.push(
    '',
    `Each message is \`PUBLISH ${FANOUT_CHANNEL} "<seq> <time>"\` from one RESP client, the time read from the machine's monotonic clock just before sending; latency is its arrival at each subscriber minus that time. ` +
      `kvws subscribers are WebSocket connections (\`ws\`, subprotocol \`kvws.v1\`, \`{"id":1,"cmd":["SUBSCRIBE","${FANOUT_CHANNEL}"]}\`), over TLS (a throwaway self-signed P-256 certificate) and without (--no-tls); Redis subscribers are raw TCP sockets sending \`SUBSCRIBE ${FANOUT_CHANNEL}\`. ` +
      `The Node floor is bench/ws-fanout-floor.mjs, a bare \`ws\` pub/sub server with kvws's frames that serializes each message once and writes that one frame to every subscriber's socket (no ACL, event log or limits; its publisher is a WebSocket client): what any Node WebSocket server pays per delivery on this machine. ` +
      `Each row uses a freshly started server (\`--max-clients\`/\`--maxclients ${FANOUT_MAX_CLIENTS}\`). Memory per connection: the growth of the server's RSS, and of its INFO \`used_memory\` (kvws: V8 heap used + external + array buffers, no GC forced), from before connecting to ${FANOUT_SETTLE_MS / 1000} s after the last SUBSCRIBE, divided by the subscribers; KB = 1,000 bytes. ` +
      `CPU per message: the CPU time the server process, and the bench process (its subscriber threads), used from the first recorded PUBLISH to the last delivery, divided by the messages (the ${p.fanoutIntervalMs} ms pauses included; clock-tick resolution for the server). ` +
      `The subscribers run in ${p.fanoutClientThreads} worker threads of the bench process, on the machine's ${res.machine.cpus} CPUs with the server, so latency includes the time they take to read ${fmtInt(largest)} sockets. ` +
      `1-minute load average when the section started: ${fo.loadAverage?.toFixed(2) ?? '—'}.`,
    '',
    `Targets (issue 8): p99 ≤ ${FANOUT_TARGET_P99_MS} ms at 10,000 subscribers and ≤ ${FANOUT_TARGET_BYTES / 1000} KB per idle connection (RSS). ${targetText}`,
  );
  if (fo.problems?.length) lines.push('', ...fo.problems.map((x) => `- ${x.split('\n')[0]}`));
  lines.push('');
}

/** Appends the gateway section's tables to lines. */
function renderGateway(res, lines) {
  const p = res.params;
  const gw = res.gateway;
  lines.push(
    `#### Redis engine: kvws in front of a ${p.gatewayMasters}-master Redis Cluster (${p.gatewayConnections} connections with one request in flight on each, GET/SET 50/50 on ${p.gatewayKeys?.toLocaleString('en-US')} keys, ${p.valueBytes}-byte values; ${p.gatewayDurationS} s runs, median of 3 interleaved rounds after a ${p.gatewayWarmupS} s warm-up run)`,
    '',
  );
  if (gw.error) {
    lines.push(`Failed: ${gw.error.split('\n')[0]}`, '');
    return;
  }
  if (gw.skipped) {
    lines.push(`Skipped: ${gw.skipped}.`, '');
    return;
  }
  const names = {
    direct: 'direct: an ioredis `Cluster` per connection',
    directShared: 'direct: one shared ioredis `Cluster`',
    gateway: 'through kvws: an ioredis `Redis` per connection',
  };
  const fmtLat = (x) => (x === null || x === undefined ? '—' : x.toFixed(2));
  const cpu = (v) => {
    if (!v?.cpuPct) return '—';
    const redis = Object.entries(v.cpuPct)
      .filter(([label]) => label.startsWith('redis-cluster'))
      .reduce((a, [, x]) => a + x, 0);
    return `${v.benchCpuPct} / ${v.cpuPct['kvws-gateway'] ?? '—'} / ${redis}`;
  };
  const loads = [
    ['closed loop', gw.load],
    [`paced, ${fmtInt(gw.paced?.rate)} requests/s`, gw.paced],
  ];
  lines.push(
    '| Load | Client | Requests/s | p50 ms | p99 ms | CPU %: bench / kvws / Redis (3 nodes) |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  );
  for (const [label, l] of loads) {
    if (!l) continue;
    for (const t of GATEWAY_TARGETS) {
      const v = l.rows?.[t.key];
      lines.push(
        `| ${label} | ${names[t.key]} | ${fmtInt(v?.rps)} | ${fmtLat(v?.p50Ms)} | ${fmtLat(v?.p99Ms)} | ${cpu(v)} |`,
      );
    }
  }
  lines.push(
    '',
    '| Load | kvws/direct p50 | kvws/direct requests/s | kvws/shared Cluster p50 | kvws/shared Cluster requests/s |',
    '| --- | ---: | ---: | ---: | ---: |',
  );
  for (const [label, l] of loads) {
    if (!l) continue;
    const r = l.ratios ?? {};
    lines.push(
      `| ${label} | ${fmtRatio(r.p50)} | ${fmtRatio(r.rps)} | ${fmtRatio(r.p50Shared)} | ${fmtRatio(r.rpsShared)} |`,
    );
  }
  lines.push(
    '',
    `redis-benchmark -c ${p.gatewayConnections} -P 1 -r ${p.gatewayKeys} -d ${p.valueBytes} (${p.gatewayRequests?.toLocaleString('en-US')} requests, median of 3 interleaved runs after a warm-up run), requests/s with p50 ms:`,
    '',
    '| Test | Redis Cluster (`--cluster`) | kvws gateway | kvws/Cluster |',
    '| --- | ---: | ---: | ---: |',
  );
  for (const [t, v] of Object.entries(gw.redisBenchmark ?? {})) {
    const cell = (x) => (x?.rps == null ? '—' : `${fmtInt(x.rps)} (${fmtMs(x.p50Ms)})`);
    lines.push(`| ${t} | ${cell(v.cluster)} | ${cell(v.kvws)} | ${fmtRatio(v.ratio)} |`);
  }
  const verdict = (x) =>
    x === null || x === undefined ? 'no figure' : `${fmtRatio(x)}, ${x <= GATEWAY_TARGET_P50 ? 'met' : 'not met'}`;
  lines.push(
    '',
    `The cluster is ${p.gatewayMasters} redis-server masters without replicas on this machine; kvws runs \`serve --engine redis-cluster://…\` (its default \`notify-keyspace-events\`, empty, so no notifications are turned on in the cluster) and keeps one connection per master. ` +
      `All ${p.gatewayConnections} connections (each sends a GET or a SET of a random key and waits for the reply; no pipelining) run in the bench process, timed per request with \`process.hrtime\`. ` +
      `Direct: the application talks to the cluster itself with ioredis (auto-pipelining off), either with a \`Cluster\` client per connection (${p.gatewayConnections} × ${p.gatewayMasters} sockets) or with one shared \`Cluster\` (one socket per master, as the gateway has). ` +
      'Closed loop: each connection sends its next request as soon as it has the reply, so the machine is saturated and p50 is about connections / requests per second (Little’s law): it measures capacity. ' +
      `Paced: the same connections, each sending on its own schedule, ${fmtInt(gw.paced?.rate)} requests/s in all, well below every client’s capacity, so the p50s compare the time a request takes at the same load; the run with the median p50 is shown. ` +
      `Everything shares the machine’s ${res.machine.cpus} CPUs: the gateway adds a Node process to the same cores. 1-minute load average when the section started: ${gw.loadAverage?.toFixed(2) ?? '—'}.`,
    '',
    `Target (Redis engine): through kvws, p50 ≤ ${GATEWAY_TARGET_P50.toFixed(2)}× direct ioredis (a \`Cluster\` per connection) at ${p.gatewayConnections} connections: closed loop ${verdict(gw.load?.ratios?.p50)}; paced ${verdict(gw.paced?.ratios?.p50)}.`,
  );
  if (gw.problems?.length) lines.push('', ...gw.problems.map((x) => `- ${x.split('\n')[0]}`));
  lines.push('');
}

/** Appends the eviction section's tables to lines. */
function renderEviction(res, lines) {
  const p = res.params;
  const ev = res.eviction;
  const capacity = Math.round((p.evictionKeys ?? 0) * (p.evictionCapacity ?? 0));
  lines.push(
    `#### Eviction: kvws as a cache (cache-aside GET/SET, ${p.evictionKeys?.toLocaleString('en-US')} keys with Zipf ${p.evictionZipf} popularity, maxmemory for ${capacity.toLocaleString('en-US')} keys, ${p.evictionRequests?.toLocaleString('en-US')} requests, the first ${Math.round((p.evictionWarmup ?? 0) * 100)}% not counted)`,
    '',
  );
  if (ev.error) {
    lines.push(`Failed: ${ev.error.split('\n')[0]}`, '');
    return;
  }
  if (ev.skipped) {
    lines.push(`Skipped: ${ev.skipped}.`, '');
    return;
  }
  const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(2)}%`);
  const pts = (x) => (x === null || x === undefined ? '—' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`);
  lines.push(
    '| Policy | Redis hit ratio | kvws hit ratio | kvws − Redis (points) | Redis maxmemory / keys held | kvws maxmemory / keys held | Target (kvws ≥ Redis) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const [policy, v] of Object.entries(ev.hitRatio ?? {})) {
    const held = (x) => `${fmtMb(x?.maxmemory)} MB / ${fmtInt(x?.keysHeld)}`;
    lines.push(
      `| ${policy} | ${pct(v.redis?.hitRatio)} | ${pct(v.kvws?.hitRatio)} | ${pts(v.difference)} | ${held(v.redis)} | ${held(v.kvws)} | ${v.difference >= 0 ? 'met' : 'not met'} |`,
    );
  }
  lines.push(
    '',
    'maxmemory is calibrated per server, since each counts memory its own way: first the used_memory each reports with the capacity loaded; each run starts from an empty cache, and while the keys it held (DBSIZE, mean over the counted part: "keys held") are off the capacity by more than 1%, the limit is scaled and the run repeated (at most 3 times). ' +
      'Redis samples (maxmemory-samples 5, its default); kvws evicts the exact least recently used key (allkeys-lru) or the exact lowest LFU counter (allkeys-lfu, Redis’s counter: lfu-log-factor 10, lfu-decay-time 1 on both).',
    '',
    `Throughput while evicting (redis-benchmark -t set,get -r ${EVICTION_THROUGHPUT_KEYSPACE.toLocaleString('en-US')} -d 100 -c ${p.clients}, ${p.requests?.toLocaleString('en-US')} requests, median of 3 interleaved runs after a warm-up run that fills the limited servers; limit: maxmemory ${fmtMb(p.evictionThroughputMaxmemory)} MB), requests/s:`,
    '',
    '| Test | Pipeline | kvws, no limit | kvws allkeys-lru | kvws allkeys-lfu | lru / no limit | lfu / no limit | Redis, no limit | Redis allkeys-lru | Redis lru / no limit |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  const ratios = [];
  for (const pl of p.pipelines) {
    for (const t of ['SET', 'GET']) {
      const v = ev.throughput?.[`P${pl}`]?.[t];
      if (!v) continue;
      ratios.push(v.ratioLru, v.ratioLfu);
      lines.push(
        `| ${t} | ${pl} | ${fmtInt(v.kvws?.rps)} | ${fmtInt(v.kvwsLru?.rps)} | ${fmtInt(v.kvwsLfu?.rps)} | ${fmtRatio(v.ratioLru)} | ${fmtRatio(v.ratioLfu)} | ${fmtInt(v.redis?.rps)} | ${fmtInt(v.redisLru?.rps)} | ${fmtRatio(v.ratioRedis)} |`,
      );
    }
  }
  const known = ratios.filter((x) => x !== null && x !== undefined);
  const met = known.filter((x) => x >= EVICTION_TARGET_THROUGHPUT).length;
  const ev2 = ev.evicted ?? {};
  lines.push(
    '',
    `Keys evicted by the limited servers over the runs: kvws allkeys-lru ${fmtInt(ev2.kvwsLru?.evictedKeys)}, kvws allkeys-lfu ${fmtInt(ev2.kvwsLfu?.evictedKeys)}, Redis allkeys-lru ${fmtInt(ev2.redisLru?.evictedKeys)}. ` +
      `Target: kvws evicting ≥ ${EVICTION_TARGET_THROUGHPUT.toFixed(2)}× kvws without a limit: met in ${met} of ${known.length}.`,
  );
  if (ev.problems?.length) lines.push('', ...ev.problems.map((x) => `- ${x.split('\n')[0]}`));
  lines.push('');
}

/** Appends the login-storm section's table to lines. */
function renderLoginStorm(res, lines) {
  const p = res.params;
  const ls = res['login-storm'];
  lines.push(
    `#### Login storm: GET latency of ${p.stormConnections} clients while ${p.stormLogins} argon2id logins are in flight (closed loop, ${p.stormKeys?.toLocaleString('en-US')} keys, ${p.stormDurationS} s runs, the run with the median p99 of 3 after a ${p.stormWarmupS} s warm-up run of each)`,
    '',
  );
  if (ls.error) {
    lines.push(`Failed: ${ls.error.split('\n')[0]}`, '');
    return;
  }
  if (ls.skipped) {
    lines.push(`Skipped: ${ls.skipped}.`, '');
    return;
  }
  lines.push(
    '| Load | GET requests/s | GET p50 ms | GET p99 ms | p99 / alone | Logins/s | Login p50 ms | Login p99 ms | CPU %: kvws / hashing process / bench |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  const row = (label, r) =>
    `| ${label} | ${fmtInt(r?.rps)} | ${fmtMs(r?.p50Ms)} | ${fmtMs(r?.p99Ms)} | ${r === ls.quiet ? '—' : fmtRatio(r?.p99Ms != null && ls.quiet?.p99Ms ? r.p99Ms / ls.quiet.p99Ms : null)} | ${r?.logins ? fmtInt(r.logins.perSecond) : '—'} | ${fmtMs(r?.logins?.p50Ms)} | ${fmtMs(r?.logins?.p99Ms)} | ${r?.cpuPct?.kvws ?? '—'} / ${r?.cpuPct?.hasher ?? '—'} / ${r?.cpuPct?.bench ?? '—'} |`;
  lines.push(
    row('GET alone', ls.quiet),
    row(`GET during ${p.stormLogins} logins (default: hashing process at nice 10)`, ls.storm),
    row(`GET during ${p.stormLogins} logins, hashing inside the server (\`--auth-hash-nice 0\`)`, ls.stormInProcess),
  );
  const allP99 = (list) => (list ?? []).map((r) => fmtMs(r?.p99Ms)).join(', ');
  lines.push(
    '',
    `Two kvws servers with the default login limits (\`--auth-max-concurrent-hashes 2\`, \`--auth-max-queued 256\`), one hashing in its child process at nice 10 (the default \`--auth-hash-nice 10\`), one on its own thread pool as before (\`--auth-hash-nice 0\`); the user's password is an argon2id hash (m = 19 MiB, t = 2, p = 1). Each of the ${p.stormLogins} login workers opens a TCP connection, sends \`AUTH\`, waits for \`+OK\` and closes, again and again; the GET clients are ioredis connections with one request in flight each. All in one bench process on the same machine as kvws. GET p99 of every run: alone ${allP99(ls.runs?.quiet)}; storm ${allP99(ls.runs?.storm)}; storm, hashing inside the server ${allP99(ls.runs?.stormInProcess)}. argon2id computations during the section: ${fmtInt(ls.hashes)}; logins refused for a full queue: ${fmtInt(ls.queueFullRejections)}. 1-minute load average when the section started: ${ls.loadAverage?.toFixed(2) ?? '—'}.`,
    '',
    `Target (issue 11): GET p99 during the storm ≤ ${STORM_TARGET.toFixed(2)}× GET p99 alone: ${fmtRatio(ls.ratio)}, ${ls.ratio !== null && ls.ratio <= STORM_TARGET ? 'met' : 'not met'} (p50: ${fmtRatio(ls.p50Ratio)}; hashing inside the server: ${fmtRatio(ls.ratioInProcess)}).`,
  );
  if (ls.problems?.length) lines.push('', ...ls.problems.map((x) => `- ${x.split('\n')[0]}`));
  lines.push('');
}

/** Replaces the text between the markers in BENCHMARKS.md (creating the file or the markers if absent). */
function updateBenchmarksMd(markdown) {
  const block = `${MARK_START}\n${markdown}\n${MARK_END}`;
  if (!existsSync(BENCHMARKS_MD)) {
    writeFileSync(BENCHMARKS_MD, `${BENCHMARKS_HEADER}\n${block}\n`);
    return;
  }
  const text = readFileSync(BENCHMARKS_MD, 'utf8');
  const a = text.indexOf(MARK_START);
  const b = text.indexOf(MARK_END);
  if (a >= 0 && b > a) writeFileSync(BENCHMARKS_MD, text.slice(0, a) + block + text.slice(b + MARK_END.length));
  else writeFileSync(BENCHMARKS_MD, `${text.trimEnd()}\n\n${block}\n`);
}

const BENCHMARKS_HEADER = `# Benchmarks

kvws measured against a real \`redis-server\` on the same machine, in the same run. To reproduce:

\`\`\`sh
npm run bench                 # full run, prints Markdown, writes bench/results/latest.json
npm run bench -- --write      # also replaces the figures below
npm run bench -- --quick      # smoke run with smaller counts
npm run bench -- --only persistence   # only the named sections (comma-separated); never --write
\`\`\`

It needs \`redis-server\`, \`redis-cli\` and \`redis-benchmark\` (\`node scripts/test-deps.mjs\` installs them).
What is measured (see the comment at the top of \`bench/run.mjs\` for details); except in the persistence section,
both servers run without persistence (\`redis-server --appendonly no --save ''\`, \`kvws --no-appendonly --save ''\`):

- **Throughput**: \`redis-benchmark\` for SET, GET, INCR, LPUSH, RPOP, SADD, HSET, ZADD with 50 clients, without
  pipelining and with 16 commands per pipeline. Runs alternate between the servers. Client and server share the
  machine, so compare the ratios rather than the absolute numbers.
- **ACL check cost**: SET, GET, INCR and HSET as above, as a restricted user created the same way on both servers
  (\`ACL SETUSER bench on nopass ~key:* ~counter:* ~my* &* +@all -@dangerous\`) and as the unrestricted default
  user, interleaved. kvws restricted/default is the cost of its ACL check; the user is \`nopass\`, so no password
  hashing is measured.
- **Memory per key**: growth of each server process's resident memory (RSS) while loading the keys, divided by the
  number of keys, without and with a TTL, each in a freshly started server. \`INFO memory\` used_memory is shown for
  reference.
- **Expiry lateness**: how long after its PEXPIREAT deadline each key's \`expired\` keyspace event reaches a
  subscriber.
- **WebSocket**: JSON SET/GET round trips over 50 connections with 1 and 16 requests in flight, against a bare
  \`ws\` echo server (the Node ceiling), kvws without and with TLS, and redis-benchmark on \`redis-server\`.
- **HTTP API**: SET/GET requests/s and p99 with autocannon (50 keep-alive connections), against a bare
  \`node:http\` server (the Node ceiling), kvws's HTTP API and Webdis in front of \`redis-server\`.
- **Persistence**: for each \`appendfsync\` policy, \`redis-benchmark\` SET, INCR and LPUSH against both servers with
  their append-only file on; then the time to start again on an AOF of one million keys (incremental records
  only, and after \`BGREWRITEAOF\`), from spawn to the first \`PONG\`.
- **Pub/sub fan-out**: one message published to 1,000 and 10,000 subscribers of one channel (Redis: RESP sockets;
  kvws: WebSocket connections, over TLS and without), each published once the previous one reached every
  subscriber: p50/p99/max delivery latency, and the server's RSS growth per idle subscriber connection. Needs an
  open files limit (\`ulimit -n\`) of at least 10,256.
- **Redis engine (gateway)**: kvws \`serve --engine redis-cluster://…\` in front of a three-master Redis Cluster
  started on the same machine, against ioredis talking to the same cluster directly, in the same interleaved rounds:
  50 connections with one request in flight each, GET/SET 50/50 on 10,000 keys, closed loop and then paced at 2,000
  requests/s; requests/s and p50/p99 per request. \`redis-benchmark -c 50\` against kvws and, with
  \`--cluster\`, against the cluster, as a second figure.
- **Eviction (kvws as a cache)**: hit ratio of a cache-aside workload (GET; on a miss, SET a 100-byte value) over
  100,000 keys with Zipf(0.99) popularity, the same seeded sequence of one million requests for both servers, under
  allkeys-lru and allkeys-lfu. The servers count memory differently, so each gets the maxmemory that makes it hold
  10% of the keys (calibrated by repeating the run until the mean DBSIZE is within 1% of 10,000 keys); the keys
  each held are reported. Then \`redis-benchmark\` SET/GET on a million random keys against kvws without a limit and kvws
  evicting (a 16 MB limit, allkeys-lru and allkeys-lfu), with Redis's own no-limit/evicting pair for reference.
- **Login storm**: GET p50/p99 of 50 ordinary clients (one request in flight each) alone, and while 100 argon2id
  logins are in flight (each a new connection sending \`AUTH\`), against kvws with its default login limits
  (hashing in a child process at nice 10) and, for reference, hashing inside the server process.
`;

// Entry point, last so that every module-level constant above is initialised first.
if (isMainThread) await mainThread();
else if (workerData.role === 'fanout') await fanoutSubscriberThread(workerData);
else await expiryLoader(workerData);
