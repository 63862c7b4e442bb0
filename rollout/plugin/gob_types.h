#pragma once

// Gob type descriptions as they travel on the wire (golang/go src/encoding/gob/type.go): the
// built-in ids, and the per-stream table of the definitions a peer has sent.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rollout/plugin/gob_wire.h"

namespace lockstep::plugin::gob {

using TypeId = int64_t;

enum class Kind : uint8_t {
  kBool,
  kInt,
  kUint,
  kFloat,
  kBytes,
  kString,
  kComplex,
  kInterface,
  kArray,
  kSlice,
  kStruct,
  kMap,
  kGobEncoder,        // GobEncoder: opaque bytes (time.Time, metav1.Time)
  kBinaryMarshaler,   // encoding.BinaryMarshaler: opaque bytes
  kTextMarshaler,     // encoding.TextMarshaler: opaque text
};

std::string_view kind_name(Kind kind);

inline constexpr TypeId kBoolId = 1;
inline constexpr TypeId kIntId = 2;
inline constexpr TypeId kUintId = 3;
inline constexpr TypeId kFloatId = 4;
inline constexpr TypeId kBytesId = 5;
inline constexpr TypeId kStringId = 6;
inline constexpr TypeId kComplexId = 7;
inline constexpr TypeId kInterfaceId = 8;
// Ids below this are reserved for gob itself; a peer's definitions must use ids at or above it.
inline constexpr TypeId kFirstUserId = 64;

struct FieldType {
  std::string name;
  TypeId id = 0;
};

// One type definition (a decoded `wireType`). Only the members that matter for `kind` are set.
struct WireType {
  Kind kind = Kind::kStruct;
  std::string name;  // informational only: gob matches struct fields by name, never types
  TypeId elem = 0;   // array, slice, map
  TypeId key = 0;    // map
  int64_t length = 0;  // array
  std::vector<FieldType> fields;  // struct, in wire order (field numbers index this)
};

// Decodes the body of a type definition (the `wireType` struct that follows `-id`).
WireType read_wire_type(WireReader& reader);
// Encodes a type definition body, the inverse of read_wire_type (`self_id` goes into CommonType).
void append_wire_type(std::string& out, const WireType& type, TypeId self_id);

// The definitions one side of a stream has received. Built-in ids resolve without definitions.
// Not thread-safe: a stream's decoder is used by one reader at a time.
class TypeTable {
 public:
  explicit TypeTable(size_t max_user_types) : max_user_types_(max_user_types) {}

  // nullptr when `id` is neither built in nor defined.
  const WireType* find(TypeId id) const;
  // Throws Error for ids below kFirstUserId, ids already defined, or too many definitions.
  void define(TypeId id, WireType type);
  size_t user_type_count() const { return user_.size(); }

 private:
  size_t max_user_types_;
  std::unordered_map<TypeId, WireType> user_;
};

}  // namespace lockstep::plugin::gob
