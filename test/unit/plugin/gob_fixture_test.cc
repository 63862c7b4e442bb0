// The decoder against byte streams written by Go's own encoding/gob (see fixtures/README.md).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "rollout/plugin/gob_decoder.h"

#ifndef LOCKSTEP_PLUGIN_FIXTURES
#error "LOCKSTEP_PLUGIN_FIXTURES must name the fixture directory"
#endif

namespace lockstep::plugin::gob {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(LOCKSTEP_PLUGIN_FIXTURES) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Request {
  std::string method;
  uint64_t seq = 0;
  Value args;
};

std::vector<Request> decode_requests(const std::string& bytes, Decoder& dec,
                                     const Selector* select = nullptr) {
  BufferSource src(bytes);
  std::vector<Request> out;
  for (;;) {
    Value header;
    if (!dec.decode(src, header)) break;
    Request r;
    r.method = std::string(header["ServiceMethod"].as_string());
    r.seq = header["Seq"].as_uint();
    REQUIRE(dec.decode(src, r.args, select));
    out.push_back(std::move(r));
  }
  return out;
}

TEST_CASE("a whole controller-to-plugin stream written by Go decodes") {
  Decoder dec;
  const auto requests = decode_requests(fixture("plugin_stream.gob"), dec);
  REQUIRE(requests.size() == 8);
  const char* methods[] = {"Plugin.InitPlugin",   "Plugin.Type",           "Plugin.UpdateHash",
                           "Plugin.SetWeight",    "Plugin.VerifyWeight",   "Plugin.SetHeaderRoute",
                           "Plugin.SetMirrorRoute", "Plugin.RemoveManagedRoutes"};
  for (size_t i = 0; i < requests.size(); ++i) {
    CHECK(requests[i].method == methods[i]);
    CHECK(requests[i].seq == i);
  }
  // InitPlugin and Type carry a nil interface.
  CHECK(requests[0].args.is_null());
  CHECK(requests[1].args.is_null());

  // The Rollout's whole type graph arrived with the first Rollout-carrying call.
  CHECK(dec.types().user_type_count() >= 180);

  const Value& hash = requests[2].args;
  REQUIRE(hash.type() == Value::Type::kInterface);
  CHECK(hash.type_name() == "UpdateHashArgs");
  CHECK(hash.concrete()["CanaryHash"].as_string() == "7d9f8b6c5");
  CHECK(hash.concrete()["StableHash"].as_string() == "6c5b4a392");

  const Value& sw = requests[3].args;
  CHECK(sw.type_name() == "SetWeightAndVerifyWeightArgs");
  const Value& args = sw.concrete();
  CHECK(args["DesiredWeight"].as_int() == 30);
  REQUIRE(args["AdditionalDestinations"].size() == 1);
  CHECK(args["AdditionalDestinations"].at(0)["ServiceName"].as_string() == "recommender-preview");
  CHECK(args["AdditionalDestinations"].at(0)["Weight"].as_int() == 10);
  const Value& ro = args["Rollout"];
  CHECK(ro["TypeMeta"]["Kind"].as_string() == "Rollout");
  CHECK(ro["ObjectMeta"]["Name"].as_string() == "recommender");
  CHECK(ro["ObjectMeta"]["Namespace"].as_string() == "shop");
  CHECK(ro["ObjectMeta"]["Generation"].as_int() == 12);
  const Value& canary = ro["Spec"]["Strategy"]["Canary"];
  CHECK(canary["StableService"].as_string() == "recommender-stable");
  CHECK(canary["CanaryService"].as_string() == "recommender-canary");
  CHECK(canary["TrafficRouting"]["MaxTrafficWeight"].as_int() == 100);
  CHECK(canary["TrafficRouting"]["ManagedRoutes"].at(0)["Name"].as_string() == "canary-header");
  const Value& config = canary["TrafficRouting"]["Plugins"].map_get("lockstep/http");
  CHECK(config.type() == Value::Type::kBytes);
  CHECK(config.as_string().find("\"scaledObjectName\":\"recommender-so\"") != std::string::npos);
  CHECK(canary["Steps"].size() == 7);
  CHECK(canary["Steps"].at(3)["SetWeight"].as_int() == 10);
  CHECK(ro["Spec"]["Replicas"].as_int() == 6);
  // The pod template came through in full.
  const Value& containers = ro["Spec"]["Template"]["Spec"]["Containers"];
  REQUIRE(containers.size() == 2);
  CHECK(containers.at(0)["Image"].as_string() == "registry.example.com/mangopress/recommender:7.3.1");
  CHECK(containers.at(0)["LivenessProbe"]["ProbeHandler"]["HTTPGet"]["Path"].as_string() == "/healthz");
  CHECK(containers.at(0)["Resources"]["Limits"].map_get("cpu")["Format"].as_string() == "DecimalSI");
  // metav1.Time is a GobEncoder: time.Time's MarshalBinary, version 1, UTC (offset -1).
  const Value& created = ro["ObjectMeta"]["CreationTimestamp"];
  REQUIRE(created.type() == Value::Type::kOpaque);
  CHECK(created.as_string().size() == 15);
  CHECK(created.as_string()[0] == 1);
  CHECK(static_cast<uint8_t>(created.as_string()[13]) == 0xff);
  const Value& weights = ro["Status"]["Canary"]["Weights"];
  CHECK(weights["Canary"]["Weight"].as_int() == 10);
  CHECK(weights["Stable"]["ServiceName"].as_string() == "recommender-stable");
  CHECK(weights["Verified"].as_bool());
  CHECK(ro["Status"]["StableRS"].as_string() == "6c5b4a392");

  const Value& header = requests[5].args.concrete()["SetHeaderRoute"];
  CHECK(header["Name"].as_string() == "canary-header");
  REQUIRE(header["Match"].size() == 2);
  CHECK(header["Match"].at(0)["HeaderName"].as_string() == "X-Canary");
  CHECK(header["Match"].at(0)["HeaderValue"]["Exact"].as_string() == "yes");
  CHECK(header["Match"].at(1)["HeaderValue"]["Prefix"].as_string() == "beta-");

  const Value& mirror = requests[6].args.concrete()["SetMirrorRoute"];
  CHECK(mirror["Percentage"].as_int() == 10);
  CHECK(mirror["Match"].at(0)["Method"]["Exact"].as_string() == "GET");
  CHECK(mirror["Match"].at(0)["Headers"].map_get("X-Mirror")["Regex"].as_string() == "^on$");

  CHECK(requests[7].args.type_name() == "RemoveManagedRoutesArgs");
}

TEST_CASE("a first call decodes with a selector that keeps only what the plugin reads") {
  Selector sel;
  sel.add("Rollout.ObjectMeta.Name").add("Rollout.ObjectMeta.Namespace").add("DesiredWeight");
  Decoder dec;
  const auto requests = decode_requests(fixture("set_weight_first.gob"), dec, &sel);
  REQUIRE(requests.size() == 1);
  const Value& args = requests[0].args.concrete();
  CHECK(args["DesiredWeight"].as_int() == 20);
  CHECK(args["Rollout"]["ObjectMeta"]["Name"].as_string() == "recommender");
  CHECK(args["Rollout"].find("Spec") == nullptr);
  CHECK(args["Rollout"]["ObjectMeta"].find("ManagedFields") == nullptr);
}

TEST_CASE("the control stream: Dispense, Ping and Quit arguments are singletons") {
  Decoder dec;
  const auto requests = decode_requests(fixture("control_stream.gob"), dec);
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].method == "Dispenser.Dispense");
  CHECK(requests[0].args.as_string() == "RpcTrafficRouterPlugin");
  CHECK(requests[1].method == "Control.Ping");
  CHECK(requests[1].args.type() == Value::Type::kBool);
  CHECK(requests[1].args.as_bool());
  CHECK(requests[2].seq == 2);
}

TEST_CASE("every truncation of a Go stream fails cleanly, never crashes") {
  const std::string bytes = fixture("set_header_first.gob");
  for (size_t cut = 0; cut < bytes.size(); cut += 97) {
    Decoder dec;
    BufferSource src(std::string_view(bytes).substr(0, cut));
    Value v;
    try {
      while (dec.decode(src, v)) {
      }
    } catch (const Error&) {
    }
  }
  CHECK(true);
}

}  // namespace
}  // namespace lockstep::plugin::gob
