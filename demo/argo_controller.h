#pragma once

// The demo's Argo Rollouts controller (with lockstep's traffic-router plugin inside it) and the
// Service/EndpointSlice controller, for one Rollout:
//   - owns the Rollout's /scale subresource (spec.replicas, set by KEDA/the HPA) and divides the
//     replicas between the stable and the canary ReplicaSet as Argo does (argo_canary_scale);
//   - a setWeight step: scale the canary ReplicaSet, wait for its pods, SetWeight (the
//     `lockstep.dev/split` annotation, written with the rollout module's serializer, as the
//     plugin's merge patch would), VerifyWeight (the scaler's GET /v1/routes/<ns>/<name> until
//     every proxy applies it), then record status.canary.weights (dynamicStableScale then shrinks
//     the stable side);
//   - abort (traffic back to stable, canary scaled down), retry, and promotion (weight 100,
//     stableRS switched to the new hash, annotation removed, old ReplicaSet scaled down);
//   - writes the Rollout's spec.replicas and status and one EndpointSlice per Service and pod
//     into the manifest copy (stable Service -> pods of stableRS, canary Service -> pods of
//     currentPodHash, as Argo's injected rollouts-pod-template-hash selectors do).

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "demo/journal.h"
#include "demo/manifest_store.h"
#include "demo/pod_fleet.h"

namespace lockstep::demo {

// A pod-template hash for a version, stable across runs (10 characters of Kubernetes' alphabet).
std::string template_hash(const std::string& version);

class ArgoController {
 public:
  struct Options {
    RolloutInfo rollout;
    std::string scaled_object;  // the plugin's scaledObjectName
    uint16_t scaler_admin_port = 0;
    std::string stable_version = "v1";
    std::chrono::milliseconds ready_timeout{60'000};   // canary pods to become ready
    std::chrono::milliseconds verify_timeout{20'000};  // VerifyWeight retried until then
  };

  struct WeightChange {
    bool ok = false;
    int32_t weight = 0;
    std::chrono::steady_clock::time_point written{};   // annotation written
    std::chrono::steady_clock::time_point verified{};  // every proxy applies it
    std::string error;
  };

  struct View {
    std::string stable_version;
    std::string canary_version;  // empty outside a canary
    int32_t spec_replicas = 0;
    int32_t canary_weight = 0;   // traffic weight in force (annotation)
    int32_t stable_rs = 0, canary_rs = 0;  // desired ReplicaSet sizes
    int32_t stable_ready = 0, canary_ready = 0;
    int32_t starting = 0;
    bool aborted = false;
    std::string step;  // "setWeight 20 (step 1/6)", "paused", "promoted" ...
  };

  ArgoController(Options options, ManifestStore& store, PodFleet& fleet, Journal& journal);

  // Writes the initial state (no canary, spec.replicas 0, no endpoints).
  void start();

  // The /scale subresource.
  int32_t spec_replicas() const;
  int32_t status_replicas() const;  // pods of every ReplicaSet (status.HPAReplicas)
  void set_spec_replicas(int32_t replicas);

  // Pods changed (from the fleet): refresh the EndpointSlices and the status.
  void on_pods_changed();

  // ---- the rollout, driven by the scenario (each call blocks until done or timed out) ----
  void begin_canary(const std::string& version);
  // A setWeight step at index `step` of spec.strategy.canary.steps (status.currentStepIndex).
  WeightChange set_weight(int32_t weight, int32_t step);
  // Moves status.currentStepIndex (a pause step, or past the last step) and the view's text.
  void set_step(int32_t step, const std::string& text);
  void set_step_text(const std::string& text);
  WeightChange abort();
  void retry();
  WeightChange promote();

  View view() const;
  // The traffic split the scaler reports it serves right now (GET /v1/routes), for the view.
  const Options& options() const { return options_; }

 private:
  void publish();  // ReplicaSet sizes, Rollout spec/status and EndpointSlices
  // SetWeight + VerifyWeight: writes the annotation (nullopt removes it) and waits until the
  // scaler says every proxy applies it.
  WeightChange write_and_verify(int32_t weight);
  bool wait_ready(const std::string& hash);

  const Options options_;
  ManifestStore& store_;
  PodFleet& fleet_;
  Journal& journal_;

  mutable std::mutex mu_;
  int32_t spec_replicas_ = 0;                   // guarded by mu_
  std::string stable_hash_;                     // guarded by mu_
  std::string current_hash_;                    // guarded by mu_
  std::map<std::string, std::string> version_;  // hash -> version; guarded by mu_
  bool aborted_ = false;                        // guarded by mu_
  int32_t desired_weight_ = 0;                  // the step's setWeight; guarded by mu_
  int32_t status_canary_weight_ = 0;            // status.canary.weights; guarded by mu_
  bool weights_present_ = false;                // guarded by mu_
  int32_t traffic_weight_ = 0;                  // annotation in force; guarded by mu_
  uint64_t generation_ = 0;                     // split annotation generation; guarded by mu_
  std::optional<int32_t> step_index_;           // guarded by mu_
  std::string step_text_ = "no rollout";        // guarded by mu_
  std::string last_endpoints_;                  // what was last written; guarded by mu_
  std::string last_rollout_;                    // guarded by mu_
  std::mutex publish_mu_;  // one publish at a time, in order
};

}  // namespace lockstep::demo
