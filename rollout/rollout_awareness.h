#pragma once

#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "common/log.h"
#include "rollout/cluster_state.h"
#include "rollout/kube/kube_client.h"
#include "rollout/object_source.h"
#include "rollout/rollout_metrics.h"
#include "rollout/rollout_settings.h"
#include "rollout/route_authority.h"
#include "rollout/route_collector.h"
#include "rollout/route_service.h"
#include "rollout/route_status.h"

namespace lockstep::rollout {

// Everything the rollout module adds to lockstep-scaler, wired: the object source (API server or
// manifest files), the cluster model, the route authority, the route service (registered on the
// scaler's ingest gRPC server), the split status endpoint and the route metrics. main() creates
// it next to the ScalerServer; it depends on the scaler, never the reverse.
class RolloutAwareness {
 public:
  struct Dependencies {
    scaler::TriggerCatalogue* catalogue = nullptr;
    RouteAuthority::ProxyStatusFn proxies;
    prometheus::Registry* registry = nullptr;
  };

  RolloutAwareness(RolloutSettings settings, Dependencies deps, Logger log);
  ~RolloutAwareness();
  RolloutAwareness(const RolloutAwareness&) = delete;
  RolloutAwareness& operator=(const RolloutAwareness&) = delete;

  bool enabled() const { return settings_.mode != "off"; }
  // Builds the Kubernetes client (kubeconfig or in-cluster) or the manifest source. False with
  // an error naming the config key.
  bool init(std::string* error);
  // Starts the source and the authority. Call after the scaler has started.
  void start();
  // Ends the route streams (OK), stops the source and the authority. Idempotent.
  void stop();

  RouteService& route_service() { return *service_; }
  RouteAuthority& authority() { return *authority_; }
  const RouteStatus& status() const { return *status_; }
  std::shared_ptr<RouteCollector> collector() const { return collector_; }
  ObjectSource* source() { return source_.get(); }
  bool synced() const { return authority_->synced(); }

 private:
  RolloutSettings settings_;
  Logger log_;
  std::unique_ptr<RolloutMetrics> metrics_;
  std::unique_ptr<ClusterState> state_;
  std::unique_ptr<RouteAuthority> authority_;
  std::unique_ptr<RouteService> service_;
  std::unique_ptr<RouteStatus> status_;
  std::shared_ptr<RouteCollector> collector_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<ObjectSource> source_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace lockstep::rollout
