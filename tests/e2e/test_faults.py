"""Faults the hub survives (issue #7 §3), each against the real binary over real sockets.

  * a device that drops mid-call (MQTT and AMQP): the call is answered at once, nothing is left;
  * a device that never answers: 504 at the deadline, nothing is left;
  * half-open connections (the peer neither reads nor writes nor closes): MQTT keep-alive and the
    AMQP idle-time-out end them, and the pending call is answered; a peer's own AMQP idle-time-out
    is honoured with empty frames;
  * kill -9 during registry writes: every acknowledged write is there after the restart, with its
    keys, and SQLite's integrity check passes;
  * SIGTERM with calls in flight: they are answered (503001), device connections are closed, and
    the hub exits 0 within a bound;
  * a full disk (a file-size limit of 0 on the hub process, so that every write to the data
    directory fails with EFBIG; portable, needs no mount): registry writes answer 503001, reads and
    invocations go on, the hub stays up, and writes work again once space returns.

"Nothing is left" is read from /metrics: methodhub_pending_calls and methodhub_waiting_calls.
The official-SDK restart test lives in tests/compat/restart.test.js; the soak in bench/soak.
"""

import json
import resource
import signal
import socket
import sqlite3
import threading
import time
import unittest

from proton import Collector, Connection, Endpoint, Message, Transport

from hub import (Hub, SharedHubCase, mqtt_client_id, mqtt_username, new_id, random_key,
                 url_encode, wait_for)
from mqtt_raw import METHODS_FILTER, Device, RawClient
from test_amqp import Client as AmqpClient

DEADLINE_S = 15.0
AMQP_IDLE_TIMEOUT_S = 3


def error_code(r):
    return json.loads(r.json()["Message"])["errorCode"]


def metrics(hub):
    """The hub's gauges and counters as {name: float}."""
    r = hub.request("GET", "/metrics", token=None, api_version=None)
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class FaultCase(SharedHubCase):
    hub_args = ["--mqtt-tcp-port", "0", "--amqp-tcp-port", "0",
                "--amqp-idle-timeout", str(AMQP_IDLE_TIMEOUT_S)]
    pool_workers = 32

    # helpers -----------------------------------------------------------------------------------
    def new_device(self):
        device_id = new_id("fault")
        d = self.hub.create_device(device_id)
        return device_id, d["authentication"]["symmetricKey"]["primaryKey"]

    def mqtt_device(self, device_id, key, keepalive=60, reader=True, handler=None):
        c = RawClient.tcp("127.0.0.1", self.hub.port("mqtt"))
        self.addCleanup(c.close)
        ack = c.connect(mqtt_client_id(device_id), mqtt_username(self.hub.hostname, device_id),
                        self.hub.device_token(device_id, key), keepalive=keepalive)
        self.assertEqual(ack.return_code, 0)
        self.assertEqual(c.subscribe([(METHODS_FILTER, 0)]), [0])
        if not reader:
            return c
        dev = Device(c, handler=handler).start()
        self.addCleanup(dev.stop)
        return dev

    def amqp_device(self, device_id, key):
        """A Node-like AMQP device (no SASL, CBS token, method links); returns (client, sender, receiver)."""
        sock = socket.create_connection(("127.0.0.1", self.hub.port("amqp")), timeout=10)
        c = AmqpClient(sock)
        self.addCleanup(c.close)
        c.cbs = (c.sender("$cbs-sender", "$cbs"), c.receiver("$cbs-receiver", "$cbs"))
        c.wait_attached(c.cbs[0])
        c.wait_attached(c.cbs[1])
        token = self.hub.device_token(device_id, key)
        c.send(c.cbs[0], Message(id="t1", reply_to="cbs", address="$cbs", body=token,
                                 properties={"operation": "put-token",
                                             "type": "servicebus.windows.net:sastoken",
                                             "name": f"localhost/devices/{device_id}"}))
        c.wait(lambda: c.messages(c.cbs[1]), "CBS reply")
        self.assertEqual(c.messages(c.cbs[1])[0].properties["status-code"], 200)
        address = f"/devices/{device_id}/methods/devicebound"
        snd = c.wait_attached(c.sender("responses", address))
        rcv = c.wait_attached(c.receiver("requests", address))
        self.assertTrue(rcv.state & Endpoint.REMOTE_ACTIVE)
        return c, snd, rcv

    def invoke(self, device_id, response_timeout=30, connect_timeout=0):
        body = {"methodName": "m", "payload": None, "responseTimeoutInSeconds": response_timeout,
                "connectTimeoutInSeconds": connect_timeout}
        return self.hub.request("POST", f"/twins/{url_encode(device_id)}/methods", body,
                                timeout_s=response_timeout + connect_timeout + 30)

    def submit_invoke(self, device_id, **kw):
        return self.pool.submit(self.invoke, device_id, **kw)

    def wait_gauge(self, name, value, what):
        wait_for(lambda: metrics(self.hub).get(name) == value, DEADLINE_S, f"{name} == {value} ({what})",
                 interval_s=0.05)

    def assertNothingLeft(self):
        m = metrics(self.hub)
        self.assertEqual(m["methodhub_pending_calls"], 0, m)
        self.assertEqual(m["methodhub_waiting_calls"], 0, m)

    def assertAnsweredSoon(self, fut, since, within_s, status, code):
        r = fut.result(DEADLINE_S + within_s)
        took = time.monotonic() - since
        self.assertEqual(r.status, status, r)
        self.assertEqual(error_code(r), code, r)
        self.assertLess(took, within_s, f"answered after {took:.1f} s: {r}")
        return took


