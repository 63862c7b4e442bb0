#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/v1/routes.pb.h"
#include "rollout/cluster_state.h"
#include "rollout/model/split_annotation.h"
#include "scaler/trigger_spec.h"

namespace lockstep::rollout {

// Which triggers are lockstep's: type external or external-push, with a scalerAddress whose host
// is one of `scaler_hosts` ("lockstep-scaler.lockstep-system" also matches the same name with
// ".svc" or ".svc.<cluster domain>" appended, and any port). Empty: every external trigger whose
// metadata has `hosts` is taken as lockstep's (standalone manifests, tests).
struct TriggerOwnership {
  std::vector<std::string> scaler_hosts;
  bool owns(const ScaledObject::Trigger& trigger) const;
};

// How Argo divides a Rollout's replicas at its current step (reference §8), for the
// rollout-aware metric. Computed by the resolver from the Rollout's spec and status.
struct RolloutContext {
  std::string rollout;  // "namespace/name"
  std::string stable_service;
  std::string canary_service;
  int32_t max_weight = 100;
  int32_t spec_replicas = 1;
  bool traffic_routing = false;
  bool dynamic_stable_scale = false;
  // No canary in progress (promoted, first revision, promoteFull): every replica is stable.
  bool promoted = true;
  bool aborted = false;
  // The canary replica weight of the current step (setCanaryScale.weight or setWeight), unless a
  // setCanaryScale fixes the canary's replicas.
  int32_t canary_scale_weight = 0;
  std::optional<int32_t> canary_fixed_replicas;
  // status.canary.weights.stable.weight (dynamicStableScale keeps stable at least this big).
  int32_t previous_stable_weight = 0;
  int32_t previous_canary_weight = 0;
  int32_t min_pods_per_replica_set = 1;
};

// Per route: what the route table says and why.
struct RouteInfo {
  std::string key;  // "namespace/name"
  // Where the weights came from: "annotation", "last-good-annotation", "rollout-status",
  // "default" (everything to stable).
  std::string split_source = "default";
  std::optional<Split> desired;  // the annotation split in effect (absent: none)
  uint64_t split_generation = 0;
  std::vector<std::string> problems;  // human-readable, e.g. "Service shop/web not found"
  std::optional<RolloutContext> rollout;
  bool routed = false;  // present in the table (false: skipped, see problems)
};

// Remembers, per route, the last annotation text seen and the last valid split, so that a bad
// annotation keeps the previous split and is reported once per change. Owned by the caller;
// one per scaler replica (all replicas see the same sequence of annotation values).
class SplitMemory {
 public:
  struct Entry {
    std::string text;
    std::optional<Split> last_good;
    std::string error;  // for `text`
    bool reported = false;
  };
  // The split for `text` (parsed once per distinct text). `fresh_error` is set the first time a
  // bad text is seen.
  const Entry& observe(const std::string& key, const std::string& text, std::string* fresh_error);
  void forget(const std::string& key);
  void forget_except(const std::vector<std::string>& keys);

 private:
  std::map<std::string, Entry> entries_;
};

// The lockstep triggers of every ScaledObject, parsed (by the scaler's parser).
using TriggerSpecs = std::map<ObjectKey, std::vector<scaler::TriggerSpec>>;

struct Resolution {
  v1::RouteTable table;  // routes sorted by key; version set, generation 0
  std::map<std::string, RouteInfo> routes;  // every ScaledObject with a lockstep trigger
  std::vector<ObjectError> invalid_annotations;  // new bad annotations (report once)
};

// Builds the route table from the cluster model, from scratch. Deterministic: the same objects
// always give the same table and version. The route authority keeps the same result up to date
// incrementally (RouteLedger); this is the reference it must agree with.
Resolution resolve_routes(const ClusterView& view, const TriggerSpecs& specs, SplitMemory& memory);

// One route resolved on its own, before the host/prefix arbitration between routes, with the
// objects it looked up (found or not), so that a change to any of them resolves it again.
struct RouteCandidate {
  RouteInfo info;
  std::shared_ptr<const v1::Route> route;  // null: not routable (info.problems says why)
  std::vector<std::pair<std::string, std::string>> claims;  // (host, prefix), both sorted
  std::optional<ObjectKey> rollout;  // the Rollout it read
  std::vector<ObjectKey> services;   // the Services (and so their EndpointSlices) it read
};
RouteCandidate resolve_route(const ClusterView& view, const ObjectKey& scaled_object,
                             const std::vector<scaler::TriggerSpec>& triggers, SplitMemory& memory,
                             std::vector<ObjectError>* invalid_annotations);

// Two routes must not claim the same host and path prefix: in key order, the first keeps it.
// (host, prefix) -> the route key that holds it.
using RouteClaims = std::map<std::pair<std::string, std::string>, std::string>;
// Claims the candidate's pairs in `claimed`, or returns the clash ("host h path p is already
// routed by k; route skipped") and claims nothing.
std::string claim_route(const RouteCandidate& candidate, RouteClaims& claimed);

// One route of a table, as published: immutable and shared between table versions until one of
// the objects it depends on changes.
struct ResolvedRoute {
  RouteInfo info;                          // problems include a host/prefix clash
  std::shared_ptr<const v1::Route> route;  // null when not in the table
  std::string wire;                        // *route, serialized deterministically
  uint64_t hash = 0;                       // wire_hash(wire)
  uint64_t split_fingerprint = 0;          // split_fingerprint(*route)
};
// The candidate after arbitration (`clash` empty: it holds its claims).
std::shared_ptr<const ResolvedRoute> settle_route(const RouteCandidate& candidate,
                                                  const std::string& clash);

std::string serialize_deterministic(const google::protobuf::MessageLite& message);
// 64 bits of SHA-256 of one route's serialized bytes.
uint64_t wire_hash(std::string_view wire);
// The table version from its routes' hashes in key order (64 bits of SHA-256 over them), never
// 0. Only the routes count, not the version or generation fields.
uint64_t combine_route_hashes(const std::vector<uint64_t>& hashes);
// The version of `table`: combine_route_hashes over its routes.
uint64_t route_table_version(const v1::RouteTable& table);
// A hash of the route's split: every field but the backends' endpoints. Two versions of a route
// that differ only in endpoints have the same fingerprint.
uint64_t split_fingerprint(const v1::Route& route);

// A backend's role as the `role` label and the admin JSON spell it: "stable", "canary", "other".
std::string_view role_name(v1::Role role);

// The ready endpoints of `service` in `ns` for the trigger's port (number or name), resolved
// through the Service's ports to the EndpointSlices' ports. Sorted, unique. `problem` is set when
// the Service or the port cannot be found (the backend is then cold).
std::vector<v1::Endpoint> resolve_endpoints(const ClusterView& view, const std::string& ns,
                                            const std::string& service,
                                            std::optional<uint16_t> port,
                                            const std::string& port_name, std::string* problem);

// Argo's canary step state (GetCanaryReplicasOrWeight and friends) for a Rollout.
RolloutContext rollout_context(const Rollout& rollout);

}  // namespace lockstep::rollout

namespace lockstep::rollout {

// Parses the lockstep triggers of every ScaledObject in the view with the scaler's trigger
// parser (standalone use, tests and benchmarks; the scaler feeds its catalogue instead). Bad
// metadata is appended to `errors` and the trigger skipped.
TriggerSpecs parse_lockstep_triggers(const ClusterView& view, const TriggerOwnership& ownership,
                                     std::vector<ObjectError>* errors);

}  // namespace lockstep::rollout
