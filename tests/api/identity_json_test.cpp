#include "api/identity_json.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <vector>

namespace hub::api {
namespace {

namespace json = boost::json;

std::string_view sv(const json::value& v) {
  if (const json::string* s = v.if_string()) return *s;
  return "<not a string>";
}

constexpr std::string_view key15 = "AAECAwQFBgcICQoLDA0O";
constexpr std::string_view key16 = "AAECAwQFBgcICQoLDA0ODw==";
constexpr std::string_view key32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr std::string_view key64 =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
constexpr std::string_view key65 =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=";

// Deterministic keys: gen-1, gen-2, ... (not base64 of anything; the parser does not check
// what the generator returns).
class identity_json_test : public ::testing::Test {
 protected:
  key_generator gen() {
    return [this] { return "gen-" + std::to_string(++generated_); };
  }
  std::variant<store::identity_record, identity_parse_error> parse(std::string_view body,
                                                                   identity_key key) {
    return parse_identity_body(body, key, gen());
  }
  store::identity_record ok(std::string_view body, identity_key key = {"regdev1", ""}) {
    auto r = parse(body, std::move(key));
    if (auto* e = std::get_if<identity_parse_error>(&r)) {
      ADD_FAILURE() << "unexpected error: " << e->message;
      return {};
    }
    return std::get<store::identity_record>(std::move(r));
  }
  identity_parse_error err(std::string_view body, identity_key key = {"regdev1", ""}) {
    auto r = parse(body, std::move(key));
    if (!std::holds_alternative<identity_parse_error>(r)) {
      ADD_FAILURE() << "expected an error for " << body;
      return {errc::ok, ""};
    }
    return std::get<identity_parse_error>(std::move(r));
  }

  int generated_ = 0;
};

std::string with_keys(std::string_view primary, std::string_view secondary) {
  return R"({"deviceId":"regdev1","authentication":{"type":"sas","symmetricKey":{"primaryKey":)" +
         std::string(primary) + R"(,"secondaryKey":)" + std::string(secondary) + "}}}";
}
std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// ---- parsing: what the SDKs send ----

TEST_F(identity_json_test, node_registry_create_generates_both_keys) {
  const auto r = ok(
      R"({"deviceId":"regdev1","authentication":{"type":"sas","symmetricKey":{"primaryKey":"","secondaryKey":""}}})");
  EXPECT_EQ(r.key, (identity_key{"regdev1", ""}));
  EXPECT_EQ(r.auth_type, "sas");
  EXPECT_EQ(r.primary_key, "gen-1");
  EXPECT_EQ(r.secondary_key, "gen-2");
  EXPECT_TRUE(r.enabled);
  EXPECT_TRUE(r.generation_id.empty());
  EXPECT_TRUE(r.etag.empty());
  EXPECT_FALSE(r.iot_edge);
}

TEST_F(identity_json_test, node_registry_add_module) {
  const auto r = ok(
      R"({"deviceId":"regdev1","moduleId":"mod1","authentication":{"type":"sas","symmetricKey":{"primaryKey":"","secondaryKey":""}}})",
      {"regdev1", "mod1"});
  EXPECT_EQ(r.key, (identity_key{"regdev1", "mod1"}));
  EXPECT_EQ(r.primary_key, "gen-1");
  EXPECT_EQ(r.secondary_key, "gen-2");
}

// Shape of Microsoft.Azure.Devices `new Device("csdev")` serialized by Newtonsoft.
TEST_F(identity_json_test, csharp_device_read_only_fields_ignored) {
  const auto r = ok(R"({
    "deviceId":"csdev","generationId":null,"etag":null,"connectionState":"Disconnected",
    "status":"enabled","statusReason":null,"connectionStateUpdatedTime":"0001-01-01T00:00:00",
    "statusUpdatedTime":"0001-01-01T00:00:00","lastActivityTime":"0001-01-01T00:00:00",
    "cloudToDeviceMessageCount":0,
    "authentication":{"symmetricKey":{"primaryKey":null,"secondaryKey":null},
                      "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},
                      "type":"sas"},
    "capabilities":{"iotEdge":false},"deviceScope":null,"parentScopes":[]})",
                    {"csdev", ""});
  EXPECT_EQ(r.key.device_id, "csdev");
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(r.status_reason, "");
  EXPECT_EQ(r.primary_key, "gen-1");
  EXPECT_EQ(r.secondary_key, "gen-2");
  EXPECT_TRUE(r.primary_thumbprint.empty());
  EXPECT_TRUE(r.status_updated_time.empty());  // read-only: the caller sets it
}

