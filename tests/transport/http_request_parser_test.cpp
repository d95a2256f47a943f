// http_request_parser: the fields the REST layer reads (first occurrence wins, names in any case),
// Expect: 100-continue, HTTP/1.0 keep-alive, Content-Length and chunked bodies, the limits'
// errors, garbage, input fed a byte at a time, and the WebSocket path keeping every field.

#include "transport/http_request_parser.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>
#include <string>
#include <string_view>

namespace hub::transport {
namespace {

namespace http = boost::beast::http;

// Parses `in` whole (or a byte at a time) with the HTTP session's default limits.
boost::beast::error_code parse(http_request_parser& p, std::string_view in, bool bytewise = false) {
  p.header_limit(16 * 1024);
  p.body_limit(256 * 1024);
  p.eager(true);
  boost::beast::error_code ec;
  std::string pending;
  std::size_t at = 0;
  while (at < in.size() && !p.is_done()) {
    const auto take = bytewise ? 1 : in.size();
    pending.append(in.substr(at, take));
    at += take;
    const auto n = p.put(boost::asio::buffer(pending), ec);
    pending.erase(0, n);
    if (ec == http::error::need_more) {
      ec = {};
      continue;
    }
    if (ec) break;
  }
  return ec;
}

constexpr std::string_view invoke =
    "POST /twins/dev-1/methods?api-version=2021-04-12 HTTP/1.1\r\n"
    "Host: localhost\r\n"
    "authorization: SharedAccessSignature sr=x&sig=y\r\n"
    "AUTHORIZATION: second\r\n"
    "request-id: 42\r\n"
    "If-Match: \"etag\"\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "{\"payload\":1}";

TEST(HttpRequestParser, KeepsTheFieldsTheHubReadsFirstOccurrenceWins) {
  for (bool bytewise : {false, true}) {
    http_request_parser p;
    ASSERT_FALSE(parse(p, invoke, bytewise));
    ASSERT_TRUE(p.is_done());
    const auto& r = p.request();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/twins/dev-1/methods?api-version=2021-04-12");
    EXPECT_EQ(r.authorization, "SharedAccessSignature sr=x&sig=y");
    EXPECT_EQ(r.request_id, "42");
    EXPECT_EQ(r.if_match, "\"etag\"");
    EXPECT_EQ(r.body, "{\"payload\":1}");
    EXPECT_EQ(p.version(), 11u);
    EXPECT_TRUE(p.keep_alive());
    EXPECT_FALSE(p.expects_continue());
    EXPECT_FALSE(p.websocket());
  }
}

TEST(HttpRequestParser, AbsentFieldsAreEmpty) {
  http_request_parser p;
  ASSERT_FALSE(parse(p, "GET /devices HTTP/1.1\r\nX-Other: 1\r\n\r\n"));
  ASSERT_TRUE(p.is_done());
  EXPECT_EQ(p.request().authorization, "");
  EXPECT_EQ(p.request().if_match, "");
  EXPECT_EQ(p.request().request_id, "");
  EXPECT_EQ(p.request().body, "");
}

TEST(HttpRequestParser, ExpectContinueIsSeenBeforeTheBody) {
  http_request_parser p;
  p.eager(false);
  boost::beast::error_code ec;
  const std::string_view head =
      "POST /twins/d/methods HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  p.put(boost::asio::buffer(head), ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(p.is_header_done());
  EXPECT_FALSE(p.is_done());
  EXPECT_TRUE(p.expects_continue());
}

TEST(HttpRequestParser, Http10KeepsAliveOnlyWhenAsked) {
  http_request_parser closes;
  ASSERT_FALSE(parse(closes, "GET /devices HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(closes.version(), 10u);
  EXPECT_FALSE(closes.keep_alive());
  http_request_parser stays;
  ASSERT_FALSE(parse(stays, "GET /devices HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_TRUE(stays.keep_alive());
  http_request_parser closes11;
  ASSERT_FALSE(parse(closes11, "GET /devices HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(closes11.keep_alive());
}

TEST(HttpRequestParser, AssemblesAChunkedBody) {
  http_request_parser p;
  ASSERT_FALSE(parse(p,
                     "POST /twins/d/methods HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5;ext=1\r\n{\"met\r\n3\r\nhod\r\n0\r\n\r\n",
                     true));
  ASSERT_TRUE(p.is_done());
  EXPECT_EQ(p.request().body, "{\"method");
}

TEST(HttpRequestParser, RefusesABodyAboveTheLimitFromItsDeclaredLength) {
  http_request_parser p;
  EXPECT_EQ(parse(p, "POST /twins/d/methods HTTP/1.1\r\nContent-Length: 262145\r\n\r\n"),
            http::error::body_limit);
}

TEST(HttpRequestParser, RefusesAChunkedBodyAboveTheLimit) {
  http_request_parser p;
  EXPECT_EQ(parse(p, "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40001\r\n"),
            http::error::body_limit);
}

TEST(HttpRequestParser, RefusesHeadersAboveTheLimit) {
  http_request_parser p;
  const std::string big = "GET /devices HTTP/1.1\r\nX-Big: " + std::string(17 * 1024, 'a');
  EXPECT_EQ(parse(p, big), http::error::header_limit);
}

TEST(HttpRequestParser, RejectsGarbage) {
  for (std::string_view bad :
       {"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
        "GET /x HTTP/1.1\r\nBad Field: 1\r\n\r\n",
        "POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"}) {
    http_request_parser p;
    EXPECT_TRUE(parse(p, bad)) << bad;
  }
}

TEST(HttpRequestParser, TheWebSocketPathKeepsEveryField) {
  http_request_parser p;
  ASSERT_FALSE(parse(p,
                     "GET /$iothub/websocket?iothub-no-client-cert=true HTTP/1.1\r\n"
                     "Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: mqtt\r\nX-Extra: a\r\nX-Extra: b\r\n\r\n"));
  ASSERT_TRUE(p.websocket());
  const auto& w = p.websocket_request();
  EXPECT_EQ(w.method(), http::verb::get);
  EXPECT_EQ(w.target(), "/$iothub/websocket?iothub-no-client-cert=true");
  EXPECT_EQ(w[http::field::sec_websocket_protocol], "mqtt");
  EXPECT_EQ(w[http::field::sec_websocket_key], "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(w.count("X-Extra"), 2u);
  EXPECT_EQ(std::distance(w.begin(), w.end()), 8);
}

TEST(HttpRequestParser, AnExtensionMethodOnTheWebSocketPathKeepsItsSpelling) {
  http_request_parser p;
  ASSERT_FALSE(parse(p, "FROB /$iothub/websocket HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(p.websocket_request().method(), http::verb::unknown);
  EXPECT_EQ(p.websocket_request().method_string(), "FROB");
  EXPECT_EQ(p.request().method, "FROB");
}

// A keep-alive connection hands each served request to the next parser: nothing of the first may
// show through in the second, which here lacks every optional field; the strings' memory is kept,
// except one past the limit.
TEST(HttpRequestParser, ReusedRequestKeepsCapacityButNoContent) {
  http_request_parser first;
  ASSERT_FALSE(parse(first, invoke));
  auto spent = std::move(first.request());
  spent.policy = "service";
  spent.body.reserve(8192);  // as after a large body
  const auto* target_bytes = spent.target.data();

  http_request_parser second;
  second.reuse(std::move(spent), 4096);
  ASSERT_FALSE(parse(second, "GET /devices/d?api-version=2021-04-12 HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto& r = second.request();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/devices/d?api-version=2021-04-12");
  EXPECT_EQ(r.target.data(), target_bytes);  // written into the first request's string
  EXPECT_EQ(r.authorization, "");
  EXPECT_EQ(r.request_id, "");
  EXPECT_EQ(r.if_match, "");
  EXPECT_EQ(r.body, "");
  EXPECT_LT(r.body.capacity(), 4096u);
  EXPECT_EQ(r.policy, "");
}

}  // namespace
}  // namespace hub::transport
