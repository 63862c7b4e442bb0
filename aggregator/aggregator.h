#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aggregator/fleet_load.h"
#include "aggregator/proxy_epoch.h"
#include "aggregator/route.h"
#include "aggregator/series_table.h"
#include "aggregator/writer_epochs.h"
#include "common/clock.h"
#include "common/log.h"

namespace lockstep::aggregator {

struct AggregatorOptions {
  // Ring of a route before any trigger names its window (and merged into every route's shape).
  RouteShape default_shape{1000, 60'000};
  // Largest ring a route may get (window / granularity + 2); a merge needing more is coarsened.
  uint32_t max_ring_slots = 3602;
  // Routes created by ingest beyond this are refused (Reject ROUTE_LIMIT). Triggers always pin.
  size_t max_routes = 20'000;
  size_t max_backends_per_route = Route::kMaxBackends;
  // A route with no trigger, no stream referencing it and no requests or gauges for this long is
  // evicted (at least the route's window, so a returning proxy's history cannot double count).
  std::chrono::milliseconds route_idle_eviction{std::chrono::minutes(10)};
  // A proxy whose streams have all ended stops contributing gauges after this.
  std::chrono::milliseconds gauge_grace{std::chrono::seconds(10)};
  // ... and its per-series state is forgotten after this (at least the longest window).
  std::chrono::milliseconds proxy_state_ttl{std::chrono::minutes(15)};
};

// Told when a route that the scaler armed (Route::arm) receives requests or a held/in-flight
// gauge. Called on an ingest thread with the proxy's apply mutex held: must not block.
class ActivityListener {
 public:
  virtual ~ActivityListener() = default;
  virtual void on_route_activity(Route& route, Clock::SteadyTime report_received) = 0;
};

// Reject reasons, numbered as lockstep.v1.Reject.Reason.
enum class RejectReason : uint8_t {
  kUnspecified = 0,
  kUnknownSeriesId = 1,
  kDuplicateSeriesId = 2,
  kMalformedRoute = 3,
  kMalformedBackend = 4,
  kRouteLimit = 5,
  kValueOutOfRange = 6,
  kHistoryInvalid = 7,
};
constexpr size_t kRejectReasons = 8;
std::string_view reject_reason_name(RejectReason r);

// Ingest counters. Relaxed: independent monotonic statistics.
struct IngestStats {
  std::atomic<uint64_t> reports{0};
  std::atomic<uint64_t> entries{0};
  std::atomic<uint64_t> streams_opened{0};
  std::array<std::atomic<uint64_t>, kRejectReasons> rejects{};
  // Stream-level refusals (bad hello, stale epoch, oversized report).
  std::atomic<uint64_t> streams_refused{0};
  std::atomic<uint64_t> routes_evicted{0};
};

// A connected proxy as the rollout view needs it: which route table it applies.
struct ProxyStatus {
  std::string proxy_id;
  uint64_t boot_epoch = 0;
  uint64_t route_table_version = 0;
  int64_t connected_since_unix_ms = 0;
  int64_t last_report_unix_ms = 0;
  int streams = 0;
  std::string fleet;  // "namespace/name" from its Hello; empty if it names none
};

class Aggregator;

// Keeps a route alive with (at least) the given shape while it exists; the trigger of a
// ScaledObject holds one. Movable; releasing it lets the route be evicted when idle.
class RoutePin {
 public:
  RoutePin() = default;
  RoutePin(Aggregator* owner, std::shared_ptr<Route> route, RouteShape shape)
      : owner_(owner), route_(std::move(route)), shape_(shape) {}
  RoutePin(RoutePin&& o) noexcept { *this = std::move(o); }
  RoutePin& operator=(RoutePin&& o) noexcept;
  RoutePin(const RoutePin&) = delete;
  RoutePin& operator=(const RoutePin&) = delete;
  ~RoutePin() { reset(); }
  void reset();

  Route* get() const { return route_.get(); }
  Route& operator*() const { return *route_; }
  Route* operator->() const { return route_.get(); }
  explicit operator bool() const { return route_ != nullptr; }

 private:
  Aggregator* owner_ = nullptr;
  std::shared_ptr<Route> route_;
  RouteShape shape_;
};

// The aggregator: routes keyed "namespace/name" with per-backend series, the per-proxy epochs
// that make cumulative reports count exactly once, and the maintenance that evicts and expires.
//
// Thread-safety: everything is thread-safe. Route lookup/creation/eviction and proxy
// registration take mutexes; the per-entry ingest updates (IngestSession) and the reads of a
// route someone holds take none.
// Lock order: registry_mu_ -> ProxyEpoch::apply_mutex() -> routes_mu_.
class Aggregator {
 public:
  Aggregator(const Clock& clock, AggregatorOptions options, Logger log);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  const Clock& clock() const { return clock_; }
  const AggregatorOptions& options() const { return options_; }
  Logger& log() { return log_; }

  // --- routes ---
  std::shared_ptr<Route> find_route(std::string_view key) const;
  // Creates the route if needed (even beyond max_routes) and grows its ring to cover `shape`.
  RoutePin pin_route(const std::string& key, const RouteShape& shape);
  std::vector<std::shared_ptr<Route>> routes() const;
  size_t route_count() const;

