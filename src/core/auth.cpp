#include "core/auth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "codec/sas/connection_string.hpp"
#include "codec/sas/crypto.hpp"
#include "codec/sas/sas_token.hpp"

namespace hub {
namespace {

namespace sas = codec::sas;

bool has_prefix_icase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// .NET's WebUtility.UrlEncode: keeps alnum and `-_.!*()`, space becomes `+`, the rest %XX with
// uppercase hex. C# applies it to ids before encoding the whole resource again (spec §2.2), so
// one decode of a C# `sr` leaves ids in this form.
std::string dotnet_url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '!' || c == '*' || c == '(' ||
                      c == ')';
    if (keep) {
      out += ch;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// After one decode of a C# `sr`, ids are left WebUtility-encoded; the spec's own example
// (`a b` -> `a%2520b`) shows the RFC 3986 form instead, so both are accepted.
bool id_encoding_matches(std::string_view seg, std::string_view id) {
  if (seg.find_first_of("%+") == std::string_view::npos) return false;
  return seg == dotnet_url_encode(id) || seg == sas::url_encode(id);
}

// One path segment the token's `sr` must match at a given depth.
struct expected_segment {
  std::string_view text;
  bool is_id;  // ids may also appear in C#'s encoded form
};

// True iff `sr` (one candidate spelling) names an accepted host followed by a prefix of `path`.
bool covers(std::string_view sr, const policy_set& policies,
            const std::vector<expected_segment>& path) {
  for (std::string_view scheme : {"amqps://", "https://"}) {
    if (has_prefix_icase(sr, scheme)) {
      sr.remove_prefix(scheme.size());
      break;
    }
  }
  if (!sr.empty() && sr.back() == '/') sr.remove_suffix(1);
  const auto slash = sr.find('/');
  if (!policies.accepts_host(sr.substr(0, slash))) return false;
  if (slash == std::string_view::npos) return true;  // the bare host covers everything on it
  sr.remove_prefix(slash + 1);
  for (const auto& want : path) {
    const auto next = sr.find('/');
    const auto seg = sr.substr(0, next);
    if (seg != want.text && !(want.is_id && id_encoding_matches(seg, want.text))) return false;
    if (next == std::string_view::npos) return true;
    sr.remove_prefix(next + 1);
  }
  return false;  // more segments than the target has
}

// Tries `sr` as sent (C) and percent-decoded once (everyone else).
bool sr_covers(std::string_view sr, const policy_set& policies,
               const std::vector<expected_segment>& path) {
  if (covers(sr, policies, path)) return true;
  const auto decoded = sas::url_decode(sr);
  return decoded && *decoded != sr && covers(*decoded, policies, path);
}

bool not_expired(std::int64_t se, std::int64_t now) noexcept {
  return now <= token_valid_until(se);
}

bool signed_by(const sas::sas_token& t, std::string_view primary, std::string_view secondary) {
  // Both keys are always tried so the time taken does not tell which one matched.
  const bool a = !primary.empty() && sas::signature_matches(t, primary);
  const bool b = !secondary.empty() && sas::signature_matches(t, secondary);
  return a || b;
}

// ---- persistence ----

constexpr std::array<std::pair<std::string_view, right>, 4> right_names{{
    {"RegistryRead", registry_read},
    {"RegistryWrite", registry_write},
    {"ServiceConnect", service_connect},
    {"DeviceConnect", device_connect},
}};

[[noreturn]] void fail(const std::filesystem::path& file, std::string_view what) {
  throw std::runtime_error(file.string() + ": " + std::string(what));
}

[[noreturn]] void fail_errno(const std::filesystem::path& file, std::string_view what) {
  fail(file, std::string(what) + ": " + std::strerror(errno));
}

std::string to_json(const policy_set& set) {
  boost::json::array arr;
  for (const auto& p : set.policies()) {
    boost::json::array rights;
    for (const auto& [name, bit] : right_names)
      if (p.rights & bit) rights.emplace_back(name);
    arr.push_back(boost::json::object{{"name", p.name},
                                      {"primaryKey", p.primary_key},
                                      {"secondaryKey", p.secondary_key},
                                      {"rights", std::move(rights)}});
  }
  return boost::json::serialize(boost::json::object{{"policies", std::move(arr)}}) + "\n";
}

void write_all(int fd, std::string_view data, const std::filesystem::path& file) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_errno(file, "write failed");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Secrets must never be readable by others, not even briefly: the temp file is created 0600
// (O_EXCL, after removing any stale one, so a planted symlink is not followed), then renamed
// over the target so readers see either nothing or the whole file.
void write_file_atomically(const std::filesystem::path& file, std::string_view data) {
  const auto tmp = std::filesystem::path(file).concat(".tmp");
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail_errno(tmp, "cannot create");
  try {
    write_all(fd, data, tmp);
    if (::fchmod(fd, 0600) != 0) fail_errno(tmp, "chmod failed");
    if (::fsync(fd) != 0) fail_errno(tmp, "fsync failed");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) fail_errno(tmp, "close failed");
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail_errno(file, "rename failed");
  }
  const auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string_view string_field(const boost::json::object& o, std::string_view key,
                              const std::filesystem::path& file) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string())
    fail(file, "policy field \"" + std::string(key) + "\" must be a string");
  return v->get_string();
}

policy_set parse_policies(const std::filesystem::path& file, std::string_view text,
                          std::string_view hostname) {
  boost::system::error_code ec;
  const auto doc = boost::json::parse(text, ec);
  if (ec) fail(file, "not valid JSON: " + ec.message());
  const auto* root = doc.if_object();
  const auto* list = root ? root->if_contains("policies") : nullptr;
  if (list == nullptr || !list->is_array()) fail(file, "expected {\"policies\":[...]}");

  policy_set set(hostname);
  for (const auto& item : list->get_array()) {
    const auto* o = item.if_object();
    if (o == nullptr) fail(file, "each policy must be an object");
    access_policy p;
    p.name = std::string(string_field(*o, "name", file));
    p.primary_key = std::string(string_field(*o, "primaryKey", file));
    p.secondary_key = std::string(string_field(*o, "secondaryKey", file));
    if (p.name.empty()) fail(file, "a policy has an empty name");
    if (set.find(p.name) != nullptr) fail(file, "duplicate policy \"" + p.name + "\"");
    for (const auto& key : {p.primary_key, p.secondary_key}) {
      const auto raw = sas::base64_decode(key);
      if (!raw || raw->empty())
        fail(file, "policy \"" + p.name + "\" has a key that is not base64");
    }
    const auto* rights = o->if_contains("rights");
    if (rights == nullptr || !rights->is_array())
      fail(file, "policy \"" + p.name + "\" needs a rights array");
    for (const auto& r : rights->get_array()) {
      const auto* s = r.if_string();
      unsigned bit = 0;
      for (const auto& [name, b] : right_names)
        if (s != nullptr && *s == name) bit = b;
      if (bit == 0)
        fail(file, "policy \"" + p.name + "\" has an unknown right " + boost::json::serialize(r));
      p.rights |= bit;
    }
    set.add(std::move(p));
  }
  return set;
}

}  // namespace

