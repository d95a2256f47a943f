#include "transport/amqp_address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub::transport::amqp {
namespace {

identity_key dev(std::string d, std::string m = {}) {
  return identity_key{std::move(d), std::move(m)};
}

TEST(AmqpMethodAddress, EverySdkForm) {
  // Node and Java: relative, lower-case devicebound.
  EXPECT_EQ(parse_method_address("/devices/dev1/methods/devicebound"), dev("dev1"));
  // C: absolute, no port; C#: absolute with port and deviceBound.
  EXPECT_EQ(parse_method_address("amqps://hub.localdomain/devices/dev1/methods/devicebound"),
            dev("dev1"));
  EXPECT_EQ(parse_method_address("amqps://hub.localdomain:5671/devices/dev1/methods/deviceBound"),
            dev("dev1"));
  EXPECT_EQ(parse_method_address("AMQPS://localhost/devices/dev1/methods/DEVICEBOUND"),
            dev("dev1"));
  EXPECT_EQ(parse_method_address("devices/dev1/methods/devicebound"), dev("dev1"));
  // Modules.
  EXPECT_EQ(parse_method_address("/devices/dev1/modules/mod1/methods/devicebound"),
            dev("dev1", "mod1"));
  EXPECT_EQ(parse_method_address("amqps://h:5671/devices/dev1/modules/mod1/methods/deviceBound"),
            dev("dev1", "mod1"));
}

TEST(AmqpMethodAddress, EncodedIdsAreDecodedOnce) {
  EXPECT_EQ(parse_method_address("/devices/a%3Ab/methods/devicebound"), dev("a:b"));
  EXPECT_EQ(parse_method_address("/devices/a%253A/methods/devicebound"), dev("a%3A"));
  EXPECT_EQ(parse_method_address("/devices/d%20x/modules/m%2Bn/methods/devicebound"),
            dev("d x", "m+n"));
}

TEST(AmqpMethodAddress, RejectsEverythingElse) {
  for (const char* a :
       {"", "$cbs", "/devices/dev1/messages/devicebound", "/devices/dev1/methods",
        "/devices//methods/devicebound", "/devices/dev1/modules//methods/devicebound",
        "/devices/dev1/methods/devicebound/x", "/devices/a%2Fb/methods/devicebound",
        "/devices/a%zz/methods/devicebound", "amqps://host", "/twins/dev1/methods/devicebound",
        "/devices/dev1/modules/m/x/methods/devicebound"}) {
    EXPECT_FALSE(parse_method_address(a).has_value()) << a;
  }
}

TEST(AmqpAudience, DeviceModuleAndHub) {
  EXPECT_EQ(parse_audience("localhost/devices/dev1"), dev("dev1"));
  EXPECT_EQ(parse_audience("localhost%2Fdevices%2Fdev1"), dev("dev1"));
  EXPECT_EQ(parse_audience("localhost%2Fdevices%2Fdev1%2Fmodules%2Fmod1"), dev("dev1", "mod1"));
  EXPECT_EQ(parse_audience("amqps://hub.localdomain/devices/dev1/"), dev("dev1"));
  EXPECT_EQ(parse_audience("hub.localdomain"), dev(""));
  EXPECT_EQ(parse_audience("hub.localdomain/devices"), dev(""));
  EXPECT_FALSE(parse_audience("").has_value());
  EXPECT_FALSE(parse_audience("/devices/dev1").has_value());
  EXPECT_FALSE(parse_audience("host/twins/dev1").has_value());
  EXPECT_FALSE(parse_audience("host/devices/dev1/modules").has_value());
  EXPECT_FALSE(parse_audience("host%zz").has_value());
}

TEST(AmqpRidUuid, RoundTripsHexRids) {
  for (std::string rid : std::vector<std::string>{"0", "1", "a", "ff", "123456789abcdef",
                                                  "ffffffffffffffff", std::string(30, 'e')}) {
    auto u = rid_to_uuid(rid);
    ASSERT_TRUE(u.has_value()) << rid;
    EXPECT_EQ(uuid_to_rid(*u), rid);
  }
  // Distinct rids give distinct uuids, also when one is a prefix of another.
  EXPECT_NE(rid_to_uuid("1"), rid_to_uuid("10"));
}

TEST(AmqpRidUuid, RefusesWhatItDidNotMake) {
  EXPECT_FALSE(rid_to_uuid("").has_value());
  EXPECT_FALSE(rid_to_uuid("ABC").has_value());
  EXPECT_FALSE(rid_to_uuid("xyz").has_value());
  EXPECT_FALSE(rid_to_uuid(std::string(31, '1')).has_value());
  uuid_bytes random{0x9f, 0x1c, 0x22, 0x01, 0x55, 0x66, 0x77, 0x88,
                    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00};
  EXPECT_FALSE(uuid_to_rid(random).has_value());
  uuid_bytes zero{};
  EXPECT_FALSE(uuid_to_rid(zero).has_value());
  auto u = *rid_to_uuid("abc");
  u[15] = 1;  // non-zero padding
  EXPECT_FALSE(uuid_to_rid(u).has_value());
}

}  // namespace
}  // namespace hub::transport::amqp
