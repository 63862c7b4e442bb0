#include "scaler/trigger_cache.h"

#include <google/protobuf/map.h>

#include <algorithm>
#include <cstring>
#include <functional>

namespace lockstep::scaler {
namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Order-independent: protobuf maps iterate in no particular order. Keys are unique, so a sum of
// mixed pair hashes cannot cancel out the way a xor of equal pairs would.
template <typename MapT>
uint64_t content_hash(const std::string& ns, const std::string& name, const MapT& md) {
  std::hash<std::string_view> h;
  uint64_t acc = mix(h(ns) * 31 + h(name)) + md.size();
  for (const auto& kv : md) acc += mix(h(kv.first) * 0x9E3779B97F4A7C15ULL ^ h(kv.second));
  return acc;
}

// Entry::identity of a trigger: namespace and name, then the metadata pairs sorted by key, each
// string as a 4-byte length and its bytes (unambiguous whatever the strings hold).
void put_field(std::string& out, std::string_view s) {
  const auto n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(s);
}

std::string identity_of(const std::string& ns, const std::string& name,
                        const std::map<std::string, std::string>& md) {
  size_t n = ns.size() + name.size() + 8;
  for (const auto& [k, v] : md) n += k.size() + v.size() + 8;
  std::string out;
  out.reserve(n);
  put_field(out, ns);
  put_field(out, name);
  for (const auto& [k, v] : md) {
    put_field(out, k);
    put_field(out, v);
  }
  return out;
}

// Reads the next field of an identity; false at its end.
bool next_field(std::string_view& identity, std::string_view* field) {
  uint32_t n;
  if (identity.size() < sizeof n) return false;
  std::memcpy(&n, identity.data(), sizeof n);
  *field = identity.substr(sizeof n, n);
  identity.remove_prefix(sizeof n + field->size());
  return true;
}

// True when `identity` is exactly (ns, name, md). md may be unordered (a protobuf map); its keys
// are unique, so equal sizes and every pair found means equal.
template <typename MapT>
bool same(std::string_view identity, const std::string& ns, const std::string& name,
          const MapT& md) {
  std::string_view f;
  if (!next_field(identity, &f) || f != ns || !next_field(identity, &f) || f != name) return false;
  const std::string_view pairs = identity;
  size_t count = 0;
  for (std::string_view k, v; next_field(identity, &k) && next_field(identity, &v);) ++count;
  if (count != md.size()) return false;
  for (const auto& kv : md) {
    identity = pairs;
    bool found = false;
    for (std::string_view k, v; next_field(identity, &k) && next_field(identity, &v);) {
      if (k == kv.first) {
        found = v == kv.second;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

TriggerCache::TriggerCache(aggregator::Aggregator& aggregator, Logger log, size_t max_entries)
    : aggregator_(aggregator), log_(std::move(log)), max_entries_(max_entries) {}

TriggerCache::~TriggerCache() = default;

TriggerLookup TriggerCache::parse(const std::string& ns, const std::string& name,
                                  const std::map<std::string, std::string>& md) {
  parses_.fetch_add(1, std::memory_order_relaxed);
  ParseResult parsed = parse_trigger_metadata(ns, name, md);
  TriggerLookup out;
  if (parsed.error) {
    out.error = std::make_shared<const MetadataError>(*parsed.error);
    log_.warn("invalid trigger metadata", {{"scaledobject", ns + "/" + name},
                                            {"error", parsed.error->message()}});
    return out;
  }
  for (const auto& w : parsed.spec->warnings) {
    log_.warn("trigger metadata warning", {{"scaledobject", ns + "/" + name}, {"warning", w}});
  }
  auto t = std::make_shared<Trigger>();
  t->spec = std::move(*parsed.spec);
  if (t->spec.is_fleet()) {
    t->fleet = aggregator_.fleet(t->spec.proxy_fleet);
    t->unnamed_fleet = aggregator_.unnamed_fleet();
  } else {
    t->pin = aggregator_.pin_route(t->spec.route_key, t->spec.shape());
  }
  out.trigger = std::move(t);
  return out;
}

template <typename MapT>
TriggerLookup TriggerCache::lookup_impl(const std::string& ns, const std::string& name,
                                        const MapT& md) {
  const uint64_t hash = content_hash(ns, name, md);
  Shard& shard = shards_[hash % kShards];
  const int64_t now = aggregator_.clock().unix_ms();
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto [lo, hi] = shard.entries.equal_range(hash);
    for (auto it = lo; it != hi; ++it) {
      Entry& e = it->second;
      if (same(e.identity, ns, name, md)) {
        e.last_used_ms = now;
        if (e.result.trigger) {
          e.result.trigger->last_used_unix_ms.store(now, std::memory_order_relaxed);
        }
        return e.result;
      }
    }
  }
  // Parse outside the lock (it may pin and reshape a route); a racing duplicate parse is harmless:
  // the first one inserted wins.
  std::map<std::string, std::string> sorted;
  for (const auto& kv : md) sorted.emplace(kv.first, kv.second);
  Entry e;
  e.identity = identity_of(ns, name, sorted);
  e.result = parse(ns, name, sorted);
  e.last_used_ms = now;
  if (e.result.trigger) e.result.trigger->last_used_unix_ms.store(now, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto [lo, hi] = shard.entries.equal_range(hash);
  for (auto it = lo; it != hi; ++it) {
    if (same(it->second.identity, ns, name, md)) {
      return it->second.result;
    }
  }
  TriggerLookup result = e.result;
  shard.entries.emplace(hash, std::move(e));
  return result;
}

TriggerLookup TriggerCache::lookup(const std::string& ns, const std::string& name,
                                   const google::protobuf::Map<std::string, std::string>& md) {
  return lookup_impl(ns, name, md);
}

TriggerLookup TriggerCache::lookup(const std::string& ns, const std::string& name,
                                   const std::map<std::string, std::string>& md) {
  return lookup_impl(ns, name, md);
}

void TriggerCache::sweep(std::chrono::milliseconds idle) {
  const int64_t now = aggregator_.clock().unix_ms();
  std::vector<TriggerLookup> dropped;  // released outside the shard locks (unpin takes a mutex)
  std::vector<int64_t> ages;
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (auto it = shard.entries.begin(); it != shard.entries.end();) {
      if (now - it->second.last_used_ms >= idle.count()) {
        dropped.push_back(std::move(it->second.result));
        it = shard.entries.erase(it);
      } else {
        ages.push_back(it->second.last_used_ms);
        ++it;
      }
    }
  }
  if (ages.size() > max_entries_) {
    // Over the bound: drop the least recently used beyond it.
    std::nth_element(ages.begin(), ages.begin() + static_cast<long>(ages.size() - max_entries_),
                     ages.end());
    const int64_t cutoff = ages[ages.size() - max_entries_];
    for (Shard& shard : shards_) {
      std::lock_guard<std::mutex> lock(shard.mu);
      for (auto it = shard.entries.begin(); it != shard.entries.end();) {
        if (it->second.last_used_ms < cutoff) {
          dropped.push_back(std::move(it->second.result));
          it = shard.entries.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
}

std::vector<std::shared_ptr<Trigger>> TriggerCache::triggers() const {
  std::vector<std::shared_ptr<Trigger>> out;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (const auto& [h, e] : shard.entries) {
      if (e.result.trigger) out.push_back(e.result.trigger);
    }
  }
  return out;
}

size_t TriggerCache::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    n += shard.entries.size();
  }
  return n;
}

}  // namespace lockstep::scaler
