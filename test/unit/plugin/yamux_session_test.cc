// The yamux server driven frame by frame through an in-memory connection (no threads), so every
// frame the session writes can be checked.
#include "rollout/plugin/yamux_session.h"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <string>
#include <thread>
#include <vector>

namespace lockstep::plugin::yamux {
namespace {

// Records what the session writes; reads are never used (the test feeds bytes directly).
class MemoryConnection final : public Connection {
 public:
  explicit MemoryConnection(std::string* written) : written_(written) {}
  bool write_all(std::string_view data) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shut_) return false;
      written_->append(data);
    }
    wrote_.notify_all();
    return true;
  }
  // Waits (up to 10 s) until `done(written)` holds.
  template <typename Pred>
  bool wait_written(Pred done) {
    std::unique_lock<std::mutex> lock(mu_);
    return wrote_.wait_for(lock, std::chrono::seconds(10), [&] { return done(*written_); });
  }
  ptrdiff_t read_some(char*, size_t) override { return 0; }
  void shutdown() override {
    std::lock_guard<std::mutex> lock(mu_);
    shut_ = true;
  }

 private:
  std::mutex mu_;
  std::condition_variable wrote_;
  std::string* written_;
  bool shut_ = false;
};

std::string frame(FrameType type, uint16_t flags, uint32_t id, uint32_t length,
                  std::string_view payload = {}) {
  const auto h = encode_header({type, flags, id, length});
  std::string out(h.data(), h.size());
  out.append(payload);
  return out;
}

std::string data(uint32_t id, std::string_view payload, uint16_t flags = 0) {
  return frame(FrameType::kData, flags, id, static_cast<uint32_t>(payload.size()), payload);
}

struct Written {
  FrameHeader header;
  std::string payload;
};

class Harness {
 public:
  Harness() : session_(std::make_unique<MemoryConnection>(&out_), {}, Logger(LogLevel::kError)) {}

  bool feed(const std::string& bytes) { return session_.feed(bytes); }

  // Frames written since the last call.
  std::vector<Written> take() {
    FrameReader reader(1 << 30);
    reader.feed(out_.substr(consumed_));
    consumed_ = out_.size();
    std::vector<Written> frames;
    Written w;
    while (reader.next(w.header, w.payload)) frames.push_back(w);
    return frames;
  }

  Session& session() { return session_; }

 private:
  std::string out_;
  size_t consumed_ = 0;
  Session session_;
};

TEST_CASE("every SYN is acknowledged at once, including the stdout and stderr streams") {
  Harness h;
  for (uint32_t id : {1u, 3u, 5u, 7u}) {
    REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, id, 0)));
    const auto frames = h.take();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].header.type == FrameType::kWindowUpdate);
    CHECK(frames[0].header.flags == kFlagAck);
    CHECK(frames[0].header.stream_id == id);
    CHECK(frames[0].header.length == 0);
    auto stream = h.session().accept();
    REQUIRE(stream);
    CHECK(stream->id() == id);
  }
  CHECK(h.session().open_streams() == 4);
}

TEST_CASE("a SYN carried by a data frame opens the stream and delivers its bytes") {
  Harness h;
  REQUIRE(h.feed(data(1, "hello", kFlagSyn)));
  auto stream = h.session().accept();
  REQUIRE(stream);
  char buf[8];
  REQUIRE(stream->read_exact(buf, 5));
  CHECK(std::string(buf, 5) == "hello");
}

TEST_CASE("pings are answered with ACK and the same opaque value") {
  Harness h;
  REQUIRE(h.feed(frame(FrameType::kPing, kFlagSyn, 0, 0xdeadbeef)));
  const auto frames = h.take();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].header.type == FrameType::kPing);
  CHECK(frames[0].header.flags == kFlagAck);
  CHECK(frames[0].header.length == 0xdeadbeef);
  // A ping response (ACK) needs no answer.
  REQUIRE(h.feed(frame(FrameType::kPing, kFlagAck, 0, 7)));
  CHECK(h.take().empty());
}

TEST_CASE("consumed data is credited back with a WindowUpdate once half the window is read") {
  Harness h;
  REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  h.take();
  auto stream = h.session().accept();
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 4; ++i) REQUIRE(h.feed(data(1, chunk)));  // the whole 256 KiB window
  // One more byte exceeds the window: the peer broke the protocol.
  std::vector<char> buf(chunk.size());
  REQUIRE(stream->read_exact(buf.data(), buf.size()));
  CHECK(h.take().empty());  // 64 KiB consumed: below half, no update yet
  REQUIRE(stream->read_exact(buf.data(), buf.size()));
  auto frames = h.take();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].header.type == FrameType::kWindowUpdate);
  CHECK(frames[0].header.length == 128 * 1024);
  // The credit lets the peer send another 128 KiB.
  REQUIRE(h.feed(data(1, chunk)));
  REQUIRE(h.feed(data(1, chunk)));
  CHECK_FALSE(h.session().ended());
}

TEST_CASE("data beyond the receive window is a protocol error answered with GoAway") {
  Harness h;
  REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  h.take();
  const std::string chunk(128 * 1024, 'x');
  REQUIRE(h.feed(data(1, chunk)));
  REQUIRE(h.feed(data(1, chunk)));
  CHECK_FALSE(h.feed(data(1, "y")));
  const auto frames = h.take();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].header.type == FrameType::kGoAway);
  CHECK(frames[0].header.length == kGoAwayProtocolError);
  CHECK(h.session().ended());
  CHECK(h.session().end_reason().find("receive window exceeded") != std::string::npos);
}

