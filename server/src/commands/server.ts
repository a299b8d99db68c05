import os from 'node:os';
import { ACL_CATEGORIES, type CommandSpec, getKeyPositions, type KeySpec } from '@kvws/shared/commands';
import type { Client } from '../engine/client.js';
import { lookupCommand } from '../engine/dispatch.js';
import type { Engine, Histogram } from '../engine/engine.js';
import { globMatch } from '../engine/glob.js';
import {
  CommandError,
  ErrorReply,
  MapReply,
  MultiReply,
  OK,
  type Reply,
  SetReply,
  SimpleString,
  VerbatimReply,
} from '../protocol/reply.js';
import { kw } from './args.js';
import { KVWS_VERSION, REDIS_COMPAT_VERSION } from './connection.js';
import type { RuntimeCommand } from './index.js';
import type { Handlers } from './types.js';

/** Redis's legacy (first, last, step) triple, from the leading index/range key specs. */
function legacyRange(specs: readonly KeySpec[]): [number, number, number] {
  let first = 0;
  let last = 0;
  let step = 0;
  for (const s of specs) {
    if (!('index' in s.begin) || !('range' in s.find)) break;
    const { lastKey, step: st, limit } = s.find.range;
    if (limit > 1) break;
    const begin = s.begin.index;
    const end = lastKey < 0 ? lastKey : begin + lastKey;
    if (first === 0) {
      first = begin;
      last = end;
      step = st;
    } else if (last >= 0 && begin === last + step && st === step) {
      last = end;
    } else break;
  }
  return [first, last, step];
}

function keySpecReply(k: KeySpec): MapReply {
  const begin =
    'index' in k.begin
      ? new MapReply([
          ['type', 'index'],
          ['spec', new MapReply([['index', k.begin.index]])],
        ])
      : new MapReply([
          ['type', 'keyword'],
          [
            'spec',
            new MapReply([
              ['keyword', k.begin.keyword],
              ['startfrom', k.begin.startFrom],
            ]),
          ],
        ]);
  const find =
    'range' in k.find
      ? new MapReply([
          ['type', 'range'],
          [
            'spec',
            new MapReply([
              ['lastkey', k.find.range.lastKey],
              ['keystep', k.find.range.step],
              ['limit', k.find.range.limit],
            ]),
          ],
        ])
      : new MapReply([
          ['type', 'keynum'],
          [
            'spec',
            new MapReply([
              ['keynumidx', k.find.keynum.keyNumIdx],
              ['firstkey', k.find.keynum.firstKey],
              ['keystep', k.find.keynum.step],
            ]),
          ],
        ]);
  const fields: [Reply, Reply][] = [
    ['flags', new SetReply(keyFlagNames(k.access, k.ops).map((f) => new SimpleString(f)))],
    ['begin_search', begin],
    ['find_keys', find],
  ];
  if (k.notes !== undefined) fields.unshift(['notes', k.notes]);
  return new MapReply(fields);
}

/** Key-spec flags as Redis prints them: the access flag upper-case (RO, RW, OW, RM), the rest lower-case. */
function keyFlagNames(access: string, ops: readonly string[]): string[] {
  return [access, ...ops.map((o) => o.toLowerCase())];
}

/** ACL categories in Redis's order (the ACL category table), as COMMAND INFO lists them. */
function orderedCategories(acl: readonly string[]): string[] {
  return (ACL_CATEGORIES as readonly string[]).filter((c) => acl.includes(c));
}

/** One COMMAND INFO entry, in Redis 7's ten-field shape. */
function commandInfo(spec: CommandSpec, fullName: string): Reply {
  const [first, last, step] = legacyRange(spec.keys);
  return [
    fullName,
    spec.arity,
    new SetReply(spec.flags.map((f) => new SimpleString(f))),
    first,
    last,
    step,
    new SetReply(orderedCategories(spec.acl).map((c) => new SimpleString(`@${c}`))),
    new SetReply((spec.tips ?? []).map((t) => t)),
    spec.keys.map(keySpecReply),
    (spec.subcommands ?? []).map((s) => commandInfo(s, `${fullName}|${s.name.toLowerCase()}`)),
  ];
}

function commandDocs(spec: CommandSpec, fullName: string): MapReply {
  const fields: [Reply, Reply][] = [
    ['summary', spec.summary],
    ['since', spec.since],
    ['group', spec.group],
    ['syntax', spec.syntax],
  ];
  if (spec.subcommands) {
    fields.push([
      'subcommands',
      new MapReply(
        spec.subcommands.map((s) => {
          const n = `${fullName}|${s.name.toLowerCase()}`;
          return [n, commandDocs(s, n)] as [Reply, Reply];
        }),
      ),
    ]);
  }
  return new MapReply(fields);
}

