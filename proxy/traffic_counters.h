#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::proxy {

// A counter written by exactly one thread (the worker that owns the shard) and read by others.
// With a single writer, load+store is an atomic increment without a locked RMW; relaxed order
// suffices because readers only need each value eventually and values only grow.
class ShardCounter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t load() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A single-writer gauge (same reasoning as ShardCounter). Per shard it never drops below 0.
class ShardGauge {
 public:
  void inc() { v_.store(v_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  void dec() { v_.store(v_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); }
  int64_t load() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

enum class Role : uint8_t { kUnspecified = 0, kStable = 1, kCanary = 2, kOther = 3 };
std::string_view role_name(Role role);

enum class UpstreamError : uint8_t {
  kConnect = 0,   // connect refused/unreachable
  kConnectTimeout,
  kResponseTimeout,
  kReset,         // connection closed or reset mid-exchange
  kProtocol,      // unparseable response
  kBodyTimeout,   // no body progress within timeouts.bodyIdle
  kCount
};
std::string_view upstream_error_name(UpstreamError e);

// Requests rejected before they reach a route (the `reason` label of
// lockstep_proxy_request_rejects_total).
enum class RejectReason : uint8_t {
  kMalformed = 0,     // unparseable request head: 400 + close
  kHeaderTooLarge,    // 431 + close
  kBodyTooLarge,      // 413 + close
  kBadHost,           // missing, repeated or invalid Host: 400
  kBadTarget,         // request target not origin/absolute form, or dot segments: 400
  kMethod,            // CONNECT: 405
  kExpectation,       // Expect other than 100-continue: 417
  kHeaderTimeout,     // header not complete within timeouts.headerRead: 408 + close
  kNoRoute,           // 404
  kTooManyConnections,  // limits.maxClientConnections reached: connection closed at accept
  kCount
};
std::string_view reject_reason_name(RejectReason r);

// Upper bounds (seconds) of the request latency histogram; +Inf is implicit.
inline constexpr std::array<double, 16> kLatencyBounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

// Counts of one status class (100 codes), allocated on first use by the owning worker.
struct StatusBlock {
  std::array<ShardCounter, 100> codes;
};

// One worker's slot of a (route, backend) series; cache-line aligned so workers never share.
struct alignas(64) SeriesShard {
  ShardCounter requests;  // started (routed to this backend), including held ones
  ShardGauge in_flight;   // being proxied (not held)
  ShardGauge held;        // waiting for an endpoint of a cold backend
  std::array<std::atomic<StatusBlock*>, 5> status{};  // 1xx..5xx; release-published
  std::array<ShardCounter, static_cast<size_t>(UpstreamError::kCount)> upstream_errors;

  SeriesShard() = default;
  SeriesShard(const SeriesShard&) = delete;
  SeriesShard& operator=(const SeriesShard&) = delete;
  ~SeriesShard();
  void count_status(uint32_t code);
};

struct alignas(64) RouteShard {
  std::array<ShardCounter, kLatencyBounds.size() + 1> latency_buckets;  // last: +Inf
  ShardCounter latency_count;
  ShardCounter latency_sum_ns;
  ShardCounter cold_start_timeouts;
  ShardCounter queue_full;

  void observe_latency(int64_t ns);
};

class RouteCounters;

// Counters of one (route, backend) pair, alive for the whole process (cumulative values must
// never restart within a boot epoch). The request path reaches it through the route snapshot.
class SeriesCounters {
 public:
  SeriesCounters(const RouteCounters& route, std::string backend, uint32_t index, uint32_t shards);

  const RouteCounters& route() const { return route_; }
  const std::string& backend() const { return backend_; }
  // Dense index in registration order (the reporter's series id is index + 1).
  uint32_t index() const { return index_; }
  Role role() const { return role_.load(std::memory_order_relaxed); }
  void set_role(Role r) { role_.store(r, std::memory_order_relaxed); }

  SeriesShard& shard(uint32_t s) { return shards_[s]; }
  const SeriesShard& shard(uint32_t s) const { return shards_[s]; }
  uint32_t shard_count() const { return shard_count_; }

  // Sums over shards. requests() never decreases between calls: each shard only grows.
  uint64_t requests() const;
  int64_t in_flight() const;
  int64_t held() const;

  // Round-robin position for endpoint choice (shared by workers; relaxed: only spreading).
  std::atomic<uint64_t> rr_next{0};

 private:
  const RouteCounters& route_;
  const std::string backend_;
  const uint32_t index_;
  std::atomic<Role> role_{Role::kUnspecified};
  const uint32_t shard_count_;
  std::unique_ptr<SeriesShard[]> shards_;
};

// Per-route state that outlives route tables: split sequence, hold-queue occupancy, latency.
class RouteCounters {
 public:
  RouteCounters(std::string key, uint32_t shards);

  const std::string& key() const { return key_; }
  const std::string& ns() const { return ns_; }
  const std::string& name() const { return name_; }

  RouteShard& shard(uint32_t s) { return shards_[s]; }
  const RouteShard& shard(uint32_t s) const { return shards_[s]; }
  uint32_t shard_count() const { return shard_count_; }

  // Sequence for the weighted split: one fetch_add per request, relaxed because only the
  // uniqueness of each value matters, not its order relative to other memory.
  alignas(64) std::atomic<uint64_t> split_seq{0};
  // Requests held across all workers, bounded by maxPendingRequests (fetch_add then check).
  alignas(64) std::atomic<int64_t> pending{0};

 private:
  std::string key_, ns_, name_;
  const uint32_t shard_count_;
  std::unique_ptr<RouteShard[]> shards_;
};

// Process-wide per-worker figures.
struct alignas(64) ProcessShard {
  ShardGauge upstream_idle;
  ShardGauge upstream_active;
  ShardGauge client_connections;
  // Pooled connections the upstream closed while idle, found and discarded before reuse.
  ShardCounter upstream_stale;
  std::array<ShardCounter, static_cast<size_t>(RejectReason::kCount)> rejects;
  // Requests answered before reaching a route, by status (route="unmatched" in /metrics).
  std::array<std::atomic<StatusBlock*>, 5> unmatched_status{};
  ~ProcessShard();
  void count_unmatched(uint32_t code);
};

// Registry of every route and series seen since start. Lookups and registration happen on
// control threads (route table compile, reporter, /metrics); the request path never calls it.
class TrafficCounters {
 public:
  explicit TrafficCounters(uint32_t shards);
  TrafficCounters(const TrafficCounters&) = delete;
  TrafficCounters& operator=(const TrafficCounters&) = delete;

  uint32_t shards() const { return shard_count_; }
  RouteCounters& route(std::string_view key);
  SeriesCounters& series(RouteCounters& route, std::string_view backend);

  std::vector<const SeriesCounters*> all_series() const;
  std::vector<const RouteCounters*> all_routes() const;
  size_t series_count() const;

  ProcessShard& process(uint32_t s) { return process_[s]; }
  const ProcessShard& process(uint32_t s) const { return process_[s]; }

 private:
  const uint32_t shard_count_;
  std::unique_ptr<ProcessShard[]> process_;
  mutable std::mutex mu_;  // guards the four containers below (never taken on the request path)
  std::deque<std::unique_ptr<RouteCounters>> routes_;
  std::map<std::string, RouteCounters*, std::less<>> route_by_key_;
  std::deque<std::unique_ptr<SeriesCounters>> series_;
  std::map<std::pair<std::string, std::string>, SeriesCounters*> series_by_key_;
};

}  // namespace lockstep::proxy
