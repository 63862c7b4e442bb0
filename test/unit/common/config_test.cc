#include "common/config.h"

#include <doctest/doctest.h>

namespace lockstep {
namespace {

using namespace std::chrono_literals;

struct Settings {
  std::string listen = "0.0.0.0:9090";
  int64_t max_routes = 100;
  double ratio = 0.5;
  bool tls = false;
  std::chrono::milliseconds grace = 10s;
  int64_t max_bytes = 4 << 20;
  std::string level = "info";
};

void bind(ConfigSchema& s, Settings& v) {
  s.add_string("ingest.listen", &v.listen, "address", [](const std::string& a) {
    return a.find(':') == std::string::npos ? std::optional<std::string>("\"" + a + "\" has no port")
                                            : std::nullopt;
  });
  s.add_int("aggregator.max_routes", &v.max_routes, 1, 1000, "routes");
  s.add_double("ratio", &v.ratio, 0, 1, "ratio");
  s.add_bool("tls", &v.tls, "tls");
  s.add_duration("aggregator.gauge_grace", &v.grace, 0ms, 1h, "grace");
  s.add_bytes("ingest.max_message_bytes", &v.max_bytes, 1024, 64 << 20, "bytes");
  s.add_choice("log_level", &v.level, {"debug", "info", "warn", "error"}, "level");
}

TEST_CASE("YAML then flags: flags win, nested maps form dotted keys") {
  ConfigSchema schema;
  Settings v;
  bind(schema, v);
  ConfigError err;
  REQUIRE(schema.load_yaml(R"(
ingest:
  listen: 127.0.0.1:7000
  max_message_bytes: 8Mi
aggregator:
  max_routes: 500
  gauge_grace: 1m30s
tls: true
log_level: debug
)",
                           "test.yaml", &err));
  CHECK(v.listen == "127.0.0.1:7000");
  CHECK(v.max_bytes == 8 << 20);
  CHECK(v.max_routes == 500);
  CHECK(v.grace == 90s);
  CHECK(v.tls);
  CHECK(v.level == "debug");
  const char* argv[] = {"prog", "--aggregator.max-routes=7", "--ingest.listen", "[::]:1", "--config",
                        "x.yaml"};
  ConfigSchema::FlagResult flags;
  REQUIRE(schema.apply_flags(6, argv, &flags, &err));
  CHECK(v.max_routes == 7);
  CHECK(v.listen == "[::]:1");
  CHECK(flags.config_path == "x.yaml");
}

TEST_CASE("errors name the key and the reason") {
  ConfigSchema schema;
  Settings v;
  bind(schema, v);
  ConfigError err;
  CHECK_FALSE(schema.load_yaml("aggregator:\n  max_routes: 5000\n", "f.yaml", &err));
  CHECK(err.key == "aggregator.max_routes");
  CHECK(err.reason.find("out of range [1, 1000]") != std::string::npos);
  CHECK(err.message().find("f.yaml") != std::string::npos);

  CHECK_FALSE(schema.load_yaml("aggregator:\n  max_rutes: 5\n", "f.yaml", &err));
  CHECK(err.key == "aggregator.max_rutes");
  CHECK(err.reason == "unknown key (did you mean \"aggregator.max_routes\"?)");

  CHECK_FALSE(schema.load_yaml("aggregator:\n  gauge_grace: 10\n", "f.yaml", &err));
  CHECK(err.reason.find("missing unit") != std::string::npos);

  CHECK_FALSE(schema.load_yaml("ingest:\n  listen: nowhere\n", "f.yaml", &err));
  CHECK(err.reason == "\"nowhere\" has no port");

  CHECK_FALSE(schema.load_yaml("log_level: loud\n", "f.yaml", &err));
  CHECK(err.reason == "\"loud\" is not one of debug|info|warn|error");

  CHECK_FALSE(schema.load_yaml("tls: maybe\n", "f.yaml", &err));
  CHECK(err.key == "tls");

  CHECK_FALSE(schema.load_yaml("ingest: [1, 2]\n", "f.yaml", &err));
  CHECK(err.key == "ingest");

  CHECK_FALSE(schema.load_yaml("a: b: c: :\n  - [", "f.yaml", &err));
  CHECK(err.reason.find("not valid YAML") != std::string::npos);

  const char* argv[] = {"prog", "--ratio=2"};
  ConfigSchema::FlagResult flags;
  CHECK_FALSE(schema.apply_flags(2, argv, &flags, &err));
  CHECK(err.key == "ratio");
  CHECK(err.origin == "flag --ratio");

  const char* argv2[] = {"prog", "stray"};
  CHECK_FALSE(schema.apply_flags(2, argv2, &flags, &err));
}

TEST_CASE("help and markdown list every option with its default") {
  ConfigSchema schema;
  Settings v;
  bind(schema, v);
  const std::string md = schema.markdown_table();
  CHECK(md.find("| `aggregator.gauge_grace` | `--aggregator.gauge-grace` | duration | `10s` |") !=
        std::string::npos);
  CHECK(md.find("debug\\|info") != std::string::npos);
  CHECK(schema.help_text().find("--ingest.max-message-bytes=<bytes>") != std::string::npos);
}

}  // namespace
}  // namespace lockstep
