#pragma once

// An in-process lockstep-scaler on 127.0.0.1:0 with a manual clock (for exact values), plus small
// helpers shared by the integration tests.

#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

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

}  // namespace lockstep::scaler::test
