#include "scaler/heap_trim.h"

#include <algorithm>

namespace lockstep::scaler {

HeapTrimPolicy::HeapTrimPolicy(Options options) : o_(options) {
  o_.min_rounds = std::max<uint64_t>(1, o_.min_rounds);
  o_.max_rounds = std::max(o_.max_rounds, o_.min_rounds);
  wait_ = o_.min_rounds;
  next_ = o_.min_rounds;
}

bool HeapTrimPolicy::due() { return ++round_ >= next_; }

void HeapTrimPolicy::trimmed(int64_t before_bytes, int64_t after_bytes,
                             std::chrono::nanoseconds took) {
  const bool gave_back = before_bytes - after_bytes >= o_.margin_bytes;
  wait_ = gave_back ? o_.min_rounds : std::min(wait_ * 2, o_.max_rounds);
  if (took > o_.slow) wait_ = std::min(wait_ * 2, o_.max_rounds);
  next_ = round_ + wait_;
}

}  // namespace lockstep::scaler
