#pragma once
// SAS tokens (spec/protocol.md §2.1–2.3): parsing, signing and scope checks.
//
// Grammar: the literal prefix `SharedAccessSignature ` followed by an unordered `&`-separated
// list of `k=v` fields. Known keys are `sr`, `sig`, `se`, `skn` (case-sensitive, as every SDK
// writes them); unknown keys are ignored, empty fields (`a&&b`, a trailing `&`) are skipped.
// A value runs from the first `=` to the next `&`, so it may itself contain `=`.
//
// The signature is HMAC-SHA256(base64-decoded key, sr_as_sent + "\n" + se_as_sent), base64.
// `sr` is never re-encoded or lowercased before signing: C sends it raw, Node/Python/Java
// percent-encoded once, C# with the ids encoded twice, and each signs what it sends (§2.2).
//
// Pure functions, no I/O, safe from any thread. Parsing never throws on wire input (only
// std::bad_alloc), and inputs longer than `max_token_size` are rejected before any allocation.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hub::codec::sas {

inline constexpr std::string_view token_prefix = "SharedAccessSignature ";
inline constexpr std::size_t max_token_size = 4096;

struct sas_token {
  std::string sr;       // exactly as sent (still percent-encoded if the SDK encoded it)
  std::string sig;      // percent-decoded once: the base64 signature
  std::string se_text;  // exactly as sent: the bytes that were signed
  std::int64_t se = 0;  // se_text as seconds since 1970-01-01 UTC
  std::string skn;      // policy name, percent-decoded; empty = absent (an empty `skn=` too)
};

enum class token_error : std::uint8_t {
  none = 0,
  too_long,         // more than max_token_size bytes
  missing_prefix,   // does not start with `SharedAccessSignature `
  malformed_field,  // a field without `=`, or a bad percent escape in `sig`/`skn`
  duplicate_field,  // `sr`, `sig`, `se` or `skn` given twice
  missing_field,    // `sr`, `sig` or `se` absent or empty
  bad_expiry,       // `se` is not a non-negative decimal integer that fits int64
};

/// A short lowercase description of `e`, for logs.
std::string_view to_string(token_error e) noexcept;

/// Parses a whole token (`SharedAccessSignature sr=...`). On failure returns nullopt and, if
/// `error` is not null, stores the reason there (token_error::none on success).
std::optional<sas_token> parse_token(std::string_view text, token_error* error = nullptr);

/// base64(HMAC-SHA256(base64_decode(key_b64), sr + "\n" + se)); `sr` and `se` are used as given.
/// Returns an empty string if `key_b64` is not valid base64.
std::string compute_signature(std::string_view key_b64, std::string_view sr, std::string_view se);

/// True iff `token.sig` is the signature of `token.sr`/`token.se_text` under `key_b64`, compared
/// in constant time. False when `key_b64` is empty or not valid base64. Expiry is not checked.
bool signature_matches(const sas_token& token, std::string_view key_b64);

/// Builds a token the way the Node SDK does: `sr` = url_encode(resource_uri), signed as encoded,
/// `SharedAccessSignature sr=<enc>&sig=<url_encode(sig)>&se=<expiry>[&skn=<url_encode(name)>]`.
/// `resource_uri` is unencoded (e.g. `hub.example.lan/devices/dev1`); `skn` is omitted when
/// `key_name` is empty. An invalid `key_b64` yields a token with an empty signature.
std::string make_token(std::string_view resource_uri, std::string_view key_b64,
                       std::int64_t expiry_unix, std::string_view key_name = {});

/// Segment-wise prefix test on `/`-separated resources that are already percent-decoded:
/// `h/devices/a` covers `h/devices/a` and `h/devices/a/modules/m`, not `h/devices/ab`.
/// The first segment (the host) compares case-insensitively and ignores a `:port` suffix on
/// either side; later segments compare exactly. An `amqps://` or `https://` prefix (any case)
/// and a trailing `/` are ignored on both arguments. An empty `token_sr_decoded` covers nothing.
bool resource_covers(std::string_view token_sr_decoded, std::string_view target_resource) noexcept;

/// True iff hosts `a` and `b` are equal ignoring ASCII case and a `:port` suffix on either.
bool host_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace hub::codec::sas
