#include "codec/json/json_scan.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace hub::codec::json {
namespace {

using namespace std::string_literals;

// ---- reference: a deliberately naive recursive validator, for differential testing ----------
// Written straight from RFC 8259 + Unicode Table 3-7, sharing no code with the scanner.
struct ref {
  std::string_view s;
  std::size_t i = 0;
  unsigned max_depth;

  bool eof() const { return i >= s.size(); }
  unsigned char c() const { return static_cast<unsigned char>(s[i]); }
  void ws() {
    while (!eof() && (c() == ' ' || c() == '\t' || c() == '\n' || c() == '\r')) ++i;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool digits() {
    std::size_t st = i;
    while (!eof() && c() >= '0' && c() <= '9') ++i;
    return i > st;
  }
  bool number() {
    if (!eof() && c() == '-') ++i;
    if (eof()) return false;
    if (c() == '0') {
      ++i;
    } else if (c() >= '1' && c() <= '9') {
      digits();
    } else {
      return false;
    }
    if (!eof() && c() == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (!eof() && (c() == 'e' || c() == 'E')) {
      ++i;
      if (!eof() && (c() == '+' || c() == '-')) ++i;
      if (!digits()) return false;
    }
    return true;
  }
  bool utf8() {
    unsigned b0 = c();
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF)
      n = 1;
    else if (b0 == 0xE0)
      n = 2, lo = 0xA0;
    else if (b0 == 0xED)
      n = 2, hi = 0x9F;
    else if (b0 >= 0xE1 && b0 <= 0xEF)
      n = 2;
    else if (b0 == 0xF0)
      n = 3, lo = 0x90;
    else if (b0 == 0xF4)
      n = 3, hi = 0x8F;
    else if (b0 >= 0xF1 && b0 <= 0xF3)
      n = 3;
    else
      return false;
    ++i;
    for (int k = 0; k < n; ++k, ++i) {
      if (eof() || c() < lo || c() > hi) return false;
      lo = 0x80, hi = 0xBF;
    }
    return true;
  }
  bool string() {
    ++i;
    for (;;) {
      if (eof()) return false;
      unsigned char ch = c();
      if (ch == '"') return ++i, true;
      if (ch < 0x20) return false;
      if (ch == '\\') {
        ++i;
        if (eof()) return false;
        char e = s[i++];
        if (std::string_view("\"\\/bfnrt").find(e) != std::string_view::npos) continue;
        if (e != 'u') return false;
        for (int k = 0; k < 4; ++k, ++i)
          if (eof() || !isxdigit(c())) return false;
        continue;
      }
      if (ch < 0x80) {
        ++i;
        continue;
      }
      if (!utf8()) return false;
    }
  }
  bool value(unsigned depth) {
    ws();
    if (eof()) return false;
    switch (c()) {
      case '{': {
        if (depth >= max_depth) return false;
        ++i;
        ws();
        if (!eof() && c() == '}') return ++i, true;
        for (;;) {
          ws();
          if (eof() || c() != '"' || !string()) return false;
          ws();
          if (eof() || c() != ':') return false;
          ++i;
          if (!value(depth + 1)) return false;
          ws();
          if (eof()) return false;
          if (c() == '}') return ++i, true;
          if (c() != ',') return false;
          ++i;
        }
      }
      case '[': {
        if (depth >= max_depth) return false;
        ++i;
        ws();
        if (!eof() && c() == ']') return ++i, true;
        for (;;) {
          if (!value(depth + 1)) return false;
          ws();
          if (eof()) return false;
          if (c() == ']') return ++i, true;
          if (c() != ',') return false;
          ++i;
        }
      }
      case '"':
        return string();
      case 't':
        return lit("true");
      case 'f':
        return lit("false");
      case 'n':
        return lit("null");
      default:
        return number();
    }
  }
};

bool ref_validate(std::string_view s, unsigned max_depth = default_max_depth) {
  ref r{s, 0, max_depth};
  if (!r.value(0)) return false;
  r.ws();
  return r.eof();
}

std::string nested(unsigned depth, std::string_view open = "[", std::string_view close = "]",
                   std::string_view inner = "") {
  std::string s;
  for (unsigned i = 0; i < depth; ++i) s += open;
  s += inner;
  for (unsigned i = 0; i < depth; ++i) s += close;
  return s;
}

// ---- validate: corpus ---------------------------------------------------------------------------

const std::vector<std::string> valid_corpus = {
    "0",
    "-0",
    "1",
    "-1",
    "123",
    "1.5",
    "-1.5e10",
    "1e5",
    "1E+5",
    "1e-5",
    "0.0",
    "0e0",
    "12345678901234567890123456789",
    "true",
    "false",
    "null",
    "\"\"",
    "\"a\"",
    " \t\r\n1 \t\r\n",
    "[]",
    "{}",
    "[ ]",
    "{ }",
    "[1,2,3]",
    "[1, [2, [3]], {}]",
    R"({"a":1,"b":[true,false,null],"c":{"d":"e"}})",
    R"({"":0})",
    R"("\"\\\/\b\f\n\r\t")",
    R"("\u0000\u00e9\uFFFF")",
    R"("\ud83d\ude00")",
    R"("\ud800")",
    R"("\udc00x")",
    R"("\ud800\ud800")",  // lone surrogates: grammar-valid
    "\"\xC3\xA9\"",
    "\"\xE2\x82\xAC\"",
    "\"\xF0\x9F\x98\x80\"",
    "\"\xEF\xBF\xBF\"",
    "\"\xF4\x8F\xBF\xBF\"",
    "\"\x7F\"",
    R"({"a" : 1 , "b" : 2})",
};

const std::vector<std::string> invalid_corpus = {
    "",
    " ",
    "\n",
    "01",
    "-01",
    "00",
    "-",
    "--1",
    "+1",
    "1.",
    ".5",
    "1.e5",
    "1e",
    "1e+",
    "1E-",
    "0x10",
    "1 2",
    "[1,]",
    "[,1]",
    "[1 2]",
    "{,}",
    R"({"a":1,})",
    R"({"a"})",
    R"({"a":})",
    R"({a:1})",
    "{'a':1}",
    "'a'",
    R"({"a" 1})",
    "[",
    "]",
    "{",
    "}",
    "[}",
    "{]",
    "tru",
    "truex",
    "nul",
    "NULL",
    "True",
    "nan",
    "Infinity",
    "-Infinity",
    R"("\x41")",
    R"("\u12")",
    R"("\u12G4")",
    R"("\U1234")",
    R"("\)",
    "\"abc",
    "\"a\tb\"",
    "\"a\nb\"",
    "\"\x01\"",
    "\"\x1F\"",
    "\"\x80\"",
    "\"\xBF\"",
    "\"\xC0\x80\"",
    "\"\xC1\xBF\"",
    "\"\xE0\x80\x80\"",
    "\"\xE0\x9F\xBF\"",
    "\"\xED\xA0\x80\"",
    "\"\xED\xBF\xBF\"",
    "\"\xF0\x80\x80\x80\"",
    "\"\xF0\x8F\xBF\xBF\"",
    "\"\xF4\x90\x80\x80\"",
    "\"\xF5\x80\x80\x80\"",
    "\"\xFF\"",
    "\"\xC3\"",
    "\"\xE2\x82\"",
    "\"\xF0\x9F\x98\"",
    "\xEF\xBB\xBF{}",  // BOM
    "{}x",
    "[]]",
    "null null",
    "1,",
    "{}{}",
    "\"a\"\"b\"",
    "[1]\x00"s,
    "\x00"s,
    "/*c*/1",
    "1//c",
};

