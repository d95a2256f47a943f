"""Harness for end-to-end tests: runs the real `methodhub serve` over real sockets.

Standard library only; run with Debian's /usr/bin/python3. The binary comes from $METHODHUB_BIN
(CTest sets it). Every listener is asked for port 0; the hub writes <data-dir>/listening.json once
all are bound, and the harness polls for that file with a deadline.

    with Hub() as hub:                       # temp data dir, hostname localhost
        r = hub.request("GET", "/devices")   # iothubowner token, api-version added
        assert r.status == 200, r
"""

import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

API_VERSION = "2021-04-12"
STARTUP_DEADLINE_S = 60.0
STOP_DEADLINE_S = 20.0


def binary():
    path = os.environ.get("METHODHUB_BIN")
    if not path:
        raise RuntimeError("METHODHUB_BIN is not set (CTest sets it; by hand: "
                           "METHODHUB_BIN=build/release/src/cli/methodhub)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"METHODHUB_BIN={path} is not an executable file")
    return path


def wait_for(condition, deadline_s, what, interval_s=0.02):
    """Polls `condition()` until it returns a truthy value or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


# --- SAS tokens (spec/protocol.md §2.1-2.3), as the Node SDK builds them ----------------------

def url_encode(s):
    """encodeURIComponent plus !'()* escaped, as azure-iot-common does."""
    return urllib.parse.quote(s, safe="-_.~")


def sas_token(resource, key_b64, policy=None, ttl_s=3600, expiry=None):
    """`SharedAccessSignature sr=..&sig=..&se=..[&skn=..]`, signing sr exactly as placed in the token."""
    sr = url_encode(resource)
    se = str(int(expiry if expiry is not None else time.time() + ttl_s))
    digest = hmac.new(base64.b64decode(key_b64), f"{sr}\n{se}".encode(), hashlib.sha256).digest()
    sig = url_encode(base64.b64encode(digest).decode())
    token = f"SharedAccessSignature sr={sr}&sig={sig}&se={se}"
    if policy is not None:
        token += f"&skn={policy}"
    return token


def new_id(prefix="dev", hex_digits=10):
    """A fresh identity id: `prefix`, a dash and random hex digits."""
    return f"{prefix}-{uuid.uuid4().hex[:hex_digits]}"


def random_key(nbytes=32):
    return base64.b64encode(os.urandom(nbytes)).decode()


# --- responses ---------------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names -> value
        self.body = body        # bytes

    def json(self):
        return json.loads(self.body)

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:2000]!r}>"


def _response(resp):
    body = resp.read()
    return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)


# --- the hub -----------------------------------------------------------------------------------

class HubError(AssertionError):
    pass


