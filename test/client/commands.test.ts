import { BLOCKING, builders } from '@kvws/client';
import { COMMANDS } from '@kvws/shared/commands';
import { describe, expect, it } from 'vitest';

// Drift between the server's command table (@kvws/shared/commands) and the client's builders (@kvws/client),
// without a server. Every command has exactly one builder, named by a fixed rule, and no builder exists for
// a command the table does not know; each builder's argv names its command. Needs `npx tsc -b` first (both
// packages are imported built, as users get them).
//
// Naming: the lower-case command name (`zadd`); container subcommands in camelCase, container then
// subcommand (`CONFIG GET` → `configGet`, `COMMAND GETKEYSANDFLAGS` → `commandGetkeysandflags`). A
// container that also runs without a subcommand (arity -1 in the table: COMMAND) has a builder for the bare
// name as well (`command`). HELP subcommands are builders like the others (`configHelp`, `objectHelp`).

/** Commands with no builder, on purpose, and where the client offers them instead. */
const NOT_BUILDERS: Record<string, string> = {
  SUBSCRIBE: 'client.subscribe(), which keeps the subscription across reconnects',
  PSUBSCRIBE: 'client.psubscribe()',
  SSUBSCRIBE: 'client.subscribe() (sharded pub/sub, if the table ever has it)',
  UNSUBSCRIBE: 'Subscription.unsubscribe()',
  PUNSUBSCRIBE: 'Subscription.unsubscribe()',
  SUNSUBSCRIBE: 'Subscription.unsubscribe()',
  MULTI: 'client.multi() … Pipeline.exec(), one `multi` request',
  EXEC: 'client.multi() … Pipeline.exec()',
  DISCARD: 'client.multi(): a transaction is sent whole, so there is nothing to discard',
  AUTH: "the transport's token/password options (the WebSocket's auth frame, the HTTP API's Bearer header)",
  HELLO: 'the transport: the WebSocket session is RESP3-shaped JSON, the HTTP API RESP2-shaped',
  QUIT: 'client.close()',
  RESET: 'the transport (a RESET would drop the session the transport set up)',
  MONITOR: 'none: it makes the session a stream (the RESP port, or WebSocket `monitor` pushes)',
};

type Builder = (...args: unknown[]) => { argv: unknown[]; decode: unknown };
const table = builders as unknown as Record<string, Builder>;

/** Method name → the words its argv must start with (`configGet` → ['CONFIG', 'GET']). */
function expectedMethods(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const spec of COMMANDS) {
    if (spec.name in NOT_BUILDERS) continue;
    const name = spec.name.toLowerCase();
    if (!spec.subcommands || spec.arity === -1) out.set(name, [spec.name]);
    for (const sub of spec.subcommands ?? []) {
      out.set(name + sub.name[0] + sub.name.slice(1).toLowerCase(), [spec.name, sub.name]);
    }
  }
  return out;
}

/**
 * Arguments for builders that placeholder strings or one-element arrays cannot build (none today: every
 * builder accepts them, since only argv[0..1] is checked). Add `method: [args…]` when one cannot.
 */
const EXPLICIT_ARGS: Record<string, unknown[]> = {};

/**
 * Builds `name` with placeholders: its declared parameters (`fn.length`, rest parameters excluded) as
 * strings, else as one-element arrays (for builders that map over a list), else EXPLICIT_ARGS. Returns
 * the Command, or the errors met.
 */
function build(name: string): { argv: unknown[]; decode: unknown } | Error {
  const fn = table[name];
  const attempts: unknown[][] =
    name in EXPLICIT_ARGS
      ? [EXPLICIT_ARGS[name]]
      : [Array(fn.length).fill('x'), Array(fn.length).fill(['x']), Array(fn.length).fill({ x: 'x' })];
  const errors: string[] = [];
  for (const args of attempts) {
    try {
      return fn(...args);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return new Error(`${name}: cannot build with placeholders (${errors.join('; ')}): add it to EXPLICIT_ARGS`);
}

describe('client command builders against the command table', () => {
  const expected = expectedMethods();
  const actual = new Set(Object.keys(builders));

  it('has a builder for every command of the table, except the documented ones', () => {
    const missing = [...expected.keys()].filter((m) => !actual.has(m)).sort();
    expect(missing, `commands without a builder: ${missing.join(', ')}`).toEqual([]);
  });

  it('has no builder for a command the table does not know', () => {
    const unknown = [...actual].filter((m) => !expected.has(m)).sort();
    expect(unknown, `builders with no command in the table: ${unknown.join(', ')}`).toEqual([]);
  });

  it('has no builder for the commands the client offers otherwise', () => {
    // A `subscribe` or `multi` builder would also replace KvwsClient's own method of that name.
    const lower = Object.keys(NOT_BUILDERS).map((n) => n.toLowerCase());
    expect(lower.filter((n) => actual.has(n))).toEqual([]);
    // Each exception is a real command of the table or one Redis has that kvws may add (sharded pub/sub).
    const names = new Set(COMMANDS.map((c) => c.name));
    expect(Object.keys(NOT_BUILDERS).filter((n) => !names.has(n))).toEqual(['SSUBSCRIBE', 'SUNSUBSCRIBE']);
  });

  it('derives the method names as documented', () => {
    // Spot checks of the naming rule, so a change to expectedMethods shows here.
    expect(expected.get('configGet')).toEqual(['CONFIG', 'GET']);
    expect(expected.get('commandGetkeysandflags')).toEqual(['COMMAND', 'GETKEYSANDFLAGS']);
    expect(expected.get('command')).toEqual(['COMMAND']);
    expect(expected.get('zrangebyscore')).toEqual(['ZRANGEBYSCORE']);
    expect(expected.has('config')).toBe(false); // CONFIG needs a subcommand (arity -2)
    expect(expected.has('subscribe')).toBe(false);
    expect(expected.has('auth')).toBe(false);
  });

  it("builds each command's argv starting with its name (and subcommand)", () => {
    const wrong: string[] = [];
    for (const [method, words] of expected) {
      if (!actual.has(method)) continue; // reported by the coverage test above
      const c = build(method);
      if (c instanceof Error) {
        wrong.push(c.message);
        continue;
      }
      const head = c.argv.slice(0, words.length).map((w) => String(w).toUpperCase());
      if (JSON.stringify(head) !== JSON.stringify(words)) wrong.push(`${method}: argv ${JSON.stringify(c.argv)}`);
      if (typeof c.decode !== 'function') wrong.push(`${method}: no decode function`);
    }
    expect(wrong).toEqual([]);
  });

  it('builds the argv of subcommands and bare containers exactly', () => {
    // The example of the brief, and the container that has a bare form.
    expect(builders.configGet('x').argv.slice(0, 2)).toEqual(['CONFIG', 'GET']);
    expect(builders.command().argv).toEqual(['COMMAND']);
    expect(builders.commandCount().argv).toEqual(['COMMAND', 'COUNT']);
    expect(builders.clientSetname('n').argv).toEqual(['CLIENT', 'SETNAME', 'n']);
  });
});

describe('blocking commands', () => {
  it("the client's list of blocking commands (for call timeouts) is the table's `blocking` flag", () => {
    const flagged: string[] = [];
    for (const spec of COMMANDS) if (spec.flags.includes('blocking')) flagged.push(spec.name);
    expect(Object.keys(BLOCKING).sort()).toEqual(flagged.sort());
  });
});
