#include "rollout/plugin/plugin_methods.h"

#include <exception>
#include <string>
#include <utility>

namespace lockstep::plugin {

const gob::TypeSpec& rpc_error_spec() {
  static const gob::TypeSpec t =
      gob::TypeSpec::structure("RpcError", {{"ErrorString", &gob::string_spec()}});
  return t;
}

const gob::TypeSpec& verify_weight_response_spec() {
  static const gob::TypeSpec t = gob::TypeSpec::structure(
      "VerifyWeightResponse", {{"Verified", &gob::int_spec()}, {"Err", &rpc_error_spec()}});
  return t;
}

namespace {

gob::Value rpc_error(const std::string& message) {
  gob::Value v = gob::Value::of_struct();
  if (!message.empty()) v.set("ErrorString", gob::Value::of_string(message));
  return v;
}

RpcReply error_reply(const std::string& message) {
  return RpcReply::of(rpc_error_spec(), rpc_error(message));
}

std::string with_rollout(const std::string& rollout_id, const std::string& cause) {
  if (rollout_id.empty()) return std::string(kPluginName) + ": " + cause;
  return std::string(kPluginName) + ": Rollout " + rollout_id + ": " + cause;
}

// The concrete arguments of a method, checked against the name Argo registered for them.
bool unwrap(const gob::Value& args, std::string_view type_name, const gob::Value*& out,
            std::string& error) {
  if (args.type() != gob::Value::Type::kInterface || args.type_name() != type_name ||
      args.concrete().type() != gob::Value::Type::kStruct) {
    error = "invalid args: expected " + std::string(type_name) + ", got " +
            (args.type() == gob::Value::Type::kInterface ? std::string(args.type_name())
                                                         : std::string(gob::value_type_name(args.type())));
    return false;
  }
  out = &args.concrete();
  return true;
}

// Shared prologue: the args struct and the Rollout in it. On failure `reply` holds the answer.
bool prologue(const gob::Value& args, std::string_view type_name, const gob::Value*& a,
              RolloutRef& ro, std::string& error) {
  if (!unwrap(args, type_name, a, error)) return false;
  std::string cause;
  if (!read_rollout((*a)["Rollout"], ro, cause)) {
    // Name the Rollout as far as it could be read.
    std::string id;
    const gob::Value& meta = (*a)["Rollout"]["ObjectMeta"];
    if (meta["Name"].type() == gob::Value::Type::kString) {
      id = std::string(meta["Namespace"].as_string()) + "/" + std::string(meta["Name"].as_string());
    }
    error = with_rollout(id, cause);
    return false;
  }
  return true;
}

// Runs a handler so that nothing it throws reaches the RPC layer: a crash would stop every
// canary in the cluster.
template <typename Handler>
std::function<RpcReply(const gob::Value&)> guarded(const char* method, Logger log, Handler handler) {
  return [method, log, handler = std::move(handler)](const gob::Value& args) -> RpcReply {
    try {
      return handler(args);
    } catch (const std::exception& e) {
      log.error("unexpected failure in a plugin method", {{"method", method}, {"error", e.what()}});
      return error_reply(std::string(kPluginName) + ": internal error in " + method + ": " + e.what());
    }
  };
}

}  // namespace

RpcServiceTable traffic_router_methods(TrafficRouter& router, Logger log) {
  RpcServiceTable t;
  const gob::Selector* select = &plugin_args_selector();

  t.add("Plugin.InitPlugin", {guarded("InitPlugin", log, [&router, log](const gob::Value&) {
          const std::string error = router.init();
          if (!error.empty()) {
            // Not fatal: every later call retries the client.
            log.warn("InitPlugin: Kubernetes client not ready yet", {{"error", error}});
            return error_reply(with_rollout("", error));
          }
          return error_reply("");
        }),
        select});

  t.add("Plugin.Type", {guarded("Type", log, [](const gob::Value&) {
          return RpcReply::of(gob::string_spec(), gob::Value::of_string(std::string(kRouterType)));
        }),
        select, /*run_inline=*/true});

  t.add("Plugin.UpdateHash", {guarded("UpdateHash", log, [&router](const gob::Value& args) {
          const gob::Value* a = nullptr;
          RolloutRef ro;
          std::string error;
          if (!prologue(args, "UpdateHashArgs", a, ro, error)) return error_reply(error);
          std::string canary;
          std::string stable;
          std::vector<WeightDestination> additional;
          if (!read_string((*a)["CanaryHash"], "CanaryHash", canary, error) ||
              !read_string((*a)["StableHash"], "StableHash", stable, error) ||
              !read_destinations((*a)["AdditionalDestinations"], "AdditionalDestinations",
                                 additional, error)) {
            return error_reply(with_rollout(ro.id(), error));
          }
          const std::string cause = router.update_hash(ro, canary, stable, additional);
          return error_reply(cause.empty() ? "" : with_rollout(ro.id(), cause));
        }),
        select});

  auto weight_args = [](const gob::Value& args, RolloutRef& ro, int64_t& desired,
                        std::vector<WeightDestination>& additional, std::string& error) {
    const gob::Value* a = nullptr;
    if (!prologue(args, "SetWeightAndVerifyWeightArgs", a, ro, error)) return false;
    std::string cause;
    if (!read_int((*a)["DesiredWeight"], "DesiredWeight", desired, cause) ||
        !read_destinations((*a)["AdditionalDestinations"], "AdditionalDestinations", additional,
                           cause)) {
      error = with_rollout(ro.id(), cause);
      return false;
    }
    return true;
  };

  t.add("Plugin.SetWeight", {guarded("SetWeight", log, [&router, weight_args](const gob::Value& args) {
          RolloutRef ro;
          int64_t desired = 0;
          std::vector<WeightDestination> additional;
          std::string error;
          if (!weight_args(args, ro, desired, additional, error)) return error_reply(error);
          const std::string cause = router.set_weight(ro, desired, additional);
          return error_reply(cause.empty() ? "" : with_rollout(ro.id(), "SetWeight(" + std::to_string(desired) + "): " + cause));
        }),
        select});

  t.add("Plugin.VerifyWeight", {guarded("VerifyWeight", log, [&router, weight_args](const gob::Value& args) {
          RolloutRef ro;
          int64_t desired = 0;
          std::vector<WeightDestination> additional;
          std::string error;
          gob::Value reply = gob::Value::of_struct();
          if (!weight_args(args, ro, desired, additional, error)) {
            reply.set("Verified", gob::Value::of_int(static_cast<int>(Verification::kNotVerified)));
            reply.set("Err", rpc_error(error));
            return RpcReply::of(verify_weight_response_spec(), std::move(reply));
          }
          const Verification v = router.verify_weight(ro, desired, additional);
          reply.set("Verified", gob::Value::of_int(static_cast<int>(v)));
          reply.set("Err", rpc_error(""));
          return RpcReply::of(verify_weight_response_spec(), std::move(reply));
        }),
        select});

  t.add("Plugin.SetHeaderRoute", {guarded("SetHeaderRoute", log, [&router](const gob::Value& args) {
          const gob::Value* a = nullptr;
          RolloutRef ro;
          std::string error;
          if (!prologue(args, "SetHeaderArgs", a, ro, error)) return error_reply(error);
          HeaderRoute route;
          if (!read_header_route((*a)["SetHeaderRoute"], route, error)) {
            return error_reply(with_rollout(ro.id(), error));
          }
          const std::string cause = router.set_header_route(ro, route);
          return error_reply(cause.empty() ? "" : with_rollout(ro.id(), cause));
        }),
        select});

  t.add("Plugin.SetMirrorRoute", {guarded("SetMirrorRoute", log, [&router](const gob::Value& args) {
          const gob::Value* a = nullptr;
          RolloutRef ro;
          std::string error;
          if (!prologue(args, "SetMirrorArgs", a, ro, error)) return error_reply(error);
          MirrorRoute route;
          if (!read_mirror_route((*a)["SetMirrorRoute"], route, error)) {
            return error_reply(with_rollout(ro.id(), error));
          }
          const std::string cause = router.set_mirror_route(ro, route);
          return error_reply(cause.empty() ? "" : with_rollout(ro.id(), cause));
        }),
        select});

  t.add("Plugin.RemoveManagedRoutes", {guarded("RemoveManagedRoutes", log, [&router](const gob::Value& args) {
          const gob::Value* a = nullptr;
          RolloutRef ro;
          std::string error;
          if (!prologue(args, "RemoveManagedRoutesArgs", a, ro, error)) return error_reply(error);
          const std::string cause = router.remove_managed_routes(ro);
          return error_reply(cause.empty() ? "" : with_rollout(ro.id(), cause));
        }),
        select});
  return t;
}

}  // namespace lockstep::plugin
