#include "codec/mqtt/decode.hpp"

#include "codec/mqtt/validate.hpp"

namespace hub::codec::mqtt {
namespace {

// A bounds-checked cursor over one packet's body. Every read fails instead of running past the
// end, so the body parsers below cannot overrun whatever the Remaining Length claimed.
class reader {
 public:
  explicit reader(std::string_view body) : body_(body) {}

  bool at_end() const noexcept { return pos_ == body_.size(); }
  std::size_t left() const noexcept { return body_.size() - pos_; }

  bool u8(std::uint8_t& v) noexcept {
    if (left() < 1) return false;
    v = static_cast<std::uint8_t>(body_[pos_++]);
    return true;
  }

  bool u16(std::uint16_t& v) noexcept {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(body_[pos_]) << 8) |
                                   static_cast<std::uint8_t>(body_[pos_ + 1]));
    pos_ += 2;
    return true;
  }

  // A two-byte length followed by that many bytes (§1.5.3 strings, §3.1.3 binary fields).
  bool prefixed(std::string_view& v) noexcept {
    std::uint16_t n = 0;
    if (!u16(n) || left() < n) return false;
    v = body_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  std::string_view rest() noexcept {
    std::string_view v = body_.substr(pos_);
    pos_ = body_.size();
    return v;
  }

 private:
  std::string_view body_;
  std::size_t pos_ = 0;
};

decode_error read_string(reader& r, std::string& out) {
  std::string_view v;
  if (!r.prefixed(v)) return decode_error::malformed_packet;
  if (!valid_utf8(v)) return decode_error::bad_utf8;
  out.assign(v);
  return decode_error::none;
}

decode_error read_binary(reader& r, std::string& out) {
  std::string_view v;
  if (!r.prefixed(v)) return decode_error::malformed_packet;
  out.assign(v);
  return decode_error::none;
}

// Packet identifiers must be nonzero wherever they appear (§2.3.1, [MQTT-2.3.1-1]).
decode_error read_packet_id(reader& r, std::uint16_t& id) {
  if (!r.u16(id)) return decode_error::malformed_packet;
  return id == 0 ? decode_error::protocol_violation : decode_error::none;
}

// Body parsers report by value, not by exception; this forwards the first error upward.
#define HUB_MQTT_TRY(expr)                                             \
  do {                                                                 \
    if (decode_error e_ = (expr); e_ != decode_error::none) return e_; \
  } while (false)

decode_error parse_connect(reader& r, connect& c, std::uint8_t& level_out) {
  std::string_view name;
  if (!r.prefixed(name) || !r.u8(c.protocol_level)) return decode_error::malformed_packet;
  level_out = c.protocol_level;
  // Only the name and level are read for other versions: that is all the session needs to
  // answer CONNACK 0x01, and MQTT 5's variable header (properties) would not parse as 3.1.1.
  if (name != "MQTT" && name != "MQIsdp") return decode_error::protocol_violation;
  c.protocol_name.assign(name);
  if (name != "MQTT" || c.protocol_level != 4) return decode_error::unsupported_protocol_version;

  std::uint8_t flags = 0;
  if (!r.u8(flags) || !r.u16(c.keep_alive)) return decode_error::malformed_packet;
  const bool username_flag = (flags & 0x80) != 0;
  const bool password_flag = (flags & 0x40) != 0;
  const bool will_retain = (flags & 0x20) != 0;
  const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  const bool will_flag = (flags & 0x04) != 0;
  c.clean_session = (flags & 0x02) != 0;
  if ((flags & 0x01) != 0 || will_qos == 3) return decode_error::malformed_packet;
  if (!will_flag && (will_qos != 0 || will_retain)) return decode_error::protocol_violation;
  // [MQTT-3.1.2-22]. IoT Hub clients send a username with every password (SAS), so this costs
  // no real client anything.
  if (password_flag && !username_flag) return decode_error::protocol_violation;

  HUB_MQTT_TRY(read_string(r, c.client_id));
  if (will_flag) {
    will_message& w = c.will.emplace();
    w.qos = will_qos;
    w.retain = will_retain;
    HUB_MQTT_TRY(read_string(r, w.topic));
    if (!valid_topic_name(w.topic)) return decode_error::protocol_violation;
    HUB_MQTT_TRY(read_binary(r, w.payload));
  }
  if (username_flag) HUB_MQTT_TRY(read_string(r, c.username.emplace()));
  if (password_flag) HUB_MQTT_TRY(read_binary(r, c.password.emplace()));
  return r.at_end() ? decode_error::none : decode_error::malformed_packet;
}

decode_error parse_connack(reader& r, connack& c) {
  std::uint8_t ack_flags = 0;
  std::uint8_t code = 0;
  if (!r.u8(ack_flags) || !r.u8(code)) return decode_error::malformed_packet;
  if ((ack_flags & 0xFE) != 0 || code > 5) return decode_error::malformed_packet;
  c.session_present = (ack_flags & 0x01) != 0;
  c.return_code = static_cast<connect_return_code>(code);
  return decode_error::none;
}

decode_error parse_publish(reader& r, publish& p, std::uint8_t flags) {
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  HUB_MQTT_TRY(read_string(r, p.topic));
  if (!valid_topic_name(p.topic)) return decode_error::protocol_violation;
  if (p.qos > 0) HUB_MQTT_TRY(read_packet_id(r, p.packet_id));
  // The one copy of the payload: straight from the wire into the packet that is returned.
  p.payload.assign(r.rest());
  return decode_error::none;
}

template <class Ack>
decode_error parse_ack(reader& r, Ack& a) {
  return read_packet_id(r, a.packet_id);
}

decode_error parse_subscribe(reader& r, subscribe& s) {
  HUB_MQTT_TRY(read_packet_id(r, s.packet_id));
  if (r.at_end()) return decode_error::protocol_violation;  // [MQTT-3.8.3-3]
  while (!r.at_end()) {
    subscription& sub = s.subscriptions.emplace_back();
    HUB_MQTT_TRY(read_string(r, sub.filter));
    if (!valid_topic_filter(sub.filter)) return decode_error::protocol_violation;
    // Upper six bits reserved, and QoS 3 not a QoS: both malformed ([MQTT-3-8.3-4]).
    if (!r.u8(sub.requested_qos) || sub.requested_qos > 2) return decode_error::malformed_packet;
  }
  return decode_error::none;
}

decode_error parse_suback(reader& r, suback& s) {
  HUB_MQTT_TRY(read_packet_id(r, s.packet_id));
  if (r.at_end()) return decode_error::malformed_packet;
  std::string_view codes = r.rest();
  s.return_codes.reserve(codes.size());
  for (char ch : codes) {
    const auto code = static_cast<std::uint8_t>(ch);
    if (code > 2 && code != suback_failure) return decode_error::malformed_packet;
    s.return_codes.push_back(code);
  }
  return decode_error::none;
}

decode_error parse_unsubscribe(reader& r, unsubscribe& u) {
  HUB_MQTT_TRY(read_packet_id(r, u.packet_id));
  if (r.at_end()) return decode_error::protocol_violation;  // [MQTT-3.10.3-2]
  while (!r.at_end()) {
    std::string& filter = u.filters.emplace_back();
    HUB_MQTT_TRY(read_string(r, filter));
    if (!valid_topic_filter(filter)) return decode_error::protocol_violation;
  }
  return decode_error::none;
}

#undef HUB_MQTT_TRY

// Table 2.2: the flags each type must carry; PUBLISH's are checked separately.
constexpr std::uint8_t required_flags(packet_type t) noexcept {
  switch (t) {
    case packet_type::pubrel:
    case packet_type::subscribe:
    case packet_type::unsubscribe:
      return 0x02;
    default:
      return 0x00;
  }
}

// Remaining Length of the packets whose size the type alone fixes; -1 for the others. Checking
// it with the header refuses e.g. a PINGREQ claiming a 200 KB body before any of it arrives.
constexpr long fixed_remaining_length(packet_type t) noexcept {
  switch (t) {
    case packet_type::connack:
    case packet_type::puback:
    case packet_type::pubrec:
    case packet_type::pubrel:
    case packet_type::pubcomp:
    case packet_type::unsuback:
      return 2;
    case packet_type::pingreq:
    case packet_type::pingresp:
    case packet_type::disconnect:
      return 0;
    default:
      return -1;
  }
}

decode_result fail(decode_error e) {
  decode_result r;
  r.status = decode_status::error;
  r.error = e;
  return r;
}

decode_result need(std::size_t total) {
  decode_result r;
  r.status = decode_status::need_more;
  r.needed = total;
  return r;
}

decode_error parse_body(packet_type type, std::uint8_t flags, std::string_view body,
                        decode_result& out) {
  reader r(body);
  switch (type) {
    case packet_type::connect:
      return parse_connect(r, out.packet.emplace<connect>(), out.protocol_level);
    case packet_type::connack:
      return parse_connack(r, out.packet.emplace<connack>());
    case packet_type::publish:
      return parse_publish(r, out.packet.emplace<publish>(), flags);
    case packet_type::puback:
      return parse_ack(r, out.packet.emplace<puback>());
    case packet_type::pubrec:
      return parse_ack(r, out.packet.emplace<pubrec>());
    case packet_type::pubrel:
      return parse_ack(r, out.packet.emplace<pubrel>());
    case packet_type::pubcomp:
      return parse_ack(r, out.packet.emplace<pubcomp>());
    case packet_type::subscribe:
      return parse_subscribe(r, out.packet.emplace<subscribe>());
    case packet_type::suback:
      return parse_suback(r, out.packet.emplace<suback>());
    case packet_type::unsubscribe:
      return parse_unsubscribe(r, out.packet.emplace<unsubscribe>());
    case packet_type::unsuback:
      return parse_ack(r, out.packet.emplace<unsuback>());
    case packet_type::pingreq:
      out.packet.emplace<pingreq>();
      return decode_error::none;
    case packet_type::pingresp:
      out.packet.emplace<pingresp>();
      return decode_error::none;
    case packet_type::disconnect:
      out.packet.emplace<disconnect>();
      return decode_error::none;
  }
  return decode_error::invalid_packet_type;
}

}  // namespace

