#include "codec/mqtt/validate.hpp"

#include <cstddef>
#include <cstdint>

namespace hub::codec::mqtt {

bool valid_utf8(std::string_view s) noexcept {
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const auto b0 = static_cast<std::uint8_t>(s[i]);
    if (b0 < 0x80) {
      // U+0000 is forbidden outright ([MQTT-1.5.3-2]); it would also cut C strings downstream.
      if (b0 == 0) return false;
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      cp = b0 & 0x1F;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      cp = b0 & 0x0F;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      cp = b0 & 0x07;
      min = 0x10000;
    } else {
      return false;  // a continuation byte where a sequence should start, or 0xF8..0xFF
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<std::uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms would let a forbidden character (e.g. 0xC0 0x80 for U+0000) slip through.
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool valid_topic_name(std::string_view topic) noexcept {
  // Two memchr scans: find_first_of("+#") calls one per byte of the topic.
  return !topic.empty() && topic.find('+') == std::string_view::npos &&
         topic.find('#') == std::string_view::npos;
}

bool valid_topic_filter(std::string_view filter) noexcept {
  if (filter.empty()) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = filter.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? filter.size() : slash;
    const std::string_view level = filter.substr(start, end - start);
    if (level.find_first_of("+#") != std::string_view::npos) {
      if (level.size() != 1) return false;
      if (level[0] == '#' && end != filter.size()) return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace hub::codec::mqtt
