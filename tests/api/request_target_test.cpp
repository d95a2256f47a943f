// What routing sees of a request target: decoded segments, api-version, and which targets are
// refused outright (answered 400 by handle_request).

#include "api/request_target.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace hub::api {
namespace {

std::vector<std::string> segments(const request_target& t) {
  return {t.segments.begin(), t.segments.begin() + static_cast<std::ptrdiff_t>(t.count)};
}

TEST(RequestTarget, SegmentsAreDecodedOnceAndPlusStaysPlus) {
  auto t = parse_request_target("/twins/a%2Fb%2541+c/methods?api-version=2021-04-12");
  ASSERT_TRUE(t);
  EXPECT_EQ(segments(*t), (std::vector<std::string>{"twins", "a/b%41+c", "methods"}));
  EXPECT_EQ(t->api_version, "2021-04-12");
  EXPECT_FALSE(t->too_many);
}

TEST(RequestTarget, EmptySegmentsAreKept) {
  EXPECT_EQ(segments(*parse_request_target("/")), std::vector<std::string>{});
  EXPECT_EQ(segments(*parse_request_target("/devices/")),
            (std::vector<std::string>{"devices", ""}));
  EXPECT_EQ(segments(*parse_request_target("//x")), (std::vector<std::string>{"", "x"}));
  // A leading "/./" is no segment (Boost.URL's reading, which routing kept).
  EXPECT_EQ(segments(*parse_request_target("/./")), std::vector<std::string>{""});
  EXPECT_EQ(segments(*parse_request_target("/./a/./b")), (std::vector<std::string>{"a", ".", "b"}));
}

TEST(RequestTarget, ApiVersionIsTheFirstParameterOfThatName) {
  EXPECT_EQ(parse_request_target("/x?a=1&api-version=v%31+2&api-version=3")->api_version, "v1 2");
  EXPECT_EQ(parse_request_target("/x?api-version&api-version=3")->api_version, "");
  EXPECT_EQ(parse_request_target("/x?api%2Dversion=4")->api_version, "4");
  EXPECT_EQ(parse_request_target("/x?API-VERSION=5")->api_version, "");
  EXPECT_EQ(parse_request_target("/x?a=/?b&api-version=6")->api_version, "6");
}

TEST(RequestTarget, DeepPathsAreFlagged) {
  auto t = parse_request_target("/1/2/3/4/5/6/7/8/9");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->too_many);
  EXPECT_EQ(t->count, 9u);
  EXPECT_TRUE(parse_request_target("/1/2/3/4/5/6/7/8/9/10")->too_many);
}

TEST(RequestTarget, WhatIsNotOriginFormIsRefused) {
  for (const char* bad : {"",      "x/y",  "*",      "http://h/x", "/a b",  "/a%",    "/a%4",
                          "/a%zz", "/a#f", "/a?b#c", "/a\"b",      "/a<b>", "/a\\b",  "/a{b}",
                          "/a|b",  "/a^b", "/a`b",   "/\xc3\xa9",  "/a\tb", "/a?b c", "/a?%g0"}) {
    EXPECT_FALSE(parse_request_target(bad)) << bad;
  }
  for (const char* good :
       {"/a-._~!$&'()*+,;=:@b", "/%41%4a%4A", "/a?b=/?:@!$'()*+,;=", "/?", "/a?", "/a?&&="}) {
    EXPECT_TRUE(parse_request_target(good)) << good;
  }
}

}  // namespace
}  // namespace hub::api
