#include "core/auth.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "codec/sas/crypto.hpp"
#include "codec/sas/sas_token.hpp"

namespace hub {
namespace {

namespace sas = codec::sas;

constexpr std::string_view host = "hub.example.lan";
constexpr std::int64_t now = 1700000000;
constexpr std::int64_t later = now + 3600;

// Builds a token with `sr` exactly as given (already shaped like some SDK) and the signature
// over it, fields in the order sr, sig, se[, skn].
std::string token_with_sr(std::string_view sr, std::string_view key, std::int64_t se,
                          std::string_view skn = {}) {
  const auto se_text = std::to_string(se);
  std::string t = "SharedAccessSignature sr=" + std::string(sr) +
                  "&sig=" + sas::url_encode(sas::compute_signature(key, sr, se_text)) +
                  "&se=" + se_text;
  if (!skn.empty()) t += "&skn=" + std::string(skn);
  return t;
}

class AuthTest : public ::testing::Test {
 protected:
  AuthTest() : policies_(host) {
    policies_.add({"iothubowner", sas::random_key_base64(), sas::random_key_base64(), all_rights});
    policies_.add({"service", sas::random_key_base64(), sas::random_key_base64(), service_connect});
    policies_.add({"device", sas::random_key_base64(), sas::random_key_base64(), device_connect});
    policies_.add(
        {"registryRead", sas::random_key_base64(), sas::random_key_base64(), registry_read});
  }
  const access_policy& policy(std::string_view name) { return *policies_.find(name); }

