#pragma once

// Helpers shared by lockstep-proxy's fuzz targets.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "proxy/http_parse.h"

namespace lockstep::proxy::fuzz {

// Fails the run loudly (libFuzzer and the replay test both treat abort as a finding).
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}

// Feeds an input to a parser in pieces whose size comes from the input itself, as a socket
// would deliver it.
class Feeder {
 public:
  Feeder(const uint8_t* data, size_t size)
      : data_(data), size_(size), piece_(size == 0 ? 1 : 1 + data[0] % 61), pos_(size == 0 ? 0 : 1) {}
  bool more() const { return pos_ < size_; }
  // Appends the next piece to `b`.
  void feed(boost::beast::flat_buffer& b) {
    const size_t n = std::min(piece_, size_ - pos_);
    auto dst = b.prepare(n);
    std::memcpy(dst.data(), data_ + pos_, n);
    b.commit(n);
    pos_ += n;
  }
  uint8_t flags() const { return size_ == 0 ? 0 : data_[0]; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t piece_;
  size_t pos_;
};

// A head we serialise must not carry line breaks inside a line (no obs-fold, no injected
// header): every CRLF is followed by a field name or by the final CRLF.
inline bool clean_head(std::string_view head) {
  for (size_t i = head.find("\r\n"); i != std::string_view::npos; i = head.find("\r\n", i + 2)) {
    if (i + 2 < head.size()) {
      const char c = head[i + 2];
      if (c == ' ' || c == '\t') return false;
    }
  }
  for (char c : head) {
    if (c == '\0') return false;
  }
  return head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n";
}

// Reads a message body through the relay's parse step, `N` bytes at a time, feeding input as the
// parser asks for it; ends the message as a closed connection would when the input runs out.
template <bool isRequest, size_t N>
void drain_body(boost::beast::flat_buffer& b, http::parser<isRequest, http::buffer_body>& p, Feeder& feed,
                boost::system::error_code& ec, char (&chunk)[N]) {
  size_t starved = kNotStarved;
  while (!ec && !p.is_done()) {
    p.get().body().data = chunk;
    p.get().body().size = N;
    if (parse_body(b, p, N, ec, starved) == Parsed::kNeedInput) {
      if (!feed.more()) {
        on_stream_end(p, ec);
        return;
      }
      feed.feed(b);
    }
  }
}

}  // namespace lockstep::proxy::fuzz
