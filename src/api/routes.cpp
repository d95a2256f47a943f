#include "api/routes.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "api/error_response.hpp"
#include "api/handlers.hpp"
#include "api/request_target.hpp"

namespace hub::api {

namespace {

std::int64_t now_seconds(const services& svc) {
  if (svc.now) return svc.now();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// On success, names the caller's policy in `req.policy`.
errc authorize(http_request& req, unsigned rights, const services& svc) {
  auto now = now_seconds(svc);
  if (svc.verified_tokens)
    return svc.verified_tokens->authorize(req.authorization, rights, svc.policies, now,
                                          &req.policy);
  auto grant = verify_service_token(req.authorization, svc.policies, now);
  if (!grant || (grant->rights & rights) != rights) return errc::unauthorized;
  req.policy = grant->policy;
  return errc::ok;
}

// The rights each route needs (DOC-SAS; spec/protocol.md §2.4).
unsigned rights_for(route_kind kind, std::string_view method) {
  if (kind == route_kind::invoke_device || kind == route_kind::invoke_module)
    return service_connect;
  return method == "GET" ? registry_read : registry_write;
}

}  // namespace

std::optional<route> match_route(std::string_view method, std::string_view target,
                                 std::string& api_version, bool& bad_target) {
  bad_target = false;
  auto parsed = parse_request_target(target);
  if (!parsed) {
    bad_target = true;
    return std::nullopt;
  }
  // Each segment is percent-decoded exactly once and `+` stays `+` (spec/protocol.md §1.1).
  if (parsed->too_many) return std::nullopt;  // no route is that deep
  auto& seg = parsed->segments;
  std::size_t n = parsed->count;
  api_version = std::move(parsed->api_version);
  // An optional trailing `/` (DOC-DM shows `/methods/`) leaves an empty last segment.
  if (n > 0 && seg[n - 1].empty()) --n;

  route r;
  if (n == 1 && seg[0] == "healthz") {
    r.kind = route_kind::health;
  } else if (n == 1 && seg[0] == "metrics") {
    r.kind = route_kind::metrics;
  } else if (n >= 1 && seg[0] == "devices") {
    if (n == 1) {
      r.kind = route_kind::device_list;
    } else if (n == 2) {
      r.kind = route_kind::device;
      r.key.device_id = std::move(seg[1]);
    } else if (n == 3 && seg[2] == "modules") {
      r.kind = route_kind::module_list;
      r.key.device_id = std::move(seg[1]);
    } else if (n == 4 && seg[2] == "modules") {
      r.kind = route_kind::module;
      r.key = {std::move(seg[1]), std::move(seg[3])};
    } else {
      return std::nullopt;
    }
  } else if (n >= 1 && seg[0] == "twins") {
    if (n == 3 && seg[2] == "methods") {
      r.kind = route_kind::invoke_device;
      r.key.device_id = std::move(seg[1]);
    } else if (n == 5 && seg[2] == "modules" && seg[4] == "methods") {
      r.kind = route_kind::invoke_module;
      r.key = {std::move(seg[1]), std::move(seg[3])};
    } else {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  (void)method;
  return r;
}

namespace {

boost::asio::awaitable<http_response> metrics_answer(services& svc) {
  http_response res;
  res.body = co_await svc.registry.async_read<std::string>([&](registry&) { return svc.metrics(); },
                                                           boost::asio::use_awaitable);
  res.content_type = "text/plain; version=0.0.4";
  co_return res;
}

// A frame that owns the route, which handle_registry reads by reference. (Taking the route by
// value in handle_registry itself made GCC 12 at -O1, the tsan build, report a false
// -Wmismatched-new-delete on Asio's frame allocation once it inlined the handlers.)
boost::asio::awaitable<http_response> registry_answer(const http_request& req, route r,
                                                      services& svc) {
  co_return co_await handle_registry(req, r, svc);
}

}  // namespace

request_step route_request(http_request& req, services& svc) {
  std::string api_version;
  bool bad_target = false;
  auto r = match_route(req.method, req.target, api_version, bad_target);
  if (!r)
    return error_response(bad_target ? errc::argument_invalid : errc::not_found,
                          bad_target ? "The request target is not a valid URL path." : "");
  if (r->kind == route_kind::health && req.method == "GET") {
    http_response res;
    res.body = "{\"status\":\"ok\"}";
    return res;
  }
  // Counts only, no identities or secrets: served without a token, like most scrape targets.
  if (r->kind == route_kind::metrics && svc.metrics && req.method == "GET")
    return metrics_answer(svc);
  if (!allowed(r->kind, req.method)) {
    auto res = error_response(errc::method_not_allowed);
    res.headers.emplace_back("Allow", std::string(allowed_methods(r->kind)));
    return res;
  }
  // IoT Hub requires api-version on every REST call (spec/protocol.md §1.2).
  if (api_version.empty()) return error_response(errc::invalid_protocol_version);
  if (auto ec = authorize(req, rights_for(r->kind, req.method), svc); ec != errc::ok)
    return error_response(ec);
  switch (r->kind) {
    case route_kind::invoke_device:
    case route_kind::invoke_module: {
      auto call = prepare_invoke(req, r->key);
      if (auto* refused = std::get_if<http_response>(&call)) return std::move(*refused);
      return std::move(std::get<invoke_request>(call));
    }
    default:
      return registry_answer(req, std::move(*r), svc);
  }
}

void finish_response(const http_request& req, http_response& res) {
  // Echo the caller's Request-Id (DOC-DM lists it among the response headers).
  if (!req.request_id.empty()) res.headers.emplace_back("Request-Id", req.request_id);
}

}  // namespace hub::api