class DeviceLeavesTest(FaultCase):
    def test_mqtt_device_drops_mid_call_answered_at_once_nothing_left(self):
        device_id, key = self.new_device()
        dev = self.mqtt_device(device_id, key)
        fut = self.submit_invoke(device_id, response_timeout=60)
        dev.next_request(DEADLINE_S)
        self.wait_gauge("methodhub_pending_calls", 1, "the call is out")
        dropped = time.monotonic()
        dev.stop()  # socket closed, no DISCONNECT
        self.assertAnsweredSoon(fut, dropped, 3.0, 404, 404103)
        self.assertNothingLeft()

    def test_amqp_device_drops_mid_call_answered_at_once_nothing_left(self):
        device_id, key = self.new_device()
        c, snd, rcv = self.amqp_device(device_id, key)
        fut = self.submit_invoke(device_id, response_timeout=60)
        c.wait(lambda: c.messages(rcv), "method request")
        self.wait_gauge("methodhub_pending_calls", 1, "the call is out")
        dropped = time.monotonic()
        c.sock.close()  # no close frame
        self.assertAnsweredSoon(fut, dropped, 3.0, 404, 404103)
        self.assertNothingLeft()

    def test_device_never_answers_504_at_the_deadline_nothing_left(self):
        device_id, key = self.new_device()
        dev = self.mqtt_device(device_id, key)  # no handler: never answers
        started = time.monotonic()
        fut = self.submit_invoke(device_id, response_timeout=5)
        dev.next_request(DEADLINE_S)
        r = fut.result(DEADLINE_S)
        took = time.monotonic() - started
        self.assertEqual(r.status, 504, r)
        self.assertEqual(error_code(r), 504101, r)
        self.assertGreaterEqual(took, 5.0)
        self.assertLess(took, 7.5)
        self.assertNothingLeft()
        self.assertFalse(dev.closed.is_set(), "a slow device is not a reason to drop it")

    def test_device_never_connects_404_at_the_connect_deadline_nothing_left(self):
        device_id, _ = self.new_device()
        fut = self.submit_invoke(device_id, response_timeout=5, connect_timeout=3)
        self.wait_gauge("methodhub_waiting_calls", 1, "the call waits for its device")
        r = fut.result(DEADLINE_S)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(error_code(r), 404103, r)
        self.assertNothingLeft()

    def test_many_abandoned_calls_leave_nothing(self):
        """Twenty calls: ten to devices that drop, ten that time out; the gauges return to zero."""
        futs, devs = [], []
        for _ in range(10):
            device_id, key = self.new_device()
            dev = self.mqtt_device(device_id, key)
            devs.append(dev)
            futs += [self.submit_invoke(device_id, response_timeout=10) for _ in range(2)]
        wait_for(lambda: metrics(self.hub)["methodhub_pending_calls"] == 20, DEADLINE_S,
                 "20 calls out")
        for dev in devs[:5]:
            dev.stop()
        codes = sorted(error_code(f.result(DEADLINE_S)) for f in futs)
        self.assertEqual(codes, [404103] * 10 + [504101] * 10)
        self.assertNothingLeft()


