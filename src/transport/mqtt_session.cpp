#include "transport/mqtt_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "codec/mqtt/decode.hpp"
#include "codec/mqtt/encode.hpp"
#include "codec/mqtt/iothub_topics.hpp"
#include "codec/mqtt/username.hpp"
#include "codec/sas/sas_token.hpp"
#include "transport/deadline_wheel.hpp"
#include "transport/head_runner.hpp"
#include "transport/memory_stream.hpp"
#include "transport/websocket_heads.hpp"
#include "transport/ws_byte_stream.hpp"

namespace hub::transport {

namespace asio = boost::asio;
namespace mqtt = codec::mqtt;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// An idle connection keeps one read pending, and with it a buffer: a small one, since most
// devices are idle most of the time and a method answer with a small payload fits in it. A read
// that fills it (a burst, a large packet) makes the next one use read_chunk; the buffer is let go
// again once every byte in it is decoded (issue 6: RSS per idle device).
constexpr std::size_t idle_chunk = 256;
constexpr std::size_t read_chunk = 4096;
// The writer's buffer is released after each write above this size, so a burst's buffer is not
// held while idle.
constexpr std::size_t kept_write_capacity = 1024;

// The twin document a methods-only hub can honestly give (spec/protocol.md §3.9): empty
// property sets, so an SDK that asks for its twin gets an answer instead of hanging.
constexpr std::string_view empty_twin = R"({"desired":{"$version":1},"reported":{"$version":1}})";

using detail::lowest;
using detail::unix_now;

// What CONNECT learns on the core strand: the verdict and, when accepted, the session.
struct connect_verdict {
  mqtt::connect_return_code code = mqtt::connect_return_code::not_authorized;
  bool session_present = false;
  mqtt_session_store::filter_set filters;
  std::int64_t token_expires = 0;  // unix seconds: `se` plus the clock skew allowance
};

void rethrow_if(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

template <class Stream>
class mqtt_connection final : public std::enable_shared_from_this<mqtt_connection<Stream>>,
                              private deadline_wheel::entry {
 public:
  mqtt_connection(Stream stream, mqtt_services& svc, const mqtt_limits& limits)
      : stream_(std::move(stream)),
        svc_(svc),
        limits_(limits),
        wheel_(deadline_wheel::of(stream_.get_executor())) {}
  // First of all: the wheel may be calling on_due() on another thread until this returns.
  ~mqtt_connection() { wheel_.cancel(*this); }

  // Starts the connection, on its strand. The work runs in completion handlers (the pending read
  // and write, which keep the connection alive; the deadline wheel's check): an idle device holds
  // no coroutine frame and no timer.
  // `ticket` (its place under the connection limits) is held until the connection is destroyed.
  void start(connection_ticket ticket);
  // start(), then completes when the connection has ended: for a head whose caller waits for the
  // end (over a WebSocket, the HTTP session holds the socket's ticket).
  asio::awaitable<void> run();

  // On the connection's strand.
  void send_method(const method_request& req) {
    if (closed_) return;
    auto topic = mqtt::method_request_topic(req.method_name, req.rid);
    // Method requests go out at QoS 0 (DOC-DM; spec/protocol.md §3.7).
    mqtt::encode_publish(out_, topic, req.payload, 0, 0);
    wake_writer();
  }
  void kick() {
    spdlog::debug("mqtt {}: closed by the hub (newer connection or identity revoked)", who_.str());
    shutdown();
  }

 private:
  class link;

  void read_more(bool readable = false);
  void on_read(boost::system::error_code ec, std::size_t n);
  void process();
  asio::awaitable<void> connect_then_process(mqtt::connect c);
  asio::awaitable<void> refuse_version();
  void finish();
  void start_write();
  void arm_watchdog();
  void on_due() noexcept override;
  void check_deadlines();
  asio::awaitable<bool> on_connect(mqtt::connect& c);
  bool on_packet(mqtt::packet& p);
  void on_subscribe(const mqtt::subscribe& s);
  void on_unsubscribe(const mqtt::unsubscribe& u);
  bool on_publish(mqtt::publish& p);

  // Runs the body of a completion handler. This connection's work is a chain of handlers: an
  // exception escaping one would end io_context::run(), and with it the hub (and one escaping the
  // CONNECT coroutine would leave the connection without a read, never reported down). It ends
  // this connection instead; finish() reports the link down, so the core stops routing to it.
  template <class Fn>
  void guarded(Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("mqtt {}: closing on an unexpected error: {}",
                    connected_ ? who_.str() : "(connecting)", e.what());
      finish();
    }
  }

  void wake_writer() {
    if (out_.size() > limits_.max_queued_bytes) {
      spdlog::warn("mqtt {}: {} bytes unsent; dropping a connection that does not read", who_.str(),
                   out_.size());
      shutdown();
      return;
    }
    if (!writing_ && !closed_ && writer_ready_) start_write();
  }
  void shutdown() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    lowest(stream_).shutdown(tcp::socket::shutdown_both, ec);
    lowest(stream_).close(ec);
    wheel_.cancel(*this);
  }
  void arm_deadline(std::chrono::steady_clock::duration d) { deadline_ = steady::now() + d; }
  steady::time_point next_wake() const { return std::min(deadline_, token_deadline_); }
  void store_filters() {
    asio::post(svc_.registry.strand(), [&svc = svc_, who = who_, id = id_, f = filters_]() mutable {
      svc.sessions.update(who, id, std::move(f));
    });
  }

