#include "aggregator/ingest_service.h"

#include <google/protobuf/arena.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
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

// A parse buffer of one apply thread, reused report after report, that the decoded message lives
// in: no allocation per report and nothing left behind to fragment the heap. It grows to the
// largest report the thread has decoded, up to kMaxParseBlock; a larger report spills into blocks
// the arena frees when the report is done.
class IngestService::ParseBlock {
 public:
  static constexpr size_t kMinParseBlock = 16 << 10;
  static constexpr size_t kMaxParseBlock = 1 << 20;

  // Takes the block for one report's arena; false when it is already in use (a nested parse, not
  // expected: a reaction started from inside apply runs after it).
  bool acquire() {
    if (busy_) return false;
    busy_ = true;
    if (block_size_ != size_) {
      block_ = std::make_unique<char[]>(size_);
      block_size_ = size_;
    }
    return true;
  }
  google::protobuf::ArenaOptions options() const {
    google::protobuf::ArenaOptions o;
    o.initial_block = block_.get();
    o.initial_block_size = block_size_;
    o.max_block_size = 256 << 10;
    return o;
  }
  // After the report (its arena about to go): make the next one of that size fit, and give back
  // what a rare burst (every definition of a reconnecting proxy) grew the block to.
  void release(size_t bytes) {
    busy_ = false;
    if (bytes > size_) size_ = std::min(kMaxParseBlock, bytes + bytes / 4);
    recent_max_ = std::max(recent_max_, bytes);
    if (++reports_ == kShrinkAfter) {
      if (recent_max_ < size_ / 2) size_ = std::max(kMinParseBlock, recent_max_ + recent_max_ / 4);
      reports_ = 0;
      recent_max_ = 0;
    }
  }

 private:
  static constexpr int kShrinkAfter = 256;  // reports
  int reports_ = 0;
  size_t recent_max_ = 0;
  bool busy_ = false;
  std::unique_ptr<char[]> block_;
  size_t block_size_ = 0;
  size_t size_ = kMinParseBlock;
};

// A stream's state shared with the apply pool and the service (for shutdown). Reactor calls are
// made without holding `mu` (gRPC may run reactions inline). The reactor is alive while a read,
// a write or an apply is in progress, or Finish has not been called; all of that is decided
// under `mu`, and Finish waits for the apply and the write.
struct IngestService::Control {
  std::mutex mu;
  // Guarded by mu:
  Stream* reactor = nullptr;  // null after OnDone
  bool finishing = false;
  bool finish_called = false;
  grpc::Status status;
  bool writing = false;
  grpc::ByteBuffer out;                    // the ack being written
  std::optional<v1::ReportResponse> next;  // acks coalesced while writing
  bool reading = false;
  bool applying = false;
  bool scheduled = false;               // queued in the pool (or being applied by it)
  bool half_closed = false;             // the proxy is done sending
  std::deque<grpc::ByteBuffer> inbox;  // read, not yet applied (at most 2)
};

