#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "proxy/report_trigger.h"
#include "proxy/route_snapshot.h"
#include "proxy/settings.h"
#include "proxy/traffic_counters.h"
#include "proxy/worker.h"

namespace lockstep::proxy {

// Worker threads for `settings` (workers, or one per core); counters need one shard per worker.
uint32_t effective_workers(const ProxySettings& settings);

// The HTTP side of lockstep-proxy: `workers` threads, each with an SO_REUSEPORT listener on the
// same address. Route tables are published to every worker; a table counts as applied once
// every worker uses it.
class ProxyServer {
 public:
  ProxyServer(const ProxySettings& settings, TrafficCounters& counters, const Clock& clock,
              ReportTrigger& trigger, Logger log);
  ~ProxyServer();  // stops and joins the workers
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds (throws boost::system::system_error naming the address on failure) and starts.
  void start();
  Endpoint local_endpoint() const;
  uint32_t workers() const { return static_cast<uint32_t>(workers_.size()); }

  // Any thread. Applies `snapshot` on every worker; then applied_version() reports it and the
  // reporter is asked to acknowledge it soon.
  void publish(std::shared_ptr<const RouteSnapshot> snapshot);
  uint64_t applied_version() const { return applied_version_.load(std::memory_order_acquire); }
  // Called (on a worker thread) each time a table becomes applied on every worker. Set before
  // start().
  void on_applied(std::function<void(uint64_t version)> fn) { on_applied_ = std::move(fn); }
  const std::atomic<uint64_t>& applied_version_ref() const { return applied_version_; }

  // /readyz: a table is applied and no drain has begun.
  bool ready() const { return applied_version() != 0 && !shared_.draining.load(); }
  // SIGTERM, step 1: /readyz answers 503; connections are still accepted and served.
  void begin_drain();
  // Step 2 (blocking): stop accepting, close idle connections, let requests in progress finish
  // for up to `timeout` (their responses carry Connection: close), then close what remains.
  void drain(Duration timeout);
  size_t open_sessions() const;

  // Tests: run every worker's timeout sweep now (after moving a ManualClock).
  void sweep_now();

 private:
  const ProxySettings& settings_;
  WorkerShared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // release/acquire: a reader that sees the version also sees that every worker switched.
  std::atomic<uint64_t> applied_version_{0};
  std::function<void(uint64_t)> on_applied_;
};

}  // namespace lockstep::proxy
