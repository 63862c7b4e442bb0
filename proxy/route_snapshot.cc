#include "proxy/route_snapshot.h"

#include <algorithm>
#include <set>

#include "common/dns_name.h"
#include "lockstep/v1/routes.pb.h"

namespace lockstep::proxy {

bool HeaderCondition::matches(std::string_view v) const {
  switch (kind) {
    case HeaderMatchKind::kExact:
      return v == value;
    case HeaderMatchKind::kPrefix:
      return v.substr(0, value.size()) == value;
    case HeaderMatchKind::kRegex:
      if (v.size() > kMaxRegexInput || !regex) return false;
      return std::regex_match(v.begin(), v.end(), *regex);
  }
  return false;
}

const BackendEntry* RouteEntry::find_backend(std::string_view service) const {
  for (const auto& b : backends) {
    if (b.service == service) return &b;
  }
  return nullptr;
}

bool path_prefix_matches(std::string_view prefix, std::string_view path) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  return prefix.empty() || prefix.back() == '/' || path.size() == prefix.size() ||
         path[prefix.size()] == '/';
}

const RouteEntry* RouteSnapshot::match_rules(const HostRules& rules, std::string_view path) const {
  for (const auto& r : rules.rules) {
    if (path_prefix_matches(r.prefix, path)) return &routes_[r.route];
  }
  return nullptr;
}

const RouteEntry* RouteSnapshot::match(std::string_view host, std::string_view path) const {
  if (auto it = exact_.find(host); it != exact_.end()) {
    if (const RouteEntry* r = match_rules(it->second, path)) return r;
  }
  if (!wildcard_.empty()) {
    // "a.b.example.com" tries "b.example.com", then "example.com", then "com".
    std::string_view rest = host;
    for (auto dot = rest.find('.'); dot != std::string_view::npos; dot = rest.find('.')) {
      rest.remove_prefix(dot + 1);
      if (auto it = wildcard_.find(rest); it != wildcard_.end()) {
        if (const RouteEntry* r = match_rules(it->second, path)) return r;
      }
    }
  }
  return match_rules(any_, path);
}

const RouteEntry* RouteSnapshot::find_route(std::string_view key) const {
  auto it = std::lower_bound(routes_.begin(), routes_.end(), key,
                             [](const RouteEntry& r, std::string_view k) { return r.key < k; });
  return it != routes_.end() && it->key == key ? &*it : nullptr;
}

namespace {

// A host name as the route table carries it: lower case, no port; labels of letters, digits,
// '-' and '_' (some clusters use it), or an IPv4 literal.
bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  size_t label = 0;
  for (char c : h) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return true;
}

bool valid_path_prefix(std::string_view p) {
  if (p.empty() || p.front() != '/' || p.size() > 1024) return false;
  for (char c : p) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '?' || c == '#') return false;
  }
  return true;
}

