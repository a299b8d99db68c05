#!/usr/bin/env node
// WebSocket load generator for the kvws JSON frame protocol (docs/protocol.md, subprotocol kvws.v1).
//
//   node bench/ws-load.mjs --url ws://127.0.0.1:PORT/ws [options]
//
//   --url URL          ws:// or wss:// endpoint (required)
//   --command set|get  SET sends {"id":n,"cmd":["SET","key:<n%keys>","xxx"]}, GET {"id":n,"cmd":["GET","key:<n%keys>"]}
//                      (the same commands as redis-benchmark's SET and GET tests; default set)
//   --connections N    WebSocket connections (default 50)
//   --inflight K       requests kept in flight on each connection (default 1)
//   --requests N       requests in total, spread over the connections (default 200000)
//   --keys N           key space size (default 10000)
//   --threads N        worker threads sharing the connections (default 1)
//   --insecure         accept any TLS certificate (self-signed bench certificates)
//   --ca FILE          trust this CA certificate (PEM) for wss://
//   --timeout-ms N     give up after this long, connecting included (default 120000)
//
// All connections are opened first; the clock starts when every one is open. Each connection then sends K
// requests and sends one more for every reply until the total is reached. Round trip = reply arrival -
// request send, per request. Requests sent while handling one chunk of replies leave in one socket write (the
// socket is corked until the next tick), as a pipelining client writes them. Prints one JSON line on stdout:
//   {"rps", "p50Ms", "p99Ms", "requests", "completed", "errors", "firstError", "elapsedMs", ...}
// Exit code 0 if every request got a reply that is not an error, 1 otherwise (the JSON is still printed),
// 2 on bad arguments.
//
// Replies are matched by `id`. The reply's leading `{"id":<n>,` is read straight from the bytes when the
// server writes the id first (kvws and the echo server do), else the frame is JSON-parsed; `{"id":n,"error":…}`
// frames count as errors. An echo server's reply (the request itself) counts as a success.
// The generator runs on the same machine as the server: on a 2-CPU machine they share the cores, so more
// --threads only help while the client, not the server, is the bottleneck.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const SUBPROTOCOL = 'kvws.v1';
const ID_PREFIX = Buffer.from('{"id":');
const ERROR_FIELD = Buffer.from('"error"');

/** Returns the text of request `id` for `command`. */
function frame(command, id, keys) {
  return command === 'get'
    ? `{"id":${id},"cmd":["GET","key:${id % keys}"]}`
    : `{"id":${id},"cmd":["SET","key:${id % keys}","xxx"]}`;
}

/**
 * Reads a reply frame. Returns the id (a number) and whether it is an error, or throws if the frame is not
 * a reply to one of our requests.
 */
function readReply(buf) {
  if (buf.length > ID_PREFIX.length + 1 && buf.compare(ID_PREFIX, 0, ID_PREFIX.length, 0, ID_PREFIX.length) === 0) {
    let i = ID_PREFIX.length;
    let id = 0;
    let digits = 0;
    for (; i < buf.length; i++) {
      const c = buf[i];
      if (c < 48 || c > 57) break;
      id = id * 10 + (c - 48);
      digits++;
    }
    if (digits > 0 && digits < 16 && buf[i] === 44 /* , */) {
      const isError = buf.compare(ERROR_FIELD, 0, ERROR_FIELD.length, i + 1, i + 1 + ERROR_FIELD.length) === 0;
      return { id, error: isError ? String(JSON.parse(buf.toString('utf8')).error) : null };
    }
  }
  const msg = JSON.parse(buf.toString('utf8'));
  if (typeof msg?.id !== 'number') throw new Error(`unexpected frame: ${buf.toString('utf8').slice(0, 200)}`);
  return { id: msg.id, error: 'error' in msg ? String(msg.error) : null };
}

/**
 * One thread's share: opens `connections` sockets, waits for `go`, runs ids [firstId, firstId + requests).
 * Reports { ready } when connected, then { latencies (ms, Float64Array), errors, firstError, start, end }
 * with start/end as epoch milliseconds (performance.timeOrigin + now).
 */
