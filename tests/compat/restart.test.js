'use strict';
// The hub restarted while official-SDK devices are connected (issue #7 §3): azure-iot-device
// clients over Mqtt and Amqp, left at the SDK's default retry policy, serve `echo`; run.js is asked
// to stop the hub (SIGTERM) and start it again on the same ports and data directory; with no help
// from the test the devices reconnect by themselves, and service-side invocations succeed again.
// The wait after the restart is generous because it covers the SDK's own exponential back-off.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Client: DeviceClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Amqp } = require('azure-iot-device-amqp');
const { Registry, Client: ServiceClient } = require('azure-iothub');
const { NoRetry } = require('azure-iot-common');
const { hubFromEnv, sleep } = require('./lib/hub');

const RESTART_DEADLINE_MS = 60_000;
const RECONNECT_DEADLINE_MS = Number(process.env.RECONNECT_DEADLINE_MS || 120_000);

const hub = hubFromEnv();
const registry = Registry.fromConnectionString(hub.connectionString('iothubowner'));
const newId = (prefix) => `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
const listeningPid = () => {
  try {
    return JSON.parse(fs.readFileSync(path.join(hub.dataDir, 'listening.json'), 'utf8')).pid;
  } catch {
    return null;  // between the old hub removing it and the new one writing it
  }
};

// A fresh service client per call: after the restart, no pooled socket to the old process.
async function invokeEcho(deviceId, payload) {
  const service = ServiceClient.fromConnectionString(hub.connectionString('service'));
  service.setRetryPolicy(new NoRetry());
  const { result } = await service.invokeDeviceMethod(deviceId, {
    methodName: 'echo', payload, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 5,
  });
  return result;
}

async function untilEcho(deviceId, payload, deadlineMs) {
  const end = Date.now() + deadlineMs;
  let last;
  for (;;) {
    try {
      return await invokeEcho(deviceId, payload);
    } catch (e) {
      last = e.responseBody || e.message;
    }
    if (Date.now() >= end) assert.fail(`${deviceId}: no answer within ${deadlineMs} ms; last error: ${last}`);
    await sleep(500);
  }
}

test('Mqtt and Amqp devices reconnect by themselves after a hub restart and serve methods', async () => {
  const devices = [];
  try {
    for (const [name, transport] of [['Mqtt', Mqtt], ['Amqp', Amqp]]) {
      const id = newId(`restart-${name.toLowerCase()}`);
      const { responseBody } = await registry.create({ deviceId: id });
      const key = responseBody.authentication.symmetricKey.primaryKey;
      const client = DeviceClient.fromConnectionString(hub.deviceConnectionString(id, key), transport);
      const served = [];
      client.on('error', () => {});  // reported connection losses are expected here
      await client.open();
      client.onDeviceMethod('echo', (req, res) => {
        served.push(req.payload);
        res.send(200, req.payload);
      });
      devices.push({ name, id, client, served });
    }
    for (const d of devices) assert.deepEqual(await untilEcho(d.id, { before: d.name }, 30_000), { status: 200, payload: { before: d.name } });

    const oldPid = listeningPid();
    assert.ok(oldPid, 'listening.json names the running hub');
    const runner = Number(process.env.METHODHUB_COMPAT_RUNNER_PID);
    assert.ok(runner, 'METHODHUB_COMPAT_RUNNER_PID is set (run through run.js)');
    process.kill(runner, 'SIGUSR2');
    const end = Date.now() + RESTART_DEADLINE_MS;
    while (!(listeningPid() && listeningPid() !== oldPid)) {
      assert.ok(Date.now() < end, `the hub was not restarted within ${RESTART_DEADLINE_MS} ms`);
      await sleep(100);
    }

    for (const d of devices) {
      const result = await untilEcho(d.id, { after: d.name }, RECONNECT_DEADLINE_MS);
      assert.deepEqual(result, { status: 200, payload: { after: d.name } }, d.name);
      assert.deepEqual(d.served, [{ before: d.name }, { after: d.name }],
        `${d.name}: every answered call was served exactly once`);
    }
  } finally {
    await Promise.allSettled(devices.map((d) => d.client.close()));
  }
});
