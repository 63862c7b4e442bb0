#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "rollout/kube/kube_config.h"

namespace lockstep::rollout {

// The scaler's settings for its object sources and the route service (docs/configuration.md,
// "Kubernetes and manifest sources"). Bound into the scaler's ConfigSchema by bind_config().
struct RolloutSettings {
  // "off" (no route table: a KEDA scaler only), "kubernetes" or "standalone" (manifest files).
  std::string mode = "off";

  struct Kubernetes {
    std::string kubeconfig;  // empty: in-cluster when KUBERNETES_SERVICE_HOST is set, else
                             // $KUBECONFIG / ~/.kube/config
    std::string context;
    std::string namespaces;  // comma list; empty: every namespace
    std::string scaled_object_selector;
    std::string rollout_selector;
    std::string service_selector;
    std::string endpoint_slice_selector;
    std::chrono::milliseconds watch_timeout{std::chrono::minutes(5)};
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    std::chrono::milliseconds backoff_initial{250};
    std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
    int64_t page_size = 500;
    // Where the in-cluster service account is mounted (not a config key: Kubernetes' standard
    // paths; tests point it at their own files).
    kube::InClusterPaths in_cluster;
  } kubernetes;

  struct Manifests {
    std::string paths;  // comma list of files and folders
    std::chrono::milliseconds reload_interval{2000};  // 0: load once
    std::string default_namespace = "default";
  } manifests;

  struct Routes {
    // scalerAddress hosts that mean this scaler (comma list); empty: any external trigger with
    // `hosts` is lockstep's.
    std::string scaler_hosts;
    int64_t version_history = 64;
  } routes;
};

void bind_config(ConfigSchema& schema, RolloutSettings& settings);
// Checks across keys; the error names a key.
std::optional<ConfigError> validate_config(const RolloutSettings& settings);
// "a, b,,c" -> {"a", "b", "c"}
std::vector<std::string> split_comma_list(const std::string& text);

}  // namespace lockstep::rollout
