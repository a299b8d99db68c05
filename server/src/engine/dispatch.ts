// The module's `performance`, not the global one: in Node 20 the global goes through a lazy getter, read
// twice per command here.
import { performance } from 'node:perf_hooks';
import { NOAUTH } from '../auth/acl.js';
import type { RuntimeCommand } from '../commands/index.js';
import { recordsFor } from '../persistence/propagate.js';
import { CommandError, ErrorReply, QUEUED, type Reply, wrongArity } from '../protocol/reply.js';
import type { Client } from './client.js';
import { COMMAND_LATENCY_BOUNDS_US, commandKeys, type Engine, Histogram } from './engine.js';
import { oomRefusal } from './eviction.js';

/** Commands a RESP2 client in subscribed mode may still run. */
const PUBSUB_ALLOWED = new Set([
  'SUBSCRIBE',
  'PSUBSCRIBE',
  'UNSUBSCRIBE',
  'PUNSUBSCRIBE',
  'SSUBSCRIBE',
  'SUNSUBSCRIBE',
  'PING',
  'QUIT',
  'RESET',
]);
/** Flags of commands a monitor may not run (Redis: a replica can't interact with the keyspace). */
const KEYSPACE_FLAGS = ['write', 'readonly', 'may_replicate'] as const;
/** Commands whose line monitors never see: Redis's CMD_ADMIN and CMD_SKIP_MONITOR. */
const HIDDEN_FROM_MONITORS = ['admin', 'skip_monitor'] as const;

/** Commands that run immediately inside MULTI instead of being queued. */
const NOT_QUEUED = new Set(['EXEC', 'DISCARD', 'MULTI', 'WATCH', 'QUIT', 'RESET']);

/**
 * Resolves argv[0] (and argv[1] for container commands) to a table entry, or returns the Redis error
 * for an unknown command, unknown subcommand or wrong arity.
 */
export function lookupCommand(engine: Engine, argv: string[]): RuntimeCommand | ErrorReply {
  const name = argv[0];
  const table = engine.table;
  let cmd = table.get(name) ?? table.get(name.toLowerCase());
  if (!cmd) {
    // As Redis: quote arguments until about 128 characters of them have been shown.
    let args = '';
    for (let i = 1; i < argv.length && args.length < 128; i++) args += `'${argv[i].slice(0, 128 - args.length)}' `;
    return new ErrorReply(`ERR unknown command '${clip(name)}', with args beginning with: ${args}`);
  }
  if (cmd.subcommands && !(argv.length === 1 && cmd.bareHandler)) {
    if (argv.length === 1) return new ErrorReply(wrongArity(cmd.fullName));
    const sub = cmd.subcommands.get(argv[1].toLowerCase());
    if (!sub) {
      return new ErrorReply(`ERR unknown subcommand '${clip(argv[1])}'. Try ${cmd.spec.name} HELP.`);
    }
    cmd = sub;
  }
  const arity = cmd.spec.arity;
  if ((arity > 0 && argv.length !== arity) || argv.length < -arity) return new ErrorReply(wrongArity(cmd.fullName));
  return cmd;
}

function clip(s: string): string {
  return (s.length > 128 ? s.slice(0, 128) : s).replace(/[\r\n]/g, ' ');
}

/**
 * processCommand: lookup → arity → authentication (NOAUTH) → ACL (NOPERM) → maxmemory (evictions, OOM;
 * engine/eviction.ts) → pub/sub context → monitor context → MULTI queueing → run (and feed monitors) → wake blocked clients. The one path every front
 * door uses.
 */
