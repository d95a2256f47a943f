#include "codec/sas/crypto.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hub::codec::sas {
namespace {

std::string hex(const std::array<unsigned char, 32>& a) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : a) out += digits[c >> 4], out += digits[c & 15];
  return out;
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode(""), "");
}

TEST(Base64, RoundTripsAllByteValues) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n = 0; n <= bytes.size(); n += 37) {
    const auto part = bytes.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(part)), part);
  }
}

TEST(Base64, RejectsGarbage) {
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "Zm9", "Zm9v=", "Zg=", "Z===", "====", "Zm=v", "Zm9v Zm9v", "Zm9-", "Zm9_", "Zm9v\n",
           "=Zm9", "Zg==Zg==", std::string_view("Zm\0v", 4)})
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
}

TEST(Base64, IgnoresUnusedLowBits) {
  // "Zh==" has non-zero bits past the single byte; .NET accepts it as "f".
  EXPECT_EQ(base64_decode("Zh=="), "f");
}

TEST(Hmac, Rfc4231Case2) {
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, EmptyKeyAndData) {
  // python3: hmac.new(b"", b"", hashlib.sha256).hexdigest()
  EXPECT_EQ(hex(hmac_sha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(ConstantTimeEqual, Basics) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("", "a"));
}

// Every byte counts, embedded NULs included (a strcmp-style compare would stop at the NUL), and
// a difference in any single position is found: the comparison has no early exit that accepts.
TEST(ConstantTimeEqual, EveryByteCounts) {
  using namespace std::string_literals;
  EXPECT_TRUE(constant_time_equal("a\0b"s, "a\0b"s));
  EXPECT_FALSE(constant_time_equal("a\0b"s, "a\0c"s));
  const std::string sig = base64_encode(random_bytes(32));
  for (std::size_t i = 0; i < sig.size(); ++i) {
    auto other = sig;
    other[i] = other[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(constant_time_equal(sig, other)) << "position " << i;
  }
}

TEST(Random, SizesAndUniqueness) {
  EXPECT_EQ(random_bytes(0).size(), 0u);
  EXPECT_EQ(random_bytes(100).size(), 100u);
  std::set<std::string> keys;
  for (int i = 0; i < 16; ++i) {
    const auto k = random_key_base64();
    EXPECT_EQ(k.size(), 44u);
    ASSERT_TRUE(base64_decode(k).has_value());
    EXPECT_EQ(base64_decode(k)->size(), 32u);
    keys.insert(k);
  }
  EXPECT_EQ(keys.size(), 16u);
}

TEST(UrlEncode, MatchesEncodeUriComponentPlusReserved) {
  EXPECT_EQ(url_encode("hub.example.lan/devices/dev1"), "hub.example.lan%2Fdevices%2Fdev1");
  EXPECT_EQ(url_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(url_encode("!'()*"), "%21%27%28%29%2A");
  EXPECT_EQ(url_encode("a b+c=d&e%"), "a%20b%2Bc%3Dd%26e%25");
  EXPECT_EQ(url_encode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(url_encode(std::string_view("\0", 1)), "%00");
}

TEST(UrlDecode, DecodesOnceAndKeepsPlus) {
  EXPECT_EQ(url_decode("hub.example.lan%2Fdevices%2Fa%2520b"), "hub.example.lan/devices/a%20b");
  EXPECT_EQ(url_decode("a+b"), "a+b");
  EXPECT_EQ(url_decode("%2f%2F"), "//");
  EXPECT_EQ(url_decode(""), "");
  EXPECT_EQ(url_decode("%00"), std::string("\0", 1));
}

TEST(UrlDecode, RejectsMalformedEscapes) {
  for (std::string_view bad : {"%", "%2", "a%", "%zz", "%2g", "%%41", "abc%4"})
    EXPECT_FALSE(url_decode(bad).has_value()) << bad;
}

TEST(UrlDecode, InvertsEncodeForAllBytes) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  EXPECT_EQ(url_decode(url_encode(bytes)), bytes);
}

}  // namespace
}  // namespace hub::codec::sas
