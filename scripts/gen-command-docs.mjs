#!/usr/bin/env node
// Writes docs/commands.md from the command table (shared/dist, so build first). `--check` exits 1 when the
// file is out of date instead of writing it; the test suite runs that check.
import { COMMANDS } from '@kvws/shared/commands';
import { writeOrCheck } from './lib/generated.mjs';

const GROUPS = [
  'generic',
  'string',
  'hash',
  'list',
  'set',
  'sorted-set',
  'pubsub',
  'transactions',
  'connection',
  'server',
  'stream',
];
const TITLES = {
  generic: 'Keys and expiry',
  string: 'Strings',
  hash: 'Hashes',
  list: 'Lists',
  set: 'Sets',
  'sorted-set': 'Sorted sets',
  pubsub: 'Pub/sub',
  transactions: 'Transactions',
  connection: 'Connection',
  server: 'Server',
  stream: 'Streams',
};

export function render() {
  const rows = [];
  for (const spec of COMMANDS) {
    if (spec.subcommands)
      for (const s of spec.subcommands) rows.push({ ...s, name: `${spec.name} ${s.name}`, group: spec.group });
    else rows.push(spec);
  }
  let md = '# Commands\n\n';
  md +=
    '<!-- Generated from the command table (shared/src/commands) by scripts/gen-command-docs.mjs. Do not edit. -->\n\n';
  md += `kvws implements ${rows.length} commands and subcommands with Redis 7 semantics. `;
  md += 'Arity follows Redis (negative = at least that many arguments, counting the name). ';
  md += 'ACL categories include those implied by the flags, as in `COMMAND INFO`.\n\n';
  for (const g of GROUPS) {
    const list = rows.filter((r) => r.group === g);
    if (list.length === 0) continue;
    md += `## ${TITLES[g]}\n\n| Command | Syntax | Arity | Flags | ACL categories | Summary |\n|---|---|---|---|---|---|\n`;
    for (const r of list) {
      md += `| ${r.name} | \`${r.syntax.replaceAll('|', '\\|')}\` | ${r.arity} | ${r.flags.join(', ')} | ${r.acl.map((c) => `@${c}`).join(' ')} | ${r.summary.replaceAll('|', '\\|')} |\n`;
    }
    md += '\n';
  }
  return md;
}

const target = new URL('../docs/commands.md', import.meta.url);
writeOrCheck(target, render(), 'node scripts/gen-command-docs.mjs');
