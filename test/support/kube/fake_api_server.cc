#include "test/support/kube/fake_api_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "rollout/kube/label_selector.h"

namespace lockstep::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

json status_body(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"},     {"apiVersion", "v1"},  {"metadata", json::object()},
              {"status", "Failure"},  {"message", message}, {"reason", reason},
              {"code", code}};
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int h = hex(s[i + 1]);
      const int l = hex(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out += static_cast<char>(h * 16 + l);
        i += 2;
        continue;
      }
    }
    out += s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      out[percent_decode(part)] = "";
    } else {
      out[percent_decode(part.substr(0, eq))] = percent_decode(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    q = q.substr(amp + 1);
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::map<std::string, std::string, std::less<>> labels_of(const json& obj) {
  std::map<std::string, std::string, std::less<>> out;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return out;
  auto l = m->find("labels");
  if (l == m->end() || !l->is_object()) return out;
  for (auto it = l->begin(); it != l->end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string meta_string(const json& obj, const char* key) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto v = m->find(key);
  if (v == m->end() || !v->is_string()) return {};
  return v->get<std::string>();
}

// Field selectors the fake understands: metadata.name and metadata.namespace with = / == / !=.
struct FieldSelector {
  struct Term {
    std::string field;
    bool equal;
    std::string value;
  };
  std::vector<Term> terms;
  bool matches(const json& obj) const {
    for (const Term& t : terms) {
      const std::string have =
          meta_string(obj, t.field == "metadata.name" ? "name" : "namespace");
      if ((have == t.value) != t.equal) return false;
    }
    return true;
  }
  static bool parse(std::string_view text, FieldSelector& out, std::string& error) {
    while (!text.empty()) {
      const size_t comma = text.find(',');
      std::string_view term = text.substr(0, comma);
      Term t;
      size_t op = term.find("!=");
      size_t op_len = 2;
      t.equal = false;
      if (op == std::string_view::npos) {
        t.equal = true;
        op = term.find("==");
        if (op == std::string_view::npos) {
          op = term.find('=');
          op_len = 1;
        }
      }
      if (op == std::string_view::npos) {
        error = "invalid field selector term \"" + std::string(term) + "\"";
        return false;
      }
      t.field = std::string(term.substr(0, op));
      t.value = std::string(term.substr(op + op_len));
      if (t.field != "metadata.name" && t.field != "metadata.namespace") {
        error = "field label not supported: " + t.field;
        return false;
      }
      out.terms.push_back(std::move(t));
      if (comma == std::string_view::npos) break;
      text = text.substr(comma + 1);
    }
    return true;
  }
};

struct Reply {
  int status = 200;
  json body;
};

}  // namespace

struct FakeApiServer::Impl {
  struct Event {
    std::string resource;  // resource key
    std::string type;      // ADDED / MODIFIED / DELETED
    json object;
    json previous;  // state before a MODIFIED (for label-selector transitions)
    uint64_t rv = 0;
  };
  struct Conn {
    int fd = -1;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
    // Set by stop_listening(): a watch waiting for events must give up (its socket is dead).
    std::shared_ptr<std::atomic<bool>> closing;
  };

  Options options;
  TestPki pki;
  CertAndKey server_cert;
  ssl::context ctx{ssl::context::tls_server};
  net::io_context ioc;  // owns the sockets; all I/O is synchronous

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::vector<FakeResource> resources;                                // guarded by mu
  std::map<std::string, std::map<std::pair<std::string, std::string>, json>> store;  // by mu
  std::deque<Event> history;                                          // guarded by mu
  uint64_t rv = 1000;                                                 // guarded by mu
  uint64_t compacted_rv = 1000;  // a watch must start at or after this; guarded by mu
  uint64_t uids = 0;                                                  // guarded by mu
  std::set<std::string> tokens;                                       // guarded by mu
  int fail_count = 0;                                                 // guarded by mu
  int fail_status = 500;                                              // guarded by mu
  uint64_t bookmark_epoch = 0;                                        // guarded by mu
  uint64_t end_epoch = 0;                                             // guarded by mu
  uint64_t expire_epoch = 0;                                          // guarded by mu
  uint64_t server_generation = 0;  // bumped by restart(); guarded by mu
  size_t open_watches = 0;                                            // guarded by mu
  std::deque<Request> requests;                                       // guarded by mu
  bool shutting_down = false;                                         // guarded by mu

  uint16_t port = 0;
  std::unique_ptr<tcp::acceptor> acceptor;  // touched by the test thread only
  std::thread accept_thread;
  std::mutex conns_mu;
  std::list<Conn> conns;  // guarded by conns_mu

  explicit Impl(Options o) : options(std::move(o)) {
    server_cert = pki.issue_server();
    ctx.use_certificate_chain(net::buffer(server_cert.cert_pem));
    ctx.use_private_key(net::buffer(server_cert.key_pem), ssl::context::pem);
    ctx.add_certificate_authority(net::buffer(pki.ca_pem()));
    ctx.set_verify_mode(ssl::verify_peer);  // a client certificate is optional but checked
    tokens.insert(options.tokens.begin(), options.tokens.end());
    resources = {
        {"", "v1", "services", "Service", true, true, {"svc"}},
        {"", "v1", "pods", "Pod", true, true, {"po"}},
        {"", "v1", "configmaps", "ConfigMap", true, true, {"cm"}},
        {"", "v1", "namespaces", "Namespace", false, true, {"ns"}},
        {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, true, {}},
        {"keda.sh", "v1alpha1", "scaledobjects", "ScaledObject", true, false, {"so"}},
        {"argoproj.io", "v1alpha1", "rollouts", "Rollout", true, false, {"ro"}},
    };
  }

  static std::string key_of(const FakeResource& r) { return r.group + "/" + r.plural; }

  const FakeResource* find_resource(const std::string& group, const std::string& version,
                                    const std::string& plural) const {
    for (const auto& r : resources) {
      if (r.group == group && r.version == version && r.plural == plural) return &r;
    }
    return nullptr;
  }
  const FakeResource* find_kind(const std::string& api_version, const std::string& kind) const {
    for (const auto& r : resources) {
      if (r.api_version() == api_version && r.kind == kind) return &r;
    }
    return nullptr;
  }

  // --- store (callers hold mu) ---------------------------------------------------------------

  static json strip_for_generation(json obj) {
    obj.erase("metadata");
    obj.erase("status");
    return obj;
  }

  void record_event(const std::string& resource, std::string type, json object, json previous) {
    history.push_back(Event{resource, std::move(type), std::move(object), std::move(previous), rv});
    while (history.size() > options.history_limit) {
      compacted_rv = history.front().rv;
      history.pop_front();
    }
    cv.notify_all();
  }

  // Stores `obj` (validated by the caller) as the new state; returns the stored copy.
  json put(const FakeResource& res, json obj) {
    const std::string ns = res.namespaced ? meta_string(obj, "namespace") : "";
    const std::string name = meta_string(obj, "name");
    auto& objects = store[key_of(res)];
    auto it = objects.find({ns, name});
    json& meta = obj["metadata"];
    obj["apiVersion"] = res.api_version();
    obj["kind"] = res.kind;
    ++rv;
    meta["resourceVersion"] = std::to_string(rv);
    if (it == objects.end()) {
      meta["uid"] = "00000000-0000-4000-8000-" + [&] {
        char buf[13];
        std::snprintf(buf, sizeof buf, "%012llu", static_cast<unsigned long long>(++uids));
        return std::string(buf);
      }();
      meta["generation"] = 1;
      if (!meta.contains("creationTimestamp")) meta["creationTimestamp"] = "2026-01-01T00:00:00Z";
      objects.emplace(std::make_pair(ns, name), obj);
      record_event(key_of(res), "ADDED", obj, nullptr);
    } else {
      json previous = it->second;
      meta["uid"] = previous["metadata"]["uid"];
      meta["creationTimestamp"] = previous["metadata"]["creationTimestamp"];
      meta["generation"] = previous["metadata"]["generation"];
      meta["resourceVersion"] = previous["metadata"]["resourceVersion"];
      if (obj == previous) {
        --rv;  // a no-op write is not stored: same resourceVersion, no watch event
        return previous;
      }
      meta["resourceVersion"] = std::to_string(rv);
      int64_t gen = previous["metadata"].value("generation", int64_t{1});
      if (strip_for_generation(previous) != strip_for_generation(obj)) ++gen;
      meta["generation"] = gen;
      it->second = obj;
      record_event(key_of(res), "MODIFIED", obj, std::move(previous));
    }
    return obj;
  }

  bool erase(const FakeResource& res, const std::string& ns, const std::string& name,
             json* removed) {
    auto& objects = store[key_of(res)];
    auto it = objects.find({ns, name});
    if (it == objects.end()) return false;
    json obj = std::move(it->second);
    objects.erase(it);
    ++rv;
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    if (removed) *removed = obj;
    record_event(key_of(res), "DELETED", std::move(obj), nullptr);
    return true;
  }

  // Validates identity fields of an object about to be written under (res, ns, name).
  static bool check_identity(const FakeResource& res, json& obj, const std::string& ns,
                             const std::string& name, Reply& reply) {
    if (!obj.is_object()) {
      reply = {400, status_body(400, "BadRequest", "the body must be a JSON object")};
      return false;
    }
    if (obj.contains("kind") && obj["kind"] != res.kind) {
      reply = {400, status_body(400, "BadRequest",
                                "kind " + obj["kind"].dump() + " does not match " + res.kind)};
      return false;
    }
    if (obj.contains("apiVersion") && obj["apiVersion"] != res.api_version()) {
      reply = {400, status_body(400, "BadRequest", "apiVersion does not match " +
                                                       res.api_version())};
      return false;
    }
    json& meta = obj["metadata"];
    if (!meta.is_object()) {
      reply = {422, status_body(422, "Invalid", "metadata: must be an object")};
      return false;
    }
    const std::string obj_name = meta.value("name", "");
    if (obj_name.empty()) {
      reply = {422, status_body(422, "Invalid", "metadata.name: Required value")};
      return false;
    }
    if (!name.empty() && obj_name != name) {
      reply = {400, status_body(400, "BadRequest",
                                "the name of the object (" + obj_name +
                                    ") does not match the name on the URL (" + name + ")")};
      return false;
    }
    if (!kube::is_dns1123_subdomain(obj_name)) {
      reply = {422, status_body(422, "Invalid", "metadata.name: Invalid value: \"" + obj_name +
                                                    "\": must be a DNS-1123 subdomain")};
      return false;
    }
    if (res.namespaced) {
      const std::string obj_ns = meta.value("namespace", ns);
      if (obj_ns != ns) {
        reply = {400, status_body(400, "BadRequest",
                                  "the namespace of the object (" + obj_ns +
                                      ") does not match the namespace on the request (" + ns +
                                      ")")};
        return false;
      }
      meta["namespace"] = ns;
    } else {
      meta.erase("namespace");
    }
    return true;
  }

  // --- HTTP -------------------------------------------------------------------------------------

  struct Target {
    const FakeResource* res = nullptr;
    std::string ns;    // "" for cluster-wide collections
    std::string name;  // "" for collections
    bool bad_subresource = false;
  };

  // Resolves /api/v1/... and /apis/g/v/... to a resource; false if the path is not one.
  bool resolve(const std::vector<std::string>& seg, Target& t) const {
    size_t i = 0;
    std::string group, version;
    if (seg.size() >= 2 && seg[0] == "api") {
      version = seg[1];
      i = 2;
    } else if (seg.size() >= 3 && seg[0] == "apis") {
      group = seg[1];
      version = seg[2];
      i = 3;
    } else {
      return false;
    }
    std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
    if (rest.empty()) return false;
    if (rest[0] == "namespaces" && rest.size() >= 3) {
      t.ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    } else if (rest[0] == "namespaces" && rest.size() == 2 && group.empty()) {
      // GET /api/v1/namespaces/<name>: the Namespace object itself.
      t.res = find_resource("", version, "namespaces");
      t.name = rest[1];
      return t.res != nullptr;
    }
    t.res = find_resource(group, version, rest[0]);
    if (!t.res) return false;
    if (rest.size() >= 2) t.name = rest[1];
    if (rest.size() >= 3) t.bad_subresource = true;
    if (!t.res->namespaced && !t.ns.empty()) return false;
    return true;
  }

  json discovery(const std::vector<std::string>& seg, bool& found) const {
    found = true;
    if (seg.size() == 1 && seg[0] == "api") {
      return {{"kind", "APIVersions"},
              {"versions", {"v1"}},
              {"serverAddressByClientCIDRs",
               {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:" + std::to_string(port)}}}}};
    }
    if (seg.size() == 1 && seg[0] == "apis") {
      std::map<std::string, std::set<std::string>> groups;
      for (const auto& r : resources) {
        if (!r.group.empty()) groups[r.group].insert(r.version);
      }
      json list = json::array();
      for (const auto& [g, versions] : groups) {
        json vs = json::array();
        for (const auto& v : versions) vs.push_back({{"groupVersion", g + "/" + v}, {"version", v}});
        list.push_back({{"name", g},
                        {"versions", vs},
                        {"preferredVersion", vs.front()}});
      }
      return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}};
    }
    std::string group, version;
    if (seg.size() == 2 && seg[0] == "api") {
      version = seg[1];
    } else if (seg.size() == 3 && seg[0] == "apis") {
      group = seg[1];
      version = seg[2];
    } else if (seg.size() == 2 && seg[0] == "apis") {
      group = seg[1];
      json vs = json::array();
      for (const auto& r : resources) {
        if (r.group == group) vs.push_back({{"groupVersion", r.api_version()}, {"version", r.version}});
      }
      if (vs.empty()) {
        found = false;
        return nullptr;
      }
      return {{"kind", "APIGroup"}, {"apiVersion", "v1"}, {"name", group}, {"versions", vs},
              {"preferredVersion", vs.front()}};
    } else {
      found = false;
      return nullptr;
    }
    json list = json::array();
    for (const auto& r : resources) {
      if (r.group != group || r.version != version) continue;
      std::string singular = r.kind;
      std::transform(singular.begin(), singular.end(), singular.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      list.push_back({{"name", r.plural},
                      {"singularName", singular},
                      {"namespaced", r.namespaced},
                      {"kind", r.kind},
                      {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}},
                      {"shortNames", r.short_names}});
    }
    if (list.empty()) {
      found = false;
      return nullptr;
    }
    return {{"kind", "APIResourceList"},
            {"apiVersion", "v1"},
            {"groupVersion", group.empty() ? version : group + "/" + version},
            {"resources", list}};
  }

  static std::string not_found_message(const FakeResource& res, const std::string& name) {
    std::string qualified = res.plural + (res.group.empty() ? "" : "." + res.group);
    return qualified + " \"" + name + "\" not found";
  }

  // Answers a non-watch request; holds mu.
  Reply handle(const http::request<http::string_body>& req, const Target& t,
               const std::map<std::string, std::string>& query) {
    const FakeResource& res = *t.res;
    if (t.bad_subresource) {
      return {404, status_body(404, "NotFound", "subresources are not supported by the fake")};
    }
    if (res.namespaced && t.ns.empty() && req.method() != http::verb::get) {
      return {405, status_body(405, "MethodNotAllowed", "namespace required")};
    }
    auto& objects = store[key_of(res)];
    switch (req.method()) {
      case http::verb::get: {
        if (!t.name.empty()) {
          auto it = objects.find({t.ns, t.name});
          if (it == objects.end()) {
            return {404, status_body(404, "NotFound", not_found_message(res, t.name))};
          }
          return {200, it->second};
        }
        return list(res, t.ns, query, objects);
      }
      case http::verb::post: {
        if (!t.name.empty()) return {405, status_body(405, "MethodNotAllowed", "POST to an object")};
        json obj = json::parse(req.body(), nullptr, false);
        if (obj.is_discarded()) return {400, status_body(400, "BadRequest", "body is not JSON")};
        Reply reply;
        if (!check_identity(res, obj, t.ns, "", reply)) return reply;
        if (objects.count({t.ns, meta_string(obj, "name")})) {
          return {409, status_body(409, "AlreadyExists",
                                   res.plural + " \"" + meta_string(obj, "name") +
                                       "\" already exists")};
        }
        obj["metadata"].erase("resourceVersion");
        return {201, put(res, std::move(obj))};
      }
      case http::verb::put: {
        auto it = objects.find({t.ns, t.name});
        if (it == objects.end()) {
          return {404, status_body(404, "NotFound", not_found_message(res, t.name))};
        }
        json obj = json::parse(req.body(), nullptr, false);
        if (obj.is_discarded()) return {400, status_body(400, "BadRequest", "body is not JSON")};
        Reply reply;
        if (!check_identity(res, obj, t.ns, t.name, reply)) return reply;
        const std::string want = meta_string(obj, "resourceVersion");
        if (!want.empty() && want != meta_string(it->second, "resourceVersion")) {
          return {409, status_body(409, "Conflict",
                                   "Operation cannot be fulfilled on " + res.plural + " \"" +
                                       t.name +
                                       "\": the object has been modified; please apply your "
                                       "changes to the latest version and try again")};
        }
        return {200, put(res, std::move(obj))};
      }
      case http::verb::patch: {
        auto it = objects.find({t.ns, t.name});
        if (it == objects.end()) {
          return {404, status_body(404, "NotFound", not_found_message(res, t.name))};
        }
        std::string ct(req[http::field::content_type]);
        if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
        json patch = json::parse(req.body(), nullptr, false);
        if (patch.is_discarded()) {
          return {400, status_body(400, "BadRequest", "the patch is not JSON")};
        }
        json patched;
        if (ct == "application/merge-patch+json" ||
            (ct == "application/strategic-merge-patch+json" && res.builtin)) {
          if (!patch.is_object()) {
            return {400, status_body(400, "BadRequest", "a merge patch must be a JSON object")};
          }
          patched = it->second;
          patched.merge_patch(patch);
        } else if (ct == "application/json-patch+json") {
          try {
            patched = it->second.patch(patch);
          } catch (const std::exception& e) {
            return {422, status_body(422, "Invalid", std::string("json patch: ") + e.what())};
          }
        } else {
          return {415, status_body(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted "
                                   "media types include: application/json-patch+json, "
                                   "application/merge-patch+json")};
        }
        const std::string want = patch.is_object() && patch.contains("metadata") &&
                                         patch["metadata"].is_object()
                                     ? patch["metadata"].value("resourceVersion", "")
                                     : "";
        if (!want.empty() && want != meta_string(it->second, "resourceVersion")) {
          return {409, status_body(409, "Conflict",
                                   "Operation cannot be fulfilled on " + res.plural + " \"" +
                                       t.name + "\": the object has been modified")};
        }
        Reply reply;
        if (!check_identity(res, patched, t.ns, t.name, reply)) return reply;
        return {200, put(res, std::move(patched))};
      }
      case http::verb::delete_: {
        json removed;
        if (!erase(res, t.ns, t.name, &removed)) {
          return {404, status_body(404, "NotFound", not_found_message(res, t.name))};
        }
        return {200, removed};
      }
      default:
        return {405, status_body(405, "MethodNotAllowed", "method not allowed")};
    }
  }

  Reply list(const FakeResource& res, const std::string& ns,
             const std::map<std::string, std::string>& query,
             const std::map<std::pair<std::string, std::string>, json>& objects) const {
    std::string error;
    std::optional<kube::LabelSelector> selector = kube::LabelSelector();
    if (auto q = query.find("labelSelector"); q != query.end()) {
      selector = kube::LabelSelector::parse(q->second, &error);
      if (!selector) return {400, status_body(400, "BadRequest", "unable to parse requirement: " + error)};
    }
    FieldSelector fields;
    if (auto q = query.find("fieldSelector"); q != query.end()) {
      if (!FieldSelector::parse(q->second, fields, error)) {
        return {400, status_body(400, "BadRequest", error)};
      }
    }
    size_t limit = 0;
    if (auto q = query.find("limit"); q != query.end() && !q->second.empty()) {
      limit = std::stoul(q->second);
    }
    std::pair<std::string, std::string> after;
    bool has_after = false;
    if (auto q = query.find("continue"); q != query.end() && !q->second.empty()) {
      // Token: "<rv>/<ns>/<name>"; a token from before the compaction point has expired.
      const std::string& tok = q->second;
      const size_t a = tok.find('/');
      const size_t b = a == std::string::npos ? a : tok.find('/', a + 1);
      if (b == std::string::npos) return {400, status_body(400, "BadRequest", "invalid continue token")};
      const uint64_t tok_rv = std::stoull(tok.substr(0, a));
      if (tok_rv < compacted_rv) {
        return {410, status_body(410, "Expired",
                                 "The provided continue parameter is too old to display a "
                                 "consistent list result.")};
      }
      after = {tok.substr(a + 1, b - a - 1), tok.substr(b + 1)};
      has_after = true;
    }
    json items = json::array();
    std::string next;
    for (auto it = has_after ? objects.upper_bound(after) : objects.begin(); it != objects.end();
         ++it) {
      if (res.namespaced && !ns.empty() && it->first.first != ns) continue;
      if (!selector->matches(labels_of(it->second)) || !fields.matches(it->second)) continue;
      if (limit > 0 && items.size() == limit) {
        auto prev = std::prev(it);
        // Another match exists after the page: hand out a token that resumes after `prev`.
        next = std::to_string(rv) + "/" + prev->first.first + "/" + prev->first.second;
        break;
      }
      json item = it->second;
      if (res.builtin) {
        item.erase("kind");
        item.erase("apiVersion");
      }
      items.push_back(std::move(item));
    }
    json meta = {{"resourceVersion", std::to_string(rv)}};
    if (!next.empty()) meta["continue"] = next;
    return {200, {{"kind", res.kind + "List"},
                  {"apiVersion", res.api_version()},
                  {"metadata", meta},
                  {"items", items}}};
  }

  bool authenticated(const http::request<http::string_body>& req, bool client_cert_ok) const {
    const auto auth = req[http::field::authorization];
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() > kBearer.size() && auth.substr(0, kBearer.size()) == kBearer.data()) {
      const std::string token(auth.substr(kBearer.size()));
      if (tokens.count(token)) return true;
      return false;  // a bad token is rejected even with a good certificate, like the real one
    }
    return client_cert_ok && options.accept_client_certs;
  }

  // --- connections ------------------------------------------------------------------------------

  template <class Stream>
  static bool write_reply(Stream& stream, const Reply& reply, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
    res.set(http::field::content_type, "application/json");
    res.body() = reply.body.is_null() ? std::string() : reply.body.dump();
    res.keep_alive(keep_alive);
    res.prepare_payload();
    beast::error_code ec;
    http::write(stream, res, ec);
    return !ec;
  }

  void serve(tcp::socket socket, std::shared_ptr<std::atomic<bool>> done,
             const std::shared_ptr<std::atomic<bool>>& closing) {
    beast::ssl_stream<tcp::socket> stream(std::move(socket), ctx);
    beast::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (!ec) {
      bool cert_ok = false;
      if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
        cert_ok = SSL_get_verify_result(stream.native_handle()) == X509_V_OK;
        X509_free(peer);
      }
      beast::flat_buffer buffer;
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64u << 20);
        http::read(stream, buffer, parser, ec);
        if (ec) break;
        auto req = parser.release();
        if (!serve_one(stream, req, cert_ok, *closing)) break;
      }
    }
    beast::error_code ignored;
    stream.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    // Closed under conns_mu, so stop_listening() never shuts down a reused descriptor.
    std::lock_guard<std::mutex> lock(conns_mu);
    stream.next_layer().close(ignored);
    done->store(true, std::memory_order_release);
  }

  // Answers one request; false closes the connection.
  bool serve_one(beast::ssl_stream<tcp::socket>& stream, http::request<http::string_body>& req,
                 bool cert_ok, const std::atomic<bool>& closing) {
    const std::string target(req.target());
    const size_t qpos = target.find('?');
    const std::string path = target.substr(0, qpos);
    const std::string query_text = qpos == std::string::npos ? "" : target.substr(qpos + 1);
    auto query = parse_query(query_text);
    const auto seg = split_path(path);
    const bool keep_alive = req.keep_alive();

    Request record{std::string(req.method_string()), path, query_text,
                   std::string(req[http::field::authorization]),
                   std::string(req[http::field::content_type]), req.body(), 0};
    auto log = [&](int status) {
      record.status = status;
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back(record);
      if (requests.size() > 20000) requests.pop_front();
      cv.notify_all();
    };

    if (path == "/version" || path == "/healthz" || path == "/livez" || path == "/readyz") {
      Reply r{200, path == "/version" ? json{{"major", "1"},
                                             {"minor", "32"},
                                             {"gitVersion", "v1.32.0-lockstep-fake"},
                                             {"platform", "linux/amd64"}}
                                      : json("ok")};
      log(r.status);
      return write_reply(stream, r, keep_alive);
    }

    Reply reply;
    bool watch = false;
    Target t;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!authenticated(req, cert_ok)) {
        reply = {401, status_body(401, "Unauthorized", "Unauthorized")};
      } else {
        bool found = false;
        json disc = discovery(seg, found);
        if (found && req.method() == http::verb::get) {
          reply = {200, std::move(disc)};
        } else if (!resolve(seg, t)) {
          reply = {404, status_body(404, "NotFound", "the server could not find the requested resource")};
        } else if (fail_count > 0) {
          --fail_count;
          reply = {fail_status, status_body(fail_status, "InternalError", "injected failure")};
        } else if (req.method() == http::verb::get && t.name.empty() &&
                   (query["watch"] == "true" || query["watch"] == "1")) {
          watch = true;
        } else {
          reply = handle(req, t, query);
        }
      }
    }
    if (watch) {
      serve_watch(stream, *t.res, t.ns, query, [&](int status) { log(status); }, closing);
      return false;
    }
    log(reply.status);
    return write_reply(stream, reply, keep_alive) && keep_alive;
  }

  // Converts one history event to what a watcher with this filter sees (empty type: nothing).
  static std::string filtered_type(const Event& ev, const FakeResource& res, const std::string& ns,
                                   const kube::LabelSelector& selector,
                                   const FieldSelector& fields) {
    auto visible = [&](const json& obj) {
      if (obj.is_null()) return false;
      if (res.namespaced && !ns.empty() && meta_string(obj, "namespace") != ns) return false;
      return selector.matches(labels_of(obj)) && fields.matches(obj);
    };
    const bool now = visible(ev.object);
    if (ev.type == "ADDED") return now ? "ADDED" : "";
    if (ev.type == "DELETED") return now ? "DELETED" : "";
    const bool before = visible(ev.previous);
    if (now && before) return "MODIFIED";
    if (now) return "ADDED";
    if (before) return "DELETED";
    return "";
  }

  template <class Stream>
  static bool write_chunk(Stream& stream, const std::string& data) {
    beast::error_code ec;
    net::write(stream, http::make_chunk(net::buffer(data)), ec);
    return !ec;
  }

  void serve_watch(beast::ssl_stream<tcp::socket>& stream, const FakeResource& res,
                   const std::string& ns, std::map<std::string, std::string>& query,
                   const std::function<void(int)>& log, const std::atomic<bool>& closing) {
    std::string error;
    std::optional<kube::LabelSelector> selector = kube::LabelSelector();
    if (!query["labelSelector"].empty()) {
      selector = kube::LabelSelector::parse(query["labelSelector"], &error);
    }
    FieldSelector fields;
    if (!selector || (!query["fieldSelector"].empty() &&
                      !FieldSelector::parse(query["fieldSelector"], fields, error))) {
      log(400);
      write_reply(stream, {400, status_body(400, "BadRequest", error)}, false);
      return;
    }
    const bool bookmarks = query["allowWatchBookmarks"] == "true";
    const std::string rv_text = query["resourceVersion"];
    const auto started = SteadyClock::now();
    auto deadline = SteadyClock::time_point::max();
    if (!query["timeoutSeconds"].empty()) {
      deadline = started + std::chrono::seconds(std::stoll(query["timeoutSeconds"]));
    }
    const std::string key = key_of(res);

    std::vector<std::string> lines;
    uint64_t cursor = 0;
    bool gone = false;
    uint64_t my_generation, my_bookmark, my_end, my_expire;
    {
      std::unique_lock<std::mutex> lock(mu);
      my_generation = server_generation;
      my_bookmark = bookmark_epoch;
      my_end = end_epoch;
      my_expire = expire_epoch;
      if (rv_text.empty() || rv_text == "0") {
        for (const auto& [id, obj] : store[key]) {
          if (res.namespaced && !ns.empty() && id.first != ns) continue;
          if (!selector->matches(labels_of(obj)) || !fields.matches(obj)) continue;
          lines.push_back(json{{"type", "ADDED"}, {"object", obj}}.dump() + "\n");
        }
        cursor = rv;
      } else {
        uint64_t start = 0;
        try {
          start = std::stoull(rv_text);
        } catch (...) {
          lock.unlock();
          log(400);
          write_reply(stream, {400, status_body(400, "BadRequest", "invalid resourceVersion")}, false);
          return;
        }
        if (start < compacted_rv) gone = true;
        cursor = start;
      }
      if (gone && options.gone_as_http_status) {
        lock.unlock();
        log(410);
        write_reply(stream,
                    {410, status_body(410, "Expired", "too old resource version: " + rv_text)},
                    false);
        return;
      }
      ++open_watches;
      cv.notify_all();
    }
    log(200);
    struct WatchCount {
      Impl* self;
      ~WatchCount() {
        std::lock_guard<std::mutex> lock(self->mu);
        --self->open_watches;
        self->cv.notify_all();
      }
    } count{this};

    http::response<http::empty_body> head{http::status::ok, 11};
    head.set(http::field::content_type, "application/json");
    head.chunked(true);
    http::response_serializer<http::empty_body> sr{head};
    beast::error_code ec;
    http::write_header(stream, sr, ec);
    if (ec) return;
    auto expired_line = [&](const std::string& why) {
      return json{{"type", "ERROR"}, {"object", status_body(410, "Expired", why)}}.dump() + "\n";
    };
    if (gone) {
      write_chunk(stream, expired_line("too old resource version: " + rv_text));
      net::write(stream, http::make_chunk_last(), ec);
      return;
    }
    for (const auto& line : lines) {
      if (!write_chunk(stream, line)) return;
    }
    auto next_bookmark = options.bookmark_interval.count() > 0
                             ? SteadyClock::now() + options.bookmark_interval
                             : SteadyClock::time_point::max();
    for (;;) {
      lines.clear();
      bool end_normally = false;
      bool expire = false;
      {
        std::unique_lock<std::mutex> lock(mu);
        auto ready = [&] {
          return shutting_down || closing.load(std::memory_order_acquire) ||
                 server_generation != my_generation ||
                 (!history.empty() && history.back().rv > cursor) ||
                 bookmark_epoch != my_bookmark || end_epoch != my_end ||
                 expire_epoch != my_expire;
        };
        cv.wait_until(lock, std::min(deadline, next_bookmark), ready);
        if (shutting_down || closing.load(std::memory_order_acquire) ||
            server_generation != my_generation) {
          return;  // abrupt, like a server going away
        }
        if (expire_epoch != my_expire || cursor + 1 < compacted_rv) {
          expire = true;
        } else {
          auto first = std::lower_bound(history.begin(), history.end(), cursor + 1,
                                        [](const Event& e, uint64_t v) { return e.rv < v; });
          for (auto it = first; it != history.end(); ++it) {
            if (it->resource != key) continue;
            const std::string type = filtered_type(*it, res, ns, *selector, fields);
            if (type.empty()) continue;
            lines.push_back(json{{"type", type}, {"object", it->object}}.dump() + "\n");
          }
          if (!history.empty()) cursor = std::max(cursor, history.back().rv);
          const auto now = SteadyClock::now();
          const bool want_bookmark = bookmark_epoch != my_bookmark || now >= next_bookmark;
          my_bookmark = bookmark_epoch;
          if (now >= next_bookmark) next_bookmark = now + options.bookmark_interval;
          if (bookmarks && want_bookmark) {
            lines.push_back(json{{"type", "BOOKMARK"},
                                 {"object",
                                  {{"kind", res.kind},
                                   {"apiVersion", res.api_version()},
                                   {"metadata", {{"resourceVersion", std::to_string(rv)}}}}}}
                                .dump() +
                            "\n");
            cursor = std::max(cursor, rv);
          }
          end_normally = end_epoch != my_end || now >= deadline;
        }
      }
      if (expire) {
        write_chunk(stream, expired_line("the watch fell behind the event history"));
        net::write(stream, http::make_chunk_last(), ec);
        return;
      }
      for (const auto& line : lines) {
        if (!write_chunk(stream, line)) return;
      }
      if (end_normally) {
        net::write(stream, http::make_chunk_last(), ec);
        return;
      }
    }
  }

  void listen(uint16_t on_port) {
    acceptor = std::make_unique<tcp::acceptor>(ioc);
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), on_port);
    acceptor->open(ep.protocol());
    acceptor->set_option(net::socket_base::reuse_address(true));
    acceptor->bind(ep);
    acceptor->listen();
    port = acceptor->local_endpoint().port();
    accept_thread = std::thread([this, acc = acceptor.get()] {
      for (;;) {
        beast::error_code ec;
        tcp::socket socket(ioc);
        acc->accept(socket, ec);
        if (ec) return;  // closed by stop_listening()
        std::lock_guard<std::mutex> lock(conns_mu);
        for (auto it = conns.begin(); it != conns.end();) {
          if (it->done->load(std::memory_order_acquire)) {
            it->thread.join();
            it = conns.erase(it);
          } else {
            ++it;
          }
        }
        auto done = std::make_shared<std::atomic<bool>>(false);
        auto closing = std::make_shared<std::atomic<bool>>(false);
        const int fd = socket.native_handle();
        conns.push_back(Conn{fd,
                             std::thread([this, s = std::move(socket), done, closing]() mutable {
                               serve(std::move(s), done, closing);
                             }),
                             done, closing});
      }
    });
  }

  // Closes the listener and every connection, and joins their threads.
  void stop_listening() {
    if (acceptor) {
      ::shutdown(acceptor->native_handle(), SHUT_RDWR);
      if (accept_thread.joinable()) accept_thread.join();
      beast::error_code ignored;
      acceptor->close(ignored);
      acceptor.reset();
    }
    std::list<Conn> closing;
    {
      std::lock_guard<std::mutex> lock(conns_mu);
      closing.swap(conns);
      for (auto& c : closing) {
        c.closing->store(true, std::memory_order_release);
        if (!c.done->load(std::memory_order_acquire)) ::shutdown(c.fd, SHUT_RDWR);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);  // no lost wake-up for a watch about to wait
      cv.notify_all();
    }
    for (auto& c : closing) c.thread.join();
  }
};

