import http from 'node:http';
import https from 'node:https';

/** Where `httpJson` sends its request: a kvws HTTPS port (the HTTP API and the WebSocket gateway) on 127.0.0.1. */
export interface HttpTarget {
  /** `server.httpsPort`; `undefined` (a server started without `--port`) makes `httpJson` reject. */
  port: number | undefined;
  /** `false` for plain HTTP, to reach a `--no-tls` server. Default `true`. */
  tls?: boolean;
  /**
   * The agent for TLS requests, e.g. `new https.Agent({ ca, keepAlive: true })` to trust the test CA (its
   * certificate names `IP:127.0.0.1`); the caller destroys it. Without one, Node's global agent, which trusts
   * only the system's CAs. Ignored when `tls` is false.
   */
  agent?: https.Agent;
  /** How long one request may take, answer read in full included. Default 10 000 ms. */
  timeoutMs?: number;
}

/** A request body sent as it is, not JSON-encoded: for malformed or hand-made bodies. */
export class RawBody {
  constructor(readonly data: string | Uint8Array) {}
}

/** The answer to `httpJson`. */
export interface HttpAnswer {
  status: number;
  /** The body parsed as JSON; `undefined` when it is empty or not JSON. */
  json: unknown;
  /** The body decoded as UTF-8. */
  text: string;
  /** The response headers (`get` is case-insensitive; repeated headers are joined as `Headers` does). */
  headers: Headers;
}

/**
 * One request to `target`, JSON in and out. `body` is sent JSON-encoded (a `RawBody` as it is), with
 * `Content-Type: application/json` and `Content-Length`; no body when `undefined`. `headers` are added last, so
 * they can replace those. Resolves with the status, body and headers whatever the status; rejects on a
 * connection or TLS error, or when the whole answer has not arrived within `target.timeoutMs`.
 */
export function httpJson(
  target: HttpTarget,
  method: string,
  urlPath: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const { port, tls = true, timeoutMs = 10_000 } = target;
  if (port === undefined)
    return Promise.reject(new Error('httpJson: the server has no HTTPS port (start it with --port)'));
  const data =
    body === undefined
      ? undefined
      : body instanceof RawBody
        ? Buffer.from(body.data)
        : Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      host: '127.0.0.1',
      port,
      path: urlPath,
      method,
      headers: {
        ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
        ...headers,
      },
    };
    const onAnswer = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        resolve({ status: res.statusCode ?? 0, json, text, headers: h });
      });
    };
    const req = tls ? https.request({ ...options, agent: target.agent }, onAnswer) : http.request(options, onAnswer);
    function fail(err: Error): void {
      clearTimeout(timer);
      req.destroy();
      reject(err);
    }
    const timer = setTimeout(
      () => fail(new Error(`HTTP ${method} ${urlPath}: no full answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', fail);
    req.end(data);
  });
}
