#include "scaler/scaler_server.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <malloc.h>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>
#include <unistd.h>

#include <cstdio>

namespace lockstep::scaler {

class ScalerServer::ApplyObserver final : public aggregator::IngestObserver {
 public:
  explicit ApplyObserver(ScalerMetrics& m) : metrics_(m) {}
  void on_report_applied(std::chrono::nanoseconds d, size_t) override { metrics_.ingest_apply(d); }

 private:
  ScalerMetrics& metrics_;
};

namespace {

// ingest.apply_policy, already checked against its choices by the config schema.
aggregator::ApplyPolicy apply_policy_of(const std::string& name) {
  if (name == "normal") return aggregator::ApplyPolicy::kNormal;
  if (name == "batch") return aggregator::ApplyPolicy::kBatch;
  return aggregator::ApplyPolicy::kIdle;
}

#if defined(__GLIBC__)
// This process's resident size (the second field of /proc/self/statm, in pages), or -1.
int64_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : -1;
}
#endif

aggregator::AggregatorOptions aggregator_options(const ScalerConfig& c) {
  aggregator::AggregatorOptions o;
  o.default_shape = {static_cast<uint32_t>(c.aggregator.default_granularity.count()),
                     static_cast<uint32_t>(c.aggregator.default_window.count())};
  o.max_routes = static_cast<size_t>(c.aggregator.max_routes);
  o.max_backends_per_route = static_cast<size_t>(c.aggregator.max_backends_per_route);
  o.route_idle_eviction = c.aggregator.route_idle_eviction;
  o.gauge_grace = c.aggregator.gauge_grace;
  o.proxy_state_ttl = c.aggregator.proxy_state_ttl;
  return o;
}

aggregator::IngestLimits ingest_limits(const ScalerConfig& c) {
  aggregator::IngestLimits l;
  l.max_entries_per_report = static_cast<size_t>(c.ingest.max_entries_per_report);
  l.max_series_id = static_cast<uint32_t>(c.ingest.max_series_id);
  l.max_gauge = static_cast<uint32_t>(c.ingest.max_gauge);
  l.max_requests_delta = static_cast<uint64_t>(c.ingest.max_requests_delta);
  l.max_history_buckets = static_cast<uint32_t>(c.ingest.max_history_buckets);
  l.max_clock_skew = c.ingest.max_clock_skew;
  return l;
}

}  // namespace

ScalerServer::ScalerServer(ScalerConfig config, const Clock& clock,
                           std::shared_ptr<prometheus::Registry> registry, Logger log,
                           const MetricComputation* computation)
    : config_(std::move(config)), clock_(clock), registry_(std::move(registry)), log_(std::move(log)) {
  if (computation == nullptr) {
    own_computation_ = std::make_unique<MetricComputation>(clock_);
    computation = own_computation_.get();
  }
  computation_ = computation;
  aggregator_ = std::make_unique<aggregator::Aggregator>(clock_, aggregator_options(config_),
                                                         log_.child("aggregator"));
  metrics_ = std::make_unique<ScalerMetrics>(*registry_);
  observer_ = std::make_unique<ApplyObserver>(*metrics_);
  triggers_ = std::make_unique<TriggerCache>(*aggregator_, log_.child("triggers"),
                                             static_cast<size_t>(config_.keda.max_triggers));
  catalogue_ = std::make_unique<TriggerCatalogue>(*aggregator_);
  hub_ = std::make_unique<ActivationHub>(*aggregator_, *computation_, *metrics_,
                                         log_.child("activation"));
  aggregator_->set_activity_listener(hub_.get());
  keda_ = std::make_unique<ExternalScalerService>(*triggers_, *computation_, *hub_, *metrics_,
                                                  clock_, log_.child("keda"));
  catalogue_->on_change([this] { keda_->refresh_metric_specs(); });
  aggregator::IngestServiceOptions ingest_options;
  ingest_options.limits = ingest_limits(config_);
  ingest_options.apply_threads = static_cast<int>(config_.ingest.apply_threads);
  ingest_options.apply_nice = static_cast<int>(config_.ingest.apply_nice);
  ingest_options.apply_policy = apply_policy_of(config_.ingest.apply_policy);
  ingest_options.inline_apply_bytes = static_cast<size_t>(config_.ingest.inline_apply_bytes);
  ingest_options.queue_bytes = static_cast<size_t>(config_.ingest.queue_bytes);
  ingest_ = std::make_unique<aggregator::IngestService>(*aggregator_, ingest_options,
                                                        observer_.get(), log_.child("ingest"));
  collector_ = std::make_shared<ScalerCollector>(ScalerCollector::Sources{
      *aggregator_, *triggers_, *catalogue_, *computation_, *hub_, *metrics_,
      [this] { return ingest_->open_streams(); }});
}

