#include "rollout/kube/label_selector.h"

#include <doctest/doctest.h>

using lockstep::kube::LabelSelector;
using Labels = std::map<std::string, std::string, std::less<>>;

TEST_CASE("label selector: equality, set and existence requirements") {
  auto s = LabelSelector::parse("app=web, tier!=cache,env in (prod, staging),track notin (canary),"
                                "release,!legacy");
  REQUIRE(s);
  CHECK(s->requirements().size() == 6);
  CHECK(s->matches({{"app", "web"}, {"env", "prod"}, {"release", "1"}}));
  CHECK(s->matches({{"app", "web"}, {"env", "staging"}, {"release", ""}, {"tier", "api"}}));
  CHECK_FALSE(s->matches({{"app", "web"}, {"env", "prod"}}));  // release missing
  CHECK_FALSE(s->matches({{"app", "web"}, {"env", "dev"}, {"release", "1"}}));
  CHECK_FALSE(s->matches({{"app", "web"}, {"env", "prod"}, {"release", "1"}, {"legacy", "x"}}));
  CHECK_FALSE(s->matches({{"app", "web"}, {"env", "prod"}, {"release", "1"}, {"tier", "cache"}}));
  CHECK_FALSE(
      s->matches({{"app", "web"}, {"env", "prod"}, {"release", "1"}, {"track", "canary"}}));
}

TEST_CASE("label selector: empty matches everything, == and numeric comparisons") {
  auto empty = LabelSelector::parse("  ");
  REQUIRE(empty);
  CHECK(empty->empty());
  CHECK(empty->matches({}));
  auto s = LabelSelector::parse("app==web,gen>3,rank<10");
  REQUIRE(s);
  CHECK(s->matches({{"app", "web"}, {"gen", "4"}, {"rank", "9"}}));
  CHECK_FALSE(s->matches({{"app", "web"}, {"gen", "3"}, {"rank", "9"}}));
  CHECK_FALSE(s->matches({{"app", "web"}, {"gen", "x"}, {"rank", "9"}}));
}

TEST_CASE("label selector: canonical text round-trips") {
  auto s = LabelSelector::parse("b in (y, x),a=1,!c,example.com/d");
  REQUIRE(s);
  CHECK(s->to_string() == "a=1,b in (x,y),!c,example.com/d");
  auto again = LabelSelector::parse(s->to_string());
  REQUIRE(again);
  CHECK(again->to_string() == s->to_string());
}

TEST_CASE("label selector: errors name the position and the rule") {
  std::string error;
  CHECK_FALSE(LabelSelector::parse("app=", &error) == std::nullopt);  // empty value is valid
  CHECK_FALSE(LabelSelector::parse("app in ()", &error));
  CHECK(error.find("empty") != std::string::npos);
  CHECK_FALSE(LabelSelector::parse("app=web,", &error));
  CHECK(error.find("after ','") != std::string::npos);
  CHECK_FALSE(LabelSelector::parse("app=-bad", &error));
  CHECK(error.find("invalid value") != std::string::npos);
  CHECK_FALSE(LabelSelector::parse("Bad_Prefix/x=1", &error));
  CHECK(error.find("invalid key") != std::string::npos);
  CHECK_FALSE(LabelSelector::parse("app ~ web", &error));
  CHECK(error.find("position 4") != std::string::npos);
  CHECK_FALSE(LabelSelector::parse("gen>abc", &error));
  CHECK(error.find("integer") != std::string::npos);
  CHECK_FALSE(LabelSelector::parse("app in (a b)", &error));
  CHECK_FALSE(LabelSelector::parse(std::string(64, 'a') + "=x", &error));
}

TEST_CASE("DNS-1123 names") {
  using namespace lockstep::kube;
  CHECK(is_dns1123_label("web-1"));
  CHECK_FALSE(is_dns1123_label("Web"));
  CHECK_FALSE(is_dns1123_label("-web"));
  CHECK_FALSE(is_dns1123_label(std::string(64, 'a')));
  CHECK(is_dns1123_subdomain("a.b-c.d"));
  CHECK_FALSE(is_dns1123_subdomain("a..b"));
  CHECK_FALSE(is_dns1123_subdomain("a.-b"));
}
