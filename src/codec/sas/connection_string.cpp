#include "codec/sas/connection_string.hpp"

namespace hub::codec::sas {
namespace {

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::optional<connection_string> parse_connection_string(std::string_view text,
                                                         std::string* error) {
  auto fail = [error](std::string message) -> std::optional<connection_string> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  if (text.size() > max_connection_string_size) return fail("connection string too long");

  connection_string c;
  std::optional<std::string_view> x509_text;
  // One bit per known key, to reject duplicates even when the first value was empty.
  unsigned seen = 0;
  while (!text.empty()) {
    const auto semi = text.find(';');
    const auto field = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
    if (field.empty()) continue;
    const auto eq = field.find('=');
    if (eq == std::string_view::npos)
      return fail("field without '=': " + std::string(field.substr(0, 64)));
    const auto key = field.substr(0, eq);
    const auto value = field.substr(eq + 1);

    std::string* slot = nullptr;
    unsigned bit = 0;
    if (key == "HostName")
      slot = &c.host_name, bit = 1;
    else if (key == "DeviceId")
      slot = &c.device_id, bit = 2;
    else if (key == "ModuleId")
      slot = &c.module_id, bit = 4;
    else if (key == "SharedAccessKeyName")
      slot = &c.shared_access_key_name, bit = 8;
    else if (key == "SharedAccessKey")
      slot = &c.shared_access_key, bit = 16;
    else if (key == "SharedAccessSignature")
      slot = &c.shared_access_signature, bit = 32;
    else if (key == "GatewayHostName")
      slot = &c.gateway_host_name, bit = 64;
    else if (key == "x509")
      bit = 128;
    else
      continue;  // unknown key

    if (seen & bit) return fail("duplicate key: " + std::string(key));
    seen |= bit;
    if (slot)
      *slot = std::string(value);
    else
      x509_text = value;
  }

  if (x509_text) {
    if (iequal(*x509_text, "true"))
      c.x509 = true;
    else if (!iequal(*x509_text, "false"))
      return fail("x509 must be true or false");
  }
  if (c.host_name.empty()) return fail("missing HostName");
  if (!c.module_id.empty() && c.device_id.empty()) return fail("ModuleId without DeviceId");
  if (c.shared_access_key.empty() && c.shared_access_signature.empty() && !c.x509)
    return fail("missing SharedAccessKey or SharedAccessSignature (or x509=true)");
  if (error) error->clear();
  return c;
}

std::string to_string(const connection_string& c) {
  std::string out;
  auto add = [&out](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    if (!out.empty()) out += ';';
    out.append(key).append(1, '=').append(value);
  };
  add("HostName", c.host_name);
  add("DeviceId", c.device_id);
  add("ModuleId", c.module_id);
  add("SharedAccessKeyName", c.shared_access_key_name);
  add("SharedAccessKey", c.shared_access_key);
  add("SharedAccessSignature", c.shared_access_signature);
  add("GatewayHostName", c.gateway_host_name);
  if (c.x509) add("x509", "true");
  return out;
}

}  // namespace hub::codec::sas
