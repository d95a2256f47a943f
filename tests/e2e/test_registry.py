"""Registry REST API (spec/protocol.md §6, §1.7, §2) driven with raw HTTPS against `methodhub serve`."""

import base64
import http.client
import json
import ssl
import time
import unittest
import uuid

import hub
from hub import Response, SharedHubCase, random_key, sas_token, url_encode

ERROR_NAMES = {
    400001: "InvalidProtocolVersion",
    400004: "ArgumentInvalid",
    400006: "IotHubFormatError",
    401002: "IotHubUnauthorizedAccess",
    404001: "DeviceNotFound",
    404010: "ModuleNotFound",
    409001: "DeviceAlreadyExists",
    409301: "ModuleAlreadyExistsOnDevice",
    412001: "PreconditionFailed",
    413001: "MessageTooLarge",
}


def new_id(prefix="dev"):
    return hub.new_id(prefix, hex_digits=12)


def key_bytes(b64):
    return len(base64.b64decode(b64, validate=True))


class RegistryTest(SharedHubCase):

    # --- helpers --------------------------------------------------------------------------------

    def req(self, method, path, body=None, **kw):
        return self.hub.request(method, path, body, **kw)

    def put_device(self, device_id, body=None, **kw):
        body = {"deviceId": device_id} if body is None else body
        return self.req("PUT", f"/devices/{url_encode(device_id)}", body, **kw)

    def create_device(self, device_id=None, **fields):
        device_id = device_id or new_id()
        r = self.put_device(device_id, {"deviceId": device_id, **fields})
        self.assertEqual(r.status, 200, r)
        return r.json()

    def get_device(self, device_id, **kw):
        return self.req("GET", f"/devices/{url_encode(device_id)}", **kw)

    def module_path(self, device_id, module_id=None):
        p = f"/devices/{url_encode(device_id)}/modules"
        return p if module_id is None else f"{p}/{url_encode(module_id)}"

    def assertJsonContentType(self, r):
        self.assertIn("application/json", r.header("content-type", ""), r)

    def assertError(self, r, status, code=None):
        """Status, `iothub-errorcode` header, JSON content type, and envelope A of spec §1.7."""
        self.assertEqual(r.status, status, r)
        self.assertJsonContentType(r)
        self.assertIsNotNone(r.header("iothub-errorcode"), f"no iothub-errorcode header: {r}")
        outer = r.json()
        self.assertIsInstance(outer, dict, r)
        self.assertEqual(set(outer), {"Message", "ExceptionMessage"}, r)
        self.assertEqual(outer["ExceptionMessage"], "", r)
        self.assertIsInstance(outer["Message"], str, r)
        inner = json.loads(outer["Message"])
        for field in ("errorCode", "trackingId", "message", "info", "timestampUtc"):
            self.assertIn(field, inner, r)
        self.assertIsInstance(inner["errorCode"], int, r)
        self.assertIsInstance(inner["trackingId"], str, r)
        self.assertTrue(inner["trackingId"], r)
        self.assertIsInstance(inner["message"], str, r)
        self.assertIsInstance(inner["info"], dict, r)
        self.assertRegex(inner["timestampUtc"], r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", r)
        self.assertEqual(inner["errorCode"] // 1000, status, r)
        if code is not None:
            self.assertEqual(inner["errorCode"], code, r)
            self.assertEqual(r.header("iothub-errorcode"), ERROR_NAMES[code], r)
        return inner

    def assertGeneratedKeys(self, identity):
        auth = identity["authentication"]
        self.assertEqual(auth["type"], "sas", identity)
        keys = auth["symmetricKey"]
        self.assertEqual(key_bytes(keys["primaryKey"]), 32, identity)
        self.assertEqual(key_bytes(keys["secondaryKey"]), 32, identity)
        self.assertNotEqual(keys["primaryKey"], keys["secondaryKey"], identity)

    # --- devices: create, read, list ------------------------------------------------------------

    def test_create_device_generates_keys_and_returns_device(self):
        device_id = new_id()
        r = self.put_device(device_id)
        self.assertEqual(r.status, 200, r)
        self.assertJsonContentType(r)
        d = r.json()
        self.assertEqual(d["deviceId"], device_id)
        self.assertEqual(d["status"], "enabled")
        self.assertEqual(d["connectionState"], "Disconnected")
        self.assertTrue(d["etag"], d)
        self.assertTrue(d["generationId"], d)
        self.assertGeneratedKeys(d)

        g = self.get_device(device_id)
        self.assertEqual(g.status, 200, g)
        self.assertJsonContentType(g)
        got = g.json()
        self.assertEqual(got["deviceId"], device_id)
        self.assertEqual(got["etag"], d["etag"])
        self.assertEqual(got["generationId"], d["generationId"])
        self.assertEqual(got["authentication"], d["authentication"])

    def test_keys_generated_when_absent_null_or_empty(self):
        bodies = {
            "no authentication": lambda i: {"deviceId": i},
            "authentication without symmetricKey": lambda i: {"deviceId": i, "authentication": {"type": "sas"}},
            "null keys": lambda i: {"deviceId": i, "authentication": {
                "type": "sas", "symmetricKey": {"primaryKey": None, "secondaryKey": None}}},
            "empty keys (Node SDK)": lambda i: {"deviceId": i, "authentication": {
                "type": "sas", "symmetricKey": {"primaryKey": "", "secondaryKey": ""}}},
            "null symmetricKey": lambda i: {"deviceId": i, "authentication": {
                "type": "sas", "symmetricKey": None}},
        }
        seen = set()
        for what, make in bodies.items():
            with self.subTest(what):
                device_id = new_id()
                r = self.put_device(device_id, make(device_id))
                self.assertEqual(r.status, 200, r)
                d = r.json()
                self.assertGeneratedKeys(d)
                keys = d["authentication"]["symmetricKey"]
                self.assertNotIn(keys["primaryKey"], seen, "keys must be random")
                seen.add(keys["primaryKey"])

    def test_supplied_keys_16_to_64_bytes_accepted(self):
        for n in (16, 32, 64):
            with self.subTest(bytes=n):
                device_id = new_id()
                auth = {"type": "sas", "symmetricKey": {"primaryKey": random_key(n),
                                                        "secondaryKey": random_key(n)}}
                r = self.put_device(device_id, {"deviceId": device_id, "authentication": auth})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["authentication"]["symmetricKey"], auth["symmetricKey"])
                g = self.get_device(device_id)
                self.assertEqual(g.json()["authentication"]["symmetricKey"], auth["symmetricKey"])

    def test_supplied_keys_out_of_range_rejected(self):
        cases = {
            "primary 15 bytes": (random_key(15), random_key(32)),
            "primary 65 bytes": (random_key(65), random_key(32)),
            "secondary 15 bytes": (random_key(32), random_key(15)),
            "secondary 65 bytes": (random_key(32), random_key(65)),
            "not base64": ("this is not base64!!", random_key(32)),
        }
        for what, (primary, secondary) in cases.items():
            with self.subTest(what):
                device_id = new_id()
                body = {"deviceId": device_id, "authentication": {
                    "type": "sas", "symmetricKey": {"primaryKey": primary, "secondaryKey": secondary}}}
                self.assertError(self.put_device(device_id, body), 400, 400004)
                self.assertError(self.get_device(device_id), 404, 404001)

    def test_list_devices(self):
        ids = {self.create_device()["deviceId"] for _ in range(3)}
        r = self.req("GET", "/devices")
        self.assertEqual(r.status, 200, r)
        self.assertJsonContentType(r)
        listed = r.json()
        self.assertIsInstance(listed, list)
        by_id = {d["deviceId"]: d for d in listed}
        self.assertLessEqual(ids, set(by_id))
        for i in ids:
            self.assertGeneratedKeys(by_id[i])

    def test_read_only_fields_in_body_ignored(self):
        device_id = new_id()
        body = {
            "deviceId": device_id,
            "generationId": "bogus-generation",
            "etag": "bogus-etag",
            "connectionState": "Connected",
            "connectionStateUpdatedTime": "2001-01-01T00:00:00Z",
            "statusUpdatedTime": "0001-01-01T00:00:00",
            "lastActivityTime": "0001-01-01T00:00:00",
            "cloudToDeviceMessageCount": 42,
            "status": "enabled",
            "capabilities": {"iotEdge": False},
        }
        r = self.put_device(device_id, body)
        self.assertEqual(r.status, 200, r)
        for d in (r.json(), self.get_device(device_id).json()):
            self.assertEqual(d["connectionState"], "Disconnected", d)
            self.assertNotEqual(d["generationId"], "bogus-generation", d)
            self.assertNotEqual(d["etag"], "bogus-etag", d)
            self.assertEqual(d.get("cloudToDeviceMessageCount", 0), 0, d)
            self.assertGeneratedKeys(d)

    def test_disabled_status_round_trips(self):
        device_id = new_id()
        d = self.create_device(device_id, status="disabled")
        self.assertEqual(d["status"], "disabled")
        self.assertEqual(self.get_device(device_id).json()["status"], "disabled")
        d["status"] = "enabled"
        r = self.put_device(device_id, d, headers={"If-Match": "*"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "enabled")
        self.assertEqual(self.get_device(device_id).json()["status"], "enabled")

    def test_bad_status_rejected(self):
        device_id = new_id()
        self.assertError(self.put_device(device_id, {"deviceId": device_id, "status": "sleepy"}),
                         400, 400004)

    # --- devices: update, etags, conflicts ------------------------------------------------------

    def test_create_existing_is_409(self):
        d = self.create_device()
        r = self.put_device(d["deviceId"])
        self.assertError(r, 409, 409001)
        # the original is untouched
        self.assertEqual(self.get_device(d["deviceId"]).json()["authentication"], d["authentication"])

    def test_update_with_if_match_star(self):
        d = self.create_device()
        d["status"] = "disabled"
        r = self.put_device(d["deviceId"], d, headers={"If-Match": "*"})
        self.assertEqual(r.status, 200, r)
        u = r.json()
        self.assertEqual(u["status"], "disabled")
        self.assertNotEqual(u["etag"], d["etag"], "an update changes the etag")
        self.assertEqual(u["generationId"], d["generationId"])
        self.assertEqual(u["authentication"], d["authentication"])

    def test_update_with_matching_etag(self):
        d = self.create_device()
        d["status"] = "disabled"
        r = self.put_device(d["deviceId"], d, headers={"If-Match": f'"{d["etag"]}"'})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "disabled")
        self.assertEqual(self.get_device(d["deviceId"]).json()["etag"], r.json()["etag"])

    def test_update_with_stale_etag_is_412(self):
        d = self.create_device()
        stale = d["etag"]
        d["status"] = "disabled"
        self.assertEqual(self.put_device(d["deviceId"], d, headers={"If-Match": "*"}).status, 200)
        d["status"] = "enabled"
        r = self.put_device(d["deviceId"], d, headers={"If-Match": f'"{stale}"'})
        self.assertError(r, 412, 412001)
        self.assertEqual(self.get_device(d["deviceId"]).json()["status"], "disabled")

    def test_update_can_replace_keys(self):
        d = self.create_device()
        keys = {"primaryKey": random_key(32), "secondaryKey": random_key(32)}
        d["authentication"] = {"type": "sas", "symmetricKey": keys}
        r = self.put_device(d["deviceId"], d, headers={"If-Match": "*"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_device(d["deviceId"]).json()["authentication"]["symmetricKey"], keys)

    def test_update_of_missing_device_with_etag_is_404_or_412(self):
        device_id = new_id()
        r = self.put_device(device_id, headers={"If-Match": '"AAAAAAAAAAE="'})
        self.assertIn(r.status, (404, 412), r)
        self.assertError(r, r.status)
        self.assertError(self.get_device(device_id), 404, 404001)

    # --- devices: delete ------------------------------------------------------------------------

    def test_delete_then_get_is_404(self):
        d = self.create_device()
        path = f"/devices/{url_encode(d['deviceId'])}"
        r = self.req("DELETE", path, headers={"If-Match": '"*"'})  # what Node/C#/Python send
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertError(self.get_device(d["deviceId"]), 404, 404001)
        self.assertNotIn(d["deviceId"], {x["deviceId"] for x in self.req("GET", "/devices").json()})
        self.assertError(self.req("DELETE", path, headers={"If-Match": "*"}), 404, 404001)

    def test_delete_without_if_match(self):
        d = self.create_device()
        r = self.req("DELETE", f"/devices/{url_encode(d['deviceId'])}")
        self.assertEqual(r.status, 204, r)
        self.assertError(self.get_device(d["deviceId"]), 404, 404001)

    def test_delete_with_stale_etag_is_412(self):
        d = self.create_device()
        r = self.req("DELETE", f"/devices/{url_encode(d['deviceId'])}",
                     headers={"If-Match": '"not-the-etag"'})
        self.assertError(r, 412, 412001)
        self.assertEqual(self.get_device(d["deviceId"]).status, 200)
        r = self.req("DELETE", f"/devices/{url_encode(d['deviceId'])}",
                     headers={"If-Match": f'"{d["etag"]}"'})
        self.assertEqual(r.status, 204, r)

    def test_recreate_after_delete_gets_new_generation(self):
        d = self.create_device()
        self.assertEqual(self.req("DELETE", f"/devices/{url_encode(d['deviceId'])}").status, 204)
        again = self.create_device(d["deviceId"])
        self.assertNotEqual(again["generationId"], d["generationId"])
        self.assertNotEqual(again["authentication"], d["authentication"])

    # --- modules --------------------------------------------------------------------------------

    def test_module_lifecycle(self):
        d = self.create_device()
        device_id = d["deviceId"]
        module_id = "mod1"
        r = self.req("PUT", self.module_path(device_id, module_id),
                     {"deviceId": device_id, "moduleId": module_id,
                      "authentication": {"type": "sas", "symmetricKey": {"primaryKey": "", "secondaryKey": ""}}})
        self.assertIn(r.status, (200, 201), r)
        self.assertJsonContentType(r)
        m = r.json()
        self.assertEqual(m["deviceId"], device_id)
        self.assertEqual(m["moduleId"], module_id)
        self.assertTrue(m["etag"], m)
        self.assertGeneratedKeys(m)
        self.assertNotEqual(m["authentication"], d["authentication"])

        g = self.req("GET", self.module_path(device_id, module_id))
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.json()["moduleId"], module_id)
        self.assertEqual(g.json()["authentication"], m["authentication"])

        r2 = self.req("PUT", self.module_path(device_id, "mod2"), {"deviceId": device_id, "moduleId": "mod2"})
        self.assertIn(r2.status, (200, 201), r2)

        lst = self.req("GET", self.module_path(device_id))
        self.assertEqual(lst.status, 200, lst)
        self.assertJsonContentType(lst)
        self.assertEqual(sorted(x["moduleId"] for x in lst.json()), ["mod1", "mod2"])

        dl = self.req("DELETE", self.module_path(device_id, module_id), headers={"If-Match": '"*"'})
        self.assertEqual(dl.status, 204, dl)
        self.assertError(self.req("GET", self.module_path(device_id, module_id)), 404, 404010)
        self.assertError(self.req("DELETE", self.module_path(device_id, module_id)), 404, 404010)
        self.assertEqual([x["moduleId"] for x in self.req("GET", self.module_path(device_id)).json()], ["mod2"])
        # the device itself is untouched
        self.assertEqual(self.get_device(device_id).json()["authentication"], d["authentication"])

    def test_module_list_empty(self):
        d = self.create_device()
        r = self.req("GET", self.module_path(d["deviceId"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), [])

    def test_create_existing_module_is_409(self):
        device_id = self.create_device()["deviceId"]
        path = self.module_path(device_id, "m")
        self.assertIn(self.req("PUT", path, {"deviceId": device_id, "moduleId": "m"}).status, (200, 201))
        self.assertError(self.req("PUT", path, {"deviceId": device_id, "moduleId": "m"}), 409, 409301)

    def test_module_update_with_etags(self):
        device_id = self.create_device()["deviceId"]
        path = self.module_path(device_id, "m")
        m = self.req("PUT", path, {"deviceId": device_id, "moduleId": "m"}).json()
        keys = {"primaryKey": random_key(32), "secondaryKey": random_key(32)}
        m["authentication"] = {"type": "sas", "symmetricKey": keys}
        r = self.req("PUT", path, m, headers={"If-Match": f'"{m["etag"]}"'})
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.json()["etag"], m["etag"])
        self.assertError(self.req("PUT", path, m, headers={"If-Match": f'"{m["etag"]}"'}), 412, 412001)
        self.assertEqual(self.req("GET", path).json()["authentication"]["symmetricKey"], keys)

    def test_module_on_missing_device(self):
        device_id = new_id()
        self.assertError(self.req("PUT", self.module_path(device_id, "m"),
                                  {"deviceId": device_id, "moduleId": "m"}), 404, 404001)
        self.assertError(self.req("GET", self.module_path(device_id)), 404, 404001)
        # a module of a missing device: the spec names no code; either 404 code is fine
        r = self.req("GET", self.module_path(device_id, "m"))
        self.assertIn(self.assertError(r, 404)["errorCode"], (404001, 404010), r)
        r = self.req("DELETE", self.module_path(device_id, "m"))
        self.assertIn(self.assertError(r, 404)["errorCode"], (404001, 404010), r)

    def test_missing_module_on_existing_device(self):
        device_id = self.create_device()["deviceId"]
        self.assertError(self.req("GET", self.module_path(device_id, "nope")), 404, 404010)

    def test_deleting_device_deletes_its_modules(self):
        device_id = self.create_device()["deviceId"]
        self.assertIn(self.req("PUT", self.module_path(device_id, "m"),
                               {"deviceId": device_id, "moduleId": "m"}).status, (200, 201))
        self.assertEqual(self.req("DELETE", f"/devices/{url_encode(device_id)}").status, 204)
        self.create_device(device_id)
        self.assertError(self.req("GET", self.module_path(device_id, "m")), 404, 404010)

    def test_module_keys_validated(self):
        device_id = self.create_device()["deviceId"]
        body = {"deviceId": device_id, "moduleId": "m", "authentication": {
            "type": "sas", "symmetricKey": {"primaryKey": random_key(65), "secondaryKey": random_key(32)}}}
        self.assertError(self.req("PUT", self.module_path(device_id, "m"), body), 400, 400004)

    # --- ids ------------------------------------------------------------------------------------

    def test_allowed_id_characters(self):
        device_id = "a-b.c%d_e*f?g!h(i)j,k:l=m@n$o'p" + uuid.uuid4().hex[:6]
        r = self.put_device(device_id)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["deviceId"], device_id)
        g = self.get_device(device_id)
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.json()["deviceId"], device_id)
        # modules additionally allow + and #
        r = self.req("PUT", self.module_path(device_id, "m+1#x"), {"deviceId": device_id, "moduleId": "m+1#x"})
        self.assertIn(r.status, (200, 201), r)
        self.assertEqual(self.req("GET", self.module_path(device_id, "m+1#x")).json()["moduleId"], "m+1#x")

    def test_id_of_128_chars_accepted(self):
        device_id = ("x" * 116) + uuid.uuid4().hex[:12]
        self.assertEqual(len(device_id), 128)
        r = self.put_device(device_id)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_device(device_id).status, 200)

    def test_ids_are_case_sensitive(self):
        device_id = new_id("CaseDev")
        self.create_device(device_id)
        self.assertError(self.get_device(device_id.lower()), 404, 404001)

    def test_bad_device_ids_rejected(self):
        for bad in ("x" * 129, "dev+1", "dev#1", "dev 1", "dev/1", "dév"):
            with self.subTest(id=bad):
                r = self.put_device(bad)
                self.assertError(r, 400, 400004)

    def test_bad_module_ids_rejected(self):
        device_id = self.create_device()["deviceId"]
        for bad in ("m" * 129, "m 1", "m/1"):
            with self.subTest(id=bad):
                r = self.req("PUT", self.module_path(device_id, bad), {"deviceId": device_id, "moduleId": bad})
                self.assertError(r, 400, 400004)

    # --- bodies ---------------------------------------------------------------------------------

    def test_malformed_json_rejected(self):
        for body in (b"{", b"{\"deviceId\":", b"not json", b"[1,2", b"{\"deviceId\":\"x\"}}"):
            with self.subTest(body=body):
                device_id = new_id()
                r = self.req("PUT", f"/devices/{device_id}", body)
                self.assertError(r, 400, 400006)
                self.assertError(self.get_device(device_id), 404, 404001)

    def test_wrong_json_shape_rejected(self):
        for body in ([], "a string", 42, {"deviceId": 7}, {"authentication": "sas"}):
            with self.subTest(body=body):
                device_id = new_id()
                r = self.req("PUT", f"/devices/{device_id}", json.dumps(body))
                self.assertEqual(r.status, 400, r)
                self.assertError(r, 400)

    def test_oversized_body_rejected_before_it_is_read(self):
        """Content-Length of 10 MB, only a few bytes sent: the hub answers 413 at once."""
        device_id = new_id()
        sock = self.hub.connect_tls(self.hub.https_port, timeout_s=10)
        try:
            head = (f"PUT /devices/{device_id}?api-version=2021-04-12 HTTP/1.1\r\n"
                    f"Host: localhost\r\n"
                    f"Authorization: {self.hub.token()}\r\n"
                    f"Content-Type: application/json\r\n"
                    f"Content-Length: {10 * 1024 * 1024}\r\n\r\n")
            sock.sendall(head.encode() + b'{"deviceId":"')
            started = time.monotonic()
            resp = http.client.HTTPResponse(sock)
            try:
                resp.begin()
            except (TimeoutError, OSError) as e:
                self.fail(f"no response within 10 s while the body was incomplete: {e!r}")
            body = resp.read() if resp.getheader("content-length") else b""
            r = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
            self.assertLess(time.monotonic() - started, 10)
        finally:
            sock.close()
        self.assertError(r, 413, 413001)
        self.assertError(self.get_device(device_id), 404, 404001)

    def test_body_over_the_limit_rejected(self):
        """A real 512 KiB body (the REST limit is 256 KiB by default) is refused with 413."""
        device_id = new_id()
        body = json.dumps({"deviceId": device_id, "tags": {"pad": "x" * (512 * 1024)}})
        try:
            r = self.req("PUT", f"/devices/{device_id}", body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
            self.fail(f"hub dropped the connection instead of answering 413: {e!r}")
        self.assertError(r, 413, 413001)

    # --- api-version, routes --------------------------------------------------------------------

    def test_missing_api_version(self):
        self.assertError(self.req("GET", "/devices", api_version=None), 400, 400001)
        device_id = new_id()
        self.assertError(self.put_device(device_id, api_version=None), 400, 400001)
        self.assertError(self.get_device(device_id), 404, 404001)

    def test_other_api_versions_accepted(self):
        for v in ("2020-03-13", "2021-04-12", "2099-01-01"):
            with self.subTest(api_version=v):
                self.assertEqual(self.req("GET", "/devices", api_version=v).status, 200)

    def test_unknown_route_is_404(self):
        r = self.req("GET", "/nothing/here")
        self.assertEqual(r.status, 404, r)
        self.assertJsonContentType(r)

    # --- authorization --------------------------------------------------------------------------

    def test_no_authorization_is_401(self):
        device_id = new_id()
        self.assertError(self.req("GET", "/devices", token=None), 401, 401002)
        self.assertError(self.put_device(device_id, token=None), 401, 401002)
        self.assertError(self.get_device(device_id), 404, 404001)

    def test_bad_tokens_are_401(self):
        now = int(time.time())
        host = self.hub.hostname
        key = self.hub.policy_key("iothubowner")
        cases = {
            "wrong key": sas_token(host, random_key(32), "iothubowner"),
            "expired beyond the 5 min skew": self.hub.token(expiry=now - 600),
            "unknown policy": sas_token(host, key, "nosuchpolicy"),
            "other hub": sas_token("otherhub.example.lan", key, "iothubowner"),
            "garbage": "SharedAccessSignature garbage",
            "not SAS": "Bearer abc",
            "signature tampered": self.hub.token().replace("&se=", "&se=1"),
            "device key, no policy": sas_token(f"{host}/devices/x", key),
        }
        for what, token in cases.items():
            with self.subTest(what):
                self.assertError(self.req("GET", "/devices", token=token), 401, 401002)

    def test_token_leniency(self):
        now = int(time.time())
        cases = {
            "secondary key": self.hub.token(which="secondaryKey"),
            "expired within the 5 min skew": self.hub.token(expiry=now - 60),
            "fields reordered": self._reordered(self.hub.token()),
        }
        for what, token in cases.items():
            with self.subTest(what):
                r = self.req("GET", "/devices", token=token)
                self.assertEqual(r.status, 200, r)

    @staticmethod
    def _reordered(token):
        prefix = "SharedAccessSignature "
        fields = token[len(prefix):].split("&")
        return prefix + "&".join(reversed(fields))

    def test_policy_rights(self):
        d = self.create_device()
        device_id = d["deviceId"]
        path = f"/devices/{url_encode(device_id)}"
        ro, rw, svc, dev = (self.hub.token(p) for p in ("registryRead", "registryReadWrite", "service", "device"))

        # registryRead: GET yes, PUT/DELETE no
        self.assertEqual(self.req("GET", path, token=ro).status, 200)
        self.assertEqual(self.req("GET", "/devices", token=ro).status, 200)
        self.assertError(self.put_device(new_id(), token=ro), 401, 401002)
        self.assertError(self.put_device(device_id, d, token=ro, headers={"If-Match": "*"}), 401, 401002)
        self.assertError(self.req("DELETE", path, token=ro), 401, 401002)
        self.assertError(self.req("PUT", self.module_path(device_id, "m"),
                                  {"deviceId": device_id, "moduleId": "m"}, token=ro), 401, 401002)

        # service (ServiceConnect only) and device (DeviceConnect only): no registry access at all
        for token in (svc, dev):
            self.assertError(self.req("GET", path, token=token), 401, 401002)
            self.assertError(self.req("GET", "/devices", token=token), 401, 401002)
            self.assertError(self.put_device(new_id(), token=token), 401, 401002)
            self.assertError(self.req("DELETE", path, token=token), 401, 401002)

        # registryReadWrite: everything
        other = new_id()
        self.assertEqual(self.put_device(other, token=rw).status, 200)
        self.assertEqual(self.req("GET", f"/devices/{other}", token=rw).status, 200)
        self.assertEqual(self.req("DELETE", f"/devices/{other}", token=rw).status, 204)

        # nothing above changed the device
        self.assertEqual(self.get_device(device_id).json()["etag"], d["etag"])

    def test_keep_alive_connection_serves_many_requests(self):
        with self.hub.https() as conn:
            ids = [new_id() for _ in range(5)]
            for i in ids:
                self.assertEqual(conn.request("PUT", f"/devices/{i}", {"deviceId": i}).status, 200)
            for i in ids:
                self.assertEqual(conn.request("GET", f"/devices/{i}").status, 200)
            r = conn.request("GET", "/devices/nope-" + ids[0])
            self.assertError(r, 404, 404001)
            for i in ids:
                self.assertEqual(conn.request("DELETE", f"/devices/{i}").status, 204)


if __name__ == "__main__":
    unittest.main()
