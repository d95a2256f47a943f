// The body of "Invoke device/module method" (api/invoke_body.hpp): whatever is accepted obeys
// the documented rules.
#include "api/invoke_body.hpp"
#include "codec/json/json_scan.hpp"
#include "fuzz_check.hpp"

using namespace hub::api;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto r = parse_invoke_body(hub::fuzz::as_view(data, size));
  if (const auto* b = std::get_if<invoke_body>(&r)) {
    HUB_FUZZ_CHECK(check_method_name(b->method_name).empty());
    HUB_FUZZ_CHECK(b->response_timeout_s >= min_response_timeout_s &&
                   b->response_timeout_s <= max_response_timeout_s);
    HUB_FUZZ_CHECK(b->connect_timeout_s >= 0 && b->connect_timeout_s <= max_connect_timeout_s);
    HUB_FUZZ_CHECK(b->payload.size() <= max_payload_bytes &&
                   hub::codec::json::validate(b->payload));
  }
  return 0;
}
