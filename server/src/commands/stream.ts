import type { Client } from '../engine/client.js';
import { type Db, typeOf } from '../engine/db.js';
import type { Engine } from '../engine/engine.js';
import {
  type Consumer,
  type ConsumerGroup,
  cmpId,
  ENTRIES_READ_INVALID,
  type Int,
  idDecr,
  idIncr,
  idString,
  intAdd,
  isZeroId,
  LISTPACK_MAX_SIZE,
  MAX_ID,
  MIN_ID,
  Nack,
  NODE_MAX_ENTRIES,
  parseId,
  Stream,
  type StreamID,
  type TrimArgs,
  type U64,
} from '../engine/stream.js';
import { alsoPropagate, SEEN_TIME_OPTION } from '../persistence/propagate.js';
import {
  CommandError,
  Err,
  ErrorReply,
  MapReply,
  NULL_ARRAY,
  OK,
  type Reply,
  SimpleString,
  wrongArity,
} from '../protocol/reply.js';
import { kw, toInt } from './args.js';
import type { Handlers } from './types.js';

// Redis's t_stream.c. Errors, replies and keyspace events as Redis 7.0 has them. The clock is the wall clock
// (Redis's mstime()), not engine.now(): delivery and seen times must be real ones even while loading.

const INVALID_ID = 'ERR Invalid stream ID specified as stream command argument';
/** Redis's XREAD_BLOCKED_DEFAULT_COUNT: a blocked XREAD without COUNT gets at most this many entries. */
const BLOCKED_DEFAULT_COUNT = 1000;

/**
 * The stream at `key`, or undefined when the key does not exist.
 * Throws CommandError(WRONGTYPE) when the key holds another type.
 */
function getStream(db: Db, key: string): Stream | undefined {
  const v = db.lookup(key);
  if (v === undefined) return undefined;
  if (typeOf(v) !== 'stream') throw new CommandError(Err.wrongType);
  return v as Stream;
}

/** A C string's view of an argument: Redis compares some arguments with strcmp, which stops at a NUL. */
function cstr(s: string): string {
  const i = s.indexOf('\0');
  return i < 0 ? s : s.slice(0, i);
}

/** An ID argument (Redis's streamParseIDOrReply / streamParseStrictIDOrReply); throws Redis's error. */
function parseIdArg(arg: string, missingSeq: U64 = 0, strict = true): StreamID {
  const p = parseId(arg, missingSeq, strict);
  if (p === null) throw new CommandError(INVALID_ID);
  return p.id;
}

/** A range end (Redis's streamParseIntervalIDOrReply): `(id` is exclusive (and then strict). */
function parseInterval(arg: string, missingSeq: U64): { id: StreamID; exclusive: boolean } {
  const exclusive = arg.length > 1 && arg[0] === '(';
  const id = parseIdArg(exclusive ? arg.slice(1) : arg, missingSeq, exclusive);
  return { id, exclusive };
}

/** A range start: exclusive starts move to the next ID. */
function rangeStart(arg: string): StreamID {
  const { id, exclusive } = parseInterval(arg, 0);
  if (!exclusive) return id;
  const next = idIncr(id);
  if (next === null) throw new CommandError('ERR invalid start ID for the interval');
  return next;
}

/** A range end: exclusive ends move to the previous ID. */
function rangeEnd(arg: string): StreamID {
  const { id, exclusive } = parseInterval(arg, 18446744073709551615n);
  if (!exclusive) return id;
  const prev = idDecr(id);
  if (prev === null) throw new CommandError('ERR invalid end ID for the interval');
  return prev;
}

/** Redis's addReplySubcommandSyntaxError. */
function subcommandSyntax(argv: string[]): CommandError {
  return new CommandError(
    `ERR unknown subcommand or wrong number of arguments for '${cstr(argv[1]).slice(0, 128)}'. Try ${argv[0].toUpperCase()} HELP.`,
  );
}

/** Redis 7.0's addReplyHelp: status lines. */
function helpReply(name: string, lines: string[]): Reply {
  return [
    `${name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`,
    ...lines,
    'HELP',
    '    Prints this help.',
  ].map((l) => new SimpleString(l));
}

/** The live entries in [start, end] as [id, [field, value, …]] (count 0: all). */
function rangeReply(s: Stream, start: StreamID, end: StreamID, rev: boolean, count: number): Reply[] {
  const out: Reply[] = [];
  s.scan(start, end, rev, (ms, seq, fv) => {
    out.push([`${ms}-${seq}`, fv]);
    return count === 0 || out.length < count;
  });
  return out;
}

/** The one entry `id`, or null (XINFO's first-entry / last-entry). */
function entryOrNull(s: Stream, id: StreamID | null): Reply {
  if (id === null) return null;
  const fv = s.get(id);
  return fv === undefined ? null : [idString(id), fv];
}

// ---- AOF records (Redis's alsoPropagate for streams) -------------------------------------------------------

/** Whether this command's handler should build AOF records (the AOF is on and we are not loading it). */
function recording(engine: Engine): boolean {
  return engine.aof !== null && !engine.loading;
}

/** The XCLAIM that recreates `nack` as it is now (Redis's streamPropagateXCLAIM). */
function xclaimRecord(key: string, groupName: string, g: ConsumerGroup, nack: Nack): string[] {
  return [
    'XCLAIM',
    key,
    groupName,
    nack.consumer?.name ?? '',
    '0',
    nack.key,
    'TIME',
    String(nack.deliveryTime),
    'RETRYCOUNT',
    String(nack.deliveryCount),
    'FORCE',
    'JUSTID',
    'LASTID',
    idString(g.lastId),
  ];
}

/** The XGROUP SETID that restores a group's last ID and read counter (Redis's streamPropagateGroupID). */
function setIdRecord(key: string, groupName: string, g: ConsumerGroup): string[] {
  return ['XGROUP', 'SETID', key, groupName, idString(g.lastId), 'ENTRIESREAD', String(g.entriesRead)];
}

