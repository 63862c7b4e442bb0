#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_service.h"
#include "common/clock.h"
#include "common/http_admin_server.h"
#include "common/log.h"
#include "scaler/activation_hub.h"
#include "scaler/external_scaler_service.h"
#include "scaler/heap_trim.h"
#include "scaler/metric_computation.h"
#include "scaler/scaler_collector.h"
#include "scaler/scaler_config.h"
#include "scaler/scaler_metrics.h"
#include "scaler/trigger_cache.h"
#include "scaler/trigger_catalogue.h"

namespace prometheus {
class Registry;
}

namespace lockstep::scaler {

// lockstep-scaler, wired: the aggregator, the KEDA service, the ingest service (on one gRPC
// server when they share an address, else two), the activation hub, the admin HTTP server with
// /metrics, /healthz, /readyz and /proxies, the gRPC health service, and the maintenance loop.
// main() only parses the config and calls start()/stop(); integration tests and benchmarks run it
// in-process on 127.0.0.1:0.
class ScalerServer {
 public:
  // `computation`: the metric computation to use (null: the default). Must outlive the server.
  ScalerServer(ScalerConfig config, const Clock& clock, std::shared_ptr<prometheus::Registry> registry,
               Logger log, const MetricComputation* computation = nullptr);
  ~ScalerServer();
  ScalerServer(const ScalerServer&) = delete;
  ScalerServer& operator=(const ScalerServer&) = delete;

  // Binds every listener and starts the threads. False with the reason (naming the config key)
  // when a listener cannot be bound.
  bool start(std::string* error);
  // Graceful: health NOT_SERVING, every stream ends with OK, calls get grpc.shutdown_grace to
  // finish, then threads stop. Idempotent.
  void stop();

  int keda_port() const { return keda_port_; }
  int ingest_port() const { return ingest_port_; }
  uint16_t admin_port() const { return admin_ ? admin_->port() : 0; }

  // One maintenance round (the loop calls it every aggregator.maintenance_interval; tests with a
  // manual clock call it themselves and set the interval's loop off with run_maintenance=false).
  void maintenance_tick();
  void set_run_maintenance(bool run) { run_maintenance_ = run; }

  aggregator::Aggregator& aggregator() { return *aggregator_; }
  TriggerCatalogue& catalogue() { return *catalogue_; }
  TriggerCache& triggers() { return *triggers_; }
  ActivationHub& hub() { return *hub_; }
  ExternalScalerService& keda() { return *keda_; }
  aggregator::IngestService& ingest() { return *ingest_; }
  HttpAdminServer& admin() { return *admin_; }
  ScalerMetrics& metrics() { return *metrics_; }
  // Extra collectables for /metrics (e.g. the rollout module's); call before start().
  void add_collectable(std::weak_ptr<prometheus::Collectable> c) { extra_collectables_.push_back(c); }
  // Another gRPC service on the proxy-facing (ingest) server, e.g. the rollout module's
  // lockstep.v1.Routes; call before start(). Must outlive the server.
  void add_ingest_service(grpc::Service* service) { extra_ingest_services_.push_back(service); }
  // Run at the start of stop(), before the gRPC servers shut down (e.g. to end streams with OK).
  void add_stop_hook(std::function<void()> hook) { stop_hooks_.push_back(std::move(hook)); }

 private:
  class ApplyObserver;
  std::unique_ptr<grpc::Server> build_server(const std::string& address, const TlsFiles& tls,
                                             bool with_keda, bool with_ingest, int* port,
                                             std::string* error);
  void maintenance_loop();

  ScalerConfig config_;
  const Clock& clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  Logger log_;
  bool run_maintenance_ = true;

  std::unique_ptr<MetricComputation> own_computation_;
  const MetricComputation* computation_;
  std::unique_ptr<aggregator::Aggregator> aggregator_;
  std::unique_ptr<ScalerMetrics> metrics_;
  std::unique_ptr<ApplyObserver> observer_;
  std::unique_ptr<TriggerCache> triggers_;
  std::unique_ptr<TriggerCatalogue> catalogue_;
  std::unique_ptr<ActivationHub> hub_;
  std::unique_ptr<ExternalScalerService> keda_;
  std::unique_ptr<aggregator::IngestService> ingest_;
  std::shared_ptr<ScalerCollector> collector_;
  std::vector<std::weak_ptr<prometheus::Collectable>> extra_collectables_;
  std::vector<grpc::Service*> extra_ingest_services_;
  std::vector<std::function<void()>> stop_hooks_;
  std::unique_ptr<HttpAdminServer> admin_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;  // destroyed before the services
  int keda_port_ = 0;
  int ingest_port_ = 0;

  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stopping_ = false;  // guarded by maintenance_mu_
  HeapTrimPolicy trim_;  // when maintenance rounds run malloc_trim (maintenance thread or test)
  bool started_ = false;
  bool stopped_ = false;
  std::thread maintenance_;
};

}  // namespace lockstep::scaler