class HalfOpenTest(FaultCase):
    def test_mqtt_silent_peer_closed_by_keep_alive_and_its_call_answered(self):
        """The device neither reads nor writes after SUBSCRIBE: keep-alive 2 s ends it at ~3 s."""
        device_id, key = self.new_device()
        c = self.mqtt_device(device_id, key, keepalive=2, reader=False)
        silent_since = time.monotonic()
        fut = self.submit_invoke(device_id, response_timeout=60)
        took = self.assertAnsweredSoon(fut, silent_since, 8.0, 404, 404103)
        self.assertGreaterEqual(took, 2.5, "closed before 1.5 x keep-alive")
        self.assertTrue(c.wait_closed(5), "the socket of a silent device is still open")
        self.assertNothingLeft()

    def test_amqp_open_advertises_half_the_idle_timeout(self):
        sock = socket.create_connection(("127.0.0.1", self.hub.port("amqp")), timeout=10)
        c = AmqpClient(sock)
        self.addCleanup(c.close)
        c.wait(lambda: c.conn.state & Endpoint.REMOTE_ACTIVE, "the hub's Open")
        self.assertAlmostEqual(c.transport.remote_idle_timeout, AMQP_IDLE_TIMEOUT_S / 2, places=3)

    def test_amqp_silent_peer_closed_after_idle_timeout_and_its_call_answered(self):
        device_id, key = self.new_device()
        c, snd, rcv = self.amqp_device(device_id, key)
        silent_since = time.monotonic()  # from here the client neither reads nor writes
        fut = self.submit_invoke(device_id, response_timeout=60)
        took = self.assertAnsweredSoon(fut, silent_since, AMQP_IDLE_TIMEOUT_S + 4.0, 404, 404103)
        self.assertGreaterEqual(took, AMQP_IDLE_TIMEOUT_S - 0.5, "closed before the idle timeout")
        # Whatever the hub sent before closing is still buffered; then EOF.
        c.sock.settimeout(5)
        while True:
            data = c.sock.recv(65536)
            if not data:
                break
        self.assertNothingLeft()

    def test_amqp_peer_idle_timeout_honoured_and_live_peer_kept(self):
        """The client asks for a frame at least every second (idle-time-out 1 s) and sends only
        what its own Proton needs for the hub's 1.5 s: both stay up past the hub's 3 s timeout,
        so the hub sent empty frames in time and did not drop a peer that keeps to the rules."""
        device_id, key = self.new_device()
        sock = socket.create_connection(("127.0.0.1", self.hub.port("amqp")), timeout=10)
        c = AmqpClient.__new__(AmqpClient)
        # as AmqpClient.__init__, with the transport's idle timeout set before Open goes out
        c.sock, c.closed, c.received = sock, False, {}
        c.conn = Connection()
        c.conn.container, c.conn.hostname = "e2e-idle", "localhost"
        c.transport = Transport()
        c.transport.idle_timeout = 2.0  # advertised as 1.0 s
        c.transport.bind(c.conn)
        c.collector = Collector()
        c.conn.collect(c.collector)
        c.conn.open()
        c.session = c.conn.session()
        c.session.open()
        self.addCleanup(c.close)
        c.wait(lambda: c.conn.state & Endpoint.REMOTE_ACTIVE, "the hub's Open")
        received_before = c.transport.frames_input
        end = time.monotonic() + 2 * AMQP_IDLE_TIMEOUT_S
        while time.monotonic() < end:
            c.transport.tick(time.monotonic())
            c.pump(0.05)
            self.assertFalse(c.closed, f"closed: {c.transport.condition}")
            self.assertIsNone(c.transport.condition)
        frames = c.transport.frames_input - received_before
        self.assertGreaterEqual(frames, 2 * AMQP_IDLE_TIMEOUT_S - 1,
                                "the hub did not keep the client's idle timeout with empty frames")
        self.assertTrue(c.conn.state & Endpoint.REMOTE_ACTIVE)


