#pragma once

#include <chrono>
#include <thread>

namespace lockstep::testing {

// Polls `pred` until it holds or `timeout` passes; returns its last value. For conditions that
// have no notification to wait on (state inside another component's thread).
template <class Pred>
[[nodiscard]] bool eventually(Pred&& pred,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace lockstep::testing
