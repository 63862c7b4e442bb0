#include "common/log.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace lockstep {
namespace {

TEST_CASE("Logger writes one JSON line per call with escaped fields and filters by level") {
  std::vector<std::string> lines;
  Logger root(LogLevel::kInfo, [&](std::string_view line) { lines.emplace_back(line); });
  Logger log = root.child("ingest");
  log.debug("hidden");
  log.info("stream \"opened\"", {{"proxy", "p\n1"}});
  REQUIRE(lines.size() == 1);
  const std::string& line = lines[0];
  CHECK(line.back() == '\n');
  CHECK(line.find("\"level\":\"info\"") != std::string::npos);
  CHECK(line.find("\"component\":\"ingest\"") != std::string::npos);
  CHECK(line.find("\"msg\":\"stream \\\"opened\\\"\"") != std::string::npos);
  CHECK(line.find("\"proxy\":\"p\\n1\"") != std::string::npos);
}

TEST_CASE("parse_log_level accepts the four names and rejects others") {
  LogLevel level = LogLevel::kInfo;
  CHECK(parse_log_level("debug", level));
  CHECK(level == LogLevel::kDebug);
  CHECK(parse_log_level("error", level));
  CHECK(level == LogLevel::kError);
  CHECK_FALSE(parse_log_level("verbose", level));
  CHECK(level == LogLevel::kError);
}

TEST_CASE("append_json_escaped escapes control characters") {
  std::string out;
  append_json_escaped(out, std::string_view("a\x01" "b", 3));
  CHECK(out == "a\\u0001b");
}

}  // namespace
}  // namespace lockstep
