import type { KeyAccess, KeyOp, KeySpec } from './types.js';

export interface KeyRef {
  /** argv index of the key. */
  index: number;
  access: KeyAccess;
  /** Index of the key spec (in the command's `keys`) that found it. */
  spec: number;
}

/**
 * Applies Redis 7 key specs to argv (argv[0] is the command name; for subcommands argv[1] is the
 * subcommand and indexes count from argv[0] as in Redis). Returns the key positions in spec order.
 * Never throws: a spec that does not match (missing keyword, bad count) yields no keys for that spec,
 * and the handler reports the syntax error.
 */
export function getKeyPositions(specs: readonly KeySpec[], argv: readonly string[]): KeyRef[] {
  const out: KeyRef[] = [];
  const argc = argv.length;
  for (let si = 0; si < specs.length; si++) {
    const spec = specs[si];
    let first: number;
    if ('index' in spec.begin) {
      first = spec.begin.index;
    } else {
      const { keyword, startFrom } = spec.begin;
      const kw = keyword.toUpperCase();
      first = -1;
      if (startFrom >= 0) {
        for (let i = startFrom; i < argc; i++) {
          if (argv[i].toUpperCase() === kw) {
            first = i + 1;
            break;
          }
        }
      } else {
        for (let i = argc + startFrom; i > 0; i--) {
          if (argv[i].toUpperCase() === kw) {
            first = i + 1;
            break;
          }
        }
      }
      if (first < 0) continue;
    }
    if (first >= argc) continue;
    if ('range' in spec.find) {
      const { lastKey, step, limit } = spec.find.range;
      let last: number;
      if (lastKey >= 0) last = first + lastKey;
      else if (limit <= 1) last = argc + lastKey;
      else {
        const remaining = argc - first;
        last = first + Math.floor(remaining / limit) - 1;
      }
      for (let i = first; i <= last && i < argc; i += step) out.push({ index: i, access: spec.access, spec: si });
    } else {
      const { keyNumIdx, firstKey, step } = spec.find.keynum;
      const numIdx = first + keyNumIdx;
      if (numIdx >= argc) continue;
      const n = Number(argv[numIdx]);
      if (!Number.isInteger(n) || n < 0) continue;
      const start = first + firstKey;
      for (let k = 0, i = start; k < n && i < argc; k++, i += step)
        out.push({ index: i, access: spec.access, spec: si });
    }
  }
  return out;
}

/**
 * The key-spec flags of a command whose spec says VARIABLE_FLAGS, as Redis's getkeys procs work them out
 * from the arguments: SET reads its key only with GET (`RW ACCESS UPDATE`), otherwise it only writes it
 * (`OW UPDATE`). Returns the spec's own ops for every other command.
 */
export function keyOpsFor(name: string, spec: KeySpec, argv: readonly string[]): readonly KeyOp[] {
  if (!spec.ops.includes('VARIABLE_FLAGS')) return spec.ops;
  if (name === 'SET') {
    for (let i = 3; i < argv.length; i++) if (argv[i].toUpperCase() === 'GET') return ['ACCESS', 'UPDATE'];
    return ['UPDATE'];
  }
  return spec.ops;
}

/**
 * XREAD and XREADGROUP block only with a BLOCK option, which comes before STREAMS (GROUP takes two
 * arguments, COUNT one): the index of BLOCK's milliseconds argument, or -1 when there is none. Front doors
 * use it to tell whether one invocation of these `blocking`-flagged commands may block.
 */
export function blockOptionAt(argv: readonly string[]): number {
  for (let i = 1; i < argv.length; i++) {
    const o = argv[i].toUpperCase();
    if (o === 'BLOCK') return i + 1 < argv.length ? i + 1 : -1;
    if (o === 'STREAMS') return -1;
    if (o === 'GROUP') i += 2;
    else if (o === 'COUNT') i++;
  }
  return -1;
}
