#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace lockstep::aggregator {

// Epoch-based quiescence for the ingest writers, so that a bucket ring can be replaced while
// streams write into it without a lock on the write path.
//
// A writer (one ingest stream) wraps each report in enter()/exit(). Whoever replaces a shared
// pointer stores the new one, then calls advance() and keeps the returned epoch E; once
// quiescent_after(E) is true, no writer can still hold the old pointer: every writer is either
// idle or entered after the advance, hence after the store.
//
// Memory order: enter()'s store, advance() and the scan are seq_cst, and so must be the writers'
// loads of the replaced pointer. A writer that the scan saw idle and that enters later then reads
// the new pointer (the store precedes the scan in the single total order, which precedes the
// writer's announcement, which precedes its load). On x86 seq_cst loads are plain loads.
class WriterEpochs {
 public:
  class Slot {
   public:
    // Announces the current epoch; pointers loaded (seq_cst) after this are protected.
    void enter(const WriterEpochs& domain) {
      state_.store(domain.epoch_.load(std::memory_order_seq_cst) << 1 | 1,
                   std::memory_order_seq_cst);
    }
    void exit() { state_.store(0, std::memory_order_release); }

   private:
    friend class WriterEpochs;
    std::atomic<uint64_t> state_{0};  // 0: idle; epoch << 1 | 1: inside a report since `epoch`
  };

  // A slot per writer; the domain keeps it alive while scanning. Thread-safe (cold path).
  std::shared_ptr<Slot> register_writer();

  // Starts a new epoch and returns the previous one: things retired before this call are safe to
  // free once quiescent_after(returned) holds.
  uint64_t advance() { return epoch_.fetch_add(1, std::memory_order_seq_cst); }
  // True when no writer is still inside a report it entered at epoch <= e.
  bool quiescent_after(uint64_t e);

 private:
  std::atomic<uint64_t> epoch_{1};
  std::mutex mu_;
  std::vector<std::weak_ptr<Slot>> slots_;  // guarded by mu_
};

}  // namespace lockstep::aggregator
