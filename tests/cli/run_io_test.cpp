// run_io: a handler that throws costs its own work only; the io_context goes on running the
// handlers queued after it, and run_io returns once the io_context runs out of work.

#include "cli/run_io.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <stdexcept>
#include <vector>

namespace hub::cli {
namespace {

TEST(run_io, GoesOnAfterAHandlerThrows) {
  boost::asio::io_context ioc;
  std::vector<int> ran;
  boost::asio::post(ioc, [&] { ran.push_back(1); });
  boost::asio::post(ioc, [&] {
    ran.push_back(2);
    throw std::runtime_error("a handler failed");
  });
  boost::asio::post(ioc, [&] { throw 42; });  // not a std::exception
  boost::asio::post(ioc, [&] { ran.push_back(3); });
  ASSERT_NO_THROW(run_io(ioc));
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST(run_io, ReturnsWhenStopped) {
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  bool ran = false;
  boost::asio::post(ioc, [&] {
    ran = true;
    ioc.stop();
  });
  run_io(ioc);  // would block for good without the stop
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace hub::cli
