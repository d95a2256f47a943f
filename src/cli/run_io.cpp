#include "cli/run_io.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace hub::cli {

void run_io(boost::asio::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("unexpected error in a handler (the hub goes on): {}", e.what());
    } catch (...) {
      spdlog::error("unexpected non-standard exception in a handler (the hub goes on)");
    }
  }
}

}  // namespace hub::cli
