#include "transport/amqp_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <map>
#include <optional>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/io/connection_driver.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/scalar.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/session.hpp>
#include <proton/source.hpp>
#include <proton/target.hpp>
#include <proton/timestamp.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/uuid.hpp>
#include <proton/value.hpp>
#include <type_traits>

#include "codec/sas/sas_token.hpp"
#include "transport/amqp_address.hpp"
#include "transport/amqp_sasl.hpp"
#include "transport/amqp_websocket.hpp"
#include "transport/head_runner.hpp"
#include "transport/memory_stream.hpp"
#include "transport/ws_byte_stream.hpp"

namespace hub::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 16 * 1024;
constexpr int cbs_credit = 16;
constexpr int response_credit = 64;

// AMQP error conditions (AMQP 1.0 §2.8.15; spec/protocol.md §4.6).
constexpr const char* unauthorized_access = "amqp:unauthorized-access";
constexpr const char* not_found = "amqp:not-found";
constexpr const char* resource_limit = "amqp:resource-limit-exceeded";
constexpr const char* link_creation_conflict = "com.microsoft:link-creation-conflict";

using detail::lowest;
using detail::unix_now;

// ---- token checks (run on the core strand) -----------------------------------------------------

struct token_verdict {
  bool ok = false;
  identity_key who;  // empty device id: a hub-scoped policy token
  std::int64_t expires = 0;
  std::string token;
};

// A put-token (or SASL PLAIN) token: the identity comes from its `sr` (spec §4.2).
token_verdict verify_token(registry& reg, const policy_set& policies, std::string token) {
  token_verdict v;
  auto parsed = codec::sas::parse_token(token);
  if (!parsed) return v;
  auto who = amqp::parse_audience(parsed->sr);
  if (!who) return v;
  identity_keys keys;
  const identity_keys* kp = nullptr;
  identity_key check = *who;
  if (who->device_id.empty()) {
    // Hub-scoped: only a policy token with DeviceConnect can pass; identities are checked per link.
    check = identity_key{"$hub", {}};
    kp = &keys;
  } else {
    const auto* device = reg.find(identity_key{who->device_id, {}});
    const auto* rec = who->is_module() ? reg.find(*who) : device;
    if (rec) {
      if (!device || !device->enabled || !rec->enabled) return v;
      keys = {rec->primary_key, rec->secondary_key};
      kp = &keys;
    }
  }
  if (authorize_device(token, check, kp, policies, unix_now()) != errc::ok) return v;
  v.ok = true;
  v.who = std::move(*who);
  v.expires = token_valid_until(parsed->se);
  v.token = std::move(token);
  return v;
}

// May a hub-scoped policy token open links for `who`?
bool verify_policy_token_for(registry& reg, const policy_set& policies, const std::string& token,
                             const identity_key& who) {
  const auto* device = reg.find(identity_key{who.device_id, {}});
  const auto* rec = who.is_module() ? reg.find(who) : device;
  if (!rec || !device || !device->enabled || !rec->enabled) return false;
  identity_keys keys{rec->primary_key, rec->secondary_key};
  return authorize_device(token, who, &keys, policies, unix_now()) == errc::ok;
}

// ---- the connection -----------------------------------------------------------------------------

enum class link_kind : std::uint8_t { cbs_in, cbs_out, method_in, method_out };

struct link_role {
  link_kind kind;
  std::string who;  // identity_key::str() for method links
};

