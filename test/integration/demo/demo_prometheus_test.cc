// The real Prometheus server (Debian's) scrapes the demo's lockstep-scaler and lockstep-proxy
// while the `quick` demo scenario runs, with lockstep's rule file loaded. Then every dashboard
// expression (exported by `chartcheck dashboard --emit`) and every alert expression is evaluated
// through Prometheus's HTTP API over the whole run (query_range, 1 s steps): each must return
// data. An alert condition that is empty in a healthy run ("up == 0", "rate(x) > 0") is checked
// through the series it is built from instead: the operands of its top-level comparison or set
// operator, and x for absent(x) (promql_operands.h). No firing alert is allowed either.
#include <doctest/doctest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "demo/child_process.h"
#include "demo/demo_run.h"
#include "demo/http_get.h"
#include "test/integration/demo/promql_operands.h"

namespace lockstep::demo {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string url_encode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Evaluation {
  std::string source;  // "dashboard: <panel> <ref>" or "alert: <name>"
  std::string expr;
  bool ok = false;
  std::string how;  // "returns data", "through its operands: ...", or why not
};

class PrometheusApi {
 public:
  PrometheusApi(uint16_t port, double start) : port_(port), start_(start) {}

  // Number of series the expression returned at any step of the run; -1 on an API error.
  int series(const std::string& expr, std::string* error) const {
    const double end = static_cast<double>(std::time(nullptr));
    const std::string target = "/api/v1/query_range?query=" + url_encode(expr) + "&start=" +
                               std::to_string(static_cast<long>(start_)) + "&end=" +
                               std::to_string(static_cast<long>(end)) + "&step=1";
    const HttpGetResult r = http_get(port_, target, 10s);
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (r.status != 200 || j.is_discarded() || j.value("status", "") != "success") {
      *error = std::to_string(r.status) + " " + r.error + " " + r.body.substr(0, 300);
      return -1;
    }
    return static_cast<int>(j["data"]["result"].size());
  }

  // Data directly, or (an empty condition) through every operand, recursively.
  bool evaluate(const std::string& expr, std::string* how, int depth = 0) const {
    std::string error;
    const int n = series(expr, &error);
    if (n < 0) {
      *how = "query failed: " + error;
      return false;
    }
    if (n > 0) {
      *how = depth == 0 ? "returns data (" + std::to_string(n) + " series)" : "";
      return true;
    }
    std::vector<std::string> parts;
    std::string op;
    if (const std::string arg = absent_argument(expr); !arg.empty()) {
      parts = {arg};
      op = "absent";
    } else {
      const PromqlSplit split = split_promql(expr);
      parts = split.operands;
      op = split.op;
    }
    if (parts.empty()) {
      *how = "no data, and no operator to look through: \"" + expr + "\"";
      return false;
    }
    std::string detail = "empty (healthy run); through '" + op + "' operands:";
    for (const auto& part : parts) {
      std::string sub;
      if (!evaluate(part, &sub, depth + 1)) {
        *how = detail + " \"" + part + "\" -> " + sub;
        return false;
      }
      detail += " [" + part.substr(0, 80) + "] has data;";
    }
    *how = detail;
    return true;
  }

