#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace lockstep {

// Parses a Go-style duration ("500ms", "1m30s", "1.5h", "0"): one or more decimal numbers, each
// with an optional fraction and a unit (ns, us, µs, ms, s, m, h). No sign, no spaces; "0" is the
// only number allowed without a unit. On failure returns false and says why in `error` (without
// naming the field: the caller knows it).
bool parse_duration(std::string_view text, std::chrono::nanoseconds& out, std::string* error);

// Formats a duration the way Go prints it, shortest exact form: "1m30s", "500ms", "1h", "0s".
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace lockstep