  Stream stream_;
  mqtt_services& svc_;
  const mqtt_limits& limits_;
  // The connection's place in the hub's deadline wheel (instead of a timer of its own), due at
  // the current deadline (CONNECT, then keep-alive, or the token's end); packets only move
  // deadline_, and a connection found early re-enters the wheel.
  deadline_wheel& wheel_;
  // run()'s wait: cancelled by finish(). Only a connection started by run() has one.
  std::unique_ptr<asio::steady_timer> ended_;
  connection_ticket ticket_;
  steady::time_point deadline_ = steady::time_point::max();
  // When the CONNECT password stops being valid. IoT Hub disconnects a device whose SAS token
  // expires; the SDKs take that as their cue to sign a new one and reconnect (DOC-ERR 401003).
  steady::time_point token_deadline_ = steady::time_point::max();
  std::chrono::steady_clock::duration keep_alive_window_{};
  std::string in_;
  std::size_t pos_ = 0;        // start of the undecoded bytes in in_
  std::size_t read_base_ = 0;  // in_'s size before the pending read
  bool last_read_full_ = false;
  std::size_t last_needed_ = 0;  // bytes the packet in hand still lacks
  bool connected_ = false;       // CONNECT accepted
  bool finished_ = false;
  std::string out_;      // encoded, not yet handed to the socket
  std::string sending_;  // being written; out_ collects what comes meanwhile
  bool closed_ = false;
  bool writing_ = false;
  bool writer_ready_ = false;  // set once CONNACK is queued: nothing goes out before it

  identity_key who_;
  link_id id_ = 0;
  bool clean_session_ = true;
  mqtt_session_store::filter_set filters_;
  bool methods_ = false;
  std::uint64_t reported_version_ = 1;
};

// The connection as the core's device link: a weak handle, so a link the core still holds
// never keeps a closed connection alive. It keeps no executor of its own (56 B per device): a
// connection that is still there gives its stream's, which never changes after construction.
template <class Stream>
class mqtt_connection<Stream>::link final : public device_link {
 public:
  explicit link(std::weak_ptr<mqtt_connection> c) : conn_(std::move(c)) {}
  void deliver(std::shared_ptr<const method_request> request) override {
    if (auto self = conn_.lock()) {
      auto ex = self->stream_.get_executor();
      asio::post(ex, [self = std::move(self), r = std::move(request)] {
        self->guarded([&] { self->send_method(*r); });
      });
    }
  }
  void kick(errc) override {
    if (auto self = conn_.lock()) {
      auto ex = self->stream_.get_executor();
      asio::post(ex, [self = std::move(self)] { self->kick(); });
    }
  }

 private:
  std::weak_ptr<mqtt_connection> conn_;
};

template <class Stream>
void mqtt_connection<Stream>::start(connection_ticket ticket) {
  ticket_ = std::move(ticket);
  arm_deadline(limits_.connect_deadline);
  arm_watchdog();
  read_more();
}

template <class Stream>
asio::awaitable<void> mqtt_connection<Stream>::run() {
  ended_ = std::make_unique<asio::steady_timer>(stream_.get_executor(), steady::time_point::max());
  start({});
  if (!finished_) (void)co_await ended_->async_wait(use_nothrow);
}

