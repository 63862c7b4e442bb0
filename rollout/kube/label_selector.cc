#include "rollout/kube/label_selector.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <tuple>

namespace lockstep::kube {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool set_error(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

// 1..63 of [A-Za-z0-9-_.], alphanumeric at both ends.
bool is_label_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  bool parse(std::vector<LabelSelector::Requirement>& out, std::string& error) {
    skip_space();
    if (at_end()) return true;
    for (;;) {
      LabelSelector::Requirement req;
      if (!requirement(req, error)) return false;
      out.push_back(std::move(req));
      skip_space();
      if (at_end()) return true;
      if (text_[pos_] != ',') return fail(error, "expected ',' between requirements");
      ++pos_;
      skip_space();
      if (at_end()) return fail(error, "expected a requirement after ','");
    }
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  void skip_space() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  bool fail(std::string& error, std::string_view what) {
    error = "label selector: position " + std::to_string(pos_) + ": " + std::string(what);
    return false;
  }
  static bool is_word_char(char c) {
    return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
  }
  std::string_view word() {
    const size_t start = pos_;
    while (!at_end() && is_word_char(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  bool key(std::string& out, std::string& error) {
    const size_t start = pos_;
    std::string_view k = word();
    if (k.empty()) return fail(error, "expected a label key");
    std::string why;
    if (!is_qualified_name(k, &why)) {
      pos_ = start;
      return fail(error, "invalid key \"" + std::string(k) + "\": " + why);
    }
    out = std::string(k);
    return true;
  }

  bool value(std::string& out, std::string& error) {
    const size_t start = pos_;
    std::string_view v = word();
    std::string why;
    if (!is_label_value(v, &why)) {
      pos_ = start;
      return fail(error, "invalid value \"" + std::string(v) + "\": " + why);
    }
    out = std::string(v);
    return true;
  }

  bool requirement(LabelSelector::Requirement& req, std::string& error) {
    if (text_[pos_] == '!') {
      ++pos_;
      skip_space();
      if (!key(req.key, error)) return false;
      req.op = LabelSelector::Op::kDoesNotExist;
      return true;
    }
    if (!key(req.key, error)) return false;
    skip_space();
    if (at_end() || text_[pos_] == ',') {
      req.op = LabelSelector::Op::kExists;
      return true;
    }
    const char c = text_[pos_];
    if (c == '=' || c == '!' || c == '>' || c == '<') {
      if (c == '=') {
        req.op = LabelSelector::Op::kEquals;
        ++pos_;
        if (!at_end() && text_[pos_] == '=') ++pos_;
      } else if (c == '!') {
        ++pos_;
        if (at_end() || text_[pos_] != '=') return fail(error, "expected '=' after '!'");
        ++pos_;
        req.op = LabelSelector::Op::kNotEquals;
      } else {
        ++pos_;
        req.op = c == '>' ? LabelSelector::Op::kGreaterThan : LabelSelector::Op::kLessThan;
      }
      skip_space();
      std::string v;
      if (!value(v, error)) return false;
      if (req.op == LabelSelector::Op::kGreaterThan || req.op == LabelSelector::Op::kLessThan) {
        int64_t n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || p != v.data() + v.size()) {
          return fail(error, "'>' and '<' need an integer value, got \"" + v + "\"");
        }
      }
      req.values.push_back(std::move(v));
      return true;
    }
    const size_t op_start = pos_;
    std::string_view op = word();
    if (op == "in") {
      req.op = LabelSelector::Op::kIn;
    } else if (op == "notin") {
      req.op = LabelSelector::Op::kNotIn;
    } else {
      pos_ = op_start;
      return fail(error, "expected one of =, ==, !=, >, <, in, notin");
    }
    skip_space();
    if (at_end() || text_[pos_] != '(') return fail(error, "expected '(' after " + std::string(op));
    ++pos_;
    skip_space();
    if (!at_end() && text_[pos_] == ')') return fail(error, "the value set of in/notin is empty");
    for (;;) {
      skip_space();
      std::string v;
      if (!value(v, error)) return false;
      req.values.push_back(std::move(v));
      skip_space();
      if (at_end()) return fail(error, "expected ')'");
      if (text_[pos_] == ')') {
        ++pos_;
        break;
      }
      if (text_[pos_] != ',') return fail(error, "expected ',' or ')' in the value set");
      ++pos_;
    }
    std::sort(req.values.begin(), req.values.end());
    req.values.erase(std::unique(req.values.begin(), req.values.end()), req.values.end());
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

bool is_dns1123_label(std::string_view s, std::string* error) {
  if (s.empty() || s.size() > 63) return set_error(error, "must be 1..63 characters");
  if (!is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) {
    return set_error(error, "must start and end with a lower-case letter or digit");
  }
  for (char c : s) {
    if (!is_lower_alnum(c) && c != '-') {
      return set_error(error, "may contain only lower-case letters, digits and '-'");
    }
  }
  return true;
}

bool is_dns1123_subdomain(std::string_view s, std::string* error) {
  if (s.empty() || s.size() > 253) return set_error(error, "must be 1..253 characters");
  if (!is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) {
    return set_error(error, "must start and end with a lower-case letter or digit");
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!is_lower_alnum(c) && c != '-' && c != '.') {
      return set_error(error, "may contain only lower-case letters, digits, '-' and '.'");
    }
    if (c == '.' && (!is_lower_alnum(s[i - 1]) || !is_lower_alnum(s[i + 1]))) {
      return set_error(error, "each '.'-separated part must start and end alphanumeric");
    }
  }
  return true;
}

bool is_qualified_name(std::string_view s, std::string* error) {
  const size_t slash = s.find('/');
  std::string_view name = s;
  if (slash != std::string_view::npos) {
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    std::string why;
    if (!is_dns1123_subdomain(prefix, &why)) return set_error(error, "prefix " + why);
  }
  if (!is_label_name(name)) {
    return set_error(error,
                     "name part must be 1..63 of [A-Za-z0-9-_.], starting and ending alphanumeric");
  }
  return true;
}

bool is_label_value(std::string_view s, std::string* error) {
  if (s.empty()) return true;
  if (!is_label_name(s)) {
    return set_error(error,
                     "must be empty or 1..63 of [A-Za-z0-9-_.], starting and ending alphanumeric");
  }
  return true;
}

std::optional<LabelSelector> LabelSelector::parse(std::string_view text, std::string* error) {
  LabelSelector out;
  std::string why;
  SelectorParser parser(text);
  if (!parser.parse(out.requirements_, why)) {
    if (error) *error = std::move(why);
    return std::nullopt;
  }
  std::stable_sort(out.requirements_.begin(), out.requirements_.end(),
                   [](const Requirement& a, const Requirement& b) {
                     return std::tie(a.key, a.op) < std::tie(b.key, b.op);
                   });
  return out;
}

bool LabelSelector::matches(const std::map<std::string, std::string, std::less<>>& labels) const {
  for (const Requirement& r : requirements_) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    switch (r.op) {
      case Op::kEquals:
        if (!has || it->second != r.values[0]) return false;
        break;
      case Op::kNotEquals:
        if (has && it->second == r.values[0]) return false;
        break;
      case Op::kIn:
        if (!has || !std::binary_search(r.values.begin(), r.values.end(), it->second)) return false;
        break;
      case Op::kNotIn:
        if (has && std::binary_search(r.values.begin(), r.values.end(), it->second)) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kDoesNotExist:
        if (has) return false;
        break;
      case Op::kGreaterThan:
      case Op::kLessThan: {
        if (!has) return false;
        int64_t have = 0, want = 0;
        const std::string& hv = it->second;
        auto [p, ec] = std::from_chars(hv.data(), hv.data() + hv.size(), have);
        if (ec != std::errc() || p != hv.data() + hv.size()) return false;
        std::from_chars(r.values[0].data(), r.values[0].data() + r.values[0].size(), want);
        if (r.op == Op::kGreaterThan ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

std::string LabelSelector::to_string() const {
  std::string out;
  for (const Requirement& r : requirements_) {
    if (!out.empty()) out += ',';
    switch (r.op) {
      case Op::kEquals:
        out += r.key + "=" + r.values[0];
        break;
      case Op::kNotEquals:
        out += r.key + "!=" + r.values[0];
        break;
      case Op::kGreaterThan:
        out += r.key + ">" + r.values[0];
        break;
      case Op::kLessThan:
        out += r.key + "<" + r.values[0];
        break;
      case Op::kIn:
      case Op::kNotIn: {
        out += r.key + (r.op == Op::kIn ? " in (" : " notin (");
        for (size_t i = 0; i < r.values.size(); ++i) {
          if (i) out += ',';
          out += r.values[i];
        }
        out += ')';
        break;
      }
      case Op::kExists:
        out += r.key;
        break;
      case Op::kDoesNotExist:
        out += "!" + r.key;
        break;
    }
  }
  return out;
}

}  // namespace lockstep::kube
