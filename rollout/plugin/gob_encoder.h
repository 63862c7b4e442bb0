#pragma once

// A gob encoder for values described by TypeSpecs. It writes exactly what Go's encoding/gob
// writes (definitions once per stream, parent before children, zero fields omitted, interface
// values whose definitions split the enclosing message), so it serves both for the plugin's
// replies and for tests that must produce the controller's byte streams.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rollout/plugin/gob_types.h"
#include "rollout/plugin/gob_value.h"

namespace lockstep::plugin::gob {

// A type to encode. Specs are long-lived (usually static) and compared by address.
struct TypeSpec {
  Kind kind = Kind::kStruct;
  std::string name;
  std::vector<std::pair<std::string, const TypeSpec*>> fields;  // struct, in declaration order
  const TypeSpec* elem = nullptr;                                // array, slice, map
  const TypeSpec* key = nullptr;                                 // map
  int64_t length = 0;                                            // array

  static TypeSpec builtin(Kind kind);
  static TypeSpec structure(std::string name,
                            std::vector<std::pair<std::string, const TypeSpec*>> fields);
  static TypeSpec slice_of(std::string name, const TypeSpec& elem);
  static TypeSpec map_of(std::string name, const TypeSpec& key, const TypeSpec& elem);
  static TypeSpec opaque(std::string name);  // a GobEncoder such as time.Time
};

// The built-in types.
const TypeSpec& bool_spec();
const TypeSpec& int_spec();
const TypeSpec& uint_spec();
const TypeSpec& float_spec();
const TypeSpec& bytes_spec();
const TypeSpec& string_spec();
const TypeSpec& interface_spec();

// Encodes the values one side of a stream sends; remembers which types that stream has already
// defined, so there is one Encoder per stream for the stream's whole life. Not thread-safe.
class Encoder {
 public:
  explicit Encoder(TypeId first_id = kFirstUserId + 1) : next_id_(first_id) {}

  // Concrete types that interface values may hold, by registered name (gob.RegisterName).
  void register_name(std::string name, const TypeSpec& type) { names_[std::move(name)] = &type; }

  // Appends one top-level value, preceded by any definitions this stream has not seen, to `out`
  // as length-prefixed messages. Throws Error when `value` does not fit `type`.
  void encode(std::string& out, const TypeSpec& type, const Value& value);

 private:
  TypeId id_of(const TypeSpec& type);
  void assign_ids(const TypeSpec& type);
  bool send_type(std::string* writer, std::string& buf, const TypeSpec& type);
  void encode_top(std::string& buf, const TypeSpec& type, const Value& value);
  void encode_struct(std::string& buf, const TypeSpec& type, const Value& value);
  void encode_item(std::string& buf, const TypeSpec& type, const Value& value);
  void encode_interface(std::string& buf, const Value& value);
  static bool is_zero(const TypeSpec& type, const Value& value);
  static void write_message(std::string* writer, std::string& buf);

  TypeId next_id_;
  std::map<const TypeSpec*, TypeId> ids_;
  std::set<const TypeSpec*> sent_;
  std::map<std::string, const TypeSpec*, std::less<>> names_;
  std::vector<std::string*> writers_;
};

}  // namespace lockstep::plugin::gob
