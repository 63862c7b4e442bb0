// The upstream response path of lockstep-proxy: bytes as a backend sends them, parsed in pieces,
// rewritten for the client (HTTP/1.1 or 1.0, kept alive or not), serialised, and the body
// drained. Invariants: the head sent to the client re-parses with the same status and has no
// line break inside a field; no hop-by-hop header survives.
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <limits>

#include "proxy/http_parse.h"
#include "proxy/http_rewrite.h"
#include "test/fuzz/proxy/fuzz_support.h"

using namespace lockstep::proxy;
using lockstep::proxy::fuzz::check;
namespace beast = boost::beast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Feeder feed(data, size);
  beast::flat_buffer b;
  http::response_parser<http::buffer_body> p;
  p.header_limit(8192);
  p.body_limit(std::numeric_limits<uint64_t>::max());
  if ((feed.flags() & 2) != 0) p.skip(true);  // the answer to a HEAD request
  boost::system::error_code ec;
  while (parse_head(b, p, ec) == Parsed::kNeedInput) {
    if (!feed.more()) {
      on_stream_end(p, ec);
      break;
    }
    feed.feed(b);
  }
  if (ec || !p.is_header_done()) return 0;
  auto& res = p.get();
  const unsigned client_version = (feed.flags() & 4) != 0 ? 10 : 11;
  const bool keep = prepare_client_response(res, (feed.flags() & 8) != 0, client_version);
  check(res.count(http::field::keep_alive) == 0 && res.count(http::field::upgrade) == 0 &&
            res.count(http::field::te) == 0 && res.count(http::field::trailer) == 0,
        "hop-by-hop fields removed");
  if (client_version < 11) check(res.count(http::field::transfer_encoding) == 0, "no chunked to 1.0");
  std::string head;
  serialize_response_head(res, head);
  check(fuzz::clean_head(head), "client head has no folded or injected lines");
  http::response_parser<http::empty_body> again;
  again.header_limit(1 << 20);
  again.skip(true);
  beast::flat_buffer hb;
  auto dst = hb.prepare(head.size());
  std::memcpy(dst.data(), head.data(), head.size());
  hb.commit(head.size());
  boost::system::error_code ec2;
  check(parse_head(hb, again, ec2) == Parsed::kDone && !ec2, "client head parses");
  check(again.get().result_int() == res.result_int(), "status kept");
  check(again.get().keep_alive() == keep || client_version < 11, "keep-alive as decided");

  char body[113];
  drain_body(b, p, feed, ec, body);
  return 0;
}
