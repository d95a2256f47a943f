#pragma once
// The body of "Invoke device/module method" (POST /twins/{id}[/modules/{mid}]/methods),
// spec/protocol.md §1.4. Parsing validates and extracts; the payload is never re-serialized.
//
// Rules, in the order they are checked (first failure wins):
//  1. Body is one valid JSON text (json_scan rules)         else iot_hub_format_error (400006),
//     message "request body is not valid JSON: <what> at offset <n>".
//  2. Top-level value is an object                          else argument_invalid.
//  3. None of the keys this parser interprets (methodName, responseTimeoutInSeconds,
//     connectTimeoutInSeconds, timeoutInSeconds, payload) appears twice, else argument_invalid
//     "duplicate key '<key>'". Rejecting beats "last one wins": a proxy or log that read the
//     first copy would otherwise disagree with us. Other keys are ignored, duplicates included.
//  4. methodName: present, a JSON string; unescaped it is 1..100 bytes, not whitespace-only,
//     printable US-ASCII (0x21..0x7E), and free of the DOC-DM separators
//     $ ( ) < > @ , ; : \ " / [ ] ? = { } SP HT and of # % (device SDKs cut the MQTT topic
//     on / ? # and Python percent-decodes it, §3.7)     else argument_invalid naming the rule.
//  5. responseTimeoutInSeconds: absent or null -> 30; else a JSON integer in 5..300, else
//     argument_invalid "responseTimeoutInSeconds must be within [5; 300]." (also for 0, 5.5,
//     30.0, "30"). Legacy timeoutInSeconds (pre-2017 Node SDK) is used, under the same rule and
//     message, only when responseTimeoutInSeconds is absent or null.
//  6. connectTimeoutInSeconds: absent or null -> 0; else a JSON integer in 0..300, else
//     argument_invalid "connectTimeoutInSeconds must be within [0; 300].".
//  7. payload: any JSON value, its exact bytes; absent -> "null" (the bytes sent to the device,
//     §3.7). More than max_payload_bytes bytes of raw JSON -> message_too_large (413001),
//     "payload size <n> exceeds 131072 bytes".
// Integers follow json::as_integer: only -?(0|[1-9][0-9]*) counts, so 30.0 and 3e1 are rejected
// as IoT Hub's Newtonsoft-based backend does.
//
// Thread safety: pure function. Never throws on wire input.

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "core/errc.hpp"

namespace hub::api {

inline constexpr std::size_t max_payload_bytes = 131072;  // 128 KB of raw payload JSON
inline constexpr std::size_t max_method_name_length = 100;
inline constexpr int default_response_timeout_s = 30;
inline constexpr int min_response_timeout_s = 5;
inline constexpr int max_response_timeout_s = 300;
inline constexpr int max_connect_timeout_s = 300;

struct invoke_body {
  std::string method_name;  // unescaped; validated per rule 4
  /// Raw JSON bytes of "payload", pointing into the parsed body (keep it alive), or the static
  /// literal "null" when the key is absent.
  std::string_view payload;
  int response_timeout_s = default_response_timeout_s;
  int connect_timeout_s = 0;
};

struct invoke_body_error {
  hub::errc code;
  std::string message;  // goes into the error envelope's "message" verbatim
};

/// Parses and validates an invoke body; see the rules above.
std::variant<invoke_body, invoke_body_error> parse_invoke_body(std::string_view body);

/// Rule 4 alone: empty when `name` is an acceptable method name, else the reason.
/// Shared so other entry points (jobs, tests) apply the same rule.
std::string check_method_name(std::string_view name);

}  // namespace hub::api