// Decodes what is buffered and acts on it, until it needs more bytes (then reads), the
// connection ends, or a CONNECT must be checked against the registry (then resumes after it).
template <class Stream>
void mqtt_connection<Stream>::process() {
  while (!closed_) {
    auto result = mqtt::decode(std::string_view(in_).substr(pos_), limits_.max_packet_bytes);
    if (result.status == mqtt::decode_status::ok) {
      pos_ += result.consumed;
      if (keep_alive_window_.count() > 0) arm_deadline(keep_alive_window_);
      if (!connected_) {
        auto* c = std::get_if<mqtt::connect>(&result.packet);
        // The first packet must be CONNECT (MQTT 3.1.1 §3.1).
        if (!c) break;
        asio::co_spawn(stream_.get_executor(), connect_then_process(std::move(*c)),
                       [self = this->shared_from_this()](std::exception_ptr e) {
                         self->guarded([&] { rethrow_if(e); });
                       });
        return;
      }
      if (!on_packet(result.packet)) break;
      continue;
    }
    if (result.status == mqtt::decode_status::error) {
      if (!connected_ && result.error == mqtt::decode_error::unsupported_protocol_version) {
        // MQTT 5 (or 3.1) CONNECT: refuse cleanly with "unacceptable protocol version".
        asio::co_spawn(stream_.get_executor(), refuse_version(),
                       [self = this->shared_from_this()](std::exception_ptr e) {
                         self->guarded([&] { rethrow_if(e); });
                       });
        return;
      }
      spdlog::debug("mqtt {}: closing on bad packet: {}", connected_ ? who_.str() : "(connecting)",
                    mqtt::to_string(result.error));
      break;
    }
    // need_more
    if (result.needed > in_.size() - pos_) last_needed_ = result.needed - (in_.size() - pos_);
    read_more();
    return;
  }
  finish();
}

// Compacts, then reads. The buffer grows only as far as the packet in hand needs. With nothing
// buffered, a TLS connection first waits for input and holds no buffer meanwhile (272 B per idle
// device, issue 6); plain TCP and WebSocket read into idle_chunk (see detail::waits_readable).
template <class Stream>
void mqtt_connection<Stream>::read_more(bool readable) {
  if (pos_ > 0) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
  std::size_t want;
  if (in_.empty() && !last_read_full_) {
    if constexpr (detail::waits_readable<Stream>) {
      if (!readable && !detail::has_buffered_input(stream_)) {
        std::string().swap(in_);
        detail::async_wait_readable(
            stream_, [self = this->shared_from_this()](boost::system::error_code ec) {
              if (ec || self->closed_) return self->finish();
              self->guarded([&] { self->read_more(true); });
            });
        return;
      }
    }
    if (in_.capacity() > idle_chunk) std::string().swap(in_);
    want = idle_chunk;
  } else {
    want = std::max(read_chunk, last_needed_);
  }
  last_needed_ = 0;
  read_base_ = in_.size();
  in_.resize(read_base_ + want);
  stream_.async_read_some(
      asio::buffer(in_.data() + read_base_, want),
      [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
        self->guarded([&] { self->on_read(ec, n); });
      });
}

template <class Stream>
void mqtt_connection<Stream>::on_read(boost::system::error_code ec, std::size_t n) {
  std::size_t want = in_.size() - read_base_;
  in_.resize(read_base_ + n);
  last_read_full_ = n == want;
  if (ec || closed_) return finish();
  if (read_text_frame(stream_)) {
    // MQTT over WebSockets is binary messages only [MQTT-6.0.0-1].
    spdlog::debug("mqtt: WebSocket text message; closing");
    return finish();
  }
  process();
}

template <class Stream>
asio::awaitable<void> mqtt_connection<Stream>::connect_then_process(mqtt::connect c) {
  auto self = this->shared_from_this();
  if (!co_await on_connect(c)) {
    finish();
    co_return;
  }
  connected_ = true;
  writer_ready_ = true;
  wake_writer();  // CONNACK
  process();
}

template <class Stream>
asio::awaitable<void> mqtt_connection<Stream>::refuse_version() {
  auto self = this->shared_from_this();
  std::string bytes;
  mqtt::encode(bytes,
               mqtt::connack{false, mqtt::connect_return_code::unacceptable_protocol_version});
  co_await asio::async_write(stream_, asio::buffer(bytes), use_nothrow);
  finish();
}

