#pragma once
// Shared by the fuzz targets: the input as a string_view, and an invariant check that aborts
// (libFuzzer then saves the input as a crash), also in builds with NDEBUG.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#define HUB_FUZZ_CHECK(cond)                                                            \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace hub::fuzz {

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits `in` at the first `sep`: {before, after}; {in, ""} when `sep` is absent.
inline std::pair<std::string_view, std::string_view> split(std::string_view in, char sep) noexcept {
  auto at = in.find(sep);
  if (at == std::string_view::npos) return {in, {}};
  return {in.substr(0, at), in.substr(at + 1)};
}

}  // namespace hub::fuzz
