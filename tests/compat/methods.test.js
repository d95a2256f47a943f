'use strict';
// Direct methods end to end with the official, unmodified Node SDKs: azure-iot-device with the
// Mqtt and Amqp transports as device and module, azure-iothub's Client as the caller (retries
// off), given only connection strings and the CA (NODE_EXTRA_CA_CERTS, set by run.js). Every
// test runs once per transport: the error semantics must not depend on the protocol. The
// WebSocket transports are in transports_ws.test.js.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Client: DeviceClient, ModuleClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Amqp } = require('azure-iot-device-amqp');
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

async function createDevice(prefix = 'mq') {
  const id = newId(prefix);
  const { responseBody } = await registry.create({ deviceId: id });
  return { id, key: responseBody.authentication.symmetricKey.primaryKey };
}

async function createModule(deviceId) {
  const moduleId = newId('mod');
  await registry.addModule({ deviceId, moduleId });
  const { responseBody } = await registry.getModule(deviceId, moduleId);
  return { moduleId, key: responseBody.authentication.symmetricKey.primaryKey };
}

// Opens a device client whose `echo` answers (status, payload) as `handler` decides.
async function openDevice(id, key, transport, handlers = {}) {
  const client = DeviceClient.fromConnectionString(hub.deviceConnectionString(id, key), transport);
  openClients.push(client);
  await client.open();
  for (const [name, fn] of Object.entries(handlers)) client.onDeviceMethod(name, fn);
  return client;
}

const echo = (req, res) => res.send(200, req.payload);

/** The error body's inner errorCode (envelope A: JSON text inside "Message"). */
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
  assert.ok(err, `expected HTTP ${status}`);
  assert.ok(err.response, `no HTTP response: ${err.stack}`);
  assert.equal(err.response.statusCode, status, err.responseBody);
  assert.equal(errorCode(err), code, err.responseBody);
  return err;
}

// The SDK subscribes when the first handler is registered, after open() resolved; a call made
// before the hub has the subscription would get 404103. So each test first calls a `__probe`
// method the device answers, with a connect timeout: the hub holds it until the device listens.
async function waitForMethods(deviceId, moduleId) {
  const params = { methodName: '__probe', payload: null, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 15 };
  const { result } = moduleId ? await service.invokeDeviceMethod(deviceId, moduleId, params)
    : await service.invokeDeviceMethod(deviceId, params);
  assert.equal(result.status, 200);
}

