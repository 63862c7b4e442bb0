#pragma once

// The plugin's stderr speaks hclog's JSON format, which go-plugin's host parses line by line
// (log_entry.go): "@message", "@level" and "@timestamp" as strings, every other key becomes a
// key/value pair in the controller's log.

#include <chrono>
#include <string>
#include <string_view>

#include "common/log.h"

namespace lockstep::plugin {

// Rewrites one line of lockstep's structured log ({"ts","level","component","msg",...}) as an
// hclog JSON line stamped with `now`. A line that is not JSON is passed on as an [INFO] line.
std::string to_hclog_line(std::string_view lockstep_line,
                          std::chrono::system_clock::time_point now);

// A Logger sink writing hclog lines to file descriptor `fd` (2 in the plugin).
Logger::Sink hclog_sink(int fd);

}  // namespace lockstep::plugin
