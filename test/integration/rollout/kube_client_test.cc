// lockstep_kube against the fake API server over real HTTPS on 127.0.0.1.
#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <fstream>
#include <thread>

#include "rollout/kube/kube_client.h"
#include "rollout/kube/reflector.h"
#include "test/support/kube/eventually.h"
#include "test/support/kube/fake_api_server.h"

namespace kube = lockstep::kube;
using lockstep::testing::eventually;
using lockstep::testing::FakeApiServer;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json scaled_object(const std::string& ns, const std::string& name, json labels = json::object()) {
  return {{"apiVersion", "keda.sh/v1alpha1"},
          {"kind", "ScaledObject"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"spec", {{"scaleTargetRef", {{"name", name}}}}}};
}

std::unique_ptr<kube::KubeClient> client_for(const FakeApiServer& api,
                                             const std::string& token = "test-token",
                                             kube::ClientOptions options = {}) {
  std::string error;
  auto client = kube::KubeClient::create(api.client_config(token), options, error);
  REQUIRE_MESSAGE(client, error);
  return client;
}

}  // namespace

TEST_CASE("create, get, merge-patch and delete over HTTPS") {
  FakeApiServer api;
  auto client = client_for(api);
  auto created = client->create_object(kube::kScaledObjects, "shop", scaled_object("shop", "web"));
  REQUIRE_MESSAGE(created.status == 201, created.error);
  CHECK(created.body["metadata"]["resourceVersion"].is_string());

  auto got = client->get(kube::kScaledObjects, "shop", "web");
  REQUIRE(got.ok());
  CHECK(got.body["spec"]["scaleTargetRef"]["name"] == "web");

  json patch = {{"metadata", {{"annotations", {{"lockstep.dev/split", "{\"weight\":20}"}}}}}};
  auto patched = client->merge_patch(kube::kScaledObjects, "shop", "web", patch);
  REQUIRE(patched.ok());
  CHECK(patched.body["metadata"]["annotations"]["lockstep.dev/split"] == "{\"weight\":20}");
  CHECK(patched.body["spec"]["scaleTargetRef"]["name"] == "web");  // merged, not replaced
  auto stored = api.get("keda.sh/v1alpha1", "ScaledObject", "shop", "web");
  REQUIRE(stored);
  CHECK((*stored)["metadata"]["annotations"]["lockstep.dev/split"] == "{\"weight\":20}");

  // null removes the key (RFC 7386).
  patched = client->merge_patch(kube::kScaledObjects, "shop", "web",
                                {{"metadata", {{"annotations", {{"lockstep.dev/split", nullptr}}}}}});
  REQUIRE(patched.ok());
  CHECK_FALSE(patched.body["metadata"]["annotations"].contains("lockstep.dev/split"));

  auto requests = api.requests();
  auto it = std::find_if(requests.begin(), requests.end(),
                         [](const auto& r) { return r.method == "PATCH"; });
  REQUIRE(it != requests.end());
  CHECK(it->content_type == "application/merge-patch+json");
  CHECK(it->authorization == "Bearer test-token");

  auto missing = client->get(kube::kScaledObjects, "shop", "nope");
  CHECK(missing.status == 404);
  CHECK(missing.reason == "NotFound");
  CHECK(missing.error == "scaledobjects.keda.sh \"nope\" not found");

  auto conflict = client->create_object(kube::kScaledObjects, "shop", scaled_object("shop", "web"));
  CHECK(conflict.status == 409);
  CHECK(conflict.reason == "AlreadyExists");

  auto deleted = client->delete_object(kube::kScaledObjects, "shop", "web");
  CHECK(deleted.ok());
  CHECK_FALSE(api.get("keda.sh/v1alpha1", "ScaledObject", "shop", "web"));
}

TEST_CASE("replace honours resourceVersion conflicts") {
  FakeApiServer api;
  auto client = client_for(api);
  json stored = api.upsert(scaled_object("shop", "web"));
  json stale = stored;
  stored["spec"]["minReplicaCount"] = 2;
  auto r = client->replace_object(kube::kScaledObjects, "shop", "web", stored);
  REQUIRE(r.ok());
  CHECK(r.body["metadata"]["generation"] == 2);
  stale["spec"]["minReplicaCount"] = 3;
  r = client->replace_object(kube::kScaledObjects, "shop", "web", stale);
  CHECK(r.status == 409);
  CHECK(r.reason == "Conflict");
}

