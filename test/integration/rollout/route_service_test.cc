// lockstep.v1.Routes on a real gRPC server: the full table on subscribe, every change after it,
// and coalescing: a subscriber that does not read gets only the newest table once it does, and
// does not hold up the others.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "rollout/route_service.h"
#include "test/integration/rollout/rollout_harness.h"

using namespace lockstep;
using namespace lockstep::rollout;
using namespace lockstep::rollout::test;

namespace {

// A table of about `bytes` bytes (one route with many hosts), tagged with `version`.
std::shared_ptr<const v1::RouteTable> big_table(uint64_t version, size_t bytes) {
  auto t = std::make_shared<v1::RouteTable>();
  t->set_version(version);
  t->set_generation(version);
  v1::Route* r = t->add_routes();
  r->set_key("shop/web");
  const std::string host_tail(90, 'h');
  for (size_t i = 0; i * 100 < bytes; ++i) {
    r->add_hosts("h" + std::to_string(i) + "." + host_tail + ".example");
  }
  return t;
}

struct RouteServer {
  RouteService service{quiet_log()};
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  RouteServer() {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    server = b.BuildAndStart();
    REQUIRE(server);
  }
  ~RouteServer() {
    service.shutdown();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  std::shared_ptr<grpc::Channel> channel() const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per subscriber
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials(), args);
  }
};

}  // namespace

TEST_CASE("a subscriber gets the current table at once and every later one") {
  RouteServer rs;
  rs.service.publish(*big_table(1, 1000));
  RouteSubscriber sub(rs.channel(), "proxy-a");
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return t.version() == 1; }));
  REQUIRE(eventually([&] { return rs.service.subscribers() == 1; }));
  for (uint64_t v = 2; v <= 5; ++v) {
    rs.service.publish(*big_table(v, 1000));
    REQUIRE(sub.wait([v](const v1::RouteTable& t) { return t.version() == v; }));
  }
  // Read as fast as published one at a time: nothing skipped, in order.
  const auto tables = sub.tables();
  REQUIRE(tables.size() == 5);
  for (size_t i = 0; i < tables.size(); ++i) CHECK(tables[i].version() == i + 1);
}

TEST_CASE("a subscriber that does not read is coalesced to the newest table") {
  RouteServer rs;
  constexpr uint64_t kTables = 200;
  constexpr size_t kBytes = 256 << 10;  // 200 x 256 KiB = 50 MiB if nothing were coalesced
  rs.service.publish(*big_table(1, kBytes));

  // The slow proxy opens its stream and does not read.
  auto slow_channel = rs.channel();
  auto stub = v1::Routes::NewStub(slow_channel);
  grpc::ClientContext slow_ctx;
  v1::SubscribeRequest req;
  req.set_proxy_id("slow");
  auto slow = stub->Subscribe(&slow_ctx, req);
  RouteSubscriber fast(rs.channel(), "fast");
  REQUIRE(eventually([&] { return rs.service.subscribers() == 2; }));

  for (uint64_t v = 2; v <= kTables; ++v) rs.service.publish(*big_table(v, kBytes));
  // The fast proxy reaches the newest table while the slow one still reads nothing.
  REQUIRE(fast.wait([](const v1::RouteTable& t) { return t.version() == kTables; }, 30s));

  // Now the slow one reads: a handful of tables (what the transport had buffered, the write in
  // flight), ending with the newest; never all of them.
  std::vector<uint64_t> seen;
  v1::RouteTable t;
  while (slow->Read(&t)) {
    seen.push_back(t.version());
    if (t.version() == kTables) break;
  }
  REQUIRE(!seen.empty());
  CHECK(seen.back() == kTables);
  CHECK(seen.size() < kTables / 4);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] > seen[i - 1]);
  slow_ctx.TryCancel();
  slow->Finish();
}
