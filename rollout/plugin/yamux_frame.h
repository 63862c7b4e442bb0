#pragma once

// yamux framing (hashicorp/yamux spec.md, const.go): a 12-byte big-endian header, then for Data
// frames `length` payload bytes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lockstep::plugin::yamux {

enum class FrameType : uint8_t { kData = 0, kWindowUpdate = 1, kPing = 2, kGoAway = 3 };

inline constexpr uint16_t kFlagSyn = 0x1;
inline constexpr uint16_t kFlagAck = 0x2;
inline constexpr uint16_t kFlagFin = 0x4;
inline constexpr uint16_t kFlagRst = 0x8;

inline constexpr uint32_t kGoAwayNormal = 0;
inline constexpr uint32_t kGoAwayProtocolError = 1;
inline constexpr uint32_t kGoAwayInternalError = 2;

inline constexpr size_t kHeaderSize = 12;
// Every stream starts with this much credit in each direction (yamux initialStreamWindow).
inline constexpr uint32_t kInitialWindow = 256 * 1024;

// A violation of the protocol by the peer; the session answers with GoAway(protocol error).
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FrameHeader {
  FrameType type = FrameType::kData;
  uint16_t flags = 0;
  uint32_t stream_id = 0;
  uint32_t length = 0;  // Data: payload bytes; WindowUpdate: delta; Ping: opaque; GoAway: code
};

std::array<char, kHeaderSize> encode_header(const FrameHeader& header);
// Throws ProtocolError on a version other than 0 or an unknown type.
FrameHeader decode_header(const char* bytes);

// Splits a received byte stream into frames. Data payloads longer than `max_payload` are
// rejected at the header, before anything is buffered for them.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_payload = kInitialWindow) : max_payload_(max_payload) {}

  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // Takes the next complete frame; false when more bytes are needed. Throws ProtocolError.
  bool next(FrameHeader& header, std::string& payload);
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  uint32_t max_payload_;
  std::string buffer_;
  size_t pos_ = 0;
};

}  // namespace lockstep::plugin::yamux
