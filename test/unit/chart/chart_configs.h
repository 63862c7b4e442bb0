#pragma once

// The config files and flags the Helm chart generates, as chartcheck wrote them per values
// profile: <LOCKSTEP_CHART_CONFIGS>/<profile>/{scaler,proxy}.{yaml,args}.
#include <string>
#include <vector>

namespace lockstep::chart_test {

std::vector<std::string> profiles();
std::string read_config(const std::string& profile, const std::string& file);
// The container's extra flags, one per line in <program>.args.
std::vector<std::string> read_args(const std::string& profile, const std::string& program);

}  // namespace lockstep::chart_test