class IngestService::Stream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Stream(IngestService& service, std::shared_ptr<Control> control)
      : service_(service),
        control_(std::move(control)),
        session_(service.aggregator_, service.options_.limits) {
    control_->reactor = this;
    control_->reading = true;
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock<std::mutex> lock(control_->mu);
    Control& c = *control_;
    c.reading = false;
    if (!ok) {
      // The proxy half-closed (or the call is cancelled): finish once queued reports are applied.
      c.half_closed = true;
      const bool idle = !c.scheduled && !c.applying && c.inbox.empty();
      lock.unlock();
      if (idle) end(control_, grpc::Status::OK);
      return;
    }
    if (c.finishing) return;
    const bool small = in_.Length() <= service_.options_.inline_apply_bytes;
    if (small && !c.scheduled && !c.applying && c.inbox.empty()) {
      // Fast path: nothing queued for this stream, a small report: apply it now.
      c.applying = true;
      lock.unlock();
      const bool go_on = apply(in_, nullptr);  // small: the arena's own small blocks
      in_.Clear();
      after_apply(go_on);
      return;
    }
    const auto size = static_cast<int64_t>(in_.Length());
    c.inbox.push_back(std::move(in_));
    in_ = grpc::ByteBuffer();
    const bool schedule = !c.scheduled;
    c.scheduled = true;
    const int64_t queued =
        service_.queued_bytes_.fetch_add(size, std::memory_order_relaxed) + size;
    const bool read_more =
        c.inbox.size() < 2 && queued < static_cast<int64_t>(service_.options_.queue_bytes);
    if (read_more) c.reading = true;
    lock.unlock();
    if (schedule || small) service_.schedule(control_, small);
    if (read_more) StartRead(&in_);
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
      finish_if_idle(lock);
      return;
    }
    if (c.next) {
      start_write(lock);
    }
  }

  void OnCancel() override { end(control_, grpc::Status::CANCELLED); }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(control_->mu);
      control_->reactor = nullptr;
      for (const auto& b : control_->inbox) {
        service_.queued_bytes_.fetch_sub(static_cast<int64_t>(b.Length()), std::memory_order_relaxed);
      }
      control_->inbox.clear();
    }
    if (session_.said_hello()) {
      service_.log_.info("proxy stream ended", {{"proxy_id", session_.proxy_id()}});
    }
    service_.forget(control_);
    delete this;
  }

  // Ends the stream with `status` once no apply and no write is in progress. Any thread; once.
  static void end(const std::shared_ptr<Control>& control, grpc::Status status) {
    std::unique_lock<std::mutex> lock(control->mu);
    if (control->reactor == nullptr || control->finishing) return;
    control->finishing = true;
    control->status = std::move(status);
    control->reactor->finish_if_idle(lock);
  }

  // Pool side: applies the stream's queued reports in order. Returns when the inbox is empty.
  static void drain(const std::shared_ptr<Control>& control, ParseBlock* block) {
    std::unique_lock<std::mutex> lock(control->mu);
    while (true) {
      Control& c = *control;
      if (c.applying) return;  // queued twice: the other worker is on it
      if (c.reactor == nullptr || c.finishing || c.inbox.empty()) {
        c.scheduled = false;
        if (c.reactor != nullptr && !c.finishing && c.half_closed && c.inbox.empty()) {
          c.finishing = true;
          c.status = grpc::Status::OK;
        }
        if (c.reactor != nullptr && c.finishing) c.reactor->finish_if_idle(lock);
        return;
      }
      grpc::ByteBuffer buf = std::move(c.inbox.front());
      c.inbox.pop_front();
      c.applying = true;
      Stream* r = c.reactor;
      r->service_.queued_bytes_.fetch_sub(static_cast<int64_t>(buf.Length()),
                                          std::memory_order_relaxed);
      lock.unlock();
      const bool go_on = r->apply(buf, block);
      lock.lock();
      c.applying = false;
      if (!go_on) {
        c.scheduled = false;
        r->finish_if_idle(lock);
        return;
      }
      if (!c.reading && !c.finishing && c.inbox.size() < 2) {
        c.reading = true;
        lock.unlock();
        r->StartRead(&r->in_);
        lock.lock();
      }
    }
  }

 private:
  // Decodes and applies one report (into `block` when given: the apply thread's). False when the
  // stream must end (end() was called).
  bool apply(grpc::ByteBuffer& buf, ParseBlock* block) {
    // Parsed into an arena that lives for this report only, on this thread's reused parse block:
    // bump allocation while parsing, and nothing of a 10k-sample report stays with the stream.
    const bool own_block = block != nullptr && block->acquire();
    google::protobuf::Arena arena(own_block ? block->options() : google::protobuf::ArenaOptions{});
    struct Release {
      google::protobuf::Arena& arena;
      ParseBlock* block;
      ~Release() {
        if (block != nullptr) block->release(static_cast<size_t>(arena.SpaceAllocated()));
      }
    } release{arena, own_block ? block : nullptr};
    auto* msg = google::protobuf::Arena::CreateMessage<v1::ReportRequest>(&arena);
    const auto received = service_.aggregator_.clock().steady_now();
    const auto started = std::chrono::steady_clock::now();
    grpc::ProtoBufferReader reader(&buf);
    if (!msg->ParseFromZeroCopyStream(&reader)) {
      end_from_apply(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "report: the message is not a lockstep.v1.ReportRequest"));
      return false;
    }
    v1::ReportResponse ack;
    bool has_ack = false;
    auto error = session_.handle(*msg, received, &ack, &has_ack);
    if (error) {
      service_.log_.warn("ingest stream refused",
                         {{"proxy_id", session_.proxy_id()}, {"error", error->message}});
      end_from_apply(to_status(*error));
      return false;
    }
    if (has_ack) {
      if (service_.observer_ != nullptr) {
        const auto& r = msg->report();
        service_.observer_->on_report_applied(
            std::chrono::steady_clock::now() - started,
            static_cast<size_t>(r.defs_size()) + r.history_size() + r.samples_size());
      }
      send_ack(std::move(ack));
    } else {
      service_.log_.info("proxy connected", {{"proxy_id", session_.proxy_id()},
                                             {"boot_epoch", std::to_string(session_.boot_epoch())}});
    }
    return true;
  }

  // After an inline apply: read on, or finish if the stream is ending.
  void after_apply(bool go_on) {
    std::unique_lock<std::mutex> lock(control_->mu);
    Control& c = *control_;
    c.applying = false;
    if (!go_on || c.finishing) {
      finish_if_idle(lock);
      return;
    }
    if (c.half_closed) {
      c.finishing = true;
      c.status = grpc::Status::OK;
      finish_if_idle(lock);
      return;
    }
    c.reading = true;
    lock.unlock();
    StartRead(&in_);
  }

  void end_from_apply(grpc::Status status) {
    std::lock_guard<std::mutex> lock(control_->mu);
    if (control_->finishing) return;
    control_->finishing = true;
    control_->status = std::move(status);
    // Finished by the caller once `applying` is cleared.
  }

  // mu held. Calls Finish when nothing is in progress that still needs the reactor.
  void finish_if_idle(std::unique_lock<std::mutex>& lock) {
    Control& c = *control_;
    if (c.finish_called || c.writing || c.applying) return;
    c.finish_called = true;
    lock.unlock();
    Finish(c.status);
  }

  void send_ack(v1::ReportResponse ack) {
    std::unique_lock<std::mutex> lock(control_->mu);
    Control& c = *control_;
    if (c.finishing) return;
    // Coalesce: the latest seq covers the earlier ones (a stream applies in order).
    if (!c.next) {
      c.next = std::move(ack);
    } else {
      c.next->set_acked_seq(ack.acked_seq());
      for (auto& r : *ack.mutable_rejects()) *c.next->add_rejects() = std::move(r);
    }
    if (!c.writing) start_write(lock);
  }

  // mu held, no write in flight, c.next set.
  void start_write(std::unique_lock<std::mutex>& lock) {
    Control& c = *control_;
    c.out.Clear();
    bool own = false;
    grpc::GenericSerialize<grpc::ProtoBufferWriter, v1::ReportResponse>(*c.next, &c.out, &own);
    c.next.reset();
    c.writing = true;
    lock.unlock();
    StartWrite(&c.out);
  }

  IngestService& service_;
  std::shared_ptr<Control> control_;
  IngestSession session_;  // used by one apply at a time (inline or pool, never both)
  grpc::ByteBuffer in_;    // the read in progress
};

