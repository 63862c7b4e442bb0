// go-plugin's netrpc server layer end to end over a socketpair: stream order, Control and
// Dispenser, the broker id echo, net/rpc error replies, concurrent calls, large payloads, Quit.
#include "rollout/plugin/go_plugin_server.h"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

#include "test/unit/plugin/plugin_test_client.h"

namespace lockstep::plugin {
namespace {

using testing::TestRpcClient;
using testing::TestYamuxClient;

// The plugin side of a socketpair, served on a background thread.
class ServedPlugin {
 public:
  explicit ServedPlugin(const RpcServiceTable& methods, GoPluginOptions options = {})
      : server_(methods, std::move(options), Logger(LogLevel::kError)) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    client_fd_ = fds[0];
    exit_ = std::async(std::launch::async, [this, fd = fds[1]] {
      return server_.serve(std::make_unique<yamux::FdConnection>(fd, std::chrono::seconds(10)));
    });
  }
  ~ServedPlugin() {
    server_.stop();
    if (exit_.valid()) exit_.wait();
  }
  int client_fd() const { return client_fd_; }
  // Waits for serve() to return.
  GoPluginServer::Exit wait_exit() {
    REQUIRE(exit_.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return exit_.get();
  }
  bool exited() const {
    return exit_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }

 private:
  GoPluginServer server_;
  int client_fd_ = -1;
  std::future<GoPluginServer::Exit> exit_;
};

// Opens control, stdout and stderr as go-plugin's client does; returns the control stream id.
uint32_t open_standard_streams(TestYamuxClient& mux) {
  const uint32_t control = mux.open();
  const uint32_t out = mux.open();
  const uint32_t err = mux.open();
  REQUIRE(mux.wait_ack(control));
  REQUIRE(mux.wait_ack(out));
  REQUIRE(mux.wait_ack(err));
  return control;
}

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

// Dispenses and connects the broker stream; returns its id.
uint32_t dispense(TestYamuxClient& mux, TestRpcClient& control) {
  gob::Value body;
  REQUIRE(control.call("Dispenser.Dispense", gob::string_spec(),
                       gob::Value::of_string("RpcTrafficRouterPlugin"), body) == "");
  const auto broker_id = static_cast<uint32_t>(body.as_uint());
  const uint32_t stream = mux.open();
  REQUIRE(mux.write(stream, le32(broker_id)));
  std::string ack;
  REQUIRE(mux.read(stream, 4, ack));
  CHECK(ack == le32(broker_id));
  return stream;
}

const gob::TypeSpec& big_args_spec() {
  static const gob::TypeSpec t =
      gob::TypeSpec::structure("BigArgs", {{"Blob", &gob::string_spec()}});
  return t;
}

struct Methods {
  RpcServiceTable table;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> slow_started{0};

