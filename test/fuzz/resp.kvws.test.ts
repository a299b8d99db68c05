import net from 'node:net';
import fc from 'fast-check';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../server/src/engine/client.js';
import type { Engine } from '../../server/src/engine/engine.js';
import { resp2Json, toJson } from '../../server/src/protocol/json.js';
import { ErrorReply, MultiReply, type Reply } from '../../server/src/protocol/reply.js';
import { RespParser, RespProtocolError, RespWriter } from '../../server/src/protocol/resp.js';
import { parseReplies, type RunningServer } from '../helpers/server.js';
import { inline, multibulk, RESP_ALPHABET, RESP_COMMANDS, RESP_NASTY } from './corpus/resp.js';
import {
  announce,
  argvMutated,
  Canary,
  checkAfterFuzz,
  ERROR_FORM,
  FUZZ_USERS,
  type FuzzServer,
  fuzzInputs,
  latin1,
  memorySample,
  noJsError,
  params,
  RUNS,
  SOCKET_RUNS,
  startFuzzServer,
  Tally,
  timeLimit,
} from './harness.js';
import { expectKeptAndMemoryBack, fuzzEngine, resetFuzzDb, usedMemory } from './in-process.js';

/**
 * Fuzzing the RESP front door (docs/fuzzing.md): random and mutated byte strings through RespParser and
 * engine.execute in this process (RUNS inputs), then through a running kvws's RESP port (SOCKET_RUNS inputs)
 * while a canary client works next to them.
 */

announce('resp');

/** The mutator's seeds: every corpus command as multibulk and inline, and a few pipelined pairs. */
const VALID = [
  ...RESP_COMMANDS.map((a) => latin1(multibulk(a))),
  ...RESP_COMMANDS.filter((_, i) => i % 3 === 0).map((a) => latin1(inline(a))),
  ...RESP_COMMANDS.filter((_, i) => i % 7 === 0).map((a, i) =>
    latin1(multibulk(a) + multibulk(RESP_COMMANDS[(i * 13) % RESP_COMMANDS.length])),
  ),
];
const NASTY = RESP_NASTY.map(latin1);
/** Inputs: byte-level (mutated, random, nasty) and argument-level (valid framing, nasty arguments). */
const INPUT = fc.oneof(
  { weight: 2, arbitrary: fuzzInputs(VALID, NASTY, RESP_ALPHABET) },
  { weight: 1, arbitrary: argvMutated(RESP_COMMANDS).map((argv) => latin1(multibulk(argv))) },
);
const MAX_BULK = 1024 * 1024;

/** True when every char of `s` is a byte (the engine's binary strings). */
function isBinary(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) return false;
  return true;
}

/** Every command (argv) and the protocol error, if any, that a fresh parser finds in `chunks`. */
function parseAll(chunks: Buffer[], unauthenticated: boolean): { cmds: string[][]; error: string | null } {
  const p = new RespParser({ maxBulkLen: MAX_BULK, unauthenticatedLimits: unauthenticated });
  const cmds: string[][] = [];
  let error: string | null = null;
  for (const c of chunks) {
    p.feed(c);
    for (let r = p.next(); r !== null; r = p.next()) {
      if (r instanceof RespProtocolError) error = r.message;
      else cmds.push(r);
    }
  }
  return { cmds, error };
}

/**
 * Checks a reply is well formed in every encoding a front door uses: one complete RESP2 and RESP3 reply,
 * JSON for the WebSocket (utf8 and base64) and the HTTP API; an error in Redis's form, not a JS exception.
 */
function checkReply(r: Reply, argv: string[]): void {
  for (const proto of [2, 3] as const) {
    const w = new RespWriter();
    w.write(r, proto);
    const parsed = parseReplies(w.take().toString('latin1'));
    // SUBSCRIBE and friends answer one confirmation per channel, back to back.
    const n = r instanceof MultiReply ? r.replies.length : 1;
    if (parsed.replies.length !== n || parsed.rest !== '')
      throw new Error(`RESP${proto} encoding of the reply to ${argv[0]} is not exactly ${n} replies`);
    for (const e of parsed.errors) {
      if (!ERROR_FORM.test(e)) throw new Error(`error reply to ${argv[0]} not in Redis's form: ${e}`);
      noJsError(e, `reply to ${argv[0]}`);
    }
  }
  JSON.stringify(toJson(r, 'utf8'));
  JSON.stringify(toJson(r, 'base64'));
  JSON.stringify(resp2Json(r, false));
}

