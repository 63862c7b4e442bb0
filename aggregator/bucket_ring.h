#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace lockstep::aggregator {

// A ring of time buckets counting requests, updated and read without locks.
//
// Each slot is one std::atomic<uint64_t>: the high 32 bits tag the absolute bucket index
// (unix_ms / granularity, low 32 bits) the slot currently holds, the low 32 bits count its
// requests (saturating). A writer for bucket b CASes slot b % slots: same tag -> add; older tag ->
// restart the slot at b with the new count; newer tag -> b has left the ring and the write is
// refused. Readers take a slot into account only if its tag is the bucket they ask for, so stale
// slots read as 0 and no one ever clears the ring.
//
// Memory order: relaxed everywhere. A slot is a self-contained value (no other data is published
// through it), and readers want a recent sum, not a snapshot consistent across slots. Code that
// needs "this increment is visible" (activation) orders it with its own release/acquire pair.
class BucketRing {
 public:
  BucketRing(uint32_t granularity_ms, uint32_t slots);

  uint32_t granularity_ms() const { return granularity_ms_; }
  uint32_t slots() const { return slots_; }
  // Time span the ring can hold, including the bucket being filled.
  int64_t span_ms() const { return int64_t{granularity_ms_} * slots_; }

  int64_t bucket_of(int64_t unix_ms) const { return floor_div(unix_ms, granularity_ms_); }

  // Adds n requests to absolute bucket b. False if the slot already holds a newer bucket (b is
  // older than the ring can hold). Counts saturate at 2^32-1 per bucket.
  bool add(int64_t bucket, uint64_t n);
  // Requests counted in absolute bucket b (0 if the ring no longer or not yet holds it).
  uint64_t count(int64_t bucket) const;

  // Requests in (from_ms, to_ms], assuming requests are spread evenly inside a bucket: buckets
  // wholly inside count fully, the two edge buckets by the fraction of them inside the interval.
  // `to_ms` is normally "now", so the bucket being filled counts what it has so far.
  double sum(int64_t from_ms, int64_t to_ms) const;

  // Every (bucket, count) the ring holds with a count > 0, for re-bucketing into a new ring.
  struct Entry {
    int64_t bucket;
    uint64_t count;
  };
  std::vector<Entry> entries_since(int64_t first_bucket) const { return entries_in(raw(), first_bucket); }
  // Raw slot words, to compare before/after (reshaping a live ring).
  std::vector<uint64_t> raw() const;
  // The (bucket, count) entries of a raw() snapshot of this ring.
  std::vector<Entry> entries_in(const std::vector<uint64_t>& raw, int64_t first_bucket) const;
  // Turns two raw() snapshots into the requests added between them, as (bucket, count) entries.
  std::vector<Entry> added_since(const std::vector<uint64_t>& before, int64_t now_bucket) const;

  static int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  }

 private:
  static constexpr uint64_t kCountMask = 0xffff'ffffULL;
  static uint64_t pack(int64_t bucket, uint64_t count) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(bucket)) << 32) | (count & kCountMask);
  }
  static uint32_t tag_of(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
  // Resolves a 32-bit tag to the absolute bucket nearest `near` (tags wrap every 2^32 buckets).
  static int64_t untag(uint32_t tag, int64_t near) {
    return near + static_cast<int32_t>(tag - static_cast<uint32_t>(near));
  }

  const uint32_t granularity_ms_;
  const uint32_t slots_;
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
};

}  // namespace lockstep::aggregator