/** kvws's record of a consumer's seen-time (see SEEN_TIME_OPTION): creates the consumer when missing. */
function seenRecord(key: string, groupName: string, c: Consumer): string[] {
  return ['XCLAIM', key, groupName, c.name, '0', '0-0', SEEN_TIME_OPTION, String(c.seenTime)];
}

// ---- consumer groups ---------------------------------------------------------------------------------------

/** The consumer `name` (its seen-time refreshed), created (with its event) when missing. */
function consumerFor(engine: Engine, db: Db, key: string, g: ConsumerGroup, name: string, now: number): Consumer {
  let c = g.lookupConsumer(name, now);
  if (c === undefined) {
    c = g.createConsumer(name, now) as Consumer;
    engine.notify(db, key, 'xgroup-createconsumer', 't');
  }
  return c;
}

/** Moves `nack` to consumer `c` (from its previous owner, if any). */
function assign(nack: Nack, c: Consumer): void {
  if (nack.consumer === c) return;
  nack.consumer?.pel.remove(nack);
  nack.consumer = c;
  c.pel.insert(nack);
}

/** Who reads through a group (XREADGROUP), and where its AOF records go. */
interface GroupReader {
  key: string;
  groupName: string;
  group: ConsumerGroup;
  consumer: Consumer;
  noack: boolean;
  records: string[][] | null;
}

/**
 * Redis's streamReplyWithRange from `start` on (at most `count` entries, 0 = all). With a group: the group's
 * last ID and read counter advance, and each entry delivered gets a NACK owned by the consumer (unless
 * NOACK), taken over from another consumer if the group had one.
 */
function readEntries(s: Stream, start: StreamID, count: number, gr: GroupReader | null, now: number): Reply[] {
  const out: Reply[] = [];
  s.scan(start, MAX_ID, false, (ms, seq, fv) => {
    const key = `${ms}-${seq}`;
    if (gr !== null) {
      const g = gr.group;
      const id: StreamID = { ms, seq };
      if (cmpId(id, g.lastId) > 0) s.advanceGroup(g, id);
      if (!gr.noack) {
        // An ID above every pending one is not pending (the usual case: new entries).
        const last = g.pel.last();
        let nack = last === undefined || cmpId(last.id, id) < 0 ? undefined : g.pel.find(id);
        if (nack === undefined) {
          nack = new Nack(id, now, 1, gr.consumer);
          g.pel.insert(nack);
          gr.consumer.pel.insert(nack);
        } else {
          assign(nack, gr.consumer);
          nack.deliveryTime = now;
          nack.deliveryCount = 1;
        }
        gr.records?.push(xclaimRecord(gr.key, gr.groupName, g, nack));
      }
    }
    out.push([key, fv]);
    return count === 0 || out.length < count;
  });
  return out;
}

/**
 * Redis's streamReplyWithRangeFromConsumerPEL: the consumer's own pending entries from `start` on; an entry
 * deleted from the stream meanwhile comes back as [id, nil]. The others count as delivered again.
 */
function readHistory(s: Stream, start: StreamID, count: number, gr: GroupReader, now: number): Reply[] {
  const out: Reply[] = [];
  const again: Nack[] = [];
  gr.consumer.pel.forEachFrom(start, (nack) => {
    if (count !== 0 && out.length >= count) return false;
    const fv = s.get(nack.id);
    if (fv === undefined) out.push([nack.key, NULL_ARRAY]);
    else {
      again.push(nack);
      out.push([nack.key, fv]);
    }
    return true;
  });
  for (const nack of again) {
    nack.deliveryTime = now;
    nack.deliveryCount = intAdd(nack.deliveryCount, 1);
    gr.records?.push(xclaimRecord(gr.key, gr.groupName, gr.group, nack));
  }
  return out;
}

/**
 * Serves one stream of an XREADGROUP (at once or when woken): reads new entries after `after` (the group's
 * last ID) or, with `history`, the consumer's pending entries from `after` + 1. Marks the key changed
 * (without an event, as Redis) and adds the AOF records: the NACKs' XCLAIMs, the group's XGROUP SETID when
 * its position moved, the consumer's seen-time.
 */
function serveGroup(
  client: Client,
  argv: string[],
  s: Stream,
  key: string,
  groupName: string,
  g: ConsumerGroup,
  consumerName: string,
  after: StreamID,
  history: boolean,
  count: number,
  noack: boolean,
): Reply[] {
  const { engine, db } = client;
  const now = Date.now();
  const consumer = consumerFor(engine, db, key, g, consumerName, now);
  const records: string[][] | null = recording(engine) ? [] : null;
  const before = { lastId: g.lastId, entriesRead: g.entriesRead };
  const gr: GroupReader = { key, groupName, group: g, consumer, noack, records };
  const start = idIncr(after) ?? MIN_ID;
  const entries = history ? readHistory(s, start, count, gr, now) : readEntries(s, start, count, gr, now);
  engine.keyChanged(db, key);
  if (records !== null) {
    if (g.lastId !== before.lastId || g.entriesRead !== before.entriesRead)
      records.push(setIdRecord(key, groupName, g));
    records.push(seenRecord(key, groupName, consumer));
    alsoPropagate(argv, records, true);
  }
  return entries;
}

// ---- XADD / XTRIM options -------------------------------------------------------------------------------

interface AddTrimArgs {
  /** XADD: position of the ID argument (argv.length when there is none). */
  idPos: number;
  id: StreamID | null;
  seqGiven: boolean;
  noMkStream: boolean;
  trim: TrimArgs | null;
  /** Position of the MAXLEN/MINID threshold (for the AOF record). */
  trimArgPos: number;
}

/** What parseAddTrim answers for `XADD key * …`. */
const PLAIN_XADD: Readonly<AddTrimArgs> = {
  idPos: 2,
  id: null,
  seqGiven: true,
  noMkStream: false,
  trim: null,
  trimArgPos: 0,
};

/**
 * Redis's streamParseAddOrTrimArgsOrReply. `obey` (loading the AOF) lifts the LIMIT rules, as Redis does for
 * its master and AOF clients. Throws Redis's errors.
 */
