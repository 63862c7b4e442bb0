#pragma once

// Gob's primitive encodings (golang/go src/encoding/gob/doc.go): unsigned integers in a
// length-prefixed big-endian form, signed integers folded into unsigned ones, floats as
// byte-reversed IEEE-754 bits, strings and byte slices as a count followed by the bytes.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lockstep::plugin::gob {

// Every malformed or over-limit input is reported as this exception; its message names what was
// being read and why it failed. The net/rpc layer turns it into an error reply.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads primitives from one message. Every read is bounds-checked; running past the end throws.
class WireReader {
 public:
  WireReader() = default;
  explicit WireReader(std::string_view data) : data_(data) {}

  uint64_t read_uint();
  int64_t read_int();
  bool read_bool() { return read_uint() != 0; }
  double read_float();
  // A count followed by that many bytes (string or []byte); the view points into the message.
  std::string_view read_bytes();
  std::string_view read_raw(size_t n);

  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }
  size_t position() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Parses a uint from the first bytes of `data`; returns the number of bytes used, or 0 when the
// buffer is too short (more input needed). Throws Error on an invalid length byte.
size_t parse_uint_prefix(std::string_view data, uint64_t& value);

void append_uint(std::string& out, uint64_t v);
void append_int(std::string& out, int64_t v);
void append_float(std::string& out, double v);
void append_bytes(std::string& out, std::string_view bytes);

// The signed-to-unsigned folding used on the wire (doc.go "Signed integers").
constexpr uint64_t fold_int(int64_t i) {
  return i < 0 ? (~static_cast<uint64_t>(i) << 1) | 1 : static_cast<uint64_t>(i) << 1;
}
constexpr int64_t unfold_int(uint64_t u) {
  const auto i = static_cast<int64_t>(u >> 1);
  return (u & 1) ? ~i : i;
}

}  // namespace lockstep::plugin::gob
