// The client request path of lockstep-proxy: bytes as a client sends them, parsed in pieces
// with the proxy's limits, checked, routed against a fixed table, rewritten for the upstream and
// serialised; the body is drained through the same parse step the relay uses.
// Invariants: nothing crashes; the head sent upstream re-parses to the same method, target and
// Host and has no line break inside a field; a chosen backend exists.
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <optional>

#include "lockstep/v1/routes.pb.h"
#include "proxy/http_parse.h"
#include "proxy/http_rewrite.h"
#include "proxy/route_snapshot.h"
#include "test/fuzz/proxy/fuzz_support.h"

namespace {

using namespace lockstep::proxy;
using lockstep::proxy::fuzz::check;
namespace beast = boost::beast;

const RouteSnapshot& table() {
  static TrafficCounters counters(1);
  static std::shared_ptr<const RouteSnapshot> snap = [] {
    lockstep::v1::RouteTable t;
    t.set_version(1);
    auto add = [&t](const char* key, std::initializer_list<const char*> hosts, const char* prefix) {
      auto* r = t.add_routes();
      r->set_key(key);
      for (auto* h : hosts) r->add_hosts(h);
      r->add_path_prefixes(prefix);
      for (int i = 0; i < 2; ++i) {
        auto* b = r->add_backends();
        b->set_service(i == 0 ? "stable" : "canary");
        b->set_weight(i == 0 ? 80 : 20);
        auto* ep = b->add_endpoints();
        ep->set_ip("127.0.0.1");
        ep->set_port(8080);
      }
      auto* hr = r->add_header_routes();
      hr->set_service("canary");
      auto* m = hr->add_matches();
      m->set_header("x-canary");
      m->set_kind(lockstep::v1::MATCH_KIND_REGEX);
      m->set_value("(yes|true|[0-9]+)+");
      return r;
    };
    add("ns/app", {"app.example.com"}, "/");
    add("ns/api", {"app.example.com"}, "/api");
    add("ns/wild", {"*.example.com"}, "/");
    add("ns/any", {}, "/static");
    return compile_route_table(t, counters).snapshot;
  }();
  return *snap;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Feeder feed(data, size);
  beast::flat_buffer b;
  http::request_parser<http::buffer_body> p;
  p.header_limit(4096);
  p.body_limit(64 * 1024);
  boost::system::error_code ec;
  while (parse_head(b, p, ec) == Parsed::kNeedInput) {
    if (!feed.more()) {
      on_stream_end(p, ec);
      break;
    }
    feed.feed(b);
  }
  if (ec || !p.is_header_done()) return 0;

  auto& req = p.get();
  HostBuffer host_buf;
  std::string_view host;
  RequestTarget target;
  bool expect_continue = false;
  if (!check_request_head(req, host_buf, host, target, expect_continue)) {
    check(!host.empty() && host.size() <= 272, "normalised host");
    check(!target.path.empty() && target.path.front() == '/', "path starts with /");
    if (const RouteEntry* r = table().match(host, target.path)) {
      const uint32_t bi = r->choose_backend([&req](std::string_view name) {
        auto it = req.find(beast::string_view(name.data(), name.size()));
        return it == req.end() ? std::optional<std::string_view>()
                               : std::optional<std::string_view>(to_sv(it->value()));
      });
      check(bi < r->backends.size(), "chosen backend exists");
    }
    const std::string method(req.method_string());
    prepare_upstream_request(req, target, "192.0.2.1", (feed.flags() & 1) != 0);
    std::string head;
    serialize_request_head(req, head);
    check(fuzz::clean_head(head), "upstream head has no folded or injected lines");
    http::request_parser<http::empty_body> again;
    again.header_limit(1 << 20);
    beast::flat_buffer hb;
    auto dst = hb.prepare(head.size());
    std::memcpy(dst.data(), head.data(), head.size());
    hb.commit(head.size());
    boost::system::error_code ec2;
    check(parse_head(hb, again, ec2) == Parsed::kDone && !ec2, "upstream head parses");
    check(again.get().method_string() == method, "method kept");
    check(again.get().target() == req.target(), "target kept");
    check(again.get()[http::field::host] == req[http::field::host], "Host kept");
    check(again.get().count("x-forwarded-for") == 1, "one X-Forwarded-For");
  }

  // The body, through the relay's parse step with a small buffer.
  char body[97];
  drain_body(b, p, feed, ec, body);
  return 0;
}