template <class Stream>
class amqp_connection final : public proton::messaging_handler,
                              public std::enable_shared_from_this<amqp_connection<Stream>> {
 public:
  amqp_connection(Stream stream, amqp_services& svc, const amqp_limits& limits)
      : stream_(std::move(stream)),
        svc_(svc),
        limits_(limits),
        write_signal_(stream_.get_executor()),
        watchdog_(stream_.get_executor()) {
    write_signal_.expires_at(steady::time_point::max());
  }

  asio::awaitable<void> run();

  // On the connection's strand (posted by the device link).
  void send_method(link_id id, std::shared_ptr<const method_request> req);
  void kick(link_id id, errc reason);

 private:
  class link;

  struct identity_state {
    identity_key who;
    link_id id = 0;
    std::optional<proton::sender> requests;     // hub -> device (the device's receiver)
    std::optional<proton::receiver> responses;  // device -> hub
    bool subscribed = false;
    std::deque<std::shared_ptr<const method_request>> waiting;  // no credit yet
  };
  struct token_state {
    std::string token;
    std::int64_t expires = 0;  // unix seconds, token_valid_until(se)
    // Lent by the hub-scoped token (key ""): renewing that token renews this one too.
    bool from_hub = false;
  };
  struct cbs_reply {
    proton::session session;
    proton::message message;
  };

  asio::awaitable<bool> security_layer(std::string& leftover);
  // Not a coroutine on purpose: GCC 12 mishandles lambdas with init-captures built inside a
  // co_await expression (the captured string was destroyed twice).
  asio::awaitable<token_verdict> verify_async(std::string token) {
    return svc_.registry.template async_read<token_verdict>(
        [&svc = svc_, token = std::move(token)](registry& reg) mutable {
          return verify_token(reg, svc.policies, std::move(token));
        },
        asio::use_awaitable);
  }
  asio::awaitable<bool> read_some(std::string& in);
  asio::awaitable<void> writer();
  asio::awaitable<void> watchdog();

  // Interface: proton::messaging_handler (called from driver_.dispatch() only).
  void on_connection_open(proton::connection& c) override;
  void on_session_open(proton::session& s) override;
  void on_receiver_open(proton::receiver& r) override;
  void on_sender_open(proton::sender& s) override;
  void on_session_close(proton::session& s) override;
  void on_receiver_close(proton::receiver& r) override { forget(r, false); }
  void on_sender_close(proton::sender& s) override { forget(s, true); }
  void on_receiver_detach(proton::receiver& r) override { forget(r, false); }
  void on_sender_detach(proton::sender& s) override { forget(s, true); }
  void on_sendable(proton::sender& s) override;
  void on_message(proton::delivery& d, proton::message& m) override;
  void on_transport_error(proton::transport& t) override;
  void on_error(const proton::error_condition& e) override;

  void feed(std::string_view bytes);
  void check_buffered();
  void pump();
  void shutdown();
  // Runs work posted to the strand from outside dispatch(): an exception from Proton ends this
  // connection, never the io_context thread.
  template <class Fn>
  void guarded(Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::debug("amqp: closing on an unexpected error: {}", e.what());
      shutdown();
    }
  }
  // Closes the AMQP connection with an error; the socket follows once the peer answers, or
  // after a short grace.
  void close_connection(const char* condition, const std::string& description) {
    driver_.connection().close(proton::error_condition(condition, description));
    close_by_ = steady::now() + std::chrono::seconds(2);
    watchdog_.cancel();
  }
  bool count_link(proton::link& l);
  template <class Link>
  void refuse(Link& l, const char* condition, const std::string& description);
  template <class Link>
  void attach_method_link(Link l, identity_key who);
  template <class Link>
  void open_method_link(Link l, const identity_key& who);
  void forget(proton::link& l, bool is_sender);
  void on_put_token(proton::session session, const proton::message& m);
  void on_token_verdict(proton::session session, const proton::message_id& id, token_verdict v);
  void reply_cbs(proton::session session, const proton::message_id& id, int status,
                 const std::string& text);
  void flush_cbs();
  void on_method_response(identity_state& st, const proton::message& m);
  void flush_requests(identity_state& st);
  void drop_identity(const std::string& key, const char* condition, const std::string& description);
  identity_state* find_by_id(link_id id);
  steady::time_point next_wake();

  Stream stream_;
  amqp_services& svc_;
  const amqp_limits& limits_;
  asio::steady_timer write_signal_;
  asio::steady_timer watchdog_;
  steady::time_point auth_deadline_{};
  steady::time_point proton_tick_ = steady::time_point::max();
  bool closed_ = false;
  bool accepted_ = false;    // the security layer is done and the driver runs
  bool input_done_ = false;  // the driver reads no more
  steady::time_point close_by_ = steady::time_point::max();  // after we closed: grace for the peer
  bool finished_ = false;     // the driver is done: flush, then close the socket
  bool dispatching_ = false;  // inside driver_.dispatch(): handlers must not pump
  std::string sending_;

  proton::io::connection_driver driver_;
  // Proton objects below hold references into driver_'s connection: declared after it, so they
  // are released first.
  std::size_t sessions_ = 0;
  std::map<std::pair<std::string, bool>, link_role> links_;  // (link name, we send) -> role
  std::map<std::string, token_state> tokens_;                // identity str ("" = hub-scoped)
  std::map<std::string, identity_state> identities_;
  std::deque<cbs_reply> cbs_out_;
  bool ever_authorized_ = false;
  bool opened_ = false;  // the peer's Open arrived
  // The auth deadline holds until both: a client authorized by SASL PLAIN must still open the
  // connection in time, or it could hold a descriptor by saying nothing after the SASL outcome.
  bool established() const noexcept { return ever_authorized_ && opened_; }
};

// The core's handle on one identity of this connection: a weak reference, so a link the core
// still holds never keeps a closed connection alive.
template <class Stream>
class amqp_connection<Stream>::link final : public device_link {
 public:
  link(std::weak_ptr<amqp_connection> c, typename Stream::executor_type ex, link_id id)
      : conn_(std::move(c)), ex_(std::move(ex)), id_(id) {}
  void deliver(std::shared_ptr<const method_request> request) override {
    asio::post(ex_, [c = conn_, id = id_, r = std::move(request)]() mutable {
      if (auto self = c.lock()) self->guarded([&] { self->send_method(id, std::move(r)); });
    });
  }
  void kick(errc reason) override {
    asio::post(ex_, [c = conn_, id = id_, reason] {
      if (auto self = c.lock()) self->guarded([&] { self->kick(id, reason); });
    });
  }

