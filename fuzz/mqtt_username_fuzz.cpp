// The CONNECT username IoT Hub clients send (codec/mqtt/username.hpp).
#include "codec/mqtt/username.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = hub::fuzz::as_view(data, size);
  if (auto u = hub::codec::mqtt::parse_username(in)) {
    HUB_FUZZ_CHECK(!u->host.empty() && !u->device_id.empty());
    HUB_FUZZ_CHECK(u->host.size() + u->device_id.size() + u->module_id.size() <= in.size());
  }
  return 0;
}
