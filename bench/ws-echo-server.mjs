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

import { startBareWsServer } from './bare-ws-server.mjs';

const { wss, values } = startBareWsServer('ws-echo', ['no-batch']);
const batch = !values['no-batch'];

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
