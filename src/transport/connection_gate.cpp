#include "transport/connection_gate.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <functional>

namespace hub::transport {

namespace asio = boost::asio;

namespace {

// An IPv4 client on a dual-stack (`::`) listener arrives as ::ffff:a.b.c.d: count it as a.b.c.d.
asio::ip::address canonical(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

connection_ticket& connection_ticket::operator=(connection_ticket&& other) noexcept {
  if (this != &other) {
    release();
    gate_ = std::move(other.gate_);
    address_ = other.address_;
  }
  return *this;
}

void connection_ticket::release() noexcept {
  if (!gate_) return;
  auto gate = std::move(gate_);
  // During io_context shutdown the strand may already be gone: the post is then dropped, which
  // is harmless (nothing will be admitted again).
  try {
    asio::post(gate->strand_, [gate, a = address_] { gate->release(a); });
  } catch (...) {
  }
}

std::size_t connection_gate::address_hash::operator()(const asio::ip::address& a) const noexcept {
  return std::hash<asio::ip::address>()(a);
}

std::shared_ptr<connection_gate> connection_gate::create(asio::io_context& ioc,
                                                         connection_limits limits) {
  return std::shared_ptr<connection_gate>(new connection_gate(ioc, std::move(limits)));
}

connection_gate::connection_gate(asio::io_context& ioc, connection_limits limits)
    : strand_(asio::make_strand(ioc)),
      limits_(std::move(limits)),
      refusal_log_(std::chrono::seconds(10)) {}

std::optional<connection_ticket> connection_gate::admit(const asio::ip::address& peer,
                                                        std::string_view listener) {
  auto address = canonical(peer);
  const char* reason = nullptr;
  std::size_t cap = 0;
  auto& from_address = per_address_[address];
  if (limits_.max_total != 0 && open() >= limits_.max_total) {
    reason = "max_connections";
    cap = limits_.max_total;
  } else if (limits_.max_per_address != 0 && from_address >= limits_.max_per_address) {
    reason = "max_connections_per_address";
    cap = limits_.max_per_address;
  }
  if (reason != nullptr) {
    if (from_address == 0) per_address_.erase(address);
    refused_.fetch_add(1, std::memory_order_relaxed);
    if (auto held_back = refusal_log_.allow(log_throttle::clock::now())) {
      spdlog::warn(
          "{}: connection from {} refused: {} ({}{}) reached{}", listener, address.to_string(),
          reason, cap, reason == std::string_view("max_connections") ? limits_.total_note : "",
          *held_back ? fmt::format("; {} more refused since the last warning", *held_back) : "");
    }
    return std::nullopt;
  }
  open_.fetch_add(1, std::memory_order_relaxed);
  ++from_address;
  return connection_ticket(shared_from_this(), address);
}

void connection_gate::release(const asio::ip::address& peer) {
  if (open() > 0) open_.fetch_sub(1, std::memory_order_relaxed);
  auto it = per_address_.find(peer);
  if (it == per_address_.end()) return;
  if (--it->second == 0) per_address_.erase(it);
}

}  // namespace hub::transport
