// The AMQP head's per-connection code driven over a memory_stream (run_amqp_session) against
// the fake hub: the socket-free entry point the amqp_session fuzz target uses.
#include "transport/amqp_session.hpp"

#include <gtest/gtest.h>

#include <string>

#include "transport/amqp_sasl.hpp"
#include "transport/fake_hub.hpp"

namespace hub::transport {
namespace {

using namespace std::string_literals;
using testing::fake_hub;
using testing::recording_presence;

// sasl-init for MSSBCBS, as the C SDK sends it (see amqp_sasl_test.cpp).
const std::string mssbcbs_init =
    "\x00\x00\x00\x17\x02\x01\x00\x00\x00\x53\x41\xc0\x0a\x01\xa3\x07MSSBCBS"s;

struct amqp_session_test : ::testing::Test {
  fake_hub hub;
  recording_presence presence;
  amqp_services svc{hub.registry, presence, hub.policies};
  amqp_limits limits;

  testing::session_run run(std::string input, std::size_t chunk = 0) {
    return testing::run_session(hub, std::move(input), chunk, [this](memory_stream s) {
      return run_amqp_session(std::move(s), svc, limits);
    });
  }
};

TEST_F(amqp_session_test, UnsupportedHeaderGetsOursAndClose) {
  auto r = run("AMQP\x02\x01\x00\x00"s);
  ASSERT_TRUE(r.finished);
  EXPECT_FALSE(r.exception);
  EXPECT_EQ(r.peer->output(), amqp::amqp_header);
  EXPECT_TRUE(r.peer->closed());
}

TEST_F(amqp_session_test, SaslThenAmqpOpenRunsTheDriverUntilEof) {
  for (std::size_t chunk : {0, 1, 3}) {
    SCOPED_TRACE(chunk);
    auto r =
        run(std::string(amqp::sasl_header) + mssbcbs_init + std::string(amqp::amqp_header), chunk);
    ASSERT_TRUE(r.finished);
    EXPECT_FALSE(r.exception);
    EXPECT_TRUE(r.peer->closed());
    const std::string expected = std::string(amqp::sasl_header) +
                                 amqp::encode_mechanisms({"MSSBCBS", "ANONYMOUS", "PLAIN"}) +
                                 amqp::encode_outcome(amqp::sasl_code::ok) +
                                 std::string(amqp::amqp_header);
    // Proton answers the AMQP header with its own; its open waits for the client's.
    ASSERT_GE(r.peer->output().size(), expected.size());
    EXPECT_EQ(r.peer->output().substr(0, expected.size()), expected);
    EXPECT_TRUE(presence.live.empty());
  }
}

}  // namespace
}  // namespace hub::transport
