#pragma once

// Test support for lockstep-proxy integration tests: an in-process fake scaler (real gRPC
// Routes and Ingest servers on 127.0.0.1), HTTP backends (Beast, on loopback) and a blocking
// HTTP client, plus a harness that runs the real proxy components against them.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "lockstep/v1/ingest.pb.h"
#include "lockstep/v1/routes.pb.h"
#include "proxy/proxy_server.h"
#include "proxy/report_trigger.h"
#include "proxy/reporter.h"
#include "proxy/route_subscriber.h"
#include "proxy/settings.h"
#include "proxy/traffic_counters.h"

namespace grpc {
class Server;
class ServerCredentials;
class Service;
}

namespace lockstep::proxy::testing {

namespace v1 = lockstep::v1;

// Polls `pred` until it holds or `timeout` passes; returns the last value of `pred`.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A scaler replica as far as a proxy can tell: Routes/Subscribe streams the table set with
// set_table() to every subscriber; Ingest/Report acknowledges reports and applies them exactly
// once per (proxy, boot epoch, route, backend) as the wire contract says, so tests can compare
// what it counted with what the backends served.
class FakeScaler {
 public:
  // `ingest`: a real Ingest service to register instead of the fake one (then the accounting
  // below stays empty and the test asks that service's aggregator).
  // `credentials`: TLS for the listener (default plaintext).
  // `ip`: the loopback address to listen on (127.0.0.2, ... stand for replicas that a DNS name
  // resolves to, all on the same port).
  explicit FakeScaler(int port = 0, grpc::Service* ingest = nullptr,
                      std::shared_ptr<grpc::ServerCredentials> credentials = nullptr,
                      std::string ip = "127.0.0.1");
  ~FakeScaler();
  FakeScaler(const FakeScaler&) = delete;
  FakeScaler& operator=(const FakeScaler&) = delete;

  int port() const { return port_; }
  const std::string& ip() const { return ip_; }
  std::string address() const { return ip_ + ":" + std::to_string(port_); }

  void set_table(const v1::RouteTable& table);
  size_t subscribers() const;

  // Requests counted for a series (its cumulative growth as applied by this replica).
  uint64_t counted(const std::string& route, const std::string& backend) const;
  uint32_t held(const std::string& route, const std::string& backend) const;
  uint32_t in_flight(const std::string& route, const std::string& backend) const;
  uint64_t reports() const;
  uint64_t urgent_reports() const;
  uint64_t last_route_table_version() const;
  size_t report_streams_opened() const;
  std::vector<v1::Report> received() const;
  // The steady time the first urgent report arrived (0 if none).
  std::chrono::steady_clock::time_point first_urgent_at() const;

  class TableWriter;
  class ReportReader;

 private:
  friend class TableWriter;
  friend class ReportReader;
  struct SeriesState {
    uint64_t last = 0;
    uint64_t counted = 0;
    uint32_t in_flight = 0;
    uint32_t held = 0;
  };
  void apply(const std::string& proxy, uint64_t epoch, std::map<uint32_t, std::pair<std::string, std::string>>& ids,
             std::map<uint32_t, uint64_t>& pending_base, const v1::Report& r);

  std::string ip_;
  int port_ = 0;
  class Services;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;  // guards everything below
  std::optional<v1::RouteTable> table_;
  std::set<TableWriter*> writers_;
  std::map<std::tuple<std::string, uint64_t, std::string, std::string>, SeriesState> series_;
  uint64_t reports_ = 0;
  uint64_t urgent_ = 0;
  uint64_t last_version_ = 0;
  size_t streams_opened_ = 0;
  std::vector<v1::Report> received_;
  std::chrono::steady_clock::time_point first_urgent_{};
};

// A small HTTP/1.1 backend on 127.0.0.1:0 (Beast; streams bodies both ways). Every response
// carries X-Backend (its name), X-Conn (the connection number on this backend) and X-Seen-Host.
//   GET  /big?bytes=N      N bytes, chunked, a deterministic pattern
//   POST /upload           reads the body streaming; answers "bytes=N sum=S"
//   ANY  /echo-headers     the request headers, one "name: value" per line
//   ANY  /hang             never answers (until the backend stops)
//   ANY  /close            closes the connection without answering
//   ANY  /reply-then-close 200 with keep-alive, then closes the connection (an upstream whose
//                          keep-alive timeout passes while the proxy pools the connection)
//   ANY  /status/NNN       answers with status NNN
//   anything else          200, body = the backend name
class TestBackend {
 public:
  explicit TestBackend(std::string name, int threads = 1);
  ~TestBackend();
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  const std::string& name() const { return name_; }
  uint16_t port() const { return port_; }
  uint64_t requests() const { return requests_.load(); }
  uint64_t connections() const { return connections_.load(); }
  uint64_t hanging() const { return hanging_.load(); }
  // Connections closed by /reply-then-close.
  uint64_t closed_after_reply() const { return closed_after_reply_.load(); }

