#pragma once

// A decoded gob value as a small dynamic tree. Absent struct fields read as zero values, which is
// exactly gob's semantics (zero values are never sent).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lockstep::plugin::gob {

class Value {
 public:
  enum class Type : uint8_t {
    kNull,       // absent, nil interface, or a skipped subtree
    kBool,
    kInt,
    kUint,
    kFloat,
    kComplex,
    kBytes,
    kString,
    kStruct,
    kSlice,      // also arrays
    kMap,
    kOpaque,     // GobEncoder / BinaryMarshaler / TextMarshaler payload; type_name() says which
    kInterface,  // a non-nil interface: type_name() is the registered name, items()[0] the value
  };

  Value() = default;
  static Value of_bool(bool b);
  static Value of_int(int64_t i);
  static Value of_uint(uint64_t u);
  static Value of_float(double f);
  static Value of_string(std::string s);
  static Value of_bytes(std::string b);
  static Value of_struct();
  static Value of_slice();
  static Value of_map();
  static Value of_opaque(std::string type_name, std::string payload);
  static Value of_complex(double real, double imag);
  static Value of_interface(std::string type_name, Value concrete);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }

  // Scalars: a null value or a value of another type reads as zero.
  bool as_bool() const { return type_ == Type::kBool && scalar_.u != 0; }
  int64_t as_int() const;    // int, or a uint that fits
  uint64_t as_uint() const;  // uint, or a non-negative int
  double as_float() const {
    return type_ == Type::kFloat || type_ == Type::kComplex ? scalar_.f : 0.0;
  }
  // String, bytes or opaque payload; empty for anything else.
  std::string_view as_string() const;
  std::string_view type_name() const { return name_; }
  double imag() const { return imag_; }

  // Struct members in wire order (only the fields that were sent or set): names() and, at the
  // same index, items().
  const std::vector<std::string>& names() const { return names_; }
  // A struct member by name; a shared null value when absent.
  const Value& operator[](std::string_view field) const;
  const Value* find(std::string_view field) const;
  Value& set(std::string name, Value v);  // appends or replaces a struct member

  // Slice/array elements; for maps the keys and values alternate; for interfaces one element;
  // for structs the member values.
  const std::vector<Value>& items() const { return items_; }
  std::vector<Value>& items() { return items_; }
  size_t size() const { return type_ == Type::kMap ? items_.size() / 2 : items_.size(); }
  const Value& at(size_t i) const;  // null when out of range
  // Map lookup by string key; the shared null value when absent.
  const Value& map_get(std::string_view key) const;
  void map_put(Value key, Value value);
  void push(Value v) { items_.push_back(std::move(v)); }

  // The concrete value of an interface (null for anything else).
  const Value& concrete() const;

  static const Value& null();

 private:
  explicit Value(Type t);

  Type type_ = Type::kNull;
  union {
    uint64_t u;
    int64_t i;
    double f;
  } scalar_{0};
  double imag_ = 0;
  std::string str_;
  std::string name_;
  std::vector<std::string> names_;  // struct member names; their values are in items_
  std::vector<Value> items_;
};

// "int", "string", "struct"...: for error messages.
std::string_view value_type_name(Value::Type type);

inline Value::Value(Type t) : type_(t) {}
inline Value Value::of_struct() { return Value(Type::kStruct); }
inline Value Value::of_slice() { return Value(Type::kSlice); }
inline Value Value::of_map() { return Value(Type::kMap); }

}  // namespace lockstep::plugin::gob
