#pragma once
// A validating JSON scanner (RFC 8259) that never builds a DOM and never re-serializes.
//
// The hub relays device and caller payloads byte for byte, so what it needs from JSON is:
//   * "is this text one well-formed JSON value?" (validate), and
//   * for a top-level object, each member's key plus the exact bytes of its value
//     (object_members), so a field such as "payload" can be passed on untouched.
//
// Grammar and decisions (documented here because they are observable on the wire):
//   * One value with optional surrounding whitespace (SP, HT, LF, CR). Empty input is invalid.
//   * Strings: only the RFC escapes (\" \\ \/ \b \f \n \r \t \uXXXX); no raw bytes < 0x20;
//     raw bytes must be well-formed UTF-8 (no overlongs, no encoded surrogates, <= U+10FFFF).
//   * Lone surrogate escapes (e.g. "\ud800") are ACCEPTED by validate/object_members: the RFC
//     grammar allows them (RFC 8259 §8.2) and the .NET/Node/Python JSON stacks the SDKs use
//     accept them, so rejecting would break byte-for-byte relay. unescape_string rejects them
//     because they cannot be represented in UTF-8; object_members maps them to U+FFFD in keys.
//   * Numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; no range check at scan time.
//   * Nesting: every array/object opens one level; a text nested deeper than max_depth fails
//     with scan_errc::too_deep. max_depth is clamped to max_depth_limit.
//
// Cost: one pass, no recursion, no allocation except object_members' result (one element per
// member plus each key's bytes, both bounded by the input size).
//
// Thread safety: all functions are pure; concurrent calls are safe.
// None of these functions throws on wire input (std::bad_alloc aside).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hub::codec::json {

/// Deepest nesting any caller may ask for; larger max_depth values are clamped to this.
inline constexpr unsigned max_depth_limit = 1024;
/// Nesting allowed when the caller does not say.
inline constexpr unsigned default_max_depth = 64;

enum class value_kind : std::uint8_t { object, array, string, number, true_, false_, null };

enum class scan_errc : std::uint8_t {
  unexpected_end,   // input ended inside a value (or was empty / whitespace only)
  unexpected_char,  // a byte that no grammar rule allows here
  bad_escape,       // backslash not followed by a valid escape
  bad_utf8,         // ill-formed UTF-8 byte sequence inside a string
  control_char,     // raw byte < 0x20 inside a string
  bad_number,       // number that breaks the grammar (leading zero, "1.", "-", "1e")
  too_deep,         // nesting deeper than max_depth
  trailing_data,    // non-whitespace after the one top-level value
  not_an_object,    // object_members only: valid JSON whose top-level value is not an object
};

struct scan_error {
  std::size_t offset = 0;  // byte offset of the offending byte (== size() for premature end)
  scan_errc code = scan_errc::unexpected_end;
  std::string_view what;  // static English text, e.g. "invalid escape sequence"
};

/// One member of a top-level object, in document order (duplicates are kept, not merged).
struct member {
  std::string key;       // unescaped key (lone surrogate escapes become U+FFFD)
  std::string_view raw;  // exact bytes of the value inside the input, no surrounding whitespace
  value_kind kind;
};

/// True if `text` is exactly one valid JSON value (plus optional whitespace).
/// On failure, fills *err (when non-null) with the first error found.
bool validate(std::string_view text, scan_error* err = nullptr,
              unsigned max_depth = default_max_depth) noexcept;

/// Members of the top-level object in `text`, with the same validation as validate() (the
/// object itself counts as one nesting level). Returns nullopt and fills *err when the text is
/// not valid JSON, or is valid but not an object (code not_an_object, offset of the value).
/// The string_views in the result point into `text`: keep `text` alive while using them.
std::optional<std::vector<member>> object_members(std::string_view text, scan_error* err = nullptr,
                                                  unsigned max_depth = default_max_depth);

/// Decodes one JSON string token, quotes included (e.g. the `raw` of a string member).
/// Returns nullopt if the token is not exactly one valid string, or if it contains a lone
/// surrogate escape (not representable in UTF-8). The result is valid UTF-8.
std::optional<std::string> unescape_string(std::string_view raw_string_token);

/// The value of a JSON number token that is written as an integer: -?(0|[1-9][0-9]*), fitting
/// in int64. Anything else is nullopt, on purpose including integral-valued `30.0` and `3e1`:
/// the IoT Hub backend (Newtonsoft ReadAsInt32) rejects those too, and rejecting them keeps
/// "integer" a property of the bytes rather than of float rounding. `-0` is 0. No whitespace.
std::optional<std::int64_t> as_integer(std::string_view raw_number) noexcept;

/// Appends `text` to `out` as a JSON string literal, quotes included. Escapes `"`, `\` and
/// bytes < 0x20 (short forms where they exist, else \u00XX). Ill-formed UTF-8 in `text` is
/// written as \ufffd per maximal ill-formed subsequence, so the output is always valid JSON.
void append_escaped(std::string& out, std::string_view text);

}  // namespace hub::codec::json
