#include "workers.hpp"

#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string_view>
#include <variant>

#include "connection.hpp"
#include "http_client.hpp"
#include "process.hpp"

namespace hub::bench {

namespace {

std::string make_padding(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

struct invoke_params {
  std::uint16_t port = 0;
  ssl::context* tls = nullptr;  // HTTPS when set
  std::string auth;
  const std::vector<std::string>* ids = nullptr;
  std::size_t first = 0, devices = 0;
  std::string pad, body;
  bool offline = false;
};

template <class S>
awaitable<void> invoke_loop(S& s, worker_state& w, const invoke_params& p) {
  std::mt19937_64 rng(reinterpret_cast<std::uintptr_t>(&w));
  std::uniform_int_distribution<std::size_t> pick(p.first, p.first + p.devices - 1);
  std::string in, resp, body = p.body;
  // The pad's last 16 characters (payload >= 32 bytes) become this call's own tag, so an answer
  // meant for another call (or a second answer to an earlier one) is caught; same payload size.
  const auto pad_at = body.find(p.pad);
  const auto worker = static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(&w) >> 4);
  w.ready();
  for (std::uint64_t n = 0; n < 100'000'000 && w.running(); ++n) {
    char tag[17];
    std::snprintf(tag, sizeof tag, "%08llx%08llx", worker & 0xffffffffULL,
                  static_cast<unsigned long long>(n & 0xffffffffULL));
    body.replace(pad_at + p.pad.size() - 16, 16, tag, 16);
    std::string req = http_request(
        "POST", "/twins/" + (*p.ids)[pick(rng)] + "/methods?api-version=2021-04-12", p.auth, body);
    auto t0 = clk::now();
    w.in_flight = true;
    co_await asio::async_write(s, asio::buffer(req), use_awaitable);
    int status = co_await read_http_response(s, in, resp);
    w.in_flight = false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
    // The error envelope nests its JSON in "Message" as a string: look for the code itself.
    if (p.offline && status == 404 && resp.find("404103") != std::string::npos) {
      if (w.measured(t0)) {
        w.h.record(static_cast<std::uint64_t>(ns));
        ++w.ok;
      }
      continue;
    }
    if (status != 200) {
      std::string code = json_string_after(resp, "errorCode");
      if (code.empty()) {
        long c = json_number_after(resp, "errorCode");
        if (c > 0) code = std::to_string(c);
      }
      ++w.errors["HTTP " + std::to_string(status) + (code.empty() ? "" : " " + code)];
      continue;
    }
    if (resp.find("\"status\":200") == std::string::npos ||
        resp.find(std::string_view(body).substr(pad_at, p.pad.size())) == std::string::npos) {
      ++w.errors["200 without this call's echoed payload"];
      continue;
    }
    if (!w.measured(t0)) continue;
    w.h.record(static_cast<std::uint64_t>(ns));
    ++w.ok;
  }
}

}  // namespace

// Hub: POST /twins/{id}/methods with `echo` and a JSON payload of exactly `payload_bytes` bytes.
// With `offline`, the devices [first, first + devices) are registered but not connected: the
// expected answer is 404 with errorCode 404103, which then counts as the success.
worker_fn hub_invoker(std::uint16_t http_port, const std::string& auth,
                      const std::vector<std::string>& ids, std::size_t first, std::size_t devices,
                      std::size_t payload_bytes, bool offline, ssl::context* tls) {
  auto p = std::make_shared<invoke_params>();
  p->port = http_port;
  p->tls = tls;
  p->auth = auth;
  p->ids = &ids;
  p->first = first;
  p->devices = devices;
  p->pad = make_padding(payload_bytes > 8 ? payload_bytes - 8 : 1);
  p->body = "{\"methodName\":\"echo\",\"responseTimeoutInSeconds\":30,\"payload\":{\"d\":\"" +
            p->pad + "\"}}";
  p->offline = offline;
  return [p](worker_state& w) -> awaitable<void> {
    tcp::socket sock(w.sl->strand);
    w.sl->sock = &sock;
    slot_guard g{*w.sl};
    if (w.sl->closing) co_return;
    co_await open_and_connect(sock, p->port, reinterpret_cast<std::uintptr_t>(&w) / 64, 4);
    if (p->tls) {
      ssl::stream<tcp::socket&> s(sock, *p->tls);
      co_await s.async_handshake(ssl::stream_base::client, use_awaitable);
      co_await invoke_loop(s, w, *p);
    } else {
      co_await invoke_loop(sock, w, *p);
    }
  };
}

// mosquitto: publish to req/<device> with "<reply topic>\n<seq>\n<padding>" (payload_bytes in
// all), wait for the same bytes on the reply topic.
worker_fn mqtt_requester(std::uint16_t port, const std::vector<std::string>& ids,
                         std::size_t devices, std::size_t payload_bytes) {
  return [=, &ids](worker_state& w) -> awaitable<void> {
    tcp::socket sock(w.sl->strand);
    w.sl->sock = &sock;
    slot_guard g{*w.sl};
    if (w.sl->closing) co_return;
    co_await open_and_connect(sock, port, reinterpret_cast<std::uintptr_t>(&w) / 64, 4);
    std::uintptr_t me = reinterpret_cast<std::uintptr_t>(&w);
    std::string reply = "rsp/" + std::to_string(me);
    mqtt::connect c;
    c.client_id = "bench-requester-" + std::to_string(me);
    c.clean_session = true;
    std::string in, out;
    co_await mqtt_handshake(sock, in, c, reply);
    std::mt19937_64 rng(me);
    std::uniform_int_distribution<std::size_t> pick(0, devices - 1);
    w.ready();
    for (std::uint64_t seq = 0; seq < 100'000'000 && w.running(); ++seq) {
      std::string payload = reply + "\n" + std::to_string(seq) + "\n";
      if (payload.size() < payload_bytes) payload += make_padding(payload_bytes - payload.size());
      out.clear();
      mqtt::encode_publish(out, "req/" + ids[pick(rng)], payload, 0, 0);
      auto t0 = clk::now();
      w.in_flight = true;
      co_await asio::async_write(sock, asio::buffer(out), use_awaitable);
      for (int k = 0;; ++k) {
        if (k > 1000) throw std::runtime_error("no matching reply in 1000 packets");
        auto p = co_await read_packet(sock, in);
        auto* pub = std::get_if<mqtt::publish>(&p);
        if (pub && pub->topic == reply && pub->payload == payload) break;
        if (pub && pub->topic == reply) ++w.errors["stale or wrong reply"];
      }
      w.in_flight = false;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
      if (!w.measured(t0)) continue;
      w.h.record(static_cast<std::uint64_t>(ns));
      ++w.ok;
    }
  };
}

// Ceiling: write payload_bytes, read them back.
worker_fn echo_client(std::uint16_t port, std::size_t payload_bytes) {
  return [=](worker_state& w) -> awaitable<void> {
    tcp::socket sock(w.sl->strand);
    w.sl->sock = &sock;
    slot_guard g{*w.sl};
    if (w.sl->closing) co_return;
    co_await open_and_connect(sock, port, reinterpret_cast<std::uintptr_t>(&w) / 64, 4);
    std::string msg = make_padding(payload_bytes), back(payload_bytes, '\0');
    w.ready();
    for (std::uint64_t n = 0; n < 100'000'000 && w.running(); ++n) {
      auto t0 = clk::now();
      w.in_flight = true;
      co_await asio::async_write(sock, asio::buffer(msg), use_awaitable);
      co_await asio::async_read(sock, asio::buffer(back), use_awaitable);
      w.in_flight = false;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
      if (back != msg) {
        ++w.errors["echo mismatch"];
        continue;
      }
      if (!w.measured(t0)) continue;
      w.h.record(static_cast<std::uint64_t>(ns));
      ++w.ok;
    }
  };
}

}  // namespace hub::bench
