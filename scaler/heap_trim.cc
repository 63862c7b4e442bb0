#include "scaler/heap_trim.h"

#include <algorithm>

namespace lockstep::scaler {

HeapTrimPolicy::HeapTrimPolicy(Options options) : o_(options) {
  o_.min_rounds = std::max<uint64_t>(1, o_.min_rounds);
  o_.max_rounds = std::max(o_.max_rounds, o_.min_rounds);
  wait_ = o_.min_rounds;
  next_ = o_.min_rounds;
}

bool HeapTrimPolicy::due(int64_t resident_bytes) {
  ++round_;
  if (floor_ < 0 || resident_bytes < floor_) floor_ = resident_bytes;
  if (resident_bytes <= floor_ + o_.margin_bytes) {
    // Nothing worth giving back; growth past the margin is trimmed in the round it shows.
    wait_ = o_.min_rounds;
    next_ = std::min(next_, round_ + 1);
    return false;
  }
  return round_ >= next_;
}

void HeapTrimPolicy::trimmed(int64_t before_bytes, int64_t after_bytes,
                             std::chrono::nanoseconds took) {
  const bool gave_back = before_bytes - after_bytes >= o_.margin_bytes;
  if (gave_back) {
    futile_ = 0;
    wait_ = o_.min_rounds;
  } else if (wait_ >= o_.max_rounds) {
    floor_ = after_bytes;  // even the longest wait found the memory in use
    futile_ = 0;
    wait_ = o_.min_rounds;
  } else if (++futile_ >= 2) {
    wait_ = std::min(wait_ * 2, o_.max_rounds);
  }  // one futile trim (a burst still in progress) is retried after the shortest wait
  if (took > o_.slow) wait_ = std::min(wait_ * 2, o_.max_rounds);
  next_ = round_ + wait_;
}

}  // namespace lockstep::scaler
