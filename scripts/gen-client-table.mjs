#!/usr/bin/env node
// Writes client/src/generated/readonly.ts from the command table (shared/dist, so build first): the commands
// flagged `readonly`, which the HTTP transport may retry. `--check` exits 1 when the file is out of date
// instead of writing it; test/client/http.kvws.test.ts runs that check.
import { COMMANDS } from '@kvws/shared/commands';
import { writeOrCheck } from './lib/generated.mjs';

/** The file's text: lower-case full names (`object|encoding` for subcommands), sorted, one per line. */
export function render() {
  const names = [];
  for (const spec of COMMANDS) {
    const name = spec.name.toLowerCase();
    if (spec.flags.includes('readonly')) names.push(name);
    for (const sub of spec.subcommands ?? []) {
      if (sub.flags.includes('readonly')) names.push(`${name}|${sub.name.toLowerCase()}`);
    }
  }
  names.sort();
  return (
    '// Generated from the command table (shared/src/commands) by scripts/gen-client-table.mjs. Do not edit.\n\n' +
    '/**\n' +
    " * The commands flagged `readonly` in kvws's command table, by lower-case full name (`object|encoding` for a\n" +
    ' * subcommand): the ones the HTTP transport may send again after a network error or a 502/503/504.\n' +
    ' */\n' +
    'export const READONLY: ReadonlySet<string> = new Set([\n' +
    names.map((n) => `  '${n}',\n`).join('') +
    ']);\n'
  );
}

const target = new URL('../client/src/generated/readonly.ts', import.meta.url);
writeOrCheck(target, render(), 'node scripts/gen-client-table.mjs');
