#pragma once
// Template definitions for core/registry.hpp.

#include <boost/asio/post.hpp>

#include "core/completion.hpp"

namespace hub {

template <class R, class Fn>
void registry::start_read(boost::asio::any_completion_handler<void(R)> h, Fn f) {
  boost::asio::post(core_, [this, h = std::move(h), f = std::move(f)]() mutable {
    R r = f(*this);
    complete_on_own_executor(std::move(h), core_, std::move(r));
  });
}

}  // namespace hub
