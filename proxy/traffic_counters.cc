#include "proxy/traffic_counters.h"

#include <algorithm>

namespace lockstep::proxy {
namespace {

void count_in_blocks(std::array<std::atomic<StatusBlock*>, 5>& blocks, uint32_t code) {
  if (code < 100 || code > 599) code = 599;  // outside HTTP's range: counted as 599
  auto& slot = blocks[code / 100 - 1];
  // Only the owning worker allocates, so no CAS is needed; release publishes the zeroed block
  // to readers that load it with acquire.
  StatusBlock* block = slot.load(std::memory_order_relaxed);
  if (block == nullptr) {
    block = new StatusBlock();
    slot.store(block, std::memory_order_release);
  }
  block->codes[code % 100].add();
}

void free_blocks(std::array<std::atomic<StatusBlock*>, 5>& blocks) {
  for (auto& b : blocks) delete b.load(std::memory_order_acquire);
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kStable:
      return "stable";
    case Role::kCanary:
      return "canary";
    case Role::kOther:
    case Role::kUnspecified:
      break;
  }
  return "other";
}

std::string_view upstream_error_name(UpstreamError e) {
  switch (e) {
    case UpstreamError::kConnect:
      return "connect";
    case UpstreamError::kConnectTimeout:
      return "connect_timeout";
    case UpstreamError::kResponseTimeout:
      return "response_timeout";
    case UpstreamError::kReset:
      return "reset";
    case UpstreamError::kProtocol:
      return "protocol";
    case UpstreamError::kBodyTimeout:
      return "body_timeout";
    case UpstreamError::kCount:
      break;
  }
  return "unknown";
}

std::string_view reject_reason_name(RejectReason r) {
  switch (r) {
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kHeaderTooLarge:
      return "header_too_large";
    case RejectReason::kBodyTooLarge:
      return "body_too_large";
    case RejectReason::kBadHost:
      return "bad_host";
    case RejectReason::kBadTarget:
      return "bad_target";
    case RejectReason::kMethod:
      return "method_not_allowed";
    case RejectReason::kExpectation:
      return "expectation_failed";
    case RejectReason::kHeaderTimeout:
      return "header_timeout";
    case RejectReason::kNoRoute:
      return "no_route";
    case RejectReason::kTooManyConnections:
      return "too_many_connections";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}

SeriesShard::~SeriesShard() { free_blocks(status); }

void SeriesShard::count_status(uint32_t code) { count_in_blocks(status, code); }

void RouteShard::observe_latency(int64_t ns) {
  const double s = static_cast<double>(ns) * 1e-9;
  size_t i = 0;
  while (i < kLatencyBounds.size() && s > kLatencyBounds[i]) ++i;
  latency_buckets[i].add();
  latency_count.add();
  latency_sum_ns.add(static_cast<uint64_t>(std::max<int64_t>(ns, 0)));
}

ProcessShard::~ProcessShard() { free_blocks(unmatched_status); }

void ProcessShard::count_unmatched(uint32_t code) { count_in_blocks(unmatched_status, code); }

SeriesCounters::SeriesCounters(const RouteCounters& route, std::string backend, uint32_t index,
                               uint32_t shards)
    : route_(route),
      backend_(std::move(backend)),
      index_(index),
      shard_count_(shards),
      shards_(new SeriesShard[shards]) {}

uint64_t SeriesCounters::requests() const {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < shard_count_; ++i) sum += shards_[i].requests.load();
  return sum;
}

int64_t SeriesCounters::in_flight() const {
  int64_t sum = 0;
  for (uint32_t i = 0; i < shard_count_; ++i) sum += shards_[i].in_flight.load();
  return std::max<int64_t>(sum, 0);
}

int64_t SeriesCounters::held() const {
  int64_t sum = 0;
  for (uint32_t i = 0; i < shard_count_; ++i) sum += shards_[i].held.load();
  return std::max<int64_t>(sum, 0);
}

RouteCounters::RouteCounters(std::string key, uint32_t shards)
    : key_(std::move(key)), shard_count_(shards), shards_(new RouteShard[shards]) {
  auto slash = key_.find('/');
  if (slash == std::string::npos) {
    name_ = key_;
  } else {
    ns_ = key_.substr(0, slash);
    name_ = key_.substr(slash + 1);
  }
}

TrafficCounters::TrafficCounters(uint32_t shards)
    : shard_count_(std::max<uint32_t>(shards, 1)), process_(new ProcessShard[shard_count_]) {}

RouteCounters& TrafficCounters::route(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = route_by_key_.find(key);
  if (it != route_by_key_.end()) return *it->second;
  routes_.push_back(std::make_unique<RouteCounters>(std::string(key), shard_count_));
  RouteCounters* r = routes_.back().get();
  route_by_key_.emplace(std::string(key), r);
  return *r;
}

SeriesCounters& TrafficCounters::series(RouteCounters& route, std::string_view backend) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(route.key(), std::string(backend));
  auto it = series_by_key_.find(key);
  if (it != series_by_key_.end()) return *it->second;
  series_.push_back(std::make_unique<SeriesCounters>(route, std::string(backend),
                                                     static_cast<uint32_t>(series_.size()),
                                                     shard_count_));
  SeriesCounters* s = series_.back().get();
  series_by_key_.emplace(std::move(key), s);
  return *s;
}

std::vector<const SeriesCounters*> TrafficCounters::all_series() const {
  std::lock_guard lock(mu_);
  std::vector<const SeriesCounters*> out;
  out.reserve(series_.size());
  for (const auto& s : series_) out.push_back(s.get());
  return out;
}

std::vector<const RouteCounters*> TrafficCounters::all_routes() const {
  std::lock_guard lock(mu_);
  std::vector<const RouteCounters*> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) out.push_back(r.get());
  return out;
}

size_t TrafficCounters::series_count() const {
  std::lock_guard lock(mu_);
  return series_.size();
}

}  // namespace lockstep::proxy
