'use strict';
// The official Node SDK's WebSocket transports, MqttWs and AmqpWs, which hard-code
// wss://<host>:443/$iothub/websocket: device and module round trips, the error semantics of the
// TCP transports (offline, connect-timeout wait, 504101, takeover), and a 128 KB payload that
// spans many WebSocket frames.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Client: DeviceClient, ModuleClient } = require('azure-iot-device');
const { MqttWs } = require('azure-iot-device-mqtt');
const { AmqpWs } = require('azure-iot-device-amqp');
const { Registry, Client: ServiceClient } = require('azure-iothub');
const { NoRetry } = require('azure-iot-common');
const { hubFromEnv } = require('./lib/hub');

const hub = hubFromEnv();
const registry = Registry.fromConnectionString(hub.connectionString('iothubowner'));
const service = ServiceClient.fromConnectionString(hub.connectionString('service'));
service.setRetryPolicy(new NoRetry());

const newId = (prefix) => `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
const openClients = [];
test.after(async () => {
  await Promise.allSettled(openClients.map((c) => c.close()));
});

const echo = (req, res) => res.send(200, req.payload);
const probe = (req, res) => res.send(200);

async function createDevice(prefix) {
  const id = newId(prefix);
  const { responseBody } = await registry.create({ deviceId: id });
  return { id, key: responseBody.authentication.symmetricKey.primaryKey };
}

// Registers handlers, then waits until the hub holds the subscription: a `__probe` call with a
// connect timeout is kept until the device listens.
async function listen(client, register, deviceId, moduleId) {
  register('echo', echo);
  register('silent', () => {});
  register('__probe', probe);
  const params = { methodName: '__probe', payload: null, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 15 };
  const { result } = moduleId ? await service.invokeDeviceMethod(deviceId, moduleId, params)
    : await service.invokeDeviceMethod(deviceId, params);
  assert.equal(result.status, 200);
}

async function openDevice(transport, prefix) {
  const { id, key } = await createDevice(prefix);
  const client = DeviceClient.fromConnectionString(hub.deviceConnectionString(id, key), transport);
  openClients.push(client);
  await client.open();
  await listen(client, (n, f) => client.onDeviceMethod(n, f), id);
  return { id, key, client };
}

function errorCode(err) {
  return JSON.parse(JSON.parse(err.responseBody).Message).errorCode;
}

async function invokeFails(promise, status, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err && err.response, `expected HTTP ${status}, got ${err && err.stack}`);
  assert.equal(err.response.statusCode, status, err.responseBody);
  assert.equal(errorCode(err), code, err.responseBody);
}

for (const [name, transport] of [['MqttWs', MqttWs], ['AmqpWs', AmqpWs]]) {
  test(`${name}: device echo, status and payload pass through`, async () => {
    const { id } = await openDevice(transport, name.toLowerCase());
    const payload = { via: name, list: [1, 2, 3] };
    const { result, message } = await service.invokeDeviceMethod(id, { methodName: 'echo', payload });
    assert.equal(message.statusCode, 200);
    assert.deepEqual(result, { status: 200, payload });
  });

  test(`${name}: module echo`, async () => {
    const { id } = await createDevice(`${name.toLowerCase()}m`);
    const moduleId = newId('mod');
    await registry.addModule({ deviceId: id, moduleId });
    const { responseBody } = await registry.getModule(id, moduleId);
    const key = responseBody.authentication.symmetricKey.primaryKey;
    const client = ModuleClient.fromConnectionString(hub.deviceConnectionString(id, key, moduleId), transport);
    openClients.push(client);
    await client.open();
    await listen(client, (n, f) => client.onMethod(n, f), id, moduleId);
    const { result } = await service.invokeDeviceMethod(id, moduleId, { methodName: 'echo', payload: 'mod' });
    assert.deepEqual(result, { status: 200, payload: 'mod' });
  });

  test(`${name}: a 128 KB payload spans many frames`, async () => {
    const { id } = await openDevice(transport, name.toLowerCase());
    const payload = 'w'.repeat(131072 - 2);
    const { result } = await service.invokeDeviceMethod(id, { methodName: 'echo', payload });
    assert.equal(result.payload, payload);
  });

  test(`${name}: offline 404103 at once, and the connect timeout waits for the device`, async () => {
    const { id, key } = await createDevice(name.toLowerCase());
    await invokeFails(service.invokeDeviceMethod(id, { methodName: 'echo' }), 404, 404103);
    const call = service.invokeDeviceMethod(id, { methodName: 'echo', payload: 1, connectTimeoutInSeconds: 20 });
    const client = DeviceClient.fromConnectionString(hub.deviceConnectionString(id, key), transport);
    openClients.push(client);
    await client.open();
    client.onDeviceMethod('echo', echo);
    const { result } = await call;
    assert.deepEqual(result, { status: 200, payload: 1 });
  });

  test(`${name}: no answer gives 504101 at the response timeout`, async () => {
    const { id } = await openDevice(transport, name.toLowerCase());
    const started = Date.now();
    await invokeFails(service.invokeDeviceMethod(id, { methodName: 'silent', responseTimeoutInSeconds: 5 }), 504, 504101);
    const took = Date.now() - started;
    assert.ok(took >= 4900 && took < 8000, `took ${took} ms`);
  });

  test(`${name}: a wrong key is refused (UnauthorizedError)`, async () => {
    const { id } = await createDevice(name.toLowerCase());
    const client = DeviceClient.fromConnectionString(
      hub.deviceConnectionString(id, crypto.randomBytes(32).toString('base64')), transport);
    await assert.rejects(client.open(), (err) => {
      assert.equal(err.name, 'UnauthorizedError', err.stack);
      return true;
    });
  });
}
