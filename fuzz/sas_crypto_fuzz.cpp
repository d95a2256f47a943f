// The percent and base64 codecs (codec/sas/crypto.hpp), each checked against its encoder.
#include "codec/sas/crypto.hpp"
#include "fuzz_check.hpp"

using namespace hub::codec::sas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = hub::fuzz::as_view(data, size);
  if (auto d = url_decode(in)) HUB_FUZZ_CHECK(d->size() <= in.size());
  HUB_FUZZ_CHECK(url_decode(url_encode(in)) == std::string(in));
  if (auto d = base64_decode(in)) {
    HUB_FUZZ_CHECK(d->size() <= in.size() / 4 * 3);
    HUB_FUZZ_CHECK(base64_decode(base64_encode(*d)) == *d);
  }
  HUB_FUZZ_CHECK(base64_decode(base64_encode(in)) == std::string(in));
  return 0;
}
