#pragma once
// Who may do what: shared access policies, their persistence, and SAS token checks for the
// service side (REST) and the device side (MQTT/AMQP connect, CBS) (spec/protocol.md §2.3–2.4).
//
// Token checks return errc::ok or errc::unauthorized and never throw on token input (only
// std::bad_alloc). Time is injected (`now_unix`), so tests never sleep.
//
// Thread safety: policy_set is a value; concurrent const use is safe, mutation is not. The free
// functions touch no shared state.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/errc.hpp"
#include "core/identity.hpp"

namespace hub {

/// Shared access rights (DOC-SAS). A policy's `rights` is a bitwise OR of these.
enum right : unsigned {
  registry_read = 1,
  registry_write = 2,
  service_connect = 4,
  device_connect = 8,
};
inline constexpr unsigned all_rights =
    registry_read | registry_write | service_connect | device_connect;

/// Tokens stay valid this long past `se`, for clock drift between hub and clients (edgeHub's
/// MaxClockSkew, spec §2.3).
inline constexpr std::int64_t max_clock_skew_seconds = 300;

/// The last unix second at which a token whose `se` is `se` is still accepted:
/// `se + max_clock_skew_seconds`, saturating at INT64_MAX (a token may name any `se`).
constexpr std::int64_t token_valid_until(std::int64_t se) noexcept {
  constexpr auto top = std::numeric_limits<std::int64_t>::max();
  return se > top - max_clock_skew_seconds ? top : se + max_clock_skew_seconds;
}

struct access_policy {
  std::string name;           // `skn` in tokens, `SharedAccessKeyName` in connection strings
  std::string primary_key;    // base64
  std::string secondary_key;  // base64
  unsigned rights = 0;
};

/// The hub's policies plus the host names its tokens may name.
class policy_set {
 public:
  policy_set() = default;
  /// Accepted hosts become `hostname` and `localhost`.
  explicit policy_set(std::string_view hostname);

  /// Adds `p`, replacing any policy of the same name.
  void add(access_policy p);
  /// The policy named exactly `name` (case-sensitive), or null. Valid until the next add().
  const access_policy* find(std::string_view name) const noexcept;
  const std::vector<access_policy>& policies() const noexcept { return policies_; }

  const std::string& hostname() const noexcept { return hostname_; }
  /// True iff `host` is the configured hostname or `localhost`, ignoring ASCII case and a
  /// `:port` suffix.
  bool accepts_host(std::string_view host) const noexcept;

 private:
  std::string hostname_;
  std::vector<access_policy> policies_;
};

/// Checks an `Authorization` header value (a whole `SharedAccessSignature ...` token) for a
/// service call needing every bit of `required_rights`. Requires: `skn` naming a policy with those
/// rights; `sr` (percent-decoded, or as sent) covering an accepted host, i.e. the bare host, with
/// an optional scheme, port or trailing `/`; a signature by the policy's primary or secondary key;
/// and `se + max_clock_skew_seconds >= now_unix`. Returns errc::ok or errc::unauthorized.
errc authorize_service(std::string_view authorization_header_value, unsigned required_rights,
                       const policy_set& policies, std::int64_t now_unix);

/// What a verified service token grants: its policy's rights, until `valid_until` (unix seconds,
/// `se` plus the skew allowance). `policy` is the policy's name, a view into the policy_set that
/// verified the token (valid as long as that set).
struct service_grant {
  unsigned rights = 0;
  std::int64_t valid_until = 0;
  std::string_view policy;
};

/// The checks of authorize_service except the rights: the token parses, names a policy, covers
/// an accepted host, is signed by the policy's key and is not expired at `now_unix`.
std::optional<service_grant> verify_service_token(std::string_view authorization_header_value,
                                                  const policy_set& policies,
                                                  std::int64_t now_unix);

struct identity_keys {
  std::string primary_key;    // base64
  std::string secondary_key;  // base64, may be empty
};

/// Checks a device-side token for connecting as `who`. `keys` are `who`'s own keys (a module's
/// keys for a module, never its device's), or null when `who` is not registered, which is always
/// errc::unauthorized. Accepted, with `se + max_clock_skew_seconds >= now_unix`:
///  - identity-key token: no `skn`, signed by `keys` (primary, then secondary);
///  - policy token: `skn` naming a policy with device_connect, signed by that policy's keys
///    (no fallback to identity keys when `skn` is present).
/// In both cases `sr` must be a segment-wise prefix of `{host}/devices/{id}[/modules/{mid}]` for
/// an accepted host: the bare host (C# with SharedAccessKeyName, spec §2.3), `{host}/devices`
/// (gateways), the identity itself, or for a module its device's resource. A device-scoped token
/// therefore covers the device's modules by prefix, but a device-key signature does not
/// authorize a module because only the module's own keys are tried.
/// `sr` is matched both as sent (C sends it raw) and percent-decoded once (Node, Python, Java);
/// an id segment also matches the id percent-encoded once more, in C#'s form
/// (WebUtility.UrlEncode(id), what remains of its double encoding after one decode) or in
/// RFC 3986 form (spec §2.2). Ids compare exactly, the host ignoring case.
/// Consequence: the SDK encodings are not injective (C#'s token for id `a:` is byte-identical
/// to Node's for id `a%3A`), so a policy token narrowed to one id also covers ids that differ
/// only in such an encoding. Identity-key tokens are unaffected: only `who`'s keys are tried.
errc authorize_device(std::string_view token, const identity_key& who, const identity_keys* keys,
                      const policy_set& policies, std::int64_t now_unix);

/// Reads `<data_dir>/policies.json`, or on first start creates `data_dir` if needed and writes
/// the built-in policies (iothubowner: all rights; service: ServiceConnect; device: DeviceConnect;
/// registryRead: RegistryRead; registryReadWrite: RegistryRead+RegistryWrite), each with two fresh
/// random_key_base64() keys, atomically (temp file, fsync, rename, fsync dir) with mode 0600.
/// Format: {"policies":[{"name":..,"primaryKey":..,"secondaryKey":..,"rights":["RegistryRead",
/// "RegistryWrite","ServiceConnect","DeviceConnect"]}]}.
/// Throws std::runtime_error naming the file and the problem if it cannot be read, written or
/// parsed, or holds an invalid policy (empty/duplicate name, key not base64, unknown right).
/// Startup only.
policy_set load_or_create_policies(const std::filesystem::path& data_dir,
                                   std::string_view hostname);

/// `HostName=<hostname>;SharedAccessKeyName=<name>;SharedAccessKey=<primary>`.
std::string service_connection_string(const access_policy& policy, std::string_view hostname);

}  // namespace hub