// The end of the connection, once: closes the socket and tells the core.
template <class Stream>
void mqtt_connection<Stream>::finish() {
  if (finished_) return;
  finished_ = true;
  shutdown();
  if (ended_) ended_->cancel();
  if (id_ != 0) {
    svc_.presence.link_down(who_, id_);
    asio::post(svc_.registry.strand(), [&svc = svc_, who = who_, id = id_, clean = clean_session_] {
      svc.sessions.close(who, id, clean);
    });
  }
}

template <class Stream>
void mqtt_connection<Stream>::arm_watchdog() {
  if (!closed_) wheel_.schedule(*this, next_wake());
}

// On the wheel's thread, under its lock: only hands the check to the connection's strand. A weak
// handle: the wheel never keeps a connection alive (its pending read does), and one being
// destroyed (blocked in ~mqtt_connection's cancel) yields nothing.
template <class Stream>
void mqtt_connection<Stream>::on_due() noexcept {
  asio::post(stream_.get_executor(), [weak = this->weak_from_this()] {
    if (auto self = weak.lock()) self->guarded([&] { self->check_deadlines(); });
  });
}

template <class Stream>
void mqtt_connection<Stream>::check_deadlines() {
  if (closed_) return;
  if (steady::now() >= token_deadline_) {
    spdlog::info("mqtt {}: SAS token expired; disconnecting (401003 IoTHubUnauthorized)",
                 who_.str());
    shutdown();
    return;
  }
  if (steady::now() >= deadline_) {
    spdlog::debug("mqtt {}: {} deadline passed; closing", id_ ? who_.str() : "(connecting)",
                  id_ ? "keep-alive" : "CONNECT");
    shutdown();
    return;
  }
  arm_watchdog();  // due early: a packet moved the deadline
}

// Everything queued so far goes out in one write: one syscall for a burst of requests. A handler
// chain rather than a coroutine, for the same reason as the watchdog.
template <class Stream>
void mqtt_connection<Stream>::start_write() {
  writing_ = true;
  sending_.swap(out_);
  asio::async_write(stream_, asio::buffer(sending_),
                    [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (self->sending_.capacity() > kept_write_capacity) {
                        std::string().swap(self->sending_);
                      } else {
                        self->sending_.clear();
                      }
                      if (ec) {
                        self->shutdown();
                        return;
                      }
                      if (!self->out_.empty() && !self->closed_)
                        self->guarded([&] { self->start_write(); });
                    });
}

template <class Stream>
asio::awaitable<bool> mqtt_connection<Stream>::on_connect(mqtt::connect& c) {
  using rc = mqtt::connect_return_code;
  auto refuse = [this](rc code) -> asio::awaitable<bool> {
    std::string bytes;
    mqtt::encode(bytes, mqtt::connack{false, code});
    co_await asio::async_write(stream_, asio::buffer(bytes), use_nothrow);
    co_return false;
  };

  // Client id: `deviceId` or `deviceId/moduleId` (spec/protocol.md §3.2).
  identity_key who;
  if (auto slash = c.client_id.find('/'); slash == std::string::npos) {
    who.device_id = c.client_id;
  } else {
    who.device_id = c.client_id.substr(0, slash);
    who.module_id = c.client_id.substr(slash + 1);
  }
  if (who.device_id.empty() ||
      (c.client_id.find('/') != std::string::npos && who.module_id.empty()) ||
      who.module_id.find('/') != std::string::npos)
    co_return co_await refuse(rc::identifier_rejected);
  if (!c.username || !c.password) co_return co_await refuse(rc::bad_username_or_password);
  auto user = mqtt::parse_username(*c.username);
  if (!user) co_return co_await refuse(rc::bad_username_or_password);
  if (user->device_id != who.device_id || user->module_id != who.module_id)
    co_return co_await refuse(rc::identifier_rejected);

  link_id id = next_link_id();
  auto verdict = co_await svc_.registry.async_read<connect_verdict>(
      [&, id](registry& reg) {
        connect_verdict v;
        const auto* device = reg.find(identity_key{who.device_id, {}});
        const auto* rec = who.is_module() ? reg.find(who) : device;
        identity_keys keys;
        if (rec) keys = {rec->primary_key, rec->secondary_key};
        if (authorize_device(*c.password, who, rec ? &keys : nullptr, svc_.policies, unix_now()) !=
            errc::ok) {
          v.code = rc::not_authorized;  // bad, expired or foreign token (spec §3.3: 5)
          return v;
        }
        if (!device->enabled || !rec->enabled) {
          v.code = rc::server_unavailable;  // disabled (the C SDK reads 3 as "device disabled")
          return v;
        }
        v.code = rc::accepted;
        // authorize_device accepted it, so it parses.
        if (auto t = codec::sas::parse_token(*c.password))
          v.token_expires = token_valid_until(t->se);
        std::tie(v.filters, v.session_present) = svc_.sessions.open(who, id, c.clean_session);
        return v;
      },
      asio::use_awaitable);
  if (verdict.code != rc::accepted) {
    spdlog::info("mqtt {}: CONNECT refused (return code {})", who.str(),
                 static_cast<int>(verdict.code));
    co_return co_await refuse(verdict.code);
  }

  who_ = std::move(who);
  id_ = id;
  clean_session_ = c.clean_session;
  filters_ = std::move(verdict.filters);
  if (filters_)
    for (const auto& f : *filters_)
      if (mqtt::classify_filter(f, who_.device_id, who_.module_id) == mqtt::filter_kind::methods)
        methods_ = true;

  // Keep-alive enforced at 1.5x (MQTT 3.1.1 §3.1.2.10), capped at IoT Hub's maximum; a client
  // that asks for none still gets the cap, so half-open connections end.
  auto ka = std::chrono::seconds(c.keep_alive);
  if (ka.count() == 0 || ka > limits_.max_keep_alive) ka = limits_.max_keep_alive;
  keep_alive_window_ = std::chrono::milliseconds(ka) * 3 / 2;  // not whole seconds: 1 s -> 1.5 s
  arm_deadline(keep_alive_window_);
  token_deadline_ = detail::steady_deadline(verdict.token_expires);
  arm_watchdog();  // the keep-alive window may end before the CONNECT deadline did

  mqtt::encode(out_, mqtt::connack{verdict.session_present, rc::accepted});
  svc_.presence.link_up(who_, id_, std::make_shared<link>(this->weak_from_this()), methods_);
  spdlog::debug("mqtt {}: connected (clean session {}, keep-alive {} s, session present {})",
                who_.str(), clean_session_, c.keep_alive, verdict.session_present);
  co_return true;
}

