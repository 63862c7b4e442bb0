// lockstep-demo: the whole loop on one machine, no Kubernetes (docs/demo.md). Thin: parses flags,
// runs a DemoRun, prints the summary, copies the timeline picture where asked.
//
// Exit status: 0 every check passed (with --duration: every check of the phases that ran), 1 a
// check failed, 2 bad usage or a component did not start, 130 interrupted.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "demo/demo_run.h"

namespace {

namespace fs = std::filesystem;

bool flag(const std::string& arg, const std::string& name, std::string* value) {
  const std::string prefix = "--" + name + "=";
  if (arg.compare(0, prefix.size(), prefix) != 0) return false;
  *value = arg.substr(prefix.size());
  return true;
}

void usage() {
  std::cout <<
      R"(usage: lockstep-demo [options]

Runs lockstep-scaler (standalone), lockstep-proxy, a KEDA + HPA stand-in, an Argo Rollouts +
kubelet stand-in with real backend processes, and a load generator, then prints a summary and
draws a timeline (docs/demo.md).

  --profile=full|quick       full: 1.5k req/s, spike to 4k (default); quick: the end-to-end
                             test's shorter profile
  --duration=<seconds>       stop the scenario after this long (the summary covers what ran)
  --quiet                    no live view; only the summary
  --run-dir=<dir>            logs, manifests, timeline (default ./lockstep-demo-<time>)
  --docs-image=<file>        copy the timeline PNG here after a complete run
  --no-picture               skip gnuplot
  --examples=<dir>           examples/local (manifests/, scaler.yaml, proxy.yaml)
  --scaler-bin=, --proxy-bin=, --backend-bin=   the programs (default: this build's)
)";
}

std::string stamp() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lockstep::demo;
  DemoOptions options;
  std::string examples = LOCKSTEP_DEMO_EXAMPLES;
  options.scaler_bin = LOCKSTEP_DEMO_SCALER;
  options.proxy_bin = LOCKSTEP_DEMO_PROXY;
  options.backend_bin = LOCKSTEP_DEMO_BACKEND;
  std::string docs_image, value;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else if (arg == "--quiet") {
      options.quiet = true;
    } else if (arg == "--no-picture") {
      options.picture = false;
    } else if (flag(arg, "profile", &value)) {
      if (value == "full") {
        options.profile = full_profile();
      } else if (value == "quick") {
        options.profile = quick_profile();
      } else {
        std::cerr << "lockstep-demo: --profile: \"" << value << "\" is not full or quick\n";
        return 2;
      }
    } else if (flag(arg, "duration", &value)) {
      char* end = nullptr;
      const long s = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || s <= 0) {
        std::cerr << "lockstep-demo: --duration: \"" << value << "\" is not a positive number of seconds\n";
        return 2;
      }
      options.duration = std::chrono::seconds(s);
    } else if (flag(arg, "run-dir", &options.run_dir) || flag(arg, "docs-image", &docs_image) ||
               flag(arg, "examples", &examples) || flag(arg, "scaler-bin", &options.scaler_bin) ||
               flag(arg, "proxy-bin", &options.proxy_bin) || flag(arg, "backend-bin", &options.backend_bin)) {
    } else {
      std::cerr << "lockstep-demo: unknown argument \"" << arg << "\" (see --help)\n";
      return 2;
    }
  }
  options.manifests_dir = examples + "/manifests";
  options.scaler_config = examples + "/scaler.yaml";
  options.proxy_config = examples + "/proxy.yaml";
  if (options.run_dir.empty()) options.run_dir = "lockstep-demo-" + stamp();
  options.run_dir = fs::absolute(options.run_dir).string();
  options.live_view = !options.quiet && ::isatty(STDOUT_FILENO);
  for (const auto* bin : {&options.scaler_bin, &options.proxy_bin, &options.backend_bin}) {
    if (::access(bin->c_str(), X_OK) != 0) {
      std::cerr << "lockstep-demo: " << *bin << " is not an executable (build it first)\n";
      return 2;
    }
  }

  // Ctrl-C / SIGTERM end the scenario; the run then stops its children in order and prints the
  // summary. A second one exits at once (the children die with us: PR_SET_PDEATHSIG).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);  // sent to ourselves when the run has ended
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  DemoRun run(options);
  bool interrupted = false;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig == SIGUSR1) return;  // the run ended
    interrupted = true;
    std::cerr << "\nlockstep-demo: stopping (again to quit at once)\n";
    run.request_stop("interrupted");
    sigwait(&stop_signals, &sig);
    if (sig == SIGUSR1) return;
    std::_Exit(130);
  });

  if (!options.quiet) std::cout << "lockstep demo: run directory " << options.run_dir << "\n" << std::flush;
  const DemoResult result = run.run();
  ::kill(::getpid(), SIGUSR1);
  signals.join();

  std::cout << format_summary(result) << std::flush;
  if (!result.error.empty()) return 2;
  if (result.completed && !docs_image.empty() && !result.picture.empty()) {
    std::error_code ec;
    fs::create_directories(fs::path(docs_image).parent_path(), ec);
    fs::copy_file(result.picture, docs_image, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      std::cerr << "lockstep-demo: copying the timeline to " << docs_image << ": " << ec.message() << "\n";
    } else {
      std::cout << "timeline copied to " << docs_image << "\n";
    }
  }
  if (interrupted) return 130;
  // Stopped by --duration: judged on the phases that ran to their end.
  return result.all_ok() ? 0 : 1;
}
