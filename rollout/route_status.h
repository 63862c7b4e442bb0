#pragma once

#include <string>

#include "common/http_admin_server.h"
#include "rollout/route_authority.h"

namespace lockstep::rollout {

// The split status endpoint of docs/split-annotation.md §2, served on the scaler's admin port:
//   GET /v1/routes                     every route this replica knows
//   GET /v1/routes/<namespace>/<name>  one route: desired split, table version, proxies, applied
// 503 until this replica has synced (it must not claim anything), 404 for an unknown route.
class RouteStatus {
 public:
  explicit RouteStatus(const RouteAuthority& authority) : authority_(authority) {}
  HttpResponse handle(const HttpRequest& request) const;

  static constexpr const char* kPrefix = "/v1/routes";

 private:
  HttpResponse one(const std::string& ns, const std::string& name) const;
  HttpResponse all() const;

  const RouteAuthority& authority_;
};

// 16 lower-case hex digits.
std::string hex_version(uint64_t v);

}  // namespace lockstep::rollout
