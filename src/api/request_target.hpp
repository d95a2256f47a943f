#pragma once
// The request target of a REST call (RFC 9112 §3.2.1 origin-form: absolute-path ["?" query]),
// split into what routing needs: the path segments, each percent-decoded exactly once (`+` stays
// `+`, spec/protocol.md §1.1), and the api-version query parameter. Written for the hot path:
// linear (a validating pass, then a splitting one), no allocation beyond the decoded strings
// (issue 6: Boost.URL's parse, segment and parameter views cost ~5 800 instructions per call).
// fuzz/route_fuzz checks it against Boost.URL's parse_origin_form.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hub::api {

struct request_target {
  static constexpr std::size_t max_segments = 9;  // more than any route has, with a trailing "/"
  std::array<std::string, max_segments> segments;
  std::size_t count = 0;    // segments in use; the path "/" has none
  bool too_many = false;    // the path has more than max_segments segments (not kept)
  std::string api_version;  // the first `api-version` parameter's decoded value ("" if none)
};

/// nullopt unless `target` is an origin-form target: it starts with `/`; the path holds only
/// RFC 3986 pchar (unreserved, sub-delims, `:`, `@`, valid %-escapes) and `/`; the optional query
/// after the first `?` only pchar, `/` and `?`. Query keys and values decode `+` as a space.
std::optional<request_target> parse_request_target(std::string_view target);

}  // namespace hub::api
