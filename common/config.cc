#include "common/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/duration.h"

namespace lockstep {

std::string ConfigError::message() const {
  std::string out = "configuration error";
  if (!origin.empty()) out += " (" + origin + ")";
  if (!key.empty()) out += ": " + key;
  out += ": " + reason;
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

struct ConfigSchema::Option {
  std::string key;
  std::string doc;
  std::string default_text;
  std::string type_text;
  // Parses and stores `value`; returns the reason on failure.
  std::function<std::optional<std::string>(const std::string& value)> assign;
};

namespace {

std::string flag_name(const std::string& key) {
  std::string f = "--" + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

std::string normalise_flag_key(std::string_view flag) {
  std::string k(flag);
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

std::string quote(const std::string& v) { return "\"" + v + "\""; }

std::string format_double(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  out = v;
  return true;
}

}  // namespace

ConfigSchema::ConfigSchema() = default;
ConfigSchema::~ConfigSchema() = default;

void ConfigSchema::add(std::unique_ptr<Option> option) { options_.push_back(std::move(option)); }

void ConfigSchema::add_string(std::string key, std::string* target, std::string doc,
                              Check<std::string> check) {
  auto o = std::make_unique<Option>();
  o->key = std::move(key);
  o->doc = std::move(doc);
  o->default_text = target->empty() ? "\"\"" : quote(*target);
  o->type_text = "string";
  o->assign = [target, check](const std::string& v) -> std::optional<std::string> {
    if (check) {
      if (auto why = check(v)) return why;
    }
    *target = v;
    return std::nullopt;
  };
  add(std::move(o));
}

void ConfigSchema::add_int(std::string key, int64_t* target, int64_t min, int64_t max,
                           std::string doc) {
  auto o = std::make_unique<Option>();
  o->key = std::move(key);
  o->doc = std::move(doc);
  o->default_text = std::to_string(*target);
  o->type_text = "integer";
  o->assign = [target, min, max](const std::string& v) -> std::optional<std::string> {
    int64_t n = 0;
    if (!parse_int(v, n)) return quote(v) + " is not an integer";
    if (n < min || n > max) {
      return quote(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
             "]";
    }
    *target = n;
    return std::nullopt;
  };
  add(std::move(o));
}

void ConfigSchema::add_double(std::string key, double* target, double min, double max,
                              std::string doc) {
  auto o = std::make_unique<Option>();
  o->key = std::move(key);
  o->doc = std::move(doc);
  o->default_text = format_double(*target);
  o->type_text = "number";
  o->assign = [target, min, max](const std::string& v) -> std::optional<std::string> {
    errno = 0;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || errno != 0 || end != v.c_str() + v.size() || !std::isfinite(d)) {
      return quote(v) + " is not a number";
    }
    if (d < min || d > max) {
      return quote(v) + " is out of range [" + format_double(min) + ", " + format_double(max) +
             "]";
    }
    *target = d;
    return std::nullopt;
  };
  add(std::move(o));
}

void ConfigSchema::add_bool(std::string key, bool* target, std::string doc) {
  auto o = std::make_unique<Option>();
  o->key = std::move(key);
  o->doc = std::move(doc);
  o->default_text = *target ? "true" : "false";
  o->type_text = "boolean";
  o->assign = [target](const std::string& v) -> std::optional<std::string> {
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
      *target = true;
    } else if (v == "false" || v == "0" || v == "no" || v == "off") {
      *target = false;
    } else {
      return quote(v) + " is not a boolean (true or false)";
    }
    return std::nullopt;
  };
  add(std::move(o));
}

void ConfigSchema::add_duration(std::string key, std::chrono::milliseconds* target,
                                std::chrono::milliseconds min, std::chrono::milliseconds max,
                                std::string doc) {
  auto o = std::make_unique<Option>();
  o->key = std::move(key);
  o->doc = std::move(doc);
  o->default_text = format_duration(*target);
  o->type_text = "duration";
  o->assign = [target, min, max](const std::string& v) -> std::optional<std::string> {
    std::chrono::nanoseconds d{};
    std::string why;
    if (!parse_duration(v, d, &why)) return quote(v) + " is not a duration: " + why;
    if (d % std::chrono::milliseconds(1) != std::chrono::nanoseconds(0)) {
      return quote(v) + " is not a whole number of milliseconds";
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d);
    if (ms < min || ms > max) {
      return quote(v) + " is out of range [" + format_duration(min) + ", " +
             format_duration(max) + "]";
    }
    *target = ms;
    return std::nullopt;
  };
  add(std::move(o));
}

void ConfigSchema::add_bytes(std::string key, int64_t* target, int64_t min, int64_t max,
                             std::string doc) {
  auto o = std::make_unique<Option>();
  o->key = std::move(key);
  o->doc = std::move(doc);
  o->default_text = std::to_string(*target);
  o->type_text = "bytes";
  o->assign = [target, min, max](const std::string& v) -> std::optional<std::string> {
    struct Suffix {
      std::string_view s;
      int64_t mult;
    };
    static constexpr Suffix kSuffixes[] = {{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
                                           {"Ki", 1 << 10},  {"Mi", 1 << 20},  {"Gi", 1 << 30}};
    std::string digits = v;
    int64_t mult = 1;
    for (const auto& s : kSuffixes) {
      if (v.size() > s.s.size() && v.compare(v.size() - s.s.size(), s.s.size(), s.s) == 0) {
        digits = v.substr(0, v.size() - s.s.size());
        mult = s.mult;
        break;
      }
    }
    int64_t n = 0;
    if (!parse_int(digits, n) || n < 0 || n > (int64_t{1} << 50) / mult) {
      return quote(v) + " is not a size (bytes, or with Ki/Mi/Gi)";
    }
    n *= mult;
    if (n < min || n > max) {
      return quote(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
             "] bytes";
    }
    *target = n;
    return std::nullopt;
  };
  add(std::move(o));
}

void ConfigSchema::add_choice(std::string key, std::string* target,
                              std::vector<std::string> choices, std::string doc) {
  auto o = std::make_unique<Option>();
  o->key = std::move(key);
  o->doc = std::move(doc);
  o->default_text = quote(*target);
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
  o->type_text = list;
  o->assign = [target, choices, list](const std::string& v) -> std::optional<std::string> {
    if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
      return quote(v) + " is not one of " + list;
    }
    *target = v;
    return std::nullopt;
  };
  add(std::move(o));
}

std::optional<std::string> ConfigSchema::suggest(std::string_view key) const {
  std::optional<std::string> best;
  size_t best_d = std::max<size_t>(3, key.size() / 4) + 1;
  for (const auto& o : options_) {
    const size_t d = edit_distance(key, o->key);
    // Also compare the last path segment alone, so "ingest.listn" finds "ingest.listen" and
    // "listen" at the top level finds a nested key.
    const auto dot = o->key.rfind('.');
    const size_t d_leaf =
        dot == std::string::npos ? d : edit_distance(key, std::string_view(o->key).substr(dot + 1));
    const size_t dd = std::min(d, d_leaf + 1);
    if (dd < best_d) {
      best_d = dd;
      best = o->key;
    }
  }
  return best;
}

bool ConfigSchema::set(const std::string& key, const std::string& value, std::string_view origin,
                       ConfigError* error) {
  for (const auto& o : options_) {
    if (o->key != key) continue;
    if (auto why = o->assign(value)) {
      *error = ConfigError{key, *why, std::string(origin)};
      return false;
    }
    return true;
  }
  std::string reason = "unknown key";
  if (auto s = suggest(key)) reason += " (did you mean \"" + *s + "\"?)";
  *error = ConfigError{key, reason, std::string(origin)};
  return false;
}

namespace {

bool walk(const YAML::Node& node, const std::string& prefix, std::string_view origin,
          const std::function<bool(const std::string&, const std::string&)>& set,
          ConfigError* error) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return true;  // "key:" with no value keeps the default
    case YAML::NodeType::Scalar:
      if (prefix.empty()) {
        *error = ConfigError{"", "the document must be a map of keys", std::string(origin)};
        return false;
      }
      return set(prefix, node.Scalar());
    case YAML::NodeType::Sequence:
      *error = ConfigError{prefix, "a list is not accepted here", std::string(origin)};
      return false;
    case YAML::NodeType::Map:
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          *error = ConfigError{prefix, "map keys must be plain strings", std::string(origin)};
          return false;
        }
        const std::string key =
            prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
        if (!walk(kv.second, key, origin, set, error)) return false;
      }
      return true;
    case YAML::NodeType::Undefined:
      break;
  }
  return true;
}

}  // namespace

