import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { aofArgs, infoField, killHard, TestResources } from '../helpers/persistence.js';
import type { RunningServer } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';
import { Acknowledged, startWriter } from './writer.mjs';

// Durability across crashes of the process (issue 7): a child process writes under load with
// acknowledgements (writer.mjs records every reply it got), kvws is killed with SIGKILL at a random moment,
// restarted on the same data directory, and must hold every acknowledged write.
//
// kvws writes a command's AOF records before its reply leaves (aof.beforeReply), so a killed process loses
// nothing it acknowledged under either policy: the page cache survives the process. `always` additionally
// waits for fdatasync so that an OS crash or power loss loses nothing either; `everysec` may then lose about
// one second. A test cannot crash the OS, so both policies are held to "nothing acknowledged is missing".
//
// Rounds chain on one data directory (kill, restart, check everything acknowledged so far, write again on
// the restarted server). KVWS_LONG=1 runs the long suite (20 rounds per policy and more kills during
// rewrites). Kill delays are printed, so a failing round can be replayed.

const LONG = process.env.KVWS_LONG === '1';
const ROUNDS = LONG ? 20 : 3;
const REWRITE_ROUNDS = LONG ? 8 : 2;
/** Per-round budget for the test timeouts (a round takes ~3 s on the reference machine). */
const ROUND_MS = 12_000;

const res = new TestResources();
afterAll(() => res.release());

/** A work directory: `data/` for kvws, the writers' records next to it. */
const workDir = () => res.workDir('kvws-crash-');

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** The last incremental file named by the manifest (where records were being appended). */
function currentIncr(data: string): string {
  const dir = path.join(data, 'appendonlydir');
  const lines = readFileSync(path.join(dir, 'appendonly.aof.manifest'), 'latin1')
    .split('\n')
    .filter((l) => / type i\s*$/.test(l));
  const name = lines[lines.length - 1]?.split(/\s+/)[1];
  if (!name) throw new Error(`no incremental file in the manifest of ${dir}`);
  return path.join(dir, name);
}

interface RoundOptions {
  /** BGREWRITEAOF shortly before the kill. */
  rewrite?: boolean;
  /** Runs on the data directory between the kill and the restart (e.g. to tear the file's tail). */
  afterKill?: (data: string) => void;
}

/**
 * One round: the writer runs against `server`, which is killed after a random delay; kvws is restarted
 * with `args` and checked against everything acknowledged so far. Returns the restarted server and its
 * start-up output.
 */
async function crashRound(
  server: RunningServer,
  dirs: { work: string; data: string },
  args: string[],
  round: number,
  acked: Acknowledged,
  options: RoundOptions = {},
): Promise<{ server: RunningServer; output: string; note: string }> {
  const out = path.join(dirs.work, `acks-${round}`);
  const w = res.writer(startWriter({ port: server.port, out, round }));
  await w.started(256);
  const delay = 50 + Math.floor(Math.random() * 1000);
  await sleep(delay);
  let note = `kill after ${delay} ms`;
  if (options.rewrite) {
    const c = res.client(server);
    expect(await c.bgrewriteaof()).toBe('Background append only file rewriting started');
    // Up to 500 ms: the kill lands while keys are encoded, around the cut, or after the switch.
    const after = Math.floor(Math.random() * 500);
    await sleep(after);
    const inProgress = infoField(await c.info('persistence'), 'aof_rewrite_in_progress');
    note += `, BGREWRITEAOF ${after} ms before (in progress at the kill: ${inProgress === '1' ? 'yes' : 'no'})`;
  }
  await killHard(server);
  const { code, stdout } = await within(w.done, 15_000, 'the writer');
  expect(code, stdout).toBe(0);
  const lines = acked.addRound(out, round);
  expect(lines, 'the writer recorded acknowledgements before the kill').toBeGreaterThan(0);
  expect(acked.errors).toEqual([]);
  options.afterKill?.(dirs.data);

  const next = await res.start(args);
  const output = next.output();
  expect(output).not.toMatch(/cannot load/);
  const loaded = /kvws: AOF loaded: (\d+) keys from (\d+) records/.exec(output);
  expect(loaded, output).not.toBeNull();
  const c = res.client(next);
  expect(Number(loaded?.[1])).toBe(await c.dbsize());
  const info = await c.info('persistence');
  // A kill in the middle of a write can leave a torn last record: cut off and reported, never an error.
  const truncated = /kvws: AOF \S+ was truncated: .*\((\d+) bytes dropped\)/.exec(output);
  expect(infoField(info, 'aof_last_load_truncated')).toBe(truncated ? '1' : '0');
  if (truncated) note += `, torn tail of ${truncated[1]} bytes cut off at load`;
  const leftovers = readdirSync(path.join(dirs.data, 'appendonlydir')).filter((f) => f.startsWith('temp-'));
  if (leftovers.length) note += `, temporary files left: ${leftovers.join(' ')}`;
  expect(await acked.check(c)).toEqual([]);
  c.disconnect();
  return { server: next, output, note };
}

