package main

// runServeGoPlugin is the benchmark peer: a traffic-router plugin written the way every existing
// one is, with hashicorp go-plugin's Serve and an RPC server whose methods have the signatures of
// Argo's TrafficRouterRPCServer. Its methods decode the arguments and do no other work, so it
// measures what the Go stack itself costs.

import (
	"fmt"
	"net/rpc"

	plugin "github.com/hashicorp/go-plugin"
)

type goPeerServer struct{}

func (goPeerServer) InitPlugin(args interface{}, resp *RpcError) error { *resp = RpcError{}; return nil }

func (goPeerServer) UpdateHash(args interface{}, resp *RpcError) error {
	a, ok := args.(*UpdateHashArgs)
	if !ok {
		return fmt.Errorf("invalid args %s", args)
	}
	_ = a.Rollout.Name
	*resp = RpcError{}
	return nil
}

func (goPeerServer) SetWeight(args interface{}, resp *RpcError) error {
	a, ok := args.(*SetWeightAndVerifyWeightArgs)
	if !ok {
		return fmt.Errorf("invalid args %s", args)
	}
	if a.DesiredWeight < 0 {
		*resp = RpcError{ErrorString: "negative weight"}
		return nil
	}
	*resp = RpcError{}
	return nil
}

func (goPeerServer) VerifyWeight(args interface{}, resp *VerifyWeightResponse) error {
	if _, ok := args.(*SetWeightAndVerifyWeightArgs); !ok {
		return fmt.Errorf("invalid args %s", args)
	}
	*resp = VerifyWeightResponse{Verified: Verified}
	return nil
}

func (goPeerServer) SetHeaderRoute(args interface{}, resp *RpcError) error     { *resp = RpcError{}; return nil }
func (goPeerServer) SetMirrorRoute(args interface{}, resp *RpcError) error     { *resp = RpcError{}; return nil }
func (goPeerServer) RemoveManagedRoutes(args interface{}, resp *RpcError) error { *resp = RpcError{}; return nil }
func (goPeerServer) Type(args interface{}, resp *string) error                  { *resp = "GoPeer"; return nil }

type goPeerPlugin struct{}

func (goPeerPlugin) Server(*plugin.MuxBroker) (interface{}, error) { return goPeerServer{}, nil }
func (goPeerPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &TrafficRouterPluginRPC{client: c}, nil
}

func runServeGoPlugin() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"RpcTrafficRouterPlugin": &goPeerPlugin{}},
	})
}
