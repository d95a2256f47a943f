#include "transport/mqtt_session_store.hpp"

namespace hub::transport {

std::pair<mqtt_session_store::filter_set, bool> mqtt_session_store::open(const identity_key& who,
                                                                         link_id owner,
                                                                         bool clean_session) {
  auto [it, inserted] = sessions_.try_emplace(who);
  bool present = !inserted && !clean_session;
  if (clean_session) it->second.filters.reset();
  it->second.owner = owner;
  return {it->second.filters, present};
}

void mqtt_session_store::update(const identity_key& who, link_id owner, filter_set filters) {
  auto it = sessions_.find(who);
  if (it == sessions_.end() || it->second.owner != owner) return;
  it->second.filters = std::move(filters);
}

void mqtt_session_store::forget(const identity_key& who) {
  if (who.is_module()) {
    sessions_.erase(who);
    return;
  }
  std::erase_if(sessions_, [&](const auto& s) { return s.first.device_id == who.device_id; });
}

void mqtt_session_store::close(const identity_key& who, link_id owner, bool clean_session) {
  auto it = sessions_.find(who);
  if (it == sessions_.end() || it->second.owner != owner) return;
  if (clean_session) sessions_.erase(it);
}

}  // namespace hub::transport
