#!/usr/bin/python3
"""Records what real device clients send to a real hub, as seeds for the session fuzz targets.

    METHODHUB_BIN=build/release/src/cli/methodhub /usr/bin/python3 fuzz/capture_seeds.py

Starts `methodhub serve` (tests/e2e/hub.py) with the policies and identities of the fuzz targets'
fake hub (tests/transport/fake_hub.hpp: dev1, dev1/mod1 and the disabled `off`, same keys), so the
recorded tokens authenticate there too. Each scenario runs one client over plain TCP, through a
proxy that records the client's bytes, and writes them to fuzz/corpus/<target>/capture-<name>
after a 0 byte (the targets' "whole reads" selector):
  * mqtt_session: python3-paho-mqtt (connect, subscribe, answer a method call, twin, telemetry,
    ping, unsubscribe, disconnect; module; refused and MQTT 5 connects);
  * amqp_session: the e2e tests' python3-qpid-proton engine client (SASL MSSBCBS, ANONYMOUS,
    PLAIN or none; CBS put-token; method links; answer to a method call).
Tokens expire in 2100, so the seeds stay valid. Rerun after protocol changes; commit the output.
"""

import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import paho.mqtt.client as paho  # noqa: E402
from proton import Message, int32, ulong  # noqa: E402

from hub import Hub, sas_token  # noqa: E402
import test_amqp  # noqa: E402

KEY_A = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE="
KEY_B = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI="
FAR_FUTURE = 4102444800
USERNAME = "localhost/{}/?api-version=2021-04-12"


def token(resource, key, policy=None):
    return sas_token(resource, key, policy, expiry=FAR_FUTURE)


class RecordingProxy:
    """Accepts one client on 127.0.0.1, forwards both ways to `port`, records the client's bytes."""

    def __init__(self, port):
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.recorded = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return self.listener.getsockname()

    def _run(self):
        client, _ = self.listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.port))

        def pipe(src, dst, record):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if record:
                        self.recorded += data
                    dst.sendall(data)
            except OSError:
                pass
            for s in (dst,):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        back = threading.Thread(target=pipe, args=(upstream, client, False), daemon=True)
        back.start()
        pipe(client, upstream, True)
        back.join(5)
        client.close()
        upstream.close()

    def finish(self):
        self.thread.join(10)
        self.listener.close()
        return bytes(self.recorded)


def write_seed(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"capture-{name}"), "wb") as f:
        f.write(b"\x00" + data)
    print(f"{target}/capture-{name}: {len(data)} bytes")


def invoke(hub, device_id, module_id=None, method="reboot"):
    """POSTs a method call in the background; the device answers it."""
    path = f"/twins/{device_id}" + (f"/modules/{module_id}" if module_id else "") + "/methods"
    body = {"methodName": method, "payload": {"delay": 1}, "responseTimeoutInSeconds": 10,
            "connectTimeoutInSeconds": 5}
    t = threading.Thread(target=lambda: hub.request("POST", path, body, timeout_s=30), daemon=True)
    t.start()
    return t


# --- MQTT ----------------------------------------------------------------------------------------

def paho_session(hub, name, client_id, username, password, script, protocol=paho.MQTTv311,
                 clean=True):
    proxy = RecordingProxy(hub.port("mqtt"))
    kwargs = {} if protocol == paho.MQTTv5 else {"clean_session": clean}
    c = paho.Client(client_id=client_id, protocol=protocol, **kwargs)
    c.username_pw_set(username, password)
    got = threading.Event()
    c.on_message = lambda client, userdata, msg: (client.user_data_set(msg), got.set())
    c.on_subscribe = lambda *a: None
    c.connect(*proxy.address, keepalive=60)
    c.loop_start()
    try:
        script(c, got)
    finally:
        time.sleep(0.3)
        c.disconnect()
        time.sleep(0.2)
        c.loop_stop()
    write_seed("mqtt_session", name, proxy.finish())


