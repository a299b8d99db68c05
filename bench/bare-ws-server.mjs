// The start-up shared by the bench's bare `ws` servers (ws-echo-server.mjs, ws-fanout-floor.mjs): their
// command line, an HTTP or HTTPS server answering 404 to plain requests, a `ws` WebSocketServer on it (any
// path, the first offered subprotocol, no permessage-deflate), the `<name>: listening on ws[s]://HOST:PORT/ws`
// line on start-up, and SIGTERM/SIGINT ending every connection and the process.
//
// Command line: [--port N] (default 0: any free port) [--host H] (default 127.0.0.1)
// [--tls-cert FILE --tls-key FILE] (wss:// with this certificate and key), plus the boolean flags `flags` names.
// A bad one exits with 2.

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

/**
 * Parses the command line, starts listening and returns `{ wss, values }`: the WebSocketServer (attach its
 * 'connection' handler at once) and the parsed options (`values[flag]` for each of `flags`).
 */
export function startBareWsServer(name, flags = []) {
  const options = {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  };
  for (const f of flags) options[f] = { type: 'boolean', default: false };
  const { values } = parseArgs({ options });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name}: bad --port ${values.port}`);
    process.exit(2);
  }
  const tls = Boolean(values['tls-cert'] && values['tls-key']);
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
    console.error(`${name}: --tls-cert and --tls-key go together`);
    process.exit(2);
  }
  const notFound = (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: WebSocket only\n');
  };
  const server = tls
    ? createHttpsServer({ cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) }, notFound)
    : createHttpServer(notFound);
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  server.listen(port, values.host, () => {
    const { address, port: bound } = server.address();
    console.log(`${name}: listening on ${tls ? 'wss' : 'ws'}://${address}:${bound}/ws`);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      for (const c of wss.clients) c.terminate();
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 1000).unref();
    });
  }
  return { wss, values };
}
