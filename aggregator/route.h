#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/bucket_ring.h"
#include "common/clock.h"

namespace lockstep::aggregator {

class WriterEpochs;

// The ring a route keeps: its bucket width and the longest window read from it.
struct RouteShape {
  uint32_t granularity_ms = 1000;
  uint32_t window_ms = 60'000;

  // Slots needed to read a window ending at any instant: the window's buckets, the partly filled
  // current one, and one spare for a writer already in the next bucket.
  uint32_t slots() const { return (window_ms + granularity_ms - 1) / granularity_ms + 2; }
  bool operator==(const RouteShape&) const = default;
  bool covers(const RouteShape& other) const {
    return window_ms >= other.window_ms && other.granularity_ms % granularity_ms == 0;
  }
  // The finest shape serving both: gcd of the granularities, longest window. If that needs more
  // than max_slots, the granularity is coarsened (to a multiple of the gcd) until it fits.
  static RouteShape merge(const RouteShape& a, const RouteShape& b, uint32_t max_slots);
};

// "namespace/name": true if both parts are valid Kubernetes names (namespace a DNS-1123 label, name
// a DNS-1123 subdomain); `why` names the rule broken otherwise.
bool valid_route_key(std::string_view key, std::string* why);

class Route;

// "Now" for crediting the samples of one report, with the bucket indices cached per granularity
// (most routes share one), so the per-entry path does no division.
struct CreditClock {
  CreditClock(int64_t at_ms, int64_t now_ms) : at_ms(at_ms), now_ms(now_ms) {}
  const int64_t at_ms;   // when the credited requests happened (just before now)
  const int64_t now_ms;
  uint32_t granularity_ms = 0;
  int64_t at_bucket = 0;
  int64_t now_bucket = 0;
  void use(uint32_t g) {
    if (g == granularity_ms) return;
    granularity_ms = g;
    at_bucket = BucketRing::floor_div(at_ms, g);
    now_bucket = BucketRing::floor_div(now_ms, g);
  }
};

// One backend (Service) of a route: its ring of request counts, its cumulative count and the
// summed gauges of the proxies that are alive. Updated lock-free by the ingest path.
class RouteSeries {
 public:
  RouteSeries(Route& route, std::string backend, uint32_t id, const RouteShape& shape);
  ~RouteSeries();
  RouteSeries(const RouteSeries&) = delete;
  RouteSeries& operator=(const RouteSeries&) = delete;

  Route& route() const { return route_; }
  const std::string& backend() const { return backend_; }
  // Aggregator-wide dense id (index into per-proxy tables), stable for the series' life.
  uint32_t id() const { return id_; }

  // Counts n requests made at `at_ms` (history) or now (`at_ms == now_ms`). Requests older than the
  // ring are counted in requests_total() only. Returns whether they landed in the ring.
  bool credit(int64_t at_ms, int64_t now_ms, uint64_t n);
  // The per-entry form: requests that happened at clock.at_ms.
  bool credit(CreditClock& clock, uint64_t n) {
    total_.fetch_add(n, std::memory_order_relaxed);
    // seq_cst load: see WriterEpochs (a reshape may be replacing the ring right now).
    BucketRing* ring = ring_.load(std::memory_order_seq_cst);
    clock.use(ring->granularity_ms());
    if (clock.at_bucket <= clock.now_bucket - static_cast<int64_t>(ring->slots()) + 1) return false;
    return ring->add(clock.at_bucket, n);
  }
  // Counts requests whose time is unknown (only requests_total()).
  void credit_total(uint64_t n) { total_.fetch_add(n, std::memory_order_relaxed); }
  // Gauge deltas from one proxy's report (in_flight and held are sums over live proxies).
  void add_gauges(int64_t d_in_flight, int64_t d_held);

