// docs/configuration.md and docs/metrics.md against the program: every option row as
// `lockstep-scaler --config-reference` prints it, every trigger metadata key, and every metric
// family the scaler's /metrics really serves.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "scaler_harness.h"
#include "scaler/trigger_spec.h"
#include "test/support/keda/fake_proxy.h"
#include "test/support/keda/keda_client.h"

#ifndef LOCKSTEP_SOURCE_DIR
#error "LOCKSTEP_SOURCE_DIR must name the repository root"
#endif

namespace lockstep::scaler {
namespace {

using namespace std::chrono_literals;

std::string read_doc(const std::string& name) {
  std::ifstream in(std::string(LOCKSTEP_SOURCE_DIR) + "/docs/" + name);
  REQUIRE_MESSAGE(in.good(), "cannot read docs/" << name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text of one "## <title>" section (up to the next "## ").
std::string section(const std::string& doc, const std::string& title) {
  const auto start = doc.find("\n## " + title + "\n");
  REQUIRE_MESSAGE(start != std::string::npos, "no section \"## " << title << "\"");
  const auto end = doc.find("\n## ", start + 1);
  return doc.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST_CASE("docs: every lockstep-scaler option and trigger key is in docs/configuration.md") {
  ScalerConfig config;
  ConfigSchema schema;
  bind_config(schema, config);
  const std::string doc = section(read_doc("configuration.md"), "lockstep-scaler");
  std::istringstream table(schema.markdown_table());
  std::string row;
  int rows = 0;
  while (std::getline(table, row)) {
    INFO("regenerate with: lockstep-scaler --config-reference (row: " << row << ")");
    CHECK(doc.find(row + "\n") != std::string::npos);
    ++rows;
  }
  CHECK(rows > 30);
  for (std::string_view key : trigger_metadata_keys()) {
    INFO("trigger metadata key " << key);
    CHECK(doc.find("| `" + std::string(key) + "` |") != std::string::npos);
  }
}

TEST_CASE("docs: every metric family on the scaler's /metrics is in docs/metrics.md") {
  ManualClock clock;
  test::Scaler scaler(clock);
  keda::KedaOptions o;
  o.address = scaler.keda_address();
  o.ns = "demo";
  o.name = "web";
  o.triggers = {{{{"hosts", "web.example.com"}, {"targetValue", "10"}}}};
  keda::KedaClient client(o);
  REQUIRE(client.reconcile().ok());
  keda::FakeProxy proxy(scaler.ingest_channel(), "proxy-1", 1);
  proxy.set_fleet("lockstep/lockstep-proxy");
  REQUIRE(proxy.connect());
  const uint32_t id = proxy.define("demo/web", "web");
  proxy.count(id, 3);
  proxy.gauges(id, 1, 1);
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  client.poll();
  auto [code, body] = test::http_get(scaler.server->admin_port(), "/metrics");
  REQUIRE(code == 200);
  std::set<std::string> families;
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    families.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  CHECK(families.size() > 20);
  const std::string doc = section(read_doc("metrics.md"), "lockstep-scaler");
  for (const auto& f : families) {
    INFO("metric family " << f);
    CHECK(doc.find("| `" + f + "` |") != std::string::npos);
  }
}

}  // namespace
}  // namespace lockstep::scaler
