"""A tiny raw MQTT 3.1.1 client for end-to-end tests (standard library only: struct, socket, ssl).

It speaks just enough of MQTT to act as an IoT Hub device and to send deliberately broken
bytes. Nothing here retries or reconnects; every read has a deadline.

    c = RawClient.tcp("127.0.0.1", port)                    # or RawClient.tls(hub, port)
    ack = c.connect("dev1", "localhost/dev1/?api-version=2021-04-12", token)
    assert ack.return_code == 0
    c.subscribe(["$iothub/methods/POST/#"])                  # -> list of granted QoS bytes

`Device` wraps a connected client in a reader thread that collects method requests and can answer
them automatically through a handler.
"""

import queue
import socket
import ssl
import struct
import threading
import time
import urllib.parse

# packet types
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

METHODS_FILTER = "$iothub/methods/POST/#"


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


# --- encoding ------------------------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(ptype, flags, body=b""):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def connect_packet(client_id, username=None, password=None, clean=True, keepalive=60,
                   protocol_level=4, protocol_name="MQTT"):
    flags = 0x02 if clean else 0
    payload = mqtt_str(client_id)
    if username is not None:
        flags |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        flags |= 0x40
        payload += mqtt_str(password)
    var = mqtt_str(protocol_name) + bytes([protocol_level, flags]) + struct.pack("!H", keepalive)
    if protocol_level == 5:
        var += varint(0)  # MQTT 5: empty properties
    return packet(CONNECT, 0, var + payload)


def subscribe_packet(pid, filters):
    """filters: list of topic strings or (topic, qos) pairs."""
    body = struct.pack("!H", pid)
    for f in filters:
        topic, qos = (f, 1) if isinstance(f, str) else f
        body += mqtt_str(topic) + bytes([qos])
    return packet(SUBSCRIBE, 0x02, body)


