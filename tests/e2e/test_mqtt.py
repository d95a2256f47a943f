"""The MQTT 3.1.1 device head (spec/protocol.md §3, sdk-wire.md §4) with real clients and raw bytes.

Clients: paho-mqtt 1.6 (Debian's python3-paho-mqtt) over TLS, the raw client of mqtt_raw.py over
plain TCP and TLS, and mosquitto_sub / mosquitto_pub.
"""

import json
import queue
import shutil
import ssl
import subprocess
import threading
import time
import unittest

import paho.mqtt.client as paho

from hub import Hub, SharedHubCase, mqtt_client_id, new_id, mqtt_username, random_key, wait_for
from mqtt_raw import (METHODS_FILTER, PINGRESP, PUBACK, PUBLISH, Closed, Device, RawClient,
                      packet, publish_packet, subscribe_packet, varint)

EXTRA_PORTS = ["--mqtt-tcp-port", "0", "--http-port", "0"]


class MqttCase(SharedHubCase):
    base_args = EXTRA_PORTS
    pool_workers = 8

    # --- helpers ---------------------------------------------------------------------------------

    def new_device(self, device_id=None, **fields):
        device_id = device_id or new_id()
        d = self.hub.create_device(device_id, **fields)
        return device_id, d["authentication"]["symmetricKey"]["primaryKey"]

    def username(self, device_id, module_id=None):
        return mqtt_username(self.hub.hostname, device_id, module_id)

    def token(self, device_id, key, **kw):
        return self.hub.device_token(device_id, key, **kw)

    def raw(self, tls=False):
        c = RawClient.to_hub(self.hub, tls)
        self.addCleanup(c.close)
        return c

    def connected(self, device_id, key, tls=False, **kw):
        c = self.raw(tls)
        ack = c.connect(device_id, self.username(device_id), self.token(device_id, key), **kw)
        self.assertEqual(ack.return_code, 0, ack)
        return c

    def invoke(self, device_id, method="m", payload=None, timeout_s=40, **fields):
        body = {"methodName": method, **fields}
        if payload is not None:
            body["payload"] = payload
        return self.hub.request("POST", f"/twins/{device_id}/methods", body, timeout_s=timeout_s)

    def assertInvokeError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(json.loads(r.json()["Message"])["errorCode"], code, r)

    def assertClosed(self, c, within_s=3, what="the hub did not close the connection"):
        self.assertTrue(c.wait_closed(within_s), what)

    def assertHubHealthy(self):
        """The process is alive and a new device still round-trips a method."""
        self.assertIsNone(self.hub.proc.poll(), f"hub process exited\n{self.hub.log()}")
        device_id, key = self.new_device()
        c = self.connected(device_id, key)
        self.assertEqual(c.subscribe([(METHODS_FILTER, 0)]), [0])
        dev = Device(c, handler=lambda r: (200, r.payload)).start()
        self.addCleanup(dev.stop)
        r = self.invoke(device_id, payload={"alive": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"status":200,"payload":{"alive": true}}')


class PahoTest(MqttCase):
    """paho-mqtt as the Python device SDK uses MQTT: TLS, 3.1.1, CleanSession=0, QoS 1."""

    def paho_device(self, device_id, key, clean_session=False, answer=True):
        events = {"connack": queue.Queue(), "suback": queue.Queue(), "published": set(),
                  "answers": queue.Queue(), "requests": queue.Queue(), "disconnected": threading.Event()}
        client = paho.Client(client_id=device_id, clean_session=clean_session, protocol=paho.MQTTv311)
        client.username_pw_set(self.username(device_id), self.token(device_id, key))
        client.tls_set(ca_certs=self.hub.ca_path, tls_version=ssl.PROTOCOL_TLS_CLIENT)

        def on_connect(c, userdata, flags, rc):
            events["connack"].put((flags.get("session present"), rc))

        def on_subscribe(c, userdata, mid, granted):
            events["suback"].put(granted)

        def on_message(c, userdata, msg):
            events["requests"].put((msg.topic, msg.payload, msg.qos))
            if answer and msg.topic.startswith("$iothub/methods/POST/"):
                rid = msg.topic.split("?$rid=", 1)[1]
                info = c.publish(f"$iothub/methods/res/200/?$rid={rid}", msg.payload, qos=1)
                events["answers"].put(info)

        def on_publish(c, userdata, mid):
            events["published"].add(mid)

        def on_disconnect(c, userdata, rc):
            events["disconnected"].set()

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        client.on_publish, client.on_disconnect = on_publish, on_disconnect
        client.connect("localhost", self.hub.port("mqtts"), keepalive=60)
        client.loop_start()
        self.addCleanup(client.loop_stop)
        self.addCleanup(client.disconnect)
        try:
            session_present, rc = events["connack"].get(timeout=10)
        except queue.Empty:
            self.fail("paho got no CONNACK within 10 s")
        self.assertEqual(rc, 0, "paho CONNACK return code")
        return client, events, session_present

    def paho_disconnect(self, client, events):
        client.disconnect()
        self.assertTrue(events["disconnected"].wait(5), "paho did not see its disconnect complete")
        client.loop_stop()

    def assertAnsweredAtQos1(self, events):
        try:
            info = events["answers"].get(timeout=5)
        except queue.Empty:
            self.fail("the paho device did not answer")
        info.wait_for_publish(5)
        self.assertTrue(info.is_published(), "the hub did not PUBACK the QoS 1 method response")
        self.assertIn(info.mid, events["published"], "paho on_publish did not fire")

    def test_session_survives_clean_disconnect(self):
        device_id, key = self.new_device()
        client, events, sp = self.paho_device(device_id, key)
        self.assertEqual(sp, 0, "first connection: no session yet")
        client.subscribe(METHODS_FILTER, qos=1)
        self.assertEqual(events["suback"].get(timeout=5), (1,))

        r = self.invoke(device_id, "echo", {"n": 1})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"status":200,"payload":{"n": 1}}')
        self.assertAnsweredAtQos1(events)
        self.paho_disconnect(client, events)

        # reconnect WITHOUT subscribing (the Python SDK renews its SAS token this way)
        client2, events2, sp2 = self.paho_device(device_id, key)
        self.assertEqual(sp2, 1, "CONNACK session-present after a CleanSession=0 reconnect")
        r = self.invoke(device_id, "echo", [2])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"status":200,"payload":[2]}')
        self.assertAnsweredAtQos1(events2)
        topic, payload, qos = events2["requests"].get(timeout=1)
        self.assertRegex(topic, r"^\$iothub/methods/POST/echo/\?\$rid=[0-9a-fA-F]+$")
        self.assertEqual(payload, b"[2]")
        self.paho_disconnect(client2, events2)

        # CleanSession=1 discards the session: nothing subscribed, no method delivered
        client3, events3, sp3 = self.paho_device(device_id, key, clean_session=True)
        self.assertEqual(sp3, 0, "session-present with CleanSession=1")
        self.assertInvokeError(self.invoke(device_id, "echo"), 404, 404103)
        self.assertTrue(events3["requests"].empty())
        self.paho_disconnect(client3, events3)

        # ... and it stays discarded for the next CleanSession=0 connection
        client4, events4, sp4 = self.paho_device(device_id, key)
        self.assertEqual(sp4, 0, "session-present after a CleanSession=1 connection discarded it")
        self.assertInvokeError(self.invoke(device_id, "echo"), 404, 404103)


