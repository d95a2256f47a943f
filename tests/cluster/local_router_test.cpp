// The local router's promises: exactly one answer per call, delivered to the link that serves the
// identity, matched by rid, and answered at once when the link drops or is replaced.

#include "cluster/local/local_router.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <optional>
#include <vector>

namespace hub::cluster {
namespace {

namespace asio = boost::asio;

struct fake_link final : device_link {
  std::vector<std::shared_ptr<const method_request>> delivered;
  std::vector<errc> kicks;
  void deliver(std::shared_ptr<const method_request> r) override {
    delivered.push_back(std::move(r));
  }
  void kick(errc e) override { kicks.push_back(e); }
};

class LocalRouterTest : public ::testing::Test {
 protected:
  asio::io_context ioc;
  local_router::strand_type core{asio::make_strand(ioc)};
  local_router router{core, {3}};
  identity_key dev{"dev1", {}};

  // Routes a call and returns a slot that receives its answer (counting answers).
  struct slot {
    int answers = 0;
    invoke_result result;
  };
  std::shared_ptr<slot> call(identity_key who,
                             std::chrono::seconds connect = std::chrono::seconds(0),
                             std::chrono::seconds response = std::chrono::seconds(30)) {
    auto s = std::make_shared<slot>();
    invoke_request req{std::move(who), "echo", "{\"a\":1}", response, connect};
    asio::post(core, [this, s, req = std::move(req)]() mutable {
      router.route(std::move(req), [s](invoke_result r) {
        ++s->answers;
        s->result = std::move(r);
      });
    });
    drain();
    return s;
  }
  void drain() {
    ioc.restart();
    ioc.poll();
  }
  std::shared_ptr<fake_link> connect(link_id id, bool subscribed = true,
                                     identity_key who = {"dev1", {}}) {
    auto l = std::make_shared<fake_link>();
    router.link_up(who, id, l, subscribed);
    drain();
    return l;
  }
};

TEST_F(LocalRouterTest, OfflineWithoutConnectTimeoutIsAnsweredAtOnce) {
  auto s = call(dev);
  EXPECT_EQ(s->answers, 1);
  EXPECT_EQ(s->result.ec, errc::device_not_online);
}

TEST_F(LocalRouterTest, ConnectedButNotSubscribedIsNotOnline) {
  auto l = connect(1, false);
  auto s = call(dev);
  EXPECT_EQ(s->result.ec, errc::device_not_online);
  EXPECT_TRUE(l->delivered.empty());
}

TEST_F(LocalRouterTest, DeliversAndMatchesTheAnswerByRid) {
  auto l = connect(1);
  auto a = call(dev);
  auto b = call(dev);
  ASSERT_EQ(l->delivered.size(), 2u);
  EXPECT_NE(l->delivered[0]->rid, l->delivered[1]->rid);
  EXPECT_EQ(l->delivered[0]->payload, "{\"a\":1}");
  // Answer in reverse order: each caller gets its own answer.
  router.method_response(1, l->delivered[1]->rid, 201, "\"b\"");
  router.method_response(1, l->delivered[0]->rid, 200, "\"a\"");
  drain();
  EXPECT_EQ(a->answers, 1);
  EXPECT_EQ(a->result.status, 200);
  EXPECT_EQ(a->result.payload, "\"a\"");
  EXPECT_EQ(b->result.status, 201);
  EXPECT_EQ(b->result.payload, "\"b\"");
  EXPECT_EQ(router.pending_calls(), 0u);
}

TEST_F(LocalRouterTest, AnswersFromAnotherLinkOrUnknownRidsAreIgnored) {
  auto l = connect(1);
  auto other = connect(2, true, {"dev2", {}});
  auto a = call(dev);
  ASSERT_EQ(l->delivered.size(), 1u);
  router.method_response(2, l->delivered[0]->rid, 200, "{}");  // dev2 cannot answer dev1's call
  router.method_response(1, "ffffff", 200, "{}");
  router.method_response(1, "not-hex", 200, "{}");
  router.method_response(1, "0" + l->delivered[0]->rid, 200, "{}");  // not the canonical rid
  drain();
  EXPECT_EQ(a->answers, 0);
  router.method_response(1, l->delivered[0]->rid, 200, "{}");
  router.method_response(1, l->delivered[0]->rid, 500, "{}");  // a late duplicate
  drain();
  EXPECT_EQ(a->answers, 1);
  EXPECT_EQ(a->result.status, 200);
}

// 504101: a call with no answer by its response deadline is answered with gateway_timeout, at its
// own deadline even when a call with a later one was delivered before it (the router serves all
// deadlines with one timer, armed for the earliest).
TEST_F(LocalRouterTest, UnansweredCallsTimeOutAtTheirOwnDeadline) {
  using namespace std::chrono_literals;
  auto l = connect(1);
  auto slow = call(dev, 0s, 300s);
  auto fast = call(dev, 0s, 1s);
  auto answered = call(dev, 0s, 1s);
  ASSERT_EQ(l->delivered.size(), 3u);
  router.method_response(1, l->delivered[2]->rid, 200, "{}");
  drain();
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (fast->answers == 0 && std::chrono::steady_clock::now() < give_up) {
    ioc.restart();
    ioc.run_one_for(100ms);
  }
  EXPECT_EQ(fast->answers, 1);
  EXPECT_EQ(fast->result.ec, errc::gateway_timeout);
  EXPECT_EQ(answered->answers, 1);
  EXPECT_EQ(answered->result.ec, errc::ok);
  EXPECT_EQ(slow->answers, 0);
  EXPECT_EQ(router.pending_calls(), 1u);
  // The device's late answer to the timed-out call finds nothing; its slot is free again.
  router.method_response(1, l->delivered[1]->rid, 200, "{}");
  auto again = call(dev, 0s, 1s);
  EXPECT_EQ(l->delivered.size(), 4u);
  EXPECT_EQ(fast->answers, 1);
  router.method_response(1, l->delivered[0]->rid, 200, "{}");
  router.method_response(1, l->delivered[3]->rid, 201, "{}");
  drain();
  EXPECT_EQ(slow->answers, 1);
  EXPECT_EQ(slow->result.ec, errc::ok);
  EXPECT_EQ(again->result.status, 201);
  EXPECT_EQ(router.pending_calls(), 0u);
}

TEST_F(LocalRouterTest, LinkDownAnswersPendingCallsAtOnce) {
  auto l = connect(1);
  auto a = call(dev);
  auto b = call(dev);
  router.link_down(dev, 1);
  drain();
  EXPECT_EQ(a->answers, 1);
  EXPECT_EQ(a->result.ec, errc::device_unavailable);
  EXPECT_EQ(b->result.ec, errc::device_unavailable);
  EXPECT_EQ(router.pending_calls(), 0u);
  EXPECT_EQ(router.connected_links(), 0u);
}

TEST_F(LocalRouterTest, LinkDownNamingAnotherIdentityChangesNothing) {
  auto l = connect(1);
  router.link_down({"dev2", {}}, 1);
  router.methods_subscribed({"dev2", {}}, 1, false);
  drain();
  EXPECT_EQ(router.connected_links(), 1u);
  auto a = call(dev);
  EXPECT_EQ(l->delivered.size(), 1u) << "still the device's link, still listening";
  EXPECT_EQ(a->answers, 0);
}

TEST_F(LocalRouterTest, NewerConnectionKicksTheOlderAndAnswersItsCalls) {
  auto old_link = connect(1);
  auto a = call(dev);
  auto new_link = connect(2);
  EXPECT_EQ(old_link->kicks.size(), 1u);
  EXPECT_EQ(a->answers, 1);
  EXPECT_EQ(a->result.ec, errc::device_unavailable);
  // The old connection reporting itself down later must not remove the new one.
  router.link_down(dev, 1);
  drain();
  auto b = call(dev);
  EXPECT_EQ(new_link->delivered.size(), 1u);
  EXPECT_EQ(b->answers, 0);
}

TEST_F(LocalRouterTest, InflightCapAnswers403800) {
  auto l = connect(1);
  for (int i = 0; i < 3; ++i) call(dev);
  auto fourth = call(dev);
  EXPECT_EQ(fourth->answers, 1);
  EXPECT_EQ(fourth->result.ec, errc::device_max_inflight);
  EXPECT_EQ(l->delivered.size(), 3u);
}

TEST(LocalRouterHubCap, CallsInFlightAndWaitingCountTowardsTheHubCap) {
  asio::io_context ioc;
  local_router::strand_type core{asio::make_strand(ioc)};
  local_router router{core, {100, 2}};
  auto l = std::make_shared<fake_link>();
  router.link_up({"dev1", {}}, 1, l, true);
  std::vector<invoke_result> answers;
  auto route = [&](identity_key who, std::chrono::seconds connect) {
    asio::post(core, [&, who, connect] {
      router.route(invoke_request{who, "m", "null", std::chrono::seconds(30), connect},
                   [&](invoke_result r) { answers.push_back(std::move(r)); });
    });
    ioc.restart();
    ioc.poll();
  };
  route({"dev1", {}}, std::chrono::seconds(0));   // delivered
  route({"dev2", {}}, std::chrono::seconds(30));  // waiting for dev2 to connect
  EXPECT_TRUE(answers.empty());
  EXPECT_EQ(router.inflight_calls(), 2u);
  route({"dev1", {}}, std::chrono::seconds(0));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].ec, errc::hub_max_inflight);
  EXPECT_EQ(l->delivered.size(), 1u);  // refused before delivery
}

