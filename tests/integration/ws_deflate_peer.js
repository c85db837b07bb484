'use strict';
// A helper for the python integration tests, not a test itself: one npm `ws` client with
// perMessageDeflate on (threshold 0: it compresses everything it sends, and keeps its
// context), driven over stdin/stdout so that a python test can mix it with its own clients.
//   node ws_deflate_peer.js URL
// stdout, one JSON object per line: {"open": <the agreed parameters>}, then
// {"text": bool, "b64": "..."} for every message received; {"closed": code} at the end.
// stdin, one JSON object per line: {"send": "<base64>", "text": bool} sends one message;
// {"close": true} closes.
const readline = require('readline');
const WebSocket = require('ws');

const ws = new WebSocket(process.argv[2], { perMessageDeflate: { threshold: 0 }, maxPayload: 0 });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
ws.on('open', () => {
  const pmd = ws._extensions['permessage-deflate'];
  out({ open: pmd ? pmd.params : null });
});
ws.on('message', (data, isBinary) => out({ text: !isBinary, b64: data.toString('base64') }));
ws.on('close', (code) => { out({ closed: code }); process.exit(0); });
ws.on('error', (e) => { out({ error: e.message }); process.exit(1); });
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.close) ws.close(1000);
  else {
    const b = Buffer.from(m.send, 'base64');
    ws.send(m.text ? b.toString('utf8') : b, { binary: !m.text });
  }
});
