#include "rollout/plugin/plugin_process.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "rollout/plugin/hclog_sink.h"
#include "rollout/plugin/plugin_options.h"

namespace lockstep::plugin {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/lockstep-plugin-testXXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_CASE("the magic cookie must hold Argo's value") {
  CHECK(has_magic_cookie({{"ARGO_ROLLOUTS_RPC_PLUGIN", "trafficrouter"}}));
  CHECK_FALSE(has_magic_cookie({{"ARGO_ROLLOUTS_RPC_PLUGIN", "metricprovider"}}));
  CHECK_FALSE(has_magic_cookie({}));
  CHECK(not_a_plugin_message().find("This binary is a plugin") == 0);
}

TEST_CASE("protocol version negotiation picks the highest common version") {
  CHECK(negotiate_version({}, {1}).version == 1);
  CHECK(negotiate_version({{"PLUGIN_PROTOCOL_VERSIONS", "1"}}, {1}).version == 1);
  CHECK(negotiate_version({{"PLUGIN_PROTOCOL_VERSIONS", "3,1,2"}}, {1, 2}).version == 2);
  const VersionChoice bad = negotiate_version({{"PLUGIN_PROTOCOL_VERSIONS", "x,1"}}, {1});
  CHECK(bad.version == 1);
  REQUIRE(bad.warnings.size() == 1);
  CHECK(bad.warnings[0].find("\"x\"") != std::string::npos);
  const VersionChoice none = negotiate_version({{"PLUGIN_PROTOCOL_VERSIONS", "5"}}, {1});
  CHECK(none.version == 1);  // announced anyway: the host reports the mismatch
  CHECK(none.warnings.size() == 1);
}

TEST_CASE("unix listener: a fresh socket in PLUGIN_UNIX_SOCKET_DIR, else TMPDIR, removed on close") {
  TempDir a;
  TempDir b;
  std::string error;
  auto l = PluginListener::open(Transport::kUnix, {{"PLUGIN_UNIX_SOCKET_DIR", a.path()}, {"TMPDIR", b.path()}}, error);
  REQUIRE_MESSAGE(l, error);
  const std::string path(l->address());
  CHECK(path.rfind(a.path() + "/plugin", 0) == 0);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK(l->handshake_line(1) == "1|1|unix|" + path + "|netrpc|\n");
  l->close();
  CHECK(::stat(path.c_str(), &st) != 0);

  auto t = PluginListener::open(Transport::kUnix, {{"TMPDIR", b.path() + "/"}}, error);
  REQUIRE(t);
  CHECK(std::string(t->address()).rfind(b.path() + "/plugin", 0) == 0);
  const std::string tpath(t->address());
  t.reset();  // the destructor removes the socket too
  CHECK(::stat(tpath.c_str(), &st) != 0);
}

TEST_CASE("the listener accepts the host's connection and stops on the stop pipe") {
  TempDir dir;
  std::string error;
  auto l = PluginListener::open(Transport::kUnix, {{"TMPDIR", dir.path()}}, error);
  REQUIRE(l);
  const int client = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, std::string(l->address()).c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  int stop[2];
  REQUIRE(::pipe(stop) == 0);
  const int conn = l->accept(stop[0]);
  CHECK(conn >= 0);
  ::close(conn);
  ::close(client);
  REQUIRE(::write(stop[1], "x", 1) == 1);
  CHECK(l->accept(stop[0]) == -1);
  ::close(stop[0]);
  ::close(stop[1]);
}

TEST_CASE("unix listener errors name the problem") {
  std::string error;
  CHECK_FALSE(PluginListener::open(Transport::kUnix, {{"TMPDIR", "/nonexistent-dir"}}, error));
  CHECK(error.find("/nonexistent-dir") != std::string::npos);
  CHECK_FALSE(PluginListener::open(Transport::kUnix, {{"TMPDIR", "/tmp/" + std::string(120, 'x')}}, error));
  CHECK(error.find("longer than") != std::string::npos);
  TempDir dir;
  CHECK_FALSE(PluginListener::open(Transport::kUnix, {{"TMPDIR", dir.path()}, {"PLUGIN_UNIX_SOCKET_GROUP", "no-such-group-xyz"}}, error));
  CHECK(error.find("unknown group") != std::string::npos);
  // The failed listener removed its socket.
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("PLUGIN_UNIX_SOCKET_GROUP gives a numeric group access with mode 0660") {
  TempDir dir;
  std::string error;
  auto l = PluginListener::open(Transport::kUnix, {{"TMPDIR", dir.path()}, {"PLUGIN_UNIX_SOCKET_GROUP", std::to_string(::getgid())}}, error);
  REQUIRE_MESSAGE(l, error);
  struct stat st {};
  REQUIRE(::stat(std::string(l->address()).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  CHECK(st.st_gid == ::getgid());
}

TEST_CASE("group names resolve from the group file without NSS") {
  TempDir dir;
  const std::string file = dir.path() + "/group";
  std::ofstream(file) << "root:x:0:\nargo:x:999:controller\nbroken\n";
  CHECK(group_id("argo", file) == 999);
  CHECK(group_id("root", file) == 0);
  CHECK(group_id("42", file) == 42);
  CHECK(group_id("nobody-here", file) == -1);
  CHECK(group_id("broken", file) == -1);
}

TEST_CASE("tcp listener: 127.0.0.1 within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT") {
  std::string error;
  auto any = PluginListener::open(Transport::kTcp, {}, error);
  REQUIRE_MESSAGE(any, error);
  CHECK(std::string(any->address()).rfind("127.0.0.1:", 0) == 0);
  const int taken = std::stoi(std::string(any->address()).substr(10));
  // A range whose first port is taken: the next one is used.
  auto next = PluginListener::open(Transport::kTcp, {{"PLUGIN_MIN_PORT", std::to_string(taken)}, {"PLUGIN_MAX_PORT", std::to_string(taken + 50)}}, error);
  if (next) {
    const int port = std::stoi(std::string(next->address()).substr(10));
    CHECK(port > taken);
    CHECK(port <= taken + 50);
    CHECK(next->handshake_line(1) == "1|1|tcp|" + std::string(next->address()) + "|netrpc|\n");
  }
  CHECK_FALSE(PluginListener::open(Transport::kTcp, {{"PLUGIN_MIN_PORT", std::to_string(taken)}, {"PLUGIN_MAX_PORT", std::to_string(taken)}}, error));
  CHECK(error.find("couldn't bind") != std::string::npos);
  CHECK_FALSE(PluginListener::open(Transport::kTcp, {{"PLUGIN_MIN_PORT", "20"}, {"PLUGIN_MAX_PORT", "10"}}, error));
  CHECK(error.find("greater than") != std::string::npos);
  CHECK_FALSE(PluginListener::open(Transport::kTcp, {{"PLUGIN_MIN_PORT", "ten"}}, error));
  CHECK(error.find("PLUGIN_MIN_PORT") != std::string::npos);
}

TEST_CASE("log lines become hclog JSON with string @message, @level, @timestamp") {
  const auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'800'000'000'123'456));
  const std::string out = to_hclog_line(
      R"({"ts":"2027-01-15T08:00:00.123Z","level":"warn","component":"router","msg":"split \"x\"","rollout":"shop/web"})"
      "\n",
      t);
  CHECK(out == R"({"@level":"warn","@message":"split \"x\"","@module":"lockstep.router","@timestamp":"2027-01-15T08:00:00.123456Z","rollout":"shop/web"})"
               "\n");
  CHECK(to_hclog_line("not json", t) == "[INFO] not json\n");
  // Through a real Logger.
  std::string captured;
  Logger log(LogLevel::kDebug, [&](std::string_view line) { captured += to_hclog_line(line, t); });
  log.child("server").debug("hello", {{"k", "v"}});
  CHECK(std::regex_search(captured, std::regex(R"(^\{"@level":"debug","@message":"hello","@module":"lockstep.server","@timestamp":"[0-9T:.-]{26}Z","k":"v"\}\n$)")));
}