 private:
  uint16_t port_;
  double start_;
};

TEST_CASE("Prometheus scrapes the demo, every dashboard and alert expression returns data") {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  const std::string dir = std::string(LOCKSTEP_DEMO_RUNS) + "/prometheus-" + stamp + "-" + std::to_string(::getpid());
  fs::create_directories(dir + "/prometheus-data");
  const std::string rules = std::string(LOCKSTEP_ROOT_DIR) + "/charts/lockstep/files/lockstep.rules.yaml";

  // The rules pass promtool; the dashboard's expressions come from chartcheck.
  REQUIRE(run(std::string(LOCKSTEP_PROMTOOL) + " check rules " + rules + " > " + dir + "/promtool-rules.log 2>&1") == 0);
  const std::string exprs_file = dir + "/dashboard-exprs.json";
  REQUIRE(run(std::string(LOCKSTEP_CHARTCHECK) + " dashboard --file " + LOCKSTEP_ROOT_DIR +
              "/charts/lockstep/dashboards/lockstep.json --promtool " + LOCKSTEP_PROMTOOL + " --workdir " + dir +
              "/chartcheck --emit " + exprs_file + " > " + dir + "/chartcheck.log 2>&1") == 0);
  std::vector<Evaluation> evaluations;
  for (const auto& e : nlohmann::json::parse(read_file(exprs_file))) {
    evaluations.push_back({"dashboard: " + e.value("panel", "") + " " + e.value("refId", ""), e.value("expr", ""), false, {}});
  }
  REQUIRE(evaluations.size() >= 10);
  for (const auto& group : YAML::LoadFile(rules)["groups"]) {
    for (const auto& rule : group["rules"]) {
      if (rule["alert"]) evaluations.push_back({"alert: " + rule["alert"].as<std::string>(), rule["expr"].as<std::string>(), false, {}});
    }
  }

  ChildProcess prometheus;
  uint16_t prom_port = 0;
  const double started = static_cast<double>(std::time(nullptr)) - 1;
  std::string failure;
  int firing = -1;
  size_t targets_up = 0;

  DemoOptions o;
  o.manifests_dir = std::string(LOCKSTEP_DEMO_EXAMPLES) + "/manifests";
  o.scaler_config = std::string(LOCKSTEP_DEMO_EXAMPLES) + "/scaler.yaml";
  o.proxy_config = std::string(LOCKSTEP_DEMO_EXAMPLES) + "/proxy.yaml";
  o.scaler_bin = LOCKSTEP_DEMO_SCALER;
  o.proxy_bin = LOCKSTEP_DEMO_PROXY;
  o.backend_bin = LOCKSTEP_DEMO_BACKEND;
  o.run_dir = dir + "/demo";
  o.profile = quick_profile();
  o.quiet = true;
  o.live_view = false;
  o.picture = false;
  o.duration = std::chrono::seconds(170);
  o.after_start = [&](const DemoPorts& ports) {
    // The checked scrape configuration, with 1 s intervals and the demo's real ports.
    YAML::Node config = YAML::LoadFile(LOCKSTEP_PROMETHEUS_STATIC);
    config["global"]["scrape_interval"] = "1s";
    config["global"]["evaluation_interval"] = "1s";
    config["rule_files"] = YAML::Node(YAML::NodeType::Sequence);
    config["rule_files"].push_back(rules);
    for (auto job : config["scrape_configs"]) {
      const std::string name = job["job_name"].as<std::string>();
      const uint16_t port = name == "lockstep-scaler" ? ports.scaler_admin : ports.proxy_admin;
      job["static_configs"][0]["targets"][0] = "127.0.0.1:" + std::to_string(port);
    }
    YAML::Emitter out;
    out << config;
    std::ofstream(dir + "/prometheus.yml") << out.c_str() << "\n";
    if (run(std::string(LOCKSTEP_PROMTOOL) + " check config " + dir + "/prometheus.yml > " + dir +
            "/promtool-config.log 2>&1") != 0) {
      failure = "promtool check config failed: " + read_file(dir + "/promtool-config.log");
      return;
    }
    prom_port = free_loopback_port();
    ChildProcess::Options po;
    po.program = LOCKSTEP_PROMETHEUS;
    po.args = {"--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/prometheus-data",
               "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"};
    po.log_file = dir + "/prometheus.log";
    std::string error;
    if (!prometheus.start(po, &error)) {
      failure = "prometheus: " + error;
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!http_get(prom_port, "/-/ready", 500ms).ok()) {
      if (std::chrono::steady_clock::now() > deadline || !prometheus.running()) {
        failure = "prometheus did not become ready:\n" + read_file(po.log_file);
        return;
      }
      std::this_thread::sleep_for(100ms);  // Prometheus has no readiness notification
    }
  };
  o.before_teardown = [&](const DemoPorts&) {
    if (!failure.empty() || prom_port == 0) return;
    // Two more scrapes and a rule evaluation so the last state is in.
    std::this_thread::sleep_for(2500ms);
    const auto targets = nlohmann::json::parse(http_get(prom_port, "/api/v1/targets", 5s).body, nullptr, false);
    if (!targets.is_discarded()) {
      for (const auto& t : targets["data"]["activeTargets"]) targets_up += t.value("health", "") == "up" ? 1 : 0;
    }
    PrometheusApi api(prom_port, started);
    for (auto& e : evaluations) e.ok = api.evaluate(e.expr, &e.how);
    std::string error;
    firing = api.series("ALERTS{alertstate=\"firing\"}", &error);
  };

  DemoRun demo(o);
  const DemoResult result = demo.run();
  prometheus.terminate();
  INFO("run directory: " << dir);
  REQUIRE(result.error.empty());
  REQUIRE(failure.empty());
  CHECK(result.completed);
  CHECK(targets_up == 2);
  std::ostringstream table;
  size_t bad = 0;
  for (const auto& e : evaluations) {
    table << (e.ok ? "[ ok ] " : "[FAIL] ") << e.source << "\n       " << e.expr.substr(0, 160) << "\n       " << e.how
          << "\n";
    bad += e.ok ? 0 : 1;
  }
  std::ofstream(dir + "/evaluations.txt") << table.str();
  MESSAGE(evaluations.size() << " expressions, " << bad << " without data:\n" << table.str());
  for (const auto& e : evaluations) {
    CAPTURE(e.source);
    CAPTURE(e.expr);
    CAPTURE(e.how);
    CHECK(e.ok);
  }
  CHECK(firing == 0);
}

}  // namespace
}  // namespace lockstep::demo
