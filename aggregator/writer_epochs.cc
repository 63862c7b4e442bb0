#include "aggregator/writer_epochs.h"

namespace lockstep::aggregator {

std::shared_ptr<WriterEpochs::Slot> WriterEpochs::register_writer() {
  auto slot = std::make_shared<Slot>();
  std::lock_guard<std::mutex> lock(mu_);
  // Drop slots of writers that have gone, so the list stays as long as the live writers.
  std::erase_if(slots_, [](const std::weak_ptr<Slot>& w) { return w.expired(); });
  slots_.push_back(slot);
  return slot;
}

bool WriterEpochs::quiescent_after(uint64_t e) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& weak : slots_) {
    auto slot = weak.lock();
    if (!slot) continue;
    const uint64_t s = slot->state_.load(std::memory_order_seq_cst);
    if ((s & 1) != 0 && (s >> 1) <= e) return false;
  }
  return true;
}

}  // namespace lockstep::aggregator