class SessionAfterDeleteTest(MqttCase):
    def test_deleting_a_device_ends_its_persistent_session(self):
        """A deleted device's CleanSession=0 session goes with it: a device created again under the
        same id is a new device, with no session (session-present 0) and no method subscription."""
        device_id, key = self.new_device()
        c = self.connected(device_id, key, clean=False)
        self.assertEqual(c.subscribe([(METHODS_FILTER, 0)]), [0])
        c.disconnect()
        self.assertEqual(self.hub.request("DELETE", f"/devices/{device_id}").status, 204)

        _, key2 = self.new_device(device_id)
        c2 = self.raw()
        ack = c2.connect(device_id, self.username(device_id), self.token(device_id, key2), clean=False)
        self.assertEqual(ack.return_code, 0, ack)
        self.assertEqual(ack.session_present, 0, "the deleted device's session was resumed")
        self.assertInvokeError(self.invoke(device_id, "echo"), 404, 404103)


class SubscribeTest(MqttCase):
    def test_duplicate_identical_subscribes_are_harmless(self):
        device_id, key = self.new_device()
        c = self.connected(device_id, key, clean=False)
        pids = []
        for _ in range(4):  # like the Node SDK: four SUBSCRIBEs before the first SUBACK
            pid = c.pid()
            pids.append(pid)
            c.send(subscribe_packet(pid, [(METHODS_FILTER, 0)]))
        acks = [c.expect(9, 5) for _ in range(4)]
        self.assertEqual([a.packet_id for a in acks], pids)
        self.assertEqual([a.granted for a in acks], [[0]] * 4)

        dev = Device(c, handler=lambda r: (200, b'"once"')).start()
        self.addCleanup(dev.stop)
        r = self.invoke(device_id)
        self.assertEqual(r.body, b'{"status":200,"payload":"once"}', r)
        dev.next_request(1)
        dev.sync()
        self.assertTrue(dev.requests.empty(), "the method request was delivered more than once")

    def test_granted_qos(self):
        device_id, key = self.new_device()
        c = self.connected(device_id, key)
        for requested, granted in ((0, 0), (1, 1), (2, 1)):
            with self.subTest(requested=requested):
                self.assertEqual(c.subscribe([(METHODS_FILTER, requested)]), [granted])
        # several filters in one SUBSCRIBE (the C SDK sends up to 5)
        self.assertEqual(c.subscribe([(METHODS_FILTER, 0), ("$iothub/twin/res/#", 0),
                                      ("$iothub/twin/PATCH/properties/desired/#", 2)]), [0, 0, 1])

    def test_filter_for_another_device_refused(self):
        device_id, key = self.new_device()
        other, _ = self.new_device()
        c = self.connected(device_id, key)
        self.assertEqual(c.subscribe([(f"devices/{other}/messages/devicebound/#", 1)]), [0x80])
        self.assertEqual(c.subscribe([(f"devices/{other}/messages/devicebound/#", 1), (METHODS_FILTER, 1)]),
                         [0x80, 1])