TEST_CASE("list follows continue tokens, fills kind and filters by label") {
  FakeApiServer api;
  for (int i = 0; i < 7; ++i) {
    api.upsert({{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata",
                 {{"name", "svc-" + std::to_string(i)},
                  {"namespace", i < 5 ? "a" : "b"},
                  {"labels", {{"tier", i % 2 ? "odd" : "even"}}}}},
                {"spec", {{"ports", {{{"port", 80}}}}}}});
  }
  auto client = client_for(api);
  kube::ListOptions lo;
  lo.page_size = 2;
  auto all = client->list(kube::kServices, "", lo);
  REQUIRE(all.ok());
  REQUIRE(all.items.size() == 7);
  CHECK(all.items[0]["kind"] == "Service");  // built-in list items come without kind
  CHECK(all.items[0]["apiVersion"] == "v1");
  CHECK(std::stoull(all.resource_version) == api.resource_version());
  size_t pages = 0;
  for (const auto& r : api.requests()) pages += r.path == "/api/v1/services";
  CHECK(pages == 4);

  auto in_a = client->list(kube::kServices, "a", lo);
  CHECK(in_a.items.size() == 5);
  lo.label_selector = "tier in (odd)";
  auto odd = client->list(kube::kServices, "", lo);
  REQUIRE(odd.ok());
  CHECK(odd.items.size() == 3);
  lo.label_selector = "tier in (";
  auto bad = client->list(kube::kServices, "", lo);
  CHECK(bad.response.status == 400);
}

TEST_CASE("watch delivers chunked events, bookmarks and ends on timeout") {
  FakeApiServer api;
  api.upsert(scaled_object("shop", "a"));
  auto client = client_for(api);
  auto listed = client->list(kube::kScaledObjects, "shop");
  REQUIRE(listed.ok());

  std::vector<kube::WatchEvent> events;
  std::thread changes([&] {
    REQUIRE(api.wait_for_watches(1, 5s));
    api.upsert(scaled_object("shop", "b"));
    api.upsert(scaled_object("other", "c"));  // another namespace: not seen
    json a = *api.get("keda.sh/v1alpha1", "ScaledObject", "shop", "a");
    a["spec"]["minReplicaCount"] = 1;
    api.upsert(a);
    api.remove("keda.sh/v1alpha1", "ScaledObject", "shop", "b");
    api.send_bookmarks();
  });
  kube::WatchOptions wo;
  wo.resource_version = listed.resource_version;
  wo.timeout = 30s;
  kube::WatchEnd end = client->watch(kube::kScaledObjects, "shop", wo, [&](kube::WatchEvent&& ev) {
    events.push_back(std::move(ev));
    if (events.size() == 4) api.end_watches();
  });
  changes.join();
  CHECK(end.reason == kube::WatchEnd::Reason::kClosed);
  REQUIRE(events.size() >= 4);
  CHECK(events[0].type == kube::WatchEvent::Type::kAdded);
  CHECK(events[0].object["metadata"]["name"] == "b");
  CHECK(events[1].type == kube::WatchEvent::Type::kModified);
  CHECK(events[1].object["spec"]["minReplicaCount"] == 1);
  CHECK(events[2].type == kube::WatchEvent::Type::kDeleted);
  CHECK(events[3].type == kube::WatchEvent::Type::kBookmark);
  CHECK(events[3].object["metadata"]["resourceVersion"] == std::to_string(api.resource_version()));
  CHECK(end.last_resource_version == std::to_string(api.resource_version()));

  // timeoutSeconds ends the stream normally.
  wo.resource_version = end.last_resource_version;
  wo.timeout = 1s;
  auto started = std::chrono::steady_clock::now();
  end = client->watch(kube::kScaledObjects, "shop", wo, [](kube::WatchEvent&&) {});
  CHECK(end.reason == kube::WatchEnd::Reason::kClosed);
  CHECK(std::chrono::steady_clock::now() - started >= 900ms);
}

TEST_CASE("watch without a version starts with the current objects") {
  FakeApiServer api;
  api.upsert(scaled_object("shop", "a", {{"team", "x"}}));
  api.upsert(scaled_object("shop", "b", {{"team", "y"}}));
  auto client = client_for(api);
  std::vector<std::string> names;
  kube::WatchOptions wo;
  wo.label_selector = "team=x";
  wo.timeout = 1s;
  auto end = client->watch(kube::kScaledObjects, "", wo, [&](kube::WatchEvent&& ev) {
    names.push_back(ev.object["metadata"]["name"]);
  });
  CHECK(end.reason == kube::WatchEnd::Reason::kClosed);
  CHECK(names == std::vector<std::string>{"a"});
}