 private:
  class Impl;
  std::string name_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> hanging_{0};
  std::atomic<uint64_t> closed_after_reply_{0};
  std::unique_ptr<Impl> impl_;
};

// A blocking HTTP/1.1 client with keep-alive (reads time out after 20 s instead of hanging).
class TestClient {
 public:
  struct Response {
    unsigned status = 0;  // 0: the connection failed or closed before a response
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    uint64_t body_bytes = 0;  // counted even when the body is discarded
    bool keep_alive = false;
  };
  explicit TestClient(uint16_t port);
  ~TestClient();

  // Sends one request. `raw_body` empty: no body. Reconnects if the last response closed.
  Response request(const std::string& method, const std::string& host, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                   const std::string& body = {}, bool keep_body = true);
  Response get(const std::string& host, const std::string& target) {
    return request("GET", host, target);
  }
  // Streams `bytes` of body (chunked when `chunked`, else with Content-Length) without holding
  // it in memory, and returns the response.
  Response upload(const std::string& host, const std::string& target, uint64_t bytes, bool chunked);
  // Writes raw bytes and reads one response (for malformed requests).
  Response raw(const std::string& bytes);
  bool connected() const;
  // Connections this client opened so far.
  int connects() const { return connects_; }

 private:
  void ensure_connected();
  Response read_response(bool keep_body, bool head);
  uint16_t port_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::ip::tcp::socket> socket_;
  std::string buffer_;
  int connects_ = 0;
  bool open_ = false;
};

// The real proxy components (workers, reporter, route subscriber) wired like main() does,
// against the given scaler addresses.
class ProxyHarness {
 public:
  // `lookup`: resolves scalerDns instead of the system resolver (see Reporter::ScalerLookup).
  ProxyHarness(std::vector<std::string> scalers, const Clock& clock,
               std::function<void(ProxySettings&)> tweak = {},
               Reporter::ScalerLookup lookup = {});
  ~ProxyHarness();

  uint16_t port() const { return server_->local_endpoint().port(); }
  ProxyServer& server() { return *server_; }
  Reporter& reporter() { return *reporter_; }
  TrafficCounters& counters() { return *counters_; }
  prometheus::Registry& registry() { return *registry_; }
  const ProxySettings& settings() const { return settings_; }
  bool wait_applied(uint64_t version, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Runs every worker's timeout sweep (after moving a ManualClock).
  void sweep() { server_->sweep_now(); }
  std::string metrics_text() const;

 private:
  ProxySettings settings_;
  Logger log_;
  std::unique_ptr<TrafficCounters> counters_;
  std::unique_ptr<ReportTrigger> trigger_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ProxyServer> server_;
  std::unique_ptr<Reporter> reporter_;
  std::unique_ptr<RouteSubscriber> subscriber_;
};

// The value of one sample in Prometheus text exposition (labels compared as a set), or -1 when
// there is no such sample.
double metric_value(const std::string& text, const std::string& name,
                    const std::map<std::string, std::string>& labels = {});

// Route table builders.
v1::Route* add_route(v1::RouteTable& t, const std::string& key, std::vector<std::string> hosts,
                     std::vector<std::string> prefixes = {"/"});
v1::Backend* add_backend(v1::Route* r, const std::string& service, uint32_t weight, v1::Role role,
                         std::vector<uint16_t> ports);

}  // namespace lockstep::proxy::testing
