import { parseSaveRules } from '../persistence/persistence.js';
import { CommandError } from '../protocol/reply.js';
import type { Engine } from './engine.js';
import { POLICIES, type Policy, parseMemory } from './memory.js';
import { formatNotifyFlags, parseNotifyFlags } from './notify.js';

export { parseMemory };

/**
 * One CONFIG GET/SET parameter, under Redis's name. `set` validates and applies a value or throws an
 * Error whose message completes Redis's "CONFIG SET failed (possibly related to argument 'x') - …".
 * Parameters without `set` are immutable at run time.
 */
interface Param {
  get(): string;
  set?(v: string): void;
}

function parseIntParam(v: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(v)) throw new Error("argument couldn't be parsed into an integer");
  const n = Number(v);
  if (n < min || n > max) throw new Error(`argument must be between ${min} and ${max} inclusive`);
  return n;
}

/** An integer from `min` to 2^63-1 (Redis's LLONG_MAX bound), within what a JS number holds exactly enough. */
function parseLongParam(v: string, min: number): number {
  if (!/^-?\d+$/.test(v)) throw new Error("argument couldn't be parsed into an integer");
  const n = BigInt(v);
  if (n < BigInt(min) || n > 9223372036854775807n)
    throw new Error(`argument must be between ${min} and 9223372036854775807 inclusive`);
  return Number(n);
}

function parseYesNo(v: string): boolean {
  const s = v.toLowerCase();
  if (s === 'yes') return true;
  if (s === 'no') return false;
  throw new Error("argument must be 'yes' or 'no'");
}

/**
 * The run-time parameters: Redis's names, backed by `engine.options` so the front doors read live values.
 * CONFIG SET of several parameters is all-or-nothing, as in Redis 7.
 */
export class ConfigParams {
  readonly params = new Map<string, Param>();