def device_flow(hub, device_id, module_id=None):
    who = device_id + (f"/modules/{module_id}" if module_id else "")
    topic_dev = f"devices/{device_id}" + (f"/modules/{module_id}" if module_id else "")

    def script(c, got):
        time.sleep(0.3)
        c.subscribe([("$iothub/methods/POST/#", 0), ("$iothub/twin/res/#", 0)])
        time.sleep(0.3)
        t = invoke(hub, device_id, module_id)
        if got.wait(10):
            rid = c._userdata.topic.split("$rid=")[1]
            c.publish(f"$iothub/methods/res/200/?$rid={rid}", json.dumps({"ok": True}), qos=1)
        t.join(15)
        c.publish("$iothub/twin/GET/?$rid=7", b"", qos=0)
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=8", json.dumps({"fw": "1.0"}), qos=1)
        c.publish(f"{topic_dev}/messages/events/", b"telemetry", qos=1)
        time.sleep(0.2)
        c._send_pingreq()
        time.sleep(0.2)
        c.unsubscribe("$iothub/methods/POST/#")
        time.sleep(0.2)

    client_id = device_id + (f"/{module_id}" if module_id else "")
    user = USERNAME.format(client_id)
    pw = token(f"localhost/devices/{who}", KEY_B if module_id else KEY_A)
    return client_id, user, pw, script


def capture_mqtt(hub):
    cid, user, pw, script = device_flow(hub, "dev1")
    paho_session(hub, "paho-device-methods-twin", cid, user, pw, script)
    cid, user, pw, script = device_flow(hub, "dev1", "mod1")
    paho_session(hub, "paho-module-methods", cid, user, pw, script)
    idle = lambda c, got: time.sleep(0.3)  # noqa: E731
    paho_session(hub, "paho-persistent-session", "dev1", USERNAME.format("dev1"),
                 token("localhost/devices/dev1", KEY_A), idle, clean=False)
    paho_session(hub, "paho-bad-token", "dev1", USERNAME.format("dev1"),
                 token("localhost/devices/dev1", KEY_B), idle)
    paho_session(hub, "paho-disabled-device", "off", USERNAME.format("off"),
                 token("localhost/devices/off", KEY_A), idle)
    paho_session(hub, "paho-mqtt5", "dev1", USERNAME.format("dev1"),
                 token("localhost/devices/dev1", KEY_A), idle, protocol=paho.MQTTv5)


# --- AMQP ----------------------------------------------------------------------------------------

class RecordingSocket:
    """A socket whose sent bytes are kept (the proton engine client writes through sendall)."""

    def __init__(self, sock):
        self.sock = sock
        self.sent = bytearray()

    def sendall(self, data):
        self.sent += data
        return self.sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def amqp_session(hub, name, sasl, initial_response, identities, message_id, absolute):
    sock = RecordingSocket(socket.create_connection(("127.0.0.1", hub.port("amqp")), timeout=10))
    if sasl:
        test_amqp.sasl_handshake(sock, sasl, initial_response)
    c = test_amqp.Client(sock)
    helper = test_amqp.AmqpTestBase()
    helper.hub = hub
    try:
        for i, (device_id, module_id, key, policy) in enumerate(identities):
            who = device_id + (f"/modules/{module_id}" if module_id else "")
            audience = "localhost" if policy else f"localhost/devices/{who}"
            if sasl != "PLAIN" or i > 0:
                helper.put_token(c, token(audience, key, policy), message_id(i), audience)
            prefix = "amqps://localhost" if absolute else ""
            address = f"{prefix}/devices/{who}/methods/devicebound"
            snd, rcv = helper.open_methods(c, address, name=f"m{i}")
            t = invoke(hub, device_id, module_id)
            c.wait(lambda: c.messages(rcv), "method request")
            req = c.messages(rcv).pop(0)
            helper.answer(c, snd, req, status=200, body=b'{"ok":true}')
            t.join(15)
        c.close()
    finally:
        sock.close()
    write_seed("amqp_session", name, bytes(sock.sent))


def capture_amqp(hub):
    dev = ("dev1", None, KEY_A, None)
    mod = ("dev1", "mod1", KEY_B, None)
    amqp_session(hub, "proton-c-like-mssbcbs", "MSSBCBS", None, [dev], lambda i: ulong(i + 1), True)
    amqp_session(hub, "proton-java-like-anonymous-module", "ANONYMOUS", None, [mod],
                 lambda i: test_amqp.uuid.uuid4(), False)
    amqp_session(hub, "proton-node-like-no-sasl-two-identities", None, None, [dev, mod],
                 lambda i: f"id-{i}", False)
    plain = b"\0dev1@sas.localhost\0" + token("localhost/devices/dev1", KEY_A).encode()
    amqp_session(hub, "proton-plain", "PLAIN", plain, [dev], lambda i: ulong(i + 1), False)
    amqp_session(hub, "proton-hub-policy-token", "MSSBCBS", None, [("dev1", None, KEY_B, "device")],
                 lambda i: ulong(i + 1), True)


