#include "rollout/route_status.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "rollout/kube/label_selector.h"

namespace lockstep::rollout {
namespace {

using nlohmann::ordered_json;

HttpResponse json_response(int status, const ordered_json& body) {
  return HttpResponse{status, "application/json", body.dump() + "\n"};
}

constexpr size_t kMaxPendingListed = 50;

}  // namespace

std::string hex_version(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

HttpResponse RouteStatus::handle(const HttpRequest& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    return json_response(405, {{"error", "only GET"}});
  }
  std::string path = request.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == kPrefix) return all();
  const std::string prefix = std::string(kPrefix) + "/";
  if (path.rfind(prefix, 0) != 0) return json_response(404, {{"error", "not found"}});
  const std::string rest = path.substr(prefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos) {
    return json_response(400, {{"error", "expected /v1/routes/<namespace>/<name>"}});
  }
  const std::string ns = rest.substr(0, slash);
  const std::string name = rest.substr(slash + 1);
  std::string why;
  if (!kube::is_dns1123_label(ns, &why)) {
    return json_response(400, {{"error", "namespace \"" + ns + "\" " + why}});
  }
  if (!kube::is_dns1123_subdomain(name, &why)) {
    return json_response(400, {{"error", "name \"" + name + "\" " + why}});
  }
  return one(ns, name);
}

HttpResponse RouteStatus::one(const std::string& ns, const std::string& name) const {
  const std::string key = ns + "/" + name;
  if (!authority_.synced()) {
    return json_response(503, {{"route", key},
                               {"synced", false},
                               {"applied", false},
                               {"reason", "this scaler replica has not synced its object sources "
                                          "yet"}});
  }
  RouteAuthority::RouteView view;
  if (!authority_.route(key, view)) {
    return json_response(404, {{"route", key},
                               {"synced", true},
                               {"known", false},
                               {"applied", false},
                               {"reason", "no ScaledObject with a lockstep trigger named " + key}});
  }
  const auto proxies = authority_.proxies();
  const AppliedStatus applied = authority_.applied(key, proxies);
  ordered_json body;
  body["route"] = key;
  body["synced"] = true;
  body["routed"] = view.route != nullptr;
  body["splitSource"] = view.info.split_source;
  body["desired"] = view.info.desired
                        ? ordered_json::parse(serialize_split_annotation(*view.info.desired))
                        : ordered_json(nullptr);
  body["splitGeneration"] = view.info.split_generation;
  ordered_json backends = ordered_json::array();
  if (view.route) {
    body["maxWeight"] = view.route->max_weight();
    for (const auto& b : view.route->backends()) {
      backends.push_back({{"service", b.service()},
                          {"role", std::string(role_name(b.role()))},
                          {"weight", b.weight()},
                          {"endpoints", b.endpoints_size()}});
    }
    body["headerRoutes"] = view.route->header_routes_size();
  } else {
    body["maxWeight"] = nullptr;
    body["headerRoutes"] = 0;
  }
  body["backends"] = std::move(backends);
  body["tableVersion"] = view.table ? hex_version(view.table->version) : "";
  ordered_json pending = ordered_json::array();
  for (size_t i = 0; i < applied.pending.size() && i < kMaxPendingListed; ++i) {
    const auto& p = applied.pending[i];
    pending.push_back({{"proxy", p.proxy_id},
                       {"bootEpoch", std::to_string(p.boot_epoch)},
                       {"tableVersion", hex_version(p.table_version)},
                       {"reason", p.reason}});
  }
  body["proxies"] = {{"connected", applied.connected},
                     {"applied", applied.applied},
                     {"pending", std::move(pending)}};
  body["applied"] = view.route != nullptr && applied.all();
  body["problems"] = view.info.problems;
  return json_response(200, body);
}

HttpResponse RouteStatus::all() const {
  ordered_json body;
  const bool synced = authority_.synced();
  body["synced"] = synced;
  auto table = authority_.table();
  body["tableVersion"] = table ? hex_version(table->version) : "";
  const auto proxies = authority_.proxies();
  body["proxies"] = proxies.size();
  ordered_json routes = ordered_json::array();
  for (const auto& key : authority_.route_keys()) {
    RouteAuthority::RouteView view;
    if (!authority_.route(key, view)) continue;
    const AppliedStatus applied = authority_.applied(key, proxies);
    routes.push_back({{"route", key},
                      {"routed", view.route != nullptr},
                      {"splitGeneration", view.info.split_generation},
                      {"splitSource", view.info.split_source},
                      {"applied", synced && view.route != nullptr && applied.all()}});
  }
  body["routes"] = std::move(routes);
  return json_response(synced ? 200 : 503, body);
}

}  // namespace lockstep::rollout
