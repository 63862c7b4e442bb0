#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/v1/routes.pb.h"
#include "rollout/cluster_state.h"
#include "rollout/route_resolver.h"

namespace lockstep::rollout {

// One version of the route table as the authority publishes it. The routes are shared with the
// previous version where they did not change; `wire` is the lockstep.v1.RouteTable message,
// serialized once from the routes' own bytes and sent as is to every proxy.
struct RouteTableSnapshot {
  uint64_t version = 0;     // combine_route_hashes over the routes
  uint64_t generation = 0;  // builds of this replica (differs between replicas)
  std::vector<std::shared_ptr<const ResolvedRoute>> routes;  // in the table, by ObjectKey
  std::string wire;
  size_t header_bytes = 0;  // wire = version and generation fields, then the routes

  // The routes part of the wire: identical on every replica with the same objects.
  std::string_view routes_wire() const { return std::string_view(wire).substr(header_bytes); }
  int routes_size() const { return static_cast<int>(routes.size()); }
  // The table as a message (parsed from `wire`; tests and tools).
  v1::RouteTable message() const;
};

// Builds a snapshot of `routes` (each with a route; in key order).
std::shared_ptr<const RouteTableSnapshot> make_snapshot(
    std::vector<std::shared_ptr<const ResolvedRoute>> routes, uint64_t generation);

// The route table kept up to date incrementally: per route, its resolution and the objects it
// read (its ScaledObject, Rollout, Services and so their EndpointSlices), indexed both ways, so
// that a change resolves again only the routes that read the changed objects. Host/prefix claims
// are arbitrated again only within the routes that share a claim with a changed one (the
// outcome of "first key keeps it" depends on nothing else). The result is identical to
// resolve_routes() on the same objects, whatever the order of the changes that led there.
// Not thread-safe: one building thread.
class RouteLedger {
 public:
  struct Update {
    std::vector<std::string> changed;  // route keys whose ResolvedRoute was replaced or removed
    std::vector<ObjectError> invalid_annotations;  // new bad annotations (report once)
    size_t resolved = 0;                           // routes resolved again
  };

  // Resolves again every route that reads an object in `changes` (every route when
  // changes.everything). `specs` holds the lockstep triggers per ScaledObject, already up to date.
  Update apply(const ClusterView& view, const TriggerSpecs& specs, const ClusterChanges& changes,
               SplitMemory& memory);

  // Every route with a lockstep trigger (routed or not), by key.
  const std::map<std::string, std::shared_ptr<const ResolvedRoute>>& routes() const {
    return by_key_;
  }
  // The current table (O(routes): pointers and the concatenated wire, no re-resolution).
  std::shared_ptr<const RouteTableSnapshot> snapshot(uint64_t generation) const;

 private:
  using Claim = std::pair<std::string, std::string>;
  struct Slot {
    RouteCandidate candidate;
    std::string clash;  // from the last arbitration
    std::shared_ptr<const ResolvedRoute> resolved;
  };

  void unindex(const ObjectKey& key, const Slot& slot, std::set<Claim>& frontier);
  void index(const ObjectKey& key, const Slot& slot, std::set<Claim>& frontier);

  std::map<ObjectKey, Slot> slots_;  // by ScaledObject key (the table's order)
  std::map<std::string, std::shared_ptr<const ResolvedRoute>> by_key_;
  std::map<ObjectKey, std::set<ObjectKey>> by_rollout_;  // Rollout -> routes that read it
  std::map<ObjectKey, std::set<ObjectKey>> by_service_;  // Service -> routes that read it
  std::map<Claim, std::set<ObjectKey>> wanted_by_;       // (host, prefix) -> routes claiming it
};

}  // namespace lockstep::rollout
