'use strict';
// npm `ws` with perMessageDeflate against ringcast on 3 worker processes, mixed with plain
// `ws` clients: 6 clients that compress and keep their context (ws's default when on), 6 that
// offer clientNoContextTakeover, 6 without the extension. One sender of each kind sends 60
// messages: compressible JSON text, compressible binary, random binary (never shrinks), and a
// 100 KB text. Every client gets each other sender's messages exactly once, in order,
// with the right type and bytes; the extension is negotiated as offered.
const crypto = require('crypto');
const h = require('./harness');

const N_MSGS = 60;
const PER_KIND = 6;

function body(sid, seq) {
  const tag = `${sid}:${seq}:`;
  switch (seq % 4) {
    case 0: return tag + JSON.stringify(Array.from({ length: 10 }, (_, i) => ({ sym: `S${i % 5}`, px: 100 + ((seq * i) % 9) })));
    case 1: return Buffer.concat([Buffer.from(tag), Buffer.alloc(600, sid + 1)]);
    case 2: return Buffer.concat([Buffer.from(tag), crypto.createHash('sha512').update(tag).digest(),
      crypto.createHash('sha512').update(tag + 'x').digest()]);
    default: return tag + 'the same words again and again '.repeat(3300);
  }
}

function connect(WebSocket, uri, perMessageDeflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, { perMessageDeflate, maxPayload: 0 });
    const timer = setTimeout(() => { ws.terminate(); reject(new h.TestFailure(`connect ${uri}: timeout`)); }, 10000);
    ws.once('open', () => { clearTimeout(timer); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(timer); reject(new h.TestFailure(`connect: ${e.message}`)); });
  });
}

h.run(async () => {
  const WebSocket = h.requireWs();
  const srv = await new h.Server('ws-deflate').start();
  const kinds = [
    ['kept', { threshold: 0 }],
    ['no-context', { threshold: 0, clientNoContextTakeover: true }],
    ['plain', false],
  ];
  const clients = [];
  for (const [kind, opt] of kinds) {
    for (let i = 0; i < PER_KIND; i++) clients.push({ kind, ws: await connect(WebSocket, srv.uri(), opt) });
  }
  for (const c of clients) {
    // ws keeps the accepted parameters of the answer on its extension object.
    const pmd = c.ws._extensions['permessage-deflate'];
    if (c.kind === 'plain') h.check(pmd === undefined, `plain client negotiated ${c.ws.extensions}`);
    else {
      const p = JSON.stringify(pmd && pmd.params);
      h.check(pmd && pmd.params.server_no_context_takeover === true, `${c.kind} client: params ${p}`);
      h.check(Boolean(pmd.params.client_no_context_takeover) === (c.kind === 'no-context'), `${c.kind} client: params ${p}`);
    }
  }
  const senders = [0, PER_KIND, 2 * PER_KIND];  // one of each kind
  const state = clients.map((c, i) => ({ name: `${c.kind}${i}`, own: senders.indexOf(i), next: new Map(), errors: [], closed: null, syncs: new Set() }));
  clients.forEach((c, i) => {
    const st = state[i];
    c.ws.on('close', (code) => { st.closed = code; });
    c.ws.on('message', (data, isBinary) => {
      const text = data.toString('latin1', 0, Math.min(data.length, 24));
      if (!isBinary && text.startsWith('sync:')) { st.syncs.add(text); return; }
      const m = /^(\d+):(\d+):/.exec(text);
      if (!m) { st.errors.push(`untagged ${text}`); return; }
      const sid = Number(m[1]); const seq = Number(m[2]);
      if (sid === st.own) st.errors.push(`self-echo ${seq}`);
      const want = st.next.get(sid) || 0;
      if (seq !== want) st.errors.push(`sender ${sid}: seq ${seq}, expected ${want}`);
      const exp = body(sid, seq);
      const expBinary = Buffer.isBuffer(exp);
      if (isBinary !== expBinary) st.errors.push(`sender ${sid} seq ${seq}: isBinary ${isBinary}`);
      else if (!data.equals(expBinary ? exp : Buffer.from(exp))) st.errors.push(`sender ${sid} seq ${seq}: bytes differ`);
      st.next.set(sid, Math.max(want, seq + 1));
    });
  });
  await h.sleep(200);  // every producer has seen the extension's gauge (housekeeping: 50 ms)
  for (const [k, from] of [['a', 0], ['b', clients.length - 1]]) {
    clients[from].ws.send(`sync:${k}`);
    await h.waitFor(() => state.every((st, i) => i === from || st.syncs.has(`sync:${k}`)), 10000, `barrier ${k}`);
  }
  for (let seq = 0; seq < N_MSGS; seq++) {
    senders.forEach((ci, sid) => clients[ci].ws.send(body(sid, seq)));
    if (seq % 10 === 9) await h.sleep(2);
  }
  const complete = () => state.every((st) => senders.every((_, sid) => sid === st.own || (st.next.get(sid) || 0) >= N_MSGS));
  try { await h.waitFor(complete, 30000, 'every client to receive all messages'); } catch (e) { /* below */ }
  await h.sleep(300);
  const problems = [];
  for (const st of state) {
    if (st.closed !== null) problems.push(`${st.name}: closed ${st.closed}`);
    senders.forEach((_, sid) => {
      if (sid !== st.own && (st.next.get(sid) || 0) !== N_MSGS) problems.push(`${st.name}: from ${sid} got ${st.next.get(sid) || 0}/${N_MSGS}`);
    });
    if (st.errors.length) problems.push(`${st.name}: ${st.errors.length} errors, first ${st.errors.slice(0, 3)}`);
  }
  h.check(problems.length === 0, `delivery problems:\n  ${problems.slice(0, 30).join('\n  ')}`);
  h.log(`${clients.length} ws clients (${PER_KIND} context-keeping, ${PER_KIND} no-context, ${PER_KIND} plain): ` +
        `each got exactly ${N_MSGS} messages from every other sender, in order, intact`);
  for (const c of clients) c.ws.close();
  await srv.stop();
});
