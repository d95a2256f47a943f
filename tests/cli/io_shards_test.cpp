// io_shards: connections are spread over every shard in turn, each shard runs on a thread of its
// own, and stop() ends run() for all of them, from any shard.

#include "cli/io_shards.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace hub::cli {
namespace {

TEST(io_shards, NextGivesEachShardInTurn) {
  io_shards shards(3);
  ASSERT_EQ(shards.size(), 3u);
  std::set<boost::asio::io_context*> seen;
  for (int i = 0; i < 3; ++i) seen.insert(&shards.next());
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_TRUE(seen.contains(&shards.first()));
  // And round again, in the same order.
  std::vector<boost::asio::io_context*> order, again;
  for (int i = 0; i < 3; ++i) order.push_back(&shards.next());
  for (int i = 0; i < 3; ++i) again.push_back(&shards.next());
  EXPECT_EQ(order, again);
}

TEST(io_shards, AtLeastOneShard) {
  io_shards shards(0);
  EXPECT_EQ(shards.size(), 1u);
  EXPECT_EQ(&shards.next(), &shards.first());
}

TEST(io_shards, EachShardRunsOnAThreadOfItsOwnUntilStopped) {
  io_shards shards(3);
  std::mutex m;
  std::set<std::thread::id> threads;
  std::promise<void> all_ran;
  int ran = 0;
  // One handler per shard records its thread; the last one to run stops them all.
  for (std::size_t i = 0; i < shards.size(); ++i)
    boost::asio::post(shards.next(), [&] {
      std::lock_guard<std::mutex> l(m);
      threads.insert(std::this_thread::get_id());
      if (++ran == 3) shards.stop();
    });
  auto done = std::async(std::launch::async, [&] { shards.run(); });
  // Bounded: without stop() (or with a shard whose thread never started) run() would block.
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(ran, 3);
  EXPECT_EQ(threads.size(), 3u);
}

TEST(io_shards, AShardThatRanOutOfWorkStillRunsWhatComesLater) {
  io_shards shards(2);
  auto* a = &shards.next();
  auto& second = a == &shards.first() ? shards.next() : *a;  // a shard run by a thread of its own
  auto done = std::async(std::launch::async, [&] { shards.run(); });
  // The first handler proves the shard's thread is running; once it returns the shard has
  // nothing to do, as a shard does before its first connection. Without a work guard its run()
  // would return then, and the second handler would never run.
  std::promise<void> first_ran, second_ran;
  boost::asio::post(second, [&] { first_ran.set_value(); });
  ASSERT_EQ(first_ran.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  boost::asio::post(second, [&] { second_ran.set_value(); });
  EXPECT_EQ(second_ran.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  shards.stop();
  EXPECT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

}  // namespace
}  // namespace hub::cli