ScalerServer::~ScalerServer() {
  stop();
  aggregator_->set_activity_listener(nullptr);
}

std::unique_ptr<grpc::Server> ScalerServer::build_server(const std::string& address,
                                                         const TlsFiles& tls, bool with_keda,
                                                         bool with_ingest, int* port,
                                                         std::string* error) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, make_server_credentials(tls), port);
  if (with_keda) builder.RegisterService(keda_.get());
  if (with_ingest) {
    builder.RegisterService(ingest_.get());
    for (grpc::Service* extra : extra_ingest_services_) builder.RegisterService(extra);
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.ingest.max_message_bytes));
  // gRPC sets SO_REUSEPORT by default: two processes binding port 0 may then be given the same
  // port and share its connections. A scaler owns its port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Memory: without a bound, HTTP/2 flow control (grown by BDP probing) lets every busy proxy
  // stream buffer megabytes the scaler has not read yet. A fixed per-stream window and a quota
  // for the whole server push back on the proxies instead.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
                             static_cast<int>(config_.grpc.stream_window_bytes));
  grpc::ResourceQuota quota("lockstep-scaler");
  quota.Resize(static_cast<size_t>(config_.grpc.memory_quota_bytes));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config_.grpc.max_concurrent_streams));
  if (config_.grpc.max_connection_age.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(config_.grpc.max_connection_age.count()));
    if (config_.grpc.max_connection_age_grace.count() > 0) {
      builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                                 static_cast<int>(config_.grpc.max_connection_age_grace.count()));
    }
  }
  // Proxies may keep their report streams alive with pings; KEDA sends none.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(config_.grpc.min_ping_interval.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  auto server = builder.BuildAndStart();
  if (!server || *port == 0) {
    *error = std::string(with_keda ? "keda.listen" : "ingest.listen") + ": cannot listen on \"" +
             address + "\"";
    return nullptr;
  }
  return server;
}