bool valid_header_name(std::string_view h) {
  if (h.empty() || h.size() > 256) return false;
  for (char c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

Role role_from_proto(lockstep::v1::Role r) {
  switch (r) {
    case lockstep::v1::ROLE_STABLE:
      return Role::kStable;
    case lockstep::v1::ROLE_CANARY:
      return Role::kCanary;
    default:
      return Role::kOther;
  }
}

}  // namespace

struct RouteTableCompiler {
  const lockstep::v1::RouteTable& table;
  TrafficCounters& counters;
  CompiledTable out;
  std::shared_ptr<RouteSnapshot> snap = std::make_shared<RouteSnapshot>();

  void reject(std::string route, std::string field, std::string reason, std::string kind) {
    out.rejects.push_back({std::move(route), std::move(field), std::move(reason), std::move(kind)});
  }

  // Builds one route entry; false when the route as a whole is unusable.
  bool compile_route(const lockstep::v1::Route& r, RouteEntry& e) {
    const std::string& key = r.key();
    auto slash = key.find('/');
    if (slash == std::string::npos || !is_dns1123_label(key.substr(0, slash)) ||
        !is_dns1123_subdomain(key.substr(slash + 1))) {
      reject(key.substr(0, 300), "key", "not \"namespace/name\" with DNS-1123 parts", "route");
      return false;
    }
    e.key = key;
    if (r.backends().empty()) {
      reject(key, "backends", "no backends", "backend");
      return false;
    }
    std::set<std::string_view> services;
    std::vector<uint32_t> weights;
    for (int i = 0; i < r.backends_size(); ++i) {
      const auto& b = r.backends(i);
      const std::string field = "backends[" + std::to_string(i) + "]";
      if (!is_dns1123_label(b.service())) {
        reject(key, field + ".service", "not a DNS-1123 label", "backend");
        return false;
      }
      if (!services.insert(b.service()).second) {
        reject(key, field + ".service", "service \"" + b.service() + "\" listed twice", "backend");
        return false;
      }
      BackendEntry be;
      be.service = b.service();
      be.role = role_from_proto(b.role());
      be.weight = b.weight();
      for (int j = 0; j < b.endpoints_size(); ++j) {
        const auto& ep = b.endpoints(j);
        const std::string ef = field + ".endpoints[" + std::to_string(j) + "]";
        boost::system::error_code ec;
        auto ip = boost::asio::ip::make_address(ep.ip(), ec);
        if (ec) {
          reject(key, ef + ".ip", "not an IP literal: \"" + ep.ip().substr(0, 64) + "\"", "endpoint");
          continue;
        }
        if (ep.port() == 0 || ep.port() > 65535) {
          reject(key, ef + ".port", "not in [1, 65535]", "endpoint");
          continue;
        }
        be.endpoints.emplace_back(ip, static_cast<uint16_t>(ep.port()));
      }
      weights.push_back(be.weight);
      e.backends.push_back(std::move(be));
    }
    std::string err;
    if (auto s = WeightedSchedule::build(weights, &err)) {
      e.schedule = std::move(*s);
    } else {
      // Still route: everything goes to the first (stable) backend rather than failing requests.
      reject(key, "backends[].weight", err + "; all traffic goes to the first backend", "weights");
      std::vector<uint32_t> first(weights.size(), 0);
      first[0] = 1;
      e.schedule = *WeightedSchedule::build(first, nullptr);
    }
    for (int i = 0; i < r.header_routes_size(); ++i) {
      const auto& hr = r.header_routes(i);
      const std::string field = "header_routes[" + std::to_string(i) + "]";
      HeaderRouteEntry he;
      he.name = hr.name();
      const BackendEntry* target = e.find_backend(hr.service());
      if (target == nullptr) {
        reject(key, field + ".service", "\"" + hr.service() + "\" is not a backend of the route",
               "header_route");
        continue;
      }
      he.backend = static_cast<uint32_t>(target - e.backends.data());
      bool ok = !hr.matches().empty();
      if (!ok) reject(key, field + ".matches", "no matches", "header_route");
      for (int j = 0; ok && j < hr.matches_size(); ++j) {
        const auto& m = hr.matches(j);
        const std::string mf = field + ".matches[" + std::to_string(j) + "]";
        HeaderCondition c;
        c.header = m.header();
        std::transform(c.header.begin(), c.header.end(), c.header.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (!valid_header_name(c.header)) {
          reject(key, mf + ".header", "not a header name", "header_route");
          ok = false;
          break;
        }
        c.value = m.value();
        switch (m.kind()) {
          case lockstep::v1::MATCH_KIND_EXACT:
            c.kind = HeaderMatchKind::kExact;
            break;
          case lockstep::v1::MATCH_KIND_PREFIX:
            c.kind = HeaderMatchKind::kPrefix;
            break;
          case lockstep::v1::MATCH_KIND_REGEX:
            c.kind = HeaderMatchKind::kRegex;
            if (c.value.size() > 1024) {
              reject(key, mf + ".value", "regex longer than 1024 bytes", "header_route");
              ok = false;
              break;
            }
            try {
              c.regex = std::make_shared<const std::regex>(c.value, std::regex::ECMAScript);
            } catch (const std::regex_error& ex) {
              reject(key, mf + ".value", std::string("invalid regex: ") + ex.what(),
                     "header_route");
              ok = false;
            }
            break;
          default:
            reject(key, mf + ".kind", "unknown match kind", "header_route");
            ok = false;
            break;
        }
        if (ok) he.conditions.push_back(std::move(c));
      }
      if (ok) e.header_routes.push_back(std::move(he));
    }
    return true;
  }

  void add_host_rules(RouteSnapshot::HostRules& rules, const std::string& prefix, uint32_t route,
                      const std::string& host) {
    for (const auto& existing : rules.rules) {
      if (existing.prefix == prefix) {
        reject(snap->routes_[route].key, "path_prefixes",
               "host \"" + host + "\" prefix \"" + prefix + "\" already served by route " +
                   snap->routes_[existing.route].key,
               "conflict");
        return;
      }
    }
    rules.rules.push_back({prefix, route});
  }

  void run() {
    if (table.version() == 0) {
      reject("", "version", "table version is 0", "version");
      return;
    }
    snap->version_ = table.version();
    std::vector<const lockstep::v1::Route*> sorted;
    for (const auto& r : table.routes()) sorted.push_back(&r);
    std::sort(sorted.begin(), sorted.end(),
              [](auto* a, auto* b) { return a->key() < b->key(); });
    std::set<std::string_view> keys;
    std::vector<const lockstep::v1::Route*> sources;  // parallel to snap->routes_
    for (const auto* r : sorted) {
      if (!keys.insert(r->key()).second) {
        reject(r->key(), "key", "route listed twice; the first one applies", "route");
        continue;
      }
      RouteEntry e;
      if (compile_route(*r, e)) {
        snap->routes_.push_back(std::move(e));
        sources.push_back(r);
      }
    }
    // Counters only after validation, so a rejected route never registers a series.
    for (size_t i = 0; i < snap->routes_.size(); ++i) {
      RouteEntry& e = snap->routes_[i];
      e.counters = &counters.route(e.key);
      for (auto& b : e.backends) {
        b.series = &counters.series(*e.counters, b.service);
        b.series->set_role(b.role);
      }
      const lockstep::v1::Route& r = *sources[i];
      std::vector<std::string> prefixes;
      for (const auto& p : r.path_prefixes()) {
        if (!valid_path_prefix(p)) {
          reject(e.key, "path_prefixes", "\"" + p.substr(0, 64) + "\" does not start with / or has "
                 "spaces, controls, ? or #", "path_prefix");
          continue;
        }
        prefixes.push_back(p);
      }
      if (r.path_prefixes().empty()) prefixes.push_back("/");
      std::vector<std::string> hosts(r.hosts().begin(), r.hosts().end());
      if (hosts.empty()) hosts.push_back("*");
      const auto route = static_cast<uint32_t>(i);
      for (const auto& h : hosts) {
        RouteSnapshot::HostRules* rules = nullptr;
        if (h == "*") {
          rules = &snap->any_;
        } else if (h.rfind("*.", 0) == 0 && valid_host_name(h.substr(2))) {
          rules = &snap->wildcard_[h.substr(2)];
        } else if (valid_host_name(h)) {
          rules = &snap->exact_[h];
        } else {
          reject(e.key, "hosts", "\"" + h.substr(0, 64) + "\" is not a lower-case host name or "
                 "*.domain", "host");
          continue;
        }
        for (const auto& p : prefixes) add_host_rules(*rules, p, route, h);
      }
    }
    auto order = [](RouteSnapshot::HostRules& rules) {
      std::stable_sort(rules.rules.begin(), rules.rules.end(), [](const auto& a, const auto& b) {
        return a.prefix.size() > b.prefix.size();
      });
    };
    for (auto& [h, rules] : snap->exact_) order(rules);
    for (auto& [h, rules] : snap->wildcard_) order(rules);
    order(snap->any_);
    out.snapshot = std::move(snap);
  }
};

CompiledTable compile_route_table(const lockstep::v1::RouteTable& table, TrafficCounters& counters) {
  RouteTableCompiler c{table, counters, {}};
  c.run();
  return std::move(c.out);
}

}  // namespace lockstep::proxy
