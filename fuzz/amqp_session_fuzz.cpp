// The AMQP head's per-connection code (transport/amqp_session.cpp, the code a socket gets): the
// protocol header, our SASL layer (MSSBCBS, ANONYMOUS, PLAIN), then Proton's connection_driver
// wrapper with the $cbs node (put-token) and the method links, fed a client's byte stream
// through run_amqp_session over a memory_stream, against the fake hub of
// tests/transport/fake_hub.hpp. Input: byte 0 = the largest read (0: whole buffers), the rest =
// what the client sends. An identity whose request link gets credit is sent one method request.
// Checks, beyond sanitizers: the connection ends once the client has nothing more to say,
// nothing escapes it, every link_up is matched by link_down, and what the hub wrote is protocol
// headers and whole AMQP frames (size >= 8, data offset >= 2, within the size).
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "fuzz_check.hpp"
#include "transport/amqp_session.hpp"
#include "transport/fake_hub.hpp"

namespace {

hub::testing::fake_hub& the_hub() {
  static auto* h = new hub::testing::fake_hub;  // never destroyed: the registry joins a thread
  return *h;
}

std::uint32_t be32(std::string_view b) {
  return (std::uint32_t(std::uint8_t(b[0])) << 24) | (std::uint32_t(std::uint8_t(b[1])) << 16) |
         (std::uint32_t(std::uint8_t(b[2])) << 8) | std::uint32_t(std::uint8_t(b[3]));
}

void check_output(std::string_view out) {
  while (!out.empty()) {
    if (out.starts_with("AMQP")) {  // a protocol header: ours, SASL's, or the one we speak
      HUB_FUZZ_CHECK(out.size() >= 8);
      out.remove_prefix(8);
      continue;
    }
    HUB_FUZZ_CHECK(out.size() >= 8);
    const std::uint32_t frame = be32(out);
    const unsigned doff = std::uint8_t(out[4]);
    HUB_FUZZ_CHECK(frame >= 8 && frame <= out.size());
    HUB_FUZZ_CHECK(doff >= 2 && doff * 4u <= frame);
    out.remove_prefix(frame);
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
  hub::transport::amqp_services svc{hub.registry, presence, hub.policies};
  hub::transport::amqp_limits limits;
  limits.max_sessions = 4;  // small, so the fuzzer reaches the limits
  limits.max_links = 8;
  limits.max_identities = 4;
  limits.max_waiting_requests = 4;
  limits.max_message_bytes = 16 * 1024;
  limits.max_queued_bytes = 256 * 1024;

  auto run = hub::testing::run_session(hub, std::string(hub::fuzz::as_view(data + 1, size - 1)),
                                       data[0], [&](hub::transport::memory_stream s) {
                                         return hub::transport::run_amqp_session(std::move(s), svc,
                                                                                 limits);
                                       });
  HUB_FUZZ_CHECK(run.finished);
  HUB_FUZZ_CHECK(!run.exception);
  HUB_FUZZ_CHECK(run.peer->closed());
  HUB_FUZZ_CHECK(presence.live.empty());
  HUB_FUZZ_CHECK(presence.ups == presence.downs);
  check_output(run.peer->output());
  return 0;
}
