#include "codec/mqtt/username.hpp"

#include <gtest/gtest.h>

#include <string>

#include "codec/mqtt/wire_util.hpp"

namespace hub::codec::mqtt {
namespace {

TEST(MqttUsername, NodeDevice) {
  const auto u = parse_username(test::node_username);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->device_id, "dev1");
  EXPECT_EQ(u->module_id, "");
  EXPECT_EQ(u->api_version, "2021-04-12");
}

TEST(MqttUsername, NodeModuleWithModelId) {
  const auto u = parse_username(
      "hub.example.net/dev1/mod1/?api-version=2021-04-12&model-id=dtmi%3Acom%3Ax%3B1"
      "&DeviceClientType=azure-iot-device%2F1.18.4");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->host, "hub.example.net");
  EXPECT_EQ(u->device_id, "dev1");
  EXPECT_EQ(u->module_id, "mod1");
  EXPECT_EQ(u->api_version, "2021-04-12");
}

TEST(MqttUsername, ParamsInAnyOrder) {
  const auto u = parse_username("h/d/?DeviceClientType=py&api-version=2019-10-01&x=1");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->api_version, "2019-10-01");
}

TEST(MqttUsername, MissingApiVersionAndTail) {
  for (const char* s : {"h/d/?DeviceClientType=c", "h/d/?", "h/d", "h/d/"}) {
    const auto u = parse_username(s);
    ASSERT_TRUE(u.has_value()) << s;
    EXPECT_EQ(u->host, "h") << s;
    EXPECT_EQ(u->device_id, "d") << s;
    EXPECT_EQ(u->module_id, "") << s;
    EXPECT_EQ(u->api_version, "") << s;
  }
  const auto m = parse_username("h/d/m/");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->module_id, "m");
}

TEST(MqttUsername, EdgeHubLegacyForm) {
  auto u = parse_username("h/d/api-version=2017-06-30&DeviceClientType=x");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->device_id, "d");
  EXPECT_EQ(u->module_id, "");
  EXPECT_EQ(u->api_version, "2017-06-30");
  u = parse_username("h/d/m/api-version=2018-06-30");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->module_id, "m");
  EXPECT_EQ(u->api_version, "2018-06-30");
}

TEST(MqttUsername, IdsAsTheyAppear) {
  // '?' inside an id is a legal id character; percent-escapes are not decoded.
  const auto u = parse_username("h/de%20v?1/m=o/?api-version=1");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->device_id, "de%20v?1");
  EXPECT_EQ(u->module_id, "m=o");
}

TEST(MqttUsername, Rejects) {
  for (const char* s :
       {"", "h", "h/", "/d/?api-version=1", "h//?api-version=1", "h/d/m/x",
        "h/d/m/x/?api-version=1", "h/d//?api-version=1", "/?api-version=1", "a/b/c/d/e/f/g"}) {
    EXPECT_FALSE(parse_username(s).has_value()) << s;
  }
  EXPECT_FALSE(parse_username(std::string(max_username_size + 1, 'a')).has_value());
}

}  // namespace
}  // namespace hub::codec::mqtt
