import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AclRuleError, applyUserRule, User } from '../../server/src/auth/acl-user.js';
import type { Client } from '../../server/src/engine/client.js';
import type { Engine } from '../../server/src/engine/engine.js';
import { ErrorReply, type Reply } from '../../server/src/protocol/reply.js';
import { freePort, KVWS_BIN, parseReplies, type RunningServer } from '../helpers/server.js';
import { ACL_LINES, ACL_LINES_NASTY, ACL_NASTY, ACL_RULES } from './corpus/acl.js';
import { multibulk, RESP_COMMANDS } from './corpus/resp.js';
import {
  ADMIN_PASSWORD,
  announce,
  Canary,
  checkKeepsake,
  crashLines,
  ERROR_FORM,
  FUZZ_USERS,
  type FuzzServer,
  latin1,
  latin1Text,
  mutated,
  noJsError,
  params,
  RUNS,
  randomBytes,
  SEED,
  SOCKET_RUNS,
  startFuzzServer,
  Tally,
  timeLimit,
} from './harness.js';
import { fakeHash, fuzzEngine } from './in-process.js';

/**
 * Fuzzing the ACL rule parser (docs/fuzzing.md): single rules (applyUserRule), ACL SETUSER with several
 * rules (then ACL GETUSER/LIST/DRYRUN, and a users-file round trip of what was accepted), users files
 * (Acl.parseUsersFile) and a token's `acl` claim (Acl.parseTokenRules), in this process (RUNS inputs); then
 * ACL SETUSER, ACL SAVE/LOAD and ACL LOAD of mutated users files on a running kvws (SOCKET_RUNS inputs), and
 * start-ups with mutated users files (exit code 2 with a clean message, or a normal start).
 */

announce('acl');

const HASH = fakeHash('secret');
const withHash = (r: string) => r.replaceAll('{HASH}', HASH);
/** Users the fuzzer may change (never `default` or `admin`). */
const FZ_USERS = ['fz0', 'fz1', 'fz2', 'fz3', 'fz4'];
/** Command names with their subcommands, as rules name them. */
const NAMES = [...new Set(RESP_COMMANDS.map((a) => a[0].toLowerCase()))];

/** One rule: from the corpus, a near miss, a mutated one, or built from a command or pattern. */
const RULE: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ACL_RULES).map(withHash) },
  { weight: 2, arbitrary: fc.constantFrom(...ACL_NASTY) },
  {
    weight: 3,
    arbitrary: mutated(
      ACL_RULES.map((r) => latin1(withHash(r))),
      2,
    ).map((b) => b.toString('latin1')),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('+', '-', '+@', '-@'),
        fc.constantFrom(...NAMES, 'read', 'write', 'all', 'pubsub'),
        fc.option(fc.constantFrom('|get', '|id', '|0', '|x', '|'), { freq: 3 }),
      )
      .map(([s, n, sub]) => `${s}${n}${sub ?? ''}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('~', '%R~', '%W~', '%RW~', '&', '%~', '%r~'), fc.string({ unit: 'binary', maxLength: 10 }))
      .map(([p, s]) => p + latin1Text(s)), // bytes, as every front door hands them over
  },
  {
    weight: 1,
    arbitrary: randomBytes(['~', '%', '&', '+', '-', '@', '|', '(', ')', '#', '!', '>', '<', ' ', 'get', 'on']).map(
      (b) => b.toString('latin1').slice(0, 64),
    ),
  },
);

/** A users file: 1 to 4 lines (corpus, nasty, mutated), with `{HASH}` filled in. */
const USERS_FILE: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom(...ACL_LINES),
      fc.constantFrom(...ACL_LINES_NASTY),
      mutated(ACL_LINES.map(latin1), 3).map((b) => b.toString('latin1')),
      fc.array(RULE, { maxLength: 5 }).map((rules) => `user fz9 ${rules.join(' ')}`),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((lines) => withHash(lines.join('\n')));

/** Throws unless `e` is a clean parser error: the expected class, a message, no leaked JS exception. */
function cleanError(e: unknown, what: string, kind: 'rule' | 'file'): string {
  if (kind === 'rule' ? !(e instanceof AclRuleError) : !(e instanceof Error) || e instanceof TypeError)
    throw new Error(`${what} threw ${String(e)} (${(e as Error)?.constructor?.name})`);
  const m = (e as Error).message;
  if (m === '') throw new Error(`${what} threw an error without a message`);
  noJsError(m, what);
  return m;
}

function checkErrorReply(r: Reply, what: string): void {
  if (!(r instanceof ErrorReply)) return;
  if (!ERROR_FORM.test(r.message)) throw new Error(`${what}: error not in Redis's form: ${r.message}`);
  noJsError(r.message, what);
}

