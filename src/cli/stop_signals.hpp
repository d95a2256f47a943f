#pragma once
// SIGINT and SIGTERM, taken synchronously by one thread of their own.
//
// Why not an asynchronous handler (asio::signal_set): a handler runs on whichever thread the
// kernel picks, and under ThreadSanitizer it is deferred until that thread next enters an
// intercepted call. A TSan-built hub was seen to sit idle for 20 s after SIGTERM without its
// handler ever running. Blocking both signals in every thread and taking them with sigwait() on a
// dedicated thread involves no handler at all: the signal stays pending until that thread takes it.
// (A blocked mask survives exec: a child process the hub might start one day would have to
// unblock both signals first. It starts none today.)

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

namespace hub::cli {

class stop_signals {
 public:
  /// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts from now
  /// on: construct it before any other thread exists. Starts the waiting thread. Until on() is
  /// called, either signal ends the process as its default action would.
  stop_signals();

  /// stop().
  ~stop_signals();

  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  /// From now on, each SIGINT or SIGTERM calls handler(signal number) on the waiting thread, so
  /// the handler must only do thread-safe things (post to an io_context, stop it).
  void on(std::function<void(int)> handler);

  /// Stops the waiting thread; after it returns, the handler is never called again. Every thread
  /// keeps both signals blocked: one that arrives now, while the process winds down, is left
  /// pending instead of killing it. Idempotent.
  void stop();

 private:
  void wait_loop();

  std::mutex mutex_;
  std::function<void(int)> handler_;
  std::atomic<bool> stopping_{false};
  std::thread waiter_;
};

}  // namespace hub::cli
