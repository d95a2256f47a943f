"""`methodhub serve`: first start, data directory, TLS material, restarts, signals, durability."""

import base64
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import unittest
import uuid

from hub import Hub, SharedHubCase, binary, wait_for

POLICY_RIGHTS = {
    "iothubowner": {"RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect"},
    "service": {"ServiceConnect"},
    "device": {"DeviceConnect"},
    "registryRead": {"RegistryRead"},
    "registryReadWrite": {"RegistryRead", "RegistryWrite"},
}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True, text=True, timeout=60)


def read(path, binary_mode=False):
    with open(path, "rb" if binary_mode else "r") as f:
        return f.read()


class FirstStartTest(SharedHubCase):
    """One hub started on an empty data directory, with a host name that is not localhost."""

    hostname = "methodhub.test.lan"
    hub_kwargs = {"hostname": hostname}

    def test_listening_json(self):
        info = self.hub.listening
        self.assertEqual(info["pid"], self.hub.proc.pid)
        self.assertEqual(info["hostname"], self.hostname)
        self.assertEqual(os.path.realpath(info["ca"]), os.path.realpath(self.hub.ca_path))
        for name in ("https", "mqtts", "amqps"):
            self.assertIsInstance(info[name], int, info)
            self.assertGreater(info[name], 0, info)
        self.assertEqual(len({info["https"], info["mqtts"], info["amqps"]}), 3, info)
        for opt_in in ("mqtt", "http"):
            self.assertNotIn(opt_in, info, "opt-in listeners are off unless asked for")
        self.assertEqual(mode(self.hub.path("listening.json")) & 0o022, 0)

    def test_data_dir_layout_and_modes(self):
        for f in ("policies.json", "registry.db", "tls/ca.pem", "tls/server.pem"):
            self.assertTrue(os.path.isfile(self.hub.path(f)), f"{f} missing in {os.listdir(self.hub.data_dir)}")
        self.assertEqual(mode(self.hub.path("policies.json")), 0o600, "policies.json holds keys")
        private_keys = []
        for root, _, files in os.walk(self.hub.data_dir):
            for f in files:
                p = os.path.join(root, f)
                try:
                    text = read(p, True)[:1 << 20]
                except OSError:
                    continue
                if b"PRIVATE KEY-----" in text:
                    private_keys.append(p)
                    self.assertEqual(mode(p), 0o600, f"{p} holds a private key")
        self.assertTrue(private_keys, "no private key file in the data directory")
        self.assertNotIn(b"PRIVATE KEY", read(self.hub.ca_path, True))
        self.assertNotIn(b"PRIVATE KEY", read(self.hub.path("tls/server.pem"), True))

    def test_policies(self):
        doc = json.loads(read(self.hub.path("policies.json")))
        policies = {p["name"]: p for p in doc["policies"]}
        self.assertLessEqual(set(POLICY_RIGHTS), set(policies))
        keys = []
        for name, rights in POLICY_RIGHTS.items():
            p = policies[name]
            self.assertEqual(set(p["rights"]), rights, name)
            for which in ("primaryKey", "secondaryKey"):
                n = len(base64.b64decode(p[which], validate=True))
                self.assertGreaterEqual(n, 16, (name, which))
                self.assertLessEqual(n, 64, (name, which))
                keys.append(p[which])
        self.assertEqual(len(keys), len(set(keys)), "every key is random")

    def test_server_certificate(self):
        server = self.hub.path("tls/server.pem")
        v = openssl("verify", "-CAfile", self.hub.ca_path, server)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn(": OK", v.stdout)
        san = openssl("x509", "-in", server, "-noout", "-ext", "subjectAltName")
        self.assertEqual(san.returncode, 0, san.stderr)
        for want in (f"DNS:{self.hostname}", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"):
            self.assertIn(want, san.stdout)
        ca = openssl("x509", "-in", self.hub.ca_path, "-noout", "-ext", "basicConstraints")
        self.assertIn("CA:TRUE", ca.stdout)

    def test_every_tls_port_serves_the_certificate(self):
        for name in ("https", "mqtts", "amqps"):
            with self.subTest(port=name):
                with self.hub.connect_tls(self.hub.port(name)) as s:  # verifies chain and name
                    self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))

    def test_tls_name_check_for_the_hostname(self):
        # the certificate also verifies for the configured host name (clients dialling it by name)
        raw = socket.create_connection(("127.0.0.1", self.hub.https_port), timeout=10)
        with self.hub.ssl_context().wrap_socket(raw, server_hostname=self.hostname) as s:
            self.assertTrue(s.getpeercert())

    def test_log_says_how_to_get_the_connection_string_and_has_the_ca(self):
        # Keys are never logged (docs/security.md); stdout is not a terminal here, so the
        # connection string is not printed either: the log names the command that prints it.
        hint = f"methodhub connection-string --policy iothubowner --data-dir {os.path.abspath(self.hub.data_dir)}"
        # the log is written while the hub runs; poll for it rather than hoping it was flushed
        wait_for(lambda: hint in self.hub.log(), 10, "the connection-string hint in the log")
        self.assertIn("ca.pem", self.hub.log())
        owner = self.hub.policies()["iothubowner"]
        self.assertNotIn(owner["primaryKey"], self.hub.log())
        self.assertNotIn("SharedAccessKey=", self.hub.log())

    def test_hostname_and_localhost_tokens_accepted(self):
        # a token for the configured host name works; `localhost` is always accepted too
        for host in (self.hostname, "localhost"):
            with self.subTest(host=host):
                r = self.hub.request("GET", "/devices", token=self.hub.token(resource=host))
                self.assertEqual(r.status, 200, r)


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="methodhub-e2e-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)

    def hub(self, **kw):
        h = Hub(data_dir=self.data_dir, **kw)
        self.addCleanup(h.kill9)
        return h

    def test_second_start_reuses_policies_ca_and_registry(self):
        h = self.hub().start()
        policies = read(h.path("policies.json"))
        ca = read(h.ca_path)
        server = read(h.path("tls/server.pem"))
        r = h.request("PUT", "/devices/keep1", {"deviceId": "keep1"})
        self.assertEqual(r.status, 200, r)
        device = r.json()
        h.stop()

        h2 = self.hub().start()
        self.assertEqual(read(h2.path("policies.json")), policies)
        self.assertEqual(read(h2.ca_path), ca)
        self.assertEqual(read(h2.path("tls/server.pem")), server)
        g = h2.request("GET", "/devices/keep1")
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.json()["authentication"], device["authentication"])
        self.assertEqual(g.json()["etag"], device["etag"])
        h2.stop()

    def test_new_hostname_reuses_ca(self):
        h = self.hub(hostname="localhost").start()
        ca = read(h.ca_path)
        h.stop()
        h2 = self.hub(hostname="other.test.lan").start()
        self.assertEqual(read(h2.ca_path), ca)
        san = openssl("x509", "-in", h2.path("tls/server.pem"), "-noout", "-ext", "subjectAltName")
        self.assertIn("DNS:other.test.lan", san.stdout)
        v = openssl("verify", "-CAfile", h2.ca_path, h2.path("tls/server.pem"))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        h2.stop()

    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                h = self.hub().start()
                # with a request in flight on an idle keep-alive connection
                with h.https() as conn:
                    self.assertEqual(conn.request("GET", "/devices").status, 200)
                    self.assertEqual(h.stop(sig), 0)

    def test_opt_in_plain_listeners(self):
        h = self.hub(extra_args=["--mqtt-tcp-port", "0", "--http-port", "0"]).start()
        info = h.listening
        self.assertIn("mqtt", info)
        self.assertIn("http", info)
        ports = [info[k] for k in ("https", "mqtts", "amqps", "mqtt", "http") if k in info]
        self.assertEqual(len(set(ports)), len(ports), info)
        for p in ports:
            socket.create_connection(("127.0.0.1", p), timeout=5).close()
        h.stop()

    def test_port_in_use_fails_cleanly(self):
        blocker = socket.socket()
        self.addCleanup(blocker.close)
        blocker.bind(("0.0.0.0", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        out = open(os.path.join(self.data_dir, "out.log"), "wb+")
        self.addCleanup(out.close)
        proc = subprocess.Popen([binary(), "serve", "--data-dir", self.data_dir, "--hostname", "localhost",
                                 "--https-port", str(port), "--mqtt-port", "0", "--amqp-port", "0"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail("hub kept running although its HTTPS port was taken")
        out.seek(0)
        log = out.read().decode(errors="replace")
        self.assertNotEqual(code, 0, log)
        self.assertTrue(str(port) in log or "in use" in log.lower(), f"the error names the port: {log}")
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "listening.json")), log)

    def test_acknowledged_writes_survive_kill_9(self):
        """Each round: start, PUT devices, kill -9 right after the last acknowledgement."""
        rounds, per_round = 20, 3
        acknowledged = {}
        deleted = set()
        h = None
        for i in range(rounds):
            h = self.hub().start()
            with h.https() as conn:
                if i and i % 5 == 0:  # deletes must be durable too
                    victim = sorted(acknowledged)[0]
                    r = conn.request("DELETE", f"/devices/{victim}")
                    self.assertEqual(r.status, 204, r)
                    del acknowledged[victim]
                    deleted.add(victim)
                for j in range(per_round):
                    device_id = f"k9-{i}-{j}-{uuid.uuid4().hex[:6]}"
                    r = conn.request("PUT", f"/devices/{device_id}", {"deviceId": device_id})
                    self.assertEqual(r.status, 200, r)
                    acknowledged[device_id] = r.json()["authentication"]["symmetricKey"]
                h.kill9()

        h = self.hub().start()
        with h.https() as conn:
            for device_id, keys in acknowledged.items():
                r = conn.request("GET", f"/devices/{device_id}")
                self.assertEqual(r.status, 200, f"{device_id} lost after kill -9: {r}\n{h.log()}")
                self.assertEqual(r.json()["authentication"]["symmetricKey"], keys, device_id)
            for device_id in deleted:
                self.assertEqual(conn.request("GET", f"/devices/{device_id}").status, 404, device_id)
            listed = {d["deviceId"] for d in conn.request("GET", "/devices").json()}
        self.assertEqual(listed, set(acknowledged))
        h.stop()


if __name__ == "__main__":
    unittest.main()
