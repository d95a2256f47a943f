"""A small hand-written WebSocket (RFC 6455) client for end-to-end tests; standard library only.

It does the opening handshake over a plain or TLS socket, sends masked client frames (any
opcode, FIN bit, fragmentation, or deliberately broken frames), reads server frames strictly
(unmasked, RSV bits clear, control frames <= 125 bytes and never fragmented), and does ping/pong
and the close handshake. Every read has a deadline; nothing retries.

    ws = WsClient.connect_tls(ca_path, port, protocol="mqtt")     # or WsClient.connect_plain(...)
    assert ws.response.status == 101
    ws.send_frame(OP_BINARY, b"...")                               # one masked frame
    f = ws.recv_frame(5)                                           # Frame(fin, opcode, payload)

`WsByteStream(ws)` is a socket look-alike (recv/sendall/settimeout/close) whose bytes are the
payloads of binary messages, so mqtt_raw.RawClient and Device run over a WebSocket unchanged.
It answers pings, records every frame it receives in `frames`, and treats a close frame or EOF
as end of stream (answering the close).
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
import threading
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_PATH = "/$iothub/websocket"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODE_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


class Closed(Exception):
    """The peer closed the TCP/TLS connection (EOF or reset)."""


class StillOpen(TimeoutError):
    """recv_until_closed's deadline passed with the connection open; `frames` holds what came."""

    def __init__(self, message, frames):
        super().__init__(message)
        self.frames = frames


class ProtocolViolation(AssertionError):
    """The server sent something RFC 6455 forbids (the message says what, with the bytes)."""


def accept_key(key):
    """The Sec-WebSocket-Accept value a server must answer to Sec-WebSocket-Key `key`."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


# --- frames --------------------------------------------------------------------------------------

def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None):
    """One frame as a client sends it (masked unless mask=False)."""
    if isinstance(payload, str):
        payload = payload.encode()
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(data, key):
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, opcode, payload, raw_head):
        self.fin, self.opcode, self.payload, self.raw_head = fin, opcode, payload, raw_head

    @property
    def close_code(self):
        """The status code of a close frame (None if it has no body)."""
        return struct.unpack_from("!H", self.payload)[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:]

    def __repr__(self):
        name = OPCODE_NAMES.get(self.opcode, hex(self.opcode))
        return (f"<frame {name} fin={int(self.fin)} len={len(self.payload)} "
                f"head={self.raw_head.hex()} payload={self.payload[:80]!r}>")


# --- HTTP handshake ------------------------------------------------------------------------------

class HttpResponse:
    def __init__(self, status, reason, headers, body, raw):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (repeated headers joined with ", ")
        self.body = body
        self.raw = raw          # the exact bytes of the status line and headers (and body read)

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return f"<HTTP {self.status} {self.reason} {self.headers} body={self.body[:500]!r}>"


def upgrade_request(path=WS_PATH, host="localhost", protocol="mqtt", key="new", version="13",
                    method="GET", extra_headers=(), body=b"", upgrade=True):
    """The bytes of an opening handshake; None for protocol/key/version leaves that header out."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {new_key() if key == 'new' else key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if protocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    lines += [f"{k}: {v}" for k, v in extra_headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class WsClient:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.write_lock = threading.Lock()
        self.response = None
        self.key = None
        self.close_sent = False

    # --- connecting ------------------------------------------------------------------------------

    @staticmethod
    def open_plain(port, host="127.0.0.1", timeout_s=10):
        s = socket.create_connection((host, port), timeout=timeout_s)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return WsClient(s)

    @staticmethod
    def open_tls(ca_path, port, host="127.0.0.1", server_hostname="localhost", timeout_s=10):
        ctx = ssl.create_default_context(cafile=ca_path)
        raw = socket.create_connection((host, port), timeout=timeout_s)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            return WsClient(ctx.wrap_socket(raw, server_hostname=server_hostname))
        except BaseException:
            raw.close()
            raise

    @classmethod
    def connect_tls(cls, ca_path, port, timeout_s=10, **request_kw):
        """TLS connection + opening handshake; `response` holds the answer (check its status)."""
        c = cls.open_tls(ca_path, port, timeout_s=timeout_s)
        c.handshake(timeout_s=timeout_s, **request_kw)
        return c

    @classmethod
    def connect_plain(cls, port, timeout_s=10, **request_kw):
        c = cls.open_plain(port, timeout_s=timeout_s)
        c.handshake(timeout_s=timeout_s, **request_kw)
        return c

    def handshake(self, timeout_s=10, key="new", **request_kw):
        self.key = new_key() if key == "new" else key
        self.sendall(upgrade_request(key=self.key, **request_kw))
        self.response = self.read_http_response(timeout_s)
        return self.response

    def read_http_response(self, timeout_s=10):
        """Reads a status line and headers; then a body of Content-Length bytes (non-101 only).
        Bytes after the headers of a 101 stay buffered for the frame reader."""
        deadline = time.monotonic() + timeout_s
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ProtocolViolation(f"HTTP response headers too long: {bytes(self.buf[:300])!r}")
            self._fill(deadline, "the HTTP response")
        end = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:end])
        del self.buf[:end]
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolViolation(f"not an HTTP status line: {head[:300]!r}")
        status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body = b""
        if status != 101:
            length = int(headers.get("content-length", "0") or 0)
            while len(self.buf) < length:
                try:
                    self._fill(deadline, "the HTTP response body")
                except Closed:
                    break
            body = bytes(self.buf[:length])
            del self.buf[:length]
        return HttpResponse(status, reason, headers, body, head + body)

    # --- low-level I/O ---------------------------------------------------------------------------

    def sendall(self, data):
        with self.write_lock:
            self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline, what="data"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {what} before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no {what} before the deadline") from None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as e:
            raise Closed(f"{type(e).__name__}: {e}") from None
        except OSError as e:
            raise Closed(f"{type(e).__name__}: {e}") from None
        if not data:
            raise Closed("EOF")
        self.buf += data

    # --- frames ----------------------------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.sendall(encode_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    def send_binary(self, payload):
        self.send_frame(OP_BINARY, payload)

    def send_fragmented(self, payload_parts, opcode=OP_BINARY):
        """One message as len(parts) frames: `opcode` with FIN=0, continuation frames, the last with FIN=1."""
        frames = b""
        for i, part in enumerate(payload_parts):
            frames += encode_frame(opcode if i == 0 else OP_CONT, part, fin=i == len(payload_parts) - 1)
        self.sendall(frames)

    def send_close(self, code=1000, reason=b""):
        self.close_sent = True
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    def _try_parse(self):
        b = self.buf
        if len(b) < 2:
            return None
        first, second = b[0], b[1]
        n = second & 0x7F
        i = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack_from("!H", b, 2)[0]
            i = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack_from("!Q", b, 2)[0]
            i = 10
        masked = bool(second & 0x80)
        if masked:
            i += 4
        if len(b) < i + n:
            return None
        head = bytes(b[:i])
        payload = bytes(b[i:i + n])
        del b[:i + n]
        fin, rsv, opcode = bool(first & 0x80), (first >> 4) & 7, first & 0x0F
        if masked:
            raise ProtocolViolation(f"server frame is masked (RFC 6455 §5.1): head={head.hex()}")
        if rsv:
            raise ProtocolViolation(f"server frame has RSV bits {rsv:#x} without a negotiated extension: "
                                    f"head={head.hex()}")
        if opcode not in OPCODE_NAMES:
            raise ProtocolViolation(f"server frame has reserved opcode {opcode:#x}: head={head.hex()}")
        if opcode >= 8 and (not fin or n > 125):
            raise ProtocolViolation(f"server control frame fragmented or > 125 bytes: head={head.hex()}")
        return Frame(fin, opcode, payload, head)

    def recv_frame(self, timeout_s=10):
        """The next frame from the server; raises TimeoutError, Closed or ProtocolViolation."""
        deadline = time.monotonic() + timeout_s
        while True:
            f = self._try_parse()
            if f is not None:
                return f
            self._fill(deadline, "WebSocket frame")

    def recv_until_closed(self, timeout_s):
        """Reads frames until the server ends the TCP connection. Returns (frames, why) where why is
        "EOF"/"reset..." from Closed; raises StillOpen (with the frames) if the connection is still
        open at the deadline."""
        deadline = time.monotonic() + timeout_s
        frames = []
        while True:
            try:
                frames.append(self.recv_frame(max(0.001, deadline - time.monotonic())))
            except Closed as e:
                return frames, str(e)
            except TimeoutError:
                raise StillOpen(f"connection still open after {timeout_s} s", frames) from None


