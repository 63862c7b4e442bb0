#include "rollout/rollout_awareness.h"

#include <cstdlib>

#include "rollout/kube/kubeconfig.h"
#include "rollout/kube_api_source.h"
#include "rollout/manifest_source.h"

namespace lockstep::rollout {

RolloutAwareness::RolloutAwareness(RolloutSettings settings, Dependencies deps, Logger log)
    : settings_(std::move(settings)), log_(std::move(log)) {
  if (deps.registry) metrics_ = std::make_unique<RolloutMetrics>(*deps.registry);
  state_ = std::make_unique<ClusterState>(log_.child("objects"));
  RolloutMetrics* m = metrics_.get();
  state_->on_invalid([m](const ObjectError& e) {
    if (m) m->object_invalid(e.kind);
  });
  state_->on_watch_event([m](ObjectKind kind, std::string_view type) {
    if (m) m->watch_event(kind, type);
  });
  RouteAuthority::Options options;
  options.ownership.scaler_hosts = split_comma_list(settings_.routes.scaler_hosts);
  options.version_history = static_cast<size_t>(settings_.routes.version_history);
  authority_ = std::make_unique<RouteAuthority>(*state_, deps.catalogue, m, options,
                                                log_.child("routes"));
  if (deps.proxies) authority_->set_proxy_status(deps.proxies);
  service_ = std::make_unique<RouteService>(log_.child("route-service"), m);
  authority_->add_listener([svc = service_.get()](std::shared_ptr<const RouteTableSnapshot> t) {
    svc->publish(std::shared_ptr<const std::string>(t, &t->wire));  // keeps the snapshot alive
  });
  status_ = std::make_unique<RouteStatus>(*authority_);
  collector_ = std::make_shared<RouteCollector>(*authority_);
}

RolloutAwareness::~RolloutAwareness() { stop(); }

bool RolloutAwareness::init(std::string* error) {
  if (settings_.mode == "standalone") {
    ManifestSource::Options o;
    o.paths = split_comma_list(settings_.manifests.paths);
    o.reload_interval = settings_.manifests.reload_interval;
    o.default_namespace = settings_.manifests.default_namespace;
    source_ = std::make_unique<ManifestSource>(std::move(o), log_.child("manifests"));
  } else if (settings_.mode == "kubernetes") {
    kube::KubeConfig cfg;
    std::string why;
    const auto& k = settings_.kubernetes;
    const char* in_cluster = std::getenv("KUBERNETES_SERVICE_HOST");
    if (k.kubeconfig.empty() && in_cluster && *in_cluster) {
      if (!kube::in_cluster_config(cfg, why, k.in_cluster)) {
        *error = "kubernetes: in-cluster configuration: " + why;
        return false;
      }
    } else if (!kube::load_kubeconfig(k.kubeconfig, k.context, cfg, why)) {
      *error = "kubernetes.kubeconfig: " + why;
      return false;
    }
    kube::ClientOptions co;
    co.connect_timeout = k.connect_timeout;
    co.request_timeout = k.request_timeout;
    co.user_agent = "lockstep-scaler/0.1";
    client_ = kube::KubeClient::create(cfg, co, why);
    if (!client_) {
      *error = "kubernetes: " + why;
      return false;
    }
    KubeApiSource::Options o;
    o.namespaces = split_comma_list(k.namespaces);
    o.label_selectors[static_cast<size_t>(ObjectKind::kScaledObject)] = k.scaled_object_selector;
    o.label_selectors[static_cast<size_t>(ObjectKind::kRollout)] = k.rollout_selector;
    o.label_selectors[static_cast<size_t>(ObjectKind::kService)] = k.service_selector;
    o.label_selectors[static_cast<size_t>(ObjectKind::kEndpointSlice)] = k.endpoint_slice_selector;
    o.reflector.watch_timeout = std::chrono::duration_cast<std::chrono::seconds>(k.watch_timeout);
    o.reflector.backoff_initial = k.backoff_initial;
    o.reflector.backoff_max = k.backoff_max;
    o.reflector.page_size = static_cast<uint32_t>(k.page_size);
    source_ = std::make_unique<KubeApiSource>(*client_, std::move(o), log_.child("kubernetes"));
  } else {
    return true;
  }
  authority_->set_sources_synced([src = source_.get()] { return src->synced(); });
  log_.info("object source", {{"source", source_->describe()}});
  return true;
}

void RolloutAwareness::start() {
  if (!enabled() || started_ || !source_) return;
  started_ = true;
  authority_->start();
  source_->start(*state_);
}

void RolloutAwareness::stop() {
  if (stopped_) return;
  stopped_ = true;
  service_->shutdown();
  if (source_) source_->stop();
  authority_->stop();
}

}  // namespace lockstep::rollout