describe('RESP in process: RespParser and engine.execute', () => {
  let engine: Engine;
  let admin: Client;
  /** console.error lines while the property runs (the dispatcher prints internal errors there). */
  const logged: string[] = [];
  const consoleError = console.error;

  beforeAll(async () => {
    // The default user may run everything but what reaches beyond its own keys (other databases, flushes,
    // the server's files and configuration, other clients).
    const users = FUZZ_USERS.replace(
      /^user default .*$/m,
      [
        'user default on nopass ~* &* +@all -select -move -copy -swapdb -flushall -flushdb',
        '-config|set -acl|setuser -acl|deluser -acl|load -acl|save -client|kill -save -bgsave -bgrewriteaof -monitor',
      ].join(' '),
    );
    ({ engine, admin } = await fuzzEngine(users));
    engine.execute(admin, ['SELECT', '1']);
    const keep: string[][] = [];
    for (let i = 0; i < 200; i++) keep.push(['SET', `keep:${i}`, `value-${i}`]);
    for (const argv of keep) engine.execute(admin, argv);
    console.error = (...args: unknown[]) => logged.push(args.map(String).join(' '));
  });
  afterAll(() => {
    console.error = consoleError;
    engine?.shutdown();
  });

  it(
    `parses ${RUNS} inputs the same in any chunking and answers every command in protocol form`,
    async () => {
      const tally = new Tally('resp in-process');
      const baseClients = engine.clients.size;
      const memBefore = usedMemory(engine, admin);
      await fc.assert(
        fc.asyncProperty(
          INPUT,
          fc.array(fc.nat(), { maxLength: 6 }),
          fc.boolean(),
          async (bytes, cuts, unauthenticated) => {
            tally.add('inputs');
            if (tally.get('inputs') % 1000 === 0) resetFuzzDb(engine, admin);
            // 1. The same commands and error whether the bytes come at once or in pieces (lines longer than
            //    the inline limit excepted: whether they fit in one read decides, as in Redis).
            const whole = parseAll([bytes], unauthenticated);
            if (bytes.length <= 60 * 1024) {
              const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
              const chunks: Buffer[] = [];
              let prev = 0;
              for (const c of [...at, bytes.length]) {
                chunks.push(bytes.subarray(prev, c));
                prev = c;
              }
              const pieces = parseAll(chunks, unauthenticated);
              if (JSON.stringify(pieces) !== JSON.stringify(whole))
                throw new Error(
                  `parsed differently in pieces ${JSON.stringify(at)}: ${JSON.stringify(pieces).slice(0, 500)}`,
                );
            }
            if (whole.error !== null) {
              tally.add('protocol errors');
              if (!/^ERR Protocol error: [a-z]/.test(whole.error))
                throw new Error(`odd protocol error: ${whole.error}`);
            }
            // 2. Every command runs through the dispatcher: a reply in every encoding, never an exception.
            const client = new Client(engine, 'resp', '127.0.0.1:40000');
            engine.clients.add(client);
            try {
              // At most 64 commands of an input run (a repeated range can make thousands; they were parsed).
              for (const argv of whole.cmds.slice(0, 64)) {
                if (!argv.every(isBinary)) throw new Error('an argument is not a binary string');
                // Re-encoded, the command parses back to itself.
                const again = parseAll([latin1(multibulk(argv))], false).cmds;
                if (again.length !== 1 || JSON.stringify(again[0]) !== JSON.stringify(argv))
                  throw new Error(`${JSON.stringify(argv).slice(0, 200)} does not parse back to itself`);
                tally.add('commands');
                let r: Reply | Promise<Reply> = engine.execute(client, argv);
                if (r instanceof Promise) {
                  if (client.blocked !== null) {
                    tally.add('blocked');
                    break; // the connection would wait here; removing the client cancels it
                  }
                  r = await r;
                }
                if (logged.length > 0)
                  throw new Error(`console.error while running ${argv[0]}: ${logged.splice(0).join('\n')}`);
                if (r instanceof ErrorReply) tally.add('error replies');
                checkReply(r, argv);
                if (client.closeAfterReply) break;
              }
            } finally {
              engine.clients.remove(client);
            }
          },
        ),
        params(RUNS),
      );
      tally.print();
      expect(tally.get('inputs')).toBeGreaterThanOrEqual(RUNS);
      // Bounded: no session left behind, no subscription or blocked client of a gone session.
      expect(engine.clients.size).toBe(baseClients);
      expect(engine.pubsub.channels.size + engine.pubsub.patterns.size).toBe(0);
      expect(engine.blocking.count).toBe(0);
      expectKeptAndMemoryBack(engine, admin, memBefore, 'resp');
    },
    timeLimit(100_000),
  );
});

// ---- a running kvws ----------------------------------------------------------------------------------------------

/** What came back on one fuzz connection. */
interface Exchange {
  text: string;
  closed: boolean;
}

