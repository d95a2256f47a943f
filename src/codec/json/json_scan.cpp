#include "codec/json/json_scan.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hub::codec::json {
namespace {

using byte = unsigned char;

// Bytes that may appear unescaped in a string and need no further look: printable ASCII other
// than `"` and `\`. One table lookup per byte keeps the hot loop branch-light.
constexpr std::array<bool, 256> plain_string_byte = [] {
  std::array<bool, 256> t{};
  for (unsigned c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// The first byte in [p, end) that is not a plain_string_byte, or end. Payloads are mostly long
// runs of plain bytes, scanned here 16 at a time where SSE2 is there (every x86-64): a byte is
// plain when it is neither `"` nor `\` and, as a signed byte, at least 0x20 (which leaves out
// the control characters and every byte from 0x80). The table finishes the tail.
inline const byte* skip_plain(const byte* p, const byte* end) noexcept {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmplt_epi8(v, space));
    if (const int mask = _mm_movemask_epi8(special); mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  while (p != end && plain_string_byte[*p]) ++p;
  return p;
}

constexpr bool is_ws(byte c) noexcept {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}
constexpr bool is_digit(byte c) noexcept {
  return c >= '0' && c <= '9';
}

constexpr int hex_value(byte c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One UTF-8 step at p (p < end, *p >= 0x80 or not). Returns n > 0 for a well-formed sequence of
// n bytes, or -n for an ill-formed one whose maximal subpart is n bytes (Unicode Table 3-7).
int utf8_step(const byte* p, const byte* end) noexcept {
  const unsigned c = p[0];
  if (c < 0x80) return 1;
  int need = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c == 0xE0) {
    need = 2, lo = 0xA0;  // below: overlong
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    need = 2;
  } else if (c == 0xED) {
    need = 2, hi = 0x9F;  // above: UTF-16 surrogates
  } else if (c == 0xF0) {
    need = 3, lo = 0x90;  // below: overlong
  } else if (c >= 0xF1 && c <= 0xF3) {
    need = 3;
  } else if (c == 0xF4) {
    need = 3, hi = 0x8F;  // above: > U+10FFFF
  } else {
    return -1;  // C0, C1, F5..FF, or a stray continuation byte
  }
  for (int i = 1; i <= need; ++i) {
    if (end - p <= i) return -i;
    const unsigned b = p[i];
    if (b < lo || b > hi) return -i;
    lo = 0x80, hi = 0xBF;
  }
  return need + 1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::uint32_t read_hex4(const byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 4) | static_cast<std::uint32_t>(hex_value(p[i]));
  return v;
}

// Decodes the body of a string the scanner has already validated (quotes excluded).
// Lone surrogates become U+FFFD when `lenient`, else make the call fail.
bool unescape_validated(std::string_view body, std::string& out, bool lenient) {
  out.clear();
  out.reserve(body.size());
  const auto* p = reinterpret_cast<const byte*>(body.data());
  const auto* const end = p + body.size();
  while (p < end) {
    const byte* run = p;
    while (p < end && *p != '\\') ++p;
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;
    const byte e = p[1];
    p += 2;
    switch (e) {
      case '"':
        out.push_back('"');
        continue;
      case '\\':
        out.push_back('\\');
        continue;
      case '/':
        out.push_back('/');
        continue;
      case 'b':
        out.push_back('\b');
        continue;
      case 'f':
        out.push_back('\f');
        continue;
      case 'n':
        out.push_back('\n');
        continue;
      case 'r':
        out.push_back('\r');
        continue;
      case 't':
        out.push_back('\t');
        continue;
      default:
        break;  // 'u': validated, so four hex digits follow
    }
    std::uint32_t cp = read_hex4(p);
    p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
      const std::uint32_t lo = read_hex4(p + 2);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      if (!lenient) return false;
      cp = 0xFFFD;
    }
    append_utf8(out, cp);
  }
  return true;
}

// The single-pass scanner. Containers are tracked in a fixed bitset (1 = object), so nesting
// costs no allocation and no recursion.
class scanner {
 public:
  scanner(std::string_view text, scan_error* err, unsigned max_depth) noexcept
      : begin_(reinterpret_cast<const byte*>(text.data())),
        p_(begin_),
        end_(begin_ + text.size()),
        max_depth_(std::min(max_depth, max_depth_limit)),
        err_(err) {}

  const byte* pos() const noexcept { return p_; }
  void advance() noexcept { ++p_; }
  bool at_end() const noexcept { return p_ == end_; }
  bool last_string_had_escape() const noexcept { return had_escape_; }

  void skip_ws() noexcept {
    while (p_ != end_ && is_ws(*p_)) ++p_;
  }

  bool fail(const byte* at, scan_errc code, std::string_view what) noexcept {
    if (err_) *err_ = scan_error{static_cast<std::size_t>(at - begin_), code, what};
    return false;
  }

  bool fail_end() noexcept {
    return fail(end_, scan_errc::unexpected_end, "unexpected end of input");
  }

  // Whitespace, end of input. For the tail after the top-level value.
  bool finish() noexcept {
    skip_ws();
    if (p_ != end_)
      return fail(p_, scan_errc::trailing_data, "unexpected data after the JSON value");
    return true;
  }

  // p_ is at the opening quote. Leaves p_ after the closing quote.
  bool scan_string() noexcept {
    ++p_;
    had_escape_ = false;
    for (;;) {
      p_ = skip_plain(p_, end_);
      if (p_ == end_) return fail_end();
      const byte c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        had_escape_ = true;
        if (end_ - p_ < 2) return fail_end();
        switch (p_[1]) {
          case '"':
          case '\\':
          case '/':
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
            p_ += 2;
            continue;
          case 'u':
            for (int i = 2; i < 6; ++i) {
              if (end_ - p_ <= i) return fail_end();
              if (hex_value(p_[i]) < 0)
                return fail(p_ + i, scan_errc::bad_escape, "invalid \\u escape");
            }
            p_ += 6;
            continue;
          default:
            return fail(p_ + 1, scan_errc::bad_escape, "invalid escape sequence");
        }
      }
      if (c < 0x20)
        return fail(p_, scan_errc::control_char, "unescaped control character in string");
      const int n = utf8_step(p_, end_);
      if (n < 0) {
        // Point at the byte that broke the sequence (a truncated one ends at end_).
        return fail(p_ + (n == -1 ? 0 : -n), scan_errc::bad_utf8, "invalid UTF-8 in string");
      }
      p_ += n;
    }
  }

  bool scan_number() noexcept {
    if (*p_ == '-') ++p_;
    if (p_ == end_) return fail_end();
    if (*p_ == '0') {
      ++p_;
      if (p_ != end_ && is_digit(*p_))
        return fail(p_, scan_errc::bad_number, "leading zero in number");
    } else if (is_digit(*p_)) {
      while (++p_ != end_ && is_digit(*p_)) {
      }
    } else {
      return fail(p_, scan_errc::bad_number, "expected a digit");
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_) return fail_end();
      if (!is_digit(*p_)) return fail(p_, scan_errc::bad_number, "expected a digit after '.'");
      while (++p_ != end_ && is_digit(*p_)) {
      }
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_) return fail_end();
      if (!is_digit(*p_)) return fail(p_, scan_errc::bad_number, "expected a digit in exponent");
      while (++p_ != end_ && is_digit(*p_)) {
      }
    }
    return true;
  }

  bool scan_literal(std::string_view word) noexcept {
    for (char w : word) {
      if (p_ == end_) return fail_end();
      if (*p_ != static_cast<byte>(w))
        return fail(p_, scan_errc::unexpected_char, "invalid literal");
      ++p_;
    }
    return true;
  }

  // After '{' and whitespace: a key, whitespace, ':'. Leaves p_ after the colon.
  bool scan_key_colon() noexcept {
    if (p_ == end_) return fail_end();
    if (*p_ != '"') return fail(p_, scan_errc::unexpected_char, "expected a string key");
    if (!scan_string()) return false;
    skip_ws();
    if (p_ == end_) return fail_end();
    if (*p_ != ':') return fail(p_, scan_errc::unexpected_char, "expected ':'");
    ++p_;
    return true;
  }

  // Scans exactly one value (leading whitespace allowed) whose containers start at nesting
  // level `depth0` (0 for a top-level value, 1 for a member of the top-level object).
  bool scan_value(unsigned depth0) noexcept {
    unsigned depth = depth0;
    for (;;) {
      // Expecting a value.
      skip_ws();
      if (p_ == end_) return fail_end();
      switch (*p_) {
        case '{':
        case '[': {
          if (depth >= max_depth_) return fail(p_, scan_errc::too_deep, "nesting too deep");
          const bool obj = *p_ == '{';
          set_container(depth, obj);
          ++depth;
          ++p_;
          skip_ws();
          if (p_ != end_ && *p_ == (obj ? '}' : ']')) {
            ++p_;
            --depth;
            break;  // an empty container is a complete value
          }
          if (obj && !scan_key_colon()) return false;
          continue;
        }
        case '"':
          if (!scan_string()) return false;
          break;
        case 't':
          if (!scan_literal("true")) return false;
          break;
        case 'f':
          if (!scan_literal("false")) return false;
          break;
        case 'n':
          if (!scan_literal("null")) return false;
          break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
          if (!scan_number()) return false;
          break;
        default:
          return fail(p_, scan_errc::unexpected_char, "expected a JSON value");
      }
      // A value is complete: close containers until one wants another element.
      for (;;) {
        if (depth == depth0) return true;
        skip_ws();
        if (p_ == end_) return fail_end();
        const bool obj = is_object(depth - 1);
        if (*p_ == ',') {
          ++p_;
          if (obj) {
            skip_ws();
            if (!scan_key_colon()) return false;
          }
          break;  // to the next value
        }
        if (*p_ == (obj ? '}' : ']')) {
          ++p_;
          --depth;
          continue;
        }
        return fail(p_, scan_errc::unexpected_char,
                    obj ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
  }

 private:
  void set_container(unsigned depth, bool obj) noexcept {
    const std::uint64_t bit = std::uint64_t{1} << (depth % 64);
    if (obj) {
      containers_[depth / 64] |= bit;
    } else {
      containers_[depth / 64] &= ~bit;
    }
  }
  bool is_object(unsigned depth) const noexcept {
    return (containers_[depth / 64] >> (depth % 64)) & 1u;
  }

  const byte* begin_;
  const byte* p_;
  const byte* end_;
  unsigned max_depth_;
  scan_error* err_;
  bool had_escape_ = false;
  std::array<std::uint64_t, max_depth_limit / 64> containers_{};
};

constexpr value_kind kind_of(byte c) noexcept {
  switch (c) {
    case '{':
      return value_kind::object;
    case '[':
      return value_kind::array;
    case '"':
      return value_kind::string;
    case 't':
      return value_kind::true_;
    case 'f':
      return value_kind::false_;
    case 'n':
      return value_kind::null;
    default:
      return value_kind::number;
  }
}

std::string_view span(const byte* from, const byte* to) noexcept {
  return {reinterpret_cast<const char*>(from), static_cast<std::size_t>(to - from)};
}

}  // namespace

bool validate(std::string_view text, scan_error* err, unsigned max_depth) noexcept {
  scanner s(text, err, max_depth);
  return s.scan_value(0) && s.finish();
}

std::optional<std::vector<member>> object_members(std::string_view text, scan_error* err,
                                                  unsigned max_depth) {
  scanner s(text, err, max_depth);
  s.skip_ws();
  if (s.at_end()) return (s.fail_end(), std::nullopt);
  if (*s.pos() != '{') {
    // Tell "valid but not an object" (a caller error) from "not JSON" (a format error).
    const byte* value_at = s.pos();
    if (!s.scan_value(0) || !s.finish()) return std::nullopt;
    s.fail(value_at, scan_errc::not_an_object, "the JSON value is not an object");
    return std::nullopt;
  }
  if (std::min(max_depth, max_depth_limit) == 0) {
    s.fail(s.pos(), scan_errc::too_deep, "nesting too deep");
    return std::nullopt;
  }
  // The top-level object is walked here rather than in scan_value so that each member value
  // can be scanned alone and its bytes spanned exactly.
  std::vector<member> members;
  s.advance();
  s.skip_ws();
  if (!s.at_end() && *s.pos() == '}') {
    s.advance();
    if (!s.finish()) return std::nullopt;
    return members;
  }
  members.reserve(8);  // one allocation for the usual handful of members
  for (;;) {
    const byte* key_at = s.pos();
    if (!s.scan_key_colon()) return std::nullopt;
    const byte* key_end = s.pos();  // after ':'; walk back to the closing quote
    while (*--key_end != '"') {
    }
    const std::string_view key_body = span(key_at + 1, key_end);
    const bool escaped = s.last_string_had_escape();
    s.skip_ws();
    if (s.at_end()) return (s.fail_end(), std::nullopt);
    const byte* value_at = s.pos();
    if (!s.scan_value(1)) return std::nullopt;
    member& m = members.emplace_back();
    if (escaped) {
      unescape_validated(key_body, m.key, /*lenient=*/true);
    } else {
      m.key.assign(key_body);
    }
    m.raw = span(value_at, s.pos());
    m.kind = kind_of(*value_at);
    s.skip_ws();
    if (s.at_end()) return (s.fail_end(), std::nullopt);
    if (*s.pos() == '}') {
      s.advance();
      break;
    }
    if (*s.pos() != ',') {
      s.fail(s.pos(), scan_errc::unexpected_char, "expected ',' or '}'");
      return std::nullopt;
    }
    s.advance();
    s.skip_ws();
  }
  if (!s.finish()) return std::nullopt;
  return members;
}

std::optional<std::string> unescape_string(std::string_view raw_string_token) {
  if (raw_string_token.empty() || raw_string_token.front() != '"') return std::nullopt;
  scanner s(raw_string_token, nullptr, 0);
  if (!s.scan_string() || !s.at_end()) return std::nullopt;
  std::string out;
  if (!unescape_validated(raw_string_token.substr(1, raw_string_token.size() - 2), out,
                          /*lenient=*/false)) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::int64_t> as_integer(std::string_view raw_number) noexcept {
  std::size_t i = 0;
  if (i < raw_number.size() && raw_number[i] == '-') ++i;
  const std::size_t digits_at = i;
  while (i < raw_number.size() && is_digit(static_cast<byte>(raw_number[i]))) ++i;
  const std::size_t ndigits = i - digits_at;
  if (ndigits == 0 || i != raw_number.size()) return std::nullopt;
  if (ndigits > 1 && raw_number[digits_at] == '0') return std::nullopt;  // JSON: no leading zeros
  std::int64_t v = 0;
  // from_chars does the overflow check; the grammar check above already ran.
  const auto [ptr, ec] =
      std::from_chars(raw_number.data(), raw_number.data() + raw_number.size(), v);
  if (ec != std::errc{} || ptr != raw_number.data() + raw_number.size()) return std::nullopt;
  return v;
}

void append_escaped(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + 2);
  out.push_back('"');
  const auto* p = reinterpret_cast<const byte*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const byte* run = p;
    p = skip_plain(p, end);
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;
    const byte c = *p;
    if (c >= 0x80) {
      const int n = utf8_step(p, end);
      if (n > 0) {
        out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
        p += n;
      } else {
        out.append("\\ufffd");
        p += -n;
      }
      continue;
    }
    ++p;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default: {
        const char u[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
        out.append(u, sizeof u);
      }
    }
  }
  out.push_back('"');
}

}  // namespace hub::codec::json