TEST(JsonValidate, ValidCorpus) {
  for (const auto& t : valid_corpus) {
    scan_error e;
    EXPECT_TRUE(validate(t, &e)) << "'" << t << "' at " << e.offset << ": " << e.what;
    EXPECT_TRUE(ref_validate(t)) << t;
  }
}

TEST(JsonValidate, InvalidCorpus) {
  for (const auto& t : invalid_corpus) {
    scan_error e;
    EXPECT_FALSE(validate(t, &e)) << "'" << t << "'";
    EXPECT_LE(e.offset, t.size()) << t;
    EXPECT_FALSE(e.what.empty()) << t;
    EXPECT_FALSE(ref_validate(t)) << t;
  }
}

struct error_case {
  std::string text;
  std::size_t offset;
  scan_errc code;
};

TEST(JsonValidate, ErrorOffsetsAndCodes) {
  const std::vector<error_case> cases = {
      {"", 0, scan_errc::unexpected_end},
      {"   ", 3, scan_errc::unexpected_end},
      {"01", 1, scan_errc::bad_number},
      {"-", 1, scan_errc::unexpected_end},
      {"-a", 1, scan_errc::bad_number},
      {"1.", 2, scan_errc::unexpected_end},
      {"1.x", 2, scan_errc::bad_number},
      {".5", 0, scan_errc::unexpected_char},
      {"1e", 2, scan_errc::unexpected_end},
      {"[1e]", 3, scan_errc::bad_number},
      {R"("\x")", 2, scan_errc::bad_escape},
      {R"("\u12G4")", 5, scan_errc::bad_escape},
      {"\"ab\x01\"", 3, scan_errc::control_char},
      {"\"ab\xC0\x80\"", 3, scan_errc::bad_utf8},
      {"\"ab\xE2\x82x\"", 5, scan_errc::bad_utf8},
      {"\"ab\xE2\x82", 5, scan_errc::bad_utf8},
      {"{} x", 3, scan_errc::trailing_data},
      {"[1 2]", 3, scan_errc::unexpected_char},
      {R"({"a" 1})", 5, scan_errc::unexpected_char},
      {R"({"a":1 "b":2})", 7, scan_errc::unexpected_char},
      {"{1:2}", 1, scan_errc::unexpected_char},
      {"[1,", 3, scan_errc::unexpected_end},
      {"trux", 3, scan_errc::unexpected_char},
      {"tru", 3, scan_errc::unexpected_end},
  };
  for (const auto& c : cases) {
    scan_error e;
    EXPECT_FALSE(validate(c.text, &e)) << c.text;
    EXPECT_EQ(e.offset, c.offset) << c.text << " (" << e.what << ")";
    EXPECT_EQ(e.code, c.code) << c.text << " (" << e.what << ")";
  }
}

