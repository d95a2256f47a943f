#include "api/invoke_body.hpp"

#include <algorithm>
#include <optional>

#include "codec/json/json_scan.hpp"

namespace hub::api {
namespace {

namespace json = hub::codec::json;

constexpr std::string_view response_timeout_message =
    "responseTimeoutInSeconds must be within [5; 300].";
constexpr std::string_view connect_timeout_message =
    "connectTimeoutInSeconds must be within [0; 300].";

invoke_body_error argument_invalid(std::string message) {
  return {hub::errc::argument_invalid, std::move(message)};
}

// DOC-DM's separators plus what device SDKs cannot carry in an MQTT topic level (§3.7).
constexpr std::string_view forbidden_name_chars = "$()<>@,;:\\\"/[]?={}#%";

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// A timeout field: nullopt when absent or null (caller applies the default), else the value,
// or -1 when it is not an integer within [lo; hi] (callers report their fixed message).
std::optional<long long> timeout_value(const json::member* m, int lo, int hi) {
  if (m == nullptr || m->kind == json::value_kind::null) return std::nullopt;
  if (m->kind != json::value_kind::number) return -1;
  const auto v = json::as_integer(m->raw);
  if (!v || *v < lo || *v > hi) return -1;
  return *v;
}

}  // namespace

std::string check_method_name(std::string_view name) {
  if (name.empty()) return "methodName must not be empty.";
  if (std::all_of(name.begin(), name.end(), is_ws))
    return "methodName must not be whitespace only.";
  if (name.size() > max_method_name_length) {
    return "methodName must be at most 100 characters long.";
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E) {
      return "methodName must contain only printable US-ASCII characters (no spaces or control "
             "characters).";
    }
    if (forbidden_name_chars.find(c) != std::string_view::npos) {
      return std::string("methodName must not contain '") + c +
             "' (forbidden: $ ( ) < > @ , ; : \\ \" / [ ] ? = { } # %).";
    }
  }
  return {};
}

std::variant<invoke_body, invoke_body_error> parse_invoke_body(std::string_view body) {
  json::scan_error err;
  auto members = json::object_members(body, &err);
  if (!members) {
    if (err.code == json::scan_errc::not_an_object) {
      return argument_invalid("request body must be a JSON object.");
    }
    return invoke_body_error{hub::errc::iot_hub_format_error,
                             "request body is not valid JSON: " + std::string(err.what) +
                                 " at offset " + std::to_string(err.offset) + "."};
  }

  const json::member* method_name = nullptr;
  const json::member* response_timeout = nullptr;
  const json::member* connect_timeout = nullptr;
  const json::member* legacy_timeout = nullptr;
  const json::member* payload = nullptr;
  for (const json::member& m : *members) {
    const json::member** slot = nullptr;
    if (m.key == "methodName") {
      slot = &method_name;
    } else if (m.key == "responseTimeoutInSeconds") {
      slot = &response_timeout;
    } else if (m.key == "connectTimeoutInSeconds") {
      slot = &connect_timeout;
    } else if (m.key == "timeoutInSeconds") {
      slot = &legacy_timeout;
    } else if (m.key == "payload") {
      slot = &payload;
    } else {
      continue;
    }
    if (*slot != nullptr) return argument_invalid("duplicate key '" + m.key + "' in request body.");
    *slot = &m;
  }

  invoke_body out;
  if (method_name == nullptr) return argument_invalid("methodName is required.");
  if (method_name->kind != json::value_kind::string) {
    return argument_invalid("methodName must be a JSON string.");
  }
  auto name = json::unescape_string(method_name->raw);
  if (!name) {
    // Only a lone surrogate escape gets here (the scanner validated the rest): not ASCII.
    return argument_invalid("methodName must contain only printable US-ASCII characters.");
  }
  if (std::string why = check_method_name(*name); !why.empty()) return argument_invalid(why);
  out.method_name = std::move(*name);

  const json::member* rt = response_timeout;
  if (rt == nullptr || rt->kind == json::value_kind::null) rt = legacy_timeout;
  if (auto v = timeout_value(rt, min_response_timeout_s, max_response_timeout_s)) {
    if (*v < 0) return argument_invalid(std::string(response_timeout_message));
    out.response_timeout_s = static_cast<int>(*v);
  }
  if (auto v = timeout_value(connect_timeout, 0, max_connect_timeout_s)) {
    if (*v < 0) return argument_invalid(std::string(connect_timeout_message));
    out.connect_timeout_s = static_cast<int>(*v);
  }

  out.payload = payload != nullptr ? payload->raw : std::string_view("null");
  if (out.payload.size() > max_payload_bytes) {
    return invoke_body_error{hub::errc::message_too_large,
                             "payload size " + std::to_string(out.payload.size()) + " exceeds " +
                                 std::to_string(max_payload_bytes) + " bytes"};
  }
  return out;
}

}  // namespace hub::api
