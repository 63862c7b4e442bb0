// The encoder against the bytes Go writes (doc.go's Point example, the reference's net/rpc
// replies), and the decoder against the encoder and hand-built streams.
#include <doctest/doctest.h>

#include <string>

#include "rollout/plugin/gob_decoder.h"
#include "rollout/plugin/gob_encoder.h"
#include "rollout/plugin/net_rpc.h"
#include "test/unit/plugin/gob_test_util.h"

namespace lockstep::plugin::gob {
namespace {

using testing::hex;
using testing::to_hex;

const TypeSpec& point_spec() {
  static const TypeSpec t = TypeSpec::structure("Point", {{"X", &int_spec()}, {"Y", &int_spec()}});
  return t;
}

const TypeSpec& rpc_error_spec() {
  static const TypeSpec t = TypeSpec::structure("RpcError", {{"ErrorString", &string_spec()}});
  return t;
}

Value point(int64_t x, int64_t y) {
  Value v = Value::of_struct();
  v.set("X", Value::of_int(x));
  v.set("Y", Value::of_int(y));
  return v;
}

// Splits a stream into its messages (without their length prefixes).
std::vector<std::string> messages(std::string_view stream) {
  BufferSource src(stream);
  std::vector<std::string> out;
  std::string m;
  while (src.next(m, 1 << 20)) out.push_back(m);
  return out;
}

TEST_CASE("encoder reproduces doc.go's Point example byte for byte") {
  Encoder enc(65);
  std::string out;
  enc.encode(out, point_spec(), point(22, 33));
  CHECK(to_hex(out) ==
        "1f ff 81 03 01 01 05 50 6f 69 6e 74 01 ff 82 00 01 02 01 01 58 01 04 00 01 01 59 01 04 "
        "00 00 00 07 ff 82 01 2c 01 42 00");
  // The definition goes once per stream.
  std::string again;
  enc.encode(again, point_spec(), point(22, 33));
  CHECK(to_hex(again) == "07 ff 82 01 2c 01 42 00");
}

TEST_CASE("encoder writes net/rpc replies exactly as the reference lists them") {
  SUBCASE("RpcError definition and values") {
    Encoder enc(66);
    std::string out;
    enc.encode(out, rpc_error_spec(), Value::of_struct());
    CHECK(to_hex(out) ==
          "26 ff 83 03 01 01 08 52 70 63 45 72 72 6f 72 01 ff 84 00 01 01 01 0b 45 72 72 6f 72 "
          "53 74 72 69 6e 67 01 0c 00 00 00 03 ff 84 00");
    Value boom = Value::of_struct();
    boom.set("ErrorString", Value::of_string("boom"));
    std::string second;
    enc.encode(second, rpc_error_spec(), boom);
    CHECK(to_hex(second) == "09 ff 84 01 04 62 6f 6f 6d 00");
  }
  SUBCASE("empty struct") {
    Encoder enc(68);
    std::string out;
    enc.encode(out, empty_struct_spec(), Value::of_struct());
    CHECK(to_hex(out) == "0a ff 87 03 01 02 ff 88 00 00 00 03 ff 88 00");
  }
  SUBCASE("Response header: Seq 0 and empty Error are omitted") {
    Encoder enc(65);
    std::string out;
    Value r = Value::of_struct();
    r.set("ServiceMethod", Value::of_string("Plugin.SetWeight"));
    r.set("Seq", Value::of_uint(5));
    r.set("Error", Value::of_string(""));
    enc.encode(out, rpc_response_spec(), r);
    const auto msgs = messages(out);
    REQUIRE(msgs.size() == 2);
    CHECK(to_hex(msgs[1]) == to_hex(hex("ff 82 01 10") + "Plugin.SetWeight" + hex("01 05 00")));
  }
  SUBCASE("singletons: uint and string replies") {
    Encoder enc;
    std::string out;
    enc.encode(out, uint_spec(), Value::of_uint(1));
    CHECK(to_hex(out) == "03 06 00 01");
    std::string s;
    enc.encode(s, string_spec(), Value::of_string("Lockstep"));
    CHECK(to_hex(s) == to_hex(hex("0b 0c 00 08") + "Lockstep"));
  }
  SUBCASE("a nil interface is 10 00 00") {
    Encoder enc;
    std::string out;
    enc.encode(out, interface_spec(), Value());
    CHECK(to_hex(out) == "03 10 00 00");
  }
}

TEST_CASE("decoder reads what the encoder writes") {
  Encoder enc;
  std::string stream;
  enc.encode(stream, point_spec(), point(-7, 1 << 20));
  enc.encode(stream, point_spec(), point(0, 0));
  enc.encode(stream, string_spec(), Value::of_string("hello"));
  BufferSource src(stream);
  Decoder dec;
  Value v;
  REQUIRE(dec.decode(src, v));
  CHECK(v["X"].as_int() == -7);
  CHECK(v["Y"].as_int() == (1 << 20));
  REQUIRE(dec.decode(src, v));
  CHECK(v.type() == Value::Type::kStruct);
  CHECK(v.names().empty());  // zero fields are not sent
  CHECK(v["X"].as_int() == 0);
  REQUIRE(dec.decode(src, v));
  CHECK(v.as_string() == "hello");
  CHECK_FALSE(dec.decode(src, v));  // clean end
  CHECK(dec.types().user_type_count() == 1);
}

// A miniature of the Argo argument graph: an interface holding a struct with nested structs,
// slices, a map of []byte, a GobEncoder time, and floats/bools/uints.
struct Graph {
  TypeSpec time = TypeSpec::opaque("Time");
  TypeSpec labels = TypeSpec::map_of("map[string]string", string_spec(), string_spec());
  TypeSpec plugins = TypeSpec::map_of("map[string][]uint8", string_spec(), bytes_spec());
  TypeSpec meta = TypeSpec::structure("ObjectMeta", {{"Name", &string_spec()},
                                                     {"Namespace", &string_spec()},
                                                     {"Labels", &labels},
                                                     {"CreationTimestamp", &time}});
  TypeSpec dest = TypeSpec::structure("WeightDestination", {{"ServiceName", &string_spec()},
                                                            {"PodTemplateHash", &string_spec()},
                                                            {"Weight", &int_spec()}});
  TypeSpec dests = TypeSpec::slice_of("[]v1alpha1.WeightDestination", dest);
  TypeSpec routing = TypeSpec::structure("RolloutTrafficRouting", {{"Plugins", &plugins}});
  TypeSpec spec = TypeSpec::structure("RolloutSpec", {{"Routing", &routing},
                                                      {"Ratio", &float_spec()},
                                                      {"Paused", &bool_spec()},
                                                      {"Count", &uint_spec()}});
  TypeSpec rollout = TypeSpec::structure("Rollout", {{"ObjectMeta", &meta}, {"Spec", &spec}});
  TypeSpec args = TypeSpec::structure("SetWeightAndVerifyWeightArgs",
                                      {{"Rollout", &rollout},
                                       {"DesiredWeight", &int_spec()},
                                       {"AdditionalDestinations", &dests}});