class GracefulStopTest(FaultCase):
    STOP_BOUND_S = 5.0

    def test_sigterm_answers_calls_in_flight_closes_devices_and_exits(self):
        mqtt_id, mqtt_key = self.new_device()
        amqp_id, amqp_key = self.new_device()
        waiting_id, _ = self.new_device()
        dev = self.mqtt_device(mqtt_id, mqtt_key)  # never answers
        c, snd, rcv = self.amqp_device(amqp_id, amqp_key)
        futs = [self.submit_invoke(mqtt_id, response_timeout=60),
                self.submit_invoke(amqp_id, response_timeout=60),
                self.submit_invoke(waiting_id, response_timeout=60, connect_timeout=60)]
        dev.next_request(DEADLINE_S)
        c.wait(lambda: c.messages(rcv), "method request")
        wait_for(lambda: (lambda m: m["methodhub_pending_calls"] == 2 and
                          m["methodhub_waiting_calls"] == 1)(metrics(self.hub)),
                 DEADLINE_S, "two calls out and one waiting")

        stopping = time.monotonic()
        self.hub.proc.send_signal(signal.SIGTERM)
        for f in futs:
            r = f.result(DEADLINE_S)
            self.assertEqual(r.status, 503, r)
            self.assertEqual(error_code(r), 503001, r)
        self.assertTrue(dev.closed.wait(DEADLINE_S), "the MQTT device was not closed")
        # The socket closes without an AMQP close: see amqp_connection::kick for why.
        c.wait(lambda: c.closed, "the AMQP connection to close")
        self.assertEqual(self.hub.proc.wait(DEADLINE_S), 0)
        self.assertLess(time.monotonic() - stopping, self.STOP_BOUND_S)
        self.hub.start()  # for tearDownClass, and: the same data dir serves again
        self.assertEqual(self.hub.request("GET", f"/devices/{mqtt_id}").status, 200)


class KillDuringWritesTest(unittest.TestCase):
    ROUNDS = 3
    WRITERS = 4

    def test_kill9_during_registry_writes_loses_no_acknowledged_write(self):
        hub = Hub()
        self.addCleanup(hub.cleanup)
        acked = {}  # device id -> (primary, secondary)
        lock = threading.Lock()
        for rnd in range(self.ROUNDS):
            hub.start()
            stop = threading.Event()
            count = [0]

            def writer(w):
                with hub.https(timeout_s=10) as conn:
                    i = 0
                    while not stop.is_set():
                        device_id = f"kill-{rnd}-{w}-{i}"
                        keys = (random_key(), random_key())
                        body = {"deviceId": device_id, "authentication": {
                            "type": "sas", "symmetricKey": {"primaryKey": keys[0],
                                                             "secondaryKey": keys[1]}}}
                        try:
                            r = conn.request("PUT", f"/devices/{device_id}", body)
                        except Exception:  # noqa: BLE001 - any failure here means the hub is gone
                            return
                        if r.status == 200:
                            with lock:
                                acked[device_id] = keys
                                count[0] += 1
                        i += 1

            threads = [threading.Thread(target=writer, args=(w,), daemon=True)
                       for w in range(self.WRITERS)]
            for t in threads:
                t.start()
            # Kill once writes are flowing, at a different point each round.
            target = 40 + 60 * rnd
            wait_for(lambda: count[0] >= target, 60, f"{target} acknowledged writes")
            hub.kill9()
            stop.set()
            for t in threads:
                t.join(15)
            self.assertEqual(hub.proc.returncode, -9)

            hub.start()  # same data dir
            with hub.https() as conn:
                missing = []
                for device_id, (primary, secondary) in sorted(acked.items()):
                    r = conn.request("GET", f"/devices/{device_id}")
                    if r.status != 200:
                        missing.append((device_id, r.status))
                        continue
                    sk = r.json()["authentication"]["symmetricKey"]
                    self.assertEqual((sk["primaryKey"], sk["secondaryKey"]), (primary, secondary),
                                     device_id)
                self.assertEqual(missing, [], f"acknowledged writes lost after kill -9 (round {rnd})")
            hub.stop()
            db = sqlite3.connect(hub.path("registry.db"))
            try:
                self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            finally:
                db.close()
        self.assertGreater(len(acked), 40 * self.ROUNDS)


