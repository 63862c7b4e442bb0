#pragma once

// The traffic-router methods of lockstep's Argo Rollouts plugin. The desired split lives in the
// `lockstep.dev/split` annotation of the Rollout's ScaledObject (docs/split-annotation.md; parsed,
// validated and written with the scaler's own code, rollout/model), changed only by conditional
// patches so that concurrent writers never lose an update; VerifyWeight asks every ready scaler
// replica, found through the scaler Service's EndpointSlices, whether every proxy applies it
// (GET /v1/routes/<namespace>/<name>).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/log.h"
#include "rollout/kube/kube_client.h"
#include "rollout/kube/kube_config.h"
#include "rollout/plugin/rollout_args.h"
#include "rollout/model/split_annotation.h"

namespace lockstep::plugin {

struct RouterOptions {
  // Where the scaler replicas are, unless a Rollout's plugin config says otherwise.
  std::string scaler_service = "lockstep-scaler";
  std::string scaler_namespace = "lockstep-system";
  std::string scaler_admin_port = "http-admin";  // EndpointSlice port name, or a number
  std::chrono::milliseconds verify_timeout{2000};  // per scaler replica
  int conflict_retries = 5;  // re-reads after a 409 on the ScaledObject
  kube::ClientOptions kube;
};

// Argo's RpcVerified.
enum class Verification : int { kNotVerified = 0, kVerified = 1, kNotImplemented = 2 };

// Loads the API server configuration (in production: in-cluster, from the environment and the
// service-account files). False with `error` when it cannot.
using KubeConfigLoader = std::function<bool(kube::KubeConfig& out, std::string& error)>;

class TrafficRouter {
 public:
  TrafficRouter(RouterOptions options, KubeConfigLoader loader, Logger log);

  // Each method returns "" on success, else the cause (the caller names the Rollout). Thread-safe:
  // calls for different Rollouts, and for the same one, may run at once.
  std::string init();
  std::string set_weight(const RolloutRef& ro, int64_t desired,
                         const std::vector<WeightDestination>& additional);
  std::string set_header_route(const RolloutRef& ro, const HeaderRoute& route);
  std::string set_mirror_route(const RolloutRef& ro, const MirrorRoute& route);
  std::string remove_managed_routes(const RolloutRef& ro);
  std::string update_hash(const RolloutRef& ro, const std::string& canary_hash,
                          const std::string& stable_hash,
                          const std::vector<WeightDestination>& additional);
  // Never fails: problems (an unreachable scaler, a replica that has not applied the split) are
  // logged and answered NotVerified.
  Verification verify_weight(const RolloutRef& ro, int64_t desired,
                             const std::vector<WeightDestination>& additional);

  struct Hashes {
    std::string canary;
    std::string stable;
    std::vector<WeightDestination> additional;
  };
  // The hashes UpdateHash last recorded for "namespace/name".
  bool hashes(const std::string& rollout_id, Hashes& out) const;

 private:
  kube::KubeClient* client(std::string& error);
  // GET the ScaledObject, apply `mutate` to its split, and merge-patch the annotation (guarded by
  // the resourceVersion) unless nothing changed. A default split removes the annotation.
  std::string update_split(const RolloutRef& ro,
                           const std::function<void(rollout::Split& split)>& mutate);
  std::string verify_replica(const RolloutRef& ro, const std::string& ip, uint16_t port,
                             int64_t desired, const std::vector<WeightDestination>& additional);

  // What we last read or wrote for a ScaledObject's annotation.
  struct KnownSplit {
    bool present = false;
    std::string text;  // the annotation's value when present
    bool parsed = false;
    rollout::Split split;
  };
  std::mutex& object_lock(const std::string& key);
  void remember(const std::string& key, const KnownSplit& known);
  void forget(const std::string& key);

  const RouterOptions options_;
  const KubeConfigLoader loader_;
  Logger log_;

  std::mutex known_mu_;  // guards known_ and object_locks_
  std::map<std::string, KnownSplit> known_;
  // One writer per ScaledObject in this process: calls for one Rollout never race each other.
  std::map<std::string, std::unique_ptr<std::mutex>> object_locks_;

  std::mutex client_mu_;  // guards client_
  std::unique_ptr<kube::KubeClient> client_;

  mutable std::mutex hashes_mu_;  // guards hashes_
  std::map<std::string, Hashes> hashes_;
};

}  // namespace lockstep::plugin
