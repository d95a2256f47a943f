#pragma once
// An api::http_response as HTTP/1.1 bytes: status line, headers, body, in one buffer, so the
// answer leaves in one send with no per-response header objects (issue 6: Beast's serializer
// cost ~5 allocations and a buffer-sequence walk per answer).

#include <string>

#include "api/http_types.hpp"

namespace hub::transport {

/// The response as sent: `HTTP/1.<version%10> <status> <reason>`, `Server: methodhub`, the
/// content type (when set), `res.headers` in order, `Content-Length` (not for 1xx, 204 and 304,
/// which carry no body), and `Connection: close` (or, for HTTP/1.0, `Connection: keep-alive`) as
/// `keep_alive` asks. A header whose name or value holds CR or LF is left out rather than
/// allowed to split the response.
std::string serialize_response(const api::http_response& res, unsigned version, bool keep_alive);
/// The same into `out`, replacing what it held: a session that keeps one buffer for its answers
/// reuses its capacity instead of allocating per answer.
void serialize_response(const api::http_response& res, unsigned version, bool keep_alive,
                        std::string& out);

}  // namespace hub::transport
