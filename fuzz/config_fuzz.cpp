// The `serve` TOML config file (cli/config.hpp, apply_toml then validate): every refusal is a
// usage_error; nothing else may escape.
#include "cli/config.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hub::cli::serve_config cfg;
  try {
    hub::cli::apply_toml(cfg, hub::fuzz::as_view(data, size), "fuzz.toml");
    hub::cli::validate(cfg);
  } catch (const hub::cli::usage_error&) {
  }
  return 0;
}
