#include "api/identity_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <optional>

namespace hub::api {
namespace {

namespace json = boost::json;

json::value string_or_null(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

std::string_view time_or_unset(std::string_view t) {
  return t.empty() ? unset_time : t;
}

json::object authentication_object(const store::identity_record& rec) {
  json::object sym;
  sym["primaryKey"] = string_or_null(rec.primary_key);
  sym["secondaryKey"] = string_or_null(rec.secondary_key);
  json::object x509;
  x509["primaryThumbprint"] = string_or_null(rec.primary_thumbprint);
  x509["secondaryThumbprint"] = string_or_null(rec.secondary_thumbprint);
  json::object auth;
  auth["type"] = rec.auth_type.empty() ? std::string_view("sas") : std::string_view(rec.auth_type);
  auth["symmetricKey"] = std::move(sym);
  auth["x509Thumbprint"] = std::move(x509);
  return auth;
}

// Key order follows what IoT Hub returns, so captures and diffs line up.
json::object device_object(const store::identity_record& rec, bool connected,
                           std::string_view cs_time) {
  json::object o;
  o["deviceId"] = rec.key.device_id;
  o["generationId"] = rec.generation_id;
  o["etag"] = rec.etag;
  o["connectionState"] = connected ? "Connected" : "Disconnected";
  o["status"] = rec.enabled ? "enabled" : "disabled";
  o["statusReason"] = string_or_null(rec.status_reason);
  o["connectionStateUpdatedTime"] = time_or_unset(cs_time);
  o["statusUpdatedTime"] = time_or_unset(rec.status_updated_time);
  o["lastActivityTime"] = unset_time;
  o["cloudToDeviceMessageCount"] = 0;
  o["authentication"] = authentication_object(rec);
  o["capabilities"] = json::object{{"iotEdge", rec.iot_edge}};
  o["deviceScope"] = string_or_null(rec.device_scope);
  o["parentScopes"] = json::array();
  return o;
}

json::object module_object(const store::identity_record& rec, bool connected,
                           std::string_view cs_time) {
  json::object o;
  o["moduleId"] = rec.key.module_id;
  o["managedBy"] = string_or_null(rec.managed_by);
  o["deviceId"] = rec.key.device_id;
  o["generationId"] = rec.generation_id;
  o["etag"] = rec.etag;
  o["connectionState"] = connected ? "Connected" : "Disconnected";
  o["connectionStateUpdatedTime"] = time_or_unset(cs_time);
  o["lastActivityTime"] = unset_time;
  o["cloudToDeviceMessageCount"] = 0;
  o["authentication"] = authentication_object(rec);
  return o;
}

// ---- parsing ----

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Decoded length of strict, padded standard base64, or nullopt. Strict because IoT Hub keys
// are always padded standard alphabet, and a key the SAS signer later decodes differently
// from what was validated here would be a hazard.
std::optional<std::size_t> base64_decoded_size(std::string_view s) noexcept {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (s.back() == '=') pad = s[s.size() - 2] == '=' ? 2 : 1;
  const std::size_t body = s.size() - pad;
  for (std::size_t i = 0; i < body; ++i)
    if (base64_value(s[i]) < 0) return std::nullopt;
  // Non-canonical trailing bits (e.g. "QR==") decode ambiguously; refuse them.
  if (pad == 2 && (base64_value(s[body - 1]) & 0x0F) != 0) return std::nullopt;
  if (pad == 1 && (base64_value(s[body - 1]) & 0x03) != 0) return std::nullopt;
  return s.size() / 4 * 3 - pad;
}

identity_parse_error invalid(std::string message) {
  return {errc::argument_invalid, std::move(message)};
}

// A string field: absent or null → nullopt, a string → its value, anything else → error.
struct string_field {
  std::optional<std::string_view> value;
  bool wrong_type = false;
};

string_field get_string(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (!v || v->is_null()) return {};
  if (const json::string* s = v->if_string()) return {std::string_view(*s), false};
  return {std::nullopt, true};
}

const json::value* get_nonnull(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v && !v->is_null() ? v : nullptr;
}

// Reads one symmetric key into `out`, generating it when absent, null or "".
std::optional<identity_parse_error> read_key(const json::object* sym, std::string_view name,
                                             const key_generator& generate_key, std::string& out) {
  const std::string field = "authentication.symmetricKey." + std::string(name);
  string_field f = sym ? get_string(*sym, name) : string_field{};
  if (f.wrong_type) return invalid(field + " must be a string");
  if (!f.value || f.value->empty()) {
    out = generate_key();
    return std::nullopt;
  }
  const std::optional<std::size_t> n = base64_decoded_size(*f.value);
  if (!n) return invalid(field + " is not valid base64");
  if (*n < 16 || *n > 64)
    return invalid(field + " must decode to 16 to 64 bytes, not " + std::to_string(*n));
  out = std::string(*f.value);
  return std::nullopt;
}

std::optional<identity_parse_error> read_authentication(const json::object& body,
                                                        const key_generator& generate_key,
                                                        store::identity_record& rec) {
  const json::value* av = get_nonnull(body, "authentication");
  const json::object* auth = nullptr;
  if (av) {
    auth = av->if_object();
    if (!auth) return invalid("authentication must be an object");
  }

  rec.auth_type = "sas";
  if (auth) {
    string_field type = get_string(*auth, "type");
    if (type.wrong_type) return invalid("authentication.type must be a string");
    if (type.value) {
      static constexpr std::string_view types[] = {"sas", "selfSigned", "certificateAuthority",
                                                   "none"};
      bool known = false;
      for (std::string_view t : types) {
        if (iequals(*type.value, t)) {
          rec.auth_type = std::string(t);
          known = true;
          break;
        }
      }
      if (!known)
        return invalid(
            "authentication.type must be one of sas, selfSigned, certificateAuthority, none");
    }
  }

  const json::object* sym = nullptr;
  const json::object* x509 = nullptr;
  if (auth) {
    if (const json::value* v = get_nonnull(*auth, "symmetricKey")) {
      sym = v->if_object();
      if (!sym) return invalid("authentication.symmetricKey must be an object");
    }
    if (const json::value* v = get_nonnull(*auth, "x509Thumbprint")) {
      x509 = v->if_object();
      if (!x509) return invalid("authentication.x509Thumbprint must be an object");
    }
  }

  if (rec.auth_type == "sas") {
    if (auto e = read_key(sym, "primaryKey", generate_key, rec.primary_key)) return e;
    if (auto e = read_key(sym, "secondaryKey", generate_key, rec.secondary_key)) return e;
  }
  if (x509) {
    for (auto [name, out] :
         {std::pair{std::string_view("primaryThumbprint"), &rec.primary_thumbprint},
          std::pair{std::string_view("secondaryThumbprint"), &rec.secondary_thumbprint}}) {
      string_field f = get_string(*x509, name);
      if (f.wrong_type)
        return invalid("authentication.x509Thumbprint." + std::string(name) + " must be a string");
      if (f.value) *out = std::string(*f.value);
    }
  }
  return std::nullopt;
}

}  // namespace

std::string device_json(const store::identity_record& rec, bool connected,
                        std::string_view connection_state_updated_time) {
  return json::serialize(device_object(rec, connected, connection_state_updated_time));
}

std::string module_json(const store::identity_record& rec, bool connected,
                        std::string_view connection_state_updated_time) {
  return json::serialize(module_object(rec, connected, connection_state_updated_time));
}

std::string identity_list_json(std::span<const store::identity_record> recs,
                               const std::function<connection_info(const identity_key&)>& lookup) {
  json::array a;
  a.reserve(recs.size());
  for (const store::identity_record& rec : recs) {
    const connection_info c = lookup(rec.key);
    if (rec.key.is_module())
      a.push_back(module_object(rec, c.connected, c.connection_state_updated_time));
    else
      a.push_back(device_object(rec, c.connected, c.connection_state_updated_time));
  }
  return json::serialize(a);
}

std::variant<store::identity_record, identity_parse_error> parse_identity_body(
    std::string_view body, const identity_key& path_key, const key_generator& generate_key) {
  if (body.size() > max_identity_body)
    return identity_parse_error{
        errc::message_too_large,
        "the body is larger than " + std::to_string(max_identity_body) + " bytes"};

  json::parse_options opts;
  opts.max_depth = max_identity_depth;  // strict JSON otherwise: no comments, no trailing commas
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec, json::storage_ptr(), opts);
  if (ec == json::error::too_deep)
    return identity_parse_error{
        errc::iot_hub_format_error,
        "the body nests JSON deeper than " + std::to_string(max_identity_depth) + " levels"};
  if (ec) return identity_parse_error{errc::iot_hub_format_error, "the body is not valid JSON"};

