#pragma once

// A proxy as the scaler sees it: one lockstep.v1.Ingest/Report stream carrying cumulative
// per-(route, backend) counts and gauges (reference: proto/lockstep/v1/ingest.proto). For
// integration tests, benchmarks and the demo's synthetic fleet.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/v1/ingest.grpc.pb.h"

namespace lockstep::keda {

class FakeProxy {
 public:
  FakeProxy(std::shared_ptr<grpc::Channel> channel, std::string proxy_id, uint64_t boot_epoch,
            uint32_t history_granularity_ms = 1000);
  ~FakeProxy();

  // Opens the stream and sends the hello (the stream's first message).
  bool connect();
  // Opens the stream and sends `first` as the first message instead (to test refusals).
  bool connect_raw(const lockstep::v1::ReportRequest& first);
  // Sends one report as given (seq and all). False once the stream is broken.
  bool send(const lockstep::v1::Report& report);
  bool send_raw(const lockstep::v1::ReportRequest& message);

  // --- series bookkeeping, for reports built from counters ---
  // Defines a series (sent with the next report); returns its id.
  uint32_t define(const std::string& route, const std::string& backend, uint64_t base = 0);
  void count(uint32_t id, uint64_t requests);
  void gauges(uint32_t id, uint32_t in_flight, uint32_t held);
  // Sends the pending definitions and a sample of every series; returns the seq used.
  uint64_t flush(bool urgent = false, uint64_t route_table_version = 0);
  // After reconnect(): every series is defined again with base = its current count.
  bool reconnect();

  bool wait_ack(uint64_t seq, std::chrono::milliseconds timeout);
  std::vector<lockstep::v1::ReportResponse> acks() const;
  // Waits for the server to end the stream; its status.
  std::optional<grpc::Status> wait_end(std::chrono::milliseconds timeout);
  // Half-closes and returns the final status.
  grpc::Status close();
  uint64_t next_seq() { return ++seq_; }
  // The fleet named in the hello ("namespace/name"; empty: none). Set before connect().
  void set_fleet(std::string fleet) { fleet_ = std::move(fleet); }

 private:
  struct Series {
    std::string route;
    std::string backend;
    uint64_t requests = 0;
    uint32_t in_flight = 0;
    uint32_t held = 0;
    bool defined = false;
    uint64_t base = 0;
  };
  void reader();
  void reset_stream();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<lockstep::v1::Ingest::Stub> stub_;
  const std::string proxy_id_;
  const uint64_t boot_epoch_;
  const uint32_t history_granularity_ms_;
  std::string fleet_;
  uint64_t seq_ = 0;
  std::vector<Series> series_;  // id - 1

  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<lockstep::v1::ReportRequest, lockstep::v1::ReportResponse>>
      stream_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<lockstep::v1::ReportResponse> acks_;  // guarded by mu_
  std::optional<grpc::Status> end_;                 // guarded by mu_
  bool writes_done_ = false;
};

}  // namespace lockstep::keda
