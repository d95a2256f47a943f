#include "core/invoker.hpp"

#include <boost/asio/post.hpp>

namespace hub {

void invoker::start(invoke_request call, cluster::router::invoke_handler handler) {
  boost::asio::post(registry_.strand(),
                    [this, call = std::move(call), h = std::move(handler)]() mutable {
                      // First, so a throttled call costs nothing and never reaches a device.
                      if (!throttle_.try_take(call.policy, throttle::clock::now())) {
                        complete_on_own_executor(std::move(h), registry_.strand(),
                                                 invoke_result{errc::throttled, 0, {}});
                        return;
                      }
                      // A disabled device is reported like an unknown one (DOC-ERR 404001); a
                      // module of a disabled device cannot be reached either.
                      const auto* device = registry_.find(identity_key{call.target.device_id, {}});
                      if (!device || !device->enabled) {
                        complete_on_own_executor(std::move(h), registry_.strand(),
                                                 invoke_result{errc::device_not_found, 0, {}});
                        return;
                      }
                      if (call.target.is_module()) {
                        const auto* module = registry_.find(call.target);
                        if (!module || !module->enabled) {
                          complete_on_own_executor(std::move(h), registry_.strand(),
                                                   invoke_result{errc::module_not_found, 0, {}});
                          return;
                        }
                      }
                      router_.route(std::move(call), std::move(h));
                    });
}

}  // namespace hub
