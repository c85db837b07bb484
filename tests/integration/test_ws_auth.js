'use strict';
// npm `ws` clients against admission (docs/admission.md): auth required, HS256 secret file,
// default_role listener, listener_send close, allowed_origins [https://app.example.com].
//   * no token -> 401, a token of another secret (subprotocol) -> 401, a valid token with
//     Origin https://evil.test -> 403: none upgraded;
//   * a publisher with its token in the subprotocol list, as a browser sends it
//     (`ringcast`, `base64url.bearer.ringcast.<b64url(jwt)>`): the server answers `ringcast`;
//   * a listener with `Authorization: Bearer` (no role claim: the default role), another
//     with `?token=` and publish false;
//   * the publisher's text and binary messages reach both listeners, intact;
//   * a listener's message closes it with 1008 and reaches no one; the others stay open.
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const h = require('./harness');

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function signHs256(secret, claims) {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function claims(sub, publish) {
  const now = Math.floor(Date.now() / 1000);
  const c = { sub, iat: now, exp: now + 300 };
  if (publish !== undefined) c.ringcast = { publish };
  return c;
}

const ORIGIN = 'https://app.example.com';

// Resolves with the HTTP status of a refused upgrade; fails if the upgrade succeeds.
function expectRefused(WebSocket, uri, protocols, opts, want, what) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, protocols, Object.assign({ perMessageDeflate: false }, opts));
    const timer = setTimeout(() => { ws.terminate(); reject(new h.TestFailure(`${what}: no answer in 5 s`)); }, 5000);
    ws.on('unexpected-response', (req, res) => {
      clearTimeout(timer);
      const upgraded = res.headers['sec-websocket-accept'] !== undefined;
      res.resume();
      req.destroy();
      if (res.statusCode !== want || upgraded) {
        reject(new h.TestFailure(`${what}: HTTP ${res.statusCode} (upgrade headers: ${upgraded}), want ${want}`));
      } else {
        h.log(`${what}: HTTP ${res.statusCode} as expected`);
        resolve(res.statusCode);
      }
    });
    ws.on('open', () => { clearTimeout(timer); ws.terminate(); reject(new h.TestFailure(`${what}: upgraded, want ${want}`)); });
    ws.on('error', (e) => {
      if (!/Unexpected server response/.test(e.message)) { clearTimeout(timer); reject(new h.TestFailure(`${what}: ${e.message}`)); }
    });
  });
}

function open(WebSocket, uri, protocols, opts, what) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, protocols, Object.assign({ perMessageDeflate: false, maxPayload: 0 }, opts));
    const timer = setTimeout(() => { ws.terminate(); reject(new h.TestFailure(`${what}: connect timeout`)); }, 10000);
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      res.resume();
      req.destroy();
      reject(new h.TestFailure(`${what}: refused with HTTP ${res.statusCode}`));
    });
    ws.once('open', () => { clearTimeout(timer); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(timer); reject(new h.TestFailure(`${what}: ${e.message}`)); });
  });
}

function track(name, ws) {
  const st = { name, ws, got: [], closed: null };
  ws.on('message', (data, isBinary) => st.got.push({ data: Buffer.from(data), isBinary }));
  ws.on('close', (code, reason) => { st.closed = { code, reason: reason.toString() }; });
  return st;
}

h.run(async () => {
  const WebSocket = h.requireWs();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ringcast-it-ws-auth-keys-'));
  const secret = crypto.randomBytes(48).toString('base64url');  // 64 printable bytes
  const secretPath = path.join(tmp, 'hs.secret');
  fs.writeFileSync(secretPath, secret + '\n', { mode: 0o600 });
  const srv = await new h.Server('ws-auth', {
    allowed_origins: [ORIGIN],
    allow_missing_origin: true,
    auth: { required: true, default_role: 'listener', listener_send: 'close', jwt: { hmac_secret_file: secretPath } },
  }).start();
  const uri = srv.uri();
  const good = signHs256(secret, claims('ws-pub', true));
  const tokenEntry = (t) => ['ringcast', `base64url.bearer.ringcast.${b64url(t)}`];

  await expectRefused(WebSocket, uri, [], {}, 401, 'no token');
  await expectRefused(WebSocket, uri, tokenEntry(signHs256('x'.repeat(64), claims('forged', true))), {}, 401,
    'token of another secret in the subprotocol');
  await expectRefused(WebSocket, uri, [], { origin: 'https://evil.test', headers: { Authorization: `Bearer ${good}` } },
    403, 'valid token, Origin https://evil.test');

  const pub = track('publisher', await open(WebSocket, uri, tokenEntry(good), { origin: ORIGIN }, 'publisher (subprotocol)'));
  h.check(pub.ws.protocol === 'ringcast', `subprotocol answered ${JSON.stringify(pub.ws.protocol)}, want "ringcast"`);
  const l1 = track('listener-header', await open(WebSocket, uri, [],
    { headers: { Authorization: `Bearer ${signHs256(secret, claims('ws-lis-1'))}` } }, 'listener (Authorization)'));
  const l2 = track('listener-query', await open(WebSocket, `${uri}?token=${signHs256(secret, claims('ws-lis-2', false))}`,
    [], { origin: ORIGIN }, 'listener (query)'));
  const all = [pub, l1, l2];
  await h.sleep(200);

  const bin = crypto.randomBytes(3000);
  pub.ws.send('hello listeners');
  pub.ws.send(bin);
  for (const l of [l1, l2]) {
    await h.waitFor(() => l.got.length >= 2, 5000, () => `${l.name} to get the publisher's 2 messages (has ${l.got.length})`);
    h.check(!l.got[0].isBinary && l.got[0].data.toString() === 'hello listeners', `${l.name}: first message ${l.got[0].data}`);
    h.check(l.got[1].isBinary && l.got[1].data.equals(bin), `${l.name}: binary message differs`);
  }
  h.check(pub.got.length === 0, 'the publisher got its own messages back');
  h.log('publisher (token in the subprotocol) reached both listeners, text and binary intact');

  l1.ws.send('listener speaks');
  await h.waitFor(() => l1.closed !== null, 3000, 'the listener to be closed after sending');
  h.check(l1.closed.code === 1008, `listener closed with ${JSON.stringify(l1.closed)}, want 1008`);
  await h.sleep(500);
  for (const s of [pub, l2]) {
    h.check(!s.got.some((m) => m.data.toString() === 'listener speaks'), `${s.name} got the listener's message`);
    h.check(s.closed === null, `${s.name} was closed: ${JSON.stringify(s.closed)}`);
  }
  h.log(`listener's message: closed ${JSON.stringify(l1.closed)}, delivered to no one`);

  pub.ws.send('still here');
  await h.waitFor(() => l2.got.some((m) => m.data.toString() === 'still here'), 5000, 'the other listener to still receive');
  for (const s of all) if (s.closed === null) s.ws.close();
  await srv.stop({ check: true });
  fs.rmSync(tmp, { recursive: true, force: true });
}, 60000);