TEST_CASE("label transitions turn into ADDED and DELETED for a filtered watch") {
  FakeApiServer api;
  json so = api.upsert(scaled_object("shop", "a", {{"team", "y"}}));
  auto client = client_for(api);
  std::vector<kube::WatchEvent::Type> types;
  std::thread changes([&] {
    REQUIRE(api.wait_for_watches(1, 5s));
    so["metadata"]["labels"]["team"] = "x";
    so = api.upsert(so);
    so["metadata"]["labels"]["team"] = "z";
    so = api.upsert(so);
  });
  kube::WatchOptions wo;
  wo.resource_version = std::to_string(api.resource_version());
  wo.label_selector = "team=x";
  client->watch(kube::kScaledObjects, "shop", wo, [&](kube::WatchEvent&& ev) {
    types.push_back(ev.type);
    if (types.size() == 2) api.end_watches();
  });
  changes.join();
  CHECK(types == std::vector{kube::WatchEvent::Type::kAdded, kube::WatchEvent::Type::kDeleted});
}

TEST_CASE("a compacted resourceVersion ends the watch with Gone, as an event or a status") {
  for (bool as_status : {false, true}) {
    CAPTURE(as_status);
    FakeApiServer::Options o;
    o.gone_as_http_status = as_status;
    FakeApiServer api(o);
    api.upsert(scaled_object("shop", "a"));
    const std::string old_rv = std::to_string(api.resource_version());
    api.upsert(scaled_object("shop", "b"));
    api.compact();
    auto client = client_for(api);
    kube::WatchOptions wo;
    wo.resource_version = old_rv;
    auto end = client->watch(kube::kScaledObjects, "shop", wo, [](kube::WatchEvent&&) {});
    CHECK(end.reason == kube::WatchEnd::Reason::kGone);
    CHECK(end.status == 410);
  }
}

TEST_CASE("a blocked watch is cancelled from another thread") {
  FakeApiServer api;
  auto client = client_for(api);
  kube::Cancellation cancel;
  std::thread canceller([&] {
    REQUIRE(api.wait_for_watches(1, 5s));
    cancel.cancel();
  });
  kube::WatchOptions wo;
  wo.timeout = 300s;
  auto started = std::chrono::steady_clock::now();
  auto end = client->watch(kube::kScaledObjects, "", wo, [](kube::WatchEvent&&) {}, &cancel);
  canceller.join();
  CHECK(end.reason == kube::WatchEnd::Reason::kCancelled);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  // A cancelled Cancellation stays cancelled.
  auto r = client->get(kube::kScaledObjects, "a", "b", &cancel);
  CHECK(r.status == 0);
  CHECK(r.error == "cancelled");
}

TEST_CASE("TLS: the server certificate must chain to the configured CA") {
  FakeApiServer api;
  lockstep::testing::TestPki other;
  auto cfg = api.client_config();
  cfg.ca_pem = other.ca_pem();
  std::string error;
  auto client = kube::KubeClient::create(cfg, {}, error);
  REQUIRE(client);
  auto r = client->get(kube::kScaledObjects, "a", "b");
  CHECK(r.status == 0);
  CHECK(r.error.find("TLS handshake") != std::string::npos);

  cfg.ca_pem = "not a certificate";
  CHECK_FALSE(kube::KubeClient::create(cfg, {}, error));
  CHECK(error.find("CA certificates") != std::string::npos);

  // The certificate names 127.0.0.1, not 127.0.0.2.
  cfg = api.client_config();
  cfg.tls_server_name = "127.0.0.2";
  client = kube::KubeClient::create(cfg, {}, error);
  r = client->get(kube::kScaledObjects, "a", "b");
  CHECK(r.status == 0);
  cfg.tls_server_name = "localhost";
  client = kube::KubeClient::create(cfg, {}, error);
  r = client->get(kube::kScaledObjects, "a", "b");
  CHECK(r.status == 404);
}

TEST_CASE("client certificate authentication and bad tokens") {
  FakeApiServer api;
  auto cfg = api.client_config("");
  auto cert = api.pki().issue_client("lockstep-scaler", "lockstep");
  cfg.client_cert_pem = cert.cert_pem;
  cfg.client_key_pem = cert.key_pem;
  std::string error;
  auto client = kube::KubeClient::create(cfg, {}, error);
  REQUIRE_MESSAGE(client, error);
  CHECK(client->get(kube::kScaledObjects, "a", "b").status == 404);  // authenticated

  auto anonymous = client_for(api, "");
  CHECK(anonymous->get(kube::kScaledObjects, "a", "b").status == 401);
  auto wrong = client_for(api, "wrong");
  auto r = wrong->get(kube::kScaledObjects, "a", "b");
  CHECK(r.status == 401);
  CHECK(r.reason == "Unauthorized");
}