std::string_view to_string(decode_error e) noexcept {
  switch (e) {
    case decode_error::none:
      return "none";
    case decode_error::invalid_packet_type:
      return "invalid_packet_type";
    case decode_error::malformed_remaining_length:
      return "malformed_remaining_length";
    case decode_error::packet_too_large:
      return "packet_too_large";
    case decode_error::invalid_flags:
      return "invalid_flags";
    case decode_error::malformed_packet:
      return "malformed_packet";
    case decode_error::bad_utf8:
      return "bad_utf8";
    case decode_error::protocol_violation:
      return "protocol_violation";
    case decode_error::unsupported_protocol_version:
      return "unsupported_protocol_version";
  }
  return "unknown";
}

decode_result decode(std::string_view buf, std::size_t max_packet_size) {
  if (buf.empty()) return need(0);

  const auto first = static_cast<std::uint8_t>(buf[0]);
  const std::uint8_t type_bits = first >> 4;
  const auto flags = static_cast<std::uint8_t>(first & 0x0F);
  if (type_bits == 0 || type_bits == 15) return fail(decode_error::invalid_packet_type);
  const auto type = static_cast<packet_type>(type_bits);
  if (type == packet_type::publish) {
    if (((flags >> 1) & 0x03) == 3) return fail(decode_error::malformed_packet);  // [MQTT-3.3.1-4]
  } else if (flags != required_flags(type)) {
    return fail(decode_error::invalid_flags);
  }

  // Remaining Length: 1..4 bytes, 7 bits each, least significant first (§2.2.3).
  std::size_t remaining = 0;
  std::size_t header = 1;
  for (int shift = 0;; shift += 7) {
    if (header >= buf.size()) return need(0);
    const auto b = static_cast<std::uint8_t>(buf[header++]);
    remaining |= static_cast<std::size_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) break;
    if (header == 5) return fail(decode_error::malformed_remaining_length);
  }
  if (remaining > max_packet_size) return fail(decode_error::packet_too_large);
  if (const long fixed = fixed_remaining_length(type);
      fixed >= 0 && remaining != static_cast<std::size_t>(fixed)) {
    return fail(decode_error::malformed_packet);
  }

  const std::size_t total = header + remaining;
  if (buf.size() < total) return need(total);

  decode_result out;
  if (decode_error e = parse_body(type, flags, buf.substr(header, remaining), out);
      e != decode_error::none) {
    out.status = decode_status::error;
    out.error = e;
    return out;
  }
  out.status = decode_status::ok;
  out.consumed = total;
  return out;
}

}  // namespace hub::codec::mqtt