describe('ACL rules in process: applyUserRule, ACL SETUSER, users files, token acl claims', () => {
  let engine: Engine;
  let admin: Client;

  beforeAll(async () => {
    ({ engine, admin } = await fuzzEngine(FUZZ_USERS));
  });
  afterAll(() => engine?.shutdown());

  it(
    `parses ${RUNS} rules, rule lists, users files and acl claims into users or clean errors`,
    async () => {
      const tally = new Tally('acl in-process');
      const table = engine.table;
      const acl = engine.acl;
      const input = fc.oneof(
        { weight: 4, arbitrary: RULE.map((r) => ({ kind: 'rule' as const, rules: [r] })) },
        {
          weight: 3,
          arbitrary: fc
            .tuple(fc.constantFrom(...FZ_USERS), fc.array(RULE, { minLength: 1, maxLength: 6 }))
            .map(([user, rules]) => ({ kind: 'setuser' as const, user, rules })),
        },
        { weight: 2, arbitrary: USERS_FILE.map((text) => ({ kind: 'file' as const, text })) },
        {
          weight: 1,
          arbitrary: fc.array(RULE, { minLength: 1, maxLength: 5 }).map((rules) => ({ kind: 'claim' as const, rules })),
        },
      );
      await fc.assert(
        fc.asyncProperty(input, fc.constantFrom(...RESP_COMMANDS), async (x, probe) => {
          tally.add('inputs');
          tally.add(x.kind);
          if (x.kind === 'rule') {
            try {
              applyUserRule(new User('fz'), x.rules[0], table);
            } catch (e) {
              cleanError(e, `rule ${JSON.stringify(x.rules[0])}`, 'rule');
              tally.add('refused rules');
            }
          } else if (x.kind === 'setuser') {
            const r = await engine.execute(admin, ['ACL', 'SETUSER', x.user, ...x.rules]);
            checkErrorReply(r, `ACL SETUSER ${JSON.stringify(x.rules)}`);
            if (r instanceof ErrorReply) {
              tally.add('refused setusers');
              return;
            }
            // Whatever SETUSER accepts, a users file (ACL SAVE, then ACL LOAD or a restart) gives back.
            const u = acl.users.get(x.user) as User;
            const line = u.describe();
            let back: Map<string, User>;
            try {
              back = await acl.parseUsersFile(line, 'saved.acl');
            } catch (e) {
              throw new Error(
                `ACL SETUSER ${x.user} ${JSON.stringify(x.rules)} saved as ${JSON.stringify(line)}, which does not load: ${(e as Error).message}`,
              );
            }
            const again = back.get(x.user)?.describe();
            if (again !== line)
              throw new Error(`users-file round trip changed ${JSON.stringify(line)} into ${JSON.stringify(again)}`);
            for (const argv of [
              ['ACL', 'GETUSER', x.user],
              ['ACL', 'LIST'],
              ['ACL', 'DRYRUN', x.user, ...probe],
            ]) {
              const q = await engine.execute(admin, argv);
              checkErrorReply(q, argv.slice(0, 2).join(' '));
            }
          } else if (x.kind === 'file') {
            try {
              const users = await acl.parseUsersFile(x.text, 'fuzz.acl');
              if (!users.has('default')) throw new Error('a users file without the default user');
            } catch (e) {
              const m = cleanError(e, `users file ${JSON.stringify(x.text.slice(0, 200))}`, 'file');
              if (!/^fuzz\.acl:\d+: /.test(m)) throw new Error(`users-file error without FILE:LINE: ${m}`);
              tally.add('refused files');
            }
          } else {
            try {
              acl.parseTokenRules(x.rules.join(' '));
            } catch (e) {
              cleanError(e, `acl claim ${JSON.stringify(x.rules.join(' '))}`, 'rule');
              tally.add('refused claims');
            }
          }
        }),
        params(RUNS),
      );
      tally.print();
      expect(tally.get('inputs')).toBeGreaterThanOrEqual(RUNS);
      // Only the fuzzer's users were created.
      expect([...acl.users.keys()].filter((n) => !['default', 'admin', ...FZ_USERS].includes(n))).toEqual([]);
    },
    timeLimit(100_000),
  );
});

