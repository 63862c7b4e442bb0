#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace lockstep::scaler {

// A server-streaming reactor that other threads push messages into (StreamIsActive,
// StreamMetricSpec). Others hold its Handle, which outlives the reactor.
//
// Reactor calls (StartWrite, Finish) are made without holding any lock, because gRPC may run a
// reaction (OnWriteDone, OnDone) inline inside them. The reactor stays alive while a handle call
// is using it: it is deleted in OnDone, which comes only after Finish, and Finish is only called
// when no write is in flight, by whoever flips `finish_called_` under the mutex.
template <typename Response>
class PushStream final : public grpc::ServerWriteReactor<Response> {
 public:
  class Handle {
   public:
    // Queues a message; while a write is in flight only the latest pending one is kept (both
    // streams carry state, not events). False once the stream is ending.
    bool push(const Response& msg) {
      std::unique_lock<std::mutex> lock(mu_);
      if (reactor_ == nullptr || finishing_) return false;
      if (writing_) {
        pending_ = msg;
        return true;
      }
      writing_ = true;
      in_flight_ = msg;
      PushStream* r = reactor_;
      lock.unlock();
      r->StartWrite(&in_flight_);
      return true;
    }
    // Ends the stream with `status` once a write in flight is done. Later calls do nothing.
    void end(grpc::Status status) {
      std::unique_lock<std::mutex> lock(mu_);
      if (reactor_ == nullptr || finishing_) return;
      finishing_ = true;
      status_ = std::move(status);
      if (writing_ || finish_called_) return;
      finish_called_ = true;
      PushStream* r = reactor_;
      lock.unlock();
      r->Finish(status_);
    }
    // True once the stream is ending or gone.
    bool ending() const {
      std::lock_guard<std::mutex> lock(mu_);
      return reactor_ == nullptr || finishing_;
    }
    bool done() const {
      std::lock_guard<std::mutex> lock(mu_);
      return reactor_ == nullptr;
    }

   private:
    friend class PushStream;
    mutable std::mutex mu_;
    // Guarded by mu_:
    PushStream* reactor_ = nullptr;  // null after OnDone
    bool writing_ = false;
    bool finishing_ = false;
    bool finish_called_ = false;
    std::optional<Response> pending_;
    Response in_flight_;  // read by gRPC while writing_
    grpc::Status status_;
  };

  // `on_done` runs in OnDone, before the reactor is deleted (unsubscribe there).
  static PushStream* create(std::shared_ptr<Handle>* handle, std::function<void()> on_done) {
    auto* r = new PushStream(std::move(on_done));
    *handle = r->handle_;
    return r;
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(handle_->mu_);
    Handle& h = *handle_;
    h.writing_ = false;
    if (!ok && !h.finishing_) {
      // The client is gone; OnCancel follows. Finish all the same.
      h.finishing_ = true;
      h.status_ = grpc::Status::CANCELLED;
    }
    if (h.finishing_) {
      if (h.finish_called_) return;
      h.finish_called_ = true;
      lock.unlock();
      this->Finish(h.status_);
      return;
    }
    if (h.pending_) {
      h.writing_ = true;
      h.in_flight_ = std::move(*h.pending_);
      h.pending_.reset();
      lock.unlock();
      this->StartWrite(&h.in_flight_);
    }
  }
  void OnCancel() override { handle_->end(grpc::Status::CANCELLED); }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(handle_->mu_);
      handle_->reactor_ = nullptr;
    }
    if (on_done_) on_done_();
    delete this;
  }

 private:
  explicit PushStream(std::function<void()> on_done)
      : handle_(std::make_shared<Handle>()), on_done_(std::move(on_done)) {
    handle_->reactor_ = this;
  }

  std::shared_ptr<Handle> handle_;
  std::function<void()> on_done_;
};

}  // namespace lockstep::scaler
