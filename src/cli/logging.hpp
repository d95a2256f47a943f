#pragma once
// Process-wide logging set-up: human-readable text, or one JSON object per line.

#include <string_view>

namespace hub::cli {

/// Configures spdlog's default logger on stdout. `format` is "text" or "json"; `level` a spdlog
/// level name. Throws std::invalid_argument for unknown values.
void setup_logging(std::string_view format, std::string_view level);

}  // namespace hub::cli