IngestService::IngestService(Aggregator& aggregator, IngestServiceOptions options,
                             IngestObserver* observer, Logger log)
    : aggregator_(aggregator), options_(options), observer_(observer), log_(std::move(log)) {
  for (int i = 0; i < std::max(1, options_.apply_threads); ++i) {
    workers_.emplace_back([this] { worker(); });
  }
}

IngestService::~IngestService() {
  shutdown();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestService::Report(
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

void IngestService::schedule(std::shared_ptr<Control> control, bool urgent) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    (urgent ? urgent_ : bulk_).push_back(std::move(control));
  }
  queue_cv_.notify_one();
}

void IngestService::worker() {
  const auto tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (options_.apply_policy != ApplyPolicy::kNormal) {
    // Both need static priority 0. SCHED_IDLE ignores nice; SCHED_BATCH weighs by it.
    const bool idle = options_.apply_policy == ApplyPolicy::kIdle;
    sched_param param{};
    if (sched_setscheduler(tid, idle ? SCHED_IDLE : SCHED_BATCH, &param) != 0) {
      log_.warn("ingest apply thread: cannot set the scheduling policy",
                {{"policy", idle ? "SCHED_IDLE" : "SCHED_BATCH"},
                 {"errno", std::to_string(errno)}});
    }
  }
  if (options_.apply_policy != ApplyPolicy::kIdle && options_.apply_nice != 0) {
    // Linux: nice applies per thread. Bulk apply yields the CPU to KEDA's calls and activations.
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), options_.apply_nice) != 0) {
      log_.warn("ingest apply thread: cannot set nice", {{"errno", std::to_string(errno)}});
    }
  }
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    worker_tids_.push_back(tid);
  }
  ParseBlock block;
  while (true) {
    std::shared_ptr<Control> next;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !urgent_.empty() || !bulk_.empty(); });
      if (stopping_) return;
      auto& q = !urgent_.empty() ? urgent_ : bulk_;
      next = std::move(q.front());
      q.pop_front();
    }
    // A stream may be queued twice (bulk, then promoted as urgent): the second drain finds
    // nothing to do.
    Stream::drain(next, &block);
  }
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

std::vector<int> IngestService::apply_thread_ids() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return worker_tids_;
}

size_t IngestService::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

}  // namespace lockstep::aggregator
