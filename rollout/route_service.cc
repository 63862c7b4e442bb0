#include "rollout/route_service.h"

#include "rollout/rollout_metrics.h"
#include "rollout/route_resolver.h"

namespace lockstep::rollout {

class RouteService::Subscription final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  Subscription(RouteService& service, std::string proxy_id)
      : service_(service), proxy_id_(std::move(proxy_id)) {}

  const std::string& proxy_id() const { return proxy_id_; }

  // Queues `table` (replacing any queued one) and starts a write if none is in flight.
  void offer(const grpc::Slice& table) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finishing_) return;
      if (writing_) {
        pending_ = table;
        return;
      }
      writing_ = true;
      buffer_ = grpc::ByteBuffer(&table, 1);  // a reference to the shared bytes, not a copy
    }
    StartWrite(&buffer_);  // buffer_ is not touched again before OnWriteDone
  }

  // Ends the stream with OK once the write in flight (if any) is done.
  void end() {
    bool finish_now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finishing_) return;
      ending_ = true;
      pending_.reset();
      if (!writing_) finish_now = finishing_ = true;
    }
    if (finish_now) Finish(grpc::Status::OK);
  }

  void OnWriteDone(bool ok) override {
    if (ok && service_.metrics_) service_.metrics_->table_sent();
    bool next = false;
    bool finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      buffer_.Clear();
      if (!ok || ending_) {
        pending_.reset();
        if (!finishing_) finish = finishing_ = true;
      } else if (pending_) {
        buffer_ = grpc::ByteBuffer(&*pending_, 1);
        pending_.reset();
        next = writing_ = true;
      }
    }
    if (finish) {
      Finish(ok ? grpc::Status::OK : grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    } else if (next) {
      StartWrite(&buffer_);
    }
  }

  void OnCancel() override {
    bool finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ending_ = true;
      pending_.reset();
      if (!writing_ && !finishing_) finish = finishing_ = true;
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    service_.done(this);
    delete this;
  }

 private:
  RouteService& service_;
  const std::string proxy_id_;
  std::mutex mu_;
  bool writing_ = false;                // a write of buffer_ is in flight; guarded by mu_
  grpc::ByteBuffer buffer_;             // the table being written; guarded by mu_
  std::optional<grpc::Slice> pending_;  // newest not yet written; guarded by mu_
  bool ending_ = false;                            // guarded by mu_
  bool finishing_ = false;                         // Finish called; guarded by mu_
};

namespace {

// An already-finished stream for refused subscriptions.
class Refusal final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit Refusal(grpc::Status status) { Finish(status); }
  void OnDone() override { delete this; }
};

bool valid_proxy_id(const std::string& id) {
  if (id.empty() || id.size() > 253) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A slice over `wire` that keeps it alive until gRPC drops its last reference.
grpc::Slice shared_slice(std::shared_ptr<const std::string> wire) {
  auto* owner = new std::shared_ptr<const std::string>(std::move(wire));
  return grpc::Slice(
      const_cast<char*>((*owner)->data()), (*owner)->size(),
      [](void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }, owner);
}

bool parse_request(const grpc::ByteBuffer& buffer, v1::SubscribeRequest& out) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out.ParseFromString(bytes);
}

}  // namespace

RouteService::RouteService(Logger log, RolloutMetrics* metrics)
    : log_(std::move(log)), metrics_(metrics) {}

RouteService::~RouteService() {
  shutdown();
  wait_idle(std::chrono::seconds(5));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* RouteService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw) {
  (void)context;
  v1::SubscribeRequest parsed;
  if (!raw || !parse_request(*raw, parsed)) {
    return new Refusal(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "request: not a lockstep.v1.SubscribeRequest"));
  }
  const v1::SubscribeRequest* request = &parsed;
  if (!valid_proxy_id(request->proxy_id())) {
    return new Refusal(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "proxy_id: must be 1..253 of [A-Za-z0-9._:-]"));
  }
  auto* s = new Subscription(*this, request->proxy_id());
  std::optional<grpc::Slice> table;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) {
      delete s;
      return new Refusal(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the scaler is stopping"));
    }
    subscriptions_.insert(s);
    table = table_;
    if (metrics_) metrics_->set_subscribers(subscriptions_.size());
  }
  log_.info("route subscriber", {{"proxy", request->proxy_id()},
                                 {"boot_epoch", std::to_string(request->boot_epoch())},
                                 {"have_version", std::to_string(request->have_version())}});
  // The full table now (even when the proxy says it has this version: it may have restarted its
  // table state; a table is small). Before the first synced table: nothing yet.
  if (table) s->offer(*table);
  return s;
}

void RouteService::publish(std::shared_ptr<const std::string> wire) {
  grpc::Slice slice = shared_slice(std::move(wire));
  std::lock_guard<std::mutex> lock(mu_);
  table_ = slice;
  if (shutting_down_) return;
  for (Subscription* s : subscriptions_) s->offer(slice);
}

void RouteService::publish(const v1::RouteTable& table) {
  publish(std::make_shared<const std::string>(serialize_deterministic(table)));
}

void RouteService::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    for (Subscription* s : subscriptions_) s->end();
  }
}

void RouteService::done(Subscription* s) {
  std::lock_guard<std::mutex> lock(mu_);
  subscriptions_.erase(s);
  if (metrics_) metrics_->set_subscribers(subscriptions_.size());
  idle_cv_.notify_all();
}

size_t RouteService::subscribers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subscriptions_.size();
}

bool RouteService::wait_idle(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [this] { return subscriptions_.empty(); });
}

}  // namespace lockstep::rollout
