#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "proxy/report_trigger.h"
#include "proxy/route_snapshot.h"
#include "proxy/settings.h"
#include "proxy/traffic_counters.h"
#include "proxy/upstream_pool.h"

namespace lockstep::proxy {

// State every worker shares, owned by the ProxyServer. Everything here is immutable or atomic.
struct WorkerShared {
  const ProxySettings& settings;
  TrafficCounters& counters;
  const Clock& clock;
  ReportTrigger& trigger;
  Logger log;
  // Open client connections over all workers, for limits.maxClientConnections (accept path only).
  std::atomic<int64_t> client_connections{0};
  // Set once on SIGTERM; relaxed: a request seeing it a little late only keeps its connection.
  std::atomic<bool> draining{false};
};

// One route table as one worker uses it: requests in progress pin it with a plain counter
// (worker-local, so no atomic traffic on the request path).
struct Generation {
  std::shared_ptr<const RouteSnapshot> snapshot;
  uint32_t users = 0;
};

// A request held for a cold backend, queued FIFO in its worker. Lives in the session's frame.
struct HeldRequest : boost::intrusive::list_base_hook<> {
  std::string route_key;
  std::string service;
  boost::asio::steady_timer* timer = nullptr;
  int client_fd = -1;        // checked by the sweep: a client that hung up stops waiting
  bool released = false;
  bool client_gone = false;
};

using SessionHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// What a worker needs from a client connection: its timeout and drain hooks. Worker thread only.
class SessionNode : public SessionHook {
 public:
  virtual ~SessionNode() = default;
  // The deadline (coarse steady ns, 0 = none) passed: cancel whatever the session waits for.
  virtual void on_deadline() = 0;
  // Drain: close the connection if it waits for a next request.
  virtual void close_if_idle() = 0;
  // Shutdown: close client and upstream sockets now.
  virtual void force_close() = 0;
  int64_t deadline_ns = 0;
};

// One HTTP worker: a thread running its own io_context, with its own SO_REUSEPORT listener,
// upstream pools, hold queue and route table generation. Sessions never leave their worker,
// so nothing on the request path is shared with other threads except single-writer counters
// and the split sequence.
class Worker {
 public:
  Worker(uint32_t index, WorkerShared& shared);
  ~Worker();  // stops and joins
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds the listener (before start()). Throws boost::system::system_error.
  void listen(const Endpoint& at, bool reuse_port);
  Endpoint local_endpoint() const;
  void start();

  // Thread-safe. Publishes a table to this worker; `applied` runs on the worker thread after it
  // is in use (held requests whose backend gained endpoints are already released).
  void apply(std::shared_ptr<const RouteSnapshot> snapshot, std::function<void()> applied);
  // Thread-safe drain steps: stop accepting; close idle keep-alive connections (those in the
  // middle of a request finish it with Connection: close); close everything.
  void stop_accepting();
  void close_idle();
  void force_close();
  // Sessions alive on this worker (any thread).
  size_t open_sessions() const { return open_sessions_.load(std::memory_order_relaxed); }
  // Runs `fn` on the worker thread.
  void post(std::function<void()> fn);
  // Checks deadlines now (worker thread; tests call it through post after moving a clock).
  void sweep_now() { sweep(); }

  // --- worker-thread API for sessions ---
  Executor executor() { return ioc_->get_executor(); }
  uint32_t index() const { return index_; }
  const ProxySettings& settings() const { return shared_.settings; }
  const Clock& clock() const { return shared_.clock; }
  WorkerShared& shared() { return shared_; }
  UpstreamPool& pool() { return pool_; }
  ProcessShard& stats() { return shared_.counters.process(index_); }
  bool draining() const { return shared_.draining.load(std::memory_order_relaxed); }
  // Coarse steady time (ns), refreshed every timerResolution; deadlines are set from it.
  int64_t now_ns() const { return now_ns_; }
  int64_t precise_now_ns() const;
  uint64_t random();

  Generation* acquire();
  void release(Generation* g);

  void enqueue_held(HeldRequest& h) { held_.push_back(h); }
  void dequeue_held(HeldRequest& h);

  void add_session(SessionNode& s);
  void remove_session(SessionNode& s);

  // 64 KiB body relay buffers, recycled per worker.
  static constexpr size_t kRelayBufferSize = 64 * 1024;
  std::unique_ptr<char[]> take_buffer();
  void give_buffer(std::unique_ptr<char[]> b);

 private:
  void sweep();
  void arm_sweep();
  void on_apply(std::shared_ptr<const RouteSnapshot> snapshot);

  const uint32_t index_;
  WorkerShared& shared_;
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::optional<boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>> acceptor_;
  std::optional<boost::asio::steady_timer> sweep_timer_;
  UpstreamPool pool_;
  int64_t now_ns_ = 0;
  uint64_t rng_;
  std::unique_ptr<Generation> current_;
  std::vector<std::unique_ptr<Generation>> retired_;
  boost::intrusive::list<HeldRequest> held_;
  boost::intrusive::list<SessionNode, boost::intrusive::base_hook<SessionHook>,
                         boost::intrusive::constant_time_size<false>>
      sessions_;
  std::atomic<size_t> open_sessions_{0};
  std::vector<std::unique_ptr<char[]>> free_buffers_;
  std::thread thread_;
  bool stopping_ = false;
};

}  // namespace lockstep::proxy
