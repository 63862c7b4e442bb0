// A stand-in scaler replica for the proxy benchmarks: serves one route table (host -> one
// backend with the given endpoints) over lockstep.v1.Routes and acknowledges reports on
// lockstep.v1.Ingest (real gRPC, the same fake the integration tests use).
//
//   proxy_bench_scaler --listen-port=0 --host=bench.local --endpoint=127.0.0.1:8081 [...]
// Prints "port=<n>" once serving, then runs until stdin closes or SIGTERM.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "test/integration/proxy/proxy_test_support.h"

using namespace lockstep::proxy::testing;

int main(int argc, char** argv) {
  int port = 0;
  std::string host = "bench.local";
  std::vector<std::pair<std::string, uint16_t>> endpoints;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--listen-port=", 0) == 0) {
      port = std::stoi(a.substr(14));
    } else if (a.rfind("--host=", 0) == 0) {
      host = a.substr(7);
    } else if (a.rfind("--endpoint=", 0) == 0) {
      const std::string ep = a.substr(11);
      const auto colon = ep.rfind(':');
      endpoints.emplace_back(ep.substr(0, colon), static_cast<uint16_t>(std::stoi(ep.substr(colon + 1))));
    } else {
      std::cerr << "usage: proxy_bench_scaler --listen-port=N --host=H --endpoint=IP:PORT...\n";
      return 2;
    }
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  FakeScaler scaler(port);
  v1::RouteTable t;
  t.set_version(1);
  auto* r = add_route(t, "bench/app", {host});
  auto* b = add_backend(r, "app", 100, v1::ROLE_STABLE, {});
  for (const auto& [ip, p] : endpoints) {
    auto* ep = b->add_endpoints();
    ep->set_ip(ip);
    ep->set_port(p);
  }
  scaler.set_table(t);
  std::printf("port=%d\n", scaler.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "bench scaler: %llu reports, %llu requests counted\n",
               static_cast<unsigned long long>(scaler.reports()),
               static_cast<unsigned long long>(scaler.counted("bench/app", "app")));
  return 0;
}
