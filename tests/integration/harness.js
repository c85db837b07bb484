'use strict';
// Shared helpers for ringcast's node integration tests (npm `ws`, `wscat`).
// ctest runs `node test_X.js` with RINGCAST_BIN, RINGCAST_SOURCE and NODE_PATH set.
// Exit 0 = pass, 77 = skip, anything else = fail. Only 127.0.0.1 is used; every wait is bounded.

const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const SKIP = 77;
const T0 = Date.now();
const liveServers = [];

function log(...parts) {
  const t = ((Date.now() - T0) / 1000).toFixed(3).padStart(7);
  process.stdout.write(`[${t}s] ${parts.join(' ')}\n`);
}

class TestFailure extends Error {}
class TestSkip extends Error {}

function check(cond, msg) {
  if (!cond) throw new TestFailure(msg);
}

function sourceDir() {
  return process.env.RINGCAST_SOURCE || path.resolve(__dirname, '..', '..');
}

function binDir() {
  return process.env.RINGCAST_BIN || path.join(sourceDir(), 'build', 'bin');
}

function requireWs() {
  try {
    return require('ws');
  } catch (e) {
    throw new TestFailure(`npm 'ws' not found (NODE_PATH=${process.env.NODE_PATH}): ${e.message}; ` +
      'run `cd tests/integration && npm ci` (deploy/install-deps.sh does)');
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function portAccepts(port, timeoutMs = 200) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (v) => { sock.destroy(); resolve(v); };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('connect', () => done(true));
    sock.on('error', () => done(false));
  });
}

function pidAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return st !== 'Z' && st !== 'X';
  } catch (e) {
    return false;
  }
}

function childrenOf(pid) {
  const out = new Set();
  let tids = [];
  try { tids = fs.readdirSync(`/proc/${pid}/task`); } catch (e) { return []; }
  for (const tid of tids) {
    try {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'ascii').split(/\s+/)) {
        if (c) out.add(Number(c));
      }
    } catch (e) { /* thread gone */ }
  }
  return [...out].filter(pidAlive).sort((a, b) => a - b);
}

function tail(file, nbytes = 6000) {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.max(0, buf.length - nbytes)).toString('utf8');
  } catch (e) {
    return `<cannot read ${file}: ${e.message}>`;
  }
}

class Server {
  constructor(name, overrides = {}) {
    this.name = name;
    this.overrides = overrides;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ringcast-it-${name}-`));
    this.stdoutPath = path.join(this.tmp, 'stdout.log');
    this.stderrPath = path.join(this.tmp, 'stderr.log');
    this.configPath = path.join(this.tmp, 'ringcast.json');
    this.proc = null;
    this.exitCode = undefined;
    this.seenWorkers = new Set();
  }

  async start(readyTimeoutMs = 10000) {
    const bin = path.join(binDir(), 'ringcast');
    try { fs.accessSync(bin, fs.constants.X_OK); } catch (e) {
      throw new TestFailure(`ringcast binary not found or not executable: ${bin}`);
    }
    this.port = await freePort();
    this.config = Object.assign({
      listen: `127.0.0.1:${this.port}`,
      worker_processes: 3,
      shards: 3,
      control_socket: path.join(this.tmp, 'ctl.sock'),
      stats_interval_ms: 500,
      hugepages: 'auto',
    }, this.overrides);
    fs.writeFileSync(this.configPath, JSON.stringify(this.config, null, 2));
    const out = fs.openSync(this.stdoutPath, 'a');
    const err = fs.openSync(this.stderrPath, 'a');
    this.proc = spawn(bin, ['--config', this.configPath], { stdio: ['ignore', out, err] });
    fs.closeSync(out);
    fs.closeSync(err);
    liveServers.push(this);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => {
      this.exitCode = code === null ? `signal ${sig}` : code;
      resolve(this.exitCode);
    }));
    log(`${this.name}: started supervisor pid=${this.proc.pid} port=${this.port} tmp=${this.tmp}`);
    const deadline = Date.now() + readyTimeoutMs;
    let ready = false;
    while (Date.now() < deadline) {
      if (this.exitCode !== undefined) {
        throw new TestFailure(`${this.name}: ringcast exited (${this.exitCode}) before becoming ready\n${this.logTails()}`);
      }
      if (!ready) {
        try { ready = fs.readFileSync(this.stderrPath, 'utf8').includes('event=ready'); } catch (e) { /* not yet */ }
      }
      if (ready && await portAccepts(this.port)) {
        this.initialWorkers = this.workerPids();
        log(`${this.name}: ready; workers=${JSON.stringify(this.workerPids())}`);
        return this;
      }
      await sleep(50);
    }
    throw new TestFailure(`${this.name}: not ready within ${readyTimeoutMs} ms (event=ready seen: ${ready})\n${this.logTails()}`);
  }

  get pid() { return this.proc.pid; }

  uri(p = '/') { return `ws://127.0.0.1:${this.port}${p}`; }

  workerPids() {
    if (!this.proc) return [];
    const kids = childrenOf(this.proc.pid);
    kids.forEach((k) => this.seenWorkers.add(k));
    return kids;
  }

  alive() { return this.proc !== null && this.exitCode === undefined; }

  // Fail if the supervisor died or a worker was replaced during the test (the supervisor
  // restarts crashed workers silently, so a crash would otherwise go unseen).
  checkHealthy() {
    if (this.exitCode !== undefined) {
      throw new TestFailure(`${this.name}: supervisor exited unexpectedly (${this.exitCode})\n${this.logTails()}`);
    }
    const now = this.workerPids();
    if (JSON.stringify(now) !== JSON.stringify(this.initialWorkers)) {
      throw new TestFailure(`${this.name}: worker processes changed during the test (crash + restart?): ` +
        `at start ${JSON.stringify(this.initialWorkers)}, now ${JSON.stringify(now)}\n${this.logTails()}`);
    }
  }

  // Stop by pid: SIGTERM, bounded wait, SIGKILL; then SIGKILL any worker that survived.
  // With {check: true} (a test's normal end) first fail if the server was not healthy.
  async stop({ termTimeoutMs = 8000, check = false } = {}) {
    if (!this.proc) return;
    if (check) this.checkHealthy();
    if (this.exitCode === undefined) {
      this.workerPids();
      try { process.kill(this.proc.pid, 'SIGTERM'); } catch (e) { /* gone */ }
      const t = await Promise.race([this.exited, sleep(termTimeoutMs).then(() => 'timeout')]);
      if (t === 'timeout') {
        log(`${this.name}: supervisor ignored SIGTERM for ${termTimeoutMs} ms; SIGKILL`);
        try { process.kill(this.proc.pid, 'SIGKILL'); } catch (e) { /* gone */ }
        await Promise.race([this.exited, sleep(5000)]);
      }
    }
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && [...this.seenWorkers].some(pidAlive)) await sleep(50);
    for (const p of this.seenWorkers) {
      if (pidAlive(p)) {
        log(`${this.name}: worker ${p} survived the supervisor; SIGKILL`);
        try { process.kill(p, 'SIGKILL'); } catch (e) { /* gone */ }
      }
    }
    const i = liveServers.indexOf(this);
    if (i >= 0) liveServers.splice(i, 1);
  }

