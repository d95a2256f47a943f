#include "core/service_token_cache.hpp"

#include <gtest/gtest.h>

#include "codec/sas/sas_token.hpp"

namespace hub {
namespace {

constexpr std::int64_t now = 1'800'000'000;

class ServiceTokenCache : public ::testing::Test {
 protected:
  ServiceTokenCache() : policies_("hub.example") {
    policies_.add({"service", key_, key2_, service_connect});
    policies_.add({"registryRead", key2_, key_, registry_read});
  }
  std::string token(std::string_view policy, std::string_view key, std::int64_t se) {
    return codec::sas::make_token("hub.example", key, se, std::string(policy));
  }
  std::string key_ = "c2VydmljZS1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NQ==";
  std::string key2_ = "b3RoZXIta2V5LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg=";
  policy_set policies_;
};

TEST_F(ServiceTokenCache, AnswersLikeAuthorizeServiceForGoodAndBadTokens) {
  service_token_cache cache;
  const auto good = token("service", key_, now + 3600);
  const auto wrong_key =
      token("service", "d3Jvbmcta2V5LW5vdC1pbi1hbnktcG9saWN5LTAxMjM0NTY=", now + 3600);
  const auto unknown_policy = token("nobody", key_, now + 3600);
  for (int round = 0; round < 2; ++round) {  // the second round is answered from the cache
    for (const auto& t : {good, wrong_key, unknown_policy, std::string("garbage")}) {
      for (unsigned rights : std::initializer_list<unsigned>{service_connect, registry_read,
                                                             service_connect | registry_read}) {
        EXPECT_EQ(cache.authorize(t, rights, policies_, now),
                  authorize_service(t, rights, policies_, now))
            << t << " rights " << rights << " round " << round;
      }
    }
  }
  EXPECT_EQ(cache.size(), 1u) << "only the verified token is remembered";
}

TEST_F(ServiceTokenCache, AnEntryEndsWithItsTokensValidity) {
  service_token_cache cache;
  const auto t = token("service", key_, now + 10);
  EXPECT_EQ(cache.authorize(t, service_connect, policies_, now), errc::ok);
  EXPECT_EQ(cache.authorize(t, service_connect, policies_, token_valid_until(now + 10)), errc::ok);
  EXPECT_EQ(cache.authorize(t, service_connect, policies_, token_valid_until(now + 10) + 1),
            errc::unauthorized);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(ServiceTokenCache, RightsAreCheckedOnEveryHit) {
  service_token_cache cache;
  const auto t = token("registryRead", key2_, now + 3600);
  EXPECT_EQ(cache.authorize(t, registry_read, policies_, now), errc::ok);
  EXPECT_EQ(cache.authorize(t, service_connect, policies_, now), errc::unauthorized);
  EXPECT_EQ(cache.authorize(t, registry_write, policies_, now), errc::unauthorized);
}

// The invoker throttles by policy: the cache names the caller's policy, verified or cached.
TEST_F(ServiceTokenCache, NamesThePolicyOfAnAuthorizedToken) {
  service_token_cache cache;
  const auto t = token("registryRead", key2_, now + 3600);
  for (int round = 0; round < 2; ++round) {
    std::string_view policy;
    EXPECT_EQ(cache.authorize(t, registry_read, policies_, now, &policy), errc::ok);
    EXPECT_EQ(policy, "registryRead") << "round " << round;
  }
  std::string_view untouched = "-";
  EXPECT_EQ(cache.authorize(t, service_connect, policies_, now, &untouched), errc::unauthorized);
  EXPECT_EQ(untouched, "-");
}

TEST_F(ServiceTokenCache, StaysWithinItsCapacity) {
  service_token_cache cache(4);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(
        cache.authorize(token("service", key_, now + 100 + i), service_connect, policies_, now),
        errc::ok);
    EXPECT_LE(cache.size(), 4u);
  }
}

}  // namespace
}  // namespace hub
