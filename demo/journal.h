#pragma once

// What happened during a demo run, in order: "KEDA: activated 0 -> 1", "Argo: setWeight 20
// verified", ... Shown by the live view, kept in <run>/events.log and in the summary.
// Thread-safe.

#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace lockstep::demo {

class Journal {
 public:
  struct Event {
    std::chrono::steady_clock::time_point at;
    std::string actor;  // "KEDA", "HPA", "Argo", "kubelet", "load", "demo"
    std::string text;
  };

  Journal(std::chrono::steady_clock::time_point t0, const std::string& file);

  void add(const std::string& actor, const std::string& text);
  std::vector<Event> events() const;
  std::vector<Event> last(size_t n) const;
  // Seconds since t0, for display ("12.3").
  std::string stamp(std::chrono::steady_clock::time_point at) const;
  std::chrono::steady_clock::time_point t0() const { return t0_; }

 private:
  const std::chrono::steady_clock::time_point t0_;
  mutable std::mutex mu_;
  std::vector<Event> events_;  // guarded by mu_
  std::ofstream file_;         // guarded by mu_
};

}  // namespace lockstep::demo
