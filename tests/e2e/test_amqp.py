"""End-to-end tests of the AMQP 1.0 device head (spec/protocol.md §4) with raw clients.

The clients drive Debian's python3-qpid-proton *engine* (Connection/Transport/Collector, no
reactor) over our own sockets, so the tests control the security layer byte for byte and see
the exact AMQP types on the wire:
  * C-SDK-like:    SASL MSSBCBS, ulong CBS message-id, absolute amqps://host/... addresses;
  * Java-SDK-like: SASL ANONYMOUS, uuid CBS message-id, relative addresses;
  * Node/C#-like:  no SASL (plain AMQP header), string message-id;
  * PLAIN:         SASL PLAIN with `{deviceId}@sas.{hub}` and the SAS token as password.
Methods are invoked through the hub's REST API while the client answers on its method links.

Debugging: E2E_LOG_LEVEL=debug starts the hub at that log level, E2E_SHOW_LOG=1 prints its log
after each class, PN_TRACE_FRM=1 makes Proton (hub and clients) print every frame.
"""

import json
import os
import socket
import struct
import threading
import time
import unittest
import urllib.parse
import uuid

from proton import (Collector, Connection, Data, Described, Endpoint, Message, Transport, int32,
                    symbol, ulong)

from hub import Hub, sas_token, url_encode

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
DEADLINE_S = 15.0
LOG_ARGS = ["--log-level", os.environ["E2E_LOG_LEVEL"]] if os.environ.get("E2E_LOG_LEVEL") else []