TEST(JsonValidate, NullErrorPointerIsFine) {
  EXPECT_FALSE(validate("[", nullptr));
  EXPECT_TRUE(validate("[]", nullptr));
}

TEST(JsonValidate, DepthLimit) {
  EXPECT_TRUE(validate(nested(64)));
  scan_error e;
  EXPECT_FALSE(validate(nested(65), &e));
  EXPECT_EQ(e.code, scan_errc::too_deep);
  EXPECT_EQ(e.offset, 64u);  // the 65th '['
  EXPECT_TRUE(validate(nested(64, "{\"k\":", "}", "1")));
  EXPECT_FALSE(validate(nested(65, "{\"k\":", "}", "1")));
  EXPECT_TRUE(validate(nested(32, "[{\"a\":", "}]", "0")));  // mixed, 64 levels
  EXPECT_FALSE(validate(nested(33, "[{\"a\":", "}]", "0")));
  // Configurable; 0 allows scalars only; clamped at max_depth_limit.
  EXPECT_TRUE(validate("1", nullptr, 0));
  EXPECT_FALSE(validate("[]", nullptr, 0));
  EXPECT_TRUE(validate(nested(3), nullptr, 3));
  EXPECT_FALSE(validate(nested(4), nullptr, 3));
  EXPECT_TRUE(validate(nested(max_depth_limit), nullptr, 100000));
  EXPECT_FALSE(validate(nested(max_depth_limit + 1), nullptr, 100000));
  // Very deep input is refused without recursion (would overflow a recursive parser).
  EXPECT_FALSE(validate(nested(1'000'000)));
  EXPECT_FALSE(validate(std::string(1'000'000, '[')));
}

TEST(JsonValidate, DepthResetsAcrossSiblings) {
  std::string s = "[" + nested(63) + "," + nested(63) + "]";
  EXPECT_TRUE(validate(s));
}

TEST(JsonValidate, HugeStrings) {
  std::string s = "\"" + std::string(8 * 1024 * 1024, 'a') + "\"";
  EXPECT_TRUE(validate(s));
  std::string u = "\"";
  for (int i = 0; i < 200000; ++i) u += "\xE2\x82\xAC\\u00e9";
  u += "\"";
  EXPECT_TRUE(validate(u));
  s.back() = 'a';
  EXPECT_FALSE(validate(s));
}

