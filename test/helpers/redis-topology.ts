// Real Redis deployments for tests: single servers, Redis Cluster and Sentinel setups made of Debian's
// redis-server / redis-sentinel / redis-cli, all on 127.0.0.1 and free ports. Each process runs in its own
// temporary directory (removed on stop), without persistence (`--save ''`, `--appendonly no`).
//
// Every process started here is registered in a module-level set and SIGKILLed (its directory removed) when
// the test process exits, so a crashed test leaves no orphan servers. Nothing here kills processes it did
// not start.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';
import { freePort } from './server.js';
import { sleep } from './wait.js';

const HOST = '127.0.0.1';
/** How long a process may take from spawn to answering PING. */
const START_TIMEOUT_MS = 20_000;
/** How long one redis-cli --cluster run may take. */
const REDIS_CLI_TIMEOUT_MS = 120_000;
const CLUSTER_SLOTS = 16384;

export interface HostPort {
  host: string;
  port: number;
}

/** One redis-server or redis-sentinel process started by this module. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
  /** Pid of the current process (changes on restart). */
  readonly pid: number;
  /** The current child process (changes on restart). */
  readonly proc: ChildProcess;
  /** The process's working directory (`dir`; cluster nodes keep nodes.conf there). */
  readonly dir: string;
  readonly kind: 'server' | 'sentinel';
  /** False once the process exited, was SIGKILLed through kill(), or was stopped. */
  readonly alive: boolean;
  /** True between kill('SIGSTOP') and kill('SIGCONT') (or a restart). */
  readonly paused: boolean;
  /** Sends `signal` (default SIGKILL) to the process; SIGSTOP/SIGCONT pause and resume it. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves once the current process has exited (at once if it already has). */
  exited(): Promise<void>;
  /**
   * SIGKILLs the process if it still runs, then starts it again on the same port with the same arguments and
   * directory (a cluster node keeps its id and nodes.conf); resolves once it answers PING. Throws after stop().
   */
  restart(): Promise<void>;
  /** SIGKILLs the process, disconnects the clients made by client(), removes the directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * A new ioredis client for this process, disconnected on stop(). Fails fast by default (no retries, no
   * reconnect), like redisClient in server.ts; `opts` override that.
   */
  client(opts?: RedisOptions): Redis;
  /** Runs one command on an internal admin connection (3 s command timeout) and returns ioredis's reply. */
  call(...args: (string | number)[]): Promise<unknown>;
  /** What the process printed (its log), the last 200 000 characters. */
  output(): string;
}

// ---------------------------------------------------------------------------------------------------------
// Processes

const OUTPUT_CAP = 200_000;

/** Every process started and not yet stopped; SIGKILLed at exit. Shared if the module is loaded twice. */
const LIVE_KEY = Symbol.for('kvws.redis-topology.live');
const LIVE = liveSet();

function liveSet(): Set<RedisProcess> {
  const g = globalThis as Record<symbol, Set<RedisProcess> | undefined>;
  const existing = g[LIVE_KEY];
  if (existing) return existing;
  const set = new Set<RedisProcess>();
  g[LIVE_KEY] = set;
  process.on('exit', () => {
    for (const p of set) p.killNowSync();
  });
  return set;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** redis-sentinel if installed, else redis-server in sentinel mode (the same binary). */
function sentinelCommand(conf: string): [string, string[]] {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'redis-sentinel'))) return ['redis-sentinel', [conf]];
  }
  return ['redis-server', [conf, '--sentinel']];
}

/** Resolves to whether PING on host:port answers +PONG within `timeoutMs`. Never rejects. */
function pingOnce(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** Resolves to whether 127.0.0.1:port can be bound right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = await freePort();
    if (p + 10000 <= 65535 && (await canBind(p + 10000))) return p;
  }
  throw new Error('no free port with a free cluster bus port (port + 10000) found');
}

class RedisProcess implements RedisNode {
  readonly host = HOST;
  proc!: ChildProcess;
  private out = '';
  private sigkilled = false;
  private pausedFlag = false;
  private stopped = false;
  private exitPromise: Promise<void> = Promise.resolve();
  private readonly clients = new Set<Redis>();
  private admin: Redis | undefined;

