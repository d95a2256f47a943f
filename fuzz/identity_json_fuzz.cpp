// Registry PUT bodies (api/identity_json.hpp), for device `d` and module `d/m`: what is accepted
// keeps the path's key, holds SAS keys of 16..64 bytes (none for other types), and renders back
// as valid JSON.
#include "api/identity_json.hpp"
#include "codec/json/json_scan.hpp"
#include "codec/sas/crypto.hpp"
#include "fuzz_check.hpp"

using namespace hub::api;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = hub::fuzz::as_view(data, size);
  const key_generator generate = [] {
    return std::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  };
  for (const hub::identity_key& key : {hub::identity_key{"d", ""}, hub::identity_key{"d", "m"}}) {
    auto r = parse_identity_body(body, key, generate);
    if (auto* rec = std::get_if<hub::store::identity_record>(&r)) {
      HUB_FUZZ_CHECK(rec->key == key);
      for (const std::string* k : {&rec->primary_key, &rec->secondary_key}) {
        const auto raw = hub::codec::sas::base64_decode(*k);
        HUB_FUZZ_CHECK(rec->auth_type == "sas" ? raw && raw->size() >= 16 && raw->size() <= 64
                                               : k->empty());
      }
      const std::string out =
          key.is_module() ? module_json(*rec, false, "") : device_json(*rec, true, "");
      HUB_FUZZ_CHECK(hub::codec::json::validate(out));
    }
  }
  return 0;
}
