#include "common/grpc_process.h"

#include <absl/synchronization/mutex.h>

namespace lockstep {

void skip_absl_lock_order_checks() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace lockstep
