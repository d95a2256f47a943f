#include "codec/mqtt/decode.hpp"

#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "codec/mqtt/encode.hpp"
#include "codec/mqtt/username.hpp"
#include "codec/mqtt/wire_util.hpp"

namespace hub::codec::mqtt {
namespace {

using test::bytes;
using test::decode_split;
using test::expect_error;
using test::str16;

// --- What the Node SDK sends (sdk-wire.md §4) ---------------------------------------------------

TEST(MqttDecode, NodeConnect) {
  const decode_result r = decode_split(test::node_connect());
  ASSERT_EQ(r.status, decode_status::ok);
  const auto& c = std::get<connect>(r.packet);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_EQ(c.protocol_level, 4);
  EXPECT_FALSE(c.clean_session);
  EXPECT_EQ(c.keep_alive, 180);
  EXPECT_EQ(c.client_id, "dev1");
  EXPECT_FALSE(c.will.has_value());
  ASSERT_TRUE(c.username.has_value());
  EXPECT_EQ(*c.username, test::node_username);
  ASSERT_TRUE(c.password.has_value());
  EXPECT_EQ(*c.password, test::node_password);

  const auto user = parse_username(*c.username);
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->device_id, c.client_id);
}

TEST(MqttDecode, NodeSubscribeMethods) {
  const decode_result r = decode_split(test::node_subscribe_methods());
  ASSERT_EQ(r.status, decode_status::ok);
  const auto& s = std::get<subscribe>(r.packet);
  EXPECT_EQ(s.packet_id, 1);
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_EQ(s.subscriptions[0].filter, "$iothub/methods/POST/#");
  EXPECT_EQ(s.subscriptions[0].requested_qos, 0);
}

TEST(MqttDecode, MethodResponsePublishQos1) {
  const decode_result r = decode_split(test::method_response_publish());
  ASSERT_EQ(r.status, decode_status::ok);
  const auto& p = std::get<publish>(r.packet);
  EXPECT_EQ(p.topic, "$iothub/methods/res/200/?$rid=42");
  EXPECT_EQ(p.qos, 1);
  EXPECT_EQ(p.packet_id, 7);
  EXPECT_FALSE(p.retain);
  EXPECT_FALSE(p.dup);
  EXPECT_EQ(p.payload, R"({"n":1})");
}

TEST(MqttDecode, PublishQos0EmptyPayload) {
  const std::string wire = bytes({
                               0x30,  // PUBLISH QoS 0
                               0x05,  // remaining length 5
                           }) +
                           str16("a/b");  // no packet id at QoS 0, empty payload
  const decode_result r = decode_split(wire);
  ASSERT_EQ(r.status, decode_status::ok);
  const auto& p = std::get<publish>(r.packet);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.qos, 0);
  EXPECT_EQ(p.packet_id, 0);
  EXPECT_TRUE(p.payload.empty());
}

TEST(MqttDecode, PingreqAndDisconnect) {
  EXPECT_TRUE(std::holds_alternative<pingreq>(decode_split(test::pingreq_wire()).packet));
  EXPECT_TRUE(std::holds_alternative<disconnect>(decode_split(test::disconnect_wire()).packet));
}

TEST(MqttDecode, EmptyBufferNeedsMore) {
  const decode_result r = decode({});
  EXPECT_EQ(r.status, decode_status::need_more);
  EXPECT_EQ(r.needed, 0u);
}