class Hub:
    """One `methodhub serve` process on a data directory (a fresh temp dir unless given)."""

    def __init__(self, data_dir=None, hostname="localhost", extra_args=(), keep_data=False,
                 preexec_fn=None):
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="methodhub-e2e-")
        self.keep_data = keep_data
        self.hostname = hostname
        self.extra_args = list(extra_args)
        self.preexec_fn = preexec_fn  # runs in the hub's process before exec (e.g. setrlimit)
        self.proc = None
        self.listening = None
        self.log_path = None
        self._log_file = None
        self._runs = 0

    # paths
    def path(self, *parts):
        return os.path.join(self.data_dir, *parts)

    @property
    def ca_path(self):
        return self.path("tls", "ca.pem")

    # lifecycle
    def start(self, deadline_s=STARTUP_DEADLINE_S):
        assert self.proc is None or self.proc.poll() is not None, "hub already running"
        listening = self.path("listening.json")
        if os.path.exists(listening):  # stale, from a run that was killed
            os.unlink(listening)
        self._runs += 1
        self.log_path = os.path.join(tempfile.gettempdir(),
                                     f"{os.path.basename(self.data_dir)}.run{self._runs}.log")
        self._log_file = open(self.log_path, "wb")
        args = [binary(), "serve", "--data-dir", self.data_dir, "--hostname", self.hostname,
                "--https-port", "0", "--mqtt-port", "0", "--amqp-port", "0", *self.extra_args]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, preexec_fn=self.preexec_fn)

        def ready():
            if self.proc.poll() is not None:
                raise HubError(f"hub exited with code {self.proc.returncode} before listening\n"
                               f"command: {' '.join(args)}\n{self.log()}")
            try:
                with open(listening) as f:
                    info = json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                return None  # not yet (the hub writes it atomically, but be lenient)
            return info if info.get("pid") == self.proc.pid else None

        try:
            self.listening = wait_for(ready, deadline_s, "listening.json")
        except AssertionError as e:
            if not isinstance(e, HubError):
                self.kill9()
                raise HubError(f"{e}\ncommand: {' '.join(args)}\n{self.log()}") from None
            raise
        return self

    def stop(self, sig=signal.SIGTERM, deadline_s=STOP_DEADLINE_S):
        """Signals the hub and asserts a clean exit (code 0) within the deadline."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise HubError(f"hub did not exit within {deadline_s:.0f} s of {sig.name}\n{self.log()}")
        self._close_log()
        if code != 0:
            raise HubError(f"hub exited with code {code} after {sig.name}\n{self.log()}")
        return code

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_DEADLINE_S)
        self._close_log()

    def cleanup(self):
        """Kills the hub if still running; removes the temp data dir and the logs (failures
        have already quoted the log in their messages) unless keep_data or $METHODHUB_KEEP_DATA."""
        self.kill9()
        if self.owns_dir and not self.keep_data and not os.environ.get("METHODHUB_KEEP_DATA"):
            shutil.rmtree(self.data_dir, ignore_errors=True)
            for run in range(1, self._runs + 1):
                log = os.path.join(tempfile.gettempdir(), f"{os.path.basename(self.data_dir)}.run{run}.log")
                if os.path.exists(log):
                    os.unlink(log)

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.stop()
        finally:
            self.cleanup()

    def log(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return "(no hub log)"
        with open(self.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        return f"--- hub log ({self.log_path}) ---\n{text[-20000:]}--- end of hub log ---"

    # listening.json
    def port(self, name):
        return self.listening[name]

    @property
    def https_port(self):
        return self.listening["https"]

    # policies.json
    def policies(self):
        with open(self.path("policies.json")) as f:
            return {p["name"]: p for p in json.load(f)["policies"]}

    def policy_key(self, policy, which="primaryKey"):
        return self.policies()[policy][which]

    def token(self, policy="iothubowner", which="primaryKey", ttl_s=3600, expiry=None, resource=None):
        return sas_token(resource or self.hostname, self.policy_key(policy, which), policy,
                         ttl_s=ttl_s, expiry=expiry)

    def connection_string(self, policy="iothubowner"):
        return (f"HostName={self.hostname};SharedAccessKeyName={policy};"
                f"SharedAccessKey={self.policy_key(policy)}")

    # HTTPS
    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_path)
        ctx.check_hostname = True
        return ctx

    def connect_tls(self, port, timeout_s=10):
        """A TLS socket to 127.0.0.1:port, verified against the hub's CA for `localhost`."""
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        try:
            return self.ssl_context().wrap_socket(raw, server_hostname="localhost")
        except BaseException:
            raw.close()
            raise

    def https(self, timeout_s=30):
        return _Connection(self, timeout_s)

    def request(self, method, path, body=None, headers=None, token="default",
                api_version=API_VERSION, timeout_s=30):
        """One HTTPS request on a fresh connection. `body`: dict/list (sent as JSON), str or bytes.
        `token`: "default" (iothubowner), None (no Authorization) or a token string.
        `api_version`: appended as a query parameter unless None."""
        with self.https(timeout_s) as conn:
            return conn.request(method, path, body, headers, token, api_version)


