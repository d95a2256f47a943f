#pragma once
// Completing a stored handler the Asio way: on the handler's own executor (an HTTP session's or
// a device link's strand), never inline on the strand that happens to finish the work.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <tuple>
#include <utility>

namespace hub {

/// Completes `h` with `args` on its associated executor (or `fallback` when it has none).
template <class Sig, class Fallback, class... Args>
void complete_on_own_executor(boost::asio::any_completion_handler<Sig> h, const Fallback& fallback,
                              Args&&... args) {
  auto ex = boost::asio::get_associated_executor(h, fallback);
  // any_completion_executor offers no blocking.never, so post() is unavailable; dispatch from
  // one strand onto another queues the work there all the same.
  boost::asio::dispatch(
      ex, [h = std::move(h), t = std::make_tuple(std::forward<Args>(args)...)]() mutable {
        std::apply([&](auto&&... a) { std::move(h)(std::move(a)...); }, std::move(t));
      });
}

}  // namespace hub
