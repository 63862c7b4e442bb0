#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace prometheus {
class Registry;
class Histogram;
}  // namespace prometheus

namespace lockstep::scaler {

enum class KedaMethod : uint8_t {
  kIsActive,
  kStreamIsActive,
  kGetMetricSpec,
  kGetMetrics,
  kStreamMetricSpec
};
constexpr size_t kKedaMethods = 5;
std::string_view keda_method_name(KedaMethod m);

// The scaler's event metrics (histograms, kept in the injected registry) and the counters that the
// state collector exports next to the aggregator's (so each family has one source). Thread-safe.
class ScalerMetrics {
 public:
  explicit ScalerMetrics(prometheus::Registry& registry);

  void keda_call(KedaMethod method, std::chrono::nanoseconds duration);
  void ingest_apply(std::chrono::nanoseconds duration);
  void activation_latency(std::chrono::nanoseconds latency);
  void metadata_invalid() { metadata_invalid_.fetch_add(1, std::memory_order_relaxed); }
  void stream_opened(KedaMethod m) { streams_[static_cast<size_t>(m)].fetch_add(1, std::memory_order_relaxed); }
  void stream_closed(KedaMethod m) { streams_[static_cast<size_t>(m)].fetch_sub(1, std::memory_order_relaxed); }

  // Relaxed: independent statistics.
  uint64_t metadata_invalid_count() const { return metadata_invalid_.load(std::memory_order_relaxed); }
  int64_t open_streams(KedaMethod m) const {
    return streams_[static_cast<size_t>(m)].load(std::memory_order_relaxed);
  }

 private:
  std::array<prometheus::Histogram*, kKedaMethods> keda_duration_{};
  prometheus::Histogram* ingest_apply_ = nullptr;
  prometheus::Histogram* activation_latency_ = nullptr;
  std::atomic<uint64_t> metadata_invalid_{0};
  std::array<std::atomic<int64_t>, kKedaMethods> streams_{};
};

}  // namespace lockstep::scaler
