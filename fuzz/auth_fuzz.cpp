// SAS checks for service calls and device connects (core/auth.hpp) with fixed policies and keys.
// First byte: low bit 0 = the rest is a token as sent; 1 = the rest is `sr\nskn`, signed here with
// the matching key so the scope checks run. Bits 1-4: the rights the service call needs.
#include <algorithm>
#include <cctype>

#include "codec/sas/crypto.hpp"
#include "codec/sas/sas_token.hpp"
#include "core/auth.hpp"
#include "fuzz_check.hpp"

namespace {
constexpr std::int64_t now = 1'800'000'000;
const std::string k1 = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=",
                  k2 = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";
const hub::identity_keys dev_keys{k1, k2}, mod_keys{k2, ""};

const hub::policy_set& policies() {
  static const hub::policy_set p = [] {
    hub::policy_set s("hub.example.lan");
    s.add({"iothubowner", k1, k2, hub::all_rights});
    s.add({"service", k2, k1, hub::service_connect});
    s.add({"device", k1, "", hub::device_connect});
    s.add({"registryRead", k2, "", hub::registry_read});
    return s;
  }();
  return p;
}

std::string signed_token(std::string_view in) {
  auto [sr, skn] = hub::fuzz::split(in, '\n');
  const auto* p = policies().find(skn);
  const std::string se = std::to_string(now + 60);
  std::string sig = hub::codec::sas::compute_signature(p ? p->primary_key : k1, sr, se);
  std::string t = "SharedAccessSignature sr=" + std::string(sr) +
                  "&sig=" + hub::codec::sas::url_encode(sig) + "&se=" + se;
  return skn.empty() ? t : t + "&skn=" + std::string(skn);
}

// Independent of the hub's matcher: does one spelling of `sr` name an accepted host followed by
// an allowed prefix of dev1's (or dev1/mod1's) resource? The ids need no encoding.
bool sr_in_scope(std::string sr, bool module) {
  for (std::string_view scheme : {"amqps://", "https://"})
    if (sr.size() >= scheme.size() &&
        std::equal(scheme.begin(), scheme.end(), sr.begin(),
                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
      sr.erase(0, scheme.size());
  while (!sr.empty() && sr.back() == '/') sr.pop_back();
  auto [host, path] = hub::fuzz::split(sr, '/');
  if (!policies().accepts_host(host)) return false;
  const std::string_view allowed[] = {"", "devices", "devices/dev1", "devices/dev1/modules",
                                      "devices/dev1/modules/mod1"};
  const std::size_t n = module ? 5 : 3;  // a device token may not name a module
  return std::find(allowed, allowed + n, path) != allowed + n;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto rest = hub::fuzz::as_view(data + 1, size - 1);
  const std::string token = (data[0] & 1) ? signed_token(rest) : std::string(rest);
  const unsigned need = (data[0] >> 1) & hub::all_rights;
  if (hub::authorize_service(token, need, policies(), now) == hub::errc::ok) {
    const auto t = hub::codec::sas::parse_token(token);
    const auto* p = t ? policies().find(t->skn) : nullptr;
    HUB_FUZZ_CHECK(p != nullptr && (p->rights & need) == need);
  }
  for (const hub::identity_key& who :
       {hub::identity_key{"dev1", ""}, hub::identity_key{"dev1", "mod1"}}) {
    if (hub::authorize_device(token, who, who.is_module() ? &mod_keys : &dev_keys, policies(),
                              now) == hub::errc::ok) {
      const auto t = hub::codec::sas::parse_token(token);
      HUB_FUZZ_CHECK(
          t && (sr_in_scope(t->sr, who.is_module()) ||
                sr_in_scope(hub::codec::sas::url_decode(t->sr).value_or(""), who.is_module())));
    }
  }
  return 0;
}
