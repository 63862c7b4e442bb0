#include "rollout/plugin/admin_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace lockstep::plugin {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

AdminResponse admin_get(const std::string& host, uint16_t port, const std::string& target,
                        std::chrono::milliseconds timeout, size_t max_body_bytes) {
  AdminResponse out;
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    out.error = "\"" + host + "\" is not an IP address";
    return out;
  }
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  const std::string where = (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
  // One deadline for the whole exchange: connect, write and read.
  stream.expires_after(timeout);
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, where);
  request.set(http::field::user_agent, "lockstep-rollouts-plugin");
  request.set(http::field::accept, "application/json");
  request.set(http::field::connection, "close");
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body_bytes);
  beast::flat_buffer buffer;
  bool timed_out = false;
  stream.async_connect(asio::ip::tcp::endpoint(address, port), [&](beast::error_code e) {
    if (e) {
      ec = e;
      return;
    }
    http::async_write(stream, request, [&](beast::error_code we, size_t) {
      if (we) {
        ec = we;
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code re, size_t) { ec = re; });
    });
  });
  ioc.run();
  timed_out = ec == beast::error::timeout;
  if (ec) {
    out.error = "GET http://" + where + target + ": " +
                (timed_out ? "no answer within " + std::to_string(timeout.count()) + "ms"
                           : ec.message());
    return out;
  }
  out.status = static_cast<int>(parser.get().result_int());
  out.body = std::move(parser.get().body());
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace lockstep::plugin
