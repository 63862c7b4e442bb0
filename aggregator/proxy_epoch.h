#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aggregator/fleet_load.h"
#include "aggregator/route.h"
#include "aggregator/series_table.h"

namespace lockstep::aggregator {

class RouteSeries;

// What the aggregator remembers of one (proxy, boot epoch, series): the last cumulative request
// count applied (so nothing counts twice) and the proxy's last gauges (so a change is applied as a
// delta to the series sums). 16 bytes. Guarded by the owning ProxyEpoch's apply mutex.
struct ProxySeriesState {
  static constexpr uint32_t kMaxGauge = (1u << 20) - 1;
  static constexpr uint32_t kMaxSeriesId = (1u << 24) - 2;

  uint64_t last_requests = 0;
  // series id + 1 (24 bits) | in_flight (20 bits) | held (20 bits); 0: a free state.
  uint64_t packed = 0;

  bool free() const { return packed == 0; }
  uint32_t series_id() const { return static_cast<uint32_t>(packed >> 40) - 1; }
  uint32_t in_flight() const { return static_cast<uint32_t>(packed >> 20) & kMaxGauge; }
  uint32_t held() const { return static_cast<uint32_t>(packed) & kMaxGauge; }
  void set(uint32_t series_id, uint32_t in_flight, uint32_t held) {
    packed = (static_cast<uint64_t>(series_id) + 1) << 40 | static_cast<uint64_t>(in_flight) << 20 |
             held;
  }
  void set_gauges(uint32_t in_flight, uint32_t held) { set(series_id(), in_flight, held); }
};
static_assert(sizeof(ProxySeriesState) == 16);

// Map from a series id to a state index. Dense (a plain array indexed by series id, 4 bytes a
// slot) while the ids it holds fill at least a quarter of their range, which is the normal case
// of a proxy reporting most routes; open addressing (8 bytes a slot, linear probing,
// backward-shift deletion) otherwise. Not thread-safe.
class SeriesIndex {
 public:
  std::optional<uint32_t> find(uint32_t series_id) const;
  void insert(uint32_t series_id, uint32_t state_index);  // replaces an existing entry
  bool erase(uint32_t series_id);
  size_t size() const { return size_; }
  void compact() {
    dense_.shrink_to_fit();
    slots_.shrink_to_fit();
  }
  size_t memory_bytes() const {
    return slots_.capacity() * sizeof(uint64_t) + dense_.capacity() * sizeof(uint32_t);
  }

 private:
  bool dense_fits(uint32_t max_id, size_t count) const {
    return static_cast<size_t>(max_id) + 1 <= 4 * count + 1024;
  }
  void to_dense(uint32_t max_id);
  void to_hash();
  bool hash_find(uint32_t key, uint32_t* value) const;
  void hash_insert(uint32_t key, uint32_t value);
  bool hash_erase(uint32_t key);

  static uint64_t entry(uint32_t key, uint32_t value) {
    return (static_cast<uint64_t>(key) + 1) << 32 | value;
  }
  static uint32_t key_of(uint64_t e) { return static_cast<uint32_t>((e >> 32) - 1); }
  size_t home(uint32_t key) const {
    return (static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ULL >> 32) & (slots_.size() - 1);
  }
  void grow();

  bool dense_mode_ = true;
  std::vector<uint32_t> dense_;  // dense mode: state index + 1 by series id; 0: absent
  std::vector<uint64_t> slots_;  // hash mode: 0: empty
  size_t hash_size_ = 0;
  size_t size_ = 0;
  uint32_t max_id_ = 0;
};

// One running process of one proxy (proxy_id + boot_epoch): its per-series states, which outlive
// its streams so that a reconnect continues exactly where the last applied report left off.
class ProxyEpoch {
 public:
  // `fleet`: the load of the proxy's fleet (its Hello's fleet, or the aggregator's entry for
  // proxies that name none); null: the gauges count in no fleet.
  ProxyEpoch(std::string proxy_id, uint64_t boot_epoch, const SeriesTable& series,
             std::shared_ptr<FleetLoad> fleet = nullptr);
  ~ProxyEpoch();
  ProxyEpoch(const ProxyEpoch&) = delete;
  ProxyEpoch& operator=(const ProxyEpoch&) = delete;

