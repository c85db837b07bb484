#!/usr/bin/env node
// Benchmark peer: the npm `ws` broadcast server, as the ws README writes it.
// Every message a client sends goes to every OTHER open client, text as text and binary
// as binary. One Node.js process, one thread (the event loop).
//
//   node bench/peers/ws/server.js PORT [HOST]     (HOST defaults to 127.0.0.1)
//   WS_DEFLATE=1 node bench/peers/ws/server.js PORT   (permessage-deflate on)
//
// Prints "listening HOST:PORT" on stdout once the socket is bound; SIGTERM/SIGINT exit.
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2]);
const host = process.argv[3] || '127.0.0.1';
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: node server.js PORT [HOST]\n');
  process.exit(1);
}

const wss = new WebSocketServer({
  host,
  port,
  // Off, like the other servers, except for the compressed scenario (WS_DEFLATE=1): then
  // ws's permessage-deflate, compressing every message of 64 bytes or more (ringcast's
  // min_bytes), for each client that negotiated it.
  perMessageDeflate: process.env.WS_DEFLATE === '1' ? { threshold: 64 } : false,
  maxPayload: 64 * 1024 * 1024,
  clientTracking: true,
});

wss.on('connection', (ws) => {
  ws.on('error', () => {});     // a client that goes away mid-write is not our problem
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
});

wss.on('listening', () => process.stdout.write(`listening ${host}:${port}\n`));
wss.on('error', (err) => {
  process.stderr.write(`ws peer: ${err.message}\n`);
  process.exit(2);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
