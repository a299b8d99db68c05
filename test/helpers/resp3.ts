import { RawConnection, type RunningServer } from './server.js';

// RESP3 replies parsed into plain values, for tests of reply shapes (ioredis speaks RESP2 only).

/** A RESP3 double as the server sent it (`,1.5`), kept as text so tests can check the exact form. */
export type Dbl = { double: string };
export const d = (text: string): Dbl => ({ double: text });

/**
 * A parsed RESP3 reply: simple, bulk and verbatim strings → string (latin1, one char per byte), integers and
 * booleans → number (true 1, false 0), nulls → null, errors → { error }, doubles → { double }, maps → { map }
 * of pairs, sets → { set }, arrays and pushes → arrays.
 */
export type R3 = string | number | null | Dbl | { error: string } | { map: [R3, R3][] } | { set: R3[] } | R3[];

/** Parses one RESP3 value of `text` at `at`; returns [value, end], or null when `text` ends before it does. */
export function parseResp3(text: string, at = 0): [R3, number] | null {
  const eol = text.indexOf('\r\n', at);
  if (eol < 0) return null;
  const type = text[at];
  const line = text.slice(at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [{ error: line }, next];
    case ':':
      return [Number(line), next];
    case ',':
      return [d(line), next];
    case '_':
      return [null, next];
    case '#':
      return [line === 't' ? 1 : 0, next];
    case '$':
    case '=': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (text.length < next + n + 2) return null;
      return [text.slice(next, next + n), next + n + 2];
    }
    case '*':
    case '~':
    case '>':
    case '%': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: R3[] = [];
      let pos = next;
      for (let i = 0; i < (type === '%' ? 2 * n : n); i++) {
        const p = parseResp3(text, pos);
        if (!p) return null;
        items.push(p[0]);
        pos = p[1];
      }
      if (type === '~') return [{ set: items }, pos];
      if (type !== '%') return [items, pos];
      const map: [R3, R3][] = [];
      for (let i = 0; i < items.length; i += 2) map.push([items[i], items[i + 1]]);
      return [{ map }, pos];
    }
    default:
      throw new Error(`unexpected RESP3 type ${JSON.stringify(type)}`);
  }
}

/** A raw connection switched to RESP3 (HELLO 3) whose `call` returns parsed replies. */
export class Resp3Connection {
  private constructor(private readonly raw: RawConnection) {}

  /** Connects to `server` and sends HELLO 3; throws when the server refuses it. */
  static async open(server: RunningServer): Promise<Resp3Connection> {
    const c = new Resp3Connection(await RawConnection.open(server));
    const hello = await c.call('HELLO', '3');
    if (hello === null || typeof hello !== 'object' || !('map' in hello)) {
      c.close();
      throw new Error(`HELLO 3 failed: ${JSON.stringify(hello)}`);
    }
    return c;
  }

  /** Sends one command and returns its parsed reply. */
  async call(...args: (string | number)[]): Promise<R3> {
    const text = await this.raw.command(...args.map(String));
    const parsed = parseResp3(text);
    if (parsed === null) throw new Error(`incomplete RESP3 reply: ${JSON.stringify(text)}`);
    return parsed[0];
  }

  close(): void {
    this.raw.close();
  }
}

/** Runs `cmds` in order on a fresh RESP3 connection to `server` and returns their parsed replies. */
export async function resp3(server: RunningServer, cmds: string[][]): Promise<R3[]> {
  const c = await Resp3Connection.open(server);
  try {
    const out: R3[] = [];
    for (const cmd of cmds) out.push(await c.call(...cmd));
    return out;
  } finally {
    c.close();
  }
}