// ---- a running kvws ----------------------------------------------------------------------------------------------

/** A RESP connection for pipelined commands, answering with one reply per command. */
class Pipe {
  private text = '';
  private want = 0;
  private wake: (() => void) | null = null;
  private constructor(private readonly s: net.Socket) {
    s.on('data', (d) => {
      this.text += d.toString('latin1');
      if (this.wake && parseReplies(this.text).replies.length >= this.want) this.wake();
    });
    s.on('close', () => this.wake?.());
    s.on('error', () => {});
  }

  static async open(port: number): Promise<Pipe> {
    const s = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    return new Pipe(s);
  }

  /** Sends `cmds` at once; resolves with their replies (rejects after 30 s or when the connection closes). */
  async send(cmds: string[][]): Promise<ReturnType<typeof parseReplies>['replies']> {
    this.text = '';
    this.want = cmds.length;
    const done = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    this.s.write(cmds.map(multibulk).join(''), 'latin1');
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 30_000));
    await Promise.race([done, timer]);
    this.wake = null;
    const { replies } = parseReplies(this.text);
    if (replies.length < cmds.length)
      throw new Error(`${replies.length} of ${cmds.length} replies: ${this.text.slice(-300)}`);
    return replies;
  }

  close(): void {
    this.s.destroy();
  }
}

