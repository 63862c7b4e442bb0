#pragma once

// The demo's KEDA operator and HPA for one ScaledObject, calling lockstep-scaler exactly as KEDA
// does (through test/support/keda's KedaClient, reference keda-external-scaler.md §2, §5.6-5.8):
//   - StreamIsActive held open (external-push); every `true` activates the target 0 -> 1 at once
//     and refreshes lastActiveTime; `false` is ignored;
//   - the polling loop, every pollingInterval: GetMetricSpec, then GetMetrics + IsActive; active
//     refreshes lastActiveTime (and activates from zero); inactive for cooldownPeriod scales the
//     target to zero (minReplicaCount 0);
//   - the HPA, every sync period while replicas >= 1: the same calls (the metrics-server path),
//     then ceil(metric / target) with the 10% tolerance, the scale-down stabilization window and
//     max(1, min) .. max (demo/controller_math.h).
// The scale target is the Rollout's /scale subresource, played by the Argo stand-in.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "demo/controller_math.h"
#include "demo/journal.h"
#include "demo/manifest_store.h"

namespace lockstep::keda {
class KedaClient;
}

namespace lockstep::demo {

class KedaOperator {
 public:
  struct Options {
    std::string scaler_address;  // the scaler's KEDA gRPC port, host:port
    ScaledObjectInfo scaled_object;
    std::chrono::milliseconds hpa_sync_period{15'000};
    double tolerance = 0.1;
  };
  // The Rollout's /scale subresource.
  struct ScaleTarget {
    std::function<int32_t()> spec_replicas;
    std::function<int32_t()> status_replicas;
    std::function<void(int32_t)> set_replicas;
  };
  struct View {
    double metric = 0;   // last value the HPA read (sum over the trigger's specs)
    double target = 0;
    bool active = false;
    int32_t hpa_recommendation = 0;  // ceil(metric / target) with tolerance, before stabilization
    int32_t hpa_desired = 0;         // after stabilization and min/max
    uint64_t polls = 0;
    uint64_t errors = 0;
    std::string last_error;
  };

  KedaOperator(Options options, ScaleTarget target, Journal& journal);
  ~KedaOperator();

  // GetMetricSpec for every trigger (KEDA's reconcile), then opens the streams and starts the
  // loops. False with the reason when the scaler refuses the trigger.
  bool start(std::string* error);
  void stop();

  View view() const;
  // Receipt times of every StreamIsActive `true`.
  std::vector<std::chrono::steady_clock::time_point> activations() const;
  // Waits for a `true` received at or after `after`; its receipt time.
  std::optional<std::chrono::steady_clock::time_point> wait_activation(
      std::chrono::steady_clock::time_point after, std::chrono::milliseconds timeout) const;

 private:
  void stream_loop();
  void polling_loop();
  void hpa_loop();
  void activate(const std::string& why);
  // Sleeps until `until` unless stopping; false when stopping.
  bool sleep_until(std::chrono::steady_clock::time_point until);

  const Options options_;
  ScaleTarget target_;
  Journal& journal_;
  std::unique_ptr<keda::KedaClient> client_;
  HpaStabilizer stabilizer_;  // guarded by scale_mu_

  // KEDA's per-ScaledObject scaling lock: every replica decision is made under it.
  std::mutex scale_mu_;
  std::chrono::steady_clock::time_point last_active_;  // guarded by scale_mu_

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  View view_;                                                      // guarded by mu_
  std::vector<std::chrono::steady_clock::time_point> activations_;  // guarded by mu_
  bool stopping_ = false;                                           // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace lockstep::demo
