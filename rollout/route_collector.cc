#include "rollout/route_collector.h"

namespace lockstep::rollout {
namespace {

prometheus::MetricFamily family(const char* name, const char* help) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Gauge;
  return f;
}

void add(prometheus::MetricFamily& f, std::vector<prometheus::ClientMetric::Label> labels,
         double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

}  // namespace

std::vector<prometheus::MetricFamily> RouteCollector::Collect() const {
  auto weight = family("lockstep_scaler_split_weight",
                       "Traffic weight of each backend in the route table (out of "
                       "lockstep_scaler_split_max_weight).");
  auto max_weight = family("lockstep_scaler_split_max_weight",
                           "The route's total weight (Argo's maxTrafficWeight, 100 by default).");
  auto generation = family("lockstep_scaler_split_generation",
                           "Generation of the split annotation in effect (0: none).");
  auto applied = family("lockstep_scaler_split_applied",
                        "1 when every connected proxy applies the route's current split (and at "
                        "least one is connected).");
  auto endpoints = family("lockstep_scaler_route_endpoints",
                          "Ready endpoints of each backend (0: cold, requests are held).");
  if (!authority_.synced()) return {};
  const auto proxies = authority_.proxies();
  for (const auto& key : authority_.route_keys()) {
    RouteAuthority::RouteView view;
    if (!authority_.route(key, view) || !view.route) continue;
    const size_t slash = key.find('/');
    const std::string ns = key.substr(0, slash);
    const std::string name = key.substr(slash + 1);
    for (const auto& b : view.route->backends()) {
      std::vector<prometheus::ClientMetric::Label> labels = {
          {"namespace", ns}, {"route", name}, {"backend", b.service()}, {"role", std::string(role_name(b.role()))}};
      add(weight, labels, b.weight());
      add(endpoints, labels, b.endpoints_size());
    }
    add(max_weight, {{"namespace", ns}, {"route", name}}, view.route->max_weight());
    add(generation, {{"namespace", ns}, {"route", name}},
        static_cast<double>(view.info.split_generation));
    add(applied, {{"namespace", ns}, {"route", name}},
        authority_.applied(key, proxies).all() ? 1 : 0);
  }
  return {std::move(weight), std::move(max_weight), std::move(generation), std::move(applied),
          std::move(endpoints)};
}

}  // namespace lockstep::rollout
