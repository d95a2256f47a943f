#include "transport/amqp_sasl.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hub::transport::amqp {
namespace {

using namespace std::string_literals;

// A sasl-init frame as the C SDK sends it for MSSBCBS: mechanism only (list8 with one field).
const std::string mssbcbs_init =
    "\x00\x00\x00\x17"   // size 23
    "\x02\x01\x00\x00"   // doff 2, SASL frame, channel 0
    "\x00\x53\x41"       // described, smallulong 0x41 (sasl-init)
    "\xc0\x0a\x01"       // list8, size 10, 1 field
    "\xa3\x07MSSBCBS"s;  // sym8

TEST(AmqpSasl, ClassifiesHeaders) {
  EXPECT_EQ(classify_header("AMQP\x00\x01\x00\x00"s), header_kind::amqp);
  EXPECT_EQ(classify_header("AMQP\x03\x01\x00\x00"s), header_kind::sasl);
  EXPECT_EQ(classify_header("AMQP\x02\x01\x00\x00"s), header_kind::other);
  EXPECT_EQ(classify_header("AMQP\x00\x01\x00\x01"s), header_kind::other);
  EXPECT_EQ(classify_header("GET / HT"s), header_kind::other);
}

TEST(AmqpSasl, MechanismsFrameBytes) {
  auto f = encode_mechanisms({"MSSBCBS", "ANONYMOUS"});
  std::string expected =
      "\x00\x00\x00\x24"  // size 36
      "\x02\x01\x00\x00"  // doff 2, SASL, channel 0
      "\x00\x53\x40"      // sasl-mechanisms
      "\xc0\x17\x01"      // list8 size 23, 1 field
      "\xe0\x14\x02\xa3"  // array8 size 20, 2 elements of sym8
      "\x07MSSBCBS"
      "\x09"
      "ANONYMOUS"s;
  EXPECT_EQ(f, expected);
}

TEST(AmqpSasl, OutcomeFrameBytes) {
  EXPECT_EQ(encode_outcome(sasl_code::ok),
            "\x00\x00\x00\x10\x02\x01\x00\x00\x00\x53\x44\xc0\x03\x01\x50\x00"s);
  EXPECT_EQ(encode_outcome(sasl_code::auth).back(), '\x01');
}

TEST(AmqpSasl, DecodesInitSplitAtEveryByte) {
  std::string bytes = mssbcbs_init + "AMQP\x00\x01\x00\x00"s;
  for (std::size_t cut = 0; cut < mssbcbs_init.size(); ++cut) {
    auto r = decode_init(std::string_view(bytes).substr(0, cut));
    EXPECT_EQ(r.status, decode_status::need_more) << cut;
  }
  auto r = decode_init(bytes);
  ASSERT_EQ(r.status, decode_status::ok);
  EXPECT_EQ(r.consumed, mssbcbs_init.size());
  EXPECT_EQ(r.init.mechanism, "MSSBCBS");
  EXPECT_EQ(r.init.initial_response, "");
}

TEST(AmqpSasl, DecodesPlainWithResponseAndHostname) {
  std::string resp = "\0dev1@sas.hub\0SharedAccessSignature sr=x"s;
  std::string fields =
      "\xa3\x05PLAIN"s + "\xa0"s + static_cast<char>(resp.size()) + resp + "\xa1\x09localhost"s;
  std::string list = "\xc0"s + static_cast<char>(1 + fields.size()) + "\x03"s + fields;
  std::string body = "\x00\x53\x41"s + list;
  std::string frame =
      std::string{0, 0, 0, static_cast<char>(8 + body.size())} + "\x02\x01\x00\x00"s + body;
  auto r = decode_init(frame);
  ASSERT_EQ(r.status, decode_status::ok);
  EXPECT_EQ(r.init.mechanism, "PLAIN");
  EXPECT_EQ(r.init.initial_response, resp);
  auto creds = parse_plain(r.init.initial_response);
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->authcid, "dev1@sas.hub");
  EXPECT_EQ(creds->password, "SharedAccessSignature sr=x");
}

TEST(AmqpSasl, RejectsMalformedInit) {
  auto bad = [](std::string f) { return decode_init(f).status == decode_status::error; };
  std::string f = mssbcbs_init;
  f[5] = 0;  // AMQP frame type, not SASL
  EXPECT_TRUE(bad(f));
  f = mssbcbs_init;
  f[10] = 0x42;  // sasl-challenge, not sasl-init
  EXPECT_TRUE(bad(f));
  f = mssbcbs_init;
  f[13] = 0;  // list with no fields: the mechanism is mandatory
  EXPECT_TRUE(bad(f));
  f = mssbcbs_init;
  f[15] = 0x7f;  // symbol longer than the frame
  EXPECT_TRUE(bad(f));
  EXPECT_TRUE(bad("\x00\x00\x00\x04\x02\x01\x00\x00"s));  // size below the header
  EXPECT_TRUE(bad("\x7f\xff\xff\xff\x02\x01\x00\x00"s));  // larger than the limit
  EXPECT_TRUE(bad("\x00\x00\x00\x10\x09\x01\x00\x00"s));  // doff past the frame
}

TEST(AmqpSasl, PlainNeedsTwoSeparators) {
  EXPECT_FALSE(parse_plain("").has_value());
  EXPECT_FALSE(parse_plain("user").has_value());
  EXPECT_FALSE(parse_plain("\0user"s).has_value());
  EXPECT_FALSE(parse_plain("\0\0pw"s).has_value());
  auto c = parse_plain("authz\0user\0pw"s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->authcid, "user");
  EXPECT_EQ(c->password, "pw");
}

}  // namespace
}  // namespace hub::transport::amqp
