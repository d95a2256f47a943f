#include "api/invoke_result_json.hpp"

#include "codec/json/json_scan.hpp"

namespace hub::api {

std::string invoke_result_json(int status, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 32);
  out += "{\"status\":";
  out += std::to_string(status);
  out += ",\"payload\":";
  // Surrounding whitespace is legal JSON but trimmed so that an all-blank body counts as empty.
  auto first = payload.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    out += "null";
  } else if (codec::json::validate(payload)) {
    out += payload;
  } else {
    codec::json::append_escaped(out, payload);
  }
  out += '}';
  return out;
}

}  // namespace hub::api
