#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace lockstep {

// The time seam. Window, timeout and backoff logic takes a Clock& and never reads the system
// clocks itself; tests pass a ManualClock and move it.
class Clock {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time, for timeouts and intervals.
  virtual SteadyTime steady_now() const = 0;
  // Wall time, for anything exchanged between processes (bucket alignment, history).
  virtual WallTime wall_now() const = 0;

  // Wall time in milliseconds since the Unix epoch.
  int64_t unix_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch())
        .count();
  }
};

class SystemClock final : public Clock {
 public:
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told. Thread-safe: readers may run on other threads while a test
// advances it (relaxed is enough: tests order their own steps).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::milliseconds unix_start = std::chrono::milliseconds(
                           1'800'000'000'000))  // 2027-01-15, an arbitrary fixed instant
      : ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(unix_start).count()) {}

  SteadyTime steady_now() const override {
    return SteadyTime(std::chrono::nanoseconds(ns_.load(std::memory_order_relaxed)));
  }
  WallTime wall_now() const override {
    return WallTime(std::chrono::duration_cast<WallTime::duration>(
        std::chrono::nanoseconds(ns_.load(std::memory_order_relaxed))));
  }

  void advance(std::chrono::nanoseconds d) { ns_.fetch_add(d.count(), std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> ns_;
};

}  // namespace lockstep
