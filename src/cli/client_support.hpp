#pragma once
// Pure pieces of the client commands (`methodhub device|module|invoke|sas|connection-string`):
// URL and path building, request bodies, the hub's error envelope, JSON pretty-printing. No
// sockets and no Beast here, so all of it is unit-tested (tests/cli/client_support_test.cpp).
// Every function is pure and safe from any thread.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hub::cli {

/// A problem with what the user typed (bad flag value, bad connection string, payload that is not
/// JSON). main() prints `error: <what>` and exits 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A failure talking to the hub (unreachable, TLS, timeout, an error answer). main() prints
/// `error: <what>` and exits 1.
class client_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The api-version the CLI sends, the one the Node/C#/Python service SDKs send (spec §1.2).
inline constexpr std::string_view api_version = "2021-04-12";

/// Where to connect: a parsed `--hub-url`.
struct hub_endpoint {
  bool tls = true;
  std::string host;  // a name or an IP literal, without IPv6 brackets
  std::uint16_t port = 443;
  std::string url;  // as given (or defaulted), for messages
  bool host_is_ip() const;
  /// The Host header value: host, bracketed if IPv6, plus `:port` when not the scheme default.
  std::string authority() const;
};

/// Parses `http://host[:port][/]` or `https://host[:port][/]`. Throws usage_error for anything
/// else (other schemes, a path, a query, user info, a bad port).
hub_endpoint parse_hub_url(std::string_view url);

/// The credentials a service command signs its requests with.
struct service_credentials {
  std::string host_name;  // the hub's HostName, used in `sr` and printed connection strings
  std::string key_name;   // SharedAccessKeyName (policy)
  std::string key;        // SharedAccessKey (base64); empty when `signature` is set
  std::string signature;  // a ready-made SharedAccessSignature from the string, if any
};

/// Reads a service (policy) connection string `HostName=h;SharedAccessKeyName=p;SharedAccessKey=k`
/// (or with a ready-made `SharedAccessSignature=`). Throws usage_error naming what is missing or
/// wrong: an empty string, a device/module string, no HostName, no key, a key that is not base64.
service_credentials parse_service_connection_string(std::string_view text);

/// `SharedAccessSignature ...` for the hub: resource = HostName, skn = the policy, valid until
/// `now_unix + ttl_seconds`; or the ready-made signature if the string carried one.
std::string authorization_for(const service_credentials& creds, std::int64_t now_unix,
                              std::int64_t ttl_seconds = 3600);

/// The input of `methodhub sas`, resolved to what make_token needs.
struct sas_request {
  std::string resource;  // unencoded, e.g. `hub.lan/devices/dev1`
  std::string key;       // base64
  std::string key_name;  // empty = no skn
};

/// From any connection string: a device/module string gives `HostName/devices/D[/modules/M]`
/// (skn only if it names a SharedAccessKeyName); a policy string gives HostName + skn.
/// Throws usage_error if the string is malformed or carries no SharedAccessKey.
sas_request sas_request_from_connection_string(std::string_view text);

/// Path of a device or module resource: `/devices/<enc D>[/modules/<enc M>]`, ids encoded like
/// encodeURIComponent (hub percent-decodes each segment once, spec §1.1).
std::string identity_path(std::string_view device_id, std::string_view module_id = {});

/// Appends `?api-version=...` (or `&api-version=...` when `path` already has a query).
std::string with_api_version(std::string path);

/// PUT body that creates an identity. Empty keys ask the hub to generate them (spec §6).
/// `module_id` empty = a device (then `enabled` selects `status`); modules carry no status.
std::string identity_create_body(std::string_view device_id, std::string_view module_id,
                                 std::string_view primary_key, std::string_view secondary_key,
                                 bool enabled);

/// Throws usage_error unless `text` is one JSON value (Boost.JSON grammar).
void require_json(std::string_view text, std::string_view what);

/// The invoke body, built as text so that `payload_json` reaches the hub byte for byte:
/// `{"methodName":..,"responseTimeoutInSeconds":..,"connectTimeoutInSeconds":..,"payload":..}`.
/// `payload_json` must already be valid JSON (see require_json).
std::string invoke_body(std::string_view method_name, int response_timeout_s, int connect_timeout_s,
                        std::string_view payload_json);

/// Reindents valid JSON with 2 spaces per level. Tokens are copied verbatim (numbers keep their
/// spelling, strings their escapes), so nothing the hub or the device sent is altered. Text that
/// is not JSON is returned unchanged.
std::string pretty_json(std::string_view text);

/// One line for an HTTP error answer:
/// `<status> <iothub-errorcode header> <errorCode>: <message>`, from envelope A (JSON text in
/// `Message`), envelope B (`ErrorCode:<Name>;<text>`), or the raw body when neither parses.
/// Missing parts are left out. Does not include the leading `error: `.
std::string describe_http_error(unsigned status, std::string_view reason,
                                std::string_view iothub_errorcode, std::string_view body);

/// `HostName=h;DeviceId=D[;ModuleId=M];SharedAccessKey=K`.
std::string identity_connection_string(std::string_view host_name, std::string_view device_id,
                                       std::string_view module_id, std::string_view key);

/// Picks `authentication.symmetricKey.<primaryKey|secondaryKey>` out of an identity's JSON.
/// Throws client_error if the answer has no such key (e.g. an X.509 identity).
std::string identity_key_from_json(std::string_view identity_json, bool secondary);

/// A random RFC 4122 version-4 UUID, lowercase: the `Request-Id` header.
std::string uuid_v4();

}  // namespace hub::cli
