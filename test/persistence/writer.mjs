// A write-load generator for the persistence tests, run as a child process so the test can kill the server
// under it, plus (as exports) what the tests need to check a restarted server against its record:
//
//   node test/persistence/writer.mjs --port P --out FILE [--round R] [--conns 4] [--depth 16]
//                                    [--max-ms 30000] [--value-bytes 24]
//
// Each of `conns` ioredis connections sends pipelines of `depth` groups; group number `seq` of connection
// `c` in round `R` is:
//
//   SET u:R:c:seq valueFor(R, c, seq)   a unique key
//   RPUSH list:R:c seq                  one element per group, in order
//   INCR ctr:c                          a counter of this connection (kept across rounds)
//   INCR ctr:shared                     a counter every connection increments
//   MULTI INCR tx:c:a INCR tx:c:b EXEC  a transaction: after any restart tx:c:a == tx:c:b
//
// Every acknowledged reply is appended to FILE (synchronously, as soon as its pipeline's replies are in) as
// one line: `S c seq` (SET), `L c seq` (RPUSH), `I c value` (INCR ctr:c), `G value` (INCR ctr:shared),
// `T c value` (EXEC: the value of tx:c:a), or `E c message` for an error reply (the server refused a
// command). A command whose connection closed before its reply arrived is not acknowledged, not recorded.
//
// The writer stops by itself when every connection has closed (the server was killed) or after `max-ms`,
// and prints `done <acknowledged replies> <connections that ended closed>` on stdout.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';

export const WRITER = fileURLToPath(import.meta.url);

/** The value SET stores in u:round:c:seq. */
export function valueFor(round, c, seq, bytes = 24) {
  const head = `v:${round}:${c}:${seq}:`;
  return head + 'x'.repeat(Math.max(0, bytes - head.length));
}

/**
 * Starts this script as a child process against 127.0.0.1:`port`, recording into `out`. Returns
 * `started()`, which resolves once the record holds `minBytes` (the writer is under way; rejects after
 * 10 s), `done`, which resolves with the exit code and stdout when the writer has stopped, and `kill()`
 * (SIGKILL, for clean-up).
 */