bool ConfigSchema::load_yaml(std::string_view text, std::string_view origin, ConfigError* error) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    *error = ConfigError{"", std::string("not valid YAML: ") + e.what(), std::string(origin)};
    return false;
  }
  return walk(
      root, "", origin,
      [&](const std::string& k, const std::string& v) { return set(k, v, origin, error); }, error);
}

bool ConfigSchema::load_yaml_file(const std::string& path, ConfigError* error) {
  std::ifstream in(path);
  if (!in) {
    *error = ConfigError{"config", "cannot read file \"" + path + "\"", "flag --config"};
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_yaml(ss.str(), path, error);
}

ConfigSchema::FlagResult ConfigSchema::scan_flags(int argc, const char* const* argv) {
  FlagResult r;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") r.help = true;
    if (a == "--config" && i + 1 < argc) r.config_path = argv[i + 1];
    if (a.substr(0, 9) == "--config=") r.config_path = std::string(a.substr(9));
  }
  return r;
}

bool ConfigSchema::apply_flags(int argc, const char* const* argv, FlagResult* result,
                               ConfigError* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      result->help = true;
      continue;
    }
    if (a.substr(0, 2) != "--" || a.size() == 2) {
      *error = ConfigError{std::string(a), "unexpected argument (flags look like --key=value)",
                           "flag"};
      return false;
    }
    std::string_view body = a.substr(2);
    std::string value;
    const auto eq = body.find('=');
    std::string name;
    if (eq != std::string_view::npos) {
      name = std::string(body.substr(0, eq));
      value = std::string(body.substr(eq + 1));
    } else {
      name = std::string(body);
      if (i + 1 >= argc) {
        *error = ConfigError{normalise_flag_key(name), "flag needs a value", "flag"};
        return false;
      }
      value = argv[++i];
    }
    const std::string key = normalise_flag_key(name);
    if (key == "config") {
      result->config_path = value;
      continue;
    }
    if (!set(key, value, "flag " + flag_name(key), error)) return false;
  }
  return true;
}

std::string ConfigSchema::help_text() const {
  std::string out;
  for (const auto& o : options_) {
    out += "  " + flag_name(o->key) + "=<" + o->type_text + ">  (default " + o->default_text +
           ")\n      " + o->doc + "\n";
  }
  return out;
}

std::string ConfigSchema::markdown_table() const {
  std::string out = "| key | flag | type | default | meaning |\n|---|---|---|---|---|\n";
  for (const auto& o : options_) {
    std::string type = o->type_text;
    for (size_t p = type.find('|'); p != std::string::npos; p = type.find('|', p + 2)) {
      type.replace(p, 1, "\\|");
    }
    out += "| `" + o->key + "` | `" + flag_name(o->key) + "` | " + type + " | `" +
           o->default_text + "` | " + o->doc + " |\n";
  }
  return out;
}

}  // namespace lockstep