def publish_packet(topic, payload=b"", qos=0, pid=None, retain=False, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    body = mqtt_str(topic)
    if qos:
        body += struct.pack("!H", pid)
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    return packet(PUBLISH, flags, body + payload)


def puback_packet(pid):
    return packet(PUBACK, 0, struct.pack("!H", pid))


PINGREQ_PACKET = packet(PINGREQ, 0)
DISCONNECT_PACKET = packet(DISCONNECT, 0)


# --- decoded packets -----------------------------------------------------------------------------

class Packet:
    def __init__(self, ptype, flags, body):
        self.type, self.flags, self.body = ptype, flags, body

    # CONNACK
    @property
    def session_present(self):
        return self.body[0] & 1

    @property
    def return_code(self):
        return self.body[1]

    # PUBLISH
    @property
    def qos(self):
        return (self.flags >> 1) & 3

    def publish(self):
        """(topic, packet id or None, payload) of a PUBLISH."""
        (n,) = struct.unpack_from("!H", self.body)
        topic = self.body[2:2 + n].decode()
        rest = self.body[2 + n:]
        pid = None
        if self.qos:
            (pid,) = struct.unpack_from("!H", rest)
            rest = rest[2:]
        return topic, pid, rest

    # PUBACK / SUBACK
    @property
    def packet_id(self):
        return struct.unpack_from("!H", self.body)[0]

    @property
    def granted(self):
        return list(self.body[2:])

    def __repr__(self):
        return f"<MQTT type={self.type} flags={self.flags:#x} body={self.body[:200]!r}>"


class ConnAck:
    def __init__(self, session_present, return_code):
        self.session_present, self.return_code = session_present, return_code

    def __repr__(self):
        return f"<CONNACK sp={self.session_present} rc={self.return_code}>"


# --- client --------------------------------------------------------------------------------------

class RawClient:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.write_lock = threading.Lock()
        self.next_pid = 1
        self.eof = False

    @classmethod
    def tcp(cls, host, port, timeout_s=10):
        s = socket.create_connection((host, port), timeout=timeout_s)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(s)

    @classmethod
    def tls(cls, ca_path, port, host="127.0.0.1", server_hostname="localhost", timeout_s=10):
        ctx = ssl.create_default_context(cafile=ca_path)
        raw = socket.create_connection((host, port), timeout=timeout_s)
        try:
            return cls(ctx.wrap_socket(raw, server_hostname=server_hostname))
        except BaseException:
            raw.close()
            raise

    @classmethod
    def to_hub(cls, hub, tls=False):
        """A connection to `hub`'s MQTT listener: plain TCP (`mqtt`) or MQTTS (`mqtts`)."""
        if tls:
            return cls.tls(hub.ca_path, hub.port("mqtts"))
        return cls.tcp("127.0.0.1", hub.port("mqtt"))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        with self.write_lock:
            self.sock.sendall(data)

    def pid(self):
        p = self.next_pid
        self.next_pid = self.next_pid % 65535 + 1
        return p

    # reading
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no MQTT data before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no MQTT data before the deadline") from None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as e:
            self.eof = True
            raise Closed(str(e)) from None
        except OSError as e:  # e.g. ECONNABORTED
            self.eof = True
            raise Closed(str(e)) from None
        if not data:
            self.eof = True
            raise Closed("EOF")
        self.buf += data

    def _try_parse(self):
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ValueError("bad remaining length from the hub")
        if len(self.buf) < i + length:
            return None
        first = self.buf[0]
        body = bytes(self.buf[i:i + length])
        del self.buf[:i + length]
        return Packet(first >> 4, first & 0x0F, body)

    def recv(self, timeout_s=10):
        """The next packet; raises TimeoutError or Closed."""
        deadline = time.monotonic() + timeout_s
        while True:
            p = self._try_parse()
            if p is not None:
                return p
            self._fill(deadline)

    def expect(self, ptype, timeout_s=10):
        """The next packet of type `ptype`, skipping others (e.g. method PUBLISHes); keeps none."""
        deadline = time.monotonic() + timeout_s
        while True:
            p = self.recv(max(0.001, deadline - time.monotonic()))
            if p.type == ptype:
                return p

    def wait_closed(self, timeout_s):
        """True once the hub closes the connection (packets received meanwhile are dropped),
        False if it is still open at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.recv(max(0.001, deadline - time.monotonic()))
            except Closed:
                return True
            except TimeoutError:
                return False

    # MQTT operations
    def connect(self, client_id, username=None, password=None, clean=True, keepalive=60,
                timeout_s=10, **kw):
        self.send(connect_packet(client_id, username, password, clean, keepalive, **kw))
        p = self.recv(timeout_s)
        if p.type != CONNACK or len(p.body) != 2:
            raise AssertionError(f"expected CONNACK, got {p!r}")
        return ConnAck(p.session_present, p.return_code)

    def subscribe(self, filters, timeout_s=10):
        """Sends one SUBSCRIBE and returns the granted QoS list of its SUBACK."""
        pid = self.pid()
        self.send(subscribe_packet(pid, filters))
        deadline = time.monotonic() + timeout_s
        while True:
            p = self.recv(max(0.001, deadline - time.monotonic()))
            if p.type == SUBACK and p.packet_id == pid:
                return p.granted

    def publish(self, topic, payload=b"", qos=0, timeout_s=10):
        """QoS 0: fire and forget. QoS 1: waits for the matching PUBACK (other packets dropped)."""
        pid = self.pid() if qos else None
        self.send(publish_packet(topic, payload, qos, pid))
        if qos == 1:
            deadline = time.monotonic() + timeout_s
            while True:
                p = self.recv(max(0.001, deadline - time.monotonic()))
                if p.type == PUBACK and p.packet_id == pid:
                    return p

    def ping(self, timeout_s=10):
        self.send(PINGREQ_PACKET)
        return self.expect(PINGRESP, timeout_s)

    def disconnect(self):
        try:
            self.send(DISCONNECT_PACKET)
        except OSError:
            pass
        self.close()


# --- method topics -------------------------------------------------------------------------------

def parse_method_topic(topic):
    """`$iothub/methods/POST/{name}/?$rid={rid}` -> (name, rid), or None."""
    prefix = "$iothub/methods/POST/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix):]
    name, sep, query = rest.partition("/?")
    if not sep:
        return None
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    rid = params.get("$rid", [None])[0]
    return name, rid


def response_topic(status, rid):
    return f"$iothub/methods/res/{status}/?$rid={rid}"


class MethodRequest:
    def __init__(self, topic, name, rid, payload, qos):
        self.topic, self.name, self.rid, self.payload, self.qos = topic, name, rid, payload, qos
        self.received_at = time.monotonic()

    def __repr__(self):
        return f"<method {self.name} rid={self.rid} payload={self.payload[:100]!r}>"


class Device:
    """A connected, subscribed device with a reader thread.

    handler(request) -> None (do not answer) or (status, payload bytes/str) to answer at once
    (QoS `answer_qos`). Every method request is also put on `self.requests`. Other PUBLISHes go to
    `self.other`. `self.closed` is set when the hub closes the connection.
    """

    def __init__(self, client, handler=None, answer_qos=0):
        self.client = client
        self.handler = handler
        self.answer_qos = answer_qos
        self.requests = queue.Queue()
        self.other = queue.Queue()
        self.pubacks = queue.Queue()
        self.pingresps = queue.Queue()
        self.closed = threading.Event()
        self.stopping = False
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        while not self.stopping:
            try:
                p = self.client.recv(0.5)
            except TimeoutError:
                continue
            except (Closed, OSError, ValueError):
                self.closed.set()
                return
            try:
                if p.type == PUBLISH:
                    topic, pid, payload = p.publish()
                    if p.qos == 1:
                        self.client.send(puback_packet(pid))
                    parsed = parse_method_topic(topic)
                    if parsed is None:
                        self.other.put((topic, payload))
                        continue
                    req = MethodRequest(topic, parsed[0], parsed[1], payload, p.qos)
                    self.requests.put(req)
                    if self.handler is not None:
                        answer = self.handler(req)
                        if answer is not None:
                            self.answer(req.rid, *answer)
                elif p.type == PUBACK:
                    self.pubacks.put(p.packet_id)
                elif p.type == PINGRESP:
                    self.pingresps.put(time.monotonic())
            except Exception as e:  # keep the thread alive; the test checks self.errors
                self.errors.append(repr(e))

    def answer(self, rid, status, payload=b"", qos=None):
        """Publishes a method response (QoS 1 is acknowledged on `self.pubacks`)."""
        qos = self.answer_qos if qos is None else qos
        pid = self.client.pid() if qos else None
        try:
            self.client.send(publish_packet(response_topic(status, rid), payload, qos, pid))
        except OSError:
            pass
        return pid

    def sync(self, timeout_s=5):
        """PINGREQ, then waits for its PINGRESP: the hub has handled every packet sent before."""
        self.client.send(PINGREQ_PACKET)
        try:
            self.pingresps.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no PINGRESP within {timeout_s} s") from None

    def next_request(self, timeout_s=10):
        try:
            return self.requests.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no method request reached the device within {timeout_s} s") from None

    def stop(self):
        """Closes the socket abruptly (no DISCONNECT) and joins the reader thread."""
        self.stopping = True
        self.client.close()
        self.thread.join(5)

    def disconnect(self):
        """A clean DISCONNECT, then close."""
        self.stopping = True
        self.client.disconnect()
        self.thread.join(5)
