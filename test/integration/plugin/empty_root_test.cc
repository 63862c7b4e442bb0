// The static plugin in the controller's kind of environment: an otherwise empty, read-only root
// (the binary, /tmp, the service-account files), uid 999. It completes the handshake on a unix
// socket, serves calls, reaches the (fake) API server over TLS by IP, and under strace never
// touches /etc, a shared library or port 53: no NSS, no DNS.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "test/peers/plugin/empty_root.h"
#include "test/peers/plugin/plugin_cluster.h"
#include "test/peers/plugin/subprocess.h"
#include "test/unit/plugin/argo_specs.h"
#include "test/unit/plugin/plugin_test_client.h"

#ifndef LOCKSTEP_PLUGIN_BINARY
#error "LOCKSTEP_PLUGIN_BINARY and LOCKSTEP_EMPTY_ROOT_SCRIPT must be defined"
#endif

namespace lockstep::plugin::testing {
namespace {

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

// The plugin's own syscalls in an strace -f log: the root pid from its execve of the plugin on,
// plus every thread it clones.
std::vector<std::string> plugin_syscalls(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line;
  std::set<std::string> ours;
  std::vector<std::string> out;
  const std::regex exec_re(R"re(^(\d+) +execve\("/lockstep-rollouts-plugin")re");
  const std::regex clone_re(R"re(^(\d+) +clone3?\(.*= (\d+)$)re");
  const std::regex pid_re(R"re(^(\d+) )re");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, exec_re)) ours.insert(m[1]);
    if (!std::regex_search(line, m, pid_re) || ours.count(m[1]) == 0) continue;
    out.push_back(line);
    if (std::regex_search(line, m, clone_re)) ours.insert(m[2]);
  }
  return out;
}

TEST_CASE("the static plugin serves Argo's calls from an empty read-only root as uid 999") {
  PluginCluster cluster(0);
  EmptyRoot root(cluster, LOCKSTEP_PLUGIN_BINARY);
  CHECK(root.entries() == std::set<std::string>{
                              "/lockstep-rollouts-plugin", "/tmp", "/var", "/var/run",
                              "/var/run/secrets", "/var/run/secrets/kubernetes.io",
                              "/var/run/secrets/kubernetes.io/serviceaccount",
                              "/var/run/secrets/kubernetes.io/serviceaccount/token",
                              "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                              "/var/run/secrets/kubernetes.io/serviceaccount/namespace"});
  const bool use_strace = ::access("/usr/bin/strace", X_OK) == 0;
  const std::string trace_log = root.tmp + ".strace";
  std::vector<std::string> argv;
  if (use_strace) {
    argv = {"/usr/bin/strace", "-f", "-qq", "-e", "trace=%file,%network,%process", "-o", trace_log};
  } else {
    MESSAGE("strace not installed: the no-NSS/no-DNS check is skipped (scripts/bootstrap installs it)");
  }
  for (const char* a : {LOCKSTEP_EMPTY_ROOT_SCRIPT}) argv.push_back(a);
  argv.push_back(root.root);
  argv.push_back(root.tmp);
  argv.push_back("--log-level=debug");
  Child plugin(argv, {{"ARGO_ROLLOUTS_RPC_PLUGIN", "trafficrouter"},
                      {"PLUGIN_PROTOCOL_VERSIONS", "1"},
                      {"PLUGIN_MIN_PORT", "10000"},
                      {"PLUGIN_MAX_PORT", "25000"},
                      {"KUBERNETES_SERVICE_HOST", "127.0.0.1"},
                      {"KUBERNETES_SERVICE_PORT", std::to_string(cluster.api().port())}});
  REQUIRE(plugin.started());
  std::string line;
  if (!plugin.read_line(line, std::chrono::seconds(20))) {
    const int code = plugin.wait(std::chrono::seconds(5));
    if (code == 77) {
      MESSAGE("skipped: this machine cannot create a mount namespace for the empty root");
      return;
    }
    FAIL("no handshake line (exit " << code << ")");
  }
  // 1|1|unix|/tmp/pluginXXXX|netrpc|
  const std::regex handshake(R"(^1\|1\|unix\|(/tmp/plugin[^|]+)\|netrpc\|$)");
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_match(line, m, handshake), line);
  const std::string host_path = root.tmp + m[1].str().substr(4);
  struct stat st {};
  REQUIRE(::stat(host_path.c_str(), &st) == 0);
  CHECK(st.st_uid == 999);  // created by the plugin, running as 999

  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, host_path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  {
    TestYamuxClient mux(fd);
    const uint32_t control_id = mux.open();
    mux.open();
    mux.open();
    TestRpcClient control(mux, control_id);
    gob::Value body;
    REQUIRE(control.call("Dispenser.Dispense", gob::string_spec(),
                         gob::Value::of_string("RpcTrafficRouterPlugin"), body) == "");
    const auto broker_id = static_cast<uint32_t>(body.as_uint());
    const uint32_t broker = mux.open();
    REQUIRE(mux.write(broker, le32(broker_id)));
    std::string ack;
    REQUIRE(mux.read(broker, 4, ack));
    TestRpcClient rpc(mux, broker);
    ArgoSpecs specs;
    gob::Encoder unused;
    specs.register_names(unused);
    rpc.register_name("SetWeightAndVerifyWeightArgs", specs.set_weight_args);

    CHECK(rpc.call("Plugin.InitPlugin", gob::interface_spec(), gob::Value(), body) == "");
    CHECK(body["ErrorString"].as_string() == "");
    CHECK(rpc.call("Plugin.Type", gob::interface_spec(), gob::Value(), body) == "");
    CHECK(body.as_string() == "Lockstep");
    const gob::Value ro = ArgoSpecs::rollout_value("shop", "recommender", R"({"scaledObjectName":"recommender-so"})");
    CHECK(rpc.call("Plugin.SetWeight", gob::interface_spec(), ArgoSpecs::set_weight(ro, 25), body) == "");
    CHECK(body["ErrorString"].as_string() == "");
    const auto split = cluster.split();
    REQUIRE(split);
    CHECK((*split)["canaryWeight"] == 25);
    CHECK((*split)["stableService"] == "recommender-stable");

    CHECK(control.call("Control.Quit", gob::bool_spec(), gob::Value::of_bool(true), body) == "");
    CHECK(plugin.wait(std::chrono::seconds(5)) == 0);
  }
  CHECK(::stat(host_path.c_str(), &st) != 0);  // the socket is gone

  if (use_strace) {
    const auto calls = plugin_syscalls(trace_log);
    REQUIRE(calls.size() > 10);
    size_t connects = 0;
    for (const std::string& call : calls) {
      INFO(call);
      // NSS and the resolver read these; /etc/localtime (tzset) is neither and is absent in the
      // distroless image as well (UTC).
      for (const char* file : {"/etc/nsswitch.conf", "/etc/hosts", "/etc/resolv.conf", "/etc/host.conf",
                               "/etc/gai.conf", "/etc/passwd", "/etc/group", "/etc/services"}) {
        CHECK(call.find(std::string("\"") + file) == std::string::npos);
      }
      CHECK(call.find(".so") == std::string::npos);      // no NSS module dlopen'd
      CHECK(call.find("htons(53)") == std::string::npos);  // no DNS query
      connects += call.find("connect(") != std::string::npos;
    }
    CHECK(connects >= 1);  // the API server, by IP
    std::filesystem::remove(trace_log);
  }
}

}  // namespace
}  // namespace lockstep::plugin::testing
