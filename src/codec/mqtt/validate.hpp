#pragma once
// MQTT 3.1.1 rules on strings and topics, shared by the decoder and by callers that build
// packets from untrusted input (e.g. a method name from the REST API).
//
// Thread safety: pure functions.

#include <string_view>

namespace hub::codec::mqtt {

/// True if `s` is well-formed UTF-8 as MQTT requires (§1.5.3): shortest-form encodings of
/// U+0001..U+10FFFF, no surrogates (U+D800..U+DFFF), no U+0000. Other control characters and
/// non-characters are allowed (the standard says only SHOULD NOT).
bool valid_utf8(std::string_view s) noexcept;

/// True if `topic` may be a PUBLISH Topic Name (§4.7): non-empty, no '+' or '#'.
/// Does not check UTF-8.
bool valid_topic_name(std::string_view topic) noexcept;

/// True if `filter` may be a SUBSCRIBE/UNSUBSCRIBE Topic Filter (§4.7.1): non-empty, '+' only as
/// a whole level, '#' only as a whole last level. Does not check UTF-8.
bool valid_topic_filter(std::string_view filter) noexcept;

}  // namespace hub::codec::mqtt