  Methods() {
    table.add("Plugin.Type", {[](const gob::Value&) {
                                return RpcReply::of(gob::string_spec(),
                                                    gob::Value::of_string("Lockstep"));
                              }});
    table.add("Plugin.Echo", {[](const gob::Value& args) {
                                return RpcReply::of(
                                    gob::string_spec(),
                                    gob::Value::of_string(std::string(args.concrete()["Blob"].as_string())));
                              }});
    table.add("Plugin.Slow", {[this](const gob::Value&) {
                                slow_started.fetch_add(1);
                                released.wait();
                                return RpcReply::of(gob::string_spec(), gob::Value::of_string("slow"));
                              }});
  }
};

TEST_CASE("dispense, broker id echo, then Plugin calls on the broker stream") {
  Methods m;
  ServedPlugin plugin(m.table);
  TestYamuxClient mux(plugin.client_fd());
  const uint32_t control_id = open_standard_streams(mux);
  TestRpcClient control(mux, control_id);
  gob::Value body;
  CHECK(control.call("Control.Ping", gob::bool_spec(), gob::Value::of_bool(true), body) == "");
  CHECK(body.type() == gob::Value::Type::kStruct);

  const uint32_t broker = dispense(mux, control);
  TestRpcClient rpc(mux, broker);
  CHECK(rpc.call("Plugin.Type", gob::interface_spec(), gob::Value(), body) == "");
  CHECK(body.as_string() == "Lockstep");

  SUBCASE("a second Dispense gets the next id") {
    REQUIRE(control.call("Dispenser.Dispense", gob::string_spec(),
                         gob::Value::of_string("RpcTrafficRouterPlugin"), body) == "");
    CHECK(body.as_uint() == 2);
  }
  SUBCASE("unknown plugin names are refused") {
    CHECK(control.call("Dispenser.Dispense", gob::string_spec(),
                       gob::Value::of_string("RpcMetricProviderPlugin"), body) ==
          "unknown plugin type: RpcMetricProviderPlugin");
  }
  SUBCASE("a broker stream with an id never dispensed is reset") {
    const uint32_t stray = mux.open();
    REQUIRE(mux.write(stray, le32(77)));
    CHECK(mux.wait_rst(stray));
  }
  SUBCASE("Ping with a non-bool argument is a gob type error") {
    CHECK(control.call("Control.Ping", gob::string_spec(), gob::Value::of_string("x"), body)
              .find("decoding into local type bool") != std::string::npos);
  }
  SUBCASE("yamux pings are answered while calls are served") { CHECK(mux.ping(42)); }
}

TEST_CASE("net/rpc errors are replied and the stream keeps serving") {
  Methods m;
  ServedPlugin plugin(m.table);
  TestYamuxClient mux(plugin.client_fd());
  TestRpcClient control(mux, open_standard_streams(mux));
  TestRpcClient rpc(mux, dispense(mux, control));
  gob::Value body;
  CHECK(rpc.call("Plugin.Nope", gob::interface_spec(), gob::Value(), body) ==
        "rpc: can't find method Plugin.Nope");
  CHECK(rpc.call("Other.Type", gob::interface_spec(), gob::Value(), body) ==
        "rpc: can't find service Other.Type");
  CHECK(rpc.call("NoDot", gob::interface_spec(), gob::Value(), body) ==
        "rpc: service/method request ill-formed: NoDot");
  // An interface naming a type our decoder has never been told about still decodes
  // generically; here the argument is simply not the struct the method expects.
  CHECK(rpc.call("Plugin.Type", gob::interface_spec(), gob::Value(), body) == "");
  CHECK(body.as_string() == "Lockstep");
}

TEST_CASE("a body that is not valid gob gets an error reply, the next call still works") {
  Methods m;
  ServedPlugin plugin(m.table);
  TestYamuxClient mux(plugin.client_fd());
  TestRpcClient control(mux, open_standard_streams(mux));
  const uint32_t broker = dispense(mux, control);
  // A valid header followed by a body message that references an undefined type id.
  gob::Encoder enc;
  gob::Value header = gob::Value::of_struct();
  header.set("ServiceMethod", gob::Value::of_string("Plugin.Type"));
  header.set("Seq", gob::Value::of_uint(9));
  std::string bytes;
  enc.encode(bytes, rpc_request_spec(), header);
  bytes += std::string("\x03\xff\xfe\x00", 4);
  REQUIRE(mux.write(broker, bytes));
  TestRpcClient reader(mux, broker);
  gob::Value reply_header;
  gob::Value reply_body;
  REQUIRE(reader.receive(reply_header, reply_body));
  CHECK(reply_header["Seq"].as_uint() == 9);
  CHECK(reply_header["Error"].as_string().find("unknown type id") != std::string::npos);
}

TEST_CASE("several calls can be outstanding, replies carry their Seq") {
  Methods m;
  ServedPlugin plugin(m.table);
  TestYamuxClient mux(plugin.client_fd());
  TestRpcClient control(mux, open_standard_streams(mux));
  TestRpcClient rpc(mux, dispense(mux, control));
  const uint64_t slow = rpc.send("Plugin.Slow", gob::interface_spec(), gob::Value());
  const uint64_t fast = rpc.send("Plugin.Type", gob::interface_spec(), gob::Value());
  gob::Value header;
  gob::Value body;
  REQUIRE(rpc.receive(header, body));
  CHECK(header["Seq"].as_uint() == fast);
  CHECK(body.as_string() == "Lockstep");
  CHECK(m.slow_started.load() == 1);
  m.release.set_value();
  REQUIRE(rpc.receive(header, body));
  CHECK(header["Seq"].as_uint() == slow);
  CHECK(body.as_string() == "slow");
}

TEST_CASE("arguments and replies larger than the 256 KiB window flow both ways") {
  Methods m;
  ServedPlugin plugin(m.table);
  TestYamuxClient mux(plugin.client_fd());
  TestRpcClient control(mux, open_standard_streams(mux));
  TestRpcClient rpc(mux, dispense(mux, control));
  rpc.register_name("BigArgs", big_args_spec());
  std::string blob(700 * 1024, 'q');
  blob[12345] = 'Z';
  gob::Value args = gob::Value::of_struct();
  args.set("Blob", gob::Value::of_string(blob));
  gob::Value body;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(rpc.call("Plugin.Echo", gob::interface_spec(), gob::Value::of_interface("BigArgs", args),
                     body) == "");
    CHECK(body.as_string() == blob);
  }
}

GoPluginOptions with_grace(std::chrono::milliseconds grace) {
  GoPluginOptions o;
  o.shutdown_grace = grace;
  return o;
}

// go-plugin's Kill(): Control.Quit, then the host closes control, stdout, stderr and the session
// itself. Had the plugin closed the connection first, the host's unread bytes (the Quit reply,
// over TCP) could be lost to a reset and Kill would SIGKILL the plugin.
TEST_CASE("Control.Quit: the session stays up until the host closes it, as go-plugin's Kill does") {
  Methods m;
  ServedPlugin plugin(m.table, with_grace(std::chrono::minutes(5)));  // no fallback in this test
  TestYamuxClient mux(plugin.client_fd());
  const uint32_t control_id = open_standard_streams(mux);
  TestRpcClient control(mux, control_id);
  TestRpcClient rpc(mux, dispense(mux, control));
  gob::Value body;
  REQUIRE(control.call("Control.Quit", gob::bool_spec(), gob::Value::of_bool(true), body) == "");
  CHECK(body.type() == gob::Value::Type::kStruct);
  // The host closes its control stream: the plugin answers with its own FIN over a live session.
  mux.close_stream(control_id);
  CHECK(mux.wait_fin(control_id));
  CHECK_FALSE(mux.go_away_received());
  CHECK_FALSE(mux.closed());
  // Calls already on their way are still answered.
  CHECK(rpc.call("Plugin.Type", gob::interface_spec(), gob::Value(), body) == "");
  CHECK(mux.ping(7));
  CHECK_FALSE(plugin.exited());
  mux.disconnect();  // the host's Session.Close
  CHECK(plugin.wait_exit() == GoPluginServer::Exit::kQuit);
}

TEST_CASE("Control.Quit: a host that never closes the session is disconnected after the grace period") {
  Methods m;
  ServedPlugin plugin(m.table, with_grace(std::chrono::milliseconds(50)));
  TestYamuxClient mux(plugin.client_fd());
  TestRpcClient control(mux, open_standard_streams(mux));
  gob::Value body;
  CHECK(control.call("Control.Quit", gob::bool_spec(), gob::Value::of_bool(true), body) == "");
  uint32_t code = 99;
  CHECK(mux.wait_go_away(code));
  CHECK(code == yamux::kGoAwayNormal);
  CHECK(mux.wait_closed());
  CHECK(plugin.wait_exit() == GoPluginServer::Exit::kQuit);
}

TEST_CASE("a host that closes its control stream without Quit is disconnected after the grace period") {
  Methods m;
  ServedPlugin plugin(m.table, with_grace(std::chrono::milliseconds(50)));
  TestYamuxClient mux(plugin.client_fd());
  const uint32_t control_id = open_standard_streams(mux);
  mux.close_stream(control_id);
  CHECK(mux.wait_fin(control_id));
  uint32_t code = 99;
  CHECK(mux.wait_go_away(code));
  CHECK(mux.wait_closed());
  CHECK(plugin.wait_exit() == GoPluginServer::Exit::kSessionEnded);
}

TEST_CASE("the end of the connection ends serve()") {
  Methods m;
  ServedPlugin plugin(m.table);
  {
    TestYamuxClient mux(plugin.client_fd());
    open_standard_streams(mux);
  }  // the client shuts its socket down
  CHECK(plugin.wait_exit() == GoPluginServer::Exit::kSessionEnded);
}

}  // namespace
}  // namespace lockstep::plugin
