// mqtt_session_store: persistent sessions resume, clean ones end, an owner that was taken over
// changes nothing, and a deleted identity's session ends with it (a device's takes its
// modules' along).

#include "transport/mqtt_session_store.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace hub::transport {
namespace {

mqtt_session_store::filter_set filters(std::vector<std::string> f) {
  return std::make_shared<const std::vector<std::string>>(std::move(f));
}

const identity_key dev1{"dev1", {}};
const identity_key dev1_mod{"dev1", "mod"};
const identity_key dev10{"dev10", {}};

// Opens a persistent session for `who` (owner `id`), subscribes, and closes it.
void persist(mqtt_session_store& s, const identity_key& who, link_id id) {
  s.open(who, id, false);
  s.update(who, id, filters({"$iothub/methods/POST/#"}));
  s.close(who, id, false);
}

TEST(MqttSessionStore, APersistentSessionResumesWithItsFilters) {
  mqtt_session_store s;
  persist(s, dev1, 1);
  auto [f, present] = s.open(dev1, 2, false);
  EXPECT_TRUE(present);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, std::vector<std::string>{"$iothub/methods/POST/#"});
}

TEST(MqttSessionStore, ACleanSessionEndsWithItsConnection) {
  mqtt_session_store s;
  s.open(dev1, 1, true);
  s.update(dev1, 1, filters({"$iothub/methods/POST/#"}));
  s.close(dev1, 1, true);
  EXPECT_EQ(s.size(), 0u);
  auto [f, present] = s.open(dev1, 2, false);
  EXPECT_FALSE(present);
  EXPECT_FALSE(f);
}

TEST(MqttSessionStore, AnOwnerTakenOverChangesNothing) {
  mqtt_session_store s;
  s.open(dev1, 1, false);
  s.open(dev1, 2, false);  // a newer connection of the same identity
  s.update(dev1, 1, filters({"stale"}));
  s.close(dev1, 1, true);
  EXPECT_EQ(s.size(), 1u);
  auto [f, present] = s.open(dev1, 3, false);
  EXPECT_TRUE(present);
  EXPECT_FALSE(f) << "the old owner's update was applied";
}

TEST(MqttSessionStore, ForgettingADeviceEndsItsAndItsModulesSessionsOnly) {
  mqtt_session_store s;
  persist(s, dev1, 1);
  persist(s, dev1_mod, 2);
  persist(s, dev10, 3);  // same prefix, another device
  s.forget(dev1);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_FALSE(s.open(dev1, 4, false).second);
  EXPECT_FALSE(s.open(dev1_mod, 5, false).second);
  EXPECT_TRUE(s.open(dev10, 6, false).second);
}

TEST(MqttSessionStore, ForgettingAModuleLeavesItsDevice) {
  mqtt_session_store s;
  persist(s, dev1, 1);
  persist(s, dev1_mod, 2);
  s.forget(dev1_mod);
  EXPECT_TRUE(s.open(dev1, 3, false).second);
  EXPECT_FALSE(s.open(dev1_mod, 4, false).second);
}

TEST(MqttSessionStore, AConnectionOfAForgottenIdentityFindsNothingToUpdateOrClose) {
  mqtt_session_store s;
  s.open(dev1, 1, false);
  s.forget(dev1);
  s.update(dev1, 1, filters({"$iothub/methods/POST/#"}));
  s.close(dev1, 1, false);
  EXPECT_EQ(s.size(), 0u);
}

}  // namespace
}  // namespace hub::transport