TEST(JsonValidate, WhitespaceOnlyRfcSet) {
  EXPECT_FALSE(validate("\v1"));
  EXPECT_FALSE(validate("\f1"));
  EXPECT_FALSE(validate("1\xC2\xA0"));  // NBSP is not JSON whitespace
}

// ---- object_members -------------------------------------------------------------------------

TEST(JsonMembers, SpansAreExact) {
  const std::string text =
      " { \"s\" : \"x\\\"y\" , \"n\":-1.5e3,\"o\":{ \"a\" : [1, 2] },\"a\":[ ],\"t\":true,"
      "\"f\":false,\"z\":null } ";
  scan_error e;
  auto m = object_members(text, &e);
  ASSERT_TRUE(m) << e.what << " at " << e.offset;
  ASSERT_EQ(m->size(), 7u);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"s", R"("x\"y")"}, {"n", "-1.5e3"}, {"o", R"({ "a" : [1, 2] })"},
      {"a", "[ ]"},       {"t", "true"},   {"f", "false"},
      {"z", "null"}};
  const std::vector<value_kind> kinds = {value_kind::string, value_kind::number, value_kind::object,
                                         value_kind::array,  value_kind::true_,  value_kind::false_,
                                         value_kind::null};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*m)[i].key, want[i].first);
    EXPECT_EQ((*m)[i].raw, want[i].second);
    EXPECT_EQ((*m)[i].kind, kinds[i]);
    // The span is a view into the input, not a copy.
    EXPECT_GE((*m)[i].raw.data(), text.data());
    EXPECT_LE((*m)[i].raw.data() + (*m)[i].raw.size(), text.data() + text.size());
  }
}

TEST(JsonMembers, EmptyObjectAndKeys) {
  auto m = object_members("{}");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->empty());
  m = object_members(R"({"":1,"a\u0062\n":2,"\ud83d\ude00":3,"\ud800":4})");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].key, "");
  EXPECT_EQ((*m)[1].key, "ab\n");
  EXPECT_EQ((*m)[2].key, "\xF0\x9F\x98\x80");
  EXPECT_EQ((*m)[3].key, "\xEF\xBF\xBD");  // lone surrogate -> U+FFFD
}

TEST(JsonMembers, DuplicatesKeptInOrder) {
  auto m = object_members(R"({"a":1,"a":2})");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].raw, "1");
  EXPECT_EQ((*m)[1].raw, "2");
}

TEST(JsonMembers, NotAnObject) {
  for (std::string t : {"[]", "1", "\"x\"", "null", " true "}) {
    scan_error e;
    EXPECT_FALSE(object_members(t, &e)) << t;
    EXPECT_EQ(e.code, scan_errc::not_an_object) << t;
  }
  scan_error e;
  EXPECT_FALSE(object_members("[1,]", &e));
  EXPECT_NE(e.code, scan_errc::not_an_object);
  EXPECT_FALSE(object_members("", &e));
  EXPECT_EQ(e.code, scan_errc::unexpected_end);
}

TEST(JsonMembers, InvalidObjects) {
  for (std::string t :
       {"{", "{\"a\"", "{\"a\":", "{\"a\":1", "{\"a\":1,", "{\"a\":1,}", "{,}", "{\"a\":1}x",
        "{\"a\":1 \"b\":2}", "{\"a\":[}", "{a:1}", "{\"a\"1}", "{\"a\":01}", "{\"\\x\":1}"}) {
    scan_error e;
    EXPECT_FALSE(object_members(t, &e)) << t;
    EXPECT_NE(e.code, scan_errc::not_an_object) << t;
    EXPECT_FALSE(validate(t)) << t;
  }
}

TEST(JsonMembers, DepthMatchesValidate) {
  // The top-level object is level 1, so the same texts pass both functions.
  const std::string ok = "{\"a\":" + nested(63) + "}";
  const std::string deep = "{\"a\":" + nested(64) + "}";
  EXPECT_TRUE(validate(ok));
  EXPECT_TRUE(object_members(ok));
  EXPECT_FALSE(validate(deep));
  scan_error e;
  EXPECT_FALSE(object_members(deep, &e));
  EXPECT_EQ(e.code, scan_errc::too_deep);
  EXPECT_FALSE(object_members("{}", nullptr, 0));
  EXPECT_TRUE(object_members("{\"a\":1}", nullptr, 1));
  EXPECT_FALSE(object_members("{\"a\":[]}", nullptr, 1));
}

