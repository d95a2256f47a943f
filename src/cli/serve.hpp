#pragma once
// `methodhub serve`: builds the hub from its configuration, runs it until SIGINT/SIGTERM.

#include "cli/serve_config.hpp"

namespace hub::cli {

/// Runs the hub in the foreground. Returns the process exit code (0 after a clean shutdown).
/// Throws std::runtime_error for start-up failures (bad TLS files, unbindable port, bad data dir).
int run_serve(const serve_config& cfg);

}  // namespace hub::cli
