"""MQTT and AMQP over WebSockets on the HTTPS listener (issue 5, spec/protocol.md §5), driven by the
hand-written RFC 6455 client of ws_raw.py against the real binary. Standard library only.

The official SDKs' MqttWs/AmqpWs transports are covered by tests/compat/transports_ws.test.js;
these tests do what an SDK never does on purpose: split MQTT packets across frames and across
messages, pack several packets in a frame, interleave pings, send text/oversized/unmasked frames
and malformed upgrades.

    METHODHUB_BIN=build/dev/src/cli/methodhub /usr/bin/python3 -m unittest -v tests/e2e/test_websocket.py
"""

import concurrent.futures
import json
import os
import struct
import sys
import time
import unittest
import uuid

# CTest runs this from tests/e2e; let `python3 -m unittest tests/e2e/test_websocket.py` from the
# repository root find the sibling modules too.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hub import Hub, mqtt_username, random_key
from mqtt_raw import (CONNACK, METHODS_FILTER, PINGREQ_PACKET, PINGRESP, PUBLISH, SUBACK,
                      Device, RawClient, connect_packet, parse_method_topic, publish_packet,
                      response_topic, subscribe_packet)
from ws_raw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, WS_PATH, Closed as WsClosed,
                    StillOpen, WsByteStream, WsClient, accept_key, encode_frame)

HUB_ARGS = ["--http-port", "0", "--connect-deadline", "2"]
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"
MQTT_MAX_PACKET = 256 * 1024

HUB = None
POOL = None


def setUpModule():
    global HUB, POOL
    HUB = Hub(extra_args=HUB_ARGS)
    try:
        HUB.start()
    except BaseException:
        HUB.cleanup()
        raise
    POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8)


def tearDownModule():
    POOL.shutdown(wait=False, cancel_futures=True)
    try:
        HUB.stop()
    finally:
        HUB.cleanup()


