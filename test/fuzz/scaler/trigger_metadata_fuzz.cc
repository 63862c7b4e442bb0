// Fuzzes the trigger metadata parser. Input: text lines; the first two are the ScaledObject's
// namespace and name, each later line "key=value" (the value may be empty or hold '=').
// Invariants: a result is either a spec or an error; an error names a key and a rule; a spec has
// a valid window (a multiple of the granularity, <= 1h, <= 3600 buckets), a target >= 0.001 and a
// lower-case, path-safe metric name of at most 63 bytes.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "scaler/trigger_spec.h"

using namespace lockstep::scaler;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string ns, name;
  std::map<std::string, std::string> md;
  size_t line = 0;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    const std::string_view l = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (line == 0) {
      ns = l;
    } else if (line == 1) {
      name = l;
    } else {
      const size_t eq = l.find('=');
      md[std::string(l.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(l.substr(eq + 1));
    }
    ++line;
  }
  const ParseResult r = parse_trigger_metadata(ns, name, md);
  if (r.spec.has_value() == r.error.has_value()) std::abort();
  if (r.error) {
    if (r.error->key.empty() || r.error->rule.empty()) std::abort();
    (void)r.error->message();
    return 0;
  }
  const TriggerSpec& s = *r.spec;
  if (s.window.count() % s.granularity.count() != 0) std::abort();
  if (s.window > std::chrono::hours(1) || s.granularity < std::chrono::milliseconds(100)) std::abort();
  if (s.window / s.granularity > static_cast<long>(kMaxBucketsPerWindow)) std::abort();
  if (!(s.target_value >= 0.001) || !(s.activation_value >= 0)) std::abort();
  if (s.metric_name.empty() || s.metric_name.size() > kMaxMetricName) std::abort();
  for (char c : s.metric_name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) std::abort();
  }
  if (s.hosts.empty() || s.path_prefixes.empty()) std::abort();
  if (s.shape().slots() > kMaxBucketsPerWindow + 2) std::abort();
  return 0;
}
