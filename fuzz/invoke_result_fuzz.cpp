// The success body of an invoke (api/invoke_result_json.hpp): whatever the device sent, the
// answer is valid JSON, and a valid JSON payload is spliced byte for byte.
// Input: 4 bytes of status (big-endian), then the device's payload.
#include "api/invoke_result_json.hpp"
#include "codec/json/json_scan.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const auto status = static_cast<int>(std::uint32_t{data[0]} << 24 | std::uint32_t{data[1]} << 16 |
                                       std::uint32_t{data[2]} << 8 | data[3]);
  const auto payload = hub::fuzz::as_view(data + 4, size - 4);
  const std::string out = hub::api::invoke_result_json(status, payload);
  HUB_FUZZ_CHECK(hub::codec::json::validate(out, nullptr, hub::codec::json::max_depth_limit));
  if (hub::codec::json::validate(payload)) HUB_FUZZ_CHECK(out.find(payload) != std::string::npos);
  return 0;
}
