#pragma once
// Running the hub's io_context on one thread, with a last resort for exceptions.
//
// The protocol heads catch what their own work throws (a connection that fails closes alone), but
// an exception that still escapes a completion handler ends io_context::run() on that thread, and
// on a pool thread std::terminate ends the hub with every connection. Asio allows run() to be
// called again after a handler threw, without restart(): run_io() logs the exception and does so.

#include <boost/asio/io_context.hpp>

namespace hub::cli {

/// Runs `ioc` on the calling thread until it stops or runs out of work. An exception escaping a
/// handler is logged (error level) and running goes on.
void run_io(boost::asio::io_context& ioc);

}  // namespace hub::cli
