'use strict';
// Harness for the official-SDK compatibility tests: starts the real `methodhub serve` on the
// standard ports (the azure-iothub service client always dials 443; the device transports dial
// 8883 and 5671), waits for <data-dir>/listening.json with a deadline, and stops it with SIGTERM.
//
// Two halves:
//   startHub()   used by run.js, which owns the hub process for one test file;
//   hubFromEnv() used inside a test file (run.js passes METHODHUB_DATA_DIR) to get connection
//                strings, keys and ports.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const STANDARD_ARGS = [
  '--hostname', 'localhost',
  '--https-port', '443',
  '--mqtt-port', '8883',
  '--amqp-port', '5671',
];
const STARTUP_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 20_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function readPolicies(dataDir) {
  const doc = readJson(path.join(dataDir, 'policies.json'));
  return Object.fromEntries(doc.policies.map((p) => [p.name, p]));
}

/** What a test needs to know about a running hub, from its data directory. */
class HubInfo {
  constructor(dataDir) {
    this.dataDir = dataDir;
    this.caPath = path.join(dataDir, 'tls', 'ca.pem');
    this.listening = readJson(path.join(dataDir, 'listening.json'));
    this.hostname = this.listening.hostname;
  }

  policies() {
    return readPolicies(this.dataDir);
  }

  /** `HostName=…;SharedAccessKeyName=<policy>;SharedAccessKey=…` */
  connectionString(policy = 'iothubowner') {
    const p = this.policies()[policy];
    if (!p) throw new Error(`no policy ${policy} in ${this.dataDir}/policies.json`);
    return `HostName=${this.hostname};SharedAccessKeyName=${policy};SharedAccessKey=${p.primaryKey}`;
  }

  /** A device (or module) connection string, from the identity's key (e.g. from Registry.create). */
  deviceConnectionString(deviceId, key, moduleId) {
    return `HostName=${this.hostname};DeviceId=${deviceId}` +
      (moduleId ? `;ModuleId=${moduleId}` : '') + `;SharedAccessKey=${key}`;
  }

  ca() {
    return fs.readFileSync(this.caPath, 'utf8');
  }
}

/** Inside a test file run by run.js. */
function hubFromEnv() {
  const dataDir = process.env.METHODHUB_DATA_DIR;
  if (!dataDir) {
    throw new Error('METHODHUB_DATA_DIR is not set: run test files through tests/compat/run.js ' +
      '(e.g. `METHODHUB_BIN=build/release/src/cli/methodhub node tests/compat/run.js tests/compat/registry.test.js`)');
  }
  return new HubInfo(dataDir);
}

/** A hub process owned by the caller. */
class Hub extends HubInfo {
  constructor(proc, dataDir, logPath, ownsDir) {
    super(dataDir);
    this.proc = proc;
    this.logPath = logPath;
    this.ownsDir = ownsDir;
  }

  log() {
    try {
      return `--- hub log (${this.logPath}) ---\n${fs.readFileSync(this.logPath, 'utf8').slice(-20000)}--- end of hub log ---`;
    } catch {
      return '(no hub log)';
    }
  }

  running() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM (or `signal`); resolves with the exit code; throws unless it is 0 within the deadline. */
  async stop({ signal = 'SIGTERM', deadlineMs = STOP_DEADLINE_MS } = {}) {
    if (this.running()) {
      const exited = new Promise((resolve) => this.proc.once('exit', resolve));
      this.proc.kill(signal);
      const timedOut = await Promise.race([exited.then(() => false), sleep(deadlineMs).then(() => true)]);
      if (timedOut) {
        this.proc.kill('SIGKILL');
        await exited;
        throw new Error(`hub did not exit within ${deadlineMs} ms of ${signal}\n${this.log()}`);
      }
    }
    if (this.proc.exitCode !== 0) {
      throw new Error(`hub exited with code ${this.proc.exitCode} (signal ${this.proc.signalCode})\n${this.log()}`);
    }
    return 0;
  }

  async kill() {
    if (this.running()) {
      const exited = new Promise((resolve) => this.proc.once('exit', resolve));
      this.proc.kill('SIGKILL');
      await exited;
    }
  }

  cleanup() {
    if (this.ownsDir && !process.env.METHODHUB_KEEP_DATA) {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

/**
 * Starts `methodhub serve` (binary from $METHODHUB_BIN) on a fresh temp data directory and the
 * standard ports, and resolves once listening.json names this process.
 */
async function startHub({
  bin = process.env.METHODHUB_BIN,
  dataDir,
  args = STANDARD_ARGS,
  deadlineMs = STARTUP_DEADLINE_MS,
} = {}) {
  if (!bin) throw new Error('METHODHUB_BIN is not set (CTest sets it)');
  fs.accessSync(bin, fs.constants.X_OK);
  const ownsDir = !dataDir;
  dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'methodhub-compat-'));
  const listeningPath = path.join(dataDir, 'listening.json');
  fs.rmSync(listeningPath, { force: true });
  const logPath = path.join(os.tmpdir(), `${path.basename(dataDir)}-${crypto.randomBytes(3).toString('hex')}.log`);
  const logFd = fs.openSync(logPath, 'w');
  const fullArgs = ['serve', '--data-dir', dataDir, ...args];
  const proc = spawn(bin, fullArgs, { stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  let spawnError = null;
  proc.once('error', (e) => { spawnError = e; });

  const logTail = () => {
    try { return fs.readFileSync(logPath, 'utf8').slice(-20000); } catch { return ''; }
  };
  const fail = async (why) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    if (ownsDir && !process.env.METHODHUB_KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${why}\ncommand: ${bin} ${fullArgs.join(' ')}\n--- hub log (${logPath}) ---\n${logTail()}--- end of hub log ---`);
  };

  const end = Date.now() + deadlineMs;
  for (;;) {
    if (spawnError) await fail(`could not start the hub: ${spawnError.message}`);
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await fail(`hub exited (code ${proc.exitCode}, signal ${proc.signalCode}) before listening` +
        ' (are ports 443, 8883 and 5671 free, and are we root?)');
    }
    try {
      const info = readJson(listeningPath);
      if (info.pid === proc.pid) break;
    } catch { /* not written yet */ }
    if (Date.now() >= end) await fail(`no listening.json within ${deadlineMs} ms`);
    await sleep(20);
  }
  return new Hub(proc, dataDir, logPath, ownsDir);
}

module.exports = { startHub, hubFromEnv, HubInfo, STANDARD_ARGS, sleep };
