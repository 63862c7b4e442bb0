#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"
#include "lockstep/v1/ingest.grpc.pb.h"

namespace lockstep::aggregator {

// Told about every applied report (the scaler turns this into its apply-duration histogram).
class IngestObserver {
 public:
  virtual ~IngestObserver() = default;
  virtual void on_report_applied(std::chrono::nanoseconds duration, size_t entries) = 0;
};

// How the apply threads are scheduled (Linux policies, set per thread).
enum class ApplyPolicy {
  // SCHED_IDLE: an apply thread runs only on CPU time no other thread of the scaler's cgroup
  // wants, and any waking thread preempts it at once. Under flat-out ingest this keeps KEDA's
  // calls fastest (docs/benchmarks.md); bulk ingest then lives on the idle time.
  kIdle,
  kBatch,   // SCHED_BATCH at apply_nice: never preempts a waking thread, but keeps a weight
  kNormal,  // SCHED_OTHER at apply_nice
};

struct IngestServiceOptions {
  IngestLimits limits;
  // Threads that decode and apply large reports, at a lower CPU priority, so that the gRPC
  // threads stay free for KEDA's calls and for small (urgent) reports. Policies and nice are per
  // thread on Linux, and inside a container's cgroup they only order the scaler's own threads:
  // bulk apply then runs on what KEDA's calls and activations leave. If those took every cycle,
  // reports would wait in the queue below and then in flow control, never be dropped.
  int apply_threads = 1;
  ApplyPolicy apply_policy = ApplyPolicy::kIdle;
  int apply_nice = 19;  // batch and normal policies
  // Reports up to this size are decoded and applied at once on the gRPC thread (a held request
  // is reported alone and small: it must not wait behind bulk reports).
  size_t inline_apply_bytes = 8 << 10;
  // Reports read ahead and waiting for the apply pool, in bytes, across all streams: beyond it a
  // stream reads its next report only after the current one is applied (flow control then holds
  // the proxy), which bounds memory when every proxy reconnects with its full history at once.
  size_t queue_bytes = 4 << 20;
};

// lockstep.v1.Ingest/Report on the gRPC callback API, one IngestSession per stream.
//
// The method is registered raw (bytes): small reports are decoded and applied inline on the gRPC
// thread; large ones go to a small pool of lower-priority apply threads (a stream with a small
// report waiting is served first), so bulk ingest never delays KEDA's calls or an activation.
// Per stream reports are applied in order, one at a time, with one read ahead. Acks are
// coalesced: while one is being written, the next carries the latest acked_seq and every reject
// since. A stream-level error ends the stream with INVALID_ARGUMENT / FAILED_PRECONDITION /
// RESOURCE_EXHAUSTED naming the field; shutdown() ends every stream with OK.
class IngestService final
    : public lockstep::v1::Ingest::WithRawCallbackMethod_Report<lockstep::v1::Ingest::Service> {
 public:
  IngestService(Aggregator& aggregator, IngestServiceOptions options, IngestObserver* observer,
                Logger log);
  ~IngestService() override;

  using lockstep::v1::Ingest::WithRawCallbackMethod_Report<lockstep::v1::Ingest::Service>::Report;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Report(
      grpc::CallbackServerContext* context) override;

  void shutdown();
  size_t open_streams() const;
  // Linux thread ids of the apply threads (once they have started), for tests and diagnostics.
  std::vector<int> apply_thread_ids() const;

 private:
  class Stream;
  struct Control;
  class ParseBlock;
  void forget(const std::shared_ptr<Control>& control);
  void schedule(std::shared_ptr<Control> control, bool urgent);
  void worker();

  Aggregator& aggregator_;
  const IngestServiceOptions options_;
  IngestObserver* observer_;
  Logger log_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  bool shutting_down_ = false;
  std::set<std::shared_ptr<Control>> streams_;

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  // Guarded by queue_mu_: streams with reports to apply, urgent ones first.
  std::deque<std::shared_ptr<Control>> urgent_;
  std::deque<std::shared_ptr<Control>> bulk_;
  bool stopping_ = false;
  std::atomic<int64_t> queued_bytes_{0};  // relaxed: a budget, approximate by design
  std::vector<std::thread> workers_;
  std::vector<int> worker_tids_;  // guarded by queue_mu_
  friend class Stream;
};

}  // namespace lockstep::aggregator
