#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <optional>
#include <vector>

#include "aggregator/aggregator.h"
#include "common/log.h"
#include "lockstep/v1/routes.pb.h"
#include "rollout/cluster_state.h"
#include "rollout/route_ledger.h"
#include "rollout/route_resolver.h"
#include "scaler/trigger_catalogue.h"

namespace lockstep::rollout {

class RolloutMetrics;

// Whether the connected proxies apply a route's current split.
struct AppliedStatus {
  struct Pending {
    std::string proxy_id;
    uint64_t boot_epoch = 0;
    uint64_t table_version = 0;
    std::string reason;
  };
  size_t connected = 0;
  size_t applied = 0;
  std::vector<Pending> pending;
  bool all() const { return connected > 0 && applied == connected; }
};

// The route authority of one scaler replica: rebuilds the route table whenever the cluster model
// changes (coalescing bursts: changes during a build are folded into the next one), incrementally:
// only the routes that read a changed object are resolved again (RouteLedger); the first build
// and rebuild_full() resolve everything (the full rebuild, which gives the same table). It feeds the
// scaler's trigger catalogue (triggers, backend roles), publishes every new table version to its
// listeners (the route service), and remembers recent versions to tell which proxies apply which
// split. Publishes nothing before every source has synced, so a restarting replica never sends
// proxies a partial table. One thread; the destructor stops it.
class RouteAuthority {
 public:
  struct Options {
    TriggerOwnership ownership;
    size_t version_history = 64;  // table versions remembered for proxy acks
  };
  using Listener = std::function<void(std::shared_ptr<const RouteTableSnapshot>)>;
  using ProxyStatusFn = std::function<std::vector<aggregator::ProxyStatus>()>;
  using SyncedFn = std::function<bool()>;

  // `catalogue` and `metrics` may be null (tests, benchmarks).
  RouteAuthority(ClusterState& state, scaler::TriggerCatalogue* catalogue, RolloutMetrics* metrics,
                 Options options, Logger log);
  ~RouteAuthority();
  RouteAuthority(const RouteAuthority&) = delete;
  RouteAuthority& operator=(const RouteAuthority&) = delete;

  // Set before start(): whether every source has synced (default: always true), and who the
  // connected proxies are (default: none).
  void set_sources_synced(SyncedFn fn) { sources_synced_ = std::move(fn); }
  void set_proxy_status(ProxyStatusFn fn) { proxy_status_ = std::move(fn); }
  // Called on the authority's thread with every new table version (and once with the current
  // table when added after one exists). Add before start().
  void add_listener(Listener listener);

  void start();
  void stop();
  // Builds now on the calling thread (tests, benchmarks), from the changes since the last build.
  // Returns true if the version changed.
  bool rebuild();
  // Resolves every route again, whatever the journal says: the same table as rebuild() gives.
  bool rebuild_full();

  // True once a table was built after every source synced.
  bool synced() const;
  // The current table (null before synced()).
  std::shared_ptr<const RouteTableSnapshot> table() const;

  struct RouteView {
    RouteInfo info;
    std::shared_ptr<const RouteTableSnapshot> table;
    std::shared_ptr<const v1::Route> route;  // null when not routed
  };
  // A route's info and its place in the current table; false when the route is unknown.
  bool route(const std::string& key, RouteView& out) const;
  std::vector<std::string> route_keys() const;
  // Which connected proxies apply the route's current split.
  AppliedStatus applied(const std::string& key,
                        const std::vector<aggregator::ProxyStatus>& proxies) const;
  std::vector<aggregator::ProxyStatus> proxies() const {
    return proxy_status_ ? proxy_status_() : std::vector<aggregator::ProxyStatus>{};
  }
  // The Rollout's step state of a routed route (for the rollout-aware metric); empty when the
  // route is not routed or its target is not a Rollout.
  std::optional<RolloutContext> rollout_context(const std::string& key) const;
  uint64_t builds() const;
  // Routes resolved again by the last build (all of them in a full rebuild).
  size_t last_resolved() const;

 private:
  // A route as published, with the builds since which it has been in the table with its
  // current split (a proxy applies the split if it applies a table of that build or later).
  struct PublishedRoute {
    std::shared_ptr<const ResolvedRoute> resolved;
    uint64_t split_since = 0;
  };

  void run();
  bool build(bool full);
  void sync_catalogue(const ClusterView& view, const ClusterChanges& changes);
  void sync_triggers(const ObjectKey& key, const ScaledObject* so);
  void report(const std::string& key, const ResolvedRoute* route);

  ClusterState& state_;
  scaler::TriggerCatalogue* catalogue_;
  RolloutMetrics* metrics_;
  const Options options_;
  Logger log_;
  SyncedFn sources_synced_;
  ProxyStatusFn proxy_status_;

  // Build state: touched only by the building thread (the authority's, or a rebuild() caller
  // when the thread is not running), serialised by build_mu_.
  std::mutex build_mu_;
  SplitMemory memory_;
  RouteLedger ledger_;
  TriggerSpecs specs_;
  std::map<ObjectKey, std::vector<std::map<std::string, std::string>>> trigger_metadata_;
  std::map<std::string, std::vector<std::string>> problems_;  // last logged, per route
  std::map<std::string, std::vector<scaler::BackendInfo>> backends_;  // given to the catalogue
  uint64_t generation_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;      // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  bool synced_ = false;    // guarded by mu_
  uint64_t builds_ = 0;    // guarded by mu_
  size_t last_resolved_ = 0;                             // guarded by mu_
  std::shared_ptr<const RouteTableSnapshot> snapshot_;  // guarded by mu_
  std::map<std::string, PublishedRoute> published_;     // every route by key; guarded by mu_
  // Published table versions and the build that made each, newest last; guarded by mu_.
  std::deque<std::pair<uint64_t, uint64_t>> history_;
  std::vector<Listener> listeners_;  // guarded by mu_ (called outside it)
  std::thread thread_;
};

}  // namespace lockstep::rollout
