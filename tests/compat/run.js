#!/usr/bin/env node
'use strict';
// Runs one compat test file against a fresh hub:
//   1. starts `methodhub serve` ($METHODHUB_BIN) on a temp data dir, ports 443/8883/5671,
//      host name localhost (lib/hub.js);
//   2. runs `node --test <file>` in a child process with NODE_EXTRA_CA_CERTS=<data-dir>/tls/ca.pem
//      (Node reads it only at start-up, hence the child), METHODHUB_DATA_DIR and
//      METHODHUB_CONNECTION_STRING (iothubowner) set;
//   3. stops the hub with SIGTERM and requires exit code 0.
// A test may restart the hub (restart.test.js): SIGUSR2 to this process (its pid is in
// METHODHUB_COMPAT_RUNNER_PID) stops the hub cleanly and starts a new one on the same data
// directory and ports; the test sees the new pid in listening.json.
// Exit code: the test run's, or 1 if the hub failed to start or stop cleanly.
//
//   METHODHUB_BIN=build/release/src/cli/methodhub node tests/compat/run.js tests/compat/registry.test.js
//
// A deadline (COMPAT_DEADLINE_S, default 240) keeps this below CTest's TIMEOUT, so the hub is always
// stopped here and never left holding the standard ports.

const { spawn } = require('node:child_process');
const path = require('node:path');
const { startHub } = require('./lib/hub');

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node run.js <file.test.js> [extra node --test flags]');
    return 2;
  }
  const deadlineMs = Number(process.env.COMPAT_DEADLINE_S || 240) * 1000;

  let hub = await startHub();
  console.log(`methodhub ${hub.proc.pid} listening: ${JSON.stringify(hub.listening)}`);

  let testCode = 1;
  let stopping = false;
  const onSignal = (sig) => {
    if (stopping) return;
    stopping = true;
    console.error(`run.js: ${sig}: stopping the hub`);
    hub.kill().finally(() => { hub.cleanup(); process.exit(1); });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let restarts = Promise.resolve();
  let restartError = null;
  process.on('SIGUSR2', () => {
    restarts = restarts.then(async () => {
      await hub.stop();  // throws unless the hub exits 0
      const next = await startHub({ dataDir: hub.dataDir });
      next.ownsDir = hub.ownsDir;
      hub = next;
      console.log(`methodhub restarted: ${hub.proc.pid}`);
    }).catch((e) => { restartError = e; });
  });

  try {
    const child = spawn(process.execPath, ['--test', ...process.argv.slice(3), path.resolve(file)], {
      stdio: 'inherit',
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: hub.caPath,
        METHODHUB_DATA_DIR: hub.dataDir,
        METHODHUB_CONNECTION_STRING: hub.connectionString(),
        METHODHUB_COMPAT_RUNNER_PID: String(process.pid),
      },
    });
    const timer = setTimeout(() => {
      console.error(`run.js: ${file} still running after ${deadlineMs / 1000} s: killing it`);
      child.kill('SIGKILL');
    }, deadlineMs);
    testCode = await new Promise((resolve) => {
      child.once('error', (e) => { console.error(e); resolve(1); });
      child.once('exit', (code, signal) => resolve(code === null ? `signal ${signal}` : code));
    });
    clearTimeout(timer);
    await restarts;
    if (restartError) {
      console.error(`run.js: restarting the hub failed: ${restartError.stack || restartError}`);
      await hub.kill();
      return 1;
    }
    if (!hub.running()) {
      console.error(`run.js: the hub died during the test (code ${hub.proc.exitCode}, signal ${hub.proc.signalCode})`);
      console.error(hub.log());
      return 1;
    }
    await hub.stop();
  } catch (e) {
    console.error(`run.js: ${e.stack || e}`);
    await hub.kill();
    return 1;
  } finally {
    hub.cleanup();
  }
  if (testCode !== 0) {
    console.error(`run.js: ${file} failed (${testCode})`);
    console.error(hub.log());
    return 1;
  }
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`run.js: ${e.stack || e}`);
  process.exit(1);
});
