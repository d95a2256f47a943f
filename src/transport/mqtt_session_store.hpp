#pragma once
// MQTT persistent sessions (CleanSession=0): the subscriptions an identity made survive its
// disconnects, even a clean DISCONNECT, because the Python device SDK never subscribes again
// after it reconnects to renew its token (spec/protocol.md §3.4).
//
// Each stored session has an owner, the link of the connection using it, so that a connection
// that was taken over cannot overwrite or erase its successor's session.
//
// Thread safety: none; used on the core strand only.

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/device_link.hpp"
#include "core/identity.hpp"

namespace hub::transport {

class mqtt_session_store {
 public:
  /// A session's subscriptions: distinct filters, sorted; null when there are none. Immutable
  /// once made, so the connection and the store share one (a change makes a new one): an idle
  /// device's filters are held once, not once per owner as copies (~160 B a copy as a std::set,
  /// issue 6).
  using filter_set = std::shared_ptr<const std::vector<std::string>>;

  /// A connection of `who` (link `owner`) starts: with `clean_session` any stored session is
  /// discarded and a fresh one begins; otherwise the stored one resumes. Returns its filters and
  /// whether a stored session was present (CONNACK session-present).
  std::pair<filter_set, bool> open(const identity_key& who, link_id owner, bool clean_session);

  /// The owner's subscriptions changed. Ignored if `owner` no longer owns the session.
  void update(const identity_key& who, link_id owner, filter_set filters);

  /// The owner's connection ended. A clean session ends with it (MQTT 3.1.1 §3.1.2.4); a
  /// persistent one stays for the next connection.
  void close(const identity_key& who, link_id owner, bool clean_session);

  /// The identity was deleted from the registry: its stored session ends with it, so that an
  /// identity created again under the same id starts without one. A device's deletion ends its
  /// modules' sessions too. A connection of it still open finds no session to update or close.
  void forget(const identity_key& who);

  std::size_t size() const noexcept { return sessions_.size(); }

 private:
  struct entry {
    link_id owner = 0;
    filter_set filters;
  };
  std::unordered_map<identity_key, entry, identity_key_hash> sessions_;
};

}  // namespace hub::transport
