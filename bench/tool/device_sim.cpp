#include "device_sim.hpp"

#include <stdexcept>
#include <string_view>
#include <thread>
#include <variant>

namespace hub::bench {

// ------------------------------------------------------------------------------------------------
// Device simulator.

namespace {

template <class S>
awaitable<void> device_loop(S& s, device_set& ds, std::size_t i, bool& ready) {
  std::string in, out;
  const std::string& id = (*ds.ids)[i];
  mqtt::connect c;
  c.client_id = id;
  c.clean_session = true;
  c.keep_alive = 0;
  if (ds.kind == peer_kind::hub) {
    c.username = ds.host + "/" + id + "/?api-version=2021-04-12";
    c.password = (*ds.tokens)[i];
  }
  // A named filter: GCC 12 destroys temporaries of a conditional inside co_await twice.
  std::string filter = "$iothub/methods/POST/#";
  if (ds.kind != peer_kind::hub) filter = "req/" + id;
  co_await mqtt_handshake(s, in, c, filter);
  ready = true;
  ++ds.ready;
  in.shrink_to_fit();
  static constexpr std::string_view rid_key = "?$rid=";
  for (;;) {
    std::size_t off = 0;
    std::uint64_t n = 0;
    for (int k = 0; k < 10000; ++k) {
      auto r = mqtt::decode(std::string_view(in).substr(off));
      if (r.status == mqtt::decode_status::need_more) break;
      if (r.status == mqtt::decode_status::error)
        throw std::runtime_error("MQTT decode error: " + std::string(mqtt::to_string(r.error)));
      off += r.consumed;
      auto* p = std::get_if<mqtt::publish>(&r.packet);
      if (!p) continue;
      if (p->qos == 1) mqtt::encode(out, mqtt::puback{p->packet_id});
      if (ds.kind == peer_kind::hub) {
        auto at = p->topic.find(rid_key);
        if (at == std::string::npos) continue;
        auto rid = std::string_view(p->topic).substr(at + rid_key.size());
        rid = rid.substr(0, rid.find('&'));
        std::string topic = "$iothub/methods/res/200/?$rid=";
        topic += rid;
        mqtt::encode_publish(out, topic, p->payload, 0, 0);
      } else {
        auto nl = p->payload.find('\n');
        if (nl == std::string::npos || nl == 0) continue;
        mqtt::encode_publish(out, std::string_view(p->payload).substr(0, nl), p->payload, 0, 0);
      }
      ++n;
    }
    in.erase(0, off);
    if (!out.empty()) {
      co_await asio::async_write(s, asio::buffer(out), use_awaitable);
      out.clear();
      ds.answered += n;
    }
    co_await read_more(s, in);
  }
}

awaitable<void> run_device(device_set& ds, std::size_t i, std::shared_ptr<slot> sl) {
  bool ready = false;
  try {
    tcp::socket sock(sl->strand);
    sl->sock = &sock;
    slot_guard g{*sl};
    if (sl->closing) co_return;
    co_await open_and_connect(sock, ds.port, i, ds.sources);
    if (ds.tls) {
      ssl::stream<tcp::socket&> s(sock, *ds.tls_ctx);
      co_await s.async_handshake(ssl::stream_base::client, use_awaitable);
      co_await device_loop(s, ds, i, ready);
    } else {
      co_await device_loop(sock, ds, i, ready);
    }
  } catch (const std::exception& e) {
    if (!ready) {
      ++ds.failed;
      ds.fail(reason_of(e));
    } else if (!sl->closing) {
      ++ds.dropped;
      ds.fail("dropped after connect: " + reason_of(e));
    }
  }
  if (ready) --ds.ready;
  --ds.alive;
}

}  // namespace

// Connects devices [from, to) at `rate` per second and waits until each is subscribed or failed.
connect_report connect_devices(asio::io_context& ioc, device_set& ds, std::size_t from,
                               std::size_t to, double rate, double timeout_s) {
  auto t0 = clk::now();
  std::size_t base_ready = ds.ready, base_failed = ds.failed;
  for (std::size_t i = from; i < to; ++i) {
    auto sl = std::make_shared<slot>(ioc);
    ds.slots.push_back(sl);
    ++ds.alive;
    asio::co_spawn(sl->strand, run_device(ds, i, sl), asio::detached);
    auto due = t0 + std::chrono::duration_cast<clk::duration>(
                        std::chrono::duration<double>((i - from + 1) / rate));
    if ((i - from) % 16 == 15) std::this_thread::sleep_until(due);
  }
  auto until = clk::now() +
               std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(timeout_s));
  while (clk::now() < until) {
    if ((ds.ready - base_ready) + (ds.failed - base_failed) >= to - from) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  connect_report r;
  r.target = to - from;
  r.connected = ds.ready - base_ready;
  r.failed = ds.failed - base_failed;
  r.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  std::lock_guard<std::mutex> l(ds.m);
  for (const auto& [why, n] : ds.failures)
    r.failures += (r.failures.empty() ? "" : "; ") + why + " x" + std::to_string(n);
  return r;
}

void disconnect_devices(device_set& ds) {
  close_slots(ds.slots);
  auto until = clk::now() + std::chrono::seconds(30);
  while (ds.alive > 0 && clk::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (ds.alive > 0) throw std::runtime_error("devices did not close within 30 s");
  ds.slots.clear();
}

}  // namespace hub::bench
