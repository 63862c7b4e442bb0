#include "proxy/http_rewrite.h"

#include <doctest/doctest.h>

#include <boost/beast/http/empty_body.hpp>

namespace lockstep::proxy {
namespace {

std::string norm(std::string_view raw) {
  HostBuffer buf;
  return std::string(normalize_host(raw, buf));
}

TEST_CASE("host names are lower-cased and lose port and trailing dot") {
  CHECK(norm("Shop.Example.COM") == "shop.example.com");
  CHECK(norm("shop.example.com:8080") == "shop.example.com");
  CHECK(norm("shop.example.com.") == "shop.example.com");
  CHECK(norm("10.1.2.3:80") == "10.1.2.3");
  CHECK(norm("[::1]:8080") == "[::1]");
  CHECK(norm("[2001:DB8::1]") == "[2001:db8::1]");
  CHECK(norm("") == "");
  CHECK(norm("a b") == "");
  CHECK(norm("host:port") == "");
  CHECK(norm("host:123456") == "");
  CHECK(norm("[::1") == "");
  CHECK(norm(std::string(254, 'a')) == "");
}

TEST_CASE("request targets: origin absolute and asterisk forms") {
  auto t = parse_target("/api/v1?x=1");
  REQUIRE(t);
  CHECK(t->path == "/api/v1");
  CHECK(t->origin == "/api/v1?x=1");
  CHECK(t->authority.empty());
  t = parse_target("http://Shop.example.com:8080/cart?id=3");
  REQUIRE(t);
  CHECK(t->authority == "Shop.example.com:8080");
  CHECK(t->path == "/cart");
  CHECK(t->origin == "/cart?id=3");
  t = parse_target("http://shop.example.com");
  REQUIRE(t);
  CHECK(t->origin == "/");
  t = parse_target("*");
  REQUIRE(t);
  CHECK(t->asterisk);
  CHECK_FALSE(parse_target("shop.example.com:443"));
  CHECK_FALSE(parse_target("ftp://x/y"));
  CHECK_FALSE(parse_target("http://user@x/y"));
  CHECK_FALSE(parse_target(""));
}

TEST_CASE("dot segments also percent-encoded are detected") {
  CHECK(has_dot_segment("/api/../admin"));
  CHECK(has_dot_segment("/api/./x"));
  CHECK(has_dot_segment("/api/%2e%2E/admin"));
  CHECK(has_dot_segment("/api/.."));
  CHECK_FALSE(has_dot_segment("/api/...x"));
  CHECK_FALSE(has_dot_segment("/api/.well-known"));
  CHECK_FALSE(has_dot_segment("/a..b/"));
}

http::request_header<> head(http::verb method, std::string target) {
  http::request_header<> h;
  h.method(method);
  h.target(target);
  h.version(11);
  return h;
}

TEST_CASE("request heads are checked: Host target method Expect framing") {
  HostBuffer buf;
  std::string_view host;
  RequestTarget target;
  bool expect = false;
  auto h = head(http::verb::get, "/x");
  auto p = check_request_head(h, buf, host, target, expect);
  REQUIRE(p);
  CHECK(p->status == 400);
  CHECK(p->reason == RejectReason::kBadHost);
  h.set(http::field::host, "App.Example.com:80");
  CHECK_FALSE(check_request_head(h, buf, host, target, expect));
  CHECK(host == "app.example.com");
  h.insert(http::field::host, "other");
  CHECK(check_request_head(h, buf, host, target, expect)->reason == RejectReason::kBadHost);
  auto abs = head(http::verb::get, "http://abs.example.com/p");
  abs.set(http::field::host, "ignored.example.com");
  CHECK_FALSE(check_request_head(abs, buf, host, target, expect));
  CHECK(host == "abs.example.com");
  auto conn = head(http::verb::connect, "x:443");
  CHECK(check_request_head(conn, buf, host, target, expect)->status == 405);
  auto dots = head(http::verb::get, "/a/../b");
  dots.set(http::field::host, "h");
  CHECK(check_request_head(dots, buf, host, target, expect)->reason == RejectReason::kBadTarget);
  auto ex = head(http::verb::post, "/upload");
  ex.set(http::field::host, "h");
  ex.set(http::field::expect, "100-Continue");
  CHECK_FALSE(check_request_head(ex, buf, host, target, expect));
  CHECK(expect);
  ex.set(http::field::expect, "something-else");
  CHECK(check_request_head(ex, buf, host, target, expect)->status == 417);
  auto te = head(http::verb::post, "/upload");
  te.set(http::field::host, "h");
  te.set(http::field::transfer_encoding, "gzip");
  CHECK(check_request_head(te, buf, host, target, expect)->status == 400);
  te.set(http::field::transfer_encoding, "gzip, chunked");
  CHECK_FALSE(check_request_head(te, buf, host, target, expect));
}

TEST_CASE("hop-by-hop headers go including those named by Connection but never framing") {
  auto h = head(http::verb::get, "/x");
  h.set(http::field::host, "h");
  h.set(http::field::connection, "keep-alive, X-Secret, Content-Length, Host");
  h.set("X-Secret", "1");
  h.set(http::field::keep_alive, "timeout=5");
  h.set(http::field::te, "trailers");
  h.set(http::field::upgrade, "websocket");
  h.set(http::field::proxy_connection, "keep-alive");
  h.set(http::field::content_length, "0");
  h.set("X-Keep", "yes");
  remove_hop_by_hop(h);
  CHECK(h.count("x-secret") == 0);
  CHECK(h.count(http::field::connection) == 0);
  CHECK(h.count(http::field::keep_alive) == 0);
  CHECK(h.count(http::field::te) == 0);
  CHECK(h.count(http::field::upgrade) == 0);
  CHECK(h.count(http::field::proxy_connection) == 0);
  CHECK(h.count(http::field::content_length) == 1);
  CHECK(h.count(http::field::host) == 1);
  CHECK(h["x-keep"] == "yes");
}

TEST_CASE("X-Forwarded-* are appended when trusted and replaced otherwise") {
  auto h = head(http::verb::get, "/x");
  h.version(10);
  h.set(http::field::host, "app.example.com");
  h.insert("X-Forwarded-For", "203.0.113.9");
  h.insert("X-Forwarded-For", "10.0.0.7");
  h.set("X-Forwarded-Proto", "https");
  h.set(http::field::expect, "100-continue");
  RequestTarget t = *parse_target("/x");
  auto trusted = h;
  prepare_upstream_request(trusted, t, "127.0.0.1", true);
  CHECK(trusted["x-forwarded-for"] == "203.0.113.9, 10.0.0.7, 127.0.0.1");
  CHECK(trusted.count("x-forwarded-for") == 1);
  CHECK(trusted["x-forwarded-proto"] == "https");
  CHECK(trusted["x-forwarded-host"] == "app.example.com");
  CHECK(trusted.count(http::field::expect) == 0);
  CHECK(trusted.version() == 11);
  auto untrusted = h;
  prepare_upstream_request(untrusted, t, "127.0.0.1", false);
  CHECK(untrusted["x-forwarded-for"] == "127.0.0.1");
  CHECK(untrusted["x-forwarded-proto"] == "http");
  auto abs = head(http::verb::get, "http://abs.example.com:81/p?q");
  abs.set(http::field::host, "other");
  RequestTarget at = *parse_target("http://abs.example.com:81/p?q");
  prepare_upstream_request(abs, at, "::1", false);
  CHECK(abs.target() == "/p?q");
  CHECK(abs[http::field::host] == "abs.example.com:81");
}

TEST_CASE("responses: hop-by-hop removed chunked dropped for HTTP/1.0 clients") {
  http::response_header<> r;
  r.result(200);
  r.version(11);
  r.set(http::field::transfer_encoding, "chunked");
  r.set(http::field::connection, "keep-alive");
  r.set(http::field::keep_alive, "timeout=5");
  auto r11 = r;
  prepare_client_response(r11, true, 11);
  CHECK(r11[http::field::transfer_encoding] == "chunked");
  CHECK(r11.count(http::field::connection) == 0);
  CHECK(r11.count(http::field::keep_alive) == 0);
  auto r10 = r;
  prepare_client_response(r10, true, 10);
  CHECK(r10.count(http::field::transfer_encoding) == 0);
  CHECK(r10[http::field::connection] == "close");
  http::response_header<> k;
  k.result(204);
  prepare_client_response(k, true, 10);
  CHECK(k[http::field::connection] == "keep-alive");
  prepare_client_response(k, false, 11);
  CHECK(k[http::field::connection] == "close");
}

TEST_CASE("idempotent methods") {
  CHECK(is_idempotent(http::verb::get));
  CHECK(is_idempotent(http::verb::put));
  CHECK_FALSE(is_idempotent(http::verb::post));
  CHECK_FALSE(is_idempotent(http::verb::patch));
}

}  // namespace
}  // namespace lockstep::proxy
