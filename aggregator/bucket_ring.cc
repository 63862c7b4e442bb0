#include "aggregator/bucket_ring.h"

#include <algorithm>
#include <cassert>

namespace lockstep::aggregator {

BucketRing::BucketRing(uint32_t granularity_ms, uint32_t slots)
    : granularity_ms_(granularity_ms), slots_(slots), cells_(new std::atomic<uint64_t>[slots]) {
  assert(granularity_ms > 0 && slots > 0);
  for (uint32_t i = 0; i < slots_; ++i) cells_[i].store(0, std::memory_order_relaxed);
}

bool BucketRing::add(int64_t bucket, uint64_t n) {
  if (n == 0) return true;
  auto& cell = cells_[static_cast<uint64_t>(bucket) % slots_];
  const uint32_t tag = static_cast<uint32_t>(bucket);
  uint64_t cur = cell.load(std::memory_order_relaxed);
  while (true) {
    // > 0: the slot holds an older bucket. A slot with count 0 was never written (add never
    // stores 0), whatever its tag says.
    const int32_t age =
        (cur & kCountMask) == 0 ? 1 : static_cast<int32_t>(tag - tag_of(cur));
    uint64_t next;
    if (age == 0) {
      const uint64_t have = cur & kCountMask;
      next = pack(bucket, std::min<uint64_t>(kCountMask, have + std::min<uint64_t>(n, kCountMask)));
      if (next == cur) return true;  // saturated
    } else if (age > 0) {
      next = pack(bucket, std::min<uint64_t>(n, kCountMask));
    } else {
      return false;
    }
    if (cell.compare_exchange_weak(cur, next, std::memory_order_relaxed)) return true;
  }
}

uint64_t BucketRing::count(int64_t bucket) const {
  const uint64_t word = cells_[static_cast<uint64_t>(bucket) % slots_].load(std::memory_order_relaxed);
  return tag_of(word) == static_cast<uint32_t>(bucket) ? (word & kCountMask) : 0;
}

double BucketRing::sum(int64_t from_ms, int64_t to_ms) const {
  if (to_ms <= from_ms) return 0;
  const int64_t g = granularity_ms_;
  const int64_t first = floor_div(from_ms, g);
  const int64_t last = floor_div(to_ms - 1, g);  // bucket holding the instant just before to_ms
  // Never look further back than the ring holds.
  const int64_t oldest = last - static_cast<int64_t>(slots_) + 1;
  double total = 0;
  for (int64_t b = std::max(first, oldest); b <= last; ++b) {
    const uint64_t c = count(b);
    if (c == 0) continue;
    const int64_t lo = std::max(from_ms, b * g);
    const int64_t hi = b == last ? (b + 1) * g : std::min(to_ms, (b + 1) * g);
    // The bucket being filled (b == last) counts fully: what it holds so far happened before
    // to_ms. Older edge buckets count by the fraction of them inside the interval.
    total += (b == last && lo == b * g) ? static_cast<double>(c)
                                        : static_cast<double>(c) * static_cast<double>(hi - lo) /
                                              static_cast<double>(g);
  }
  return total;
}

std::vector<BucketRing::Entry> BucketRing::entries_in(const std::vector<uint64_t>& raw,
                                                      int64_t first_bucket) const {
  std::vector<Entry> out;
  for (uint32_t i = 0; i < slots_ && i < raw.size(); ++i) {
    const uint64_t word = raw[i];
    const uint64_t c = word & kCountMask;
    if (c == 0) continue;
    const int64_t b = untag(tag_of(word), first_bucket);
    if (b >= first_bucket && static_cast<uint64_t>(b) % slots_ == i) out.push_back({b, c});
  }
  return out;
}

std::vector<uint64_t> BucketRing::raw() const {
  std::vector<uint64_t> out(slots_);
  for (uint32_t i = 0; i < slots_; ++i) out[i] = cells_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<BucketRing::Entry> BucketRing::added_since(const std::vector<uint64_t>& before,
                                                        int64_t now_bucket) const {
  std::vector<Entry> out;
  for (uint32_t i = 0; i < slots_ && i < before.size(); ++i) {
    const uint64_t now_word = cells_[i].load(std::memory_order_relaxed);
    if (now_word == before[i]) continue;
    const int64_t b = untag(tag_of(now_word), now_bucket);
    const uint64_t c = now_word & kCountMask;
    if (tag_of(now_word) == tag_of(before[i])) {
      const uint64_t was = before[i] & kCountMask;
      if (c > was) out.push_back({b, c - was});
    } else if (c > 0) {
      out.push_back({b, c});
    }
  }
  return out;
}

}  // namespace lockstep::aggregator
