#pragma once

// One HTTP/1.1 GET on loopback with a deadline (Boost.Beast, blocking, its own io_context): the
// demo's kubelet readiness probe, VerifyWeight's call to the scaler's split status, and the
// scrapes of /metrics for the live view.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace lockstep::demo {

struct HttpGetResult {
  int status = 0;  // 0: no response (the error says why)
  std::string body;
  std::string error;
  bool ok() const { return status == 200; }
};

HttpGetResult http_get(uint16_t port, const std::string& target, std::chrono::milliseconds timeout,
                       const std::string& host = "127.0.0.1");

// A port that was free on 127.0.0.1 a moment ago (bound to port 0, then closed), for programs
// that cannot report the port they bound themselves.
uint16_t free_loopback_port();

// The samples of a Prometheus text exposition, by series ("name{labels}" exactly as written)
// and by metric name summed over its series.
struct MetricsText {
  std::map<std::string, double> series;
  std::map<std::string, double> sums;
  double sum(const std::string& name) const;
  // Sum over the series of `name` whose label set contains `label="value"`.
  double sum_where(const std::string& name, const std::string& label, const std::string& value) const;
};
MetricsText parse_metrics_text(const std::string& text);

}  // namespace lockstep::demo