 private:
  std::weak_ptr<amqp_connection> conn_;
  typename Stream::executor_type ex_;
  link_id id_;
};

template <class Stream>
asio::awaitable<void> amqp_connection<Stream>::run() {
  auto self = this->shared_from_this();
  auth_deadline_ = steady::now() + limits_.auth_deadline;
  asio::co_spawn(stream_.get_executor(), watchdog(), asio::detached);

  std::string leftover;
  if (!co_await security_layer(leftover)) {
    shutdown();
    co_return;
  }

  proton::connection_options opts;
  opts.handler(*this)
      .max_frame_size(limits_.max_frame_size)
      .max_sessions(limits_.max_sessions)
      .sasl_enabled(false)
      .container_id("methodhub");
  if (limits_.idle_timeout.count() > 0)
    opts.idle_timeout(proton::duration(limits_.idle_timeout.count()));
  driver_.accept(opts);
  accepted_ = true;
  asio::co_spawn(stream_.get_executor(), writer(), asio::detached);
  feed(leftover);

  std::string buf(read_chunk, '\0');
  while (!closed_ && !finished_) {
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buf), use_nothrow);
    if (closed_) break;
    if (ec || read_text_frame(stream_)) {  // AMQP over WebSockets is binary messages only
      driver_.read_close();
      pump();
      break;
    }
    feed(std::string_view(buf).substr(0, n));
  }
  // The writer closes the socket once the driver's last bytes are out (or at once on error).
  if (!finished_) {
    driver_.disconnected(proton::error_condition("amqp:connection:forced", "connection lost"));
    pump();
  }
  for (auto& [key, st] : identities_)
    if (st.id != 0) svc_.presence.link_down(st.who, st.id);
  identities_.clear();
}

template <class Stream>
asio::awaitable<bool> amqp_connection<Stream>::read_some(std::string& in) {
  std::size_t old = in.size();
  in.resize(old + 512);
  auto [ec, n] = co_await stream_.async_read_some(asio::buffer(in.data() + old, 512), use_nothrow);
  in.resize(old + n);
  co_return !ec && !closed_ && !read_text_frame(stream_);
}

// The protocol header and, for the SASL header, the SASL exchange (spec §4.1). On success,
// `leftover` holds the bytes already read past it: the start of the AMQP header for the driver.
template <class Stream>
asio::awaitable<bool> amqp_connection<Stream>::security_layer(std::string& leftover) {
  std::string in;
  while (in.size() < amqp::protocol_header_size)
    if (!co_await read_some(in)) co_return false;
  auto kind = amqp::classify_header(std::string_view(in).substr(0, amqp::protocol_header_size));
  if (kind == amqp::header_kind::amqp) {
    leftover = std::move(in);
    co_return true;
  }
  if (kind == amqp::header_kind::other) {
    // AMQP 1.0 §2.2: answer an unsupported header with the one we speak, then close.
    co_await asio::async_write(stream_, asio::buffer(amqp::amqp_header), use_nothrow);
    co_return false;
  }
  in.erase(0, amqp::protocol_header_size);
  std::string out(amqp::sasl_header);
  // The C SDK fails unless MSSBCBS is offered (spec §4.1).
  out += amqp::encode_mechanisms({"MSSBCBS", "ANONYMOUS", "PLAIN"});
  if (auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(out), use_nothrow); ec)
    co_return false;

  amqp::init_result init;
  for (;;) {
    init = amqp::decode_init(in);
    if (init.status == amqp::decode_status::ok) break;
    if (init.status == amqp::decode_status::error) {
      spdlog::debug("amqp: closing on a malformed sasl-init");
      co_return false;
    }
    if (!co_await read_some(in)) co_return false;
  }
  in.erase(0, init.consumed);

  auto code = amqp::sasl_code::ok;
  const auto& mech = init.init.mechanism;
  if (mech == "PLAIN") {
    auto creds = amqp::parse_plain(init.init.initial_response);
    token_verdict v;
    if (creds) {
      v = co_await verify_async(std::move(creds->password));
    }
    if (v.ok) {
      ever_authorized_ = true;
      tokens_[v.who.str()] = token_state{std::move(v.token), v.expires};
    } else {
      code = amqp::sasl_code::auth;
    }
  } else if (mech != "MSSBCBS" && mech != "ANONYMOUS") {
    code = amqp::sasl_code::auth;
  }
  auto outcome = amqp::encode_outcome(code);
  if (auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(outcome), use_nothrow); ec)
    co_return false;
  if (code != amqp::sasl_code::ok) {
    spdlog::debug("amqp: SASL {} refused", mech);
    co_return false;
  }
  leftover = std::move(in);
  co_return true;
}

