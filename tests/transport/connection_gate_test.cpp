// connection_gate (docs/limits.md): the total and per-address caps, IPv4-mapped addresses
// counted as their IPv4 address, tickets giving their place back (also when moved or destroyed
// on another thread), and the refusal counter. The gate's strand runs on a test io_context.

#include "transport/connection_gate.hpp"

#include <gtest/gtest.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace hub::transport {
namespace {

namespace asio = boost::asio;

asio::ip::address ip(const char* text) {
  return asio::ip::make_address(text);
}

class ConnectionGate : public ::testing::Test {
 protected:
  std::shared_ptr<connection_gate> make(std::size_t total, std::size_t per_address) {
    return connection_gate::create(ioc_, connection_limits{total, per_address, ""});
  }

  // admit() must run on the gate's strand: dispatch there and run until it has.
  std::optional<connection_ticket> admit(connection_gate& gate, const char* peer) {
    std::optional<connection_ticket> ticket;
    asio::dispatch(gate.strand(), [&] { ticket = gate.admit(ip(peer), "test"); });
    drain();
    return ticket;
  }

  // Runs what tickets posted (their releases) to completion.
  void drain() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
};

TEST_F(ConnectionGate, NoCapsAdmitsEverything) {
  auto gate = make(0, 0);
  std::vector<connection_ticket> held;
  for (int i = 0; i < 100; ++i) {
    auto t = admit(*gate, "127.0.0.1");
    ASSERT_TRUE(t) << i;
    held.push_back(std::move(*t));
  }
  EXPECT_EQ(gate->open(), 100u);
  EXPECT_EQ(gate->refused(), 0u);
}

TEST_F(ConnectionGate, TotalCapRefusesAndAReleaseMakesRoom) {
  auto gate = make(2, 0);
  auto a = admit(*gate, "10.0.0.1");
  auto b = admit(*gate, "10.0.0.2");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(admit(*gate, "10.0.0.3"));
  EXPECT_EQ(gate->open(), 2u);
  EXPECT_EQ(gate->refused(), 1u);

  a.reset();  // the ticket posts its release to the strand
  drain();
  EXPECT_EQ(gate->open(), 1u);
  EXPECT_TRUE(admit(*gate, "10.0.0.3"));
}

TEST_F(ConnectionGate, PerAddressCapCountsEachAddressApart) {
  auto gate = make(0, 2);
  auto a1 = admit(*gate, "10.0.0.1");
  auto a2 = admit(*gate, "10.0.0.1");
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(admit(*gate, "10.0.0.1"));
  auto b1 = admit(*gate, "10.0.0.2");
  EXPECT_TRUE(b1);
  auto v6 = admit(*gate, "::1");
  EXPECT_TRUE(v6);
  EXPECT_EQ(gate->refused(), 1u);

  a2.reset();
  drain();
  EXPECT_TRUE(admit(*gate, "10.0.0.1"));
}

TEST_F(ConnectionGate, Ipv4MappedAddressCountsAsItsIpv4Address) {
  // A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d.
  auto gate = make(0, 1);
  auto plain = admit(*gate, "192.0.2.7");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(admit(*gate, "::ffff:192.0.2.7"));
  plain.reset();
  drain();
  auto mapped = admit(*gate, "::ffff:192.0.2.7");
  ASSERT_TRUE(mapped);
  EXPECT_FALSE(admit(*gate, "192.0.2.7"));
}

TEST_F(ConnectionGate, TotalCapIsCheckedBeforeThePerAddressOne) {
  auto gate = make(1, 1);
  auto a = admit(*gate, "10.0.0.1");
  ASSERT_TRUE(a);
  EXPECT_FALSE(admit(*gate, "10.0.0.2"));
  EXPECT_FALSE(admit(*gate, "10.0.0.1"));
  EXPECT_EQ(gate->refused(), 2u);
  // A refused address holds no place: once the first ticket goes, both may come in turn.
  a.reset();
  drain();
  auto b = admit(*gate, "10.0.0.2");
  ASSERT_TRUE(b);
  b.reset();
  drain();
  EXPECT_TRUE(admit(*gate, "10.0.0.1"));
}

TEST_F(ConnectionGate, MovedTicketReleasesOnce) {
  auto gate = make(0, 0);
  auto t = admit(*gate, "10.0.0.1");
  ASSERT_TRUE(t);
  connection_ticket moved = std::move(*t);
  t.reset();  // the moved-from ticket holds nothing
  drain();
  EXPECT_EQ(gate->open(), 1u);

  auto other = admit(*gate, "10.0.0.2");
  ASSERT_TRUE(other);
  EXPECT_EQ(gate->open(), 2u);
  moved = std::move(*other);  // move-assignment frees the place the target held
  drain();
  EXPECT_EQ(gate->open(), 1u);
  { connection_ticket gone = std::move(moved); }
  drain();
  EXPECT_EQ(gate->open(), 0u);
}

TEST_F(ConnectionGate, DefaultTicketHoldsNothing) {
  auto gate = make(1, 0);
  { connection_ticket none; }
  drain();
  EXPECT_EQ(gate->open(), 0u);
  EXPECT_TRUE(admit(*gate, "10.0.0.1"));
}

TEST_F(ConnectionGate, TicketMayBeDestroyedOnAnotherThreadAndOutliveItsGateHandle) {
  auto gate = make(1, 1);
  auto t = admit(*gate, "10.0.0.1");
  ASSERT_TRUE(t);
  std::weak_ptr<connection_gate> weak = gate;
  gate.reset();  // the ticket keeps the gate alive
  ASSERT_FALSE(weak.expired());
  std::thread([ticket = std::move(*t)]() mutable {
    connection_ticket gone = std::move(ticket);
  }).join();
  t.reset();
  drain();
  // The release ran on the strand and dropped the last reference.
  EXPECT_TRUE(weak.expired());
}

TEST(LogThrottle, FirstEventLogsThenHoldsBackWithinTheInterval) {
  using clock = log_throttle::clock;
  log_throttle throttle(std::chrono::seconds(10));
  auto t0 = clock::time_point{} + std::chrono::hours(1);
  auto first = throttle.allow(t0);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 0u);
  EXPECT_FALSE(throttle.allow(t0));
  EXPECT_FALSE(throttle.allow(t0 + std::chrono::seconds(9)));
  EXPECT_FALSE(throttle.allow(t0 + std::chrono::milliseconds(9999)));
  auto next = throttle.allow(t0 + std::chrono::seconds(10));
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 3u);  // the three held back since the first line
  EXPECT_FALSE(throttle.allow(t0 + std::chrono::seconds(11)));
  auto later = throttle.allow(t0 + std::chrono::minutes(5));
  ASSERT_TRUE(later);
  EXPECT_EQ(*later, 1u);
}

TEST(LogThrottle, FirstEventLogsEvenAtTheClocksEpoch) {
  log_throttle throttle(std::chrono::seconds(10));
  auto first = throttle.allow(log_throttle::clock::time_point{});
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 0u);
}

}  // namespace
}  // namespace hub::transport
