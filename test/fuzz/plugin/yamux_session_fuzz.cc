// The yamux server fed arbitrary bytes, in chunks, with the application side reading, writing,
// closing and resetting the streams it accepts: no crash, no hang, no unbounded buffering.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rollout/plugin/yamux_session.h"

namespace {

using namespace lockstep::plugin::yamux;

class NullConnection final : public Connection {
 public:
  bool write_all(std::string_view data) override {
    written_ += data.size();
    return !shut_;
  }
  ptrdiff_t read_some(char*, size_t) override { return 0; }
  void shutdown() override { shut_ = true; }

 private:
  size_t written_ = 0;
  bool shut_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  lockstep::Logger log(lockstep::LogLevel::kError, [](std::string_view) {});
  SessionOptions options;
  options.max_streams = 16;
  Session session(std::make_unique<NullConnection>(), options, log);
  std::vector<std::shared_ptr<Stream>> streams;
  size_t written = 0;
  // The first byte picks the chunk size, so frames arrive split in many ways.
  const size_t chunk = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!rest.empty()) {
    const std::string_view piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    if (!session.feed(piece)) break;
    while (auto s = session.try_accept()) streams.push_back(std::move(s));
    for (size_t i = 0; i < streams.size(); ++i) {
      char buf[512];
      streams[i]->try_read(buf, sizeof buf);
      const uint8_t op = static_cast<uint8_t>(piece[0]) ^ static_cast<uint8_t>(i);
      // Writes stay far below the 256 KiB initial window, so they never wait for credit.
      if (op % 7 == 0 && written < 64 * 1024) {
        streams[i]->write(std::string_view("reply", 5));
        written += 5;
      } else if (op % 11 == 0) {
        streams[i]->close();
      } else if (op % 13 == 0) {
        streams[i]->reset();
      }
    }
  }
  session.close();
  return 0;
}