TEST_CASE("flags: values are validated and named in errors") {
  PluginOptions o;
  std::string error;
  const char* ok[] = {"plugin", "--log-level=debug", "--transport=tcp", "--scaler-service=s", "--scaler-namespace=n", "--scaler-admin-port=9100", "--kube-timeout=3s", "--verify-timeout=500ms", "--call-workers=8", "--serviceaccount-dir=/sa"};
  REQUIRE_MESSAGE(parse_plugin_options(10, ok, o, error), error);
  CHECK(o.log_level == LogLevel::kDebug);
  CHECK(o.transport == Transport::kTcp);
  CHECK(o.kube_timeout == std::chrono::seconds(3));
  CHECK(o.verify_timeout == std::chrono::milliseconds(500));
  CHECK(o.call_workers == 8);
  CHECK(o.serviceaccount_dir == "/sa");
  for (const char* bad : {"--log-level=loud", "--transport=udp", "--scaler-service=Bad_Name", "--scaler-admin-port=0", "--kube-timeout=5", "--call-workers=0", "--nope=1", "positional"}) {
    PluginOptions p;
    const char* argv[] = {"plugin", bad};
    CHECK_FALSE(parse_plugin_options(2, argv, p, error));
    CHECK(!error.empty());
  }
  const char* version[] = {"plugin", "--version"};
  CHECK(parse_plugin_options(2, version, o, error));
  CHECK(o.version);
}

}  // namespace
}  // namespace lockstep::plugin
