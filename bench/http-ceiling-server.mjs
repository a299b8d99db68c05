#!/usr/bin/env node
// A bare `node:http` server answering every request with the fixed JSON body {"result":"OK"}: the ceiling for
// a Node HTTP server on this machine, against which bench/run.mjs compares kvws's HTTP API.
//
//   node bench/http-ceiling-server.mjs [--port N] [--host H]
//
//   --port  port to listen on (default 0: any free port)
//   --host  address to bind (default 127.0.0.1)
//
// Every request, whatever its method and path, is answered 200 once its body has been read (and dropped), so
// the server does the HTTP work kvws's API does (parse the request, read the body, write a JSON response with
// the same content headers) and nothing else: no JSON parsing, no command. Keep-alive as node:http's defaults.
// On start-up it prints `http-ceiling: listening on http://HOST:PORT/`. SIGTERM/SIGINT stop it.

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`http-ceiling: bad --port ${values.port}`);
  process.exit(2);
}

const BODY = JSON.stringify({ result: 'OK' });
// The content headers kvws's HTTP API sends with every command reply (server/src/net/http-api.ts, `send`); kvws
// adds `vary` and `upstash-sync-token`, which are its own work.
const HEADERS = {
  'content-type': 'application/json',
  'content-length': Buffer.byteLength(BODY),
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, HEADERS);
    res.end(BODY);
  });
});

server.listen(port, values.host, () => {
  const { address, port: bound } = server.address();
  console.log(`http-ceiling: listening on http://${address}:${bound}/`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