/** Unique top-level table entries (the table maps both upper- and lower-case names). */
function entries(client: Client): RuntimeCommand[] {
  return tableEntries(client.engine);
}

function tableEntries(engine: Engine): RuntimeCommand[] {
  return [...new Set(engine.table.values())];
}

/**
 * Every command and subcommand of the table that has run or been refused, in table order: the rows of
 * INFO commandstats and latencystats, and of the command metrics (net/metrics.ts).
 */
export function usedCommands(engine: Engine): RuntimeCommand[] {
  const out: RuntimeCommand[] = [];
  const add = (e: RuntimeCommand) => {
    if (e.stats.calls > 0 || e.stats.failed > 0 || e.stats.rejected > 0) out.push(e);
  };
  for (const e of tableEntries(engine)) {
    add(e);
    for (const s of e.subcommands?.values() ?? []) add(s);
  }
  return out;
}

/** Percentiles INFO latencystats shows, as Redis's default `latency-tracking-info-percentiles` (50 99 99.9). */
const LATENCY_PERCENTILES = [50, 99, 99.9];

function findEntry(client: Client, name: string): RuntimeCommand | undefined {
  const [top, sub] = name.toLowerCase().split('|');
  const e = client.engine.table.get(top);
  if (!e) return undefined;
  if (sub === undefined) return e;
  return e.subcommands?.get(sub);
}

// ---- INFO ----

/**
 * The fields of one INFO section (`server`, `stats`, `commandstats`…), as INFO prints them; [] for an
 * unknown one. `/metrics` (net/metrics.ts) reads its values from here, so the two always agree.
 */
export function infoSection(engine: Engine, name: string): [string, string | number][] {
  return infoSections(engine)[name]?.() ?? [];
}

