#include "common/grpc_process.h"

#include <absl/synchronization/mutex.h>
#include <doctest/doctest.h>

// Debian's Abseil aborts the process on a lock-order inversion unless the checks are off, so
// this case dies (and fails) if skip_absl_lock_order_checks() does not turn them off.
TEST_CASE("after skip_absl_lock_order_checks two mutexes may be taken in either order") {
  lockstep::skip_absl_lock_order_checks();
  absl::Mutex a;
  absl::Mutex b;
  int taken = 0;
  {
    absl::MutexLock la(&a);
    absl::MutexLock lb(&b);
    ++taken;
  }
  {
    absl::MutexLock lb(&b);
    absl::MutexLock la(&a);
    ++taken;
  }
  CHECK(taken == 2);
}
