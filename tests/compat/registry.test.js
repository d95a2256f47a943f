'use strict';
// The official azure-iothub Registry, unmodified, against methodhub: only the iothubowner
// connection string and the CA (NODE_EXTRA_CA_CERTS, set by run.js). Checks the exact HTTP status
// codes through the responses the SDK hands back.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Registry } = require('azure-iothub');
const { hubFromEnv } = require('./lib/hub');

const hub = hubFromEnv();
const registry = Registry.fromConnectionString(hub.connectionString('iothubowner'));

const newId = (prefix) => `${prefix}-${crypto.randomBytes(6).toString('hex')}`;

function assertKey32(b64, what) {
  assert.equal(typeof b64, 'string', what);
  assert.equal(Buffer.from(b64, 'base64').length, 32, `${what}: ${b64}`);
}

function assertGeneratedKeys(identity, what) {
  assert.equal(identity.authentication.type, 'sas', what);
  const { primaryKey, secondaryKey } = identity.authentication.symmetricKey;
  assertKey32(primaryKey, `${what} primaryKey`);
  assertKey32(secondaryKey, `${what} secondaryKey`);
  assert.notEqual(primaryKey, secondaryKey);
}

/** The error body's inner errorCode (envelope A: JSON text inside "Message"). */
function errorCode(err) {
  assert.ok(err.responseBody, `no response body on ${err}`);
  return JSON.parse(JSON.parse(err.responseBody).Message).errorCode;
}

// The error's class name: azure-iothub may load its own copy of azure-iot-common, so `instanceof`
// against the top-level copy's classes is not reliable.
async function rejectsWith(promise, status, code, errorName) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected an HTTP ${status} error`);
  assert.ok(err.response, `no HTTP response on ${err.stack}`);
  assert.equal(err.response.statusCode, status, err.responseBody);
  if (code !== undefined) assert.equal(errorCode(err), code, err.responseBody);
  if (errorName) assert.equal(err.name, errorName, err.stack);
  return err;
}

test('devices: create, get, list, update, create again, delete, get after delete', async () => {
  const deviceId = newId('compat-dev');

  const created = await registry.create({ deviceId });
  assert.equal(created.httpResponse.statusCode, 200);
  assert.equal(created.responseBody.deviceId, deviceId);
  assert.equal(created.responseBody.status, 'enabled');
  assert.ok(created.responseBody.etag);
  assertGeneratedKeys(created.responseBody, 'create');

  const got = await registry.get(deviceId);
  assert.equal(got.httpResponse.statusCode, 200);
  assert.equal(got.responseBody.deviceId, deviceId);
  assert.equal(got.responseBody.status, 'enabled');
  assert.deepEqual(got.responseBody.authentication.symmetricKey, created.responseBody.authentication.symmetricKey);

  const listed = await registry.list();
  assert.equal(listed.httpResponse.statusCode, 200);
  assert.ok(listed.responseBody.some((d) => d.deviceId === deviceId), 'list includes the device');

  await rejectsWith(registry.create({ deviceId }), 409, 409001, 'DeviceAlreadyExistsError');

  const updated = await registry.update({ ...got.responseBody, status: 'disabled' });
  assert.equal(updated.httpResponse.statusCode, 200);
  assert.equal(updated.responseBody.status, 'disabled');
  assert.deepEqual(updated.responseBody.authentication.symmetricKey, created.responseBody.authentication.symmetricKey);
  assert.equal((await registry.get(deviceId)).responseBody.status, 'disabled');

  const deleted = await registry.delete(deviceId);
  assert.equal(deleted.httpResponse.statusCode, 204);

  await rejectsWith(registry.get(deviceId), 404, 404001);
  await rejectsWith(registry.delete(deviceId), 404, 404001);
});

test('devices: supplied keys are kept', async () => {
  const deviceId = newId('compat-keys');
  const symmetricKey = {
    primaryKey: crypto.randomBytes(32).toString('base64'),
    secondaryKey: crypto.randomBytes(32).toString('base64'),
  };
  const created = await registry.create({ deviceId, authentication: { type: 'sas', symmetricKey } });
  assert.equal(created.httpResponse.statusCode, 200);
  assert.deepEqual(created.responseBody.authentication.symmetricKey, symmetricKey);
  assert.deepEqual((await registry.get(deviceId)).responseBody.authentication.symmetricKey, symmetricKey);
  assert.equal((await registry.delete(deviceId)).httpResponse.statusCode, 204);
});

test('modules: addModule, getModule, getModulesOnDevice, removeModule', async () => {
  const deviceId = newId('compat-mod');
  assert.equal((await registry.create({ deviceId })).httpResponse.statusCode, 200);

  const added = await registry.addModule({ deviceId, moduleId: 'mod1' });
  assert.ok([200, 201].includes(added.httpResponse.statusCode), `addModule: ${added.httpResponse.statusCode}`);
  assert.equal(added.responseBody.deviceId, deviceId);
  assert.equal(added.responseBody.moduleId, 'mod1');
  assertGeneratedKeys(added.responseBody, 'addModule');

  await rejectsWith(registry.addModule({ deviceId, moduleId: 'mod1' }), 409, 409301, 'DeviceAlreadyExistsError');

  const got = await registry.getModule(deviceId, 'mod1');
  assert.equal(got.httpResponse.statusCode, 200);
  assert.equal(got.responseBody.moduleId, 'mod1');
  assert.deepEqual(got.responseBody.authentication.symmetricKey, added.responseBody.authentication.symmetricKey);

  assert.ok([200, 201].includes((await registry.addModule({ deviceId, moduleId: 'mod2' })).httpResponse.statusCode));
  const onDevice = await registry.getModulesOnDevice(deviceId);
  assert.equal(onDevice.httpResponse.statusCode, 200);
  assert.deepEqual(onDevice.responseBody.map((m) => m.moduleId).sort(), ['mod1', 'mod2']);

  const removed = await registry.removeModule(deviceId, 'mod1');
  assert.equal(removed.httpResponse.statusCode, 204);
  await rejectsWith(registry.getModule(deviceId, 'mod1'), 404, 404010);
  assert.deepEqual((await registry.getModulesOnDevice(deviceId)).responseBody.map((m) => m.moduleId), ['mod2']);

  // a module of a missing device: the spec names no code, either 404 code is fine
  const noDevice = await rejectsWith(registry.getModule(newId('compat-nodev'), 'mod1'), 404);
  assert.ok([404001, 404010].includes(errorCode(noDevice)), noDevice.responseBody);

  assert.equal((await registry.delete(deviceId)).httpResponse.statusCode, 204);
  await rejectsWith(registry.getModulesOnDevice(deviceId), 404, 404001);
});

test('policies: registryRead reads but cannot write; service cannot read the registry', async () => {
  const deviceId = newId('compat-rights');
  assert.equal((await registry.create({ deviceId })).httpResponse.statusCode, 200);

  const readOnly = Registry.fromConnectionString(hub.connectionString('registryRead'));
  assert.equal((await readOnly.get(deviceId)).httpResponse.statusCode, 200);
  await rejectsWith(readOnly.create({ deviceId: newId('compat-ro') }), 401, 401002, 'UnauthorizedError');
  await rejectsWith(readOnly.delete(deviceId), 401, 401002, 'UnauthorizedError');

  const service = Registry.fromConnectionString(hub.connectionString('service'));
  await rejectsWith(service.get(deviceId), 401, 401002, 'UnauthorizedError');

  const readWrite = Registry.fromConnectionString(hub.connectionString('registryReadWrite'));
  assert.equal((await readWrite.delete(deviceId)).httpResponse.statusCode, 204);
});
