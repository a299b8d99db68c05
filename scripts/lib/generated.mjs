// Generated files (docs/commands.md, client/src/generated/*.ts): written by their generator, or, with
// --check in process.argv, compared with what is committed (exit 1 naming the file and the command to run).
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Writes `text` to `target` (a URL), or checks it is already there when run with --check. */
export function writeOrCheck(target, text, regenerate) {
  const name = relative(fileURLToPath(new URL('../..', import.meta.url)), fileURLToPath(target));
  if (!process.argv.includes('--check')) {
    writeFileSync(target, text);
    console.log(`wrote ${name}`);
    return;
  }
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== text) {
    console.error(`${name} is out of date: run ${regenerate}`);
    process.exit(1);
  }
}
