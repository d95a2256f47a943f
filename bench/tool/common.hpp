#pragma once
// The names every file of methodhub-bench uses: all of its code lives in hub::bench, with these
// short aliases (asio, ssl, fs, mqtt, tcp, awaitable, use_awaitable, clk).

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <filesystem>

#include "codec/mqtt/packets.hpp"

namespace hub::bench {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace fs = std::filesystem;
namespace mqtt = hub::codec::mqtt;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using clk = std::chrono::steady_clock;

}  // namespace hub::bench
