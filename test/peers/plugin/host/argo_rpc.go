package main

// The plugin RPC surface as argo-rollouts' controller sees it: RpcError/RpcVerified
// (utils/plugin/types), the argument structs registered with gob under Argo's names, the
// go-plugin Plugin entry and the client stub that calls "Plugin.*" exactly as Argo's
// TrafficRouterPluginRPC does (args boxed in an interface, passed by pointer).

import (
	"encoding/gob"
	"fmt"
	"net/rpc"

	plugin "github.com/hashicorp/go-plugin"
)

type RpcError struct {
	ErrorString string
}

func (e RpcError) Error() string  { return e.ErrorString }
func (e RpcError) HasError() bool { return e.ErrorString != "" }

type RpcVerified int32

const (
	NotVerified    RpcVerified = 0
	Verified       RpcVerified = 1
	NotImplemented RpcVerified = 2
)

type UpdateHashArgs struct {
	Rollout                Rollout
	CanaryHash             string
	StableHash             string
	AdditionalDestinations []WeightDestination
}

type SetWeightAndVerifyWeightArgs struct {
	Rollout                Rollout
	DesiredWeight          int32
	AdditionalDestinations []WeightDestination
}

type SetHeaderArgs struct {
	Rollout        Rollout
	SetHeaderRoute SetHeaderRoute
}

type SetMirrorArgs struct {
	Rollout        Rollout
	SetMirrorRoute SetMirrorRoute
}

type RemoveManagedRoutesArgs struct {
	Rollout Rollout
}

type VerifyWeightResponse struct {
	Verified RpcVerified
	Err      RpcError
}

func init() {
	gob.RegisterName("UpdateHashArgs", new(UpdateHashArgs))
	gob.RegisterName("SetWeightAndVerifyWeightArgs", new(SetWeightAndVerifyWeightArgs))
	gob.RegisterName("SetHeaderArgs", new(SetHeaderArgs))
	gob.RegisterName("SetMirrorArgs", new(SetMirrorArgs))
	gob.RegisterName("RemoveManagedRoutesArgs", new(RemoveManagedRoutesArgs))
	gob.RegisterName("RpcError", new(RpcError))
}

// RpcTrafficRouterPlugin is the go-plugin map entry (netrpc only, as in Argo).
type RpcTrafficRouterPlugin struct{}

func (RpcTrafficRouterPlugin) Server(*plugin.MuxBroker) (interface{}, error) {
	return nil, fmt.Errorf("the host never serves the plugin")
}

func (RpcTrafficRouterPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &TrafficRouterPluginRPC{client: c}, nil
}

type TrafficRouterPluginRPC struct{ client *rpc.Client }

func (g *TrafficRouterPluginRPC) InitPlugin() RpcError {
	var resp RpcError
	err := g.client.Call("Plugin.InitPlugin", new(interface{}), &resp)
	if err != nil {
		return RpcError{ErrorString: fmt.Sprintf("InitPlugin rpc call error: %s", err)}
	}
	return resp
}

func (g *TrafficRouterPluginRPC) UpdateHash(ro *Rollout, canaryHash, stableHash string, additional []WeightDestination) RpcError {
	var resp RpcError
	var args interface{} = UpdateHashArgs{Rollout: *ro, CanaryHash: canaryHash, StableHash: stableHash, AdditionalDestinations: additional}
	if err := g.client.Call("Plugin.UpdateHash", &args, &resp); err != nil {
		return RpcError{ErrorString: fmt.Sprintf("UpdateHash rpc call error: %s", err)}
	}
	return resp
}

func (g *TrafficRouterPluginRPC) SetWeight(ro *Rollout, desiredWeight int32, additional []WeightDestination) RpcError {
	var resp RpcError
	var args interface{} = SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: desiredWeight, AdditionalDestinations: additional}
	if err := g.client.Call("Plugin.SetWeight", &args, &resp); err != nil {
		return RpcError{ErrorString: fmt.Sprintf("SetWeight rpc call error: %s", err)}
	}
	return resp
}

func (g *TrafficRouterPluginRPC) SetHeaderRoute(ro *Rollout, route *SetHeaderRoute) RpcError {
	var resp RpcError
	var args interface{} = SetHeaderArgs{Rollout: *ro, SetHeaderRoute: *route}
	if err := g.client.Call("Plugin.SetHeaderRoute", &args, &resp); err != nil {
		return RpcError{ErrorString: fmt.Sprintf("SetHeaderRoute rpc call error: %s", err)}
	}
	return resp
}

func (g *TrafficRouterPluginRPC) SetMirrorRoute(ro *Rollout, route *SetMirrorRoute) RpcError {
	var resp RpcError
	var args interface{} = SetMirrorArgs{Rollout: *ro, SetMirrorRoute: *route}
	if err := g.client.Call("Plugin.SetMirrorRoute", &args, &resp); err != nil {
		return RpcError{ErrorString: fmt.Sprintf("SetMirrorRoute rpc call error: %s", err)}
	}
	return resp
}

func (g *TrafficRouterPluginRPC) VerifyWeight(ro *Rollout, desiredWeight int32, additional []WeightDestination) (RpcVerified, RpcError) {
	var resp VerifyWeightResponse
	var args interface{} = SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: desiredWeight, AdditionalDestinations: additional}
	if err := g.client.Call("Plugin.VerifyWeight", &args, &resp); err != nil {
		return NotVerified, RpcError{ErrorString: fmt.Sprintf("VerifyWeight rpc call error: %s", err)}
	}
	return resp.Verified, resp.Err
}

func (g *TrafficRouterPluginRPC) RemoveManagedRoutes(ro *Rollout) RpcError {
	var resp RpcError
	var args interface{} = RemoveManagedRoutesArgs{Rollout: *ro}
	if err := g.client.Call("Plugin.RemoveManagedRoutes", &args, &resp); err != nil {
		return RpcError{ErrorString: fmt.Sprintf("RemoveManagedRoutes rpc call error: %s", err)}
	}
	return resp
}

func (g *TrafficRouterPluginRPC) Type() string {
	var resp string
	if err := g.client.Call("Plugin.Type", new(interface{}), &resp); err != nil {
		return fmt.Sprintf("Type rpc call error: %s", err)
	}
	return resp
}