class ConnackTest(MqttCase):
    def refused(self, client_id, username, password, expected_rc, tls=False, **kw):
        c = self.raw(tls)
        ack = c.connect(client_id, username, password, **kw)
        self.assertEqual(ack.return_code, expected_rc, ack)
        self.assertEqual(ack.session_present, 0, ack)
        self.assertClosed(c, 3, "the hub kept a refused connection open")

    def test_wrong_key(self):
        device_id, _ = self.new_device()
        self.refused(device_id, self.username(device_id), self.token(device_id, random_key()), 5)
        self.refused(device_id, self.username(device_id), self.token(device_id, random_key()), 5, tls=True)

    def test_expired_token(self):
        device_id, key = self.new_device()
        self.refused(device_id, self.username(device_id),
                     self.token(device_id, key, expiry=time.time() - 600), 5)

    def test_unknown_device(self):
        device_id = new_id("ghost")
        self.refused(device_id, self.username(device_id), self.token(device_id, random_key()), 5)

    def test_disabled_device(self):
        device_id, key = self.new_device(status="disabled")
        self.refused(device_id, self.username(device_id), self.token(device_id, key), 3)

    def test_username_client_id_mismatch(self):
        device_id, key = self.new_device()
        other, _ = self.new_device()
        self.refused(device_id, self.username(other), self.token(device_id, key), 2)

    def test_no_password(self):
        device_id, _ = self.new_device()
        self.refused(device_id, self.username(device_id), None, 4)

    def test_mqtt5_connect_refused(self):
        device_id, key = self.new_device()
        self.refused(device_id, self.username(device_id), self.token(device_id, key), 1, protocol_level=5)

    def test_first_packet_not_connect(self):
        for first in (packet(12, 0),  # PINGREQ
                      subscribe_packet(1, [(METHODS_FILTER, 1)]),
                      publish_packet("devices/x/messages/events/", b"hi")):
            with self.subTest(first=first):
                c = self.raw()
                c.send(first)
                self.assertClosed(c)

    def test_module_connects_with_module_key(self):
        device_id, _ = self.new_device()
        m = self.hub.create_module(device_id, "mod")
        mkey = m["authentication"]["symmetricKey"]["primaryKey"]
        c = self.raw()
        ack = c.connect(mqtt_client_id(device_id, "mod"), self.username(device_id, "mod"),
                        self.token(device_id, mkey, module_id="mod"))
        self.assertEqual(ack.return_code, 0, ack)


