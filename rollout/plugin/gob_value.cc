#include "rollout/plugin/gob_value.h"

namespace lockstep::plugin::gob {

std::string_view value_type_name(Value::Type type) {
  switch (type) {
    case Value::Type::kNull: return "nil";
    case Value::Type::kBool: return "bool";
    case Value::Type::kInt: return "int";
    case Value::Type::kUint: return "uint";
    case Value::Type::kFloat: return "float";
    case Value::Type::kComplex: return "complex";
    case Value::Type::kBytes: return "[]byte";
    case Value::Type::kString: return "string";
    case Value::Type::kStruct: return "struct";
    case Value::Type::kSlice: return "slice";
    case Value::Type::kMap: return "map";
    case Value::Type::kOpaque: return "GobEncoder";
    case Value::Type::kInterface: return "interface";
  }
  return "unknown";
}

Value Value::of_bool(bool b) {
  Value v(Type::kBool);
  v.scalar_.u = b ? 1 : 0;
  return v;
}

Value Value::of_int(int64_t i) {
  Value v(Type::kInt);
  v.scalar_.i = i;
  return v;
}

Value Value::of_uint(uint64_t u) {
  Value v(Type::kUint);
  v.scalar_.u = u;
  return v;
}

Value Value::of_float(double f) {
  Value v(Type::kFloat);
  v.scalar_.f = f;
  return v;
}

Value Value::of_complex(double real, double imag) {
  Value v(Type::kComplex);
  v.scalar_.f = real;
  v.imag_ = imag;
  return v;
}

Value Value::of_string(std::string s) {
  Value v(Type::kString);
  v.str_ = std::move(s);
  return v;
}

Value Value::of_bytes(std::string b) {
  Value v(Type::kBytes);
  v.str_ = std::move(b);
  return v;
}

Value Value::of_opaque(std::string type_name, std::string payload) {
  Value v(Type::kOpaque);
  v.name_ = std::move(type_name);
  v.str_ = std::move(payload);
  return v;
}

Value Value::of_interface(std::string type_name, Value concrete) {
  Value v(Type::kInterface);
  v.name_ = std::move(type_name);
  v.items_.push_back(std::move(concrete));
  return v;
}

int64_t Value::as_int() const {
  if (type_ == Type::kInt) return scalar_.i;
  if (type_ == Type::kUint && scalar_.u <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(scalar_.u);
  }
  return 0;
}

uint64_t Value::as_uint() const {
  if (type_ == Type::kUint) return scalar_.u;
  if (type_ == Type::kInt && scalar_.i >= 0) return static_cast<uint64_t>(scalar_.i);
  return 0;
}

std::string_view Value::as_string() const {
  if (type_ == Type::kString || type_ == Type::kBytes || type_ == Type::kOpaque) return str_;
  return {};
}

const Value& Value::null() {
  static const Value kNull;
  return kNull;
}

const Value* Value::find(std::string_view field) const {
  if (type_ != Type::kStruct) return nullptr;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == field) return &items_[i];
  }
  return nullptr;
}

const Value& Value::operator[](std::string_view field) const {
  const Value* v = find(field);
  return v ? *v : null();
}

Value& Value::set(std::string name, Value v) {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) {
      items_[i] = std::move(v);
      return items_[i];
    }
  }
  names_.push_back(std::move(name));
  items_.push_back(std::move(v));
  return items_.back();
}

const Value& Value::at(size_t i) const { return i < items_.size() ? items_[i] : null(); }

const Value& Value::map_get(std::string_view key) const {
  if (type_ != Type::kMap) return null();
  for (size_t i = 0; i + 1 < items_.size(); i += 2) {
    if (items_[i].as_string() == key &&
        (items_[i].type_ == Type::kString || items_[i].type_ == Type::kBytes)) {
      return items_[i + 1];
    }
  }
  return null();
}

void Value::map_put(Value key, Value value) {
  items_.push_back(std::move(key));
  items_.push_back(std::move(value));
}

const Value& Value::concrete() const {
  return type_ == Type::kInterface && !items_.empty() ? items_[0] : null();
}

}  // namespace lockstep::plugin::gob