template <class Stream>
bool mqtt_connection<Stream>::on_packet(mqtt::packet& p) {
  switch (mqtt::type_of(p)) {
    case mqtt::packet_type::publish:
      return on_publish(std::get<mqtt::publish>(p));
    case mqtt::packet_type::subscribe:
      on_subscribe(std::get<mqtt::subscribe>(p));
      return true;
    case mqtt::packet_type::unsubscribe:
      on_unsubscribe(std::get<mqtt::unsubscribe>(p));
      return true;
    case mqtt::packet_type::pingreq:
      mqtt::encode(out_, mqtt::pingresp{});
      wake_writer();
      return true;
    case mqtt::packet_type::puback:
      return true;  // the hub publishes at QoS 0; a stray PUBACK is harmless
    case mqtt::packet_type::disconnect:
      return false;
    default:
      // A second CONNECT, QoS 2 flow packets, or server-to-client packets (MQTT 3.1.1 §4.8).
      spdlog::debug("mqtt {}: closing on unexpected packet type {}", who_.str(),
                    static_cast<int>(mqtt::type_of(p)));
      return false;
  }
}

template <class Stream>
void mqtt_connection<Stream>::on_subscribe(const mqtt::subscribe& s) {
  mqtt::suback ack{s.packet_id, {}};
  bool changed = false;
  auto filters = filters_ ? *filters_ : std::vector<std::string>{};  // sorted
  for (const auto& sub : s.subscriptions) {
    auto kind = mqtt::classify_filter(sub.filter, who_.device_id, who_.module_id);
    auto at = std::lower_bound(filters.begin(), filters.end(), sub.filter);
    bool known = at != filters.end() && *at == sub.filter;
    if (kind == mqtt::filter_kind::unknown ||
        (!known && filters.size() >= limits_.max_subscriptions)) {
      ack.return_codes.push_back(mqtt::suback_failure);
      continue;
    }
    // QoS 2 is granted as 1 (spec/protocol.md §3.6).
    ack.return_codes.push_back(std::min<std::uint8_t>(sub.requested_qos, 1));
    if (!known) {
      filters.insert(at, sub.filter);
      changed = true;
    }
    if (kind == mqtt::filter_kind::methods && !methods_) {
      methods_ = true;
      svc_.presence.methods_subscribed(who_, id_, true);
    }
  }
  mqtt::encode(out_, ack);
  wake_writer();
  if (changed) {
    filters_ = std::make_shared<const std::vector<std::string>>(std::move(filters));
    store_filters();
  }
}

