// methodhub-microbench: Google Benchmark suite for the hot pieces of a direct-method call.
// Run by bench/run; never part of the test suite.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include "api/invoke_body.hpp"
#include "api/invoke_result_json.hpp"
#include "codec/mqtt/decode.hpp"
#include "codec/mqtt/encode.hpp"
#include "codec/sas/sas_token.hpp"
#include "core/auth.hpp"

namespace {

namespace mqtt = hub::codec::mqtt;
namespace sas = hub::codec::sas;

// A 100-byte JSON payload, as bench/run's invocations carry.
std::string payload_json(std::size_t bytes = 100) {
  std::string pad(bytes > 8 ? bytes - 8 : 1, 'x');
  return "{\"d\":\"" + pad + "\"}";
}

const std::string method_topic = "$iothub/methods/POST/echo/?$rid=1234567";
const std::string key_b64 = "aGVsbG8gd29ybGQgdGhpcyBpcyBhIDMyIGJ5dGUga2V5IQ==";

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void BM_mqtt_encode_method_publish(benchmark::State& state) {
  auto payload = payload_json(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    mqtt::encode_publish(out, method_topic, payload, 0, 0);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_mqtt_encode_method_publish)->Arg(100)->Arg(4096);

void BM_mqtt_decode_method_publish(benchmark::State& state) {
  std::string wire;
  mqtt::encode_publish(wire, method_topic, payload_json(static_cast<std::size_t>(state.range(0))),
                       0, 0);
  for (auto _ : state) {
    auto r = mqtt::decode(wire);
    benchmark::DoNotOptimize(r);
    if (r.status != mqtt::decode_status::ok) state.SkipWithError("decode failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_mqtt_decode_method_publish)->Arg(100)->Arg(4096);

// The device's answer as the hub reads it: a PUBLISH on $iothub/methods/res/200/?$rid=...
void BM_mqtt_decode_method_response(benchmark::State& state) {
  std::string wire;
  mqtt::encode_publish(wire, "$iothub/methods/res/200/?$rid=1234567", payload_json(), 0, 0);
  for (auto _ : state) {
    auto r = mqtt::decode(wire);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_mqtt_decode_method_response);

void BM_sas_make_token(benchmark::State& state) {
  for (auto _ : state) {
    auto t = sas::make_token("localhost/devices/bench-dev-000001", key_b64, 2000000000, {});
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_sas_make_token);

void BM_sas_parse_and_verify(benchmark::State& state) {
  auto token = sas::make_token("localhost/devices/bench-dev-000001", key_b64, 2000000000, {});
  for (auto _ : state) {
    auto t = sas::parse_token(token);
    bool ok = t && sas::signature_matches(*t, key_b64);
    benchmark::DoNotOptimize(ok);
    if (!ok) state.SkipWithError("token did not verify");
  }
}
BENCHMARK(BM_sas_parse_and_verify);

// What every REST call pays today: the whole Authorization header check.
void BM_authorize_service(benchmark::State& state) {
  hub::policy_set policies("localhost");
  policies.add({"iothubowner", key_b64, key_b64, hub::all_rights});
  auto now = now_unix();
  auto header = sas::make_token("localhost", key_b64, now + 3600, "iothubowner");
  for (auto _ : state) {
    auto e = hub::authorize_service(header, hub::service_connect, policies, now);
    benchmark::DoNotOptimize(e);
    if (e != hub::errc::ok) state.SkipWithError("not authorized");
  }
}
BENCHMARK(BM_authorize_service);

void BM_parse_invoke_body(benchmark::State& state) {
  std::string body = "{\"methodName\":\"echo\",\"responseTimeoutInSeconds\":30,\"payload\":" +
                     payload_json(static_cast<std::size_t>(state.range(0))) + "}";
  for (auto _ : state) {
    auto r = hub::api::parse_invoke_body(body);
    benchmark::DoNotOptimize(r);
    if (!std::holds_alternative<hub::api::invoke_body>(r)) state.SkipWithError("body refused");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_parse_invoke_body)->Arg(100)->Arg(4096);

void BM_invoke_result_json(benchmark::State& state) {
  auto payload = payload_json(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto s = hub::api::invoke_result_json(200, payload);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_invoke_result_json)->Arg(100)->Arg(4096);

}  // namespace

BENCHMARK_MAIN();
