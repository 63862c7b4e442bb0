#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "proxy/route_snapshot.h"
#include "proxy/traffic_counters.h"

namespace lockstep::proxy {

using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;

// One keep-alive connection to a backend endpoint, owned by one worker.
struct UpstreamConnection {
  UpstreamConnection(Executor ex, Endpoint ep) : socket(ex), endpoint(ep) {}
  Socket socket;
  Endpoint endpoint;
  boost::beast::flat_buffer buffer;  // response bytes read ahead; must be empty to pool
  int64_t idle_since_ns = 0;
  uint64_t requests = 0;  // served on this connection
};

struct EndpointHash {
  size_t operator()(const Endpoint& ep) const;
};

// A worker's view of every endpoint it talks to: outstanding requests (for least-outstanding
// picks) and idle keep-alive connections. Worker-local: no locks, no atomics shared with others.
class UpstreamPool {
 public:
  UpstreamPool(uint32_t max_idle_per_endpoint, ProcessShard& stats)
      : max_idle_(max_idle_per_endpoint), stats_(stats) {}
  ~UpstreamPool();

  // An idle connection to `ep` (most recently used first), or null. A connection pooled before
  // the coarse clock last ticked (`now_ns`) is first checked with a non-blocking peek, so one the
  // upstream closed while idle (its keep-alive timeout) is discarded rather than used; connections
  // reused within a tick skip the syscall.
  std::unique_ptr<UpstreamConnection> take(const Endpoint& ep, int64_t now_ns);
  // Returns a connection after a complete exchange; closes it when the pool is full.
  void give_back(std::unique_ptr<UpstreamConnection> conn, int64_t now_ns);

  // Outstanding requests per endpoint, for the least-outstanding choice.
  uint32_t outstanding(const Endpoint& ep) const;
  void begin_request(const Endpoint& ep);
  void end_request(const Endpoint& ep);

  // Closes connections idle since before `cutoff_ns`.
  void close_idle_before(int64_t cutoff_ns);
  // Drops state (and idle connections) of endpoints absent from `snapshot`.
  void prune(const RouteSnapshot& snapshot);
  void close_all();

  size_t idle_count() const;

  // Counts connections being used for a request (the `active` gauge).
  void connection_opened() { stats_.upstream_active.inc(); }
  void connection_closed() { stats_.upstream_active.dec(); }

 private:
  struct Slot {
    uint32_t outstanding = 0;
    std::vector<std::unique_ptr<UpstreamConnection>> idle;  // oldest first
  };
  const uint32_t max_idle_;
  ProcessShard& stats_;
  std::unordered_map<Endpoint, Slot, EndpointHash> slots_;
};

}  // namespace lockstep::proxy
