// SAS tokens (codec/sas/sas_token.hpp): parsing, then the scope check on what was parsed.
#include "codec/sas/crypto.hpp"
#include "codec/sas/sas_token.hpp"
#include "fuzz_check.hpp"

using namespace hub::codec::sas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  token_error e = token_error::none;
  auto t = parse_token(hub::fuzz::as_view(data, size), &e);
  HUB_FUZZ_CHECK(t.has_value() == (e == token_error::none));
  (void)to_string(e);
  if (!t) return 0;
  HUB_FUZZ_CHECK(!t->sr.empty() && !t->sig.empty() && !t->se_text.empty() && t->se >= 0);
  (void)signature_matches(*t, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  const auto sr = url_decode(t->sr).value_or(t->sr);
  (void)resource_covers(sr, "hub.example.lan/devices/dev1/modules/mod1");
  (void)host_equal(sr, "hub.example.lan:443");
  return 0;
}
