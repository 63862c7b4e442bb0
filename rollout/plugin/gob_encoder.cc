#include "rollout/plugin/gob_encoder.h"

#include "rollout/plugin/gob_wire.h"

namespace lockstep::plugin::gob {
namespace {

bool is_builtin(Kind kind) {
  switch (kind) {
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kFloat:
    case Kind::kBytes:
    case Kind::kString:
    case Kind::kComplex:
    case Kind::kInterface:
      return true;
    default:
      return false;
  }
}

TypeId builtin_id(Kind kind) {
  switch (kind) {
    case Kind::kBool: return kBoolId;
    case Kind::kInt: return kIntId;
    case Kind::kUint: return kUintId;
    case Kind::kFloat: return kFloatId;
    case Kind::kBytes: return kBytesId;
    case Kind::kString: return kStringId;
    case Kind::kComplex: return kComplexId;
    default: return kInterfaceId;
  }
}

[[noreturn]] void mismatch(const TypeSpec& type, const Value& value) {
  throw Error("gob: encoder: value of kind " + std::string(value_type_name(value.type())) +
              " does not fit type " + (type.name.empty() ? std::string(kind_name(type.kind))
                                                         : type.name));
}

}  // namespace

TypeSpec TypeSpec::builtin(Kind kind) {
  TypeSpec t;
  t.kind = kind;
  return t;
}

TypeSpec TypeSpec::structure(std::string name,
                             std::vector<std::pair<std::string, const TypeSpec*>> fields) {
  TypeSpec t;
  t.kind = Kind::kStruct;
  t.name = std::move(name);
  t.fields = std::move(fields);
  return t;
}

TypeSpec TypeSpec::slice_of(std::string name, const TypeSpec& elem) {
  TypeSpec t;
  t.kind = Kind::kSlice;
  t.name = std::move(name);
  t.elem = &elem;
  return t;
}

TypeSpec TypeSpec::map_of(std::string name, const TypeSpec& key, const TypeSpec& elem) {
  TypeSpec t;
  t.kind = Kind::kMap;
  t.name = std::move(name);
  t.key = &key;
  t.elem = &elem;
  return t;
}

TypeSpec TypeSpec::opaque(std::string name) {
  TypeSpec t;
  t.kind = Kind::kGobEncoder;
  t.name = std::move(name);
  return t;
}

const TypeSpec& bool_spec() {
  static const TypeSpec t = TypeSpec::builtin(Kind::kBool);
  return t;
}
const TypeSpec& int_spec() {
  static const TypeSpec t = TypeSpec::builtin(Kind::kInt);
  return t;
}
const TypeSpec& uint_spec() {
  static const TypeSpec t = TypeSpec::builtin(Kind::kUint);
  return t;
}
const TypeSpec& float_spec() {
  static const TypeSpec t = TypeSpec::builtin(Kind::kFloat);
  return t;
}
const TypeSpec& bytes_spec() {
  static const TypeSpec t = TypeSpec::builtin(Kind::kBytes);
  return t;
}
const TypeSpec& string_spec() {
  static const TypeSpec t = TypeSpec::builtin(Kind::kString);
  return t;
}
const TypeSpec& interface_spec() {
  static const TypeSpec t = TypeSpec::builtin(Kind::kInterface);
  return t;
}

void Encoder::write_message(std::string* writer, std::string& buf) {
  append_uint(*writer, buf.size());
  writer->append(buf);
  buf.clear();
}

void Encoder::assign_ids(const TypeSpec& type) {
  if (is_builtin(type.kind) || ids_.count(&type) != 0) return;
  // Ids for the whole graph exist before any definition is written, so a parent can refer to
  // children defined after it (as Go does).
  ids_[&type] = next_id_++;
  for (const auto& field : type.fields) assign_ids(*field.second);
  if (type.key) assign_ids(*type.key);
  if (type.elem) assign_ids(*type.elem);
}

TypeId Encoder::id_of(const TypeSpec& type) {
  if (is_builtin(type.kind)) return builtin_id(type.kind);
  assign_ids(type);
  return ids_.at(&type);
}

bool Encoder::send_type(std::string* writer, std::string& buf, const TypeSpec& type) {
  if (is_builtin(type.kind) || sent_.count(&type) != 0) return false;
  WireType wire;
  wire.kind = type.kind;
  wire.name = type.name;
  wire.length = type.length;
  if (type.elem) wire.elem = id_of(*type.elem);
  if (type.key) wire.key = id_of(*type.key);
  for (const auto& [name, spec] : type.fields) wire.fields.push_back({name, id_of(*spec)});
  const TypeId id = id_of(type);
  // The definition joins whatever `buf` already holds (an interface's name) in one message.
  append_int(buf, -id);
  append_wire_type(buf, wire, id);
  write_message(writer, buf);
  sent_.insert(&type);
  for (const auto& field : type.fields) send_type(writer, buf, *field.second);
  if (type.key) send_type(writer, buf, *type.key);
  if (type.elem) send_type(writer, buf, *type.elem);
  return true;
}

void Encoder::encode(std::string& out, const TypeSpec& type, const Value& value) {
  writers_.assign(1, &out);
  std::string buf;
  send_type(&out, buf, type);
  append_int(buf, id_of(type));
  encode_top(buf, type, value);
  write_message(&out, buf);
  writers_.clear();
}

void Encoder::encode_top(std::string& buf, const TypeSpec& type, const Value& value) {
  if (type.kind == Kind::kStruct) {
    encode_struct(buf, type, value);
    return;
  }
  append_uint(buf, 0);  // singleton: field delta 0, and the value is sent even when zero
  encode_item(buf, type, value);
}

bool Encoder::is_zero(const TypeSpec& type, const Value& v) {
  if (v.is_null()) return true;
  switch (type.kind) {
    case Kind::kBool: return !v.as_bool();
    case Kind::kInt: return v.as_int() == 0;
    case Kind::kUint: return v.as_uint() == 0;
    case Kind::kFloat: return v.as_float() == 0.0;
    case Kind::kComplex: return v.as_float() == 0.0 && v.imag() == 0.0;
    case Kind::kBytes:
    case Kind::kString:
    case Kind::kGobEncoder:
    case Kind::kBinaryMarshaler:
    case Kind::kTextMarshaler:
      return v.as_string().empty();
    case Kind::kSlice:
      return v.items().empty();
    case Kind::kArray:
    case Kind::kMap:      // an empty but non-nil map is sent
    case Kind::kStruct:   // nested structs are always sent
    case Kind::kInterface:
      return false;
  }
  return false;
}

void Encoder::encode_struct(std::string& buf, const TypeSpec& type, const Value& value) {
  if (!value.is_null() && value.type() != Value::Type::kStruct) mismatch(type, value);
  int last = -1;
  for (size_t i = 0; i < type.fields.size(); ++i) {
    const auto& [name, spec] = type.fields[i];
    const Value& field = value[name];
    if (is_zero(*spec, field)) continue;
    append_uint(buf, static_cast<uint64_t>(static_cast<int>(i) - last));
    last = static_cast<int>(i);
    encode_item(buf, *spec, field);
  }
  buf.push_back(0);
}

void Encoder::encode_item(std::string& buf, const TypeSpec& type, const Value& v) {
  const auto expect = [&](Value::Type t) {
    if (!v.is_null() && v.type() != t) mismatch(type, v);
  };
  switch (type.kind) {
    case Kind::kBool:
      expect(Value::Type::kBool);
      append_uint(buf, v.as_bool() ? 1 : 0);
      return;
    case Kind::kInt:
      expect(Value::Type::kInt);
      append_int(buf, v.as_int());
      return;
    case Kind::kUint:
      expect(Value::Type::kUint);
      append_uint(buf, v.as_uint());
      return;
    case Kind::kFloat:
      expect(Value::Type::kFloat);
      append_float(buf, v.as_float());
      return;
    case Kind::kComplex:
      expect(Value::Type::kComplex);
      append_float(buf, v.as_float());
      append_float(buf, v.imag());
      return;
    case Kind::kBytes:
      expect(Value::Type::kBytes);
      append_bytes(buf, v.as_string());
      return;
    case Kind::kString:
      expect(Value::Type::kString);
      append_bytes(buf, v.as_string());
      return;
    case Kind::kGobEncoder:
    case Kind::kBinaryMarshaler:
    case Kind::kTextMarshaler:
      expect(Value::Type::kOpaque);
      append_bytes(buf, v.as_string());
      return;
    case Kind::kInterface:
      encode_interface(buf, v);
      return;
    case Kind::kStruct:
      encode_struct(buf, type, v);
      return;
    case Kind::kArray:
    case Kind::kSlice:
      expect(Value::Type::kSlice);
      if (type.kind == Kind::kArray && static_cast<int64_t>(v.items().size()) != type.length) {
        mismatch(type, v);
      }
      append_uint(buf, v.items().size());
      for (const Value& item : v.items()) encode_item(buf, *type.elem, item);
      return;
    case Kind::kMap:
      expect(Value::Type::kMap);
      append_uint(buf, v.size());
      for (size_t i = 0; i + 1 < v.items().size(); i += 2) {
        encode_item(buf, *type.key, v.items()[i]);
        encode_item(buf, *type.elem, v.items()[i + 1]);
      }
      return;
  }
}

void Encoder::encode_interface(std::string& buf, const Value& v) {
  if (v.is_null()) {
    append_uint(buf, 0);  // nil interface: an empty name
    return;
  }
  if (v.type() != Value::Type::kInterface) mismatch(interface_spec(), v);
  const auto it = names_.find(v.type_name());
  if (it == names_.end()) {
    throw Error("gob: encoder: type not registered for interface: " + std::string(v.type_name()));
  }
  const TypeSpec& concrete = *it->second;
  append_bytes(buf, v.type_name());
  // New definitions flush `buf` (name included) to the enclosing writer as a message of its own,
  // which is how Go splits one interface value over several messages.
  send_type(writers_.back(), buf, concrete);
  append_int(buf, id_of(concrete));
  writers_.push_back(&buf);
  std::string data;
  encode_top(data, concrete, v.concrete());
  writers_.pop_back();
  write_message(&buf, data);
}

}  // namespace lockstep::plugin::gob