class ConnectDeadlineTest(MqttCase):
    hub_args = ["--connect-deadline", "2"]

    def test_connect_never_sent(self):
        started = time.monotonic()
        plain, tls = self.raw(), self.raw(tls=True)
        closed_tls = self.pool.submit(tls.wait_closed, 6)
        self.assertTrue(plain.wait_closed(6), "plain connection without CONNECT not closed")
        took = time.monotonic() - started
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 4.5)
        self.assertTrue(closed_tls.result(8), "TLS connection without CONNECT not closed")
        self.assertHubHealthy()


class KeepAliveTest(MqttCase):
    def test_keep_alive_enforced_at_one_and_a_half(self):
        """keep-alive 2: a silent client is closed after 3 s (1.5x), not much later; a client that
        pings every second stays open for 5 s. Both run at the same time."""
        silent_id, silent_key = self.new_device()
        pinging_id, pinging_key = self.new_device()
        silent = self.connected(silent_id, silent_key, keepalive=2)
        silent_since = time.monotonic()
        silent_closed = self.pool.submit(lambda: (silent.wait_closed(8), time.monotonic()))
        pinging = self.connected(pinging_id, pinging_key, keepalive=2)
        started = time.monotonic()

        pongs = 0
        while time.monotonic() - started < 5.0:
            try:
                self.assertEqual(pinging.ping(2).type, PINGRESP)
            except (Closed, TimeoutError) as e:
                self.fail(f"a client pinging every second lost its connection after {pongs} PINGRESPs: {e!r}")
            pongs += 1
            next_ping = time.monotonic() + 1.0
            wait_for(lambda: time.monotonic() >= next_ping, 2, "the next ping time", interval_s=0.05)
        self.assertGreaterEqual(pongs, 5)
        self.assertEqual(pinging.ping(2).type, PINGRESP)

        closed, at = silent_closed.result(10)
        self.assertTrue(closed, "a silent client with keep-alive 2 was not closed within 8 s")
        took = at - silent_since
        self.assertGreaterEqual(took, 2.9, "closed before 1.5x keep-alive")
        self.assertLess(took, 5.5, "not closed by ~1.5x keep-alive")


class PublishTest(MqttCase):
    def test_qos2_publish_closes(self):
        device_id, key = self.new_device()
        c = self.connected(device_id, key)
        c.send(publish_packet(f"devices/{device_id}/messages/events/", b"x", qos=2, pid=1))
        self.assertClosed(c)

    def test_telemetry_qos1_acknowledged(self):
        device_id, key = self.new_device()
        c = self.connected(device_id, key)
        for topic in (f"devices/{device_id}/messages/events/",
                      f"devices/{device_id}/messages/events/a=1&%24.ct=application%2Fjson"):
            with self.subTest(topic=topic):
                ack = c.publish(topic, b'{"t":21.5}', qos=1, timeout_s=5)
                self.assertEqual(ack.type, PUBACK)
        c.publish(f"devices/{device_id}/messages/events/", b"qos0")
        self.assertEqual(c.ping().type, PINGRESP)

    def test_twin_get_and_patch(self):
        device_id, key = self.new_device()
        c = self.connected(device_id, key)
        self.assertEqual(c.subscribe([("$iothub/twin/res/#", 0)]), [0])
        c.publish("$iothub/twin/GET/?$rid=7", b"")
        p = c.expect(PUBLISH, 5)
        topic, _, body = p.publish()
        self.assertEqual(topic, "$iothub/twin/res/200/?$rid=7")
        twin = json.loads(body)
        self.assertIn("desired", twin, body)
        self.assertIn("reported", twin, body)

        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=8", b'{"fw":"1.0"}')
        p = c.expect(PUBLISH, 5)
        topic, _, _ = p.publish()
        self.assertRegex(topic, r"^\$iothub/twin/res/204/\?\$rid=8&\$version=\d+$")

    def test_unsupported_topic_closes(self):
        device_id, key = self.new_device()
        c = self.connected(device_id, key)
        c.send(publish_packet("foo/bar", b"x"))
        self.assertClosed(c)

    def test_garbage_and_oversized_packets_close_without_crash(self):
        device_id, key = self.new_device()
        cases = {
            "garbage first": (False, b"\xff\xff\xff\xff\xff"),
            "garbage after CONNECT": (True, b"\xff\xff\xff\xff\xff"),
            "remaining length over 5 bytes": (True, b"\x30\xff\xff\xff\xff\x7f"),
            "PUBLISH of 300 KB (header only)": (True, b"\x30" + varint(300 * 1024) + b"\x00\x05hello"),
            "CONNECT of 300 KB (header only)": (False, b"\x10" + varint(300 * 1024) + b"\x00\x04MQTT"),
            "truncated CONNECT body": (False, b"\x10\x04\x00\x04MQ\x10\x00"),
            "reserved type 0": (True, b"\x00\x00"),
            "reserved type 15": (True, b"\xf0\x00"),
        }
        for what, (connect_first, data) in cases.items():
            with self.subTest(what):
                c = self.connected(device_id, key) if connect_first else self.raw()
                c.send(data)
                self.assertClosed(c, 3, f"{what}: the hub kept the connection open")
                self.assertIsNone(self.hub.proc.poll(), f"hub died after {what}\n{self.hub.log()}")
        self.assertHubHealthy()

    def test_oversized_publish_closes_even_if_sent_whole(self):
        device_id, key = self.new_device()
        c = self.connected(device_id, key)
        try:
            c.send(publish_packet(f"devices/{device_id}/messages/events/", b"x" * (300 * 1024), qos=1, pid=1))
        except OSError:
            pass  # the hub may close while we are still writing
        self.assertClosed(c)
        self.assertHubHealthy()


