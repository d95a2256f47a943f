#pragma once
// HTTP/1.1 client pieces: a request with the hub's Authorization header, a response reader
// (Content-Length or chunked, bounded in size) and the bulk device registration of the suite.

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "connection.hpp"

namespace hub::bench {

template <class S>
awaitable<int> read_http_response(S& s, std::string& in, std::string& body) {
  std::size_t he;
  for (int i = 0; (he = in.find("\r\n\r\n")) == std::string::npos; ++i) {
    if (i > 10000 || in.size() > 65536) throw std::runtime_error("HTTP header too long");
    co_await read_more(s, in);
  }
  if (in.compare(0, 5, "HTTP/") != 0 || in.size() < 12)
    throw std::runtime_error("not an HTTP response");
  int status = std::atoi(in.c_str() + 9);
  long length = -1;
  bool chunked = false;
  std::size_t pos = in.find("\r\n") + 2;
  while (pos < he) {
    std::size_t le = in.find("\r\n", pos);
    std::string line = in.substr(pos, le - pos);
    pos = le + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name == "content-length") length = std::atol(line.c_str() + colon + 1);
    if (name == "transfer-encoding" && line.find("chunked") != std::string::npos) chunked = true;
  }
  body.clear();
  std::size_t start = he + 4;
  if (chunked) {
    std::size_t p = start;
    for (int guard = 0; guard < 100000; ++guard) {
      std::size_t le;
      while ((le = in.find("\r\n", p)) == std::string::npos) co_await read_more(s, in);
      std::size_t size = std::strtoul(in.c_str() + p, nullptr, 16);
      std::size_t data = le + 2;
      while (in.size() < data + size + 2) co_await read_more(s, in);
      if (size == 0) {
        in.erase(0, data + 2);
        co_return status;
      }
      body.append(in, data, size);
      p = data + size + 2;
    }
    throw std::runtime_error("too many chunks");
  }
  if (length < 0) length = 0;
  std::size_t need = start + static_cast<std::size_t>(length);
  for (int i = 0; in.size() < need; ++i) {
    if (i > 100000) throw std::runtime_error("HTTP body never completed");
    co_await read_more(s, in);
  }
  body.assign(in, start, static_cast<std::size_t>(length));
  in.erase(0, need);
  co_return status;
}

std::string http_request(std::string_view method, std::string_view target, const std::string& auth,
                         std::string_view body);

double register_devices(asio::io_context& ioc, std::uint16_t http_port, const std::string& auth,
                        const std::vector<std::string>& ids, std::vector<std::string>& keys,
                        int conns);

}  // namespace hub::bench
