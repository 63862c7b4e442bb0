#include "common/duration.h"

#include <doctest/doctest.h>

#include "common/dns_name.h"

namespace lockstep {
namespace {

using namespace std::chrono_literals;

std::chrono::nanoseconds parse_ok(std::string_view s) {
  std::chrono::nanoseconds d{-1};
  std::string err;
  INFO("input: ", s);
  CHECK(parse_duration(s, d, &err));
  CHECK(err.empty());
  return d;
}

std::string parse_err(std::string_view s) {
  std::chrono::nanoseconds d{};
  std::string err;
  INFO("input: ", s);
  CHECK_FALSE(parse_duration(s, d, &err));
  return err;
}

TEST_CASE("parse_duration accepts Go syntax") {
  CHECK(parse_ok("0") == 0ns);
  CHECK(parse_ok("500ms") == 500ms);
  CHECK(parse_ok("1m30s") == 90s);
  CHECK(parse_ok("1.5h") == 90min);
  CHECK(parse_ok("2h45m10.5s") == 2h + 45min + 10500ms);
  CHECK(parse_ok("100us") == 100us);
  CHECK(parse_ok("100\xC2\xB5s") == 100us);
  CHECK(parse_ok("7ns") == 7ns);
  CHECK(parse_ok(".5s") == 500ms);
  CHECK(parse_ok("1s500ms") == 1500ms);
}

TEST_CASE("parse_duration rejects with a reason") {
  CHECK(parse_err("") == "empty duration");
  CHECK(parse_err("10").find("missing unit") != std::string::npos);
  CHECK(parse_err("-1s").find("sign") != std::string::npos);
  CHECK(parse_err("1x").find("unknown unit") != std::string::npos);
  CHECK(parse_err("1m30").find("missing unit") != std::string::npos);
  CHECK(parse_err("s").find("expected a number") != std::string::npos);
  CHECK(parse_err("1 s").find("unknown unit") != std::string::npos);
  CHECK(parse_err("9999999999h").find("too large") != std::string::npos);
}

TEST_CASE("format_duration prints the shortest exact form") {
  CHECK(format_duration(0ns) == "0s");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(1s) == "1s");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(1min) == "1m");
  CHECK(format_duration(1h) == "1h");
  CHECK(format_duration(1h + 30s) == "1h0m30s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(100us) == "100us");
}

TEST_CASE("DNS-1123 labels and subdomains") {
  CHECK(is_dns1123_label("web"));
  CHECK(is_dns1123_label("web-canary-2"));
  CHECK_FALSE(is_dns1123_label(""));
  CHECK_FALSE(is_dns1123_label("Web"));
  CHECK_FALSE(is_dns1123_label("-web"));
  CHECK_FALSE(is_dns1123_label("web-"));
  CHECK_FALSE(is_dns1123_label("a.b"));
  CHECK_FALSE(is_dns1123_label(std::string(64, 'a')));
  CHECK(is_dns1123_label(std::string(63, 'a')));
  CHECK(is_dns1123_subdomain("my.app-1"));
  CHECK_FALSE(is_dns1123_subdomain("my..app"));
  CHECK_FALSE(is_dns1123_subdomain("my/app"));
  CHECK_FALSE(is_dns1123_subdomain(std::string(254, 'a')));
}

}  // namespace
}  // namespace lockstep