policy_set::policy_set(std::string_view hostname) : hostname_(hostname) {}

void policy_set::add(access_policy p) {
  for (auto& existing : policies_) {
    if (existing.name == p.name) {
      existing = std::move(p);
      return;
    }
  }
  policies_.push_back(std::move(p));
}

const access_policy* policy_set::find(std::string_view name) const noexcept {
  for (const auto& p : policies_)
    if (p.name == name) return &p;
  return nullptr;
}

bool policy_set::accepts_host(std::string_view host) const noexcept {
  if (host.empty()) return false;
  return (!hostname_.empty() && sas::host_equal(host, hostname_)) ||
         sas::host_equal(host, "localhost");
}

std::optional<service_grant> verify_service_token(std::string_view authorization_header_value,
                                                  const policy_set& policies,
                                                  std::int64_t now_unix) {
  const auto token = sas::parse_token(authorization_header_value);
  if (!token || token->skn.empty() || !not_expired(token->se, now_unix)) return std::nullopt;
  const auto* policy = policies.find(token->skn);
  if (policy == nullptr) return std::nullopt;
  if (!sr_covers(token->sr, policies, {})) return std::nullopt;
  if (!signed_by(*token, policy->primary_key, policy->secondary_key)) return std::nullopt;
  return service_grant{policy->rights, token_valid_until(token->se), policy->name};
}

errc authorize_service(std::string_view authorization_header_value, unsigned required_rights,
                       const policy_set& policies, std::int64_t now_unix) {
  auto grant = verify_service_token(authorization_header_value, policies, now_unix);
  if (!grant || (grant->rights & required_rights) != required_rights) return errc::unauthorized;
  return errc::ok;
}

errc authorize_device(std::string_view token_text, const identity_key& who,
                      const identity_keys* keys, const policy_set& policies,
                      std::int64_t now_unix) {
  if (keys == nullptr || who.device_id.empty()) return errc::unauthorized;
  const auto token = sas::parse_token(token_text);
  if (!token || !not_expired(token->se, now_unix)) return errc::unauthorized;

  std::vector<expected_segment> path{{"devices", false}, {who.device_id, true}};
  if (who.is_module()) {
    path.push_back({"modules", false});
    path.push_back({who.module_id, true});
  }
  if (!sr_covers(token->sr, policies, path)) return errc::unauthorized;

  if (token->skn.empty())
    return signed_by(*token, keys->primary_key, keys->secondary_key) ? errc::ok
                                                                     : errc::unauthorized;
  const auto* policy = policies.find(token->skn);
  if (policy == nullptr || (policy->rights & device_connect) == 0) return errc::unauthorized;
  return signed_by(*token, policy->primary_key, policy->secondary_key) ? errc::ok
                                                                       : errc::unauthorized;
}

policy_set load_or_create_policies(const std::filesystem::path& data_dir,
                                   std::string_view hostname) {
  const auto file = data_dir / "policies.json";
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) {
    constexpr std::uintmax_t max_size = 1 << 20;
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) fail(file, "cannot stat: " + ec.message());
    if (size > max_size) fail(file, "larger than 1 MiB");
    std::ifstream in(file, std::ios::binary);
    if (!in) fail_errno(file, "cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) fail_errno(file, "read failed");
    return parse_policies(file, text.str(), hostname);
  }
  if (ec) fail(file, "cannot stat: " + ec.message());

  std::filesystem::create_directories(data_dir, ec);
  if (ec) fail(data_dir, "cannot create directory: " + ec.message());
  policy_set set(hostname);
  for (const auto& [name, rights] : std::initializer_list<std::pair<std::string_view, unsigned>>{
           {"iothubowner", all_rights},
           {"service", service_connect},
           {"device", device_connect},
           {"registryRead", registry_read},
           {"registryReadWrite", registry_read | registry_write},
       }) {
    set.add({std::string(name), sas::random_key_base64(), sas::random_key_base64(), rights});
  }
  write_file_atomically(file, to_json(set));
  return set;
}

std::string service_connection_string(const access_policy& policy, std::string_view hostname) {
  sas::connection_string c;
  c.host_name = std::string(hostname);
  c.shared_access_key_name = policy.name;
  c.shared_access_key = policy.primary_key;
  return sas::to_string(c);
}

}  // namespace hub