TEST_CASE("writes never exceed the peer's window and resume on its WindowUpdate") {
  std::string out;
  auto connection = std::make_unique<MemoryConnection>(&out);
  MemoryConnection* conn = connection.get();
  Session session(std::move(connection), {}, Logger(LogLevel::kError));
  REQUIRE(session.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  auto stream = session.accept();
  const std::string big(300 * 1024, 'z');
  std::thread writer([&] { CHECK(stream->write(big)); });
  auto sent_in = [](const std::string& bytes) {
    FrameReader reader(1 << 30);
    reader.feed(bytes);
    FrameHeader hdr;
    std::string payload;
    size_t total = 0;
    while (reader.next(hdr, payload)) {
      if (hdr.type == FrameType::kData) total += payload.size();
    }
    return total;
  };
  // The writer uses the whole initial window, then blocks.
  REQUIRE(conn->wait_written([&](const std::string& w) { return sent_in(w) >= kInitialWindow; }));
  CHECK(conn->wait_written([&](const std::string& w) { return sent_in(w) == kInitialWindow; }));
  REQUIRE(session.feed(frame(FrameType::kWindowUpdate, 0, 1, 64 * 1024)));
  writer.join();
  CHECK(sent_in(out) == big.size());
}

TEST_CASE("FIN ends reads after the buffered data, both FINs forget the stream") {
  Harness h;
  REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  auto stream = h.session().accept();
  REQUIRE(h.feed(data(1, "ab", kFlagFin)));
  char buf[4];
  CHECK(stream->read(buf, sizeof buf) == 2);
  CHECK(stream->read(buf, sizeof buf) == 0);
  CHECK(h.session().open_streams() == 1);
  stream->close();
  CHECK(h.session().open_streams() == 0);
  const auto frames = h.take();
  REQUIRE(!frames.empty());
  CHECK(frames.back().header.flags == kFlagFin);
  CHECK_FALSE(stream->write("late"));
}

TEST_CASE("RST aborts a stream, later frames for it are dropped") {
  Harness h;
  REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  auto stream = h.session().accept();
  REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagRst, 1, 0)));
  char buf[1];
  CHECK(stream->read(buf, 1) == 0);
  CHECK_FALSE(stream->write("x"));
  REQUIRE(h.feed(data(1, "ignored")));
  CHECK(h.session().open_streams() == 0);
  CHECK_FALSE(h.session().ended());
}

TEST_CASE("a duplicate SYN is a protocol error") {
  Harness h;
  REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  CHECK_FALSE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  const auto frames = h.take();
  CHECK(frames.back().header.type == FrameType::kGoAway);
  CHECK(frames.back().header.length == kGoAwayProtocolError);
}

TEST_CASE("invalid versions and types end the session") {
  Harness a;
  std::string bad = frame(FrameType::kPing, kFlagSyn, 0, 1);
  bad[0] = 1;
  CHECK_FALSE(a.feed(bad));
  CHECK(a.session().end_reason().find("version") != std::string::npos);
  Harness b;
  std::string bad_type = frame(FrameType::kPing, kFlagSyn, 0, 1);
  bad_type[1] = 9;
  CHECK_FALSE(b.feed(bad_type));
  CHECK(b.session().end_reason().find("type") != std::string::npos);
}

TEST_CASE("GoAway: normal keeps the streams, an error code ends the session") {
  Harness h;
  REQUIRE(h.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  REQUIRE(h.feed(frame(FrameType::kGoAway, 0, 0, kGoAwayNormal)));
  CHECK_FALSE(h.session().ended());
  CHECK_FALSE(h.feed(frame(FrameType::kGoAway, 0, 0, kGoAwayInternalError)));
  CHECK(h.session().ended());
  auto stream = h.session().accept();  // the queued stream is dropped with the session
  CHECK(stream == nullptr);
}

TEST_CASE("frames may arrive split at any byte") {
  Harness h;
  const std::string bytes = frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0) + data(1, "split me") +
                            frame(FrameType::kPing, kFlagSyn, 0, 5);
  for (char c : bytes) REQUIRE(h.feed(std::string(1, c)));
  auto stream = h.session().accept();
  char buf[8];
  REQUIRE(stream->read_exact(buf, 8));
  CHECK(std::string(buf, 8) == "split me");
  const auto frames = h.take();
  REQUIRE(frames.size() == 2);
  CHECK(frames[1].header.type == FrameType::kPing);
}

TEST_CASE("streams beyond the limit are reset, not accepted") {
  std::string out;
  SessionOptions options;
  options.max_streams = 2;
  Session session(std::make_unique<MemoryConnection>(&out), options, Logger(LogLevel::kError));
  REQUIRE(session.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 1, 0)));
  REQUIRE(session.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 3, 0)));
  REQUIRE(session.feed(frame(FrameType::kWindowUpdate, kFlagSyn, 5, 0)));
  FrameReader reader;
  reader.feed(out);
  FrameHeader hdr;
  std::string payload;
  std::vector<FrameHeader> frames;
  while (reader.next(hdr, payload)) frames.push_back(hdr);
  REQUIRE(frames.size() == 3);
  CHECK(frames[2].stream_id == 5);
  CHECK(frames[2].flags == kFlagRst);
  CHECK(session.open_streams() == 2);
}

TEST_CASE("the frame reader rejects oversized data before buffering it") {
  FrameReader reader(1024);
  reader.feed(data(1, std::string(10, 'a')).substr(0, 12));
  FrameHeader h;
  std::string p;
  CHECK_FALSE(reader.next(h, p));
  FrameReader small(4);
  small.feed(frame(FrameType::kData, 0, 1, 1u << 31));
  CHECK_THROWS_AS(small.next(h, p), ProtocolError);
}

}  // namespace
}  // namespace lockstep::plugin::yamux