bool ScalerServer::start(std::string* error) {
  if (started_) {
    *error = "already started";
    return false;
  }
  started_ = true;
  grpc::EnableDefaultHealthCheckService(true);
  const bool shared = config_.keda.listen == config_.ingest.listen;
  if (shared) {
    auto s = build_server(config_.keda.listen, config_.keda.tls, true, true, &keda_port_, error);
    if (!s) return false;
    ingest_port_ = keda_port_;
    servers_.push_back(std::move(s));
  } else {
    auto k = build_server(config_.keda.listen, config_.keda.tls, true, false, &keda_port_, error);
    if (!k) return false;
    servers_.push_back(std::move(k));
    auto i = build_server(config_.ingest.listen, config_.ingest.tls, false, true, &ingest_port_,
                          error);
    if (!i) return false;
    servers_.push_back(std::move(i));
  }
  for (auto& s : servers_) {
    if (auto* health = s->GetHealthCheckService()) {
      health->SetServingStatus(true);
    }
  }

  std::string host;
  uint16_t port = 0;
  split_host_port(config_.admin.listen, &host, &port);
  admin_ = std::make_unique<HttpAdminServer>(
      HttpAdminServer::Options{.address = host,
                               .port = port,
                               .max_request_bytes = static_cast<size_t>(config_.admin.max_request_bytes)},
      log_.child("admin"));
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables = {registry_, collector_};
  collectables.insert(collectables.end(), extra_collectables_.begin(), extra_collectables_.end());
  // /metrics: the registry and the collectables through prometheus-cpp, then the per-backend
  // families written directly (see ScalerCollector).
  admin_->handle("/metrics", [this, collectables = std::move(collectables)](const HttpRequest&) {
    std::string body = serialize_metrics(collectables);
    collector_->append_route_families(body);
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", std::move(body)};
  });
  admin_->handle("/proxies", [this](const HttpRequest&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : aggregator_->connected_proxies()) {
      out.push_back({{"proxy_id", p.proxy_id},
                     {"boot_epoch", p.boot_epoch},
                     {"route_table_version", p.route_table_version},
                     {"connected_since_unix_ms", p.connected_since_unix_ms},
                     {"last_report_unix_ms", p.last_report_unix_ms},
                     {"streams", p.streams},
                     {"fleet", p.fleet}});
    }
    return HttpResponse{200, "application/json", out.dump() + "\n"};
  });
  std::string admin_error;
  if (!admin_->start(&admin_error)) {
    *error = "admin.listen: " + admin_error;
    return false;
  }

  hub_->start();
  if (run_maintenance_) maintenance_ = std::thread([this] { maintenance_loop(); });
  admin_->set_ready(true);
  log_.info("lockstep-scaler serving", {{"keda_port", std::to_string(keda_port_)},
                                        {"ingest_port", std::to_string(ingest_port_)},
                                        {"admin_port", std::to_string(admin_port())}});
  return true;
}

void ScalerServer::maintenance_tick() {
  aggregator_->sweep();
  triggers_->sweep(config_.keda.trigger_idle_ttl);
  hub_->tick();
#if defined(__GLIBC__)
  // Give freed heap pages back, so the resident size tracks what is live, not the high-water mark
  // of bursts (every proxy reconnecting at once, flat-out ingest); HeapTrimPolicy says how often it
  // is worth locking the heap for that.
  const int64_t before = resident_bytes();
  if (before > 0 && trim_.due(before)) {
    const auto started = std::chrono::steady_clock::now();
    malloc_trim(0);
    const auto took = std::chrono::steady_clock::now() - started;
    const int64_t after = resident_bytes();
    trim_.trimmed(before, after, took);
    const auto took_us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    log_.debug("malloc_trim",
               {{"took_us", std::to_string(took_us)},
                {"resident_before_kib", std::to_string(before >> 10)},
                {"resident_after_kib", std::to_string(after >> 10)},
                {"next_in_rounds", std::to_string(trim_.wait_rounds())},
                {"floor_kib", std::to_string(trim_.floor_bytes() >> 10)}});
  }
#endif
}

void ScalerServer::maintenance_loop() {
  std::unique_lock<std::mutex> lock(maintenance_mu_);
  while (!stopping_) {
    maintenance_cv_.wait_for(lock, config_.aggregator.maintenance_interval);
    if (stopping_) break;
    lock.unlock();
    maintenance_tick();
    lock.lock();
  }
}

void ScalerServer::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  log_.info("lockstep-scaler stopping");
  if (admin_) admin_->set_ready(false);
  for (auto& s : servers_) {
    if (auto* health = s->GetHealthCheckService()) health->SetServingStatus(false);
  }
  for (const auto& hook : stop_hooks_) hook();
  // Streams first, with OK (KEDA then retries after 2 s instead of a grown backoff).
  keda_->shutdown();
  ingest_->shutdown();
  const auto deadline = std::chrono::system_clock::now() + config_.grpc.shutdown_grace;
  for (auto& s : servers_) s->Shutdown(deadline);
  for (auto& s : servers_) s->Wait();
  {
    std::lock_guard<std::mutex> lock(maintenance_mu_);
    stopping_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  hub_->stop();
  if (admin_) admin_->stop();
  servers_.clear();
  log_.info("lockstep-scaler stopped");
}

}  // namespace lockstep::scaler
