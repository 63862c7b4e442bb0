#pragma once

#include <chrono>
#include <cstdint>

namespace lockstep::scaler {

// Decides when the maintenance loop gives free heap pages back to the kernel (glibc's
// malloc_trim). A trim walks every free chunk and madvises it with the arena locked: 2-5 ms on a
// steady 10k-route heap and 7-30 ms during a burst (measured on the benchmark machine), and every
// thread that allocates meanwhile waits, KEDA's calls and activations included. A fixed period
// (every 2 s, as before) put that stall on every KEDA client every 2 s in steady state.
//
// So the wait between two trims adapts to what they give back: a trim that frees at least
// `margin_bytes` of resident memory (after a burst) resets the wait to `min_rounds`, since more
// may be coming free; one that frees less doubles it, up to `max_rounds`. A trim that takes longer
// than `slow` doubles it too (the heap is busy). In steady state trims thin out to one every
// `max_rounds`, and after a burst the memory is back within `max_rounds`.
//
// Not thread-safe: the maintenance loop owns it. The caller measures the resident size and runs
// the trim, so tests drive it with numbers.
class HeapTrimPolicy {
 public:
  struct Options {
    int64_t margin_bytes = 4 << 20;  // what a trim must give back to keep trimming often
    uint64_t min_rounds = 2;         // the shortest wait between two trims, in maintenance rounds
    uint64_t max_rounds = 64;        // the longest
    std::chrono::nanoseconds slow = std::chrono::milliseconds(5);  // a trim this long backs off
  };

  HeapTrimPolicy() : HeapTrimPolicy(Options{}) {}
  explicit HeapTrimPolicy(Options options);

  // Once per maintenance round: true when a trim should run now.
  bool due();
  // After a trim: the resident size before and after it, and how long it took.
  void trimmed(int64_t before_bytes, int64_t after_bytes, std::chrono::nanoseconds took);

  // Rounds from the last trim to the next one (for logs and tests).
  uint64_t wait_rounds() const { return wait_; }

 private:
  Options o_;
  uint64_t round_ = 0;
  uint64_t wait_;  // rounds from one trim to the next
  uint64_t next_;  // the round the next trim runs
};

}  // namespace lockstep::scaler
