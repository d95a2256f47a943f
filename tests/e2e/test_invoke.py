"""Invoke API (spec/protocol.md §1, sdk-wire.md §6) end to end: REST caller -> hub -> MQTT device.

The device is simulated by the raw MQTT client of mqtt_raw.py on the hub's plain `mqtt` port (one
test uses TLS `mqtts`). Every wait polls with a deadline; the waits that must last (504, connect
timeouts) use the smallest timeouts the API allows.
"""

import concurrent.futures
import json
import re
import time
import unittest
import uuid

from hub import Hub, Response, SharedHubCase, new_id, mqtt_client_id, mqtt_username, sas_token, url_encode, wait_for
from mqtt_raw import METHODS_FILTER, PINGREQ_PACKET, PINGRESP, Device, RawClient, publish_packet

ERROR_NAMES = {
    400004: "ArgumentInvalid",
    400006: "IotHubFormatError",
    401002: "IotHubUnauthorizedAccess",
    403800: None,  # name not fixed by the spec; only its presence is checked
    404001: "DeviceNotFound",
    404010: "ModuleNotFound",
    404103: "DeviceNotOnline",
    413001: "MessageTooLarge",
    504101: "GatewayTimeout",
}

RANGE_MESSAGE = "responseTimeoutInSeconds must be within [5; 300]."
HEX_RID = re.compile(r"^[0-9a-fA-F]+$")
EXTRA_PORTS = ["--mqtt-tcp-port", "0", "--http-port", "0"]


def body_of(**fields):
    return json.dumps(fields)


class HubCase(SharedHubCase):
    """Starts one hub per test class; helpers to create, connect and call devices."""

    base_args = EXTRA_PORTS
    pool_workers = 24

    # --- identities and devices ------------------------------------------------------------------

    def new_device(self, device_id=None, module_id=None):
        """Creates a device (and a module on it when module_id is given); returns (ids, key)."""
        device_id = device_id or new_id()
        d = self.hub.create_device(device_id)
        key = d["authentication"]["symmetricKey"]["primaryKey"]
        if module_id is not None:
            m = self.hub.create_module(device_id, module_id)
            key = m["authentication"]["symmetricKey"]["primaryKey"]
        return device_id, key

    def raw_client(self, tls=False):
        c = RawClient.to_hub(self.hub, tls)
        self.addCleanup(c.close)
        return c

    def connect(self, device_id, key, module_id=None, subscribe=True, handler=None, tls=False,
                answer_qos=0, clean=True):
        """A connected (and by default subscribed) Device with its reader thread running."""
        c = self.raw_client(tls)
        ack = c.connect(mqtt_client_id(device_id, module_id),
                        mqtt_username(self.hub.hostname, device_id, module_id),
                        self.hub.device_token(device_id, key, module_id), clean=clean)
        self.assertEqual(ack.return_code, 0, f"CONNACK for {device_id}/{module_id}: {ack}")
        if subscribe:
            self.assertEqual(c.subscribe([(METHODS_FILTER, 0)]), [0])
        dev = Device(c, handler=handler, answer_qos=answer_qos).start()
        self.addCleanup(dev.stop)
        return dev

    def echo_device(self, module_id=None, status=200, **kw):
        device_id, key = self.new_device(module_id=module_id)
        dev = self.connect(device_id, key, module_id, handler=lambda r: (status, r.payload), **kw)
        return device_id, dev

    # --- invoking --------------------------------------------------------------------------------

    def method_path(self, device_id, module_id=None, encode=True):
        enc = url_encode if encode else (lambda s: s)
        p = f"/twins/{enc(device_id)}"
        if module_id is not None:
            p += f"/modules/{enc(module_id)}"
        return p + "/methods"

    def invoke(self, device_id, body, module_id=None, path=None, timeout_s=40, **kw):
        """POSTs `body` (dict -> JSON, or str/bytes verbatim) and returns the Response."""
        if isinstance(body, dict):
            body = json.dumps(body)
        return self.hub.request("POST", path or self.method_path(device_id, module_id), body,
                                timeout_s=timeout_s, **kw)

    def timed_invoke(self, *args, **kw):
        started = time.monotonic()
        r = self.invoke(*args, **kw)
        return r, time.monotonic() - started

    def submit(self, fn, *args, **kw):
        return self.pool.submit(fn, *args, **kw)

    # --- assertions ------------------------------------------------------------------------------

    def assertSuccess(self, r, status, payload_bytes):
        """HTTP 200, JSON content type, body exactly {"status":S,"payload":<bytes>}."""
        self.assertEqual(r.status, 200, r)
        self.assertIn("application/json", r.header("content-type", ""), r)
        expected = b'{"status":' + str(status).encode() + b',"payload":' + payload_bytes + b"}"
        self.assertEqual(r.body, expected, r)

    def assertError(self, r, status, code, message=None):
        """Status, `iothub-errorcode` header, JSON content type, envelope A (spec §1.7)."""
        self.assertEqual(r.status, status, r)
        self.assertIn("application/json", r.header("content-type", ""), r)
        self.assertTrue(r.header("iothub-errorcode"), f"no iothub-errorcode header: {r}")
        outer = r.json()
        self.assertEqual(set(outer), {"Message", "ExceptionMessage"}, r)
        inner = json.loads(outer["Message"])
        self.assertEqual(inner.get("errorCode"), code, r)
        for field in ("trackingId", "message", "info", "timestampUtc"):
            self.assertIn(field, inner, r)
        if ERROR_NAMES.get(code):
            self.assertEqual(r.header("iothub-errorcode"), ERROR_NAMES[code], r)
        if message is not None:
            self.assertEqual(inner["message"], message, r)
        return inner


