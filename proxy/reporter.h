#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "proxy/report_composer.h"
#include "proxy/report_trigger.h"
#include "proxy/settings.h"
#include "proxy/traffic_counters.h"

namespace grpc {
class Channel;
class ChannelCredentials;
}

namespace prometheus {
class Registry;
class Gauge;
class Counter;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace lockstep::proxy {

// One scaler replica as the route subscriber sees it.
struct ScalerEndpoint {
  std::string name;  // "ip:port" or the configured "host:port" (the `scaler` metric label)
  std::shared_ptr<grpc::Channel> channel;
  bool healthy = false;  // its report stream is open and has been acknowledged
};

// Streams the counters to every scaler replica (lockstep.v1.Ingest/Report), one stream each:
// at once when a request is held (ReportTrigger::urgent) or a route table was applied, otherwise
// every reportInterval (only changed series; a heartbeat at least every 5 s). On each (re)connect
// it replays the per-second history. Backs off with jitter on failure. Replicas come from a
// static list or a DNS name re-resolved periodically. Runs on its own thread; the request path
// only raises the trigger.
class Reporter {
 public:
  struct Identity {
    std::string proxy_id;
    uint64_t boot_epoch = 0;  // process start, ns since the Unix epoch
  };
  // Resolves scalerDns ("host", "port") into `out`; runs on the reporter thread, so it must not
  // block. Empty (the default): the system resolver (getaddrinfo on Asio's resolver thread).
  // Tests inject a table that they change between re-resolutions.
  using ScalerLookup = std::function<boost::system::error_code(
      const std::string& host, const std::string& port,
      std::vector<boost::asio::ip::tcp::endpoint>& out)>;
  Reporter(const ProxySettings& settings, Identity identity, TrafficCounters& counters,
           const std::atomic<uint64_t>& applied_version, ReportTrigger& trigger,
           const Clock& clock, prometheus::Registry& registry, Logger log,
           ScalerLookup lookup = {});
  ~Reporter();  // cancels the streams, waits for them to end, joins
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  void start();
  // Shutdown: sends a last report on every open stream and waits up to `timeout` for the acks,
  // so no request served before this call is left unreported. Blocking (main thread).
  bool flush(Duration timeout);

  // Thread-safe snapshot of the replicas, for the route subscriber.
  std::vector<ScalerEndpoint> scalers() const;
  // Thread-safe: replicas whose stream is open and acknowledged.
  size_t healthy_count() const;

 private:
  class Call;
  struct Link;

  void on_tick();
  void arm_tick();
  void arm_tls_check();
  void wait_trigger();
  void resolve();
  void on_resolved(boost::system::error_code ec,
                   const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);
  void set_targets(const std::vector<std::pair<std::string, std::string>>& targets);
  void open(Link& link);
  void schedule_reconnect(Link& link, bool failed);
  void read_counters();
  void compose_and_send(Link& link, bool urgent, bool force);
  void send_next(Link& link);
  void on_write_done(const std::string& name, uint64_t gen, bool ok);
  void on_ack(const std::string& name, uint64_t gen, const void* response);
  void on_read_failed(const std::string& name, uint64_t gen);
  void on_done(const std::string& name, uint64_t gen, int code, const std::string& message);
  void publish_status();
  void maybe_finish_stop();
  Duration jittered(Duration d);

  const ProxySettings& settings_;
  const Identity identity_;
  TrafficCounters& counters_;
  const std::atomic<uint64_t>& applied_version_;
  ReportTrigger& trigger_;
  const Clock& clock_;
  Logger log_;
  const ScalerLookup lookup_;

  prometheus::Family<prometheus::Gauge>& connected_family_;
  prometheus::Family<prometheus::Counter>& reports_family_;
  prometheus::Family<prometheus::Counter>& rejects_family_;
  prometheus::Histogram& urgent_delay_;

  boost::asio::io_context ioc_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  boost::asio::steady_timer tick_timer_{ioc_};
  boost::asio::steady_timer resolve_timer_{ioc_};
  boost::asio::steady_timer tls_timer_{ioc_};
  boost::asio::ip::tcp::resolver resolver_{ioc_};
  boost::asio::posix::stream_descriptor trigger_fd_{ioc_};
  std::thread thread_;

  // --- reporter thread only ---
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string tls_stamp_;
  std::map<std::string, std::unique_ptr<Link>> links_;
  std::vector<const SeriesCounters*> series_;
  std::vector<SeriesName> names_;
  std::vector<SeriesValues> values_;
  std::vector<uint64_t> cumulative_;
  SeriesHistory history_;
  uint64_t next_seq_ = 1;
  uint64_t next_gen_ = 1;
  uint64_t rng_;
  bool stopping_ = false;
  int64_t last_heartbeat_ns_ = 0;

  // --- shared with other threads ---
  mutable std::mutex status_mu_;  // guards status_ and the flush state below
  std::vector<ScalerEndpoint> status_;
  std::condition_variable flush_cv_;
  std::map<std::string, uint64_t> flush_wait_;  // link -> seq that must be acked
};

// The gRPC target for a replica address: "ipv4:1.2.3.4:9090" / "ipv6:[::1]:9090" for literals,
// else the name itself (resolved by gRPC).
std::string grpc_target_for(const std::string& host_port);

}  // namespace lockstep::proxy
