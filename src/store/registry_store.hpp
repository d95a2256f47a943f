#pragma once
// The durable identity registry: devices and modules with their SAS keys. An interface so that
// SQLite (embedded default) and PostgreSQL (clusters, later) are interchangeable.
//
// Thread safety: implementations are called from one thread at a time (the hub's store worker);
// they block on I/O and must not be called on the network threads.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/identity.hpp"

namespace hub::store {

/// One device or module, as persisted. Times are ISO-8601 UTC strings as IoT Hub returns them.
struct identity_record {
  identity_key key;
  std::string generation_id;
  std::string etag;  // opaque, unquoted
  bool enabled = true;
  std::string status_reason;
  std::string status_updated_time;
  std::string auth_type = "sas";  // sas | selfSigned | certificateAuthority | none
  std::string primary_key;        // base64
  std::string secondary_key;      // base64
  std::string primary_thumbprint;
  std::string secondary_thumbprint;
  bool iot_edge = false;   // capabilities.iotEdge (devices)
  std::string managed_by;  // modules
  std::string device_scope;
  std::uint64_t version = 0;  // bumped on every write; the etag is derived from it
};

enum class write_result : std::uint8_t {
  ok,
  already_exists,       // create of an existing id
  not_found,            // update/delete of a missing id, or a module whose device is missing
  precondition_failed,  // If-Match etag mismatch
  storage_error,        // I/O failure (disk full, corruption): nothing was written
};

class registry_store {
 public:
  virtual ~registry_store() = default;

  /// Every identity, devices and modules, for the in-memory cache built at start.
  virtual std::vector<identity_record> load_all() = 0;

  /// Creates or updates the identity. `if_match` is the caller's If-Match value without
  /// quotes: "" = create only (already_exists if present), "*" = update an existing one
  /// (not_found if absent), else update only if the current etag equals it.
  /// On success `rec` gets its new etag/version (and generation id on create). The write is
  /// durable when this returns ok (synchronous commit).
  virtual write_result put(identity_record& rec, std::string_view if_match) = 0;

  /// Deletes the identity (a device deletes its modules too). `if_match` as for put.
  virtual write_result remove(const identity_key& key, std::string_view if_match) = 0;

  /// Why the last write answered storage_error, for the operator's log ("" if unknown).
  virtual std::string last_error() const { return {}; }
};

}  // namespace hub::store
