#include "codec/sas/sas_token.hpp"

#include <gtest/gtest.h>

#include <string>

#include "codec/sas/crypto.hpp"

namespace hub::codec::sas {
namespace {

// Known-answer vectors computed independently with
//   python3 -c 'import hmac,hashlib,base64; k=base64.b64decode(KEY);
//     print(base64.b64encode(hmac.new(k,(SR+"\n"+SE).encode(),hashlib.sha256).digest()))'
// and cross-checked with `openssl dgst -sha256 -mac HMAC -macopt hexkey:...`.
constexpr std::string_view key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // bytes 0..31
constexpr std::string_view se = "1700000000";

struct vector {
  std::string_view sr;   // as the SDK puts it in the token
  std::string_view sig;  // base64, not url-encoded
};
constexpr vector c_raw{"hub.example.lan/devices/dev1",
                       "Fq9r3Vb6OHs5jnt13jEdGpOI6XJLTJ9e1D4T844dE1w="};
constexpr vector node_encoded{"hub.example.lan%2Fdevices%2Fdev1",
                              "Z8+Rjozx7Afdt+Xu+goX4EgLU6s1n/RNQkJUyl3az7w="};
constexpr vector csharp_double{"hub.example.lan%2Fdevices%2Fa%2520b",
                               "c73BfUkeEFvjiz2B7y5RQyQM7f0DShGtYnMaU9hY/9k="};
constexpr vector service_host{"hub.example.lan", "LLmSkij8kARvjTWxXbhzidWZvBNKEtOV5/SuwJglIck="};

std::string token(std::string_view fields) {
  return std::string(token_prefix) + std::string(fields);
}

std::string fields(const vector& v, std::string_view extra = {}) {
  return "sr=" + std::string(v.sr) + "&sig=" + url_encode(v.sig) + "&se=" + std::string(se) +
         std::string(extra);
}

TEST(ComputeSignature, KnownAnswers) {
  for (const auto& v : {c_raw, node_encoded, csharp_double, service_host})
    EXPECT_EQ(compute_signature(key, v.sr, se), v.sig) << v.sr;
}

TEST(ComputeSignature, BadKeyGivesEmpty) {
  EXPECT_EQ(compute_signature("not base64!", "h", se), "");
}

TEST(ParseToken, EachSdkShapeVerifies) {
  for (const auto& v : {c_raw, node_encoded, csharp_double}) {
    token_error err = token_error::malformed_field;
    const auto t = parse_token(token(fields(v)), &err);
    ASSERT_TRUE(t.has_value()) << v.sr;
    EXPECT_EQ(err, token_error::none);
    EXPECT_EQ(t->sr, v.sr);  // exactly as sent, never re-encoded
    EXPECT_EQ(t->sig, v.sig);
    EXPECT_EQ(t->se, 1700000000);
    EXPECT_EQ(t->se_text, se);
    EXPECT_TRUE(t->skn.empty());
    EXPECT_TRUE(signature_matches(*t, key)) << v.sr;
  }
  const auto svc = parse_token(token(fields(service_host, "&skn=service")));
  ASSERT_TRUE(svc);
  EXPECT_EQ(svc->skn, "service");
  EXPECT_TRUE(signature_matches(*svc, key));
}

TEST(ParseToken, FieldOrderDoesNotMatter) {
  const std::string sig = url_encode(service_host.sig);
  for (const auto& f : {"sr=hub.example.lan&sig=" + sig + "&skn=iothubowner&se=1700000000",
                        "se=1700000000&skn=iothubowner&sr=hub.example.lan&sig=" + sig}) {
    const auto t = parse_token(token(f));
    ASSERT_TRUE(t) << f;
    EXPECT_EQ(t->skn, "iothubowner");
    EXPECT_TRUE(signature_matches(*t, key));
  }
}

TEST(ParseToken, EmptySknIsAbsent) {
  const auto t = parse_token(token(fields(c_raw, "&skn=")));
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->skn.empty());
}

TEST(ParseToken, SigWithUnencodedSlashAndPlus) {
  // Python's quote() keeps `/`; a raw `+` would be a literal plus after decoding too.
  const std::string f = "sr=" + std::string(node_encoded.sr) +
                        "&sig=Z8%2BRjozx7Afdt%2BXu%2BgoX4EgLU6s1n/RNQkJUyl3az7w%3D&se=1700000000";
  const auto t = parse_token(token(f));
  ASSERT_TRUE(t);
  EXPECT_TRUE(signature_matches(*t, key));
  const std::string raw = "sr=" + std::string(node_encoded.sr) +
                          "&sig=" + std::string(node_encoded.sig) + "&se=1700000000";
  const auto t2 = parse_token(token(raw));
  ASSERT_TRUE(t2);
  EXPECT_TRUE(signature_matches(*t2, key));
}

TEST(ParseToken, UnknownKeysAndEmptyFieldsIgnored) {
  const auto t = parse_token(token("&" + fields(c_raw, "&foo=bar&&x=")));
  ASSERT_TRUE(t);
  EXPECT_TRUE(signature_matches(*t, key));
}

TEST(ParseToken, WrongAndSecondaryKey) {
  const auto t = parse_token(token(fields(c_raw)));
  ASSERT_TRUE(t);
  EXPECT_FALSE(signature_matches(*t, base64_encode(std::string(32, 'x'))));
  EXPECT_FALSE(signature_matches(*t, ""));
  EXPECT_FALSE(signature_matches(*t, "!!!!"));
  // A token signed with some other key only matches that key.
  const auto other = random_key_base64();
  const auto t2 = parse_token(make_token("hub.example.lan/devices/dev1", other, 1700000000));
  ASSERT_TRUE(t2);
  EXPECT_TRUE(signature_matches(*t2, other));
  EXPECT_FALSE(signature_matches(*t2, key));
}

TEST(ParseToken, TamperedFieldsFail) {
  auto t = parse_token(token(fields(c_raw)));
  ASSERT_TRUE(t);
  auto changed = *t;
  changed.se_text = "1700000001";
  EXPECT_FALSE(signature_matches(changed, key));
  changed = *t;
  changed.sr = "hub.example.lan/devices/dev2";
  EXPECT_FALSE(signature_matches(changed, key));
  // Re-encoding the raw C sr would break the signature: the hub must sign what was sent.
  changed = *t;
  changed.sr = url_encode(t->sr);
  EXPECT_FALSE(signature_matches(changed, key));
}

// The signature is compared in full (constant_time_equal): one changed byte anywhere, a prefix,
// or an extra byte fails.
TEST(ParseToken, SignatureMustMatchInFull) {
  auto t = parse_token(token(fields(c_raw)));
  ASSERT_TRUE(t);
  ASSERT_TRUE(signature_matches(*t, key));
  for (std::size_t i = 0; i < t->sig.size(); ++i) {
    auto changed = *t;
    changed.sig[i] = changed.sig[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(signature_matches(changed, key)) << "position " << i;
  }
  auto changed = *t;
  changed.sig.pop_back();
  EXPECT_FALSE(signature_matches(changed, key));
  changed = *t;
  changed.sig += "A";
  EXPECT_FALSE(signature_matches(changed, key));
}

struct bad_case {
  std::string text;
  token_error expected;
};

TEST(ParseToken, GarbageIsRejectedWithAReason) {
  const std::string sig = url_encode(c_raw.sig);
  const std::vector<bad_case> cases = {
      {"", token_error::missing_prefix},
      {"sr=a&sig=b&se=1", token_error::missing_prefix},
      {"sharedaccesssignature sr=a&sig=b&se=1", token_error::missing_prefix},
      {"SharedAccessSignature", token_error::missing_prefix},
      {token(""), token_error::missing_field},
      {token("sr="), token_error::missing_field},
      {token("sr=a"), token_error::missing_field},
      {token("sr=a&sig=b"), token_error::missing_field},
      {token("sr=&sig=b&se=1"), token_error::missing_field},
      {token("sr=a&sig=&se=1"), token_error::missing_field},
      {token("sr=a&sig=b&se="), token_error::missing_field},
      {token("sr=a&sig=b&se=12x"), token_error::bad_expiry},
      {token("sr=a&sig=b&se=abc"), token_error::bad_expiry},
      {token("sr=a&sig=b&se=-5"), token_error::bad_expiry},
      {token("sr=a&sig=b&se=+5"), token_error::bad_expiry},
      {token("sr=a&sig=b&se= 5"), token_error::bad_expiry},
      {token("sr=a&sig=b&se=1.5"), token_error::bad_expiry},
      {token("sr=a&sig=b&se=9223372036854775808"), token_error::bad_expiry},
      {token("sr=a&sig=b&se=1&sr=a"), token_error::duplicate_field},
      {token("sr=a&sig=b&se=1&se=1"), token_error::duplicate_field},
      {token("sr=a&sig=b&se=1&skn=&skn=x"), token_error::duplicate_field},
      {token("sr=a&sig&se=1"), token_error::malformed_field},
      {token("sr=a&sig=%zz&se=1"), token_error::malformed_field},
      {token("sr=a&sig=b&se=1&skn=%4"), token_error::malformed_field},
      {token("sr=a&sig=b&se=1&" + std::string(5000, 'x')), token_error::too_long},
  };
  for (const auto& c : cases) {
    token_error err = token_error::none;
    EXPECT_FALSE(parse_token(c.text, &err).has_value()) << c.text.substr(0, 80);
    EXPECT_EQ(err, c.expected) << c.text.substr(0, 80) << ": " << to_string(err);
  }
}

TEST(ParseToken, ExpiryLimits) {
  auto t = parse_token(token("sr=a&sig=b&se=9223372036854775807"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->se, INT64_MAX);
  t = parse_token(token("sr=a&sig=b&se=0"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->se, 0);
  t = parse_token(token("sr=a&sig=b&se=0001"));  // kept as sent; the SDK signed these bytes
  ASSERT_TRUE(t);
  EXPECT_EQ(t->se_text, "0001");
}

TEST(ParseToken, EveryPrefixOfAValidTokenIsHandled) {
  const auto full = token(fields(c_raw, "&skn=device"));
  for (std::size_t n = 0; n <= full.size(); ++n) (void)parse_token(full.substr(0, n));
  SUCCEED();
}

TEST(MakeToken, ShapedLikeNode) {
  const auto t = make_token("hub.example.lan/devices/dev1", key, 1700000000);
  EXPECT_EQ(t, token("sr=hub.example.lan%2Fdevices%2Fdev1&sig=" + url_encode(node_encoded.sig) +
                     "&se=1700000000"));
  const auto s = make_token("hub.example.lan", key, 1700000000, "service");
  EXPECT_EQ(s, token("sr=hub.example.lan&sig=" + url_encode(service_host.sig) +
                     "&se=1700000000&skn=service"));
  const auto parsed = parse_token(s);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(signature_matches(*parsed, key));
}

TEST(ResourceCovers, SegmentWisePrefix) {
  EXPECT_TRUE(resource_covers("h.lan/devices/a", "h.lan/devices/a"));
  EXPECT_TRUE(resource_covers("h.lan/devices/a", "h.lan/devices/a/modules/m"));
  EXPECT_FALSE(resource_covers("h.lan/devices/a", "h.lan/devices/ab"));
  EXPECT_FALSE(resource_covers("h.lan/a/bc", "h.lan/a/b"));
  EXPECT_FALSE(resource_covers("h.lan/a/b", "h.lan/a/bc"));
  EXPECT_TRUE(resource_covers("h.lan/a/b", "h.lan/a/b/c"));
  EXPECT_TRUE(resource_covers("h.lan", "h.lan/devices/a"));
  EXPECT_TRUE(resource_covers("h.lan/devices", "h.lan/devices/a"));
  EXPECT_FALSE(resource_covers("h.lan/devices/a/modules/m", "h.lan/devices/a"));
  EXPECT_FALSE(resource_covers("", "h.lan"));
  EXPECT_FALSE(resource_covers("h.lan", ""));
}

TEST(ResourceCovers, HostCaseInsensitiveIdsExact) {
  EXPECT_TRUE(resource_covers("HUB.Example.LAN/devices/a", "hub.example.lan/devices/a"));
  EXPECT_FALSE(resource_covers("hub.example.lan/devices/A", "hub.example.lan/devices/a"));
  EXPECT_FALSE(resource_covers("hub.example.lan/Devices/a", "hub.example.lan/devices/a"));
  EXPECT_FALSE(resource_covers("other.example.lan/devices/a", "hub.example.lan/devices/a"));
  EXPECT_FALSE(resource_covers("hub.example.la", "hub.example.lan"));
}

TEST(ResourceCovers, SchemesPortsAndTrailingSlash) {
  EXPECT_TRUE(resource_covers("amqps://hub.example.lan/devices/a", "hub.example.lan/devices/a"));
  EXPECT_TRUE(resource_covers("HTTPS://hub.example.lan/", "hub.example.lan/devices/a"));
  EXPECT_TRUE(resource_covers("hub.example.lan/devices/a/", "hub.example.lan/devices/a"));
  EXPECT_TRUE(resource_covers("hub.example.lan:5671/devices/a", "hub.example.lan/devices/a"));
  EXPECT_TRUE(resource_covers("hub.example.lan", "https://hub.example.lan:443/devices/a/"));
  EXPECT_FALSE(resource_covers("ftp://hub.example.lan", "hub.example.lan"));
}

TEST(HostEqual, Ports) {
  EXPECT_TRUE(host_equal("localhost:8883", "LOCALHOST"));
  EXPECT_TRUE(host_equal("[::1]:443", "[::1]"));
  EXPECT_FALSE(host_equal("::1", ":"));
  EXPECT_FALSE(host_equal("h.lan:x", "h.lan"));
  EXPECT_FALSE(host_equal("h.lan", "h.lan2"));
}

}  // namespace
}  // namespace hub::codec::sas
