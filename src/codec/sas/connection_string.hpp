#pragma once
// IoT Hub connection strings (spec/protocol.md §2.5): `Key=value;Key=value`.
//
// Keys are case-sensitive, spelled as the SDKs write them: HostName, DeviceId, ModuleId,
// SharedAccessKeyName, SharedAccessKey, SharedAccessSignature, GatewayHostName, x509.
// A value runs from the first `=` to the next `;`, so base64 keys keep their `=` padding.
// Unknown keys are ignored (SDKs add new ones over time); empty fields (`;;`, a trailing `;`)
// are skipped. No whitespace is trimmed. Pure functions, safe from any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hub::codec::sas {

inline constexpr std::size_t max_connection_string_size = 4096;

struct connection_string {
  std::string host_name;
  std::string device_id;
  std::string module_id;
  std::string shared_access_key_name;
  std::string shared_access_key;
  std::string shared_access_signature;
  std::string gateway_host_name;
  bool x509 = false;
};

/// Parses `text`. On failure returns nullopt and, if `error` is not null, stores a short message
/// naming the problem: a field without `=`, a duplicate key, an empty HostName, no credential
/// (none of SharedAccessKey, SharedAccessSignature, x509=true), ModuleId without DeviceId,
/// an x509 value other than true/false (any case), or input over max_connection_string_size.
/// Never throws on malformed input (only std::bad_alloc).
std::optional<connection_string> parse_connection_string(std::string_view text,
                                                         std::string* error = nullptr);

/// Canonical form: HostName;DeviceId;ModuleId;SharedAccessKeyName;SharedAccessKey;
/// SharedAccessSignature;GatewayHostName;x509=true, each present only when non-empty (x509 only
/// when true). parse_connection_string(to_string(c)) round-trips a valid `c`.
std::string to_string(const connection_string& c);

}  // namespace hub::codec::sas
