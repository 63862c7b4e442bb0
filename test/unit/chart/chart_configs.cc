#include "test/unit/chart/chart_configs.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

namespace lockstep::chart_test {

std::vector<std::string> profiles() {
  std::vector<std::string> out;
  std::istringstream in(LOCKSTEP_CHART_PROFILES);
  std::string p;
  while (std::getline(in, p, ',')) {
    if (!p.empty()) out.push_back(p);
  }
  return out;
}

std::string read_config(const std::string& profile, const std::string& file) {
  const std::string path = std::string(LOCKSTEP_CHART_CONFIGS) + "/" + profile + "/" + file;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path << " (the 'chart: render program configs' tests write it)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> read_args(const std::string& profile, const std::string& program) {
  std::istringstream in(read_config(profile, program + ".args"));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace lockstep::chart_test