def new_id(prefix="amqp"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(response):
    """The inner errorCode of an IoT Hub error body (JSON text inside "Message")."""
    return json.loads(response.json()["Message"])["errorCode"]


def correlation_id_type(raw):
    """The AMQP type code (Data.ULONG, Data.UUID, ...) of the correlation-id in an encoded message."""
    d = Data()
    while raw:
        raw = raw[d.decode(raw):]
    d.rewind()
    while d.next():
        d.enter()
        d.next()
        code = d.get_ulong()
        d.next()
        if code == 0x73:  # properties: message-id, user-id, to, subject, reply-to, correlation-id
            d.enter()
            for _ in range(6):
                if d.next() is None:
                    return None
            return d.type()
        d.exit()
    return None


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def read_sasl_frame(sock):
    size, doff, ftype, _ = struct.unpack(">IBBH", recv_exact(sock, 8))
    assert ftype == 1, f"frame type {ftype} is not SASL"
    body = recv_exact(sock, size - 8)[doff * 4 - 8:]
    d = Data()
    d.decode(body)
    d.rewind()
    d.next()
    return d.get_object()  # Described(descriptor, [fields])


def sasl_frame(descriptor, fields):
    d = Data()
    d.put_object(Described(ulong(descriptor), fields))
    body = d.encode()
    return struct.pack(">IBBH", 8 + len(body), 2, 1, 0) + body


def sasl_handshake(sock, mechanism, initial_response=None):
    """Runs the client side of SASL; returns (offered mechanisms, outcome code)."""
    sock.sendall(SASL_HEADER)
    assert recv_exact(sock, 8) == SASL_HEADER
    mechs = read_sasl_frame(sock)
    assert mechs.descriptor == 0x40, mechs
    offered = mechs.value[0]
    offered = [str(m) for m in (offered.elements if hasattr(offered, "elements") else offered)]
    fields = [symbol(mechanism)]
    if initial_response is not None:
        fields.append(initial_response)
    sock.sendall(sasl_frame(0x41, fields))
    outcome = read_sasl_frame(sock)
    assert outcome.descriptor == 0x44, outcome
    return offered, int(outcome.value[0])


class Client:
    """An AMQP client on the proton engine, pumped by hand over `sock`."""

    def __init__(self, sock):
        self.sock = sock
        self.conn = Connection()
        self.conn.container = "e2e-" + uuid.uuid4().hex[:8]
        self.conn.hostname = "localhost"
        self.transport = Transport()
        self.transport.max_frame_size = 16 * 1024  # so that big messages span frames both ways
        self.transport.bind(self.conn)
        self.collector = Collector()
        self.conn.collect(self.collector)
        self.closed = False
        self.conn.open()
        self.session = self.conn.session()
        self.session.open()
        self.received = {}  # receiver name -> [Message]

    def pump(self, timeout=0.05):
        while True:
            n = self.transport.pending()
            if n <= 0:
                break
            data = self.transport.peek(n)
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True
                return
            self.transport.pop(len(data))
        if self.closed:
            return
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            data = None
        except OSError:
            data = b""
        if data == b"":
            self.closed = True
            self.transport.close_tail()
        elif data:
            while data:
                cap = self.transport.capacity()
                if cap <= 0:
                    self.closed = True
                    break
                self.transport.push(data[:cap])
                data = data[cap:]
        while self.collector.peek():
            self.collector.pop()
        self._drain_receivers()

    def _drain_receivers(self):
        link = self.conn.link_head(0)
        while link:
            if link.is_receiver:
                while True:
                    d = link.current
                    if d is None or d.partial or not d.readable:
                        break
                    data = link.recv(d.pending)
                    m = Message()
                    m.decode(data)
                    m.raw = data
                    link.advance()
                    d.update(d.ACCEPTED)
                    d.settle()
                    self.received.setdefault(link.name, []).append(m)
            link = link.next(0)

    def wait(self, cond, what, deadline_s=DEADLINE_S):
        end = time.monotonic() + deadline_s
        while True:
            value = cond()
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            if self.closed and not self.transport.pending() > 0:
                value = cond()
                if value:
                    return value
                raise AssertionError(f"connection closed while waiting for {what}")
            self.pump()

    def sender(self, name, target, properties=None):
        s = self.session.sender(name)
        s.target.address = target
        if properties:
            s.properties = properties
        s.open()
        return s

    def receiver(self, name, source, credit=100, properties=None):
        r = self.session.receiver(name)
        r.source.address = source
        if properties:
            r.properties = properties
        r.flow(credit)
        r.open()
        return r

    def attached(self, link):
        return lambda: link.state & Endpoint.REMOTE_ACTIVE or link.state & Endpoint.REMOTE_CLOSED

    def wait_attached(self, link):
        self.wait(self.attached(link), f"attach of {link.name}")
        return link

    def messages(self, link):
        return self.received.get(link.name, [])

    def send(self, sender, message):
        self.wait(lambda: sender.credit > 0, f"credit on {sender.name}")
        message.send(sender)
        self.pump(0)

    def close(self):
        try:
            self.conn.close()
            for _ in range(5):
                self.pump(0.02)
        finally:
            self.sock.close()


class AmqpTestBase(unittest.TestCase):
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(extra_args=["--amqp-tcp-port", "0", "--connect-deadline", "5", *LOG_ARGS]).start()

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("E2E_SHOW_LOG"):
            print(cls.hub.log())
        try:
            cls.hub.stop()
        finally:
            cls.hub.cleanup()

    # registry ------------------------------------------------------------------------------
    def create_device(self, device_id=None):
        device_id = device_id or new_id()
        r = self.hub.request("PUT", f"/devices/{url_encode(device_id)}", {"deviceId": device_id})
        self.assertEqual(r.status, 200, r)
        return device_id, r.json()["authentication"]["symmetricKey"]["primaryKey"]

    def create_module(self, device_id, module_id):
        r = self.hub.request("PUT", f"/devices/{url_encode(device_id)}/modules/{url_encode(module_id)}",
                             {"deviceId": device_id, "moduleId": module_id})
        self.assertEqual(r.status, 200, r)
        return r.json()["authentication"]["symmetricKey"]["primaryKey"]

    def device_token(self, device_id, key, module_id=None, ttl_s=3600):
        resource = f"localhost/devices/{url_encode(device_id)}"
        if module_id:
            resource += f"/modules/{url_encode(module_id)}"
        return sas_token(resource, key, ttl_s=ttl_s)

    # connections ---------------------------------------------------------------------------
    def raw_socket(self):
        if self.tls:
            return self.hub.connect_tls(self.hub.port("amqps"))
        return socket.create_connection(("127.0.0.1", self.hub.port("amqp")), timeout=10)

    def connect(self, sasl=None, initial_response=None):
        sock = self.raw_socket()
        if sasl:
            offered, code = sasl_handshake(sock, sasl, initial_response)
            self.assertEqual(code, 0)
            self.assertIn("MSSBCBS", offered)
        c = Client(sock)
        self.addCleanup(c.close)
        return c

    def put_token(self, c, token, message_id, audience):
        if not hasattr(c, "cbs"):
            c.cbs = (c.sender("$cbs-sender", "$cbs"), c.receiver("$cbs-receiver", "$cbs"))
            c.wait_attached(c.cbs[0])
            c.wait_attached(c.cbs[1])
        snd, rcv = c.cbs
        before = len(c.messages(rcv))
        m = Message(id=message_id, reply_to="cbs", address="$cbs", body=token,
                    properties={"operation": "put-token", "type": "servicebus.windows.net:sastoken",
                                "name": audience})
        c.send(snd, m)
        c.wait(lambda: len(c.messages(rcv)) > before, "CBS reply")
        return c.messages(rcv)[-1]

    def open_methods(self, c, address, name="methods", properties=None):
        snd = c.sender(f"{name}-responses", address, properties=properties)
        rcv = c.receiver(f"{name}-requests", address, properties=properties)
        c.wait_attached(snd)
        c.wait_attached(rcv)
        return snd, rcv

    def invoke_async(self, device_id, method, payload, module_id=None, response_timeout=10, connect_timeout=0):
        path = f"/twins/{url_encode(device_id)}"
        if module_id:
            path += f"/modules/{url_encode(module_id)}"
        path += "/methods"
        body = {"methodName": method, "responseTimeoutInSeconds": response_timeout,
                "connectTimeoutInSeconds": connect_timeout}
        if payload is not ...:
            body["payload"] = payload
        result = {}

        def run():
            result["r"] = self.hub.request("POST", path, body, timeout_s=response_timeout + connect_timeout + 20)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, result

    def answer(self, c, snd, request, status=200, body=b"null", status_type=int32):
        reply = Message(correlation_id=request.correlation_id,
                        properties={"IoThub-status": status_type(status)})
        if body is not None:
            reply.body = body
            reply.inferred = True
        c.send(snd, reply)

    def round_trip(self, c, device_id, snd, rcv, payload, module_id=None, status=200, answer_body=None):
        t, result = self.invoke_async(device_id, "echo", payload, module_id=module_id)
        c.wait(lambda: c.messages(rcv), "method request")
        req = c.messages(rcv).pop(0)
        body = answer_body if answer_body is not None else req.body
        self.answer(c, snd, req, status=status, body=body)
        c.wait(lambda: not t.is_alive(), "invoke answer")
        return req, result["r"]


class CLikeTest(AmqpTestBase):
    """SASL MSSBCBS, ulong message-ids, absolute addresses (the C SDK)."""

    def test_mssbcbs_put_token_ulong_and_echo(self):
        device_id, key = self.create_device()
        c = self.connect(sasl="MSSBCBS")
        reply = self.put_token(c, self.device_token(device_id, key), ulong(7),
                               f"localhost/devices/{device_id}")
        self.assertEqual(reply.properties["status-code"], 200)
        self.assertIsInstance(reply.properties["status-code"], int32)
        self.assertIsInstance(reply.properties["status-description"], str)
        self.assertEqual(reply.correlation_id, 7)
        self.assertEqual(correlation_id_type(reply.raw), Data.ULONG)

        address = f"amqps://localhost/devices/{device_id}/methods/devicebound"
        # The C SDK's attach properties, plus one nobody knows: all ignored.
        props = {symbol("com.microsoft:api-version"): "2021-04-12",
                 symbol("com.microsoft:channel-correlation-id"): device_id,
                 symbol("x-unknown"): 42}
        snd, rcv = self.open_methods(c, address, properties=props)
        self.assertTrue(snd.state & Endpoint.REMOTE_ACTIVE, snd.remote_condition)
        self.assertTrue(rcv.state & Endpoint.REMOTE_ACTIVE, rcv.remote_condition)
        req, r = self.round_trip(c, device_id, snd, rcv, {"n": 1, "s": "x"})
        # The request on the wire (spec §4.4).
        self.assertIsInstance(req.correlation_id, uuid.UUID)
        self.assertEqual(correlation_id_type(req.raw), Data.UUID)
        self.assertEqual(req.properties["IoThub-methodname"], "echo")
        self.assertTrue(req.inferred, "body must be a data section")
        self.assertIsInstance(req.body, bytes)
        self.assertEqual(json.loads(req.body), {"n": 1, "s": "x"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": 200, "payload": {"n": 1, "s": "x"}})

    def test_null_payload_is_a_data_section_with_null(self):
        device_id, key = self.create_device()
        c = self.connect(sasl="MSSBCBS")
        self.put_token(c, self.device_token(device_id, key), ulong(1), "")
        snd, rcv = self.open_methods(c, f"amqps://localhost:5671/devices/{device_id}/methods/deviceBound")
        req, r = self.round_trip(c, device_id, snd, rcv, ...)
        self.assertEqual(req.body, b"null")
        self.assertTrue(req.inferred)
        self.assertEqual(r.json(), {"status": 200, "payload": None})

    def test_bad_token_gets_401(self):
        device_id, _ = self.create_device()
        c = self.connect(sasl="MSSBCBS")
        reply = self.put_token(c, self.device_token(device_id, "AAAA" * 11), ulong(3), "")
        self.assertEqual(reply.properties["status-code"], 401)
        self.assertIsInstance(reply.properties["status-code"], int32)
        self.assertEqual(reply.correlation_id, 3)

    def test_attach_before_auth_is_unauthorized(self):
        device_id, _ = self.create_device()
        c = self.connect(sasl="MSSBCBS")
        snd = c.sender("early", f"/devices/{device_id}/methods/devicebound")
        c.wait(lambda: snd.state & Endpoint.REMOTE_CLOSED, "detach")
        self.assertEqual(snd.remote_condition.name, "amqp:unauthorized-access")

    def test_unknown_address_is_not_found(self):
        device_id, key = self.create_device()
        c = self.connect(sasl="MSSBCBS")
        self.put_token(c, self.device_token(device_id, key), ulong(1), "")
        rcv = c.receiver("odd", f"/devices/{device_id}/messages/devicebound")
        c.wait(lambda: rcv.state & Endpoint.REMOTE_CLOSED, "detach")
        self.assertEqual(rcv.remote_condition.name, "amqp:not-found")

    def test_other_identity_is_unauthorized(self):
        device_id, key = self.create_device()
        other, _ = self.create_device()
        c = self.connect(sasl="MSSBCBS")
        self.put_token(c, self.device_token(device_id, key), ulong(1), "")
        rcv = c.receiver("other", f"/devices/{other}/methods/devicebound")
        c.wait(lambda: rcv.state & Endpoint.REMOTE_CLOSED, "detach")
        self.assertEqual(rcv.remote_condition.name, "amqp:unauthorized-access")


class JavaLikeTest(AmqpTestBase):
    """SASL ANONYMOUS, uuid message-ids, relative addresses (the Java SDK); modules."""

    def test_anonymous_uuid_message_id_and_module_echo(self):
        device_id, _ = self.create_device()
        module_key = self.create_module(device_id, "mod1")
        c = self.connect(sasl="ANONYMOUS")
        mid = uuid.uuid4()
        reply = self.put_token(c, self.device_token(device_id, module_key, "mod1"), mid, "")
        self.assertEqual(reply.properties["status-code"], 200)
        self.assertIsInstance(reply.correlation_id, uuid.UUID)
        self.assertEqual(correlation_id_type(reply.raw), Data.UUID)
        self.assertEqual(reply.correlation_id, mid)
        snd, rcv = self.open_methods(c, f"/devices/{device_id}/modules/mod1/methods/devicebound")
        _, r = self.round_trip(c, device_id, snd, rcv, [1, 2, 3], module_id="mod1", status=201,
                               answer_body=b'{"ok":true}')
        self.assertEqual(r.json(), {"status": 201, "payload": {"ok": True}})


class NodeLikeTest(AmqpTestBase):
    """No SASL (the Node and C# SDKs), string message-ids."""

    def test_no_sasl_string_message_id_echo_and_status_types(self):
        device_id, key = self.create_device()
        c = self.connect()
        mid = str(uuid.uuid4())
        reply = self.put_token(c, self.device_token(device_id, key), mid,
                               urllib.parse.quote(f"localhost/devices/{device_id}", safe=""))
        self.assertEqual(reply.properties["status-code"], 200)
        self.assertEqual(reply.correlation_id, mid)
        self.assertIsInstance(reply.correlation_id, str)
        self.assertEqual(correlation_id_type(reply.raw), Data.STRING)
        snd, rcv = self.open_methods(c, f"/devices/{device_id}/methods/devicebound")
        # IoThub-status as any integer type, a missing body read as null (spec §4.5).
        t, result = self.invoke_async(device_id, "echo", {"a": 1})
        c.wait(lambda: c.messages(rcv), "method request")
        req = c.messages(rcv).pop(0)
        self.answer(c, snd, req, status=202, body=None, status_type=ulong)
        c.wait(lambda: not t.is_alive(), "invoke answer")
        self.assertEqual(result["r"].json(), {"status": 202, "payload": None})

    def test_big_payload_spans_frames(self):
        device_id, key = self.create_device()
        c = self.connect()
        self.put_token(c, self.device_token(device_id, key), "m1", "")
        snd, rcv = self.open_methods(c, f"/devices/{device_id}/methods/devicebound")
        big = {"blob": "x" * (127 * 1024)}
        req, r = self.round_trip(c, device_id, snd, rcv, big)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["payload"], big)

    def test_offline_without_credit_is_404103(self):
        device_id, key = self.create_device()
        c = self.connect()
        self.put_token(c, self.device_token(device_id, key), "m1", "")
        snd = c.wait_attached(c.sender("resp", f"/devices/{device_id}/methods/devicebound"))
        rcv = c.wait_attached(c.receiver("req", f"/devices/{device_id}/methods/devicebound", credit=0))
        t, result = self.invoke_async(device_id, "echo", None)
        c.wait(lambda: not t.is_alive(), "invoke answer")
        self.assertEqual(result["r"].status, 404, result["r"])
        self.assertEqual(error_code(result["r"]), 404103, result["r"])
        del snd, rcv

    def test_second_connection_closes_first_links_with_conflict(self):
        device_id, key = self.create_device()
        c1 = self.connect()
        self.put_token(c1, self.device_token(device_id, key), "a", "")
        snd1, rcv1 = self.open_methods(c1, f"/devices/{device_id}/methods/devicebound")
        c2 = self.connect()
        self.put_token(c2, self.device_token(device_id, key), "b", "")
        snd2, rcv2 = self.open_methods(c2, f"/devices/{device_id}/methods/devicebound")
        c1.wait(lambda: rcv1.state & Endpoint.REMOTE_CLOSED, "old links closed")
        self.assertEqual(rcv1.remote_condition.name, "com.microsoft:link-creation-conflict")
        req, r = self.round_trip(c2, device_id, snd2, rcv2, 5)
        self.assertEqual(r.json(), {"status": 200, "payload": 5})

    def test_plain_sasl_with_token_password(self):
        device_id, key = self.create_device()
        token = self.device_token(device_id, key)
        c = self.connect(sasl="PLAIN", initial_response=f"\0{device_id}@sas.localhost\0{token}".encode())
        snd, rcv = self.open_methods(c, f"/devices/{device_id}/methods/devicebound")
        _, r = self.round_trip(c, device_id, snd, rcv, "hi")
        self.assertEqual(r.json(), {"status": 200, "payload": "hi"})

    def test_plain_sasl_bad_password_fails(self):
        device_id, _ = self.create_device()
        sock = self.raw_socket()
        self.addCleanup(sock.close)
        _, code = sasl_handshake(sock, "PLAIN", f"\0{device_id}@sas.localhost\0nope".encode())
        self.assertEqual(code, 1)

    def test_garbage_gets_header_and_close(self):
        sock = self.raw_socket()
        self.addCleanup(sock.close)
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual(recv_exact(sock, 8), AMQP_HEADER)
        sock.settimeout(5)
        self.assertEqual(sock.recv(100), b"")

    def test_malformed_frame_closes_connection(self):
        sock = self.raw_socket()
        self.addCleanup(sock.close)
        sock.sendall(AMQP_HEADER + b"\x00\x00\x00\x10\x02\x00\x00\x00" + b"\xff" * 8)
        sock.settimeout(5)
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(AMQP_HEADER))
        # The hub is still fine.
        self.assertEqual(self.hub.request("GET", "/devices").status, 200)


class CbsTest(AmqpTestBase):
    """Token lifetimes, several identities per connection, hub-scoped policy tokens, limits."""

    def test_token_expiry_detaches_links_and_refresh_keeps_them(self):
        # Tokens stay valid 300 s past `se` (clock skew), so these expire ~3 s from now.
        almost = time.time() - 297
        expiring, key1 = self.create_device()
        refreshed, key2 = self.create_device()
        c = self.connect()
        self.put_token(c, sas_token(f"localhost/devices/{expiring}", key1, expiry=almost), "e1", "")
        self.put_token(c, sas_token(f"localhost/devices/{refreshed}", key2, expiry=almost), "r1", "")
        snd1, rcv1 = self.open_methods(c, f"/devices/{expiring}/methods/devicebound", name="exp")
        snd2, rcv2 = self.open_methods(c, f"/devices/{refreshed}/methods/devicebound", name="ref")
        reply = self.put_token(c, self.device_token(refreshed, key2), "r2", "")  # refresh in place
        self.assertEqual(reply.properties["status-code"], 200)
        c.wait(lambda: rcv1.state & Endpoint.REMOTE_CLOSED, "expired identity's links detached", 15)
        self.assertEqual(rcv1.remote_condition.name, "amqp:unauthorized-access")
        c.wait(lambda: snd1.state & Endpoint.REMOTE_CLOSED, "expired identity's sender detached")
        self.assertFalse(rcv2.state & Endpoint.REMOTE_CLOSED)
        _, r = self.round_trip(c, refreshed, snd2, rcv2, "still here")
        self.assertEqual(r.json(), {"status": 200, "payload": "still here"})
        t, result = self.invoke_async(expiring, "echo", None)
        c.wait(lambda: not t.is_alive(), "invoke answer")
        self.assertEqual(error_code(result["r"]), 404103)

    def test_two_identities_share_one_connection(self):
        d1, k1 = self.create_device()
        d2, _ = self.create_device()
        m2 = self.create_module(d2, "m")
        c = self.connect(sasl="MSSBCBS")
        self.assertEqual(self.put_token(c, self.device_token(d1, k1), ulong(1), "").properties["status-code"], 200)
        self.assertEqual(self.put_token(c, self.device_token(d2, m2, "m"), ulong(2), "").properties["status-code"], 200)
        a = self.open_methods(c, f"amqps://localhost/devices/{d1}/methods/devicebound", name="a")
        b = self.open_methods(c, f"amqps://localhost/devices/{d2}/modules/m/methods/devicebound", name="b")
        _, r1 = self.round_trip(c, d1, *a, {"who": 1})
        _, r2 = self.round_trip(c, d2, *b, {"who": 2}, module_id="m")
        self.assertEqual(r1.json()["payload"], {"who": 1})
        self.assertEqual(r2.json()["payload"], {"who": 2})
        # The module's token does not cover its device.
        rcv = c.receiver("d2-device", f"/devices/{d2}/methods/devicebound")
        c.wait(lambda: rcv.state & Endpoint.REMOTE_CLOSED, "detach")
        self.assertEqual(rcv.remote_condition.name, "amqp:unauthorized-access")

    def test_hub_scoped_policy_token_covers_any_device(self):
        d1, _ = self.create_device()
        c = self.connect()
        token = self.hub.token(policy="device", resource="localhost")
        self.assertEqual(self.put_token(c, token, "p", "localhost").properties["status-code"], 200)
        snd, rcv = self.open_methods(c, f"/devices/{d1}/methods/devicebound")
        self.assertTrue(rcv.state & Endpoint.REMOTE_ACTIVE, rcv.remote_condition)
        _, r = self.round_trip(c, d1, snd, rcv, 1)
        self.assertEqual(r.json(), {"status": 200, "payload": 1})
        # A policy without DeviceConnect is refused.
        bad = self.hub.token(policy="service", resource="localhost")
        self.assertEqual(self.put_token(c, bad, "q", "localhost").properties["status-code"], 401)
        # An unknown device is not covered.
        rcv2 = c.receiver("ghost", "/devices/no-such-device/methods/devicebound")
        c.wait(lambda: rcv2.state & Endpoint.REMOTE_CLOSED, "detach")
        self.assertEqual(rcv2.remote_condition.name, "amqp:unauthorized-access")

    def test_link_flood_closes_the_connection(self):
        c = self.connect()
        for i in range(80):
            c.receiver(f"flood-{i}", "$cbs")
        c.wait(lambda: c.conn.state & Endpoint.REMOTE_CLOSED, "connection closed")
        self.assertEqual(c.conn.remote_condition.name, "amqp:resource-limit-exceeded")
        self.assertEqual(self.hub.request("GET", "/devices").status, 200)

    def test_oversized_message_closes_the_connection(self):
        device_id, key = self.create_device()
        c = self.connect()
        self.put_token(c, self.device_token(device_id, key), "m", "")
        snd, rcv = self.open_methods(c, f"/devices/{device_id}/methods/devicebound")
        c.send(snd, Message(correlation_id=uuid.uuid4(), properties={"IoThub-status": int32(200)},
                            body=b"x" * (2 * 1024 * 1024), inferred=True))
        c.wait(lambda: c.conn.state & Endpoint.REMOTE_CLOSED or c.closed, "connection closed", 20)
        if c.conn.state & Endpoint.REMOTE_CLOSED:
            self.assertEqual(c.conn.remote_condition.name, "amqp:resource-limit-exceeded")
        self.assertEqual(self.hub.request("GET", "/devices").status, 200)

    def test_no_token_closes_the_connection_after_the_deadline(self):
        c = self.connect()
        c.wait(lambda: c.conn.state & Endpoint.REMOTE_CLOSED, "connection closed", 15)
        self.assertEqual(c.conn.remote_condition.name, "amqp:unauthorized-access")


class TlsTest(AmqpTestBase):
    """The same over TLS on the AMQPS port."""
    tls = True

    def test_tls_mssbcbs_echo(self):
        device_id, key = self.create_device()
        c = self.connect(sasl="MSSBCBS")
        self.put_token(c, self.device_token(device_id, key), ulong(1), "")
        snd, rcv = self.open_methods(c, f"amqps://localhost/devices/{device_id}/methods/devicebound")
        _, r = self.round_trip(c, device_id, snd, rcv, {"tls": True})
        self.assertEqual(r.json(), {"status": 200, "payload": {"tls": True}})


if __name__ == "__main__":
    unittest.main()