function parseAddTrim(argv: string[], xadd: boolean, obey: boolean): AddTrimArgs {
  const out: AddTrimArgs = {
    idPos: argv.length,
    id: null,
    seqGiven: true,
    noMkStream: false,
    trim: null,
    trimArgPos: 0,
  };
  let strategy: 'maxlen' | 'minid' | null = null;
  let approx = false;
  let maxlen = 0;
  let minid: StreamID = MIN_ID;
  let limit = 0;
  let limitGiven = false;
  let i = 2;
  for (; i < argv.length; i++) {
    const more = argv.length - 1 - i;
    const opt = argv[i];
    if (xadd && cstr(opt) === '*') break;
    const k = kw(opt);
    if ((k === 'MAXLEN' || k === 'MINID') && more) {
      if (strategy !== null) {
        throw new CommandError('ERR syntax error, MAXLEN and MINID options at the same time are not compatible');
      }
      approx = false;
      const next = cstr(argv[i + 1]);
      if (more >= 2 && next === '~') {
        approx = true;
        i++;
      } else if (more >= 2 && next === '=') i++;
      if (k === 'MAXLEN') {
        maxlen = toInt(argv[i + 1]);
        if (maxlen < 0) throw new CommandError('ERR The MAXLEN argument must be >= 0.');
        strategy = 'maxlen';
      } else {
        minid = parseIdArg(argv[i + 1]);
        strategy = 'minid';
      }
      i++;
      out.trimArgPos = i;
    } else if (k === 'LIMIT' && more) {
      limit = toInt(argv[i + 1]);
      if (limit < 0) throw new CommandError('ERR The LIMIT argument must be >= 0.');
      limitGiven = true;
      i++;
    } else if (xadd && k === 'NOMKSTREAM') {
      out.noMkStream = true;
    } else if (xadd) {
      const p = parseId(opt, 0, true, true);
      if (p === null) throw new CommandError(INVALID_ID);
      out.id = p.id;
      out.seqGiven = p.seqGiven;
      break;
    } else {
      throw new CommandError(Err.syntax);
    }
  }
  out.idPos = i;
  if (limit && strategy === null) {
    throw new CommandError('ERR syntax error, LIMIT cannot be used without specifying a trimming strategy');
  }
  if (!xadd && strategy === null)
    throw new CommandError('ERR syntax error, XTRIM must be called with a trimming strategy');
  if (obey) limit = 0;
  else if (limitGiven) {
    if (!approx) throw new CommandError('ERR syntax error, LIMIT cannot be used without the special ~ option');
  } else if (approx) limit = Math.min(Math.max(100 * NODE_MAX_ENTRIES, 1), 1_000_000);
  else limit = 0;
  if (strategy !== null) out.trim = { strategy, maxlen, minid, approx, limit };
  return out;
}

/**
 * The AOF form of a trimming XADD/XTRIM after approximate trimming (Redis's streamRewriteApproxSpecifier and
 * streamRewriteTrimArgument): `= <length now>` or `= <first ID now>`, so that replaying trims exactly.
 * LIMIT is dropped (an exact trim with LIMIT would be refused).
 */
function exactTrimArgv(argv: string[], a: AddTrimArgs, s: Stream): string[] {
  const out = argv.slice();
  const trim = a.trim as TrimArgs;
  out[a.trimArgPos - 1] = '=';
  out[a.trimArgPos] = trim.strategy === 'maxlen' ? String(s.length) : idString(s.edgeId(true, false) ?? MAX_ID);
  // Drop LIMIT n (it can only sit between the options and the ID, before the threshold or after it).
  const end = a.idPos;
  for (let i = 2; i < end; i++) {
    if (i !== a.trimArgPos && kw(out[i]) === 'LIMIT' && i + 1 < end && i + 1 !== a.trimArgPos) {
      out.splice(i, 2);
      break;
    }
  }
  return out;
}

// ---- XREAD / XREADGROUP --------------------------------------------------------------------------------

/**
 * XREAD and XREADGROUP (Redis's xreadCommand): serves at once every stream that has something, else blocks
 * with BLOCK (a nil array at the timeout), else answers a nil array.
 */
