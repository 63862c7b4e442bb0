#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "proxy/reporter.h"
#include "proxy/route_snapshot.h"
#include "proxy/settings.h"
#include "proxy/traffic_counters.h"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace lockstep::proxy {

// Subscribes to route tables (lockstep.v1.Routes/Subscribe) from one scaler replica at a time,
// preferring replicas whose report stream is healthy, and fails over to the next one when the
// stream ends. Each table is validated and compiled on this class's own thread and handed to
// `publish`; while no replica answers, the last good table stays in use.
class RouteSubscriber {
 public:
  using Publish = std::function<void(std::shared_ptr<const RouteSnapshot>)>;
  using Scalers = std::function<std::vector<ScalerEndpoint>()>;

  RouteSubscriber(const ProxySettings& settings, Reporter::Identity identity, Scalers scalers,
                  TrafficCounters& counters, Publish publish, prometheus::Registry& registry,
                  Logger log);
  ~RouteSubscriber();  // cancels the stream, waits for it to end, joins
  RouteSubscriber(const RouteSubscriber&) = delete;
  RouteSubscriber& operator=(const RouteSubscriber&) = delete;

  void start();
  // Version of the last table published (0: none yet). Any thread.
  uint64_t published_version() const { return published_.load(std::memory_order_acquire); }

 private:
  class Stream;

  void connect();
  void on_table(uint64_t gen, const void* table);
  void on_done(uint64_t gen, int code, const std::string& message);
  void retry(bool failed);

  const ProxySettings& settings_;
  const Reporter::Identity identity_;
  Scalers scalers_;
  TrafficCounters& counters_;
  Publish publish_;
  Logger log_;
  prometheus::Gauge& version_gauge_;
  prometheus::Gauge& routes_gauge_;
  prometheus::Family<prometheus::Counter>& tables_family_;
  prometheus::Family<prometheus::Counter>& rejects_family_;
  prometheus::Family<prometheus::Gauge>& source_family_;

  boost::asio::io_context ioc_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  boost::asio::steady_timer retry_timer_{ioc_};
  std::thread thread_;

  // --- subscriber thread only ---
  std::unique_ptr<Stream> stream_;
  std::string current_;  // replica of the live stream
  prometheus::Gauge* current_gauge_ = nullptr;
  uint64_t gen_ = 0;
  size_t next_pick_ = 0;
  bool got_table_ = false;
  Duration backoff_;
  uint64_t rng_;
  bool stopping_ = false;
  uint64_t failures_ = 0;  // consecutive streams that ended without a table (for log pacing)
  std::chrono::steady_clock::time_point last_failure_log_{};

  std::atomic<uint64_t> published_{0};  // release: the published snapshot is complete
};

}  // namespace lockstep::proxy