  constructor(engine: Engine) {
    const o = engine.options;
    const p = this.params;
    p.set('notify-keyspace-events', {
      get: () => formatNotifyFlags(engine.notifyFlags),
      set: (v) => {
        const f = parseNotifyFlags(v);
        if (f < 0) throw new Error("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
        engine.notifyFlags = f;
      },
    });
    p.set('timeout', {
      get: () => String(o.timeout),
      set: (v) => {
        o.timeout = parseIntParam(v, 0, 2 ** 31 - 1);
      },
    });
    p.set('maxclients', {
      get: () => String(o.maxClients),
      set: (v) => {
        o.maxClients = parseIntParam(v, 1, 2 ** 32 - 1);
      },
    });
    p.set('proto-max-bulk-len', {
      get: () => String(o.protoMaxBulkLen),
      set: (v) => {
        o.protoMaxBulkLen = Math.max(1024 * 1024, parseMemory(v));
      },
    });
    p.set('client-output-buffer-limit', {
      get: () =>
        `normal 0 0 0 slave 268435456 67108864 60 pubsub ${o.pubsubHardLimit} ${o.pubsubSoftLimit} ${o.pubsubSoftSeconds}`,
      set: (v) => {
        const parts = v.trim().split(/\s+/);
        if (parts.length % 4 !== 0) throw new Error('Wrong number of arguments in buffer limit configuration.');
        for (let i = 0; i < parts.length; i += 4) {
          const cls = parts[i].toLowerCase();
          const hard = parseMemory(parts[i + 1]);
          const soft = parseMemory(parts[i + 2]);
          const secs = parseIntParam(parts[i + 3], 0, 2 ** 31 - 1);
          if (cls === 'pubsub') {
            o.pubsubHardLimit = hard;
            o.pubsubSoftLimit = soft;
            o.pubsubSoftSeconds = secs;
          } else if (!['normal', 'slave', 'replica'].includes(cls))
            throw new Error('Invalid client class specified in buffer limit configuration.');
        }
      },
    });
    p.set('protected-mode', {
      get: () => (o.protectedMode ? 'yes' : 'no'),
      set: (v) => {
        o.protectedMode = parseYesNo(v);
      },
    });
    p.set('acllog-max-len', {
      get: () => String(o.aclLogMaxLen),
      set: (v) => {
        o.aclLogMaxLen = parseIntParam(v, 0, 100_000);
        const log = engine.acl.log;
        if (log.length > o.aclLogMaxLen) log.length = o.aclLogMaxLen;
      },
    });
    // The slow log (engine/slowlog.ts): the threshold in µs (-1: log nothing) and the entries kept.
    p.set('slowlog-log-slower-than', {
      get: () => String(o.slowlogLogSlowerThan),
      set: (v) => {
        o.slowlogLogSlowerThan = parseLongParam(v, -1);
      },
    });
    p.set('slowlog-max-len', {
      get: () => String(o.slowlogMaxLen),
      set: (v) => {
        // As in Redis, the log is cut to the new length at its next entry.
        o.slowlogMaxLen = parseLongParam(v, 0);
      },
    });
    p.set('aclfile', { get: () => o.aclFile ?? (o.dataDir ? `${o.dataDir}/users.acl` : '') });
    p.set('databases', { get: () => String(o.databases) });
    p.set('port', { get: () => String(o.respPort) });
    p.set('bind', { get: () => o.host });
    p.set('dir', { get: () => o.dataDir ?? process.cwd() });
    // Persistence (persistence/): AOF and dumps. Changing these needs a data directory to matter.
    p.set('appendonly', {
      get: () => (o.appendonly ? 'yes' : 'no'),
      set: (v) => {
        const on = parseYesNo(v);
        if (on !== o.appendonly && !o.dataDir) throw new Error('kvws has no data directory (start it with --data-dir)');
        if (on !== o.appendonly) void engine.persistence.setAppendonly(on);
      },
    });
    p.set('appendfsync', {
      get: () => o.appendfsync,
      set: (v) => {
        const s = v.toLowerCase();
        if (s !== 'always' && s !== 'everysec' && s !== 'no')
          throw new Error('argument(s) must be one of the following: always, everysec, no');
        engine.persistence.setFsync(s);
      },
    });
    p.set('appendfilename', { get: () => o.appendfilename });
    p.set('appenddirname', { get: () => o.appenddirname });
    p.set('dbfilename', { get: () => o.dbfilename });
    p.set('auto-aof-rewrite-percentage', {
      get: () => String(o.autoAofRewritePercentage),
      set: (v) => {
        o.autoAofRewritePercentage = parseIntParam(v, 0, 2 ** 31 - 1);
        if (engine.aof) engine.aof.options.autoRewritePercentage = o.autoAofRewritePercentage;
      },
    });
    p.set('auto-aof-rewrite-min-size', {
      get: () => String(o.autoAofRewriteMinSize),
      set: (v) => {
        o.autoAofRewriteMinSize = parseMemory(v);
        if (engine.aof) engine.aof.options.autoRewriteMinSize = o.autoAofRewriteMinSize;
      },
    });
    p.set('aof-load-truncated', {
      get: () => (o.aofLoadTruncated ? 'yes' : 'no'),
      set: (v) => {
        o.aofLoadTruncated = parseYesNo(v);
      },
    });
    p.set('save', {
      get: () => engine.persistence.saveRules.map(([s, n]) => `${s} ${n}`).join(' '),
      set: (v) => {
        engine.persistence.saveRules = parseSaveRules(v);
        o.save = v;
      },
    });
    // Memory limit and eviction (engine/memory.ts, engine/eviction.ts). On the Redis engine they are Redis's.
    const embeddedOnly = () => {
      if (engine.gateway !== null)
        throw new Error(
          'the Redis engine does not evict: memory limits and eviction are set on the Redis servers (CONFIG SET there)',
        );
    };
    p.set('maxmemory', {
      get: () => String(o.maxmemory),
      set: (v) => {
        const n = parseMemory(v);
        if (n !== o.maxmemory) embeddedOnly();
        o.maxmemory = n;
        engine.memory.refreshTracking();
        if (n !== 0 && engine.memory.used > n) {
          engine.log(
            `WARNING: the new maxmemory value set via CONFIG SET (${n}) is smaller than the current memory usage (${engine.memory.used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.`,
          );
          engine.memory.evictor.schedule();
        }
      },
    });
    p.set('maxmemory-policy', {
      get: () => o.maxmemoryPolicy,
      set: (v) => {
        const policy = v.toLowerCase() as Policy;
        if (!POLICIES.includes(policy))
          throw new Error(`argument(s) must be one of the following: ${POLICIES.join(', ')}`);
        if (policy !== o.maxmemoryPolicy) embeddedOnly();
        engine.memory.setPolicy(policy);
        engine.memory.refreshTracking();
      },
    });
    p.set('maxmemory-samples', {
      get: () => String(o.maxmemorySamples),
      set: (v) => {
        const n = parseIntParam(v, 1, 2 ** 31 - 1);
        if (n !== o.maxmemorySamples) embeddedOnly();
        o.maxmemorySamples = n;
      },
    });
    p.set('maxmemory-eviction-tenacity', {
      get: () => String(o.maxmemoryEvictionTenacity),
      set: (v) => {
        const n = parseIntParam(v, 0, 100);
        if (n !== o.maxmemoryEvictionTenacity) embeddedOnly();
        o.maxmemoryEvictionTenacity = n;
      },
    });
    p.set('lfu-log-factor', {
      get: () => String(o.lfuLogFactor),
      set: (v) => {
        const n = parseIntParam(v, 0, 2 ** 31 - 1);
        if (n !== o.lfuLogFactor) embeddedOnly();
        o.lfuLogFactor = n;
      },
    });
    p.set('lfu-decay-time', {
      get: () => String(o.lfuDecayTime),
      set: (v) => {
        const n = parseIntParam(v, 0, 2 ** 31 - 1);
        if (n !== o.lfuDecayTime) embeddedOnly();
        o.lfuDecayTime = n;
      },
    });
  }

  /**
   * CONFIG GET: every parameter whose name matches one of `patterns` (glob, case-insensitive), each once.
   * A pattern without `*`, `?` or `[` is a plain name and is answered under the name as given (Redis
   * replies `TIMEOUT` to `CONFIG GET TIMEOUT`).
   */
  get(patterns: string[], match: (p: string, s: string) => boolean): [string, string][] {
    const out: [string, string][] = [];
    const seen = new Set<string>();
    for (const p of patterns) {
      if (!/[*?[]/.test(p)) {
        const n = p.toLowerCase();
        const param = this.params.get(n);
        if (param && !seen.has(n)) {
          seen.add(n);
          out.push([p, param.get()]);
        }
        continue;
      }
      for (const [name, param] of this.params) {
        if (!seen.has(name) && match(p.toLowerCase(), name)) {
          seen.add(name);
          out.push([name, param.get()]);
        }
      }
    }
    return out;
  }

  /** CONFIG SET: validates every pair, applies all or none; throws CommandError with Redis's wording. */
  set(pairs: [string, string][]): void {
    const seen = new Set<string>();
    for (const [name] of pairs) {
      const n = name.toLowerCase();
      const param = this.params.get(n);
      if (!param) throw new CommandError(`ERR Unknown option or number of arguments for CONFIG SET - '${name}'`);
      if (!param.set)
        throw new CommandError(
          `ERR CONFIG SET failed (possibly related to argument '${name}') - can't set immutable config`,
        );
      if (seen.has(n))
        throw new CommandError(`ERR CONFIG SET failed (possibly related to argument '${name}') - duplicate parameter`);
      seen.add(n);
    }
    const before = pairs.map(([name]) => (this.params.get(name.toLowerCase()) as Param).get());
    for (let i = 0; i < pairs.length; i++) {
      const [name, value] = pairs[i];
      try {
        (this.params.get(name.toLowerCase()) as Param).set?.(value);
      } catch (e) {
        for (let j = 0; j < i; j++) (this.params.get(pairs[j][0].toLowerCase()) as Param).set?.(before[j]);
        throw new CommandError(
          `ERR CONFIG SET failed (possibly related to argument '${name}') - ${(e as Error).message}`,
        );
      }
    }
  }
}
