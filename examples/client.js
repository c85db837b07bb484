#!/usr/bin/env node
'use strict';
// A ringcast client (npm ws): each line read from stdin is sent to every other client; every
// message the others send is printed, one per line.
//
//   npm install ws && node examples/client.js [ws://localhost:9002/]
//
// End of input closes the connection cleanly (1000).
const readline = require('readline');
const WebSocket = require('ws');

const url = process.argv[2] || 'ws://localhost:9002/';
const ws = new WebSocket(url);

ws.on('open', () => {
  console.error(`connected to ${url}`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => ws.send(line));
  lines.on('close', () => ws.close(1000));
});

ws.on('message', (data, isBinary) => {
  console.log(isBinary ? `[binary, ${data.length} bytes]` : data.toString('utf8'));
});

ws.on('close', (code, reason) => {
  console.error(`closed: ${code} ${reason}`.trimEnd());
  process.exit(code === 1000 || code === 1001 ? 0 : 1);
});

ws.on('error', (err) => {
  // A failed connect is followed by 'close' (1006), which sets the exit status.
  console.error(`${url}: ${err.message}`);
});
