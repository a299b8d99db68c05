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

import { startBareWsServer } from './bare-ws-server.mjs';

const { wss } = startBareWsServer('ws-fanout-floor');

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