template <class Stream>
void amqp_connection<Stream>::feed(std::string_view bytes) {
  while (!bytes.empty() && !closed_) {
    auto rb = driver_.read_buffer();
    if (rb.size == 0) break;  // the driver reads no more (closed)
    std::size_t n = std::min(rb.size, bytes.size());
    std::copy_n(bytes.data(), n, rb.data);
    driver_.read_done(n);
    bytes.remove_prefix(n);
    pump();
    check_buffered();
  }
  pump();
}

// Proton buffers a message until its last frame: bound what a peer can make us hold.
template <class Stream>
void amqp_connection<Stream>::check_buffered() {
  if (closed_ || !accepted_ || close_by_ != steady::time_point::max()) return;
  for (auto s : driver_.connection().sessions()) {
    if (s.incoming_bytes() > limits_.max_message_bytes) {
      spdlog::debug("amqp: {} bytes of an unfinished message buffered; closing",
                    s.incoming_bytes());
      close_connection(resource_limit, "message too large");
      pump();
      return;
    }
  }
}

template <class Stream>
void amqp_connection<Stream>::pump() {
  if (dispatching_ || closed_) return;
  dispatching_ = true;
  bool more = false;
  try {
    more = driver_.dispatch();
  } catch (const std::exception& e) {
    // Proton throws on messages it cannot decode; the connection goes, the hub stays.
    dispatching_ = false;
    spdlog::debug("amqp: closing on an error while handling a frame: {}", e.what());
    shutdown();
    return;
  }
  dispatching_ = false;
  if (!more) finished_ = true;
  // The peer will not be heard again (EOS or a framing error): send what is queued and close.
  if (driver_.read_buffer().size == 0) input_done_ = true;
  auto next = driver_.tick(proton::timestamp::now());
  if (next.milliseconds() != 0) {
    auto wait =
        std::chrono::milliseconds(next.milliseconds() - proton::timestamp::now().milliseconds());
    proton_tick_ = steady::now() + std::max(wait, std::chrono::milliseconds(0));
  } else {
    proton_tick_ = steady::time_point::max();
  }
  // The watchdog sleeps until its own deadline: wake it if Proton now needs an earlier tick.
  if (proton_tick_ < watchdog_.expiry()) watchdog_.cancel();
  auto wb = driver_.write_buffer();
  if (wb.size > limits_.max_queued_bytes) {
    spdlog::warn("amqp: {} bytes unsent; dropping a connection that does not read", wb.size);
    shutdown();
    return;
  }
  if (wb.size > 0 || finished_ || input_done_) write_signal_.cancel();
}

template <class Stream>
void amqp_connection<Stream>::shutdown() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  lowest(stream_).shutdown(tcp::socket::shutdown_both, ec);
  lowest(stream_).close(ec);
  write_signal_.cancel();
  watchdog_.cancel();
}

template <class Stream>
asio::awaitable<void> amqp_connection<Stream>::writer() {
  auto self = this->shared_from_this();
  while (!closed_) {
    auto wb = driver_.write_buffer();
    if (wb.size == 0) {
      if (finished_ || input_done_) break;
      write_signal_.expires_at(steady::time_point::max());
      co_await write_signal_.async_wait(use_nothrow);
      continue;
    }
    // Copy out: the driver's buffer may move while the write is in flight.
    sending_.assign(wb.data, wb.size);
    driver_.write_done(wb.size);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(sending_), use_nothrow);
    if (sending_.capacity() > 256 * 1024) std::string().swap(sending_);
    if (ec) {
      if (!closed_) driver_.write_close();
      break;
    }
    pump();
  }
  shutdown();
}

template <class Stream>
steady::time_point amqp_connection<Stream>::next_wake() {
  auto t = std::min(proton_tick_, close_by_);
  if (!established()) t = std::min(t, auth_deadline_);
  for (const auto& [key, tok] : tokens_) t = std::min(t, detail::steady_deadline(tok.expires));
  return t;
}

template <class Stream>
asio::awaitable<void> amqp_connection<Stream>::watchdog() {
  auto self = this->shared_from_this();
  while (!closed_) {
    watchdog_.expires_at(std::min(next_wake(), steady::now() + std::chrono::seconds(60)));
    (void)co_await watchdog_.async_wait(use_nothrow);
    if (closed_) break;
    auto now = steady::now();
    if (now >= close_by_) {
      shutdown();
      break;
    }
    if (!established() && now >= auth_deadline_ && close_by_ == steady::time_point::max()) {
      spdlog::debug("amqp: no Open and valid token within {} s; closing",
                    limits_.auth_deadline.count());
      if (!accepted_) {
        shutdown();
        break;
      }
      close_connection(unauthorized_access, "no valid token");
      pump();
      continue;
    }
    // Expired tokens: that identity's links go (spec §4.2), the connection stays.
    auto t = unix_now();
    std::vector<std::string> expired;
    for (const auto& [key, tok] : tokens_)
      if (tok.expires < t) expired.push_back(key);
    for (const auto& key : expired) {
      tokens_.erase(key);
      drop_identity(key, unauthorized_access, "token expired");
    }
    if (accepted_ && (now >= proton_tick_ || !expired.empty())) pump();
  }
}