def new_id(prefix="ws"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- a minimal AMQP reader for the sasl-mechanisms frame (stdlib only) ---------------------------

def amqp_symbols(body):
    """The symbols of the first field of a described list (sasl-mechanisms' sasl-server-mechanisms:
    a single symbol or an array of symbols). `body` starts at the performative."""
    if body[0] != 0x00:
        raise ValueError(f"not a described type: {body[:16].hex()}")
    i = 1
    code = body[i]
    i += 1
    if code == 0x53:
        descriptor = body[i]
        i += 1
    elif code == 0x80:
        descriptor = struct.unpack_from("!Q", body, i)[0]
        i += 8
    else:
        raise ValueError(f"unexpected descriptor encoding {code:#x}")
    lcode = body[i]
    i += 1
    if lcode == 0xC0:
        i += 2  # size, count
    elif lcode == 0xD0:
        i += 8
    elif lcode == 0x45:
        return descriptor, []
    else:
        raise ValueError(f"unexpected list encoding {lcode:#x}")

    def symbol(code, i):
        if code == 0xA3:
            n = body[i]
            return body[i + 1:i + 1 + n].decode(), i + 1 + n
        if code == 0xB3:
            n = struct.unpack_from("!I", body, i)[0]
            return body[i + 4:i + 4 + n].decode(), i + 4 + n
        raise ValueError(f"unexpected symbol encoding {code:#x}")

    code = body[i]
    i += 1
    if code in (0xA3, 0xB3):
        return descriptor, [symbol(code, i)[0]]
    if code in (0xE0, 0xF0):
        if code == 0xE0:
            count = body[i + 1]
            i += 2
        else:
            count = struct.unpack_from("!I", body, i + 4)[0]
            i += 8
        elem = body[i]
        i += 1
        out = []
        for _ in range(count):
            if elem == 0xA3:
                n = body[i]
                out.append(body[i + 1:i + 1 + n].decode())
                i += 1 + n
            elif elem == 0xB3:
                n = struct.unpack_from("!I", body, i)[0]
                out.append(body[i + 4:i + 4 + n].decode())
                i += 4 + n
            else:
                raise ValueError(f"unexpected array element {elem:#x}")
        return descriptor, out
    raise ValueError(f"unexpected field encoding {code:#x}")


class WsCase(unittest.TestCase):
    maxDiff = None

    @property
    def hub(self):
        return HUB

    # --- helpers ---------------------------------------------------------------------------------

    def hub_bug(self, what, evidence):
        self.fail(f"HUB BUG: {what}\nevidence: {evidence!r}")

    def ws(self, plain=False, **request_kw):
        """A connection with the opening handshake done (whatever the answer)."""
        if plain:
            c = WsClient.connect_plain(self.hub.port("http"), **request_kw)
        else:
            c = WsClient.connect_tls(self.hub.ca_path, self.hub.https_port, **request_kw)
        self.addCleanup(c.close)
        return c

    def upgraded(self, plain=False, protocol="mqtt", **request_kw):
        """An accepted WebSocket (asserts the 101 and its RFC 6455 headers)."""
        c = self.ws(plain=plain, protocol=protocol, **request_kw)
        r = c.response
        self.assertEqual(r.status, 101, f"upgrade refused: {r}\n{r.raw!r}")
        self.assertEqual(r.header("upgrade", "").lower(), "websocket", r)
        self.assertIn("upgrade", r.header("connection", "").lower(), r)
        self.assertEqual(r.header("sec-websocket-accept"), accept_key(c.key), r)
        return c

    def new_device(self):
        device_id = new_id()
        d = self.hub.create_device(device_id)
        return device_id, d["authentication"]["symmetricKey"]["primaryKey"]

    def connect_bytes(self, device_id, key, keepalive=60, token=None):
        return connect_packet(device_id, mqtt_username(self.hub.hostname, device_id),
                              token or self.hub.device_token(device_id, key), keepalive=keepalive)

    def mqtt_client(self, ws):
        """mqtt_raw's client over the WebSocket's binary messages."""
        stream = WsByteStream(ws)
        return RawClient(stream), stream

    def mqtt_device(self, plain=False, **request_kw):
        """(device_id, ws, stream, client): upgraded, CONNECTed, subscribed to methods at QoS 0."""
        device_id, key = self.new_device()
        ws = self.upgraded(plain=plain, **request_kw)
        client, stream = self.mqtt_client(ws)
        ack = client.connect(device_id, mqtt_username(self.hub.hostname, device_id),
                             self.hub.device_token(device_id, key))
        self.assertEqual(ack.return_code, 0, ack)
        self.assertEqual(client.subscribe([(METHODS_FILTER, 0)]), [0])
        return device_id, ws, stream, client

    def invoke_async(self, device_id, method="m", payload=None, response_timeout=10):
        body = {"methodName": method, "responseTimeoutInSeconds": response_timeout}
        if payload is not None:
            body["payload"] = payload
        return POOL.submit(self.hub.request, "POST", f"/twins/{device_id}/methods", body)

    def assertBinaryFrames(self, stream):
        data = [f for f in stream.frames if f.opcode not in (OP_PING, OP_PONG, OP_CLOSE)]
        self.assertTrue(data, "no data frames received")
        bad = [f for f in data if f.opcode != OP_BINARY]
        if bad:
            self.hub_bug("the hub sent MQTT/AMQP bytes in non-binary frames", bad)

    def assertHubHealthy(self):
        """The process is alive and a new WebSocket device still round-trips a method."""
        self.assertIsNone(self.hub.proc.poll(), f"hub process exited\n{self.hub.log()}")
        device_id, ws, stream, client = self.mqtt_device()
        dev = Device(client, handler=lambda r: (200, r.payload)).start()
        self.addCleanup(dev.stop)
        r = self.invoke_async(device_id, payload={"alive": True}).result(20)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"status":200,"payload":{"alive": true}}')

    def wait_closed(self, ws, timeout_s, what):
        """Frames received until the hub ends the connection; fails if it stays open."""
        try:
            return ws.recv_until_closed(timeout_s)
        except StillOpen as e:
            self.hub_bug(f"{what}: the connection is still open after {timeout_s} s",
                         {"frames": e.frames, "partial": bytes(ws.buf[:200])})

    def assertBadUpgrade(self, r, status=400, code="ArgumentInvalid"):
        self.assertNotEqual(r.status, 101, f"HUB BUG: accepted a bad upgrade: {r.raw!r}")
        self.assertEqual(r.status, status, f"{r}\n{r.raw!r}")
        self.assertEqual(r.header("iothub-errorcode"), code, r.raw)
        self.assertIn("application/json", r.header("content-type", ""), r.raw)
        body = json.loads(r.body)
        inner = json.loads(body["Message"])
        self.assertEqual(inner["errorCode"], 400004, body)  # ArgumentInvalid
        self.assertIsNone(r.header("sec-websocket-accept"), r.raw)
        return inner


