#pragma once
// The hub's I/O threads: one io_context per thread (a shard), each run by a thread of its own.
// A connection lives on one shard for its whole life, so its completions, its timers and the
// buffers it allocates and frees stay on one thread; work for another connection or for the core
// (on the first shard) crosses over with a post.
//
// Why not one io_context shared by every thread: there, any thread ran any handler, so the
// threads woke each other through the shared queue and freed each other's buffers. With 2
// threads on the benchmark machine, shards cost 6 % less hub CPU per call on average (14
// interleaved pairs, 12 of them lower; issue 6, docs/performance.md "session 10").
//
// Thread safety: next() and stop() may be called from any thread; run() from one.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <memory>
#include <vector>

namespace hub::cli {

class io_shards {
 public:
  /// `count` shards (at least one).
  explicit io_shards(unsigned count);

  /// The first shard: the core strand, the listeners, the signal handling.
  boost::asio::io_context& first() noexcept { return *shards_.front(); }
  /// The shard for a new connection: each in turn.
  boost::asio::io_context& next() noexcept;
  std::size_t size() const noexcept { return shards_.size(); }

  /// Runs every shard, the first on the calling thread and the others on threads of their own
  /// (through run_io), and returns once all have stopped.
  void run();
  /// Stops every shard: run() returns once their current handlers finish.
  void stop();

 private:
  using work_guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> shards_;
  std::vector<work_guard> work_;  // a shard with no connection yet must not return from run()
  std::atomic<std::size_t> next_{0};
};

}  // namespace hub::cli
