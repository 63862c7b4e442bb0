#include "rollout/plugin/hclog_sink.h"

#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>

namespace lockstep::plugin {
namespace {

// hclog's JSON timestamp layout, "2006-01-02T15:04:05.000000Z07:00", in UTC.
std::string hclog_timestamp(std::chrono::system_clock::time_point now) {
  const auto since = now.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs);
  const std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(micros.count()));
  return buf;
}

}  // namespace

std::string to_hclog_line(std::string_view line, std::chrono::system_clock::time_point now) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const nlohmann::json in = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!in.is_object()) {
    std::string out = "[INFO] ";
    out.append(line);
    out.push_back('\n');
    return out;
  }
  nlohmann::json out = nlohmann::json::object();
  out["@level"] = in.value("level", std::string("info"));
  out["@message"] = in.value("msg", std::string());
  out["@timestamp"] = hclog_timestamp(now);
  if (in.contains("component") && in["component"].is_string()) {
    out["@module"] = "lockstep." + in["component"].get<std::string>();
  } else {
    out["@module"] = "lockstep";
  }
  for (const auto& [key, value] : in.items()) {
    if (key == "ts" || key == "level" || key == "msg" || key == "component") continue;
    out[key] = value;
  }
  std::string text = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  return text;
}

Logger::Sink hclog_sink(int fd) {
  return [fd](std::string_view line) {
    const std::string out = to_hclog_line(line, std::chrono::system_clock::now());
    std::string_view rest = out;
    while (!rest.empty()) {
      const ssize_t n = ::write(fd, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stderr gone: nothing better to do with a log line
      rest.remove_prefix(static_cast<size_t>(n));
    }
  };
}

}  // namespace lockstep::plugin
