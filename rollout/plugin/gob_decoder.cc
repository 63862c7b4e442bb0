#include "rollout/plugin/gob_decoder.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace lockstep::plugin::gob {

bool BufferSource::next(std::string& out, size_t max_bytes) {
  if (pos_ == data_.size()) return false;
  uint64_t length = 0;
  const size_t used = parse_uint_prefix(data_.substr(pos_), length);
  if (used == 0) throw Error("gob: truncated message length");
  if (length > max_bytes) {
    throw Error("gob: message of " + std::to_string(length) + " bytes exceeds the limit of " +
                std::to_string(max_bytes));
  }
  if (length > data_.size() - pos_ - used) throw Error("gob: truncated message");
  out.assign(data_.substr(pos_ + used, static_cast<size_t>(length)));
  pos_ += used + static_cast<size_t>(length);
  return true;
}

Selector& Selector::add(std::string_view path) {
  Selector* node = this;
  while (!path.empty()) {
    const size_t dot = path.find('.');
    const std::string_view name = path.substr(0, dot);
    auto it = node->children_.find(name);
    if (it == node->children_.end()) {
      it = node->children_.emplace(std::string(name), std::make_unique<Selector>()).first;
    }
    node = it->second.get();
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  node->keep_all_ = true;
  return *this;
}

const Selector* Selector::child(std::string_view field) const {
  if (keep_all_) return this;
  const auto it = children_.find(field);
  return it == children_.end() ? nullptr : it->second.get();
}

const WireType& Decoder::lookup(TypeId id) const {
  const WireType* t = types_.find(id);
  if (t == nullptr) throw Error("gob: unknown type id " + std::to_string(id));
  return *t;
}

bool Decoder::decode(MessageSource& source, Value& out, const Selector* select) {
  source_ = &source;
  message_.clear();
  reader_ = WireReader();
  nodes_ = 0;
  const TypeId id = read_type_sequence(false);
  if (id < 0) return false;
  out = Value();
  decode_top(id, &out, select, 0);
  // Like Go's decoder, bytes left after a complete value are dropped with the message.
  return true;
}

TypeId Decoder::read_type_sequence(bool in_interface) {
  bool first = true;
  for (;;) {
    if (reader_.empty()) {
      if (!source_->next(message_, limits_.max_message_bytes)) {
        if (first && !in_interface) return -1;
        throw Error("gob: stream ended inside a type sequence");
      }
      if (message_.empty()) throw Error("gob: empty message");
      reader_ = WireReader(message_);
    }
    const int64_t id = reader_.read_int();
    if (id >= 0) return id;
    if (id == std::numeric_limits<int64_t>::min()) throw Error("gob: invalid type id");
    types_.define(-id, read_wire_type(reader_));
    if (!reader_.empty()) {
      if (!in_interface) throw Error("gob: extra data after a type definition");
      // Inside an interface a delimited item follows in the same buffer: skip its count.
      reader_.read_uint();
    }
    first = false;
  }
}

void Decoder::decode_top(TypeId id, Value* out, const Selector* select, int depth) {
  const WireType& t = lookup(id);
  if (t.kind == Kind::kStruct) {
    if (++depth > limits_.max_depth) throw Error("gob: values nested too deeply");
    if (++nodes_ > limits_.max_nodes) throw Error("gob: too many values in one message");
    decode_struct(t, out, select, depth);
    return;
  }
  if (reader_.read_uint() != 0) throw Error("gob: corrupted data: non-zero delta for singleton");
  decode_value(id, out, select, depth);
}

void Decoder::decode_value(TypeId id, Value* out, const Selector* select, int depth) {
  if (++depth > limits_.max_depth) throw Error("gob: values nested too deeply");
  if (++nodes_ > limits_.max_nodes) throw Error("gob: too many values in one message");
  const WireType& t = lookup(id);
  switch (t.kind) {
    case Kind::kBool: {
      const bool b = reader_.read_bool();
      if (out) *out = Value::of_bool(b);
      return;
    }
    case Kind::kInt: {
      const int64_t i = reader_.read_int();
      if (out) *out = Value::of_int(i);
      return;
    }
    case Kind::kUint: {
      const uint64_t u = reader_.read_uint();
      if (out) *out = Value::of_uint(u);
      return;
    }
    case Kind::kFloat: {
      const double f = reader_.read_float();
      if (out) *out = Value::of_float(f);
      return;
    }
    case Kind::kComplex: {
      const double re = reader_.read_float();
      const double im = reader_.read_float();
      if (out) *out = Value::of_complex(re, im);
      return;
    }
    case Kind::kBytes: {
      const std::string_view b = reader_.read_bytes();
      if (out) *out = Value::of_bytes(std::string(b));
      return;
    }
    case Kind::kString: {
      const std::string_view s = reader_.read_bytes();
      if (out) *out = Value::of_string(std::string(s));
      return;
    }
    case Kind::kGobEncoder:
    case Kind::kBinaryMarshaler:
    case Kind::kTextMarshaler: {
      const std::string_view b = reader_.read_bytes();
      if (out) *out = Value::of_opaque(t.name, std::string(b));
      return;
    }
    case Kind::kInterface:
      decode_interface(out, select, depth);
      return;
    case Kind::kStruct:
      decode_struct(t, out, select, depth);
      return;
    case Kind::kArray:
    case Kind::kSlice: {
      const uint64_t count = reader_.read_uint();
      if (t.kind == Kind::kArray && count != static_cast<uint64_t>(t.length)) {
        throw Error("gob: array length " + std::to_string(count) + " does not match its type (" +
                    std::to_string(t.length) + ")");
      }
      if (out) {
        *out = Value::of_slice();
        // Every element takes at least one byte, so the message bounds the allocation.
        out->items().reserve(static_cast<size_t>(std::min<uint64_t>(count, reader_.remaining())));
      }
      for (uint64_t i = 0; i < count; ++i) {
        if (reader_.empty()) {
          throw Error("gob: slice of " + std::to_string(count) + " elements exceeds the message");
        }
        if (out) {
          out->items().emplace_back();
          decode_value(t.elem, &out->items().back(), select, depth);
        } else {
          decode_value(t.elem, nullptr, nullptr, depth);
        }
      }
      return;
    }
    case Kind::kMap: {
      const uint64_t count = reader_.read_uint();
      if (out) {
        *out = Value::of_map();
        out->items().reserve(
            static_cast<size_t>(std::min<uint64_t>(count, reader_.remaining() / 2) * 2));
      }
      for (uint64_t i = 0; i < count; ++i) {
        if (reader_.empty()) {
          throw Error("gob: map of " + std::to_string(count) + " entries exceeds the message");
        }
        if (out) {
          Value key;
          Value value;
          decode_value(t.key, &key, nullptr, depth);
          decode_value(t.elem, &value, select, depth);
          out->map_put(std::move(key), std::move(value));
        } else {
          decode_value(t.key, nullptr, nullptr, depth);
          decode_value(t.elem, nullptr, nullptr, depth);
        }
      }
      return;
    }
  }
  throw Error("gob: type id " + std::to_string(id) + " has an unknown kind");
}

void Decoder::decode_struct(const WireType& t, Value* out, const Selector* select, int depth) {
  if (out) *out = Value::of_struct();
  int field = -1;
  // As in Go's decodeStruct, the end of the message also ends the struct.
  while (!reader_.empty()) {
    const uint64_t delta = reader_.read_uint();
    if (delta == 0) return;
    if (delta > t.fields.size() - static_cast<size_t>(field + 1)) {
      throw Error("gob: field number out of range in struct " + t.name);
    }
    field += static_cast<int>(delta);
    const FieldType& f = t.fields[static_cast<size_t>(field)];
    if (out == nullptr) {
      decode_value(f.id, nullptr, nullptr, depth);
      continue;
    }
    if (select == nullptr) {
      decode_value(f.id, &out->set(f.name, Value()), nullptr, depth);
      continue;
    }
    const Selector* below = select->child(f.name);
    if (below == nullptr) {
      decode_value(f.id, nullptr, nullptr, depth);
    } else {
      decode_value(f.id, &out->set(f.name, Value()), below->keeps_all() ? nullptr : below, depth);
    }
  }
}

void Decoder::decode_interface(Value* out, const Selector* select, int depth) {
  const std::string_view name_view = reader_.read_bytes();
  if (name_view.empty()) {
    if (out) *out = Value();  // nil interface
    return;
  }
  if (name_view.size() > 1024) throw Error("gob: interface type name longer than 1024 bytes");
  // The name points into the current message, which the type sequence may replace.
  std::string name(name_view);
  const TypeId id = read_type_sequence(true);
  // The concrete value's byte count: not needed when decoding in place (Go ignores it too).
  reader_.read_uint();
  if (out) {
    Value concrete;
    decode_top(id, &concrete, select, depth);
    *out = Value::of_interface(std::move(name), std::move(concrete));
  } else {
    decode_top(id, nullptr, nullptr, depth);
  }
}

}  // namespace lockstep::plugin::gob
