// One MQTT 3.1.1 packet from the front of arbitrary bytes (codec/mqtt/decode.hpp), at the hub's
// limit and at a small one, checking the result's contract: every strict prefix of a packet
// that decodes is need_more (TCP may split anywhere), never an error.
#include "codec/mqtt/decode.hpp"
#include "fuzz_check.hpp"

using namespace hub::codec::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = hub::fuzz::as_view(data, size);
  for (std::size_t max : {default_max_packet_size, std::size_t{64}}) {
    const decode_result r = decode(in, max);
    if (r.status == decode_status::need_more) HUB_FUZZ_CHECK(r.needed == 0 || r.needed > in.size());
    if (r.status == decode_status::error) HUB_FUZZ_CHECK(r.error != decode_error::none);
    if (r.status != decode_status::ok) continue;
    HUB_FUZZ_CHECK(r.consumed >= 2 && r.consumed <= in.size());
    for (std::size_t k = 0; k < r.consumed; k += 1 + r.consumed / 16)
      HUB_FUZZ_CHECK(decode(in.substr(0, k), max).status == decode_status::need_more);
    HUB_FUZZ_CHECK(decode(in.substr(0, r.consumed - 1), max).status == decode_status::need_more);
  }
  return 0;
}
