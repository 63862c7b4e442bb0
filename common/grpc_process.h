#pragma once

namespace lockstep {

// Turns off Abseil's lock-order (deadlock) detection for this process. Debian 12 builds Abseil
// without NDEBUG, so every absl::Mutex that gRPC takes while holding another records an edge in
// one process-wide graph under a global spinlock (release builds of gRPC skip this). Call it
// first thing in main of every program that runs gRPC.
void skip_absl_lock_order_checks();

}  // namespace lockstep