  constructor(
    readonly kind: 'server' | 'sentinel',
    readonly port: number,
    readonly dir: string,
    private readonly command: [string, string[]],
  ) {}

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return !this.stopped && !this.sigkilled && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  output(): string {
    return this.out;
  }

  /** Spawns the process and resolves once it answers PING; throws (with its output) if it exits first. */
  async launch(): Promise<void> {
    this.sigkilled = false;
    this.pausedFlag = false;
    const [cmd, args] = this.command;
    const child = spawn(cmd, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = child;
    LIVE.add(this);
    const append = (d: Buffer) => {
      this.out += d.toString();
      if (this.out.length > OUTPUT_CAP) this.out = this.out.slice(-OUTPUT_CAP);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (err) => {
        append(Buffer.from(`\nspawn error: ${err.message}\n`));
        resolve();
      });
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
        await this.exitPromise;
        throw new Error(`${cmd} on port ${this.port} exited (${child.exitCode ?? child.signalCode}):\n${this.out}`);
      }
      if (await pingOnce(this.port)) return;
      if (Date.now() > deadline) {
        throw new Error(`${cmd} on port ${this.port} did not answer PING in ${START_TIMEOUT_MS} ms:\n${this.out}`);
      }
      await sleep(50);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.stopped || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    if (signal === 'SIGKILL') {
      this.sigkilled = true;
      this.dropAdmin();
    } else if (signal === 'SIGSTOP') this.pausedFlag = true;
    else if (signal === 'SIGCONT') this.pausedFlag = false;
  }

  exited(): Promise<void> {
    return this.exitPromise;
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error(`port ${this.port}: restart() after stop()`);
    this.kill('SIGKILL');
    await this.exitPromise;
    this.dropAdmin();
    await this.launch();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    for (const c of this.clients) c.disconnect();
    this.clients.clear();
    this.dropAdmin();
    this.kill('SIGKILL');
    this.stopped = true;
    await this.exitPromise;
    LIVE.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** For the exit handler: SIGKILL and remove the directory, synchronously. */
  killNowSync(): void {
    try {
      if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    } catch {}
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {}
  }

  client(opts: RedisOptions = {}): Redis {
    const c = new Redis({
      host: this.host,
      port: this.port,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      ...opts,
    });
    c.on('error', () => {});
    this.clients.add(c);
    return c;
  }

  async call(...args: (string | number)[]): Promise<unknown> {
    if (!this.admin) {
      this.admin = new Redis({
        host: this.host,
        port: this.port,
        lazyConnect: true,
        enableReadyCheck: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        connectTimeout: 2000,
        commandTimeout: 3000,
      });
      this.admin.on('error', () => {});
    }
    const admin = this.admin;
    try {
      return await admin.call(String(args[0]), ...args.slice(1).map(String));
    } catch (err) {
      // A broken or timed-out connection is replaced on the next call; a command error keeps it.
      if (admin.status !== 'ready') this.dropAdmin();
      throw err;
    }
  }

  private dropAdmin(): void {
    this.admin?.disconnect();
    this.admin = undefined;
  }
}

/**
 * Makes a temporary directory, calls `command(port, dir)` for the argv, spawns it and waits for PING; retries
 * with another port (at most 3 times) when the port was taken between choosing and binding.
 */
async function startProcess(
  kind: 'server' | 'sentinel',
  pickPort: () => Promise<number>,
  command: (port: number, dir: string) => [string, string[]],
): Promise<RedisProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await pickPort();
    const dir = mkdtempSync(path.join(os.tmpdir(), `kvws-redis-${kind}-`));
    const p = new RedisProcess(kind, port, dir, command(port, dir));
    try {
      await p.launch();
      return p;
    } catch (err) {
      await p.stop();
      if (attempt < 3 && /Address already in use/.test(p.output())) continue;
      throw err;
    }
  }
}

