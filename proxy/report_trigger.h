#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace lockstep::proxy {

// Wakes the reporter thread from any thread without a lock: an atomic flag word plus an eventfd
// that is written only when a flag goes from clear to set, so a burst of held requests costs one
// syscall and no wake-up is ever lost (the reporter reads the eventfd, then takes the flags).
class ReportTrigger {
 public:
  static constexpr uint32_t kUrgent = 1;  // a request is held for a cold backend
  static constexpr uint32_t kSoon = 2;    // e.g. a new route table was applied: ack it promptly

  explicit ReportTrigger(const Clock& clock);
  ~ReportTrigger();
  ReportTrigger(const ReportTrigger&) = delete;
  ReportTrigger& operator=(const ReportTrigger&) = delete;

  void urgent() { raise(kUrgent); }
  void soon() { raise(kSoon); }

  // Reporter side: the eventfd to wait on, and the flags raised since the last take().
  int fd() const { return fd_; }
  uint32_t take();
  // Steady time (ns) when the urgent flag was last raised from clear: the start of the
  // hold-to-report latency.
  int64_t urgent_raised_ns() const { return urgent_raised_ns_.load(std::memory_order_relaxed); }

 private:
  void raise(uint32_t flag);
  const Clock& clock_;
  int fd_;
  std::atomic<int64_t> urgent_raised_ns_{0};  // relaxed: read after take(), which orders it
  // acq_rel: the counters a held request touched before raise() are visible to the reporter after
  // take().
  std::atomic<uint32_t> flags_{0};
};

}  // namespace lockstep::proxy