  policy_set policies_;
  identity_keys dev_keys_{sas::random_key_base64(), sas::random_key_base64()};
  identity_keys mod_keys_{sas::random_key_base64(), sas::random_key_base64()};
};

TEST_F(AuthTest, PolicySetLookupAndHosts) {
  EXPECT_NE(policies_.find("service"), nullptr);
  EXPECT_EQ(policies_.find("Service"), nullptr);
  EXPECT_EQ(policies_.find(""), nullptr);
  EXPECT_TRUE(policies_.accepts_host("hub.example.lan"));
  EXPECT_TRUE(policies_.accepts_host("HUB.example.LAN:443"));
  EXPECT_TRUE(policies_.accepts_host("localhost"));
  EXPECT_TRUE(policies_.accepts_host("LocalHost:8883"));
  EXPECT_FALSE(policies_.accepts_host("other.example.lan"));
  EXPECT_FALSE(policies_.accepts_host(""));
  policies_.add({"service", "a2V5", "a2V5", registry_read});
  EXPECT_EQ(policies_.find("service")->rights, unsigned{registry_read});
  EXPECT_EQ(policies_.policies().size(), 4u);
}

// ---- service side ----

TEST_F(AuthTest, ServiceTokenPrimaryAndSecondary) {
  const auto& p = policy("service");
  EXPECT_EQ(authorize_service(sas::make_token(host, p.primary_key, later, "service"),
                              service_connect, policies_, now),
            errc::ok);
  EXPECT_EQ(authorize_service(sas::make_token(host, p.secondary_key, later, "service"),
                              service_connect, policies_, now),
            errc::ok);
  EXPECT_EQ(authorize_service(sas::make_token(host, sas::random_key_base64(), later, "service"),
                              service_connect, policies_, now),
            errc::unauthorized);
}

TEST_F(AuthTest, ServiceTokenFieldOrders) {
  const auto& p = policy("iothubowner");
  const auto se = std::to_string(later);
  const auto sig = sas::url_encode(sas::compute_signature(p.primary_key, host, se));
  for (const auto& f : {"sr=" + std::string(host) + "&sig=" + sig + "&skn=iothubowner&se=" + se,
                        "se=" + se + "&skn=iothubowner&sr=" + std::string(host) + "&sig=" + sig})
    EXPECT_EQ(authorize_service("SharedAccessSignature " + f, service_connect, policies_, now),
              errc::ok)
        << f;
}

TEST_F(AuthTest, ServiceRightsAreChecked) {
  const auto read =
      sas::make_token(host, policy("registryRead").primary_key, later, "registryRead");
  EXPECT_EQ(authorize_service(read, registry_read, policies_, now), errc::ok);
  EXPECT_EQ(authorize_service(read, service_connect, policies_, now), errc::unauthorized);
  EXPECT_EQ(authorize_service(read, registry_read | registry_write, policies_, now),
            errc::unauthorized);
  const auto owner = sas::make_token(host, policy("iothubowner").primary_key, later, "iothubowner");
  EXPECT_EQ(authorize_service(owner, all_rights, policies_, now), errc::ok);
  // The device policy must not reach the service API.
  const auto dev = sas::make_token(host, policy("device").primary_key, later, "device");
  EXPECT_EQ(authorize_service(dev, service_connect, policies_, now), errc::unauthorized);
}

TEST_F(AuthTest, ServiceExpiryWithSkew) {
  const auto& key = policy("service").primary_key;
  const auto t = sas::make_token(host, key, now, "service");
  EXPECT_EQ(authorize_service(t, service_connect, policies_, now), errc::ok);
  EXPECT_EQ(authorize_service(t, service_connect, policies_, now + 300), errc::ok);
  EXPECT_EQ(authorize_service(t, service_connect, policies_, now + 301), errc::unauthorized);
  EXPECT_EQ(authorize_service(t, service_connect, policies_, now + 86400), errc::unauthorized);
  const auto far = sas::make_token(host, key, INT64_MAX, "service");
  EXPECT_EQ(authorize_service(far, service_connect, policies_, now), errc::ok);
  const auto zero = sas::make_token(host, key, 0, "service");
  EXPECT_EQ(authorize_service(zero, service_connect, policies_, now), errc::unauthorized);
}

TEST(TokenValidUntil, AddsTheSkewAndSaturates) {
  EXPECT_EQ(token_valid_until(0), max_clock_skew_seconds);
  EXPECT_EQ(token_valid_until(now), now + max_clock_skew_seconds);
  constexpr auto top = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(token_valid_until(top - max_clock_skew_seconds), top);
  EXPECT_EQ(token_valid_until(top - max_clock_skew_seconds + 1), top);
  EXPECT_EQ(token_valid_until(top), top);
  static_assert(token_valid_until(10) == 10 + max_clock_skew_seconds);
}

TEST_F(AuthTest, ServiceScope) {
  const auto& key = policy("service").primary_key;
  auto check = [&](std::string_view sr) {
    return authorize_service(token_with_sr(sr, key, later, "service"), service_connect, policies_,
                             now);
  };
  EXPECT_EQ(check("hub.example.lan"), errc::ok);
  EXPECT_EQ(check("HUB.EXAMPLE.LAN"), errc::ok);
  EXPECT_EQ(check("hub.example.lan%3A443"), errc::ok);
  EXPECT_EQ(check("localhost:8443"), errc::ok);
  EXPECT_EQ(check("https%3A%2F%2Fhub.example.lan%2F"), errc::ok);
  EXPECT_EQ(check("other.example.lan"), errc::unauthorized);
  EXPECT_EQ(check("hub.example.lan.evil"), errc::unauthorized);
  EXPECT_EQ(check("hub.example.lan%2Fdevices%2Fd"), errc::unauthorized);
  EXPECT_EQ(check("hub.example.lan/devices/d"), errc::unauthorized);
}

TEST_F(AuthTest, ServiceRequiresKnownSkn) {
  const auto& key = policy("service").primary_key;
  EXPECT_EQ(authorize_service(sas::make_token(host, key, later), service_connect, policies_, now),
            errc::unauthorized);
  EXPECT_EQ(
      authorize_service(token_with_sr(host, key, later) + "&skn=", service_connect, policies_, now),
      errc::unauthorized);
  EXPECT_EQ(authorize_service(sas::make_token(host, key, later, "nosuch"), service_connect,
                              policies_, now),
            errc::unauthorized);
  EXPECT_EQ(authorize_service(sas::make_token(host, key, later, "SERVICE"), service_connect,
                              policies_, now),
            errc::unauthorized);
}

TEST_F(AuthTest, GarbageNeverAuthorizes) {
  const std::string huge = "SharedAccessSignature sr=" + std::string(100000, 'a');
  for (std::string_view g :
       {std::string_view{}, std::string_view{"SharedAccessSignature"},
        std::string_view{"SharedAccessSignature "}, std::string_view{"SharedAccessSignature sr="},
        std::string_view{"Bearer abc"},
        std::string_view{"SharedAccessSignature sr=h&sig=x&se=abc&skn=service"},
        std::string_view{"SharedAccessSignature sr=h&sig=x&se=-1&skn=service"},
        std::string_view{huge}}) {
    EXPECT_EQ(authorize_service(g, service_connect, policies_, now), errc::unauthorized);
    EXPECT_EQ(authorize_device(g, {"d", ""}, &dev_keys_, policies_, now), errc::unauthorized);
  }
  std::mt19937 rng(42);
  const auto valid = sas::make_token(host, policy("service").primary_key, later, "service");
  for (int i = 0; i < 2000; ++i) {
    auto t = valid;
    t[rng() % t.size()] = static_cast<char>(rng());
    if (t == valid) continue;
    (void)authorize_service(t, service_connect, policies_, now);  // must not crash
  }
}

// ---- device side ----

TEST_F(AuthTest, DeviceTokenEachSdkShape) {
  const identity_key who{"dev1", ""};
  const auto& k = dev_keys_.primary_key;
  // C: raw; Node/Python: encoded once; C# with a plain id looks like Node.
  for (std::string_view sr : {"hub.example.lan/devices/dev1", "hub.example.lan%2Fdevices%2Fdev1"})
    EXPECT_EQ(authorize_device(token_with_sr(sr, k, later), who, &dev_keys_, policies_, now),
              errc::ok)
        << sr;
  EXPECT_EQ(authorize_device(sas::make_token("hub.example.lan/devices/dev1", k, later), who,
                             &dev_keys_, policies_, now),
            errc::ok);
  // Empty skn = device-key token.
  EXPECT_EQ(authorize_device(token_with_sr("hub.example.lan/devices/dev1", k, later) + "&skn=", who,
                             &dev_keys_, policies_, now),
            errc::ok);
}

TEST_F(AuthTest, DeviceTokenDoubleEncodedIds) {
  const auto& k = dev_keys_.primary_key;
  // The spec's example: id `a b` -> `a%2520b`.
  EXPECT_EQ(authorize_device(token_with_sr("hub.example.lan%2Fdevices%2Fa%2520b", k, later),
                             {"a b", ""}, &dev_keys_, policies_, now),
            errc::ok);
  // C# WebUtility form for `dev:1` ->`dev%3A1`, encoded again -> `dev%253A1`.
  EXPECT_EQ(authorize_device(token_with_sr("hub.example.lan%2Fdevices%2Fdev%253A1", k, later),
                             {"dev:1", ""}, &dev_keys_, policies_, now),
            errc::ok);
  // Node for the id `dev%3A1` itself (a legal id) sends the same bytes.
  EXPECT_EQ(authorize_device(token_with_sr("hub.example.lan%2Fdevices%2Fdev%253A1", k, later),
                             {"dev%3A1", ""}, &dev_keys_, policies_, now),
            errc::ok);
  // C raw with a `%` in the id: as sent, not decoded.
  EXPECT_EQ(authorize_device(token_with_sr("hub.example.lan/devices/dev%3A1", k, later),
                             {"dev%3A1", ""}, &dev_keys_, policies_, now),
            errc::ok);
}

TEST_F(AuthTest, DeviceSecondaryWrongKeyExpiry) {
  const identity_key who{"dev1", ""};
  const std::string_view res = "hub.example.lan/devices/dev1";
  EXPECT_EQ(authorize_device(sas::make_token(res, dev_keys_.secondary_key, later), who, &dev_keys_,
                             policies_, now),
            errc::ok);
  EXPECT_EQ(authorize_device(sas::make_token(res, mod_keys_.primary_key, later), who, &dev_keys_,
                             policies_, now),
            errc::unauthorized);
  const auto t = sas::make_token(res, dev_keys_.primary_key, now);
  EXPECT_EQ(authorize_device(t, who, &dev_keys_, policies_, now + 300), errc::ok);
  EXPECT_EQ(authorize_device(t, who, &dev_keys_, policies_, now + 301), errc::unauthorized);
  // Unknown identity.
  EXPECT_EQ(authorize_device(t, who, nullptr, policies_, now), errc::unauthorized);
  // Secondary key empty: never matches an empty signature trick.
  identity_keys only_primary{dev_keys_.primary_key, ""};
  EXPECT_EQ(authorize_device(t, who, &only_primary, policies_, now), errc::ok);
}

TEST_F(AuthTest, DeviceScope) {
  const auto& k = dev_keys_.primary_key;
  auto check = [&](std::string_view resource, const identity_key& who) {
    return authorize_device(sas::make_token(resource, k, later), who, &dev_keys_, policies_, now);
  };
  EXPECT_EQ(check("hub.example.lan/devices/ab", {"a", ""}), errc::unauthorized);
  EXPECT_EQ(check("hub.example.lan/devices/a", {"ab", ""}), errc::unauthorized);
  EXPECT_EQ(check("hub.example.lan/devices/A", {"a", ""}), errc::unauthorized);
  EXPECT_EQ(check("HUB.example.lan/devices/a", {"a", ""}), errc::ok);
  EXPECT_EQ(check("other.example.lan/devices/a", {"a", ""}), errc::unauthorized);
  EXPECT_EQ(check("localhost/devices/a", {"a", ""}), errc::ok);
  EXPECT_EQ(check("amqps://hub.example.lan:5671/devices/a", {"a", ""}), errc::ok);
  EXPECT_EQ(check("hub.example.lan/devices/a/", {"a", ""}), errc::ok);
  EXPECT_EQ(check("hub.example.lan/devices", {"a", ""}), errc::ok);
  EXPECT_EQ(check("hub.example.lan", {"a", ""}), errc::ok);
  EXPECT_EQ(check("hub.example.lan/modules/a", {"a", ""}), errc::unauthorized);
  EXPECT_EQ(check("hub.example.lan/devices/a/modules/m", {"a", ""}), errc::unauthorized);
  EXPECT_EQ(check("hub.example.lan/devices/a/x", {"a", ""}), errc::unauthorized);
}

TEST_F(AuthTest, ModuleNeedsItsOwnKeys) {
  const identity_key mod{"dev1", "mod1"};
  const std::string_view res = "hub.example.lan/devices/dev1/modules/mod1";
  EXPECT_EQ(authorize_device(sas::make_token(res, mod_keys_.primary_key, later), mod, &mod_keys_,
                             policies_, now),
            errc::ok);
  EXPECT_EQ(authorize_device(token_with_sr(res, mod_keys_.secondary_key, later), mod, &mod_keys_,
                             policies_, now),
            errc::ok);
  // Covered by prefix, but signed by the device's key: refused.
  EXPECT_EQ(authorize_device(
                sas::make_token("hub.example.lan/devices/dev1", dev_keys_.primary_key, later), mod,
                &mod_keys_, policies_, now),
            errc::unauthorized);
  EXPECT_EQ(authorize_device(sas::make_token(res, dev_keys_.primary_key, later), mod, &mod_keys_,
                             policies_, now),
            errc::unauthorized);
  // The module's own key, device-scoped sr: covered by prefix, accepted.
  EXPECT_EQ(authorize_device(
                sas::make_token("hub.example.lan/devices/dev1", mod_keys_.primary_key, later), mod,
                &mod_keys_, policies_, now),
            errc::ok);
  // Other module.
  EXPECT_EQ(authorize_device(sas::make_token("hub.example.lan/devices/dev1/modules/mod2",
                                             mod_keys_.primary_key, later),
                             mod, &mod_keys_, policies_, now),
            errc::unauthorized);
}

TEST_F(AuthTest, PolicyTokenForDevices) {
  const auto& dk = policy("device").primary_key;
  const identity_key who{"dev1", ""};
  // C#: SharedAccessKeyName in the device connection string signs the bare host.
  EXPECT_EQ(
      authorize_device(sas::make_token(host, dk, later, "device"), who, &dev_keys_, policies_, now),
      errc::ok);
  EXPECT_EQ(authorize_device(sas::make_token("hub.example.lan/devices/dev1", dk, later, "device"),
                             who, &dev_keys_, policies_, now),
            errc::ok);
  EXPECT_EQ(authorize_device(sas::make_token("hub.example.lan/devices", dk, later, "device"), who,
                             &dev_keys_, policies_, now),
            errc::ok);
  EXPECT_EQ(authorize_device(sas::make_token("hub.example.lan/devices/dev1",
                                             policy("device").secondary_key, later, "device"),
                             {"dev1", "m"}, &mod_keys_, policies_, now),
            errc::ok);
  EXPECT_EQ(authorize_device(sas::make_token("hub.example.lan/devices/dev2", dk, later, "device"),
                             who, &dev_keys_, policies_, now),
            errc::unauthorized);
  // A policy without DeviceConnect, an unknown policy, or a device key under skn: refused.
  EXPECT_EQ(authorize_device(sas::make_token(host, policy("service").primary_key, later, "service"),
                             who, &dev_keys_, policies_, now),
            errc::unauthorized);
  EXPECT_EQ(
      authorize_device(sas::make_token(host, dk, later, "nosuch"), who, &dev_keys_, policies_, now),
      errc::unauthorized);
  EXPECT_EQ(authorize_device(sas::make_token(host, dev_keys_.primary_key, later, "device"), who,
                             &dev_keys_, policies_, now),
            errc::unauthorized);
  // iothubowner has DeviceConnect too.
  EXPECT_EQ(authorize_device(
                sas::make_token(host, policy("iothubowner").primary_key, later, "iothubowner"), who,
                &dev_keys_, policies_, now),
            errc::ok);
}

// ---- persistence ----

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("methodhub-auth-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(std::string_view text) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "policies.json") << text;
  }
  std::filesystem::path dir_;
};

TEST_F(PolicyFileTest, CreatesBuiltinsThenReloads) {
  const auto first = load_or_create_policies(dir_ / "data", "hub.example.lan");
  const auto file = dir_ / "data" / "policies.json";
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data" / "policies.json.tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ASSERT_EQ(first.policies().size(), 5u);
  EXPECT_EQ(first.find("iothubowner")->rights, all_rights);
  EXPECT_EQ(first.find("service")->rights, unsigned{service_connect});
  EXPECT_EQ(first.find("device")->rights, unsigned{device_connect});
  EXPECT_EQ(first.find("registryRead")->rights, unsigned{registry_read});
  EXPECT_EQ(first.find("registryReadWrite")->rights, unsigned{registry_read | registry_write});
  for (const auto& p : first.policies()) {
    EXPECT_EQ(sas::base64_decode(p.primary_key)->size(), 32u);
    EXPECT_EQ(sas::base64_decode(p.secondary_key)->size(), 32u);
    EXPECT_NE(p.primary_key, p.secondary_key);
  }

  // The documented JSON shape.
  std::ifstream in(file);
  const auto doc = boost::json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
  const auto& arr = doc.at("policies").as_array();
  ASSERT_EQ(arr.size(), 5u);
  EXPECT_EQ(arr[0].at("name").as_string(), "iothubowner");
  EXPECT_EQ(arr[0].at("rights").as_array().size(), 4u);
  EXPECT_EQ(arr[0].at("rights").as_array()[2].as_string(), "ServiceConnect");

  const auto second = load_or_create_policies(dir_ / "data", "hub.example.lan");
  ASSERT_EQ(second.policies().size(), 5u);
  for (const auto& p : first.policies()) {
    EXPECT_EQ(second.find(p.name)->primary_key, p.primary_key);
    EXPECT_EQ(second.find(p.name)->secondary_key, p.secondary_key);
    EXPECT_EQ(second.find(p.name)->rights, p.rights);
  }
  EXPECT_EQ(second.hostname(), "hub.example.lan");

  // A token minted from the created file's owner key works.
  const auto& owner = *second.find("iothubowner");
  EXPECT_EQ(authorize_service(
                sas::make_token("hub.example.lan", owner.primary_key, now + 60, "iothubowner"),
                registry_write, second, now),
            errc::ok);
}

TEST_F(PolicyFileTest, ReadsCustomPolicies) {
  write(R"({"policies":[{"name":"custom","primaryKey":"a2V5MQ==","secondaryKey":"a2V5Mg==",
           "rights":["RegistryRead","ServiceConnect"]}]})");
  const auto set = load_or_create_policies(dir_, "h.lan");
  ASSERT_EQ(set.policies().size(), 1u);
  EXPECT_EQ(set.find("custom")->rights, unsigned{registry_read | service_connect});
  EXPECT_EQ(set.find("custom")->secondary_key, "a2V5Mg==");
}