class DiskFullTest(FaultCase):
    """RLIMIT_FSIZE 0 on the running hub: every write to a regular file fails with EFBIG (the hub
    ignores SIGXFSZ), exactly what a full disk does to SQLite; pipes and sockets are unaffected."""

    def set_file_size_limit(self, limit):
        # The soft limit only: raising it back needs no privilege.
        hard = resource.prlimit(self.hub.proc.pid, resource.RLIMIT_FSIZE)[1]
        resource.prlimit(self.hub.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))

    def put(self, device_id):
        return self.hub.request("PUT", f"/devices/{device_id}", {"deviceId": device_id})

    def test_disk_full_registry_writes_fail_cleanly_and_recover(self):
        existing, key = self.new_device()
        victim, _ = self.new_device()
        dev = self.mqtt_device(existing, key, handler=lambda r: (200, b'"alive"'))
        self.addCleanup(self.set_file_size_limit, resource.RLIM_INFINITY)
        self.set_file_size_limit(0)

        fresh = new_id("fault")
        for attempt in ("create", "update", "delete"):
            with self.subTest(attempt):
                if attempt == "create":
                    r = self.put(fresh)
                elif attempt == "update":
                    r = self.hub.request("PUT", f"/devices/{existing}",
                                         {"deviceId": existing, "status": "disabled"},
                                         headers={"If-Match": "*"})
                else:
                    r = self.hub.request("DELETE", f"/devices/{victim}")
                self.assertEqual(r.status, 503, r)
                self.assertEqual(r.header("iothub-errorcode"), "ServiceUnavailable", r)
                self.assertEqual(error_code(r), 503001, r)
                self.assertIn("storage error", json.loads(r.json()["Message"])["message"], r)

        # nothing half-written, reads and invocations unaffected, the hub still up
        self.assertEqual(self.hub.request("GET", f"/devices/{fresh}").status, 404)
        self.assertEqual(self.hub.request("GET", f"/devices/{victim}").status, 200)
        got = self.hub.request("GET", f"/devices/{existing}")
        self.assertEqual(got.json()["status"], "enabled", got)
        r = self.invoke(existing, response_timeout=10)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": 200, "payload": "alive"})
        self.assertIsNone(self.hub.proc.poll(), "the hub exited on a full disk")

        # space returns: writes work again, and they are durable
        self.set_file_size_limit(resource.RLIM_INFINITY)
        self.assertEqual(self.put(fresh).status, 200)
        self.assertEqual(self.hub.request("DELETE", f"/devices/{victim}").status, 204)
        self.hub.stop()
        self.hub.start()
        self.assertEqual(self.hub.request("GET", f"/devices/{fresh}").status, 200)
        self.assertEqual(self.hub.request("GET", f"/devices/{victim}").status, 404)
        del dev


if __name__ == "__main__":
    unittest.main()