class HandshakeTest(WsCase):
    def test_mqtt_lowercase_echoed(self):
        c = self.upgraded(protocol="mqtt")
        self.assertEqual(c.response.header("sec-websocket-protocol"), "mqtt", c.response.raw)

    def test_mqtt_uppercase_echoed_exactly(self):
        """The C SDK offers `MQTT`: the answer must carry the client's exact token."""
        c = self.upgraded(protocol="MQTT")
        self.assertEqual(c.response.header("sec-websocket-protocol"), "MQTT", c.response.raw)

    def test_list_picks_mqtt(self):
        c = self.upgraded(protocol="foo, mqtt")
        self.assertEqual(c.response.header("sec-websocket-protocol"), "mqtt", c.response.raw)

    def test_query_string_ignored_and_session_works(self):
        """Java appends ?iothub-no-client-cert=true; the MQTT session then works as usual."""
        device_id, ws, stream, client = self.mqtt_device(path=WS_PATH + "?iothub-no-client-cert=true")
        self.assertEqual(ws.response.header("sec-websocket-protocol"), "mqtt")
        self.assertEqual(client.ping(5).type, PINGRESP)
        self.assertBinaryFrames(stream)

    def test_percent_encoded_dollar_path(self):
        c = self.upgraded(path="/%24iothub/websocket")
        self.assertEqual(c.response.header("sec-websocket-protocol"), "mqtt", c.response.raw)

    def test_permessage_deflate_declined(self):
        device_id, ws, stream, client = self.mqtt_device(
            extra_headers=[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
        ext = ws.response.header("sec-websocket-extensions")
        if ext is not None and "deflate" in ext.lower():
            self.hub_bug("permessage-deflate accepted", ws.response.raw)
        # uncompressed frames flow (the reader rejects RSV1 frames as a protocol violation)
        self.assertEqual(client.ping(5).type, PINGRESP)
        self.assertBinaryFrames(stream)

    def test_plain_http_port(self):
        """The opt-in plain HTTP port upgrades the same path; a method round-trips over it."""
        device_id, ws, stream, client = self.mqtt_device(plain=True)
        self.assertEqual(ws.response.header("sec-websocket-protocol"), "mqtt")
        fut = self.invoke_async(device_id, "plain", {"x": 1})
        p = client.expect(PUBLISH, 10)
        topic, _, payload = p.publish()
        name, rid = parse_method_topic(topic)
        self.assertEqual((name, json.loads(payload)), ("plain", {"x": 1}))
        client.send(publish_packet(response_topic(200, rid), b'"ok"'))
        r = fut.result(15)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"status":200,"payload":"ok"}')
        self.assertBinaryFrames(stream)


class MqttOverWsTest(WsCase):
    def test_invoke_round_trip(self):
        """CONNECT + SUBSCRIBE over WSS, a REST invoke arrives as a PUBLISH in a binary frame, the
        answer goes back as a PUBLISH and the REST caller gets 200 with the payload."""
        device_id, ws, stream, client = self.mqtt_device()
        fut = self.invoke_async(device_id, "reboot", {"delay": 3})
        p = client.expect(PUBLISH, 10)
        topic, pid, payload = p.publish()
        name, rid = parse_method_topic(topic)
        self.assertEqual(name, "reboot")
        self.assertEqual(json.loads(payload), {"delay": 3})
        publish_frames = [f for f in stream.frames if f.payload[:1] and f.payload[0] >> 4 == PUBLISH]
        self.assertTrue(publish_frames and all(f.opcode == OP_BINARY for f in publish_frames), stream.frames)
        client.send(publish_packet(response_topic(201, rid), b'{"rebooting":true}'))
        r = fut.result(15)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": 201, "payload": {"rebooting": True}})
        self.assertBinaryFrames(stream)

    def test_packet_in_continuation_frames(self):
        """CONNECT as one message of three frames (binary FIN=0, continuation FIN=0, continuation
        FIN=1), then SUBSCRIBE the same way: CONNACK and SUBACK come back."""
        device_id, key = self.new_device()
        ws = self.upgraded()
        client, stream = self.mqtt_client(ws)
        connect = self.connect_bytes(device_id, key)
        ws.send_fragmented([connect[:1], connect[1:7], connect[7:]])
        p = client.recv(5)
        self.assertEqual((p.type, p.body), (CONNACK, b"\x00\x00"), p)
        sub = subscribe_packet(7, [(METHODS_FILTER, 0)])
        ws.send_fragmented([sub[:3], sub[3:10], sub[10:]])
        p = client.recv(5)
        self.assertEqual((p.type, p.body), (SUBACK, b"\x00\x07\x00"), p)
        self.assertBinaryFrames(stream)

    def test_packet_split_across_messages(self):
        """CONNECT as three separate complete binary messages (split inside the fixed header and
        in the payload): the byte stream reassembles it."""
        device_id, key = self.new_device()
        ws = self.upgraded()
        client, stream = self.mqtt_client(ws)
        connect = self.connect_bytes(device_id, key)
        for part in (connect[:1], connect[1:20], connect[20:]):
            ws.send_binary(part)
        p = client.recv(5)
        self.assertEqual((p.type, p.body), (CONNACK, b"\x00\x00"), p)
        self.assertEqual(client.ping(5).type, PINGRESP)

    def test_ping_between_fragments(self):
        """A WS ping between the frames of a fragmented message is answered at once, and the
        message still reassembles (RFC 6455 §5.4: control frames may be interleaved)."""
        device_id, key = self.new_device()
        ws = self.upgraded()
        client, stream = self.mqtt_client(ws)
        connect = self.connect_bytes(device_id, key)
        ws.sendall(encode_frame(OP_BINARY, connect[:5], fin=False) + encode_frame(OP_PING, b"mid"))
        f = ws.recv_frame(5)
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b"mid"), f)
        ws.send_frame(OP_CONT, connect[5:], fin=True)
        p = client.recv(5)
        self.assertEqual((p.type, p.body), (CONNACK, b"\x00\x00"), p)

    def test_several_packets_in_one_frame(self):
        """CONNECT + SUBSCRIBE + PINGREQ in one frame, and later a method response PUBLISH +
        PINGREQ in one frame: every packet is handled, in order."""
        device_id, key = self.new_device()
        ws = self.upgraded()
        client, stream = self.mqtt_client(ws)
        ws.send_binary(self.connect_bytes(device_id, key) + subscribe_packet(3, [(METHODS_FILTER, 0)])
                       + PINGREQ_PACKET)
        got = [client.recv(5) for _ in range(3)]
        self.assertEqual([(p.type, p.body) for p in got],
                         [(CONNACK, b"\x00\x00"), (SUBACK, b"\x00\x03\x00"), (PINGRESP, b"")], got)

        fut = self.invoke_async(device_id, "pair", "hello")
        topic, _, payload = client.expect(PUBLISH, 10).publish()
        _, rid = parse_method_topic(topic)
        ws.send_binary(publish_packet(response_topic(200, rid), b'[1,2]') + PINGREQ_PACKET)
        self.assertEqual(client.recv(5).type, PINGRESP)
        r = fut.result(15)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"status":200,"payload":[1,2]}')
        self.assertBinaryFrames(stream)

    def test_two_large_packets_in_one_message(self):
        """A 400 KB message (64-bit frame length) holding two 200 KB QoS 1 telemetry PUBLISHes, each
        under the 256 KB MQTT limit and together under the 2 x 256 KB WebSocket message limit:
        both are acknowledged."""
        device_id, ws, stream, client = self.mqtt_device()
        topic = f"devices/{device_id}/messages/events/"
        msg = (publish_packet(topic, b"a" * 200 * 1024, qos=1, pid=1)
               + publish_packet(topic, b"b" * 200 * 1024, qos=1, pid=2))
        self.assertTrue(400 * 1024 < len(msg) < 2 * MQTT_MAX_PACKET, len(msg))
        ws.send_binary(msg)
        acks = [client.recv(10) for _ in range(2)]
        self.assertEqual([(p.type, p.body) for p in acks], [(4, b"\x00\x01"), (4, b"\x00\x02")], acks)

    def test_pingreq_answered(self):
        device_id, ws, stream, client = self.mqtt_device()
        stream.frames.clear()
        client.send(PINGREQ_PACKET)
        p = client.recv(5)
        self.assertEqual((p.type, p.flags, p.body), (PINGRESP, 0, b""), p)
        self.assertEqual([(f.opcode, f.payload) for f in stream.frames], [(OP_BINARY, b"\xd0\x00")])

    def test_ws_ping_gets_pong(self):
        """A WS ping (before and after CONNECT) gets a pong with the same application data."""
        ws = self.upgraded()
        ws.send_frame(OP_PING, b"before-connect")
        f = ws.recv_frame(5)
        self.assertEqual((f.opcode, f.fin, f.payload), (OP_PONG, True, b"before-connect"), f)
        device_id, key = self.new_device()
        ws.send_binary(self.connect_bytes(device_id, key))
        f = ws.recv_frame(5)
        self.assertEqual((f.opcode, f.payload), (OP_BINARY, b"\x20\x02\x00\x00"), f)
        ws.send_frame(OP_PING, b"")
        f = ws.recv_frame(5)
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b""), f)

    def test_close_handshake(self):
        """A client close (1000) on a connected MQTT session gets a close frame back (the same code)
        and then the hub closes the TCP connection."""
        device_id, ws, stream, client = self.mqtt_device()
        ws.send_close(1000, b"bye")
        frames, why = self.wait_closed(ws, 5, "after a client close frame")
        closes = [f for f in frames if f.opcode == OP_CLOSE]
        if not closes:
            self.hub_bug("no close frame answered a client close frame", (frames, why))
        self.assertEqual(closes[0].close_code, 1000, closes[0])
        self.assertEqual(frames[-1].opcode, OP_CLOSE, f"frames after the close frame: {frames}")

    def test_text_frame_ends_connection(self):
        """MQTT 3.1.1 §6 [MQTT-6.0.0-1]: "MQTT Control Packets MUST be sent in WebSocket binary data
        frames. If any other type of data frame is received the recipient MUST close the Network
        Connection". A QoS 1 telemetry PUBLISH that is valid UTF-8 (30 2c 00 26 "devices/...")
        sent in a text frame on a connected session must end the connection, not get a PUBACK.
        (A text frame that is not UTF-8, e.g. a PINGREQ c0 00, is closed by the WebSocket layer
        with 1007: see the next test.)"""
        device_id, ws, stream, client = self.mqtt_device()
        pkt = publish_packet(f"devices/{device_id}/messages/events/", b"hi", qos=1, pid=42)
        pkt.decode("utf-8")  # valid UTF-8: only the opcode is wrong
        ws.send_frame(OP_TEXT, pkt)
        try:
            frames, why = ws.recv_until_closed(3)
        except StillOpen as e:
            frames, why = e.frames, str(e)
        served = [f for f in frames if f.opcode == OP_BINARY]
        if served or why.startswith("connection still open"):
            self.hub_bug("an MQTT PUBLISH sent in a WebSocket TEXT frame was served (MQTT-6.0.0-1 says "
                         f"close the connection); sent {encode_frame(OP_TEXT, pkt, mask=False)!r} "
                         "(shown unmasked)", {"frames back": frames, "end": why})
        closes = [f for f in frames if f.opcode == OP_CLOSE]
        if closes:
            self.assertIn(closes[0].close_code, (1002, 1003), closes[0])

    def test_invalid_utf8_text_frame_ends_connection(self):
        """A text frame that is not even UTF-8 (a CONNECT with a long token: remaining length
        0xcb..): the connection ends without a CONNACK."""
        device_id, key = self.new_device()
        ws = self.upgraded()
        ws.send_frame(OP_TEXT, self.connect_bytes(device_id, key))
        frames, why = self.wait_closed(ws, 4, "after a non-UTF-8 text frame")
        if [f for f in frames if f.opcode == OP_BINARY]:
            self.hub_bug("a CONNECT in a text frame was answered", frames)

    def test_unmasked_client_frame_closes(self):
        """RFC 6455 §5.1: a server MUST close on an unmasked client frame."""
        ws = self.upgraded()
        ws.sendall(encode_frame(OP_PING, b"x", mask=False))
        frames, why = self.wait_closed(ws, 5, "after an unmasked client frame")
        self.assertFalse([f for f in frames if f.opcode == OP_PONG], f"pong to an unmasked ping: {frames}")
        closes = [f for f in frames if f.opcode == OP_CLOSE]
        if closes:
            self.assertEqual(closes[0].close_code, 1002, closes[0])

    def test_rsv1_frame_closes(self):
        """permessage-deflate was not negotiated, so a frame with RSV1 set is a protocol error:
        close 1002 (RFC 6455 §5.2)."""
        device_id, ws, stream, client = self.mqtt_device()
        ws.send_frame(OP_BINARY, PINGREQ_PACKET, rsv=4)
        frames, why = self.wait_closed(ws, 5, "after an RSV1 frame")
        if [f for f in frames if f.opcode == OP_BINARY]:
            self.hub_bug("a frame with RSV1 set was served", frames)
        closes = [f for f in frames if f.opcode == OP_CLOSE]
        if closes:
            self.assertEqual(closes[0].close_code, 1002, closes[0])

    def test_oversized_message_closes(self):
        """A 600 KB binary message (more than 2 x 256 KB) ends the connection (close 1009 if a close
        frame is sent); the hub stays up and serves a new device."""
        device_id, ws, stream, client = self.mqtt_device()
        big = encode_frame(OP_BINARY, b"\x30" + b"\xff" * (600 * 1024 - 1))
        try:
            ws.sendall(big)
        except OSError:
            pass  # the hub may close before it has read the whole frame
        frames, why = self.wait_closed(ws, 5, "after a 600 KB message")
        closes = [f for f in frames if f.opcode == OP_CLOSE]
        if closes:
            self.assertEqual(closes[0].close_code, 1009, closes[0])
        self.assertHubHealthy()

    def test_oversized_fragmented_message_closes(self):
        """The same limit holds for a message sent as 100 KB continuation frames (6 x 100 KB)."""
        device_id, ws, stream, client = self.mqtt_device()
        chunk = b"\xff" * (100 * 1024)
        try:
            ws.send_fragmented([b"\x30" + chunk] + [chunk] * 5)
        except OSError:
            pass
        frames, why = self.wait_closed(ws, 5, "after a 600 KB fragmented message")
        closes = [f for f in frames if f.opcode == OP_CLOSE]
        if closes:
            self.assertEqual(closes[0].close_code, 1009, closes[0])
        self.assertIsNone(self.hub.proc.poll(), self.hub.log())

    def test_bad_token_refused(self):
        """The same auth as over TCP: a wrong key gets CONNACK 5 and the connection ends."""
        device_id, key = self.new_device()
        ws = self.upgraded()
        client, stream = self.mqtt_client(ws)
        ack = client.connect(device_id, mqtt_username(self.hub.hostname, device_id),
                             self.hub.device_token(device_id, random_key()))
        self.assertEqual(ack.return_code, 5, ack)
        self.assertTrue(client.wait_closed(5), "connection open after CONNACK 5")

    def test_connect_deadline(self):
        """--connect-deadline 2: an upgraded WebSocket that never sends CONNECT is closed within
        ~2-4 s (the TCP rule applies to the WebSocket byte stream)."""
        ws = self.upgraded()
        started = time.monotonic()
        frames, why = self.wait_closed(ws, 6, "WebSocket without CONNECT")
        took = time.monotonic() - started
        self.assertGreaterEqual(took, 1.5, (frames, why))
        self.assertLess(took, 4.5, (frames, why))

    def test_keep_alive(self):
        """keep-alive 1 s: MQTT 3.1.1 §3.1.2.10 closes a silent session after one and a half times
        the keep-alive, i.e. ~1.5 s (not 1 s: the half second must not be rounded away)."""
        device_id, key = self.new_device()
        ws = self.upgraded()
        client, stream = self.mqtt_client(ws)
        ack = client.connect(device_id, mqtt_username(self.hub.hostname, device_id),
                             self.hub.device_token(device_id, key), keepalive=1)
        self.assertEqual(ack.return_code, 0)
        started = time.monotonic()
        frames, why = self.wait_closed(ws, 6, "a silent session with keep-alive 1")
        took = time.monotonic() - started
        if took < 1.4:
            self.hub_bug(f"keep-alive 1 s: silent session closed after {took:.2f} s, before 1.5 x "
                         "keep-alive (src/transport/mqtt_session.cpp: `ka + ka / 2` on whole "
                         "std::chrono::seconds truncates 1.5 s to 1 s)", (frames, why))
        self.assertLess(took, 3.5, (frames, why))


