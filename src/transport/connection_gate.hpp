#pragma once
// The hub's connection limits (docs/limits.md): connections open at once, in total and per
// source address, counted across every listener (MQTT, AMQP, HTTPS and the WebSockets on it).
// A listener asks the gate before it starts a session; a refused socket is closed right after
// accept, before any TLS or protocol byte, and the refusal is logged at warn at most once per
// interval.
//
// Thread safety: the gate's counts live on its own strand, and admit() must be called there
// (listeners complete their accepts on it); the two counters may be read anywhere (a snapshot). A
// ticket may be destroyed on any thread: it posts its release to the strand, and keeps the gate
// alive until then.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/strand.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "transport/log_throttle.hpp"

namespace hub::transport {

struct connection_limits {
  std::size_t max_total = 0;        // 0 = no cap
  std::size_t max_per_address = 0;  // 0 = no cap
  std::string total_note;           // why max_total has its value, for the refusal log
};

class connection_gate;

/// One admitted connection's place. Move-only; destroying it frees the place. A
/// default-constructed ticket holds none (sessions started without a gate).
class connection_ticket {
 public:
  connection_ticket() = default;
  connection_ticket(connection_ticket&& other) noexcept = default;
  connection_ticket& operator=(connection_ticket&& other) noexcept;
  connection_ticket(const connection_ticket&) = delete;
  connection_ticket& operator=(const connection_ticket&) = delete;
  ~connection_ticket() { release(); }

 private:
  friend class connection_gate;
  connection_ticket(std::shared_ptr<connection_gate> gate, boost::asio::ip::address address)
      : gate_(std::move(gate)), address_(address) {}
  void release() noexcept;

  std::shared_ptr<connection_gate> gate_;
  boost::asio::ip::address address_;
};

class connection_gate : public std::enable_shared_from_this<connection_gate> {
 public:
  using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;

  static std::shared_ptr<connection_gate> create(boost::asio::io_context& ioc,
                                                 connection_limits limits);

  const strand_type& strand() const noexcept { return strand_; }
  const connection_limits& limits() const noexcept { return limits_; }

  /// On strand(): a ticket for a connection from `peer` accepted by `listener`, or nullopt when
  /// a limit is reached (the caller closes the socket; the refusal is logged here).
  std::optional<connection_ticket> admit(const boost::asio::ip::address& peer,
                                         std::string_view listener);

  /// Connections holding a ticket now; refused since start. Any thread.
  std::size_t open() const noexcept { return open_.load(std::memory_order_relaxed); }
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

 private:
  friend class connection_ticket;
  struct address_hash {
    std::size_t operator()(const boost::asio::ip::address& a) const noexcept;
  };

  connection_gate(boost::asio::io_context& ioc, connection_limits limits);
  void release(const boost::asio::ip::address& peer);

  strand_type strand_;
  connection_limits limits_;
  // Written on the strand only; atomic so that /metrics may read them from elsewhere.
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::unordered_map<boost::asio::ip::address, std::size_t, address_hash> per_address_;
  log_throttle refusal_log_;
};

}  // namespace hub::transport
