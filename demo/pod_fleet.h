#pragma once

// The demo's ReplicaSet controller and kubelet: for every pod-template hash it keeps the asked
// number of real backend processes (lockstep-demo-backend, one per replica, each on its own
// loopback port). A new pod boots (the backend's --start-delay), prints its port, and becomes
// ready when its readiness probe (GET /healthz) answers 200. A pod being removed leaves the
// endpoints at once and gets SIGTERM after `drain_delay` (a preStop sleep), so the proxies stop
// sending to it before it exits. A pod that dies unexpectedly is replaced.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "demo/child_process.h"

namespace lockstep::demo {

enum class PodPhase { kStarting, kReady, kTerminating };

struct PodView {
  std::string name;
  std::string hash;
  std::string version;
  uint16_t port = 0;
  PodPhase phase = PodPhase::kStarting;
};

class PodFleet {
 public:
  struct Options {
    std::string backend_program;
    std::string app;      // pod name prefix (the Rollout's name)
    std::string log_dir;  // one log file per pod
    std::chrono::milliseconds start_delay{1000};
    std::chrono::milliseconds drain_delay{1000};
    std::chrono::milliseconds probe_period{50};
    std::chrono::milliseconds boot_timeout{30'000};  // not ready by then: killed and replaced
  };
  // Called (from the fleet's thread, without its lock held) whenever a pod starts, becomes
  // ready or is removed.
  using Listener = std::function<void()>;

  PodFleet(Options options, Listener listener);
  ~PodFleet();  // stops every pod

  void start();
  // Stops every pod (SIGTERM, then SIGKILL after a grace period) and the thread.
  void stop();

  // The number of pods wanted for a template hash (a ReplicaSet's spec.replicas).
  void set_desired(const std::string& hash, const std::string& version, int32_t replicas);
  int32_t desired(const std::string& hash) const;

  std::vector<PodView> pods() const;
  int32_t ready(const std::string& hash) const;
  // Pods not terminating (starting or ready): what status.replicas counts.
  int32_t existing(const std::string& hash) const;
  // Waits until `hash` has exactly its desired number of ready pods and nothing starting, or the
  // deadline passes.
  bool wait_settled(const std::string& hash, std::chrono::milliseconds timeout) const;
  uint64_t pods_started() const;
  uint64_t pods_failed() const;

 private:
  struct Pod {
    PodView view;
    std::unique_ptr<ChildProcess> process;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point next_probe;
    std::chrono::steady_clock::time_point kill_at;  // terminating: next signal
    bool term_sent = false;
  };
  struct ReplicaSet {
    std::string version;
    int32_t replicas = 0;
  };
  void loop();
  // One pass; returns true if the endpoints changed. Called with mu_ held.
  bool reconcile_locked(std::chrono::steady_clock::time_point now);
  std::string pod_name(const std::string& hash);

  const Options options_;
  Listener listener_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // pods changed, or stop
  std::map<std::string, ReplicaSet> sets_;  // guarded by mu_
  std::vector<Pod> pods_;                   // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  bool wake_ = false;                       // guarded by mu_
  uint64_t started_ = 0;                    // guarded by mu_
  uint64_t failed_ = 0;                     // guarded by mu_
  std::mt19937 rng_{std::random_device{}()};  // used on the fleet thread only
  std::thread thread_;
};

}  // namespace lockstep::demo