@unittest.skipUnless(shutil.which("mosquitto_sub") and shutil.which("mosquitto_pub"),
                     "mosquitto clients are not installed")
class MosquittoTest(MqttCase):
    def tls_args(self, device_id, password):
        return ["-h", "localhost", "-p", str(self.hub.port("mqtts")), "--cafile", self.hub.ca_path,
                "-V", "mqttv311", "-i", device_id, "-u", self.username(device_id), "-P", password]

    def test_mosquitto_sub_receives_method_request(self):
        device_id, key = self.new_device()
        sub = subprocess.Popen(["mosquitto_sub", *self.tls_args(device_id, self.token(device_id, key)),
                                "-t", METHODS_FILTER, "-q", "1", "-v", "-C", "1", "-W", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: sub.poll() is None and sub.kill())
        payload = b'{"a" : [1, 2.50], "s":"x y"}'
        # the hub holds the call until mosquitto_sub has subscribed (connect timeout)
        r = self.hub.request("POST", f"/twins/{device_id}/methods",
                             b'{"methodName":"reboot","connectTimeoutInSeconds":15,'
                             b'"responseTimeoutInSeconds":5,"payload":' + payload + b"}", timeout_s=30)
        out, err = sub.communicate(timeout=20)
        self.assertEqual(sub.returncode, 0, err)
        topic, _, got = out.rstrip(b"\n").partition(b" ")
        self.assertRegex(topic.decode(), r"^\$iothub/methods/POST/reboot/\?\$rid=[0-9a-fA-F]+$")
        self.assertEqual(got, payload)
        # mosquitto_sub left after one message without answering: the call ends at once
        self.assertInvokeError(r, 404, 404103)

    def test_mosquitto_pub_wrong_password(self):
        device_id, key = self.new_device()
        p = subprocess.run(["mosquitto_pub", *self.tls_args(device_id, self.token(device_id, random_key())),
                            "-t", f"devices/{device_id}/messages/events/", "-m", "hi", "-q", "1"],
                           capture_output=True, timeout=20)
        out = (p.stdout + p.stderr).decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, out)
        self.assertTrue("not authorised" in out.lower() or "5" in out, out)

    def test_mosquitto_pub_telemetry(self):
        device_id, key = self.new_device()
        p = subprocess.run(["mosquitto_pub", *self.tls_args(device_id, self.token(device_id, key)),
                            "-t", f"devices/{device_id}/messages/events/", "-m", '{"t":1}', "-q", "1"],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode(errors="replace"))


if __name__ == "__main__":
    unittest.main()