TEST(MqttDecode, BackToBackPackets) {
  const std::string stream = test::node_connect() + test::node_subscribe_methods() +
                             test::method_response_publish() + test::pingreq_wire() +
                             test::disconnect_wire();
  const std::vector<packet_type> want = {packet_type::connect, packet_type::subscribe,
                                         packet_type::publish, packet_type::pingreq,
                                         packet_type::disconnect};

  // All at once.
  std::vector<packet_type> got;
  std::string_view rest = stream;
  while (!rest.empty()) {
    const decode_result r = decode(rest);
    ASSERT_EQ(r.status, decode_status::ok);
    got.push_back(type_of(r.packet));
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(got, want);

  // Trickled one byte at a time into a receive buffer, as a socket might deliver it.
  got.clear();
  std::string buf;
  for (char ch : stream) {
    buf.push_back(ch);
    while (true) {
      const decode_result r = decode(buf);
      ASSERT_NE(r.status, decode_status::error);
      if (r.status == decode_status::need_more) break;
      got.push_back(type_of(r.packet));
      buf.erase(0, r.consumed);
    }
  }
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(got, want);
}

TEST(MqttDecode, Qos2PublishIsDecodedForTheSessionToRefuse) {
  const std::string wire = bytes({0x34, 0x05}) + str16("t") + bytes({0x00, 0x09});
  const decode_result r = decode_split(wire);
  ASSERT_EQ(r.status, decode_status::ok);
  EXPECT_EQ(std::get<publish>(r.packet).qos, 2);
  EXPECT_EQ(std::get<publish>(r.packet).packet_id, 9);
}

TEST(MqttDecode, RetainAndDupFlags) {
  const std::string wire = bytes({0x3B, 0x05}) + str16("t") + bytes({0x00, 0x09});  // dup qos1 ret
  const decode_result r = decode_split(wire);
  const auto& p = std::get<publish>(r.packet);
  EXPECT_TRUE(p.dup);
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.qos, 1);
}

// --- Fixed header -----------------------------------------------------------------------------

TEST(MqttDecode, TooLargeRejectedFromTheHeaderAlone) {
  // 256 KB + 1 = 262145 = 0x01 + 0x00*128 + 0x10*16384: refused before any body arrives.
  expect_error(bytes({
                   0x30,              // PUBLISH
                   0x81, 0x80, 0x10,  // remaining length 262145
               }),
               decode_error::packet_too_large);
  // Exactly 256 KB is fine: the decoder asks for the whole packet.
  const decode_result r = decode(bytes({0x30, 0x80, 0x80, 0x10}));
  EXPECT_EQ(r.status, decode_status::need_more);
  EXPECT_EQ(r.needed, 4u + 262144u);
  // A smaller limit applies too.
  expect_error(bytes({0x30, 0x0B}), decode_error::packet_too_large, 10);
}

TEST(MqttDecode, LargestRemainingLengthNeedsMoreWithoutAllocating) {
  const decode_result r =
      decode(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), max_remaining_length);  // 268,435,455
  EXPECT_EQ(r.status, decode_status::need_more);
  EXPECT_EQ(r.needed, 5u + max_remaining_length);
}

TEST(MqttDecode, FiveByteRemainingLengthIsMalformed) {
  expect_error(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}),
               decode_error::malformed_remaining_length, max_remaining_length);
  // Known at the 4th length byte; no need to wait for a 5th.
  expect_error(bytes({0x30, 0x80, 0x80, 0x80, 0x80}), decode_error::malformed_remaining_length,
               max_remaining_length);
}

TEST(MqttDecode, ReservedPacketTypes) {
  expect_error(bytes({0x00}), decode_error::invalid_packet_type);
  expect_error(bytes({0xF0, 0x00}), decode_error::invalid_packet_type);
}

TEST(MqttDecode, BadFixedHeaderFlagsFromFirstByte) {
  expect_error(bytes({0x80}), decode_error::invalid_flags);  // SUBSCRIBE must be 0b0010
  expect_error(bytes({0xA0}), decode_error::invalid_flags);  // UNSUBSCRIBE must be 0b0010
  expect_error(bytes({0x60}), decode_error::invalid_flags);  // PUBREL must be 0b0010
  expect_error(bytes({0x11}), decode_error::invalid_flags);  // CONNECT must be 0
  expect_error(bytes({0x42}), decode_error::invalid_flags);  // PUBACK must be 0
  expect_error(bytes({0xC8}), decode_error::invalid_flags);  // PINGREQ must be 0
  expect_error(bytes({0xE1}), decode_error::invalid_flags);  // DISCONNECT must be 0
}

