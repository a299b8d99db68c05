import type { Socket } from 'node:net';
import WebSocket from 'ws';

/** A frame from the gateway: a reply (`id` + `result`/`error`) or a push. */
export interface Frame {
  id?: unknown;
  result?: unknown;
  error?: string;
  push?: string;
  channel?: string;
  pattern?: string;
  data?: unknown;
}

export interface WsOpenOptions {
  /** Subprotocols to offer. Default `kvws.v1`. */
  protocol?: string | string[];
  /** CA to trust for wss:// (PEM). */
  ca?: Buffer | string;
  /** Origin header to send (none by default, as non-browser clients). */
  origin?: string;
  /** Handshake timeout. Default 5000 ms. */
  timeoutMs?: number;
  /** ws client maxPayload (to receive huge frames). */
  maxPayload?: number;
}

/**
 * A kvws.v1 client for tests over the real `ws` library: keeps every frame received, lets a test wait
 * (bounded) for a reply by id, a push, or the close, and exposes the underlying socket.
 */
export class WsClient {
  /** Frames received and not yet taken by a wait. */
  readonly frames: Frame[] = [];
  /** Set once the connection closed: code and reason as the client saw them. */
  closeInfo: { code: number; reason: string } | null = null;
  private readonly waiters = new Set<() => void>();
  private nextId = 1;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (d, isBinary) => {
      this.frames.push(isBinary ? { error: 'binary frame from server' } : (JSON.parse(String(d)) as Frame));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: String(reason) };
      this.wake();
    });
    ws.on('error', () => {});
  }

  /** Opens a connection and waits for it (rejects on a refused handshake, with the HTTP status in the message). */
  static async open(url: string, o: WsOpenOptions = {}): Promise<WsClient> {
    const ws = new WebSocket(url, o.protocol ?? 'kvws.v1', {
      ca: o.ca,
      origin: o.origin,
      handshakeTimeout: o.timeoutMs ?? 5000,
      maxPayload: o.maxPayload ?? 256 * 1024 * 1024,
      perMessageDeflate: false,
    });
    const c = new WsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
        res.resume();
        ws.terminate();
      });
      ws.once('error', reject);
      ws.once('close', (code) => reject(new Error(`closed before open: ${code}`)));
    });
    return c;
  }

  /** The TCP (or TLS) socket under the WebSocket (to pause reading in tests). */
  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `pick` returns a value (re-checked on every frame and on close); throws after `timeoutMs`. */
  async waitFor<T>(pick: () => T | undefined, timeoutMs = 5000, what = 'a frame'): Promise<T> {
    const first = pick();
    if (first !== undefined) return first;
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = () => {
        const v = pick();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.closeInfo && what !== 'close') {
          done();
          reject(
            new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}`),
          );
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `no ${what} within ${timeoutMs} ms; unclaimed frames: ${JSON.stringify(this.frames).slice(0, 500)}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Removes and returns the first received frame matching `pred`. */
  take(pred: (f: Frame) => boolean): Frame | undefined {
    const i = this.frames.findIndex(pred);
    return i < 0 ? undefined : this.frames.splice(i, 1)[0];
  }

  /** Waits for the reply with this id. */
  reply(id: unknown, timeoutMs = 5000): Promise<Frame> {
    return this.waitFor(
      () => this.take((f) => 'id' in f && f.id === id),
      timeoutMs,
      `the reply to id ${JSON.stringify(id)}`,
    );
  }

  /** Waits for a push frame (optionally one matching `pred`). */
  push(pred: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    return this.waitFor(() => this.take((f) => f.push !== undefined && pred(f)), timeoutMs, 'a push');
  }

  /** Sends a raw frame (object → JSON text; string or Buffer as is). */
  send(frame: object | string | Buffer): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Sends `{id, ...request}` with a fresh numeric id and returns the id. */
  request(request: object): number {
    const id = this.nextId++;
    this.send({ id, ...request });
    return id;
  }

  /** Runs one command; resolves with its reply frame. */
  async call(...cmd: (string | number)[]): Promise<Frame> {
    return this.reply(this.request({ cmd }));
  }

  /** Runs one command; resolves with its result or throws its error. */
  async result(...cmd: (string | number)[]): Promise<unknown> {
    const f = await this.call(...cmd);
    if (f.error !== undefined) throw new Error(f.error);
    return f.result;
  }

  /** Waits for the connection to close; resolves with the code and reason. */
  closed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return this.waitFor(() => this.closeInfo ?? undefined, timeoutMs, 'close');
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/**
 * Attempts a handshake and resolves with the HTTP status of a refusal, or 101 when the connection opened
 * (it is then closed at once).
 */
export async function handshakeStatus(url: string, o: WsOpenOptions = {}): Promise<number> {
  const ws = new WebSocket(url, o.protocol ?? 'kvws.v1', {
    ca: o.ca,
    origin: o.origin,
    handshakeTimeout: o.timeoutMs ?? 5000,
  });
  ws.on('error', () => {});
  return new Promise<number>((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}
