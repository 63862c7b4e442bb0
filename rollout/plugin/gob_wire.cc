#include "rollout/plugin/gob_wire.h"

#include <bit>
#include <cstring>

namespace lockstep::plugin::gob {

size_t parse_uint_prefix(std::string_view data, uint64_t& value) {
  if (data.empty()) return 0;
  const auto first = static_cast<uint8_t>(data[0]);
  if (first <= 0x7f) {
    value = first;
    return 1;
  }
  // The first byte holds the negated count of the big-endian bytes that follow (1..8).
  const int n = -static_cast<int8_t>(first);
  if (n > 8) throw Error("gob: invalid uint length byte " + std::to_string(first));
  if (data.size() < static_cast<size_t>(n) + 1) return 0;
  uint64_t v = 0;
  for (int i = 1; i <= n; ++i) v = (v << 8) | static_cast<uint8_t>(data[i]);
  value = v;
  return static_cast<size_t>(n) + 1;
}

uint64_t WireReader::read_uint() {
  uint64_t v = 0;
  const size_t used = parse_uint_prefix(data_.substr(pos_), v);
  if (used == 0) throw Error("gob: unexpected end of message reading an integer");
  pos_ += used;
  return v;
}

int64_t WireReader::read_int() { return unfold_int(read_uint()); }

double WireReader::read_float() {
  // Floats travel as their IEEE-754 bits with the byte order reversed, so that small exponents
  // of common values (integers, halves) compress into few bytes.
  const uint64_t reversed = read_uint();
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= ((reversed >> (8 * i)) & 0xff) << (8 * (7 - i));
  return std::bit_cast<double>(bits);
}

std::string_view WireReader::read_raw(size_t n) {
  if (n > remaining()) {
    throw Error("gob: length " + std::to_string(n) + " exceeds the " +
                std::to_string(remaining()) + " bytes left in the message");
  }
  const std::string_view out = data_.substr(pos_, n);
  pos_ += n;
  return out;
}

std::string_view WireReader::read_bytes() {
  const uint64_t n = read_uint();
  if (n > remaining()) {
    throw Error("gob: length " + std::to_string(n) + " exceeds the " +
                std::to_string(remaining()) + " bytes left in the message");
  }
  return read_raw(static_cast<size_t>(n));
}

void append_uint(std::string& out, uint64_t v) {
  if (v < 0x80) {
    out.push_back(static_cast<char>(v));
    return;
  }
  char buf[8];
  int n = 0;
  while (v != 0) {
    buf[7 - n] = static_cast<char>(v & 0xff);
    v >>= 8;
    ++n;
  }
  out.push_back(static_cast<char>(-n));
  out.append(buf + 8 - n, static_cast<size_t>(n));
}

void append_int(std::string& out, int64_t v) { append_uint(out, fold_int(v)); }

void append_float(std::string& out, double v) {
  const auto bits = std::bit_cast<uint64_t>(v);
  uint64_t reversed = 0;
  for (int i = 0; i < 8; ++i) reversed |= ((bits >> (8 * i)) & 0xff) << (8 * (7 - i));
  append_uint(out, reversed);
}

void append_bytes(std::string& out, std::string_view bytes) {
  append_uint(out, bytes.size());
  out.append(bytes);
}

}  // namespace lockstep::plugin::gob