describe('ACL rules over a socket: a running kvws', () => {
  let server: RunningServer;
  let adminClient: Redis;
  let canaryClient: Redis;
  let fz: FuzzServer;
  let usersFile: string;
  /** The admin's connection the ACL commands go through (logged in once: argon2id costs on purpose). */
  let pipe: Pipe;
  /** The fixed users, as saved (hashes, not passwords). */
  let baseUsers: string;

  beforeAll(async () => {
    fz = await startFuzzServer('acl');
    ({ server, admin: adminClient, canary: canaryClient, usersFile } = fz);
    pipe = await Pipe.open(server.port);
    expect((await pipe.send([['AUTH', 'admin', ADMIN_PASSWORD]]))[0].raw).toBe('+OK\r\n');
    // The users as ACL SAVE writes them (the admin's password as its hash): reloading them costs no argon2id.
    expect((await pipe.send([['ACL', 'SAVE']]))[0].raw).toBe('+OK\r\n');
    baseUsers = readFileSync(usersFile, 'utf8');
  });
  afterAll(async () => {
    pipe?.close();
    await fz?.stop();
  });

  it(
    `answers ${SOCKET_RUNS} ACL SETUSER and ACL LOAD inputs cleanly; what it accepts survives SAVE and LOAD`,
    async () => {
      const tally = new Tally('acl socket');
      const canary = new Canary(canaryClient, 'canary');
      // Real argon2id here: password rules become hashes (`>pw` would hash on every input).
      const socketRule = RULE.map((r) => (r[0] === '>' || r[0] === '<' ? `#${HASH}` : r));
      const BATCH = 50;
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(fc.constantFrom(...FZ_USERS), fc.array(socketRule, { minLength: 1, maxLength: 6 })), {
              minLength: BATCH,
              maxLength: BATCH,
            }),
            USERS_FILE.map((t) => t.replace(/(^|\s)[<>]\S*/g, '$1nopass')),
            async (setusers, file) => {
              const replies = await pipe.send([
                ...setusers.map(([u, rules]) => ['ACL', 'SETUSER', u, ...rules]),
                ['ACL', 'SAVE'],
                ['ACL', 'LOAD'],
              ]);
              tally.add('inputs', setusers.length);
              for (const r of replies)
                if (r.type === '-') {
                  if (!ERROR_FORM.test(r.head)) throw new Error(`error not in Redis's form: ${r.head}`);
                  noJsError(r.head, 'an ACL reply');
                }
              // Everything SETUSER accepted was saved and loads back.
              expect(replies.at(-2)?.raw).toBe('+OK\r\n');
              if (replies.at(-1)?.raw !== '+OK\r\n')
                throw new Error(`ACL LOAD of what ACL SAVE wrote: ${replies.at(-1)?.head}`);
              // A mutated users file (the fixed users plus fuzzed lines): loaded, or refused with a clean error.
              writeFileSync(usersFile, `${baseUsers}${file}\n`);
              const [load] = await pipe.send([['ACL', 'LOAD']]);
              tally.add('inputs');
              tally.add(load.type === '+' ? 'loaded files' : 'refused files');
              if (load.type === '-') noJsError(load.head, 'ACL LOAD');
              writeFileSync(usersFile, baseUsers);
              await pipe.send([['ACL', 'LOAD']]);
            },
          ),
          params(Math.ceil(SOCKET_RUNS / BATCH), { endOnFailure: true }),
        );
      } finally {
        const seen = await canary.stop();
        tally.add('canary round trips', seen.ops);
        tally.print();
        expect(seen.problems).toEqual([]);
      }
      expect(tally.get('inputs')).toBeGreaterThanOrEqual(SOCKET_RUNS);
      expect(await adminClient.ping()).toBe('PONG');
      expect(crashLines(server.output())).toEqual([]);
      expect(await checkKeepsake(canaryClient, 'keep')).toEqual([]);
    },
    timeLimit(100_000),
  );

  it('starts with a mutated users file, or refuses to with a one-line reason', async () => {
    const files = fc.sample(USERS_FILE, { seed: SEED, numRuns: 4 });
    const children: ChildProcess[] = [];
    try {
      const outcomes = await Promise.allSettled(
        files.map(async (text, i) => {
          const file = path.join(path.dirname(usersFile), `start-${i}.acl`);
          writeFileSync(file, text);
          const port = await freePort();
          const child = spawn(
            process.execPath,
            [KVWS_BIN, 'serve', '--resp-port', String(port), '--port', '0', '--acl-file', file],
            { env: { ...process.env, KVWS_LOG_FORMAT: 'pretty' }, stdio: ['ignore', 'pipe', 'pipe'] },
          );
          children.push(child);
          let out = '';
          let err = '';
          child.stdout.on('data', (d) => {
            out += d;
            if (out.includes('kvws: ready')) child.kill('SIGTERM');
          });
          child.stderr.on('data', (d) => {
            err += d;
          });
          const code = await new Promise<number | null>((resolve) => {
            const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
            child.on('exit', (c) => {
              clearTimeout(t);
              resolve(c);
            });
          });
          if (out.includes('kvws: ready')) return; // started: the file was valid
          // Refused with a one-line reason naming the file and line, exit code 2 (a configuration error).
          expect(code, JSON.stringify(text)).toBe(2);
          expect(err, JSON.stringify(text)).toMatch(/^kvws: \S+:\d+: .+\n$/);
          noJsError(err, 'the start-up error');
        }),
      );
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }, 60_000);
});
