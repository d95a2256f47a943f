// Inputs found by fuzz/config_fuzz.cpp (docs/security.md, "Fuzzing"), kept as regression tests.
#include <gtest/gtest.h>

#include <string_view>

#include "cli/config.hpp"

namespace hub::cli {
namespace {

// toml++ 3.3.0 enters parse_key() on a table header whose first character cannot start a key
// and asserts there (builds with assertions, e.g. header-only) or assumes the impossible
// (NDEBUG; marzer/tomlplusplus#294, fixed upstream by PR #301). Linked against Debian's
// libtomlplusplus.so the parser reports the error; whatever the build, the hub must answer with
// a usage_error that names the file and line, never abort.
TEST(ConfigFuzzRegression, TableHeaderWithoutKeyIsAUsageError) {
  for (std::string_view text : {"[\n", "[&", "[[[1]]]", "[[=", "hostname = \"h\"\n[\n"}) {
    serve_config cfg;
    try {
      apply_toml(cfg, text, "f.toml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const usage_error& e) {
      EXPECT_NE(std::string_view(e.what()).find("f.toml:"), std::string_view::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace hub::cli
