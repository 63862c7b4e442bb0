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
// So a trim runs only while the resident size is more than `margin_bytes` above the floor: the
// smallest resident size seen so far, or, once trims stopped giving anything back, the size they
// left. A trim that gives back at least the margin keeps the next one `min_rounds` away (more may
// be coming free after a burst). The first trim in a row that gives back less is retried after
// `min_rounds` too (the burst that held the memory may just have ended); the second and later
// ones double the wait, up to `max_rounds`. A trim slower than `slow` doubles it as well. When a
// trim after the longest wait still gives back less than the margin, the memory is in use: its
// result becomes the floor, and trimming stops until the resident size grows past it again. In
// steady state no trim runs.
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

  // Once per maintenance round, with the resident size now: true when a trim should run now.
  bool due(int64_t resident_bytes);
  // After a trim: the resident size before and after it, and how long it took.
  void trimmed(int64_t before_bytes, int64_t after_bytes, std::chrono::nanoseconds took);

  // Rounds from the last trim to the next one, and the floor (-1 before the first round), for
  // logs and tests.
  uint64_t wait_rounds() const { return wait_; }
  int64_t floor_bytes() const { return floor_; }

 private:
  Options o_;
  uint64_t round_ = 0;
  uint64_t wait_;       // rounds from one trim to the next
  uint64_t next_;       // the first round the next trim may run
  int64_t floor_ = -1;  // see the class comment
  int futile_ = 0;      // trims in a row that gave back less than the margin
};

}  // namespace lockstep::scaler
