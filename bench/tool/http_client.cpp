#include "http_client.hpp"

#include <atomic>
#include <future>
#include <memory>
#include <mutex>

#include "process.hpp"

namespace hub::bench {

// ------------------------------------------------------------------------------------------------
// HTTP/1.1 client pieces.

std::string http_request(std::string_view method, std::string_view target, const std::string& auth,
                         std::string_view body) {
  std::string r;
  r.reserve(256 + auth.size() + body.size());
  r += method;
  r += ' ';
  r += target;
  r += " HTTP/1.1\r\nHost: localhost\r\nAuthorization: ";
  r += auth;
  r += "\r\nContent-Type: application/json\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\n\r\n";
  r += body;
  return r;
}

// Registers devices [0, n) with PUT /devices/{id} over `conns` keep-alive connections and stores
// each primary key. Returns seconds taken.
double register_devices(asio::io_context& ioc, std::uint16_t http_port, const std::string& auth,
                        const std::vector<std::string>& ids, std::vector<std::string>& keys,
                        int conns) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> bad{0};
  std::mutex m;
  std::string first_error;
  auto worker = [&](std::shared_ptr<slot> sl) -> awaitable<void> {
    try {
      tcp::socket sock(sl->strand);
      sl->sock = &sock;
      slot_guard g{*sl};
      co_await open_and_connect(sock, http_port, 0, 1);
      std::string in, body;
      for (std::size_t i; (i = next++) < ids.size();) {
        std::string req = http_request("PUT", "/devices/" + ids[i] + "?api-version=2021-04-12",
                                       auth, "{\"deviceId\":\"" + ids[i] + "\"}");
        co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
        int status = co_await read_http_response(sock, in, body);
        std::string key = json_string_after(body, "primaryKey");
        if (status != 200 || key.empty()) {
          ++bad;
          std::lock_guard<std::mutex> l(m);
          if (first_error.empty()) first_error = std::to_string(status) + " " + body.substr(0, 300);
          continue;
        }
        keys[i] = key;
      }
    } catch (const std::exception& e) {
      ++bad;
      std::lock_guard<std::mutex> l(m);
      if (first_error.empty()) first_error = reason_of(e);
    }
  };
  auto t0 = clk::now();
  std::vector<std::future<void>> fs;
  std::vector<std::shared_ptr<slot>> slots;
  for (int k = 0; k < conns; ++k) {
    slots.push_back(std::make_shared<slot>(ioc));
    fs.push_back(asio::co_spawn(slots.back()->strand, worker(slots.back()), asio::use_future));
  }
  auto until = clk::now() + std::chrono::seconds(600);
  for (auto& f : fs)
    if (f.wait_until(until) != std::future_status::ready) {
      close_slots(slots);
      for (auto& f2 : fs) f2.wait_for(std::chrono::seconds(5));
      throw std::runtime_error("device registration did not finish in 600 s");
    }
  if (bad)
    throw std::runtime_error("device registration: " + std::to_string(bad.load()) +
                             " failures, first: " + first_error);
  return std::chrono::duration<double>(clk::now() - t0).count();
}

}  // namespace hub::bench