// ---- Proton events -----------------------------------------------------------------------------

template <class Stream>
void amqp_connection<Stream>::on_connection_open(proton::connection& c) {
  opened_ = true;
  if (c.uninitialized()) c.open();
}

template <class Stream>
void amqp_connection<Stream>::on_session_open(proton::session& s) {
  if (++sessions_ > limits_.max_sessions) {
    close_connection(resource_limit, "too many sessions");
    return;
  }
  if (s.uninitialized()) s.open();
}

template <class Stream>
void amqp_connection<Stream>::on_session_close(proton::session& s) {
  if (sessions_ > 0) --sessions_;
  // A session ended without detaching its links first: forget its method links now.
  std::vector<std::pair<proton::link, bool>> gone;
  for (auto& [key, st] : identities_) {
    if (st.requests && st.requests->session() == s) gone.emplace_back(*st.requests, true);
    if (st.responses && st.responses->session() == s) gone.emplace_back(*st.responses, false);
  }
  for (auto& [l, is_sender] : gone) forget(l, is_sender);
  for (auto l : s.senders()) links_.erase({l.name(), true});
  for (auto l : s.receivers()) links_.erase({l.name(), false});
}

template <class Stream>
bool amqp_connection<Stream>::count_link(proton::link&) {
  if (links_.size() >= limits_.max_links) {
    close_connection(resource_limit, "too many links");
    return false;
  }
  return true;
}

template <class Stream>
template <class Link>
void amqp_connection<Stream>::refuse(Link& l, const char* condition,
                                     const std::string& description) {
  spdlog::debug("amqp: refusing link '{}': {} ({})", l.name(), condition, description);
  if (l.uninitialized()) l.open();
  l.close(proton::error_condition(condition, description));
}

template <class Stream>
void amqp_connection<Stream>::on_receiver_open(proton::receiver& r) {
  if (!count_link(r)) return;
  auto address = r.target().address();
  if (address == "$cbs") {
    links_[{r.name(), false}] = link_role{link_kind::cbs_in, {}};
    r.open(proton::receiver_options().credit_window(cbs_credit).auto_accept(true));
    return;
  }
  if (auto who = amqp::parse_method_address(address)) {
    attach_method_link(r, std::move(*who));
    return;
  }
  refuse(r, not_found, "unknown address '" + address + "'");
}

template <class Stream>
void amqp_connection<Stream>::on_sender_open(proton::sender& s) {
  if (!count_link(s)) return;
  auto address = s.source().address();
  if (address == "$cbs") {
    links_[{s.name(), true}] = link_role{link_kind::cbs_out, {}};
    s.open();
    return;
  }
  if (auto who = amqp::parse_method_address(address)) {
    attach_method_link(s, std::move(*who));
    return;
  }
  refuse(s, not_found, "unknown address '" + address + "'");
}

// Authorizes a method link against the connection's live tokens: the identity's own token at
// once, or a hub-scoped policy token checked against the registry (spec §4.2, C#/C multiplexing).
template <class Stream>
template <class Link>
void amqp_connection<Stream>::attach_method_link(Link l, identity_key who) {
  auto key = who.str();
  auto t = unix_now();
  if (auto it = tokens_.find(key); it != tokens_.end() && it->second.expires >= t) {
    open_method_link(l, who);
    return;
  }
  auto hub = tokens_.find("");
  if (hub == tokens_.end() || hub->second.expires < t) {
    refuse(l, unauthorized_access, "no valid token for " + key);
    return;
  }
  // Hold the link in the table while the registry answers, so the count stays right.
  constexpr bool is_sender = std::is_same_v<Link, proton::sender>;
  links_[{l.name(), is_sender}] =
      link_role{is_sender ? link_kind::method_out : link_kind::method_in, {}};
  auto token = hub->second.token;
  auto expires = hub->second.expires;
  svc_.registry.template async_read<bool>(
      [&svc = svc_, token, who](registry& reg) {
        return verify_policy_token_for(reg, svc.policies, token, who);
      },
      asio::bind_executor(stream_.get_executor(), [w = this->weak_from_this(), l, who, token,
                                                   expires, is_sender](bool ok) mutable {
        auto self = w.lock();
        if (!self || self->closed_ || self->finished_) return;
        self->guarded([&] {
          auto entry = self->links_.find({l.name(), is_sender});
          if (entry == self->links_.end()) return;  // detached meanwhile
          self->links_.erase(entry);
          if (ok) {
            self->tokens_[who.str()] = token_state{token, expires, true};
            self->open_method_link(l, who);
          } else {
            self->refuse(l, unauthorized_access, "token does not cover " + who.str());
          }
          self->pump();
        });
      }));
}

