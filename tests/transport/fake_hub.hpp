#pragma once
// A hub without sockets or disk, for running the protocol heads over a memory_stream (unit tests
// in tests/transport and the session fuzz targets in fuzz/): a registry over a fixed in-memory
// store, fixed policies, and a presence that records what the head reports and delivers one
// method request to every link that starts listening.
//
// Identities (primary, secondary SAS keys below): `dev1` (key_a, key_b), its module `dev1/mod1`
// (key_b, key_a), and `off`, a disabled device (key_a, key_b). Policies: `iothubowner` (all
// rights; key_a, key_b) and `device` (DeviceConnect; key_b, key_a). Hostname `hub.example.lan`
// (and `localhost`). fuzz/capture_seeds.py gives a real hub the same ones.
//
// Thread safety: none; one thread runs the io_context.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "codec/sas/crypto.hpp"
#include "codec/sas/sas_token.hpp"
#include "core/auth.hpp"
#include "core/presence.hpp"
#include "core/registry.hpp"
#include "store/registry_store.hpp"
#include "transport/memory_stream.hpp"

namespace hub::testing {

inline const std::string key_a = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
inline const std::string key_b = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";
inline constexpr std::int64_t far_future = 4'102'444'800;  // 2100-01-01: tokens in seeds stay valid

/// A SAS token for resource `sr` (used as sent), signed with `key`, expiring at `se`.
inline std::string sas_token(const std::string& sr, const std::string& key,
                             const std::string& skn = {}, std::int64_t se = far_future) {
  auto expiry = std::to_string(se);
  auto sig = codec::sas::compute_signature(key, sr, expiry);
  auto t =
      "SharedAccessSignature sr=" + sr + "&sig=" + codec::sas::url_encode(sig) + "&se=" + expiry;
  return skn.empty() ? t : t + "&skn=" + skn;
}

class fixed_store final : public store::registry_store {
 public:
  std::vector<store::identity_record> load_all() override {
    auto rec = [](std::string device, std::string module, std::string primary,
                  std::string secondary, bool enabled) {
      store::identity_record r;
      r.key = identity_key{std::move(device), std::move(module)};
      r.primary_key = std::move(primary);
      r.secondary_key = std::move(secondary);
      r.enabled = enabled;
      r.etag = "1";
      r.version = 1;
      return r;
    };
    return {rec("dev1", "", key_a, key_b, true), rec("dev1", "mod1", key_b, key_a, true),
            rec("off", "", key_a, key_b, false)};
  }
  store::write_result put(store::identity_record&, std::string_view) override {
    return store::write_result::storage_error;  // read-only
  }
  store::write_result remove(const identity_key&, std::string_view) override {
    return store::write_result::storage_error;
  }
};

inline policy_set fixed_policies() {
  policy_set p("hub.example.lan");
  p.add({"iothubowner", key_a, key_b, all_rights});
  p.add({"device", key_b, key_a, device_connect});
  return p;
}

/// Records the head's reports. Every link that listens for methods gets one request (`reboot`,
/// payload {"delay":1}, rid `1`: the first a hub run hands out, so captured answers match), as
/// the core would deliver a waiting call.
class recording_presence final : public presence {
 public:
  struct entry {
    identity_key who;
    std::shared_ptr<device_link> link;
    bool subscribed = false;
  };

  void link_up(const identity_key& who, link_id id, std::shared_ptr<device_link> link,
               bool methods_subscribed) override {
    ++ups;
    auto& e = live[id] = entry{who, std::move(link), methods_subscribed};
    if (methods_subscribed) deliver(e);
  }
  void methods_subscribed(const identity_key&, link_id id, bool subscribed) override {
    auto it = live.find(id);
    if (it == live.end()) return;
    bool fresh = subscribed && !it->second.subscribed;
    it->second.subscribed = subscribed;
    if (fresh) deliver(it->second);
  }
  void link_down(const identity_key&, link_id id) override {
    ++downs;
    live.erase(id);
  }
  void method_response(link_id, std::string rid, int status, std::string payload) override {
    if (fail_responses) throw std::runtime_error("recording_presence: failing as asked");
    responses.push_back({std::move(rid), status, std::move(payload)});
  }

  struct response {
    std::string rid;
    int status = 0;
    std::string payload;
  };
  std::map<link_id, entry> live;  // links up and not yet down
  std::size_t ups = 0;
  std::size_t downs = 0;
  std::vector<response> responses;
  bool fail_responses = false;  // method_response() throws: a core that fails unexpectedly

 private:
  static void deliver(entry& e) {
    e.link->deliver(
        std::make_shared<const method_request>(method_request{"reboot", "1", R"({"delay":1})"}));
  }
};

/// The io_context, registry and policies, made once: the registry has a store worker thread.
struct fake_hub {
  boost::asio::io_context io;
  hub::registry registry{boost::asio::make_strand(io), std::make_unique<fixed_store>()};
  policy_set policies = fixed_policies();
};

struct session_run {
  std::shared_ptr<transport::memory_peer> peer;
  bool finished = false;         // the session's coroutine returned
  std::exception_ptr exception;  // what escaped it, if anything
};

/// Runs one session, `start(memory_stream)` (a head's run_*_session), with the peer sending
/// `input` `chunk` bytes at a time (0: whole reads): first until nothing is left to do but wait
/// for bytes the script does not have (or 100,000 handlers ran), then, after end_input(), until
/// the io_context is idle.
template <class Start>
session_run run_session(fake_hub& hub, std::string input, std::size_t chunk, Start start) {
  namespace asio = boost::asio;
  session_run r;
  auto ex = asio::make_strand(hub.io);
  r.peer = std::make_shared<transport::memory_peer>(ex, std::move(input), chunk);
  asio::co_spawn(ex, start(transport::memory_stream(r.peer)), [&r](std::exception_ptr e) {
    r.finished = true;
    r.exception = e;
  });
  hub.io.restart();
  // Bounded: a session that keeps itself busy (a timer re-armed at once) still gets its EOF.
  for (int handlers = 0; handlers < 100'000 && hub.io.poll_one() > 0; ++handlers) {
  }
  r.peer->end_input();
  hub.io.restart();
  hub.io.run();
  return r;
}

}  // namespace hub::testing