TEST_CASE("a rotated service-account token is re-read after a 401") {
  FakeApiServer api;
  char tmpl[] = "/tmp/lockstep-token-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string token_file = dir + "/token";
  std::ofstream(token_file) << "token-1\n";
  api.set_tokens({"token-1"});
  auto cfg = api.client_config("");
  cfg.token_file = token_file;
  std::string error;
  auto client = kube::KubeClient::create(cfg, {}, error);
  REQUIRE(client);
  CHECK(client->get(kube::kScaledObjects, "a", "b").status == 404);

  // The kubelet writes a new token and the server stops accepting the old one. The file is
  // replaced by rename, as the kubelet's atomic writer does.
  std::ofstream(dir + "/token.new") << "token-2\n";
  std::filesystem::rename(dir + "/token.new", token_file);
  api.set_tokens({"token-2"});
  CHECK(client->get(kube::kScaledObjects, "a", "b").status == 404);
  auto requests = api.requests();
  CHECK(requests.back().authorization == "Bearer token-2");
  std::filesystem::remove_all(dir);
}

TEST_CASE("kept-alive connections are reused and survive a server restart") {
  FakeApiServer api;
  auto client = client_for(api);
  for (int i = 0; i < 3; ++i) CHECK(client->get(kube::kScaledObjects, "a", "b").status == 404);
  api.restart();
  // The pooled connection is dead now; the client notices and reconnects without an error.
  CHECK(client->get(kube::kScaledObjects, "a", "b").status == 404);
}

TEST_CASE("timeouts: a server that accepts but never answers") {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor silent(
      ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});  // listens, never accepts
  kube::KubeConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = silent.local_endpoint().port();
  cfg.insecure_skip_tls_verify = true;
  kube::ClientOptions options;
  options.connect_timeout = 300ms;
  options.request_timeout = 500ms;
  std::string error;
  auto client = kube::KubeClient::create(cfg, options, error);
  REQUIRE(client);
  auto started = std::chrono::steady_clock::now();
  auto r = client->get(kube::kScaledObjects, "a", "b");
  CHECK(r.status == 0);
  CHECK(r.error.find("timed out") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("injected server errors come back with their status") {
  FakeApiServer api;
  auto client = client_for(api);
  api.fail_next(1, 503);
  auto r = client->get(kube::kScaledObjects, "a", "b");
  CHECK(r.status == 503);
  CHECK(r.error == "injected failure");
  CHECK(client->get(kube::kScaledObjects, "a", "b").status == 404);
}

// --- Reflector ------------------------------------------------------------------------------

namespace {

// Mirrors what a Reflector delivers into a name → generation map.
class Mirror : public kube::Reflector::Handler {
 public:
  void on_list(std::vector<json>&& items, const std::string&) override {
    std::lock_guard<std::mutex> lock(mu_);
    objects_.clear();
    for (auto& item : items) objects_[item["metadata"]["name"]] = item;
    ++lists_;
  }
  void on_event(kube::WatchEvent&& ev) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string name = ev.object["metadata"]["name"];
    if (ev.type == kube::WatchEvent::Type::kDeleted) {
      objects_.erase(name);
    } else {
      objects_[name] = ev.object;
    }
  }
  void on_error(std::string_view, bool gone) override {
    std::lock_guard<std::mutex> lock(mu_);
    gone_ += gone;
  }
  std::set<std::string> names() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> out;
    for (const auto& [n, _] : objects_) out.insert(n);
    return out;
  }
  json get(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(name);
    return it == objects_.end() ? json() : it->second;
  }
  int lists() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, json> objects_;  // guarded by mu_
  int lists_ = 0;                        // guarded by mu_
  int gone_ = 0;                         // guarded by mu_
};

kube::Reflector::Options fast_options() {
  kube::Reflector::Options o;
  o.backoff_initial = 20ms;
  o.backoff_max = 200ms;
  o.seed = 42;
  return o;
}

}  // namespace

TEST_CASE("reflector: list, then watch, follows creates, updates and deletes") {
  FakeApiServer api;
  api.upsert(scaled_object("shop", "a"));
  auto client = client_for(api);
  Mirror mirror;
  kube::Reflector reflector(*client, kube::kScaledObjects, fast_options(), mirror);
  reflector.start();
  REQUIRE(eventually([&] { return reflector.has_synced(); }));
  CHECK(mirror.names() == std::set<std::string>{"a"});
  api.upsert(scaled_object("shop", "b"));
  api.remove("keda.sh/v1alpha1", "ScaledObject", "shop", "a");
  CHECK(eventually([&] { return mirror.names() == std::set<std::string>{"b"}; }));
  json b = *api.get("keda.sh/v1alpha1", "ScaledObject", "shop", "b");
  b["spec"]["maxReplicaCount"] = 9;
  api.upsert(b);
  CHECK(eventually([&] { return mirror.get("b")["spec"].value("maxReplicaCount", 0) == 9; }));
  CHECK(reflector.lists() == 1);
}