TEST_F(identity_json_test, csharp_update_with_etag_and_connected_state_ignored) {
  const auto r = ok(R"({"deviceId":"regdev1","generationId":"637000000000000001",
    "etag":"AAAAAAAAAAE=","connectionState":"Connected","status":"Disabled",
    "statusReason":"maintenance","cloudToDeviceMessageCount":7,
    "authentication":{"type":"sas","symmetricKey":{"primaryKey":")" +
                    std::string(key32) + R"(","secondaryKey":")" + std::string(key16) + R"("}}})");
  EXPECT_FALSE(r.enabled);
  EXPECT_EQ(r.status_reason, "maintenance");
  EXPECT_EQ(r.primary_key, key32);
  EXPECT_EQ(r.secondary_key, key16);
  EXPECT_TRUE(r.generation_id.empty());
  EXPECT_TRUE(r.etag.empty());
  EXPECT_EQ(generated_, 0);
}

TEST_F(identity_json_test, minimal_bodies_default_to_enabled_sas) {
  for (std::string_view body : {R"({})", R"({"deviceId":"regdev1"})", R"({"authentication":null})",
                                R"({"authentication":{}})", R"({"authentication":{"type":"sas"}})",
                                R"({"authentication":{"symmetricKey":null}})"}) {
    generated_ = 0;
    const auto r = ok(body);
    EXPECT_EQ(r.auth_type, "sas") << body;
    EXPECT_TRUE(r.enabled) << body;
    EXPECT_EQ(r.primary_key, "gen-1") << body;
    EXPECT_EQ(r.secondary_key, "gen-2") << body;
  }
}

TEST_F(identity_json_test, null_keys_are_generated) {
  const auto r = ok(with_keys("null", "null"));
  EXPECT_EQ(r.primary_key, "gen-1");
  EXPECT_EQ(r.secondary_key, "gen-2");
}

TEST_F(identity_json_test, supplied_keys_kept_at_both_bounds) {
  const auto r = ok(with_keys(quoted(key16), quoted(key64)));
  EXPECT_EQ(r.primary_key, key16);
  EXPECT_EQ(r.secondary_key, key64);
  EXPECT_EQ(generated_, 0);
}

TEST_F(identity_json_test, one_key_supplied_generates_the_other) {
  auto r = ok(with_keys(quoted(key32), quoted("")));
  EXPECT_EQ(r.primary_key, key32);
  EXPECT_EQ(r.secondary_key, "gen-1");
  r = ok(R"({"authentication":{"symmetricKey":{"secondaryKey":")" + std::string(key32) + "\"}}}");
  EXPECT_EQ(r.primary_key, "gen-2");
  EXPECT_EQ(r.secondary_key, key32);
}

TEST_F(identity_json_test, key_of_15_or_65_bytes_rejected) {
  auto e = err(with_keys(quoted(key15), quoted(key32)));
  EXPECT_EQ(e.code, errc::argument_invalid);
  EXPECT_NE(e.message.find("authentication.symmetricKey.primaryKey"), std::string::npos)
      << e.message;
  EXPECT_NE(e.message.find("15"), std::string::npos) << e.message;

  e = err(with_keys(quoted(key32), quoted(key65)));
  EXPECT_EQ(e.code, errc::argument_invalid);
  EXPECT_NE(e.message.find("authentication.symmetricKey.secondaryKey"), std::string::npos)
      << e.message;
  EXPECT_NE(e.message.find("65"), std::string::npos) << e.message;
}

