// IoT Hub connection strings (codec/sas/connection_string.hpp): what parses round-trips through
// to_string.
#include "codec/sas/connection_string.hpp"
#include "fuzz_check.hpp"

using namespace hub::codec::sas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string error;
  auto c = parse_connection_string(hub::fuzz::as_view(data, size), &error);
  if (!c) return 0;
  auto again = parse_connection_string(to_string(*c), &error);
  HUB_FUZZ_CHECK(again.has_value());
  HUB_FUZZ_CHECK(to_string(*again) == to_string(*c));
  return 0;
}
