#include "transport/http_request_parser.hpp"

#include <boost/beast/core/string.hpp>

#include "transport/websocket_upgrade.hpp"

namespace hub::transport {

namespace http = boost::beast::http;
using boost::beast::error_code;
using boost::beast::string_view;

namespace {

std::string_view sv(string_view s) {
  return {s.data(), s.size()};
}

}  // namespace

void http_request_parser::reuse(api::http_request&& spent, std::size_t keep_bytes) {
  static_assert(sizeof(api::http_request) == 6 * sizeof(std::string) + sizeof(std::string_view),
                "a field was added to api::http_request: empty it here too");
  req_ = std::move(spent);
  for (auto* s : {&req_.method, &req_.target, &req_.authorization, &req_.if_match, &req_.request_id,
                  &req_.body}) {
    if (s->capacity() > keep_bytes)
      std::string().swap(*s);
    else
      s->clear();
  }
  req_.policy = {};
}

void http_request_parser::on_request_impl(http::verb method, string_view method_str,
                                          string_view target, int version, error_code&) {
  version_ = static_cast<unsigned>(version);
  req_.method.assign(method_str.data(), method_str.size());
  req_.target.assign(target.data(), target.size());
  websocket_ = is_websocket_path(sv(target));
  if (websocket_) {
    // method(verb::unknown) throws: an extension method is set by its spelling.
    if (method != http::verb::unknown)
      full_.method(method);
    else
      full_.method_string(method_str);
    full_.target(target);
    full_.version(version);
  }
}

void http_request_parser::on_field_impl(http::field name, string_view name_string,
                                        string_view value, error_code&) {
  if (websocket_) {
    full_.insert(name, name_string, value);
    return;
  }
  auto keep_first = [&](bool& seen, std::string& into) {
    if (seen) return;
    seen = true;
    into.assign(value.data(), value.size());
  };
  switch (name) {
    case http::field::authorization:
      keep_first(seen_authorization_, req_.authorization);
      break;
    case http::field::if_match:
      keep_first(seen_if_match_, req_.if_match);
      break;
    case http::field::expect:
      if (!seen_expect_) {
        seen_expect_ = true;
        expects_continue_ = boost::beast::iequals(value, "100-continue");
      }
      break;
    case http::field::unknown:
      if (boost::beast::iequals(name_string, "Request-Id"))
        keep_first(seen_request_id_, req_.request_id);
      break;
    default:
      break;
  }
}

void http_request_parser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                                            error_code&) {
  // basic_parser has already refused a length above the body limit.
  if (content_length) body().reserve(static_cast<std::size_t>(*content_length));
}

std::size_t http_request_parser::on_body_impl(string_view piece, error_code&) {
  body().append(piece.data(), piece.size());
  return piece.size();
}

std::size_t http_request_parser::on_chunk_body_impl(std::uint64_t, string_view piece, error_code&) {
  body().append(piece.data(), piece.size());
  return piece.size();
}

}  // namespace hub::transport
