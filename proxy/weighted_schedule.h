#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lockstep::proxy {

// One cycle of a smooth weighted round-robin over backends, precomputed when a route table is
// applied. The request path maps a per-route sequence number (one atomic fetch_add shared by all
// workers) to a slot, so any run of `cycle()` consecutive requests of a route holds exactly
// weight_i requests for backend i: 20/80 gives exactly 20 of every 100 (and 1 of every 5), no
// matter how the requests spread over worker threads.
class WeightedSchedule {
 public:
  // Largest cycle accepted after dividing the weights by their gcd.
  static constexpr uint32_t kMaxCycle = 1u << 20;

  WeightedSchedule() = default;

  // nullopt (and a reason in `error`) when every weight is 0 or the reduced cycle is too long.
  static std::optional<WeightedSchedule> build(std::span<const uint32_t> weights,
                                               std::string* error);

  // Backend index for the request with this per-route sequence number.
  uint32_t pick(uint64_t seq) const { return slots_[seq % slots_.size()]; }
  uint32_t cycle() const { return static_cast<uint32_t>(slots_.size()); }
  // True when only one backend ever gets traffic (the request path then skips the sequence).
  bool single() const { return single_; }

 private:
  std::vector<uint16_t> slots_{0};
  bool single_ = true;
};

}  // namespace lockstep::proxy
