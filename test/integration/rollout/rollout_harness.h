#pragma once

// lockstep-scaler with the rollout module, in process on 127.0.0.1:0, wired as scaler/main.cc
// wires it; a route-table subscriber; a kubeconfig pointing at the fake API server.

#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "lockstep/v1/routes.grpc.pb.h"
#include "rollout/rollout_aware_computation.h"
#include "rollout/rollout_awareness.h"
#include "scaler/scaler_config.h"
#include "scaler/scaler_server.h"
#include "test/support/kube/eventually.h"
#include "test/support/kube/fake_api_server.h"

namespace lockstep::rollout::test {

using namespace std::chrono_literals;
using lockstep::testing::eventually;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/lockstep-rollout-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& data) const {
    const auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    // Replace by rename, as kubelet and editors do, so readers never see half a file.
    const auto tmp = path / (name + ".tmp");
    {
      std::ofstream out(tmp);
      out << data;
    }
    std::filesystem::rename(tmp, p);
    return p.string();
  }
};

// A kubeconfig (CA file, token file) for the fake API server.
inline std::string write_kubeconfig(const TempDir& dir, const testing::FakeApiServer& api,
                                    const std::string& token = "test-token") {
  dir.write("ca.crt", api.pki().ca_pem());
  dir.write("token", token + "\n");
  return dir.write("kubeconfig", "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
                                 "clusters:\n- name: fake\n  cluster:\n    server: " +
                                     api.url() +
                                     "\n    certificate-authority: ca.crt\n"
                                     "contexts:\n- name: fake\n  context: {cluster: fake, user: "
                                     "lockstep}\nusers:\n- name: lockstep\n  user:\n    "
                                     "tokenFile: token\n");
}

inline Logger quiet_log() { return Logger(LogLevel::kError, [](std::string_view) {}); }

inline RolloutSettings kube_settings(const std::string& kubeconfig) {
  RolloutSettings s;
  s.mode = "kubernetes";
  s.kubernetes.kubeconfig = kubeconfig;
  s.kubernetes.backoff_initial = 20ms;
  s.kubernetes.backoff_max = 200ms;
  s.kubernetes.watch_timeout = 60s;
  s.routes.scaler_hosts = "lockstep-scaler.lockstep-system";
  return s;
}

// The scaler as main() wires it.
struct RolloutScaler {
  const Clock& clock;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  RolloutAwareComputation computation{clock};
  std::unique_ptr<scaler::ScalerServer> server;
  std::unique_ptr<RolloutAwareness> rollout;

  RolloutScaler(const Clock& c, RolloutSettings settings, bool maintenance = true,
                Logger rollout_log = quiet_log())
      : clock(c) {
    scaler::ScalerConfig config;
    config.keda.listen = "127.0.0.1:0";
    config.ingest.listen = "127.0.0.1:0";
    config.admin.listen = "127.0.0.1:0";
    config.grpc.shutdown_grace = 2000ms;
    server = std::make_unique<scaler::ScalerServer>(config, clock, registry, quiet_log(),
                                                    &computation);
    server->set_run_maintenance(maintenance);
    auto* srv = server.get();
    rollout = std::make_unique<RolloutAwareness>(
        settings,
        RolloutAwareness::Dependencies{&server->catalogue(),
                                       [srv] { return srv->aggregator().connected_proxies(); },
                                       registry.get()},
        std::move(rollout_log));
    std::string error;
    REQUIRE_MESSAGE(rollout->init(&error), error);
    computation.attach(&rollout->authority());
    server->add_ingest_service(&rollout->route_service());
    server->add_collectable(rollout->collector());
    server->add_stop_hook([r = rollout.get()] { r->stop(); });
    REQUIRE_MESSAGE(server->start(&error), error);
    server->admin().handle_prefix(RouteStatus::kPrefix,
                                  [r = rollout.get()](const HttpRequest& q) { return r->status().handle(q); });
    rollout->start();
  }
  ~RolloutScaler() {
    server->stop();
    rollout.reset();
    server.reset();
  }
  std::string keda_address() const { return "127.0.0.1:" + std::to_string(server->keda_port()); }
  std::string ingest_address() const {
    return "127.0.0.1:" + std::to_string(server->ingest_port());
  }
  std::shared_ptr<grpc::Channel> ingest_channel() const {
    return grpc::CreateChannel(ingest_address(), grpc::InsecureChannelCredentials());
  }