  // Requests in (from_ms, to_ms] (see BucketRing::sum).
  double requests_in(int64_t from_ms, int64_t to_ms) const;
  // Relaxed: statistics, read for metrics and activity; exactness comes from the per-proxy
  // state, these are plain sums of its deltas.
  uint64_t requests_total() const { return total_.load(std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  int64_t held() const { return held_.load(std::memory_order_relaxed); }

  // Re-buckets this series into a ring of the new shape (cold path, under the aggregator mutex).
  // The old ring stays readable; requests written into it after the copy are moved over by
  // drain() once no writer can still hold it.
  void reshape(const RouteShape& shape, int64_t now_ms);
  // Moves late writes from replaced rings; call when WriterEpochs says the writers are past the
  // replacement. Returns false while nothing was pending.
  bool drain(int64_t now_ms);

 private:
  // A replaced ring with the slot words as they were when its counts were copied.
  struct Retired {
    std::unique_ptr<BucketRing> ring;
    std::vector<uint64_t> copied;
    bool drained = false;
  };

  Route& route_;
  const std::string backend_;
  const uint32_t id_;
  // The live ring. Written (seq_cst) only by reshape(); loaded seq_cst by writers (see
  // WriterEpochs) and readers. Owned by ring_owner_ or retired_.
  std::atomic<BucketRing*> ring_;
  std::unique_ptr<BucketRing> ring_owner_;
  std::vector<Retired> retired_;  // guarded by the aggregator mutex; freed with the series
  std::atomic<uint64_t> total_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> held_{0};
};

// A route: the ScaledObject `namespace/name`, its backends and what the aggregator knows of it.
// Reads (rates, gauges) and the per-entry ingest updates take no lock. Creating series, reshaping
// and eviction bookkeeping happen under the owning Aggregator's mutex.
class Route {
 public:
  static constexpr size_t kMaxBackends = 16;

  Route(std::string key, const RouteShape& shape, int64_t observed_since_ms);
  ~Route();
  Route(const Route&) = delete;
  Route& operator=(const Route&) = delete;

  const std::string& key() const { return key_; }
  std::string_view route_namespace() const;
  std::string_view name() const;

  // Series published so far (acquire pairs with the release in add_series, so the pointer and
  // everything the constructor wrote are visible).
  size_t series_count() const { return series_count_.load(std::memory_order_acquire); }
  RouteSeries& series(size_t i) const { return *series_[i].load(std::memory_order_relaxed); }
  RouteSeries* find_series(std::string_view backend) const;

  RouteShape shape() const;

  // True requests per second over the last `window_ms` ending at now_ms, summed over backends.
  // A window longer than the data seen averages over what was seen (at least one bucket).
  double request_rate(int64_t now_ms, uint32_t window_ms) const;
  // The same for one backend.
  double request_rate(const RouteSeries& s, int64_t now_ms, uint32_t window_ms) const;
  int64_t in_flight() const;
  int64_t held() const;
  uint64_t requests_total() const;

  // Start of the time the aggregator has observed for this route: its start, or earlier if a
  // proxy's history reached further back.
  int64_t observed_since_ms() const { return observed_since_ms_.load(std::memory_order_relaxed); }
  void observed_at(int64_t ms);
  int64_t last_activity_ms() const { return last_activity_ms_.load(std::memory_order_relaxed); }
  void touch(int64_t now_ms) {
    // Relaxed and only once a second: an eviction hint, written by many streams.
    if (last_activity_ms_.load(std::memory_order_relaxed) + 1000 <= now_ms) {
      last_activity_ms_.store(now_ms, std::memory_order_relaxed);
    }
  }

  // Activation wake-up. The scaler arms a route while it waits for it to become active, passes the
  // aggregator's activity gate and evaluates it; the ingest path updates counters, passes the
  // gate, and disarms an armed route (exchange: exactly one signal per arming). The gate makes
  // sure a report landing while the scaler arms is seen by one side or the other.
  void arm() { armed_.store(true, std::memory_order_relaxed); }
  bool armed() const { return armed_.load(std::memory_order_relaxed); }
  bool disarm() { return armed_.exchange(false, std::memory_order_acq_rel); }
  // When the report that disarmed the route arrived (steady ns), for the activation latency.
  void note_signal(Clock::SteadyTime t) {
    signal_steady_ns_.store(t.time_since_epoch().count(), std::memory_order_relaxed);
  }
  int64_t signal_steady_ns() const { return signal_steady_ns_.load(std::memory_order_relaxed); }

 private:
  friend class Aggregator;

  const std::string key_;
  const size_t slash_;
  std::array<std::atomic<RouteSeries*>, kMaxBackends> series_{};
  std::atomic<size_t> series_count_{0};
  std::vector<std::unique_ptr<RouteSeries>> owned_series_;  // guarded by the aggregator mutex
  std::atomic<uint32_t> shape_granularity_ms_;
  std::atomic<uint32_t> shape_window_ms_;
  std::atomic<int64_t> observed_since_ms_;
  std::atomic<int64_t> last_activity_ms_;
  std::atomic<bool> armed_{false};
  std::atomic<int64_t> signal_steady_ns_{0};

  // Guarded by the aggregator mutex:
  size_t order_index_ = 0;       // its place in the aggregator's route list
  int stream_refs_ = 0;          // live ingest streams that defined one of its series
  std::vector<RouteShape> pins_;  // shapes of the triggers that keep it (never evicted while any)
};

}  // namespace lockstep::aggregator
