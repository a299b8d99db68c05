#!/usr/bin/env node
// A bare `ws` WebSocket server that sends every text frame straight back: the ceiling for a Node WebSocket
// server on this machine, against which bench/run.mjs compares the kvws gateway.
//
//   node bench/ws-echo-server.mjs [--port N] [--host H] [--tls-cert FILE --tls-key FILE]
//
//   --port      port to listen on (default 0: any free port)
//   --host      address to bind (default 127.0.0.1)
//   --tls-cert, --tls-key   serve wss:// with this certificate and key (PEM) instead of ws://
//   --no-batch  write every reply frame separately (ws's default) instead of one write per tick
//
// It serves every path, accepts the subprotocol the client offers first (so `kvws.v1` clients connect), and
// uses ws's defaults otherwise (no permessage-deflate, UTF-8 validation on). By default the frames echoed
// while handling one chunk of input leave in one socket write, as the kvws gateway's replies do, so the
// only difference left is kvws's own work per request. It does not parse the JSON: the echoed request frame
// carries the request's `id`, which is all the load generator needs.
// On start-up it prints `ws-echo: listening on ws://HOST:PORT/ws` (wss:// with TLS). SIGTERM/SIGINT stop it.

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'no-batch': { type: 'boolean', default: false },
  },
});
const batch = !values['no-batch'];

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`ws-echo: bad --port ${values.port}`);
  process.exit(2);
}
const tls = Boolean(values['tls-cert'] && values['tls-key']);
if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
  console.error('ws-echo: --tls-cert and --tls-key go together');
  process.exit(2);
}

const notFound = (_req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found: WebSocket only\n');
};
const server = tls
  ? createHttpsServer({ cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) }, notFound)
  : createHttpServer(notFound);
const wss = new WebSocketServer({ server });

wss.on('connection', (ws, req) => {
  // Replies sent while handling one chunk of input leave in one socket write: the socket is corked until
  // the next tick (the kvws gateway batches its writes the same way; without it, ws writes every frame
  // separately and the "ceiling" would be lower than kvws itself at 16 requests in flight).
  const socket = req.socket;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  ws.on('message', (data, isBinary) => {
    if (batch && !corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});

server.listen(port, values.host, () => {
  const { address, port: bound } = server.address();
  console.log(`ws-echo: listening on ${tls ? 'wss' : 'ws'}://${address}:${bound}/ws`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const c of wss.clients) c.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
