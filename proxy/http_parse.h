#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstdint>

namespace lockstep::proxy {

namespace http = boost::beast::http;

// Parsing steps over what is buffered, used by the client sessions and the fuzz targets; the
// caller reads more from its socket when told to. Plain functions rather than coroutines: a
// coroutine frame would be allocated per call.
enum class Parsed : uint8_t { kDone, kNeedInput };

// Parses a message head from `b` (the body stays in `b`). Errors (malformed, header_limit) in ec.
template <bool isRequest>
Parsed parse_head(boost::beast::flat_buffer& b, http::basic_parser<isRequest>& p,
                  boost::system::error_code& ec) {
  ec = {};
  while (!p.is_header_done()) {
    if (b.size() == 0) return Parsed::kNeedInput;
    const size_t used = p.put(b.data(), ec);
    b.consume(used);
    if (ec == http::error::need_more) {
      ec = {};
      return Parsed::kNeedInput;
    }
    if (ec) return Parsed::kDone;
  }
  return Parsed::kDone;
}

// For parse_body: no "need more input" outstanding.
inline constexpr size_t kNotStarved = static_cast<size_t>(-1);

// After Beast's chunk-header step asked for more input, the size `b` must exceed before put() may
// see it again. Beast 1.74 asserts (basic_parser.ipp:688, debug builds; fixed upstream in 1.86)
// when a call finds the last-chunk line ("0\r\n") without the final CRLF and a later call has
// fewer than 5 bytes: "0\r\n" then "0\r\n" plus one byte aborts. A need-more with a CRLF in
// fewer than 5 buffered bytes is only ever that last-chunk line or a chunk's closing CRLF
// before a header; both need at least 5 bytes to make progress, so waiting for them delays
// nothing. Otherwise one more byte suffices.
inline size_t starved_threshold(const boost::beast::flat_buffer& b) {
  constexpr size_t kLastChunkMin = 5;  // "0\r\n\r\n"
  const size_t n = b.size();
  if (n >= kLastChunkMin) return n;
  const auto* p = static_cast<const char*>(b.data().data());
  for (size_t i = 0; i + 1 < n; ++i) {
    if (p[i] == '\r' && p[i + 1] == '\n') return kLastChunkMin - 1;
  }
  return n;
}

// Parses body bytes from `b` into the parser's body buffer, which the caller pointed at `cap`
// free bytes. kDone: some body was produced, the buffer is full, or the message is complete.
// `starved_at` (start each message with kNotStarved) remembers that the parser asked for more
// input: Beast's parser must not see the same bytes again before more arrive (its chunk-header
// state assumes so), nor a last-chunk line with one byte more (starved_threshold), so until `b`
// grows past it the answer is kNeedInput without calling it.
template <bool isRequest>
Parsed parse_body(boost::beast::flat_buffer& b, http::parser<isRequest, http::buffer_body>& p,
                  size_t cap, boost::system::error_code& ec, size_t& starved_at) {
  ec = {};
  auto& body = p.get().body();
  while (!p.is_done()) {
    if (b.size() == 0 || (starved_at != kNotStarved && b.size() <= starved_at)) {
      return Parsed::kNeedInput;
    }
    const size_t used = p.put(b.data(), ec);
    b.consume(used);
    if (ec == http::error::need_buffer) {  // the body buffer is full
      ec = {};
      starved_at = kNotStarved;
      return Parsed::kDone;
    }
    if (ec == http::error::need_more) {
      ec = {};
      starved_at = starved_threshold(b);
      // Body that arrived is passed on now (streaming); the next call waits for input.
      return body.size != cap ? Parsed::kDone : Parsed::kNeedInput;
    }
    if (ec) return Parsed::kDone;
    starved_at = kNotStarved;
    if (body.size != cap) return Parsed::kDone;  // some body arrived: pass it on now
    if (used == 0) return Parsed::kNeedInput;
  }
  return Parsed::kDone;
}

// The stream ended (EOF): completes a body delimited by the close, else sets Beast's
// end_of_stream (nothing received) or partial_message.
template <bool isRequest>
void on_stream_end(http::basic_parser<isRequest>& p, boost::system::error_code& ec) {
  if (!p.is_header_done()) {
    ec = p.got_some() ? http::error::partial_message : http::error::end_of_stream;
    return;
  }
  ec = {};
  p.put_eof(ec);
}

}  // namespace lockstep::proxy
