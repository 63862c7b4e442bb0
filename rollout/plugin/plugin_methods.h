#pragma once

// Binds the traffic router to the "Plugin.*" net/rpc methods exactly as argo-rollouts' controller
// calls them (rollout/trafficrouting/plugin/rpc/rpc.go): arguments arrive as gob interface values
// of Argo's registered types, replies are RpcError, VerifyWeightResponse or string.

#include "common/log.h"
#include "rollout/plugin/gob_encoder.h"
#include "rollout/plugin/net_rpc.h"
#include "rollout/plugin/traffic_router.h"

namespace lockstep::plugin {

const gob::TypeSpec& rpc_error_spec();               // RpcError{ErrorString string}
const gob::TypeSpec& verify_weight_response_spec();  // VerifyWeightResponse{Verified int; Err RpcError}

// The value Type() returns: Argo logs it ("Reconciling TrafficRouting with type 'Lockstep'").
inline constexpr std::string_view kRouterType = "Lockstep";

// The table served on each broker stream. `router` must outlive it.
RpcServiceTable traffic_router_methods(TrafficRouter& router, Logger log);

}  // namespace lockstep::plugin
