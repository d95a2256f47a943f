// stop_signals with real signals sent to this process: each one reaches the handler on the
// waiting thread, the handler keeps its state between signals, after stop() none reaches it, and
// before on() a signal kills the process as it would unhandled.

#include "cli/stop_signals.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

namespace hub::cli {
namespace {

struct recorder {
  std::mutex mutex;
  std::vector<int> seen;
  std::thread::id on_thread;

  std::size_t count() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
};

// Polls for `n` recorded signals with a deadline (never a fixed sleep).
bool wait_for(recorder& r, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (r.count() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::size_t threads_in_process() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

bool blocked_here(int sig) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, sig) == 1;
}

TEST(StopSignals, EachSignalReachesTheHandlerOnTheWaitingThreadWithItsState) {
  recorder r;
  stop_signals signals;
  EXPECT_TRUE(blocked_here(SIGTERM));
  EXPECT_TRUE(blocked_here(SIGINT));
  int calls = 0;  // the handler's own state, kept between signals
  signals.on([&r, &calls](int sig) {
    std::lock_guard lock(r.mutex);
    r.seen.push_back(sig * 100 + ++calls);
    r.on_thread = std::this_thread::get_id();
  });
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  ASSERT_TRUE(wait_for(r, 1));
  ASSERT_EQ(kill(getpid(), SIGINT), 0);
  ASSERT_TRUE(wait_for(r, 2));
  signals.stop();
  std::lock_guard lock(r.mutex);
  EXPECT_EQ(r.seen, (std::vector<int>{SIGTERM * 100 + 1, SIGINT * 100 + 2}));
  EXPECT_NE(r.on_thread, std::this_thread::get_id());
}

TEST(StopSignals, AThreadStartedAfterItInheritsTheBlockedSignals) {
  stop_signals signals;
  bool blocked = false;
  std::thread([&] { blocked = blocked_here(SIGTERM) && blocked_here(SIGINT); }).join();
  EXPECT_TRUE(blocked);
}

TEST(StopSignals, AfterStopTheWaitingThreadIsGoneAndStopIsIdempotent) {
  recorder r;
  const auto before = threads_in_process();
  stop_signals signals;
  EXPECT_EQ(threads_in_process(), before + 1);
  signals.on([&r](int sig) {
    std::lock_guard lock(r.mutex);
    r.seen.push_back(sig);
  });
  signals.stop();
  signals.stop();
  // The thread's entry outlives pthread_join for a moment: poll, with a deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (threads_in_process() != before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(threads_in_process(), before);
  // Sent to the process, as a supervisor would: every thread has it blocked, so it stays pending
  // and this thread takes it back, where it cannot reach a later test.
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  const timespec wait_at_most{30, 0};
  EXPECT_EQ(sigtimedwait(&term, nullptr, &wait_at_most), SIGTERM);
  EXPECT_EQ(r.count(), 0u);
}

// Before on(), nothing answers for the hub yet: the signal must do what it would do unhandled.
TEST(StopSignalsDeathTest, BeforeOnASignalEndsTheProcessAsItsDefaultActionWould) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        stop_signals signals;
        kill(getpid(), SIGTERM);
        for (int i = 0; i < 3000; ++i) usleep(10'000);  // 30 s at most, then fail by exiting
        std::exit(0);
      },
      testing::KilledBySignal(SIGTERM), "");
}

}  // namespace
}  // namespace hub::cli