describe.each(['always', 'everysec'] as const)('SIGKILL under write load, appendfsync %s', (policy) => {
  const args = (data: string) => aofArgs(data, policy);

  it(
    `keeps every acknowledged write through ${ROUNDS} kills at random moments`,
    async () => {
      const dirs = workDir();
      const acked = new Acknowledged();
      let server = await res.start(args(dirs.data));
      for (let round = 0; round < ROUNDS; round++) {
        const r = await crashRound(server, dirs, args(dirs.data), round, acked);
        server = r.server;
        console.log(`[${policy}] round ${round}: ${r.note}; ${acked.count} acknowledged replies so far`);
      }
      await server.stop();
    },
    30_000 + ROUNDS * ROUND_MS,
  );

  it(
    `keeps every acknowledged write when killed during BGREWRITEAOF (${REWRITE_ROUNDS} rounds)`,
    async () => {
      const dirs = workDir();
      const acked = new Acknowledged();
      let server = await res.start(args(dirs.data));
      // A dataset big enough that the rewrite (2 ms slices between clients' commands) is still running when
      // the kill comes.
      const seed = res.client(server);
      for (let i = 0; i < 100_000; i += 5000) {
        const p = seed.pipeline();
        for (let j = i; j < i + 5000; j++) {
          p.set(`seed:${j}`, `seed-value-${j}`);
          acked.keys.set(`seed:${j}`, `seed-value-${j}`);
        }
        await p.exec();
      }
      seed.disconnect();
      for (let round = 0; round < REWRITE_ROUNDS; round++) {
        const r = await crashRound(server, dirs, args(dirs.data), round, acked, { rewrite: true });
        server = r.server;
        console.log(`[${policy}] rewrite round ${round}: ${r.note}`);
      }
      // Whatever state the kills left the directory in, the last server can still rewrite and restart.
      const c = res.client(server);
      await c.bgrewriteaof();
      const deadline = Date.now() + 20_000;
      while (infoField(await c.info('persistence'), 'aof_rewrite_in_progress') !== '0' && Date.now() < deadline)
        await sleep(50);
      expect(infoField(await c.info('persistence'), 'aof_last_bgrewrite_status')).toBe('ok');
      await server.stop();
      const again = await res.start(args(dirs.data));
      expect(await acked.check(res.client(again))).toEqual([]);
      await again.stop();
    },
    40_000 + REWRITE_ROUNDS * ROUND_MS,
  );
});

describe('a torn tail left by a crash', () => {
  it('is cut off at load and reported (a transaction without EXEC is dropped whole), not an error', async () => {
    const dirs = workDir();
    const args = aofArgs(dirs.data, 'always');
    const acked = new Acknowledged();
    const server = await res.start(args);
    // What a crash in the middle of writing a transaction leaves: MULTI and a complete INCR, then half of
    // the next record.
    const torn =
      '*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$6\r\ntx:0:a\r\n' + '*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$10\r\nhalf-writ';
    let file = '';
    const r = await crashRound(server, dirs, args, 0, acked, {
      afterKill: (data) => {
        file = currentIncr(data);
        appendFileSync(file, torn, 'latin1');
      },
    });
    const m = /kvws: AOF (\S+) was truncated: .*\((\d+) bytes dropped\)/.exec(r.output);
    expect(m, r.output).not.toBeNull();
    expect(m?.[1]).toBe(file);
    expect(Number(m?.[2])).toBeGreaterThanOrEqual(torn.length);
    const c = res.client(r.server);
    expect(await c.exists('torn')).toBe(0);
    // The cut was made on disk: the next start loads the file as it is, with nothing to report.
    await r.server.stop();
    const again = await res.start(args);
    expect(again.output()).not.toMatch(/was truncated/);
    expect(again.output()).toMatch(/kvws: AOF loaded: \d+ keys/);
    const c2 = res.client(again);
    expect(infoField(await c2.info('persistence'), 'aof_last_load_truncated')).toBe('0');
    expect(await acked.check(c2)).toEqual([]);
    expect(readdirSync(path.join(dirs.data, 'appendonlydir')).filter((f) => f.startsWith('temp-'))).toEqual([]);
    await again.stop();
  }, 60_000);
});
