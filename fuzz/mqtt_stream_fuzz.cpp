// A byte stream of MQTT packets, decoded one after another as a session's receive buffer would
// (codec/mqtt/decode.hpp), with a differential check: every packet that decodes is re-encoded
// (encode.hpp) and must decode to the same value, consuming exactly the encoded bytes.
#include "codec/mqtt/decode.hpp"
#include "codec/mqtt/encode.hpp"
#include "fuzz_check.hpp"

using namespace hub::codec::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = hub::fuzz::as_view(data, size);
  for (;;) {
    const decode_result r = decode(rest);
    if (r.status != decode_status::ok) break;
    std::string wire;
    encode(wire, r.packet);
    const decode_result again = decode(wire);
    HUB_FUZZ_CHECK(again.status == decode_status::ok && again.consumed == wire.size());
    HUB_FUZZ_CHECK(again.packet == r.packet);
    rest.remove_prefix(r.consumed);
  }
  return 0;
}