async function runShare(opts, report, go) {
  const { url, command, keys, inflight, firstId, requests, connections, insecure, ca } = opts;
  const sent = new Float64Array(requests);
  const latencies = new Float64Array(requests);
  let completed = 0;
  let issued = 0;
  let errors = 0;
  let firstError = null;
  const sockets = [];
  const wsOpts = {
    perMessageDeflate: false,
    skipUTF8Validation: true,
    rejectUnauthorized: !insecure,
    ...(ca ? { ca } : {}),
  };
  await Promise.all(
    Array.from({ length: connections }, () => {
      const ws = new WebSocket(url, SUBPROTOCOL, wsOpts);
      sockets.push(ws);
      ws.once('upgrade', (res) => {
        ws.rawSocket = res.socket;
      });
      return new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: HTTP ${res.statusCode}`)));
      });
    }),
  );
  report({ ready: true });
  await go;

  let finish;
  let fail;
  const finished = new Promise((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const send = (ws) => {
    const i = issued++;
    sent[i] = performance.now();
    ws.send(frame(command, firstId + i, keys));
  };
  const start = performance.now();
  for (const ws of sockets) {
    // Sends made while handling one chunk of replies go out in one write (the socket is corked until the
    // next tick), as a pipelining client would write them.
    let corked = false;
    const uncork = () => {
      corked = false;
      ws.rawSocket.uncork();
    };
    ws.on('message', (data) => {
      const now = performance.now();
      let reply;
      try {
        reply = readReply(data);
      } catch (err) {
        fail(err);
        return;
      }
      const i = reply.id - firstId;
      if (!(i >= 0 && i < issued) || sent[i] < 0) {
        fail(new Error(`reply with unknown id ${reply.id}`));
        return;
      }
      latencies[completed++] = now - sent[i];
      sent[i] = -1;
      if (reply.error !== null) {
        errors++;
        firstError ??= reply.error;
      }
      if (completed === requests) {
        finish(performance.now());
        return;
      }
      if (issued < requests) {
        if (!corked) {
          corked = true;
          ws.rawSocket.cork();
          process.nextTick(uncork);
        }
        send(ws);
      }
    });
    ws.on('close', (code, reason) => {
      if (completed < requests) fail(new Error(`server closed a connection: ${code} ${reason}`));
    });
    ws.on('error', (err) => fail(err));
    for (let k = 0; k < inflight && issued < requests; k++) send(ws);
  }
  let end;
  try {
    end = await finished;
  } finally {
    for (const ws of sockets) ws.terminate();
  }
  return {
    latencies: latencies.subarray(0, completed),
    completed,
    errors,
    firstError,
    start: performance.timeOrigin + start,
    end: performance.timeOrigin + end,
  };
}

/** Returns the value at percentile p (nearest rank) of an ascending array. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      command: { type: 'string', default: 'set' },
      connections: { type: 'string', default: '50' },
      inflight: { type: 'string', default: '1' },
      requests: { type: 'string', default: '200000' },
      keys: { type: 'string', default: '10000' },
      threads: { type: 'string', default: '1' },
      insecure: { type: 'boolean', default: false },
      ca: { type: 'string' },
      'timeout-ms': { type: 'string', default: '120000' },
    },
  });
  const int = (name, min) => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return v;
  };
  if (!values.url || !/^wss?:\/\//.test(values.url)) throw new Error('--url ws://… or wss://… is required');
  if (values.command !== 'set' && values.command !== 'get') throw new Error('--command must be set or get');
  const o = {
    url: values.url,
    command: values.command,
    connections: int('connections', 1),
    inflight: int('inflight', 1),
    requests: int('requests', 1),
    keys: int('keys', 1),
    threads: int('threads', 1),
    insecure: values.insecure,
    ca: values.ca ? readFileSync(values.ca, 'utf8') : undefined,
    timeoutMs: int('timeout-ms', 1000),
  };
  if (o.threads > o.connections) throw new Error('--threads cannot exceed --connections');
  return o;
}

/** Splits n into `parts` near-equal integers. */
function split(n, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

async function main() {
  let o;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`ws-load: ${err.message}`);
    process.exit(2);
  }
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ error: `timed out after ${o.timeoutMs} ms` }));
    process.exit(1);
  }, o.timeoutMs);

  const conns = split(o.connections, o.threads);
  const reqs = split(o.requests, o.threads);
  const workers = [];
  let results;
  try {
    let firstId = 0;
    const shares = conns.map((c, t) => {
      const share = { ...o, connections: c, requests: reqs[t], firstId };
      firstId += reqs[t];
      return share;
    });
    // Each share runs in a worker thread (one share with --threads 1 runs in this thread, no worker).
    if (o.threads === 1) {
      results = [await runShare(shares[0], () => {}, Promise.resolve())];
    } else {
      const ready = [];
      const done = [];
      for (const share of shares) {
        const w = new Worker(new URL(import.meta.url), { workerData: share });
        workers.push(w);
        let onReady;
        ready.push(new Promise((r) => (onReady = r)));
        done.push(
          new Promise((resolve, reject) => {
            w.on('message', (m) => (m.ready ? onReady() : resolve(m)));
            w.once('error', reject);
            w.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
          }),
        );
      }
      await Promise.race([Promise.all(ready), Promise.all(done)]);
      for (const w of workers) w.postMessage('go');
      results = await Promise.all(done);
    }
  } catch (err) {
    console.log(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    process.exit(1);
  } finally {
    for (const w of workers) w.terminate();
  }
  clearTimeout(timer);

  const completed = results.reduce((a, r) => a + r.completed, 0);
  const all = new Float64Array(completed);
  let at = 0;
  for (const r of results) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  all.sort();
  const start = Math.min(...results.map((r) => r.start));
  const end = Math.max(...results.map((r) => r.end));
  const errors = results.reduce((a, r) => a + r.errors, 0);
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  const out = {
    url: o.url,
    command: o.command,
    connections: o.connections,
    inflight: o.inflight,
    threads: o.threads,
    requests: o.requests,
    completed,
    errors,
    firstError: results.find((r) => r.firstError !== null)?.firstError ?? null,
    elapsedMs: round(end - start),
    rps: Math.round((completed / (end - start)) * 1000),
    p50Ms: round(percentile(all, 50)),
    p99Ms: round(percentile(all, 99)),
    maxMs: round(all.length ? all[all.length - 1] : null),
  };
  console.log(JSON.stringify(out));
  process.exitCode = errors === 0 && completed === o.requests ? 0 : 1;
}

if (isMainThread) await main();
else {
  let go;
  const goP = new Promise((r) => (go = r));
  parentPort.once('message', () => go());
  const r = await runShare(workerData, (m) => parentPort.postMessage(m), goP);
  parentPort.postMessage(r, [r.latencies.buffer]);
}