  const json::object* o = doc.if_object();
  if (!o) return invalid("the body must be a JSON object (a Device or Module)");

  store::identity_record rec;
  rec.key = path_key;

  string_field device_id = get_string(*o, "deviceId");
  if (device_id.wrong_type) return invalid("deviceId must be a string");
  if (device_id.value && *device_id.value != path_key.device_id)
    return invalid("deviceId in the body does not match the device id '" + path_key.device_id +
                   "' in the request path");

  if (path_key.is_module()) {
    string_field module_id = get_string(*o, "moduleId");
    if (module_id.wrong_type) return invalid("moduleId must be a string");
    if (module_id.value && *module_id.value != path_key.module_id)
      return invalid("moduleId in the body does not match the module id '" + path_key.module_id +
                     "' in the request path");
    string_field managed_by = get_string(*o, "managedBy");
    if (managed_by.wrong_type) return invalid("managedBy must be a string");
    if (managed_by.value) rec.managed_by = std::string(*managed_by.value);
  } else {
    string_field status = get_string(*o, "status");
    if (status.wrong_type) return invalid("status must be a string");
    if (status.value) {
      if (iequals(*status.value, "enabled"))
        rec.enabled = true;
      else if (iequals(*status.value, "disabled"))
        rec.enabled = false;
      else
        return invalid("status must be 'enabled' or 'disabled'");
    }

    string_field reason = get_string(*o, "statusReason");
    if (reason.wrong_type) return invalid("statusReason must be a string");
    if (reason.value) rec.status_reason = std::string(*reason.value);

    if (const json::value* caps = get_nonnull(*o, "capabilities")) {
      const json::object* c = caps->if_object();
      if (!c) return invalid("capabilities must be an object");
      if (const json::value* edge = get_nonnull(*c, "iotEdge")) {
        if (!edge->is_bool()) return invalid("capabilities.iotEdge must be true or false");
        rec.iot_edge = edge->get_bool();
      }
    }

    string_field scope = get_string(*o, "deviceScope");
    if (scope.wrong_type) return invalid("deviceScope must be a string");
    if (scope.value) rec.device_scope = std::string(*scope.value);
  }

  if (auto e = read_authentication(*o, generate_key, rec)) return std::move(*e);
  return rec;
}

}  // namespace hub::api