class InvokeTest(HubCase):
    # --- round trips -----------------------------------------------------------------------------

    def test_device_echo_round_trip(self):
        device_id, dev = self.echo_device()
        payload = b'{"hello":1}'
        r = self.invoke(device_id, b'{"methodName":"echo","payload":{"hello":1},'
                                   b'"responseTimeoutInSeconds":5,"connectTimeoutInSeconds":0}',
                        headers={"Request-Id": "4d8f7c52-be0e-4340-83f3-d50cf634e25d"})
        self.assertSuccess(r, 200, payload)
        self.assertEqual(r.header("request-id"), "4d8f7c52-be0e-4340-83f3-d50cf634e25d", r)
        req = dev.next_request(5)
        self.assertEqual(req.name, "echo")
        self.assertEqual(req.payload, payload)
        self.assertEqual(req.topic, f"$iothub/methods/POST/echo/?$rid={req.rid}")
        self.assertEqual(req.qos, 0)
        self.assertEqual(dev.errors, [])

    def test_module_echo_round_trip(self):
        device_id, dev = self.echo_device(module_id="mod1", status=201)
        r = self.invoke(device_id, {"methodName": "ping", "payload": [1, "two"]}, module_id="mod1")
        self.assertSuccess(r, 201, b'[1, "two"]')
        self.assertEqual(dev.next_request(5).name, "ping")

    def test_trailing_slash_accepted(self):
        device_id, _ = self.echo_device()
        r = self.invoke(device_id, {"methodName": "m", "payload": 1},
                        path=self.method_path(device_id) + "/")
        self.assertSuccess(r, 200, b"1")
        device_id, _ = self.echo_device(module_id="mod2")
        r = self.invoke(device_id, {"methodName": "m", "payload": 2},
                        path=self.method_path(device_id, "mod2") + "/")
        self.assertSuccess(r, 200, b"2")

    def test_percent_encoded_ids_decoded_once(self):
        device_id = f"a:b(c)-{uuid.uuid4().hex[:6]}"
        _, key = self.new_device(device_id)
        self.connect(device_id, key, handler=lambda r: (200, b'"dev"'))
        path = "/twins/" + device_id.replace(":", "%3A").replace("(", "%28").replace(")", "%29") + "/methods"
        self.assertIn("%3Ab%28c%29", path)
        self.assertSuccess(self.invoke(None, {"methodName": "m"}, path=path), 200, b'"dev"')
        # decoded exactly once: a doubly-encoded id is a different (unknown) device
        r = self.invoke(None, {"methodName": "m"}, path=path.replace("%", "%25"))
        self.assertError(r, 404, 404001)

    def test_plus_in_module_id_is_literal(self):
        device_id, key = self.new_device(module_id="m+1")
        self.connect(device_id, key, "m+1", handler=lambda r: (200, b'"plus"'))
        for path in (f"/twins/{device_id}/modules/m+1/methods",
                     f"/twins/{device_id}/modules/m%2B1/methods"):
            with self.subTest(path=path):
                self.assertSuccess(self.invoke(None, {"methodName": "m"}, path=path), 200, b'"plus"')
        # `+` is not a space: "m 1" is not registered
        r = self.invoke(None, {"methodName": "m"}, path=f"/twins/{device_id}/modules/m%201/methods")
        self.assertError(r, 404, 404010)

    def test_device_json_passed_through_byte_for_byte(self):
        answers = [
            b'{ "z" : [ 1.0e+2 , -0.0, 1E-7 ] ,\n\t"a" : null }',
            b'{"b":2,"a":1}',
            '{"\\u00e9\\ud83d\\ude00":"\u00fc\u4e2d"}'.encode(),
            b"  [1,2,3]  ",
            b'"just a string"',
            b"12.50",
            b"true",
            b"null",
            b"{}",
        ]
        by_name = {f"m{i}": a for i, a in enumerate(answers)}
        device_id, key = self.new_device()
        self.connect(device_id, key, handler=lambda r: (200, by_name[r.name]))
        for name, answer in by_name.items():
            with self.subTest(answer=answer):
                self.assertSuccess(self.invoke(device_id, {"methodName": name}), 200, answer)

    def test_device_status_500_is_http_200(self):
        device_id, key = self.new_device()
        self.connect(device_id, key, handler=lambda r: (500, b'{"error":"boom"}'))
        self.assertSuccess(self.invoke(device_id, {"methodName": "fail"}), 500, b'{"error":"boom"}')

    def test_device_empty_body_gives_null_payload(self):
        device_id, key = self.new_device()
        self.connect(device_id, key, handler=lambda r: (204, b""))
        self.assertSuccess(self.invoke(device_id, {"methodName": "m"}), 204, b"null")

    def test_device_non_json_body_is_wrapped_as_string(self):
        """Documented choice: a device body that is not JSON comes back as a JSON string."""
        device_id, key = self.new_device()
        self.connect(device_id, key, handler=lambda r: (200, b"hello"))
        r = self.invoke(device_id, {"methodName": "m"})
        self.assertSuccess(r, 200, b'"hello"')
        self.assertEqual(r.json(), {"status": 200, "payload": "hello"})

    def test_tls_device_with_qos1_answer(self):
        device_id, dev = self.echo_device(tls=True, answer_qos=1)
        self.assertSuccess(self.invoke(device_id, {"methodName": "m", "payload": {"x": 1}}),
                           200, b'{"x": 1}')
        # the hub acknowledges the QoS 1 response
        got = dev.pubacks.get(timeout=5)
        self.assertIsInstance(got, int)

    # --- body shapes (spec §1.4 table) -----------------------------------------------------------

    def test_body_shapes(self):
        device_id, dev = self.echo_device()
        cases = [
            ("absent payload", b'{"methodName":"m"}', b"null"),
            ("payload null", b'{"methodName":"m","payload":null}', b"null"),
            ("number", b'{"methodName":"m","payload":42}', b"42"),
            ("float", b'{"methodName":"m","payload":1.0e+2}', b"1.0e+2"),
            ("string", b'{"methodName":"m","payload":"hi \\"there\\""}', b'"hi \\"there\\""'),
            ("true", b'{"methodName":"m","payload":true}', b"true"),
            ("false", b'{"methodName":"m","payload":false}', b"false"),
            ("array", b'{"methodName":"m","payload":[1,{"a":[]}]}', b'[1,{"a":[]}]'),
            ("empty object", b'{"methodName":"m","payload":{}}', b"{}"),
            ("omitted timeouts", b'{"methodName":"m","payload":{"k":"v"}}', b'{"k":"v"}'),
            ("Node defaults", b'{"methodName":"m","responseTimeoutInSeconds":30,'
                              b'"connectTimeoutInSeconds":0,"payload":null}', b"null"),
            ("C#: payload first, timeouts omitted", b'{"payload":[true],"methodName":"m"}', b"[true]"),
            ("C: connect 60, payload omitted", b'{"methodName":"m","responseTimeoutInSeconds":30,'
                                               b'"connectTimeoutInSeconds":60}', b"null"),
            ("legacy timeoutInSeconds", b'{"methodName":"m","timeoutInSeconds":5,"payload":7}', b"7"),
            ("whitespace around", b' \n{ "methodName" : "m" , "payload" : [ 1 , 2 ] }\n', b"[ 1 , 2 ]"),
            ("boundary 5", b'{"methodName":"m","responseTimeoutInSeconds":5,"payload":5}', b"5"),
            ("boundary 300", b'{"methodName":"m","responseTimeoutInSeconds":300,'
                             b'"connectTimeoutInSeconds":300,"payload":300}', b"300"),
        ]
        for what, body, device_receives in cases:
            with self.subTest(what):
                r = self.invoke(device_id, body)
                self.assertSuccess(r, 200, device_receives)
                self.assertEqual(dev.next_request(5).payload, device_receives)

    def test_legacy_timeout_alias_is_validated(self):
        device_id, _ = self.echo_device()
        r = self.invoke(device_id, {"methodName": "m", "timeoutInSeconds": 4})
        self.assertError(r, 400, 400004, RANGE_MESSAGE)

    def test_omitted_connect_timeout_defaults_to_zero(self):
        device_id, _ = self.new_device()
        r, took = self.timed_invoke(device_id, {"methodName": "m"})
        self.assertError(r, 404, 404103)
        self.assertLess(took, 1.0)

    # --- validation ------------------------------------------------------------------------------

    def test_response_timeout_out_of_range(self):
        device_id, _ = self.echo_device()
        for value in (4, 301, 0, -1):
            with self.subTest(responseTimeoutInSeconds=value):
                r = self.invoke(device_id, {"methodName": "m", "responseTimeoutInSeconds": value})
                self.assertError(r, 400, 400004, RANGE_MESSAGE)

    def test_connect_timeout_out_of_range(self):
        device_id, _ = self.echo_device()
        for value in (-1, 301):
            with self.subTest(connectTimeoutInSeconds=value):
                r = self.invoke(device_id, {"methodName": "m", "connectTimeoutInSeconds": value})
                self.assertError(r, 400, 400004)

    def test_malformed_json(self):
        device_id, _ = self.echo_device()
        for body in (b'{"methodName":"m"', b"not json", b'{"methodName":"m",}', b""):
            with self.subTest(body=body):
                self.assertError(self.invoke(device_id, body), 400, 400006)

    def test_bad_method_names(self):
        device_id, dev = self.echo_device()
        names = ["a/b", "a?b", "a#b", "a%b", "a b", " ", "\t", "x" * 101, ""]
        for name in names:
            with self.subTest(methodName=name):
                self.assertError(self.invoke(device_id, {"methodName": name}), 400, 400004)
        for body in ({"payload": 1}, {"methodName": 5}, {"methodName": None}):
            with self.subTest(body=body):
                self.assertError(self.invoke(device_id, body), 400, 400004)
        self.assertTrue(dev.requests.empty(), "a rejected call reached the device")
        # 100 characters is fine
        self.assertSuccess(self.invoke(device_id, {"methodName": "x" * 100, "payload": 1}), 200, b"1")
        self.assertEqual(dev.next_request(5).name, "x" * 100)

    def test_payload_size_limit(self):
        device_id, key = self.new_device()
        dev = self.connect(device_id, key, handler=lambda r: (200, b'{"len":%d}' % len(r.payload)))
        exact = b'"' + b"a" * (131072 - 2) + b'"'
        self.assertEqual(len(exact), 131072)
        r = self.invoke(device_id, b'{"methodName":"big","payload":' + exact + b"}")
        self.assertSuccess(r, 200, b'{"len":131072}')
        self.assertEqual(dev.next_request(5).payload, exact)

        over = b'"' + b"a" * (131073 - 2) + b'"'
        r = self.invoke(device_id, b'{"methodName":"big","payload":' + over + b"}")
        self.assertError(r, 413, 413001)
        self.assertTrue(dev.requests.empty(), "an oversized payload reached the device")

    def test_body_over_256k_refused_from_its_headers(self):
        """Headers only, Content-Length 300000: the hub answers 413 without waiting for the body."""
        device_id, _ = self.echo_device()
        with self.hub.https(timeout_s=10) as conn:
            c = conn.conn
            c.putrequest("POST", f"{self.method_path(device_id)}?api-version=2021-04-12", skip_host=True)
            c.putheader("Host", "localhost")
            c.putheader("Authorization", self.hub.token())
            c.putheader("Content-Type", "application/json; charset=utf-8")
            c.putheader("Content-Length", "300000")
            c.endheaders()
            started = time.monotonic()
            try:
                resp = c.getresponse()
            except (OSError, ConnectionError) as e:
                self.fail("HUB BUG: POST /twins/{id}/methods with Content-Length: 300000 (headers only): "
                          f"the hub closed the connection without answering 413 ({e!r})")
            r = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        self.assertLess(time.monotonic() - started, 5)
        self.assertError(r, 413, 413001)

    # --- authorization ---------------------------------------------------------------------------

    def test_authorization(self):
        device_id, key = self.new_device()
        self.connect(device_id, key, handler=lambda r: (200, b"1"))
        body = {"methodName": "m"}
        refused = {
            "no Authorization": None,
            "registryRead": self.hub.token("registryRead"),
            "registryReadWrite": self.hub.token("registryReadWrite"),
            "device policy (DeviceConnect only)": self.hub.token("device"),
            "device identity token": self.hub.device_token(device_id, key),
            "wrong key": sas_token(self.hub.hostname, self.hub.policy_key("registryRead"), "service"),
            "expired": self.hub.token("service", expiry=time.time() - 600),
        }
        for what, token in refused.items():
            with self.subTest(what):
                self.assertError(self.invoke(device_id, body, token=token), 401, 401002)
        for policy in ("service", "iothubowner"):
            with self.subTest(policy):
                self.assertSuccess(self.invoke(device_id, body, token=self.hub.token(policy)), 200, b"1")

    # --- semantics -------------------------------------------------------------------------------

    def test_unknown_device_and_module(self):
        self.assertError(self.invoke(new_id("nobody"), {"methodName": "m"}), 404, 404001)
        device_id, _ = self.echo_device()
        self.assertError(self.invoke(device_id, {"methodName": "m"}, module_id="nomod"), 404, 404010)
        self.assertError(self.invoke(new_id("nobody"), {"methodName": "m"}, module_id="nomod"), 404, 404001)

    def test_disabled_device(self):
        device_id, key = self.new_device(module_id="mod")
        r = self.hub.request("PUT", f"/devices/{device_id}", {"deviceId": device_id, "status": "disabled"},
                             headers={"If-Match": '"*"'})
        self.assertEqual(r.status, 200, r)
        self.assertError(self.invoke(device_id, {"methodName": "m", "connectTimeoutInSeconds": 5}), 404, 404001)
        self.assertError(self.invoke(device_id, {"methodName": "m"}, module_id="mod"), 404, 404001)

    def test_not_connected_connect_timeout_zero(self):
        device_id, _ = self.new_device()
        r, took = self.timed_invoke(device_id, {"methodName": "m", "connectTimeoutInSeconds": 0})
        self.assertError(r, 404, 404103)
        self.assertLess(took, 0.5, "404103 with connect timeout 0 must be immediate")

    def test_connected_but_not_subscribed(self):
        device_id, key = self.new_device()
        c = self.raw_client()
        ack = c.connect(device_id, mqtt_username(self.hub.hostname, device_id),
                        self.hub.device_token(device_id, key))
        self.assertEqual(ack.return_code, 0, ack)
        r, took = self.timed_invoke(device_id, {"methodName": "m"})
        self.assertError(r, 404, 404103)
        self.assertLess(took, 0.5)
        # a subscription to another filter does not count either
        self.assertEqual(c.subscribe([("$iothub/twin/res/#", 0)]), [0])
        self.assertError(self.invoke(device_id, {"methodName": "m"}), 404, 404103)
        c.send(PINGREQ_PACKET)  # still connected, and nothing was published to it before PINGRESP
        self.assertEqual(c.recv(5).type, PINGRESP)

    def test_connect_timeout_waits_for_subscription(self):
        device_id, key = self.new_device()
        started = time.monotonic()
        fut = self.submit(self.invoke, device_id, {"methodName": "late", "payload": 3,
                                                   "connectTimeoutInSeconds": 5})
        # connect and subscribe about a second later (poll so the call is surely waiting)
        wait_for(lambda: time.monotonic() - started >= 1.0, 3, "one second")
        self.assertFalse(fut.done(), "the call did not wait for the device")
        dev = self.connect(device_id, key, handler=lambda r: (200, r.payload))
        subscribed = time.monotonic()
        r = fut.result(10)
        answered = time.monotonic()
        self.assertSuccess(r, 200, b"3")
        self.assertLess(answered - subscribed, 1.5, "the call must go out as soon as the device subscribes")
        self.assertEqual(dev.next_request(1).name, "late")

    def test_connect_timeout_expires(self):
        device_id, _ = self.new_device()
        r, took = self.timed_invoke(device_id, {"methodName": "m", "connectTimeoutInSeconds": 2})
        self.assertError(r, 404, 404103)
        self.assertGreaterEqual(took, 2.0)
        self.assertLess(took, 4.0)

    def test_no_answer_gives_504_and_late_answer_is_dropped(self):
        device_id, key = self.new_device()
        dev = self.connect(device_id, key)  # no handler: never answers by itself
        r, took = self.timed_invoke(device_id, {"methodName": "slow", "responseTimeoutInSeconds": 5})
        self.assertError(r, 504, 504101, "Timed out waiting for the response from device.")
        self.assertGreaterEqual(took, 5.0)
        self.assertLess(took, 7.0)
        late = dev.next_request(1)

        # the late answer has no effect: a new call still gets its own answer
        dev.answer(late.rid, 200, b'"late"')
        fut = self.submit(self.invoke, device_id, {"methodName": "next", "responseTimeoutInSeconds": 5})
        nxt = dev.next_request(5)
        self.assertNotEqual(nxt.rid, late.rid)
        dev.answer(late.rid, 200, b'"late again"')
        dev.answer(nxt.rid, 200, b'"next"')
        self.assertSuccess(fut.result(10), 200, b'"next"')
        self.assertFalse(dev.closed.is_set(), "the hub closed the device after a late answer")

    def test_unknown_rid_ignored(self):
        device_id, key = self.new_device()
        dev = self.connect(device_id, key)
        fut = self.submit(self.invoke, device_id, {"methodName": "m", "responseTimeoutInSeconds": 10})
        req = dev.next_request(5)
        for bogus in ("ffffffffffff", "0", "zz-not-a-rid", "1%2F2"):
            dev.answer(bogus, 200, b'"bogus"')
        dev.sync()  # the hub handles one connection's packets in order
        with self.assertRaises(concurrent.futures.TimeoutError, msg="a bogus rid answered the call"):
            fut.result(0.5)
        dev.answer(req.rid, 200, b'"real"')
        self.assertSuccess(fut.result(10), 200, b'"real"')
        self.assertFalse(dev.closed.is_set())

    def test_response_topic_variants(self):
        """Python percent-quotes status and rid; Node may append properties after the rid (§3.8)."""
        device_id, key = self.new_device()
        dev = self.connect(device_id, key)
        variants = {
            "percent-encoded status and rid": lambda rid: "$iothub/methods/res/%32%30%31/?$rid=" +
                                                          "".join(f"%{ord(ch):02X}" for ch in rid),
            "extra properties after rid": lambda rid: f"$iothub/methods/res/201/?$rid={rid}&foo=bar",
        }
        for what, topic_of in variants.items():
            with self.subTest(what):
                fut = self.submit(self.invoke, device_id, {"methodName": "m", "responseTimeoutInSeconds": 10})
                req = dev.next_request(5)
                dev.client.send(publish_packet(topic_of(req.rid), b'{"v":1}', qos=1, pid=dev.client.pid()))
                self.assertSuccess(fut.result(15), 201, b'{"v":1}')
                self.assertIsInstance(dev.pubacks.get(timeout=5), int)

    def test_device_drop_answers_pending_call_at_once(self):
        device_id, key = self.new_device()
        dev = self.connect(device_id, key)
        fut = self.submit(self.invoke, device_id, {"methodName": "m", "responseTimeoutInSeconds": 30})
        dev.next_request(5)
        dropped = time.monotonic()
        dev.stop()  # abrupt close, no DISCONNECT
        r = fut.result(10)
        self.assertLess(time.monotonic() - dropped, 3.0, "pending call not answered when the device left")
        self.assertError(r, 404, 404103)

    def test_second_connection_takes_over(self):
        device_id, key = self.new_device()
        first = self.connect(device_id, key)
        fut = self.submit(self.invoke, device_id, {"methodName": "m", "responseTimeoutInSeconds": 30})
        first.next_request(5)
        replaced = time.monotonic()
        second = self.connect(device_id, key, handler=lambda r: (200, b'"second"'))
        r = fut.result(10)
        self.assertLess(time.monotonic() - replaced, 3.0, "pending call of the old link not answered at once")
        self.assertError(r, 404, 404103)
        self.assertTrue(first.closed.wait(5), "the hub did not close the first connection")
        self.assertSuccess(self.invoke(device_id, {"methodName": "m"}), 200, b'"second"')
        self.assertEqual(second.next_request(1).name, "m")

    def test_concurrent_calls_answered_in_reverse(self):
        device_id, key = self.new_device()
        dev = self.connect(device_id, key)
        n = 20
        futs = [self.submit(self.invoke, device_id, {"methodName": "calc", "payload": {"i": i},
                                                     "responseTimeoutInSeconds": 20})
                for i in range(n)]
        reqs = [dev.next_request(10) for _ in range(n)]
        rids = [q.rid for q in reqs]
        self.assertEqual(len(set(rids)), n, f"rids not unique: {rids}")
        for rid in rids:
            self.assertRegex(rid, HEX_RID)
        self.assertTrue(all(not f.done() for f in futs))
        for q in reversed(reqs):
            i = json.loads(q.payload)["i"]
            dev.answer(q.rid, 200 + i, b'{"answer":%d}' % (i * 10))
        for i, f in enumerate(futs):
            self.assertSuccess(f.result(20), 200 + i, b'{"answer":%d}' % (i * 10))

    def test_rids_unique_url_safe_hex_across_calls(self):
        device_id, dev = self.echo_device()
        for i in range(10):
            self.assertSuccess(self.invoke(device_id, {"methodName": "m", "payload": i}), 200, str(i).encode())
        rids = [dev.next_request(1).rid for _ in range(10)]
        self.assertEqual(len(set(rids)), 10, rids)
        for rid in rids:
            self.assertRegex(rid, HEX_RID)


class InflightCapTest(HubCase):
    hub_args = ["--max-inflight-per-device", "3"]

    def test_fourth_concurrent_call_refused(self):
        device_id, key = self.new_device()
        dev = self.connect(device_id, key)
        futs = [self.submit(self.invoke, device_id, {"methodName": "hold", "payload": i,
                                                     "responseTimeoutInSeconds": 20})
                for i in range(3)]
        reqs = [dev.next_request(10) for _ in range(3)]
        r, took = self.timed_invoke(device_id, {"methodName": "hold", "payload": 3})
        self.assertError(r, 403, 403800)
        self.assertLess(took, 1.0)
        for q in reqs:
            dev.answer(q.rid, 200, q.payload)
        for i, f in enumerate(futs):
            self.assertSuccess(f.result(10), 200, str(i).encode())
        # the slots are free again
        dev.handler = lambda q: (200, q.payload)
        self.assertSuccess(self.invoke(device_id, {"methodName": "again", "payload": 4}), 200, b"4")


if __name__ == "__main__":
    unittest.main()
