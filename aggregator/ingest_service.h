#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <set>

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

// lockstep.v1.Ingest/Report on the gRPC callback API: one IngestSession per stream. Reads are
// pipelined (the next read starts as soon as a report is applied) and acks are coalesced (while
// one is being written, the next carries the latest acked_seq and all rejects since), so a slow
// reader of acks never stalls ingestion. A stream-level error ends the stream with
// INVALID_ARGUMENT / FAILED_PRECONDITION / RESOURCE_EXHAUSTED naming the field; shutdown() ends
// every stream with OK.
class IngestService final : public lockstep::v1::Ingest::CallbackService {
 public:
  IngestService(Aggregator& aggregator, IngestLimits limits, IngestObserver* observer, Logger log);
  ~IngestService() override;

  // The generated synchronous overload stays visible (-Woverloaded-virtual); gRPC never calls it
  // on a callback service.
  using lockstep::v1::Ingest::CallbackService::Report;
  grpc::ServerBidiReactor<lockstep::v1::ReportRequest, lockstep::v1::ReportResponse>* Report(
      grpc::CallbackServerContext* context) override;

  void shutdown();
  size_t open_streams() const;

 private:
  class Stream;
  struct Control;
  void forget(const std::shared_ptr<Control>& control);

  Aggregator& aggregator_;
  const IngestLimits limits_;
  IngestObserver* observer_;
  Logger log_;
  mutable std::mutex mu_;
  // Guarded by mu_:
  bool shutting_down_ = false;
  std::set<std::shared_ptr<Control>> streams_;  // open streams
  friend class Stream;
};

}  // namespace lockstep::aggregator
