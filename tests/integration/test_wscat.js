'use strict';
// Two `wscat -c ws://127.0.0.1:PORT` chat users on pipes, plus an npm `ws` observer:
// a line typed into one wscat appears at the other wscat (wscat prints "< line" on a tty;
// with a pipe for stdout it prints the bare line, so both forms are accepted) and at the
// observer, in both directions, and never back at the typist. Closing stdin ends wscat.
// wscat prints nothing on connect when stdout is not a tty, so each wscat is known to be
// connected once a probe line it was fed reaches the observer.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('./harness');

function wscatPath() {
  const candidates = [path.join(__dirname, 'node_modules', '.bin', 'wscat')];
  if (process.env.NODE_PATH) candidates.push(path.join(process.env.NODE_PATH, '.bin', 'wscat'));
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new h.TestFailure(`wscat not found in ${candidates.join(', ')}; run \`cd tests/integration && npm ci\``);
}

class Wscat {
  constructor(name, uri) {
    this.name = name;
    this.out = '';
    this.err = '';
    this.exit = undefined;
    this.proc = spawn(process.execPath, [wscatPath(), '-c', uri], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.out += d.toString('utf8'); });
    this.proc.stderr.on('data', (d) => { this.err += d.toString('utf8'); });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => {
      this.exit = code === null ? `signal ${sig}` : code;
      resolve(this.exit);
    }));
  }

  type(line) { this.proc.stdin.write(line + '\n'); }

  lines() {
    // strip ANSI colour/cursor sequences, the "> " prompts wscat writes after each line it
    // sends (no newline after them), and the "< " incoming marker (tty mode only)
    return this.out.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').split(/\r?\n/)
      .map((l) => l.replace(/^(> )+/, '').replace(/^< /, '')).filter((l) => l.length > 0);
  }

  saw(line) { return this.lines().includes(line); }

  kill() { if (this.exit === undefined) this.proc.kill('SIGKILL'); }
}

h.run(async () => {
  const WebSocket = h.requireWs();
  const srv = await new h.Server('wscat').start();
  const observer = await h.connect(WebSocket, srv.uri());
  const seen = [];
  observer.on('message', (d, isBinary) => seen.push({ text: d.toString('utf8'), isBinary }));

  const users = [new Wscat('alice', srv.uri()), new Wscat('bob', srv.uri())];
  try {
    // Wait until each wscat is connected: feed it probe lines until the observer gets one.
    for (const u of users) {
      let connected = false;
      for (let k = 0; k < 100 && !connected; k++) {
        h.check(u.exit === undefined, `${u.name}: wscat exited (${u.exit}); stderr: ${u.err}`);
        const probe = `probe-${u.name}-${k}`;
        u.type(probe);
        const deadline = Date.now() + 100;
        while (Date.now() < deadline && !seen.some((m) => m.text === probe)) await h.sleep(10);
        connected = seen.some((m) => m.text === probe);
      }
      h.check(connected, `${u.name}: wscat never got a typed line through (stdout ${JSON.stringify(u.out.slice(-300))}, ` +
        `stderr ${JSON.stringify(u.err.slice(-300))})`);
      h.log(`${u.name}: wscat connected`);
    }

    const [alice, bob] = users;
    const fromAlice = 'hello bob, this is alice \u00e9\u20ac';
    alice.type(fromAlice);
    await h.waitFor(() => bob.saw(fromAlice), 5000, () => `bob's wscat to print alice's line; bob stdout: ` +
      `${JSON.stringify(bob.out.slice(-300))}; observer saw ${JSON.stringify(seen.map((m) => m.text))}`);
    await h.waitFor(() => seen.some((m) => m.text === fromAlice), 5000, 'the ws observer to get alice\'s line');
    const obs = seen.find((m) => m.text === fromAlice);
    h.check(!obs.isBinary, 'a wscat line must arrive as a text message');
    h.log(`alice -> bob: ${JSON.stringify(fromAlice)} printed by bob's wscat and seen by the ws observer`);

    const fromBob = 'hi alice, bob here';
    bob.type(fromBob);
    await h.waitFor(() => alice.saw(fromBob), 5000,
      () => `alice's wscat to print bob's line; alice stdout: ${JSON.stringify(alice.out.slice(-300))}`);
    await h.waitFor(() => seen.some((m) => m.text === fromBob), 5000, 'the ws observer to get bob\'s line');
    h.log('bob -> alice: printed by alice\'s wscat and seen by the ws observer');

    // The observer's own message reaches both wscat users.
    observer.send('from the observer');
    await h.waitFor(() => alice.saw('from the observer') && bob.saw('from the observer'), 5000,
      'both wscat users to print the observer\'s message');

    await h.sleep(200);
    h.check(!alice.saw(fromAlice), `alice's own line came back to her: ${JSON.stringify(alice.out.slice(-300))}`);
    h.check(!bob.saw(fromBob), `bob's own line came back to him: ${JSON.stringify(bob.out.slice(-300))}`);
    for (const [u, line] of [[alice, fromAlice], [bob, fromBob]]) {
      const other = u === alice ? bob : alice;
      const n = other.lines().filter((l) => l === line).length;
      h.check(n === 1, `${other.name} printed ${JSON.stringify(line)} ${n} times, expected once`);
    }

    // Closing stdin ends a wscat session; the others carry on.
    alice.proc.stdin.end();
    const code = await Promise.race([alice.exited, h.sleep(5000).then(() => 'timeout')]);
    h.check(code !== 'timeout', 'wscat did not exit within 5 s after its stdin closed');
    bob.type('still here');
    await h.waitFor(() => seen.some((m) => m.text === 'still here'), 5000, 'bob\'s line after alice left');
    h.log(`alice's wscat exited (${code}) on end of input; bob still chats`);
    bob.proc.stdin.end();
    await Promise.race([bob.exited, h.sleep(5000)]);
  } finally {
    users.forEach((u) => u.kill());
    observer.terminate();
  }
  await srv.stop({ check: true });
}, 60000);
