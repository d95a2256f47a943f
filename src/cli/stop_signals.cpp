#include "cli/stop_signals.hpp"

#include <pthread.h>

#include <csignal>

namespace hub::cli {

namespace {

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

stop_signals::stop_signals() {
  const auto set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  waiter_ = std::thread([this] { wait_loop(); });
}

stop_signals::~stop_signals() {
  stop();
}

void stop_signals::stop() {
  if (!waiter_.joinable()) return;
  stopping_ = true;
  // A thread-directed signal that the waiter has blocked: its sigwait() returns it.
  pthread_kill(waiter_.native_handle(), SIGTERM);
  waiter_.join();
}

void stop_signals::on(std::function<void(int)> handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

void stop_signals::wait_loop() {
  const auto set = stop_set();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;  // only EINVAL, which this set cannot cause
    if (stopping_) return;
    {
      // Called under the lock, not copied: the handler may keep state between signals.
      std::lock_guard lock(mutex_);
      if (handler_) {
        handler_(sig);
        continue;
      }
    }
    // Not serving yet: what the signal would have done without us. Nothing installed a handler
    // for it, so unblocking it here with it re-raised ends the process.
    const auto one = [sig] {
      sigset_t s;
      sigemptyset(&s);
      sigaddset(&s, sig);
      return s;
    }();
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    raise(sig);
  }
}

}  // namespace hub::cli
