import { execFileSync } from 'node:child_process';
import { ACL_CATEGORIES, COMMANDS, type CommandSpec, getKeyPositions } from '@kvws/shared/commands';
import { describe, expect, it } from 'vitest';
import { buildCommandTable } from '../../server/src/commands/index.js';
import { type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';

const FLAGS = new Set([
  'write',
  'readonly',
  'denyoom',
  'module',
  'admin',
  'pubsub',
  'noscript',
  'blocking',
  'loading',
  'stale',
  'skip_monitor',
  'skip_slowlog',
  'asking',
  'fast',
  'no_auth',
  'may_replicate',
  'sentinel',
  'only_sentinel',
  'no_mandatory_keys',
  'protected',
  'no_async_loading',
  'no_multi',
  'movablekeys',
  'allow_busy',
]);

function all(): { spec: CommandSpec; full: string; parent?: CommandSpec }[] {
  const out: { spec: CommandSpec; full: string; parent?: CommandSpec }[] = [];
  for (const spec of COMMANDS) {
    out.push({ spec, full: spec.name });
    for (const sub of spec.subcommands ?? []) out.push({ spec: sub, full: `${spec.name}|${sub.name}`, parent: spec });
  }
  return out;
}

describe('the command table (shared/src/commands) is consistent', () => {
  it('every entry joins a handler and every handler an entry', () => {
    expect(() => buildCommandTable()).not.toThrow();
  });

  it('names are unique upper-case words', () => {
    const names = COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const { spec } of all()) expect(spec.name).toMatch(/^[A-Z][A-Z0-9_-]*$/);
  });

  it.each(all().map((e) => [e.full, e] as const))(
    '%s: arity, flags, categories, keys, docs',
    (_name, { spec, parent }) => {
      expect(spec.arity).not.toBe(0);
      if (parent) expect(Math.abs(spec.arity)).toBeGreaterThanOrEqual(2);
      for (const f of spec.flags) expect(FLAGS.has(f), `flag ${f}`).toBe(true);
      expect(spec.flags.includes('write') && spec.flags.includes('readonly')).toBe(false);
      for (const c of spec.acl) expect(ACL_CATEGORIES).toContain(c);
      // Redis implies these categories from flags; the table must carry them.
      if (spec.flags.includes('write')) expect(spec.acl).toContain('write');
      if (spec.flags.includes('blocking')) expect(spec.acl).toContain('blocking');
      if (!spec.subcommands) expect(spec.acl.includes('fast') !== spec.acl.includes('slow')).toBe(true);
      expect(spec.syntax.toUpperCase().startsWith(parent ? `${parent.name} ${spec.name}` : spec.name)).toBe(true);
      expect(spec.summary.length).toBeGreaterThan(5);
      expect(spec.since).toMatch(/^\d+\.\d+\.\d+$/);
      // Data commands that touch keys are either reads or writes.
      if (spec.keys.length > 0 && !['generic', 'transactions', 'server'].includes(spec.group)) {
        expect(spec.flags.includes('write') || spec.flags.includes('readonly')).toBe(true);
      }
      for (const k of spec.keys) {
        expect(['RO', 'RW', 'OW', 'RM']).toContain(k.access);
        if ('index' in k.begin) {
          expect(k.begin.index).toBeGreaterThanOrEqual(1);
          if (spec.arity > 0) expect(k.begin.index).toBeLessThan(spec.arity);
          else expect(k.begin.index).toBeLessThan(Math.max(-spec.arity, k.begin.index + 1));
        }
        if ('range' in k.find) expect(k.find.range.step).toBeGreaterThanOrEqual(1);
        // A write command must not declare every key read-only.
      }
      // XREADGROUP is Redis's one exception: it writes the group but declares its keys RO ACCESS.
      if (spec.flags.includes('write') && spec.keys.length > 0 && spec.name !== 'XREADGROUP') {
        expect(spec.keys.some((k) => k.access !== 'RO')).toBe(true);
      }
      if (spec.flags.includes('readonly') && spec.keys.length > 0) {
        expect(spec.keys.every((k) => k.access === 'RO')).toBe(true);
      }
    },
  );

  it('docs/commands.md is generated from the current table', () => {
    expect(() =>
      execFileSync(process.execPath, ['scripts/gen-command-docs.mjs', '--check'], { stdio: 'pipe' }),
    ).not.toThrow();
  });

  it('key positions find the keys of representative commands', () => {
    const pos = (argv: string[]) => {
      const spec = COMMANDS.find((c) => c.name === argv[0].toUpperCase()) as CommandSpec;
      return getKeyPositions(spec.keys, argv).map((k) => argv[k.index]);
    };
    expect(pos(['SET', 'k', 'v', 'EX', '1'])).toEqual(['k']);
    expect(pos(['MSET', 'a', '1', 'b', '2'])).toEqual(['a', 'b']);
    expect(pos(['RENAME', 'a', 'b'])).toEqual(['a', 'b']);
    expect(pos(['DEL', 'a', 'b', 'c'])).toEqual(['a', 'b', 'c']);
  });
});

describe('COMMAND answers from the table', () => {
  let server: RunningServer;
  useServer((s) => {
    server = s;
  });

  it('COMMAND COUNT and COMMAND INFO agree with the table', async () => {
    const r = redisClient(server);
    try {
      expect(await r.call('COMMAND', 'COUNT')).toBe(COMMANDS.length);
      for (const spec of COMMANDS) {
        const [info] = (await r.call('COMMAND', 'INFO', spec.name)) as unknown[][];
        expect(info[0]).toBe(spec.name.toLowerCase());
        expect(info[1]).toBe(spec.arity);
        expect((info[6] as string[]).sort()).toEqual(spec.acl.map((c) => `@${c}`).sort());
      }
      const list = (await r.call('COMMAND', 'LIST')) as string[];
      expect(list.length).toBe(COMMANDS.reduce((n, c) => n + 1 + (c.subcommands?.length ?? 0), 0));
    } finally {
      r.disconnect();
    }
  });
});