  // GET on the admin port: status and parsed JSON body.
  std::pair<int, nlohmann::json> admin_get(const std::string& target) const {
    auto [status, body] = admin_raw(target);
    return {status, nlohmann::json::parse(body, nullptr, false)};
  }
  std::pair<int, std::string> admin_raw(const std::string& target) const {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(5s);
    stream.connect({boost::asio::ip::make_address("127.0.0.1"), server->admin_port()});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    return {static_cast<int>(res.result_int()), res.body()};
  }
};

// A proxy's view of lockstep.v1.Routes/Subscribe: every table received, in order.
class RouteSubscriber {
 public:
  RouteSubscriber(std::shared_ptr<grpc::Channel> channel, std::string proxy_id)
      : stub_(v1::Routes::NewStub(std::move(channel))) {
    v1::SubscribeRequest req;
    req.set_proxy_id(std::move(proxy_id));
    req.set_boot_epoch(1);
    reader_ = stub_->Subscribe(&ctx_, req);
    thread_ = std::thread([this] {
      v1::RouteTable t;
      while (reader_->Read(&t)) {
        std::lock_guard<std::mutex> lock(mu_);
        tables_.push_back(t);
        cv_.notify_all();
      }
      grpc::Status s = reader_->Finish();
      std::lock_guard<std::mutex> lock(mu_);
      status_ = s;
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~RouteSubscriber() {
    ctx_.TryCancel();
    thread_.join();
  }

  // Waits until the newest table satisfies `pred`.
  [[nodiscard]] bool wait(const std::function<bool(const v1::RouteTable&)>& pred,
                          std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return !tables_.empty() && pred(tables_.back()); });
  }
  [[nodiscard]] bool wait_end(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }
  v1::RouteTable latest() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tables_.empty() ? v1::RouteTable() : tables_.back();
  }
  std::vector<v1::RouteTable> tables() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tables_;
  }
  grpc::Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::unique_ptr<v1::Routes::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::RouteTable>> reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::RouteTable> tables_;  // guarded by mu_
  grpc::Status status_;                 // guarded by mu_
  bool ended_ = false;                  // guarded by mu_
  std::thread thread_;
};

// Collects log lines (from any thread) for tests that check what an operator would read.
class LogCapture {
 public:
  Logger logger(LogLevel level = LogLevel::kWarn) {
    return Logger(level, [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    });
  }
  // True when some line contains every one of `parts`.
  bool has(std::initializer_list<std::string_view> parts) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& line : lines_) {
      bool all = true;
      for (auto p : parts) all = all && line.find(p) != std::string::npos;
      if (all) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;  // guarded by mu_
};

// The value of one exposition line "name{labels} value" in `metrics`, or -1 when absent.
inline double metric_value(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

inline const v1::Route* find_route(const v1::RouteTable& t, const std::string& key) {
  for (const auto& r : t.routes()) {
    if (r.key() == key) return &r;
  }
  return nullptr;
}

// True once the table routes shop/web: the first table every shop test waits for.
inline bool routes_shop_web(const v1::RouteTable& t) { return find_route(t, "shop/web") != nullptr; }

inline const v1::Backend* find_backend(const v1::Route& r, const std::string& service) {
  for (const auto& b : r.backends()) {
    if (b.service() == service) return &b;
  }
  return nullptr;
}

}  // namespace lockstep::rollout::test