TEST_CASE("reflector: 410 Gone relists and catches up with what changed meanwhile") {
  FakeApiServer api;
  api.upsert(scaled_object("shop", "a"));
  auto client = client_for(api);
  Mirror mirror;
  kube::Reflector reflector(*client, kube::kScaledObjects, fast_options(), mirror);
  reflector.start();
  REQUIRE(eventually([&] { return reflector.has_synced() && api.open_watches() == 1; }));
  api.expire_watches();  // ERROR 410 on the open watch
  REQUIRE(eventually([&] { return reflector.gone() >= 1 && reflector.lists() >= 2; }));
  api.upsert(scaled_object("shop", "c"));
  CHECK(eventually([&] { return mirror.names() == std::set<std::string>{"a", "c"}; }));
}

TEST_CASE("reflector: an API server restart ends the watch, deletes during the outage are seen") {
  FakeApiServer api;
  api.upsert(scaled_object("shop", "a"));
  api.upsert(scaled_object("shop", "b"));
  auto client = client_for(api);
  Mirror mirror;
  kube::Reflector reflector(*client, kube::kScaledObjects, fast_options(), mirror);
  reflector.start();
  REQUIRE(eventually([&] { return reflector.has_synced() && api.open_watches() == 1; }));
  const auto lists_before = reflector.lists();
  // Changes made while the server restarts: the watch resumes from a version the new watch cache
  // no longer has, gets 410, and relists.
  api.remove("keda.sh/v1alpha1", "ScaledObject", "shop", "a");
  api.restart();
  api.upsert(scaled_object("shop", "d"));
  CHECK(eventually([&] { return mirror.names() == std::set<std::string>{"b", "d"}; }));
  CHECK(eventually([&] { return api.open_watches() == 1; }));
  CHECK(reflector.lists() >= lists_before);
}

TEST_CASE("reflector: a watch that ends normally resumes from the last version, no relist") {
  FakeApiServer api;
  auto client = client_for(api);
  Mirror mirror;
  kube::Reflector reflector(*client, kube::kScaledObjects, fast_options(), mirror);
  reflector.start();
  REQUIRE(eventually([&] { return reflector.has_synced() && api.open_watches() == 1; }));
  api.upsert(scaled_object("shop", "x"));
  REQUIRE(eventually([&] { return mirror.names().count("x") == 1; }));
  api.send_bookmarks();
  api.end_watches();
  REQUIRE(eventually([&] { return reflector.watches() >= 2 && api.open_watches() == 1; }));
  api.upsert(scaled_object("shop", "y"));
  CHECK(eventually([&] { return mirror.names().count("y") == 1; }));
  CHECK(reflector.lists() == 1);
  // The second watch resumed from the bookmark's version.
  auto requests = api.requests();
  int watches = 0;
  for (const auto& r : requests) {
    if (r.query.find("watch=true") != std::string::npos) {
      ++watches;
      if (watches == 2) CHECK(r.query.find("resourceVersion=") != std::string::npos);
    }
  }
}

TEST_CASE("reflector: failures back off and recover, token rotation is picked up") {
  FakeApiServer api;
  api.upsert(scaled_object("shop", "a"));
  char tmpl[] = "/tmp/lockstep-token-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/token") << "old";
  api.set_tokens({"old"});
  auto cfg = api.client_config("");
  cfg.token_file = dir + "/token";
  std::string error;
  auto client = kube::KubeClient::create(cfg, {}, error);
  api.fail_next(3, 500);
  Mirror mirror;
  kube::Reflector reflector(*client, kube::kScaledObjects, fast_options(), mirror);
  reflector.start();
  REQUIRE(eventually([&] { return reflector.has_synced(); }));
  CHECK(reflector.failures() >= 3);
  // Rotate: the server only takes the new token, and the open watch is dropped.
  std::ofstream(dir + "/token.new") << "new";
  std::filesystem::rename(dir + "/token.new", dir + "/token");
  api.set_tokens({"new"});
  api.restart(/*keep_history=*/true);
  api.upsert(scaled_object("shop", "b"));
  CHECK(eventually([&] { return mirror.names() == std::set<std::string>{"a", "b"}; }));
  reflector.stop();
  std::filesystem::remove_all(dir);
}
