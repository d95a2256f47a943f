#include "codec/mqtt/encode.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec/mqtt/decode.hpp"
#include "codec/mqtt/iothub_topics.hpp"
#include "codec/mqtt/wire_util.hpp"

namespace hub::codec::mqtt {
namespace {

using test::bytes;
using test::str16;

template <class P>
std::string encoded(const P& p) {
  std::string out;
  encode(out, p);
  return out;
}

// --- Server -> client, byte for byte --------------------------------------------------------

TEST(MqttEncode, Connack) {
  EXPECT_EQ(encoded(connack{}), bytes({
                                    0x20,  // CONNACK
                                    0x02,  // remaining length
                                    0x00,  // session present 0
                                    0x00,  // accepted
                                }));
  EXPECT_EQ(encoded(connack{true, connect_return_code::accepted}), bytes({0x20, 0x02, 0x01, 0x00}));
  EXPECT_EQ(encoded(connack{false, connect_return_code::not_authorized}),
            bytes({0x20, 0x02, 0x00, 0x05}));
  EXPECT_EQ(encoded(connack{false, connect_return_code::unacceptable_protocol_version}),
            bytes({0x20, 0x02, 0x00, 0x01}));
}

TEST(MqttEncode, Acks) {
  EXPECT_EQ(encoded(puback{0x1234}), bytes({0x40, 0x02, 0x12, 0x34}));    // PUBACK
  EXPECT_EQ(encoded(pubrec{7}), bytes({0x50, 0x02, 0x00, 0x07}));         // PUBREC
  EXPECT_EQ(encoded(pubrel{7}), bytes({0x62, 0x02, 0x00, 0x07}));         // PUBREL, flags 0b0010
  EXPECT_EQ(encoded(pubcomp{7}), bytes({0x70, 0x02, 0x00, 0x07}));        // PUBCOMP
  EXPECT_EQ(encoded(unsuback{0xFFFF}), bytes({0xB0, 0x02, 0xFF, 0xFF}));  // UNSUBACK
}

TEST(MqttEncode, Suback) {
  EXPECT_EQ(encoded(suback{1, {0x00}}), bytes({
                                            0x90,        // SUBACK
                                            0x03,        // remaining length
                                            0x00, 0x01,  // packet id 1
                                            0x00,        // granted QoS 0
                                        }));
  EXPECT_EQ(encoded(suback{2, {0x01, suback_failure}}),
            bytes({0x90, 0x04, 0x00, 0x02, 0x01, 0x80}));
}

TEST(MqttEncode, EmptyBodies) {
  EXPECT_EQ(encoded(pingreq{}), bytes({0xC0, 0x00}));
  EXPECT_EQ(encoded(pingresp{}), bytes({0xD0, 0x00}));
  EXPECT_EQ(encoded(disconnect{}), bytes({0xE0, 0x00}));
}

TEST(MqttEncode, MethodRequestPublish) {
  std::string out;
  encode_publish(out, method_request_topic("echo", "1"), "null", 0, 0);
  EXPECT_EQ(out, bytes({
                     0x30,                                          // PUBLISH QoS 0
                     0x27,                                          // remaining length 39
                 }) + str16("$iothub/methods/POST/echo/?$rid=1") +  // 33 bytes, no packet id
                     "null");
}

TEST(MqttEncode, PublishFlagsAndPacketId) {
  std::string out;
  encode_publish(out, "t", "x", 1, 0x0102, /*retain=*/true, /*dup=*/true);
  EXPECT_EQ(out, bytes({
                     0x3B,  // PUBLISH dup 1, QoS 1, retain 1
                     0x06,  // remaining length
                     0x00,
                     0x01,
                     't',
                     0x01,
                     0x02,  // packet id
                     'x',
                 }));
}

TEST(MqttEncode, AppendsWithoutTouchingWhatIsThere) {
  std::string out = "prefix";
  encode(out, pingresp{});
  encode_publish(out, "a", "b", 0, 0);
  EXPECT_EQ(out, "prefix" + bytes({0xD0, 0x00, 0x30, 0x04, 0x00, 0x01, 'a', 'b'}));
}

TEST(MqttEncode, EncodedPublishSizeMatches) {
  for (std::size_t payload : {0u, 1u, 120u, 121u, 122u, 16'000u, 16'500u, 200'000u}) {
    for (std::uint8_t qos : {0, 1}) {
      std::string out;
      encode_publish(out, "devices/d/messages/events/", std::string(payload, 'p'), qos, 1);
      EXPECT_EQ(out.size(), encoded_publish_size(26, payload, qos)) << payload << " " << +qos;
    }
  }
}

// Remaining Length takes 1, 2, 3 or 4 bytes at 128, 16,384 and 2,097,152 (§2.2.3 Table 2.4).
TEST(MqttEncode, RemainingLengthBoundaries) {
  struct boundary {
    std::size_t remaining;
    std::string header;
  };
  const std::vector<boundary> cases = {
      {127, bytes({0x30, 0x7F})},
      {128, bytes({0x30, 0x80, 0x01})},
      {16'383, bytes({0x30, 0xFF, 0x7F})},
      {16'384, bytes({0x30, 0x80, 0x80, 0x01})},
      {2'097'151, bytes({0x30, 0xFF, 0xFF, 0x7F})},
      {2'097'152, bytes({0x30, 0x80, 0x80, 0x80, 0x01})},
  };
  for (const boundary& b : cases) {
    const std::string payload(b.remaining - 3, 'z');  // topic "t" takes 3 bytes
    std::string out;
    encode_publish(out, "t", payload, 0, 0);
    ASSERT_EQ(out.size(), b.header.size() + b.remaining);
    EXPECT_EQ(out.substr(0, b.header.size()), b.header) << b.remaining;
    const decode_result r = decode(out, b.remaining);
    ASSERT_EQ(r.status, decode_status::ok) << b.remaining;
    EXPECT_EQ(std::get<publish>(r.packet).payload.size(), payload.size());
    EXPECT_EQ(decode(out, b.remaining - 1).error, decode_error::packet_too_large);
  }
}

// --- Client -> server, against the Node SDK's bytes -------------------------------------------

TEST(MqttEncode, NodeConnectMatchesTheSdk) {
  connect c;
  c.keep_alive = 180;
  c.client_id = "dev1";
  c.username = std::string(test::node_username);
  c.password = std::string(test::node_password);
  EXPECT_EQ(encoded(c), test::node_connect());
}

TEST(MqttEncode, NodeSubscribeMatchesTheSdk) {
  EXPECT_EQ(encoded(subscribe{1, {{"$iothub/methods/POST/#", 0}}}), test::node_subscribe_methods());
}

TEST(MqttEncode, MethodResponseMatches) {
  const publish p{"$iothub/methods/res/200/?$rid=42", R"({"n":1})", 1, false, false, 7};
  EXPECT_EQ(encoded(p), test::method_response_publish());
}

TEST(MqttEncode, Unsubscribe) {
  EXPECT_EQ(encoded(unsubscribe{3, {"a/+", "#"}}),
            bytes({0xA2, 0x0A, 0x00, 0x03}) + str16("a/+") + str16("#"));
}

// --- Round trips --------------------------------------------------------------------------------

std::vector<packet> one_of_each() {
  connect full;
  full.clean_session = true;
  full.keep_alive = 0xFFFF;
  full.client_id = "dev1/mod1";
  full.will = will_message{"devices/dev1/messages/events/", std::string("\0\xFF", 2), 1, true};
  full.username = "localhost/dev1/mod1/?api-version=2021-04-12";
  full.password = std::string("sas\0bytes", 9);
  connect bare;
  bare.client_id = "";
  return {
      full,
      bare,
      connack{true, connect_return_code::accepted},
      connack{false, connect_return_code::server_unavailable},
      publish{"$iothub/methods/POST/echo/?$rid=1", "null", 0, false, false, 0},
      publish{"t", std::string(300, '\x7F'), 1, true, true, 65535},
      publish{"t/2", "", 2, false, false, 2},
      puback{1},
      pubrec{2},
      pubrel{3},
      pubcomp{4},
      subscribe{5,
                {{"$iothub/methods/POST/#", 0},
                 {"$iothub/twin/res/#", 1},
                 {"devices/dev1/modules/mod1/#", 2}}},
      suback{5, {0, 1, suback_failure}},
      unsubscribe{6, {"$iothub/twin/res/#", "+/+"}},
      unsuback{6},
      pingreq{},
      pingresp{},
      disconnect{},
  };
}

TEST(MqttEncode, RoundTripEveryPacketType) {
  std::vector<bool> seen(std::variant_size_v<packet>, false);
  for (const packet& p : one_of_each()) {
    seen[p.index()] = true;
    std::string wire;
    encode(wire, p);
    const decode_result r = test::decode_split(wire);
    ASSERT_EQ(r.status, decode_status::ok) << "type " << p.index() + 1;
    EXPECT_EQ(r.packet, p) << "type " << p.index() + 1;
    EXPECT_EQ(type_of(r.packet), type_of(p));
  }
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << "type " << i + 1;
}

TEST(MqttEncode, RoundTripBatchInOneBuffer) {
  const std::vector<packet> packets = one_of_each();
  std::string wire;
  for (const packet& p : packets) encode(wire, p);
  std::string_view rest = wire;
  for (const packet& p : packets) {
    const decode_result r = decode(rest);
    ASSERT_EQ(r.status, decode_status::ok);
    EXPECT_EQ(r.packet, p);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_TRUE(rest.empty());
}

TEST(MqttEncode, LargestHubPublishRoundTrips) {
  // A 128 KB method payload under a long topic stays within the hub's 256 KB limit.
  const std::string payload(128 * 1024, 'a');
  std::string wire;
  encode_publish(wire, method_request_topic(std::string(100, 'm'), "12345"), payload, 0, 0);
  const decode_result r = decode(wire);
  ASSERT_EQ(r.status, decode_status::ok);
  EXPECT_EQ(std::get<publish>(r.packet).payload, payload);
}

}  // namespace
}  // namespace hub::codec::mqtt
