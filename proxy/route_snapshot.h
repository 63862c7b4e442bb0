#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/traffic_counters.h"
#include "proxy/weighted_schedule.h"

namespace lockstep::v1 {
class RouteTable;
}

namespace lockstep::proxy {

using Endpoint = boost::asio::ip::tcp::endpoint;

struct BackendEntry {
  std::string service;
  Role role = Role::kOther;
  uint32_t weight = 0;
  // Ready endpoints; empty = cold (requests are held).
  std::vector<Endpoint> endpoints;
  SeriesCounters* series = nullptr;
};

enum class HeaderMatchKind : uint8_t { kExact, kPrefix, kRegex };

struct HeaderCondition {
  std::string header;  // lower case
  HeaderMatchKind kind = HeaderMatchKind::kExact;
  std::string value;
  std::shared_ptr<const std::regex> regex;  // kRegex only

  // Regex matching is skipped (no match) for values longer than this, bounding its cost.
  static constexpr size_t kMaxRegexInput = 1024;
  bool matches(std::string_view v) const;
};

struct HeaderRouteEntry {
  std::string name;
  std::vector<HeaderCondition> conditions;  // all must hold
  uint32_t backend = 0;                     // index into RouteEntry::backends
};

struct RouteEntry {
  std::string key;  // "namespace/name"
  std::vector<BackendEntry> backends;
  std::vector<HeaderRouteEntry> header_routes;
  WeightedSchedule schedule;
  RouteCounters* counters = nullptr;

  const BackendEntry* find_backend(std::string_view service) const;

  // Header routes in order, then the weighted split. `header(name)` returns the first value of a
  // lower-case header name, or nullopt. The split consumes one sequence number of the route.
  template <typename HeaderLookup>
  uint32_t choose_backend(const HeaderLookup& header) const {
    for (const auto& hr : header_routes) {
      bool all = true;
      for (const auto& c : hr.conditions) {
        std::optional<std::string_view> v = header(c.header);
        if (!v || !c.matches(*v)) {
          all = false;
          break;
        }
      }
      if (all) return hr.backend;
    }
    if (schedule.single()) return schedule.pick(0);
    // relaxed: the split needs distinct sequence numbers, not ordering with other memory.
    return schedule.pick(counters->split_seq.fetch_add(1, std::memory_order_relaxed));
  }
};

// An immutable, compiled route table. Built on a control thread, then published to every worker;
// the request path reads it without locks.
class RouteSnapshot {
 public:
  uint64_t version() const { return version_; }
  const std::vector<RouteEntry>& routes() const { return routes_; }

  // `host`: normalised (lower case, no port, no trailing dot). Exact host first, then "*.domain"
  // wildcards from the most specific suffix, then catch-all routes; within each, the longest
  // path prefix on segment boundaries ("/api" matches "/api" and "/api/x", not "/apix").
  const RouteEntry* match(std::string_view host, std::string_view path) const;
  const RouteEntry* find_route(std::string_view key) const;

 private:
  friend struct RouteTableCompiler;
  struct PrefixRule {
    std::string prefix;
    uint32_t route;
  };
  struct HostRules {
    std::vector<PrefixRule> rules;  // longest prefix first
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using HostMap = std::unordered_map<std::string, HostRules, StringHash, std::equal_to<>>;

  const RouteEntry* match_rules(const HostRules& rules, std::string_view path) const;

  uint64_t version_ = 0;
  std::vector<RouteEntry> routes_;  // sorted by key
  HostMap exact_;
  HostMap wildcard_;  // keyed by the domain after "*."
  HostRules any_;
};

// One problem found while compiling a table; the table is applied without the bad part.
struct TableReject {
  std::string route;   // route key ("" for table-level problems)
  std::string field;   // e.g. "hosts", "backends[1].endpoints[0].ip" (also the metric reason)
  std::string reason;  // human-readable, for logs
  std::string kind;    // bounded metric label: route|host|path_prefix|backend|endpoint|header_route|weights|conflict|version
};

struct CompiledTable {
  std::shared_ptr<const RouteSnapshot> snapshot;  // null when the whole table is refused
  std::vector<TableReject> rejects;
};

// Validates and compiles a table. Invalid routes, hosts, endpoints or header routes are dropped
// and reported; the rest applies. Registers a counter series for every (route, backend).
CompiledTable compile_route_table(const lockstep::v1::RouteTable& table, TrafficCounters& counters);

// Path prefix match on segment boundaries.
bool path_prefix_matches(std::string_view prefix, std::string_view path);

}  // namespace lockstep::proxy
