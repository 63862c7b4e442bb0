#pragma once

// One run of the local demo: lockstep-scaler (standalone mode, on a runtime copy of
// examples/local/manifests), lockstep-proxy, the KEDA + HPA stand-in, the Argo + kubelet
// stand-in with real backend processes, a load generator, a live view, a summary and a timeline
// picture. The scenario: idle at zero -> first request (scale from zero) -> steady traffic ->
// spike -> a canary 20/50 that is aborted -> the canary again 20/50/80 and promoted -> quiet ->
// scale to zero -> first request again. scripts/demo runs it with the `full` profile; the
// end-to-end test runs the `quick` profile and asserts on DemoResult.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "demo/load_generator.h"

namespace lockstep::demo {

struct DemoProfile {
  std::string name = "full";
  double base_rps = 1500;
  double spike_rps = 4000;
  double trickle_rps = 10;  // while the first replica starts: requests that are held
  std::chrono::milliseconds quiet_start{3000};
  std::chrono::milliseconds settle_hold{3000};   // at base rate once the replicas settled
  std::chrono::milliseconds spike_hold{4000};    // at spike rate once the replicas caught up
  std::chrono::milliseconds step_pause{0};       // 0: the Rollout's own pause durations
  std::chrono::milliseconds final_hold{4000};    // measuring after abort / promotion
  std::chrono::milliseconds backend_start_delay{1500};
  std::chrono::milliseconds drain_delay{1000};
  std::chrono::milliseconds hpa_sync_period{1000};
  std::chrono::milliseconds settle_timeout{60'000};
  std::chrono::milliseconds zero_timeout{90'000};
  int32_t abort_at_weight = 50;  // the first canary is aborted during this step's pause
  // Replaces keys of the runtime copy's trigger metadata / ScaledObject spec.
  std::map<std::string, std::string> trigger_overrides;
  std::map<std::string, std::string> spec_overrides;
};
DemoProfile full_profile();
DemoProfile quick_profile();  // the end-to-end test: lower rates, shorter windows and pauses

struct DemoOptions {
  std::string manifests_dir;  // examples/local/manifests
  std::string scaler_config;  // examples/local/scaler.yaml
  std::string proxy_config;   // examples/local/proxy.yaml
  std::string scaler_bin, proxy_bin, backend_bin;
  std::string run_dir;
  DemoProfile profile = full_profile();
  std::optional<std::chrono::seconds> duration;
  bool live_view = true;  // redraw a terminal view in place (else one line every few seconds)
  bool quiet = false;     // nothing until the summary
  bool picture = true;    // timeline.png with gnuplot
  // Called once the scaler and the proxy serve (Prometheus can start scraping), and after the
  // scenario while everything still runs (Prometheus can be queried).
  std::function<void(const struct DemoPorts&)> after_start;
  std::function<void(const struct DemoPorts&)> before_teardown;
};

struct DemoPorts {
  uint16_t scaler_keda = 0, scaler_ingest = 0, scaler_admin = 0;
  uint16_t proxy_http = 0, proxy_admin = 0;
};

struct ColdStart {
  bool served = false;  // answered 200 by a backend
  int status = 0;
  std::string version;
  std::string error;
  double activation_ms = -1;  // request sent -> StreamIsActive `true` received (upper bound)
  double served_ms = -1;      // request sent -> response
  // lockstep's own measurements of two legs of activation_ms (metric deltas; -1: none seen):
  double proxy_report_ms = -1;       // lockstep_proxy_urgent_report_delay_seconds
  double scaler_activation_ms = -1;  // lockstep_scaler_activation_latency_seconds
  int32_t replicas_before = 0;
};

struct StepResult {
  std::string label;   // "canary 1: setWeight 20"
  int32_t weight = 0;  // out of max_weight
  int32_t max_weight = 100;
  bool verified = false;
  double verify_ms = -1;  // annotation written -> every proxy applies it
  TrafficCounts counts;   // requests sent while the step was in force (after verification)
  double seconds = 0;
  double canary_share() const;  // percent of served requests answered by the canary version
};

struct ScalePoint {
  double rate = 0;        // answered requests per second over the last seconds
  double metric = 0;      // what the HPA read from the scaler
  double target = 0;
  int32_t expected = 0;   // ceil(rate / target)
  int32_t desired = 0;    // spec.replicas
  int32_t running = 0;    // ready pods
  bool settled = false;   // metric caught up, HPA satisfied, every replica ready in time
  // Settled at a count the HPA keeps for this rate: ceil(rate / target), or within its 10%
  // tolerance of the rate (or maxReplicaCount), with every desired replica running.
  bool follows = false;
};

struct Check {
  std::string name;
  bool ok = false;
  bool skipped = false;  // its phase was not reached (the run was stopped early): neither ok nor failed
  std::string detail;
};

// The phases whose checks can be evaluated: each is set once the phase ran to its end.
struct ReachedPhases {
  bool base = false, spike = false, after_spike = false;
  bool abort = false, promotion = false, zero = false;
};

struct DemoResult {
  bool completed = false;
  std::string stop_reason;
  std::string error;  // a component failed to start
  std::vector<ColdStart> cold_starts;
  ScalePoint base, spike, after_spike;
  std::vector<StepResult> steps;
  StepResult after_abort;      // 100% stable expected
  StepResult after_promotion;  // 100% new version expected
  ReachedPhases reached;
  bool scaled_to_zero = false;
  double scale_to_zero_s = -1;  // load stopped -> spec.replicas 0
  LoadGenerator::Totals totals;
  uint64_t pods_started = 0, pods_failed = 0;
  std::vector<Check> checks;
  std::string run_dir, picture, timeline;
  double seconds = 0;
  bool all_ok() const;  // no check failed (skipped ones aside) and at least one passed
};

// The checks the end-to-end test asserts, evaluated on a result (also printed by the demo).
std::vector<Check> evaluate_checks(const DemoResult& result, const DemoProfile& profile);
std::string format_summary(const DemoResult& result);

class DemoRun {
 public:
  explicit DemoRun(DemoOptions options);
  ~DemoRun();
  DemoRun(const DemoRun&) = delete;
  DemoRun& operator=(const DemoRun&) = delete;

  // Runs everything and tears it down; blocking.
  DemoResult run();
  // Ends the scenario early (Ctrl-C, --duration); thread-safe.
  void request_stop(const std::string& reason);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep::demo