/** Arguments every redis-server gets; later arguments (the caller's) override them. */
function baseServerArgs(port: number, dir: string): string[] {
  return [
    ...['--port', String(port), '--bind', HOST, '--protected-mode', 'no', '--dir', dir],
    ...['--save', '', '--appendonly', 'no'],
    // Full syncs start at once instead of waiting 5 s for more replicas (restarts and failovers resync).
    ...['--repl-diskless-sync-delay', '0'],
  ];
}

/** Starts one redis-server on a free port; `args` are appended to the defaults above (and override them). */
export async function startRedisServer(opts: { args?: string[] } = {}): Promise<RedisNode> {
  return startProcess('server', freePort, (port, dir) => [
    'redis-server',
    [...baseServerArgs(port, dir), ...(opts.args ?? [])],
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// Shared polling

/**
 * Calls `check` every 100 ms until it returns null (condition met) or `timeoutMs` passes; a string or a thrown
 * error is the current problem. Throws `${what} not reached in N ms: <last problem>` on timeout.
 */
async function pollUntil(what: string, timeoutMs: number, check: () => Promise<string | null>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problem = 'not checked';
  for (;;) {
    try {
      const p = await check();
      if (p === null) return;
      problem = p;
    } catch (err) {
      problem = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${timeoutMs} ms: ${problem}`);
    await sleep(100);
  }
}

/** The value of `field` in an INFO reply, or undefined. */
function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

async function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: REDIS_CLI_TIMEOUT_MS, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Waits until every replica of `master` is online and has acknowledged the master's whole replication stream
 * (INFO replication: `slaveN:...,state=online,offset=X` equal to master_repl_offset), so a write made before the
 * call survives killing the master. Throws after `timeoutMs`.
 */
export async function waitReplicasCaughtUp(master: RedisNode, timeoutMs = 10_000): Promise<void> {
  await pollUntil(`replicas of ${master.port} caught up`, timeoutMs, async () => {
    const info = String(await master.call('INFO', 'replication'));
    const offset = infoField(info, 'master_repl_offset');
    const slaves = [...info.matchAll(/^slave\d+:(.*)$/gm)].map((m) => m[1].trim());
    if (slaves.length === 0) return 'no replicas connected';
    const behind = slaves.filter((s) => !s.includes('state=online') || !s.includes(`offset=${offset},`));
    return behind.length === 0 ? null : `master offset ${offset}, replicas: ${behind.join(' | ')}`;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Redis Cluster

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of `key` as CLUSTER KEYSLOT computes it (a non-empty `{tag}` is hashed instead). */
export function keySlot(key: string | Buffer): number {
  let b = typeof key === 'string' ? Buffer.from(key) : key;
  const open = b.indexOf(0x7b); // {
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1); // }
    if (close > open + 1) b = b.subarray(open + 1, close);
  }
  return crc16(b) & (CLUSTER_SLOTS - 1);
}

/** A key `${prefix}{N}` whose slot is `slot` (the smallest such N). */
export function keyInSlot(slot: number, prefix = 'k'): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= CLUSTER_SLOTS) throw new RangeError(`no slot ${slot}`);
  for (let n = 0; n < 10_000_000; n++) if (keySlot(String(n)) === slot) return `${prefix}{${n}}`;
  throw new Error(`no key found for slot ${slot}`);
}

export interface RedisClusterOptions {
  /** At least 3 (redis-cli refuses fewer). */
  masters: number;
  replicasPerMaster: number;
  /** cluster-node-timeout; default 2000 ms (failure detection and failover take about 2-3 times this). */
  nodeTimeoutMs?: number;
  /** cluster-require-full-coverage; default true (Redis's default: the cluster refuses keys while a slot is down). */
  requireFullCoverage?: boolean;
  /** Extra redis-server arguments for every node. */
  args?: string[];
}

export interface RedisClusterHandle {
  /** Every node started (addMaster appends), killed ones included. */
  readonly nodes: RedisNode[];
  /** Addresses of the nodes that are alive, for `new Cluster(seeds())`. */
  seeds(): HostPort[];
  /** The cluster node id (CLUSTER MYID, taken at start; stable across restarts). */
  idOf(node: RedisNode): string;
  /** The nodes currently flagged master and not failing in a live node's CLUSTER NODES, in `nodes` order. */
  masters(): Promise<RedisNode[]>;
  /** The nodes currently replicating from `master`, per a live node's CLUSTER NODES. */
  replicasOf(master: RedisNode): Promise<RedisNode[]>;
  /** The master serving `key`'s slot, per a live node's CLUSTER SLOTS. */
  masterForKey(key: string): Promise<RedisNode>;
  /** The slot ranges `node` serves, per a live node's CLUSTER SLOTS. */
  slotsOf(node: RedisNode): Promise<[number, number][]>;
  /**
   * Starts a new node, joins it as an empty master (`redis-cli --cluster add-node`), waits until every live
   * node knows it and the cluster is healthy, and returns it.
   */
  addMaster(): Promise<RedisNode>;
  /**
   * Moves `count` slots with their keys from `from` to `to` (`redis-cli --cluster reshard`, MIGRATE while
   * clients may keep writing), then waits until the cluster is healthy. Throws if redis-cli fails.
   */
  moveSlots(from: RedisNode, to: RedisNode, count: number): Promise<void>;
  /**
   * Waits until a replica of `oldMaster` is flagged master in every other live node's CLUSTER NODES and
   * every such node reports cluster_state:ok; returns it. Throws after `timeoutMs` (default 30 s).
   */
  waitForFailover(oldMaster: RedisNode, timeoutMs?: number): Promise<RedisNode>;
  /**
   * Waits until every live, unpaused node reports cluster_state:ok, knows every other such node without
   * fail flags, agrees with the others on each such node's role, master and slots (CLUSTER NODES) and on
   * CLUSTER SLOTS covering all 16384 slots, has no slot migration open, and (replicas) has its link up.
   * Throws after `timeoutMs` (default 30 s) with the last problem seen.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node. */
  stop(): Promise<void>;
}

interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | null;
  slots: [number, number][];
  /** The line lists a slot being migrated or imported (`[slot->-id]`, `[slot-<-id]`; own line only). */
  migrating: boolean;
}

/** Parses CLUSTER NODES (`id ip:port@cport[,hostname] flags master ping pong epoch link slot...`). */
function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const f = line.trim().split(' ');
      const addr = f[1].split('@')[0];
      const slots: [number, number][] = [];
      let migrating = false;
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) {
          migrating = true;
          continue;
        }
        const [a, b] = s.split('-').map(Number);
        slots.push([a, b ?? a]);
      }
      return {
        id: f[0],
        port: Number(addr.slice(addr.lastIndexOf(':') + 1)),
        flags: f[2].split(','),
        masterId: f[3] === '-' ? null : f[3],
        slots,
        migrating,
      };
    });
}

const failing = (l: ClusterNodeLine) => l.flags.some((f) => f === 'fail' || f === 'fail?');

/** CLUSTER SLOTS rows: start, end, then [host, port, id, metadata] for the master and each listed replica. */
type SlotsReply = [number, number, ...[string, number, string?, ...unknown[]][]][];

/**
 * CLUSTER SLOTS as `start-end:masterPort` ranges sorted by slot, and how many slots they cover. Replicas are
 * left out: Redis 7 lists a replica only once it has a non-zero replication offset, which varies by view.
 */
function slotsSignature(reply: SlotsReply): { text: string; covered: number } {
  const rows = [...reply].sort((a, b) => a[0] - b[0]);
  let covered = 0;
  const text = rows
    .map(([start, end, master]) => {
      covered += end - start + 1;
      return `${start}-${end}:${master[1]}`;
    })
    .join(' ');
  return { text, covered };
}

/** One view's CLUSTER NODES reduced to role, master and slots of the nodes in `ids`, for comparing views. */
function nodesSignature(lines: ClusterNodeLine[], ids: Set<string>): string {
  return lines
    .filter((l) => ids.has(l.id))
    .map((l) => {
      const role = l.flags.includes('master') ? 'master' : 'replica';
      return `${l.id.slice(0, 8)}:${role}:${l.masterId?.slice(0, 8) ?? '-'}:${l.slots.map(([a, b]) => `${a}-${b}`).join(',')}`;
    })
    .sort()
    .join(' ');
}

/**
 * Starts `masters * (1 + replicasPerMaster)` cluster nodes, creates the cluster with `redis-cli --cluster
 * create ... --cluster-replicas R`, and waits (60 s) until it is healthy (see waitHealthy). Stops every node
 * and throws if any step fails.
 */
export async function startRedisCluster(opts: RedisClusterOptions): Promise<RedisClusterHandle> {
  if (opts.masters < 3) throw new Error('Redis Cluster needs at least 3 masters');
  const nodeTimeout = opts.nodeTimeoutMs ?? 2000;
  const fullCoverage = opts.requireFullCoverage ?? true;
  const nodes: RedisNode[] = [];
  const ids = new Map<RedisNode, string>();
  /** Every replica → master relation seen so far (kept after a promotion, for waitForFailover). */
  const replicaOfSeen = new Map<string, string>();

  const startNode = () =>
    startProcess('server', freeClusterPort, (port, dir) => [
      'redis-server',
      [
        ...baseServerArgs(port, dir),
        ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
        ...['--cluster-node-timeout', String(nodeTimeout)],
        ...['--cluster-require-full-coverage', fullCoverage ? 'yes' : 'no'],
        ...(opts.args ?? []),
      ],
    ]);
  const usable = () => nodes.filter((n) => n.alive && !n.paused);
  const byId = (id: string) => nodes.find((n) => ids.get(n) === id);
  const idOf = (node: RedisNode): string => {
    const id = ids.get(node);
    if (!id) throw new Error(`port ${node.port} is not a node of this cluster`);
    return id;
  };
  const remember = (lines: ClusterNodeLine[]) => {
    for (const l of lines) if (l.masterId) replicaOfSeen.set(l.id, l.masterId);
  };
  /** CLUSTER NODES of the first usable node that answers. */
  const view = async (): Promise<ClusterNodeLine[]> => {
    let last: unknown = new Error('no live node');
    for (const n of usable()) {
      try {
        const lines = parseClusterNodes(String(await n.call('CLUSTER', 'NODES')));
        remember(lines);
        return lines;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };
  const slotsView = async (): Promise<SlotsReply> => {
    let last: unknown = new Error('no live node');
    for (const n of usable()) {
      try {
        return (await n.call('CLUSTER', 'SLOTS')) as SlotsReply;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };

  /** One health check: null when healthy, else the first problem found. */
  const healthProblem = async (): Promise<string | null> => {
    const live = usable();
    const liveIds = new Set(live.map(idOf));
    let slotsSig: string | undefined;
    let nodesSig: string | undefined;
    for (const n of live) {
      const info = String(await n.call('CLUSTER', 'INFO'));
      if (infoField(info, 'cluster_state') !== 'ok')
        return `${n.port}: cluster_state:${infoField(info, 'cluster_state')}`;
      const lines = parseClusterNodes(String(await n.call('CLUSTER', 'NODES')));
      remember(lines);
      for (const id of liveIds) {
        const l = lines.find((x) => x.id === id);
        if (!l) return `${n.port} does not know ${byId(id)?.port}`;
        if (failing(l) || l.flags.includes('handshake') || l.flags.includes('noaddr')) {
          return `${n.port} sees ${l.port} as ${l.flags.join(',')}`;
        }
        if (l.migrating) return `${n.port} has a slot migration open`;
      }
      const ns = nodesSignature(lines, liveIds);
      if (nodesSig === undefined) nodesSig = ns;
      else if (ns !== nodesSig) return `CLUSTER NODES differ: ${live[0].port}: ${nodesSig} / ${n.port}: ${ns}`;
      const ss = slotsSignature((await n.call('CLUSTER', 'SLOTS')) as SlotsReply);
      if (ss.covered !== CLUSTER_SLOTS) return `${n.port}: CLUSTER SLOTS covers ${ss.covered} slots`;
      if (slotsSig === undefined) slotsSig = ss.text;
      else if (ss.text !== slotsSig)
        return `CLUSTER SLOTS differ: ${live[0].port}: ${slotsSig} / ${n.port}: ${ss.text}`;
      const me = lines.find((l) => l.flags.includes('myself'));
      if (me?.flags.includes('slave')) {
        const repl = String(await n.call('INFO', 'replication'));
        if (infoField(repl, 'master_link_status') !== 'up') return `replica ${n.port}: master link down`;
      }
    }
    return null;
  };
  const waitHealthy = (timeoutMs = 30_000) => pollUntil('cluster healthy', timeoutMs, healthProblem);

  try {
    nodes.push(...(await Promise.all(Array.from({ length: opts.masters * (1 + opts.replicasPerMaster) }, startNode))));
    for (const n of nodes) ids.set(n, String(await n.call('CLUSTER', 'MYID')));
    await redisCli([
      ...['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`)],
      ...['--cluster-replicas', String(opts.replicasPerMaster), '--cluster-yes'],
    ]);
    await waitHealthy(60_000);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }

  const handle: RedisClusterHandle = {
    nodes,
    seeds: () => usable().map((n) => ({ host: n.host, port: n.port })),
    idOf,
    async masters() {
      const lines = await view();
      const ms = new Set(lines.filter((l) => l.flags.includes('master') && !failing(l)).map((l) => l.id));
      return nodes.filter((n) => ms.has(idOf(n)));
    },
    async replicasOf(master) {
      const id = idOf(master);
      const rs = new Set((await view()).filter((l) => l.masterId === id && !failing(l)).map((l) => l.id));
      return nodes.filter((n) => rs.has(idOf(n)));
    },
    async masterForKey(key) {
      const slot = Number(await usable()[0].call('CLUSTER', 'KEYSLOT', key));
      const row = (await slotsView()).find(([start, end]) => start <= slot && slot <= end);
      const node = row && nodes.find((n) => n.port === Number(row[2][1]));
      if (!node) throw new Error(`no master serves slot ${slot} (key ${key})`);
      return node;
    },
    async slotsOf(node) {
      return (await slotsView())
        .filter((row) => Number(row[2][1]) === node.port)
        .map(([start, end]): [number, number] => [start, end])
        .sort((a, b) => a[0] - b[0]);
    },
    async addMaster() {
      const entry = (await handle.masters()).find((m) => m.alive && !m.paused);
      if (!entry) throw new Error('no live master to join through');
      const node = await startNode();
      nodes.push(node);
      ids.set(node, String(await node.call('CLUSTER', 'MYID')));
      await redisCli(['--cluster', 'add-node', `${HOST}:${node.port}`, `${HOST}:${entry.port}`]);
      await waitHealthy();
      return node;
    },
    async moveSlots(from, to, count) {
      await redisCli([
        ...['--cluster', 'reshard', `${HOST}:${from.port}`],
        ...['--cluster-from', idOf(from), '--cluster-to', idOf(to), '--cluster-slots', String(count), '--cluster-yes'],
      ]);
      await waitHealthy();
    },
    async waitForFailover(oldMaster, timeoutMs = 30_000) {
      const oldId = idOf(oldMaster);
      let promoted: RedisNode | undefined;
      await pollUntil(`failover of ${oldMaster.port}`, timeoutMs, async () => {
        const others = usable().filter((n) => n !== oldMaster);
        const candidates = new Set([...replicaOfSeen].filter(([, m]) => m === oldId).map(([r]) => r));
        if (candidates.size === 0) return `${oldMaster.port} has no known replicas`;
        let chosen: string | undefined;
        for (const n of others) {
          const info = String(await n.call('CLUSTER', 'INFO'));
          if (infoField(info, 'cluster_state') !== 'ok')
            return `${n.port}: cluster_state:${infoField(info, 'cluster_state')}`;
          const lines = parseClusterNodes(String(await n.call('CLUSTER', 'NODES')));
          remember(lines);
          const masters = lines.filter((l) => candidates.has(l.id) && l.flags.includes('master') && !failing(l));
          if (masters.length !== 1) return `${n.port} sees no replica of ${oldMaster.port} promoted`;
          if (chosen !== undefined && chosen !== masters[0].id) return 'nodes disagree on the promoted replica';
          chosen = masters[0].id;
        }
        promoted = chosen === undefined ? undefined : byId(chosen);
        return promoted ? null : 'promoted node unknown';
      });
      return promoted!;
    },
    waitHealthy,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  return handle;
}

// ---------------------------------------------------------------------------------------------------------
// Sentinel

export interface SentinelOptions {
  /** Replicas of the master; default 2. */
  replicas?: number;
  /** Sentinel processes; default 3. */
  sentinels?: number;
  /** Default 'mymaster'. */
  masterName?: string;
  /** Sentinels needed to agree the master is down; default a majority of `sentinels`. */
  quorum?: number;
  /** down-after-milliseconds; default 1000. */
  downAfterMs?: number;
  /** failover-timeout; default 3000. */
  failoverTimeoutMs?: number;
  /** Extra redis-server arguments for the master and replicas. */
  args?: string[];
}

export interface SentinelHandle {
  readonly masterName: string;
  /** The redis-servers, initial master first (restarted nodes stay here). */
  readonly nodes: RedisNode[];
  readonly sentinels: RedisNode[];
  /** Addresses of every sentinel, for ioredis's `sentinels` option. */
  sentinelAddrs(): HostPort[];
  /** The master per the first live sentinel that answers SENTINEL GET-MASTER-ADDR-BY-NAME. */
  master(): Promise<RedisNode>;
  /**
   * Waits until every live sentinel names the same master other than `oldMaster` and that node's ROLE is
   * master; returns it. Throws after `timeoutMs` (default 30 s).
   */
  waitForFailover(oldMaster: RedisNode, timeoutMs?: number): Promise<RedisNode>;
  /**
   * Waits until every live sentinel names the same live master (ROLE master), every other live server
   * replicates from it with its link up, and every sentinel lists those replicas and the other live
   * sentinels as healthy. Throws after `timeoutMs` (default 30 s).
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every server and sentinel. */
  stop(): Promise<void>;
}

/** SENTINEL REPLICAS/SENTINELS rows (flat key/value arrays) as records. */
function sentinelRows(reply: unknown): Record<string, string>[] {
  return (reply as string[][]).map((row) => {
    const r: Record<string, string> = {};
    for (let i = 0; i + 1 < row.length; i += 2) r[row[i]] = row[i + 1];
    return r;
  });
}

/**
 * Starts a master, `replicas` servers with `--replicaof` it, and `sentinels` sentinels monitoring it (each
 * with its own writable config file), then waits (60 s) until waitHealthy passes. Stops everything and throws
 * if any step fails.
 */
export async function startSentinelSetup(opts: SentinelOptions = {}): Promise<SentinelHandle> {
  const replicaCount = opts.replicas ?? 2;
  const sentinelCount = opts.sentinels ?? 3;
  const masterName = opts.masterName ?? 'mymaster';
  const quorum = opts.quorum ?? Math.floor(sentinelCount / 2) + 1;
  const nodes: RedisNode[] = [];
  const sentinels: RedisNode[] = [];
  const usable = (list: RedisNode[]) => list.filter((n) => n.alive && !n.paused);

  /** The master's port per each live sentinel. */
  const named = async (): Promise<number[]> =>
    Promise.all(
      usable(sentinels).map(async (s) => {
        const r = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string] | null;
        if (!r) throw new Error(`sentinel ${s.port} does not know ${masterName}`);
        return Number(r[1]);
      }),
    );
  const roleOf = async (n: RedisNode) => String(((await n.call('ROLE')) as unknown[])[0]);

  const healthProblem = async (): Promise<string | null> => {
    const ports = await named();
    if (new Set(ports).size !== 1) return `sentinels disagree on the master: ${ports.join(', ')}`;
    const master = nodes.find((n) => n.port === ports[0]);
    if (!master?.alive || master.paused) return `sentinels name ${ports[0]}, which is down`;
    if ((await roleOf(master)) !== 'master') return `${master.port} is not a master yet`;
    const replicas = usable(nodes).filter((n) => n !== master);
    for (const r of replicas) {
      const info = String(await r.call('INFO', 'replication'));
      if (infoField(info, 'role') !== 'slave' || infoField(info, 'master_port') !== String(master.port)) {
        return `${r.port} does not replicate from ${master.port}`;
      }
      if (infoField(info, 'master_link_status') !== 'up') return `replica ${r.port}: master link down`;
    }
    for (const s of usable(sentinels)) {
      const known = sentinelRows(await s.call('SENTINEL', 'REPLICAS', masterName));
      for (const r of replicas) {
        const row = known.find((k) => Number(k.port) === r.port);
        if (!row || /s_down|disconnected/.test(row.flags))
          return `sentinel ${s.port} does not see replica ${r.port} up`;
      }
      const peers = sentinelRows(await s.call('SENTINEL', 'SENTINELS', masterName));
      for (const o of usable(sentinels).filter((x) => x !== s)) {
        const row = peers.find((k) => Number(k.port) === o.port);
        if (!row || /s_down|disconnected/.test(row.flags)) return `sentinel ${s.port} does not see sentinel ${o.port}`;
      }
    }
    return null;
  };
  const waitHealthy = (timeoutMs = 30_000) => pollUntil('sentinel setup healthy', timeoutMs, healthProblem);

  try {
    const master = await startRedisServer({ args: opts.args });
    nodes.push(master);
    const args = [...(opts.args ?? []), '--replicaof', HOST, String(master.port)];
    nodes.push(...(await Promise.all(Array.from({ length: replicaCount }, () => startRedisServer({ args })))));
    await pollUntil('replication up', 30_000, async () => {
      for (const r of nodes.slice(1)) {
        const info = String(await r.call('INFO', 'replication'));
        if (infoField(info, 'master_link_status') !== 'up') return `replica ${r.port}: master link down`;
      }
      return null;
    });
    const startSentinel = () =>
      startProcess('sentinel', freePort, (port, dir) => {
        const conf = path.join(dir, 'sentinel.conf');
        writeFileSync(
          conf,
          [
            `port ${port}`,
            `bind ${HOST}`,
            'protected-mode no',
            `dir ${dir}`,
            'sentinel resolve-hostnames no',
            `sentinel monitor ${masterName} ${HOST} ${master.port} ${quorum}`,
            `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1000}`,
            `sentinel failover-timeout ${masterName} ${opts.failoverTimeoutMs ?? 3000}`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
        );
        return sentinelCommand(conf);
      });
    sentinels.push(...(await Promise.all(Array.from({ length: sentinelCount }, startSentinel))));
    await waitHealthy(60_000);
  } catch (err) {
    await Promise.all([...nodes, ...sentinels].map((n) => n.stop()));
    throw err;
  }

  return {
    masterName,
    nodes,
    sentinels,
    sentinelAddrs: () => sentinels.map((s) => ({ host: s.host, port: s.port })),
    async master() {
      let last: unknown = new Error('no live sentinel');
      for (const s of usable(sentinels)) {
        try {
          const r = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string] | null;
          const node = r && nodes.find((n) => n.port === Number(r[1]));
          if (node) return node;
          last = new Error(`sentinel ${s.port} names ${r?.join(':')}, not a node of this setup`);
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
    async waitForFailover(oldMaster, timeoutMs = 30_000) {
      let promoted: RedisNode | undefined;
      await pollUntil(`sentinel failover of ${oldMaster.port}`, timeoutMs, async () => {
        const ports = await named();
        if (new Set(ports).size !== 1) return `sentinels disagree on the master: ${ports.join(', ')}`;
        if (ports[0] === oldMaster.port) return `sentinels still name ${oldMaster.port}`;
        const node = nodes.find((n) => n.port === ports[0]);
        if (!node) return `sentinels name unknown port ${ports[0]}`;
        if ((await roleOf(node)) !== 'master') return `${node.port} is not a master yet`;
        promoted = node;
        return null;
      });
      return promoted!;
    },
    waitHealthy,
    async stop() {
      await Promise.all([...nodes, ...sentinels].map((n) => n.stop()));
    },
  };
}