TEST(MqttDecode, PublishQos3IsMalformed) {
  expect_error(bytes({0x36}), decode_error::malformed_packet);
  expect_error(bytes({0x36, 0x05}) + str16("t") + bytes({0x00, 0x01}),
               decode_error::malformed_packet);
}

TEST(MqttDecode, FixedSizePacketsWithWrongLength) {
  expect_error(bytes({0xC0, 0x01}), decode_error::malformed_packet);  // PINGREQ with a body
  expect_error(bytes({0xE0, 0x02}), decode_error::malformed_packet);  // DISCONNECT
  expect_error(bytes({0x40, 0x03}), decode_error::malformed_packet);  // PUBACK
  expect_error(bytes({0x40, 0x01}), decode_error::malformed_packet);  // PUBACK
  expect_error(bytes({0x20, 0x03}), decode_error::malformed_packet);  // CONNACK
}

// --- Strings and topics -----------------------------------------------------------------------

std::string publish_with_topic(std::string_view topic) {
  std::string wire = bytes({0x30, static_cast<int>(2 + topic.size())}) + str16(topic);
  return wire;
}

TEST(MqttDecode, BadUtf8InTopic) {
  expect_error(publish_with_topic("a\xC3\x28"), decode_error::bad_utf8);         // bad continuation
  expect_error(publish_with_topic("a\xC0\x80"), decode_error::bad_utf8);         // overlong U+0000
  expect_error(publish_with_topic("\xE0\x80\xAF"), decode_error::bad_utf8);      // overlong '/'
  expect_error(publish_with_topic("\xED\xA0\x80"), decode_error::bad_utf8);      // U+D800
  expect_error(publish_with_topic("\xF4\x90\x80\x80"), decode_error::bad_utf8);  // > U+10FFFF
  expect_error(publish_with_topic("\x80"), decode_error::bad_utf8);        // stray continuation
  expect_error(publish_with_topic("ab\xE2\x82"), decode_error::bad_utf8);  // truncated
  expect_error(publish_with_topic("\xFF"), decode_error::bad_utf8);
}

TEST(MqttDecode, NulInTopic) {
  expect_error(publish_with_topic(std::string_view("a\0b", 3)), decode_error::bad_utf8);
}

TEST(MqttDecode, GoodUtf8InTopic) {
  const decode_result r =
      decode_split(publish_with_topic("caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80"));
  ASSERT_EQ(r.status, decode_status::ok);
  EXPECT_EQ(std::get<publish>(r.packet).topic, "caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80");
}

TEST(MqttDecode, WildcardOrEmptyPublishTopic) {
  expect_error(publish_with_topic("$iothub/methods/res/#"), decode_error::protocol_violation);
  expect_error(publish_with_topic("devices/+/messages/events/"), decode_error::protocol_violation);
  expect_error(publish_with_topic(""), decode_error::protocol_violation);
}

TEST(MqttDecode, BadUtf8InClientIdAndFilter) {
  const std::string connect_wire =
      bytes({0x10, 0x0F}) + str16("MQTT") + bytes({0x04, 0x02, 0x00, 0x3C}) + str16("d\xC0\xAF");
  expect_error(connect_wire, decode_error::bad_utf8);
  const std::string sub = bytes({0x82, 0x08, 0x00, 0x01}) + str16("\xED\xBF\xBF") + bytes({0x00});
  expect_error(sub, decode_error::bad_utf8);
}

// --- Packet ids -------------------------------------------------------------------------------