template <class Stream>
template <class Link>
void amqp_connection<Stream>::open_method_link(Link l, const identity_key& who) {
  auto key = who.str();
  auto [it, fresh] = identities_.try_emplace(key);
  auto& st = it->second;
  if (fresh) {
    st.who = who;
    st.id = next_link_id();
    svc_.presence.link_up(
        who, st.id, std::make_shared<link>(this->weak_from_this(), stream_.get_executor(), st.id),
        false);
    spdlog::debug("amqp {}: method links opening (link {})", key, st.id);
  }
  if constexpr (std::is_same_v<Link, proton::sender>) {
    if (st.requests) {
      // A second receiver for the same identity on this connection replaces the first.
      links_.erase({st.requests->name(), true});
      st.requests->close(
          proton::error_condition(link_creation_conflict, "replaced by a newer link"));
    }
    links_[{l.name(), true}] = link_role{link_kind::method_out, key};
    st.requests = l;
    st.subscribed = false;
    l.open(proton::sender_options().delivery_mode(proton::delivery_mode::AT_MOST_ONCE));
  } else {
    if (st.responses) {
      links_.erase({st.responses->name(), false});
      st.responses->close(
          proton::error_condition(link_creation_conflict, "replaced by a newer link"));
    }
    links_[{l.name(), false}] = link_role{link_kind::method_in, key};
    st.responses = l;
    l.open(proton::receiver_options().credit_window(response_credit).auto_accept(true));
  }
}

template <class Stream>
void amqp_connection<Stream>::forget(proton::link& l, bool is_sender) {
  auto it = links_.find({l.name(), is_sender});
  if (it == links_.end()) return;
  auto role = std::move(it->second);
  links_.erase(it);
  if (role.kind != link_kind::method_in && role.kind != link_kind::method_out) return;
  auto st = identities_.find(role.who);
  if (st == identities_.end()) return;
  if (is_sender) {
    st->second.requests.reset();
    if (st->second.subscribed) {
      st->second.subscribed = false;
      svc_.presence.methods_subscribed(st->second.who, st->second.id, false);
    }
    st->second.waiting.clear();
  } else {
    st->second.responses.reset();
  }
  if (!st->second.requests && !st->second.responses) {
    spdlog::debug("amqp {}: method links closed", role.who);
    svc_.presence.link_down(st->second.who, st->second.id);
    identities_.erase(st);
  }
}

template <class Stream>
void amqp_connection<Stream>::drop_identity(const std::string& key, const char* condition,
                                            const std::string& description) {
  auto it = identities_.find(key);
  if (it == identities_.end()) return;
  auto& st = it->second;
  if (st.requests) {
    links_.erase({st.requests->name(), true});
    st.requests->close(proton::error_condition(condition, description));
  }
  if (st.responses) {
    links_.erase({st.responses->name(), false});
    st.responses->close(proton::error_condition(condition, description));
  }
  svc_.presence.link_down(st.who, st.id);
  spdlog::debug("amqp {}: method links closed by the hub: {} ({})", key, condition, description);
  identities_.erase(it);
}

template <class Stream>
void amqp_connection<Stream>::on_sendable(proton::sender& s) {
  auto it = links_.find({s.name(), true});
  if (it == links_.end()) return;
  if (it->second.kind == link_kind::cbs_out) {
    flush_cbs();
    return;
  }
  if (it->second.kind != link_kind::method_out) return;
  auto st = identities_.find(it->second.who);
  if (st == identities_.end()) return;
  if (!st->second.subscribed) {
    // An attached receiver with credit: the device listens for methods (spec §4.3).
    st->second.subscribed = true;
    svc_.presence.methods_subscribed(st->second.who, st->second.id, true);
  }
  flush_requests(st->second);
}

template <class Stream>
void amqp_connection<Stream>::on_message(proton::delivery& d, proton::message& m) {
  auto it = links_.find({d.receiver().name(), false});
  if (it == links_.end()) return;
  if (it->second.kind == link_kind::cbs_in) {
    on_put_token(d.session(), m);
    return;
  }
  if (it->second.kind == link_kind::method_in) {
    auto st = identities_.find(it->second.who);
    if (st != identities_.end()) on_method_response(st->second, m);
  }
}

template <class Stream>
void amqp_connection<Stream>::on_transport_error(proton::transport& t) {
  spdlog::debug("amqp: transport error: {}", t.error().what());
}

template <class Stream>
void amqp_connection<Stream>::on_error(const proton::error_condition& e) {
  spdlog::debug("amqp: error: {}", e.what());
}

// ---- CBS ---------------------------------------------------------------------------------------

