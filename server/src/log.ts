import pino from 'pino';

/**
 * kvws's log: one pino logger for the whole process (created by `kvws serve` from --log-format and
 * --log-level, passed to KvwsServer and from there to the front doors).
 *
 * - `json`: one JSON object per line on stdout — `level` (a label: info, warn…), `time` (ISO 8601),
 *   `pid`, `hostname`, `msg`, plus the line's fields: `reqId` (an HTTP API request), `clientId` and
 *   `addr` (a RESP or WebSocket connection), `err` (an exception with its stack).
 * - `pretty`: the human form, `kvws: <msg>` with the fields appended as ` [key=value …]` (lines without
 *   fields read exactly as they always have).
 *
 * Secrets never reach the output: fields named like one (password, token, authorization…) are replaced
 * with `***`, and every message string has `_token=` values, URL passwords, Bearer tokens and JWTs masked
 * (`scrubSecrets`). Call sites still never pass them: this is the safety net.
 */
export type Logger = pino.Logger;

/** Levels of --log-level, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** --log-format: `auto` is `pretty` when stdout is a terminal, else `json`. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Where log lines go: anything with a `write(string)` (default: process.stdout). */
export interface LogSink {
  write(line: string): unknown;
}

/** Field paths replaced with `***` whatever their value (pino's redact). */
const REDACTED_FIELDS = [
  'password',
  'token',
  'secret',
  'authorization',
  'enginePassword',
  'apiTokens',
  'metricsToken',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

/** Fields the pretty form leaves out: the line's frame, not its content. */
const FRAME_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** A logger that logs nothing: the default of every component that takes one. */
export const silentLogger: Logger = pino({ level: 'silent' }, { write: () => {} });

/** `auto` resolved: pretty when `isTty` (default: whether stdout is a terminal), else json. */
export function resolveLogFormat(format: LogFormat, isTty = process.stdout.isTTY === true): 'json' | 'pretty' {
  if (format === 'auto') return isTty ? 'pretty' : 'json';
  return format;
}

/**
 * The process's logger: `format` json or pretty (see the file comment), lines below `level` dropped.
 * Writes are synchronous when `sink` is (process.stdout on a pipe, a file or a terminal is, on Linux), so
 * nothing is lost at exit.
 */
export function createLogger(o: { format: 'json' | 'pretty'; level: LogLevel; sink?: LogSink }): Logger {
  const sink = o.sink ?? process.stdout;
  const destination = o.format === 'json' ? sink : { write: (line: string) => sink.write(prettyLine(line)) };
  return pino(
    {
      level: o.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_FIELDS, censor: '***' },
      serializers: { err: pino.stdSerializers.err },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) {
            const a: unknown = args[i];
            if (typeof a === 'string') args[i] = scrubSecrets(a);
            else if (a !== null && typeof a === 'object' && !(a instanceof Error)) args[i] = scrubFields(a);
          }
          method.apply(this, args);
        },
      },
    },
    destination,
  );
}

/** `fields` with its string values scrubbed (a copy when one changes). */
function scrubFields(fields: object): object {
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v !== 'string') continue;
    const s = scrubSecrets(v);
    if (s === v) continue;
    out ??= { ...(fields as Record<string, unknown>) };
    out[k] = s;
  }
  return out ?? fields;
}

/**
 * `s` with secrets masked as `***`: the values of `_token=`, `token=`, `password=` and `sentinelPassword=`
 * query parameters, the password of a `scheme://user:password@host` URL, `Bearer <token>`, and anything
 * shaped like a JWT (`eyJ….….…`).
 */
export function scrubSecrets(s: string): string {
  if (!/[=@]|bearer|eyJ/i.test(s)) return s;
  return s
    .replace(/([?&](?:_token|token|password|sentinelPassword)=)[^&\s"'#]*/gi, '$1***')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@"]*:)[^\s"]*@/gi, '$1***@')
    .replace(/\b(Bearer\s+)[^\s"',]+/gi, '$1***')
    .replace(/\beyJ[\w-]*\.[\w-]+\.[\w-]+/g, '***');
}

/**
 * One JSON log line in the human form: `kvws: <msg>`, then its fields as ` [key=value …]` (strings with
 * blanks or quotes JSON-quoted), then an error's stack on the following lines. A line that is not JSON is
 * passed through.
 */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json);
  } catch {
    return json;
  }
  let line = `kvws: ${typeof o.msg === 'string' ? o.msg : ''}`;
  const fields: string[] = [];
  let stack = '';
  for (const [k, v] of Object.entries(o)) {
    if (FRAME_FIELDS.has(k)) continue;
    if (k === 'err' && v !== null && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${quoted(String(e.message ?? ''))}`);
      if (typeof e.stack === 'string') stack = `\n${e.stack.replace(/^/gm, '    ')}`;
      continue;
    }
    fields.push(`${k}=${typeof v === 'string' ? quoted(v) : JSON.stringify(v)}`);
  }
  if (fields.length > 0) line += ` [${fields.join(' ')}]`;
  return `${line}${stack}\n`;
}

function quoted(s: string): string {
  return s === '' || /[\s"[\]=]/.test(s) ? JSON.stringify(s) : s;
}

/**
 * A `(line) => void` for the modules that report plain lines (persistence, the TLS certificate reloads,
 * the Redis engine's event feed): each line goes to `logger` at `lineLevel(line)`.
 */
export function lineLogger(logger: Logger): (line: string) => void {
  return (line) => {
    if (lineLevel(line) === 'warn') logger.warn(line);
    else logger.info(line);
  };
}

/**
 * The level of a plain line: `warn` when it reports something that went wrong — it starts with WARNING,
 * or says failed, cannot, could not, was truncated or `error:` (but not that an error `is over`) — else
 * `info`.
 */
export function lineLevel(line: string): 'info' | 'warn' {
  if (/ is over\b/.test(line)) return 'info';
  return /^WARNING\b|\bfailed\b|\bcannot\b|\bcould not\b|\bwas truncated\b|\berror:/i.test(line) ? 'warn' : 'info';
}