function xread(client: Client, argv: string[], isGroup: boolean): Reply | Promise<Reply> {
  const { engine, db } = client;
  let timeout = -1;
  let count = 0;
  let streamsArg = 0;
  let n = 0;
  let noack = false;
  let groupName: string | null = null;
  let consumerName = '';
  for (let i = 1; i < argv.length; i++) {
    const more = argv.length - i - 1;
    const o = kw(argv[i]);
    if (o === 'BLOCK' && more) {
      i++;
      timeout = toInt(argv[i], 'ERR timeout is not an integer or out of range');
      if (timeout < 0) throw new CommandError('ERR timeout is negative');
    } else if (o === 'COUNT' && more) {
      i++;
      count = Math.max(toInt(argv[i]), 0);
    } else if (o === 'STREAMS' && more) {
      streamsArg = i + 1;
      n = argv.length - streamsArg;
      if (n % 2 !== 0) {
        throw new CommandError(
          "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
        );
      }
      n /= 2;
      break;
    } else if (o === 'GROUP' && more >= 2) {
      if (!isGroup)
        throw new CommandError('ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.');
      groupName = argv[i + 1];
      consumerName = argv[i + 2];
      i += 2;
    } else if (o === 'NOACK') {
      if (!isGroup)
        throw new CommandError('ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.');
      noack = true;
    } else {
      throw new CommandError(Err.syntax);
    }
  }
  if (streamsArg === 0) throw new CommandError(Err.syntax);
  if (isGroup && groupName === null) throw new CommandError('ERR Missing GROUP option for XREADGROUP');

  const keys = argv.slice(streamsArg, streamsArg + n);
  const ids: StreamID[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    const s = getStream(db, key);
    if (groupName !== null && (s === undefined || s.groups?.get(groupName) === undefined)) {
      throw new CommandError(
        `NOGROUP No such key '${cstr(key)}' or consumer group '${cstr(groupName)}' in XREADGROUP with GROUP option`,
      );
    }
    const arg = cstr(argv[streamsArg + n + i]);
    if (arg === '$') {
      if (isGroup) {
        throw new CommandError(
          'ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.',
        );
      }
      ids[i] = s === undefined ? MIN_ID : s.lastId;
    } else if (arg === '>') {
      if (!isGroup) {
        throw new CommandError(
          'ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.',
        );
      }
      ids[i] = MAX_ID;
    } else ids[i] = parseIdArg(argv[streamsArg + n + i]);
  }

  const served: [string, Reply][] = [];
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    const s = db.lookup(key) as Stream | undefined;
    if (s === undefined) continue;
    let gt = ids[i];
    if (groupName !== null) {
      const g = s.groups?.get(groupName) as ConsumerGroup;
      // An ID other than ">" (the maximum ID) reads the consumer's history, always at once.
      const history = cmpId(gt, MAX_ID) !== 0;
      if (!history) {
        const maxid = s.lastValidId();
        if (maxid === null || cmpId(maxid, g.lastId) <= 0) continue;
        gt = g.lastId;
      }
      served.push([key, serveGroup(client, argv, s, key, groupName, g, consumerName, gt, history, count, noack)]);
    } else {
      const maxid = s.lastValidId();
      if (maxid === null || cmpId(maxid, gt) <= 0) continue;
      served.push([key, readEntries(s, idIncr(gt) ?? MIN_ID, count, null, 0)]);
    }
  }
  if (served.length !== 0) return client.resp === 3 ? new MapReply(served) : served;
  if (timeout === -1) return NULL_ARRAY;

  // Block: one ID per distinct key (the first given, as Redis's blockForKeys keeps it).
  const after = new Map<string, StreamID>();
  for (let i = 0; i < n; i++) if (!after.has(keys[i])) after.set(keys[i], ids[i]);
  // Redis offers a stream to its blocked readers only when an XADD (or XGROUP DESTROY, or a new value at the
  // key) signals it; kvws signals every change, so a waiter looks only when the stream object or its
  // `readySeq` moved since it last looked.
  const seen = new Map<string, { s: Stream; seq: number }>();
  for (const key of after.keys()) {
    const v = db.dict.get(key);
    if (v !== undefined && typeOf(v) === 'stream') seen.set(key, { s: v as Stream, seq: (v as Stream).readySeq });
  }
  const blockCount = count !== 0 ? count : BLOCKED_DEFAULT_COUNT;
  const argvNow = client.argv;
  const attempt = (key: string): Reply | undefined => {
    const v = db.lookup(key);
    if (v === undefined || typeOf(v) !== 'stream') {
      return groupName !== null ? new ErrorReply('UNBLOCKED the stream key no longer exists') : undefined;
    }
    const s = v as Stream;
    const last = seen.get(key);
    if (last !== undefined && last.s === s && last.seq === s.readySeq) return undefined;
    seen.set(key, { s, seq: s.readySeq });
    let gt = after.get(key) as StreamID;
    let g: ConsumerGroup | undefined;
    if (groupName !== null) {
      g = s.groups?.get(groupName);
      if (g === undefined)
        return new ErrorReply('NOGROUP the consumer group this client was blocked on no longer exists');
      gt = g.lastId;
    }
    if (cmpId(s.lastId, gt) <= 0) return undefined;
    let entries: Reply[];
    if (g !== undefined && groupName !== null) {
      entries = serveGroup(client, argvNow, s, key, groupName, g, consumerName, gt, false, blockCount, noack);
    } else entries = readEntries(s, idIncr(gt) ?? MIN_ID, blockCount, null, 0);
    const one: [string, Reply][] = [[key, entries]];
    return client.resp === 3 ? new MapReply(one) : one;
  };
  return engine.blocking.block(client, db, [...after.keys()], timeout, attempt, NULL_ARRAY, groupName !== null);
}

// ---- XINFO -----------------------------------------------------------------------------------------------

/** A group's XINFO fields after its name: entries-read (nil when unknown) and lag (nil when unknown). */
function entriesRead(g: ConsumerGroup): Reply {
  return g.entriesRead === ENTRIES_READ_INVALID ? null : (g.entriesRead as Reply);
}

function xinfoStream(s: Stream, argv: string[]): Reply {
  const optc = argv.length - 3;
  let full = false;
  let count = 10;
  if (optc !== 0) {
    if (optc !== 1 && optc !== 3) throw subcommandSyntax(argv);
    if (kw(argv[3]) !== 'FULL') throw subcommandSyntax(argv);
    full = true;
    if (optc === 3) {
      if (kw(argv[4]) !== 'COUNT') throw subcommandSyntax(argv);
      count = toInt(argv[5]);
      if (count < 0) count = 10;
    }
  }
  const fields: [Reply, Reply][] = [
    ['length', s.length],
    ['radix-tree-keys', s.nodes.length],
    ['radix-tree-nodes', s.radixTreeNodes()],
    ['last-generated-id', idString(s.lastId)],
    ['max-deleted-entry-id', idString(s.maxDeletedId)],
    ['entries-added', s.entriesAdded],
    ['recorded-first-entry-id', idString(s.firstId)],
  ];
  if (!full) {
    fields.push(['groups', s.groups?.size ?? 0]);
    fields.push(['first-entry', entryOrNull(s, s.length ? s.edgeId(true, true) : null)]);
    fields.push(['last-entry', entryOrNull(s, s.lastValidId())]);
    return new MapReply(fields);
  }
  fields.push(['entries', rangeReply(s, MIN_ID, MAX_ID, false, count)]);
  const groups: Reply[] = [];
  for (const g of s.sortedGroups()) {
    const pending: Reply[] = [];
    for (const nack of g.pel) {
      if (count !== 0 && pending.length >= count) break;
      pending.push([nack.key, nack.consumer?.name ?? '', nack.deliveryTime, nack.deliveryCount]);
    }
    const consumers: Reply[] = [];
    for (const c of g.sortedConsumers()) {
      const cpending: Reply[] = [];
      for (const nack of c.pel) {
        if (count !== 0 && cpending.length >= count) break;
        cpending.push([nack.key, nack.deliveryTime, nack.deliveryCount]);
      }
      consumers.push(
        new MapReply([
          ['name', c.name],
          ['seen-time', c.seenTime],
          ['pel-count', c.pel.size],
          ['pending', cpending],
        ]),
      );
    }
    groups.push(
      new MapReply([
        ['name', g.name],
        ['last-delivered-id', idString(g.lastId)],
        ['entries-read', entriesRead(g)],
        ['lag', s.lag(g)],
        ['pel-count', g.pel.size],
        ['pending', pending],
        ['consumers', consumers],
      ]),
    );
  }
  fields.push(['groups', groups]);
  return new MapReply(fields);
}