function infoSections(engine: Engine): Record<string, () => [string, string | number][]> {
  const mem = () => process.memoryUsage();
  return {
    server: () => [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['kvws_version', KVWS_VERSION],
      ['redis_mode', 'standalone'],
      ['os', `${os.type()} ${os.release()} ${os.arch()}`],
      ['arch_bits', 64],
      ['process_id', process.pid],
      ['run_id', engine.runId],
      ['tcp_port', engine.options.respPort],
      ['server_time_usec', Date.now() * 1000],
      ['uptime_in_seconds', Math.floor((Date.now() - engine.stats.startedAt) / 1000)],
      ['uptime_in_days', Math.floor((Date.now() - engine.stats.startedAt) / 86400000)],
      ['executable', process.argv[1] ?? ''],
      ['node_version', process.version],
    ],
    clients: () => {
      let pubsub = 0;
      let watching = 0;
      const byDoor = { resp: 0, ws: 0, http: 0, internal: 0 };
      for (const c of engine.clients.byId.values()) {
        if (c.subscriptionCount > 0) pubsub++;
        if (c.watched.size > 0) watching++;
        byDoor[c.frontDoor]++;
      }
      return [
        ['connected_clients', engine.clients.size],
        // kvws: the same clients by front door (HTTP API sessions last a request, or an event stream).
        ['connected_clients_resp', byDoor.resp],
        ['connected_clients_ws', byDoor.ws],
        ['connected_clients_http', byDoor.http],
        ['maxclients', engine.options.maxClients],
        ['blocked_clients', engine.blocking.count],
        ['pubsub_clients', pubsub],
        ['watching_clients', watching],
        ['total_watched_keys', engine.watchers.size],
      ];
    },
    memory: () => {
      const m = mem();
      // used_memory is the dataset as engine/memory.ts accounts it (what maxmemory bounds); the process's
      // own figures follow (docs/eviction.md#memory-accounting).
      const heap = m.heapUsed + m.external + m.arrayBuffers;
      const { usage, limit } = engine.memory.info();
      return [
        ...usage,
        ['used_memory_rss', m.rss],
        ['used_memory_rss_human', human(m.rss)],
        ['used_memory_heap', heap],
        ['used_memory_heap_human', human(heap)],
        ['used_memory_heap_total', m.heapTotal],
        ['total_system_memory', os.totalmem()],
        ['total_system_memory_human', human(os.totalmem())],
        ...limit,
        ['mem_allocator', 'v8'],
      ];
    },
    persistence: () => engine.persistence.info(),
    stats: () => [
      ['total_connections_received', engine.clients.totalConnections],
      ['total_commands_processed', engine.stats.commands],
      ['expired_keys', engine.stats.expiredKeys],
      ['expired_pending', engine.expiry.pending],
      ['expire_last_lateness_ms', engine.expiry.lastLatenessMs],
      ['evicted_keys', engine.memory.evictedKeys],
      ['total_eviction_exceeded_time', engine.memory.evictor.exceededMs().total],
      ['current_eviction_exceeded_time', engine.memory.evictor.exceededMs().current],
      ['keyspace_hits', engine.stats.keyspaceHits],
      ['keyspace_misses', engine.stats.keyspaceMisses],
      ['pubsub_channels', engine.pubsub.channels.size],
      ['pubsub_patterns', engine.pubsub.patterns.size],
      ['total_error_replies', engine.stats.errorReplies],
      ['rejected_calls', engine.stats.rejectedCalls],
      ['acl_access_denied_auth', engine.acl.stats.authFailures],
      ['acl_access_denied_cmd', engine.acl.stats.deniedCommands],
      ['acl_access_denied_key', engine.acl.stats.deniedKeys],
      ['acl_access_denied_channel', engine.acl.stats.deniedChannels],
      ['auth_hashes_total', engine.acl.hasher.total],
      ['auth_hashes_running', engine.acl.hasher.active],
      ['auth_hashes_queued', engine.acl.hasher.queued],
      ['auth_queue_full_rejections', engine.acl.hasher.queueFullRejections],
      ['events_published', engine.stats.eventsPublished],
      ['events_delivered', engine.stats.eventsDelivered],
      ['scan_cursors_live', engine.scans.size],
      ['event_stream_epoch', engine.events.epoch],
      ['event_log_events', engine.events.size],
      ['event_log_bytes', engine.events.memoryBytes],
      ['event_log_first_offset', engine.events.firstOffset],
      ['event_log_last_offset', engine.events.lastOffset],
      ['event_log_resumes', engine.events.stats.resumes],
      ['event_log_resumes_recovered', engine.events.stats.recoveredResumes],
      ['event_log_resumes_unrecovered', engine.events.stats.unrecoveredResumes],
      ['event_log_replayed', engine.events.stats.replayed],
      ...engine.infoStats.flatMap((provide) => provide()),
    ],
    replication: () => [
      ['role', 'master'],
      ['connected_slaves', 0],
    ],
    cpu: () => {
      const u = process.cpuUsage();
      return [
        ['used_cpu_sys', (u.system / 1e6).toFixed(6)],
        ['used_cpu_user', (u.user / 1e6).toFixed(6)],
      ];
    },
    modules: () => [],
    commandstats: () =>
      usedCommands(engine).map((e) => {
        const st = e.stats;
        const usec = Math.round(st.latency?.sum ?? 0);
        const perCall = st.calls > 0 ? usec / st.calls : 0;
        return [
          `cmdstat_${e.fullName}`,
          `calls=${st.calls},usec=${usec},usec_per_call=${perCall.toFixed(2)},rejected_calls=${st.rejected},failed_calls=${st.failed}`,
        ];
      }),
    // Redis 7's percentiles per command, estimated from the latency histograms (exact to their buckets).
    latencystats: () =>
      usedCommands(engine)
        .filter((e) => e.stats.latency !== null && e.stats.latency.count > 0)
        .map((e) => {
          const h = e.stats.latency as Histogram;
          return [
            `latency_percentiles_usec_${e.fullName}`,
            LATENCY_PERCENTILES.map((p) => `p${p}=${h.quantile(p / 100).toFixed(3)}`).join(','),
          ];
        }),
    cluster: () => [['cluster_enabled', 0]],
    keyspace: () => {
      const out: [string, string][] = [];
      for (const db of engine.dbs) {
        if (db.size > 0) out.push([`db${db.index}`, `keys=${db.size},expires=${db.expires.size},avg_ttl=0`]);
      }
      return out;
    },
  };
}

const DEFAULT_SECTIONS = [
  'server',
  'clients',
  'memory',
  'persistence',
  'stats',
  'replication',
  'cpu',
  'modules',
  'cluster',
  'keyspace',
];
/** Section headers that are not just the capitalised name. */
const SECTION_TITLES: Record<string, string> = { cpu: 'CPU' };

