#pragma once
// Idle footprint: a hub of its own per transport (plain, TLS), devices connected in steps up to
// each --footprint target (0 = as many as the descriptor cap allows), and after each step the hub's
// RSS, the kernel's TCP memory and its slab, printed as they come and returned as rows.

#include <cstddef>
#include <string>
#include <vector>

#include "common.hpp"
#include "options.hpp"

namespace hub::bench {

struct footprint_row {
  std::string transport;
  std::size_t target = 0, connected = 0, failed = 0;
  double seconds = 0;
  long rss_idle_kb = 0, rss_kb = 0;
  long sock_pages_before = 0, sock_pages = 0;
  long slab_before_kb = 0, slab_kb = 0;
  std::string failures;
};

std::size_t descriptor_cap();

std::vector<footprint_row> run_footprint(asio::io_context& ioc, const options& o,
                                         const fs::path& data, const std::vector<std::string>& ids,
                                         const std::vector<std::string>& tokens,
                                         ssl::context& tls_ctx, std::size_t cap_devices);

}  // namespace hub::bench
