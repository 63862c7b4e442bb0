#pragma once

// The demo's clients: an open-loop, constant-rate HTTP/1.1 load generator (Boost.Beast, one
// event-loop thread, keep-alive connections opened as needed) that sends GETs with the app's Host
// through lockstep-proxy and counts every response by the backend version that served it (the
// first word of the body: "v1", "v2"). Counts are kept per time slot both by the time a request
// was sent (to measure the split a request saw) and by the time its response came back (the
// per-backend request rate). Requests are never silently lost: each one ends as a response with
// a status, or as an error (connection failure, timeout), or as "dropped" when the generator
// itself cannot keep up (more than `max_backlog` waiting for a connection).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lockstep::demo {

using SteadyTime = std::chrono::steady_clock::time_point;

inline constexpr size_t kVersions = 3;  // v1, v2, anything else
size_t version_index(std::string_view body);  // "v1 ..." -> 0, "v2 ..." -> 1, else 2
inline constexpr std::array<const char*, kVersions> kVersionNames = {"v1", "v2", "other"};

struct TrafficCounts {
  std::array<uint64_t, kVersions> ok{};  // 2xx by version
  uint64_t http_errors = 0;              // non-2xx responses (502, 503, 504 ...)
  uint64_t failures = 0;                 // no response: connection error or timeout
  uint64_t total() const { return ok[0] + ok[1] + ok[2] + http_errors + failures; }
  uint64_t served() const { return ok[0] + ok[1] + ok[2]; }
  TrafficCounts& operator+=(const TrafficCounts& o);
};

struct ProbeResult {
  SteadyTime sent{};       // just before the request's first byte was written
  SteadyTime answered{};   // full response read
  int status = 0;          // 0: no response
  std::string version;
  std::string error;
};

class LoadGenerator {
 public:
  struct Options {
    uint16_t port = 0;  // lockstep-proxy's HTTP port on 127.0.0.1
    std::string host;   // Host header: one of the trigger's hosts
    std::string path = "/api/recommendations";
    size_t max_connections = 256;
    size_t max_backlog = 20'000;
    std::chrono::milliseconds response_timeout{40'000};  // above the proxy's coldStartTimeout
    std::chrono::milliseconds slot{100};
    SteadyTime t0{};  // slot 0 starts here
  };

  explicit LoadGenerator(Options options);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  void start();
  // Stops sending; requests still outstanding get up to `grace` to finish, then count as
  // failures.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

  // Requests per second from now on (0 = quiet). Thread-safe.
  void set_rate(double rps);
  double rate() const { return rate_.load(std::memory_order_relaxed); }

  // One request on a fresh connection of its own (the cold-start probe).
  std::shared_future<ProbeResult> probe();

  // Counts of requests sent (by_sent) or answered (by answer time) in [from, to), whole slots.
  TrafficCounts sent_between(SteadyTime from, SteadyTime to) const;
  TrafficCounts answered_between(SteadyTime from, SteadyTime to) const;

  struct Totals {
    uint64_t issued = 0;
    uint64_t outstanding = 0;
    uint64_t dropped = 0;
    uint64_t late = 0;  // sent more than 100 ms after their time (the generator was starved)
    uint64_t connections = 0;
    TrafficCounts counts;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
  };
  Totals totals() const;

 private:
  class Connection;
  struct Slot {
    TrafficCounts sent;
    TrafficCounts answered;
  };
  void tick();
  void issue(SteadyTime intended);
  void dispatch(const std::shared_ptr<Connection>& c, SteadyTime intended, bool retry);
  void finished(const std::shared_ptr<Connection>& c, SteadyTime sent, int status,
                size_t version, bool keep_alive, bool retry_allowed);
  void record(SteadyTime sent, SteadyTime answered, int status, size_t version);
  size_t slot_of(SteadyTime t) const;
  TrafficCounts between(SteadyTime from, SteadyTime to, bool by_sent) const;

  const Options options_;
  const std::string request_text_;
  boost::asio::io_context io_;
  boost::asio::steady_timer timer_;
  std::thread thread_;
  std::atomic<double> rate_{0};  // relaxed: the pacing loop picks it up on its next tick

  // Event-loop thread only.
  SteadyTime pace_epoch_{};
  double pace_rate_ = 0;
  uint64_t pace_issued_ = 0;
  std::vector<std::shared_ptr<Connection>> idle_;
  std::vector<SteadyTime> backlog_;
  size_t backlog_head_ = 0;
  size_t connections_ = 0;
  bool stopping_ = false;

  mutable std::mutex mu_;
  std::vector<Slot> slots_;             // guarded by mu_
  std::vector<uint32_t> latency_us_;    // guarded by mu_ (log2 buckets of microseconds)
  uint64_t issued_ = 0;                 // guarded by mu_
  uint64_t completed_ = 0;              // guarded by mu_
  uint64_t dropped_ = 0;                // guarded by mu_
  uint64_t late_ = 0;                   // guarded by mu_
  uint64_t opened_ = 0;                 // guarded by mu_
  double max_latency_ms_ = 0;           // guarded by mu_
};

}  // namespace lockstep::demo
