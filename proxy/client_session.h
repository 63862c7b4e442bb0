#pragma once

#include <boost/asio/awaitable.hpp>

#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace lockstep::proxy {

template <typename T>
using Task = boost::asio::awaitable<T, Executor>;

// Serves one client connection on `worker` until it closes: reads requests (keep-alive), routes
// them, holds requests for cold backends, forwards them with streamed bodies and relays the
// responses. Runs on the worker thread only.
Task<void> serve_client(Worker& worker, Socket socket);

}  // namespace lockstep::proxy
