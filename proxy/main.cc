// lockstep-proxy: wires settings, counters, HTTP workers, reporter, route subscriber and the
// admin server together, then waits for SIGTERM/SIGINT and drains.
#include <prometheus/registry.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/grpc_process.h"
#include "common/http_admin_server.h"
#include "common/log.h"
#include "proxy/proxy_metrics.h"
#include "proxy/proxy_server.h"
#include "proxy/report_trigger.h"
#include "proxy/reporter.h"
#include "proxy/route_subscriber.h"
#include "proxy/settings.h"
#include "proxy/traffic_counters.h"

using namespace lockstep;
using namespace lockstep::proxy;

namespace {

std::string default_proxy_id() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') return host;
  return "lockstep-proxy";
}

bool split_host_port(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  port = static_cast<uint16_t>(std::stoul(text.substr(colon + 1)));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  skip_absl_lock_order_checks();
  std::vector<std::string> args(argv + 1, argv + argc);
  SettingsResult loaded = load_settings(args);
  if (loaded.help) {
    std::fputs(settings_help().c_str(), stdout);
    return 0;
  }
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "lockstep-proxy: %s\n", e.c_str());
    return 2;
  }
  ProxySettings settings = *loaded.settings;
  Logger log(settings.log_level);

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  SystemClock clock;
  Reporter::Identity identity{settings.proxy_id.empty() ? default_proxy_id() : settings.proxy_id,
                              static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                        clock.wall_now().time_since_epoch())
                                                        .count())};
  const uint32_t workers = effective_workers(settings);
  TrafficCounters counters(workers);
  ReportTrigger trigger(clock);
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_shared<ProxyMetrics>(counters);

  HttpAdminServer::Options admin_options;
  if (!split_host_port(settings.admin_listen, admin_options.address, admin_options.port)) {
    std::fprintf(stderr, "lockstep-proxy: adminListen: not host:port\n");
    return 2;
  }
  HttpAdminServer admin(admin_options, log.child("admin"));
  admin.serve_metrics({registry, metrics});

  ProxyServer server(settings, counters, clock, trigger, log.child("http"));
  server.on_applied([&admin](uint64_t) { admin.set_ready(true); });
  Reporter reporter(settings, identity, counters, server.applied_version_ref(), trigger, clock,
                    *registry, log.child("reporter"));
  RouteSubscriber subscriber(
      settings, identity, [&reporter] { return reporter.scalers(); }, counters,
      [&server](std::shared_ptr<const RouteSnapshot> s) { server.publish(std::move(s)); },
      *registry, log.child("routes"));

  try {
    server.start();
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "lockstep-proxy: %s\n", e.what());
    return 1;
  }
  std::string error;
  if (!admin.start(&error)) {
    std::fprintf(stderr, "lockstep-proxy: adminListen %s: %s\n", settings.admin_listen.c_str(),
                 error.c_str());
    return 1;
  }
  reporter.start();
  subscriber.start();
  log.info("lockstep-proxy started", {{"proxyId", identity.proxy_id},
                                      {"workers", std::to_string(server.workers())}});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log.info("stopping: draining", {{"signal", std::to_string(sig)}});
  server.begin_drain();
  admin.set_ready(false);
  if (settings.timeouts.shutdown_delay.count() > 0) {
    // Load balancers take the proxy out while it still serves; a second signal cuts this short.
    timespec ts{};
    ts.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(settings.timeouts.shutdown_delay).count();
    ts.tv_nsec = (settings.timeouts.shutdown_delay % std::chrono::seconds(1)).count();
    sigtimedwait(&stop_signals, nullptr, &ts);
  }
  server.drain(settings.timeouts.drain);
  if (!reporter.flush(std::chrono::seconds(2))) {
    log.warn("not every scaler acknowledged the final report");
  }
  log.info("stopped");
  return 0;
}
