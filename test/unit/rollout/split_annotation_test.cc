#include "rollout/model/split_annotation.h"

#include <doctest/doctest.h>

using namespace lockstep::rollout;

namespace {

Split sample() {
  Split s;
  s.generation = 7;
  s.rollout = "recommender";
  s.stable_service = "recommender-stable";
  s.canary_service = "recommender-canary";
  s.canary_weight = 20;
  s.additional = {{"recommender-exp", 5, "6d4f8"}};
  s.header_routes = {{"beta", {{"X-Beta", SplitHeaderMatch::Kind::kExact, "yes"},
                               {"user-agent", SplitHeaderMatch::Kind::kRegex, ".*Mango/[0-9]+"}},
                      ""},
                     {"exp", {{"x-exp", SplitHeaderMatch::Kind::kPrefix, "on"}}, "recommender-exp"}};
  return s;
}

std::string error_of(std::string_view text) { return parse_split_annotation(text).error; }

}  // namespace

TEST_CASE("split: serialize is canonical and parses back") {
  const Split s = sample();
  const std::string text = serialize_split_annotation(s);
  CHECK(text ==
        R"({"generation":7,"rollout":"recommender","stableService":"recommender-stable",)"
        R"("canaryService":"recommender-canary","canaryWeight":20,"maxWeight":100,)"
        R"("additionalDestinations":[{"serviceName":"recommender-exp","weight":5,"podTemplateHash":"6d4f8"}],)"
        R"("headerRoutes":[{"name":"beta","match":[{"headerName":"X-Beta","exact":"yes"},)"
        R"({"headerName":"user-agent","regex":".*Mango/[0-9]+"}]},)"
        R"({"name":"exp","match":[{"headerName":"x-exp","prefix":"on"}],"service":"recommender-exp"}]})");
  auto parsed = parse_split_annotation(text);
  REQUIRE_MESSAGE(parsed.split, parsed.error);
  CHECK(*parsed.split == s);
  CHECK(parsed.split->stable_weight() == 75);
  CHECK(parsed.split->header_route_service(parsed.split->header_routes[0]) == "recommender-canary");
  CHECK(serialize_split_annotation(*parsed.split) == text);
}

TEST_CASE("split: defaults and unknown keys") {
  auto p = parse_split_annotation(
      R"({"stableService":"a","canaryService":"b","canaryWeight":3,"future":{"x":1}})");
  REQUIRE(p.split);
  CHECK(p.split->max_weight == 100);
  CHECK(p.split->generation == 0);
  CHECK(p.split->stable_weight() == 97);
  CHECK(serialize_split_annotation(*p.split) ==
        R"({"generation":0,"stableService":"a","canaryService":"b","canaryWeight":3,"maxWeight":100})");
}

TEST_CASE("split: weights must stay within maxWeight") {
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","canaryWeight":101})") ==
        "canaryWeight: 101 is not in 0..maxWeight (100)");
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","canaryWeight":-1})").find("canaryWeight") == 0);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","canaryWeight":5,"maxWeight":0})")
            .find("maxWeight") == 0);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","canaryWeight":60,
                     "additionalDestinations":[{"serviceName":"c","weight":50}]})")
            .find("exceed maxWeight") != std::string::npos);
  CHECK(parse_split_annotation(R"({"stableService":"a","canaryService":"b","canaryWeight":500,
                                   "maxWeight":1000})")
            .split);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","canaryWeight":2.5})") ==
        "canaryWeight: must be an integer");
}

TEST_CASE("split: names and structure are validated with the field named") {
  CHECK(error_of("not json") == "not valid JSON");
  CHECK(error_of("[]") == "must be a JSON object");
  CHECK(error_of(R"({"canaryService":"b"})") == "stableService: required");
  CHECK(error_of(R"({"stableService":"Bad_Name","canaryService":"b"})").find("stableService") == 0);
  CHECK(error_of(R"({"stableService":"a","canaryService":"a"})") ==
        "canaryService: must differ from stableService");
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","rollout":"UPPER"})").find("rollout") == 0);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","generation":-3})").find("generation") == 0);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b",
                     "additionalDestinations":[{"serviceName":"b","weight":1}]})")
            .find("appears twice") != std::string::npos);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b","headerRoutes":[{"name":"r","match":[]}]})") ==
        "headerRoutes[0].match: must have 1..16 entries");
  CHECK(error_of(R"({"stableService":"a","canaryService":"b",
                     "headerRoutes":[{"name":"r","match":[{"headerName":"x","exact":"1","prefix":"2"}]}]})") ==
        "headerRoutes[0].match[0]: needs exactly one of exact, prefix, regex");
  CHECK(error_of(R"({"stableService":"a","canaryService":"b",
                     "headerRoutes":[{"name":"r","match":[{"headerName":"bad header","exact":"1"}]}]})")
            .find("headerRoutes[0].match[0].headerName") == 0);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b",
                     "headerRoutes":[{"name":"r","match":[{"headerName":"x","regex":"(unclosed"}]}]})")
            .find("headerRoutes[0].match[0].regex: not an ECMAScript") == 0);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b",
                     "headerRoutes":[{"name":"r","match":[{"headerName":"x","exact":"1"}],"service":"zzz"}]})")
            .find("not one of the split's services") != std::string::npos);
  CHECK(error_of(R"({"stableService":"a","canaryService":"b",
                     "headerRoutes":[{"name":"r","match":[{"headerName":"x","exact":"1"}]},
                                     {"name":"r","match":[{"headerName":"y","exact":"1"}]}]})")
            .find("appears twice") != std::string::npos);
  CHECK(error_of(std::string(70000, ' ')).find("larger than") != std::string::npos);
}

TEST_CASE("split: validate_split checks splits built in code (the plugin's)") {
  Split s = sample();
  CHECK(validate_split(s).empty());
  s.canary_weight = 99;
  CHECK(validate_split(s).find("exceed maxWeight") != std::string::npos);
}
