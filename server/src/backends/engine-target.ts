/**
 * The `--engine` option: where the data lives. `embedded` (the default) is kvws's own engine; the other
 * forms put the gateway in front of real Redis (backends/redis/):
 *
 *   redis://[user:password@]host:port                  one Redis server
 *   redis-cluster://[user:password@]h1:p1,h2:p2,...    a Redis Cluster (any reachable nodes as seeds)
 *   redis-sentinel://[user:password@]h1:p1,h2:p2/name  a Sentinel-managed master called `name`
 *
 * `rediss`, `rediss-cluster` and `rediss-sentinel` use TLS to Redis. Query parameters:
 * `sentinelPassword`, `sentinelUsername` (for sentinels that require AUTH). Credentials may be left out of
 * the URL and given as `--engine-username`/`--engine-password` (or KVWS_ENGINE_PASSWORD), which win.
 */
export type EngineTarget =
  | { kind: 'embedded' }
  | {
      kind: 'redis' | 'cluster' | 'sentinel';
      /** The server (redis), the seed nodes (cluster) or the sentinels (sentinel). */
      nodes: { host: string; port: number }[];
      tls: boolean;
      username?: string;
      password?: string;
      /** Sentinel only. */
      masterName?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
    };

const SCHEMES: Record<string, { kind: 'redis' | 'cluster' | 'sentinel'; tls: boolean }> = {
  redis: { kind: 'redis', tls: false },
  rediss: { kind: 'redis', tls: true },
  'redis-cluster': { kind: 'cluster', tls: false },
  'rediss-cluster': { kind: 'cluster', tls: true },
  'redis-sentinel': { kind: 'sentinel', tls: false },
  'rediss-sentinel': { kind: 'sentinel', tls: true },
};

/** Parses an `--engine` value; throws an Error whose message names what is wrong. */
export function parseEngineTarget(value: string): EngineTarget {
  if (value === 'embedded') return { kind: 'embedded' };
  // The user information runs to the last @ before the query, so a password may hold / or @ unencoded.
  const m = /^([a-z-]+):\/\/(?:([^?]*)@)?([^@/?]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(value);
  const scheme = m ? SCHEMES[m[1]] : undefined;
  if (!m || !scheme) {
    throw new Error(
      `--engine must be "embedded", redis://host:port, redis-cluster://h1:p1,h2:p2 or redis-sentinel://h1:p1,h2:p2/<master-name> (or rediss…), got ${JSON.stringify(redactUrl(value))}`,
    );
  }
  const [, , auth, hostList, path, query] = m;
  const nodes = hostList.split(',').map((hp) => parseHostPort(hp, scheme.kind === 'sentinel' ? 26379 : 6379));
  if (scheme.kind === 'redis' && nodes.length !== 1) {
    throw new Error('--engine redis:// takes one host:port (use redis-cluster:// or redis-sentinel:// for several)');
  }
  const target: EngineTarget = { kind: scheme.kind, nodes, tls: scheme.tls };
  if (auth?.includes('/')) {
    throw new Error('--engine: percent-encode "/" in the user name and password (%2F); the URL is not shown');
  }
  if (auth !== undefined && auth !== '') {
    const i = auth.indexOf(':');
    const user = decodeURIComponent(i < 0 ? auth : auth.slice(0, i));
    if (i >= 0) target.password = decodeURIComponent(auth.slice(i + 1));
    if (user !== '') target.username = user;
  }
  if (scheme.kind === 'sentinel') {
    if (!path)
      throw new Error(
        '--engine redis-sentinel:// needs the master name as its path: redis-sentinel://h1:p1,h2:p2/mymaster',
      );
    target.masterName = decodeURIComponent(path);
  } else if (path) {
    throw new Error(
      `--engine ${scheme.kind === 'cluster' ? 'redis-cluster' : 'redis'}:// takes no path (databases are chosen with SELECT)`,
    );
  }
  for (const [k, v] of new URLSearchParams(query ?? '')) {
    if (k === 'sentinelPassword') target.sentinelPassword = v;
    else if (k === 'sentinelUsername') target.sentinelUsername = v;
    else
      throw new Error(`--engine: unknown parameter ${JSON.stringify(k)} (known: sentinelPassword, sentinelUsername)`);
  }
  return target;
}

function parseHostPort(hp: string, defaultPort: number): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(hp);
  if (!m) throw new Error(`--engine: ${JSON.stringify(hp)} is not host:port`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`--engine: bad port in ${JSON.stringify(hp)}`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** The URL with any password replaced by `***` (for messages and logs). */
export function redactUrl(value: string): string {
  return value
    .replace(/^([a-z-]+:\/\/)([^?]*)@/, (_, scheme: string, auth: string) => {
      const i = auth.indexOf(':');
      const user = i < 0 ? null : auth.slice(0, i);
      return user !== null && !/[/@]/.test(user) ? `${scheme}${user}:***@` : `${scheme}***@`;
    })
    .replace(/(sentinelPassword=)[^&]*/, '$1***');
}
