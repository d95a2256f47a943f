#include "codec/mqtt/iothub_topics.hpp"

#include <charconv>
#include <system_error>

namespace hub::codec::mqtt {
namespace {

constexpr std::string_view methods_post_prefix = "$iothub/methods/POST/";
constexpr std::string_view methods_res_prefix = "$iothub/methods/res/";
constexpr std::string_view rid_key = "$rid";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding only: '+' stays '+', because Python's quote() (not quote_plus())
// is what encodes these. The result is never longer than the input.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (s.size() - i < 3) return std::nullopt;
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Splits `rest` (what follows a fixed topic prefix) at the first '?': the part before it, minus
// one trailing '/', and the query after it. Node tolerates `.../echo?$rid=1`, so we do too.
bool split_query(std::string_view rest, std::string_view& path, std::string_view& query) {
  const std::size_t q = rest.find('?');
  if (q == std::string_view::npos) return false;
  path = rest.substr(0, q);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  query = rest.substr(q + 1);
  return true;
}

// The raw value of the first `key=value` pair in an '&'-separated query whose key equals `key`
// (after percent-decoding the key when `decode_key`).
std::optional<std::string_view> query_value(std::string_view query, std::string_view key,
                                            bool decode_key) {
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos) {
      const std::string_view k = pair.substr(0, eq);
      bool match = k == key;
      if (!match && decode_key && k.find('%') != std::string_view::npos) {
        const std::optional<std::string> dk = percent_decode(k);
        match = dk && *dk == key;
      }
      if (match) return pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) return std::nullopt;
    query.remove_prefix(amp + 1);
  }
}

// Shared by the twin parsers: `{prefix}/?$rid={rid}[&...]` (or `{prefix}?...`) → raw rid.
std::optional<std::string> parse_rid_topic(std::string_view topic, std::string_view prefix) {
  if (!topic.starts_with(prefix)) return std::nullopt;
  std::string_view path;
  std::string_view query;
  if (!split_query(topic.substr(prefix.size()), path, query) || !path.empty()) return std::nullopt;
  const std::optional<std::string_view> rid = query_value(query, rid_key, false);
  if (!rid || rid->empty()) return std::nullopt;
  return std::string(*rid);
}

// Consumes `part` from the front of `s` if present.
bool eat(std::string_view& s, std::string_view part) noexcept {
  if (!s.starts_with(part)) return false;
  s.remove_prefix(part.size());
  return true;
}

// Consumes `devices/{d}/` and, for a module, `modules/{m}/`.
bool eat_identity(std::string_view& s, std::string_view device_id, std::string_view module_id) {
  if (device_id.empty() || !eat(s, "devices/") || !eat(s, device_id) || !eat(s, "/")) return false;
  if (module_id.empty()) return true;
  return eat(s, "modules/") && eat(s, module_id) && eat(s, "/");
}

}  // namespace

std::string method_request_topic(std::string_view method_name, std::string_view rid) {
  constexpr std::string_view rid_part = "/?$rid=";
  std::string topic;
  topic.reserve(methods_post_prefix.size() + method_name.size() + rid_part.size() + rid.size());
  topic.append(methods_post_prefix).append(method_name).append(rid_part).append(rid);
  return topic;
}

std::optional<method_response> parse_method_response_topic(std::string_view topic) {
  if (!topic.starts_with(methods_res_prefix)) return std::nullopt;
  std::string_view raw_status;
  std::string_view query;
  if (!split_query(topic.substr(methods_res_prefix.size()), raw_status, query)) {
    return std::nullopt;
  }
  const std::optional<std::string> status = percent_decode(raw_status);
  if (!status || status->empty()) return std::nullopt;
  method_response res;
  const char* const end = status->data() + status->size();
  const auto [ptr, ec] = std::from_chars(status->data(), end, res.status);
  if (ec != std::errc{} || ptr != end) return std::nullopt;

  const std::optional<std::string_view> raw_rid = query_value(query, rid_key, true);
  if (!raw_rid) return std::nullopt;
  std::optional<std::string> rid = percent_decode(*raw_rid);
  if (!rid || rid->empty()) return std::nullopt;
  res.rid = std::move(*rid);
  return res;
}

std::optional<std::string> parse_twin_get_topic(std::string_view topic) {
  return parse_rid_topic(topic, "$iothub/twin/GET");
}

std::optional<std::string> parse_twin_patch_reported_topic(std::string_view topic) {
  return parse_rid_topic(topic, "$iothub/twin/PATCH/properties/reported");
}

bool is_telemetry_topic(std::string_view topic, std::string_view device_id,
                        std::string_view module_id) {
  if (!eat_identity(topic, device_id, module_id) || !eat(topic, "messages/events")) return false;
  return topic.empty() || topic.front() == '/';
}

filter_kind classify_filter(std::string_view filter, std::string_view device_id,
                            std::string_view module_id) {
  if (filter == "$iothub/methods/POST/#") return filter_kind::methods;
  if (filter == "$iothub/twin/res/#") return filter_kind::twin_response;
  if (filter == "$iothub/twin/PATCH/properties/desired/#") return filter_kind::twin_desired;
  std::string_view rest = filter;
  if (!eat_identity(rest, device_id, module_id)) return filter_kind::unknown;
  if (module_id.empty()) {
    // IoT Hub has no cloud-to-device messages for modules, so only a device's filter counts.
    return rest == "messages/devicebound/#" ? filter_kind::c2d : filter_kind::unknown;
  }
  return rest == "#" || rest == "inputs/#" ? filter_kind::module_inputs : filter_kind::unknown;
}

}  // namespace hub::codec::mqtt
