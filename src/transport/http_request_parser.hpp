#pragma once
// Parses one HTTP/1.1 request straight into the REST layer's api::http_request, keeping only the
// header fields the hub reads.
//
// Beast's request_parser<string_body> stores every field of every request (an allocation and a
// tree insertion each) only for the session to look four of them up and copy them out (issue 6).
// This parser is a Beast basic_parser, so framing stays Beast's: the request line, field syntax,
// Content-Length and chunked bodies, the header and body limits and their errors. A request for
// the WebSocket path keeps every field instead, since the upgrade hands the whole request to
// Beast's WebSocket handshake.
//
// No I/O; never throws on request input (only std::bad_alloc).

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/http_types.hpp"

namespace hub::transport {

class http_request_parser : public boost::beast::http::basic_parser<true> {
 public:
  /// The request, complete once is_done(); for the WebSocket path, only method and target are
  /// filled in here (the rest is in websocket_request()).
  api::http_request& request() { return req_; }
  /// Before parsing: takes over a request already served on the connection, emptied, so that
  /// this one's fields fill the strings' capacity rather than allocate (a parser serves one
  /// request; a keep-alive connection sends many). A string grown past `keep_bytes` is let go,
  /// so one large request does not pin its memory for the connection's life.
  void reuse(api::http_request&& spent, std::size_t keep_bytes = 4096);
  /// HTTP version: 10 or 11.
  unsigned version() const { return version_; }
  /// `Expect: 100-continue` was sent.
  bool expects_continue() const { return expects_continue_; }
  /// The request is for the WebSocket path (known once the request line is parsed).
  bool websocket() const { return websocket_; }
  /// The whole request, every field included: only for the WebSocket path.
  boost::beast::http::request<boost::beast::http::string_body>& websocket_request() {
    return full_;
  }

 private:
  void on_request_impl(boost::beast::http::verb method, boost::beast::string_view method_str,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code&) override {}

  std::string& body() { return websocket_ ? full_.body() : req_.body; }

  api::http_request req_;
  boost::beast::http::request<boost::beast::http::string_body> full_;
  unsigned version_ = 11;
  bool expects_continue_ = false;
  bool websocket_ = false;
  // The first of repeated fields wins, as Beast's fields::find() gave.
  bool seen_authorization_ = false;
  bool seen_if_match_ = false;
  bool seen_request_id_ = false;
  bool seen_expect_ = false;
};

}  // namespace hub::transport
