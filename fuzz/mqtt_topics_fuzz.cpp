// IoT Hub topic names and filters (codec/mqtt/iothub_topics.hpp). Input:
// `topic[\0device[\0module]]`; without the ids the connection is device `dev1` and module `mod1`.
#include "codec/mqtt/iothub_topics.hpp"
#include "fuzz_check.hpp"

using namespace hub::codec::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [topic, ids] = hub::fuzz::split(hub::fuzz::as_view(data, size), '\0');
  auto [device, module] = ids.empty()
                              ? std::pair<std::string_view, std::string_view>{"dev1", "mod1"}
                              : hub::fuzz::split(ids, '\0');
  if (auto r = parse_method_response_topic(topic)) HUB_FUZZ_CHECK(!r->rid.empty());
  if (auto rid = parse_twin_get_topic(topic)) HUB_FUZZ_CHECK(!rid->empty());
  if (auto rid = parse_twin_patch_reported_topic(topic)) HUB_FUZZ_CHECK(!rid->empty());
  (void)classify_filter(topic, device, {});
  (void)classify_filter(topic, device, module);
  (void)is_telemetry_topic(topic, device, {});
  (void)is_telemetry_topic(topic, device, module);
  return 0;
}
