#pragma once
// An identity in the registry: a device, or a module on a device. Ids are case-sensitive
// (spec/protocol.md §6, DOC-REG).

#include <compare>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace hub {

struct identity_key {
  std::string device_id;
  std::string module_id;  // empty for a device

  bool is_module() const noexcept { return !module_id.empty(); }
  /// "dev" or "dev/mod": the MQTT client id form, also used in logs.
  std::string str() const { return is_module() ? device_id + "/" + module_id : device_id; }
  auto operator<=>(const identity_key&) const = default;
};

struct identity_key_hash {
  std::size_t operator()(const identity_key& k) const noexcept {
    std::size_t h = std::hash<std::string_view>{}(k.device_id);
    return h ^ (std::hash<std::string_view>{}(k.module_id) + 0x9e3779b97f4a7c15ULL + (h << 6) +
                (h >> 2));
  }
};

/// Device id rules: 1..128 chars of ASCII alnum and `- . % _ * ? ! ( ) , : = @ $ '`
/// (DOC-REG; `+` and `#` are "not supported" for devices because SDKs cannot use them).
bool valid_device_id(std::string_view id) noexcept;
/// Module ids: the device set plus `+` and `#` (DOC-REG), same length bound.
bool valid_module_id(std::string_view id) noexcept;

}  // namespace hub
