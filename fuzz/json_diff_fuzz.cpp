// Differential: the hub's JSON scanner (codec/json/json_scan.hpp) against Boost.JSON on what is
// one valid JSON text, at the same nesting limit. Skipped where they differ by design: escapes
// (the scanner accepts lone surrogates, json_scan.hpp) and exponents beyond double's range
// (the scanner checks no range).
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include "codec/json/json_scan.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = hub::fuzz::as_view(data, size);
  if (in.find("\\u") != std::string_view::npos) return 0;
  boost::json::parse_options opt;
  opt.max_depth = hub::codec::json::default_max_depth;
  boost::json::error_code ec;
  boost::json::monotonic_resource mr;
  (void)boost::json::parse(in, ec, &mr, opt);
  if (ec == boost::json::error::exponent_overflow) return 0;
  HUB_FUZZ_CHECK(hub::codec::json::validate(in) == !ec);
  return 0;
}
