#include "codec/mqtt/iothub_topics.hpp"

#include <gtest/gtest.h>

namespace hub::codec::mqtt {
namespace {

TEST(IothubTopics, MethodRequestTopic) {
  EXPECT_EQ(method_request_topic("echo", "1"), "$iothub/methods/POST/echo/?$rid=1");
  EXPECT_EQ(method_request_topic("reboot_now", "a8f3-11"),
            "$iothub/methods/POST/reboot_now/?$rid=a8f3-11");
}

TEST(IothubTopics, MethodResponseAsNodeSendsIt) {
  const auto r = parse_method_response_topic("$iothub/methods/res/200/?$rid=42");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->rid, "42");
}

TEST(IothubTopics, MethodResponsePercentDecoded) {
  // Python quotes status and rid.
  auto r = parse_method_response_topic("$iothub/methods/res/%32%30%31/?$rid=a%2Fb%20c");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->rid, "a/b c");
  r = parse_method_response_topic("$iothub/methods/res/404/?%24rid=7");  // quoted key
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rid, "7");
  r = parse_method_response_topic("$iothub/methods/res/200/?$rid=a+b");  // '+' is not a space
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rid, "a+b");
}

TEST(IothubTopics, MethodResponseStatusForms) {
  auto r = parse_method_response_topic("$iothub/methods/res/-1/?$rid=1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, -1);
  r = parse_method_response_topic("$iothub/methods/res/%2D5/?$rid=1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, -5);
  r = parse_method_response_topic("$iothub/methods/res/0/?$rid=1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 0);

  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/abc/?$rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/20x/?$rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/+200/?$rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/ 200/?$rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res//?$rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/-/?$rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/99999999999/?$rid=1"));  // > int
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/200/x/?$rid=1"));
}

TEST(IothubTopics, MethodResponseExtraProperties) {
  auto r = parse_method_response_topic("$iothub/methods/res/200/?$rid=9&foo=bar&x");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rid, "9");
  r = parse_method_response_topic("$iothub/methods/res/200/?foo=bar&$rid=9");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rid, "9");
  r = parse_method_response_topic("$iothub/methods/res/200?$rid=9");  // no '/' before '?'
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rid, "9");
}

TEST(IothubTopics, MethodResponseRejects) {
  EXPECT_FALSE(parse_method_response_topic(""));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/200/"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/200/?"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/200/?$rid="));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/200/?rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/200/?$rid=%G1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/res/200/?$rid=1%2"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/methods/POST/200/?$rid=1"));
  EXPECT_FALSE(parse_method_response_topic("$iothub/twin/res/200/?$rid=1"));
}

TEST(IothubTopics, TwinGet) {
  EXPECT_EQ(parse_twin_get_topic("$iothub/twin/GET/?$rid=0"), "0");
  EXPECT_EQ(parse_twin_get_topic("$iothub/twin/GET/?$rid=%31x"), "%31x");  // echoed raw
  EXPECT_EQ(parse_twin_get_topic("$iothub/twin/GET/?$rid=3&a=b"), "3");
  EXPECT_FALSE(parse_twin_get_topic("$iothub/twin/GET/"));
  EXPECT_FALSE(parse_twin_get_topic("$iothub/twin/GET/?$rid="));
  EXPECT_FALSE(parse_twin_get_topic("$iothub/twin/GETX/?$rid=1"));
  EXPECT_FALSE(parse_twin_get_topic("$iothub/twin/PATCH/properties/reported/?$rid=1"));
}

TEST(IothubTopics, TwinPatchReported) {
  EXPECT_EQ(parse_twin_patch_reported_topic("$iothub/twin/PATCH/properties/reported/?$rid=17"),
            "17");
  EXPECT_EQ(
      parse_twin_patch_reported_topic("$iothub/twin/PATCH/properties/reported/?$rid=5&$version=2"),
      "5");
  EXPECT_FALSE(parse_twin_patch_reported_topic("$iothub/twin/PATCH/properties/desired/?$rid=1"));
  EXPECT_FALSE(parse_twin_patch_reported_topic("$iothub/twin/GET/?$rid=1"));
}

TEST(IothubTopics, Telemetry) {
  EXPECT_TRUE(is_telemetry_topic("devices/dev1/messages/events/", "dev1", ""));
  EXPECT_TRUE(is_telemetry_topic("devices/dev1/messages/events/a=b&%24.ct=json", "dev1", ""));
  EXPECT_TRUE(is_telemetry_topic("devices/dev1/messages/events", "dev1", ""));
  EXPECT_TRUE(is_telemetry_topic("devices/dev1/modules/m1/messages/events/", "dev1", "m1"));
  EXPECT_FALSE(is_telemetry_topic("devices/dev2/messages/events/", "dev1", ""));
  EXPECT_FALSE(is_telemetry_topic("devices/dev1/messages/eventsX", "dev1", ""));
  EXPECT_FALSE(is_telemetry_topic("devices/dev1/messages/devicebound/", "dev1", ""));
  EXPECT_FALSE(is_telemetry_topic("devices/dev1/modules/m1/messages/events/", "dev1", ""));
  EXPECT_FALSE(is_telemetry_topic("devices/dev1/messages/events/", "dev1", "m1"));
  EXPECT_FALSE(is_telemetry_topic("devices/dev1/modules/m2/messages/events/", "dev1", "m1"));
  EXPECT_FALSE(is_telemetry_topic("devices//messages/events/", "", ""));
}

TEST(IothubTopics, ClassifyFilter) {
  EXPECT_EQ(classify_filter("$iothub/methods/POST/#", "d", ""), filter_kind::methods);
  EXPECT_EQ(classify_filter("$iothub/methods/POST/#", "d", "m"), filter_kind::methods);
  EXPECT_EQ(classify_filter("$iothub/twin/res/#", "d", ""), filter_kind::twin_response);
  EXPECT_EQ(classify_filter("$iothub/twin/PATCH/properties/desired/#", "d", ""),
            filter_kind::twin_desired);
  EXPECT_EQ(classify_filter("devices/d/messages/devicebound/#", "d", ""), filter_kind::c2d);
  EXPECT_EQ(classify_filter("devices/d/modules/m/#", "d", "m"), filter_kind::module_inputs);
  EXPECT_EQ(classify_filter("devices/d/modules/m/inputs/#", "d", "m"), filter_kind::module_inputs);
}

TEST(IothubTopics, ClassifyFilterUnknown) {
  EXPECT_EQ(classify_filter("$iothub/methods/POST/+", "d", ""), filter_kind::unknown);
  EXPECT_EQ(classify_filter("$iothub/methods/#", "d", ""), filter_kind::unknown);
  EXPECT_EQ(classify_filter("#", "d", ""), filter_kind::unknown);
  EXPECT_EQ(classify_filter("devices/other/messages/devicebound/#", "d", ""), filter_kind::unknown);
  EXPECT_EQ(classify_filter("devices/d/messages/devicebound/#", "d", "m"), filter_kind::unknown);
  EXPECT_EQ(classify_filter("devices/d/modules/x/#", "d", "m"), filter_kind::unknown);
  EXPECT_EQ(classify_filter("devices/d/modules/m/#", "d", ""), filter_kind::unknown);
  EXPECT_EQ(classify_filter("devices/d/modules/m/outputs/#", "d", "m"), filter_kind::unknown);
  EXPECT_EQ(classify_filter("devices/+/messages/devicebound/#", "d", ""), filter_kind::unknown);
  EXPECT_EQ(classify_filter("", "d", ""), filter_kind::unknown);
}

}  // namespace
}  // namespace hub::codec::mqtt
