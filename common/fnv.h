#pragma once

#include <cstdint>
#include <string_view>

namespace lockstep {

// FNV-1a, 64 bits: a stable hash (the same in every process and build, unlike std::hash) for
// names, versions and phases. Route-table versions, metric-name suffixes and the demo's
// pod-template hashes are derived from it, so its constants must not change: the offset basis is
// the one lockstep has used from the start.
inline constexpr uint64_t kFnvOffset = 1469598103934665603ull;
inline constexpr uint64_t kFnvPrime = 1099511628211ull;

constexpr uint64_t fnv1a_byte(uint64_t h, unsigned char c) { return (h ^ c) * kFnvPrime; }

constexpr uint64_t fnv1a(std::string_view s, uint64_t h = kFnvOffset) {
  for (const char c : s) h = fnv1a_byte(h, static_cast<unsigned char>(c));
  return h;
}

}  // namespace lockstep
