#include "aggregator/ingest_service.h"

#include <google/protobuf/arena.h>

#include <optional>

namespace lockstep::aggregator {

namespace v1 = lockstep::v1;

namespace {

grpc::Status to_status(const IngestError& e) {
  switch (e.code) {
    case IngestError::Code::kInvalidArgument:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message);
    case IngestError::Code::kFailedPrecondition:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.message);
    case IngestError::Code::kResourceExhausted:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, e.message);
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, e.message);
}

}  // namespace

// The write side of a stream, shared with the service (for shutdown). Reactor calls are made
// without holding `mu` (gRPC may run reactions inline); the reactor is alive while a write is in
// flight or Finish has not been called, and those are decided under `mu`.
struct IngestService::Control {
  std::mutex mu;
  // Guarded by mu:
  Stream* reactor = nullptr;  // null after OnDone
  bool writing = false;
  bool finishing = false;
  bool finish_called = false;
  grpc::Status status;
  v1::ReportResponse in_flight;          // read by gRPC while `writing`
  std::optional<v1::ReportResponse> next;  // coalesced acks waiting for the write to finish
};

class IngestService::Stream final
    : public grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportResponse> {
 public:
  Stream(IngestService& service, std::shared_ptr<Control> control)
      : service_(service),
        control_(std::move(control)),
        session_(service.aggregator_, service.limits_) {
    control_->reactor = this;
    next_read();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The proxy half-closed (or the call is cancelled): done, cleanly.
      end(grpc::Status::OK);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(control_->mu);
      if (control_->finishing) return;  // ending: read no further
    }
    const auto received = service_.aggregator_.clock().steady_now();
    const auto started = std::chrono::steady_clock::now();
    v1::ReportResponse ack;
    bool has_ack = false;
    auto error = session_.handle(*request_, received, &ack, &has_ack);
    if (error) {
      service_.log_.warn("ingest stream refused",
                         {{"proxy_id", session_.proxy_id()}, {"error", error->message}});
      end(to_status(*error));
      return;
    }
    if (has_ack) {
      if (service_.observer_ != nullptr) {
        const size_t entries = static_cast<size_t>(request_->report().defs_size()) +
                               request_->report().history_size() +
                               request_->report().samples_size();
        service_.observer_->on_report_applied(std::chrono::steady_clock::now() - started, entries);
      }
      send_ack(std::move(ack));
    } else {
      service_.log_.info("proxy connected", {{"proxy_id", session_.proxy_id()},
                                             {"boot_epoch", std::to_string(session_.boot_epoch())}});
    }
    next_read();
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(control_->mu);
    Control& c = *control_;
    c.writing = false;
    if (!ok && !c.finishing) {
      c.finishing = true;
      c.status = grpc::Status::CANCELLED;
    }
    if (c.finishing) {
      if (c.finish_called) return;
      c.finish_called = true;
      lock.unlock();
      Finish(c.status);
      return;
    }
    if (c.next) {
      c.writing = true;
      c.in_flight = std::move(*c.next);
      c.next.reset();
      lock.unlock();
      StartWrite(&c.in_flight);
    }
  }

  void OnCancel() override { end(grpc::Status::CANCELLED); }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(control_->mu);
      control_->reactor = nullptr;
    }
    if (session_.said_hello()) {
      service_.log_.info("proxy stream ended", {{"proxy_id", session_.proxy_id()}});
    }
    service_.forget(control_);
    delete this;
  }

  // Ends the stream with `status` (after a write in flight). Any thread; once.
  static void end(const std::shared_ptr<Control>& control, grpc::Status status) {
    std::unique_lock<std::mutex> lock(control->mu);
    if (control->reactor == nullptr || control->finishing) return;
    control->finishing = true;
    control->status = std::move(status);
    if (control->writing || control->finish_called) return;
    control->finish_called = true;
    Stream* r = control->reactor;
    lock.unlock();
    r->Finish(control->status);
  }

 private:
  void end(grpc::Status status) { end(control_, std::move(status)); }

  // Each report is parsed into a fresh arena: parsing is bump allocation, and the memory of a
  // large report is given back right after it is applied instead of staying with the stream.
  void next_read() {
    arena_.Reset();
    request_ = google::protobuf::Arena::CreateMessage<v1::ReportRequest>(&arena_);
    StartRead(request_);
  }

  void send_ack(v1::ReportResponse ack) {
    std::unique_lock<std::mutex> lock(control_->mu);
    Control& c = *control_;
    if (c.finishing) return;
    if (c.writing) {
      // Coalesce: the latest seq covers the earlier ones (a stream applies in order).
      if (!c.next) {
        c.next = std::move(ack);
      } else {
        c.next->set_acked_seq(ack.acked_seq());
        for (auto& r : *ack.mutable_rejects()) *c.next->add_rejects() = std::move(r);
      }
      return;
    }
    c.writing = true;
    c.in_flight = std::move(ack);
    lock.unlock();
    StartWrite(&c.in_flight);
  }

  IngestService& service_;
  std::shared_ptr<Control> control_;
  IngestSession session_;     // used by OnReadDone only (reads are sequential)
  google::protobuf::Arena arena_;
  v1::ReportRequest* request_ = nullptr;  // on arena_
};

IngestService::IngestService(Aggregator& aggregator, IngestLimits limits, IngestObserver* observer,
                             Logger log)
    : aggregator_(aggregator), limits_(limits), observer_(observer), log_(std::move(log)) {}

IngestService::~IngestService() { shutdown(); }

grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportResponse>* IngestService::Report(
    grpc::CallbackServerContext*) {
  auto control = std::make_shared<Control>();
  bool shutting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting = shutting_down_;
    if (!shutting) streams_.insert(control);
  }
  auto* stream = new Stream(*this, control);
  if (shutting) Stream::end(control, grpc::Status::OK);
  return stream;
}

void IngestService::forget(const std::shared_ptr<Control>& control) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(control);
}

void IngestService::shutdown() {
  std::set<std::shared_ptr<Control>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
    streams = streams_;
  }
  for (const auto& c : streams) Stream::end(c, grpc::Status::OK);
}

size_t IngestService::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

}  // namespace lockstep::aggregator