TEST(MqttDecode, ZeroPacketId) {
  expect_error(bytes({0x32, 0x05}) + str16("t") + bytes({0x00, 0x00}),
               decode_error::protocol_violation);                                   // PUBLISH QoS 1
  expect_error(bytes({0x40, 0x02, 0x00, 0x00}), decode_error::protocol_violation);  // PUBACK
  expect_error(bytes({0x62, 0x02, 0x00, 0x00}), decode_error::protocol_violation);  // PUBREL
  expect_error(bytes({0x82, 0x06, 0x00, 0x00}) + str16("a") + bytes({0x00}),
               decode_error::protocol_violation);  // SUBSCRIBE
  expect_error(bytes({0xA2, 0x05, 0x00, 0x00}) + str16("a"),
               decode_error::protocol_violation);  // UNSUBSCRIBE
}

// --- SUBSCRIBE / UNSUBSCRIBE
// ----------------------------------------------------------------------

TEST(MqttDecode, SubscribeSeveralFilters) {
  const std::string wire = bytes({0x82, 0x1B, 0x00, 0x05}) +              //
                           str16("$iothub/twin/res/#") + bytes({0x01}) +  // 18 + 3
                           bytes({0x00, 0x01, '#', 0x02});                // "#" QoS 2
  const decode_result r = decode_split(wire);
  ASSERT_EQ(r.status, decode_status::ok);
  const auto& s = std::get<subscribe>(r.packet);
  ASSERT_EQ(s.subscriptions.size(), 2u);
  EXPECT_EQ(s.subscriptions[0], (subscription{"$iothub/twin/res/#", 1}));
  EXPECT_EQ(s.subscriptions[1], (subscription{"#", 2}));
}

TEST(MqttDecode, SubscribeRules) {
  expect_error(bytes({0x82, 0x02, 0x00, 0x01}), decode_error::protocol_violation);  // no filter
  expect_error(bytes({0x82, 0x06, 0x00, 0x01}) + str16("a") + bytes({0x03}),
               decode_error::malformed_packet);  // QoS 3
  expect_error(bytes({0x82, 0x06, 0x00, 0x01}) + str16("a") + bytes({0x04}),
               decode_error::malformed_packet);  // reserved bit
  expect_error(bytes({0x82, 0x05, 0x00, 0x01}) + str16("a"),
               decode_error::malformed_packet);  // QoS byte missing
  expect_error(bytes({0x82, 0x08, 0x00, 0x01}) + str16("a/#/b").substr(0, 4) + bytes({0, 0}),
               decode_error::malformed_packet);  // string overruns
  expect_error(bytes({0x82, 0x0A, 0x00, 0x01}) + str16("a/#/b") + bytes({0x00}),
               decode_error::protocol_violation);  // '#' not last
  expect_error(bytes({0x82, 0x08, 0x00, 0x01}) + str16("a+/") + bytes({0x00}),
               decode_error::protocol_violation);  // '+' not a whole level
  expect_error(bytes({0x82, 0x05, 0x00, 0x01}) + str16("") + bytes({0x00}),
               decode_error::protocol_violation);  // empty filter
}

TEST(MqttDecode, UnsubscribeRules) {
  const decode_result r = decode_split(bytes({0xA2, 0x0A, 0x00, 0x03}) + str16("a/+") + str16("#"));
  ASSERT_EQ(r.status, decode_status::ok);
  EXPECT_EQ(std::get<unsubscribe>(r.packet).filters, (std::vector<std::string>{"a/+", "#"}));
  expect_error(bytes({0xA2, 0x02, 0x00, 0x01}), decode_error::protocol_violation);
  expect_error(bytes({0xA2, 0x06, 0x00, 0x01}) + str16("a#"), decode_error::protocol_violation);
}