TEST_F(identity_json_test, bad_base64_rejected) {
  for (std::string_view bad : {"not base64 at all!!", "AAECAwQFBgcICQoLDA0ODw=",  // bad length
                               "AAECAwQFBgcICQoLDA0OD*==",                        // bad character
                               "AAECAwQFBgcICQoLDA0ODw==AAAA",  // padding mid-string
                               "AAECAwQFBgcICQoLDA0ODx==",      // non-canonical trailing bits
                               "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}) {  // unpadded
    const auto e = err(with_keys(quoted(bad), quoted(key32)));
    EXPECT_EQ(e.code, errc::argument_invalid) << bad;
    EXPECT_NE(e.message.find("primaryKey"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("base64"), std::string::npos) << e.message;
  }
  EXPECT_EQ(err(with_keys("42", quoted(key32))).code, errc::argument_invalid);
}

TEST_F(identity_json_test, mismatched_ids_rejected) {
  auto e = err(R"({"deviceId":"other"})");
  EXPECT_EQ(e.code, errc::argument_invalid);
  EXPECT_NE(e.message.find("deviceId"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("regdev1"), std::string::npos) << e.message;

  // Ids are case-sensitive.
  EXPECT_EQ(err(R"({"deviceId":"RegDev1"})").code, errc::argument_invalid);

  e = err(R"({"deviceId":"regdev1","moduleId":"mod2"})", {"regdev1", "mod1"});
  EXPECT_EQ(e.code, errc::argument_invalid);
  EXPECT_NE(e.message.find("moduleId"), std::string::npos) << e.message;

  e = err(R"({"deviceId":"other","moduleId":"mod1"})", {"regdev1", "mod1"});
  EXPECT_NE(e.message.find("deviceId"), std::string::npos) << e.message;

  EXPECT_EQ(err(R"({"deviceId":5})").code, errc::argument_invalid);
}

TEST_F(identity_json_test, status_is_case_insensitive_and_checked) {
  EXPECT_FALSE(ok(R"({"status":"disabled"})").enabled);
  EXPECT_FALSE(ok(R"({"status":"DISABLED"})").enabled);
  EXPECT_TRUE(ok(R"({"status":"Enabled"})").enabled);
  EXPECT_TRUE(ok(R"({"status":null})").enabled);
  auto e = err(R"({"status":"paused"})");
  EXPECT_EQ(e.code, errc::argument_invalid);
  EXPECT_NE(e.message.find("status"), std::string::npos) << e.message;
  EXPECT_EQ(err(R"({"status":true})").code, errc::argument_invalid);
}

TEST_F(identity_json_test, authentication_types) {
  auto r = ok(
      R"({"authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"ABCD","secondaryThumbprint":"EF01"}}})");
  EXPECT_EQ(r.auth_type, "selfSigned");
  EXPECT_EQ(r.primary_thumbprint, "ABCD");
  EXPECT_EQ(r.secondary_thumbprint, "EF01");
  EXPECT_TRUE(r.primary_key.empty());
  EXPECT_EQ(generated_, 0);

  EXPECT_EQ(ok(R"({"authentication":{"type":"certificateauthority"}})").auth_type,
            "certificateAuthority");
  EXPECT_EQ(ok(R"({"authentication":{"type":"none"}})").auth_type, "none");
  EXPECT_EQ(ok(R"({"authentication":{"type":"SAS"}})").auth_type, "sas");

  auto e = err(R"({"authentication":{"type":"password"}})");
  EXPECT_EQ(e.code, errc::argument_invalid);
  EXPECT_NE(e.message.find("authentication.type"), std::string::npos) << e.message;
  EXPECT_EQ(err(R"({"authentication":"sas"})").code, errc::argument_invalid);
  EXPECT_EQ(err(R"({"authentication":{"symmetricKey":[]}})").code, errc::argument_invalid);
}

TEST_F(identity_json_test, kept_fields_and_unknown_fields) {
  auto r = ok(R"({"deviceId":"regdev1","statusReason":"why","capabilities":{"iotEdge":true},
                  "deviceScope":"ms-azure-iot-edge://regdev1-1","someFutureField":{"a":[1,2]},
                  "managedBy":"ignored-for-devices"})");
  EXPECT_EQ(r.status_reason, "why");
  EXPECT_TRUE(r.iot_edge);
  EXPECT_EQ(r.device_scope, "ms-azure-iot-edge://regdev1-1");
  EXPECT_TRUE(r.managed_by.empty());

  r = ok(R"({"moduleId":"mod1","managedBy":"IotEdge","status":"bogus"})", {"regdev1", "mod1"});
  EXPECT_EQ(r.managed_by, "IotEdge");
  EXPECT_TRUE(r.enabled);  // modules have no status

  EXPECT_EQ(err(R"({"capabilities":{"iotEdge":"yes"}})").code, errc::argument_invalid);
  EXPECT_EQ(err(R"({"statusReason":1})").code, errc::argument_invalid);
}

