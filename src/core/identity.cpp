#include "core/identity.hpp"

namespace hub {
namespace {

bool allowed_device_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-':
    case '.':
    case '%':
    case '_':
    case '*':
    case '?':
    case '!':
    case '(':
    case ')':
    case ',':
    case ':':
    case '=':
    case '@':
    case '$':
    case '\'':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool valid_device_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!allowed_device_char(c)) return false;
  return true;
}

bool valid_module_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!allowed_device_char(c) && c != '+' && c != '#') return false;
  return true;
}

}  // namespace hub