class SharedHubCase(unittest.TestCase):
    """One hub for a whole test class: started in setUpClass with `Hub(extra_args=base_args +
    hub_args, **hub_kwargs)` (subclasses set `hub_args` for their own flags), stopped in
    tearDownClass. With `pool_workers`, `cls.pool` is a thread pool for concurrent clients."""

    base_args = []
    hub_args = []
    hub_kwargs = {}
    pool_workers = 0
    hub = None
    pool = None

    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(extra_args=list(cls.base_args) + list(cls.hub_args), **cls.hub_kwargs)
        try:
            cls.hub.start()
        except BaseException:
            cls.hub.cleanup()
            raise
        if cls.pool_workers:
            cls.pool = concurrent.futures.ThreadPoolExecutor(max_workers=cls.pool_workers)

    @classmethod
    def tearDownClass(cls):
        if cls.pool:
            cls.pool.shutdown(wait=False, cancel_futures=True)
        try:
            cls.hub.stop()
        finally:
            cls.hub.cleanup()


class _HTTPSConnection(http.client.HTTPSConnection):
    """Dials 127.0.0.1 but verifies (and sends SNI for) `localhost`."""

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname="localhost")


class _Connection:
    def __init__(self, hub, timeout_s):
        self.hub = hub
        self.conn = _HTTPSConnection("localhost", hub.https_port, timeout=timeout_s,
                                     context=hub.ssl_context())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()

    def request(self, method, path, body=None, headers=None, token="default",
                api_version=API_VERSION):
        if api_version is not None:
            path += ("&" if "?" in path else "?") + "api-version=" + api_version
        hdrs = {"Host": "localhost"}
        if token == "default":
            token = self.hub.token()
        if token is not None:
            hdrs["Authorization"] = token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        hdrs.update(headers or {})
        self.conn.request(method, path, body=body, headers=hdrs)
        return _response(self.conn.getresponse())


# --- identities and device credentials (added for the method tests; additive only) -------------

def device_resource(hostname, device_id, module_id=None):
    """The SAS `sr` resource of a device or module identity (before URL-encoding)."""
    r = f"{hostname}/devices/{device_id}"
    return r if module_id is None else f"{r}/modules/{module_id}"


def mqtt_username(hostname, device_id, module_id=None, api_version=API_VERSION):
    client_id = device_id if module_id is None else f"{device_id}/{module_id}"
    return f"{hostname}/{client_id}/?api-version={api_version}"


def mqtt_client_id(device_id, module_id=None):
    return device_id if module_id is None else f"{device_id}/{module_id}"


def _hub_create_identity(self, device_id, module_id=None, **fields):
    """PUT a device (or module) and return the JSON answer; asserts 200."""
    if module_id is None:
        path = f"/devices/{url_encode(device_id)}"
        body = {"deviceId": device_id, **fields}
    else:
        path = f"/devices/{url_encode(device_id)}/modules/{url_encode(module_id)}"
        body = {"deviceId": device_id, "moduleId": module_id, **fields}
    r = self.request("PUT", path, body)
    if r.status != 200:
        raise AssertionError(f"creating {path} failed: {r}")
    return r.json()


def _hub_create_device(self, device_id, **fields):
    return _hub_create_identity(self, device_id, None, **fields)


def _hub_create_module(self, device_id, module_id, **fields):
    return _hub_create_identity(self, device_id, module_id, **fields)


def _hub_device_token(self, device_id, key_b64, module_id=None, ttl_s=3600, expiry=None):
    """A device (or module) SAS token signed with the identity's key, as the device SDKs build it."""
    return sas_token(device_resource(self.hostname, device_id, module_id), key_b64,
                     ttl_s=ttl_s, expiry=expiry)


Hub.create_identity = _hub_create_identity
Hub.create_device = _hub_create_device
Hub.create_module = _hub_create_module
Hub.device_token = _hub_device_token
