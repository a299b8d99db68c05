import { AbortError, ConnectionError, KvwsError, TimeoutError } from '@kvws/client';

/**
 * Turning a failed command into a sentence a person can act on. The server's NOPERM texts are Redis's and
 * name neither the user nor the key ("NOPERM this user has no permissions to access one of the keys used as
 * arguments"), so the dashboard adds what it knows: who is logged in, the command it sent, the key or
 * channel it was about — "User bob may not run HSET on key "user:1": …" — and the rule an administrator
 * would add to allow it. The server's own text is kept alongside (`raw`).
 */

/** A failed command, explained. */
export interface Explained {
  /** A short heading: "Permission denied", "Wrong type", "Not connected", … */
  title: string;
  /** The explanation, one or two sentences. */
  text: string;
  /** The error as the server (or the client library) gave it. */
  raw: string;
  /** The server's error code (`NOPERM`, `WRONGTYPE`, …), `CONNECTION`, `TIMEOUT`, or `ERROR`. */
  code: string;
}

/** What was attempted: the command sent, by whom, and the key or channel it was about (when one). */
export interface Attempt {
  argv: readonly (string | number)[];
  user: string;
  key?: string;
  channel?: string;
}

/** Commands whose first argument is a subcommand (`ACL LIST`, `CONFIG SET`). */
const CONTAINERS = new Set(['ACL', 'CLIENT', 'COMMAND', 'CONFIG', 'MEMORY', 'OBJECT', 'PUBSUB', 'SCRIPT', 'FUNCTION']);

/** The command's display name: `HSET`, `ACL LIST`. */
export function commandName(argv: readonly (string | number)[]): string {
  const name = String(argv[0] ?? '').toUpperCase();
  return CONTAINERS.has(name) && argv.length > 1 ? `${name} ${String(argv[1]).toUpperCase()}` : name;
}

/** A key or channel name quoted for a sentence (long names shortened). */
export function quote(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 77)}…` : name);
}

/** The explanation of `err`, raised by the command `a.argv`. */
export function explain(err: unknown, a: Attempt): Explained {
  const cmd = commandName(a.argv);
  if (err instanceof ActionError) return err.explained;
  if (err instanceof KvwsError) {
    const raw = err.message;
    // EXECABORT … ([1]: NOPERM …): the transaction was refused because of one of its commands.
    const inner = /NOPERM [^)]*/.exec(raw);
    const code = inner ? 'NOPERM' : err.code;
    if (code === 'NOPERM')
      return { title: 'Permission denied', text: noperm(inner ? inner[0] : raw, cmd, a), raw, code };
    if (code === 'WRONGTYPE') {
      const on = a.key === undefined ? '' : ` on key ${quote(a.key)}`;
      return { title: 'Wrong type', text: `${cmd}${on} failed: the key holds another type of value.`, raw, code };
    }
    if (code === 'NOAUTH' || code === 'WRONGPASS') {
      return {
        title: 'Not signed in',
        text: `${cmd} was refused: the session is not authenticated (${raw}).`,
        raw,
        code,
      };
    }
    return { title: `${cmd} failed`, text: raw, raw, code };
  }
  if (err instanceof TimeoutError) {
    return {
      title: 'No answer',
      text: `${cmd} got no answer in time; it may still have run on the server.`,
      raw: err.message,
      code: 'TIMEOUT',
    };
  }
  if (err instanceof ConnectionError || err instanceof AbortError) {
    return {
      title: 'Not connected',
      text: `${cmd} could not be completed: ${err.message}. It may or may not have run; check and try again once connected.`,
      raw: err.message,
      code: 'CONNECTION',
    };
  }
  const raw = err instanceof Error ? err.message : String(err);
  return { title: `${cmd} failed`, text: raw, raw, code: 'ERROR' };
}

/** The sentence for a NOPERM reply `raw` to `cmd`. */
function noperm(raw: string, cmd: string, a: Attempt): string {
  const user = `User ${a.user}`;
  const command = /no permissions to run the '([^']*)' command/.exec(raw);
  if (command) {
    const on =
      a.key !== undefined ? ` on key ${quote(a.key)}` : a.channel !== undefined ? ` on ${quote(a.channel)}` : '';
    return (
      `${user} may not run ${cmd}${on}: the user's ACL rules do not allow the ${cmd} command. ` +
      `An administrator can allow it with ACL SETUSER ${a.user} +${command[1]}.`
    );
  }
  if (/access one of the channels/.test(raw)) {
    const verb = /^P?SUBSCRIBE$/.test(cmd) ? 'subscribe to' : cmd === 'PUBLISH' ? 'publish to' : `run ${cmd} on`;
    const what = a.channel !== undefined ? quote(a.channel) : 'one of these channels';
    const fix = a.channel !== undefined ? ` (ACL SETUSER ${a.user} &${a.channel} would allow it)` : '';
    return `${user} may not ${verb} ${what}: it is outside the channel patterns the user may use${fix}.`;
  }
  if (/access one of the keys/.test(raw)) {
    const what = a.key !== undefined ? `key ${quote(a.key)}` : 'one of its keys';
    const fix = a.key !== undefined ? ` (ACL SETUSER ${a.user} ~${a.key} would allow it)` : '';
    return `${user} may not run ${cmd} on ${what}: it is outside the key patterns the user may use for this access${fix}.`;
  }
  return `${user} may not run ${cmd}: ${raw}`;
}

/** A command that failed, with its explanation (what Session.run throws). */
export class ActionError extends Error {
  constructor(readonly explained: Explained) {
    super(explained.text);
    this.name = 'ActionError';
  }

  get code(): string {
    return this.explained.code;
  }
}