class AmqpOverWsTest(WsCase):
    def amqp_ws(self, protocol="AMQPWSB10"):
        ws = self.upgraded(protocol=protocol)
        self.assertEqual(ws.response.header("sec-websocket-protocol"), protocol, ws.response.raw)
        return ws

    def read_exact(self, stream, n, timeout_s=5):
        stream.settimeout(timeout_s)
        out = b""
        deadline = time.monotonic() + timeout_s
        while len(out) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {out!r} of {n} bytes before the deadline")
            chunk = stream.recv(n - len(out))
            if not chunk:
                self.hub_bug(f"connection ended after {len(out)} of {n} bytes", (out, stream.frames))
            out += chunk
        return out

    def test_amqp_header_answered(self):
        ws = self.amqp_ws()
        stream = WsByteStream(ws)
        ws.send_binary(AMQP_HEADER)
        self.assertEqual(self.read_exact(stream, 8), AMQP_HEADER)
        self.assertBinaryFrames(stream)

    def test_lowercase_subprotocol_echoed(self):
        ws = self.amqp_ws("amqpwsb10")
        stream = WsByteStream(ws)
        ws.send_binary(AMQP_HEADER)
        self.assertEqual(self.read_exact(stream, 8), AMQP_HEADER)

    def test_sasl_mechanisms_list_mssbcbs(self):
        """The SASL header, split across two frames, gets the SASL header and a sasl-mechanisms
        frame that lists MSSBCBS."""
        ws = self.amqp_ws()
        stream = WsByteStream(ws)
        ws.send_binary(SASL_HEADER[:4])
        ws.send_binary(SASL_HEADER[4:])
        self.assertEqual(self.read_exact(stream, 8), SASL_HEADER)
        size, doff, ftype, _ = struct.unpack("!IBBH", self.read_exact(stream, 8))
        self.assertEqual(ftype, 1, "not a SASL frame")
        body = self.read_exact(stream, size - 8)[doff * 4 - 8:]
        descriptor, mechanisms = amqp_symbols(body)
        self.assertEqual(descriptor, 0x40, body.hex())
        self.assertIn("MSSBCBS", mechanisms, body)
        self.assertBinaryFrames(stream)


