// REST route matching (api/handlers.hpp). Input: `method\ntarget`.
#include "api/handlers.hpp"
#include "fuzz_check.hpp"

using namespace hub::api;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [method, target] = hub::fuzz::split(hub::fuzz::as_view(data, size), '\n');
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
