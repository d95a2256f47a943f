// The per-policy token buckets behind 429001 (docs/limits.md): burst, refill, per-name buckets.

#include "core/throttle.hpp"

#include <gtest/gtest.h>

namespace hub {
namespace {

using namespace std::chrono_literals;
const throttle::clock::time_point t0{};

TEST(Throttle, OffByDefault) {
  throttle t;
  EXPECT_FALSE(t.enabled());
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(t.try_take("service", t0));
}

TEST(Throttle, BurstThenRefusedUntilRefilled) {
  throttle t({2, 3});  // 2 per second, bucket of 3
  EXPECT_TRUE(t.try_take("service", t0));
  EXPECT_TRUE(t.try_take("service", t0));
  EXPECT_TRUE(t.try_take("service", t0));
  EXPECT_FALSE(t.try_take("service", t0));
  EXPECT_FALSE(t.try_take("service", t0 + 499ms));  // 0.998 of a token
  EXPECT_TRUE(t.try_take("service", t0 + 500ms));
  EXPECT_FALSE(t.try_take("service", t0 + 500ms));
}

TEST(Throttle, RefillNeverExceedsBurst) {
  throttle t({10, 2});
  EXPECT_TRUE(t.try_take("p", t0));
  EXPECT_TRUE(t.try_take("p", t0 + 1h));
  EXPECT_TRUE(t.try_take("p", t0 + 1h));
  EXPECT_FALSE(t.try_take("p", t0 + 1h));
}

TEST(Throttle, BurstDefaultsToRate) {
  throttle t({3, 0});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t.try_take("p", t0));
  EXPECT_FALSE(t.try_take("p", t0));
}

TEST(Throttle, EachPolicyHasItsOwnBucket) {
  throttle t({1, 1});
  EXPECT_TRUE(t.try_take("service", t0));
  EXPECT_FALSE(t.try_take("service", t0));
  EXPECT_TRUE(t.try_take("iothubowner", t0));
  EXPECT_FALSE(t.try_take("iothubowner", t0));
}

TEST(Throttle, ClockGoingBackAddsNothing) {
  throttle t({1, 1});
  EXPECT_TRUE(t.try_take("p", t0 + 10s));
  EXPECT_FALSE(t.try_take("p", t0 + 5s));
  EXPECT_FALSE(t.try_take("p", t0 + 10s));
  EXPECT_TRUE(t.try_take("p", t0 + 11s));
}

}  // namespace
}  // namespace hub