function human(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(2)}${units[i]}`;
}

/** A persistence error (no data directory, one already running) as Redis's error reply. */
function persistenceCall<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const m = (e as Error).message;
    throw new CommandError(/^[A-Z]+ /.test(m) ? m : `ERR ${m}`);
  }
}

export const handlers: Handlers = {
  // BGREWRITEAOF
  BGREWRITEAOF(client) {
    const aof = client.engine.aof;
    if (!aof)
      throw new CommandError(
        'ERR the append-only file is off: start kvws with --data-dir (and appendonly yes), or CONFIG SET appendonly yes',
      );
    if (aof.rewriteInProgress) throw new CommandError('ERR Background append only file rewriting already in progress');
    aof.rewrite().catch(() => {});
    return new SimpleString('Background append only file rewriting started');
  },

  // BGSAVE [SCHEDULE]
  BGSAVE(client, argv) {
    if (argv.length > 2 || (argv.length === 2 && argv[1].toUpperCase() !== 'SCHEDULE'))
      throw new CommandError('ERR syntax error');
    const p = client.engine.persistence;
    if (argv.length === 2 && p.bgsaveInProgress) return new SimpleString('Background saving scheduled');
    persistenceCall(() => p.startBgsave()).catch(() => {});
    return new SimpleString('Background saving started');
  },

  // SAVE
  SAVE(client) {
    persistenceCall(() => client.engine.persistence.save());
    return new SimpleString('OK');
  },

  // LASTSAVE
  LASTSAVE(client) {
    return client.engine.persistence.lastSave;
  },

  // INFO [section [section ...]]
  INFO(client, argv) {
    const sections = infoSections(client.engine);
    let wanted = argv.slice(1).map((s) => s.toLowerCase());
    if (wanted.length === 0 || wanted.includes('default')) wanted = DEFAULT_SECTIONS;
    else if (wanted.includes('all') || wanted.includes('everything')) wanted = Object.keys(sections);
    const parts: string[] = [];
    for (const name of wanted) {
      if (!Object.hasOwn(sections, name)) continue; // `__proto__`, `constructor`… are not sections
      const fn = sections[name];
      const title = SECTION_TITLES[name] ?? name[0].toUpperCase() + name.slice(1);
      parts.push(
        `# ${title}\r\n${fn()
          .map(([k, v]) => `${k}:${v}\r\n`)
          .join('')}`,
      );
    }
    return new VerbatimReply(parts.join('\r\n'));
  },

  // TIME
  TIME() {
    const us = BigInt(Date.now()) * 1000n + BigInt(Math.floor((performance.now() % 1) * 1000));
    return [String(us / 1000000n), String(us % 1000000n)];
  },

  // MONITOR — from now on the client receives a line for every command run (engine.feedMonitors). Inside
  // EXEC it is refused (Redis's DENY BLOCKING client: it expects one reply per command); a client already
  // monitoring gets no reply at all, as in Redis (an empty MultiReply: nothing on RESP, `[]` in JSON).
  MONITOR(client) {
    if (client.inExec) return new ErrorReply("ERR MONITOR isn't allowed for DENY BLOCKING client");
    return client.engine.addMonitor(client) ? OK : new MultiReply([]);
  },

  // COMMAND — every command's COMMAND INFO entry.
  COMMAND(client) {
    return entries(client).map((e) => commandInfo(e.spec, e.fullName));
  },

  // COMMAND COUNT
  'COMMAND|COUNT'(client) {
    return entries(client).length;
  },

  // COMMAND INFO [command-name [command-name ...]]
  'COMMAND|INFO'(client, argv) {
    if (argv.length === 2) return entries(client).map((e) => commandInfo(e.spec, e.fullName));
    return argv.slice(2).map((n) => {
      const e = findEntry(client, n);
      return e ? commandInfo(e.spec, e.fullName) : null;
    });
  },

  // COMMAND DOCS [command-name [command-name ...]]
  'COMMAND|DOCS'(client, argv) {
    const list =
      argv.length === 2
        ? entries(client)
        : (argv
            .slice(2)
            .map((n) => findEntry(client, n))
            .filter(Boolean) as RuntimeCommand[]);
    return new MapReply(list.map((e) => [e.fullName, commandDocs(e.spec, e.fullName)] as [Reply, Reply]));
  },

  // COMMAND GETKEYS command [arg [arg ...]]
  'COMMAND|GETKEYS'(client, argv) {
    return getKeys(client, argv.slice(2)).map((k) => k.key);
  },

  // COMMAND GETKEYSANDFLAGS command [arg [arg ...]]
  'COMMAND|GETKEYSANDFLAGS'(client, argv) {
    return getKeys(client, argv.slice(2)).map((k) => [k.key, new SetReply(k.flags.map((f) => new SimpleString(f)))]);
  },

  // COMMAND LIST [FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]
  'COMMAND|LIST'(client, argv) {
    const names: string[] = [];
    for (const e of entries(client)) {
      names.push(e.fullName);
      for (const s of e.subcommands?.values() ?? []) names.push(s.fullName);
    }
    if (argv.length === 2) return names;
    if (argv.length !== 5 || kw(argv[2]) !== 'FILTERBY') throw new CommandError('ERR syntax error');
    const by = kw(argv[3]);
    const v = argv[4];
    if (by === 'MODULE') return [];
    if (by === 'PATTERN') return names.filter((n) => globMatch(v, n, true));
    if (by === 'ACLCAT') {
      const cat = v.toLowerCase().replace(/^@/, '');
      if (!(ACL_CATEGORIES as readonly string[]).includes(cat)) return [];
      return names.filter((n) => (findEntry(client, n)?.spec.acl as string[] | undefined)?.includes(cat) === true);
    }
    throw new CommandError('ERR syntax error');
  },

  // SLOWLOG GET [count] — the newest `count` entries (default 10, -1 = all), newest first, each
  // [id, Unix time, µs, argv, client address, client name] (engine/slowlog.ts).
  'SLOWLOG|GET'(client, argv) {
    if (argv.length > 3) {
      throw new CommandError(
        `ERR unknown subcommand or wrong number of arguments for '${argv[1].slice(0, 128)}'. Try SLOWLOG HELP.`,
      );
    }
    let count = 10;
    if (argv.length === 3) {
      count = /^-?\d+$/.test(argv[2]) ? Number(argv[2]) : Number.NaN;
      if (!(count >= -1)) throw new CommandError('ERR count should be greater than or equal to -1');
    }
    return client.engine.slowlog
      .newest(count)
      .map((e) => [e.id, e.time, e.duration, e.argv, e.addr, e.name] as Reply[]);
  },

  // SLOWLOG LEN
  'SLOWLOG|LEN'(client) {
    return client.engine.slowlog.length;
  },

  // SLOWLOG RESET
  'SLOWLOG|RESET'(client) {
    client.engine.slowlog.reset();
    return OK;
  },

  // SLOWLOG HELP
  'SLOWLOG|HELP'() {
    return [
      'SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'GET [<count>]',
      '    Return top <count> entries from the slowlog (default: 10, -1 mean all).',
      '    Entries are made of:',
      '    id, timestamp, time in microseconds, arguments array, client IP and port,',
      '    client name',
      'LEN',
      '    Return the length of the slowlog.',
      'RESET',
      '    Reset the slowlog.',
      'HELP',
      '    Prints this help.',
    ];
  },

  // COMMAND HELP
  'COMMAND|HELP'() {
    return [
      'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      '(no subcommand)',
      '    Return details about all commands.',
      'COUNT',
      '    Return the total number of commands in this server.',
      'LIST',
      '    Return a list of all commands in this server.',
      'INFO [<command-name> ...]',
      '    Return details about multiple commands.',
      'DOCS [<command-name> ...]',
      '    Return documentation details about multiple commands.',
      'GETKEYS <full-command>',
      '    Return the keys from a full command.',
      'GETKEYSANDFLAGS <full-command>',
      '    Return the keys and the access flags from a full command.',
      'HELP',
      '    Print this help.',
    ];
  },
};

/** COMMAND GETKEYS: resolves the command (with arity check) and applies its key specs. */
function getKeys(client: Client, argv: string[]): { key: string; flags: string[] }[] {
  const cmd = lookupCommand(client.engine, argv);
  if (cmd instanceof ErrorReply) {
    if (cmd.message.startsWith('ERR wrong number'))
      throw new CommandError('ERR Invalid number of arguments specified for command');
    throw new CommandError('ERR Invalid command specified');
  }
  const refs = getKeyPositions(cmd.spec.keys, argv);
  if (refs.length === 0) throw new CommandError('ERR The command has no key arguments');
  if (cmd.fullName === 'set') {
    // SET's key flags depend on GET (Redis's setGetKeys): RW access update with GET, else OW update.
    const get = argv.slice(3).some((a) => kw(a) === 'GET');
    return [{ key: argv[1], flags: get ? ['RW', 'access', 'update'] : ['OW', 'update'] }];
  }
  return refs.map((r) => ({ key: argv[r.index], flags: keyFlagNames(r.access, cmd.spec.keys[r.spec].ops) }));
}
