// The MQTT head's per-connection code driven over a memory_stream (run_mqtt_session) against
// the fake hub: the socket-free entry point the mqtt_session fuzz target uses.
#include "transport/mqtt_session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec/mqtt/decode.hpp"
#include "codec/mqtt/encode.hpp"
#include "transport/fake_hub.hpp"

namespace hub::transport {
namespace {

namespace mqtt = codec::mqtt;
using testing::fake_hub;
using testing::recording_presence;

std::string connect_bytes(const std::string& client_id, const std::string& key) {
  mqtt::connect c;
  c.clean_session = true;
  c.keep_alive = 60;
  c.client_id = client_id;
  c.username = "hub.example.lan/" + client_id + "/?api-version=2021-04-12";
  c.password = testing::sas_token("hub.example.lan/devices/" + client_id, key);
  std::string out;
  mqtt::encode(out, c);
  return out;
}

std::vector<mqtt::packet> decode_all(std::string_view bytes) {
  std::vector<mqtt::packet> out;
  while (!bytes.empty()) {
    auto r = mqtt::decode(bytes);
    if (r.status != mqtt::decode_status::ok) {
      ADD_FAILURE() << "the hub wrote bytes that do not decode";
      break;
    }
    out.push_back(std::move(r.packet));
    bytes.remove_prefix(r.consumed);
  }
  return out;
}

struct mqtt_session_test : ::testing::Test {
  fake_hub hub;
  recording_presence presence;
  mqtt_services svc{hub.registry, presence, hub.policies, {}};
  mqtt_limits limits;

  testing::session_run run(std::string input, std::size_t chunk = 0) {
    return testing::run_session(hub, std::move(input), chunk, [this](memory_stream s) {
      return run_mqtt_session(std::move(s), svc, limits);
    });
  }
};

TEST_F(mqtt_session_test, ConnectSubscribeGetsTheMethodRequestThenPing) {
  std::string in = connect_bytes("dev1", testing::key_a);
  mqtt::encode(in, mqtt::subscribe{1, {{"$iothub/methods/POST/#", 0}}});
  mqtt::encode(in, mqtt::pingreq{});
  for (std::size_t chunk : {0, 1, 5}) {
    SCOPED_TRACE(chunk);
    presence.ups = presence.downs = 0;
    auto r = run(in, chunk);
    ASSERT_TRUE(r.finished);
    EXPECT_FALSE(r.exception);
    EXPECT_TRUE(r.peer->closed());
    auto packets = decode_all(r.peer->output());
    ASSERT_EQ(packets.size(), 4u);
    EXPECT_EQ(std::get<mqtt::connack>(packets[0]).return_code, mqtt::connect_return_code::accepted);
    EXPECT_EQ(std::get<mqtt::suback>(packets[1]).return_codes, std::vector<std::uint8_t>{0});
    // The fake core delivers its request once the device listens; whether that comes before
    // or after the PINGRESP depends on how the bytes were split.
    int pings = 0, requests = 0;
    for (std::size_t i = 2; i < packets.size(); ++i) {
      if (std::holds_alternative<mqtt::pingresp>(packets[i])) ++pings;
      if (auto* p = std::get_if<mqtt::publish>(&packets[i])) {
        ++requests;
        EXPECT_EQ(p->topic, "$iothub/methods/POST/reboot/?$rid=1");
        EXPECT_EQ(p->payload, R"({"delay":1})");
      }
    }
    EXPECT_EQ(pings, 1);
    EXPECT_EQ(requests, 1);
    EXPECT_EQ(presence.ups, 1u);
    EXPECT_EQ(presence.downs, 1u);
    EXPECT_TRUE(presence.live.empty());
  }
}

TEST_F(mqtt_session_test, MethodAnswerReachesTheCore) {
  std::string in = connect_bytes("dev1", testing::key_a);
  mqtt::encode_publish(in, "$iothub/methods/res/200/?$rid=1", R"({"ok":true})", 1, 7);
  auto r = run(in);
  auto packets = decode_all(r.peer->output());
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(std::get<mqtt::puback>(packets[1]).packet_id, 7);
  ASSERT_EQ(presence.responses.size(), 1u);
  EXPECT_EQ(presence.responses[0].rid, "1");
  EXPECT_EQ(presence.responses[0].status, 200);
}

// An exception out of the head's work must not escape io_context::run() (it would stop the hub)
// nor leave the connection without a read: the connection whose handler failed closes, and its
// link is reported down. Whole: the answer is decoded in the CONNECT coroutine's process();
// bytewise: in a read's completion handler.
TEST_F(mqtt_session_test, UnexpectedErrorInAHandlerClosesOnlyThatConnection) {
  presence.fail_responses = true;
  std::string in = connect_bytes("dev1", testing::key_a);
  mqtt::encode_publish(in, "$iothub/methods/res/200/?$rid=1", R"({"ok":true})", 0, 0);
  mqtt::encode(in, mqtt::pingreq{});
  for (std::size_t chunk : {0, 1}) {
    SCOPED_TRACE(chunk);
    presence.ups = presence.downs = 0;
    testing::session_run r;
    ASSERT_NO_THROW(r = run(in, chunk));
    EXPECT_TRUE(r.finished);
    EXPECT_FALSE(r.exception);
    EXPECT_TRUE(r.peer->closed());
    auto packets = decode_all(r.peer->output());
    ASSERT_EQ(packets.size(), 1u);  // the CONNACK; no PINGRESP: the PINGREQ came after the failure
    EXPECT_EQ(std::get<mqtt::connack>(packets[0]).return_code, mqtt::connect_return_code::accepted);
    EXPECT_TRUE(presence.responses.empty());
    EXPECT_EQ(presence.ups, 1u);
    EXPECT_EQ(presence.downs, 1u);
    EXPECT_TRUE(presence.live.empty());
  }
}

TEST_F(mqtt_session_test, WrongKeyIsRefusedAndClosed) {
  const std::string other_key = "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=";  // not dev1's
  auto r = run(connect_bytes("dev1", other_key) + std::string("\xc0\x00", 2));   // + PINGREQ
  auto packets = decode_all(r.peer->output());
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(std::get<mqtt::connack>(packets[0]).return_code,
            mqtt::connect_return_code::not_authorized);
  EXPECT_TRUE(r.peer->closed());
  EXPECT_EQ(presence.ups, 0u);
}

TEST_F(mqtt_session_test, DisabledDeviceGetsServerUnavailable) {
  auto r = run(connect_bytes("off", testing::key_a));
  auto packets = decode_all(r.peer->output());
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(std::get<mqtt::connack>(packets[0]).return_code,
            mqtt::connect_return_code::server_unavailable);
}

TEST_F(mqtt_session_test, SecondConnectClosesTheConnection) {
  auto connect = connect_bytes("dev1", testing::key_a);
  std::string in = connect + connect;
  mqtt::encode(in, mqtt::pingreq{});
  auto r = run(in);
  auto packets = decode_all(r.peer->output());
  ASSERT_EQ(packets.size(), 1u);  // CONNACK; no PINGRESP after the second CONNECT
  EXPECT_TRUE(r.peer->closed());
  EXPECT_TRUE(presence.live.empty());
}

}  // namespace
}  // namespace hub::transport