/** XINFO's common start (after HELP): the stream at argv[2] or Redis's `no such key`. */
function xinfoStreamAt(client: Client, argv: string[]): Stream {
  const s = getStream(client.db, argv[2]);
  if (s === undefined) throw new CommandError(Err.noSuchKey);
  return s;
}

// ---- XGROUP ----------------------------------------------------------------------------------------------

interface XgroupArgs {
  s: Stream | undefined;
  g: ConsumerGroup | undefined;
  mkstream: boolean;
  entriesRead: Int;
}

/**
 * The part of Redis's xgroupCommand shared by its subcommands: the options (MKSTREAM for CREATE,
 * ENTRIESREAD for CREATE and SETID), the key (which must exist unless MKSTREAM) and, for SETID,
 * CREATECONSUMER and DELCONSUMER, the group.
 */
function xgroupArgs(client: Client, argv: string[]): XgroupArgs {
  const sub = argv[1].toUpperCase();
  const create = sub === 'CREATE';
  const setid = sub === 'SETID';
  let mkstream = false;
  let entriesRead: Int = ENTRIES_READ_INVALID;
  for (let i = 5; i < argv.length; ) {
    const o = kw(argv[i]);
    if (create && o === 'MKSTREAM') {
      mkstream = true;
      i++;
    } else if ((create || setid) && o === 'ENTRIESREAD' && i + 1 < argv.length) {
      entriesRead = toInt(argv[i + 1]);
      if (entriesRead < 0 && entriesRead !== ENTRIES_READ_INVALID) {
        throw new CommandError('ERR value for ENTRIESREAD must be positive or -1');
      }
      i += 2;
    } else throw subcommandSyntax(argv);
  }
  const s = getStream(client.db, argv[2]);
  let g: ConsumerGroup | undefined;
  if (!mkstream) {
    if (s === undefined) {
      throw new CommandError(
        'ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.',
      );
    }
    g = s.groups?.get(argv[3]);
    if (g === undefined && (setid || sub === 'CREATECONSUMER' || sub === 'DELCONSUMER')) {
      throw new CommandError(`NOGROUP No such consumer group '${cstr(argv[3])}' for key name '${cstr(argv[2])}'`);
    }
  }
  return { s, g, mkstream, entriesRead: entriesRead as Int };
}

// ---- XPENDING / XCLAIM / XAUTOCLAIM ------------------------------------------------------------------------

/** The group `name` of the stream at `key` for XPENDING/XCLAIM/XAUTOCLAIM, or Redis's NOGROUP error. */
function groupOf(s: Stream | undefined, key: string, name: string): ConsumerGroup {
  const g = s?.groups?.get(name);
  if (g === undefined) throw new CommandError(`NOGROUP No such key '${cstr(key)}' or consumer group '${cstr(name)}'`);
  return g;
}

