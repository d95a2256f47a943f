// REST route matching (api/handlers.hpp) and its request-target parser (api/request_target.hpp),
// which must agree with Boost.URL's parse_origin_form: same targets accepted, same decoded path
// segments, same api-version. Input: `method\ntarget`.
#include <boost/url/parse.hpp>

#include "api/handlers.hpp"
#include "api/request_target.hpp"
#include "fuzz_check.hpp"

using namespace hub::api;

namespace {

void check_against_boost_url(std::string_view target) {
  const auto ours = parse_request_target(target);
  const auto ref = boost::urls::parse_origin_form(target);
  HUB_FUZZ_CHECK(ours.has_value() == ref.has_value());
  if (!ours) return;
  std::size_t i = 0;
  for (auto s : ref->encoded_segments()) {
    if (i == request_target::max_segments) {
      HUB_FUZZ_CHECK(ours->too_many);
      break;
    }
    HUB_FUZZ_CHECK(i < ours->count && ours->segments[i] == s.decode());
    ++i;
  }
  if (!ours->too_many) HUB_FUZZ_CHECK(i == ours->count);
  std::string api_version;
  if (auto it = ref->params().find("api-version"); it != ref->params().end() && (*it).has_value)
    api_version = std::string((*it).value);
  HUB_FUZZ_CHECK(ours->api_version == api_version);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [method, target] = hub::fuzz::split(hub::fuzz::as_view(data, size), '\n');
  check_against_boost_url(target);
  std::string api_version;
  bool bad_target = false;
  if (auto r = match_route(method, target, api_version, bad_target)) {
    HUB_FUZZ_CHECK(!bad_target &&
                   target.size() >= r->key.device_id.size() + r->key.module_id.size());
    (void)allowed(r->kind, method);
    (void)allowed_methods(r->kind);
  }
  return 0;
}
