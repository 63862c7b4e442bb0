#pragma once

#include <functional>
#include <memory>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace lockstep {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn" or "error"; false on anything else.
bool parse_log_level(std::string_view text, LogLevel& out);
std::string_view log_level_name(LogLevel level);

// Structured logger writing one JSON object per line:
//   {"ts":"2026-11-28T09:30:00.123Z","level":"info","component":"ingest","msg":"...","proxy":"p1"}
// Created in main and passed down; components derive a child with their name. Thread-safe: a
// line is formatted without locks and written under the sink mutex.
class Logger {
 public:
  using Field = std::pair<std::string_view, std::string_view>;
  using Sink = std::function<void(std::string_view line)>;

  // Writes to stderr.
  explicit Logger(LogLevel level = LogLevel::kInfo);
  // Writes to `sink` (tests capture lines this way).
  Logger(LogLevel level, Sink sink);

  Logger child(std::string component) const;

  bool enabled(LogLevel level) const { return level >= shared_->level; }
  void log(LogLevel level, std::string_view msg, std::initializer_list<Field> fields = {}) const;
  void debug(std::string_view msg, std::initializer_list<Field> f = {}) const {
    log(LogLevel::kDebug, msg, f);
  }
  void info(std::string_view msg, std::initializer_list<Field> f = {}) const {
    log(LogLevel::kInfo, msg, f);
  }
  void warn(std::string_view msg, std::initializer_list<Field> f = {}) const {
    log(LogLevel::kWarn, msg, f);
  }
  void error(std::string_view msg, std::initializer_list<Field> f = {}) const {
    log(LogLevel::kError, msg, f);
  }

 private:
  struct Shared {
    LogLevel level;
    Sink sink;
    std::mutex mu;  // serialises sink calls
  };
  Logger(std::shared_ptr<Shared> shared, std::string component)
      : shared_(std::move(shared)), component_(std::move(component)) {}

  std::shared_ptr<Shared> shared_;
  std::string component_;
};

// Appends `s` to `out` as the body of a JSON string (without the quotes).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace lockstep
