'use strict';
// npm `ws` clients against ringcast: exactly-once, per-sender order, type and bytes; a 1 MiB
// binary message intact; ws's built-in ping gets a pong with the same payload.
//   20 clients, 5 senders x 100 messages (text strings and binary Buffers mixed);
//   every client checks each other sender's 100 messages arrive once, in order, same
//   type (isBinary), same bytes, and never its own.
const h = require('./harness');

const N_CLIENTS = 20;
const N_SENDERS = 5;
const N_MSGS = 100;

h.run(async () => {
  const WebSocket = h.requireWs();
  const srv = await new h.Server('ws-broadcast').start();
  const clients = [];
  for (let i = 0; i < N_CLIENTS; i++) clients.push(await h.connect(WebSocket, srv.uri()));

  const state = clients.map((ws, i) => ({
    name: `c${i}`, own: i < N_SENDERS ? i : null, next: new Map(), total: 0, errors: [], syncs: new Set(),
    big: [], closed: null,
  }));
  const BIG_MARK = 0x42; // first byte of the 1 MiB message
  clients.forEach((ws, i) => {
    const st = state[i];
    ws.on('close', (code) => { st.closed = code; });
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString().startsWith('sync:')) { st.syncs.add(data.toString()); return; }
      if (isBinary && data.length === 1 << 20 && data[0] === BIG_MARK) { st.big.push(data); return; }
      const key = h.parseMsg(data, isBinary);
      if (!key) { st.errors.push(`unrecognised message ${data.subarray(0, 30).toString('hex')}`); return; }
      const [sid, seq] = key;
      st.total++;
      if (sid === st.own) { st.errors.push(`self-echo seq ${seq}`); return; }
      const want = st.next.get(sid) || 0;
      if (seq !== want) st.errors.push(`sender ${sid}: got seq ${seq}, expected ${want}`);
      const exp = h.makeMsg(sid, seq);
      const expBinary = Buffer.isBuffer(exp);
      if (isBinary !== expBinary) st.errors.push(`sender ${sid} seq ${seq}: isBinary=${isBinary}, expected ${expBinary}`);
      else if (!data.equals(expBinary ? exp : Buffer.from(exp, 'utf8'))) st.errors.push(`sender ${sid} seq ${seq}: bytes differ`);
      st.next.set(sid, Math.max(want, seq + 1));
    });
  });

  const barrier = async (from, token) => {
    clients[from].send(`sync:${token}`);
    await h.waitFor(() => state.every((st, i) => i === from || st.syncs.has(`sync:${token}`)), 10000,
      `barrier ${token} to reach every client`);
  };
  await barrier(0, 'a');
  await barrier(N_CLIENTS - 1, 'b');

  for (let seq = 0; seq < N_MSGS; seq++) {
    for (let sid = 0; sid < N_SENDERS; sid++) clients[sid].send(h.makeMsg(sid, seq));
    if (seq % 10 === 9) await h.sleep(1);
  }
  const complete = () => state.every((st) => [...Array(N_SENDERS).keys()]
    .every((sid) => sid === st.own || (st.next.get(sid) || 0) >= N_MSGS));
  try {
    await h.waitFor(complete, 20000, 'every client to receive all messages');
  } catch (e) { /* detailed report below */ }
  await h.sleep(300);
  const problems = [];
  for (const st of state) {
    if (st.closed !== null) problems.push(`${st.name}: closed ${st.closed}`);
    for (let sid = 0; sid < N_SENDERS; sid++) {
      if (sid !== st.own && (st.next.get(sid) || 0) !== N_MSGS) problems.push(`${st.name}: from ${sid} got ${st.next.get(sid) || 0}/${N_MSGS}`);
    }
    const expTotal = N_MSGS * (N_SENDERS - (st.own === null ? 0 : 1));
    if (st.total !== expTotal) problems.push(`${st.name}: ${st.total} test messages, expected ${expTotal}`);
    if (st.errors.length) problems.push(`${st.name}: ${st.errors.length} errors, first ${st.errors.slice(0, 3)}`);
  }
  h.check(problems.length === 0, `delivery problems:\n  ${problems.slice(0, 30).join('\n  ')}`);
  h.log(`${N_CLIENTS} ws clients: each got exactly ${N_MSGS} messages from every other sender, in order, right type`);

  // 1 MiB binary message intact.
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  big[0] = BIG_MARK;
  clients[3].send(big);
  await h.waitFor(() => state.every((st, i) => i === 3 || st.big.length >= 1), 20000, 'the 1 MiB message at every client');
  await h.sleep(100);
  for (let i = 0; i < N_CLIENTS; i++) {
    if (i === 3) { h.check(state[i].big.length === 0, 'sender got its own 1 MiB message'); continue; }
    h.check(state[i].big.length === 1, `${state[i].name}: got the 1 MiB message ${state[i].big.length} times`);
    h.check(state[i].big[0].equals(big), `${state[i].name}: the 1 MiB message differs`);
  }
  h.log('1 MiB binary message intact at all 19 other clients');

  // ws's built-in ping gets a pong with the same payload.
  const payload = Buffer.from('ws-ping-\u00e9-123');
  const pong = new Promise((resolve) => clients[7].once('pong', resolve));
  clients[7].ping(payload);
  const got = await Promise.race([pong, h.sleep(5000).then(() => null)]);
  h.check(got !== null, 'no pong within 5 s for ws.ping()');
  h.check(Buffer.from(got).equals(payload), `pong payload ${Buffer.from(got).toString('hex')}, expected ${payload.toString('hex')}`);
  h.log('ws.ping() answered with a pong carrying the same payload');

  for (const ws of clients) ws.close(1000);
  await h.waitFor(() => state.every((st) => st.closed !== null), 5000, 'clients to close');
  await srv.stop({ check: true });
}, 90000);
