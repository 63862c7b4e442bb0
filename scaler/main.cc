// lockstep-scaler: reads the config (YAML file, then flags), runs the scaler until SIGINT or
// SIGTERM, then stops gracefully. A config error names the key and exits with status 2.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <pthread.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string_view>

#include <prometheus/registry.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/grpc_process.h"
#include "common/log.h"
#include "scaler/scaler_config.h"
#include "scaler/scaler_server.h"
#ifdef LOCKSTEP_WITH_ROLLOUT  // set by rollout/CMakeLists.txt when the rollout module is built
#include "rollout/rollout_aware_computation.h"
#include "rollout/rollout_awareness.h"
#include "rollout/rollout_settings.h"
#endif

namespace {

// glibc malloc, unless the operator set MALLOC_ARENA_MAX / MALLOC_MMAP_THRESHOLD_ (docs/
// configuration.md, "Memory"). Two arenas instead of 8 per core: the scaler has two busy thread
// kinds (gRPC, apply), and every extra arena keeps its own free pages. A fixed mmap threshold:
// glibc otherwise raises it to the largest block freed (gRPC read buffers, report bursts), after
// which such blocks come from the heap and leave holes that pin resident pages.
void tune_malloc() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 64 << 10);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lockstep;
  tune_malloc();
  skip_absl_lock_order_checks();
  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  scaler::ScalerConfig config;
  ConfigSchema schema;
  scaler::bind_config(schema, config);
#ifdef LOCKSTEP_WITH_ROLLOUT
  rollout::RolloutSettings rollout_settings;
  rollout::bind_config(schema, rollout_settings);
#endif
  const auto pre = ConfigSchema::scan_flags(argc, argv);
  if (argc == 2 && std::string_view(argv[1]) == "--config-reference") {
    // The table in docs/configuration.md, generated from the same option table.
    std::cout << schema.markdown_table();
    return 0;
  }
  if (pre.help) {
    std::cout << "usage: lockstep-scaler [--config <file.yaml>] [--<key>=<value> ...]\n\n"
              << "Every key of the YAML file is also a flag (flags win):\n\n"
              << schema.help_text();
    return 0;
  }
  ConfigError error;
  if (pre.config_path && !schema.load_yaml_file(*pre.config_path, &error)) {
    std::cerr << "lockstep-scaler: " << error.message() << "\n";
    return 2;
  }
  ConfigSchema::FlagResult flags;
  if (!schema.apply_flags(argc, argv, &flags, &error)) {
    std::cerr << "lockstep-scaler: " << error.message() << "\n";
    return 2;
  }
  if (auto bad = scaler::validate_config(config)) {
    std::cerr << "lockstep-scaler: " << bad->message() << "\n";
    return 2;
  }
#ifdef LOCKSTEP_WITH_ROLLOUT
  if (auto bad = rollout::validate_config(rollout_settings)) {
    std::cerr << "lockstep-scaler: " << bad->message() << "\n";
    return 2;
  }
#endif
  LogLevel level = LogLevel::kInfo;
  parse_log_level(config.log_level, level);
  Logger log(level);

  SystemClock clock;
  auto registry = std::make_shared<prometheus::Registry>();
#ifdef LOCKSTEP_WITH_ROLLOUT
  // The rollout module: object sources, route table and route service, split status, and the
  // rollout-aware requestRate mode (docs/rollout-aware-metrics.md).
  rollout::RolloutAwareComputation computation(clock);
  scaler::ScalerServer server(config, clock, registry, log.child("scaler"), &computation);
  rollout::RolloutAwareness rollout(
      rollout_settings,
      {&server.catalogue(), [&server] { return server.aggregator().connected_proxies(); },
       registry.get()},
      log.child("rollout"));
  std::string init_error;
  if (!rollout.init(&init_error)) {
    std::cerr << "lockstep-scaler: " << init_error << "\n";
    return 2;
  }
  if (rollout.enabled()) {
    computation.attach(&rollout.authority());
    server.add_ingest_service(&rollout.route_service());
    server.add_collectable(rollout.collector());
    server.add_stop_hook([&rollout] { rollout.stop(); });
  }
#else
  scaler::ScalerServer server(config, clock, registry, log.child("scaler"));
#endif
  std::string start_error;
  if (!server.start(&start_error)) {
    log.error("cannot start", {{"error", start_error}});
    return 2;
  }
#ifdef LOCKSTEP_WITH_ROLLOUT
  if (rollout.enabled()) {
    server.admin().handle_prefix(rollout::RouteStatus::kPrefix,
                                 [&rollout](const HttpRequest& r) { return rollout.status().handle(r); });
    rollout.start();
  }
#endif
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log.info("signal received", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  server.stop();
  return 0;
}