// ---- helpers --------------------------------------------------------------------------------

TEST(JsonUnescape, Strings) {
  EXPECT_EQ(unescape_string(R"("")"), "");
  EXPECT_EQ(unescape_string(R"("abc")"), "abc");
  EXPECT_EQ(unescape_string(R"("\"\\\/\b\f\n\r\t")"), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(unescape_string(R"("\u0041\u00e9\u20AC")"), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(unescape_string(R"("\u0000")"), std::string(1, '\0'));
  EXPECT_EQ(unescape_string(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(unescape_string(R"("\uDBFF\uDFFF")"), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(unescape_string("\"\xC3\xA9\""), "\xC3\xA9");
}

TEST(JsonUnescape, Rejects) {
  for (std::string t : {"",
                        "\"",
                        "abc",
                        "\"abc",
                        "abc\"",
                        "\"a\"b\"",
                        "\"a\" ",
                        " \"a\"",
                        R"("\x")",
                        R"("\u12")",
                        "\"\x01\"",
                        "\"\xC0\x80\"",
                        R"("\ud800")",
                        R"("\udc00")",
                        R"("\ud800x")",
                        R"("\ud800\u0041")",
                        R"("\ude00\ud83d")",
                        R"("\ud83d\ud83d")",
                        "1",
                        "null"}) {
    EXPECT_FALSE(unescape_string(t)) << t;
  }
}

TEST(JsonInteger, Grammar) {
  EXPECT_EQ(as_integer("0"), 0);
  EXPECT_EQ(as_integer("-0"), 0);
  EXPECT_EQ(as_integer("30"), 30);
  EXPECT_EQ(as_integer("-5"), -5);
  EXPECT_EQ(as_integer("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(as_integer("-9223372036854775808"), INT64_MIN);
  for (std::string t : {"", "-", "+1", "01", "-01", "00", "30.0", "3e1", "3E1", "5.5", " 1", "1 ",
                        "1a", "0x1", "9223372036854775808", "-9223372036854775809",
                        "99999999999999999999999", "\"30\"", "true"}) {
    EXPECT_FALSE(as_integer(t)) << t;
  }
}

std::string escaped(std::string_view s) {
  std::string out;
  append_escaped(out, s);
  return out;
}

TEST(JsonEscape, Basics) {
  EXPECT_EQ(escaped(""), R"("")");
  EXPECT_EQ(escaped("abc/def"), R"("abc/def")");
  EXPECT_EQ(escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(escaped("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(escaped(std::string("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(escaped("\xC3\xA9\xF0\x9F\x98\x80"), "\"\xC3\xA9\xF0\x9F\x98\x80\"");
  std::string out = "x=";
  append_escaped(out, "y");
  EXPECT_EQ(out, "x=\"y\"");
}

TEST(JsonEscape, IllFormedUtf8BecomesReplacement) {
  EXPECT_EQ(escaped("a\xFF"
                    "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(escaped("\xC0\x80"), R"("\ufffd\ufffd")");  // C0 is never valid; 80 stray
  EXPECT_EQ(escaped("\xE2\x82"
                    "x"),
            R"("\ufffdx")");                                      // truncated: one maximal subpart
  EXPECT_EQ(escaped("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");  // encoded surrogate
  EXPECT_EQ(escaped("\xF0\x9F\x98"), R"("\ufffd")");
}

TEST(JsonEscape, RoundTrip) {
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(rng() % 40, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng() % 256);
    const std::string lit = escaped(s);
    ASSERT_TRUE(validate(lit)) << lit;
    auto back = unescape_string(lit);
    ASSERT_TRUE(back);
    // Well-formed input (here: ASCII, incl. controls) round-trips exactly; the rest is replaced.
    bool ascii = true;
    for (unsigned char ch : s) ascii = ascii && ch < 0x80;
    if (ascii) {
      EXPECT_EQ(*back, s);
    }
  }
  const std::string utf8 = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \"q\" \\ \x01\x7F";
  EXPECT_EQ(unescape_string(escaped(utf8)), utf8);
}

// ---- randomized differential / mutation test (fixed seed: reproducible) ---------------------

// Plain runs are skipped 16 bytes at a time: a byte that needs a look must be found wherever it
// falls, before, inside or after a block, and the rest of the block must still be checked.
TEST(JsonValidate, SpecialBytesAtEveryOffsetOfALongString) {
  for (std::size_t at = 0; at < 40; ++at) {
    const std::string before(at, 'a');
    const std::string after = std::string(40 - at, 'b') + "\"";
    const std::string open = "\"" + before;
    const std::size_t offset = open.size();
    scan_error e;
    EXPECT_FALSE(validate(open + "\x01" + after, &e)) << at;
    EXPECT_EQ(e.code, scan_errc::control_char) << at;
    EXPECT_EQ(e.offset, offset) << at;
    EXPECT_FALSE(validate(open + "\xFF" + after, &e)) << at;
    EXPECT_EQ(e.code, scan_errc::bad_utf8) << at;
    EXPECT_EQ(e.offset, offset) << at;
    EXPECT_FALSE(validate(open + "\\x" + after, &e)) << at;
    EXPECT_EQ(e.code, scan_errc::bad_escape) << at;
    EXPECT_EQ(e.offset, offset + 1) << at;
    EXPECT_FALSE(validate(open + "\"" + after, &e)) << at;  // the string ends early
    EXPECT_EQ(e.code, scan_errc::trailing_data) << at;
    EXPECT_EQ(e.offset, offset + 1) << at;
    EXPECT_TRUE(validate(open + "\\n\xC3\xA9\x7F" + after)) << at;
    EXPECT_EQ(escaped(before + "\x01" + std::string(40 - at, 'b')),
              "\"" + before + "\\u0001" + std::string(40 - at, 'b') + "\"")
        << at;
  }
}

TEST(JsonFuzz, MutationsAgreeWithReferenceAndNeverCrash) {
  std::mt19937 rng(20240531);
  std::vector<std::string> seeds = valid_corpus;
  seeds.push_back(
      R"({"methodName":"reboot","responseTimeoutInSeconds":30,"payload":{"a":[1,2.5e-3,"x\u00e9"],"b":null}})");
  seeds.push_back("[" + nested(62) + ",\"\xE2\x82\xAC\",-0.1E+2,{\"k\":[true,false]}]");
  const std::string alphabet =
      "{}[]\":,\\ \t\n0123456789-+.eEuatrfsnlx\xC3\xA9\xE2\x82\xAC\xF0\x80\xBF\xED\x01";
  for (const auto& i : invalid_corpus) seeds.push_back(i);

  int agree_valid = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 5) {
        case 0:  // insert
          s.insert(s.begin() + static_cast<long>(pos), alphabet[rng() % alphabet.size()]);
          break;
        case 1:  // delete
          if (pos < s.size()) s.erase(pos, 1);
          break;
        case 2:  // replace with random byte
          if (pos < s.size()) s[pos] = static_cast<char>(rng() % 256);
          break;
        case 3:  // replace from alphabet
          if (pos < s.size()) s[pos] = alphabet[rng() % alphabet.size()];
          break;
        default:  // truncate
          s.resize(pos < s.size() ? pos : s.size());
      }
    }
    const unsigned depth = rng() % 4 == 0 ? rng() % 5 : default_max_depth;
    scan_error e;
    const bool ok = validate(s, &e, depth);
    ASSERT_EQ(ok, ref_validate(s, depth)) << "'" << s << "' depth " << depth;
    if (!ok) {
      ASSERT_LE(e.offset, s.size());
    } else {
      ++agree_valid;
    }
    scan_error me;
    auto members = object_members(s, &me, depth);
    if (members) {
      ASSERT_TRUE(ok) << s;
      for (const auto& m : *members) {
        // Each span is one complete value, one level shallower.
        ASSERT_TRUE(validate(m.raw, nullptr, depth - 1)) << m.raw;
        ASSERT_GE(m.raw.data(), s.data());
        ASSERT_LE(m.raw.data() + m.raw.size(), s.data() + s.size());
        if (m.kind == value_kind::number) (void)as_integer(m.raw);
        if (m.kind == value_kind::string) (void)unescape_string(m.raw);
      }
    } else {
      ASSERT_EQ(me.code == scan_errc::not_an_object, ok) << s;
    }
  }
  EXPECT_GT(agree_valid, 1000);  // the test exercised both outcomes
}

}  // namespace
}  // namespace hub::codec::json