export function execute(engine: Engine, client: Client, argv: string[]): Reply | Promise<Reply> {
  // One clock read serves both the session's last interaction and the command's latency.
  const started = performance.now();
  client.lastInteraction = wallClock(started);
  engine.stats.commands++;
  if (argv.length === 0) return new ErrorReply('ERR empty command');
  const cmd = lookupCommand(engine, argv);
  if (cmd instanceof ErrorReply) return reject(engine, client, argv[0].toUpperCase() === 'EXEC', cmd, null);
  client.lastCommand = cmd.fullName;
  const isExec = cmd.root === 'EXEC';
  if (!client.authenticated && engine.acl.authRequired && !cmd.spec.flags.includes('no_auth')) {
    return reject(engine, client, isExec, new ErrorReply(NOAUTH), cmd);
  }
  const denied = engine.acl.check(client, cmd, argv, client.multi ? 'multi' : 'toplevel');
  if (denied) return reject(engine, client, isExec, denied, cmd);
  if (engine.options.maxmemory !== 0) {
    const oom = oomRefusal(engine, client, cmd);
    if (oom) return reject(engine, client, isExec, oom, cmd);
  }
  if (client.inPubSubMode && !PUBSUB_ALLOWED.has(cmd.root)) {
    return reject(
      engine,
      client,
      isExec,
      new ErrorReply(
        `ERR Can't execute '${cmd.fullName}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
      ),
      cmd,
    );
  }
  if (engine.aof?.writeError && deniedByDiskError(engine, client, cmd)) {
    return reject(engine, client, isExec, new ErrorReply(engine.aof.misconf() as string), cmd);
  }
  if (client.monitor && KEYSPACE_FLAGS.some((f) => cmd.spec.flags.includes(f))) {
    return reject(engine, client, isExec, new ErrorReply("ERR Replica can't interact with the keyspace"), cmd);
  }
  if (client.multi && !NOT_QUEUED.has(cmd.root)) {
    if (cmd.spec.flags.includes('no_multi')) {
      client.multi.error = true;
      engine.stats.rejectedCalls++;
      cmd.stats.rejected++;
      return new ErrorReply('ERR Command not allowed inside a transaction');
    }
    const refused = engine.gateway?.queueCheck(client, cmd, argv);
    if (refused) return reject(engine, client, false, refused, cmd);
    client.multi.queue.push(argv);
    return QUEUED;
  }
  const reply = runCommand(engine, client, cmd, argv, started);
  if (engine.blocking.hasReady) engine.blocking.serveReady();
  return reply;
}

/** Date.now() − performance.now(), re-read at most once a second, so that a step of the system clock is followed. */
let wallOffset = Date.now() - performance.now();
let wallSyncedAt = performance.now();

/** Unix ms (as Date.now()) at `now`, a performance.now() reading: one clock read per command instead of two. */
function wallClock(now: number): number {
  if (now - wallSyncedAt > 1000) {
    wallOffset = Date.now() - now;
    wallSyncedAt = now;
  }
  return Math.floor(wallOffset + now);
}

/**
 * Redis's rejectCommand: a command refused before running flags an open transaction, and a refused EXEC
 * discards the transaction and answers `EXECABORT Transaction discarded because of: <reason>`. Counted
 * against `cmd` (INFO commandstats `rejected_calls`) when it was known.
 */
function reject(
  engine: Engine,
  client: Client,
  isExec: boolean,
  err: ErrorReply,
  cmd: RuntimeCommand | null,
): ErrorReply {
  engine.stats.rejectedCalls++;
  if (cmd !== null) cmd.stats.rejected++;
  engine.stats.errorReplies++;
  if (isExec) {
    client.multi = null;
    engine.unwatchAll(client);
    return new ErrorReply(`EXECABORT Transaction discarded because of: ${err.message.replace(/^ERR /, '')}`);
  }
  if (client.multi) client.multi.error = true;
  return err;
}

/**
 * While the AOF cannot be written, Redis refuses write commands (an EXEC holding one included) and PING,
 * so that clients notice; reads go on.
 */
function deniedByDiskError(engine: Engine, client: Client, cmd: RuntimeCommand): boolean {
  if (cmd.write || cmd.root === 'PING') return true;
  if (cmd.root !== 'EXEC' || !client.multi) return false;
  return client.multi.queue.some((argv) => {
    const c = lookupCommand(engine, argv);
    return !(c instanceof ErrorReply) && c.write;
  });
}

/**
 * Redis's call(): runs a resolved command's handler, turns thrown CommandErrors into error replies, then
 * shows the command to monitors (unless it is admin or skip_monitor: whether it failed or not, a command
 * that blocks when it starts). Counts the call and its latency since `started` (performance.now(); default:
 * now) in `cmd.stats` (a Promise reply: when it settles, counting an error reply then as a failed call).
 * Used by `execute` and by EXEC for queued commands (which must not serve blocked clients until the whole
 * EXEC is done).
 */
export function runCommand(
  engine: Engine,
  client: Client,
  cmd: RuntimeCommand,
  argv: string[],
  started = performance.now(),
): Reply | Promise<Reply> {
  client.argv = argv;
  engine.memory.touchCommand(client.db, cmd, argv);
  if (engine.writeGuard !== null && cmd.write) engine.writeGuard(client.db, commandKeys(cmd, argv));
  const aof = engine.aof;
  const blockedBefore = client.blocked;
  let reply: Reply | Promise<Reply>;
  if (aof === null) reply = callHandler(engine, client, cmd, argv);
  else {
    // Propagation (Redis's propagateNow): a write command that changed the dataset is recorded, as its
    // argv or as rewritten by persistence/propagate.ts; EXEC frames the records of its queue.
    const dirty = engine.dirty;
    const dbIndex = client.db.index;
    const isExec = cmd.root === 'EXEC';
    if (isExec) aof.beginTransaction();
    try {
      reply = callHandler(engine, client, cmd, argv);
    } finally {
      if (isExec) aof.endTransaction();
    }
    if (cmd.write && engine.dirty !== dirty && !(reply instanceof Promise)) {
      const db = engine.dbs[dbIndex];
      aof.feed(dbIndex, recordsFor(cmd.root, argv, reply, db), client);
    }
  }
  if (engine.monitors.size !== 0 && !HIDDEN_FROM_MONITORS.some((f) => cmd.spec.flags.includes(f))) {
    engine.feedMonitors(client, redactForMonitors(cmd, argv));
  }
  // Counted once the handler has run, as Redis does: INFO commandstats does not count the INFO running it,
  // and CONFIG RESETSTAT counts itself after the reset.
  cmd.stats.calls++;
  if (reply instanceof Promise) {
    settled(engine, client, cmd, argv, reply, started, client.blocked !== null && client.blocked !== blockedBefore);
  } else slowlogIfSlow(engine, client, cmd, argv, observeLatency(cmd, started));
  return reply;
}

/** Adds the time since `started` (performance.now()) to the command's latency histogram; returns it, µs. */
function observeLatency(cmd: RuntimeCommand, started: number): number {
  const us = (performance.now() - started) * 1000;
  const stats = cmd.stats;
  if (stats.latency === null) stats.latency = new Histogram(COMMAND_LATENCY_BOUNDS_US);
  stats.latency.observe(us);
  return us;
}

/**
 * Redis's slowlogPushCurrentCommand: a command that ran at least `slowlog-log-slower-than` µs (none when
 * it is negative) goes to the slow log, unless the table flags it `skip_slowlog` (EXEC: its commands are
 * logged one by one). Arguments holding secrets are redacted as Redis does.
 */
function slowlogIfSlow(engine: Engine, client: Client, cmd: RuntimeCommand, argv: string[], us: number): void {
  const threshold = engine.options.slowlogLogSlowerThan;
  if (threshold < 0 || us < threshold || cmd.spec.flags.includes('skip_slowlog')) return;
  engine.slowlog.push(redactForSlowlog(cmd, argv), us, client.addr, client.name, engine.options.slowlogMaxLen);
}

/**
 * When a Promise reply settles (a blocked command served or timed out, a command forwarded to Redis, a
 * login hashing its password): its latency, and an error reply as a failed call; then the slow log. A
 * command that `blocked` (its handler set `client.blocked`) is slow-logged with the time it ran before
 * blocking, as Redis leaves the wait out; any other with the whole time. The caller keeps `reply` itself
 * (its `pipelined` mark).
 */
function settled(
  engine: Engine,
  client: Client,
  cmd: RuntimeCommand,
  argv: string[],
  reply: Promise<Reply>,
  started: number,
  blocked: boolean,
): void {
  // The one extra clock read, for commands that blocked only: when the handler returned.
  const ranUs = blocked ? (performance.now() - started) * 1000 : -1;
  const done = (r: Reply | null) => {
    const us = observeLatency(cmd, started);
    if (r instanceof ErrorReply) {
      cmd.stats.failed++;
      engine.stats.errorReplies++;
    }
    slowlogIfSlow(engine, client, cmd, argv, ranUs >= 0 ? ranUs : us);
  };
  reply.then(done, () => done(null));
}

/** The handler's reply, with thrown errors as error replies (counted as failed calls). */
function callHandler(engine: Engine, client: Client, cmd: RuntimeCommand, argv: string[]): Reply | Promise<Reply> {
  try {
    const r = cmd.handler(client, argv);
    if (r instanceof ErrorReply) {
      cmd.stats.failed++;
      engine.stats.errorReplies++;
    }
    return r;
  } catch (e) {
    cmd.stats.failed++;
    engine.stats.errorReplies++;
    if (e instanceof CommandError) return new ErrorReply(e.message);
    console.error(`kvws: internal error in ${cmd.fullName}:`, e);
    return new ErrorReply(`ERR internal error while running '${cmd.fullName}'`);
  }
}

/**
 * The arguments monitors see: passwords and tokens of AUTH and HELLO … AUTH replaced by `(redacted)`, as
 * Redis's redactClientCommandArgument does. Redis redacts only what the handler got to read, so a
 * malformed AUTH (more than two arguments) or a HELLO refused before its AUTH option (bad or missing
 * protocol version, bad SETNAME) shows the secret; kvws redacts those too.
 */
function redactForMonitors(cmd: RuntimeCommand, argv: string[]): string[] {
  if (cmd.root === 'AUTH') return [argv[0], ...argv.slice(1).map(() => REDACTED)];
  if (cmd.root !== 'HELLO') return argv;
  let out = argv;
  // argv[1] is the protocol version, unless a client left it out and starts with AUTH.
  for (let j = 1; j < argv.length; j++) {
    const opt = argv[j].toUpperCase();
    if (opt === 'AUTH' && j + 2 < argv.length) {
      if (out === argv) out = [...argv];
      out[j + 1] = REDACTED;
      out[j + 2] = REDACTED;
      j += 2;
    } else if (opt === 'SETNAME' && j > 1 && j + 1 < argv.length) j++;
    else if (j > 1) break;
  }
  return out;
}

const REDACTED = '(redacted)';

/**
 * The arguments the slow log keeps: those monitors see (AUTH's and HELLO AUTH's redacted), and every
 * argument of ACL SETUSER after the subcommand (`>password` rules), as Redis's aclCommand redacts them.
 */
function redactForSlowlog(cmd: RuntimeCommand, argv: string[]): string[] {
  if (cmd.fullName === 'acl|setuser') return [argv[0], argv[1], ...argv.slice(2).map(() => REDACTED)];
  return redactForMonitors(cmd, argv);
}
