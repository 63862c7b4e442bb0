#include "scaler/scaler_collector.h"

#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

namespace lockstep::scaler {
namespace {

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prometheus::ClientMetric& add(prometheus::MetricFamily& f,
                              std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f.metric.back();
}

}  // namespace

std::vector<prometheus::MetricFamily> ScalerCollector::Collect() const {
  using prometheus::MetricType;
  auto& agg = s_.aggregator;

  auto active = family("lockstep_scaler_route_active",
                       "1 when some trigger of the route is active (what IsActive answers)",
                       MetricType::Gauge);
  auto value = family("lockstep_scaler_metric_value", "The value KEDA last got from GetMetrics",
                      MetricType::Gauge);
  auto target = family("lockstep_scaler_metric_target", "The trigger's target per replica",
                       MetricType::Gauge);
  auto desired = family("lockstep_scaler_desired_replicas",
                        "ceil(metric value / target): the replicas the HPA aims for",
                        MetricType::Gauge);
  std::map<std::pair<std::string, std::string>, bool> route_active;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (const auto& t : s_.triggers.triggers()) {
    const TriggerSpec& spec = t->spec;
    const MetricReading r = s_.computation.read_trigger(*t);
    auto& a = route_active[{spec.route_namespace, spec.route_name}];
    a = a || r.active;
    const std::string metric(scaling_metric_name(spec.metric));
    if (!seen.insert({spec.route_namespace, spec.route_name, metric}).second) continue;
    std::vector<prometheus::ClientMetric::Label> labels = {
        {"namespace", spec.route_namespace}, {"route", spec.route_name}, {"metric", metric}};
    const double last = t->last_value.load(std::memory_order_relaxed);
    const double tv = s_.computation.spec(spec).target;
    add(value, labels, last);
    add(target, labels, tv);
    add(desired, labels, tv > 0 ? std::ceil(last / tv) : 0);
  }
  for (const auto& [k, a] : route_active) {
    add(active, {{"namespace", k.first}, {"route", k.second}}, a ? 1 : 0);
  }

  auto activations = family("lockstep_scaler_activations_total",
                            "Inactive-to-active transitions pushed on StreamIsActive, per route",
                            MetricType::Counter);
  for (const auto& [key, n] : s_.hub.activations()) {
    const auto slash = key.find('/');
    add(activations, {{"namespace", key.substr(0, slash)}, {"route", key.substr(slash + 1)}},
        static_cast<double>(n));
  }

  auto& st = agg.stats();
  auto proxies = family("lockstep_scaler_proxies_connected",
                        "Proxies with at least one open report stream", MetricType::Gauge);
  add(proxies, {}, static_cast<double>(agg.proxies_connected()));
  // Proxy fleets (Hello.fleet): what proxyFleet triggers read, and how many proxies each has.
  auto fleet_concurrency = family(
      "lockstep_scaler_fleet_concurrency",
      "Requests in flight plus held over the live proxies of a fleet (fleet=\"\": proxies that "
      "name none; proxyFleet triggers add those to every fleet)",
      MetricType::Gauge);
  auto fleet_held = family("lockstep_scaler_fleet_held_requests",
                           "Requests held (cold start) by the live proxies of a fleet",
                           MetricType::Gauge);
  auto fleet_proxies = family("lockstep_scaler_fleet_proxies",
                              "Proxies of a fleet with at least one open report stream",
                              MetricType::Gauge);
  {
    std::map<std::string, int> per_fleet;
    for (const auto& p : agg.connected_proxies()) ++per_fleet[p.fleet];
    auto fleets = agg.fleets();
    fleets.insert(fleets.begin(), agg.unnamed_fleet());
    for (const auto& f : fleets) {
      add(fleet_concurrency, {{"fleet", f->key}}, static_cast<double>(f->concurrency()));
      add(fleet_held, {{"fleet", f->key}},
          static_cast<double>(f->held.load(std::memory_order_relaxed)));
      auto it = per_fleet.find(f->key);
      add(fleet_proxies, {{"fleet", f->key}}, it == per_fleet.end() ? 0 : it->second);
    }
  }
  auto reports = family("lockstep_scaler_reports_total", "Proxy reports applied",
                        MetricType::Counter);
  add(reports, {}, static_cast<double>(st.reports.load(std::memory_order_relaxed)));
  auto entries = family("lockstep_scaler_report_entries_total",
                        "Entries (definitions, history, samples) in applied reports",
                        MetricType::Counter);
  add(entries, {}, static_cast<double>(st.entries.load(std::memory_order_relaxed)));
  auto rejects = family("lockstep_scaler_rejects_total",
                        "Input refused, by reason: report entries (the Reject reasons), ingest "
                        "streams ended by an error, invalid trigger metadata",
                        MetricType::Counter);
  for (size_t i = 1; i < aggregator::kRejectReasons; ++i) {
    add(rejects,
        {{"reason", std::string(aggregator::reject_reason_name(
                        static_cast<aggregator::RejectReason>(i)))}},
        static_cast<double>(st.rejects[i].load(std::memory_order_relaxed)));
  }
  add(rejects, {{"reason", "stream_refused"}},
      static_cast<double>(st.streams_refused.load(std::memory_order_relaxed)));
  add(rejects, {{"reason", "invalid_metadata"}},
      static_cast<double>(s_.metrics.metadata_invalid_count()));

  auto routes = family("lockstep_scaler_tracked_routes",
                       "Routes the aggregator holds (with a trigger, or with recent traffic)",
                       MetricType::Gauge);
  add(routes, {}, static_cast<double>(agg.route_count()));
  auto evicted = family("lockstep_scaler_routes_evicted_total",
                        "Idle routes without a trigger that were forgotten", MetricType::Counter);
  add(evicted, {}, static_cast<double>(st.routes_evicted.load(std::memory_order_relaxed)));
  auto triggers = family("lockstep_scaler_triggers",
                         "Distinct trigger metadata maps KEDA has sent (cached parses)",
                         MetricType::Gauge);
  add(triggers, {}, static_cast<double>(s_.triggers.size()));
  auto streams = family("lockstep_scaler_keda_streams", "Open KEDA streams, by method",
                        MetricType::Gauge);
  for (KedaMethod m : {KedaMethod::kStreamIsActive, KedaMethod::kStreamMetricSpec}) {
    add(streams, {{"method", std::string(keda_method_name(m))}},
        static_cast<double>(s_.metrics.open_streams(m)));
  }
  auto ingest_streams = family("lockstep_scaler_ingest_streams", "Open proxy report streams",
                               MetricType::Gauge);
  add(ingest_streams, {}, s_.ingest_streams ? static_cast<double>(s_.ingest_streams()) : 0);

  return {std::move(active),  std::move(value),   std::move(target),   std::move(desired),
          std::move(activations), std::move(proxies), std::move(fleet_concurrency),
          std::move(fleet_held), std::move(fleet_proxies), std::move(reports), std::move(entries),
          std::move(rejects), std::move(routes),  std::move(evicted),  std::move(triggers),
          std::move(streams), std::move(ingest_streams)};
}

namespace {

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

}  // namespace

void ScalerCollector::append_route_families(std::string& out) const {
  auto& agg = s_.aggregator;
  const int64_t now = agg.clock().unix_ms();
  std::string requests, rate, concurrency, held;
  requests = "# HELP lockstep_scaler_requests_total Requests counted per route and backend (exactly "
             "once across proxies)\n# TYPE lockstep_scaler_requests_total counter\n";
  rate = "# HELP lockstep_scaler_request_rate Requests per second over the route's window, per "
         "backend\n# TYPE lockstep_scaler_request_rate gauge\n";
  concurrency = "# HELP lockstep_scaler_concurrency Requests in flight plus held, summed over live "
                "proxies\n# TYPE lockstep_scaler_concurrency gauge\n";
  held = "# HELP lockstep_scaler_held_requests Requests held by proxies while the backend scales "
         "from zero\n# TYPE lockstep_scaler_held_requests gauge\n";
  std::string labels;
  for (const auto& route : agg.routes()) {
    const uint32_t window = route->shape().window_ms;
    for (size_t i = 0; i < route->series_count(); ++i) {
      const auto& series = route->series(i);
      labels.assign("{namespace=\"");
      append_label_value(labels, route->route_namespace());
      labels += "\",route=\"";
      append_label_value(labels, route->name());
      labels += "\",backend=\"";
      append_label_value(labels, series.backend());
      labels += "\",role=\"";
      labels += backend_role_name(s_.catalogue.role(route->key(), series.backend()));
      labels += "\"} ";
      auto line = [&](std::string& fam, std::string_view name, double v) {
        fam += name;
        fam += labels;
        append_number(fam, v);
        fam += '\n';
      };
      line(requests, "lockstep_scaler_requests_total", static_cast<double>(series.requests_total()));
      line(rate, "lockstep_scaler_request_rate", route->request_rate(series, now, window));
      line(concurrency, "lockstep_scaler_concurrency",
           static_cast<double>(series.in_flight() + series.held()));
      line(held, "lockstep_scaler_held_requests", static_cast<double>(series.held()));
    }
  }
  out.reserve(out.size() + requests.size() + rate.size() + concurrency.size() + held.size());
  out += requests;
  out += rate;
  out += concurrency;
  out += held;
}

}  // namespace lockstep::scaler
