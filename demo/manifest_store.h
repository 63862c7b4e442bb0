#pragma once

// The demo's "API server": a runtime copy of examples/local/manifests/ that the scaler reads in
// standalone mode (manifests.paths), and that the KEDA, Argo and kubelet stand-ins write the way
// the cluster would: the Rollout's spec.replicas (the /scale subresource) and status, the split
// annotation on the ScaledObject (as the plugin's merge patch would), and one EndpointSlice per
// Service and pod. Every write replaces its file atomically (write + rename), so the scaler's
// poller never reads half a file.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::demo {

// What the KEDA stand-in needs from the ScaledObject (keda.sh/v1alpha1 defaults when absent).
struct ScaledObjectInfo {
  std::string ns;
  std::string name;
  std::string target_kind;
  std::string target_name;
  int32_t min_replicas = 0;
  int32_t max_replicas = 100;
  std::chrono::milliseconds polling_interval{30'000};
  std::chrono::milliseconds cooldown{300'000};
  std::chrono::milliseconds scale_down_stabilization{300'000};  // the HPA's default
  std::chrono::milliseconds scale_up_stabilization{0};
  struct Trigger {
    std::string type;
    std::map<std::string, std::string> metadata;
  };
  std::vector<Trigger> triggers;
};

// What the Argo stand-in needs from the Rollout.
struct RolloutInfo {
  std::string ns;
  std::string name;
  std::string stable_service;
  std::string canary_service;
  bool dynamic_stable_scale = false;
  int32_t max_weight = 100;
  struct Step {
    std::optional<int32_t> set_weight;
    std::optional<std::chrono::milliseconds> pause;  // pause: {} (indefinite) has none
    bool pause_step = false;
  };
  std::vector<Step> steps;
};

// The Rollout's spec.replicas and the status fields the scaler reads (reference §8).
struct RolloutStatusView {
  int32_t spec_replicas = 0;
  int32_t hpa_replicas = 0;
  std::string stable_rs;
  std::string current_pod_hash;
  bool abort = false;
  std::optional<int32_t> current_step_index;
  int32_t canary_weight = 0;  // status.canary.weights (present while a canary runs)
  int32_t stable_weight = 100;
  bool weights_present = false;
};

struct EndpointView {
  std::string service;
  std::string pod;  // EndpointSlice name suffix and targetRef
  uint16_t port = 0;
  bool ready = false;
  bool terminating = false;
};

class ManifestStore {
 public:
  // Copies every *.yaml of `source_dir` into `runtime_dir` (created) and reads the ScaledObject
  // and Rollout. `trigger_overrides` replace metadata keys of every external-push trigger (the
  // test's shorter profile); `spec_overrides` replace ScaledObject spec keys
  // (minReplicaCount, maxReplicaCount, pollingInterval, cooldownPeriod) and
  // "stabilizationWindowSeconds". False with the reason.
  bool prepare(const std::string& source_dir, const std::string& runtime_dir,
               const std::map<std::string, std::string>& trigger_overrides,
               const std::map<std::string, std::string>& spec_overrides, std::string* error);

  const ScaledObjectInfo& scaled_object() const { return scaled_object_; }
  const RolloutInfo& rollout() const { return rollout_; }
  const std::string& runtime_dir() const { return runtime_dir_; }

  // The plugin's SetWeight: the annotation value (canonical JSON from the rollout module's
  // serializer), or nullopt to remove it (weight 0). Thread-safe.
  void write_split_annotation(const std::optional<std::string>& value);
  // The controller's writes of spec.replicas and status. Thread-safe.
  void write_rollout(const RolloutStatusView& view);
  // The EndpointSlice controller: one slice per (service, pod) because every demo pod listens
  // on its own port. Thread-safe.
  void write_endpoints(const std::vector<EndpointView>& endpoints);

  // Writes done so far (for the log).
  uint64_t writes() const;

 private:
  void write_atomically(const std::string& file, const std::string& text);

  std::string runtime_dir_;
  std::string scaled_object_file_;
  std::string rollout_file_;
  ScaledObjectInfo scaled_object_;
  RolloutInfo rollout_;

  mutable std::mutex mu_;
  YAML::Node scaled_object_node_;  // guarded by mu_
  YAML::Node rollout_node_;        // guarded by mu_
  uint64_t writes_ = 0;            // guarded by mu_
};

}  // namespace lockstep::demo