FakeApiServer::FakeApiServer() : FakeApiServer(Options{}) {}

FakeApiServer::FakeApiServer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->listen(0);
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->shutting_down = true;
  }
  impl_->cv.notify_all();
  impl_->stop_listening();
}

uint16_t FakeApiServer::port() const { return impl_->port; }
std::string FakeApiServer::url() const { return "https://127.0.0.1:" + std::to_string(port()); }
const TestPki& FakeApiServer::pki() const { return impl_->pki; }

kube::KubeConfig FakeApiServer::client_config(const std::string& token) const {
  kube::KubeConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = port();
  cfg.ca_pem = impl_->pki.ca_pem();
  cfg.token = token;
  return cfg;
}

void FakeApiServer::add_resource(FakeResource resource) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->resources.push_back(std::move(resource));
}

nlohmann::json FakeApiServer::upsert(nlohmann::json object) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::string api_version = object.value("apiVersion", "");
  const std::string kind = object.value("kind", "");
  const FakeResource* res = impl_->find_kind(api_version, kind);
  if (!res) throw std::invalid_argument("FakeApiServer: unknown kind " + api_version + " " + kind);
  const std::string ns = meta_string(object, "namespace");
  Reply reply;
  if (!Impl::check_identity(*res, object, res->namespaced ? ns : "", "", reply)) {
    throw std::invalid_argument("FakeApiServer: " + reply.body.value("message", ""));
  }
  object["metadata"].erase("resourceVersion");
  return impl_->put(*res, std::move(object));
}

