#include "rollout/plugin/gob_types.h"

#include <array>
#include <utility>

namespace lockstep::plugin::gob {
namespace {

// Field numbers of gob's own description structs (type.go), as they are sent.
constexpr int kWireArray = 0, kWireSlice = 1, kWireStruct = 2, kWireMap = 3, kWireGobEncoder = 4,
              kWireBinaryMarshaler = 5, kWireTextMarshaler = 6;

// Longest name gob's own decoder accepts for interface types; also a sane bound for type names.
constexpr size_t kMaxNameBytes = 1024;
constexpr int64_t kMaxArrayLength = 1 << 24;

// Walks the (delta, value) pairs of one struct value whose fields number 0..max_field, calling
// `on_field(number)` to consume each value. Ends at the zero delta, or at the end of the message
// as Go's decodeStruct does.
template <typename OnField>
void read_struct(WireReader& r, int max_field, std::string_view what, OnField&& on_field) {
  int field = -1;
  while (!r.empty()) {
    const uint64_t delta = r.read_uint();
    if (delta == 0) return;
    if (delta > static_cast<uint64_t>(max_field - field)) {
      throw Error("gob: type definition: field delta " + std::to_string(delta) + " out of range in " +
                  std::string(what));
    }
    field += static_cast<int>(delta);
    on_field(field);
  }
}

std::string read_name(WireReader& r) {
  const std::string_view name = r.read_bytes();
  if (name.size() > kMaxNameBytes) throw Error("gob: type definition: name longer than 1024 bytes");
  return std::string(name);
}

void read_common(WireReader& r, WireType& out) {
  read_struct(r, 1, "CommonType", [&](int f) {
    if (f == 0) {
      out.name = read_name(r);
    } else {
      r.read_int();  // the sender's own id for the type; the definition's -id is authoritative
    }
  });
}

TypeId read_type_ref(WireReader& r) {
  const int64_t id = r.read_int();
  if (id <= 0) throw Error("gob: type definition: invalid type id " + std::to_string(id));
  return id;
}

}  // namespace

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kUint: return "uint";
    case Kind::kFloat: return "float";
    case Kind::kBytes: return "[]byte";
    case Kind::kString: return "string";
    case Kind::kComplex: return "complex";
    case Kind::kInterface: return "interface";
    case Kind::kArray: return "array";
    case Kind::kSlice: return "slice";
    case Kind::kStruct: return "struct";
    case Kind::kMap: return "map";
    case Kind::kGobEncoder: return "GobEncoder";
    case Kind::kBinaryMarshaler: return "BinaryMarshaler";
    case Kind::kTextMarshaler: return "TextMarshaler";
  }
  return "unknown";
}

WireType read_wire_type(WireReader& r) {
  WireType out;
  int kinds_set = 0;
  read_struct(r, kWireTextMarshaler, "wireType", [&](int f) {
    ++kinds_set;
    switch (f) {
      case kWireArray:
        out.kind = Kind::kArray;
        read_struct(r, 2, "arrayType", [&](int g) {
          if (g == 0) {
            read_common(r, out);
          } else if (g == 1) {
            out.elem = read_type_ref(r);
          } else {
            out.length = r.read_int();
            if (out.length < 0 || out.length > kMaxArrayLength) {
              throw Error("gob: type definition: invalid array length " + std::to_string(out.length));
            }
          }
        });
        if (out.elem == 0) throw Error("gob: type definition: array without element type");
        break;
      case kWireSlice:
        out.kind = Kind::kSlice;
        read_struct(r, 1, "sliceType", [&](int g) {
          if (g == 0) {
            read_common(r, out);
          } else {
            out.elem = read_type_ref(r);
          }
        });
        if (out.elem == 0) throw Error("gob: type definition: slice without element type");
        break;
      case kWireStruct:
        out.kind = Kind::kStruct;
        read_struct(r, 1, "structType", [&](int g) {
          if (g == 0) {
            read_common(r, out);
            return;
          }
          const uint64_t count = r.read_uint();
          if (count > r.remaining()) {
            throw Error("gob: type definition: field count " + std::to_string(count) +
                        " exceeds the message");
          }
          out.fields.reserve(static_cast<size_t>(count));
          for (uint64_t i = 0; i < count; ++i) {
            FieldType field;
            read_struct(r, 1, "fieldType", [&](int h) {
              if (h == 0) {
                field.name = read_name(r);
              } else {
                field.id = read_type_ref(r);
              }
            });
            if (field.id == 0) {
              throw Error("gob: type definition: field '" + field.name + "' without a type");
            }
            out.fields.push_back(std::move(field));
          }
        });
        break;
      case kWireMap:
        out.kind = Kind::kMap;
        read_struct(r, 2, "mapType", [&](int g) {
          if (g == 0) {
            read_common(r, out);
          } else if (g == 1) {
            out.key = read_type_ref(r);
          } else {
            out.elem = read_type_ref(r);
          }
        });
        if (out.key == 0 || out.elem == 0) {
          throw Error("gob: type definition: map without key or element type");
        }
        break;
      default:
        out.kind = f == kWireGobEncoder         ? Kind::kGobEncoder
                   : f == kWireBinaryMarshaler ? Kind::kBinaryMarshaler
                                               : Kind::kTextMarshaler;
        read_struct(r, 0, "gobEncoderType", [&](int) { read_common(r, out); });
        break;
    }
  });
  if (kinds_set != 1) {
    throw Error(kinds_set == 0 ? "gob: type definition sets no kind"
                               : "gob: type definition sets several kinds");
  }
  return out;
}

