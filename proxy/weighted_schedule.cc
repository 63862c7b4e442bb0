#include "proxy/weighted_schedule.h"

#include <numeric>

namespace lockstep::proxy {

std::optional<WeightedSchedule> WeightedSchedule::build(std::span<const uint32_t> weights,
                                                        std::string* error) {
  if (weights.size() > 0xffff) {
    if (error) *error = "too many backends";
    return std::nullopt;
  }
  uint64_t g = 0;
  uint32_t nonzero = 0;
  for (uint32_t w : weights) {
    g = std::gcd(g, static_cast<uint64_t>(w));
    if (w > 0) ++nonzero;
  }
  if (g == 0) {
    if (error) *error = "every backend weight is 0";
    return std::nullopt;
  }
  std::vector<int64_t> w(weights.size());
  int64_t total = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    w[i] = static_cast<int64_t>(weights[i] / g);
    total += w[i];
  }
  if (total > kMaxCycle) {
    if (error) *error = "weights need a cycle of " + std::to_string(total) + " slots (max " +
                        std::to_string(kMaxCycle) + ")";
    return std::nullopt;
  }
  WeightedSchedule s;
  s.single_ = nonzero == 1;
  s.slots_.assign(static_cast<size_t>(total), 0);
  // nginx-style smooth WRR: add each weight, pick the largest current value (lowest index on a
  // tie), subtract the total from it. After `total` steps every current value is back to 0, and
  // backend i was picked exactly w[i] times, spread as evenly as possible.
  std::vector<int64_t> current(w.size(), 0);
  for (int64_t step = 0; step < total; ++step) {
    size_t best = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      current[i] += w[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    s.slots_[static_cast<size_t>(step)] = static_cast<uint16_t>(best);
  }
  return s;
}

}  // namespace lockstep::proxy
