#include "codec/sas/sas_token.hpp"

#include <charconv>

#include "codec/sas/crypto.hpp"

namespace hub::codec::sas {
namespace {

bool ascii_iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Drops `:digits` from a host. A bracketed IPv6 literal keeps its inner colons; a bare IPv6
// literal (several colons, no brackets) is left alone because its last group is not a port.
std::string_view strip_port(std::string_view host) noexcept {
  const auto colon = host.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == host.size()) return host;
  if (host.front() != '[' && host.find(':') != colon) return host;
  if (host.front() == '[' && host[colon - 1] != ']') return host;
  for (char c : host.substr(colon + 1))
    if (c < '0' || c > '9') return host;
  return host.substr(0, colon);
}

std::string_view normalize_resource(std::string_view r) noexcept {
  for (std::string_view scheme : {std::string_view{"amqps://"}, std::string_view{"https://"}}) {
    if (r.size() >= scheme.size() && ascii_iequal(r.substr(0, scheme.size()), scheme)) {
      r.remove_prefix(scheme.size());
      break;
    }
  }
  if (!r.empty() && r.back() == '/') r.remove_suffix(1);
  return r;
}

// Splits off the first `/`-separated segment of `rest`.
std::string_view next_segment(std::string_view& rest) noexcept {
  const auto slash = rest.find('/');
  const auto seg = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  return seg;
}

}  // namespace

std::string_view to_string(token_error e) noexcept {
  switch (e) {
    case token_error::none:
      return "ok";
    case token_error::too_long:
      return "token too long";
    case token_error::missing_prefix:
      return "missing SharedAccessSignature prefix";
    case token_error::malformed_field:
      return "malformed field";
    case token_error::duplicate_field:
      return "duplicate field";
    case token_error::missing_field:
      return "missing sr, sig or se";
    case token_error::bad_expiry:
      return "se is not a non-negative integer";
  }
  return "unknown";
}

std::optional<sas_token> parse_token(std::string_view text, token_error* error) {
  auto fail = [error](token_error e) -> std::optional<sas_token> {
    if (error) *error = e;
    return std::nullopt;
  };
  if (text.size() > max_token_size) return fail(token_error::too_long);
  if (!text.starts_with(token_prefix)) return fail(token_error::missing_prefix);
  text.remove_prefix(token_prefix.size());

  std::optional<std::string_view> sr, sig, se, skn;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto field = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
    if (field.empty()) continue;
    const auto eq = field.find('=');
    if (eq == std::string_view::npos) return fail(token_error::malformed_field);
    const auto key = field.substr(0, eq);
    const auto value = field.substr(eq + 1);
    std::optional<std::string_view>* slot = key == "sr"    ? &sr
                                            : key == "sig" ? &sig
                                            : key == "se"  ? &se
                                            : key == "skn" ? &skn
                                                           : nullptr;
    if (slot == nullptr) continue;  // unknown keys are ignored (EH does the same)
    if (slot->has_value()) return fail(token_error::duplicate_field);
    *slot = value;
  }
  if (!sr || sr->empty() || !sig || sig->empty() || !se || se->empty())
    return fail(token_error::missing_field);

  sas_token token;
  // from_chars alone would accept nothing else, but it stops at the first non-digit, so
  // require it to consume everything; a leading `-` or `+` is not a digit and fails here.
  if ((*se)[0] < '0' || (*se)[0] > '9') return fail(token_error::bad_expiry);
  const auto [end, ec] = std::from_chars(se->data(), se->data() + se->size(), token.se);
  if (ec != std::errc{} || end != se->data() + se->size()) return fail(token_error::bad_expiry);

  auto decoded_sig = url_decode(*sig);
  if (!decoded_sig || decoded_sig->empty()) return fail(token_error::malformed_field);
  std::optional<std::string> decoded_skn = std::string{};
  if (skn) decoded_skn = url_decode(*skn);
  if (!decoded_skn) return fail(token_error::malformed_field);

  token.sr = std::string(*sr);
  token.sig = std::move(*decoded_sig);
  token.se_text = std::string(*se);
  token.skn = std::move(*decoded_skn);
  if (error) *error = token_error::none;
  return token;
}

std::string compute_signature(std::string_view key_b64, std::string_view sr, std::string_view se) {
  const auto key = base64_decode(key_b64);
  if (!key) return {};
  std::string to_sign;
  to_sign.reserve(sr.size() + 1 + se.size());
  to_sign.append(sr).append(1, '\n').append(se);
  const auto mac = hmac_sha256(*key, to_sign);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

bool signature_matches(const sas_token& token, std::string_view key_b64) {
  if (key_b64.empty()) return false;
  const auto expected = compute_signature(key_b64, token.sr, token.se_text);
  if (expected.empty()) return false;
  return constant_time_equal(expected, token.sig);
}

std::string make_token(std::string_view resource_uri, std::string_view key_b64,
                       std::int64_t expiry_unix, std::string_view key_name) {
  const auto sr = url_encode(resource_uri);
  const auto se = std::to_string(expiry_unix);
  std::string out{token_prefix};
  out.append("sr=").append(sr);
  out.append("&sig=").append(url_encode(compute_signature(key_b64, sr, se)));
  out.append("&se=").append(se);
  if (!key_name.empty()) out.append("&skn=").append(url_encode(key_name));
  return out;
}

bool host_equal(std::string_view a, std::string_view b) noexcept {
  return ascii_iequal(strip_port(a), strip_port(b));
}

bool resource_covers(std::string_view token_sr_decoded, std::string_view target_resource) noexcept {
  auto token = normalize_resource(token_sr_decoded);
  auto target = normalize_resource(target_resource);
  if (token.empty() || target.empty()) return false;
  if (!host_equal(next_segment(token), next_segment(target))) return false;
  // An empty remainder means the token names the whole host, which covers every resource on it.
  while (!token.empty()) {
    if (target.empty()) return false;
    if (next_segment(token) != next_segment(target)) return false;
  }
  return true;
}

}  // namespace hub::codec::sas
