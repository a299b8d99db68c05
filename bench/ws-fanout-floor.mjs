#!/usr/bin/env node
// A bare `ws` pub/sub server: the floor for a Node WebSocket fan-out on this machine, against which
// bench/run.mjs's fan-out section sets the kvws gateway (as ws-echo-server.mjs is the ceiling for round trips).
//
//   node bench/ws-fanout-floor.mjs [--port N] [--host H] [--tls-cert FILE --tls-key FILE]
//
// It speaks just enough of kvws's JSON frames for the bench's subscribers and publisher, on any path:
//   {"id":N,"cmd":["SUBSCRIBE",ch]}   → {"id":N,"result":[["subscribe",ch,1]]}   (one channel per connection)
//   {"id":N,"cmd":["PUBLISH",ch,msg]} → every subscriber of ch gets {"push":"message","channel":ch,"data":msg},
//                                       then the publisher gets {"id":N,"result":<subscribers>}
//   anything else                     → {"id":N,"error":"ERR unsupported"}
// A PUBLISH serializes its push once, as one whole unmasked text frame, and writes that same buffer to each
// subscriber's socket: nothing per subscriber but the write itself, no ACL, no event log, no limits. It
// accepts the subprotocol the client offers first. On start-up it prints
// `ws-fanout-floor: listening on ws://HOST:PORT/ws` (wss:// with TLS). SIGTERM/SIGINT stop it.

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
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`ws-fanout-floor: bad --port ${values.port}`);
  process.exit(2);
}
const tls = Boolean(values['tls-cert'] && values['tls-key']);
if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
  console.error('ws-fanout-floor: --tls-cert and --tls-key go together');
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

/** Subscribers' sockets per channel. */
const channels = new Map();

/** One whole unmasked text frame (RFC 6455 §5.2) carrying `payload`. */
function textFrame(payload) {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81;
  if (n < 126) frame[1] = n;
  else if (n < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(frame, head);
  return frame;
}

wss.on('connection', (ws, req) => {
  const socket = req.socket;
  let subscribed = null;
  ws.on('message', (data) => {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      ws.send('{"id":null,"error":"ERR bad JSON"}');
      return;
    }
    const id = frame?.id ?? null;
    const [name, ch, msg] = Array.isArray(frame?.cmd) ? frame.cmd : [];
    const upper = typeof name === 'string' ? name.toUpperCase() : '';
    if (upper === 'SUBSCRIBE' && typeof ch === 'string' && subscribed === null) {
      subscribed = ch;
      if (!channels.has(ch)) channels.set(ch, new Set());
      channels.get(ch).add(socket);
      ws.send(JSON.stringify({ id, result: [['subscribe', ch, 1]] }));
    } else if (upper === 'PUBLISH' && typeof ch === 'string' && typeof msg === 'string') {
      const set = channels.get(ch);
      let count = 0;
      if (set) {
        const out = textFrame(Buffer.from(JSON.stringify({ push: 'message', channel: ch, data: msg })));
        for (const s of set) {
          if (s.destroyed) continue;
          s.write(out);
          count++;
        }
      }
      ws.send(JSON.stringify({ id, result: count }));
    } else ws.send(JSON.stringify({ id, error: 'ERR unsupported' }));
  });
  ws.on('close', () => {
    if (subscribed !== null) channels.get(subscribed)?.delete(socket);
  });
  ws.on('error', () => {});
});

server.listen(port, values.host, () => {
  const { address, port: bound } = server.address();
  console.log(`ws-fanout-floor: listening on ${tls ? 'wss' : 'ws'}://${address}:${bound}/ws`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const c of wss.clients) c.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
