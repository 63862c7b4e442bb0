// lockstep-rollouts-plugin as a process: what it does before, around and after the handshake.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <regex>

#include "test/peers/plugin/subprocess.h"

#ifndef LOCKSTEP_PLUGIN_BINARY
#error "LOCKSTEP_PLUGIN_BINARY must be defined"
#endif

namespace lockstep::plugin::testing {
namespace {

const std::map<std::string, std::string> kCookie = {{"ARGO_ROLLOUTS_RPC_PLUGIN", "trafficrouter"},
                                                    {"PLUGIN_PROTOCOL_VERSIONS", "1"}};

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/lockstep-plugin-procXXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string socket_of(const std::string& handshake) {
  std::smatch m;
  const std::regex re(R"(^1\|1\|unix\|([^|]+)\|netrpc\|$)");
  REQUIRE_MESSAGE(std::regex_match(handshake, m, re), handshake);
  return m[1].str();
}

// A connection to the plugin's unix socket, as the host opens it.
int connect_to(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

TEST_CASE("without the magic cookie it says it is a plugin and exits 1") {
  const ProcessResult r = run_process({LOCKSTEP_PLUGIN_BINARY}, {{"ARGO_ROLLOUTS_RPC_PLUGIN", "metricprovider"}},
                                      std::chrono::seconds(10), true);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("This binary is a plugin. These are not meant to be executed directly.") == 0);
}

TEST_CASE("--version works anywhere, a bad flag is an [ERROR] line and exit 2") {
  const ProcessResult v = run_process({LOCKSTEP_PLUGIN_BINARY, "--version"}, {}, std::chrono::seconds(10));
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("lockstep-rollouts-plugin 0.1.0 (lockstep/http") == 0);
  const ProcessResult bad = run_process({LOCKSTEP_PLUGIN_BINARY, "--scaler-namespace=Not_A_Name"}, kCookie,
                                        std::chrono::seconds(10), true);
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("[ERROR] lockstep-rollouts-plugin: --scaler-namespace") == 0);
}

TEST_CASE("handshake line after listening, SIGTERM before any connection exits 0 and removes the socket") {
  TempDir dir;
  auto env = kCookie;
  env["TMPDIR"] = dir.path;
  env["PLUGIN_PROTOCOL_VERSIONS"] = "3,1";  // the highest common version is 1
  Child plugin({LOCKSTEP_PLUGIN_BINARY}, env);
  std::string line;
  REQUIRE(plugin.read_line(line, std::chrono::seconds(10)));
  const std::string path = socket_of(line);
  CHECK(path.rfind(dir.path + "/plugin", 0) == 0);
  struct stat st {};
  CHECK(::stat(path.c_str(), &st) == 0);  // listening before the line was printed
  CHECK(S_ISSOCK(st.st_mode));
  ::kill(plugin.pid(), SIGINT);  // ignored, as go-plugin servers do
  ::kill(plugin.pid(), SIGTERM);
  CHECK(plugin.wait(std::chrono::seconds(10)) == 0);
  CHECK(std::filesystem::is_empty(dir.path));
}

TEST_CASE("the end of the host's connection ends the process") {
  TempDir dir;
  auto env = kCookie;
  env["TMPDIR"] = dir.path;
  Child plugin({LOCKSTEP_PLUGIN_BINARY}, env);
  std::string line;
  REQUIRE(plugin.read_line(line, std::chrono::seconds(10)));
  const int fd = connect_to(socket_of(line));
  ::close(fd);
  CHECK(plugin.wait(std::chrono::seconds(10)) == 0);
  CHECK(std::filesystem::is_empty(dir.path));
}

TEST_CASE("garbage instead of yamux ends the session, not the machine") {
  TempDir dir;
  auto env = kCookie;
  env["TMPDIR"] = dir.path;
  Child plugin({LOCKSTEP_PLUGIN_BINARY}, env);
  std::string line;
  REQUIRE(plugin.read_line(line, std::chrono::seconds(10)));
  const int fd = connect_to(socket_of(line));
  const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(::write(fd, junk, sizeof junk - 1) > 0);
  char buf[64];
  // The plugin answers a bad version with GoAway(protocol error), then closes.
  ssize_t n = 0;
  size_t total = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) total += static_cast<size_t>(n);
  CHECK(total == 12);
  CHECK(buf[1] == 3);   // GoAway
  CHECK(buf[11] == 1);  // protocol error
  ::close(fd);
  CHECK(plugin.wait(std::chrono::seconds(10)) == 0);
}

}  // namespace
}  // namespace lockstep::plugin::testing
