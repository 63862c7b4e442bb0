#include "aggregator/proxy_epoch.h"

#include "aggregator/route.h"

#include <algorithm>

namespace lockstep::aggregator {

// ---------------------------------------------------------------------------------------------
// SeriesIndex

std::optional<uint32_t> SeriesIndex::find(uint32_t key) const {
  if (dense_mode_) {
    if (key >= dense_.size() || dense_[key] == 0) return std::nullopt;
    return dense_[key] - 1;
  }
  uint32_t v;
  if (!hash_find(key, &v)) return std::nullopt;
  return v;
}

void SeriesIndex::insert(uint32_t key, uint32_t value) {
  const bool present = find(key).has_value();
  const uint32_t max_id = std::max(max_id_, key);
  const size_t count = size_ + (present ? 0 : 1);
  if (dense_mode_ && !dense_fits(max_id, count)) to_hash();
  if (!dense_mode_ && dense_fits(max_id, count) && count > 64) to_dense(max_id);
  max_id_ = max_id;
  if (dense_mode_) {
    if (key >= dense_.size()) {
      // Amortised growth; compact() gives the slack back after a burst of definitions.
      if (key >= dense_.capacity()) dense_.reserve(std::max<size_t>(key + 1, dense_.capacity() * 3 / 2));
      dense_.resize(key + 1, 0);
    }
    dense_[key] = value + 1;
  } else {
    hash_insert(key, value);
  }
  size_ = count;
}

bool SeriesIndex::erase(uint32_t key) {
  if (!find(key)) return false;
  if (dense_mode_) {
    dense_[key] = 0;
  } else {
    hash_erase(key);
  }
  --size_;
  return true;
}

void SeriesIndex::to_dense(uint32_t max_id) {
  std::vector<uint32_t> d(static_cast<size_t>(max_id) + 1, 0);
  for (uint64_t e : slots_) {
    if (e != 0) d[key_of(e)] = static_cast<uint32_t>(e) + 1;
  }
  dense_ = std::move(d);
  std::vector<uint64_t>().swap(slots_);
  hash_size_ = 0;
  dense_mode_ = true;
}

void SeriesIndex::to_hash() {
  std::vector<uint32_t> d = std::move(dense_);
  std::vector<uint32_t>().swap(dense_);
  dense_mode_ = false;
  slots_.clear();
  hash_size_ = 0;
  for (uint32_t k = 0; k < d.size(); ++k) {
    if (d[k] != 0) hash_insert(k, d[k] - 1);
  }
}

bool SeriesIndex::hash_find(uint32_t key, uint32_t* value) const {
  if (slots_.empty()) return false;
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(key);; i = (i + 1) & mask) {
    const uint64_t e = slots_[i];
    if (e == 0) return false;
    if (key_of(e) == key) {
      *value = static_cast<uint32_t>(e);
      return true;
    }
  }
}

void SeriesIndex::grow() {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(old.empty() ? 64 : old.size() * 2, 0);
  hash_size_ = 0;
  for (uint64_t e : old) {
    if (e != 0) hash_insert(key_of(e), static_cast<uint32_t>(e));
  }
}

void SeriesIndex::hash_insert(uint32_t key, uint32_t value) {
  // Load factor <= 3/4.
  if ((hash_size_ + 1) * 4 > slots_.size() * 3) grow();
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(key);; i = (i + 1) & mask) {
    if (slots_[i] == 0) {
      slots_[i] = entry(key, value);
      ++hash_size_;
      return;
    }
    if (key_of(slots_[i]) == key) {
      slots_[i] = entry(key, value);
      return;
    }
  }
}

bool SeriesIndex::hash_erase(uint32_t key) {
  if (slots_.empty()) return false;
  const size_t mask = slots_.size() - 1;
  size_t i = home(key);
  while (true) {
    if (slots_[i] == 0) return false;
    if (key_of(slots_[i]) == key) break;
    i = (i + 1) & mask;
  }
  // Backward-shift: move later entries of the probe run into the hole when their home allows.
  size_t hole = i;
  for (size_t j = (i + 1) & mask; slots_[j] != 0; j = (j + 1) & mask) {
    const size_t h = home(key_of(slots_[j]));
    // Entry j may move to the hole if its home is not in (hole, j] (cyclically).
    const bool home_in_range = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
    if (!home_in_range) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = 0;
  --hash_size_;
  return true;
}

// ---------------------------------------------------------------------------------------------
// ProxyEpoch

ProxyEpoch::ProxyEpoch(std::string proxy_id, uint64_t boot_epoch, const SeriesTable& series,
                       std::shared_ptr<FleetLoad> fleet)
    : proxy_id_(std::move(proxy_id)),
      boot_epoch_(boot_epoch),
      series_(series),
      fleet_(std::move(fleet)) {}

ProxyEpoch::~ProxyEpoch() = default;

uint32_t ProxyEpoch::create(RouteSeries& series, uint64_t last_requests) {
  uint32_t i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    if ((used_ >> kBlockBits) >= blocks_.size()) {
      blocks_.push_back(std::make_unique<ProxySeriesState[]>(size_t{1} << kBlockBits));
    }
    i = used_++;
  }
  ensure_index();
  ProxySeriesState& s = at(i);
  s.last_requests = last_requests;
  s.set(series.id(), 0, 0);
  index_.insert(series.id(), i);
  return i;
}

void ProxyEpoch::ensure_index() {
  index_used_ = true;
  if (index_built_) return;
  for (uint32_t i = 0; i < used_; ++i) {
    const ProxySeriesState& s = at(i);
    if (!s.free()) index_.insert(s.series_id(), i);
  }
  index_.compact();
  index_built_ = true;
}

bool ProxyEpoch::drop_index_if_idle() {
  const bool idle = index_built_ && !index_used_ && index_.size() > 0;
  index_used_ = false;
  if (!idle) return false;
  index_ = SeriesIndex{};
  index_built_ = false;
  return true;
}

void ProxyEpoch::release(const RouteSeries& series) {
  ensure_index();
  const auto i = index_.find(series.id());
  if (!i) return;
  ProxySeriesState& s = at(*i);
  if (s.in_flight() != 0 || s.held() != 0) {
    series_of(s).add_gauges(-static_cast<int64_t>(s.in_flight()), -static_cast<int64_t>(s.held()));
    add_fleet_gauges(-static_cast<int64_t>(s.in_flight()), -static_cast<int64_t>(s.held()));
  }
  s = ProxySeriesState{};
  index_.erase(series.id());
  free_.push_back(*i);
}

void ProxyEpoch::drop_gauges() {
  int64_t d_in = 0, d_held = 0;
  for (uint32_t i = 0; i < used_; ++i) {
    ProxySeriesState& s = at(i);
    if (s.free() || (s.in_flight() == 0 && s.held() == 0)) continue;
    series_of(s).add_gauges(-static_cast<int64_t>(s.in_flight()), -static_cast<int64_t>(s.held()));
    d_in -= s.in_flight();
    d_held -= s.held();
    s.set_gauges(0, 0);
  }
  add_fleet_gauges(d_in, d_held);
}

size_t ProxyEpoch::memory_bytes() const {
  std::lock_guard<std::mutex> lock(apply_mu_);
  return sizeof(*this) + blocks_.size() * (sizeof(ProxySeriesState) << kBlockBits) +
         index_.memory_bytes() + free_.capacity() * sizeof(uint32_t);
}

}  // namespace lockstep::aggregator
