// lockstep-rollouts-plugin: wires the go-plugin server, the traffic router and the process
// handshake together. See docs/plugin.md.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/log.h"
#include "rollout/kube/kube_config.h"
#include "rollout/plugin/go_plugin_server.h"
#include "rollout/plugin/hclog_sink.h"
#include "rollout/plugin/plugin_methods.h"
#include "rollout/plugin/plugin_options.h"
#include "rollout/plugin/plugin_process.h"
#include "rollout/plugin/traffic_router.h"

extern char** environ;

namespace lockstep::plugin {
namespace {

constexpr const char* kVersion = "0.1.0";

// Handles SIGINT (ignored, as go-plugin servers do: the host stops plugins with Control.Quit),
// SIGTERM and SIGHUP (stop) on a thread of its own. Construct before any other thread so that
// every thread inherits the blocked mask.
class SignalWatcher {
 public:
  SignalWatcher(Logger log, std::function<void()> on_stop)
      : log_(std::move(log)), on_stop_(std::move(on_stop)) {
    sigemptyset(&set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] { run(); });
  }
  ~SignalWatcher() {
    done_.store(true, std::memory_order_release);
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

 private:
  void run() {
    int interrupts = 0;
    for (;;) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      // Release/acquire pairs with the destructor's store: SIGUSR1 after done_ means exit.
      if (done_.load(std::memory_order_acquire)) return;
      if (sig == SIGINT) {
        log_.debug("interrupt signal ignored", {{"count", std::to_string(++interrupts)}});
      } else if (sig == SIGTERM || sig == SIGHUP) {
        log_.info("termination signal, stopping");
        on_stop_();
      }
    }
  }

  Logger log_;
  std::function<void()> on_stop_;
  sigset_t set_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int run(int argc, char** argv) {
  const Environment env = environment_from(environ);
  PluginOptions options;
  std::string error;
  if (!parse_plugin_options(argc, argv, options, error)) {
    // "[ERROR]": go-plugin's host logs a non-JSON stderr line at the level its prefix names.
    std::fprintf(stderr, "[ERROR] lockstep-rollouts-plugin: %s\n\n%s", error.c_str(),
                 plugin_usage().c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(plugin_usage().c_str(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("lockstep-rollouts-plugin %s (%s, go-plugin netrpc protocol %d)\n", kVersion,
                std::string(kPluginName).c_str(), kCoreProtocolVersion);
    return 0;
  }
  if (!has_magic_cookie(env)) {
    std::fputs(std::string(not_a_plugin_message()).c_str(), stderr);
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);

  Logger log(options.log_level, hclog_sink(STDERR_FILENO));
  const VersionChoice version = negotiate_version(env, {kAppProtocolVersion});
  for (const std::string& w : version.warnings) log.warn(w);
  if (!env_or(env, "PLUGIN_CLIENT_CERT", "").empty()) {
    // go-plugin's AutoMTLS; argo-rollouts never enables it. The host would expect TLS.
    log.warn("the host asks for AutoMTLS (PLUGIN_CLIENT_CERT), which this plugin does not support; "
             "serving without TLS");
  }

  int stop_pipe[2];
  if (::pipe2(stop_pipe, O_CLOEXEC) != 0) {
    log.error("cannot create a pipe");
    return 1;
  }
  GoPluginServer* server_ptr = nullptr;
  std::mutex server_mu;  // guards server_ptr against the signal thread
  SignalWatcher signals(log.child("signals"), [&] {
    (void)!::write(stop_pipe[1], "x", 1);
    std::lock_guard<std::mutex> lock(server_mu);
    if (server_ptr) server_ptr->stop();
  });

  std::unique_ptr<PluginListener> listener = PluginListener::open(options.transport, env, error);
  if (!listener) {
    log.error("plugin init error", {{"error", error}});
    return 1;
  }

  log.debug("plugin address", {{"network", std::string(listener->network())},
                               {"address", std::string(listener->address())}});
  // The handshake line goes out only now that the socket listens.
  if (!write_all(STDOUT_FILENO, listener->handshake_line(version.version))) {
    log.error("cannot write the handshake line to stdout");
    return 1;
  }
  // Everything else (the router, the worker threads) is built after the line: the host waits
  // for it, and connects only once it has read it.
  RouterOptions router_options;
  router_options.scaler_service = options.scaler_service;
  router_options.scaler_namespace = options.scaler_namespace;
  router_options.scaler_admin_port = options.scaler_admin_port;
  router_options.verify_timeout = options.verify_timeout;
  router_options.kube.request_timeout = options.kube_timeout;
  router_options.kube.connect_timeout = std::min(options.kube_timeout, std::chrono::milliseconds(5000));
  kube::InClusterPaths paths;
  paths.token = options.serviceaccount_dir + "/token";
  paths.ca = options.serviceaccount_dir + "/ca.crt";
  paths.namespace_file = options.serviceaccount_dir + "/namespace";
  TrafficRouter router(
      router_options,
      [paths](kube::KubeConfig& out, std::string& why) {
        return kube::in_cluster_config(out, why, paths);
      },
      log.child("router"));
  const RpcServiceTable methods = traffic_router_methods(router, log.child("router"));
  GoPluginOptions server_options;
  server_options.call_workers = options.call_workers;
  GoPluginServer server(methods, server_options, log.child("server"));
  {
    std::lock_guard<std::mutex> lock(server_mu);
    server_ptr = &server;
  }

  const int conn = listener->accept(stop_pipe[0]);
  // One host connection per process: stop listening and remove the socket file at once.
  listener->close();
  GoPluginServer::Exit exit = GoPluginServer::Exit::kStopped;
  if (conn >= 0) {
    exit = server.serve(std::make_unique<yamux::FdConnection>(conn, std::chrono::seconds(10)));
  }
  {
    std::lock_guard<std::mutex> lock(server_mu);
    server_ptr = nullptr;
  }
  log.info("plugin exiting", {{"reason", exit == GoPluginServer::Exit::kQuit           ? "Control.Quit"
                                         : exit == GoPluginServer::Exit::kSessionEnded ? "session ended"
                                                                                        : "stopped"}});
  ::close(stop_pipe[0]);
  ::close(stop_pipe[1]);
  return 0;
}

}  // namespace
}  // namespace lockstep::plugin

int main(int argc, char** argv) { return lockstep::plugin::run(argc, argv); }
