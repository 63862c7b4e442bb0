#include "rollout/plugin/yamux_frame.h"

namespace lockstep::plugin::yamux {
namespace {

void put32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

uint32_t get32(const char* p) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[3]));
}

}  // namespace

std::array<char, kHeaderSize> encode_header(const FrameHeader& h) {
  std::array<char, kHeaderSize> out{};
  out[0] = 0;  // protocol version
  out[1] = static_cast<char>(h.type);
  out[2] = static_cast<char>(h.flags >> 8);
  out[3] = static_cast<char>(h.flags);
  put32(out.data() + 4, h.stream_id);
  put32(out.data() + 8, h.length);
  return out;
}

FrameHeader decode_header(const char* p) {
  if (p[0] != 0) {
    throw ProtocolError("yamux: invalid protocol version " +
                        std::to_string(static_cast<uint8_t>(p[0])));
  }
  const auto type = static_cast<uint8_t>(p[1]);
  if (type > static_cast<uint8_t>(FrameType::kGoAway)) {
    throw ProtocolError("yamux: invalid message type " + std::to_string(type));
  }
  FrameHeader h;
  h.type = static_cast<FrameType>(type);
  h.flags = static_cast<uint16_t>(static_cast<uint8_t>(p[2]) << 8 | static_cast<uint8_t>(p[3]));
  h.stream_id = get32(p + 4);
  h.length = get32(p + 8);
  return h;
}

bool FrameReader::next(FrameHeader& header, std::string& payload) {
  if (buffered() < kHeaderSize) return false;
  const FrameHeader h = decode_header(buffer_.data() + pos_);
  const uint32_t body = h.type == FrameType::kData ? h.length : 0;
  if (body > max_payload_) {
    throw ProtocolError("yamux: data frame of " + std::to_string(body) +
                        " bytes exceeds the receive window of " + std::to_string(max_payload_));
  }
  if (buffered() < kHeaderSize + body) return false;
  header = h;
  payload.assign(buffer_, pos_ + kHeaderSize, body);
  pos_ += kHeaderSize + body;
  // Compact once the consumed prefix dominates, so the buffer stays near one frame in size.
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ > 64 * 1024 && pos_ * 2 > buffer_.size()) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  return true;
}

}  // namespace lockstep::plugin::yamux