bool FakeApiServer::remove(const std::string& api_version, const std::string& kind,
                           const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const FakeResource* res = impl_->find_kind(api_version, kind);
  if (!res) return false;
  return impl_->erase(*res, res->namespaced ? ns : "", name, nullptr);
}

std::optional<nlohmann::json> FakeApiServer::get(const std::string& api_version,
                                                 const std::string& kind, const std::string& ns,
                                                 const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const FakeResource* res = impl_->find_kind(api_version, kind);
  if (!res) return std::nullopt;
  auto s = impl_->store.find(Impl::key_of(*res));
  if (s == impl_->store.end()) return std::nullopt;
  auto it = s->second.find({res->namespaced ? ns : "", name});
  if (it == s->second.end()) return std::nullopt;
  return it->second;
}

uint64_t FakeApiServer::resource_version() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->rv;
}

void FakeApiServer::restart(bool keep_history) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    ++impl_->server_generation;
    if (!keep_history) {
      impl_->history.clear();
      impl_->compacted_rv = impl_->rv;
    }
  }
  impl_->cv.notify_all();
  const uint16_t port = impl_->port;
  impl_->stop_listening();
  impl_->listen(port);
}

void FakeApiServer::compact() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->history.clear();
  impl_->compacted_rv = impl_->rv;
}

void FakeApiServer::set_tokens(std::vector<std::string> tokens) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->tokens = std::set<std::string>(tokens.begin(), tokens.end());
}

void FakeApiServer::fail_next(int count, int status) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->fail_count = count;
  impl_->fail_status = status;
}

void FakeApiServer::send_bookmarks() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    ++impl_->bookmark_epoch;
  }
  impl_->cv.notify_all();
}

void FakeApiServer::end_watches() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    ++impl_->end_epoch;
  }
  impl_->cv.notify_all();
}

void FakeApiServer::expire_watches() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    ++impl_->expire_epoch;
    impl_->history.clear();
    impl_->compacted_rv = impl_->rv;
  }
  impl_->cv.notify_all();
}

std::vector<FakeApiServer::Request> FakeApiServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return {impl_->requests.begin(), impl_->requests.end()};
}

size_t FakeApiServer::open_watches() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->open_watches;
}

bool FakeApiServer::wait_for_watches(size_t at_least, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->open_watches >= at_least; });
}

bool FakeApiServer::wait_for_request(const std::function<bool(const Request&)>& pred,
                                     std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] {
    return std::any_of(impl_->requests.begin(), impl_->requests.end(), pred);
  });
}

}  // namespace lockstep::testing
