#include "demo/journal.h"

#include <cstdio>

namespace lockstep::demo {

Journal::Journal(std::chrono::steady_clock::time_point t0, const std::string& file)
    : t0_(t0), file_(file, std::ios::app) {}

std::string Journal::stamp(std::chrono::steady_clock::time_point at) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%7.2f", std::chrono::duration<double>(at - t0_).count());
  return buf;
}

void Journal::add(const std::string& actor, const std::string& text) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back({now, actor, text});
  if (file_) file_ << stamp(now) << "s  " << actor << ": " << text << std::endl;
}

std::vector<Journal::Event> Journal::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

std::vector<Journal::Event> Journal::last(size_t n) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.size() <= n) return events_;
  return {events_.end() - static_cast<std::ptrdiff_t>(n), events_.end()};
}

}  // namespace lockstep::demo
