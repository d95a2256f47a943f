// The registry cache in front of the SQLite store under real threads, as the hub runs it: an
// io_context on several threads, the cache on the core strand, writes on the store worker, and
// callers (HTTP sessions, device handshakes) on their own strands. Gives ThreadSanitizer (tsan
// preset) every hand-off to look at: caller -> store worker -> core strand -> caller, with
// complete_on_own_executor. Checks each caller hears once, on its own strand, and reads its writes.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/registry.hpp"
#include "store/sqlite/sqlite_registry.hpp"

namespace hub {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

store::identity_record device(std::string id) {
  store::identity_record r;
  r.key.device_id = std::move(id);
  r.primary_key = "cHJpbWFyeWtleXByaW1hcnlrZXk=";
  r.secondary_key = "c2Vjb25kYXJ5a2V5c2Vjb25kYXJ5";
  r.status_updated_time = "0001-01-01T00:00:00Z";
  return r;
}

TEST(RegistryThreads, CallersOnManyStrandsReadTheirOwnWrites) {
  constexpr int threads = 4;
  constexpr int callers = 4;
  constexpr int devices_per_caller = 12;

  const fs::path dir =
      fs::temp_directory_path() / ("registry_threads_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);

  asio::io_context ioc(threads);
  auto work = asio::make_work_guard(ioc);
  auto core = asio::make_strand(ioc);
  std::atomic<int> revoked{0};
  {
    registry reg(core, store::sqlite_registry::open(dir / "registry.db"));
    reg.on_revoked([&](const identity_key&) { revoked.fetch_add(1); });

    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });

    // Each caller, on its own strand, walks its devices through create, read, update (etag),
    // read, delete, read; one step per completion, like a REST client on one connection.
    struct caller_state {
      explicit caller_state(asio::strand<asio::io_context::executor_type> s) : strand(s) {}
      asio::strand<asio::io_context::executor_type> strand;
      int device = 0;
      int failures = 0;
      int off_strand = 0;
      std::promise<void> done;
    };
    std::vector<std::shared_ptr<caller_state>> states;
    for (int c = 0; c < callers; ++c)
      states.push_back(std::make_shared<caller_state>(asio::make_strand(ioc)));

    struct walker {
      registry& reg;
      std::shared_ptr<caller_state> st;
      int caller;
      std::string id() const {
        return "c" + std::to_string(caller) + "-d" + std::to_string(st->device);
      }
      void check(bool ok) const {
        if (!ok) ++st->failures;
        if (!st->strand.running_in_this_thread()) ++st->off_strand;
      }
      void next() const {
        if (st->device == devices_per_caller) return st->done.set_value();
        reg.async_put(
            device(id()), "",
            asio::bind_executor(st->strand, [w = *this](store::write_result r,
                                                        std::optional<registry::record> rec) {
              w.check(r == store::write_result::ok && rec && !rec->etag.empty());
              w.read_then_update(rec ? rec->etag : "");
            }));
      }
      void read_then_update(std::string etag) const {
        reg.async_find(
            {id(), {}},
            asio::bind_executor(st->strand, [w = *this, etag](std::optional<registry::record> rec) {
              w.check(rec && rec->etag == etag);
              auto upd = device(w.id());
              upd.enabled = false;  // a revocation, reported on the core strand
              w.reg.async_put(upd, etag,
                              asio::bind_executor(
                                  w.st->strand, [w](store::write_result r,
                                                    std::optional<registry::record> rec2) mutable {
                                    w.check(r == store::write_result::ok && rec2 && !rec2->enabled);
                                    w.remove();
                                  }));
            }));
      }
      void remove() const {
        reg.async_remove(
            {id(), {}}, "*",
            asio::bind_executor(st->strand, [w = *this](store::write_result r,
                                                        std::optional<registry::record>) {
              w.check(r == store::write_result::ok);
              w.reg.async_find({w.id(), {}},
                               asio::bind_executor(
                                   w.st->strand, [w](std::optional<registry::record> rec) mutable {
                                     w.check(!rec);
                                     ++w.st->device;
                                     w.next();
                                   }));
            }));
      }
    };

    // Metrics-style reads on the core strand, concurrently with the writes.
    std::atomic<bool> stop_reading{false};
    std::thread reader([&] {
      while (!stop_reading.load()) {
        std::promise<std::size_t> n;
        reg.async_read<std::size_t>([](registry& r) { return r.size(); },
                                    [&](std::size_t v) { n.set_value(v); });
        EXPECT_LE(n.get_future().get(), static_cast<std::size_t>(callers));
      }
    });

    for (int c = 0; c < callers; ++c)
      asio::post(states[c]->strand, [w = walker{reg, states[c], c}]() mutable { w.next(); });
    for (auto& st : states) {
      auto f = st->done.get_future();
      ASSERT_EQ(f.wait_for(std::chrono::seconds(120)), std::future_status::ready);
    }
    stop_reading = true;
    reader.join();
    work.reset();
    for (auto& t : pool) t.join();

    for (int c = 0; c < callers; ++c) {
      EXPECT_EQ(states[c]->failures, 0) << "caller " << c;
      EXPECT_EQ(states[c]->off_strand, 0) << "caller " << c;
    }
    EXPECT_EQ(reg.size(), 0u);
  }
  // Each device revoked twice: disabled, then deleted.
  EXPECT_EQ(revoked.load(), 2 * callers * devices_per_caller);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hub
