#include "common/http_admin_server.h"

#include <doctest/doctest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace lockstep {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// A blocking HTTP client on one keep-alive connection.
class Client {
 public:
  explicit Client(uint16_t port) : stream_(io_) {
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream_.expires_after(std::chrono::seconds(10));
  }
  http::response<http::string_body> request(http::verb verb, const std::string& target,
                                            std::string body = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }

  beast::tcp_stream& stream() { return stream_; }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

TEST_CASE("admin server serves metrics, health, readiness and handlers on one connection") {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter().Name("lockstep_test_total").Help("t").Register(*registry);
  family.Add({{"k", "v"}}).Increment(3);
  HttpAdminServer server({.address = "127.0.0.1", .port = 0}, Logger(LogLevel::kError));
  server.serve_metrics({registry});
  server.handle("/echo", [](const HttpRequest& r) {
    return HttpResponse{200, "application/json", "{\"q\":\"" + r.query + "\",\"b\":\"" + r.body + "\"}"};
  });
  std::string error;
  REQUIRE(server.start(&error));
  REQUIRE(server.port() != 0);

  Client c(server.port());
  auto m = c.request(http::verb::get, "/metrics");
  CHECK(m.result_int() == 200);
  CHECK(m.body().find("lockstep_test_total{k=\"v\"} 3") != std::string::npos);
  CHECK(c.request(http::verb::get, "/healthz").result_int() == 200);
  CHECK(c.request(http::verb::get, "/readyz").result_int() == 503);
  server.set_ready(true);
  CHECK(c.request(http::verb::get, "/readyz").result_int() == 200);
  auto e = c.request(http::verb::post, "/echo?x=1", "hi");
  CHECK(e.body() == "{\"q\":\"x=1\",\"b\":\"hi\"}");
  CHECK(e[http::field::content_type] == "application/json");
  CHECK(c.request(http::verb::get, "/nope").result_int() == 404);
}

TEST_CASE("admin server rejects an oversized request with 413 and keeps serving") {
  HttpAdminServer server({.address = "127.0.0.1", .port = 0, .max_request_bytes = 1024},
                         Logger(LogLevel::kError));
  std::string error;
  REQUIRE(server.start(&error));
  {
    Client c(server.port());
    auto r = c.request(http::verb::post, "/healthz", std::string(4096, 'x'));
    CHECK(r.result_int() == 413);
  }
  Client again(server.port());
  CHECK(again.request(http::verb::get, "/healthz").result_int() == 200);
}

TEST_CASE("admin server reports a bind failure and stops cleanly") {
  HttpAdminServer first({.address = "127.0.0.1", .port = 0}, Logger(LogLevel::kError));
  std::string error;
  REQUIRE(first.start(&error));
  HttpAdminServer second({.address = "127.0.0.1", .port = first.port()}, Logger(LogLevel::kError));
  CHECK_FALSE(second.start(&error));
  CHECK(error.find("cannot listen on 127.0.0.1:") != std::string::npos);
  HttpAdminServer bad({.address = "not-an-ip", .port = 0}, Logger(LogLevel::kError));
  CHECK_FALSE(bad.start(&error));
  CHECK(error.find("not an IP address") != std::string::npos);
  first.stop();
  first.stop();
}

}  // namespace
}  // namespace lockstep
