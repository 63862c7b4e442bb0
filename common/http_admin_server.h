#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"

namespace prometheus {
class Collectable;
}

namespace lockstep {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query
  std::string query;   // after '?', undecoded
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// A small HTTP/1.1 admin server (Boost.Beast) on its own thread: /metrics (Prometheus text format
// from the collectables given), /healthz, /readyz, plus handlers registered by exact path. Keeps
// connections alive, bounds request size, closes idle connections. Handlers run on the server
// thread one at a time, so they must be quick (no blocking I/O). The destructor stops and joins.
//
//   HttpAdminServer admin({.address = "127.0.0.1", .port = 0}, log);
//   admin.serve_metrics({registry});
//   admin.handle("/debug/proxies", [&](const HttpRequest&) { return HttpResponse{...}; });
//   if (!admin.start(&error)) ...;   admin.port() is the bound port
class HttpAdminServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 0;
    size_t max_request_bytes = 64 * 1024;  // header + body
    std::chrono::milliseconds idle_timeout{60'000};
    size_t max_connections = 256;
  };
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpAdminServer(Options options, Logger log);
  ~HttpAdminServer();
  HttpAdminServer(const HttpAdminServer&) = delete;
  HttpAdminServer& operator=(const HttpAdminServer&) = delete;

  // Registers (or replaces) the handler for an exact path. Thread-safe, also after start().
  void handle(const std::string& path, Handler handler);
  // Registers a handler for `prefix` and every path below it ("/v1/routes" serves
  // "/v1/routes" and "/v1/routes/a/b"). Exact handlers win; among prefixes the longest.
  void handle_prefix(const std::string& prefix, Handler handler);
  // Serves GET /metrics from these collectables (e.g. a prometheus::Registry). Collectables that
  // have expired are skipped.
  void serve_metrics(std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  // /readyz answers 200 when ready, 503 otherwise; /healthz answers 200 while serving.
  void set_ready(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  // Binds and starts the thread. False (with the reason) if the address cannot be bound.
  bool start(std::string* error);
  // The bound port (after start()).
  uint16_t port() const { return port_.load(std::memory_order_acquire); }
  // Stops accepting, closes connections and joins the thread. Idempotent.
  void stop();

 private:
  class Impl;
  HttpResponse dispatch(const HttpRequest& request);

  Options options_;
  Logger log_;
  std::atomic<bool> ready_{false};  // relaxed: a status flag read by /readyz only
  std::atomic<uint16_t> port_{0};
  std::mutex handlers_mu_;
  std::map<std::string, Handler> handlers_;  // guarded by handlers_mu_
  std::map<std::string, Handler> prefix_handlers_;  // guarded by handlers_mu_
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

// Serializes every collectable into the Prometheus text exposition format.
std::string serialize_metrics(const std::vector<std::weak_ptr<prometheus::Collectable>>& from);

}  // namespace lockstep