class BadUpgradeTest(WsCase):
    def test_wrong_subprotocol(self):
        r = self.ws(protocol="chat").response
        inner = self.assertBadUpgrade(r)
        self.assertIn("subprotocol", inner["message"])

    def test_no_subprotocol(self):
        self.assertBadUpgrade(self.ws(protocol=None).response)

    def test_missing_key(self):
        self.assertBadUpgrade(self.ws(key=None).response)

    def test_non_upgrade_get(self):
        self.assertBadUpgrade(self.ws(upgrade=False, key=None, version=None, protocol=None).response)

    def test_non_upgrade_get_on_plain_port(self):
        self.assertBadUpgrade(self.ws(plain=True, upgrade=False, key=None, version=None,
                                      protocol=None).response)

    def test_post_with_body(self):
        self.assertBadUpgrade(self.ws(method="POST", body=b'{"a":1}').response)

    def test_post_upgrade_without_body(self):
        self.assertBadUpgrade(self.ws(method="POST").response)

    def test_version_8(self):
        """An unsupported version gets a clear HTTP error: the hub answers 400 ArgumentInvalid.
        (RFC 6455 §4.2.2 suggests 426 and says the answer MUST carry `Sec-WebSocket-Version: 13`;
        the hub sends neither. No SDK sends another version, so this is not asserted; it is
        reported to the lead.)"""
        r = self.ws(version="8").response
        self.assertBadUpgrade(r)

    def test_connection_ends_after_refusal(self):
        """A refused upgrade is answered and the connection is closed (Connection: close)."""
        c = self.ws(protocol="chat")
        self.assertEqual(c.response.status, 400)
        self.assertEqual(c.response.header("connection", "").lower(), "close", c.response.raw)
        try:
            c._fill(time.monotonic() + 5)
            self.hub_bug("bytes after a refused upgrade", bytes(c.buf))
        except WsClosed:
            pass
        except TimeoutError:
            self.hub_bug("connection kept open after a refused upgrade", c.response.raw)

    def test_hub_healthy_after_bad_upgrades(self):
        for kw in ({"protocol": "chat"}, {"key": None}, {"version": "8"}):
            self.assertEqual(self.ws(**kw).response.status, 400)
        self.assertHubHealthy()


if __name__ == "__main__":
    unittest.main()