TEST_F(identity_json_test, not_an_object_is_argument_invalid) {
  for (std::string_view body : {"[]", "\"regdev1\"", "42", "null", "true"}) {
    const auto e = err(body);
    EXPECT_EQ(e.code, errc::argument_invalid) << body;
    EXPECT_NE(e.message.find("object"), std::string::npos) << e.message;
  }
}

TEST_F(identity_json_test, malformed_json_is_format_error) {
  for (std::string_view body : {"", "{", R"({"deviceId":})", R"({"deviceId":"regdev1",})",
                                "{} trailing", R"({/*c*/})", "{\"deviceId\":\"\xff\"}"}) {
    EXPECT_EQ(err(body).code, errc::iot_hub_format_error) << body;
  }
}

TEST_F(identity_json_test, deep_nesting_refused) {
  std::string deep = R"({"x":)";
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  deep += "}";
  const auto e = err(deep);
  EXPECT_EQ(e.code, errc::iot_hub_format_error);
  EXPECT_NE(e.message.find("deeper"), std::string::npos) << e.message;

  // Nesting within the bound is fine (ignored unknown field).
  std::string shallow = R"({"x":)";
  for (int i = 0; i < 20; ++i) shallow += "[";
  for (int i = 0; i < 20; ++i) shallow += "]";
  shallow += "}";
  ok(shallow);
}

TEST_F(identity_json_test, oversized_body_refused) {
  std::string big = R"({"pad":")" + std::string(max_identity_body, 'a') + "\"}";
  const auto e = err(big);
  EXPECT_EQ(e.code, errc::message_too_large);
  EXPECT_NE(e.message.find("65536"), std::string::npos) << e.message;
}

// ---- rendering ----

store::identity_record sample_device() {
  store::identity_record r;
  r.key = {"regdev1", ""};
  r.generation_id = "637123456789012345";
  r.etag = "AAAAAAAAAAE=";
  r.primary_key = std::string(key32);
  r.secondary_key = std::string(key16);
  r.version = 1;
  return r;
}

TEST(identity_json_render, device_shape) {
  store::identity_record r = sample_device();
  const json::value v = json::parse(device_json(r, false, ""));
  const json::object& o = v.as_object();
  EXPECT_EQ(o.at("deviceId"), "regdev1");
  EXPECT_EQ(o.at("generationId"), "637123456789012345");
  EXPECT_EQ(o.at("etag"), "AAAAAAAAAAE=");
  EXPECT_EQ(o.at("connectionState"), "Disconnected");
  EXPECT_EQ(o.at("status"), "enabled");
  EXPECT_TRUE(o.at("statusReason").is_null());
  EXPECT_EQ(o.at("connectionStateUpdatedTime"), "0001-01-01T00:00:00Z");
  EXPECT_EQ(o.at("statusUpdatedTime"), "0001-01-01T00:00:00Z");
  EXPECT_EQ(o.at("lastActivityTime"), "0001-01-01T00:00:00Z");
  EXPECT_EQ(o.at("cloudToDeviceMessageCount"), 0);
  const json::object& auth = o.at("authentication").as_object();
  EXPECT_EQ(auth.at("type"), "sas");
  EXPECT_EQ(sv(auth.at("symmetricKey").at("primaryKey")), key32);
  EXPECT_EQ(sv(auth.at("symmetricKey").at("secondaryKey")), key16);
  EXPECT_TRUE(auth.at("x509Thumbprint").at("primaryThumbprint").is_null());
  EXPECT_TRUE(auth.at("x509Thumbprint").at("secondaryThumbprint").is_null());
  EXPECT_EQ(o.at("capabilities").at("iotEdge"), false);
  EXPECT_TRUE(o.at("deviceScope").is_null());
  EXPECT_FALSE(o.contains("moduleId"));
  // IoT Hub's key order: deviceId first.
  EXPECT_EQ(o.begin()->key(), "deviceId");
}