namespace {

void append_common(std::string& out, const WireType& t, TypeId self_id) {
  // CommonType{Name, Id}: a struct field, always sent; its own zero fields are omitted.
  int last = -1;
  if (!t.name.empty()) {
    append_uint(out, 0 - last);
    append_bytes(out, t.name);
    last = 0;
  }
  append_uint(out, static_cast<uint64_t>(1 - last));
  append_int(out, self_id);
  out.push_back(0);
}

}  // namespace

void append_wire_type(std::string& out, const WireType& t, TypeId self_id) {
  switch (t.kind) {
    case Kind::kArray:
      append_uint(out, kWireArray + 1);
      append_uint(out, 1);
      append_common(out, t, self_id);
      append_uint(out, 1);
      append_int(out, t.elem);
      if (t.length != 0) {
        append_uint(out, 1);
        append_int(out, t.length);
      }
      out.push_back(0);
      break;
    case Kind::kSlice:
      append_uint(out, kWireSlice + 1);
      append_uint(out, 1);
      append_common(out, t, self_id);
      append_uint(out, 1);
      append_int(out, t.elem);
      out.push_back(0);
      break;
    case Kind::kStruct:
      append_uint(out, kWireStruct + 1);
      append_uint(out, 1);
      append_common(out, t, self_id);
      if (!t.fields.empty()) {
        append_uint(out, 1);
        append_uint(out, t.fields.size());
        for (const FieldType& f : t.fields) {
          int last = -1;
          if (!f.name.empty()) {
            append_uint(out, 1);
            append_bytes(out, f.name);
            last = 0;
          }
          append_uint(out, static_cast<uint64_t>(1 - last));
          append_int(out, f.id);
          out.push_back(0);
        }
      }
      out.push_back(0);
      break;
    case Kind::kMap:
      append_uint(out, kWireMap + 1);
      append_uint(out, 1);
      append_common(out, t, self_id);
      append_uint(out, 1);
      append_int(out, t.key);
      append_uint(out, 1);
      append_int(out, t.elem);
      out.push_back(0);
      break;
    case Kind::kGobEncoder:
    case Kind::kBinaryMarshaler:
    case Kind::kTextMarshaler: {
      const int field = t.kind == Kind::kGobEncoder        ? kWireGobEncoder
                        : t.kind == Kind::kBinaryMarshaler ? kWireBinaryMarshaler
                                                           : kWireTextMarshaler;
      append_uint(out, static_cast<uint64_t>(field + 1));
      append_uint(out, 1);
      append_common(out, t, self_id);
      out.push_back(0);
      break;
    }
    default:
      throw Error("gob: built-in kind " + std::string(kind_name(t.kind)) + " has no definition");
  }
  out.push_back(0);  // end of wireType
}

const WireType* TypeTable::find(TypeId id) const {
  static const std::array<WireType, 9> kBuiltins = [] {
    std::array<WireType, 9> b{};
    const Kind kinds[] = {Kind::kBool,   Kind::kInt,     Kind::kUint,     Kind::kFloat,
                          Kind::kBytes,  Kind::kString,  Kind::kComplex,  Kind::kInterface};
    for (size_t i = 0; i < 8; ++i) {
      b[i + 1].kind = kinds[i];
      b[i + 1].name = std::string(kind_name(kinds[i]));
    }
    return b;
  }();
  if (id >= kBoolId && id <= kInterfaceId) return &kBuiltins[static_cast<size_t>(id)];
  const auto it = user_.find(id);
  return it == user_.end() ? nullptr : &it->second;
}

void TypeTable::define(TypeId id, WireType type) {
  if (id < kFirstUserId) {
    throw Error("gob: type definition for reserved id " + std::to_string(id));
  }
  if (user_.size() >= max_user_types_) {
    throw Error("gob: more than " + std::to_string(max_user_types_) + " type definitions on one stream");
  }
  if (!user_.emplace(id, std::move(type)).second) {
    throw Error("gob: duplicate type received (id " + std::to_string(id) + ")");
  }
}

}  // namespace lockstep::plugin::gob