  const std::string& proxy_id() const { return proxy_id_; }
  uint64_t boot_epoch() const { return boot_epoch_; }
  const std::shared_ptr<FleetLoad>& fleet() const { return fleet_; }
  // Adds the net gauge change of one report to the fleet's sums (once per report, not per entry).
  void add_fleet_gauges(int64_t d_in_flight, int64_t d_held) {
    if (fleet_) fleet_->add(d_in_flight, d_held);
  }

  // Serialises the application of this epoch's reports (one report at a time, even if two
  // streams of the same process overlap during a reconnect) and the sweeps of its gauges. Taken
  // once per report, never per entry.
  std::mutex& apply_mutex() { return apply_mu_; }

  // --- guarded by apply_mutex() ---
  // States are addressed by a stable index (4 bytes in a stream's table instead of a pointer).
  std::optional<uint32_t> find(const RouteSeries& series) {
    ensure_index();
    return index_.find(series.id());
  }
  uint32_t create(RouteSeries& series, uint64_t last_requests);
  ProxySeriesState& at(uint32_t i) { return blocks_[i >> kBlockBits][i & ((1u << kBlockBits) - 1)]; }
  // Gives back growth slack of the index after a burst of definitions.
  void compact() { index_.compact(); }
  // The series -> state index serves only definitions and evictions, which are rare once a
  // proxy's streams are up: drop it when unused since the last call (4 bytes per state, 4 MiB at
  // 10k routes x 100 proxies); the next definition or eviction rebuilds it from the states.
  // True when it was dropped.
  bool drop_index_if_idle();
  bool index_built() const { return index_built_; }
  // Forgets the state of a series (its route is being evicted).
  void release(const RouteSeries& series);
  // The series a state counts for.
  RouteSeries& series_of(const ProxySeriesState& st) const { return *series_.get(st.series_id()); }
  // Subtracts this epoch's gauges from the series sums and zeroes them.
  void drop_gauges();
  // Gauges of reports with seq <= last applied are stale and ignored; a superseded epoch (its
  // process restarted) never sets gauges again.
  bool gauges_fresh(uint64_t seq) const { return !frozen_ && (!has_seq_ || seq > last_seq_); }
  void saw_seq(uint64_t seq) {
    if (!has_seq_ || seq > last_seq_) last_seq_ = seq;
    has_seq_ = true;
  }
  void freeze() { frozen_ = true; }
  size_t state_count() const { return used_ - free_.size(); }

  // --- status, for the route rollout view (relaxed: independent status values) ---
  std::atomic<uint64_t> route_table_version{0};
  std::atomic<int64_t> last_report_unix_ms{0};
  std::atomic<int64_t> connected_since_unix_ms{0};

  // Bytes held by the states and the index. Takes apply_mutex().
  size_t memory_bytes() const;

 private:
  static constexpr uint32_t kBlockBits = 10;  // 1024 states a block: stable addresses
  // Rebuilds the index from the states (each names its series) if it was dropped.
  void ensure_index();

  const std::string proxy_id_;
  const uint64_t boot_epoch_;
  const SeriesTable& series_;
  const std::shared_ptr<FleetLoad> fleet_;
  mutable std::mutex apply_mu_;
  // Guarded by apply_mu_:
  std::vector<std::unique_ptr<ProxySeriesState[]>> blocks_;
  uint32_t used_ = 0;
  std::vector<uint32_t> free_;
  SeriesIndex index_;         // valid when index_built_
  bool index_built_ = true;   // an empty epoch's empty index is complete
  bool index_used_ = false;   // since the last drop_index_if_idle()
  uint64_t last_seq_ = 0;
  bool has_seq_ = false;
  bool frozen_ = false;
};

}  // namespace lockstep::aggregator