TEST(identity_json_render, device_connected_and_disabled) {
  store::identity_record r = sample_device();
  r.enabled = false;
  r.status_reason = "maintenance";
  r.status_updated_time = "2024-05-01T10:00:00.1234567Z";
  r.iot_edge = true;
  const json::value v = json::parse(device_json(r, true, "2024-05-02T11:00:00Z"));
  EXPECT_EQ(v.at("connectionState"), "Connected");
  EXPECT_EQ(v.at("connectionStateUpdatedTime"), "2024-05-02T11:00:00Z");
  EXPECT_EQ(v.at("status"), "disabled");
  EXPECT_EQ(v.at("statusReason"), "maintenance");
  EXPECT_EQ(v.at("statusUpdatedTime"), "2024-05-01T10:00:00.1234567Z");
  EXPECT_EQ(v.at("capabilities").at("iotEdge"), true);
}

TEST(identity_json_render, module_shape) {
  store::identity_record r = sample_device();
  r.key.module_id = "mod1";
  r.managed_by = "IotEdge";
  const json::value v = json::parse(module_json(r, false, ""));
  const json::object& o = v.as_object();
  EXPECT_EQ(o.begin()->key(), "moduleId");
  EXPECT_EQ(o.at("moduleId"), "mod1");
  EXPECT_EQ(o.at("managedBy"), "IotEdge");
  EXPECT_EQ(o.at("deviceId"), "regdev1");
  EXPECT_EQ(o.at("etag"), "AAAAAAAAAAE=");
  EXPECT_EQ(o.at("connectionState"), "Disconnected");
  EXPECT_EQ(sv(o.at("authentication").at("symmetricKey").at("primaryKey")), key32);
  EXPECT_FALSE(o.contains("capabilities"));
}

TEST(identity_json_render, list) {
  store::identity_record d = sample_device();
  store::identity_record m = sample_device();
  m.key.module_id = "mod1";
  const std::vector<store::identity_record> recs{d, m};
  int calls = 0;
  const json::value v = json::parse(identity_list_json(recs, [&](const identity_key& k) {
    ++calls;
    return connection_info{k.is_module(), k.is_module() ? "2024-01-01T00:00:00Z" : ""};
  }));
  EXPECT_EQ(calls, 2);
  const json::array& a = v.as_array();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].at("connectionState"), "Disconnected");
  EXPECT_FALSE(a[0].as_object().contains("moduleId"));
  EXPECT_EQ(a[1].at("moduleId"), "mod1");
  EXPECT_EQ(a[1].at("connectionState"), "Connected");
  EXPECT_EQ(identity_list_json({}, [](const identity_key&) { return connection_info{}; }), "[]");
}

TEST_F(identity_json_test, round_trip_device_keeps_keys_and_status) {
  store::identity_record r = sample_device();
  r.enabled = false;
  r.status_reason = "why";
  r.iot_edge = true;
  r.device_scope = "ms-azure-iot-edge://regdev1-1";
  const auto back = ok(device_json(r, true, "2024-05-02T11:00:00Z"));
  EXPECT_EQ(back.key, r.key);
  EXPECT_EQ(back.primary_key, r.primary_key);
  EXPECT_EQ(back.secondary_key, r.secondary_key);
  EXPECT_FALSE(back.enabled);
  EXPECT_EQ(back.status_reason, "why");
  EXPECT_TRUE(back.iot_edge);
  EXPECT_EQ(back.device_scope, r.device_scope);
  EXPECT_EQ(back.auth_type, "sas");
  EXPECT_EQ(generated_, 0);
}

TEST_F(identity_json_test, round_trip_module_and_self_signed) {
  store::identity_record m = sample_device();
  m.key.module_id = "mod1";
  m.managed_by = "IotEdge";
  const auto back = ok(module_json(m, false, ""), m.key);
  EXPECT_EQ(back.key, m.key);
  EXPECT_EQ(back.primary_key, m.primary_key);
  EXPECT_EQ(back.managed_by, "IotEdge");

  store::identity_record x = sample_device();
  x.auth_type = "selfSigned";
  x.primary_key.clear();
  x.secondary_key.clear();
  x.primary_thumbprint = "0123456789ABCDEF0123456789ABCDEF01234567";
  const auto xb = ok(device_json(x, false, ""));
  EXPECT_EQ(xb.auth_type, "selfSigned");
  EXPECT_EQ(xb.primary_thumbprint, x.primary_thumbprint);
  EXPECT_TRUE(xb.secondary_thumbprint.empty());
  EXPECT_EQ(generated_, 0);
}

}  // namespace
}  // namespace hub::api
