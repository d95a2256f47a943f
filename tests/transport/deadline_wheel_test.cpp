// deadline_wheel on a real io_context with a 2 ms tick: an entry is due never before its time;
// a rescheduled or cancelled one is not due at its old time; entries beyond a revolution wait
// for theirs; an emptied wheel lets the io_context run out of work; one destroyed with the
// io_context while still in the wheel is never touched. Only lower bounds on time are asserted
// (a slow machine can delay a tick, never hasten one); upper bounds are generous deadlines.

#include "transport/deadline_wheel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace hub::transport {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr auto tick = 2ms;

// An entry that records when the wheel found it due (on_due runs under the wheel's lock).
struct probe final : deadline_wheel::entry {
  explicit probe(deadline_wheel& w) : wheel(w) {}
  ~probe() { wheel.cancel(*this); }
  void on_due() noexcept override {
    due_at.push_back(clock::now());
    if (on_fire) on_fire();
  }
  deadline_wheel& wheel;
  std::vector<clock::time_point> due_at;
  std::function<void()> on_fire;
};

class DeadlineWheel : public ::testing::Test {
 protected:
  // Runs the loop until `done()` holds, for at most 30 s; fails the test on the deadline.
  void run_until(const std::function<bool()>& done) {
    const auto limit = clock::now() + 30s;
    while (!done() && clock::now() < limit) {
      io_.restart();
      io_.run_for(5ms);
    }
    ASSERT_TRUE(done()) << "condition not reached within 30 s";
  }
  // Runs the loop for `d` (at least).
  void run_for(clock::duration d) {
    const auto until = clock::now() + d;
    while (clock::now() < until) {
      io_.restart();
      io_.run_until(until);
    }
  }

  asio::io_context io_;
  deadline_wheel& wheel_ = deadline_wheel::install(io_, tick);
};

TEST_F(DeadlineWheel, AnEntryIsDueAtItsTimeNeverBefore) {
  probe p(wheel_);
  const auto due = clock::now() + 55ms;
  wheel_.schedule(p, due);
  EXPECT_EQ(wheel_.size(), 1u);
  run_until([&] { return !p.due_at.empty(); });
  ASSERT_EQ(p.due_at.size(), 1u);
  EXPECT_GE(p.due_at[0], due);
  EXPECT_EQ(wheel_.size(), 0u) << "a due entry leaves the wheel";
  run_for(50ms);
  EXPECT_EQ(p.due_at.size(), 1u) << "due once";
}

TEST_F(DeadlineWheel, APastDueTimeIsDueAtTheNextTick) {
  probe p(wheel_);
  wheel_.schedule(p, clock::now() - 1s);
  run_until([&] { return !p.due_at.empty(); });
  EXPECT_EQ(p.due_at.size(), 1u);
}

TEST_F(DeadlineWheel, ScheduleAgainReplacesTheDueTimeEitherWay) {
  probe later(wheel_);
  probe sooner(wheel_);
  const auto start = clock::now();
  wheel_.schedule(later, start + 30ms);
  wheel_.schedule(later, start + 300ms);
  wheel_.schedule(sooner, start + 5s);
  wheel_.schedule(sooner, start + 30ms);
  EXPECT_EQ(wheel_.size(), 2u);
  run_until([&] { return !later.due_at.empty(); });
  ASSERT_EQ(sooner.due_at.size(), 1u);
  EXPECT_GE(sooner.due_at[0], start + 30ms);
  ASSERT_EQ(later.due_at.size(), 1u);
  EXPECT_GE(later.due_at[0], start + 300ms) << "due at the time it was moved away from";
}

TEST_F(DeadlineWheel, ACancelledEntryIsNeverDue) {
  probe p(wheel_);
  probe witness(wheel_);
  wheel_.schedule(p, clock::now() + 20ms);
  wheel_.schedule(witness, clock::now() + 100ms);
  wheel_.cancel(p);
  wheel_.cancel(p);  // twice: harmless
  run_until([&] { return !witness.due_at.empty(); });
  EXPECT_TRUE(p.due_at.empty());
}

TEST_F(DeadlineWheel, TimePointMaxMeansNotInTheWheel) {
  probe p(wheel_);
  wheel_.schedule(p, clock::now() + 20ms);
  wheel_.schedule(p, clock::time_point::max());
  EXPECT_EQ(wheel_.size(), 0u);
}

TEST_F(DeadlineWheel, EntriesBeyondARevolutionWaitForTheirTurn) {
  // 512 slots of 2 ms: 1.024 s per revolution. One due a revolution after one due in 80 ms
  // shares its slot; the first sweep of that slot must leave it.
  probe near(wheel_);
  probe far(wheel_);
  const auto start = clock::now();
  wheel_.schedule(far, start + tick * deadline_wheel::slots + 80ms);
  wheel_.schedule(near, start + 80ms);
  run_until([&] { return !far.due_at.empty(); });
  ASSERT_EQ(near.due_at.size(), 1u);
  ASSERT_EQ(far.due_at.size(), 1u);
  EXPECT_GE(far.due_at[0], start + tick * deadline_wheel::slots + 80ms);
}

TEST_F(DeadlineWheel, ManyEntriesAreEachDueOnce) {
  std::vector<std::unique_ptr<probe>> ps;
  const auto start = clock::now();
  for (int i = 0; i < 1000; ++i) {
    ps.push_back(std::make_unique<probe>(wheel_));
    wheel_.schedule(*ps.back(), start + std::chrono::milliseconds(i % 200));
  }
  run_until([&] { return wheel_.size() == 0; });
  run_for(30ms);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(ps[i]->due_at.size(), 1u) << i;
    EXPECT_GE(ps[i]->due_at[0], start + std::chrono::milliseconds(i % 200)) << i;
  }
}

TEST_F(DeadlineWheel, AnEmptiedWheelLetsTheIoContextRunOutOfWork) {
  probe p(wheel_);
  wheel_.schedule(p, clock::now() + 1h);
  wheel_.cancel(p);
  // run() returns only when no work is left: the wheel's pending wait must be gone.
  std::atomic<bool> returned{false};
  std::thread runner([&] {
    io_.restart();
    io_.run();
    returned = true;
  });
  const auto limit = clock::now() + 10s;
  while (!returned && clock::now() < limit) std::this_thread::sleep_for(1ms);
  if (!returned) io_.stop();
  runner.join();
  EXPECT_TRUE(returned) << "an empty wheel kept the io_context busy";
}

TEST_F(DeadlineWheel, ScheduledAfterTheWheelEmptiedStillComesDue) {
  probe a(wheel_);
  probe b(wheel_);
  wheel_.schedule(a, clock::now() + 1h);
  wheel_.cancel(a);  // cancels the wait; its handler has not run yet
  wheel_.schedule(b, clock::now() + 20ms);
  run_until([&] { return !b.due_at.empty(); });
}

TEST(DeadlineWheelLifetime, EntriesOutliveTheIoContextsShutdownSafely) {
  // Owners destroyed while the io_context destroys its handlers (after every service's
  // shutdown) still cancel their entries: the wheel must exist then, and never fire them.
  auto io = std::make_unique<asio::io_context>();
  auto& wheel = deadline_wheel::install(*io, tick);
  auto p = std::make_shared<probe>(wheel);
  wheel.schedule(*p, clock::now() + 1h);
  // A pending handler owns the probe: destroying the io_context destroys it, unrun.
  asio::post(*io, [p = std::move(p)] {});
  io.reset();
  SUCCEED();
}

}  // namespace
}  // namespace hub::transport