export function startWriter({ port, out, round = 0, conns = 4, depth = 16, maxMs = 30_000, valueBytes = 24 }) {
  const args = ['--port', String(port), '--out', out, '--round', String(round), '--conns', String(conns)];
  args.push('--depth', String(depth), '--max-ms', String(maxMs), '--value-bytes', String(valueBytes));
  const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stdout += d;
  });
  const done = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stdout })));
  const size = () => {
    try {
      return statSync(out).size;
    } catch {
      return 0;
    }
  };
  const started = async (minBytes = 1) => {
    const deadline = Date.now() + 10_000;
    while (size() < minBytes) {
      if (child.exitCode !== null) throw new Error(`the writer exited before writing anything: ${stdout}`);
      if (Date.now() > deadline) throw new Error(`the writer recorded nothing in 10 s: ${stdout}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return { started, done, kill, pid: child.pid };
}

/**
 * What the writers of several rounds had acknowledged, and the check of a server against it. A restarted
 * server must hold every acknowledged SET with its value, every list as `0, 1, …, n-1` with n past the
 * highest acknowledged element (unacknowledged later pushes may be there too: they ran, their replies
 * were lost), every counter at least at its highest acknowledged value, and tx:c:a == tx:c:b.
 */
export class Acknowledged {
  /** key -> value of acknowledged SETs. */
  keys = new Map();
  /** list key -> highest acknowledged element. */
  lists = new Map();
  /** counter key -> highest acknowledged value. */
  counters = new Map();
  /** connection -> highest acknowledged tx:c:a. */
  tx = new Map();
  /** Error replies the writers got (`E` lines). */
  errors = [];
  /** Acknowledged replies recorded (all kinds). */
  count = 0;

  /** Adds the record FILE of the writer that ran round `round` (with `valueBytes`); returns the lines read. */
  addRound(file, round, valueBytes = 24) {
    let text = '';
    try {
      text = readFileSync(file, 'latin1');
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    const max = (m, k, v) => m.set(k, Math.max(m.get(k) ?? Number.NEGATIVE_INFINITY, v));
    let n = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      n++;
      const [kind, a, b] = line.split(' ');
      if (kind === 'E') {
        this.errors.push(line);
        continue;
      }
      this.count++;
      if (kind === 'S') this.keys.set(`u:${round}:${a}:${b}`, valueFor(round, a, Number(b), valueBytes));
      else if (kind === 'L') max(this.lists, `list:${round}:${a}`, Number(b));
      else if (kind === 'I') max(this.counters, `ctr:${a}`, Number(b));
      else if (kind === 'G') max(this.counters, 'ctr:shared', Number(a));
      else if (kind === 'T') max(this.tx, a, Number(b));
      else throw new Error(`unexpected line in ${file}: ${line}`);
    }
    return n;
  }

  /** Compares the server behind ioredis client `r` with the record; returns the differences (at most 20). */
  async check(r) {
    const problems = [];
    const add = (p) => {
      if (problems.length < 20) problems.push(p);
    };
    const keys = [...this.keys.keys()];
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const values = await r.mget(...chunk);
      chunk.forEach((k, j) => {
        if (values[j] !== this.keys.get(k)) add(`${k}: expected ${this.keys.get(k)}, got ${values[j]}`);
      });
    }
    for (const [k, highest] of this.lists) {
      const items = await r.lrange(k, 0, -1);
      const bad = items.findIndex((v, i) => v !== String(i));
      if (bad >= 0) add(`${k}: element ${bad} is ${items[bad]} (the list must be 0, 1, 2, … in push order)`);
      else if (items.length <= highest) add(`${k}: ${items.length} elements, but element ${highest} was acknowledged`);
    }
    for (const [k, highest] of this.counters) {
      const v = Number(await r.get(k));
      if (!(v >= highest)) add(`${k}: ${v}, but ${highest} was acknowledged`);
    }
    for (const [c, highest] of this.tx) {
      const [a, b] = (await r.mget(`tx:${c}:a`, `tx:${c}:b`)).map(Number);
      if (a !== b) add(`tx:${c}:a is ${a} but tx:${c}:b is ${b}: a transaction was applied in part`);
      if (!(a >= highest)) add(`tx:${c}:a: ${a}, but ${highest} was acknowledged`);
    }
    return problems;
  }
}

async function main() {
  const { values: opt } = parseArgs({
    options: {
      port: { type: 'string' },
      out: { type: 'string' },
      round: { type: 'string', default: '0' },
      conns: { type: 'string', default: '4' },
      depth: { type: 'string', default: '16' },
      'max-ms': { type: 'string', default: '30000' },
      'value-bytes': { type: 'string', default: '24' },
    },
  });
  if (!opt.port || !opt.out) {
    process.stderr.write('usage: writer.mjs --port P --out FILE [--round R] [--conns N] [--depth N] [--max-ms MS]\n');
    process.exit(2);
  }
  const round = opt.round;
  const depth = Number(opt.depth);
  const valueBytes = Number(opt['value-bytes']);
  const deadline = Date.now() + Number(opt['max-ms']);
  const out = openSync(opt.out, 'a');
  let acknowledged = 0;
  let closed = 0;

  const connection = async (c) => {
    const r = new Redis({
      host: '127.0.0.1',
      port: Number(opt.port),
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    r.on('error', () => {});
    try {
      await r.connect();
    } catch {
      closed++;
      return;
    }
    let seq = 0;
    while (Date.now() < deadline) {
      const p = r.pipeline();
      const first = seq;
      for (let g = 0; g < depth; g++, seq++) {
        p.set(`u:${round}:${c}:${seq}`, valueFor(round, c, seq, valueBytes));
        p.rpush(`list:${round}:${c}`, String(seq));
        p.incr(`ctr:${c}`);
        p.incr('ctr:shared');
        p.multi();
        p.incr(`tx:${c}:a`);
        p.incr(`tx:${c}:b`);
        p.exec();
      }
      let results;
      try {
        results = await p.exec();
      } catch {
        break; // the connection is gone: nothing in this pipeline was acknowledged
      }
      let lines = '';
      let lost = false;
      results.forEach(([err, value], i) => {
        const s = first + Math.floor(i / 8);
        const k = i % 8;
        if (err) {
          if (err.name === 'ReplyError') lines += `E ${c} ${String(err.message).replace(/\s+/g, ' ')}\n`;
          else lost = true;
          return;
        }
        acknowledged++;
        if (k === 0) lines += `S ${c} ${s}\n`;
        else if (k === 1) lines += `L ${c} ${s}\n`;
        else if (k === 2) lines += `I ${c} ${value}\n`;
        else if (k === 3) lines += `G ${value}\n`;
        else if (k === 7 && Array.isArray(value)) lines += `T ${c} ${value[0]}\n`;
      });
      if (lines) writeSync(out, lines);
      if (lost || r.status === 'end' || r.status === 'close') break;
    }
    if (r.status === 'ready') await r.quit().catch(() => {});
    else closed++;
    r.disconnect();
  };

  await Promise.all(Array.from({ length: Number(opt.conns) }, (_, c) => connection(c)));
  closeSync(out);
  process.stdout.write(`done ${acknowledged} ${closed}\n`);
  // Closed ioredis connections can keep the event loop alive for a while; nothing is left to do.
  process.exit(0);
}

if (process.argv[1] === WRITER) await main();
