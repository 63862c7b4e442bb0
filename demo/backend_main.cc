// lockstep-demo-backend: one replica of the demo's recommender app. It "boots" for
// --start-delay (as a real container does before its readiness probe passes), then serves HTTP on
// 127.0.0.1 (port 0 unless --port is given), prints "listening <port>" on stdout for the demo's
// kubelet stand-in, and answers every request under / and /api with its version and pod name
// ("v1 recommender-6b7f9-x2k4q"). /healthz is the readiness probe. SIGTERM or SIGINT stops it.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "common/duration.h"
#include "common/http_admin_server.h"
#include "common/log.h"

namespace {

bool flag(const std::string& arg, const std::string& name, std::string* value) {
  const std::string prefix = "--" + name + "=";
  if (arg.compare(0, prefix.size(), prefix) != 0) return false;
  *value = arg.substr(prefix.size());
  return true;
}

int usage(const std::string& why) {
  std::cerr << "lockstep-demo-backend: " << why
            << "\nusage: lockstep-demo-backend --version=<v> --pod=<name> [--start-delay=<dur>] "
               "[--port=<n>]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lockstep;
  std::string version, pod, delay_text = "0", port_text = "0";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!flag(arg, "version", &version) && !flag(arg, "pod", &pod) &&
        !flag(arg, "start-delay", &delay_text) && !flag(arg, "port", &port_text)) {
      return usage("unknown argument \"" + arg + "\"");
    }
  }
  if (version.empty() || pod.empty()) return usage("--version and --pod are required");
  std::chrono::nanoseconds delay{};
  std::string why;
  if (!parse_duration(delay_text, delay, &why)) return usage("--start-delay: " + why);
  char* end = nullptr;
  const unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
  if (*end != '\0' || port > 65535) return usage("--port: not a port number");

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The app's boot time. A stop signal during it ends the process at once.
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(delay.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(delay.count() % 1'000'000'000);
  if (delay.count() > 0 && sigtimedwait(&stop_signals, nullptr, &ts) > 0) return 0;

  Logger log(LogLevel::kWarn);
  HttpAdminServer::Options options;
  options.address = "127.0.0.1";
  options.port = static_cast<uint16_t>(port);
  options.max_connections = 1024;
  HttpAdminServer server(options, log.child("backend"));
  const std::string body = version + " " + pod + "\n";
  auto answer = [body](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", body}; };
  server.handle("/", answer);
  server.handle_prefix("/api", answer);
  std::string error;
  if (!server.start(&error)) {
    std::cerr << "lockstep-demo-backend: " << error << "\n";
    return 1;
  }
  server.set_ready(true);
  std::printf("listening %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.stop();
  return 0;
}