  // --- used by ingest sessions ---
  struct Acquired {
    RouteSeries* series = nullptr;
    RejectReason error = RejectReason::kUnspecified;
    std::string why;
  };
  // Finds or creates the series (names already validated) and counts a stream reference on its
  // route, so the route is not evicted while the stream lives.
  Acquired acquire_series(std::string_view route_key, std::string_view backend);
  void release_stream_refs(const std::vector<Route*>& routes);
  // Registers a stream of (proxy_id, boot_epoch). A newer epoch supersedes the older ones of the
  // proxy at once (their gauges are dropped, their counted requests stay). An epoch older than
  // one already seen is refused (returns null with the reason).
  // `fleet` ("namespace/name", already validated, or empty) is fixed by the epoch's first stream.
  std::shared_ptr<ProxyEpoch> open_stream(const std::string& proxy_id, uint64_t boot_epoch,
                                          std::string* why, std::string_view fleet = {});
  void close_stream(const std::shared_ptr<ProxyEpoch>& epoch);
  WriterEpochs& writer_epochs() { return writer_epochs_; }
  const SeriesTable& series_table() const { return series_table_; }
  void set_activity_listener(ActivityListener* listener) {
    listener_.store(listener, std::memory_order_release);
  }
  ActivityListener* activity_listener() const { return listener_.load(std::memory_order_acquire); }
  IngestStats& stats() { return stats_; }

  // Orders "counters updated" against "route armed" without fences (which GCC's TSan rejects).
  // The scaler arms routes, then passes the gate (an increment), then evaluates them. The ingest
  // path reads the gate (an RMW adding 0) before and after applying a report, checking armed
  // flags inline (relaxed). All are acq_rel RMWs on one atomic, hence totally ordered: a scaler
  // pass before the first read makes its arming visible to the inline checks; one after the
  // second read sees the report's counters; one in between changes the value, and the ingest
  // path then re-checks the report's routes after its second read. Two RMWs per report, not per
  // entry.
  void pass_activity_gate() { activity_gate_.fetch_add(1, std::memory_order_acq_rel); }
  uint64_t read_activity_gate() { return activity_gate_.fetch_add(0, std::memory_order_acq_rel); }

  // --- proxy fleets ---
  // The summed gauges of the live proxies whose Hello names fleet `key` ("namespace/name").
  // Created if needed; kept while a holder (a proxyFleet trigger) or a proxy state uses it.
  std::shared_ptr<FleetLoad> fleet(const std::string& key);
  // The same for the proxies that name no fleet.
  const std::shared_ptr<FleetLoad>& unnamed_fleet() const { return unnamed_fleet_; }
  // Every fleet known (named ones), sorted by key.
  std::vector<std::shared_ptr<FleetLoad>> fleets() const;

  // --- maintenance: expire gauges, forget proxies, evict idle routes, drain reshaped rings ---
  void sweep();

  // --- observability ---
  // Proxies with at least one live stream (thread-safe snapshot).
  std::vector<ProxyStatus> connected_proxies() const;
  size_t proxies_connected() const;
  // Rough bytes held by routes and proxy states (for the memory benchmark and logs).
  size_t memory_bytes() const;

 private:
  friend class RoutePin;
  struct ProxyRecord {
    uint64_t newest_epoch = 0;
    std::vector<std::shared_ptr<ProxyEpoch>> epochs;
  };
  struct EpochLife {
    int live_streams = 0;
    int64_t disconnected_at_ms = 0;  // valid while live_streams == 0
    bool gauges_dropped = false;
    bool superseded = false;
  };
  struct PendingDrain {
    std::shared_ptr<Route> route;
    uint64_t epoch;
  };

  void unpin(Route& route, const RouteShape& shape);
  void reshape_locked(Route& route, const RouteShape& shape);   // routes_mu_ held
  RouteSeries* add_series_locked(Route& route, std::string_view backend);  // routes_mu_ held
  std::shared_ptr<Route> create_route_locked(const std::string& key);      // routes_mu_ held
  int64_t eviction_idle_ms(const Route& route) const;

  const Clock& clock_;
  const AggregatorOptions options_;
  Logger log_;
  const int64_t started_unix_ms_;
  WriterEpochs writer_epochs_;
  SeriesTable series_table_;
  std::atomic<ActivityListener*> listener_{nullptr};
  std::atomic<uint64_t> activity_gate_{0};
  IngestStats stats_;

  // Heterogeneous lookup: find a route by string_view without building a string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  mutable std::mutex routes_mu_;
  // Guarded by routes_mu_:
  std::unordered_map<std::string, std::shared_ptr<Route>, KeyHash, std::equal_to<>> routes_;
  std::vector<uint32_t> free_series_ids_;
  uint32_t next_series_id_ = 0;
  std::vector<PendingDrain> pending_drains_;
  // Every route, in no order (Route::order_index_ is a route's place): sweep() copies it in
  // microseconds instead of walking the map under routes_mu_, which new series definitions (a
  // cold start's first report) wait for.
  std::vector<Route*> route_list_;
  // The longest window of any route, ever (shapes only grow; an evicted route's window stays
  // counted, which only keeps proxy states a little longer).
  int64_t longest_window_ms_ = 0;

  std::mutex sweep_mu_;  // one sweep at a time: only sweep() erases routes, so its pointers live

  mutable std::mutex registry_mu_;
  // Guarded by registry_mu_:
  std::unordered_map<std::string, ProxyRecord> proxies_;
  std::unordered_map<const ProxyEpoch*, EpochLife> lives_;
  std::unordered_map<std::string, std::shared_ptr<FleetLoad>> fleets_;
  const std::shared_ptr<FleetLoad> unnamed_fleet_ = std::make_shared<FleetLoad>("");
};

}  // namespace lockstep::aggregator
