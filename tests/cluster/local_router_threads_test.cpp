// The local router under real threads, as the hub runs it: one io_context on several threads,
// the router on the core strand, each device link and each caller on its own strand, presence
// reported from any thread. Single-threaded tests (local_router_test.cpp) check the promises;
// this one gives ThreadSanitizer (tsan preset) the hand-offs to look at, and checks that every
// call still gets exactly one answer, on its caller's strand.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/local/local_router.hpp"

namespace hub::cluster {
namespace {

namespace asio = boost::asio;
using strand_type = local_router::strand_type;

// A device that echoes every request from its own strand, as an MQTT or AMQP session would.
struct echo_link final : device_link, std::enable_shared_from_this<echo_link> {
  echo_link(strand_type s, presence& p, identity_key w, link_id i)
      : strand(std::move(s)), router(p), who(std::move(w)), id(i) {}
  void deliver(std::shared_ptr<const method_request> r) override {
    asio::post(strand, [self = shared_from_this(), r = std::move(r)] {
      if (self->closed) return;
      self->router.method_response(self->id, r->rid, 200, r->payload);
    });
  }
  void kick(errc) override {
    asio::post(strand, [self = shared_from_this()] {
      if (self->closed) return;
      self->closed = true;
      self->router.link_down(self->who, self->id);
    });
  }
  strand_type strand;
  presence& router;
  identity_key who;
  link_id id;
  bool closed = false;  // own strand only
};

struct call_slot {
  std::atomic<int> answers{0};
  invoke_result result;  // written by the one answer, read after every call was answered
  bool on_caller_strand = false;
};

TEST(LocalRouterThreads, EveryCallAnsweredOnceWhileLinksComeAndGo) {
  constexpr int threads = 4;
  constexpr int callers = 4;
  constexpr int calls_per_caller = 150;
  constexpr int stable_devices = 3;  // always connected: every call to them must succeed
  constexpr int churn_rounds = 60;   // device "flaky" reconnects this often meanwhile

  asio::io_context ioc(threads);
  auto work = asio::make_work_guard(ioc);
  strand_type core = asio::make_strand(ioc);
  local_router router(core, {100000});

  std::vector<std::shared_ptr<echo_link>> stable;
  for (int d = 0; d < stable_devices; ++d) {
    identity_key who{"dev" + std::to_string(d), {}};
    auto l = std::make_shared<echo_link>(asio::make_strand(ioc), router, who, next_link_id());
    router.link_up(who, l->id, l, true);
    stable.push_back(l);
  }

  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });

  const int total = callers * calls_per_caller;
  std::atomic<int> remaining{total};
  std::promise<void> all_answered;
  std::vector<std::shared_ptr<call_slot>> slots(total);
  for (auto& s : slots) s = std::make_shared<call_slot>();

  // The flaky device: a plain thread connects, subscribes and drops it, like sessions would.
  std::thread churn([&] {
    const identity_key flaky{"flaky", {}};
    std::shared_ptr<echo_link> last;
    for (int round = 0; round < churn_rounds; ++round) {
      auto l = std::make_shared<echo_link>(asio::make_strand(ioc), router, flaky, next_link_id());
      router.link_up(flaky, l->id, l, round % 2 == 0);
      if (round % 2 == 1) router.methods_subscribed(flaky, l->id, true);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      if (round % 3 == 0) router.link_down(flaky, l->id);
      last = std::move(l);
    }
    if (last) router.link_down(flaky, last->id);
  });

  // Callers, each on its own strand (an HTTP session's), route onto the core strand.
  std::vector<std::thread> starters;
  for (int c = 0; c < callers; ++c) {
    starters.emplace_back([&, c] {
      auto caller = asio::make_strand(ioc);
      for (int i = 0; i < calls_per_caller; ++i) {
        const int n = c * calls_per_caller + i;
        const bool to_flaky = n % 5 == 0;
        invoke_request req{{to_flaky ? "flaky" : "dev" + std::to_string(n % stable_devices), {}},
                           "echo",
                           std::to_string(n),
                           std::chrono::seconds(30),
                           std::chrono::seconds(to_flaky ? 1 : 0)};
        auto slot = slots[n];
        asio::post(core, [&, caller, slot, req = std::move(req)]() mutable {
          router.route(std::move(req),
                       asio::bind_executor(caller, [&, caller, slot](invoke_result r) {
                         slot->on_caller_strand = caller.running_in_this_thread();
                         slot->result = std::move(r);
                         if (slot->answers.fetch_add(1) == 0 && remaining.fetch_sub(1) == 1)
                           all_answered.set_value();
                       }));
        });
      }
    });
  }
  for (auto& t : starters) t.join();
  churn.join();

  // Metrics read the counters on the core strand while calls finish.
  std::promise<std::size_t> links;
  asio::post(core, [&] { links.set_value(router.connected_links()); });
  EXPECT_LE(links.get_future().get(), static_cast<std::size_t>(stable_devices + 1));

  auto done = all_answered.get_future();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << remaining.load() << " calls still unanswered";

  for (auto& l : stable) router.link_down(l->who, l->id);
  std::promise<std::size_t> pending;
  asio::post(core, [&] { pending.set_value(router.pending_calls()); });
  EXPECT_EQ(pending.get_future().get(), 0u);
  work.reset();
  for (auto& t : pool) t.join();

  for (int n = 0; n < total; ++n) {
    const auto& s = *slots[n];
    EXPECT_EQ(s.answers.load(), 1) << "call " << n;
    EXPECT_TRUE(s.on_caller_strand) << "call " << n;
    if (n % 5 == 0) {
      EXPECT_TRUE(s.result.ec == errc::ok || s.result.ec == errc::device_unavailable ||
                  s.result.ec == errc::device_not_online)
          << "call " << n << ": " << static_cast<int>(s.result.ec);
    } else {
      EXPECT_EQ(s.result.ec, errc::ok) << "call " << n;
      EXPECT_EQ(s.result.status, 200) << "call " << n;
      EXPECT_EQ(s.result.payload, std::to_string(n)) << "call " << n;
    }
  }
}

}  // namespace
}  // namespace hub::cluster