TEST(MqttDecode, ServerPacketRules) {
  expect_error(bytes({0x20, 0x02, 0x02, 0x00}), decode_error::malformed_packet);  // ack flags
  expect_error(bytes({0x20, 0x02, 0x00, 0x06}), decode_error::malformed_packet);  // reserved code
  expect_error(bytes({0x90, 0x03, 0x00, 0x01, 0x03}), decode_error::malformed_packet);
  expect_error(bytes({0x90, 0x02, 0x00, 0x01}), decode_error::malformed_packet);  // no codes
  const decode_result r = decode_split(bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x80}));
  EXPECT_EQ(std::get<suback>(r.packet).return_codes, (std::vector<std::uint8_t>{0x00, 0x80}));
}

// --- CONNECT ----------------------------------------------------------------------------------

// CONNECT with the given name, level and flags; client id "d"; then `tail`.
std::string connect_with(std::string_view name, int level, int flags, std::string_view tail = {}) {
  std::string body = str16(name) + bytes({level, flags, 0x00, 0x3C}) + str16("d");
  body.append(tail);
  return bytes({0x10, static_cast<int>(body.size())}) + body;
}

TEST(MqttDecode, Mqtt5ConnectIsUnsupportedVersion) {
  const std::string wire = bytes({
      0x10,  // CONNECT
      0x10,  // remaining length 16
      0x00,
      0x04,  //
      'M',
      'Q',
      'T',
      'T',
      0x05,  // protocol level 5
      0x02,  // clean start
      0x00,
      0x3C,  // keep alive 60
      0x00,  // properties length 0 (MQTT 5 only)
      0x00,
      0x03,
      'd',
      'e',
      'v',
  });
  const decode_result r = decode(wire);
  EXPECT_EQ(r.status, decode_status::error);
  EXPECT_EQ(r.error, decode_error::unsupported_protocol_version);
  EXPECT_EQ(r.protocol_level, 5);
}

TEST(MqttDecode, Mqtt31ConnectIsUnsupportedVersion) {
  const decode_result r = decode(connect_with("MQIsdp", 3, 0x02));
  EXPECT_EQ(r.error, decode_error::unsupported_protocol_version);
  EXPECT_EQ(r.protocol_level, 3);
}

TEST(MqttDecode, UnknownProtocolName) {
  expect_error(connect_with("MQTX", 4, 0x02), decode_error::protocol_violation);
}

TEST(MqttDecode, ConnectFlagRules) {
  expect_error(connect_with("MQTT", 4, 0x03), decode_error::malformed_packet);  // reserved bit
  expect_error(connect_with("MQTT", 4, 0x42, str16("pw")),
               decode_error::protocol_violation);  // password without username
  expect_error(connect_with("MQTT", 4, 0x1E, str16("w") + str16("x")),
               decode_error::malformed_packet);                                   // will QoS 3
  expect_error(connect_with("MQTT", 4, 0x0A), decode_error::protocol_violation);  // QoS, no will
  expect_error(connect_with("MQTT", 4, 0x22), decode_error::protocol_violation);  // retain, no will
  expect_error(connect_with("MQTT", 4, 0x80), decode_error::malformed_packet);  // username missing
  expect_error(connect_with("MQTT", 4, 0x02, "x"), decode_error::malformed_packet);  // trailing
  expect_error(connect_with("MQTT", 4, 0x06, str16("w/#") + str16("x")),
               decode_error::protocol_violation);  // wildcard will topic
}

TEST(MqttDecode, ConnectWithWillAndUsernameOnly) {
  const decode_result r =
      decode_split(connect_with("MQTT", 4, 0xB6, str16("w/t") + str16("bye") + str16("user")));
  ASSERT_EQ(r.status, decode_status::ok);
  const auto& c = std::get<connect>(r.packet);
  EXPECT_TRUE(c.clean_session);
  ASSERT_TRUE(c.will.has_value());
  EXPECT_EQ(*c.will, (will_message{"w/t", "bye", 2, true}));
  EXPECT_EQ(c.username, "user");
  EXPECT_FALSE(c.password.has_value());
}

