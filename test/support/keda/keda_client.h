#pragma once

// A client that calls lockstep-scaler the way KEDA's operator does (reference:
// keda-external-scaler.md §2, §5), for integration tests, benchmarks and the demo.
//
//   - reconcile(): GetMetricSpec per trigger, checks names and targets as KEDA/the HPA would.
//   - poll(): per trigger GetMetricSpec (retried once if failing or empty), then per spec
//     GetMetrics + IsActive (both retried once on failure); value = metricValueFloat if > 0 else
//     metricValue, rounded to 3 decimals, negatives to 0; desired replicas = ceil(value/target).
//   - streams: one StreamIsActive per trigger (external-push), reopened after 2, 4, 8 ... 60 s
//     (the base is injectable), reset to the base only after an OK end; `false` is ignored.
//     Optionally StreamMetricSpec, which stops for good on UNIMPLEMENTED.
// Every call carries a deadline.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "externalscaler.grpc.pb.h"

namespace lockstep::keda {

struct KedaTrigger {
  std::map<std::string, std::string> metadata;
};

struct KedaOptions {
  std::string address;  // host:port
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // null: plaintext
  std::string ns = "default";
  std::string name = "app";
  std::vector<KedaTrigger> triggers;
  std::chrono::milliseconds call_deadline{3000};
  std::chrono::milliseconds stream_backoff_base{2000};
  std::chrono::milliseconds stream_backoff_max{60'000};
  bool stream_metric_spec = false;
};

struct SpecView {
  std::string name;
  double target = 0;
};

struct TriggerPoll {
  std::vector<SpecView> specs;
  std::vector<double> values;  // one per spec, as KEDA reads it
  bool active = false;
  int64_t desired_replicas = 0;  // max over specs of ceil(value / target)
  std::optional<grpc::Status> error;  // after the retry
};

struct PollResult {
  std::vector<TriggerPoll> triggers;
  bool active = false;  // any trigger
  int64_t desired_replicas = 0;  // the HPA takes the max over metrics
  std::chrono::nanoseconds took{0};
};

// One event from a stream, in arrival order.
struct StreamEvent {
  // kEnded: a StreamIsActive stream ended; kSpecEnded: a StreamMetricSpec stream ended.
  enum Kind { kActive, kSpec, kEnded, kSpecEnded } kind;
  size_t trigger;
  std::chrono::steady_clock::time_point at;
  grpc::StatusCode status = grpc::StatusCode::OK;  // kEnded
  std::string message;
  std::vector<SpecView> specs;  // kSpec
};

class KedaClient {
 public:
  explicit KedaClient(KedaOptions options);
  ~KedaClient();  // stops the streams

  // GetMetricSpec for every trigger; fails if a spec is empty, not path-safe, or targets <= 0.
  grpc::Status reconcile(std::vector<std::vector<SpecView>>* specs = nullptr);
  PollResult poll();

  void start_streams();
  void stop_streams();
  std::vector<StreamEvent> events() const;
  // Waits until `pred(events)` holds or the deadline passes.
  bool wait_for(const std::function<bool(const std::vector<StreamEvent>&)>& pred,
                std::chrono::milliseconds timeout);
  size_t count(StreamEvent::Kind kind, size_t trigger) const;
  // Delays used between stream attempts so far (to check KEDA's backoff rules).
  std::vector<std::chrono::milliseconds> backoffs(size_t trigger) const;

  externalscaler::ScaledObjectRef ref(size_t trigger) const;
  externalscaler::ExternalScaler::Stub& stub() { return *stub_; }

 private:
  void stream_is_active_loop(size_t trigger);
  void stream_metric_spec_loop(size_t trigger);
  void record(StreamEvent e);
  // Sleeps `d` unless stopping; false if stopping.
  bool pause(std::chrono::milliseconds d);

  KedaOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<externalscaler::ExternalScaler::Stub> stub_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<StreamEvent> events_;                              // guarded by mu_
  std::map<size_t, std::vector<std::chrono::milliseconds>> backoffs_;  // guarded by mu_
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts_;   // guarded by mu_
  bool stopping_ = false;                                        // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace lockstep::keda
