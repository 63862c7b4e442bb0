#include "demo/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <sstream>

namespace lockstep::demo {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

HttpGetResult http_get(uint16_t port, const std::string& target, std::chrono::milliseconds timeout,
                       const std::string& host) {
  HttpGetResult result;
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  stream.expires_after(timeout);
  const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  bool done = false;
  stream.async_connect(ep, [&](beast::error_code e) {
    if (e) {
      ec = e;
      done = true;
      return;
    }
    auto req = std::make_shared<http::request<http::empty_body>>(http::verb::get, target, 11);
    req->set(http::field::host, host);
    req->set(http::field::connection, "close");
    http::async_write(stream, *req, [&, req](beast::error_code we, size_t) {
      if (we) {
        ec = we;
        done = true;
        return;
      }
      auto buffer = std::make_shared<beast::flat_buffer>();
      auto res = std::make_shared<http::response<http::string_body>>();
      http::async_read(stream, *buffer, *res, [&, buffer, res](beast::error_code re, size_t) {
        ec = re;
        if (!re) {
          result.status = static_cast<int>(res->result_int());
          result.body = std::move(res->body());
        }
        done = true;
      });
    });
  });
  io.run();
  if (ec && result.status == 0) result.error = ec.message();
  if (!done && result.error.empty()) result.error = "no answer";
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return result;
}

uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

double MetricsText::sum(const std::string& name) const {
  auto it = sums.find(name);
  return it == sums.end() ? 0 : it->second;
}

double MetricsText::sum_where(const std::string& name, const std::string& label,
                              const std::string& value) const {
  const std::string needle = label + "=\"" + value + "\"";
  double total = 0;
  for (auto it = series.lower_bound(name); it != series.end(); ++it) {
    const std::string& key = it->first;
    if (key.compare(0, name.size(), name) != 0) break;
    if (key.size() > name.size() && key[name.size()] != '{') continue;
    if (key.find(needle) != std::string::npos) total += it->second;
  }
  return total;
}

MetricsText parse_metrics_text(const std::string& text) {
  MetricsText out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // "name{labels} value [timestamp]": labels may hold spaces inside quotes.
    size_t end = line.find('{');
    size_t value_at;
    if (end != std::string::npos && end < line.find(' ')) {
      const size_t close = line.rfind('}');
      if (close == std::string::npos) continue;
      value_at = close + 1;
    } else {
      end = line.find(' ');
      if (end == std::string::npos) continue;
      value_at = end;
    }
    const std::string key = line.substr(0, value_at);
    const std::string name = line.substr(0, end);
    char* parse_end = nullptr;
    const double v = std::strtod(line.c_str() + value_at, &parse_end);
    if (parse_end == line.c_str() + value_at) continue;
    out.series[key] = v;
    out.sums[name] += v;
  }
  return out;
}

}  // namespace lockstep::demo
