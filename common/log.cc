#include "common/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

namespace lockstep {

bool parse_log_level(std::string_view text, LogLevel& out) {
  if (text == "debug") {
    out = LogLevel::kDebug;
  } else if (text == "info") {
    out = LogLevel::kInfo;
  } else if (text == "warn" || text == "warning") {
    out = LogLevel::kWarn;
  } else if (text == "error") {
    out = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

Logger::Logger(LogLevel level)
    : Logger(level, [](std::string_view line) {
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
      }) {}

Logger::Logger(LogLevel level, Sink sink)
    : shared_(std::make_shared<Shared>()), component_() {
  shared_->level = level;
  shared_->sink = std::move(sink);
}

Logger Logger::child(std::string component) const { return Logger(shared_, std::move(component)); }

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<Field> fields) const {
  if (!enabled(level)) return;
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  std::string line;
  line.reserve(128 + msg.size());
  line += "{\"ts\":\"";
  line += ts;
  line += "\",\"level\":\"";
  line += log_level_name(level);
  line += '"';
  if (!component_.empty()) {
    line += ",\"component\":\"";
    append_json_escaped(line, component_);
    line += '"';
  }
  line += ",\"msg\":\"";
  append_json_escaped(line, msg);
  line += '"';
  for (const auto& [key, value] : fields) {
    line += ",\"";
    append_json_escaped(line, key);
    line += "\":\"";
    append_json_escaped(line, value);
    line += '"';
  }
  line += "}\n";
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->sink(line);
}

}  // namespace lockstep
