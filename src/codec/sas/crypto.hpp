#pragma once
// Small cryptographic and encoding primitives for SAS tokens and keys (spec/protocol.md §2):
// base64, HMAC-SHA256, constant-time comparison, randomness, and the percent-encoding the SDKs
// use for `sr`/`sig`. All functions are pure (no I/O) and safe to call from any thread.
//
// Wire-input functions (`base64_decode`, `url_decode`) never throw except std::bad_alloc, and
// their output is bounded by their input size.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hub::codec::sas {

/// Standard base64 (RFC 4648 §4 alphabet `A-Z a-z 0-9 + /`) with `=` padding.
std::string base64_encode(std::string_view bytes);

/// Strict inverse of base64_encode: length must be a multiple of 4, only the standard alphabet,
/// `=` only as the final one or two characters. Whitespace, URL-safe characters and missing
/// padding are rejected (nullopt). The unused low bits of the last symbol are ignored (as .NET's
/// Convert.FromBase64String does), so keys produced by lenient encoders still decode.
/// Output is at most 3/4 of the input size.
std::optional<std::string> base64_decode(std::string_view text);

/// HMAC-SHA256 of `data` under raw `key` bytes (an empty key is allowed).
std::array<unsigned char, 32> hmac_sha256(std::string_view key, std::string_view data);

/// True iff `a` and `b` hold the same bytes. Different lengths return false at once (lengths are
/// not secret here); equal lengths are compared without a data-dependent early exit.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

/// `n` bytes from the OpenSSL CSPRNG. Throws std::runtime_error only if the RNG fails.
std::string random_bytes(std::size_t n);

/// base64 of 32 random bytes: the hub's generated key format (spec/protocol.md §6).
std::string random_key_base64();

/// Percent-encodes every byte except the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~`, with
/// uppercase hex. Equal to JavaScript's encodeURIComponent with `!'()*` also escaped (what the
/// Node SDK does for `sr`), and to Python's `quote(s, safe="")`.
std::string url_encode(std::string_view text);

/// Decodes `%XX` escapes (either hex case) exactly once; every other byte, including `+`, is
/// copied unchanged. nullopt if a `%` is not followed by two hex digits.
std::optional<std::string> url_decode(std::string_view text);

}  // namespace hub::codec::sas