std::string string_of(const proton::value& v) {
  switch (v.type()) {
    case proton::STRING:
      return proton::get<std::string>(v);
    case proton::BINARY:
      return std::string(proton::get<proton::binary>(v));
    case proton::SYMBOL:
      return std::string(proton::get<proton::symbol>(v));
    default:
      return {};
  }
}

std::string property(const proton::message& m, const std::string& name) {
  const auto& props = m.properties();
  if (!props.exists(name)) return {};
  auto v = props.get(name);
  if (v.type() == proton::STRING) return proton::get<std::string>(v);
  if (v.type() == proton::SYMBOL) return std::string(proton::get<proton::symbol>(v));
  return {};
}

template <class Stream>
void amqp_connection<Stream>::on_put_token(proton::session session, const proton::message& m) {
  auto id = m.id();
  if (property(m, "operation") != "put-token") {
    reply_cbs(session, id, 400, "unsupported operation");
    return;
  }
  auto token = string_of(m.body());
  if (token.empty() || token.size() > codec::sas::max_token_size) {
    reply_cbs(session, id, 401, "Unauthorized");
    return;
  }
  svc_.registry.template async_read<token_verdict>(
      [&svc = svc_, token = std::move(token)](registry& reg) mutable {
        return verify_token(reg, svc.policies, std::move(token));
      },
      asio::bind_executor(stream_.get_executor(), [w = this->weak_from_this(), session,
                                                   id](token_verdict v) mutable {
        auto self = w.lock();
        if (!self || self->closed_ || self->finished_) return;
        self->guarded([&] { self->on_token_verdict(session, id, std::move(v)); });
      }));
}

template <class Stream>
void amqp_connection<Stream>::on_token_verdict(proton::session session,
                                               const proton::message_id& id, token_verdict v) {
  auto key = v.who.str();
  if (!v.ok) {
    reply_cbs(session, id, 401, "Unauthorized");
  } else if (!tokens_.contains(key) && tokens_.size() >= limits_.max_identities) {
    reply_cbs(session, id, 403, "too many identities on one connection");
  } else {
    // A token put again refreshes in place (spec §4.2). A renewed hub-scoped token renews the
    // identities whose links it authorized (C# with a policy key renews only that token).
    ever_authorized_ = true;
    if (key.empty())
      for (auto& [other, tok] : tokens_)
        if (tok.from_hub) tok = token_state{v.token, v.expires, true};
    tokens_[key] = token_state{std::move(v.token), v.expires};
    watchdog_.cancel();  // re-read the next expiry
    reply_cbs(session, id, 200, "OK");
  }
  pump();
}

template <class Stream>
void amqp_connection<Stream>::reply_cbs(proton::session session, const proton::message_id& id,
                                        int status, const std::string& text) {
  proton::message r;
  // The C SDK reads a ulong, Java a uuid, C# and Node compare strings: echo the type (spec §4.2).
  r.correlation_id(id);
  r.properties().put("status-code", static_cast<std::int32_t>(status));
  r.properties().put("status-description", text);
  cbs_out_.push_back(cbs_reply{std::move(session), std::move(r)});
  flush_cbs();
}

template <class Stream>
void amqp_connection<Stream>::flush_cbs() {
  std::deque<cbs_reply> later;
  while (!cbs_out_.empty()) {
    auto reply = std::move(cbs_out_.front());
    cbs_out_.pop_front();
    // The reply goes on the client's $cbs receiver in the same session (any, if none there).
    std::optional<proton::sender> best;
    for (auto s : reply.session.senders()) {
      if (!s.active()) continue;
      auto it = links_.find({s.name(), true});
      if (it != links_.end() && it->second.kind == link_kind::cbs_out) {
        best = s;
        break;
      }
    }
    if (!best) {
      for (auto s : reply.session.connection().senders()) {
        auto it = links_.find({s.name(), true});
        if (s.active() && it != links_.end() && it->second.kind == link_kind::cbs_out) {
          best = s;
          break;
        }
      }
    }
    if (!best) continue;  // nobody listens: drop
    if (best->credit() <= 0) {
      later.push_back(std::move(reply));
      continue;
    }
    best->send(reply.message).settle();
  }
  if (later.size() > 64) later.resize(64);
  cbs_out_ = std::move(later);
}

// ---- methods -----------------------------------------------------------------------------------

template <class Stream>
void amqp_connection<Stream>::send_method(link_id id, std::shared_ptr<const method_request> req) {
  if (closed_ || finished_) return;
  auto* st = find_by_id(id);
  if (!st || !st->requests) return;  // gone: the core answers when it hears link_down
  if (st->waiting.size() >= limits_.max_waiting_requests) return;
  st->waiting.push_back(std::move(req));
  flush_requests(*st);
  pump();
}

