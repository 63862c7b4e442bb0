#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep {

// What went wrong while loading configuration: the key (dotted path, e.g. "ingest.listen") and
// the reason. `message()` is what a program prints before exiting with status 2.
struct ConfigError {
  std::string key;
  std::string reason;
  std::string origin;  // "config.yaml", "flag" ...
  std::string message() const;
};

// A typed option table. Each option is bound to a field of a settings struct whose initial value
// is the default. load_yaml() reads one YAML document (nested maps form the dotted keys);
// apply_flags() then reads `--key=value` or `--key value` (dashes or underscores), so flags win.
// Unknown keys, wrong types and out-of-range values are errors naming the key and the reason (an
// unknown key also suggests the closest known one). Not thread-safe: used in main at start-up.
class ConfigSchema {
 public:
  // Extra check run on the parsed value; returns the reason when the value is not acceptable.
  template <typename T>
  using Check = std::function<std::optional<std::string>(const T&)>;

  ConfigSchema();
  ~ConfigSchema();
  ConfigSchema(const ConfigSchema&) = delete;
  ConfigSchema& operator=(const ConfigSchema&) = delete;

  void add_string(std::string key, std::string* target, std::string doc,
                  Check<std::string> check = {});
  void add_int(std::string key, int64_t* target, int64_t min, int64_t max, std::string doc);
  void add_double(std::string key, double* target, double min, double max, std::string doc);
  void add_bool(std::string key, bool* target, std::string doc);
  // Go-style durations ("500ms", "1m30s").
  void add_duration(std::string key, std::chrono::milliseconds* target,
                    std::chrono::milliseconds min, std::chrono::milliseconds max,
                    std::string doc);
  // Sizes: a plain number of bytes or with a suffix Ki, Mi, Gi (also KiB, MiB, GiB).
  void add_bytes(std::string key, int64_t* target, int64_t min, int64_t max, std::string doc);
  // One of a fixed set of words.
  void add_choice(std::string key, std::string* target, std::vector<std::string> choices,
                  std::string doc);

  bool load_yaml(std::string_view text, std::string_view origin, ConfigError* error);
  bool load_yaml_file(const std::string& path, ConfigError* error);

  // Reads flags from argv[1..]. `--config <path>` (or `--config=<path>`) is returned in
  // `config_path` and not applied here, so a caller can load the file first and then the flags.
  // `--help` sets `help`. Anything not starting with "--" is an error.
  struct FlagResult {
    std::optional<std::string> config_path;
    bool help = false;
  };
  bool apply_flags(int argc, const char* const* argv, FlagResult* result, ConfigError* error);
  // Finds --config (and --help) without applying anything else.
  static FlagResult scan_flags(int argc, const char* const* argv);

  // One line per option: flag, default, doc.
  std::string help_text() const;
  // A Markdown table (key | flag | default | meaning) for docs/configuration.md.
  std::string markdown_table() const;

  // The closest known key to `key` by edit distance, if it is close enough to be a likely typo.
  std::optional<std::string> suggest(std::string_view key) const;

 private:
  struct Option;
  bool set(const std::string& key, const std::string& value, std::string_view origin,
           ConfigError* error);
  void add(std::unique_ptr<Option> option);

  std::vector<std::unique_ptr<Option>> options_;
};

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace lockstep