template <class Stream>
void mqtt_connection<Stream>::on_unsubscribe(const mqtt::unsubscribe& u) {
  bool changed = false;
  auto filters = filters_ ? *filters_ : std::vector<std::string>{};  // sorted
  for (const auto& f : u.filters) {
    auto at = std::lower_bound(filters.begin(), filters.end(), f);
    if (at == filters.end() || *at != f) continue;
    filters.erase(at);
    changed = true;
    if (methods_ &&
        mqtt::classify_filter(f, who_.device_id, who_.module_id) == mqtt::filter_kind::methods) {
      methods_ = false;
      svc_.presence.methods_subscribed(who_, id_, false);
    }
  }
  mqtt::encode(out_, mqtt::unsuback{u.packet_id});
  wake_writer();
  if (changed) {
    filters_ = filters.empty()
                   ? nullptr
                   : std::make_shared<const std::vector<std::string>>(std::move(filters));
    store_filters();
  }
}

std::atomic<std::uint64_t> telemetry_messages{0};

template <class Stream>
bool mqtt_connection<Stream>::on_publish(mqtt::publish& p) {
  if (p.qos > 1) {
    // IoT Hub closes the connection on a QoS 2 PUBLISH (DOC-MQTT; spec/protocol.md §3.1).
    spdlog::debug("mqtt {}: QoS 2 PUBLISH; closing", who_.str());
    return false;
  }
  auto ack = [&] {
    if (p.qos == 1) mqtt::encode(out_, mqtt::puback{p.packet_id});
  };
  if (auto res = mqtt::parse_method_response_topic(p.topic)) {
    // Python and Java answer at QoS 1 and wait for the PUBACK (spec/protocol.md §3.8).
    ack();
    svc_.presence.method_response(id_, std::move(res->rid), res->status, std::move(p.payload));
  } else if (p.topic.starts_with("$iothub/methods/res/")) {
    // A method answer we cannot read (no rid, status not a number) names no pending call:
    // dropped like an unknown rid, not a reason to close the device's connection.
    ack();
    spdlog::debug("mqtt {}: unreadable method response topic '{}' dropped", who_.str(), p.topic);
  } else if (mqtt::is_telemetry_topic(p.topic, who_.device_id, who_.module_id)) {
    ack();
    telemetry_messages.fetch_add(1, std::memory_order_relaxed);
  } else if (auto rid = mqtt::parse_twin_get_topic(p.topic)) {
    ack();
    mqtt::encode_publish(out_, "$iothub/twin/res/200/?$rid=" + *rid, empty_twin, 0, 0);
  } else if (auto prid = mqtt::parse_twin_patch_reported_topic(p.topic)) {
    ack();
    ++reported_version_;
    mqtt::encode_publish(
        out_,
        "$iothub/twin/res/204/?$rid=" + *prid + "&$version=" + std::to_string(reported_version_),
        {}, 0, 0);
  } else {
    // IoT Hub disconnects a device that publishes to a topic it does not serve.
    spdlog::debug("mqtt {}: PUBLISH to unsupported topic '{}'; closing", who_.str(), p.topic);
    return false;
  }
  wake_writer();
  return true;
}

}  // namespace

asio::awaitable<void> run_mqtt_over_websocket(wss_stream ws, mqtt_services& svc,
                                              const mqtt_limits& limits) {
  return detail::run_head_websocket<mqtt_connection>(std::move(ws), svc, limits);
}

asio::awaitable<void> run_mqtt_over_websocket(ws_stream ws, mqtt_services& svc,
                                              const mqtt_limits& limits) {
  return detail::run_head_websocket<mqtt_connection>(std::move(ws), svc, limits);
}

asio::awaitable<void> run_mqtt_session(memory_stream stream, mqtt_services& svc,
                                       const mqtt_limits& limits) {
  return detail::run_head<mqtt_connection>(std::move(stream), svc, limits);
}

std::uint64_t mqtt_telemetry_messages() noexcept {
  return telemetry_messages.load(std::memory_order_relaxed);
}

void start_mqtt_session(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
                        mqtt_services& svc, const mqtt_limits& limits, connection_ticket ticket) {
  detail::start_head<mqtt_connection>("mqtt", std::move(socket), std::move(tls), svc, limits,
                                      std::move(ticket));
}

}  // namespace hub::transport