TEST_F(LocalRouterTest, WaitingCallIsDeliveredWhenTheDeviceSubscribes) {
  auto a = call(dev, std::chrono::seconds(30));
  EXPECT_EQ(a->answers, 0);
  auto l = connect(1, false);
  EXPECT_TRUE(l->delivered.empty());
  router.methods_subscribed(dev, 1, true);
  drain();
  ASSERT_EQ(l->delivered.size(), 1u);
  router.method_response(1, l->delivered[0]->rid, 200, "null");
  drain();
  EXPECT_EQ(a->answers, 1);
  EXPECT_EQ(a->result.ec, errc::ok);
}

TEST_F(LocalRouterTest, RevokeKicksTheDeviceAndItsModules) {
  auto d = connect(1);
  auto m = connect(2, true, {"dev1", "mod1"});
  auto other = connect(3, true, {"dev10", {}});
  asio::post(core, [this] { router.revoke({"dev1", {}}); });
  drain();
  EXPECT_EQ(d->kicks.size(), 1u);
  EXPECT_EQ(m->kicks.size(), 1u);
  EXPECT_TRUE(other->kicks.empty());
  EXPECT_EQ(router.connected_links(), 1u);
}

TEST_F(LocalRouterTest, ShutDownAnswersEveryCallOnceKicksLinksAndRefusesNewOnes) {
  auto l = connect(1);
  auto pending = call(dev);
  auto waiting = call({"dev2", {}}, std::chrono::seconds(30));
  EXPECT_EQ(router.pending_calls(), 1u);
  EXPECT_EQ(router.waiting_calls(), 1u);
  std::size_t ended = 0;
  asio::post(core, [&] { ended = router.shut_down(errc::service_unavailable); });
  drain();
  EXPECT_EQ(ended, 3u);  // one link, one pending call, one waiting call
  EXPECT_EQ(pending->answers, 1);
  EXPECT_EQ(pending->result.ec, errc::service_unavailable);
  EXPECT_EQ(waiting->answers, 1);
  EXPECT_EQ(waiting->result.ec, errc::service_unavailable);
  EXPECT_EQ(l->kicks, std::vector<errc>{errc::service_unavailable});
  EXPECT_EQ(router.pending_calls(), 0u);
  EXPECT_EQ(router.waiting_calls(), 0u);
  EXPECT_EQ(router.connected_links(), 0u);

  // Afterwards: a late answer changes nothing, new calls are refused, new links kicked.
  router.method_response(1, l->delivered[0]->rid, 200, "{}");
  router.link_down(dev, 1);
  auto late = connect(2);
  EXPECT_EQ(late->kicks, std::vector<errc>{errc::service_unavailable});
  auto refused = call(dev);
  EXPECT_EQ(refused->result.ec, errc::service_unavailable);
  EXPECT_EQ(pending->answers, 1);
  EXPECT_EQ(router.connected_links(), 0u);
}

TEST(Rid, FormatAndParseRoundTrip) {
  for (std::uint64_t n : {1ULL, 15ULL, 16ULL, 0xdeadbeefULL, ~0ULL}) {
    auto s = format_rid(n);
    EXPECT_EQ(parse_rid(s), n);
    EXPECT_EQ(s.find_first_not_of("0123456789abcdef"), std::string::npos);
  }
  EXPECT_FALSE(parse_rid(""));
  EXPECT_FALSE(parse_rid("ABC"));
  EXPECT_FALSE(parse_rid("01"));
  EXPECT_FALSE(parse_rid("12345678901234567"));
}

}  // namespace
}  // namespace hub::cluster