class WsByteStream:
    """A socket look-alike over a WsClient: sendall() sends one binary frame, recv() returns the
    payload bytes of binary (and continuation) frames as they come. Pings are answered with pongs;
    a close frame is answered (once) and ends the stream like EOF. Every received frame is kept in
    `frames` so tests can check the opcodes the server used."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []
        self.timeout = None
        self.closed_by_peer = None  # the close Frame the server sent, if any
        self.pending = bytearray()

    def settimeout(self, t):
        self.timeout = t

    def sendall(self, data):
        self.ws.send_frame(OP_BINARY, data)

    def recv(self, n):
        if self.pending:
            out = bytes(self.pending[:n])
            del self.pending[:n]
            return out
        if self.closed_by_peer is not None:
            return b""
        deadline = time.monotonic() + (self.timeout if self.timeout is not None else 3600)
        while True:
            try:
                f = self.ws.recv_frame(max(0.001, deadline - time.monotonic()))
            except TimeoutError:
                raise socket.timeout("timed out") from None
            except Closed:
                return b""
            self.frames.append(f)
            if f.opcode == OP_PING:
                self.ws.send_frame(OP_PONG, f.payload)
            elif f.opcode == OP_PONG:
                pass
            elif f.opcode == OP_CLOSE:
                self.closed_by_peer = f
                if not self.ws.close_sent:
                    try:
                        self.ws.send_close(f.close_code or 1000)
                    except OSError:
                        pass
                return b""
            elif f.payload:
                self.pending += f.payload
                out = bytes(self.pending[:n])
                del self.pending[:n]
                return out

    def close(self):
        self.ws.close()
