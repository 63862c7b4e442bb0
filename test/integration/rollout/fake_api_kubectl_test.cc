// Keeps the fake API server honest: the real kubectl (client-go) talks to it over HTTPS.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "test/support/kube/fake_api_server.h"

using lockstep::testing::FakeApiServer;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Kubectl {
  const FakeApiServer& api;
  fs::path dir;

  explicit Kubectl(const FakeApiServer& server) : api(server) {
    char tmpl[] = "/tmp/lockstep-kubectl-XXXXXX";
    dir = mkdtemp(tmpl);
    lockstep::testing::TestPki::write_file((dir / "ca.crt").string(), api.pki().ca_pem());
  }
  ~Kubectl() { fs::remove_all(dir); }

  // Runs kubectl with the connection flags; returns the exit status, fills stdout+stderr.
  int run(const std::string& args, std::string& output) const {
    const std::string cmd = "HOME=" + dir.string() + " KUBECONFIG=" + (dir / "none").string() +
                            " kubectl --server=" + api.url() + " --certificate-authority=" +
                            (dir / "ca.crt").string() + " --token=test-token --cache-dir=" +
                            (dir / "cache").string() + " --request-timeout=20s " + args + " 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    output.clear();
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
    const int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

json scaled_object(const std::string& name, const std::string& team) {
  return {{"apiVersion", "keda.sh/v1alpha1"},
          {"kind", "ScaledObject"},
          {"metadata", {{"name", name}, {"namespace", "shop"}, {"labels", {{"team", team}}}}},
          {"spec",
           {{"scaleTargetRef",
             {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Rollout"}, {"name", name}}},
            {"triggers",
             {{{"type", "external"},
               {"metadata", {{"scalerAddress", "lockstep-scaler.lockstep:9090"}}}}}}}}};
}

}  // namespace

TEST_CASE("kubectl get --raw reads objects and lists from the fake") {
  FakeApiServer api;
  api.upsert(scaled_object("recommender", "ml"));
  api.upsert(scaled_object("search", "web"));
  Kubectl kubectl(api);
  std::string out;
  REQUIRE_MESSAGE(kubectl.run("get --raw /apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/"
                              "recommender",
                              out) == 0,
                  out);
  json obj = json::parse(out);
  CHECK(obj["metadata"]["name"] == "recommender");
  CHECK(obj["spec"]["scaleTargetRef"]["kind"] == "Rollout");

  REQUIRE_MESSAGE(kubectl.run("get --raw '/apis/keda.sh/v1alpha1/scaledobjects?labelSelector=team%3Dweb'", out) == 0, out);
  json list = json::parse(out);
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["metadata"]["name"] == "search");

  CHECK(kubectl.run("get --raw /apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/missing",
                    out) != 0);
  CHECK(out.find("NotFound") != std::string::npos);
}

TEST_CASE("kubectl get and patch --type merge go through discovery and the REST paths") {
  FakeApiServer api;
  api.upsert(scaled_object("recommender", "ml"));
  Kubectl kubectl(api);
  std::string out;
  REQUIRE_MESSAGE(kubectl.run("-n shop get scaledobjects.keda.sh -o json", out) == 0, out);
  json list = json::parse(out);
  REQUIRE(list["items"].size() == 1);

  const std::string patch =
      R"('{"metadata":{"annotations":{"lockstep.dev/split":"{\"weight\":20,\"maxWeight\":100}"}}}')";
  REQUIRE_MESSAGE(
      kubectl.run("-n shop patch scaledobjects.keda.sh recommender --type merge -p " + patch, out) == 0,
      out);
  CHECK(out.find("patched") != std::string::npos);
  auto stored = api.get("keda.sh/v1alpha1", "ScaledObject", "shop", "recommender");
  REQUIRE(stored);
  CHECK((*stored)["metadata"]["annotations"]["lockstep.dev/split"] ==
        R"({"weight":20,"maxWeight":100})");
  CHECK((*stored)["spec"]["triggers"].size() == 1);

  // The same patch again changes nothing; kubectl says so.
  REQUIRE(kubectl.run("-n shop patch scaledobjects.keda.sh recommender --type merge -p " + patch,
                      out) == 0);
  CHECK(out.find("no change") != std::string::npos);

  // Removing the annotation with null.
  REQUIRE(kubectl.run(R"(-n shop patch so recommender --type merge -p '{"metadata":{"annotations":{"lockstep.dev/split":null}}}')",
                      out) == 0);
  stored = api.get("keda.sh/v1alpha1", "ScaledObject", "shop", "recommender");
  CHECK_FALSE((*stored)["metadata"]["annotations"].contains("lockstep.dev/split"));

  bool saw_merge_patch = false;
  for (const auto& r : api.requests()) {
    if (r.method == "PATCH") saw_merge_patch |= r.content_type == "application/merge-patch+json";
  }
  CHECK(saw_merge_patch);
}

TEST_CASE("kubectl watches through the chunked watch protocol") {
  FakeApiServer api;
  api.upsert(scaled_object("recommender", "ml"));
  Kubectl kubectl(api);
  std::string out;
  // --watch-only with a server-side timeout: kubectl prints the event that arrives meanwhile.
  std::thread changer([&] {
    REQUIRE(api.wait_for_watches(1, std::chrono::seconds(20)));
    api.upsert(scaled_object("search", "web"));
    api.end_watches();
  });
  const int rc = kubectl.run("-n shop get scaledobjects.keda.sh --watch-only -o name", out);
  changer.join();
  CHECK_MESSAGE(rc == 0, out);
  CHECK(out.find("scaledobject.keda.sh/search") != std::string::npos);
}
