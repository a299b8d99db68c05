import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Db } from './engine/db.js';
import { Aof } from './persistence/aof.js';
import type { AofCheck } from './persistence/aof-file.js';
import { loadSnapshotFile, SnapshotFormatError } from './persistence/snapshot-format.js';

export const CHECK_AOF_USAGE = `  kvws check-aof [--fix] PATH          check the append-only file (PATH: the data directory, the AOF
                                       directory or its manifest); --fix cuts a damaged tail off`;

/** `kvws check-aof --help`. */
export const CHECK_AOF_HELP = `Usage: kvws check-aof [--fix] PATH

Checks kvws's append-only file, as redis-check-aof does Redis's: the manifest, the base snapshot
(structure and checksum) and every incremental file (whole RESP records, MULTI closed by EXEC). Prints one
line per file (OK, TRUNCATED, DAMAGED or FIXED) and a verdict. Run it on a stopped server's files.

  PATH     the data directory (--data-dir), the AOF directory in it (appendonlydir) or its manifest
  --fix    cut the last incremental file at the end of its last sound record (a transaction cut off
           counts as unsound). Damage anywhere else (the base, an earlier file) is reported, not cut:
           cutting it would drop everything after it, so restore from a backup instead.

Exit codes: 0 the AOF is sound (or was repaired by --fix); 1 a problem remains, or the files cannot be
read; 2 usage: no PATH, or no AOF manifest there.
`;

/**
 * `kvws check-aof [--fix] PATH`: Redis's redis-check-aof for kvws's multi-part AOF. Reads the manifest,
 * checks the base snapshot (structure and checksum) and every incremental file (whole RESP records, MULTI
 * closed by EXEC), and prints one line per file. Exit 0 when all is sound (or was repaired), 1 when a
 * problem remains, 2 for usage errors. `--help` (or `-h`) prints CHECK_AOF_HELP to `out` (exit 0).
 *
 * --fix truncates the last incremental file at the end of its last sound record (a transaction cut off
 * counts as unsound). Damage anywhere else — a base or an earlier incremental file — is reported, not
 * "fixed": cutting it would silently drop everything after it, so it needs a person's decision.
 */
export function checkAofMain(argv: string[], out = process.stdout, err = process.stderr): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(CHECK_AOF_HELP);
    return 0;
  }
  const fix = argv.includes('--fix');
  const rest = argv.filter((a) => a !== '--fix');
  if (rest.length !== 1 || rest[0].startsWith('-')) {
    const what =
      rest.length === 0
        ? 'missing PATH'
        : rest.find((a) => a.startsWith('-'))
          ? `unknown flag ${rest.find((a) => a.startsWith('-'))}`
          : 'give one PATH';
    err.write(`kvws check-aof: ${what}; usage:\n${CHECK_AOF_USAGE}\n`);
    return 2;
  }
  const found = locate(rest[0]);
  if (!found) {
    err.write(
      `kvws check-aof: no AOF manifest (*.manifest) at ${rest[0]}, ${join(rest[0], 'appendonlydir')} or in its directory\n`,
    );
    return 2;
  }
  const { dir, fileName } = found;
  let checks: AofCheck[];
  let base: string | null;
  try {
    ({ base, incrs: checks } = Aof.check(dir, fileName));
  } catch (e) {
    err.write(`kvws check-aof: ${(e as Error).message}\n`);
    return 1;
  }
  let problems = 0;
  if (base) {
    try {
      const r = loadSnapshotFile(join(dir, base), scratchDbs());
      out.write(`${base}: OK (base snapshot, ${r.keys} keys, ${r.bytes} bytes)\n`);
    } catch (e) {
      problems++;
      const m = e instanceof SnapshotFormatError ? `${e.reason} at offset ${e.offset}` : (e as Error).message;
      out.write(`${base}: DAMAGED: ${m} (a base is written whole and renamed into place: restore it from a backup)\n`);
    }
  }
  checks.forEach((c, i) => {
    const name = basename(c.file);
    const last = i === checks.length - 1;
    if (c.error === null) {
      out.write(`${name}: OK (${c.records} records, ${c.size} bytes)\n`);
      return;
    }
    const where = `${c.error.reason} at offset ${c.error.offset}; sound up to offset ${c.okUpTo} of ${c.size}`;
    if (!last) {
      problems++;
      out.write(`${name}: DAMAGED: ${where} (not the last file: not repairable by cutting)\n`);
      return;
    }
    if (!fix) {
      problems++;
      out.write(
        `${name}: ${c.truncatedTail ? 'TRUNCATED' : 'DAMAGED'}: ${where}; ` +
          `--fix would cut ${c.size - c.okUpTo} bytes off\n`,
      );
      return;
    }
    const fd = openSync(c.file, 'r+');
    try {
      ftruncateSync(fd, c.okUpTo);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    out.write(`${name}: FIXED: ${where}; cut ${c.size - c.okUpTo} bytes off\n`);
  });
  out.write(problems === 0 ? 'AOF is valid\n' : `AOF has ${problems} problem${problems > 1 ? 's' : ''}\n`);
  return problems === 0 ? 0 : 1;
}

/** The AOF directory and file base name for a data directory, an AOF directory or a manifest path. */
function locate(path: string): { dir: string; fileName: string } | null {
  if (!existsSync(path)) return null;
  if (statSync(path).isFile()) {
    const m = /^(.*)\.manifest$/.exec(basename(path));
    return m ? { dir: dirname(path), fileName: m[1] } : locate(dirname(path));
  }
  for (const dir of [path, join(path, 'appendonlydir')]) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    const manifest = readdirSync(dir).find((f) => f.endsWith('.manifest') && !f.startsWith('temp-'));
    if (manifest) return { dir, fileName: manifest.slice(0, -'.manifest'.length) };
  }
  return null;
}

/** Databases to load a base into for checking: plain maps, as many as a snapshot may name. */
function scratchDbs(): Db[] {
  return Array.from({ length: 1024 }, () => ({ dict: new Map(), expires: new Map() }) as unknown as Db);
}
