#pragma once

// Splits a PromQL expression at its top-level binary operator of lowest precedence, so that an
// alert condition that is empty in a healthy run ("up == 0", "x > 0", "a or absent(b)") can be
// checked through the series it is built from: the operands, with vector-matching modifiers
// (on/ignoring/group_left/group_right/bool) dropped and number literals skipped; absent(x) and
// absent_over_time(x[d]) stand for x. Parentheses, brackets, braces and strings are respected.

#include <string>
#include <vector>

namespace lockstep::demo {

struct PromqlSplit {
  std::string op;  // "" when the expression has no top-level binary operator
  std::vector<std::string> operands;  // non-literal operands, trimmed
};

PromqlSplit split_promql(const std::string& expr);

// "absent(x)" -> "x", "absent_over_time(x[5m])" -> "x"; otherwise "".
std::string absent_argument(const std::string& expr);

}  // namespace lockstep::demo
