#include "test/integration/demo/promql_operands.h"

#include <cctype>
#include <regex>

namespace lockstep::demo {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }

struct Cut {
  size_t at;
  size_t len;
  std::string op;
};

// Top-level operators of one precedence level.
std::vector<Cut> find_level(const std::string& e, int level) {
  std::vector<Cut> cuts;
  int depth = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    const char c = e[i];
    if (c == '"' || c == '\'' || c == '`') {
      for (++i; i < e.size() && e[i] != c; ++i) {
        if (e[i] == '\\' && c != '`') ++i;
      }
      continue;
    }
    if (c == '(' || c == '[' || c == '{') {
      ++depth;
      continue;
    }
    if (c == ')' || c == ']' || c == '}') {
      --depth;
      continue;
    }
    if (depth != 0) continue;
    if (level == 2) {
      const char n = i + 1 < e.size() ? e[i + 1] : '\0';
      if ((c == '=' || c == '!' || c == '<' || c == '>') && n == '=') {
        cuts.push_back({i, 2, e.substr(i, 2)});
        ++i;
      } else if (c == '<' || c == '>') {
        cuts.push_back({i, 1, std::string(1, c)});
      }
      continue;
    }
    if (!is_word_char(c) || (i > 0 && is_word_char(e[i - 1]))) continue;
    size_t j = i;
    while (j < e.size() && is_word_char(e[j])) ++j;
    const std::string word = e.substr(i, j - i);
    if ((level == 0 && word == "or") || (level == 1 && (word == "and" || word == "unless"))) {
      cuts.push_back({i, word.size(), word});
    }
    i = j - 1;
  }
  return cuts;
}

// Drops "bool", "on(...)"/"ignoring(...)" and "group_left(...)"/"group_right(...)" at the start.
std::string strip_modifiers(std::string s) {
  static const std::regex kModifier(
      R"(^\s*(bool\b|(on|ignoring)\s*\([^)]*\)|(group_left|group_right)(\s*\([^)]*\))?))");
  std::smatch m;
  while (std::regex_search(s, m, kModifier)) s = s.substr(static_cast<size_t>(m.length(0)));
  return trim(s);
}

bool is_number(const std::string& s) {
  static const std::regex kNumber(R"(^[-+]?(([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)|Inf|NaN|inf|nan)$)");
  return std::regex_match(s, kNumber);
}

}  // namespace

PromqlSplit split_promql(const std::string& expr) {
  PromqlSplit out;
  const std::string e = trim(expr);
  for (int level = 0; level < 3; ++level) {
    const auto cuts = find_level(e, level);
    if (cuts.empty()) continue;
    out.op = cuts.front().op;
    size_t start = 0;
    for (size_t k = 0; k <= cuts.size(); ++k) {
      const size_t end = k < cuts.size() ? cuts[k].at : e.size();
      std::string part = trim(e.substr(start, end - start));
      if (k > 0) part = strip_modifiers(part);
      if (!part.empty() && !is_number(part)) out.operands.push_back(part);
      if (k < cuts.size()) start = cuts[k].at + cuts[k].len;
    }
    return out;
  }
  // "(a > 0)": look inside redundant outer parentheses.
  if (e.size() > 2 && e.front() == '(' && e.back() == ')') {
    int depth = 0;
    bool outer = true;
    for (size_t i = 0; i + 1 < e.size(); ++i) {
      depth += e[i] == '(' ? 1 : e[i] == ')' ? -1 : 0;
      if (depth == 0) {
        outer = false;
        break;
      }
    }
    if (outer) return split_promql(e.substr(1, e.size() - 2));
  }
  return out;
}

std::string absent_argument(const std::string& expr) {
  static const std::regex kAbsent(R"(^\s*(absent|absent_over_time)\s*\(([\s\S]*)\)\s*$)");
  std::smatch m;
  if (!std::regex_match(expr, m, kAbsent)) return "";
  std::string arg = trim(m[2].str());
  if (m[1] == "absent_over_time") {
    // Drop the trailing range selector "[5m]".
    if (!arg.empty() && arg.back() == ']') {
      const size_t open = arg.rfind('[');
      if (open != std::string::npos) arg = trim(arg.substr(0, open));
    }
  }
  return arg;
}

}  // namespace lockstep::demo