export const handlers: Handlers = {
  // XADD key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]
  XADD(client, argv) {
    const { engine, db } = client;
    // The usual form, `XADD key * field value …`, has no options to parse.
    const a = argv[2] === '*' ? PLAIN_XADD : parseAddTrim(argv, true, engine.loading);
    const fieldPos = a.idPos + 1;
    const nf = argv.length - fieldPos;
    if (nf < 2 || nf % 2 === 1) throw new CommandError(wrongArity('xadd'));
    if (a.id !== null && a.seqGiven && isZeroId(a.id)) {
      throw new CommandError('ERR The ID specified in XADD must be greater than 0-0');
    }
    const key = argv[1];
    let s = getStream(db, key);
    if (s === undefined) {
      if (a.noMkStream) return null;
      s = new Stream();
      db.add(key, s);
    }
    if (s.lastId.ms === MAX_ID.ms && s.lastId.seq === MAX_ID.seq) {
      throw new CommandError('ERR The stream has exhausted the last possible ID, unable to add more items');
    }
    const id = s.nextId(a.id, a.seqGiven, Date.now());
    if (id === 'edom') {
      throw new CommandError('ERR The ID specified in XADD is equal or smaller than the target stream top item');
    }
    let total = 0;
    for (let i = fieldPos; i < argv.length; i++) total += argv[i].length;
    if (id === 'erange' || total > LISTPACK_MAX_SIZE) throw new CommandError('ERR Elements are too large to be stored');
    s.add(id, argv, fieldPos);
    s.readySeq++;
    engine.notify(db, key, 'xadd', 't');
    if (a.trim !== null && s.trim(a.trim)) engine.notify(db, key, 'xtrim', 't');
    const reply = idString(id);
    if (recording(engine)) {
      // The ID actually given, and an approximate trim made exact (Redis rewrites its argv the same way).
      const rec = a.trim?.approx ? exactTrimArgv(argv, a, s) : argv.slice();
      const idAt = rec.length - nf - 1;
      rec[idAt] = reply;
      alsoPropagate(argv, [rec]);
    }
    return reply;
  },

  // XLEN key
  XLEN(client, argv) {
    return getStream(client.db, argv[1])?.length ?? 0;
  },

  // XRANGE key start end [COUNT count]
  XRANGE(client, argv) {
    return xrange(client, argv, false);
  },

  // XREVRANGE key end start [COUNT count]
  XREVRANGE(client, argv) {
    return xrange(client, argv, true);
  },

  // XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
  XREAD(client, argv) {
    return xread(client, argv, false);
  },

  // XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]
  XREADGROUP(client, argv) {
    return xread(client, argv, true);
  },

  // XDEL key id [id ...]
  XDEL(client, argv) {
    const { engine, db } = client;
    const key = argv[1];
    const s = getStream(db, key);
    if (s === undefined) return 0;
    const ids = argv.slice(2).map((a) => parseIdArg(a));
    let deleted = 0;
    let firstGone = false;
    for (const id of ids) {
      if (!s.delete(id)) continue;
      if (cmpId(id, s.firstId) === 0) firstGone = true;
      if (cmpId(id, s.maxDeletedId) > 0) s.maxDeletedId = id;
      deleted++;
    }
    if (deleted) {
      if (s.length === 0) s.firstId = MIN_ID;
      else if (firstGone) s.firstId = s.edgeId(true, true) ?? MIN_ID;
      engine.notify(db, key, 'xdel', 't');
    }
    return deleted;
  },

  // XTRIM key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]
  XTRIM(client, argv) {
    const { engine, db } = client;
    const a = parseAddTrim(argv, false, engine.loading);
    const key = argv[1];
    const s = getStream(db, key);
    if (s === undefined) return 0;
    const deleted = s.trim(a.trim as TrimArgs);
    if (deleted) {
      engine.notify(db, key, 'xtrim', 't');
      if (recording(engine) && a.trim?.approx) alsoPropagate(argv, [exactTrimArgv(argv, a, s)]);
    }
    return deleted;
  },

  // XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
  XSETID(client, argv) {
    const { engine, db } = client;
    const id = parseIdArg(argv[2]);
    let entriesAdded: number | bigint = -1;
    let maxDeleted: StreamID = MIN_ID;
    for (let i = 3; i < argv.length; ) {
      const more = argv.length - 1 - i;
      const o = kw(argv[i]);
      if (o === 'ENTRIESADDED' && more) {
        entriesAdded = toInt(argv[i + 1]);
        if (entriesAdded < 0) throw new CommandError('ERR entries_added must be positive');
        if (entriesAdded > Number.MAX_SAFE_INTEGER) entriesAdded = BigInt(argv[i + 1]);
        i += 2;
      } else if (o === 'MAXDELETEDID' && more) {
        maxDeleted = parseIdArg(argv[i + 1]);
        if (cmpId(id, maxDeleted) < 0) {
          throw new CommandError('ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id');
        }
        i += 2;
      } else throw new CommandError(Err.syntax);
    }
    const key = argv[1];
    const s = getStream(db, key);
    if (s === undefined) throw new CommandError(Err.noSuchKey);
    if (s.length > 0) {
      if (cmpId(id, s.lastValidId() as StreamID) < 0) {
        throw new CommandError('ERR The ID specified in XSETID is smaller than the target stream top item');
      }
      if (entriesAdded !== -1 && s.length > entriesAdded) {
        throw new CommandError('ERR The entries_added specified in XSETID is smaller than the target stream length');
      }
    }
    s.lastId = id;
    if (entriesAdded !== -1) s.entriesAdded = entriesAdded;
    if (!isZeroId(maxDeleted)) s.maxDeletedId = maxDeleted;
    engine.notify(db, key, 'xsetid', 't');
    return OK;
  },

  // XACK key group id [id ...]
  XACK(client, argv) {
    const { engine, db } = client;
    const key = argv[1];
    const s = getStream(db, key);
    const g = s?.groups?.get(argv[2]);
    if (g === undefined) return 0;
    const ids = argv.slice(3).map((a) => parseIdArg(a));
    let acked = 0;
    for (const id of ids) {
      const nack = g.pel.find(id);
      if (nack === undefined) continue;
      g.pel.remove(nack);
      nack.consumer?.pel.remove(nack);
      acked++;
    }
    if (acked) engine.keyChanged(db, key);
    return acked;
  },

  // XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
  XPENDING(client, argv) {
    const argc = argv.length;
    if (argc !== 3 && (argc < 6 || argc > 9)) throw new CommandError(Err.syntax);
    let minIdle = 0;
    let count = 0;
    let start = MIN_ID;
    let end = MAX_ID;
    let consumerName: string | null = null;
    if (argc >= 6) {
      let at = 3;
      if (kw(argv[3]) === 'IDLE') {
        minIdle = toInt(argv[4]);
        if (argc < 8) throw new CommandError(Err.syntax);
        at += 2;
      }
      count = Math.max(toInt(argv[at + 2]), 0);
      start = rangeStart(argv[at]);
      end = rangeEnd(argv[at + 1]);
      if (at + 3 < argc) consumerName = argv[at + 3];
    }
    const g = groupOf(getStream(client.db, argv[1]), argv[1], argv[2]);
    if (argc === 3) {
      const first = g.pel.first();
      if (first === undefined) return [0, null, null, NULL_ARRAY];
      const owners: Reply[] = [];
      for (const c of g.sortedConsumers()) if (c.pel.size) owners.push([c.name, String(c.pel.size)]);
      return [g.pel.size, first.key, (g.pel.last() as Nack).key, owners];
    }
    let pel = g.pel;
    if (consumerName !== null) {
      const c = g.lookupConsumer(consumerName, null);
      if (c === undefined) return [];
      pel = c.pel;
    }
    const now = Date.now();
    const out: Reply[] = [];
    pel.forEachFrom(start, (nack) => {
      if (count === 0 || cmpId(nack.id, end) > 0) return false;
      const idle = now - nack.deliveryTime;
      if (minIdle && idle < minIdle) return true;
      count--;
      out.push([nack.key, nack.consumer?.name ?? '', Math.max(idle, 0), nack.deliveryCount]);
      return true;
    });
    return out;
  },

  // XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
  XCLAIM(client, argv) {
    const { engine, db } = client;
    const key = argv[1];
    const s = getStream(db, key);
    const g = groupOf(s, key, argv[2]);
    const stream = s as Stream;
    let minIdle = toInt(argv[4], 'ERR Invalid min-idle-time argument for XCLAIM');
    if (minIdle < 0) minIdle = 0;
    const ids: StreamID[] = [];
    let j = 5;
    for (; j < argv.length; j++) {
      const p = parseId(argv[j], 0, true);
      if (p === null) break;
      ids.push(p.id);
    }
    const now = Date.now();
    let deliveryTime = -1;
    let retryCount: Int = -1;
    let force = false;
    let justId = false;
    let lastId = MIN_ID;
    let seenTime = -1;
    for (; j < argv.length; j++) {
      const more = argv.length - 1 - j;
      const opt = argv[j];
      const o = kw(opt);
      if (o === 'FORCE') force = true;
      else if (o === 'JUSTID') justId = true;
      else if (o === 'IDLE' && more) {
        deliveryTime = now - toInt(argv[++j], 'ERR Invalid IDLE option argument for XCLAIM');
      } else if (o === 'TIME' && more) {
        deliveryTime = toInt(argv[++j], 'ERR Invalid TIME option argument for XCLAIM');
      } else if (o === 'RETRYCOUNT' && more) {
        const r = argv[++j];
        retryCount = toInt(r, 'ERR Invalid RETRYCOUNT option argument for XCLAIM');
        if (retryCount > Number.MAX_SAFE_INTEGER) retryCount = BigInt(r);
      } else if (o === 'LASTID' && more) {
        lastId = parseIdArg(argv[++j]);
      } else if (engine.loading && o === SEEN_TIME_OPTION && more) {
        seenTime = toInt(argv[++j]);
      } else {
        throw new CommandError(`ERR Unrecognized XCLAIM option '${cstr(opt)}'`);
      }
    }
    const records: string[][] | null = recording(engine) ? [] : null;
    let changed = false;
    let lastIdMoved = false;
    if (cmpId(lastId, g.lastId) > 0) {
      g.lastId = lastId;
      lastIdMoved = true;
    }
    if (deliveryTime !== -1) {
      if (deliveryTime < 0 || deliveryTime > now) deliveryTime = now;
    } else deliveryTime = now;
    let consumer: Consumer | undefined;
    const name = argv[3];
    const out: Reply[] = [];
    for (const id of ids) {
      const k = idString(id);
      let nack = g.pel.find(id);
      const fv = stream.get(id);
      if (fv === undefined) {
        // Gone from the stream: its NACK goes too.
        if (nack !== undefined) {
          records?.push(xclaimRecord(key, argv[2], g, nack));
          g.pel.remove(nack);
          nack.consumer?.pel.remove(nack);
          changed = true;
        }
        continue;
      }
      if (force && nack === undefined) {
        nack = new Nack(id, now, 1, null);
        g.pel.insert(nack);
      }
      if (nack === undefined) continue;
      if (nack.consumer !== null && minIdle && now - nack.deliveryTime < minIdle) continue;
      if (consumer === undefined) consumer = consumerFor(engine, db, key, g, name, now);
      nack.deliveryTime = deliveryTime;
      if (retryCount >= 0) nack.deliveryCount = retryCount;
      else if (!justId) nack.deliveryCount = intAdd(nack.deliveryCount, 1);
      assign(nack, consumer);
      out.push(justId ? k : [k, fv]);
      records?.push(xclaimRecord(key, argv[2], g, nack));
      changed = true;
    }
    if (lastIdMoved) {
      changed = true;
      if (records !== null && records.length === 0) records.push(setIdRecord(key, argv[2], g));
    }
    if (seenTime !== -1) {
      // Loading kvws's record of a consumer's seen-time.
      const c = g.lookupConsumer(name, null) ?? (g.createConsumer(name, seenTime) as Consumer);
      c.seenTime = seenTime;
      changed = true;
    }
    if (consumer !== undefined) records?.push(seenRecord(key, argv[2], consumer));
    if (changed || consumer !== undefined) engine.keyChanged(db, key);
    if (records !== null) alsoPropagate(argv, records, true);
    return out;
  },

  // XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
  XAUTOCLAIM(client, argv) {
    const { engine, db } = client;
    const key = argv[1];
    let minIdle = toInt(argv[4], 'ERR Invalid min-idle-time argument for XAUTOCLAIM');
    if (minIdle < 0) minIdle = 0;
    const start = rangeStart(argv[5]);
    let count = 100;
    let justId = false;
    for (let j = 6; j < argv.length; j++) {
      const more = argv.length - 1 - j;
      const o = kw(argv[j]);
      if (o === 'COUNT' && more) {
        count = toInt(argv[j + 1], 'ERR COUNT must be > 0');
        if (count < 1 || count > Number(9223372036854775807n / 16n)) throw new CommandError('ERR COUNT must be > 0');
        j++;
      } else if (o === 'JUSTID') justId = true;
      else throw new CommandError(Err.syntax);
    }
    const s = getStream(db, key);
    const g = groupOf(s, key, argv[2]);
    const stream = s as Stream;
    const records: string[][] | null = recording(engine) ? [] : null;
    const now = Date.now();
    const name = argv[3];
    let consumer: Consumer | undefined;
    let attempts = count * 10;
    const claimed: Reply[] = [];
    const deleted: Reply[] = [];
    let changed = false;
    let next = g.pel.ceiling(start);
    while (attempts-- > 0 && count > 0 && next !== undefined) {
      const nack = next;
      next = g.pel.ceiling(idIncr(nack.id) ?? MAX_ID);
      if (next !== undefined && cmpId(next.id, nack.id) <= 0) next = undefined;
      const fv = stream.get(nack.id);
      if (fv === undefined) {
        records?.push(xclaimRecord(key, argv[2], g, nack));
        g.pel.remove(nack);
        nack.consumer?.pel.remove(nack);
        deleted.push(nack.key);
        count--;
        changed = true;
        continue;
      }
      if (minIdle && now - nack.deliveryTime < minIdle) continue;
      if (consumer === undefined) consumer = consumerFor(engine, db, key, g, name, now);
      nack.deliveryTime = now;
      if (!justId) nack.deliveryCount = intAdd(nack.deliveryCount, 1);
      assign(nack, consumer);
      claimed.push(justId ? nack.key : [nack.key, fv]);
      count--;
      records?.push(xclaimRecord(key, argv[2], g, nack));
      changed = true;
    }
    if (consumer !== undefined) records?.push(seenRecord(key, argv[2], consumer));
    if (changed || consumer !== undefined) engine.keyChanged(db, key);
    if (records !== null) alsoPropagate(argv, records, true);
    return [next === undefined ? '0-0' : next.key, claimed, deleted];
  },

  // XINFO CONSUMERS key group
  'XINFO|CONSUMERS'(client, argv) {
    const s = xinfoStreamAt(client, argv);
    const g = s.groups?.get(argv[3]);
    if (g === undefined) {
      throw new CommandError(`NOGROUP No such consumer group '${cstr(argv[3])}' for key name '${cstr(argv[2])}'`);
    }
    const now = Date.now();
    return g.sortedConsumers().map(
      (c) =>
        new MapReply([
          ['name', c.name],
          ['pending', c.pel.size],
          ['idle', Math.max(now - c.seenTime, 0)],
        ]),
    );
  },

  // XINFO GROUPS key
  'XINFO|GROUPS'(client, argv) {
    const s = xinfoStreamAt(client, argv);
    return s.sortedGroups().map(
      (g) =>
        new MapReply([
          ['name', g.name],
          ['consumers', g.consumers.size],
          ['pending', g.pel.size],
          ['last-delivered-id', idString(g.lastId)],
          ['entries-read', entriesRead(g)],
          ['lag', s.lag(g)],
        ]),
    );
  },

  // XINFO STREAM key [FULL [COUNT count]]
  'XINFO|STREAM'(client, argv) {
    return xinfoStream(xinfoStreamAt(client, argv), argv);
  },

  // XINFO HELP
  'XINFO|HELP'() {
    return helpReply('XINFO', [
      'CONSUMERS <key> <groupname>',
      '    Show consumers of <groupname>.',
      'GROUPS <key>',
      '    Show the stream consumer groups.',
      'STREAM <key> [FULL [COUNT <count>]',
      '    Show information about the stream.',
    ]);
  },

  // XGROUP CREATE key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]
  'XGROUP|CREATE'(client, argv) {
    const { engine, db } = client;
    const args = xgroupArgs(client, argv);
    let s = args.s;
    if (argv.length > 8) throw subcommandSyntax(argv);
    const key = argv[2];
    let id: StreamID;
    if (cstr(argv[4]) === '$') id = s?.lastId ?? MIN_ID;
    else id = parseIdArg(argv[4]);
    if (s === undefined) {
      s = new Stream();
      db.add(key, s);
    }
    if (s.createGroup(argv[3], id, args.entriesRead) === undefined) {
      throw new CommandError('BUSYGROUP Consumer Group name already exists');
    }
    engine.notify(db, key, 'xgroup-create', 't');
    return OK;
  },

  // XGROUP SETID key group <id | $> [ENTRIESREAD entries-read]
  'XGROUP|SETID'(client, argv) {
    const { engine, db } = client;
    const { s, g, entriesRead } = xgroupArgs(client, argv);
    if (argv.length !== 5 && argv.length !== 7) throw subcommandSyntax(argv);
    const stream = s as Stream;
    const group = g as ConsumerGroup;
    group.lastId = cstr(argv[4]) === '$' ? stream.lastId : parseIdArg(argv[4], 0, false);
    group.entriesRead = entriesRead;
    engine.notify(db, argv[2], 'xgroup-setid', 't');
    return OK;
  },

  // XGROUP DESTROY key group
  'XGROUP|DESTROY'(client, argv) {
    const { engine, db } = client;
    const { s, g } = xgroupArgs(client, argv);
    if (g === undefined) return 0;
    const stream = s as Stream;
    stream.groups?.delete(g.name);
    stream.readySeq++;
    engine.notify(db, argv[2], 'xgroup-destroy', 't');
    return 1;
  },

  // XGROUP CREATECONSUMER key group consumer
  'XGROUP|CREATECONSUMER'(client, argv) {
    const { engine, db } = client;
    const g = xgroupArgs(client, argv).g as ConsumerGroup;
    const c = g.createConsumer(argv[4], Date.now());
    if (c === undefined) return 0;
    engine.notify(db, argv[2], 'xgroup-createconsumer', 't');
    if (recording(engine)) alsoPropagate(argv, [seenRecord(argv[2], argv[3], c)]);
    return 1;
  },

  // XGROUP DELCONSUMER key group consumer
  'XGROUP|DELCONSUMER'(client, argv) {
    const { engine, db } = client;
    const g = xgroupArgs(client, argv).g as ConsumerGroup;
    const c = g.lookupConsumer(argv[4], null);
    if (c === undefined) return 0;
    const pending = c.pel.size;
    g.deleteConsumer(c);
    engine.notify(db, argv[2], 'xgroup-delconsumer', 't');
    return pending;
  },

  // XGROUP HELP
  'XGROUP|HELP'() {
    return helpReply('XGROUP', [
      'CREATE <key> <groupname> <id|$> [option]',
      '    Create a new consumer group. Options are:',
      '    * MKSTREAM',
      '      Create the empty stream if it does not exist.',
      '    * ENTRIESREAD entries_read',
      "      Set the group's entries_read counter (internal use).",
      'CREATECONSUMER <key> <groupname> <consumer>',
      '    Create a new consumer in the specified group.',
      'DELCONSUMER <key> <groupname> <consumer>',
      '    Remove the specified consumer.',
      'DESTROY <key> <groupname>',
      '    Remove the specified group.',
      'SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]',
      '    Set the current group ID and entries_read counter.',
    ]);
  },
};

/** XRANGE / XREVRANGE (Redis's xrangeGenericCommand). */
function xrange(client: Client, argv: string[], rev: boolean): Reply {
  const start = rangeStart(rev ? argv[3] : argv[2]);
  const end = rangeEnd(rev ? argv[2] : argv[3]);
  let count = -1;
  for (let j = 4; j < argv.length; j++) {
    if (kw(argv[j]) === 'COUNT' && argv.length - j - 1 >= 1) {
      count = Math.max(toInt(argv[j + 1]), 0);
      j++;
    } else throw new CommandError(Err.syntax);
  }
  const s = getStream(client.db, argv[1]);
  if (s === undefined) return [];
  if (count === 0) return NULL_ARRAY;
  return rangeReply(s, start, end, rev, count === -1 ? 0 : count);
}
