// The MQTT head's per-connection state machine (transport/mqtt_session.cpp, the code a socket
// gets) fed a client's byte stream through run_mqtt_session over a memory_stream, against the
// fake hub of tests/transport/fake_hub.hpp: CONNECT and its auth, then whatever follows
// (SUBSCRIBE, PUBLISH of method answers and twin requests, PINGREQ, a second CONNECT, garbage).
// Input: byte 0 = the largest read (0: whole buffers), the rest = what the client sends.
// A device that subscribes to methods is sent one request, so the outbound path runs too.
// Checks, beyond sanitizers: the session ends once the client has nothing more to say, nothing
// escapes it, every link_up is matched by link_down, and what the hub wrote decodes as server
// packets (CONNACK first; a refusing CONNACK is the last).
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "codec/mqtt/decode.hpp"
#include "fuzz_check.hpp"
#include "transport/fake_hub.hpp"
#include "transport/mqtt_session.hpp"

namespace {

namespace mqtt = hub::codec::mqtt;

hub::testing::fake_hub& the_hub() {
  static auto* h = new hub::testing::fake_hub;  // never destroyed: the registry joins a thread
  return *h;
}

void check_output(std::string_view out) {
  bool first = true;
  bool refused = false;
  while (!out.empty()) {
    HUB_FUZZ_CHECK(!refused);  // nothing follows a refusing CONNACK
    auto r = mqtt::decode(out, mqtt::max_remaining_length);
    HUB_FUZZ_CHECK(r.status == mqtt::decode_status::ok);
    const auto type = mqtt::type_of(r.packet);
    if (first) {
      HUB_FUZZ_CHECK(type == mqtt::packet_type::connack);
      refused =
          std::get<mqtt::connack>(r.packet).return_code != mqtt::connect_return_code::accepted;
    } else {
      HUB_FUZZ_CHECK(type == mqtt::packet_type::publish || type == mqtt::packet_type::puback ||
                     type == mqtt::packet_type::suback || type == mqtt::packet_type::unsuback ||
                     type == mqtt::packet_type::pingresp);
    }
    first = false;
    out.remove_prefix(r.consumed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Log statements run (they format client-chosen strings) but print nothing.
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_st>()));
  spdlog::set_level(spdlog::level::trace);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto& hub = the_hub();
  hub::testing::recording_presence presence;
  hub::transport::mqtt_services svc{hub.registry, presence, hub.policies, {}};
  hub::transport::mqtt_limits limits;
  limits.max_packet_bytes = 4096;  // small, so the fuzzer reaches the limit
  limits.max_subscriptions = 4;
  limits.max_queued_bytes = 64 * 1024;

  auto run = hub::testing::run_session(hub, std::string(hub::fuzz::as_view(data + 1, size - 1)),
                                       data[0], [&](hub::transport::memory_stream s) {
                                         return hub::transport::run_mqtt_session(std::move(s), svc,
                                                                                 limits);
                                       });
  HUB_FUZZ_CHECK(run.finished);
  HUB_FUZZ_CHECK(!run.exception);
  HUB_FUZZ_CHECK(run.peer->closed());
  HUB_FUZZ_CHECK(presence.live.empty());
  HUB_FUZZ_CHECK(presence.ups == presence.downs);
  check_output(run.peer->output());
  // Clean sessions end with their connection; a persistent one stays (svc.sessions).
  return 0;
}
