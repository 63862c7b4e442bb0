#include "aggregator/proxy_epoch.h"

#include "aggregator/route.h"

namespace lockstep::aggregator {

// ---------------------------------------------------------------------------------------------
// SeriesIndex

std::optional<uint32_t> SeriesIndex::find(uint32_t key) const {
  if (slots_.empty()) return std::nullopt;
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(key);; i = (i + 1) & mask) {
    const uint64_t e = slots_[i];
    if (e == 0) return std::nullopt;
    if (key_of(e) == key) return static_cast<uint32_t>(e);
  }
}

void SeriesIndex::grow() {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(old.empty() ? 64 : old.size() * 2, 0);
  size_ = 0;
  for (uint64_t e : old) {
    if (e != 0) insert(key_of(e), static_cast<uint32_t>(e));
  }
}

void SeriesIndex::insert(uint32_t key, uint32_t value) {
  // Load factor <= 3/4.
  if ((size_ + 1) * 4 > slots_.size() * 3) grow();
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(key);; i = (i + 1) & mask) {
    if (slots_[i] == 0) {
      slots_[i] = entry(key, value);
      ++size_;
      return;
    }
    if (key_of(slots_[i]) == key) {
      slots_[i] = entry(key, value);
      return;
    }
  }
}

bool SeriesIndex::erase(uint32_t key) {
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
  --size_;
  return true;
}

// ---------------------------------------------------------------------------------------------
// ProxyEpoch

ProxyEpoch::ProxyEpoch(std::string proxy_id, uint64_t boot_epoch)
    : proxy_id_(std::move(proxy_id)), boot_epoch_(boot_epoch) {}

ProxyEpoch::~ProxyEpoch() = default;

ProxySeriesState* ProxyEpoch::find(const RouteSeries& series) {
  const auto i = index_.find(series.id());
  return i ? &at(*i) : nullptr;
}

ProxySeriesState* ProxyEpoch::create(RouteSeries& series, uint64_t last_requests) {
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
  ProxySeriesState& s = at(i);
  s = ProxySeriesState{last_requests, 0, 0, &series};
  index_.insert(series.id(), i);
  return &s;
}

void ProxyEpoch::release(const RouteSeries& series) {
  const auto i = index_.find(series.id());
  if (!i) return;
  ProxySeriesState& s = at(*i);
  if (s.in_flight != 0 || s.held != 0) {
    s.series->add_gauges(-static_cast<int64_t>(s.in_flight), -static_cast<int64_t>(s.held));
  }
  s = ProxySeriesState{};
  index_.erase(series.id());
  free_.push_back(*i);
}

void ProxyEpoch::drop_gauges() {
  for (uint32_t i = 0; i < used_; ++i) {
    ProxySeriesState& s = at(i);
    if (s.series == nullptr || (s.in_flight == 0 && s.held == 0)) continue;
    s.series->add_gauges(-static_cast<int64_t>(s.in_flight), -static_cast<int64_t>(s.held));
    s.in_flight = 0;
    s.held = 0;
  }
}

size_t ProxyEpoch::memory_bytes() const {
  std::lock_guard<std::mutex> lock(apply_mu_);
  return sizeof(*this) + blocks_.size() * (sizeof(ProxySeriesState) << kBlockBits) +
         index_.memory_bytes() + free_.capacity() * sizeof(uint32_t);
}

}  // namespace lockstep::aggregator
