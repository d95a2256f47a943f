#include "cli/logging.hpp"

#include <fmt/chrono.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

#include "codec/json/json_scan.hpp"

namespace hub::cli {

namespace {

// One JSON object per line: {"time":..,"level":..,"msg":..}. The message is escaped properly
// (spdlog's pattern flags do not escape), so log shippers can parse every line.
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(msg.payload.size() + 96);
    auto t = std::chrono::system_clock::to_time_t(msg.time);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() %
        1000;
    line +=
        fmt::format("{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}.{:03d}Z\",\"level\":", fmt::gmtime(t), ms);
    auto level = spdlog::level::to_string_view(msg.level);
    codec::json::append_escaped(line, std::string_view(level.data(), level.size()));
    line += ",\"msg\":";
    codec::json::append_escaped(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

}  // namespace

void setup_logging(std::string_view format, std::string_view level) {
  auto logger = spdlog::stdout_logger_mt("methodhub");
  if (format == "json") {
    logger->set_formatter(std::make_unique<json_formatter>());
  } else if (format == "text") {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  } else {
    throw std::invalid_argument("unknown log format '" + std::string(format) + "' (text or json)");
  }
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off")
    throw std::invalid_argument("unknown log level '" + std::string(level) + "'");
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace hub::cli
