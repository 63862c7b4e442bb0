#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace lockstep::aggregator {

class RouteSeries;

// Dense series id -> RouteSeries*, read without locks. Lets a proxy's per-series state store a
// 24-bit id instead of a pointer (16 bytes a state instead of 24; a million states at 10k routes
// x 100 proxies). Entries are written under the aggregator's route mutex when a series is created;
// an id is reused only after every state naming it was released.
class SeriesTable {
 public:
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunks = 4096;
  static constexpr uint32_t kMaxIds = kChunks << kChunkBits;  // 16M, below the 24-bit state field

  SeriesTable() = default;
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  RouteSeries* get(uint32_t id) const {
    // Acquire: pairs with the release in set(), so a new chunk's initialised entries are seen.
    const auto* chunk = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
    // Relaxed: whoever holds a state naming `id` got it through a mutex after set().
    return chunk[id & ((1u << kChunkBits) - 1)].load(std::memory_order_relaxed);
  }
  // Under the aggregator's route mutex.
  void set(uint32_t id, RouteSeries* series) {
    auto* chunk = chunks_[id >> kChunkBits].load(std::memory_order_relaxed);
    if (chunk == nullptr) {
      owned_[id >> kChunkBits] = std::make_unique<std::atomic<RouteSeries*>[]>(1u << kChunkBits);
      chunk = owned_[id >> kChunkBits].get();
      for (uint32_t i = 0; i < (1u << kChunkBits); ++i) chunk[i].store(nullptr, std::memory_order_relaxed);
      chunks_[id >> kChunkBits].store(chunk, std::memory_order_release);
    }
    chunk[id & ((1u << kChunkBits) - 1)].store(series, std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::atomic<RouteSeries*>*>, kChunks> chunks_{};
  std::array<std::unique_ptr<std::atomic<RouteSeries*>[]>, kChunks> owned_;  // under the mutex
};

}  // namespace lockstep::aggregator