  Value value() const {
    Value meta_v = Value::of_struct();
    meta_v.set("Name", Value::of_string("web"));
    meta_v.set("Namespace", Value::of_string("shop"));
    Value labels_v = Value::of_map();
    labels_v.map_put(Value::of_string("app"), Value::of_string("web"));
    meta_v.set("Labels", std::move(labels_v));
    meta_v.set("CreationTimestamp", Value::of_opaque("Time", hex("01 00 00 00 0e dd 5c 0f 80 00 00 00 00 ff ff")));
    Value plugins_v = Value::of_map();
    plugins_v.map_put(Value::of_string("lockstep/http"), Value::of_bytes(R"({"scaledObject":"web"})"));
    Value routing_v = Value::of_struct();
    routing_v.set("Plugins", std::move(plugins_v));
    Value spec_v = Value::of_struct();
    spec_v.set("Routing", std::move(routing_v));
    spec_v.set("Ratio", Value::of_float(0.25));
    spec_v.set("Paused", Value::of_bool(true));
    spec_v.set("Count", Value::of_uint(300));
    Value rollout_v = Value::of_struct();
    rollout_v.set("ObjectMeta", std::move(meta_v));
    rollout_v.set("Spec", std::move(spec_v));
    Value d = Value::of_struct();
    d.set("ServiceName", Value::of_string("web-preview"));
    d.set("Weight", Value::of_int(5));
    Value dests_v = Value::of_slice();
    dests_v.push(std::move(d));
    dests_v.push(Value::of_struct());  // an all-zero element is still sent
    Value a = Value::of_struct();
    a.set("Rollout", std::move(rollout_v));
    a.set("DesiredWeight", Value::of_int(30));
    a.set("AdditionalDestinations", std::move(dests_v));
    return Value::of_interface("SetWeightAndVerifyWeightArgs", std::move(a));
  }
};

TEST_CASE("an interface value whose definitions span several messages decodes as one value") {
  Graph g;
  Encoder enc;
  enc.register_name("SetWeightAndVerifyWeightArgs", g.args);
  std::string first;
  enc.encode(first, interface_spec(), g.value());
  const auto msgs = messages(first);
  // name + first definition, one message per further definition, then the value.
  CHECK(msgs.size() == 11);
  CHECK(to_hex(msgs[0].substr(0, 3)) == "10 00 1c");

  std::string second;  // all types known: a single message
  enc.encode(second, interface_spec(), g.value());
  CHECK(messages(second).size() == 1);

  Decoder dec;
  const std::string both = first + second;
  BufferSource src(both);
  for (int round = 0; round < 2; ++round) {
    Value v;
    REQUIRE(dec.decode(src, v));
    REQUIRE(v.type() == Value::Type::kInterface);
    CHECK(v.type_name() == "SetWeightAndVerifyWeightArgs");
    const Value& a = v.concrete();
    CHECK(a["DesiredWeight"].as_int() == 30);
    CHECK(a["Rollout"]["ObjectMeta"]["Name"].as_string() == "web");
    CHECK(a["Rollout"]["ObjectMeta"]["Labels"].map_get("app").as_string() == "web");
    CHECK(a["Rollout"]["ObjectMeta"]["CreationTimestamp"].type() == Value::Type::kOpaque);
    CHECK(a["Rollout"]["ObjectMeta"]["CreationTimestamp"].type_name() == "Time");
    CHECK(a["Rollout"]["ObjectMeta"]["CreationTimestamp"].as_string().size() == 15);
    CHECK(a["Rollout"]["Spec"]["Routing"]["Plugins"].map_get("lockstep/http").as_string() ==
          R"({"scaledObject":"web"})");
    CHECK(a["Rollout"]["Spec"]["Ratio"].as_float() == 0.25);
    CHECK(a["Rollout"]["Spec"]["Paused"].as_bool());
    CHECK(a["Rollout"]["Spec"]["Count"].as_uint() == 300);
    REQUIRE(a["AdditionalDestinations"].size() == 2);
    CHECK(a["AdditionalDestinations"].at(0)["ServiceName"].as_string() == "web-preview");
    CHECK(a["AdditionalDestinations"].at(0)["Weight"].as_int() == 5);
    CHECK(a["AdditionalDestinations"].at(1).names().empty());
  }
  CHECK(src.remaining() == 0);
}

TEST_CASE("a selector keeps only the chosen paths and still validates the rest") {
  Graph g;
  Encoder enc;
  enc.register_name("SetWeightAndVerifyWeightArgs", g.args);
  std::string stream;
  enc.encode(stream, interface_spec(), g.value());
  Selector sel;
  sel.add("Rollout.ObjectMeta.Name").add("DesiredWeight").add("Rollout.Spec.Routing");
  Decoder dec;
  BufferSource src(stream);
  Value v;
  REQUIRE(dec.decode(src, v, &sel));
  const Value& a = v.concrete();
  CHECK(a["DesiredWeight"].as_int() == 30);
  CHECK(a["Rollout"]["ObjectMeta"]["Name"].as_string() == "web");
  CHECK(a["Rollout"]["ObjectMeta"].find("Namespace") == nullptr);
  CHECK(a["Rollout"]["ObjectMeta"].find("Labels") == nullptr);
  CHECK(a["Rollout"]["Spec"].find("Ratio") == nullptr);
  CHECK(a["Rollout"]["Spec"]["Routing"]["Plugins"].size() == 1);
  CHECK(a.find("AdditionalDestinations") == nullptr);
}

TEST_CASE("forward type references resolve when the value is decoded") {
  // Outer (id 70) names field type 71, defined in the next message.
  WireType outer;
  outer.kind = Kind::kStruct;
  outer.name = "Outer";
  outer.fields = {{"In", 71}};
  WireType inner;
  inner.kind = Kind::kStruct;
  inner.name = "Inner";
  inner.fields = {{"N", kIntId}};
  std::string m1;
  append_int(m1, -70);
  append_wire_type(m1, outer, 70);
  std::string m2;
  append_int(m2, -71);
  append_wire_type(m2, inner, 71);
  std::string m3 = hex("ff 8c 01 01 06 00 00");  // id 70, field In { N: 3 }
  std::string stream;
  for (const std::string& m : {m1, m2, m3}) {
    append_uint(stream, m.size());
    stream += m;
  }
  Decoder dec;
  BufferSource src(stream);
  Value v;
  REQUIRE(dec.decode(src, v));
  CHECK(v["In"]["N"].as_int() == 3);
}

void expect_decode_error(const std::string& stream, const std::string& needle,
                         Limits limits = {}) {
  Decoder dec(limits);
  BufferSource src(stream);
  Value v;
  try {
    dec.decode(src, v);
    FAIL("expected a decode error containing: " << needle);
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK_MESSAGE(what.find(needle) != std::string::npos, what);
  }
}

std::string framed(std::initializer_list<std::string> ms) {
  std::string out;
  for (const std::string& m : ms) {
    append_uint(out, m.size());
    out += m;
  }
  return out;
}

TEST_CASE("malformed streams are rejected with errors that say why") {
  Encoder enc;
  std::string point_stream;
  enc.encode(point_stream, point_spec(), point(1, 2));
  const auto msgs = messages(point_stream);

  SUBCASE("duplicate definition") {
    expect_decode_error(framed({msgs[0], msgs[0], msgs[1]}), "duplicate type");
  }
  SUBCASE("definition for a reserved id") {
    expect_decode_error(framed({hex("0d") + msgs[0].substr(2)}), "reserved id");
  }
  SUBCASE("value of an unknown type") { expect_decode_error(framed({hex("ff 82 01 02 00")}), "unknown type id"); }
  SUBCASE("field number out of range") {
    expect_decode_error(framed({msgs[0], hex("ff 82 05 02 00")}), "out of range");
  }
  SUBCASE("truncated message") { expect_decode_error(point_stream.substr(0, point_stream.size() - 2), "truncated"); }
  SUBCASE("stream ends after definitions") { expect_decode_error(framed({msgs[0]}), "type sequence"); }
  SUBCASE("extra bytes after a top-level definition") {
    expect_decode_error(framed({msgs[0] + "x", msgs[1]}), "extra data");
  }
  SUBCASE("non-zero singleton delta") { expect_decode_error(framed({hex("0c 01 00")}), "singleton"); }
  SUBCASE("slice count beyond the message") {
    Encoder e;
    static const TypeSpec ints = TypeSpec::slice_of("[]int", int_spec());
    Value s = Value::of_slice();
    s.push(Value::of_int(1));
    std::string st;
    e.encode(st, ints, s);
    auto ms = messages(st);
    std::string bad = ms[1];
    bad[3] = 0x7f;  // claim 127 elements (after id ff 82 and the singleton delta)
    expect_decode_error(framed({ms[0], bad}), "exceeds the message");
  }
  SUBCASE("message over the size limit") {
    Limits small;
    small.max_message_bytes = 8;
    expect_decode_error(point_stream, "exceeds the limit", small);
  }
  SUBCASE("empty message") { expect_decode_error(framed({""}), "empty message"); }
  SUBCASE("interface name longer than 1024 bytes") {
    std::string m = hex("10 00");
    append_bytes(m, std::string(2000, 'x'));
    expect_decode_error(framed({m}), "longer than 1024");
  }
}

TEST_CASE("limits stop recursive types and huge values") {
  // type Node struct { Kids []Node }: legal in gob, unbounded in depth.
  WireType node;
  node.kind = Kind::kStruct;
  node.name = "Node";
  node.fields = {{"Kids", 65}};
  WireType kids;
  kids.kind = Kind::kSlice;
  kids.elem = 64;
  std::string d1;
  append_int(d1, -64);
  append_wire_type(d1, node, 64);
  std::string d2;
  append_int(d2, -65);
  append_wire_type(d2, kids, 65);
  std::string value = hex("ff 80");  // id 64
  for (int i = 0; i < 300; ++i) value += hex("01 01");  // Kids: [ { Kids: [ ...
  value += std::string(301, '\0');
  expect_decode_error(framed({d1, d2, value}), "nested too deeply");

  Limits few;
  few.max_nodes = 10;
  std::string wide = hex("ff 80 01 20");  // 32 kids, each empty
  wide += std::string(33, '\0');
  expect_decode_error(framed({d1, d2, wide}), "too many values", few);

  Limits types;
  types.max_types = 1;
  expect_decode_error(framed({d1, d2, value}), "type definitions", types);
}

TEST_CASE("type definitions that Go would never send are rejected") {
  SUBCASE("no kind") {
    std::string m;
    append_int(m, -64);
    m += hex("00");
    expect_decode_error(framed({m}), "sets no kind");
  }
  SUBCASE("two kinds") {
    WireType s;
    s.kind = Kind::kSlice;
    s.elem = kIntId;
    std::string body;
    append_wire_type(body, s, 64);
    body.pop_back();                  // drop the wireType terminator...
    body += hex("01 01 01 02 04 00 00");  // ...and add a StructT
    std::string m;
    append_int(m, -64);
    m += body;
    expect_decode_error(framed({m}), "several kinds");
  }
  SUBCASE("invalid element id") {
    std::string m;
    append_int(m, -64);
    m += hex("02 01 01 00 01 00 00 00");  // SliceT{CommonType{}, Elem: 0}
    expect_decode_error(framed({m}), "");
  }
}

}  // namespace
}  // namespace lockstep::plugin::gob