template <class Stream>
void amqp_connection<Stream>::flush_requests(identity_state& st) {
  if (!st.requests || !st.requests->active()) return;
  while (!st.waiting.empty() && st.requests->credit() > 0) {
    auto req = std::move(st.waiting.front());
    st.waiting.pop_front();
    auto u = amqp::rid_to_uuid(req->rid);
    if (!u) {
      spdlog::warn("amqp {}: request id '{}' does not fit a uuid; dropped", st.who.str(), req->rid);
      continue;
    }
    proton::uuid cid;
    std::copy(u->begin(), u->end(), cid.begin());
    proton::message m;
    m.correlation_id(cid);
    m.properties().put("IoThub-methodname", req->method_name);
    // One data section with the payload bytes, `null` for a null payload (spec §4.4).
    m.body(proton::binary(req->payload.empty() ? std::string("null") : req->payload));
    m.inferred(true);
    st.requests->send(m).settle();  // pre-settled (edgeHub: AtMostOnce)
  }
}

std::optional<amqp::uuid_bytes> correlation_uuid(const proton::message_id& cid) {
  amqp::uuid_bytes u{};
  if (cid.type() == proton::UUID) {
    auto v = proton::get<proton::uuid>(cid);
    std::copy(v.begin(), v.end(), u.begin());
    return u;
  }
  if (cid.type() == proton::STRING) {
    // Some clients send the uuid's text form back.
    std::string text;
    for (char c : proton::get<std::string>(cid))
      if (c != '-') text.push_back(c);
    if (text.size() != 32) return std::nullopt;
    for (std::size_t i = 0; i < 16; ++i) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int hi = hex(text[2 * i]), lo = hex(text[2 * i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      u[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return u;
  }
  return std::nullopt;
}

template <class Stream>
void amqp_connection<Stream>::on_method_response(identity_state& st, const proton::message& m) {
  auto u = correlation_uuid(m.correlation_id());
  std::optional<std::string> rid;
  if (u) rid = amqp::uuid_to_rid(*u);
  if (!rid) {
    spdlog::debug("amqp {}: response with an unknown correlation id; dropped", st.who.str());
    return;
  }
  const auto& props = m.properties();
  if (!props.exists("IoThub-status")) {
    spdlog::debug("amqp {}: response without IoThub-status; dropped", st.who.str());
    return;
  }
  auto sv = props.get("IoThub-status");
  if (!proton::type_id_is_signed_int(sv.type()) && !proton::type_id_is_unsigned_int(sv.type())) {
    spdlog::debug("amqp {}: IoThub-status is not an integer; dropped", st.who.str());
    return;
  }
  auto status64 = proton::coerce<std::int64_t>(sv);
  if (status64 < INT32_MIN || status64 > INT32_MAX) return;
  // A missing body means a null payload (Node, payload undefined; spec §4.5).
  std::string payload = string_of(m.body());
  if (payload.empty()) payload = "null";
  svc_.presence.method_response(st.id, std::move(*rid), static_cast<int>(status64),
                                std::move(payload));
}

template <class Stream>
typename amqp_connection<Stream>::identity_state* amqp_connection<Stream>::find_by_id(link_id id) {
  for (auto& [key, st] : identities_)
    if (st.id == id) return &st;
  return nullptr;
}

template <class Stream>
void amqp_connection<Stream>::kick(link_id id, errc reason) {
  if (closed_ || finished_) return;
  auto* st = find_by_id(id);
  if (!st) return;
  auto key = st->who.str();
  if (reason == errc::service_unavailable) {
    // The hub is stopping: the socket closes, without an AMQP close. The Node SDK answers a
    // close(amqp:connection:forced) by detaching its links and waiting for replies that cannot
    // come after a close, and then never reconnects; a dropped connection it does retry.
    shutdown();
    return;
  } else if (reason == errc::device_unavailable) {
    // A newer connection for the same identity (spec §4.6).
    drop_identity(key, link_creation_conflict, "a newer connection for this identity");
  } else {
    tokens_.erase(key);
    drop_identity(key, not_found, "identity disabled or deleted");
  }
  pump();
}

// ---- start -------------------------------------------------------------------------------------

}  // namespace

asio::awaitable<void> run_amqp_over_websocket(wss_stream ws, amqp_services& svc,
                                              const amqp_limits& limits) {
  return detail::run_head_websocket<amqp_connection>(std::move(ws), svc, limits);
}

asio::awaitable<void> run_amqp_over_websocket(ws_stream ws, amqp_services& svc,
                                              const amqp_limits& limits) {
  return detail::run_head_websocket<amqp_connection>(std::move(ws), svc, limits);
}

asio::awaitable<void> run_amqp_session(memory_stream stream, amqp_services& svc,
                                       const amqp_limits& limits) {
  return detail::run_head<amqp_connection>(std::move(stream), svc, limits);
}

void start_amqp_session(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
                        amqp_services& svc, const amqp_limits& limits, connection_ticket ticket) {
  detail::start_head<amqp_connection>("amqp", std::move(socket), std::move(tls), svc, limits,
                                      std::move(ticket));
}

}  // namespace hub::transport
