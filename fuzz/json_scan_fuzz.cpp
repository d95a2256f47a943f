// The validating JSON scanner (codec/json/json_scan.hpp): validate and object_members must agree,
// every member's raw bytes are one valid value, and append_escaped always yields valid JSON.
#include "codec/json/json_scan.hpp"
#include "fuzz_check.hpp"

using namespace hub::codec::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = hub::fuzz::as_view(data, size);
  scan_error err;
  const bool valid = validate(in, &err);
  if (!valid) HUB_FUZZ_CHECK(err.offset <= in.size() && err.code != scan_errc::not_an_object);
  auto members = object_members(in, &err);
  HUB_FUZZ_CHECK(members ? valid : (!valid || err.code == scan_errc::not_an_object));
  if (members) {
    for (const member& m : *members) {
      HUB_FUZZ_CHECK(validate(m.raw, nullptr, max_depth_limit));
      if (m.kind == value_kind::string) (void)unescape_string(m.raw);
      if (m.kind == value_kind::number) (void)as_integer(m.raw);
    }
  }
  std::string escaped;
  append_escaped(escaped, in);
  HUB_FUZZ_CHECK(validate(escaped) && unescape_string(escaped).has_value());
  return 0;
}