/**
 * Sends `data` on a new connection to `port`; with `sentinel`, waits for that text in the replies, else waits
 * for the server to close (after half-closing first when `half`: the server waits for the rest of a command).
 * Resolves with everything received (bounded by `timeoutMs`).
 */
function exchange(
  port: number,
  data: Buffer,
  sentinel: string | null,
  half = false,
  timeoutMs = 20_000,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => {
      done = true;
      s.destroy();
      reject(
        new Error(
          `no ${sentinel ? 'sentinel reply' : 'close'} within ${timeoutMs} ms; received ${JSON.stringify(text.slice(-300))}`,
        ),
      );
    }, timeoutMs);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (sentinel !== null && text.includes(`${sentinel}\r\n`)) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', () => {});
    s.on('connect', () => {
      s.write(data);
      if (half) s.end();
    });
  });
}

describe('RESP over a socket: a running kvws', () => {
  let server: RunningServer;
  let adminClient: Redis;
  let canaryClient: Redis;
  let fz: FuzzServer;

  beforeAll(async () => {
    fz = await startFuzzServer('resp');
    ({ server, admin: adminClient, canary: canaryClient } = fz);
  });
  afterAll(async () => {
    await fz?.stop();
  });

  it(
    `answers ${SOCKET_RUNS} inputs in RESP, closes after protocol errors, and disturbs nobody`,
    async () => {
      const tally = new Tally('resp socket');
      await adminClient.flushdb();
      const before = await memorySample(server, adminClient);
      const canary = new Canary(canaryClient, 'canary');
      const BATCH = 25;
      let nonce = 0;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(INPUT, { minLength: BATCH, maxLength: BATCH }), async (inputs) => {
            // Inputs share a connection while each leaves the parser between commands; the one that does not
            // (incomplete, a protocol error, QUIT, too long to predict) ends it.
            let i = 0;
            while (i < inputs.length) {
              const tag = `fz-sentinel-${++nonce}`;
              const sentinel = latin1(multibulk(['DISCARD']) + multibulk(['PING', tag]));
              const sent: Buffer[] = [];
              let open = true;
              while (i < inputs.length && open) {
                sent.push(inputs[i++]);
                const acc = Buffer.concat(sent);
                const p = parseAll([acc, sentinel], false);
                const last = p.cmds[p.cmds.length - 1];
                const quits = p.cmds.some((a) => a[0]?.toUpperCase() === 'QUIT');
                open = p.error === null && !quits && acc.length < 48 * 1024 && last?.[0] === 'PING' && last[1] === tag;
              }
              const acc = Buffer.concat(sent);
              const expected = parseAll([acc], false);
              tally.add('inputs', sent.length);
              tally.add('commands', expected.cmds.length);
              // A protocol error or QUIT closes the connection by itself (half-closing first would drop the replies
              // of commands still running, AUTH's argon2id); an incomplete command needs our end of the stream.
              const closesItself = expected.error !== null || expected.cmds.some((a) => a[0]?.toUpperCase() === 'QUIT');
              const answered = await exchange(
                server.port,
                open ? Buffer.concat([acc, sentinel]) : acc,
                open ? tag : null,
                !open && !closesItself,
              );
              const { replies, rest, errors } = parseReplies(answered.text);
              for (const e of errors) {
                if (!ERROR_FORM.test(e)) throw new Error(`error reply not in Redis's form: ${e}`);
                noJsError(e, 'an error reply');
              }
              if (open) {
                // Every command answered (pushes may add more), then DISCARD's and PING's replies.
                expect(answered.closed).toBe(false);
                expect(replies.length).toBeGreaterThanOrEqual(expected.cmds.length + 2);
              } else {
                expect(answered.closed).toBe(true);
                expect(rest).toBe('');
                if (expected.error !== null && !expected.cmds.some((a) => a[0]?.toUpperCase() === 'QUIT')) {
                  tally.add('protocol errors');
                  if (!/^-ERR Protocol error: /.test(replies.at(-1)?.raw ?? ''))
                    throw new Error(
                      `after ${JSON.stringify(acc.toString('latin1').slice(0, 300))} expected the protocol error ${expected.error}, got ${JSON.stringify(answered.text.slice(-300))}`,
                    );
                }
              }
            }
          }),
          params(Math.ceil(SOCKET_RUNS / BATCH), { endOnFailure: true }),
        );
      } finally {
        const seen = await canary.stop();
        tally.add('canary round trips', seen.ops);
        tally.print();
        expect(seen.problems).toEqual([]);
      }
      expect(tally.get('inputs')).toBeGreaterThanOrEqual(SOCKET_RUNS);
      // Still up, nothing crashed, the canary's data intact.
      await checkAfterFuzz('resp socket', server, adminClient, canaryClient, before);
    },
    timeLimit(100_000),
  );
});
