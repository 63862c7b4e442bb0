#pragma once

// A generic gob decoder: type definitions are learnt as they arrive (per stream), values are
// decoded into a gob::Value tree without knowing their Go types in advance. Struct fields can be
// selected by path so that large unneeded subtrees (a Rollout's pod template, managedFields) are
// parsed and validated but never stored.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "rollout/plugin/gob_types.h"
#include "rollout/plugin/gob_value.h"
#include "rollout/plugin/gob_wire.h"

namespace lockstep::plugin::gob {

struct Limits {
  size_t max_message_bytes = 64u << 20;  // one length-prefixed message (Go's own cap is 1 GiB)
  int max_depth = 100;                   // nesting of values (a Rollout needs about 20)
  size_t max_nodes = 4u << 20;           // values decoded (stored or skipped) per top-level value
  size_t max_types = 10000;              // type definitions per stream (a Rollout needs ~250)
};

// Supplies whole gob messages: the bytes after each message's length prefix.
class MessageSource {
 public:
  virtual ~MessageSource() = default;
  // Replaces `out` with the next message. Returns false at a clean end of input (before a length
  // prefix); throws Error on a truncated message or one longer than `max_bytes`.
  virtual bool next(std::string& out, size_t max_bytes) = 0;
};

// Messages from a byte string holding a sequence of length-prefixed messages.
class BufferSource final : public MessageSource {
 public:
  explicit BufferSource(std::string_view data) : data_(data) {}
  bool next(std::string& out, size_t max_bytes) override;
  size_t remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Which struct fields to keep. A path is a dot-separated list of struct field names; slices,
// arrays, maps and interfaces are transparent (a path continues into their elements). A field on
// no selected path is parsed and skipped. The end of a path keeps its whole subtree.
class Selector {
 public:
  Selector& add(std::string_view dotted_path);
  // The node for `field` below this one: nullptr when the field is not selected.
  const Selector* child(std::string_view field) const;
  bool keeps_all() const { return keep_all_; }

 private:
  bool keep_all_ = false;
  std::map<std::string, std::unique_ptr<Selector>, std::less<>> children_;
};

// Decodes the values one side of a stream sends. Holds that stream's type table, so there is one
// Decoder per stream direction for the stream's whole life. Not thread-safe.
class Decoder {
 public:
  explicit Decoder(Limits limits = {}) : limits_(limits), types_(limits.max_types) {}

  // Reads the next top-level value, with the type definitions that precede it, from `source`.
  // Returns false when the source ends cleanly before a value starts. Throws Error on malformed
  // input; the type definitions received before the error stay known.
  bool decode(MessageSource& source, Value& out, const Selector* select = nullptr);

  const TypeTable& types() const { return types_; }

 private:
  TypeId read_type_sequence(bool in_interface);
  // A value as sent at top level or inside an interface: a struct, or a singleton (delta 0).
  void decode_top(TypeId id, Value* out, const Selector* select, int depth);
  void decode_value(TypeId id, Value* out, const Selector* select, int depth);
  void decode_struct(const WireType& type, Value* out, const Selector* select, int depth);
  void decode_interface(Value* out, const Selector* select, int depth);
  const WireType& lookup(TypeId id) const;

  Limits limits_;
  TypeTable types_;
  MessageSource* source_ = nullptr;
  std::string message_;
  WireReader reader_;
  size_t nodes_ = 0;
};

}  // namespace lockstep::plugin::gob
