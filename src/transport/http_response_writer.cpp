#include "transport/http_response_writer.hpp"

#include <boost/beast/http/status.hpp>
#include <charconv>
#include <ostream>  // Boost 1.81's string_view streams to std::ostream without including it

namespace hub::transport {

namespace {

bool safe(std::string_view s) {
  // Two memchr scans: find_first_of("\r\n") calls one per byte.
  return s.find('\r') == std::string_view::npos && s.find('\n') == std::string_view::npos;
}

void add_header(std::string& out, std::string_view name, std::string_view value) {
  if (!safe(name) || !safe(value)) return;
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_number(std::string& out, std::size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

std::string serialize_response(const api::http_response& res, unsigned version, bool keep_alive) {
  std::string out;
  serialize_response(res, version, keep_alive, out);
  return out;
}

void serialize_response(const api::http_response& res, unsigned version, bool keep_alive,
                        std::string& out) {
  const bool bodiless =
      (res.status >= 100 && res.status < 200) || res.status == 204 || res.status == 304;
  const auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(res.status));
  out.clear();
  out.reserve(160 + (bodiless ? 0 : res.body.size()));
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(out, res.status);
  out.push_back(' ');
  out.append(reason.data(), reason.size()).append("\r\nServer: methodhub\r\n");
  if (!res.content_type.empty()) add_header(out, "Content-Type", res.content_type);
  for (const auto& [name, value] : res.headers) add_header(out, name, value);
  if (!bodiless) {
    out.append("Content-Length: ");
    append_number(out, res.body.size());
    out.append("\r\n");
  }
  if (!keep_alive)
    out.append("Connection: close\r\n");
  else if (version == 10)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  if (!bodiless) out.append(res.body);
}

}  // namespace hub::transport
