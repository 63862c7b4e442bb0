#include "rollout/plugin/gob_wire.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "test/unit/plugin/gob_test_util.h"

namespace lockstep::plugin::gob {
namespace {

using testing::hex;
using testing::to_hex;

std::string uint_bytes(uint64_t v) {
  std::string out;
  append_uint(out, v);
  return out;
}

std::string int_bytes(int64_t v) {
  std::string out;
  append_int(out, v);
  return out;
}

TEST_CASE("unsigned integers use gob's length-prefixed big-endian form") {
  CHECK(to_hex(uint_bytes(0)) == "00");
  CHECK(to_hex(uint_bytes(7)) == "07");
  CHECK(to_hex(uint_bytes(127)) == "7f");
  CHECK(to_hex(uint_bytes(128)) == "ff 80");
  CHECK(to_hex(uint_bytes(256)) == "fe 01 00");
  CHECK(to_hex(uint_bytes(UINT64_MAX)) == "f8 ff ff ff ff ff ff ff ff");
}

TEST_CASE("signed integers fold the sign into the low bit") {
  CHECK(to_hex(int_bytes(-129)) == "fe 01 01");
  CHECK(to_hex(int_bytes(-65)) == "ff 81");
  CHECK(to_hex(int_bytes(65)) == "ff 82");
  CHECK(to_hex(int_bytes(-1)) == "01");
  CHECK(to_hex(int_bytes(std::numeric_limits<int64_t>::min())) == "f8 ff ff ff ff ff ff ff ff");
}

TEST_CASE("floats are byte-reversed IEEE-754 bits") {
  std::string out;
  append_float(out, 17.0);
  CHECK(to_hex(out) == "fe 31 40");
  WireReader r(out);
  CHECK(r.read_float() == 17.0);
  CHECK(r.empty());
}

TEST_CASE("reads round-trip every boundary value") {
  const uint64_t values[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 1ull << 32, UINT64_MAX};
  for (uint64_t v : values) {
    const std::string bytes = uint_bytes(v);
    WireReader r(bytes);
    CHECK(r.read_uint() == v);
    CHECK(r.empty());
  }
  const int64_t signed_values[] = {0, -1, 1, -64, 64, -65, 65, INT64_MIN, INT64_MAX};
  for (int64_t v : signed_values) {
    const std::string bytes = int_bytes(v);
    WireReader r(bytes);
    CHECK(r.read_int() == v);
  }
}

TEST_CASE("malformed primitives are rejected with an error, never read past the end") {
  SUBCASE("length byte beyond 8") {
    const std::string bytes = hex("f7 01 02 03 04 05 06 07 08 09");
    WireReader r(bytes);
    CHECK_THROWS_AS(r.read_uint(), Error);
  }
  SUBCASE("truncated integer") {
    const std::string bytes = hex("fe 01");
    WireReader r(bytes);
    CHECK_THROWS_AS(r.read_uint(), Error);
  }
  SUBCASE("empty input") {
    WireReader r("");
    CHECK_THROWS_AS(r.read_uint(), Error);
  }
  SUBCASE("byte count beyond the message") {
    const std::string bytes = hex("05 61 62");
    WireReader r(bytes);
    CHECK_THROWS_AS(r.read_bytes(), Error);
  }
  SUBCASE("huge byte count") {
    const std::string bytes = hex("f8 7f ff ff ff ff ff ff ff 00");
    WireReader r(bytes);
    CHECK_THROWS_AS(r.read_bytes(), Error);
  }
}

TEST_CASE("parse_uint_prefix asks for more input instead of failing on a partial prefix") {
  uint64_t v = 0;
  CHECK(parse_uint_prefix("", v) == 0);
  CHECK(parse_uint_prefix(hex("fe 01"), v) == 0);
  CHECK(parse_uint_prefix(hex("fe 01 00 aa"), v) == 3);
  CHECK(v == 256);
}

}  // namespace
}  // namespace lockstep::plugin::gob
