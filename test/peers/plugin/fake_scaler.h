#pragma once

// Fake lockstep-scaler replicas for the plugin's VerifyWeight: real HTTP admin servers on
// 127.0.0.1 answering GET /v1/routes/<namespace>/<scaledobject> in the shape of
// docs/split-annotation.md §2, published in the fake API server as the EndpointSlice of the
// scaler Service, like Kubernetes does.

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/http_admin_server.h"
#include "test/support/kube/fake_api_server.h"

namespace lockstep::plugin::testing {

class FakeScalerFleet {
 public:
  // What one replica reports for a ScaledObject, given the annotation the fake API holds now.
  using Report = std::function<HttpResponse(const std::optional<std::string>& annotation)>;

  // Every proxy applies what the API holds: the healthy answer of a synced replica.
  static HttpResponse applied(const std::optional<std::string>& annotation) {
    nlohmann::json j;
    j["synced"] = true;
    j["routed"] = true;
    j["splitSource"] = annotation ? "annotation" : "default";
    j["desired"] = annotation ? nlohmann::json::parse(*annotation) : nlohmann::json(nullptr);
    int64_t canary = 0;
    int64_t stable = 100;
    if (annotation) {
      const auto a = nlohmann::json::parse(*annotation);
      canary = a.value("canaryWeight", 0);
      stable = a.value("maxWeight", 100) - canary;
      for (const auto& d : a.value("additionalDestinations", nlohmann::json::array())) {
        stable -= d.value("weight", 0);
      }
    }
    j["backends"] = {{{"service", "stable"}, {"role", "stable"}, {"weight", stable}, {"endpoints", 2}},
                     {{"service", "canary"}, {"role", "canary"}, {"weight", canary}, {"endpoints", 1}}};
    j["proxies"] = {{"connected", 2}, {"applied", 2}, {"pending", nlohmann::json::array()}};
    j["applied"] = true;
    j["problems"] = nlohmann::json::array();
    return HttpResponse{200, "application/json", j.dump()};
  }

  FakeScalerFleet(lockstep::testing::FakeApiServer& api, std::string ns, std::string service,
                  std::string so_namespace, std::string so_name, size_t replicas)
      : api_(api),
        ns_(std::move(ns)),
        service_(std::move(service)),
        so_namespace_(std::move(so_namespace)),
        so_name_(std::move(so_name)) {
    for (size_t i = 0; i < replicas; ++i) {
      auto server = std::make_unique<HttpAdminServer>(HttpAdminServer::Options{},
                                                      Logger(LogLevel::kError));
      reports_.push_back(&FakeScalerFleet::applied);
      server->handle("/v1/routes/" + so_namespace_ + "/" + so_name_, [this, i](const HttpRequest&) {
        calls_.fetch_add(1);
        Report report;
        {
          std::lock_guard<std::mutex> lock(mu_);
          report = reports_[i];
        }
        return report(annotation());
      });
      std::string error;
      if (!server->start(&error)) throw std::runtime_error("fake scaler: " + error);
      servers_.push_back(std::move(server));
    }
    publish();
  }

  void set_report(size_t replica, Report report) {
    std::lock_guard<std::mutex> lock(mu_);
    reports_[replica] = std::move(report);
  }

  // Writes the EndpointSlice: every replica ready unless listed in `not_ready`; `extra` adds
  // ready endpoints at addresses nobody listens on.
  void publish(std::vector<size_t> not_ready = {}, std::vector<std::string> extra = {}) {
    nlohmann::json endpoints = nlohmann::json::array();
    for (size_t i = 0; i < servers_.size(); ++i) {
      const bool ready = std::find(not_ready.begin(), not_ready.end(), i) == not_ready.end();
      endpoints.push_back({{"addresses", {"127.0.0.1"}},
                           {"conditions", {{"ready", ready}}},
                           {"targetRef", {{"kind", "Pod"}, {"name", service_ + "-" + std::to_string(i)}}}});
    }
    for (const std::string& addr : extra) {
      endpoints.push_back({{"addresses", {addr}}, {"conditions", {{"ready", true}}}});
    }
    // One slice per replica (each has its own port on 127.0.0.1), as Kubernetes may split them.
    for (size_t i = 0; i < servers_.size() + (extra.empty() ? 0 : 1); ++i) {
      const bool is_extra = i == servers_.size();
      nlohmann::json slice = {
          {"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", service_ + "-" + std::to_string(i)},
            {"namespace", ns_},
            {"labels", {{"kubernetes.io/service-name", service_}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "http-admin"}, {"port", is_extra ? 9 : servers_[i]->port()}, {"protocol", "TCP"}}}},
          {"endpoints", is_extra ? nlohmann::json::array() : nlohmann::json::array({endpoints[i]})}};
      if (is_extra) {
        for (size_t k = servers_.size(); k < endpoints.size(); ++k) slice["endpoints"].push_back(endpoints[k]);
      }
      api_.upsert(slice);
    }
  }

  size_t calls() const { return calls_.load(); }
  size_t size() const { return servers_.size(); }

 private:
  std::optional<std::string> annotation() const {
    const auto so = api_.get("keda.sh/v1alpha1", "ScaledObject", so_namespace_, so_name_);
    if (!so) return std::nullopt;
    const auto& meta = (*so)["metadata"];
    if (!meta.contains("annotations") || !meta["annotations"].contains("lockstep.dev/split")) {
      return std::nullopt;
    }
    return meta["annotations"]["lockstep.dev/split"].get<std::string>();
  }

  lockstep::testing::FakeApiServer& api_;
  std::string ns_;
  std::string service_;
  std::string so_namespace_;
  std::string so_name_;
  std::mutex mu_;  // guards reports_
  std::vector<Report> reports_;
  std::vector<std::unique_ptr<HttpAdminServer>> servers_;
  std::atomic<size_t> calls_{0};
};

}  // namespace lockstep::plugin::testing
