#include "rollout/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace lockstep::rollout {
namespace {

bool one_of(std::string_view s, std::initializer_list<std::string_view> words) {
  for (auto w : words) {
    if (s == w) return true;
  }
  return false;
}

std::string strip_underscores(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '_') out += c;
  }
  return out;
}

// Integer forms of YAML 1.1: decimal, 0x hex, 0b binary, 0 octal (underscores allowed).
bool parse_int(std::string_view s, nlohmann::json& out) {
  if (s.empty()) return false;
  bool negative = false;
  std::string_view body = s;
  if (body.front() == '+' || body.front() == '-') {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (body.empty() || body.front() == '_') return false;
  int base = 10;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    base = 16;
    body.remove_prefix(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) {
    base = 2;
    body.remove_prefix(2);
  } else if (body.size() > 1 && body[0] == '0') {
    base = 8;
    body.remove_prefix(1);
  }
  const std::string digits = strip_underscores(body);
  if (digits.empty()) return false;
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (p != digits.data() + digits.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    if (base != 10) return false;
    double d = 0;
    auto [pd, ecd] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (ecd != std::errc() || pd != digits.data() + digits.size()) return false;
    out = negative ? -d : d;
    return true;
  }
  if (ec != std::errc()) return false;
  if (negative) {
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
      out = -static_cast<double>(value);
    } else {
      out = static_cast<int64_t>(0 - value);
    }
  } else if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    out = static_cast<int64_t>(value);
  } else {
    out = value;
  }
  return true;
}

bool parse_float(std::string_view s, nlohmann::json& out) {
  if (one_of(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (one_of(s, {"-.inf", "-.Inf", "-.INF"})) {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (one_of(s, {".nan", ".NaN", ".NAN"})) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // [-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+]?[0-9]+)? or an exponent form; must have a digit.
  bool digit = false, dot = false, exp = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '_' && !exp) {
    } else if (c == '.' && !dot && !exp) {
      dot = true;
    } else if ((c == 'e' || c == 'E') && digit && !exp) {
      exp = true;
      if (i + 1 < s.size() && (s[i + 1] == '+' || s[i + 1] == '-')) ++i;
      if (i + 1 >= s.size()) return false;
    } else if ((c == '+' || c == '-') && i == 0) {
    } else {
      return false;
    }
  }
  if (!digit || (!dot && !exp)) return false;
  const std::string text = strip_underscores(s);
  const char* b = text.data();
  if (*b == '+') ++b;
  double d = 0;
  auto [p, ec] = std::from_chars(b, text.data() + text.size(), d);
  if (ec != std::errc() || p != text.data() + text.size()) return false;
  out = d;
  return true;
}

// The JSON value of a plain (unquoted, untagged) scalar.
nlohmann::json resolve_plain(const std::string& s) {
  if (one_of(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (one_of(s, {"true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON"})) {
    return true;
  }
  if (one_of(s, {"false", "False", "FALSE", "no", "No", "NO", "n", "N", "off", "Off", "OFF"})) {
    return false;
  }
  nlohmann::json number;
  if (parse_int(s, number) || parse_float(s, number)) {
    // JSON has no infinities or NaN: keep those as their text.
    if (number.is_number_float() && !std::isfinite(number.get<double>())) return s;
    return number;
  }
  return s;
}

class Converter {
 public:
  Converter(const YamlLimits& limits, std::string& error) : limits_(limits), error_(error) {}

  bool convert(const YAML::Node& node, nlohmann::json& out, const std::string& path,
               size_t depth) {
    if (++nodes_ > limits_.max_nodes) {
      error_ = "more than " + std::to_string(limits_.max_nodes) + " nodes (alias expansion?)";
      return false;
    }
    if (depth > limits_.max_depth) {
      error_ = (path.empty() ? std::string("(top)") : path) + ": nested deeper than " +
               std::to_string(limits_.max_depth);
      return false;
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out = nullptr;
        return true;
      case YAML::NodeType::Scalar: {
        const std::string& tag = node.Tag();
        const std::string& text = node.Scalar();
        if (tag == "!" || tag == "!!str" || tag == "tag:yaml.org,2002:str") {
          out = text;
        } else if (tag == "?" || tag.empty()) {
          out = resolve_plain(text);
        } else if (tag == "!!int" || tag == "tag:yaml.org,2002:int") {
          if (!parse_int(text, out)) return fail(path, "\"" + text + "\" is not an !!int");
        } else if (tag == "!!float" || tag == "tag:yaml.org,2002:float") {
          if (!parse_int(text, out) && !parse_float(text, out)) {
            return fail(path, "\"" + text + "\" is not a !!float");
          }
          if (out.is_number_integer()) out = out.get<double>();
        } else if (tag == "!!bool" || tag == "tag:yaml.org,2002:bool") {
          out = resolve_plain(text);
          if (!out.is_boolean()) return fail(path, "\"" + text + "\" is not a !!bool");
        } else if (tag == "!!null" || tag == "tag:yaml.org,2002:null") {
          out = nullptr;
        } else {
          out = text;  // unknown local tags: keep the text, as sigs.k8s.io/yaml does
        }
        return true;
      }
      case YAML::NodeType::Sequence: {
        out = nlohmann::json::array();
        size_t i = 0;
        for (const auto& item : node) {
          nlohmann::json v;
          if (!convert(item, v, path + "[" + std::to_string(i++) + "]", depth + 1)) return false;
          out.push_back(std::move(v));
        }
        return true;
      }
      case YAML::NodeType::Map: {
        out = nlohmann::json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) {
            return fail(path, "a map key must be a scalar");
          }
          const std::string key = kv.first.Scalar();
          nlohmann::json v;
          if (!convert(kv.second, v, path.empty() ? key : path + "." + key, depth + 1)) {
            return false;
          }
          out[key] = std::move(v);
        }
        return true;
      }
    }
    out = nullptr;
    return true;
  }

 private:
  bool fail(const std::string& path, const std::string& why) {
    error_ = (path.empty() ? std::string("(top)") : path) + ": " + why;
    return false;
  }

  const YamlLimits& limits_;
  std::string& error_;
  size_t nodes_ = 0;
};

}  // namespace

bool yaml_to_json(const YAML::Node& node, nlohmann::json& out, std::string& error,
                  const YamlLimits& limits) {
  Converter c(limits, error);
  return c.convert(node, out, "", 0);
}

bool parse_yaml_documents(std::string_view text, std::vector<nlohmann::json>& documents,
                          std::string& error, const YamlLimits& limits) {
  documents.clear();
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    error = "YAML: line " + std::to_string(e.mark.line + 1) + ", column " +
            std::to_string(e.mark.column + 1) + ": " + e.msg;
    return false;
  }
  std::string why;
  Converter converter(limits, why);  // one node budget for the whole stream
  for (size_t i = 0; i < nodes.size(); ++i) {
    nlohmann::json doc;
    try {
      if (!converter.convert(nodes[i], doc, "", 0)) {
        error = "document " + std::to_string(i + 1) + ": " + why;
        return false;
      }
    } catch (const YAML::Exception& e) {
      error = "document " + std::to_string(i + 1) + ": " + e.msg;
      return false;
    }
    documents.push_back(std::move(doc));
  }
  return true;
}

}  // namespace lockstep::rollout