TEST_F(PolicyFileTest, CorruptFilesThrowWithTheFileName) {
  const std::string_view corrupt[] = {
      R"(not json)",
      R"([])",
      R"({"policies":{}})",
      R"({"policies":[1]})",
      R"({"policies":[{"name":"x","primaryKey":"a2V5","secondaryKey":"a2V5"}]})",
      R"({"policies":[{"name":"x","primaryKey":"a2V5","secondaryKey":"a2V5",
           "rights":["Admin"]}]})",
      R"({"policies":[{"name":"x","primaryKey":"!!","secondaryKey":"a2V5","rights":[]}]})",
      R"({"policies":[{"name":"","primaryKey":"a2V5","secondaryKey":"a2V5","rights":[]}]})",
      R"({"policies":[{"name":"x","primaryKey":"a2V5","secondaryKey":"a2V5","rights":[]},
                           {"name":"x","primaryKey":"a2V5","secondaryKey":"a2V5","rights":[]}]})",
  };
  for (std::string_view bad : corrupt) {
    write(bad);
    try {
      (void)load_or_create_policies(dir_, "h.lan");
      ADD_FAILURE() << "no throw for " << bad;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("policies.json"), std::string::npos) << e.what();
    }
  }
}

TEST(ServiceConnectionString, Shape) {
  const access_policy p{"iothubowner", "cHJpbWFyeQ==", "c2Vjb25kYXJ5", all_rights};
  EXPECT_EQ(
      service_connection_string(p, "hub.example.lan"),
      "HostName=hub.example.lan;SharedAccessKeyName=iothubowner;SharedAccessKey=cHJpbWFyeQ==");
}

}  // namespace
}  // namespace hub
