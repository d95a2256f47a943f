// Registry REST handlers (spec/protocol.md §6): devices and modules, with the status codes the
// service SDKs insist on (PUT 200, DELETE 204, 409 on create of an existing id, 412 on etag
// mismatch).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "api/error_response.hpp"
#include "api/handlers.hpp"
#include "api/identity_json.hpp"
#include "codec/sas/crypto.hpp"

namespace hub::api {

namespace asio = boost::asio;
using store::identity_record;
using store::write_result;

bool allowed(route_kind kind, std::string_view m) noexcept {
  switch (kind) {
    case route_kind::health:
    case route_kind::metrics:
    case route_kind::device_list:
    case route_kind::module_list:
      return m == "GET";
    case route_kind::device:
    case route_kind::module:
      return m == "GET" || m == "PUT" || m == "DELETE";
    case route_kind::invoke_device:
    case route_kind::invoke_module:
      return m == "POST";
  }
  return false;
}

std::string_view allowed_methods(route_kind kind) noexcept {
  switch (kind) {
    case route_kind::device:
    case route_kind::module:
      return "GET, PUT, DELETE";
    case route_kind::invoke_device:
    case route_kind::invoke_module:
      return "POST";
    default:
      return "GET";
  }
}

namespace {

// If-Match as the SDKs send it: `"*"`, `*`, `"<etag>"`, possibly weak (`W/"..."`).
std::string normalize_if_match(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

errc not_found_code(const identity_key& key) {
  return key.is_module() ? errc::module_not_found : errc::device_not_found;
}

struct snapshot {
  std::optional<identity_record> rec;
  bool device_exists = false;
  bool connected = false;
};

std::string render(const identity_record& rec, bool connected) {
  return rec.key.is_module() ? module_json(rec, connected, "") : device_json(rec, connected, "");
}

asio::awaitable<http_response> get_one(const identity_key& key, services& svc) {
  auto snap = co_await svc.registry.async_read<snapshot>(
      [&](registry& reg) {
        snapshot s;
        if (const auto* r = reg.find(key)) s.rec = *r;
        s.connected = s.rec && svc.is_connected && svc.is_connected(key);
        return s;
      },
      asio::use_awaitable);
  if (!snap.rec) co_return error_response(not_found_code(key));
  http_response res;
  res.body = render(*snap.rec, snap.connected);
  res.headers.emplace_back("ETag", "\"" + snap.rec->etag + "\"");
  co_return res;
}

asio::awaitable<http_response> list(const route& r, services& svc) {
  struct listing {
    std::vector<identity_record> recs;
    std::vector<bool> connected;
    bool device_missing = false;
  };
  auto l = co_await svc.registry.async_read<listing>(
      [&](registry& reg) {
        listing out;
        if (r.kind == route_kind::module_list) {
          if (!reg.find(identity_key{r.key.device_id, {}})) {
            out.device_missing = true;
            return out;
          }
          out.recs = reg.modules_of(r.key.device_id);
        } else {
          out.recs = reg.devices();
        }
        for (const auto& rec : out.recs)
          out.connected.push_back(svc.is_connected && svc.is_connected(rec.key));
        return out;
      },
      asio::use_awaitable);
  if (l.device_missing) co_return error_response(errc::device_not_found);
  std::size_t i = 0;
  http_response res;
  res.body = identity_list_json(l.recs, [&](const identity_key&) {
    return connection_info{l.connected[i++], ""};
  });
  co_return res;
}

asio::awaitable<http_response> put(const http_request& req, const identity_key& key,
                                   services& svc) {
  if (!valid_device_id(key.device_id))
    co_return error_response(errc::argument_invalid,
                             "Invalid device id: 1 to 128 characters of ASCII letters, digits and "
                             "- . % _ * ? ! ( ) , : = @ $ '");
  if (key.is_module() && !valid_module_id(key.module_id))
    co_return error_response(errc::argument_invalid,
                             "Invalid module id: 1 to 128 characters of ASCII letters, digits and "
                             "- . % _ * ? ! ( ) , : = @ $ ' + #");
  auto parsed = parse_identity_body(req.body, key, [] { return codec::sas::random_key_base64(); });
  if (auto* err = std::get_if<identity_parse_error>(&parsed))
    co_return error_response(err->code, err->message);
  auto rec = std::move(std::get<identity_record>(parsed));
  rec.key = key;
  rec.status_updated_time = iso8601_utc(std::chrono::system_clock::now());

  auto if_match = normalize_if_match(req.if_match);
  auto [result, stored] = co_await svc.registry.async_put(std::move(rec), if_match,
                                                          asio::as_tuple(asio::use_awaitable));
  switch (result) {
    case write_result::ok: {
      http_response res;
      res.body = render(*stored, false);
      res.headers.emplace_back("ETag", "\"" + stored->etag + "\"");
      co_return res;
    }
    case write_result::already_exists:
      co_return error_response(key.is_module() ? errc::module_already_exists
                                               : errc::device_already_exists);
    case write_result::not_found:
      // A module PUT whose device is missing, or an update (If-Match) of a missing identity.
      co_return error_response(if_match.empty() ? errc::device_not_found : not_found_code(key));
    case write_result::precondition_failed:
      co_return error_response(errc::precondition_failed);
    case write_result::storage_error:
      co_return error_response(errc::service_unavailable,
                               "The registry could not be written (storage error).");
  }
  co_return error_response(errc::server_error);
}

asio::awaitable<http_response> remove(const http_request& req, const identity_key& key,
                                      services& svc) {
  auto [result, unused] = co_await svc.registry.async_remove(key, normalize_if_match(req.if_match),
                                                             asio::as_tuple(asio::use_awaitable));
  (void)unused;
  switch (result) {
    case write_result::ok: {
      http_response res;
      res.status = 204;
      res.content_type = {};
      co_return res;
    }
    case write_result::not_found:
      co_return error_response(not_found_code(key));
    case write_result::precondition_failed:
      co_return error_response(errc::precondition_failed);
    case write_result::already_exists:
    case write_result::storage_error:
      break;
  }
  co_return error_response(errc::service_unavailable,
                           "The registry could not be written (storage error).");
}

}  // namespace

asio::awaitable<http_response> handle_registry(const http_request& req, const route& r,
                                               services& svc) {
  switch (r.kind) {
    case route_kind::device_list:
    case route_kind::module_list:
      co_return co_await list(r, svc);
    case route_kind::device:
    case route_kind::module:
      if (req.method == "GET") co_return co_await get_one(r.key, svc);
      if (req.method == "PUT") co_return co_await put(req, r.key, svc);
      co_return co_await remove(req, r.key, svc);
    default:
      co_return error_response(errc::not_found);
  }
}

}  // namespace hub::api