  logTails() {
    return `----- ${this.name} stderr tail (${this.stderrPath}) -----\n${tail(this.stderrPath)}\n` +
      `----- ${this.name} stdout tail (${this.stdoutPath}) -----\n${tail(this.stdoutPath)}\n----- end ${this.name} -----`;
  }

  cleanup() { fs.rmSync(this.tmp, { recursive: true, force: true }); }
}

// Connect a `ws` client; resolves when open, rejects on error/timeout.
function connect(WebSocket, uri, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, { perMessageDeflate: false, maxPayload: 0 });
    const timer = setTimeout(() => { ws.terminate(); reject(new TestFailure(`connect ${uri}: timeout`)); }, timeoutMs);
    ws.once('open', () => { clearTimeout(timer); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(timer); reject(new TestFailure(`connect ${uri}: ${e.message}`)); });
  });
}

async function waitFor(pred, timeoutMs, what, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) {
      // `what` may be a function so that the message shows the state at the time of failure
      throw new TestFailure(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await sleep(intervalMs);
  }
}

// Run a test body with an overall deadline; stop every server; dump logs on failure.
function run(body, timeoutMs = 120000) {
  const started = [];
  const origStart = Server.prototype.start;
  Server.prototype.start = function (...a) { started.push(this); return origStart.apply(this, a); };
  let finished = false;
  const finish = async (rc, err) => {
    if (finished) return;
    finished = true;
    if (err) {
      if (err instanceof TestSkip) {
        rc = SKIP;
        log(`SKIP: ${err.message}`);
      } else {
        log(`FAIL: ${err && err.stack ? err.stack : err}`);
        for (const s of started) process.stdout.write(s.logTails() + '\n');
      }
    }
    for (const s of [...liveServers]) {
      try { await s.stop(); } catch (e) { log(`cleanup failed: ${e.message}`); }
    }
    if (rc === 0) {
      for (const s of started) s.cleanup();
      log(`PASS (${((Date.now() - T0) / 1000).toFixed(1)}s)`);
    }
    process.exit(rc);
  };
  const timer = setTimeout(() => finish(1, new TestFailure(`overall test deadline of ${timeoutMs} ms exceeded`)), timeoutMs);
  process.on('SIGTERM', () => finish(1, new TestFailure('test process got SIGTERM')));
  process.on('uncaughtException', (e) => finish(1, e));
  Promise.resolve().then(body).then(() => { clearTimeout(timer); return finish(0); },
    (e) => { clearTimeout(timer); return finish(1, e); });
}

// Test messages: (sender id, seq) -> deterministic text or binary message, as in the Python harness.
function msgIsText(sid, seq) { return (sid + seq) % 2 === 0; }

function makeMsg(sid, seq) {
  const n = (seq * 7 + sid * 13) % 64;
  if (msgIsText(sid, seq)) {
    return `m:${sid}:${seq}:` + 'éx€'.repeat(Math.floor(n / 6) + 1).slice(0, Math.floor(n / 2));
  }
  const b = Buffer.alloc(9 + n);
  b.write('M', 0, 'latin1');
  b.writeUInt32BE(sid, 1);
  b.writeUInt32BE(seq, 5);
  for (let i = 0; i < n; i++) b[9 + i] = (sid * 31 + seq + i) & 0xff;
  return b;
}

// (data: Buffer, isBinary) -> [sid, seq] or null
function parseMsg(data, isBinary) {
  if (!isBinary) {
    const m = /^m:(\d+):(\d+):/.exec(data.toString('utf8'));
    return m ? [Number(m[1]), Number(m[2])] : null;
  }
  if (data.length >= 9 && data[0] === 0x4d) return [data.readUInt32BE(1), data.readUInt32BE(5)];
  return null;
}

module.exports = {
  SKIP, log, check, TestFailure, TestSkip, sleep, freePort, portAccepts, pidAlive, childrenOf, Server,
  connect, waitFor, run, requireWs, makeMsg, parseMsg, msgIsText, sourceDir, binDir,
};
