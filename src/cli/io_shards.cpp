#include "cli/io_shards.hpp"

#include <algorithm>
#include <thread>

#include "cli/run_io.hpp"

namespace hub::cli {

io_shards::io_shards(unsigned count) {
  count = std::max(count, 1u);
  for (unsigned i = 0; i < count; ++i) {
    // Concurrency hint 1: one thread runs each shard, so Asio may queue the handlers a shard
    // posts to itself without waking anyone (other threads' posts still lock).
    shards_.push_back(std::make_unique<boost::asio::io_context>(1));
    work_.push_back(boost::asio::make_work_guard(*shards_.back()));
  }
}

boost::asio::io_context& io_shards::next() noexcept {
  return *shards_[next_.fetch_add(1, std::memory_order_relaxed) % shards_.size()];
}

void io_shards::run() {
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < shards_.size(); ++i)
    threads.emplace_back([&ioc = *shards_[i]] { run_io(ioc); });
  run_io(*shards_.front());
  for (auto& t : threads) t.join();
}

void io_shards::stop() {
  for (auto& s : shards_) s->stop();
}

}  // namespace hub::cli