# --- hand-made variants ---------------------------------------------------------------------------

def variants():
    """Seeds the clients above do not send: packets split into small reads, and misbehaviour."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
    import mqtt_raw as m

    corpus = os.path.join(HERE, "corpus")
    with open(os.path.join(corpus, "mqtt_session", "capture-paho-device-methods-twin"), "rb") as f:
        device = f.read()[1:]
    with open(os.path.join(corpus, "amqp_session", "capture-proton-c-like-mssbcbs"), "rb") as f:
        amqp = f.read()[1:]

    def seed(target, name, data, chunk=0):
        with open(os.path.join(corpus, target, name), "wb") as f:
            f.write(bytes([chunk]) + data)

    pw = token("localhost/devices/dev1", KEY_A)
    connect = m.connect_packet("dev1", USERNAME.format("dev1"), pw)
    seed("mqtt_session", "split-1-byte-reads", device, chunk=1)
    seed("mqtt_session", "split-7-byte-reads", device, chunk=7)
    seed("mqtt_session", "second-connect", connect + m.packet(m.PINGREQ, 0) + connect)
    seed("mqtt_session", "garbage-after-connect", connect + b"\xff\x00GET / HTTP/1.1\r\n\r\n")
    seed("mqtt_session", "qos2-publish", connect + m.publish_packet("devices/dev1/messages/events/", b"x", qos=2, pid=3))
    seed("mqtt_session", "unsupported-topic", connect + m.publish_packet("devices/dev2/messages/events/", b"x"))
    seed("mqtt_session", "subscription-limit", connect + m.subscribe_packet(
        5, ["$iothub/methods/POST/#", "a/b", "$iothub/twin/res/#", "devices/dev1/messages/devicebound/#",
            "$iothub/twin/PATCH/properties/desired/#", "#"]))
    seed("mqtt_session", "qos2-flow-packets", connect + m.puback_packet(9) + m.packet(m.PUBREL, 2, b"\x00\x09"))
    seed("mqtt_session", "first-packet-not-connect", m.packet(m.PINGREQ, 0) + connect)
    seed("mqtt_session", "module-id-empty", m.connect_packet("dev1/", USERNAME.format("dev1/"), pw))
    seed("mqtt_session", "username-other-device", m.connect_packet("dev1", USERNAME.format("dev2"), pw))
    seed("mqtt_session", "no-password", m.connect_packet("dev1", USERNAME.format("dev1")))
    seed("mqtt_session", "mqtt31-connect", m.connect_packet("dev1", USERNAME.format("dev1"), pw,
                                                            protocol_level=3, protocol_name="MQIsdp"))
    seed("amqp_session", "split-1-byte-reads", amqp, chunk=1)
    seed("amqp_session", "split-13-byte-reads", amqp, chunk=13)
    seed("amqp_session", "not-amqp", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    seed("amqp_session", "tls-header", b"AMQP\x02\x01\x00\x00")
    seed("amqp_session", "sasl-then-garbage", b"AMQP\x03\x01\x00\x00" + b"\x00\x00\x00\x10\x02\x01\x00\x00garbage!")
    seed("amqp_session", "truncated", amqp[: len(amqp) // 2])


def main():
    data_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"methodhub-capture-{os.getpid()}")
    os.makedirs(data_dir)
    with open(os.path.join(data_dir, "policies.json"), "w") as f:
        json.dump({"policies": [
            {"name": "iothubowner", "primaryKey": KEY_A, "secondaryKey": KEY_B,
             "rights": ["RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect"]},
            {"name": "device", "primaryKey": KEY_B, "secondaryKey": KEY_A, "rights": ["DeviceConnect"]},
        ]}, f)
    os.chmod(os.path.join(data_dir, "policies.json"), 0o600)
    hub = Hub(data_dir=data_dir, extra_args=["--mqtt-tcp-port", "0", "--amqp-tcp-port", "0"])
    hub.owns_dir = True
    with hub:
        keys = {"authentication": {"type": "sas", "symmetricKey": {"primaryKey": KEY_A,
                                                                   "secondaryKey": KEY_B}}}
        hub.create_device("dev1", **keys)
        hub.create_module("dev1", "mod1", authentication={
            "type": "sas", "symmetricKey": {"primaryKey": KEY_B, "secondaryKey": KEY_A}})
        hub.create_device("off", status="disabled", **keys)
        capture_mqtt(hub)
        capture_amqp(hub)
    variants()


if __name__ == "__main__":
    main()
