#include "proxy/report_trigger.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace lockstep::proxy {

ReportTrigger::ReportTrigger(const Clock& clock)
    : clock_(clock), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::runtime_error("eventfd failed");
}

ReportTrigger::~ReportTrigger() { ::close(fd_); }

void ReportTrigger::raise(uint32_t flag) {
  if (flag == kUrgent && (flags_.load(std::memory_order_relaxed) & kUrgent) == 0) {
    urgent_raised_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                clock_.steady_now().time_since_epoch())
                                .count(),
                            std::memory_order_relaxed);
  }
  if ((flags_.fetch_or(flag, std::memory_order_acq_rel) & flag) == 0) {
    const uint64_t one = 1;
    // EAGAIN only when the counter is saturated, which still means "readable": nothing lost.
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
}

uint32_t ReportTrigger::take() {
  uint64_t v = 0;
  [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
  return flags_.exchange(0, std::memory_order_acq_rel);
}

}  // namespace lockstep::proxy