TEST(MqttDecode, EmptyClientIdIsLeftToTheSession) {
  const std::string wire =
      bytes({0x10, 0x0C}) + str16("MQTT") + bytes({0x04, 0x00, 0x00, 0x3C}) + str16("");
  EXPECT_EQ(std::get<connect>(decode_split(wire).packet).client_id, "");
}

// --- Robustness -------------------------------------------------------------------------------

// Whatever the bytes, decode returns a consistent answer and never reads or claims past them.
decode_status check_invariants(std::string_view in, std::size_t max) {
  const decode_result r = decode(in, max);
  switch (r.status) {
    case decode_status::ok: {
      EXPECT_GT(r.consumed, 0u);
      EXPECT_LE(r.consumed, in.size());
      EXPECT_LE(r.consumed, max + 5);
      // Whatever decoded re-encodes canonically and decodes to the same value.
      std::string again;
      encode(again, r.packet);
      const decode_result r2 = decode(again, max + 5);
      EXPECT_EQ(r2.status, decode_status::ok);
      EXPECT_EQ(r2.packet, r.packet);
      break;
    }
    case decode_status::need_more:
      EXPECT_TRUE(r.needed == 0 || r.needed > in.size());
      break;
    case decode_status::error:
      EXPECT_NE(r.error, decode_error::none);
      break;
  }
  return r.status;
}

TEST(MqttDecode, RandomBytesDoNotCrash) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(0, 48);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string in(static_cast<std::size_t>(len(rng)), '\0');
    for (char& c : in) c = static_cast<char>(byte(rng));
    // Bias the first byte toward real types with legal flags so bodies get exercised.
    if (i % 2 == 0 && !in.empty()) {
      static constexpr int firsts[] = {0x10, 0x20, 0x30, 0x32, 0x40, 0x50, 0x62, 0x70,
                                       0x82, 0x90, 0xA2, 0xB0, 0xC0, 0xD0, 0xE0};
      in[0] = static_cast<char>(firsts[static_cast<std::size_t>(i / 2) % std::size(firsts)]);
      if (in.size() > 1) in[1] = static_cast<char>(in.size() - 2 < 128 ? in.size() - 2 : 0x7F);
    }
    decoded += check_invariants(in, 64) == decode_status::ok ? 1 : 0;
    if (HasFailure()) return;
  }
  EXPECT_GT(decoded, 50);  // the biased half gets through to whole packets now and then
}

TEST(MqttDecode, MutatedValidPacketsDoNotCrash) {
  const std::vector<std::string> seeds = {
      test::node_connect(),
      test::node_subscribe_methods(),
      test::method_response_publish(),
      connect_with("MQTT", 4, 0xF6, str16("w/t") + str16("bye") + str16("u") + str16("p")),
      bytes({0xA2, 0x0A, 0x00, 0x03}) + str16("a/+") + str16("#"),
      bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x80}),
      bytes({0x20, 0x02, 0x01, 0x00}),
      bytes({0x62, 0x02, 0x12, 0x34})};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string in = seeds[static_cast<std::size_t>(i) % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !in.empty(); ++e) {
      const std::size_t at = rng() % in.size();
      switch (rng() % 4) {
        case 0:
          in[at] = static_cast<char>(byte(rng));
          break;  // replace
        case 1:
          in[at] = static_cast<char>(in[at] ^ (1 << (rng() % 8)));
          break;  // flip a bit
        case 2:
          in.erase(at, 1);
          break;  // drop
        default:
          in.insert(at, 1, static_cast<char>(byte(rng)));
          break;  // insert
      }
    }
    decoded += check_invariants(in, default_max_packet_size) == decode_status::ok ? 1 : 0;
    for (std::size_t cut = 0; cut < in.size(); cut += 17) check_invariants(in.substr(0, cut), 512);
    if (HasFailure()) return;
  }
  EXPECT_GT(decoded, 1000);  // mutations that stay valid still decode
}

}  // namespace
}  // namespace hub::codec::mqtt
