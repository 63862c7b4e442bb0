#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/aggregator.h"
#include "scaler/trigger_spec.h"

namespace google::protobuf {
template <typename K, typename V>
class Map;
}

namespace lockstep::scaler {

// A parsed trigger, shared by the cache and the streams that serve it. Holding it keeps its route
// alive with the trigger's ring shape (a route trigger), or its fleet's load (a proxyFleet one).
struct Trigger {
  TriggerSpec spec;
  aggregator::RoutePin pin;  // empty for a proxyFleet trigger
  // proxyFleet triggers: the fleet's load, and that of the proxies naming no fleet (they count
  // toward every fleet).
  std::shared_ptr<aggregator::FleetLoad> fleet;
  std::shared_ptr<aggregator::FleetLoad> unnamed_fleet;
  // What KEDA last got, for /metrics. Relaxed: independent status values.
  std::atomic<double> last_value{0};
  std::atomic<bool> last_active{false};
  std::atomic<int64_t> last_used_unix_ms{0};

  bool is_fleet() const { return fleet != nullptr; }
  // The route of a route trigger (never called for a proxyFleet trigger).
  aggregator::Route& route() const { return *pin; }
};

struct TriggerLookup {
  std::shared_ptr<Trigger> trigger;            // set when the metadata is valid
  std::shared_ptr<const MetadataError> error;  // set when it is not
};

// Parses each distinct (namespace, name, metadata) once. KEDA sends the same ScaledObjectRef on
// every call of a trigger, so after the first call a lookup is a hash of the map plus a compare
// (under one of 16 shard mutexes, held for the lookup only). Invalid metadata is cached too, so a
// broken trigger costs no more than a valid one. Entries unused for a while are dropped by
// sweep(), which also bounds the cache. Thread-safe.
class TriggerCache {
 public:
  TriggerCache(aggregator::Aggregator& aggregator, Logger log, size_t max_entries = 100'000);
  ~TriggerCache();

  TriggerLookup lookup(const std::string& route_namespace, const std::string& route_name,
                       const google::protobuf::Map<std::string, std::string>& metadata);
  // Same, for a metadata map from elsewhere (tests, the catalogue).
  TriggerLookup lookup(const std::string& route_namespace, const std::string& route_name,
                       const std::map<std::string, std::string>& metadata);

  // Drops entries unused for `idle` (and the oldest ones beyond max_entries).
  void sweep(std::chrono::milliseconds idle);
  std::vector<std::shared_ptr<Trigger>> triggers() const;
  size_t size() const;
  uint64_t parses() const { return parses_.load(std::memory_order_relaxed); }

 private:
  // What a lookup is compared with, in one allocation: namespace, name, then the metadata pairs
  // sorted by key, each string length-prefixed (~100 bytes a trigger instead of a map's nodes and
  // strings).
  struct Entry {
    std::string identity;
    TriggerLookup result;
    int64_t last_used_ms = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::multimap<uint64_t, Entry> entries;  // guarded by mu, keyed by content hash
  };
  template <typename MapT>
  TriggerLookup lookup_impl(const std::string& ns, const std::string& name, const MapT& md);
  TriggerLookup parse(const std::string& ns, const std::string& name,
                      const std::map<std::string, std::string>& md);

  aggregator::Aggregator& aggregator_;
  Logger log_;
  const size_t max_entries_;
  static constexpr size_t kShards = 16;
  Shard shards_[kShards];
  std::atomic<uint64_t> parses_{0};  // relaxed: a statistic
};

}  // namespace lockstep::scaler
