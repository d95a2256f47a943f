// connection_deadline on a real loopback socket: it closes the socket when the deadline passes
// (and the pending read fails), never before; a later deadline or "never" keeps it open across
// several timer wake-ups; a nearer deadline re-arms at once; stop() and destruction detach it.
// Only lower bounds on time are asserted: a slow machine can delay a close, never hasten one.

#include "transport/connection_deadline.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>

namespace hub::transport {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

class ConnectionDeadline : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    client_.connect(acceptor.local_endpoint());
    acceptor.accept(server_);
  }

  // Runs the loop until `done()` holds, for at most 30 s; fails the test on the deadline.
  void run_until(const std::function<bool()>& done) {
    const auto limit = clock::now() + 30s;
    while (!done() && clock::now() < limit) {
      io_.restart();
      io_.run_for(10ms);
    }
    ASSERT_TRUE(done()) << "condition not reached within 30 s";
  }

  // Calls `f` after `d` on the loop.
  void after(clock::duration d, std::function<void()> f) {
    auto t = std::make_shared<asio::steady_timer>(io_, d);
    t->async_wait([t, f = std::move(f)](boost::system::error_code) { f(); });
  }

  asio::io_context io_;
  tcp::socket client_{io_};
  tcp::socket server_{io_};
};

TEST_F(ConnectionDeadline, ClosesTheSocketWhenTheDeadlinePassesAndThePendingReadFails) {
  connection_deadline deadline(server_, 20ms);
  std::array<char, 16> buf;
  std::optional<boost::system::error_code> read_ec;
  server_.async_read_some(asio::buffer(buf),
                          [&](boost::system::error_code ec, std::size_t) { read_ec = ec; });
  const auto start = clock::now();
  deadline.expires_after(100ms);
  run_until([&] { return read_ec.has_value(); });
  EXPECT_GE(clock::now() - start, 100ms);
  EXPECT_TRUE(*read_ec) << "the read must fail, not complete";
  EXPECT_FALSE(server_.is_open());
  EXPECT_TRUE(deadline.expired());
}

TEST_F(ConnectionDeadline, ALaterDeadlineKeepsTheSocketOpenUntilItPasses) {
  connection_deadline deadline(server_, 20ms);
  const auto start = clock::now();
  deadline.expires_after(100ms);
  after(50ms, [&] { deadline.expires_after(400ms); });  // now due at >= 450 ms
  bool checked = false;
  after(200ms, [&] {
    EXPECT_TRUE(server_.is_open()) << "closed at the first deadline, which was moved";
    checked = true;
  });
  run_until([&] { return checked && deadline.expired(); });
  EXPECT_GE(clock::now() - start, 450ms);
  EXPECT_FALSE(server_.is_open());
}

TEST_F(ConnectionDeadline, ANearerDeadlineRearmsAtOnce) {
  connection_deadline deadline(server_, 60s);
  deadline.expires_after(120s);
  deadline.expires_after(50ms);
  // Without the re-arm the timer would first wake at 60 s, past run_until's 30 s.
  run_until([&] { return deadline.expired(); });
  EXPECT_FALSE(server_.is_open());
}

TEST_F(ConnectionDeadline, NeverKeepsTheSocketOpenAcrossWakeUps) {
  connection_deadline deadline(server_, 10ms);
  deadline.expires_after(30ms);
  deadline.expires_never();
  bool checked = false;
  after(300ms, [&] { checked = true; });  // the timer wakes ~30 times meanwhile
  run_until([&] { return checked; });
  EXPECT_TRUE(server_.is_open());
  EXPECT_FALSE(deadline.expired());
  deadline.expires_after(20ms);  // and a deadline after "never" still works
  run_until([&] { return deadline.expired(); });
}

TEST_F(ConnectionDeadline, StopAndDestructionDetachFromTheSocket) {
  {
    connection_deadline deadline(server_, 10ms);
    deadline.expires_after(20ms);
    deadline.stop();
    deadline.expires_after(20ms);  // ignored once stopped
  }
  {
    connection_deadline deadline(server_, 10ms);
    deadline.expires_after(20ms);
  }  // destroyed with its wait pending: the handler must not touch the socket
  bool checked = false;
  after(200ms, [&] { checked = true; });
  run_until([&] { return checked; });
  EXPECT_TRUE(server_.is_open());
}

}  // namespace
}  // namespace hub::transport