for (const [name, transport] of [['Mqtt', Mqtt], ['Amqp', Amqp]]) {
  test(`${name}: device echo: status and payload pass through`, async () => {
    const { id, key } = await createDevice();
    await openDevice(id, key, transport, { echo, __probe: (req, res) => res.send(200) });
    await waitForMethods(id);
    const payload = { hello: 'world', n: [1, 2, 3], nested: { ok: true } };
    const { result, message } = await service.invokeDeviceMethod(id, { methodName: 'echo', payload, responseTimeoutInSeconds: 10 });
    assert.equal(message.statusCode, 200);
    assert.match(message.headers['content-type'], /application\/json/);
    assert.deepEqual(result, { status: 200, payload });
  });

  test(`${name}: null, scalar and absent payloads reach the handler`, async () => {
    const { id, key } = await createDevice();
    const seen = [];
    await openDevice(id, key, transport, {
      echo: (req, res) => {
        seen.push(req.payload);
        res.send(200, req.payload);
      },
      __probe: (req, res) => res.send(200),
    });
    await waitForMethods(id);
    for (const payload of [null, 42, 'text', [1, 'a'], false]) {
      const { result } = await service.invokeDeviceMethod(id, { methodName: 'echo', payload });
      assert.deepEqual(result, { status: 200, payload });
    }
    // Omitted payload: the SDK sends null, the device gets null (never an empty body).
    const { result } = await service.invokeDeviceMethod(id, { methodName: 'echo' });
    assert.deepEqual(result, { status: 200, payload: null });
    assert.deepEqual(seen, [null, 42, 'text', [1, 'a'], false, null]);
  });

  test(`${name}: device status is passed through with HTTP 200, even 500`, async () => {
    const { id, key } = await createDevice();
    await openDevice(id, key, transport, {
      fail: (req, res) => res.send(500, { error: 'boom' }),
      nobody: (req, res) => res.send(204),
      __probe: (req, res) => res.send(200),
    });
    await waitForMethods(id);
    let r = await service.invokeDeviceMethod(id, { methodName: 'fail' });
    assert.equal(r.message.statusCode, 200);
    assert.deepEqual(r.result, { status: 500, payload: { error: 'boom' } });
    r = await service.invokeDeviceMethod(id, { methodName: 'nobody' });
    assert.deepEqual(r.result, { status: 204, payload: null });
  });

  test(`${name}: module echo with invokeDeviceMethod(deviceId, moduleId, ...)`, async () => {
    const { id } = await createDevice();
    const { moduleId, key } = await createModule(id);
    const client = ModuleClient.fromConnectionString(hub.deviceConnectionString(id, key, moduleId), transport);
    openClients.push(client);
    await client.open();
    client.onMethod('echo', echo);
    client.onMethod('__probe', (req, res) => res.send(200));
    await waitForMethods(id, moduleId);
    const { result } = await service.invokeDeviceMethod(id, moduleId, { methodName: 'echo', payload: { m: 1 } });
    assert.deepEqual(result, { status: 200, payload: { m: 1 } });
  });

  test(`${name}: offline device: 404103 at once with connectTimeout 0`, async () => {
    const { id } = await createDevice();
    const started = Date.now();
    await invokeFails(service.invokeDeviceMethod(id, { methodName: 'echo', connectTimeoutInSeconds: 0 }), 404, 404103);
    assert.ok(Date.now() - started < 3000, 'answered at once');
  });

  test(`${name}: unknown device: 404001`, async () => {
    await invokeFails(service.invokeDeviceMethod(newId('nobody'), { methodName: 'echo' }), 404, 404001);
  });

  test(`${name}: connect timeout: the call waits for the device to come online`, async () => {
    const { id, key } = await createDevice();
    const call = service.invokeDeviceMethod(id, { methodName: 'echo', payload: 'late', connectTimeoutInSeconds: 20 });
    await openDevice(id, key, transport, { echo });
    const { result } = await call;
    assert.deepEqual(result, { status: 200, payload: 'late' });
  });

  test(`${name}: a device that never answers: 504101 at the response timeout`, async () => {
    const { id, key } = await createDevice();
    await openDevice(id, key, transport, { silent: () => {}, __probe: (req, res) => res.send(200) });
    await waitForMethods(id);
    const started = Date.now();
    await invokeFails(service.invokeDeviceMethod(id, { methodName: 'silent', responseTimeoutInSeconds: 5 }), 504, 504101);
    const took = Date.now() - started;
    assert.ok(took >= 4900 && took < 8000, `took ${took} ms`);
  });

  test(`${name}: concurrent calls to one device each get their own answer`, async () => {
    const { id, key } = await createDevice();
    await openDevice(id, key, transport, {
      echo: (req, res) => setTimeout(() => res.send(200, req.payload), Math.random() * 50),
      __probe: (req, res) => res.send(200),
    });
    await waitForMethods(id);
    const calls = Array.from({ length: 25 }, (_, i) => service.invokeDeviceMethod(id, { methodName: 'echo', payload: { i } }));
    const results = await Promise.all(calls);
    results.forEach(({ result }, i) => assert.deepEqual(result, { status: 200, payload: { i } }));
  });

  test(`${name}: a payload near 128 KB makes the round trip`, async () => {
    const { id, key } = await createDevice();
    await openDevice(id, key, transport, { echo, __probe: (req, res) => res.send(200) });
    await waitForMethods(id);
    const payload = 'x'.repeat(131072 - 2);  // 131072 bytes of JSON text with the quotes
    const { result } = await service.invokeDeviceMethod(id, { methodName: 'echo', payload });
    assert.equal(result.status, 200);
    assert.equal(result.payload.length, payload.length);
  });

  test(`${name}: a device with a wrong key cannot connect (UnauthorizedError)`, async () => {
    const { id } = await createDevice();
    const wrong = crypto.randomBytes(32).toString('base64');
    const client = DeviceClient.fromConnectionString(hub.deviceConnectionString(id, wrong), transport);
    await assert.rejects(client.open(), (err) => {
      assert.equal(err.name, 'UnauthorizedError', err.stack);
      return true;
    });
  });

  test(`${name}: a service client with a registryRead policy cannot invoke: 401`, async () => {
    const reader = ServiceClient.fromConnectionString(hub.connectionString('registryRead'));
    reader.setRetryPolicy(new NoRetry());
    const { id } = await createDevice();
    await invokeFails(reader.invokeDeviceMethod(id, { methodName: 'echo' }), 401, 401002);
  });

  test(`${name}: a second connection for the same device takes over; the first's call ends at once`, async () => {
    const { id, key } = await createDevice();
    let reached;
    const reachedFirst = new Promise((resolve) => { reached = resolve; });
    const first = await openDevice(id, key, transport, { slow: () => reached(), __probe: (req, res) => res.send(200) });
    // The first client must not reconnect by itself: its SDK would take the identity back.
    first.setRetryPolicy(new NoRetry());
    await waitForMethods(id);
    const failing = invokeFails(service.invokeDeviceMethod(id, { methodName: 'slow', responseTimeoutInSeconds: 60 }), 404, 404103);
    await reachedFirst;
    const started = Date.now();
    await openDevice(id, key, transport, { echo: (req, res) => res.send(200, 'second'), __probe: (req, res) => res.send(200) });
    await failing;
    assert.ok(Date.now() - started < 5000, 'answered when the link was replaced, not at the deadline');
    await waitForMethods(id);
    const { result } = await service.invokeDeviceMethod(id, { methodName: 'echo', payload: null });
    assert.deepEqual(result, { status: 200, payload: 'second' });
  });
}
