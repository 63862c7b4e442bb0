// lockstep-scaler: reads the config (YAML file, then flags), runs the scaler until SIGINT or
// SIGTERM, then stops gracefully. A config error names the key and exits with status 2.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <pthread.h>

#include <prometheus/registry.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "scaler/scaler_config.h"
#include "scaler/scaler_server.h"

int main(int argc, char** argv) {
  using namespace lockstep;
  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  scaler::ScalerConfig config;
  ConfigSchema schema;
  scaler::bind_config(schema, config);
  const auto pre = ConfigSchema::scan_flags(argc, argv);
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
  LogLevel level = LogLevel::kInfo;
  parse_log_level(config.log_level, level);
  Logger log(level);

  SystemClock clock;
  auto registry = std::make_shared<prometheus::Registry>();
  scaler::ScalerServer server(config, clock, registry, log.child("scaler"));
  std::string start_error;
  if (!server.start(&start_error)) {
    log.error("cannot start", {{"error", start_error}});
    return 2;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log.info("signal received", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  server.stop();
  return 0;
}
