// Id rules (DOC-REG): 1..128 characters from a fixed set; modules also allow `+` and `#`.

#include "core/identity.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub {
namespace {

TEST(DeviceId, AcceptsEveryAllowedCharacter) {
  EXPECT_TRUE(valid_device_id("dev1"));
  EXPECT_TRUE(valid_device_id("A-z.0_9%*?!(),:=@$'"));
  EXPECT_TRUE(valid_device_id(std::string(128, 'x')));
}

TEST(DeviceId, RejectsEmptyTooLongAndForbiddenCharacters) {
  EXPECT_FALSE(valid_device_id(""));
  EXPECT_FALSE(valid_device_id(std::string(129, 'x')));
  for (const std::string& bad : std::vector<std::string>{"a b", "a/b", "a+b", "a#b", "a\"b", "a\\b",
                                                         "a{b", "a;b", "é", std::string("a\0b", 3)})
    EXPECT_FALSE(valid_device_id(bad)) << bad;
}

TEST(ModuleId, AllowsPlusAndHashButNotSlash) {
  EXPECT_TRUE(valid_module_id("mod+1#x"));
  EXPECT_FALSE(valid_module_id("mod/1"));
  EXPECT_FALSE(valid_module_id(""));
  EXPECT_FALSE(valid_module_id(std::string(129, 'm')));
}

TEST(IdentityKey, StringFormIsTheMqttClientId) {
  EXPECT_EQ((identity_key{"d", ""}).str(), "d");
  EXPECT_EQ((identity_key{"d", "m"}).str(), "d/m");
  EXPECT_NE(identity_key_hash{}({"ab", "c"}), identity_key_hash{}({"a", "bc"}));
}

}  // namespace
}  // namespace hub
