package main

import (
	"bytes"
	"encoding/gob"
	"flag"
	"fmt"
	"net/rpc"
	"os"
	"path/filepath"
)

// runFixtures writes the exact bytes argo-rollouts' controller sends on a plugin stream, for the
// C++ decoder tests and as fuzz seeds: net/rpc requests (gob Request + the argument boxed in an
// interface) written by one gob encoder, as net/rpc's client codec does.
func runFixtures(argv []string) error {
	fs := flag.NewFlagSet("fixtures", flag.ExitOnError)
	out := fs.String("out", ".", "output directory")
	fs.Parse(argv)

	ro := buildRollout(fixtureOptions{Namespace: "shop", Name: "recommender", PluginConfig: `{"scaledObjectName":"recommender-so","scalerService":"lockstep-scaler","scalerNamespace":"lockstep-system"}`,
		Stable: "recommender-stable", Canary: "recommender-canary", ManagedRoutes: []string{"canary-header"}})
	additional := []WeightDestination{{ServiceName: "recommender-preview", Weight: 10, PodTemplateHash: "1a2b3c4d5"}}
	header := SetHeaderRoute{Name: "canary-header", Match: []HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &StringMatch{Exact: "yes"}}, {HeaderName: "X-User", HeaderValue: &StringMatch{Prefix: "beta-"}}}}
	mirror := SetMirrorRoute{Name: "mirror-all", Match: []RouteMatch{{Method: &StringMatch{Exact: "GET"}, Headers: map[string]StringMatch{"X-Mirror": {Regex: "^on$"}}}}, Percentage: i32(10)}

	type call struct {
		method string
		args   interface{}
	}
	streams := map[string][]call{
		// The broker stream as the controller uses it, definitions sent with the first Rollout.
		"plugin_stream.gob": {
			{"Plugin.InitPlugin", nil},
			{"Plugin.Type", nil},
			{"Plugin.UpdateHash", UpdateHashArgs{Rollout: *ro, CanaryHash: "7d9f8b6c5", StableHash: "6c5b4a392", AdditionalDestinations: additional}},
			{"Plugin.SetWeight", SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: 30, AdditionalDestinations: additional}},
			{"Plugin.VerifyWeight", SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: 30}},
			{"Plugin.SetHeaderRoute", SetHeaderArgs{Rollout: *ro, SetHeaderRoute: header}},
			{"Plugin.SetMirrorRoute", SetMirrorArgs{Rollout: *ro, SetMirrorRoute: mirror}},
			{"Plugin.RemoveManagedRoutes", RemoveManagedRoutesArgs{Rollout: *ro}},
		},
		"set_weight_first.gob": {
			{"Plugin.SetWeight", SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: 20}},
		},
		"set_header_first.gob": {
			{"Plugin.SetHeaderRoute", SetHeaderArgs{Rollout: *ro, SetHeaderRoute: header}},
		},
	}
	for name, calls := range streams {
		var buf bytes.Buffer
		enc := gob.NewEncoder(&buf)
		for seq, c := range calls {
			if err := enc.Encode(&rpc.Request{ServiceMethod: c.method, Seq: uint64(seq)}); err != nil {
				return err
			}
			args := c.args
			if err := enc.Encode(&args); err != nil {
				return fmt.Errorf("%s %s: %v", name, c.method, err)
			}
		}
		if err := os.WriteFile(filepath.Join(*out, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	// The control stream: Dispense, Ping, Quit.
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	enc.Encode(&rpc.Request{ServiceMethod: "Dispenser.Dispense"})
	enc.Encode("RpcTrafficRouterPlugin")
	enc.Encode(&rpc.Request{ServiceMethod: "Control.Ping", Seq: 1})
	enc.Encode(true)
	enc.Encode(&rpc.Request{ServiceMethod: "Control.Quit", Seq: 2})
	enc.Encode(true)
	return os.WriteFile(filepath.Join(*out, "control_stream.gob"), buf.Bytes(), 0o644)
}
