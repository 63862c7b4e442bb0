#include "test/support/keda/fake_proxy.h"

namespace lockstep::keda {

namespace v1 = lockstep::v1;

FakeProxy::FakeProxy(std::shared_ptr<grpc::Channel> channel, std::string proxy_id,
                     uint64_t boot_epoch, uint32_t history_granularity_ms)
    : channel_(std::move(channel)),
      stub_(v1::Ingest::NewStub(channel_)),
      proxy_id_(std::move(proxy_id)),
      boot_epoch_(boot_epoch),
      history_granularity_ms_(history_granularity_ms) {}

FakeProxy::~FakeProxy() { reset_stream(); }

void FakeProxy::reset_stream() {
  if (!stream_) return;
  if (!writes_done_) {
    ctx_->TryCancel();
  }
  if (reader_.joinable()) reader_.join();
  stream_.reset();
  ctx_.reset();
}

bool FakeProxy::connect() {
  v1::ReportRequest hello;
  hello.mutable_hello()->set_proxy_id(proxy_id_);
  hello.mutable_hello()->set_boot_epoch(boot_epoch_);
  hello.mutable_hello()->set_history_granularity_ms(history_granularity_ms_);
  hello.mutable_hello()->set_fleet(fleet_);
  return connect_raw(hello);
}

bool FakeProxy::connect_raw(const v1::ReportRequest& first) {
  reset_stream();
  {
    std::lock_guard<std::mutex> lock(mu_);
    end_.reset();
    acks_.clear();
  }
  writes_done_ = false;
  ctx_ = std::make_unique<grpc::ClientContext>();
  ctx_->set_deadline(std::chrono::system_clock::now() + std::chrono::hours(24));
  stream_ = stub_->Report(ctx_.get());
  reader_ = std::thread([this] { reader(); });
  return stream_->Write(first);
}

void FakeProxy::reader() {
  v1::ReportResponse resp;
  while (stream_->Read(&resp)) {
    std::lock_guard<std::mutex> lock(mu_);
    acks_.push_back(resp);
    cv_.notify_all();
  }
  grpc::Status s = stream_->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  end_ = s;
  cv_.notify_all();
}

bool FakeProxy::send(const v1::Report& report) {
  v1::ReportRequest m;
  *m.mutable_report() = report;
  return send_raw(m);
}

bool FakeProxy::send_raw(const v1::ReportRequest& m) { return stream_ && stream_->Write(m); }

uint32_t FakeProxy::define(const std::string& route, const std::string& backend, uint64_t base) {
  series_.push_back(Series{route, backend, base, 0, 0, false, base});
  return static_cast<uint32_t>(series_.size());
}

void FakeProxy::count(uint32_t id, uint64_t requests) { series_.at(id - 1).requests += requests; }

void FakeProxy::gauges(uint32_t id, uint32_t in_flight, uint32_t held) {
  series_.at(id - 1).in_flight = in_flight;
  series_.at(id - 1).held = held;
}

uint64_t FakeProxy::flush(bool urgent, uint64_t route_table_version) {
  v1::Report r;
  r.set_seq(next_seq());
  r.set_sent_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  r.set_urgent(urgent);
  r.set_route_table_version(route_table_version);
  for (size_t i = 0; i < series_.size(); ++i) {
    Series& s = series_[i];
    if (!s.defined) {
      auto* d = r.add_defs();
      d->set_id(static_cast<uint32_t>(i + 1));
      d->set_route(s.route);
      d->set_backend(s.backend);
      d->set_base_requests(s.base);
      s.defined = true;
    }
    auto* x = r.add_samples();
    x->set_id(static_cast<uint32_t>(i + 1));
    x->set_requests(s.requests);
    x->set_in_flight(s.in_flight);
    x->set_held(s.held);
  }
  send(r);
  return r.seq();
}

bool FakeProxy::reconnect() {
  for (Series& s : series_) {
    s.defined = false;
    s.base = s.requests;
  }
  return connect();
}

bool FakeProxy::wait_ack(uint64_t seq, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return end_.has_value() || (!acks_.empty() && acks_.back().acked_seq() >= seq);
  }) && !acks_.empty() && acks_.back().acked_seq() >= seq;
}

std::vector<v1::ReportResponse> FakeProxy::acks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acks_;
}

std::optional<grpc::Status> FakeProxy::wait_end(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return end_.has_value(); });
  return end_;
}

grpc::Status FakeProxy::close() {
  if (!stream_) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "not connected");
  stream_->WritesDone();
  writes_done_ = true;
  auto end = wait_end(std::chrono::seconds(10));
  if (reader_.joinable()) reader_.join();
  stream_.reset();
  ctx_.reset();
  return end.value_or(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no end"));
}

}  // namespace lockstep::keda
