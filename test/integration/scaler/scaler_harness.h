#pragma once

// An in-process lockstep-scaler on 127.0.0.1:0 with a manual clock (for exact values), plus small
// helpers shared by the integration tests.

#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/log.h"
#include "scaler/scaler_config.h"
#include "scaler/scaler_server.h"

namespace lockstep::scaler::test {

inline ScalerConfig loopback_config() {
  ScalerConfig c;
  c.keda.listen = "127.0.0.1:0";
  c.ingest.listen = "127.0.0.1:0";  // same address: one server for both services
  c.admin.listen = "127.0.0.1:0";
  c.grpc.shutdown_grace = std::chrono::milliseconds(2000);
  return c;
}

struct Scaler {
  ManualClock& clock;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<ScalerServer> server;

  explicit Scaler(ManualClock& c, ScalerConfig config = loopback_config()) : clock(c) {
    server = std::make_unique<ScalerServer>(config, clock, registry, Logger(LogLevel::kWarn));
    server->set_run_maintenance(false);  // the test moves the clock and ticks
    std::string error;
    REQUIRE_MESSAGE(server->start(&error), error);
  }
  std::string keda_address() const { return "127.0.0.1:" + std::to_string(server->keda_port()); }
  std::string ingest_address() const {
    return "127.0.0.1:" + std::to_string(server->ingest_port());
  }
  std::shared_ptr<grpc::Channel> ingest_channel() const {
    return grpc::CreateChannel(ingest_address(), grpc::InsecureChannelCredentials());
  }
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

// GET on the admin server: (status, body).
inline std::pair<int, std::string> http_get(uint16_t port, const std::string& target) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(5));
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  return {res.result_int(), res.body()};
}

}  // namespace lockstep::scaler::test
