// The lockstep-proxy executable itself: configuration file plus flags, the admin endpoints, the
// route table and reports against a fake scaler, and the SIGTERM sequence (readiness off at once,
// drain, final report, exit 0). Also: a bad key stops it with status 2 naming the key.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "test/integration/proxy/proxy_test_support.h"

namespace lockstep::proxy::testing {
namespace {

// A child process whose stderr is read line by line.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(fd_);
  }
  // Everything written to stderr so far.
  const std::string& err() {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0) err_.append(buf, static_cast<size_t>(n));
    return err_;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  // Exit status once it exited, else -1.
  int status() {
    if (exited_) return code_;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return code_;
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string err_;
  bool exited_ = false;
  int code_ = -1;
};

// The port in the first log line with this message.
int logged_port(Child& c, const std::string& msg, const std::string& field) {
  int port = 0;
  wait_until([&] {
    std::smatch m;
    const std::string err = c.err();
    const std::regex re("\"msg\":\"" + msg + "\"[^\\n]*\"" + field + "\":\"[^\"]*?:?([0-9]+)\"");
    if (std::regex_search(err, m, re)) port = std::stoi(m[1]);
    return port != 0;
  });
  return port;
}

TEST_CASE("lockstep-proxy serves from its config, drains on SIGTERM and reports the last counts") {
  SystemClock clock;
  TestBackend backend("web");
  FakeScaler scaler;
  v1::RouteTable t;
  t.set_version(77);
  add_backend(add_route(t, "ns/web", {"web.example.com"}), "web", 100, v1::ROLE_STABLE,
              {backend.port()});
  scaler.set_table(t);
  const auto config = std::filesystem::temp_directory_path() /
                      ("lockstep-proxy-test-" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream out(config);
    out << "listen: 127.0.0.1:0\nadminListen: 127.0.0.1:0\nworkers: 2\nproxyId: proxy-a\n"
           "reportInterval: 1m\n"  // only urgent and final reports: the flush is what counts
           "timeouts:\n  shutdownDelay: 400ms\n  drain: 5s\n";
  }
  Child proxy({LOCKSTEP_PROXY_BIN, "--config=" + config.string(), "--scalers=" + scaler.address()});
  const int http_port = logged_port(proxy, "listening", "address");
  const int admin_port = logged_port(proxy, "admin server listening", "port");
  REQUIRE(http_port > 0);
  REQUIRE(admin_port > 0);
  TestClient admin(static_cast<uint16_t>(admin_port));
  REQUIRE(wait_until([&] { return admin.get("x", "/readyz").status == 200; }));
  CHECK(admin.get("x", "/healthz").status == 200);

  TestClient c(static_cast<uint16_t>(http_port));
  for (int i = 0; i < 25; ++i) REQUIRE(c.get("web.example.com", "/").status == 200);
  const auto metrics = admin.get("x", "/metrics");
  CHECK(metric_value(metrics.body, "lockstep_proxy_requests_total",
                     {{"namespace", "ns"}, {"route", "web"}, {"backend", "web"}, {"code", "200"}}) ==
        25);
  CHECK(metric_value(metrics.body, "lockstep_proxy_route_table_version") == 77);

  proxy.signal(SIGTERM);
  // Readiness goes at once; the listener still serves during shutdownDelay.
  CHECK(wait_until([&] { return admin.get("x", "/readyz").status == 503; }));
  TestClient late(static_cast<uint16_t>(http_port));
  CHECK(late.get("web.example.com", "/").status == 200);
  REQUIRE(wait_until([&] { return proxy.status() >= 0; }, std::chrono::seconds(15)));
  CHECK(proxy.status() == 0);
  // The final report carried everything served, although the periodic one never ran.
  CHECK(scaler.counted("ns/web", "web") == 26);
  CHECK(proxy.err().find("\"msg\":\"stopped\"") != std::string::npos);
  std::filesystem::remove(config);
}

TEST_CASE("lockstep-proxy refuses a bad configuration with status 2, naming the key") {
  Child proxy({LOCKSTEP_PROXY_BIN, "--scalers=127.0.0.1:1", "--timeouts.conect=2s",
               "--maxPendingRequests=-1"});
  REQUIRE(wait_until([&] { return proxy.status() >= 0; }));
  CHECK(proxy.status() == 2);
  const std::string err = proxy.err();
  CHECK(err.find("timeouts.conect: unknown key") != std::string::npos);
  CHECK(err.find("maxPendingRequests: not a non-negative integer") != std::string::npos);
}

}  // namespace
}  // namespace lockstep::proxy::testing
